//! Random damage to a valid file never panics the reader: every result is a parse or a typed
//! error, and whatever parses can be walked and verified.

mod common;

use proptest::prelude::*;
use tessera_format::{ParseOptions, TsrFile};

fn walk(bytes: &[u8], options: ParseOptions) {
    if let Ok(f) = TsrFile::parse_with(bytes, options) {
        for i in 0..f.tensors().len() {
            let v = f.tensor_at(i);
            let _ = (v.sparse_bitmap(), v.block_bytes(), v.as_f32());
            let _ = v.is_block_present(u64::MAX);
        }
        let _ = f.verify();
    }
}

fn cases() -> u32 {
    if cfg!(miri) {
        8
    } else {
        2000
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Flip bytes anywhere, with the directory checksum check off so that the damage reaches
    /// the structural rules.
    #[test]
    fn damaged_bytes_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = common::sample_file();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        walk(&bytes, ParseOptions { check_directory_checksum: false });
        walk(&bytes, ParseOptions::default());
    }

    /// Overwrite one directory u64 field-sized window with extreme values.
    #[test]
    fn extreme_u64_in_the_directory_never_panics(at in any::<prop::sample::Index>(), value in prop_oneof![Just(u64::MAX), Just(0u64), Just(1u64 << 63), Just(1u64 << 32), any::<u64>()]) {
        let mut bytes = common::sample_file();
        let dir_start = u64::from_le_bytes(bytes[bytes.len() - 32..bytes.len() - 24].try_into().unwrap()) as usize;
        let dir_end = bytes.len() - 32;
        let i = dir_start + at.index(dir_end - dir_start - 8);
        bytes[i..i + 8].copy_from_slice(&value.to_le_bytes());
        walk(&bytes, ParseOptions { check_directory_checksum: false });
    }
}

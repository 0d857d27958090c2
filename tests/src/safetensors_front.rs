//! Target `safetensors_front`: arbitrary bytes as a safetensors file, opened by the converter's
//! front end (`tessera_convert::source::Source::open`), every tensor mapped and decoded.
//!
//! The front end parses with the `safetensors` crate and adds checks of its own (SPEC of the
//! converter: leading whitespace, duplicate keys). So: whatever it accepts the crate accepts too,
//! with the same tensors; whatever the crate accepts and it refuses must break one of its own
//! documented extra checks.

use std::io::Write;

use safetensors::SafeTensors;
use tessera_convert::dtype::{decode_floats, is_quantizable};
use tessera_convert::source::Source;
use tessera_convert::strict_json::check_no_duplicate_keys;

pub fn check_safetensors(data: &[u8]) {
    // The front end works on files; a fresh temporary file per input (tmpfs when available).
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let mut file = tempfile::Builder::new()
        .prefix("tessera-fuzz-")
        .suffix(".safetensors")
        .tempfile_in(dir)
        .expect("temporary file");
    file.write_all(data).expect("write temporary file");
    file.flush().expect("flush");

    let ours = Source::open(file.path());
    let theirs = SafeTensors::deserialize(data);
    match (&ours, &theirs) {
        (Ok(src), Ok(st)) => compare(src, st, data),
        (Ok(_), Err(e)) => panic!("front end accepts a file the safetensors crate refuses: {e}"),
        (Err(e), Ok(_)) => {
            assert!(
                breaks_extra_check(data),
                "front end refuses a file the safetensors crate accepts, for no documented reason: {e}"
            );
        }
        (Err(e), Err(_)) => assert!(!e.to_string().is_empty()),
    }
}

/// The checks the front end adds: the header starts with `{`, and no object repeats a key.
fn breaks_extra_check(data: &[u8]) -> bool {
    let n = u64::from_le_bytes(data[..8].try_into().expect("the crate read 8 bytes")) as usize;
    let header = &data[8..8 + n];
    let Ok(text) = std::str::from_utf8(header) else {
        return true;
    };
    header.first() != Some(&b'{') || check_no_duplicate_keys(text).is_err()
}

fn compare(src: &Source, st: &SafeTensors<'_>, data: &[u8]) {
    assert_eq!(src.tensors.len(), st.len(), "tensor count");
    let mut decoded = Vec::new();
    for t in &src.tensors {
        let view = st
            .tensor(&t.name)
            .unwrap_or_else(|e| panic!("tensor {:?} unknown to the crate: {e}", t.name));
        assert_eq!(view.dtype(), t.dtype, "{}", t.name);
        assert_eq!(view.shape(), &t.shape[..], "{}", t.name);
        let (start, end) = (t.offset as usize, (t.offset + t.len) as usize);
        assert_eq!(&data[start..end], view.data(), "{}: bytes", t.name);
        let mapped = src.map_tensor(t).expect("map a checked tensor");
        assert_eq!(&mapped[..], view.data(), "{}: mapped bytes", t.name);
        if is_quantizable(t.dtype) && decode_floats(t.dtype, &mapped, &mut decoded).is_some() {
            assert_eq!(decoded.len(), t.elements(), "{}: decoded count", t.name);
        }
    }
}

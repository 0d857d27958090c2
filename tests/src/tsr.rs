//! Target `tsr_parse`: arbitrary bytes parsed as a `.tsr` file.
//!
//! Besides "no panic", a file the reader accepts must be what the reader says it is:
//! every tensor inside the data section, no two overlapping, dense lengths as the shape implies,
//! lookups by name finding the entry, `verify` agreeing with hashing done here, the reference
//! decoding every tensor the reader accepted, and the writer reproducing the same data and
//! directory bytes from what the reader returned.

use tessera_format::layout::{FOOTER_LEN, HEADER_LEN};
use tessera_format::{FormatError, ParseOptions, TsrFile, Writer};
use tessera_reference::Weights;

/// Tensors with more elements than this are not decoded (a sparse tensor of `n` bytes may hold
/// up to `2048 n` elements; decoding is what costs, not the check).
pub const MAX_DECODE_ELEMS: u64 = 1 << 20;

/// Parses `data` with and without the directory checksum and checks whatever parses.
pub fn check_tsr_bytes(data: &[u8]) {
    // An exact-size heap copy: AddressSanitizer reports any read past its end.
    let bytes = data.to_vec();
    let checked = TsrFile::parse(&bytes);
    let unchecked = TsrFile::parse_with(
        &bytes,
        ParseOptions {
            check_directory_checksum: false,
        },
    );
    // Turning the checksum off can only remove a ChecksumMismatch: any other outcome is the same.
    match (&checked, &unchecked) {
        (Err(FormatError::ChecksumMismatch { .. }), _) => {}
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (Ok(_), Ok(_)) => {}
        (a, b) => panic!(
            "checksum on and off disagree: {:?} vs {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }
    if let Err(e) = &checked {
        // Error messages are built from file values too.
        assert!(!e.to_string().is_empty());
    }
    if let Ok(file) = &unchecked {
        check_parsed(file);
    }
}

/// Every claim an accepted file makes, checked against the bytes.
pub fn check_parsed(file: &TsrFile<'_>) {
    let bytes = file.bytes();
    let footer = bytes.len() - FOOTER_LEN as usize;
    let d = u64::from_le_bytes(bytes[footer..footer + 8].try_into().unwrap());
    let align = file.alignment();
    assert!(align.is_power_of_two() && (64..=1 << 21).contains(&align));
    assert_eq!(file.version().0, 1);

    for (key, value) in file.metadata() {
        assert!(!key.is_empty());
        // The very entry (values may hold NaN, which `==` never matches).
        let found = file.get_metadata(key).expect("lookup by key");
        assert!(std::ptr::eq(found, value), "lookup of key {key:?}");
    }

    let tensors = file.tensors();
    let mut spans = Vec::with_capacity(tensors.len());
    for (i, info) in tensors.iter().enumerate() {
        let view = file.tensor_at(i);
        assert!(!info.name.is_empty());
        assert_eq!(view.bytes.len() as u64, info.length, "{}", info.name);
        assert!(info.offset >= HEADER_LEN && info.offset % align == 0);
        assert!(
            info.offset + info.length <= d,
            "{} ends past the data",
            info.name
        );
        assert!((1..=8).contains(&info.shape.len()) && info.shape.iter().all(|&x| x >= 1));
        let found = file.tensor(&info.name).expect("lookup by name");
        assert!(std::ptr::eq(found.info, info), "lookup of {:?}", info.name);
        if info.sparse {
            assert!(info.encoding.is_blocked());
            let bitmap = view.sparse_bitmap().expect("sparse tensor has a bitmap");
            assert_eq!(bitmap.len() as u64, info.bitmap_len());
            let stored: u64 = (0..info.block_count())
                .filter(|&b| view.is_block_present(b))
                .map(|b| {
                    let k = info.row_len();
                    info.encoding
                        .block_bytes_at(k, b % info.encoding.blocks_per_row(k))
                        as u64
                })
                .sum();
            assert_eq!(stored, view.block_bytes().len() as u64, "{}", info.name);
        } else {
            assert_eq!(
                info.encoding.tensor_bytes(&info.shape),
                Some(info.length),
                "{}",
                info.name
            );
            assert_eq!(view.block_bytes().len() as u64, info.length);
        }
        // Touch every byte.
        let sum = view
            .bytes
            .iter()
            .fold(0u64, |s, &b| s.wrapping_add(b.into()));
        std::hint::black_box(sum);
        spans.push((info.offset, info.offset + info.length));
        decode_with_reference(info, view.bytes);
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "tensors overlap: {w:?}");
    }

    // verify() must report exactly the first tensor (directory order) whose hash is wrong.
    let first_bad = tensors
        .iter()
        .enumerate()
        .find(|(i, t)| xxhash_rust::xxh3::xxh3_64(file.tensor_at(*i).bytes) != t.xxh3)
        .map(|(_, t)| t.name.clone());
    let verified = first_bad.is_none();
    match (file.verify(), first_bad) {
        (Ok(()), None) => {}
        (Err(FormatError::TensorChecksum { tensor, .. }), Some(name)) => assert_eq!(tensor, name),
        (got, expected) => panic!("verify() gave {got:?}, first bad tensor is {expected:?}"),
    }

    check_rewrite(file, d, verified);
}

/// The reference decodes every tensor the reader accepted (they implement the same spec).
fn decode_with_reference(info: &tessera_format::TensorInfo, bytes: &[u8]) {
    let (rows, k) = (info.rows(), info.row_len());
    if rows.saturating_mul(k) > MAX_DECODE_ELEMS {
        return;
    }
    let w = Weights {
        encoding: info.encoding,
        rows: rows as usize,
        k: k as usize,
        bytes,
        sparse: info.sparse,
    };
    match tessera_reference::dequantize(&w) {
        Ok(v) => assert_eq!(v.len() as u64, rows * k),
        Err(e) => panic!(
            "reader accepted tensor {:?} ({} {:?} sparse={}), reference refuses it: {e}",
            info.name, info.encoding, info.shape, info.sparse
        ),
    }
}

/// Writes what the reader returned with the reference writer, tensors in file order. The data
/// section must come out identical, and the directory too, except that the writer lists tensors
/// in file order: when the file lists them in another order only the metadata part is compared.
/// (When a tensor checksum is wrong in the file, the writer's correct one differs, so then too.)
fn check_rewrite(file: &TsrFile<'_>, d: u64, verified: bool) {
    let bytes = file.bytes();
    let mut w = Writer::in_memory();
    w.set_alignment(file.alignment())
        .unwrap_or_else(|e| panic!("writer refuses the alignment the reader accepted: {e}"));
    for (key, value) in file.metadata() {
        w.set_metadata(key, value.clone())
            .unwrap_or_else(|e| panic!("writer refuses metadata {key:?} the reader accepted: {e}"));
    }
    let mut order: Vec<usize> = (0..file.tensors().len()).collect();
    order.sort_unstable_by_key(|&i| file.tensors()[i].offset);
    for &i in &order {
        let t = &file.tensors()[i];
        w.add_tensor(
            &t.name,
            &t.shape,
            t.encoding,
            t.sparse,
            file.tensor_at(i).bytes,
        )
        .unwrap_or_else(|e| {
            panic!(
                "writer refuses tensor {:?} the reader accepted: {e}",
                t.name
            )
        });
    }
    let out = w
        .finish_to_vec()
        .unwrap_or_else(|e| panic!("writer cannot finish what the reader accepted: {e}"));
    let (d, f) = (d as usize, bytes.len() - FOOTER_LEN as usize);
    let out_f = out.len() - FOOTER_LEN as usize;
    assert_eq!(
        bytes[HEADER_LEN as usize..d],
        out[HEADER_LEN as usize..d.min(out_f)],
        "rewritten data section differs"
    );
    let in_file_order = verified && order.iter().enumerate().all(|(a, &b)| a == b);
    let (dir, out_dir) = (&bytes[d..f], &out[d.min(out_f)..out_f]);
    if in_file_order {
        assert_eq!(dir, out_dir, "rewritten directory differs");
    } else {
        // Metadata is first in the directory; tensor entries follow the tensor count.
        let entries: usize = file
            .tensors()
            .iter()
            .map(|t| 8 + t.name.len() + 4 + 8 * t.shape.len() + 4 + 4 + 8 + 8 + 8)
            .sum();
        let meta = dir.len() - entries - 8;
        assert_eq!(
            dir[..meta],
            out_dir[..meta.min(out_dir.len())],
            "rewritten metadata differs"
        );
    }
    let again = TsrFile::parse(&out).expect("the writer's output parses");
    again.verify().expect("the writer's output verifies");
}

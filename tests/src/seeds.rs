//! The seed corpus checked in under `fuzz/corpus/<target>/`: one file per hostile case of the
//! container issue, the classic GGUF failure classes, hostile safetensors headers, and a few
//! generic byte strings for the structure-aware targets.
//!
//! Each `.tsr` seed starts from a small valid file written by the writer, overwrites one or two
//! fields (located by [`crate::directory`]) and recomputes the footer checksum, so the reader gets
//! past the checksum to the check the seed is about. Each seed names the outcome it must have.

use tessera_format::{Encoding, MetaArray, MetaValue, RawType, Writer};

use crate::directory::{self, find, fix_checksum};

/// One seed file.
pub struct Seed {
    /// The fuzz target (directory under `fuzz/corpus/`).
    pub target: &'static str,
    /// The file name (without directory).
    pub name: String,
    pub bytes: Vec<u8>,
    /// `tsr_parse` seeds: the `FormatError` variant parsing must give, `Ok`, or
    /// `verify:<variant>` (parses, then `verify()` fails with it). Empty for other targets.
    pub expect: &'static str,
}

/// Every seed, in a fixed order.
pub fn all() -> Vec<Seed> {
    let mut out = tsr_seeds();
    out.extend(safetensors_seeds());
    for target in ["tsr_structured", "quant_roundtrip", "kernels_diff"] {
        out.extend(byte_seeds(target));
    }
    out
}

/// The base file: three metadata entries (a reserved string key, a string array, an app key
/// whose name differs from a reserved one in its last byte), and three tensors with padding
/// between them: `w0` f32 [2, 3], `w1` q4 [2, 40], `w2` q4 sparse [4, 32] with blocks 0 and 2
/// stored.
pub fn base_file() -> Vec<u8> {
    let mut w = Writer::in_memory();
    w.set_metadata("general.name", MetaValue::Str("tiny".into()))
        .unwrap();
    w.set_metadata(
        "app.list",
        MetaValue::Array(MetaArray::Str(vec!["a".into(), "bc".into()])),
    )
    .unwrap();
    // Same length as "general.name": seeds turn it into a second, wrongly typed, reserved key.
    w.set_metadata("general.namx", MetaValue::U64(64)).unwrap();
    w.set_metadata("app.flag", MetaValue::Bool(true)).unwrap();
    w.set_metadata("app.ints", MetaValue::Array(MetaArray::I32(vec![1, -2, 3])))
        .unwrap();
    let f32s: Vec<u8> = [1.0f32, 2.0, -0.5, 0.25, 8.0, -3.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    w.add_tensor("w0", &[2, 3], Encoding::Raw(RawType::F32), false, &f32s)
        .unwrap();
    let q4 = Encoding::IntSym { bits: 4 };
    let dense: Vec<u8> = (0..q4.tensor_bytes(&[2, 40]).unwrap())
        .map(|i| (i * 37 % 251) as u8)
        .collect();
    w.add_tensor("w1", &[2, 40], q4, false, &dense).unwrap();
    let mut sparse = vec![0b0000_0101u8, 0, 0, 0, 0, 0, 0, 0];
    sparse.extend((0..2 * q4.block_bytes()).map(|i| (i * 11 % 256) as u8));
    w.add_tensor("w2", &[4, 32], q4, true, &sparse).unwrap();
    w.finish_to_vec().unwrap()
}

/// The base file with `changes` (field name, value) applied and the checksum recomputed.
fn patched(changes: &[(&str, u64)]) -> Vec<u8> {
    let mut f = base_file();
    let fields = directory::fields(&f);
    for &(name, value) in changes {
        directory::set(&mut f, find(&fields, name), value);
    }
    fix_checksum(&mut f);
    f
}

/// Offset of the first occurrence of `needle` in `hay` at or after `from`.
fn position(hay: &[u8], needle: &[u8], from: usize) -> usize {
    from + hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

fn field(f: &[u8], name: &str) -> u64 {
    directory::get(f, find(&directory::fields(f), name))
}

// One push per seed, with the setup each needs between them, reads better than one literal.
#[allow(clippy::vec_init_then_push)]
fn tsr_seeds() -> Vec<Seed> {
    let base = base_file();
    let len = base.len() as u64;
    let d = field(&base, "footer.directory_offset");
    let off = |t: usize| field(&base, &format!("tensor[{t}].offset"));
    let length = |t: usize| field(&base, &format!("tensor[{t}].length"));
    let mut s: Vec<(&str, Vec<u8>, &'static str)> = Vec::new();

    // Container basics.
    s.push(("valid", base.clone(), "Ok"));
    s.push(("too_short", base[..95].to_vec(), "TooShort"));
    s.push((
        "truncated_last_byte",
        base[..base.len() - 1].to_vec(),
        "MissingFooter",
    ));
    s.push(("truncated_in_data", base[..100].to_vec(), "MissingFooter"));
    let mut f = base.clone();
    f[1] = b't';
    s.push(("bad_magic", f, "BadMagic"));
    s.push((
        "newer_major",
        patched(&[("header.major", 2)]),
        "UnsupportedVersion",
    ));
    s.push(("newer_minor", patched(&[("header.minor", 9)]), "Ok"));
    s.push((
        "unknown_required_feature",
        patched(&[("header.required_features", 1 << 17)]),
        "UnknownRequiredFeatures",
    ));
    s.push((
        "unknown_optional_feature",
        patched(&[("header.optional_features", u64::MAX)]),
        "Ok",
    ));
    let mut f = base.clone();
    f[50] = 1; // reserved header byte, covered by the checksum
    s.push(("bad_header_checksum", f, "ChecksumMismatch"));
    let mut f = base.clone();
    let n = f.len();
    f[n - 1] = 0;
    s.push(("missing_footer", f, "MissingFooter"));
    s.push((
        "footer_dir_before_header",
        patched(&[("footer.directory_offset", 8)]),
        "BadFooter",
    ));
    s.push((
        "footer_dir_wraps",
        patched(&[
            ("footer.directory_offset", u64::MAX - 7),
            ("footer.directory_length", 40),
        ]),
        "BadFooter",
    ));
    for (name, a) in [
        ("alignment_0", 0),
        ("alignment_3", 3),
        ("alignment_4mib", 1 << 22),
    ] {
        s.push((
            name,
            patched(&[("header.alignment", a)]),
            "InvalidAlignment",
        ));
    }

    // Counts, lengths and strings (GGUF: counts and lengths of u64::MAX, +1 wrapping to 0).
    s.push((
        "meta_count_u64_max",
        patched(&[("meta_count", u64::MAX)]),
        "CountTooLarge",
    ));
    s.push((
        "meta_count_million",
        patched(&[("meta_count", 1_000_000)]),
        "Truncated",
    ));
    s.push((
        "tensor_count_u64_max",
        patched(&[("tensor_count", u64::MAX)]),
        "CountTooLarge",
    ));
    // "A million zero-size tensors": the count is refused before anything is allocated.
    s.push((
        "tensor_count_million",
        patched(&[("tensor_count", 1_000_000)]),
        "Truncated",
    ));
    s.push((
        "key_len_u64_max",
        patched(&[("meta[0].key_len", u64::MAX)]),
        "StringTooLong",
    ));
    s.push((
        "key_len_past_end",
        patched(&[("meta[0].key_len", 60_000)]),
        "Truncated",
    ));
    s.push(("key_len_0", patched(&[("meta[0].key_len", 0)]), "EmptyName"));
    s.push((
        "string_len_u64_max",
        patched(&[("meta[0].str_len", u64::MAX)]),
        "StringTooLong",
    ));
    s.push((
        "string_len_past_end",
        patched(&[("meta[0].str_len", 1 << 20)]),
        "Truncated",
    ));
    s.push((
        "array_count_u64_max",
        patched(&[("meta[1].count", u64::MAX)]),
        "CountTooLarge",
    ));
    s.push((
        "array_count_past_end",
        patched(&[("meta[1].count", 1 << 27)]),
        "Truncated",
    ));
    s.push((
        "array_string_len_u64_max",
        patched(&[("meta[1].elem[1].str_len", u64::MAX)]),
        "StringTooLong",
    ));
    s.push((
        "array_nested",
        patched(&[("meta[1].elem_type", 12)]),
        "NestedArray",
    ));
    s.push((
        "array_unknown_type",
        patched(&[("meta[4].elem_type", 13)]),
        "UnknownValueType",
    ));
    s.push((
        "value_unknown_type",
        patched(&[("meta[3].type", 200)]),
        "UnknownValueType",
    ));
    s.push(("bool_2", patched(&[("meta[3].value", 2)]), "InvalidBool"));
    s.push((
        "tensor_name_len_u64_max",
        patched(&[("tensor[0].name_len", u64::MAX)]),
        "StringTooLong",
    ));
    let mut f = base.clone();
    let at = position(&f, b"app.list", d as usize) + 4;
    f[at] = 0xFF;
    fix_checksum(&mut f);
    s.push(("invalid_utf8_key", f, "InvalidUtf8"));
    let mut f = base.clone();
    let at = position(&f, b"tiny", d as usize);
    f[at..at + 2].copy_from_slice(&[0xC3, 0x28]);
    fix_checksum(&mut f);
    s.push(("invalid_utf8_value", f, "InvalidUtf8"));
    let mut f = base.clone();
    let at = position(&f, b"general.namx", d as usize);
    f[at + 11] = b'e';
    fix_checksum(&mut f);
    // GGUF: "an alignment key of the wrong type". Here general.name as u64 fails first.
    s.push(("reserved_key_wrong_type", f, "ReservedKeyType"));
    let mut f = base.clone();
    let at = position(&f, b"app.flag", d as usize);
    f[at..at + 8].copy_from_slice(b"app.list");
    fix_checksum(&mut f);
    s.push(("duplicate_key", f, "DuplicateKey"));
    let mut f = base.clone();
    let at = position(&f, b"w1", d as usize);
    f[at + 1] = b'0';
    fix_checksum(&mut f);
    s.push(("duplicate_tensor", f, "DuplicateTensor"));

    // Shapes (GGUF: n_dims past a fixed array, [2^32, 2^32] wrapping to 0, zero dims).
    s.push(("rank_0", patched(&[("tensor[0].rank", 0)]), "BadRank"));
    s.push(("rank_9", patched(&[("tensor[0].rank", 9)]), "BadRank"));
    s.push((
        "rank_2p31",
        patched(&[("tensor[0].rank", 1 << 31)]),
        "BadRank",
    ));
    s.push(("dim_0", patched(&[("tensor[1].dim[0]", 0)]), "ZeroDim"));
    s.push(("row_len_0", patched(&[("tensor[1].dim[1]", 0)]), "ZeroDim"));
    s.push((
        "shape_2p32_by_2p32",
        patched(&[("tensor[0].dim[0]", 1 << 32), ("tensor[0].dim[1]", 1 << 32)]),
        "ShapeOverflow",
    ));
    // 2^32 * 2^30 f32 elements: the count fits, the byte size 2^64 wraps to 0.
    s.push((
        "shape_bytes_wrap_to_0",
        patched(&[
            ("tensor[0].dim[0]", 1 << 32),
            ("tensor[0].dim[1]", 1 << 30),
            ("tensor[0].length", 0),
        ]),
        "ShapeOverflow",
    ));
    s.push((
        "sparse_shape_bytes_wrap",
        patched(&[("tensor[2].dim[0]", 1 << 62), ("tensor[2].dim[1]", 32)]),
        "ShapeOverflow",
    ));
    // An exabyte tensor (2^62 bytes) backed by a file of a few hundred bytes.
    s.push((
        "exabyte_tensor",
        patched(&[
            ("tensor[0].dim[0]", 1 << 30),
            ("tensor[0].dim[1]", 1 << 30),
            ("tensor[0].length", 1 << 62),
        ]),
        "OutOfBounds",
    ));
    s.push((
        "unknown_encoding",
        patched(&[("tensor[0].encoding", 0xFFFF)]),
        "UnknownEncoding",
    ));
    s.push((
        "encoding_q9",
        patched(&[("tensor[1].encoding", 0x0109)]),
        "UnknownEncoding",
    ));
    s.push((
        "unknown_tensor_flags",
        patched(&[("tensor[0].flags", 2)]),
        "UnknownTensorFlags",
    ));
    s.push((
        "sparse_raw",
        patched(&[("tensor[0].flags", 1)]),
        "SparseRaw",
    ));

    // Offsets and lengths (GGUF: offsets that wrap back inside the file, summed sizes overflowing).
    s.push((
        "length_one_row_short",
        patched(&[("tensor[1].length", length(1) - length(1) / 2)]),
        "LengthMismatch",
    ));
    // Two more rows than stored, the length matching the new shape: the tail runs over the
    // padding into the next tensor. (One more row would only cover the zero padding, which is
    // then a valid file.)
    s.push((
        "row_borrows_next_tensor",
        patched(&[("tensor[1].dim[0]", 4), ("tensor[1].length", length(1) * 2)]),
        "Overlap",
    ));
    s.push((
        "offset_past_end",
        patched(&[("tensor[1].offset", len.div_ceil(64) * 64)]),
        "OutOfBounds",
    ));
    s.push((
        "offset_in_directory",
        patched(&[("tensor[2].offset", d.div_ceil(64) * 64)]),
        "OutOfBounds",
    ));
    s.push((
        "offset_in_header",
        patched(&[("tensor[0].offset", 0)]),
        "OutOfBounds",
    ));
    s.push((
        "offset_wraps",
        patched(&[("tensor[1].offset", u64::MAX - 63)]),
        "OffsetOverflow",
    ));
    s.push((
        "offset_wraps_back_inside",
        // (2^64 - 64) + 192 wraps to 128, inside the data section.
        patched(&[
            ("tensor[0].offset", u64::MAX - 63),
            ("tensor[0].length", 192),
        ]),
        "OffsetOverflow",
    ));
    s.push((
        "sizes_sum_overflow",
        patched(&[("tensor[0].length", 1 << 63), ("tensor[1].length", 1 << 63)]),
        "OutOfBounds",
    ));
    s.push((
        "misaligned",
        patched(&[("tensor[1].offset", off(1) + 8)]),
        "Misaligned",
    ));
    s.push((
        "overlap_same_offset",
        patched(&[("tensor[1].offset", off(0))]),
        "Overlap",
    ));
    s.push((
        "offsets_swapped",
        patched(&[("tensor[0].offset", off(1)), ("tensor[1].offset", off(0))]),
        "Overlap",
    ));
    let mut f = base.clone();
    f[(off(0) + length(0)) as usize + 3] = 7;
    s.push(("non_zero_padding", f, "NonZeroPadding"));
    let mut f = base.clone();
    f[off(2) as usize] |= 1 << 6; // block 6 of a 4-block tensor
    s.push(("sparse_bitmap_padding_bit", f, "BadSparseBitmap"));
    let mut f = base.clone();
    f[off(2) as usize] |= 1 << 1; // one more block present than stored
    s.push(("sparse_length_short", f, "LengthMismatch"));
    s.push((
        "sparse_shorter_than_bitmap",
        patched(&[("tensor[2].length", 4)]),
        "LengthMismatch",
    ));
    let mut f = base.clone();
    f[off(1) as usize + 5] ^= 0x10;
    s.push(("tensor_checksum", f, "verify:TensorChecksum"));

    // Directory framing.
    let mut f = base.clone();
    let footer = f.len() - 32;
    f.splice(footer..footer, [0u8; 5]);
    let l = field(&f, "footer.directory_length");
    let fields = directory::fields(&f);
    directory::set(&mut f, find(&fields, "footer.directory_length"), l + 5);
    fix_checksum(&mut f);
    s.push(("trailing_directory_bytes", f, "TrailingBytes"));
    let mut f = base.clone();
    f.splice(d as usize..d as usize, [0u8; 64]);
    let fields = directory::fields(&f);
    directory::set(&mut f, find(&fields, "footer.directory_offset"), d + 64);
    fix_checksum(&mut f);
    s.push(("directory_misplaced", f, "DirectoryMisplaced"));
    let mut f = base.clone();
    f.splice(64..64, [0u8; 64]);
    let fields = directory::fields(&f);
    directory::set(&mut f, find(&fields, "footer.directory_offset"), d + 64);
    let fields = directory::fields(&f);
    for t in 0..3 {
        directory::set(
            &mut f,
            find(&fields, &format!("tensor[{t}].offset")),
            off(t) + 64,
        );
    }
    fix_checksum(&mut f);
    s.push(("gap_before_first_tensor", f, "UnexpectedGap"));

    s.into_iter()
        .map(|(name, bytes, expect)| Seed {
            target: "tsr_parse",
            name: format!("{name}.tsr"),
            bytes,
            expect,
        })
        .collect()
}

/// A safetensors file: the 8-byte header length, the header, the data.
fn st(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

fn safetensors_seeds() -> Vec<Seed> {
    let t = |dtype: &str, shape: &str, a: u64, b: u64| {
        format!(r#""dtype":"{dtype}","shape":{shape},"data_offsets":[{a},{b}]"#)
    };
    let valid = format!(
        r#"{{"__metadata__":{{"format":"pt"}},"a":{{{}}},"b":{{{}}}}}"#,
        t("F32", "[2,2]", 0, 16),
        t("BF16", "[4]", 16, 24)
    );
    let data = [0x3Fu8; 24];
    let mut s: Vec<(&str, Vec<u8>)> = vec![
        ("valid", st(&valid, &data)),
        ("empty_header", st("{}", &[])),
        ("too_short", vec![1, 0, 0, 0, 0, 0, 0]),
        ("header_len_u64_max", {
            let mut v = st(&valid, &data);
            v[..8].copy_from_slice(&u64::MAX.to_le_bytes());
            v
        }),
        ("header_len_past_end", {
            let mut v = st(&valid, &data);
            v[..8].copy_from_slice(&1000u64.to_le_bytes());
            v
        }),
        ("leading_whitespace", st(&format!("  {valid}"), &data)),
        (
            "duplicate_tensor_key",
            st(
                &format!(
                    r#"{{"a":{{{}}},"a":{{{}}}}}"#,
                    t("F32", "[4]", 0, 16),
                    t("F16", "[8]", 0, 16)
                ),
                &data[..16],
            ),
        ),
        (
            "duplicate_dtype_key",
            st(
                &format!(r#"{{"a":{{"dtype":"F16",{}}}}}"#, t("F32", "[4]", 0, 16)),
                &data[..16],
            ),
        ),
        (
            "overlapping_offsets",
            st(
                &format!(
                    r#"{{"a":{{{}}},"b":{{{}}}}}"#,
                    t("F32", "[4]", 0, 16),
                    t("F32", "[4]", 8, 24)
                ),
                &data,
            ),
        ),
        (
            "offsets_past_end",
            st(
                &format!(r#"{{"a":{{{}}}}}"#, t("F32", "[16]", 0, 64)),
                &data,
            ),
        ),
        (
            "offsets_reversed",
            st(&format!(r#"{{"a":{{{}}}}}"#, t("F32", "[0]", 16, 0)), &data),
        ),
        (
            "shape_product_overflow",
            st(
                &format!(
                    r#"{{"a":{{{}}}}}"#,
                    t("F32", "[4294967296,4294967296]", 0, 16)
                ),
                &data[..16],
            ),
        ),
        (
            "shape_bytes_mismatch",
            st(
                &format!(r#"{{"a":{{{}}}}}"#, t("F32", "[5]", 0, 16)),
                &data[..16],
            ),
        ),
        (
            "zero_dim",
            st(&format!(r#"{{"a":{{{}}}}}"#, t("F32", "[0,4]", 0, 0)), &[]),
        ),
        (
            "unknown_dtype",
            st(
                &format!(r#"{{"a":{{{}}}}}"#, t("F99", "[4]", 0, 16)),
                &data[..16],
            ),
        ),
        (
            "gap_between_tensors",
            st(
                &format!(r#"{{"a":{{{}}}}}"#, t("F32", "[2]", 8, 16)),
                &data[..16],
            ),
        ),
        (
            "offsets_u64_max",
            st(
                &format!(r#"{{"a":{{{}}}}}"#, t("U8", "[1]", u64::MAX, 0)),
                &data[..16],
            ),
        ),
        (
            "metadata_not_string",
            st(r#"{"__metadata__":{"k":1}}"#, &[]),
        ),
        (
            "deep_nesting",
            st(
                &format!("{{\"a\":{}{}}}", "[".repeat(300), "]".repeat(300)),
                &[],
            ),
        ),
        ("not_utf8", {
            let mut v = st(&valid, &data);
            v[10] = 0xFF;
            v
        }),
    ];
    s.push(("int_and_bool_dtypes", {
        let h = format!(
            r#"{{"i":{{{}}},"b":{{{}}},"h":{{{}}}}}"#,
            t("I64", "[1]", 0, 8),
            t("BOOL", "[8]", 8, 16),
            t("F16", "[4]", 16, 24)
        );
        st(&h, &data)
    }));
    s.into_iter()
        .map(|(name, bytes)| Seed {
            target: "safetensors_front",
            name: format!("{name}.safetensors"),
            bytes,
            expect: "",
        })
        .collect()
}

/// Generic seeds for the targets that read structured choices from bytes: zeros, ones, and
/// pseudo-random strings of a few lengths.
fn byte_seeds(target: &'static str) -> Vec<Seed> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ target.len() as u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 56) as u8
    };
    let mut s = vec![
        ("zeros".to_string(), vec![0u8; 256]),
        ("ones".to_string(), vec![0xFFu8; 256]),
    ];
    for n in [32usize, 200, 1000, 4000] {
        s.push((format!("random_{n}"), (0..n).map(|_| next()).collect()));
    }
    s.into_iter()
        .map(|(name, bytes)| Seed {
            target,
            name: format!("{name}.bin"),
            bytes,
            expect: "",
        })
        .collect()
}

//! One test per hostile input: each builds the bytes by hand (resealing the footer checksum so the
//! check under test is the one that fires) and asserts the specific error.

mod common;

use std::time::{Duration, Instant};

use tessera_format::layout::{directory_checksum, Footer, Header, FOOTER_LEN, HEADER_LEN};
use tessera_format::{meta_tag, Encoding, FormatError, ParseOptions, RawType, TsrFile};

const F32: u32 = 0; // Encoding::Raw(RawType::F32).id()
const U8: u32 = 8;

// ---- builders ----------------------------------------------------------------------------------

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s);
}

/// A metadata entry: key, then a tagged value given as raw bytes (tag included).
fn meta(key: &[u8], tagged_value: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    put_str(&mut e, key);
    e.extend(tagged_value);
    e
}

fn u8_value(v: u8) -> Vec<u8> {
    vec![meta_tag::U8, v]
}

/// A tensor entry with the given fields, written as they are (no checks).
struct Entry<'a> {
    name: &'a [u8],
    shape: Vec<u64>,
    rank: Option<u32>,
    encoding: u32,
    flags: u32,
    offset: u64,
    length: u64,
    xxh3: u64,
}

impl<'a> Entry<'a> {
    /// A dense f32 `[4, 4]` tensor: 64 bytes.
    fn f32(name: &'a str, offset: u64) -> Self {
        Entry {
            name: name.as_bytes(),
            shape: vec![4, 4],
            rank: None,
            encoding: F32,
            flags: 0,
            offset,
            length: 64,
            xxh3: 0,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut e = Vec::new();
        put_str(&mut e, self.name);
        let rank = self.rank.unwrap_or(self.shape.len() as u32);
        e.extend(rank.to_le_bytes());
        for d in &self.shape {
            e.extend(d.to_le_bytes());
        }
        e.extend(self.encoding.to_le_bytes());
        e.extend(self.flags.to_le_bytes());
        e.extend(self.offset.to_le_bytes());
        e.extend(self.length.to_le_bytes());
        e.extend(self.xxh3.to_le_bytes());
        e
    }
}

/// A directory from counts and entry bytes (counts given separately so they can lie).
fn directory(meta_count: u64, metas: &[Vec<u8>], tensor_count: u64, tensors: &[Entry]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(meta_count.to_le_bytes());
    metas.iter().for_each(|m| d.extend(m));
    d.extend(tensor_count.to_le_bytes());
    tensors.iter().for_each(|t| d.extend(t.bytes()));
    d
}

fn honest_directory(metas: &[Vec<u8>], tensors: &[Entry]) -> Vec<u8> {
    directory(metas.len() as u64, metas, tensors.len() as u64, tensors)
}

/// header ++ data ++ directory ++ a footer with the correct checksum.
fn seal(header: &Header, data: &[u8], dir: &[u8]) -> Vec<u8> {
    let h = header.to_bytes();
    let directory_offset = HEADER_LEN + data.len() as u64;
    let footer = Footer {
        directory_offset,
        directory_length: dir.len() as u64,
        checksum: directory_checksum(&h, dir, directory_offset),
    };
    [&h[..], data, dir, &footer.to_bytes()].concat()
}

fn header() -> Header {
    Header::new(64)
}

/// The 64 data bytes of the `[4, 4]` f32 tensor.
fn data64() -> Vec<u8> {
    (0..16u32).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

/// A valid file: one metadata entry, one f32 tensor "w" at offset 64.
fn small_valid_file() -> Vec<u8> {
    let data = data64();
    let mut w = Entry::f32("w", 64);
    w.xxh3 = xxhash_rust::xxh3::xxh3_64(&data);
    let dir = honest_directory(&[meta(b"model.id", &u8_value(1))], &[w]);
    seal(&header(), &data, &dir)
}

/// A file with one tensor entry (and matching 64 data bytes) plus `metas`.
fn one_tensor(entry: Entry, metas: &[Vec<u8>]) -> Vec<u8> {
    seal(&header(), &data64(), &honest_directory(metas, &[entry]))
}

fn err(bytes: &[u8]) -> FormatError {
    match TsrFile::parse(bytes) {
        Ok(_) => panic!("parse accepted a hostile file"),
        Err(e) => e,
    }
}

// ---- sanity of the builders ----------------------------------------------------------------------

#[test]
fn builders_make_a_valid_file() {
    let bytes = small_valid_file();
    let f = TsrFile::parse(&bytes).unwrap();
    f.verify().unwrap();
    assert_eq!(f.tensor("w").unwrap().bytes, &data64()[..]);
}

// ---- truncation, magic, version, features, footer, checksum ------------------------------------

fn assert_every_prefix_refused(bytes: &[u8]) {
    for len in 0..bytes.len() {
        match TsrFile::parse(&bytes[..len]) {
            Err(FormatError::TooShort { .. }) => assert!(len < 96, "{len}"),
            Err(FormatError::MissingFooter) => assert!(len >= 96, "{len}"),
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
    assert!(TsrFile::parse(bytes).is_ok());
}

#[test]
fn truncation_at_every_offset_of_a_small_file() {
    assert_every_prefix_refused(&small_valid_file());
}

#[test]
fn truncation_at_every_offset_of_the_sample_file() {
    let bytes = common::sample_file();
    if cfg!(miri) {
        // Each parse re-hashes the directory: keep Miri to the last stretch and a stride.
        for len in (0..bytes.len())
            .step_by(97)
            .chain(bytes.len() - 40..bytes.len())
        {
            assert!(TsrFile::parse(&bytes[..len]).is_err());
        }
    } else {
        assert_every_prefix_refused(&bytes);
    }
}

#[test]
fn bad_magic() {
    let mut bytes = small_valid_file();
    bytes[0] = b'G';
    assert!(matches!(err(&bytes), FormatError::BadMagic { found } if found[0] == b'G'));
}

#[test]
fn newer_major_version_is_refused() {
    let mut h = header();
    h.major = 2;
    let bytes = seal(&h, &[], &honest_directory(&[], &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::UnsupportedVersion {
            major: 2,
            minor: 0,
            supported: 1
        }
    ));
    h.major = 0;
    let bytes = seal(&h, &[], &honest_directory(&[], &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::UnsupportedVersion { major: 0, .. }
    ));
}

#[test]
fn newer_minor_version_is_read() {
    let mut h = header();
    h.minor = 7;
    let bytes = seal(&h, &[], &honest_directory(&[], &[]));
    assert_eq!(TsrFile::parse(&bytes).unwrap().version(), (1, 7));
}

#[test]
fn unknown_required_feature_is_refused() {
    let mut h = header();
    h.required_features = 1 << 5;
    let bytes = seal(&h, &[], &honest_directory(&[], &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::UnknownRequiredFeatures { bits: 32 }
    ));
}

#[test]
fn unknown_optional_feature_is_ignored() {
    let mut h = header();
    h.optional_features = u64::MAX;
    let bytes = seal(&h, &[], &honest_directory(&[], &[]));
    assert_eq!(
        TsrFile::parse(&bytes).unwrap().optional_features(),
        u64::MAX
    );
}

#[test]
fn missing_footer() {
    let bytes = small_valid_file();
    // A file whose writer died before the footer.
    let no_footer = &bytes[..bytes.len() - FOOTER_LEN as usize];
    assert!(matches!(err(no_footer), FormatError::MissingFooter));
    let mut wrong_end = bytes.clone();
    *wrong_end.last_mut().unwrap() ^= 1;
    assert!(matches!(err(&wrong_end), FormatError::MissingFooter));
}

#[test]
fn footer_pointing_elsewhere() {
    let mut bytes = small_valid_file();
    let at = bytes.len() - 32;
    // Directory offset inside the header.
    bytes[at..at + 8].copy_from_slice(&10u64.to_le_bytes());
    assert!(matches!(err(&bytes), FormatError::BadFooter { .. }));
    // Offset + length wrapping u64.
    bytes[at..at + 8].copy_from_slice(&100u64.to_le_bytes());
    bytes[at + 8..at + 16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        err(&bytes),
        FormatError::BadFooter {
            directory_length: u64::MAX,
            ..
        }
    ));
}

#[test]
fn bad_header_checksum() {
    let mut bytes = small_valid_file();
    bytes[24] ^= 1; // optional feature flags: a field no other rule looks at
    assert!(matches!(err(&bytes), FormatError::ChecksumMismatch { .. }));
    let mut bytes = small_valid_file();
    bytes[12] = 1; // reserved header byte
    assert!(matches!(err(&bytes), FormatError::ChecksumMismatch { .. }));
}

#[test]
fn bad_directory_checksum() {
    let mut bytes = small_valid_file();
    let dir_byte = 64 + 64 + 8 + 8 + 3; // inside the first metadata key
    bytes[dir_byte] ^= 0x20;
    assert!(matches!(err(&bytes), FormatError::ChecksumMismatch { .. }));
    // The same file parses when the checksum check is turned off (as fuzzers do).
    let opts = ParseOptions {
        check_directory_checksum: false,
    };
    assert!(TsrFile::parse_with(&bytes, opts).is_ok());
}

#[test]
fn bad_tensor_checksum_is_found_by_verify_not_open() {
    let mut bytes = small_valid_file();
    bytes[64 + 5] ^= 1;
    let f = TsrFile::parse(&bytes).unwrap(); // open is lazy
    assert!(matches!(
        f.verify(),
        Err(FormatError::TensorChecksum { ref tensor, offset: 64, .. }) if tensor == "w"
    ));
}

#[test]
fn alignment_zero_and_not_a_power_of_two() {
    for alignment in [0, 32, 100, 96, 1 << 22, u64::MAX] {
        let bytes = seal(&Header::new(alignment), &[], &honest_directory(&[], &[]));
        match err(&bytes) {
            FormatError::InvalidAlignment { alignment: a, .. } => assert_eq!(a, alignment),
            e => panic!("{alignment}: {e}"),
        }
    }
}

// ---- counts and strings ------------------------------------------------------------------------

#[test]
fn metadata_count_u64_max() {
    let bytes = seal(&header(), &[], &directory(u64::MAX, &[], 0, &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::CountTooLarge {
            what: "metadata count",
            count: u64::MAX,
            ..
        }
    ));
}

#[test]
fn tensor_count_u64_max() {
    let bytes = seal(&header(), &[], &directory(0, &[], u64::MAX, &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::CountTooLarge {
            what: "tensor count",
            count: u64::MAX,
            ..
        }
    ));
}

#[test]
fn array_count_u64_max() {
    let mut v = vec![meta_tag::ARRAY, meta_tag::U64];
    v.extend(u64::MAX.to_le_bytes());
    let bytes = seal(&header(), &[], &honest_directory(&[meta(b"a", &v)], &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::CountTooLarge {
            what: "array length",
            count: u64::MAX,
            ..
        }
    ));
}

#[test]
fn counts_under_the_cap_but_past_the_end() {
    // A million tensors promised, none present: refused before anything is allocated.
    let bytes = seal(&header(), &[], &directory(0, &[], 1_000_000, &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::Truncated {
            what: "tensor count",
            ..
        }
    ));
    let bytes = seal(&header(), &[], &directory(1000, &[], 0, &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::Truncated {
            what: "metadata count",
            ..
        }
    ));
    let mut v = vec![meta_tag::ARRAY, meta_tag::STR];
    v.extend(1_000_000u64.to_le_bytes());
    let bytes = seal(&header(), &[], &honest_directory(&[meta(b"a", &v)], &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::Truncated {
            what: "array length",
            ..
        }
    ));
}

#[test]
fn string_length_u64_max() {
    // As a key...
    let mut key = Vec::new();
    key.extend(u64::MAX.to_le_bytes());
    let mut dir = Vec::new();
    dir.extend(1u64.to_le_bytes());
    dir.extend(&key);
    dir.extend([0u8; 16]);
    let bytes = seal(&header(), &[], &dir);
    assert!(matches!(
        err(&bytes),
        FormatError::StringTooLong {
            what: "metadata key",
            len: u64::MAX,
            ..
        }
    ));
    // ...and as a string value.
    let mut v = vec![meta_tag::STR];
    v.extend(u64::MAX.to_le_bytes());
    let bytes = seal(&header(), &[], &honest_directory(&[meta(b"k", &v)], &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::StringTooLong {
            what: "string value",
            len: u64::MAX,
            ..
        }
    ));
}

#[test]
fn string_length_past_the_end() {
    let mut v = vec![meta_tag::STR];
    v.extend(1000u64.to_le_bytes());
    v.extend(b"only a few bytes");
    let bytes = seal(&header(), &[], &honest_directory(&[meta(b"k", &v)], &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::Truncated {
            what: "string value",
            needed: 1000,
            ..
        }
    ));
}

#[test]
fn invalid_utf8() {
    let bytes = seal(
        &header(),
        &[],
        &honest_directory(&[meta(b"bad\xff", &u8_value(0))], &[]),
    );
    assert!(matches!(
        err(&bytes),
        FormatError::InvalidUtf8 {
            what: "metadata key",
            ..
        }
    ));
    let mut v = vec![meta_tag::STR];
    put_str(&mut v, b"\xc3\x28");
    let bytes = seal(&header(), &[], &honest_directory(&[meta(b"k", &v)], &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::InvalidUtf8 {
            what: "string value",
            ..
        }
    ));
    let mut e = Entry::f32("x", 64);
    e.name = b"w\xe2\x82";
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::InvalidUtf8 {
            what: "tensor name",
            ..
        }
    ));
}

#[test]
fn empty_key_and_empty_tensor_name() {
    let bytes = seal(
        &header(),
        &[],
        &honest_directory(&[meta(b"", &u8_value(0))], &[]),
    );
    assert!(matches!(
        err(&bytes),
        FormatError::EmptyName {
            what: "metadata key",
            ..
        }
    ));
    assert!(matches!(
        err(&one_tensor(Entry::f32("", 64), &[])),
        FormatError::EmptyName {
            what: "tensor name",
            ..
        }
    ));
}

#[test]
fn duplicate_metadata_keys() {
    let metas = [
        meta(b"user.key", &u8_value(1)),
        meta(b"user.key", &u8_value(2)),
    ];
    let bytes = seal(&header(), &[], &honest_directory(&metas, &[]));
    assert!(matches!(
        err(&bytes),
        FormatError::DuplicateKey { ref key, offset } if key == "user.key" && offset > 64
    ));
}

#[test]
fn duplicate_tensor_names() {
    let mut data = data64();
    data.extend(data64());
    let dir = honest_directory(&[], &[Entry::f32("w", 64), Entry::f32("w", 128)]);
    let bytes = seal(&header(), &data, &dir);
    assert!(matches!(
        err(&bytes),
        FormatError::DuplicateTensor { ref tensor, .. } if tensor == "w"
    ));
}

#[test]
fn bad_value_types() {
    let bytes = seal(
        &header(),
        &[],
        &honest_directory(&[meta(b"k", &[13, 0])], &[]),
    );
    assert!(matches!(
        err(&bytes),
        FormatError::UnknownValueType { tag: 13, .. }
    ));
    let mut nested = vec![meta_tag::ARRAY, meta_tag::ARRAY];
    nested.extend(0u64.to_le_bytes());
    let bytes = seal(
        &header(),
        &[],
        &honest_directory(&[meta(b"k", &nested)], &[]),
    );
    assert!(matches!(err(&bytes), FormatError::NestedArray { .. }));
    let bytes = seal(
        &header(),
        &[],
        &honest_directory(&[meta(b"k", &[meta_tag::BOOL, 2])], &[]),
    );
    assert!(matches!(
        err(&bytes),
        FormatError::InvalidBool { value: 2, .. }
    ));
}

#[test]
fn trailing_directory_bytes() {
    let mut dir = honest_directory(&[], &[]);
    dir.push(0);
    let bytes = seal(&header(), &[], &dir);
    assert!(matches!(
        err(&bytes),
        FormatError::TrailingBytes { extra: 1, .. }
    ));
}

// ---- shapes and encodings ----------------------------------------------------------------------

#[test]
fn rank_zero() {
    let mut e = Entry::f32("w", 64);
    e.shape = vec![];
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::BadRank { ref tensor, rank: 0, .. } if tensor == "w"
    ));
}

#[test]
fn rank_above_eight() {
    let mut e = Entry::f32("w", 64);
    e.shape = vec![1; 9];
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::BadRank {
            rank: 9,
            max: 8,
            ..
        }
    ));
    // A rank of u32::MAX with no dims behind it: refused before the dims are read.
    let mut e = Entry::f32("w", 64);
    e.rank = Some(u32::MAX);
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::BadRank {
            rank: 4294967295,
            ..
        }
    ));
}

#[test]
fn zero_dim() {
    let mut e = Entry::f32("w", 64);
    e.shape = vec![4, 0, 4];
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::ZeroDim { ref tensor, axis: 1, .. } if tensor == "w"
    ));
}

#[test]
fn element_count_overflow() {
    let mut e = Entry::f32("w", 64);
    e.shape = vec![1 << 32, 1 << 32];
    e.encoding = U8;
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::ShapeOverflow { ref shape, .. } if shape == &[1u64 << 32, 1 << 32]
    ));
}

#[test]
fn byte_size_overflow() {
    // 2^62 elements fit u64; 2^62 * 4 bytes do not.
    let mut e = Entry::f32("w", 64);
    e.shape = vec![1 << 62];
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::ShapeOverflow { .. }
    ));
    // Same for a block encoding: 2^60 one-element rows, each a whole 18-byte q4 block.
    let mut e = Entry::f32("w", 64);
    e.shape = vec![1 << 60, 1];
    e.encoding = Encoding::IntSym { bits: 4 }.id();
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::ShapeOverflow { .. }
    ));
}

#[test]
fn unknown_encoding() {
    let mut e = Entry::f32("w", 64);
    e.encoding = 0xBEEF;
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::UnknownEncoding { id: 0xBEEF, ref tensor, .. } if tensor == "w"
    ));
}

#[test]
fn unknown_tensor_flags() {
    let mut e = Entry::f32("w", 64);
    e.flags = 0b110;
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::UnknownTensorFlags { flags: 6, .. }
    ));
}

#[test]
fn length_not_what_shape_implies() {
    for (shape, length) in [(vec![4, 4], 60), (vec![4, 4], 68), (vec![3, 4], 64)] {
        let mut e = Entry::f32("w", 64);
        e.shape = shape;
        e.length = length;
        // Keep the data section consistent with `length` so the length rule is what fires.
        let data = vec![0u8; length as usize];
        let bytes = seal(&header(), &data, &honest_directory(&[], &[e]));
        assert!(matches!(
            err(&bytes),
            FormatError::LengthMismatch { ref tensor, offset: 64, .. } if tensor == "w"
        ));
    }
}

#[test]
fn raw_encoding_cannot_be_sparse() {
    let mut e = Entry::f32("w", 64);
    e.flags = 1;
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::SparseRaw {
            encoding: Encoding::Raw(RawType::F32),
            ..
        }
    ));
}

/// A sparse q4 `[2, 64]` tensor (4 blocks of 18 bytes) with the given bitmap word and `length`.
fn sparse_q4(bitmap: u64, length: u64) -> Vec<u8> {
    let mut data = bitmap.to_le_bytes().to_vec();
    data.resize(length as usize, 0x11);
    let stored = data.len().div_ceil(64) * 64;
    data.resize(stored, 0);
    let e = Entry {
        name: b"s",
        shape: vec![2, 64],
        rank: None,
        encoding: Encoding::IntSym { bits: 4 }.id(),
        flags: 1,
        offset: 64,
        length,
        xxh3: 0,
    };
    let mut dir_data = data;
    dir_data.truncate(length as usize);
    seal(&header(), &dir_data, &honest_directory(&[], &[e]))
}

#[test]
fn sparse_lengths() {
    // Blocks 0 and 2 present: 8 + 2 * 18 bytes.
    assert!(TsrFile::parse(&sparse_q4(0b0101, 44)).is_ok());
    assert!(matches!(
        err(&sparse_q4(0b0101, 62)),
        FormatError::LengthMismatch {
            expected: 44,
            actual: 62,
            ..
        }
    ));
    // Shorter than its bitmap.
    assert!(matches!(
        err(&sparse_q4(0, 4)),
        FormatError::LengthMismatch {
            expected: 8,
            actual: 4,
            ..
        }
    ));
    // A bit past the 4 blocks.
    assert!(matches!(
        err(&sparse_q4(0b1_0001, 26)),
        FormatError::BadSparseBitmap { ref tensor, .. } if tensor == "s"
    ));
}

// ---- where the bytes are -----------------------------------------------------------------------

#[test]
fn offset_out_of_bounds() {
    // Past the data section (into the directory and beyond).
    assert!(matches!(
        err(&one_tensor(Entry::f32("w", 128), &[])),
        FormatError::OutOfBounds { offset: 128, .. }
    ));
    assert!(matches!(
        err(&one_tensor(Entry::f32("w", 1 << 40), &[])),
        FormatError::OutOfBounds { .. }
    ));
    // Inside the header.
    assert!(matches!(
        err(&one_tensor(Entry::f32("w", 0), &[])),
        FormatError::OutOfBounds { offset: 0, .. }
    ));
}

#[test]
fn offset_plus_length_wraps() {
    let mut e = Entry::f32("w", u64::MAX - 63); // aligned to 64
    e.length = 64;
    assert!(matches!(
        err(&one_tensor(e, &[])),
        FormatError::OffsetOverflow { .. }
    ));
}

#[test]
fn misaligned_offset() {
    assert!(matches!(
        err(&one_tensor(Entry::f32("w", 96), &[])),
        FormatError::Misaligned {
            offset: 96,
            alignment: 64,
            ..
        }
    ));
}

#[test]
fn overlapping_tensors() {
    let mut a = Entry::f32("a", 64);
    a.shape = vec![8, 4]; // 128 bytes: 64..192
    a.length = 128;
    let b = Entry::f32("b", 128);
    let data = vec![0u8; 128];
    let bytes = seal(&header(), &data, &honest_directory(&[], &[b, a]));
    assert!(matches!(
        err(&bytes),
        FormatError::Overlap { ref tensor, ref other, offset: 128 } if tensor == "b" && other == "a"
    ));
}

#[test]
fn gap_between_tensors() {
    // Zero bytes, but a whole aligned slot skipped.
    let mut data = vec![0u8; 64];
    data.extend(data64());
    let bytes = seal(
        &header(),
        &data,
        &honest_directory(&[], &[Entry::f32("w", 128)]),
    );
    assert!(matches!(
        err(&bytes),
        FormatError::UnexpectedGap {
            offset: 128,
            expected: 64,
            ..
        }
    ));
}

#[test]
fn non_zero_padding() {
    // Alignment 128: the first tensor starts at 128 after 64 bytes of padding.
    let mut data = vec![0u8; 64];
    data[10] = 0xAA;
    data.extend(data64());
    let bytes = seal(
        &Header::new(128),
        &data,
        &honest_directory(&[], &[Entry::f32("w", 128)]),
    );
    assert!(matches!(
        err(&bytes),
        FormatError::NonZeroPadding {
            offset: 74,
            value: 0xAA
        }
    ));
    data[10] = 0;
    assert!(TsrFile::parse(&seal(
        &Header::new(128),
        &data,
        &honest_directory(&[], &[Entry::f32("w", 128)])
    ))
    .is_ok());
}

#[test]
fn bytes_between_data_and_directory() {
    let mut data = data64();
    data.extend([0u8; 8]);
    let bytes = seal(
        &header(),
        &data,
        &honest_directory(&[], &[Entry::f32("w", 64)]),
    );
    assert!(matches!(
        err(&bytes),
        FormatError::DirectoryMisplaced {
            offset: 136,
            expected: 128
        }
    ));
}

// ---- scale -------------------------------------------------------------------------------------

#[test]
fn a_million_tiny_entries_parse_fast() {
    let n: u64 = if cfg!(miri) { 300 } else { 1_000_000 };
    let mut dir = Vec::new();
    dir.extend((n + 1).to_le_bytes());
    for i in 0..n {
        put_str(&mut dir, format!("k{i}").as_bytes());
        dir.extend(u8_value(0));
    }
    // Plus an array of a million empty strings.
    put_str(&mut dir, b"empties");
    dir.extend([meta_tag::ARRAY, meta_tag::STR]);
    dir.extend(n.to_le_bytes());
    for _ in 0..n {
        dir.extend(0u64.to_le_bytes());
    }
    dir.extend(0u64.to_le_bytes()); // no tensors
    let bytes = seal(&header(), &[], &dir);
    let start = Instant::now();
    let f = TsrFile::parse(&bytes).unwrap();
    let took = start.elapsed();
    assert_eq!(f.metadata().len() as u64, n + 1);
    assert_eq!(
        f.get_metadata("empties"),
        Some(&tessera_format::MetaValue::Array(
            tessera_format::MetaArray::Str(vec![String::new(); n as usize])
        ))
    );
    if !cfg!(miri) {
        // ~26 MB of directory; generous for a debug build on a shared 2-core machine.
        assert!(took < Duration::from_secs(10), "{took:?}");
        eprintln!(
            "parsed {} bytes, {} entries in {took:?}",
            bytes.len(),
            2 * n
        );
    }
}

#[test]
fn reserved_key_with_the_wrong_type() {
    let bytes = seal(
        &header(),
        &[],
        &honest_directory(&[meta(b"general.name", &u8_value(1))], &[]),
    );
    assert!(matches!(
        err(&bytes),
        FormatError::ReservedKeyType { ref key, expected: "string", .. } if key == "general.name"
    ));
    let bytes = seal(
        &header(),
        &[],
        &honest_directory(&[meta(b"tessera.rel_rmse.w", &u8_value(1))], &[]),
    );
    assert!(matches!(
        err(&bytes),
        FormatError::ReservedKeyType {
            expected: "f64",
            ..
        }
    ));
}

//! Shared test fixtures: sample tensors and metadata covering every type.
#![allow(dead_code)]

use tessera_format::{Encoding, MetaArray, MetaValue, RawType, Writer};

/// Deterministic pseudo-random bytes (xorshift), so fixtures need no RNG crate.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One value of every metadata type, scalar and array.
pub fn every_metadata_value() -> Vec<(String, MetaValue)> {
    let v = vec![
        ("u8", MetaValue::U8(250)),
        ("u16", MetaValue::U16(65_000)),
        ("u32", MetaValue::U32(4_000_000_000)),
        ("u64", MetaValue::U64(u64::MAX - 1)),
        ("i8", MetaValue::I8(-100)),
        ("i16", MetaValue::I16(-30_000)),
        ("i32", MetaValue::I32(-2_000_000_000)),
        ("i64", MetaValue::I64(i64::MIN + 1)),
        ("f32", MetaValue::F32(-1.5e-7)),
        ("f64", MetaValue::F64(std::f64::consts::PI)),
        ("bool", MetaValue::Bool(true)),
        ("str", MetaValue::Str("héllo, wörld ✓".into())),
        ("empty_str", MetaValue::Str(String::new())),
        ("a.u8", MetaValue::Array(MetaArray::U8(vec![1, 2, 255]))),
        ("a.u16", MetaValue::Array(MetaArray::U16(vec![1, 65535]))),
        ("a.u32", MetaValue::Array(MetaArray::U32(vec![7, u32::MAX]))),
        ("a.u64", MetaValue::Array(MetaArray::U64(vec![u64::MAX]))),
        ("a.i8", MetaValue::Array(MetaArray::I8(vec![-128, 127]))),
        ("a.i16", MetaValue::Array(MetaArray::I16(vec![-1, 2]))),
        ("a.i32", MetaValue::Array(MetaArray::I32(vec![i32::MIN]))),
        (
            "a.i64",
            MetaValue::Array(MetaArray::I64(vec![-5, 5, i64::MAX])),
        ),
        (
            "a.f32",
            MetaValue::Array(MetaArray::F32(vec![0.5, -0.0, f32::INFINITY])),
        ),
        ("a.f64", MetaValue::Array(MetaArray::F64(vec![1e300, -2.5]))),
        (
            "a.bool",
            MetaValue::Array(MetaArray::Bool(vec![true, false, true])),
        ),
        (
            "a.str",
            MetaValue::Array(MetaArray::Str(vec!["a".into(), String::new(), "ü".into()])),
        ),
        ("a.empty", MetaValue::Array(MetaArray::F32(vec![]))),
    ];
    v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A tensor to write: name, shape, encoding, sparse flag, bytes.
pub struct Sample {
    pub name: &'static str,
    pub shape: Vec<u64>,
    pub encoding: Encoding,
    pub sparse: bool,
    pub bytes: Vec<u8>,
}

/// Builds the bytes of a sparse tensor: the bitmap from `present`, then the present blocks.
pub fn sparse_bytes(encoding: Encoding, shape: &[u64], present: &[bool], seed: u64) -> Vec<u8> {
    let k = *shape.last().unwrap();
    let per_row = encoding.blocks_per_row(k);
    let rows: u64 = shape[..shape.len() - 1].iter().product();
    assert_eq!(present.len() as u64, rows * per_row);
    let mut bitmap = vec![0u8; present.len().div_ceil(64) * 8];
    let mut blocks = Vec::new();
    for (i, &p) in present.iter().enumerate() {
        if p {
            bitmap[i / 8] |= 1 << (i % 8);
            let size = encoding.block_bytes_at(k, i as u64 % per_row);
            blocks.extend(bytes(size, seed + i as u64));
        }
    }
    bitmap.extend(blocks);
    bitmap
}

/// f32, f16 and bf16 tensors, a dense q4, and sparse q4 and q4k tensors (q4k with short
/// super-blocks).
pub fn samples() -> Vec<Sample> {
    let q4 = Encoding::IntSym { bits: 4 };
    let q4k = Encoding::IntSuper { bits: 4 };
    let f32s: Vec<u8> = (0..6)
        .flat_map(|i| (i as f32 * 0.25 - 1.0).to_le_bytes())
        .collect();
    let q4_present: Vec<bool> = (0..8).map(|i| i % 3 != 1).collect();
    let q4k_present = vec![true, true, false, true, false, false];
    vec![
        Sample {
            name: "embed.f32",
            shape: vec![2, 3],
            encoding: Encoding::Raw(RawType::F32),
            sparse: false,
            bytes: f32s,
        },
        Sample {
            name: "norm.f16",
            shape: vec![5],
            encoding: Encoding::Raw(RawType::F16),
            sparse: false,
            bytes: bytes(10, 1),
        },
        Sample {
            name: "proj.bf16",
            shape: vec![2, 2, 3],
            encoding: Encoding::Raw(RawType::BF16),
            sparse: false,
            bytes: bytes(24, 2),
        },
        Sample {
            name: "ffn.q4",
            shape: vec![3, 40],
            encoding: q4,
            sparse: false,
            bytes: bytes(3 * 2 * 18, 3),
        },
        Sample {
            name: "ffn.q4.sparse",
            shape: vec![4, 64],
            encoding: q4,
            sparse: true,
            bytes: sparse_bytes(q4, &[4, 64], &q4_present, 4),
        },
        Sample {
            name: "attn.q4k.sparse",
            shape: vec![3, 300],
            encoding: q4k,
            sparse: true,
            bytes: sparse_bytes(q4k, &[3, 300], &q4k_present, 5),
        },
    ]
}

pub fn write_samples(w: &mut Writer) {
    for (k, v) in every_metadata_value() {
        w.set_metadata(&k, v).unwrap();
    }
    for s in samples() {
        w.add_tensor(s.name, &s.shape, s.encoding, s.sparse, &s.bytes)
            .unwrap();
    }
}

/// The sample file, built in memory.
pub fn sample_file() -> Vec<u8> {
    let mut w = Writer::in_memory();
    write_samples(&mut w);
    w.finish_to_vec().unwrap()
}

//! Property: whatever the writer accepts, the reader gives back unchanged: metadata of every
//! type, tensors of every encoding with random shapes, dense or sparse with random bitmaps.

mod common;

use proptest::prelude::*;
use tessera_format::{Encoding, MetaArray, MetaValue, TsrFile, Writer};

fn float32() -> impl Strategy<Value = f32> {
    prop::num::f32::NORMAL
        | prop::num::f32::SUBNORMAL
        | prop::num::f32::ZERO
        | prop::num::f32::INFINITE
}

fn float64() -> impl Strategy<Value = f64> {
    prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::INFINITE
}

fn scalar() -> impl Strategy<Value = MetaValue> {
    prop_oneof![
        any::<u8>().prop_map(MetaValue::U8),
        any::<u16>().prop_map(MetaValue::U16),
        any::<u32>().prop_map(MetaValue::U32),
        any::<u64>().prop_map(MetaValue::U64),
        any::<i8>().prop_map(MetaValue::I8),
        any::<i16>().prop_map(MetaValue::I16),
        any::<i32>().prop_map(MetaValue::I32),
        any::<i64>().prop_map(MetaValue::I64),
        float32().prop_map(MetaValue::F32),
        float64().prop_map(MetaValue::F64),
        any::<bool>().prop_map(MetaValue::Bool),
        ".{0,12}".prop_map(MetaValue::Str),
    ]
}

fn array() -> impl Strategy<Value = MetaArray> {
    use prop::collection::vec;
    prop_oneof![
        vec(any::<u8>(), 0..6).prop_map(MetaArray::U8),
        vec(any::<u16>(), 0..6).prop_map(MetaArray::U16),
        vec(any::<u32>(), 0..6).prop_map(MetaArray::U32),
        vec(any::<u64>(), 0..6).prop_map(MetaArray::U64),
        vec(any::<i8>(), 0..6).prop_map(MetaArray::I8),
        vec(any::<i16>(), 0..6).prop_map(MetaArray::I16),
        vec(any::<i32>(), 0..6).prop_map(MetaArray::I32),
        vec(any::<i64>(), 0..6).prop_map(MetaArray::I64),
        vec(float32(), 0..6).prop_map(MetaArray::F32),
        vec(float64(), 0..6).prop_map(MetaArray::F64),
        vec(any::<bool>(), 0..6).prop_map(MetaArray::Bool),
        vec(".{0,6}", 0..6).prop_map(MetaArray::Str),
    ]
}

fn value() -> impl Strategy<Value = MetaValue> {
    prop_oneof![3 => scalar(), 1 => array().prop_map(MetaValue::Array)]
}

/// A tensor: encoding, shape, sparse flag, and a seed for its bytes and bitmap.
fn tensor() -> impl Strategy<Value = (Encoding, Vec<u64>, bool, u64)> {
    let encodings = Encoding::all();
    (
        prop::sample::select(encodings),
        prop::collection::vec(1u64..5, 0..3),
        1u64..600,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(e, mut outer, k, sparse, seed)| {
            outer.push(k);
            (e, outer, sparse && e.is_blocked(), seed)
        })
}

fn tensor_bytes(e: Encoding, shape: &[u64], sparse: bool, seed: u64) -> Vec<u8> {
    if sparse {
        let k = *shape.last().unwrap();
        let rows: u64 = shape[..shape.len() - 1].iter().product();
        let n = (rows * e.blocks_per_row(k)) as usize;
        let bits = common::bytes(n, seed);
        let present: Vec<bool> = bits.iter().map(|b| b & 1 == 1).collect();
        common::sparse_bytes(e, shape, &present, seed)
    } else {
        common::bytes(e.tensor_bytes(shape).unwrap() as usize, seed)
    }
}

fn cases() -> u32 {
    if cfg!(miri) {
        4
    } else {
        300
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn what_is_written_is_read_back(
        meta in prop::collection::btree_map("[a-z]{1,8}(\\.[a-z0-9_]{1,8}){0,2}", value(), 0..12),
        tensors in prop::collection::vec(tensor(), 0..6),
        align_log2 in 6u32..10,
    ) {
        let mut w = Writer::in_memory();
        w.set_alignment(1 << align_log2).unwrap();
        for (k, v) in &meta {
            w.set_metadata(k, v.clone()).unwrap();
        }
        let mut written = Vec::new();
        for (i, (e, shape, sparse, seed)) in tensors.iter().enumerate() {
            let name = format!("t{i}.{e}");
            let bytes = tensor_bytes(*e, shape, *sparse, *seed);
            w.add_tensor(&name, shape, *e, *sparse, &bytes).unwrap();
            written.push((name, bytes));
        }
        let file = w.finish_to_vec().unwrap();
        let f = TsrFile::parse(&file).unwrap();
        f.verify().unwrap();
        prop_assert_eq!(f.alignment(), 1u64 << align_log2);
        let got: Vec<(String, MetaValue)> = f.metadata().to_vec();
        let want: Vec<(String, MetaValue)> = meta.into_iter().collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(f.tensors().len(), written.len());
        for (i, (name, bytes)) in written.iter().enumerate() {
            let v = f.tensor(name).unwrap();
            prop_assert_eq!(v.bytes, &bytes[..]);
            prop_assert_eq!(&v.info.shape, &tensors[i].1);
            prop_assert_eq!(v.info.encoding, tensors[i].0);
            prop_assert_eq!(v.info.sparse, tensors[i].2);
        }
    }
}

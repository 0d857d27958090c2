//! Target `quant_roundtrip`: quantize -> dequantize -> quantize through the reference, for every
//! encoding, on fuzzer-chosen shapes and values (or raw block bytes).
//!
//! What is asserted (each from the reference's documentation):
//! - finite values quantize, non-finite ones are refused with `NonFinite` (`quantize_weighted`);
//!   the bytes have the length the shape implies and decode to finite values (elements saturate);
//! - `q{b}` only (SPEC.md section 16, "canonical form"): re-quantizing decoded bytes
//!   gives the same bytes, `quantize(decode(quantize(v))) == quantize(v)`, and for any block
//!   bytes with finite values `decode(quantize(decode(b))) == decode(b)` (+0 and -0 equal). The
//!   other encodings' quantizers search for the least error without promising to find an exact
//!   representation again, so for them only the checks above and below apply;
//! - raw float types: `decode(encode(decode(b))) == decode(b)` for any bytes (round to nearest
//!   even, exact for values of the type; f8 writes -0.0 as +0.0);
//! - any dense block bytes decode without error; sparse storage ([`sparsify`]) decodes to the
//!   same values as dense storage, and [`densify`] gives bytes that decode to them too.

use arbitrary::{Result, Unstructured};
use tessera_format::{Encoding, RawType};
use tessera_reference::{densify, dequantize, quantize, sparsify, RefError, Weights};

use crate::bits::{assert_same_bits, f32s};

pub fn check_roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let encodings = Encoding::all();
    let e = *u.choose(&encodings)?;
    let rows = u.int_in_range(1..=3usize)?;
    let k = u.int_in_range(1..=600usize)?;
    match e {
        Encoding::Raw(t) => raw_round_trip(u, t, rows, k),
        _ if u.arbitrary()? => {
            let values = values(u, rows * k)?;
            values_round_trip(e, rows, k, &values);
            Ok(())
        }
        _ => {
            let n = e.tensor_bytes(&[rows as u64, k as u64]).expect("small") as usize;
            let mut bytes = vec![0u8; n];
            let take = n.min(u.len());
            u.fill_buffer(&mut bytes[..take])?;
            block_bytes_round_trip(e, rows, k, &bytes);
            Ok(())
        }
    }
}

/// `n` values: raw f32 bit patterns, or small integers times a power of two (values a
/// quantizer can represent exactly), or zeros, picked per element.
fn values(u: &mut Unstructured<'_>, n: usize) -> Result<Vec<f32>> {
    let scale = 2f32.powi(u.int_in_range(-20..=20)?);
    let mode = u.int_in_range(0..=2u8)?;
    (0..n)
        .map(|_| {
            if u.is_empty() {
                return Ok(0.0);
            }
            Ok(match mode {
                0 => f32::from_bits(u.arbitrary()?),
                1 => u.int_in_range(-8i8..=8)? as f32 * scale,
                _ => (u.arbitrary::<i16>()? as f32 / 256.0) * scale,
            })
        })
        .collect()
}

fn weights(e: Encoding, rows: usize, k: usize, bytes: &[u8], sparse: bool) -> Weights<'_> {
    Weights {
        encoding: e,
        rows,
        k,
        bytes,
        sparse,
    }
}

/// Same values with -0.0 read as +0.0 (omitted sparse blocks decode to +0.0).
fn plus_zero(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| if x == 0.0 { 0.0 } else { x }).collect()
}

fn values_round_trip(e: Encoding, rows: usize, k: usize, values: &[f32]) {
    let q = match quantize(e, rows, k, values) {
        Ok(q) => q,
        Err(RefError::NonFinite { index, .. }) => {
            assert!(!values[index].is_finite());
            assert!(values[..index].iter().all(|v| v.is_finite()));
            return;
        }
        Err(err) => panic!("{e} {rows}x{k}: quantize refused finite values: {err}"),
    };
    assert!(
        values.iter().all(|v| v.is_finite()),
        "{e}: quantized a non-finite value"
    );
    assert_eq!(
        Some(q.len() as u64),
        e.tensor_bytes(&[rows as u64, k as u64])
    );
    let d1 = dequantize(&weights(e, rows, k, &q, false)).expect("own output decodes");
    if let Some(i) = d1.iter().position(|v| !v.is_finite()) {
        panic!(
            "{e} {rows}x{k}: finite value {} decodes to {}",
            values[i], d1[i]
        );
    }
    let q2 = quantize(e, rows, k, &d1).expect("decoded values quantize");
    if let Encoding::IntSym { .. } = e {
        assert!(
            q2 == q,
            "{e} {rows}x{k}: re-quantizing decoded q{{b}} bytes changed them"
        );
    }
    dequantize(&weights(e, rows, k, &q2, false)).expect("own output decodes");
    check_sparse(e, rows, k, &q, &d1);
}

fn block_bytes_round_trip(e: Encoding, rows: usize, k: usize, bytes: &[u8]) {
    let d = dequantize(&weights(e, rows, k, bytes, false)).unwrap_or_else(|err| {
        panic!("{e} {rows}x{k}: dense bytes of the right length refused: {err}")
    });
    assert_eq!(d.len(), rows * k);
    check_sparse(e, rows, k, bytes, &d);
    if d.iter().all(|v| v.is_finite()) {
        // Any finite decoded tensor is a valid quantizer input.
        let q = quantize(e, rows, k, &d).expect("finite values quantize");
        let d2 = dequantize(&weights(e, rows, k, &q, false)).expect("own output decodes");
        if let Encoding::IntSym { .. } = e {
            assert_same_bits(
                &format!("{e} {rows}x{k}: decode(quantize(decode(b))) vs decode(b)"),
                &plus_zero(&d2),
                &plus_zero(&d),
            );
        }
    }
}

/// Sparse storage of dense bytes `q` (decoding to `d`) decodes to the same values.
fn check_sparse(e: Encoding, rows: usize, k: usize, q: &[u8], d: &[f32]) {
    let s = sparsify(e, rows, k, q).expect("dense bytes sparsify");
    let ds = dequantize(&weights(e, rows, k, &s, true)).expect("sparsified bytes decode");
    assert_same_bits(
        &format!("{e}: sparse vs dense decode"),
        &plus_zero(&ds),
        &plus_zero(d),
    );
    let back = densify(e, rows, k, &s).expect("sparse bytes densify");
    assert_eq!(back.len(), q.len());
    let dd = dequantize(&weights(e, rows, k, &back, false)).expect("densified bytes decode");
    assert_same_bits(
        &format!("{e}: densified decode"),
        &plus_zero(&dd),
        &plus_zero(d),
    );
}

fn raw_round_trip(u: &mut Unstructured<'_>, t: RawType, rows: usize, k: usize) -> Result<()> {
    let e = Encoding::Raw(t);
    let mut bytes = vec![0u8; rows * k * t.size()];
    let take = bytes.len().min(u.len());
    u.fill_buffer(&mut bytes[..take])?;
    let d = dequantize(&weights(e, rows, k, &bytes, false))
        .unwrap_or_else(|err| panic!("{e}: raw bytes refused: {err}"));
    assert_eq!(d.len(), rows * k);
    match quantize(e, rows, k, &d) {
        Ok(again) => {
            let d2 = dequantize(&weights(e, rows, k, &again, false)).expect("own output decodes");
            if matches!(t, RawType::F8E4M3 | RawType::F8E5M2) {
                // The f8 encoder writes -0.0 as +0 (mx_elements.rs: "-0 keeps its sign only
                // for nonzero").
                assert_same_bits(
                    &format!("{e}: decode(encode(decode(b)))"),
                    &plus_zero(&d2),
                    &plus_zero(&d),
                );
            } else {
                assert_same_bits(&format!("{e}: decode(encode(decode(b)))"), &d2, &d);
            }
            if matches!(t, RawType::F16 | RawType::BF16 | RawType::F32) {
                // Exact types: the bytes come back, NaN payloads aside.
                let sz = t.size();
                for (i, (a, b)) in bytes.chunks(sz).zip(again.chunks(sz)).enumerate() {
                    assert!(
                        a == b || d[i].is_nan(),
                        "{e}: element {i} re-encodes differently"
                    );
                }
            }
        }
        Err(RefError::UnsupportedTarget { .. }) => {
            assert!(!matches!(
                t,
                RawType::F32 | RawType::F16 | RawType::BF16 | RawType::F64
            ));
        }
        Err(err) => panic!("{e}: quantize refused decoded values: {err}"),
    }
    // f32 decoding is the identity on bit patterns.
    if t == RawType::F32 {
        assert_same_bits("f32 decode", &d, &f32s(&bytes));
    }
    Ok(())
}

//! Test cases shared by the x86 kernels' unit tests: random weights in several encodings and
//! ragged shapes, activations with one huge value, and the reference's bits to compare against.

use tessera_format::{Encoding, MxType, Path, RawType};

use crate::WeightView;

/// Encodings that exercise every decode family of the float paths.
pub(super) const ENCODINGS: [Encoding; 10] = [
    Encoding::IntSym { bits: 4 },
    Encoding::IntSym { bits: 8 },
    Encoding::IntSuper { bits: 4 },
    Encoding::IntSuper { bits: 3 },
    Encoding::IntAffine { bits: 5 },
    Encoding::IntAffine { bits: 4 },
    Encoding::IntSuperAffine { bits: 4 },
    Encoding::Bfp { bits: 4 },
    Encoding::Mx(MxType::Fp4E2M1),
    Encoding::Raw(RawType::F16),
];

/// (m, n, k): M not a multiple of 3, N not of 4 or 8, K not of 32 or 256, K past a chunk of
/// 32 groups, M = 1 (which the AVX-512 path sends past its decoded plans) and M = 8.
pub(super) const SHAPES: [(usize, usize, usize); 8] = [
    (4, 8, 32),
    (7, 19, 200),
    (11, 9, 1100),
    (20, 33, 2080),
    (5, 3, 17),
    (4, 9, 5),
    (1, 4, 40),
    (8, 12, 300),
];

/// For every encoding and shape: `variants(w, x, m)` runs the kernel variants under test on rows
/// `0..n` and returns each one's output with a label; every output must have the reference's
/// bits (any NaN matches any NaN).
pub(super) fn check_float_variants(
    mut variants: impl FnMut(&WeightView, &[f32], usize) -> Vec<(String, Vec<f32>)>,
) {
    let mut next = values_from(0x2545_F491_4F6C_DD1D);
    for e in ENCODINGS {
        for (m, n, k) in SHAPES {
            let values: Vec<f32> = (0..n * k).map(|_| next()).collect();
            let mut x: Vec<f32> = (0..m * k).map(|_| next() * 4.0).collect();
            x[k / 2] = 1.0e30; // one huge activation
            let (bytes, want) = quantize_and_multiply(e, (n, k), &values, &x, Path::Float);
            let w = WeightView::new(e, n, k, &bytes).unwrap();
            for (label, got) in variants(&w, &x, m) {
                assert_same_bits(&got, &want, &format!("{e:?} m {m} n {n} k {k} {label}"));
            }
        }
    }
}

/// A reproducible stream of values in [-1, 1) (xorshift64 from `seed`, nonzero).
pub(super) fn values_from(mut seed: u64) -> impl FnMut() -> f32 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// `values` (`n x k`) quantized to `e` by the reference, and the reference's product of those
/// weights with the activation rows `x` on `path`.
pub(super) fn quantize_and_multiply(
    e: Encoding,
    (n, k): (usize, usize),
    values: &[f32],
    x: &[f32],
    path: Path,
) -> (Vec<u8>, Vec<f32>) {
    let bytes = tessera_reference::quantize(e, n, k, values).unwrap();
    let reference = tessera_reference::Weights {
        encoding: e,
        rows: n,
        k,
        bytes: &bytes,
        sparse: false,
    };
    let want = tessera_reference::matmul(&reference, x, x.len() / k, path).unwrap();
    (bytes, want)
}

/// Asserts that `got` has `want`'s bits (any NaN matches any NaN); `case` names the case.
pub(super) fn assert_same_bits(got: &[f32], want: &[f32], case: &str) {
    assert_eq!(got.len(), want.len(), "{case}");
    for (i, (g, r)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == r.to_bits() || g.is_nan() && r.is_nan(),
            "{case}: output {i}: {g} vs {r}"
        );
    }
}

//! `Effort::Fast`: its output decodes within the same error bound as `Best` (SPEC.md section
//! 16.1), it is the same bytes for any thread count, and encodings without a fast search give
//! exactly `Best`'s bytes.

use proptest::prelude::*;
use tessera_reference::*;

const GROUP: usize = 32;

/// Rows of values on one of several scales, with exact zeros and the odd outlier (as in
/// `properties.rs`).
fn matrix(max_rows: usize, max_k: usize) -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (1..=max_rows, 1..=max_k, -2.0f32..2.0).prop_flat_map(|(rows, k, exp)| {
        let scale = 10f32.powf(exp);
        let cell = prop_oneof![
            6 => (-1.0f32..1.0).prop_map(move |v| v * scale),
            1 => Just(0.0f32),
            1 => (-8.0f32..8.0).prop_map(move |v| v * scale),
        ];
        (
            Just(rows),
            Just(k),
            proptest::collection::vec(cell, rows * k),
        )
    })
}

fn dense(e: Encoding, rows: usize, k: usize, bytes: &[u8]) -> Weights<'_> {
    Weights {
        encoding: e,
        rows,
        k,
        bytes,
        sparse: false,
    }
}

/// SPEC.md 16.1, `q{b}`: `n * (amax / (2(o-1)) + amax * 2^-11)^2` per block of `n` real elements.
fn sym_bound(bits: u32, x: &[f32]) -> f64 {
    let o = (1u32 << (bits - 1)) as f64;
    let a = x.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    x.len() as f64 * (a / (2.0 * (o - 1.0)) + a * 2f64.powi(-11)).powi(2)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fast_q_b_within_the_bound(bits in 2u32..=8, (rows, k, v) in matrix(3, 300)) {
        let e = Encoding::IntSym { bits };
        let bytes = quantize_with(e, rows, k, &v, None, Effort::Fast).unwrap();
        prop_assert_eq!(bytes.len(), quantize(e, rows, k, &v).unwrap().len());
        let back = dequantize(&dense(e, rows, k, &bytes)).unwrap();
        for r in 0..rows {
            for (b, chunk) in v[r * k..(r + 1) * k].chunks(GROUP).enumerate() {
                let got: f64 = chunk
                    .iter()
                    .zip(&back[r * k + b * GROUP..])
                    .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
                    .sum();
                let bound = sym_bound(bits, chunk) * (1.0 + 1e-6) + 1e-30;
                prop_assert!(got <= bound, "{e} row {r} block {b}: {got} > {bound}");
            }
        }
    }

    #[test]
    fn fast_with_importance_is_valid_and_never_worse_than_absmax_weighted(
        bits in 2u32..=8,
        (rows, k, v) in matrix(2, 100),
        seed in any::<u64>(),
    ) {
        let e = Encoding::IntSym { bits };
        let mut s = seed | 1;
        let imp: Vec<f32> = (0..v.len())
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 1000) as f32 / 100.0
            })
            .collect();
        let bytes = quantize_with(e, rows, k, &v, Some(&imp), Effort::Fast).unwrap();
        let back = dequantize(&dense(e, rows, k, &bytes)).unwrap();
        prop_assert!(back.iter().all(|x| x.is_finite()));
        let o = (1i32 << (bits - 1)) as f32;
        for r in 0..rows {
            for (b, chunk) in v[r * k..(r + 1) * k].chunks(GROUP).enumerate() {
                let at = r * k + b * GROUP;
                let w = &imp[at..at + chunk.len()];
                let uniform = w.iter().all(|&x| x == 0.0);
                let weight = |i: usize| if uniform { 1.0 } else { w[i] as f64 };
                let got: f64 = (0..chunk.len())
                    .map(|i| weight(i) * (chunk[i] as f64 - back[at + i] as f64).powi(2))
                    .sum();
                // The absmax candidate: scale amax / (o - 1) rounded to f16, codes rounded.
                let a = chunk.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                let d = half::f16::from_f32(a / (o - 1.0)).to_f32();
                let theirs: f64 = (0..chunk.len())
                    .map(|i| {
                        let q = if d == 0.0 { 0.0 } else { (chunk[i] / d).round_ties_even().clamp(-o, o - 1.0) };
                        weight(i) * (chunk[i] as f64 - (d * q) as f64).powi(2)
                    })
                    .sum();
                // Fast ranks candidates by f32 moments (`s (s B - 2 A)`, a difference against
                // the block's weighted energy), so candidates closer than about 1e-6 of that
                // energy may be ranked either way.
                let energy: f64 = (0..chunk.len())
                    .map(|i| weight(i) * (chunk[i] as f64).powi(2))
                    .sum();
                prop_assert!(
                    got <= theirs * (1.0 + 1e-4) + 1e-6 * energy + 1e-30,
                    "{e} row {r} block {b}: {got} > absmax {theirs}"
                );
            }
        }
    }

    #[test]
    fn any_finite_input_quantizes_without_panic(bits in 2u32..=8, v in proptest::collection::vec(
        prop_oneof![any::<f32>().prop_filter("finite", |x| x.is_finite()), Just(0.0f32), Just(f32::MAX), Just(-f32::MIN_POSITIVE)],
        1..100,
    )) {
        let e = Encoding::IntSym { bits };
        let bytes = quantize_with(e, 1, v.len(), &v, None, Effort::Fast).unwrap();
        let back = dequantize(&dense(e, 1, v.len(), &bytes)).unwrap();
        prop_assert!(back.iter().all(|x| x.is_finite()));
    }
}

/// Deterministic Gaussian-ish values (Box-Muller on an LCG) with the odd outlier.
fn gaussian(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut uniform = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64).max(1e-12)
    };
    (0..n)
        .map(|i| {
            let g = (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
            (0.02 * g * if i % 997 == 0 { 12.0 } else { 1.0 }) as f32
        })
        .collect()
}

#[test]
fn fast_is_the_same_bytes_for_one_and_two_threads() {
    let (rows, k) = (96, 1000);
    let v = gaussian(rows * k, 7);
    let imp: Vec<f32> = (0..v.len()).map(|i| (i % 7) as f32 * 0.5).collect();
    let run = |threads: usize, imp: Option<&[f32]>| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        Encoding::all_blocked()
            .into_iter()
            .filter(|e| matches!(e, Encoding::IntSym { .. }))
            .map(|e| pool.install(|| quantize_with(e, rows, k, &v, imp, Effort::Fast).unwrap()))
            .collect::<Vec<_>>()
    };
    for imp in [None, Some(&imp[..])] {
        let (one, two) = (run(1, imp), run(2, imp));
        assert_eq!(one.len(), 7);
        assert!(one == two, "bytes differ between 1 and 2 threads");
    }
}

#[test]
fn fast_differs_from_best_only_where_it_has_a_search() {
    let (rows, k) = (4, 300);
    let v = gaussian(rows * k, 3);
    for e in Encoding::all_blocked() {
        let best = quantize(e, rows, k, &v).unwrap();
        let fast = quantize_with(e, rows, k, &v, None, Effort::Fast).unwrap();
        assert_eq!(fast.len(), best.len(), "{e}");
        if fast::has_fast_search(e) {
            // A different search: same length, decodable, not the same bytes on Gaussian data.
            assert_ne!(fast, best, "{e}: fast gave best's bytes");
        } else {
            assert_eq!(fast, best, "{e}: no fast search, so best's bytes");
        }
    }
    // Best through the new entry point is quantize_weighted itself.
    let e = Encoding::IntSym { bits: 4 };
    assert_eq!(
        quantize_with(e, rows, k, &v, None, Effort::Best).unwrap(),
        quantize(e, rows, k, &v).unwrap()
    );
}

#[test]
fn effort_names_round_trip() {
    for e in [Effort::Best, Effort::Fast] {
        assert_eq!(Effort::from_name(e.name()), Some(e));
        assert_eq!(e.to_string(), e.name());
    }
    assert_eq!(Effort::from_name("FAST"), Some(Effort::Fast));
    assert_eq!(Effort::from_name("quick"), None);
    assert_eq!(Effort::default(), Effort::Best);
}

#[test]
fn fast_refuses_what_best_refuses() {
    let e = Encoding::IntSym { bits: 4 };
    assert!(quantize_with(e, 1, 3, &[1.0, f32::NAN, 0.0], None, Effort::Fast).is_err());
    assert!(quantize_with(e, 1, 3, &[1.0, 2.0], None, Effort::Fast).is_err());
    assert!(quantize_with(e, 1, 2, &[1.0, 2.0], Some(&[1.0, -1.0]), Effort::Fast).is_err());
}

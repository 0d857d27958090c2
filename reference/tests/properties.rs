//! Property tests (proptest) for every encoding: error bounds, canonical bytes, sparse == dense,
//! gemv against an f64 sum, MX element tables, activation range.

use proptest::prelude::*;
use tessera_reference::*;

const GROUP: usize = 32;

fn encodings() -> Vec<Encoding> {
    Encoding::all_blocked()
}

/// How many block encodings the properties range over (checked against the table below).
const N_BLOCKED: usize = 39;

#[test]
fn properties_cover_every_block_encoding() {
    assert_eq!(encodings().len(), N_BLOCKED);
}

/// The smallest f16 value `>= v` (`v >= 0`), as the `q{b}ka` quantizer rounds its bounding pair.
fn f16_up(v: f32) -> f64 {
    let h = half::f16::from_f32(v);
    let h = if h.to_f32() >= v {
        h
    } else {
        half::f16::from_bits(h.to_bits() + 1)
    };
    h.to_f32() as f64
}

/// Rows of values on one of several scales, with exact zeros and the odd outlier.
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

fn amax(v: &[f32]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs() as f64))
}

fn sse(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum()
}

/// The stated bound (SPEC.md, "Error bounds") on the squared error of one storage
/// block's real elements `x` (padding excluded) with groups `x.chunks(32)`.
fn block_sse_bound(e: Encoding, x: &[f32]) -> f64 {
    let n = |v: &[f32]| v.len() as f64;
    match e {
        Encoding::IntSym { bits } => {
            let o = (1u32 << (bits - 1)) as f64;
            let a = amax(x);
            n(x) * (a / (2.0 * (o - 1.0)) + a * 2f64.powi(-11)).powi(2)
        }
        Encoding::IntAffine { bits } => {
            let top = ((1u32 << bits) - 1) as f64;
            let lo = x.iter().fold(f64::INFINITY, |m, &v| m.min(v as f64));
            let hi = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            n(x) * ((hi - lo) / (2.0 * top) + (lo.abs() + hi.abs() + (hi - lo)) * 2f64.powi(-10))
                .powi(2)
        }
        Encoding::IntSuper { bits } => {
            let o = (1u32 << (bits - 1)) as f64;
            let scales: Vec<f64> = x.chunks(GROUP).map(|g| amax(g) / (o - 1.0)).collect();
            let d = scales.iter().fold(0.0f64, |m, &v| m.max(v)) / 31.0 * (1.0 + 2f64.powi(-10));
            x.chunks(GROUP)
                .zip(&scales)
                .map(|(g, a)| n(g) * ((a + d) / 2.0).powi(2))
                .sum()
        }
        Encoding::IntSuperAffine { bits } => {
            // The bounding pair: dmin covers the largest distance below zero, d the largest span
            // above the covered minimum; each group's step is below (r_g + dmin) / L + d.
            let top = ((1u32 << bits) - 1) as f32;
            let lo = |g: &[f32]| g.iter().fold(f32::INFINITY, |m, &v| m.min(v));
            let hi = |g: &[f32]| g.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let lack = x.chunks(GROUP).fold(0.0f32, |m, g| m.max(-lo(g)));
            let span = |g: &[f32]| hi(g) + (-lo(g)).max(0.0);
            let dmin = f16_up(lack / 63.0);
            let max_span = x.chunks(GROUP).fold(0.0f32, |m, g| m.max(span(g)));
            let d = f16_up((max_span + dmin as f32) / (63.0 * top));
            x.chunks(GROUP)
                .map(|g| {
                    let step = (span(g) as f64 + dmin) / top as f64 + d;
                    let slack = (lo(g).abs() + hi(g).abs()) as f64 * 2f64.powi(-20);
                    n(g) * (step / 2.0 + slack).powi(2)
                })
                .sum()
        }
        Encoding::IntSuperHalf { bits } => {
            // The bounding pair: k = 8 and d covering every half's distance below zero in 15
            // min steps and its span above the covered minimum (plus one min step, 8d) in 15
            // scale steps; each half's step is then below (span + 8d) / L + d.
            let top = ((1u32 << bits) - 1) as f32;
            let lo = |h: &[f32]| h.iter().fold(f32::INFINITY, |m, &v| m.min(v));
            let hi = |h: &[f32]| h.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let span = |h: &[f32]| hi(h) + (-lo(h)).max(0.0);
            let lack = x.chunks(GROUP / 2).fold(0.0f32, |m, h| m.max(-lo(h)));
            let max_span = x.chunks(GROUP / 2).fold(0.0f32, |m, h| m.max(span(h)));
            let d = f16_up((lack / 120.0).max(max_span / (15.0 * top - 8.0)));
            x.chunks(GROUP / 2)
                .map(|h| {
                    let step = (span(h) as f64 + 8.0 * d) / top as f64 + d;
                    let slack = (lo(h).abs() + hi(h).abs()) as f64 * 2f64.powi(-20);
                    n(h) * (step / 2.0 + slack).powi(2)
                })
                .sum()
        }
        Encoding::Bfp { bits } => n(x) * (amax(x) * 2f64.powi(2 - bits as i32)).powi(2),
        Encoding::Mx(t) => {
            let m = match t {
                MxType::Fp8E4M3 | MxType::Fp6E2M3 => 3,
                MxType::Fp8E5M2 | MxType::Fp6E3M2 => 2,
                MxType::Fp4E2M1 => 1,
                MxType::Int8 => 6,
            };
            n(x) * (amax(x) * 2f64.powi(-m)).powi(2)
        }
        Encoding::Raw(_) => unreachable!(),
    }
}

/// Quantizes `v` (`rows x k`) and checks every block's squared error against its bound.
fn check_bound(e: Encoding, rows: usize, k: usize, v: &[f32]) -> Result<(), String> {
    let bytes = quantize(e, rows, k, v).unwrap();
    let back = dequantize(&dense(e, rows, k, &bytes)).unwrap();
    let per_block = e.block_elems();
    for r in 0..rows {
        for (b, chunk) in v[r * k..(r + 1) * k].chunks(per_block).enumerate() {
            let start = r * k + b * per_block;
            let got = sse(chunk, &back[start..start + chunk.len()]);
            let bound = block_sse_bound(e, chunk) * (1.0 + 1e-6) + 1e-30;
            if got > bound {
                return Err(format!("{e} row {r} block {b}: {got} > {bound}"));
            }
        }
    }
    Ok(())
}

/// The super-block encodings' bounds on shapes the random strategy rarely draws: all zero,
/// constant, one huge outlier, halves all negative or all positive, mixed scales per half.
#[test]
fn super_block_bounds_on_degenerate_blocks() {
    let k = 384;
    type Generator = (&'static str, fn(usize) -> f32);
    let gen: [Generator; 7] = [
        ("zero", |_| 0.0),
        ("constant", |_| 0.75),
        ("outlier", |i| {
            if i == 77 {
                1e4
            } else {
                ((i * 37 % 11) as f32 - 5.0) * 0.01
            }
        }),
        ("negative", |i| -1.0 - (i * 13 % 7) as f32 * 0.1),
        ("positive", |i| 3.0 + (i * 13 % 7) as f32 * 0.1),
        ("mixed halves", |i| {
            if i / 16 % 2 == 0 {
                (i % 5) as f32 * 0.001
            } else {
                (i % 9) as f32 - 4.0
            }
        }),
        ("tiny", |i| (i % 7) as f32 * 1e-6 - 3e-6),
    ];
    for e in encodings().into_iter().filter(|e| e.is_super_block()) {
        for (name, f) in gen {
            let v: Vec<f32> = (0..2 * k).map(f).collect();
            check_bound(e, 2, k, &v).unwrap_or_else(|m| panic!("{name}: {m}"));
        }
    }
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_error_within_bound(ei in 0..N_BLOCKED, (rows, k, v) in matrix(3, 300)) {
        let e = encodings()[ei];
        if let Err(msg) = check_bound(e, rows, k, &v) {
            prop_assert!(false, "{}", msg);
        }
    }

    #[test]
    fn requantizing_decoded_values(ei in 0..N_BLOCKED, (rows, k, v) in matrix(2, 200)) {
        let e = encodings()[ei];
        let bytes = quantize(e, rows, k, &v).unwrap();
        let back = dequantize(&dense(e, rows, k, &bytes)).unwrap();
        let again = quantize(e, rows, k, &back).unwrap();
        // q{b} is canonical: the same bytes. bfp and MX give back the same values (the exact
        // exponent is always a candidate, but another exact one may come first). Affine and
        // super-block searches do not promise either (SPEC.md, "Quantizers").
        if matches!(e, Encoding::IntSym { .. }) {
            prop_assert_eq!(&again, &bytes, "{}", e);
        }
        if matches!(e, Encoding::IntSym { .. } | Encoding::Bfp { .. } | Encoding::Mx(_)) {
            let back2 = dequantize(&dense(e, rows, k, &again)).unwrap();
            prop_assert_eq!(back2, back, "{}", e);
        }
    }

    #[test]
    fn sparse_equals_dense(ei in 0..N_BLOCKED, (rows, k, mut v) in matrix(3, 300), zero_every in 1..4usize) {
        let e = encodings()[ei];
        // Zero whole 64-element stretches so that some blocks of every geometry vanish.
        for (i, x) in v.iter_mut().enumerate() {
            if (i % k / 64) % zero_every == 0 {
                *x = 0.0;
            }
        }
        let bytes = quantize(e, rows, k, &v).unwrap();
        let sparse = sparsify(e, rows, k, &bytes).unwrap();
        prop_assert_eq!(&densify(e, rows, k, &sparse).unwrap(), &bytes);
        let wd = dense(e, rows, k, &bytes);
        let ws = Weights { bytes: &sparse, sparse: true, ..wd };
        let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
        prop_assert_eq!(bits(dequantize(&wd).unwrap()), bits(dequantize(&ws).unwrap()));
        let x: Vec<f32> = (0..2 * k).map(|i| ((i * 7919) % 23) as f32 - 11.0).collect();
        for p in [Path::Float, Path::Integer] {
            if p == Path::Integer && e.path() != Path::Integer {
                continue;
            }
            prop_assert_eq!(bits(matmul(&wd, &x, 2, p).unwrap()), bits(matmul(&ws, &x, 2, p).unwrap()));
        }
    }

    #[test]
    fn gemv_within_derived_bound_of_f64(ei in 0..N_BLOCKED, (rows, k, v) in matrix(3, 300), xs in proptest::collection::vec(-4.0f32..4.0, 300)) {
        let e = encodings()[ei];
        let x = &xs[..k];
        let bytes = quantize(e, rows, k, &v).unwrap();
        let w = dense(e, rows, k, &bytes);
        let wv = dequantize(&w).unwrap();
        let u = f64::from(f32::EPSILON) / 2.0;
        // Float path: 16 lanes of ceil(k/16) fmas, then 4 tree levels: n = ceil(k/16) + 4
        // roundings on any partial sum; |error| <= gamma_n * sum |w x|.
        let yf = matmul(&w, x, 1, Path::Float).unwrap();
        let n = (k.div_ceil(16) + 4) as f64;
        for r in 0..rows {
            let row = &wv[r * k..(r + 1) * k];
            let exact: f64 = row.iter().zip(x).map(|(a, b)| *a as f64 * *b as f64).sum();
            let mag: f64 = row.iter().zip(x).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
            let bound = n * u / (1.0 - n * u) * mag;
            prop_assert!((yf[r] as f64 - exact).abs() <= bound, "{e} float row {r}");
        }
        if e.path() != Path::Integer {
            return Ok(());
        }
        // Integer path: the activation quantization error, |w| * sx / 2 per element, plus the
        // rounding of each group's scale product and fma (2 per term, G terms) on the terms.
        let a = quantize_activations(x);
        let yi = matmul_quantized(&w, std::slice::from_ref(&a)).unwrap();
        for (r, &y) in yi.iter().enumerate() {
            let groups = row_int_groups(&w, r).unwrap();
            let (mut exact, mut quant_err, mut mag) = (0.0f64, 0.0f64, 0.0f64);
            for (j, g) in groups.iter().enumerate() {
                let g = g.unwrap();
                let sx = a.scale[j] as f64;
                let mut isum = 0.0;
                for i in 0..GROUP.min(k - j * GROUP) {
                    let wi = g.scale as f64 * (g.sub_scale * g.q[i]) as f64 + g.min.unwrap_or(0.0) as f64;
                    exact += wi * x[j * GROUP + i] as f64;
                    quant_err += wi.abs() * sx / 2.0;
                    isum += (g.sub_scale * g.q[i]) as f64 * a.q[j * GROUP + i] as f64;
                }
                mag += (g.scale as f64 * sx * isum).abs();
                mag += (g.min.unwrap_or(0.0) as f64 * sx * a.sum[j] as f64).abs();
            }
            let terms = 2.0 * groups.len() as f64 + 1.0;
            let bound = quant_err * (1.0 + 1e-6) + 2.0 * terms * u * (mag + quant_err) + 1e-30;
            prop_assert!((y as f64 - exact).abs() <= bound, "{e} integer row {r}: {y} vs {exact} (bound {bound})");
        }
    }

    #[test]
    fn any_finite_input_quantizes_without_panic(ei in 0..N_BLOCKED, v in proptest::collection::vec(
        prop_oneof![any::<f32>().prop_filter("finite", |v| v.is_finite()), Just(0.0f32), -1e-40f32..1e-40], 1..70)) {
        let e = encodings()[ei];
        let k = v.len();
        let bytes = quantize(e, 1, k, &v).unwrap();
        let back = dequantize(&dense(e, 1, k, &bytes)).unwrap();
        prop_assert_eq!(back.len(), k);
        // Scales are kept finite; an element can only overflow when decoding multiplies a
        // saturated element by the largest scale.
        prop_assert!(back.iter().all(|x| !x.is_nan()), "{}: {:?}", e, back);
    }

    #[test]
    fn activations_never_minus_128(x in proptest::collection::vec(
        prop_oneof![any::<f32>().prop_filter("finite", |v| v.is_finite()), -1.0f32..1.0, Just(-0.0f32)], 1..100)) {
        let a = quantize_activations(&x);
        prop_assert!(a.q.iter().all(|&q| q != -128));
        for (j, s) in a.sum.iter().enumerate() {
            let t: i32 = a.q[j * GROUP..(j + 1) * GROUP].iter().map(|&q| q as i32).sum();
            prop_assert_eq!(*s, t);
        }
    }
}

/// Every MX element code decodes to the OCP v1.0 value, computed here from its bit fields.
#[test]
fn mx_element_tables_match_ocp() {
    // (type, exponent bits, mantissa bits, bias)
    let fp = [
        (MxType::Fp8E4M3, 4, 3, 7),
        (MxType::Fp8E5M2, 5, 2, 15),
        (MxType::Fp6E2M3, 2, 3, 1),
        (MxType::Fp6E3M2, 3, 2, 3),
        (MxType::Fp4E2M1, 2, 1, 1),
    ];
    for (t, eb, mb, bias) in fp {
        let width = 1 + eb + mb;
        let mut finite = 0;
        for code in 0u32..(1 << width) {
            let s = if code >> (width - 1) == 1 { -1.0 } else { 1.0 };
            let ex = ((code >> mb) & ((1 << eb) - 1)) as i32;
            let m = (code & ((1 << mb) - 1)) as f64;
            let expect = if ex == 0 {
                s * m / f64::from(1 << mb) * 2f64.powi(1 - bias)
            } else {
                s * (1.0 + m / f64::from(1 << mb)) * 2f64.powi(ex - bias)
            };
            let got = mx::decode(t, &block_with(t, code as u8), 0);
            let special = match t {
                MxType::Fp8E4M3 => ex == 15 && m == 7.0,
                MxType::Fp8E5M2 => ex == 31,
                _ => false,
            };
            if special {
                if t == MxType::Fp8E5M2 && m == 0.0 {
                    assert_eq!(got, s as f32 * f32::INFINITY);
                } else {
                    assert!(got.is_nan(), "{t:?} {code:#x}");
                }
            } else {
                finite += 1;
                assert_eq!(got as f64, expect, "{t:?} code {code:#x}");
            }
        }
        // OCP: E4M3 has 254 finite codes, E5M2 248, FP6 64, FP4 16.
        let want = match t {
            MxType::Fp8E4M3 => 254,
            MxType::Fp8E5M2 => 248,
            MxType::Fp4E2M1 => 16,
            _ => 64,
        };
        assert_eq!(finite, want, "{t:?}");
    }
    for code in 0..=255u8 {
        let got = mx::decode(MxType::Int8, &block_with(MxType::Int8, code), 0);
        assert_eq!(got as f64, (code as i8) as f64 / 64.0);
    }
}

mod mx {
    use tessera_reference::{dequantize, Encoding, MxType, Weights};

    /// Element `i` of an MX block decoded with the scale 1 (e = 127).
    pub fn decode(t: MxType, block: &[u8], i: usize) -> f32 {
        let w = Weights {
            encoding: Encoding::Mx(t),
            rows: 1,
            k: 32,
            bytes: block,
            sparse: false,
        };
        dequantize(&w).unwrap()[i]
    }
}

/// An MX block with e = 127 and element 0 = `code`, the rest +0.
fn block_with(t: MxType, code: u8) -> Vec<u8> {
    let bits = t.bits();
    let mut b = vec![0u8; 1 + 4 * bits as usize];
    b[0] = 127;
    let mut codes = [0u8; 32];
    codes[0] = code;
    if bits == 8 {
        b[1..].copy_from_slice(&codes);
    } else {
        planes::pack(bits, &codes, &mut b[1..]);
    }
    b
}

/// `Effort::Fast`: its output decodes within the same error bound as `Best` (SPEC.md section
/// 16.1), it is the same bytes for any thread count, and encodings without a fast search give
/// exactly `Best`'s bytes.
mod fast_effort {
    use super::*;

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
}

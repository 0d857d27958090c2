//! Search helpers shared by the quantizers.
//!
//! Every quantizer minimizes the importance-weighted squared error of the *decoded* values: it
//! tries a small fixed set of candidate scales, refits each by least squares, re-rounds, and keeps
//! the best (the first on ties). Everything runs in a fixed order on f32/f64 values, so the bytes
//! depend only on the input.

use tessera_format::GROUP;

/// The weights and importances of one group, padding included (padding has importance 0).
#[derive(Clone, Copy)]
pub struct GroupInput<'a> {
    pub x: &'a [f32; GROUP],
    pub imp: &'a [f32; GROUP],
}

/// A symmetric group fit: `x[i] ~ scale * q[i]`, `q` in `[-o, o-1]`.
#[derive(Clone, Copy, Debug)]
pub struct SymFit {
    pub scale: f32,
    pub q: [i32; GROUP],
    pub err: f64,
}

/// `q = clamp(round_half_even(x / scale), lo, hi)`; a zero scale gives 0.
pub fn round_code(x: f32, scale: f32, lo: i32, hi: i32) -> i32 {
    if scale == 0.0 {
        return 0.clamp(lo, hi);
    }
    let r = (x / scale).round_ties_even();
    if r.is_nan() {
        0
    } else {
        r.clamp(lo as f32, hi as f32) as i32
    }
}

/// Weighted squared error of `decoded(i)` against the group.
pub fn weighted_err(g: GroupInput, decoded: impl Fn(usize) -> f32) -> f64 {
    let mut e = 0.0f64;
    for i in 0..GROUP {
        let d = g.x[i] as f64 - decoded(i) as f64;
        e += g.imp[i] as f64 * d * d;
    }
    e
}

/// The element with the largest magnitude (the first one on ties), or 0.
pub fn signed_absmax(x: &[f32]) -> f32 {
    let mut best = 0.0f32;
    for &v in x {
        if v.abs() > best.abs() {
            best = v;
        }
    }
    best
}

/// Codes for a fixed scale, with their weighted error (decoded as `scale * q`, exact).
pub fn sym_codes(g: GroupInput, scale: f32, o: i32) -> SymFit {
    let q: [i32; GROUP] = std::array::from_fn(|i| round_code(g.x[i], scale, -o, o - 1));
    let err = weighted_err(g, |i| scale * q[i] as f32);
    SymFit { scale, q, err }
}

/// Least-squares scale for fixed codes: `sum w x q / sum w q^2` (0 if all codes are 0).
pub fn refit_scale(g: GroupInput, q: &[i32; GROUP]) -> f32 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for ((&x, &w), &q) in g.x.iter().zip(g.imp).zip(q) {
        let (w, q) = (w as f64, q as f64);
        num += w * x as f64 * q;
        den += w * q * q;
    }
    if den > 0.0 {
        (num / den) as f32
    } else {
        0.0
    }
}

/// The best symmetric fit of a group with `2o` levels `[-o, o-1]`, where `round_scale` maps a
/// real scale to a storable one (f16 rounding, or identity). The sign of the scale is searched
/// too, so the larger-magnitude end of the group can use the extra level `-o`.
///
/// Candidates: the largest-magnitude element `m` mapped to `-o + t/8` and to `o - 1 + t/8` for
/// `t` in `-steps..=steps` (the first family with a negative scale); each is quantized, refit
/// by least squares, rounded, re-quantized, and scored by its decoded error.
pub fn best_symmetric(
    g: GroupInput,
    o: i32,
    steps: i32,
    round_scale: impl Fn(f32) -> f32,
) -> SymFit {
    let m = signed_absmax(g.x);
    let zero = SymFit {
        scale: 0.0,
        q: [0; GROUP],
        err: weighted_err(g, |_| 0.0),
    };
    if m == 0.0 {
        return zero;
    }
    let mut best = zero;
    let consider = |best: &mut SymFit, level: f32| {
        let first = sym_codes(g, round_scale(m / level), o);
        let refit = sym_codes(g, round_scale(refit_scale(g, &first.q)), o);
        for fit in [first, refit] {
            if fit.err < best.err {
                *best = fit;
            }
        }
    };
    for target in [-(o as f32), (o - 1) as f32] {
        for t in -steps..=steps {
            let level = target + t as f32 / 8.0;
            if level.abs() >= 0.5 {
                consider(&mut best, level);
            }
        }
    }
    // Snap: map the largest element exactly onto the integer level the best fit gave it. This
    // finds the exact scale of values that are already `d * q` (re-quantizing decoded blocks).
    if best.scale != 0.0 {
        let level = (m / best.scale).round_ties_even();
        if level.abs() >= 1.0 {
            consider(&mut best, level);
        }
    }
    best
}

/// `floor(log2(|x|))` for a finite nonzero `x`, exact (subnormals included).
pub fn floor_log2(x: f32) -> i32 {
    let bits = x.abs().to_bits();
    let exp = (bits >> 23) as i32;
    if exp > 0 {
        exp - 127
    } else {
        // Subnormal: value = man * 2^-149.
        let man = bits & 0x7F_FFFF;
        31 - man.leading_zeros() as i32 - 149
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_log2_is_exact() {
        assert_eq!(floor_log2(1.0), 0);
        assert_eq!(floor_log2(1.99), 0);
        assert_eq!(floor_log2(-2.0), 1);
        assert_eq!(floor_log2(0.75), -1);
        assert_eq!(floor_log2(f32::from_bits(1)), -149);
        assert_eq!(floor_log2(f32::from_bits(0x0040_0000)), -127);
        assert_eq!(floor_log2(f32::MAX), 127);
    }

    #[test]
    fn search_is_never_worse_than_absmax() {
        let x: [f32; GROUP] = std::array::from_fn(|i| ((i * 7919 % 61) as f32 - 30.0) / 17.0);
        let imp = [1.0; GROUP];
        let g = GroupInput { x: &x, imp: &imp };
        let m = signed_absmax(&x);
        let absmax = sym_codes(g, m / -8.0, 8);
        let best = best_symmetric(g, 8, 8, |s| s);
        assert!(best.err <= absmax.err);
        assert!(best.err > 0.0);
    }
}

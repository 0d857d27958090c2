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
    let r = round_even(x / scale);
    if r.is_nan() {
        0
    } else {
        r.clamp(lo as f32, hi as f32) as i32
    }
}

/// `v` rounded to the nearest integer, ties to even: the same value as `f32::round_ties_even`,
/// without the library call that targets lacking SSE4.1 make of it (the quantizers' hot loop).
/// Adding and subtracting `1.5 * 2^23` rounds in the FPU's default mode, exact for `|v| < 2^22`.
#[inline]
pub fn round_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    if v.abs() < 4_194_304.0 {
        ((v + MAGIC) - MAGIC).copysign(v)
    } else {
        v.round_ties_even()
    }
}

/// `v` rounded up to an f16 value (`v >= 0`, below the f16 maximum): the super-block searches'
/// bounding candidates round up so that no element clips.
pub fn f16_up(v: f32) -> f32 {
    let h = half::f16::from_f32(v);
    if h.to_f32() >= v {
        h.to_f32()
    } else {
        half::f16::from_bits(h.to_bits() + 1).to_f32()
    }
}

/// `a / b` rounded to an integer by `round`, clamped to `[0, max]` (0 when `b == 0` or NaN): a
/// super-block's sub-scale or sub-min for a real scale or min `a` and a unit `b`.
pub fn sub_field(a: f32, b: f32, max: i32, round: impl Fn(f32) -> f32) -> i32 {
    if b == 0.0 {
        return 0;
    }
    let r = round(a / b);
    if r.is_nan() {
        0
    } else {
        r.clamp(0.0, max as f32) as i32
    }
}

/// The sub-field values the super-block searches try, in order: the rounded one `v`, its
/// neighbours, and `cover` (the one that reaches the extreme element); repeats and values outside
/// `[0, max]` are left out.
pub fn sub_candidates(v: i32, cover: i32, max: i32) -> impl Iterator<Item = i32> {
    let c = [v, v - 1, v + 1, cover];
    (0..c.len())
        .filter(move |&i| (0..=max).contains(&c[i]) && !c[..i].contains(&c[i]))
        .map(move |i| c[i])
}

/// The unsigned code of `x` on the grid `base + step * u`: `clamp(round((x - base) / step), 0,
/// top)`, ties to even; 0 when `step` is 0 (or the quotient NaN).
pub fn grid_code(x: f32, base: f32, step: f32, top: i32) -> i32 {
    if step == 0.0 {
        return 0;
    }
    let r = round_even((x - base) / step);
    if r.is_nan() {
        0
    } else {
        r.clamp(0.0, top as f32) as i32
    }
}

/// Lowest and highest of the elements with a positive importance (`(0, 0)` if there are none).
pub fn weighted_range(x: &[f32], imp: &[f32]) -> (f32, f32) {
    let mut range: Option<(f32, f32)> = None;
    for (&v, &w) in x.iter().zip(imp) {
        if w > 0.0 {
            range = Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
        }
    }
    range.unwrap_or((0.0, 0.0))
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

/// Levels the largest magnitude may map to, from `LOW * (o - 1)` to `HIGH * o + 1`: mapping it
/// past the top level clips it, which pays off when the finer step helps the other 31 values.
const LOW: f64 = 0.7;
const HIGH: f64 = 1.6;
/// Up to this `o` the whole window is searched exactly ([`sweep_symmetric`]); above it (7 and 8
/// bits, where the exact walk would have thousands of steps) a grid of `GRID + 1` levels finds
/// the region first.
const SWEEP_MAX_O: i32 = 32;
const GRID: i32 = 24;

/// The best symmetric fit of a group with `2o` levels `[-o, o-1]`, where `round_scale` maps a
/// real scale to a storable one (f16 rounding, or identity). Both signs of the scale are searched,
/// so either end of the group can use the extra level `-o`.
///
/// Each candidate (codes, scale) is polished: the scale is rounded, the codes re-rounded, the
/// scale refit by least squares, rounded and the codes re-rounded again; every stage is scored
/// by its decoded error and the lowest wins (the first on ties).
pub fn best_symmetric(g: GroupInput, o: i32, round_scale: impl Fn(f32) -> f32) -> SymFit {
    let m = signed_absmax(g.x);
    let mut best = SymFit {
        scale: 0.0,
        q: [0; GROUP],
        err: weighted_err(g, |_| 0.0),
    };
    if m == 0.0 {
        return best;
    }
    if let Some(exact) = exact_fit(g, o, &round_scale) {
        return exact;
    }
    let amax = m.abs() as f64;
    let polish = |best: &mut SymFit, scale: f32, q: &[i32; GROUP]| {
        let scale = round_scale(scale);
        let kept = SymFit {
            scale,
            q: *q,
            err: weighted_err(g, |i| scale * q[i] as f32),
        };
        let requant = sym_codes(g, scale, o);
        let refit = sym_codes(g, round_scale(refit_scale(g, &requant.q)), o);
        for fit in [kept, requant, refit] {
            if fit.err < best.err {
                *best = fit;
            }
        }
    };
    for sign in [-1.0f32, 1.0] {
        let mut around = window(o);
        if o > SWEEP_MAX_O {
            // Coarse grid first, then the exact walk within two grid steps of its best level.
            let (lo, hi) = around;
            let step = (hi - lo) / GRID as f64;
            let mut best_grid = (f64::INFINITY, lo);
            for n in 0..=GRID {
                let level = lo + step * n as f64;
                let fit = sym_codes(g, sign * (amax / level) as f32, o);
                if fit.err < best_grid.0 {
                    best_grid = (fit.err, level);
                }
            }
            around = (best_grid.1 - 2.0 * step, best_grid.1 + 2.0 * step);
        }
        if let Some((scale, q)) = sweep_symmetric(g, o, sign, around) {
            polish(&mut best, scale, &q);
        }
    }
    // The plain absmax scale (no element clipped): its error bounds the result (SPEC.md,
    // "Error bounds").
    let plain = (amax / (o - 1).max(1) as f64) as f32;
    polish(&mut best, plain, &sym_codes(g, plain, o).q);
    // Snap: map the largest element exactly onto the integer level the best fit gave it. This
    // finds the exact scale of values that are already `d * q` (re-quantizing decoded blocks).
    if best.scale != 0.0 {
        let level = (m / best.scale).round_ties_even();
        if level.abs() >= 1.0 {
            let q = sym_codes(g, m / level, o).q;
            polish(&mut best, m / level, &q);
        }
    }
    best
}

/// Values that are already `d * q` for a storable `d` (a decoded block): the scale that maps the
/// largest magnitude `m` onto the level `L` of largest `|L|` (the negative one first) for which
/// every value divides exactly. This picks one representation among those that decode alike.
pub fn exact_fit(g: GroupInput, o: i32, round_scale: &impl Fn(f32) -> f32) -> Option<SymFit> {
    let m = signed_absmax(g.x);
    for mag in (1..=o).rev() {
        for level in [-mag, mag] {
            if level == o {
                continue; // not a code
            }
            let d = m / level as f32;
            if round_scale(d) != d || d == 0.0 {
                continue;
            }
            let code = |i: usize| round_code(g.x[i], d, -o, o - 1);
            // Most levels fail on the first element or two: check before building the codes.
            if (0..GROUP).all(|i| d * code(i) as f32 == g.x[i]) {
                return Some(SymFit {
                    scale: d,
                    q: std::array::from_fn(code),
                    err: 0.0,
                });
            }
        }
    }
    None
}

/// The search window in levels for the largest magnitude.
fn window(o: i32) -> (f64, f64) {
    (((o - 1) as f64 * LOW).max(0.5), o as f64 * HIGH + 1.0)
}

/// Exact least-squares search over a window of inverse scales `t` (the scale is `sign / t`).
///
/// For `t > 0` each code `q[i] = clamp(round(sign * x[i] * t), -o, o-1)` is a step function of
/// `t`, changing at `t = (j + 1/2) / |x[i]|`. Between two steps the codes are fixed and the best
/// scale is `sum w x q / sum w q^2`, with error `sum w x^2 - (sum w x q)^2 / sum w q^2`. Walking the
/// steps in order with running sums finds the best interval exactly. The window `(lo, hi)` is in
/// levels for the largest magnitude. Returns the (unrounded) scale and the codes, both for the
/// original sign.
pub fn sweep_symmetric(
    g: GroupInput,
    o: i32,
    sign: f32,
    (lo, hi): (f64, f64),
) -> Option<(f32, [i32; GROUP])> {
    let amax = g.x.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    if amax == 0.0 {
        return None;
    }
    let (t_lo, t_hi) = (lo / amax, hi / amax);
    let y: [f64; GROUP] = std::array::from_fn(|i| (sign * g.x[i]) as f64);
    // Code magnitude of v at inverse scale t: the number of steps (j + 1/2) / |v| <= t, so that the
    // codes and the step list below agree exactly (no rounding of v * t at ties).
    let mag_at = |v: f64, t: f64, limit: i32| {
        // Truncation is floor here (the value is >= 0); the loops below settle exact ties.
        let mut mag = ((v.abs() * t + 0.5) as i32).clamp(0, limit);
        while mag > 0 && (mag as f64 - 0.5) / v.abs() > t {
            mag -= 1;
        }
        while mag < limit && (mag as f64 + 0.5) / v.abs() <= t {
            mag += 1;
        }
        mag
    };
    let limit = |v: f64| if v > 0.0 { o - 1 } else { o };
    let mut q = [0i32; GROUP];
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for i in 0..GROUP {
        if y[i] != 0.0 {
            q[i] = mag_at(y[i], t_lo, limit(y[i])) * if y[i] > 0.0 { 1 } else { -1 };
        }
        let w = g.imp[i] as f64;
        a += w * y[i] * q[i] as f64;
        b += w * (q[i] * q[i]) as f64;
    }
    // Steps inside the window, as `(bits of t) << 8 | element`: t > 0, so sorting the packed
    // integers orders the steps by t, then by element.
    STEPS.with_borrow_mut(|steps| {
        steps.clear();
        for (i, &v) in y.iter().enumerate() {
            if v == 0.0 || g.imp[i] == 0.0 {
                continue;
            }
            let (av, top) = (v.abs(), limit(v));
            let mut mag = q[i].abs();
            while mag < top {
                let t = (mag as f64 + 0.5) / av;
                if t > t_hi {
                    break;
                }
                steps.push((t.to_bits() as u128) << 8 | i as u128);
                mag += 1;
            }
        }
        steps.sort_unstable();
        let score = |a: f64, b: f64| if b > 0.0 && a > 0.0 { a * a / b } else { 0.0 };
        // The best interval is remembered by the number of steps taken to reach it.
        let (mut best_score, mut best_taken) = (score(a, b), 0);
        let mut walk = q;
        for (n, &step) in steps.iter().enumerate() {
            let i = (step & 0xFF) as usize;
            let w = g.imp[i] as f64;
            let dq = if y[i] > 0.0 { 1 } else { -1 };
            let old = walk[i];
            walk[i] += dq;
            a += w * y[i] * dq as f64;
            b += w * ((walk[i] * walk[i]) - (old * old)) as f64;
            // Score once every step at this t is taken.
            let same_t_next = steps.get(n + 1).is_some_and(|s| s >> 8 == step >> 8);
            if !same_t_next && score(a, b) > best_score {
                (best_score, best_taken) = (score(a, b), n + 1);
            }
        }
        for &step in &steps[..best_taken] {
            let i = (step & 0xFF) as usize;
            q[i] += if y[i] > 0.0 { 1 } else { -1 };
        }
    });
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for i in 0..GROUP {
        let w = g.imp[i] as f64;
        a += w * y[i] * q[i] as f64;
        b += w * (q[i] * q[i]) as f64;
    }
    if b == 0.0 || a <= 0.0 {
        return None;
    }
    // Back to the original sign: x ~ (sign * a / b) * q.
    Some((sign * (a / b) as f32, q))
}

thread_local! {
    /// The sweep's step list, kept between calls so the hot loop does not allocate.
    static STEPS: std::cell::RefCell<Vec<u128>> = const { std::cell::RefCell::new(Vec::new()) };
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
    fn round_even_matches_the_library() {
        let mut v = -9.0f32;
        while v < 9.0 {
            assert_eq!(
                round_even(v).to_bits(),
                v.round_ties_even().to_bits(),
                "{v}"
            );
            v += 0.125;
        }
        for v in [
            0.5f32, 1.5, 2.5, -0.5, -2.5, 4194303.5, -4194303.5, 1e9, -1e30, 1e-40, -0.0,
        ] {
            assert_eq!(round_even(v), v.round_ties_even(), "{v}");
        }
        assert!(round_even(f32::NAN).is_nan());
        assert_eq!(round_even(f32::INFINITY), f32::INFINITY);
    }

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
        let best = best_symmetric(g, 8, |s| s);
        assert!(best.err <= absmax.err);
        assert!(best.err > 0.0);
    }
}
#[cfg(test)]
mod search_tests {
    use super::*;

    /// Dense grid with refit: the brute-force search the exact walk must never lose to.
    fn grid(g: GroupInput, o: i32) -> SymFit {
        let m = signed_absmax(g.x);
        let mut best = SymFit {
            scale: 0.0,
            q: [0; GROUP],
            err: weighted_err(g, |_| 0.0),
        };
        for t in -16 * o..=16 * o {
            for target in [-(o as f32), (o - 1) as f32] {
                let level = target + t as f32 / 8.0;
                if level.abs() < 0.5 {
                    continue;
                }
                let first = sym_codes(g, m / level, o);
                let refit = sym_codes(g, refit_scale(g, &first.q), o);
                for fit in [first, refit] {
                    if fit.err < best.err {
                        best = fit;
                    }
                }
            }
        }
        best
    }

    #[test]
    fn exact_walk_never_loses_to_a_dense_grid() {
        let mut s = 12345u64;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64).max(1e-12)
        };
        for o in [2, 4, 8, 16, 32] {
            for _ in 0..60 {
                // Gaussian values (Box-Muller).
                let x: [f32; GROUP] = std::array::from_fn(|_| {
                    let (u1, u2) = (next(), next());
                    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
                });
                let imp = [1.0; GROUP];
                let g = GroupInput { x: &x, imp: &imp };
                let exact = best_symmetric(g, o, |v| v);
                let brute = grid(g, o);
                // Equal up to the f32 rounding of the scale.
                assert!(
                    exact.err <= brute.err * (1.0 + 1e-6),
                    "o {o}: {} > {}",
                    exact.err,
                    brute.err
                );
            }
        }
    }
}

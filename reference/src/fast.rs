//! The fast quantizer effort: a few candidate scales per group instead of the exact sweep.
//!
//! [`Effort::Best`] (the default, `quantize` / `quantize_weighted`) runs the exact least-squares
//! sweep of [`crate::quantizer`]: about 180 ns per weight at 4 bits. [`Effort::Fast`] tries a
//! small fixed set of scales and is meant for converting large checkpoints:
//!
//! - `q{b}` (symmetric, one f16 scale per 32): with `m` the element of largest magnitude (the
//!   positive one on a tie), each candidate of [`LEVELS`] maps `m` to a level near `-o` and
//!   rounds the codes; candidates are ranked by the error at their least-squares scale. The
//!   winner's scale is refit (`sum w x q / sum w q^2`), rounded to f16 and scored by the weighted
//!   squared error of its codes at that scale; then once more from its codes re-rounded at the
//!   stored scale. The plain absmax scale `amax / (o - 1)` rounded to f16 is a candidate too and
//!   is kept unless beaten, so the error bound of SPEC.md section 16.1 holds as for `Best`. Ties
//!   keep the earlier candidate. The stored codes are re-rounded at the final scale. About 6 ns
//!   per weight at 4 bits on one core, packing included (`Best`: about 180); relative RMSE within 0.3% of `Best` at 4 bits on MiniLM
//!   (`reference/tests/fast_minilm.rs`). Unlike `Best`, values that are already `d * q` are not
//!   put in a canonical form.
//! - Every other encoding falls back to `Best` (same bytes as `quantize_weighted`).
//!
//! Determinism: every group is computed by the same sequence of IEEE f32 operations on every
//! target (lane-wise arithmetic over 32-element arrays, sums by a fixed pairwise tree; Rust never
//! fuses `a * b + c`), so the bytes depend only on the input, never on the machine, the SIMD
//! width LLVM picks, or the thread count (rows are independent).

use tessera_format::{Encoding, GROUP};

#[cfg(test)]
use crate::fp::to_f16_finite;
use crate::int_sym;

/// How hard the quantizer searches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Effort {
    /// The exact searches of SPEC.md section 16 (the default; `quantize` and
    /// `quantize_weighted`).
    #[default]
    Best,
    /// A few candidate scales per group (this module); encodings without a fast search use
    /// `Best`.
    Fast,
}

impl Effort {
    /// `"best"` or `"fast"`.
    pub fn name(self) -> &'static str {
        match self {
            Effort::Best => "best",
            Effort::Fast => "fast",
        }
    }

    /// Parses `"best"` or `"fast"` (case ignored).
    pub fn from_name(s: &str) -> Option<Effort> {
        match s.to_ascii_lowercase().as_str() {
            "best" => Some(Effort::Best),
            "fast" => Some(Effort::Fast),
            _ => None,
        }
    }
}

impl std::fmt::Display for Effort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// True if `Fast` has its own search for `e` (otherwise it gives `Best`'s bytes).
pub fn has_fast_search(e: Encoding) -> bool {
    matches!(e, Encoding::IntSym { .. })
}

/// Candidate levels for the element of largest magnitude `m`, in units of `o`: `m` takes a
/// negative code, so the extra level `-o` is in reach. Each candidate's scale is then refit by
/// least squares, so the levels only need to give different code patterns. Chosen on MiniLM
/// (`reference/tests/fast_minilm.rs`): `-1` alone is within 2% of `Best` at 4 bits, these four
/// within 0.3%; more levels gain little for their cost (about 0.5 ns per weight each).
pub const LEVELS: [f32; 4] = [-1.0, -1.0625, -0.9375, -1.125];

/// 32 lanes.
type Lanes = [f32; GROUP];

/// Sum of 32 lanes by a fixed pairwise tree (lane `i` + lane `i + 16`, then `+ 8`, ...): the
/// same order whatever vector width the compiler uses.
#[inline(always)]
fn tree_sum(v: &Lanes) -> f32 {
    let mut h = [0.0f32; 16];
    for i in 0..16 {
        h[i] = v[i] + v[i + 16];
    }
    let mut q = [0.0f32; 8];
    for i in 0..8 {
        q[i] = h[i] + h[i + 8];
    }
    let mut e = [0.0f32; 4];
    for i in 0..4 {
        e[i] = q[i] + q[i + 4];
    }
    (e[0] + e[2]) + (e[1] + e[3])
}

/// `1.5 * 2^23`: adding and subtracting it rounds an f32 of magnitude below `2^22` to the
/// nearest integer, ties to even.
const MAGIC: f32 = 12_582_912.0;

/// Codes for the finite inverse scale `inv`: `round_half_even(clamp(x * inv, -o, o - 1))`, as
/// f32. Clamping first keeps the magic-number rounding exact (`|v| <= 128`); products that
/// overflow to infinity clamp too.
#[inline(always)]
fn codes(x: &Lanes, inv: f32, lo: f32, hi: f32) -> Lanes {
    let mut q = [0.0f32; GROUP];
    for i in 0..GROUP {
        let v = x[i] * inv;
        let v = if v < lo { lo } else { v };
        let v = if v > hi { hi } else { v };
        q[i] = (v + MAGIC) - MAGIC;
    }
    q
}

/// The sums of a fit with codes `q`: `(sum w x q, sum w q^2)`.
#[inline(always)]
fn moments(x: &Lanes, w: &Lanes, q: &Lanes) -> (f32, f32) {
    let mut num = [0.0f32; GROUP];
    let mut den = [0.0f32; GROUP];
    for i in 0..GROUP {
        let wq = w[i] * q[i];
        num[i] = wq * x[i];
        den[i] = wq * q[i];
    }
    (tree_sum(&num), tree_sum(&den))
}

/// The largest of 32 lanes, by a pairwise tree (max is exact, so any order gives this value;
/// the tree only lets it vectorize).
#[inline(always)]
fn tree_max(v: &Lanes) -> f32 {
    let max = |a: f32, b: f32| if a > b { a } else { b };
    let mut h = [0.0f32; 16];
    for i in 0..16 {
        h[i] = max(v[i], v[i + 16]);
    }
    let mut q = [0.0f32; 8];
    for i in 0..8 {
        q[i] = max(h[i], h[i + 8]);
    }
    let mut e = [0.0f32; 4];
    for i in 0..4 {
        e[i] = max(q[i], q[i + 4]);
    }
    max(max(e[0], e[2]), max(e[1], e[3]))
}

/// `v` rounded to the nearest f16 value (ties to even), clamped to the finite f16 range, as an
/// f32: the same value as [`crate::fp::to_f16_finite`] (a test checks), by arithmetic the
/// compiler inlines. With `u = 2^(max(e, -14) - 10)` the f16 spacing at `|v|` (`e = floor(log2 |v|)`), adding
/// and subtracting `c = 1.5 * 2^23 * u` rounds `|v|` to a multiple of `u` in the FPU's default
/// mode (`|v| + c` stays in `c`'s binade, whose spacing is `u`).
#[inline(always)]
fn round_f16(v: f32) -> f32 {
    let a = v.abs();
    let a = if a > 65504.0 { 65504.0 } else { a };
    let e = (((a.to_bits() >> 23) as i32) - 127).max(-14);
    let c = f32::from_bits(((e + 13 + 127) as u32) << 23) * 1.5;
    ((a + c) - c).copysign(v)
}

/// The fast symmetric fit of one group: the stored (f16) scale and the codes `q` in
/// `[-o, o - 1]`. `w` are the importances (padding 0, not all 0).
///
/// A candidate with codes `q` and stored scale `s` has weighted error
/// `sum w x^2 - 2 s A + s^2 B` with `A = sum w x q`, `B = sum w q^2`; the first term is the same
/// for every candidate, so candidates are ranked by `s (s B - 2 A)`. The stored codes are then
/// re-rounded at the winning scale, which can only lower each element's error. The sums are
/// f32, so candidates whose errors differ by less than about `1e-6 * sum w x^2` may be ranked
/// either way (far below the bound of SPEC.md 16.1, which is at least `1.5e-5 * n * amax^2`).
#[inline(always)]
pub fn fit_symmetric(o: i32, x: &Lanes, w: &Lanes) -> (f32, [i32; GROUP]) {
    let (lo, hi) = (-(o as f32), (o - 1) as f32);
    // Largest positive value, largest magnitude of a negative one, largest importance.
    let mut pos = [0.0f32; GROUP];
    let mut neg = [0.0f32; GROUP];
    for i in 0..GROUP {
        pos[i] = if x[i] > 0.0 { x[i] } else { 0.0 };
        neg[i] = if x[i] < 0.0 { -x[i] } else { 0.0 };
    }
    let (top, bottom, wmax) = (tree_max(&pos), tree_max(&neg), tree_max(w));
    let m = if bottom > top { -bottom } else { top };
    if m == 0.0 || wmax == 0.0 {
        return (0.0, [0; GROUP]);
    }
    // Importances scaled to at most 1, so the f32 sums cannot overflow through them.
    let mut wn = *w;
    if wmax != 1.0 {
        for i in 0..GROUP {
            wn[i] = w[i] / wmax;
        }
    }
    // The error of codes with sums (A, B) at scale s, less the constant `sum w x^2`.
    let score = |s: f32, (a, b): (f32, f32)| {
        let v = s * (s * b - 2.0 * a);
        if v.is_nan() {
            f32::INFINITY
        } else {
            v
        }
    };
    let amax = m.abs();
    let top_level = hi.max(1.0);
    // The absmax candidate (no element clipped): it carries the error bound.
    let absmax = round_f16(amax / top_level);
    let abs_sums = if absmax == 0.0 {
        (0.0, 0.0)
    } else {
        moments(x, &wn, &codes(x, 1.0 / absmax, lo, hi))
    };
    // Rank the candidates by the error at their least-squares scale, `-A^2 / B`: the larger
    // `A^2 / B`, the better (compared as `A1^2 B2 > A2^2 B1`, no division).
    let mut best = abs_sums;
    for level in LEVELS {
        let inv = level * o as f32 / m;
        if !inv.is_finite() {
            continue; // m is tiny: only the absmax candidate (or a zero scale) applies
        }
        let (a, b) = moments(x, &wn, &codes(x, inv, lo, hi));
        if b > 0.0 && (best.1 == 0.0 || a * a * best.1 > best.0 * best.0 * b) {
            best = (a, b);
        }
    }
    let mut best_scale = absmax;
    let mut best_score = score(absmax, abs_sums);
    let polish = |sums: (f32, f32), (scale, err): (f32, f32)| {
        let s = round_f16(sums.0 / sums.1);
        if s.is_finite() && s != 0.0 && score(s, sums) < err {
            (s, score(s, sums))
        } else {
            (scale, err)
        }
    };
    (best_scale, best_score) = polish(best, (best_scale, best_score));
    // A second refit of the winner, from its codes re-rounded at the stored scale.
    if best_scale != 0.0 {
        let sums = moments(x, &wn, &codes(x, 1.0 / best_scale, lo, hi));
        (best_scale, _) = polish(sums, (best_scale, best_score));
    }
    if best_scale == 0.0 {
        return (0.0, [0; GROUP]);
    }
    let q = codes(x, 1.0 / best_scale, lo, hi);
    (best_scale, std::array::from_fn(|i| q[i] as i32))
}

/// Quantizes one row into `dst` (its dense bytes) with the fast search. `e` must satisfy
/// [`has_fast_search`]. Padding elements are zeros of importance 0; a block whose importances
/// are all 0 is fitted with uniform importance (as `Best` does).
pub fn quantize_row(e: Encoding, x: &[f32], imp: Option<&[f32]>, dst: &mut [u8]) {
    let Encoding::IntSym { bits } = e else {
        unreachable!("no fast search for {e}")
    };
    let o = int_sym::offset(bits);
    let block_bytes = e.block_bytes_at(x.len() as u64, 0);
    for (b, out) in dst.chunks_exact_mut(block_bytes).enumerate() {
        let start = b * GROUP;
        let n = GROUP.min(x.len() - start);
        let mut xs = [0.0f32; GROUP];
        let mut ws = [0.0f32; GROUP];
        xs[..n].copy_from_slice(&x[start..start + n]);
        match imp {
            Some(i) => ws[..n].copy_from_slice(&i[start..start + n]),
            None => ws[..n].fill(1.0),
        }
        if imp.is_some() && ws.iter().all(|&v| v == 0.0) {
            ws[..n].fill(1.0);
        }
        let (scale, q) = fit_symmetric(o, &xs, &ws);
        int_sym::write_codes(bits, scale, &q, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_sum_adds_in_its_fixed_order() {
        let v: Lanes = std::array::from_fn(|i| i as f32);
        assert_eq!(tree_sum(&v), 496.0);
        // 1 + 2^24 - 2^24 depends on order; the tree pairs lane 0 with 16 first.
        let mut v = [0.0f32; GROUP];
        v[0] = 1.0;
        v[16] = 16_777_216.0;
        v[8] = -16_777_216.0;
        // (1 + 2^24) rounds to 2^24, then + (-2^24) = 0.
        assert_eq!(tree_sum(&v), 0.0);
    }

    #[test]
    fn round_f16_matches_the_half_crate() {
        let check = |v: f32| {
            let (got, want) = (round_f16(v), to_f16_finite(v));
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{v:e} ({:#x}): {got:e} vs {want:e}",
                v.to_bits()
            );
        };
        // Every f32 whose exponent is in or near the f16 range, at a stride that visits every
        // rounding case (ties and their neighbours) of each binade, and the edges.
        let mut bits = 0u32;
        while bits < 0x4800_0000 {
            for d in [0u32, 1, 0xFFF, 0x1000, 0x1001, 0x2000, 0x3000] {
                check(f32::from_bits(bits + d));
                check(-f32::from_bits(bits + d));
            }
            bits += 0x2345;
        }
        for v in [
            0.0f32,
            -0.0,
            65504.0,
            65519.0,
            65520.0,
            1e30,
            f32::INFINITY,
            -f32::INFINITY,
            f32::NAN,
            6.0e-8,
            2.9e-8,
            3.0e-8,
            5.96e-8,
            6.1e-5,
            6.104e-5,
            f32::MIN_POSITIVE,
        ] {
            check(v);
        }
    }

    #[test]
    fn codes_round_half_even_and_clamp() {
        let x: Lanes = std::array::from_fn(|i| i as f32 - 16.0);
        let q = codes(&x, 0.5, -8.0, 7.0);
        // -16 * 0.5 = -8; -15 * 0.5 = -7.5 -> -8; -13 * 0.5 = -6.5 -> -6; 15 * 0.5 = 7.5 -> 7.
        assert_eq!(q[0], -8.0);
        assert_eq!(q[1], -8.0);
        assert_eq!(q[3], -6.0);
        assert_eq!(q[31], 7.0);
        let q = codes(&x, 3e38, -8.0, 7.0);
        assert_eq!((q[0], q[16], q[17]), (-8.0, 0.0, 7.0));
    }

    #[test]
    fn fit_is_never_worse_than_absmax_and_exact_on_grid_values() {
        let x: Lanes = std::array::from_fn(|i| ((i * 7919 % 61) as f32 - 30.0) / 17.0);
        let w = [1.0; GROUP];
        let (s, q) = fit_symmetric(8, &x, &w);
        let err = |s: f32, q: &[i32; GROUP]| -> f64 {
            (0..GROUP)
                .map(|i| (x[i] as f64 - (s * q[i] as f32) as f64).powi(2))
                .sum()
        };
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let a = to_f16_finite(amax / 7.0);
        let qa: [i32; GROUP] = std::array::from_fn(|i| (x[i] / a).round_ties_even() as i32);
        assert!(err(s, &q) <= err(a, &qa));
        assert!(
            err(s, &q) < 0.9 * err(a, &qa),
            "the search found nothing better"
        );
        // Values on a grid of an f16 scale come back exactly.
        let g: Lanes = std::array::from_fn(|i| 0.25 * ((i % 16) as f32 - 8.0));
        let (s, q) = fit_symmetric(8, &g, &w);
        for i in 0..GROUP {
            assert_eq!(s * q[i] as f32, g[i]);
        }
    }

    #[test]
    fn zero_and_huge_groups() {
        let w = [1.0; GROUP];
        assert_eq!(fit_symmetric(8, &[0.0; GROUP], &w), (0.0, [0; GROUP]));
        // Values whose squares overflow f32: still a finite stored scale.
        let x: Lanes = std::array::from_fn(|i| if i % 2 == 0 { 3e38 } else { -1e30 });
        let (s, q) = fit_symmetric(8, &x, &w);
        assert_eq!(s, 65504.0);
        assert!(q.iter().all(|&c| (-8..=7).contains(&c)));
        // Tiny values: the scale underflows f16, so everything is 0.
        let t: Lanes = std::array::from_fn(|i| i as f32 * 1e-12);
        assert_eq!(fit_symmetric(8, &t, &w).0, 0.0);
        // Importance spread over the whole f32 range.
        let x: Lanes = std::array::from_fn(|i| i as f32 - 10.0);
        let w: Lanes = std::array::from_fn(|i| if i == 3 { 3e38 } else { 1e-30 });
        let (s, q) = fit_symmetric(8, &x, &w);
        assert!(s.is_finite() && s != 0.0);
        assert_eq!(s * q[3] as f32, -7.0, "the heavy element is fitted exactly");
    }
}

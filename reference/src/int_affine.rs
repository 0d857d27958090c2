//! `q{b}a`: affine integers, one f16 scale and one f16 min per block of 64 (two groups).
//!
//! Block (4 + 8b bytes): `s: f16`, `m: f16`, the planes of group 0, the planes of group 1. Value
//! `fma(s, u, m)` (one rounding), `u` in `[0, 2^b - 1]`.

use tessera_format::GROUP;

use crate::block::IntGroup;
use crate::fp::{read_f16, to_f16_finite, write_f16};
use crate::planes;
use crate::quantizer::round_even;

/// Elements in one block.
pub const ELEMS: usize = 2 * GROUP;
/// How far (in steps of the full range) the fitted range may be pulled in from each end.
const SHRINK: [f32; 6] = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5];
/// Level counts `L + t/10`, `t` in `-STRETCH..=STRETCH`, tried on the full range.
const STRETCH: i32 = 10;
/// Least-squares refits per candidate.
const REFITS: usize = 2;

/// The integer view of group `half` (0 or 1) of a block.
pub fn int_group(bits: u32, block: &[u8], half: usize) -> IntGroup {
    let gb = planes::group_bytes(bits);
    let u = planes::unpack(bits, &block[4 + half * gb..4 + (half + 1) * gb]);
    IntGroup {
        q: std::array::from_fn(|i| u[i] as i32),
        scale: read_f16(block, 0),
        sub_scale: 1,
        min: Some(read_f16(block, 2)),
    }
}

pub fn decode(bits: u32, block: &[u8], out: &mut [f32]) {
    let (s, m) = (read_f16(block, 0), read_f16(block, 2));
    for half in 0..2 {
        let g = int_group(bits, block, half);
        for i in 0..GROUP {
            out[half * GROUP + i] = s.mul_add(g.q[i] as f32, m);
        }
    }
}

/// Zero block: scale and min both ±0.
pub fn is_zero(block: &[u8]) -> bool {
    read_f16(block, 0) == 0.0 && read_f16(block, 2) == 0.0
}

/// `fma(s, u, m)` for f16-valued `s`, `m` and `u < 256`, computed in f64: `s * u + m` is exact
/// there (at most 19 significant bits each, exponents within 2^-24..2^24), so one rounding to f32
/// gives the fused result without the software fma that targets lacking FMA call.
#[inline]
fn decoded(s: f32, u: u32, m: f32) -> f32 {
    (s as f64 * u as f64 + m as f64) as f32
}

/// An affine fit `x ~ s u + m` of `N` values with its codes and weighted squared error.
#[derive(Clone, Copy)]
pub(crate) struct Fit<const N: usize> {
    pub s: f32,
    pub m: f32,
    pub u: [u8; N],
    pub err: f64,
}

fn codes_for<const N: usize>(x: &[f32; N], imp: &[f32; N], s: f32, m: f32, top: i32) -> Fit<N> {
    let mut u = [0u8; N];
    let mut err = 0.0f64;
    for i in 0..N {
        let c = if s == 0.0 {
            0
        } else {
            let r = round_even((x[i] - m) / s);
            if r.is_nan() {
                0
            } else {
                r.clamp(0.0, top as f32) as i32
            }
        };
        u[i] = c as u8;
        let d = x[i] as f64 - decoded(s, c as u32, m) as f64;
        err += imp[i] as f64 * d * d;
    }
    Fit { s, m, u, err }
}

/// What the super-block searches start from, per unit of `N` elements: the best real affine fit
/// `x ~ s u + m` (the range search unrounded) and the range of the weighted elements.
#[derive(Clone, Copy)]
pub(crate) struct UnitFacts {
    pub s: f32,
    pub m: f32,
    pub lo: f32,
    pub hi: f32,
}

pub(crate) fn unit_facts<const N: usize>(bits: u32, x: &[f32; N], imp: &[f32; N]) -> UnitFacts {
    let fit = search::<N>(bits, x, imp, |v| v);
    let (lo, hi) = crate::quantizer::weighted_range(x, imp);
    UnitFacts {
        s: fit.s,
        m: fit.m,
        lo,
        hi,
    }
}

/// Weighted least squares of `x ~ s u + m` for fixed codes; `None` if the codes are all equal.
fn refit<const N: usize>(x: &[f32; N], imp: &[f32; N], u: &[u8; N]) -> Option<(f32, f32)> {
    let (mut sw, mut su, mut suu, mut sx, mut sux) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for i in 0..N {
        let (w, ui, xi) = (imp[i] as f64, u[i] as f64, x[i] as f64);
        sw += w;
        su += w * ui;
        suu += w * ui * ui;
        sx += w * xi;
        sux += w * ui * xi;
    }
    let det = sw * suu - su * su;
    if det <= 0.0 || sw <= 0.0 {
        return None;
    }
    let s = (sw * sux - su * sx) / det;
    let m = (sx - s * su) / sw;
    Some((s as f32, m as f32))
}

/// Range search: the fitted range `[lo', hi']` is the data's `[lo, hi]` pulled in from either
/// end by `SHRINK` fractions of one step (clipping the extremes refines every other step); each
/// candidate `s = (hi' - lo') / L`, `m = lo'` is rounded to f16 and quantized, then refit by
/// least squares and re-quantized `REFITS` times; also the full range with `L + t/10` levels. The
/// lowest decoded error wins (first on ties).
pub fn encode(bits: u32, x: &[f32; ELEMS], imp: &[f32; ELEMS], out: &mut [u8]) {
    let best = search(bits, x, imp, to_f16_finite);
    write_f16(out, 0, best.s);
    write_f16(out, 2, best.m);
    let gb = planes::group_bytes(bits);
    for half in 0..2 {
        let codes: [u8; GROUP] = std::array::from_fn(|i| best.u[half * GROUP + i]);
        planes::pack(bits, &codes, &mut out[4 + half * gb..4 + (half + 1) * gb]);
    }
}

/// The range search of [`encode`] on `N` values, with `round` applied to every candidate `s` and
/// `m` (f16 rounding for `q{b}a`; the identity gives the best real fit, which `q{b}ka` starts from).
pub(crate) fn search<const N: usize>(
    bits: u32,
    x: &[f32; N],
    imp: &[f32; N],
    round: impl Fn(f32) -> f32,
) -> Fit<N> {
    let top = (1i32 << bits) - 1;
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for i in 0..N {
        if imp[i] > 0.0 {
            lo = lo.min(x[i]);
            hi = hi.max(x[i]);
        }
    }
    if lo >= hi {
        // No weighted element, or a constant block: s = 0, m = the value.
        let m = if lo > hi { 0.0 } else { round(lo) };
        codes_for(x, imp, 0.0, m, top)
    } else {
        let mut best = codes_for(x, imp, 0.0, 0.0, top);
        let step = (hi - lo) / top as f32;
        let shrunk = SHRINK
            .iter()
            .flat_map(|&a| SHRINK.iter().map(move |&b| (a, b, top as f32)));
        // At high widths the step matters more than the ends: also stretch the level count.
        let stretched = (-STRETCH..=STRETCH).map(|t| (0.0, 0.0, top as f32 + t as f32 / 10.0));
        for (a, b, levels) in shrunk.chain(stretched) {
            let (l, h) = (lo + a * step, hi - b * step);
            if h <= l {
                continue;
            }
            let (s, m) = (round((h - l) / levels), round(l));
            let mut fit = codes_for(x, imp, s, m, top);
            for pass in 0..=REFITS {
                if fit.err < best.err {
                    best = fit;
                }
                let Some((s, m)) = refit(x, imp, &fit.u).filter(|_| pass < REFITS) else {
                    break;
                };
                fit = codes_for(x, imp, round(s), round(m), top);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_decode_equals_fma() {
        let mut st = 5u64;
        for _ in 0..20000 {
            st = st
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let s = half::f16::from_bits((st >> 16) as u16 & 0x7BFF).to_f32();
            let m = half::f16::from_bits((st >> 32) as u16 & 0xFBFF).to_f32();
            let u = (st >> 56) as u32;
            assert_eq!(
                decoded(s, u, m).to_bits(),
                s.mul_add(u as f32, m).to_bits(),
                "{s} {u} {m}"
            );
        }
    }
}

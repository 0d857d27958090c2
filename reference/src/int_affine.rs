//! `q{b}a`: affine integers, one f16 scale and one f16 min per block of 64 (two groups).
//!
//! Block (4 + 8b bytes): `s: f16`, `m: f16`, the planes of group 0, the planes of group 1. Value
//! `fma(s, u, m)` (one rounding), `u` in `[0, 2^b - 1]`.

use tessera_format::GROUP;

use crate::block::IntGroup;
use crate::fp::{read_f16, to_f16_finite, write_f16};
use crate::planes;

/// Elements in one block.
pub const ELEMS: usize = 2 * GROUP;
/// Candidate steps of the range search.
const STEPS: i32 = 10;

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

struct Fit {
    s: f32,
    m: f32,
    u: [u8; ELEMS],
    err: f64,
}

fn codes_for(x: &[f32; ELEMS], imp: &[f32; ELEMS], s: f32, m: f32, top: i32) -> Fit {
    let mut u = [0u8; ELEMS];
    let mut err = 0.0f64;
    for i in 0..ELEMS {
        let c = if s == 0.0 {
            0
        } else {
            let r = ((x[i] - m) / s).round_ties_even();
            if r.is_nan() {
                0
            } else {
                r.clamp(0.0, top as f32) as i32
            }
        };
        u[i] = c as u8;
        let d = x[i] as f64 - s.mul_add(c as f32, m) as f64;
        err += imp[i] as f64 * d * d;
    }
    Fit { s, m, u, err }
}

/// Weighted least squares of `x ~ s u + m` for fixed codes; `None` if the codes are all equal.
fn refit(x: &[f32; ELEMS], imp: &[f32; ELEMS], u: &[u8; ELEMS]) -> Option<(f32, f32)> {
    let (mut sw, mut su, mut suu, mut sx, mut sux) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for i in 0..ELEMS {
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

/// Range search: `m` near the minimum and `s = (max - min) / (L + t/10)`, each refit by least
/// squares, rounded to f16 and re-quantized; the lowest decoded error wins (first on ties).
pub fn encode(bits: u32, x: &[f32; ELEMS], imp: &[f32; ELEMS], out: &mut [u8]) {
    let top = (1i32 << bits) - 1;
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for i in 0..ELEMS {
        if imp[i] > 0.0 {
            lo = lo.min(x[i]);
            hi = hi.max(x[i]);
        }
    }
    let best = if lo >= hi {
        // No weighted element, or a constant block: s = 0, m = the value.
        let m = if lo > hi { 0.0 } else { to_f16_finite(lo) };
        codes_for(x, imp, 0.0, m, top)
    } else {
        let mut best: Option<Fit> = None;
        let mut consider = |fit: Fit| {
            if best.as_ref().is_none_or(|b| fit.err < b.err) {
                best = Some(fit);
            }
        };
        for t in -STEPS..=STEPS {
            let levels = top as f32 + t as f32 / 10.0;
            let s = to_f16_finite((hi - lo) / levels);
            let m = to_f16_finite(lo);
            let first = codes_for(x, imp, s, m, top);
            let again = refit(x, imp, &first.u)
                .map(|(s, m)| codes_for(x, imp, to_f16_finite(s), to_f16_finite(m), top));
            consider(first);
            if let Some(f) = again {
                consider(f);
            }
        }
        best.unwrap_or_else(|| codes_for(x, imp, 0.0, 0.0, top))
    };
    write_f16(out, 0, best.s);
    write_f16(out, 2, best.m);
    let gb = planes::group_bytes(bits);
    for half in 0..2 {
        let codes: [u8; GROUP] = std::array::from_fn(|i| best.u[half * GROUP + i]);
        planes::pack(bits, &codes, &mut out[4 + half * gb..4 + (half + 1) * gb]);
    }
}

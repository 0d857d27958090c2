//! `q{b}kh` (b = 2, 3): affine integers in super-blocks of up to 8 groups, with a sub-scale and a
//! sub-min for every 16 elements (a "half" of a group).
//!
//! Block (3 + (4b + 2) bytes per group): `d: f16`, one byte `k - 1` (the min multiplier, 1..=8;
//! its top five bits are reserved, written 0 and ignored), then per group its planes followed by
//! two bytes: sub-scales `sc` (half 0 in the low nibble, half 1 in the high one) and sub-mins
//! `mn` (likewise). Element `i` of half `h` has the integer `q = sc[h] * u - k * mn[h]`, in
//! `[-120, 105]`, and the value `d * q`, exact in f32 (11 by 7 significant bits).
//!
//! One integer per element (unlike `q{b}ka`, whose scale and min have separate f16 factors) keeps
//! the integer path a plain `q{b}`-like dot; the shared `d` costs little because the min grid
//! `k * d` is chosen per super-block.

use tessera_format::GROUP;

use crate::block::IntGroup;
use crate::fp::{read_f16, to_f16_finite, write_f16};
use crate::int_affine::{unit_facts, UnitFacts};
use crate::planes;
use crate::quantizer::{f16_up, grid_code, round_even, sub_candidates, sub_field, GroupInput};

const HEADER: usize = 3;
/// Elements sharing one sub-scale and sub-min.
pub const HALF: usize = GROUP / 2;
/// Largest sub-scale and sub-min (4 bits each).
const SUB_MAX: i32 = 15;
/// Largest min multiplier `k` (3 bits, stored as `k - 1`).
pub const K_MAX: i32 = 8;
/// Candidates for `d` per `k`: the smallest `d` that fits every half's scale and min, times
/// `1 - t / 32` for `t` in `0..=STEPS` (slightly clipping the largest halves).
const STEPS: i32 = 6;
/// Least-squares refits of `d` for the best `(d, k)`.
const REFITS: usize = 2;

/// Bytes of one group: planes, then the sub-scale and sub-min bytes.
pub fn group_stride(bits: u32) -> usize {
    planes::group_bytes(bits) + 2
}

/// Groups stored in a (possibly short) super-block of `len` bytes.
pub fn groups_in(bits: u32, len: usize) -> usize {
    (len - HEADER) / group_stride(bits)
}

/// The min multiplier `k` of a block.
pub fn min_multiplier(block: &[u8]) -> i32 {
    (block[2] & 7) as i32 + 1
}

/// Sub-scales and sub-mins of group `g`: `([sc0, sc1], [mn0, mn1])`.
pub fn sub_fields(bits: u32, block: &[u8], g: usize) -> ([i32; 2], [i32; 2]) {
    let at = HEADER + g * group_stride(bits) + planes::group_bytes(bits);
    let nib = |b: u8| [(b & 15) as i32, (b >> 4) as i32];
    (nib(block[at]), nib(block[at + 1]))
}

pub fn int_group(bits: u32, block: &[u8], g: usize) -> IntGroup {
    let at = HEADER + g * group_stride(bits);
    let u = planes::unpack(bits, &block[at..at + planes::group_bytes(bits)]);
    let (sc, mn) = sub_fields(bits, block, g);
    let k = min_multiplier(block);
    IntGroup {
        q: std::array::from_fn(|i| sc[i / HALF] * u[i] as i32 - k * mn[i / HALF]),
        scale: read_f16(block, 0),
        sub_scale: 1,
        min: None,
    }
}

pub fn decode(bits: u32, block: &[u8], out: &mut [f32]) {
    for g in 0..groups_in(bits, block.len()) {
        let ig = int_group(bits, block, g);
        for i in 0..GROUP {
            out[g * GROUP + i] = ig.scale * ig.q[i] as f32;
        }
    }
}

/// Zero block: `d = ±0`.
pub fn is_zero(block: &[u8]) -> bool {
    read_f16(block, 0) == 0.0
}

/// One half's elements and importances.
#[derive(Clone, Copy)]
struct HalfInput<'a> {
    x: &'a [f32; HALF],
    imp: &'a [f32; HALF],
}

/// One half's choice: sub-scale, sub-min, codes and weighted squared error.
#[derive(Clone, Copy)]
struct HalfChoice {
    sc: i32,
    mn: i32,
    u: [u8; HALF],
    err: f64,
}

/// Codes for fixed `d, k, sc, mn`: `u = clamp(round((x - base) / step), 0, top)` with the exact
/// products `base = -(d * (k mn))` and `step = d * sc`.
fn codes_for(h: HalfInput, top: i32, d: f32, k: i32, sc: i32, mn: i32) -> HalfChoice {
    let step = d * sc as f32; // exact: 11 by 4 significant bits
    let base = -(d * (k * mn) as f32); // exact
    let mut u = [0u8; HALF];
    let mut err = 0.0f64;
    for (i, ui) in u.iter_mut().enumerate() {
        let c = grid_code(h.x[i], base, step, top);
        *ui = c as u8;
        let e = h.x[i] as f64 - (d * (sc * c - k * mn) as f32) as f64;
        err += h.imp[i] as f64 * e * e;
    }
    HalfChoice { sc, mn, u, err }
}

/// `a / b` rounded by `f` into `[0, SUB_MAX]`.
fn sub(a: f32, b: f32, f: impl Fn(f32) -> f32) -> i32 {
    sub_field(a, b, SUB_MAX, f)
}

/// The best choice for one half at fixed `d, k`: sub-mins `round(-m / (k d))` and neighbours plus
/// the one covering the lowest element; for each, sub-scales `round(s / d)` and neighbours plus the
/// one then covering the highest element. Least error wins, first on ties.
fn fit_half(h: HalfInput, f: &UnitFacts, top: i32, d: f32, k: i32) -> HalfChoice {
    let kd = d * k as f32;
    let mn0 = sub(-f.m, kd, round_even);
    let mn_cover = sub(-f.lo, kd, f32::ceil);
    let sc0 = sub(f.s, d, round_even);
    let mut best: Option<HalfChoice> = None;
    for mn in sub_candidates(mn0, mn_cover, SUB_MAX) {
        let sc_cover = sub(f.hi + kd * mn as f32, d * top as f32, f32::ceil);
        for sc in sub_candidates(sc0, sc_cover, SUB_MAX) {
            let c = codes_for(h, top, d, k, sc, mn);
            if best.as_ref().is_none_or(|b| c.err < b.err) {
                best = Some(c);
            }
        }
    }
    best.expect("mn0 and sc0 are always in range")
}

/// Every half fitted for one `(d, k)`: total error and the choices.
fn fit_all(halves: &[HalfInput], facts: &[UnitFacts], top: i32, d: f32, k: i32) -> Fitted {
    let chosen: Vec<HalfChoice> = halves
        .iter()
        .zip(facts)
        .map(|(h, f)| fit_half(*h, f, top, d, k))
        .collect();
    Fitted {
        err: chosen.iter().map(|c| c.err).sum(),
        d,
        k,
        chosen,
    }
}

struct Fitted {
    err: f64,
    d: f32,
    k: i32,
    chosen: Vec<HalfChoice>,
}

/// Weighted least squares of `x ~ d w` over the super-block for the fixed integers `w`.
fn refit(halves: &[HalfInput], fit: &Fitted) -> Option<f32> {
    let (mut sww, mut swx) = (0f64, 0f64);
    for (h, c) in halves.iter().zip(&fit.chosen) {
        for i in 0..HALF {
            let w = (c.sc * c.u[i] as i32 - fit.k * c.mn) as f64;
            sww += h.imp[i] as f64 * w * w;
            swx += h.imp[i] as f64 * w * h.x[i] as f64;
        }
    }
    (sww > 0.0).then(|| (swx / sww) as f32)
}

/// Quantizes `groups.len()` (1..=8) groups into a super-block of `3 + groups * (4b + 2)` bytes.
///
/// Each half's best real affine fit `(s, m)` is found first (the `q{b}a` range search on 16
/// elements, unrounded). For each `k` near the ratio of the largest min to the largest scale, `d`
/// starts at the smallest value that fits every half's `s` and `-m` in 4 bits and steps down; each
/// f16-rounded candidate is fitted half by half ([`fit_half`]), and the best is refit by least
/// squares. The bounding pair (`k = 8`, no element clipped) is always tried. Least error wins,
/// first on ties.
pub fn encode(bits: u32, groups: &[GroupInput], out: &mut [u8]) {
    let top = (1i32 << bits) - 1;
    let halves: Vec<HalfInput> = groups
        .iter()
        .flat_map(|g| {
            (0..2).map(move |h| HalfInput {
                x: g.x[h * HALF..(h + 1) * HALF].try_into().expect("16"),
                imp: g.imp[h * HALF..(h + 1) * HALF].try_into().expect("16"),
            })
        })
        .collect();
    let facts: Vec<UnitFacts> = halves
        .iter()
        .map(|h| unit_facts(bits, h.x, h.imp))
        .collect();
    let smax = facts.iter().fold(0.0f32, |a, f| a.max(f.s));
    let mmax = facts.iter().fold(0.0f32, |a, f| a.max(-f.m));

    let mut best = fit_all(&halves, &facts, top, 0.0, 1);
    // Keeps the fit for `(d, k)` if it has less error than `best`; says whether it did.
    let consider = |d: f32, k: i32, best: &mut Fitted| {
        // +0.0 turns -0 into +0: min/max of signed zeros may differ between machines.
        let fit = fit_all(&halves, &facts, top, d + 0.0, k);
        let better = fit.err < best.err;
        if better {
            *best = fit;
        }
        better
    };
    if smax > 0.0 || mmax > 0.0 {
        // The k that lets d = smax / 15 also hold the largest min, and its neighbours.
        let k_fit = if smax > 0.0 {
            (mmax / smax).ceil().clamp(1.0, K_MAX as f32) as i32
        } else {
            K_MAX
        };
        for k in (k_fit - 1).max(1)..=(k_fit + 1).min(K_MAX) {
            let d0 = (smax / SUB_MAX as f32).max(mmax / (SUB_MAX * k) as f32);
            for t in 0..=STEPS {
                let _ = consider(to_f16_finite(d0 * (1.0 - t as f32 / 32.0)), k, &mut best);
            }
        }
        for _ in 0..REFITS {
            let Some(d) = refit(&halves, &best).map(to_f16_finite) else {
                break;
            };
            if d == best.d || d <= 0.0 {
                break;
            }
            let k = best.k;
            if !consider(d, k, &mut best) {
                break; // the next refit would start from the same integers
            }
        }
    }
    // The bounding pair: with k = 8, d covers every half's distance below zero in 4 bits of
    // sub-min and its span above the covered minimum (plus one min step) in 4 bits of sub-scale.
    let lack = facts.iter().fold(0.0f32, |a, f| a.max(-f.lo));
    let span = facts
        .iter()
        .fold(0.0f32, |a, f| a.max(f.hi + (-f.lo).max(0.0)));
    let d_b = f16_up((lack / (SUB_MAX * K_MAX) as f32).max(span / (SUB_MAX * top - K_MAX) as f32));
    if d_b > 0.0 {
        let _ = consider(d_b, K_MAX, &mut best);
    }

    // The canonical zero block has k = 1 and zero sub-fields and codes.
    let zero = best.d == 0.0;
    write_f16(out, 0, best.d);
    out[2] = if zero { 0 } else { (best.k - 1) as u8 };
    let gb = planes::group_bytes(bits);
    let stride = group_stride(bits);
    for g in 0..groups.len() {
        let (c0, c1) = (&best.chosen[2 * g], &best.chosen[2 * g + 1]);
        let codes: [u8; GROUP] = if zero {
            [0; GROUP]
        } else {
            std::array::from_fn(|i| if i < HALF { c0.u[i] } else { c1.u[i - HALF] })
        };
        let at = HEADER + g * stride;
        planes::pack(bits, &codes, &mut out[at..at + gb]);
        let (sc, mn) = if zero {
            (0, 0)
        } else {
            (c0.sc | c1.sc << 4, c0.mn | c1.mn << 4)
        };
        out[at + gb] = sc as u8;
        out[at + gb + 1] = mn as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_groups_of_three_bits() {
        // q3kh, two groups: d = 0.25, k = 8 (stored 7, reserved bits set); group 0: sc = [1, 15],
        // mn = [0, 15]; group 1: sc = [7, 0], mn = [15, 1]; codes u[i] = i mod 8.
        let stride = group_stride(3);
        let mut b = vec![0u8; HEADER + 2 * stride];
        write_f16(&mut b, 0, 0.25);
        b[2] = 0xF8 | 7;
        let codes: [u8; GROUP] = std::array::from_fn(|i| (i % 8) as u8);
        for (g, (sc, mn)) in [(0xF1u8, 0xF0u8), (0x07, 0x1F)].into_iter().enumerate() {
            let at = HEADER + g * stride;
            planes::pack(3, &codes, &mut b[at..at + 12]);
            b[at + 12] = sc;
            b[at + 13] = mn;
        }
        let mut out = [0f32; 2 * GROUP];
        decode(3, &b, &mut out);
        let (sc, mn) = ([1, 15, 7, 0], [0, 15, 15, 1]);
        for (i, &v) in out.iter().enumerate() {
            let h = i / HALF;
            let q = sc[h] * (i as i32 % 8) - 8 * mn[h];
            assert!((-120..=105).contains(&q));
            assert_eq!(v, 0.25 * q as f32, "element {i}");
        }
        assert_eq!(int_group(3, &b, 1).q[HALF + 3], -8);
        assert_eq!(groups_in(3, b.len()), 2);
    }
}

//! `q{b}ka`: affine integers in super-blocks of up to 8 groups: one f16 scale `d`, one f16 min
//! `dmin`, and per group an unsigned 6-bit sub-scale `sc[g]` and sub-min `mn[g]`.
//!
//! Block (16 + 4b bytes per group): `d: f16`, `dmin: f16`, 6 bytes of sub-scales, 6 bytes of
//! sub-mins, the planes of each group. Value `fma(d, f32(sc[g] * u), -(dmin * f32(mn[g])))`: the
//! integer product and `dmin * mn` are exact, the fma rounds once.

use tessera_format::{GROUP, GROUPS_PER_SUPER_BLOCK as GROUPS};

use crate::block::IntGroup;
use crate::fp::{read_f16, to_f16_finite, write_f16};
use crate::int_affine::{unit_facts, UnitFacts};
use crate::planes;
use crate::quantizer::{f16_up, grid_code, round_even, sub_candidates, sub_field, GroupInput};

const HEADER: usize = 16;
/// Where the sub-scale and sub-min fields start.
const SCALES_AT: usize = 4;
const MINS_AT: usize = 10;
/// Largest sub-scale / sub-min.
const SUB_MAX: i32 = 63;
/// Candidates for `d` (and `dmin`): the largest group scale (min) mapped to `63 + t/4`, `t` in
/// `-STEPS..=0`.
const STEPS: i32 = 8;
/// Least-squares refits of `(d, dmin)` over the whole super-block.
const REFITS: usize = 2;

/// Groups stored in a (possibly short) super-block of `len` bytes.
pub fn groups_in(bits: u32, len: usize) -> usize {
    (len - HEADER) / planes::group_bytes(bits)
}

/// Eight unsigned 6-bit values from a 6-byte field: byte `j < 4` holds the low nibbles of `v[j]`
/// (bits 0..4) and `v[j + 4]` (bits 4..8); bytes 4..6 as a little-endian u16 hold the top two
/// bits of `v[g]` at bits `2g..2g+2` (the `q{b}k` sub-scale packing, without its +32).
pub fn read_six_bit(field: &[u8]) -> [i32; GROUPS] {
    let high = u16::from_le_bytes([field[4], field[5]]);
    std::array::from_fn(|g| {
        let low = (field[g % 4] >> (4 * (g / 4))) & 15;
        let top = (high >> (2 * g)) & 3;
        low as i32 | (top as i32) << 4
    })
}

fn write_six_bit(v: &[i32; GROUPS], field: &mut [u8]) {
    let mut high = 0u16;
    for j in 0..4 {
        field[j] = ((v[j] & 15) | (v[j + 4] & 15) << 4) as u8;
    }
    for (g, &x) in v.iter().enumerate() {
        high |= ((x >> 4) as u16) << (2 * g);
    }
    field[4..6].copy_from_slice(&high.to_le_bytes());
}

/// The sub-scales `sc` of a block.
pub fn read_sub_scales(block: &[u8]) -> [i32; GROUPS] {
    read_six_bit(&block[SCALES_AT..SCALES_AT + 6])
}

/// The sub-mins `mn` of a block.
pub fn read_sub_mins(block: &[u8]) -> [i32; GROUPS] {
    read_six_bit(&block[MINS_AT..MINS_AT + 6])
}

pub fn int_group(bits: u32, block: &[u8], g: usize) -> IntGroup {
    let gb = planes::group_bytes(bits);
    let at = HEADER + g * gb;
    let u = planes::unpack(bits, &block[at..at + gb]);
    let dmin = read_f16(block, 2);
    IntGroup {
        q: std::array::from_fn(|i| u[i] as i32),
        scale: read_f16(block, 0),
        sub_scale: read_sub_scales(block)[g],
        min: Some(-(dmin * read_sub_mins(block)[g] as f32)),
    }
}

pub fn decode(bits: u32, block: &[u8], out: &mut [f32]) {
    let d = read_f16(block, 0);
    for g in 0..groups_in(bits, block.len()) {
        let ig = int_group(bits, block, g);
        let m = ig.min.expect("affine group");
        for i in 0..GROUP {
            out[g * GROUP + i] = d.mul_add((ig.sub_scale * ig.q[i]) as f32, m);
        }
    }
}

/// Zero block: `d = ±0` and `dmin = ±0`.
pub fn is_zero(block: &[u8]) -> bool {
    read_f16(block, 0) == 0.0 && read_f16(block, 2) == 0.0
}

/// `fma(d, f32(p), -(dmin * mn))` for f16-valued `d`, `dmin` and integers `0 <= p < 2^12`,
/// `0 <= mn < 64`, computed in f64: both terms are integer multiples of 2^-24 below 2^28, so the
/// f64 sum is exact and one rounding to f32 gives the fused result (without a software fma).
#[inline]
fn decoded(d: f32, p: i32, dmin: f32, mn: i32) -> f32 {
    (d as f64 * p as f64 - dmin as f64 * mn as f64) as f32
}

/// One group's choice: sub-scale, sub-min, codes and weighted squared error.
#[derive(Clone, Copy)]
struct GroupChoice {
    sc: i32,
    mn: i32,
    u: [u8; GROUP],
    err: f64,
}

/// Codes for fixed `d, sc, dmin, mn`: `u = clamp(round((x + dmin mn) / (d sc)), 0, top)`.
fn codes_for(g: GroupInput, top: i32, d: f32, sc: i32, dmin: f32, mn: i32) -> GroupChoice {
    let step = d * sc as f32; // exact: 11 by 6 significant bits
    let m = -(dmin * mn as f32); // exact
    let mut u = [0u8; GROUP];
    let mut err = 0.0f64;
    for (i, ui) in u.iter_mut().enumerate() {
        let c = grid_code(g.x[i], m, step, top);
        *ui = c as u8;
        let e = g.x[i] as f64 - decoded(d, sc * c, dmin, mn) as f64;
        err += g.imp[i] as f64 * e * e;
    }
    GroupChoice { sc, mn, u, err }
}

/// `a / b` rounded by `f` into `[0, SUB_MAX]`.
fn sub(a: f32, b: f32, f: impl Fn(f32) -> f32) -> i32 {
    sub_field(a, b, SUB_MAX, f)
}

/// The best group choice for fixed `d`, `dmin`: sub-mins `round(-m/dmin)` and neighbours plus the
/// one that covers the group's lowest element; for each, sub-scales `round(s/d)` and neighbours
/// plus the one that then covers the highest element. Least error wins, first on ties.
fn fit_group(g: GroupInput, f: &UnitFacts, top: i32, d: f32, dmin: f32) -> GroupChoice {
    let mn0 = sub(-f.m, dmin, round_even);
    let mn_cover = sub(
        -f.lo,
        dmin,
        |v| if dmin > 0.0 { v.ceil() } else { v.floor() },
    );
    let sc0 = sub(f.s, d, round_even);
    let mut best: Option<GroupChoice> = None;
    for mn in sub_candidates(mn0, mn_cover, SUB_MAX) {
        let reach = f.hi + dmin * mn as f32;
        let sc_cover = sub(reach, d * top as f32, f32::ceil);
        for sc in sub_candidates(sc0, sc_cover, SUB_MAX) {
            let c = codes_for(g, top, d, sc, dmin, mn);
            if best.as_ref().is_none_or(|b| c.err < b.err) {
                best = Some(c);
            }
        }
    }
    best.expect("mn0 and sc0 are always in range")
}

/// Every group fitted for one `(d, dmin)`: total error and the choices.
fn fit_all(
    groups: &[GroupInput],
    facts: &[UnitFacts],
    top: i32,
    d: f32,
    dmin: f32,
) -> (f64, Vec<GroupChoice>) {
    let chosen: Vec<GroupChoice> = groups
        .iter()
        .zip(facts)
        .map(|(g, f)| fit_group(*g, f, top, d, dmin))
        .collect();
    (chosen.iter().map(|c| c.err).sum(), chosen)
}

/// Weighted least squares of `x ~ d (sc u) - dmin mn` over the super-block for fixed integers.
fn refit(groups: &[GroupInput], chosen: &[GroupChoice]) -> Option<(f32, f32)> {
    // Normal equations for regressors p = sc u and n = -mn.
    let (mut spp, mut spn, mut snn, mut spx, mut snx) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for (g, c) in groups.iter().zip(chosen) {
        for i in 0..GROUP {
            let w = g.imp[i] as f64;
            let (p, n, x) = ((c.sc * c.u[i] as i32) as f64, -c.mn as f64, g.x[i] as f64);
            spp += w * p * p;
            spn += w * p * n;
            snn += w * n * n;
            spx += w * p * x;
            snx += w * n * x;
        }
    }
    let det = spp * snn - spn * spn;
    if det <= 0.0 {
        return None;
    }
    let d = (spx * snn - snx * spn) / det;
    let dmin = (spp * snx - spn * spx) / det;
    Some((d as f32, dmin as f32))
}

/// Quantizes `groups.len()` (1..=8) groups into a super-block of `16 + groups * 4b` bytes.
///
/// Each group's best real affine fit is found first (the `q{b}a` range search, unrounded). Then
/// `d` is searched with `dmin` at its largest-min candidate, `dmin` with the best `d`, and the pair
/// refit by least squares over the whole super-block; every candidate pair is rounded to f16 and
/// each group takes its best sub-scale, sub-min and codes for it ([`fit_group`]). The bounding
/// pair (no element of any group clipped) is always tried. Least error wins, first on ties.
pub fn encode(bits: u32, groups: &[GroupInput], out: &mut [u8]) {
    let top = (1i32 << bits) - 1;
    let facts: Vec<UnitFacts> = groups
        .iter()
        .map(|g| unit_facts(bits, g.x, g.imp))
        .collect();
    let smax = facts.iter().fold(0.0f32, |a, f| a.max(f.s));
    // dmin's sign follows the larger of the mins below zero and above zero.
    let below = facts.iter().fold(0.0f32, |a, f| a.max(-f.m));
    let above = facts.iter().fold(0.0f32, |a, f| a.max(f.m));
    let mref = if below >= above { below } else { -above };
    let scaled = |v: f32, t: i32| to_f16_finite(v / (SUB_MAX as f32 + t as f32 / 4.0));

    let mut best = (0.0f32, 0.0f32, fit_all(groups, &facts, top, 0.0, 0.0));
    let consider = |d: f32, dmin: f32, best: &mut (f32, f32, (f64, Vec<GroupChoice>))| {
        // +0.0 turns -0 into +0: min/max of signed zeros may differ between machines.
        let (d, dmin) = (d + 0.0, dmin + 0.0);
        let fit = fit_all(groups, &facts, top, d, dmin);
        if fit.0 < best.2 .0 {
            *best = (d, dmin, fit);
        }
    };
    if smax > 0.0 || mref != 0.0 {
        let dmin0 = scaled(mref, 0);
        for t in -STEPS..=0 {
            consider(scaled(smax, t), dmin0, &mut best);
        }
        let d = best.0;
        for t in -STEPS..0 {
            consider(d, scaled(mref, t), &mut best);
        }
        for _ in 0..REFITS {
            let Some((d, dmin)) = refit(groups, &best.2 .1) else {
                break;
            };
            let (d, dmin) = (to_f16_finite(d), to_f16_finite(dmin));
            if (d, dmin) == (best.0, best.1) {
                break;
            }
            consider(d, dmin, &mut best);
        }
    }
    // The bounding pair: dmin covers every group's distance below zero, d every group's span
    // above its covered minimum, both rounded up, so no element is clipped.
    let lack = facts.iter().fold(0.0f32, |a, f| a.max(-f.lo));
    let dmin_b = f16_up(lack / SUB_MAX as f32);
    let span = facts
        .iter()
        .fold(0.0f32, |a, f| a.max(f.hi + (-f.lo).max(0.0)));
    let d_b = f16_up((span + dmin_b) / (SUB_MAX * top) as f32);
    if d_b > 0.0 || dmin_b > 0.0 {
        consider(d_b, dmin_b, &mut best);
    }

    let (d, dmin, (_, chosen)) = best;
    let mut sc = [0i32; GROUPS];
    let mut mn = [0i32; GROUPS];
    for (g, c) in chosen.iter().enumerate() {
        sc[g] = c.sc;
        mn[g] = c.mn;
    }
    // The canonical zero block has zero sub-fields and codes (the search may pick others).
    if d == 0.0 && dmin == 0.0 {
        sc = [0; GROUPS];
        mn = [0; GROUPS];
    }
    write_f16(out, 0, d);
    write_f16(out, 2, dmin);
    write_six_bit(&sc, &mut out[SCALES_AT..SCALES_AT + 6]);
    write_six_bit(&mn, &mut out[MINS_AT..MINS_AT + 6]);
    let gb = planes::group_bytes(bits);
    for (g, c) in chosen.iter().enumerate() {
        let codes = if d == 0.0 && dmin == 0.0 {
            [0u8; GROUP]
        } else {
            c.u
        };
        planes::pack(
            bits,
            &codes,
            &mut out[HEADER + g * gb..HEADER + (g + 1) * gb],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_bit_fields_round_trip_and_match_layout() {
        let v = [35, 2, 0, 63, 17, 0, 16, 1];
        let mut out = [0u8; 6];
        write_six_bit(&v, &mut out);
        assert_eq!(read_six_bit(&out), v);
        // Low nibbles: byte 0 = 3 | 1 << 4, byte 3 = 15 | 1 << 4; top bits 2, 0, 0, 3, 1, 0, 1, 0.
        assert_eq!(out[..4], [0x13, 0x02, 0x00, 0x1F]);
        assert_eq!(
            u16::from_le_bytes([out[4], out[5]]),
            0b00_01_00_01_11_00_00_10
        );
    }

    #[test]
    fn f64_decode_equals_fma() {
        let mut st = 11u64;
        for _ in 0..20000 {
            st = st
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let d = half::f16::from_bits((st >> 8) as u16 & 0xFBFF).to_f32();
            let dmin = half::f16::from_bits((st >> 24) as u16 & 0xFBFF).to_f32();
            let p = ((st >> 40) % 64 * ((st >> 48) % 64)) as i32;
            let mn = (st >> 58) as i32;
            assert_eq!(
                decoded(d, p, dmin, mn).to_bits(),
                d.mul_add(p as f32, -(dmin * mn as f32)).to_bits(),
                "{d} {p} {dmin} {mn}"
            );
        }
    }
}

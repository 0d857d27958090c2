//! `q{b}k`: symmetric integers in super-blocks of up to 8 groups, one f16 scale `d` and a signed
//! 6-bit sub-scale `c[g]` per group.
//!
//! Block (8 + 4b bytes per group): `d: f16`, 6 bytes of sub-scales, the planes of each group.
//! Value `d * (c[g] * (u - o))`: the integer product is exact, then one f32 multiply.

use tessera_format::{GROUP, GROUPS_PER_SUPER_BLOCK as GROUPS};

use crate::block::IntGroup;
use crate::fp::{read_f16, to_f16_finite, write_f16};
use crate::planes;
use crate::quantizer::{best_symmetric, round_code, weighted_err, GroupInput};

const HEADER: usize = 8;
/// Candidates for the super-block scale: the largest group scale mapped to `-32 + t/4` and
/// `31 + t/4`, `t` in `-D_STEPS..=D_STEPS`.
const D_STEPS: i32 = 6;

pub fn offset(bits: u32) -> i32 {
    1 << (bits - 1)
}

/// Groups stored in a (possibly short) super-block of `len` bytes.
pub fn groups_in(bits: u32, len: usize) -> usize {
    (len - HEADER) / planes::group_bytes(bits)
}

/// The 8 signed sub-scales `c` in `[-32, 31]`, stored as `c + 32`: byte `j < 4` holds the low
/// nibbles of `c'[j]` (bits 0..4) and `c'[j + 4]` (bits 4..8); bytes 4..6 as a little-endian u16
/// hold the top two bits of `c'[g]` at bits `2g..2g+2`.
pub fn read_sub_scales(block: &[u8]) -> [i32; GROUPS] {
    let high = u16::from_le_bytes([block[6], block[7]]);
    std::array::from_fn(|g| {
        let low = (block[2 + g % 4] >> (4 * (g / 4))) & 15;
        let top = (high >> (2 * g)) & 3;
        (low as i32 | (top as i32) << 4) - 32
    })
}

fn write_sub_scales(c: &[i32; GROUPS], out: &mut [u8]) {
    let biased: [u32; GROUPS] = std::array::from_fn(|g| (c[g] + 32) as u32);
    let mut high = 0u16;
    for j in 0..4 {
        out[2 + j] = ((biased[j] & 15) | (biased[j + 4] & 15) << 4) as u8;
    }
    for (g, b) in biased.iter().enumerate() {
        high |= ((b >> 4) as u16) << (2 * g);
    }
    out[6..8].copy_from_slice(&high.to_le_bytes());
}

pub fn int_group(bits: u32, block: &[u8], g: usize) -> IntGroup {
    let gb = planes::group_bytes(bits);
    let at = HEADER + g * gb;
    let u = planes::unpack(bits, &block[at..at + gb]);
    let o = offset(bits);
    IntGroup {
        q: std::array::from_fn(|i| u[i] as i32 - o),
        scale: read_f16(block, 0),
        sub_scale: read_sub_scales(block)[g],
        min: None,
    }
}

pub fn decode(bits: u32, block: &[u8], out: &mut [f32]) {
    for g in 0..groups_in(bits, block.len()) {
        let ig = int_group(bits, block, g);
        for i in 0..GROUP {
            out[g * GROUP + i] = ig.scale * (ig.sub_scale * ig.q[i]) as f32;
        }
    }
}

/// Zero block: `d = ±0`.
pub fn is_zero(block: &[u8]) -> bool {
    read_f16(block, 0) == 0.0
}

/// One candidate super-block scale: each group takes the sub-scale (of the rounded one and its
/// two neighbours) whose re-quantized codes give the lowest error.
fn fit_with(
    bits: u32,
    groups: &[GroupInput],
    scales: &[f32],
    d: f32,
) -> (f64, Vec<(i32, [i32; GROUP])>) {
    let o = offset(bits);
    let mut total = 0.0;
    let mut chosen = Vec::with_capacity(groups.len());
    for (g, &sg) in groups.iter().zip(scales) {
        let c0 = if d == 0.0 {
            0
        } else {
            round_code(sg, d, -32, 31)
        };
        let mut best: Option<(f64, i32, [i32; GROUP])> = None;
        for c in [c0, c0 - 1, c0 + 1] {
            if !(-32..=31).contains(&c) {
                continue;
            }
            let eff = d * c as f32;
            let q: [i32; GROUP] = std::array::from_fn(|i| round_code(g.x[i], eff, -o, o - 1));
            let err = weighted_err(*g, |i| d * (c * q[i]) as f32);
            if best.as_ref().is_none_or(|b| err < b.0) {
                best = Some((err, c, q));
            }
        }
        let (err, c, q) = best.unwrap_or((weighted_err(*g, |_| 0.0), 0, [0; GROUP]));
        total += err;
        chosen.push((c, q));
    }
    (total, chosen)
}

/// Fixed sub-scales `c(g)`: codes re-rounded at the effective scale `d * c`.
fn fit_fixed(
    bits: u32,
    groups: &[GroupInput],
    d: f32,
    c: impl Fn(usize) -> i32,
) -> (f64, Vec<(i32, [i32; GROUP])>) {
    let o = offset(bits);
    let mut total = 0.0;
    let mut chosen = Vec::with_capacity(groups.len());
    for (n, g) in groups.iter().enumerate() {
        let c = c(n);
        let eff = d * c as f32;
        let q: [i32; GROUP] = std::array::from_fn(|i| round_code(g.x[i], eff, -o, o - 1));
        total += weighted_err(*g, |i| d * (c * q[i]) as f32);
        chosen.push((c, q));
    }
    (total, chosen)
}

/// Quantizes `groups.len()` (1..=8) groups into a super-block of `8 + groups * 4b` bytes: each
/// group's best float scale is found first, then the super-block scale `d` is searched and the
/// sub-scales fitted to it.
pub fn encode(bits: u32, groups: &[GroupInput], out: &mut [u8]) {
    let o = offset(bits);
    let scales: Vec<f32> = groups
        .iter()
        .map(|&g| best_symmetric(g, o, |s| s).scale)
        .collect();
    let smax = crate::quantizer::signed_absmax(&scales);
    let mut best_d = 0.0;
    let mut best = fit_with(bits, groups, &scales, 0.0);
    if smax != 0.0 {
        for target in [-32.0f32, 31.0] {
            for t in -D_STEPS..=D_STEPS {
                let d = to_f16_finite(smax / (target + t as f32 / 4.0));
                let fit = fit_with(bits, groups, &scales, d);
                if fit.0 < best.0 {
                    best = fit;
                    best_d = d;
                }
            }
        }
    }
    // The bounding candidate: every group's absmax scale rounded *up* to a multiple of d, so no
    // element is clipped and each error is at most half of (its absmax scale + d).
    let absmax: Vec<f32> = groups
        .iter()
        .map(|g| g.x.iter().fold(0.0f32, |m, v| m.max(v.abs())) / (o - 1) as f32)
        .collect();
    let amax = absmax.iter().fold(0.0f32, |m, &v| m.max(v));
    if amax != 0.0 {
        let mut d = to_f16_finite(amax / 31.0);
        if d * 31.0 < amax {
            d = half::f16::from_bits(half::f16::from_f32(d).to_bits() + 1).to_f32();
        }
        let fit = fit_fixed(bits, groups, d, |g| (absmax[g] / d).ceil().min(31.0) as i32);
        if fit.0 < best.0 {
            best = fit;
            best_d = d;
        }
    }
    let mut c = [0i32; GROUPS];
    for (g, (cg, _)) in best.1.iter().enumerate() {
        c[g] = *cg;
    }
    write_f16(out, 0, best_d);
    write_sub_scales(&c, out);
    let gb = planes::group_bytes(bits);
    for (g, (cg, q)) in best.1.iter().enumerate() {
        let codes: [u8; GROUP] = std::array::from_fn(|i| {
            if best_d == 0.0 || *cg == 0 {
                o as u8
            } else {
                (q[i] + o) as u8
            }
        });
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
    fn sub_scales_round_trip_and_match_layout() {
        let c = [-32, 31, 0, 5, -1, 17, -20, 3];
        let mut out = [0u8; 8];
        write_sub_scales(&c, &mut out);
        assert_eq!(read_sub_scales(&out), c);
        // c'[0] = 0, c'[4] = 31 = 0b01_1111: byte 2 = 0xF0 | 0x0; top bits of c'[4] (01) at bits 8..10.
        assert_eq!(out[2], 0xF0);
        let high = u16::from_le_bytes([out[6], out[7]]);
        assert_eq!((high >> 8) & 3, 1);
        assert_eq!(high & 3, 0); // c'[0] = 0
        assert_eq!((high >> 2) & 3, 3); // c'[1] = 63
    }
}

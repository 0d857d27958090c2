//! `q{b}k`: symmetric integers in super-blocks of up to 8 groups, one f16 scale `d` and a signed
//! 6-bit sub-scale `c[g]` per group.
//!
//! Block: `d: f16`, the sub-scales (6 bits per group, `ceil(6 * groups / 8)` bytes: 6 in a full
//! super-block), the planes of each group (4b bytes). Value `d * (c[g] * (u - o))`: the integer
//! product is exact, then one f32 multiply.

use tessera_format::{Encoding, GROUP, GROUPS_PER_SUPER_BLOCK as GROUPS};

use crate::block::IntGroup;
use crate::fp::{read_f16, to_f16_finite, write_f16};
use crate::planes;
use crate::quantizer::{best_symmetric, round_code, weighted_err, GroupInput};

/// Where the sub-scale field starts (after `d`).
const SUB_SCALES_AT: usize = 2;
/// Candidates for the super-block scale: the largest group scale mapped to `-32 + t/4` and
/// `31 + t/4`, `t` in `-D_STEPS..=D_STEPS`.
const D_STEPS: i32 = 6;

pub fn offset(bits: u32) -> i32 {
    1 << (bits - 1)
}

/// Header bytes of a super-block of `groups` groups.
fn header_len(bits: u32, groups: usize) -> usize {
    Encoding::IntSuper { bits }.header_bytes_for(groups)
}

/// Groups stored in a (possibly short) super-block of `len` bytes (the most that fit).
pub fn groups_in(bits: u32, len: usize) -> usize {
    (1..=GROUPS)
        .rev()
        .find(|&g| header_len(bits, g) + g * planes::group_bytes(bits) <= len)
        .unwrap_or(0)
}

/// Sub-scale `g` as stored (`c + 32`): bits `6g..6g + 6` of the little-endian bit string that
/// starts at byte 2.
fn stored_sub_scale(block: &[u8], g: usize) -> i32 {
    let (byte, shift) = (SUB_SCALES_AT + 6 * g / 8, 6 * g % 8);
    // Every block has planes after its header, so the byte after the field exists.
    let pair = u16::from_le_bytes([block[byte], block[byte + 1]]);
    ((pair >> shift) & 63) as i32
}

/// The signed sub-scales `c` in `[-32, 31]` of the block's groups, stored as `c + 32` in 6 bits
/// each (see [`stored_sub_scale`]); entries past the block's groups are 0.
pub fn read_sub_scales(block: &[u8], groups: usize) -> [i32; GROUPS] {
    std::array::from_fn(|g| {
        if g < groups {
            stored_sub_scale(block, g) - 32
        } else {
            0
        }
    })
}

fn write_sub_scales(c: &[i32], out: &mut [u8]) {
    let mut bits = 0u64;
    for (g, &cg) in c.iter().enumerate() {
        bits |= ((cg + 32) as u64) << (6 * g);
    }
    let len = (6 * c.len()).div_ceil(8);
    out[SUB_SCALES_AT..SUB_SCALES_AT + len].copy_from_slice(&bits.to_le_bytes()[..len]);
}

pub fn int_group(bits: u32, block: &[u8], g: usize) -> IntGroup {
    let gb = planes::group_bytes(bits);
    let at = header_len(bits, groups_in(bits, block.len())) + g * gb;
    let u = planes::unpack(bits, &block[at..at + gb]);
    let o = offset(bits);
    IntGroup {
        q: std::array::from_fn(|i| u[i] as i32 - o),
        scale: read_f16(block, 0),
        sub_scale: stored_sub_scale(block, g) - 32,
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

/// Quantizes `groups.len()` (1..=8) groups into a super-block of `2 + ceil(6 * groups / 8) +
/// groups * 4b` bytes: each
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
    let c: Vec<i32> = best.1.iter().map(|(cg, _)| *cg).collect();
    write_f16(out, 0, best_d);
    write_sub_scales(&c, out);
    let gb = planes::group_bytes(bits);
    let header = header_len(bits, groups.len());
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
            &mut out[header + g * gb..header + (g + 1) * gb],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_scales_round_trip_and_match_layout() {
        let c = [-32, 31, 0, 5, -1, 17, -20, 3];
        let mut out = [0u8; 9]; // the header and one byte after it
        write_sub_scales(&c, &mut out);
        assert_eq!(read_sub_scales(&out, 8), c);
        // c' = 0, 63, 32, 37, ...: bits 0..6 = 0, bits 6..12 = 63, bits 12..18 = 32.
        assert_eq!(out[2], 0b1100_0000);
        assert_eq!(out[3], 0b0000_1111);
        assert_eq!(out[4] & 0b11, 0b10);
        // A short block of 3 groups: 18 bits in 3 bytes.
        let mut out = [0u8; 6];
        write_sub_scales(&c[..3], &mut out);
        assert_eq!(read_sub_scales(&out, 3), [-32, 31, 0, 0, 0, 0, 0, 0]);
        assert_eq!(out[5], 0);
    }
}

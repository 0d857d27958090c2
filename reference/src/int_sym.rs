//! `q{b}`: symmetric integers, one f16 scale per group of 32.
//!
//! Block (2 + 4b bytes): `d: f16`, then the planes of the 32 codes `u`. Value `d * (u - o)` with
//! `o = 2^(b-1)`; the product is exact in f32.

use tessera_format::GROUP;

use crate::block::IntGroup;
use crate::fp::{read_f16, to_f16_finite, write_f16};
use crate::planes;
use crate::quantizer::{best_symmetric, exact_fit, GroupInput, SymFit};

pub fn offset(bits: u32) -> i32 {
    1 << (bits - 1)
}

pub fn int_group(bits: u32, block: &[u8]) -> IntGroup {
    let u = planes::unpack(bits, &block[2..]);
    let o = offset(bits);
    IntGroup {
        q: std::array::from_fn(|i| u[i] as i32 - o),
        scale: read_f16(block, 0),
        sub_scale: 1,
        min: None,
    }
}

pub fn decode(bits: u32, block: &[u8], out: &mut [f32]) {
    let g = int_group(bits, block);
    for (o, q) in out.iter_mut().zip(g.q) {
        *o = g.scale * q as f32;
    }
}

/// A block that contributes exactly nothing on either path: scale ±0.
pub fn is_zero(block: &[u8]) -> bool {
    read_f16(block, 0) == 0.0
}

pub fn encode(bits: u32, g: GroupInput, out: &mut [u8]) {
    let o = offset(bits);
    let mut fit = best_symmetric(g, o, to_f16_finite);
    // Canonical form: several (scale, codes) pairs can decode alike (negated, or halved scale with
    // doubled codes); store the one `exact_fit` picks from the decoded values, so re-quantizing
    // decoded values gives back the same bytes.
    let decoded: [f32; GROUP] = std::array::from_fn(|i| fit.scale * fit.q[i] as f32);
    if let Some(canon) = exact_fit(
        GroupInput {
            x: &decoded,
            imp: g.imp,
        },
        o,
        &to_f16_finite,
    ) {
        fit = SymFit {
            err: fit.err,
            ..canon
        };
    }
    write_codes(bits, fit.scale, &fit.q, out);
}

/// Writes `d` and the codes `q + o` (a zero scale is stored with all codes at `o`).
pub fn write_codes(bits: u32, scale: f32, q: &[i32; GROUP], out: &mut [u8]) {
    let o = offset(bits);
    write_f16(out, 0, scale);
    let codes: [u8; GROUP] = std::array::from_fn(|i| {
        if scale == 0.0 {
            o as u8
        } else {
            (q[i] + o) as u8
        }
    });
    planes::pack(bits, &codes, &mut out[2..]);
}

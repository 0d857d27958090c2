//! OCP Microscaling v1.0 blocks: one E8M0 scale `e` and 32 elements.
//!
//! Block (1 + 4 * bits bytes): `e: u8`, then the elements: MXFP8 and MXINT8 one byte each, MXFP6
//! 6-bit codes in the 4- and 2-bit planes, MXFP4 4-bit codes in one 4-bit plane. Value
//! `f32(elem) * 2^(e - 127)` (one f32 multiply, exact unless it overflows); `e = 0xFF` is NaN.

use tessera_format::{MxType, GROUP};

use crate::block::IntGroup;
use crate::fp::{e8m0, e8m0_shifted};
use crate::mx_elements::{self, max_finite};
use crate::planes;
use crate::quantizer::{floor_log2, weighted_err, GroupInput};

/// The 32 element codes of a block.
pub fn codes(t: MxType, block: &[u8]) -> [u8; GROUP] {
    match t.bits() {
        8 => std::array::from_fn(|i| block[1 + i]),
        bits => planes::unpack(bits, &block[1..]),
    }
}

pub fn decode(t: MxType, block: &[u8], out: &mut [f32]) {
    let scale = e8m0(block[0]);
    for (o, c) in out.iter_mut().zip(codes(t, block)) {
        *o = mx_elements::decode(t, c) * scale;
    }
}

/// The integer view (MXINT8: the two's-complement integer, scale `2^(e-133)`; MXFP4: twice the
/// E2M1 value, an integer in -12..=12, scale `2^(e-128)`). `None` for the float-path types.
pub fn int_group(t: MxType, block: &[u8]) -> Option<IntGroup> {
    let c = codes(t, block);
    let (q, scale): ([i32; GROUP], f32) = match t {
        MxType::Int8 => (
            std::array::from_fn(|i| c[i] as i8 as i32),
            e8m0_shifted(block[0], 6),
        ),
        MxType::Fp4E2M1 => (
            std::array::from_fn(|i| (2.0 * mx_elements::decode(t, c[i])) as i32),
            e8m0_shifted(block[0], 1),
        ),
        _ => return None,
    };
    Some(IntGroup {
        q,
        scale,
        sub_scale: 1,
        min: None,
    })
}

/// Zero block: every element ±0 and a scale of at most 1.
pub fn is_zero(t: MxType, block: &[u8]) -> bool {
    block[0] <= 127
        && codes(t, block)
            .iter()
            .all(|&c| mx_elements::decode(t, c) == 0.0)
}

/// The largest element exponent `emax_elem` of the OCP spec's scale rule.
pub fn emax_elem(t: MxType) -> i32 {
    floor_log2(max_finite(t))
}

/// Scale search: the OCP rule `e = floor(log2(amax)) - emax_elem` and its two neighbours; the
/// lowest decoded error wins, the OCP rule on ties. All three are valid MX data: the standard
/// fixes how a block decodes, not how its scale is chosen. An all-zero group gets `e = 0`.
pub fn encode(t: MxType, g: GroupInput, out: &mut [u8]) {
    encode_with(t, g, &[0, 1, -1], out)
}

/// Quantizes with the scale chosen among `floor rule + offset` for the given offsets.
fn encode_with(t: MxType, g: GroupInput, offsets: &[i32], out: &mut [u8]) {
    let amax = g.x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut best: (f64, u8, [u8; GROUP]) = (0.0, 0, [0; GROUP]);
    if amax != 0.0 {
        let floor_rule = floor_log2(amax) - emax_elem(t) + 127;
        let mut first = true;
        for off in offsets {
            let e = (floor_rule + off).clamp(0, 254) as u8;
            let scale = e8m0(e);
            let c: [u8; GROUP] = std::array::from_fn(|i| mx_elements::encode(t, g.x[i] / scale));
            let err = weighted_err(g, |i| mx_elements::decode(t, c[i]) * scale);
            if first || err < best.0 {
                best = (err, e, c);
                first = false;
            }
        }
    }
    out[0] = best.1;
    match t.bits() {
        8 => out[1..].copy_from_slice(&best.2),
        bits => planes::pack(bits, &best.2, &mut out[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative RMSE on Gaussian groups with the OCP floor rule alone and with the search.
    fn gaussian_rel_rmse(t: MxType, offsets: &[i32]) -> f64 {
        let mut s = 99u64;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64).max(1e-12)
        };
        let (mut num, mut den) = (0.0, 0.0);
        let imp = [1.0f32; GROUP];
        let mut block = vec![0u8; 1 + 4 * t.bits() as usize];
        let mut back = [0.0f32; GROUP];
        for _ in 0..2000 {
            let x: [f32; GROUP] = std::array::from_fn(|_| {
                let (u1, u2) = (next(), next());
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            });
            encode_with(t, GroupInput { x: &x, imp: &imp }, offsets, &mut block);
            decode(t, &block, &mut back);
            for i in 0..GROUP {
                num += ((x[i] - back[i]) as f64).powi(2);
                den += (x[i] as f64).powi(2);
            }
        }
        (num / den).sqrt()
    }

    #[test]
    fn searched_scale_beats_the_floor_rule() {
        for t in MxType::ALL {
            let floor = gaussian_rel_rmse(t, &[0]);
            let searched = gaussian_rel_rmse(t, &[0, 1, -1]);
            println!("{t:?}: floor rule {floor:.4e}, searched {searched:.4e}");
            assert!(searched < floor, "{t:?}");
        }
    }

    #[test]
    fn zero_group_is_canonical() {
        let x = [0.0f32; GROUP];
        let imp = [1.0f32; GROUP];
        let mut block = [0xAAu8; 17];
        encode(MxType::Fp4E2M1, GroupInput { x: &x, imp: &imp }, &mut block);
        assert_eq!(block, [0u8; 17]);
        assert!(is_zero(MxType::Fp4E2M1, &block));
    }
}

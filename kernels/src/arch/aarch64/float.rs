//! Float path and dequantization on aarch64 (ARMv8.0 NEON, shared by every tier).
//!
//! A group's 32 weights decode to eight q-registers of f32 (elements 4q..4q+4). The contract's 16
//! lane accumulators `a[k mod 16]` are four q-registers per output: quarter `q` of a group feeds
//! accumulator `q mod 4`, quarters in increasing order, each through `vfmaq_f32` (fused). The
//! fixed tree (8, 4, 2, 1) is then `a0 + a2`, `a1 + a3`, their sum, low + high pair, and the two
//! lanes of that.

use std::arch::aarch64::*;
use std::ops::Range;

use tessera_format::{MxType, RawType, GROUP};

use super::f16x4_to_f32;
use super::planes::{half_mapped, stored_codes};
use crate::codec::{family, group_len, group_params, planes_at, with_codec, Codec, FP4_DOUBLED};
use crate::tile::TileCursor;
use crate::WeightView;

/// Lanes of absent rows read these zeros (longer than any block).
static ZERO_BLOCK: [u8; 512] = [0; 512];

/// Output rows and activation rows per float tile (4 x 4 = 16 accumulator registers).
const FLOAT_ROWS: usize = 2;
const FLOAT_ACTS: usize = 2;

/// A group's 32 values as eight q-registers.
type Group = [float32x4_t; 8];

/// Float-path rows.
///
/// # Safety
/// NEON; `x.len() == m * w.k()`, `out.len() == m * rows.len()`, rows inside `w`.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn float_rows(
    w: &WeightView,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { float_rows_impl::<C>(w, x, m, rows, out) })
}

/// Decodes `rows` to f32 into `out` (`rows.len() * k`).
///
/// # Safety
/// NEON; `out.len() == rows.len() * w.k()`, rows inside `w`.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn dequant_rows(w: &WeightView, rows: Range<usize>, out: &mut [f32]) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { dequant_rows_impl::<C>(w, rows, out) })
}

/// Widens 16 byte codes to four u32x4 (elements 0..4, 4..8, 8..12, 12..16).
///
/// # Safety
/// The caller must enable `neon` (as for every helper below).
#[inline(always)]
unsafe fn widen_u8(v: uint8x16_t) -> [uint32x4_t; 4] {
    let low = vmovl_u8(vget_low_u8(v));
    let high = vmovl_high_u8(v);
    [
        vmovl_u16(vget_low_u16(low)),
        vmovl_high_u16(low),
        vmovl_u16(vget_low_u16(high)),
        vmovl_high_u16(high),
    ]
}

/// Sets lanes at or past `valid` (< 32) to -0: times the +0 activation padding that is -0, the
/// one product an fma adds to any accumulator without changing it.
#[inline(always)]
unsafe fn keep_first(v: &mut Group, valid: usize) {
    let lane = [0u32, 1, 2, 3];
    // SAFETY: `lane` is 4 u32.
    let lane = unsafe { vld1q_u32(lane.as_ptr()) };
    for (q, v) in v.iter_mut().enumerate() {
        let limit = vdupq_n_u32(valid.saturating_sub(4 * q).min(4) as u32);
        let keep = vcltq_u32(lane, limit);
        *v = vbslq_f32(keep, *v, vdupq_n_f32(-0.0));
    }
}

/// Raw elements `0..valid` (<= 32) at `p`, widened to f32; lanes past `valid` are -0 (see
/// [`keep_first`]).
///
/// # Safety
/// `valid` elements of the raw type must be readable at `p`.
#[inline(always)]
unsafe fn decode_raw<C: Codec>(p: *const u8, valid: usize) -> Group {
    let mut out = [vdupq_n_f32(0.0); 8];
    if valid == GROUP && matches!(C::RAW, RawType::F32 | RawType::F16 | RawType::BF16) {
        for (q, o) in out.iter_mut().enumerate() {
            // SAFETY: 32 whole elements are readable at `p`.
            *o = unsafe {
                let at = p.add(4 * q * C::RAW.size());
                match C::RAW {
                    RawType::F32 => vld1q_f32(at.cast()),
                    RawType::F16 => f16x4_to_f32(vld1_u16(at.cast())),
                    // bf16 is the top half of an f32.
                    _ => vreinterpretq_f32_u32(vshll_n_u16::<16>(vld1_u16(at.cast()))),
                }
            };
        }
        return out;
    }
    let mut buf = [-0.0f32; GROUP];
    // SAFETY: `valid` elements of the raw type are readable at `p`.
    let bytes = unsafe { std::slice::from_raw_parts(p, valid * C::RAW.size()) };
    crate::codec::decode_raw_scalar(C::RAW, bytes, &mut buf[..valid]);
    for (q, o) in out.iter_mut().enumerate() {
        // SAFETY: `buf` is 32 floats.
        *o = unsafe { vld1q_f32(buf.as_ptr().add(4 * q)) };
    }
    out
}

/// Group `g` of the block at `block` decoded to f32 by the contract; lanes at or past `valid` are
/// -0 (see [`keep_first`]).
///
/// # Safety
/// `block` must point at a whole stored block of `C` (raw: `valid` elements).
#[inline(always)]
unsafe fn decode_group<C: Codec>(block: *const u8, g: usize, groups: usize, valid: usize) -> Group {
    if C::FAMILY == family::RAW {
        // SAFETY: same contract.
        return unsafe { decode_raw::<C>(block, valid) };
    }
    // SAFETY: the block holds the header and the group's planes.
    let (u, p) = unsafe {
        (
            half_mapped::<C>(
                stored_codes::<C>(block.add(planes_at::<C>(groups, g))),
                block,
                g,
            ),
            group_params::<C>(block, g),
        )
    };
    let sw = vdupq_n_f32(p.sw);
    let mut out = [vdupq_n_f32(0.0); 8];
    match C::FAMILY {
        family::MX_FLOAT | family::MX_FP4 => {
            for (half, &u) in u.iter().enumerate() {
                // SAFETY: neon, as everywhere in this module.
                for (i, wide) in unsafe { widen_u8(u) }.into_iter().enumerate() {
                    // SAFETY: neon.
                    out[4 * half + i] = vmulq_f32(unsafe { mx_element::<C>(wide) }, sw);
                }
            }
        }
        _ => {
            for (half, &u) in u.iter().enumerate() {
                // SAFETY: neon, as everywhere in this module.
                for (i, wide) in unsafe { widen_u8(u) }.into_iter().enumerate() {
                    let q = 4 * half + i;
                    out[q] = match C::FAMILY {
                        // Stored two's-complement bytes: sign-extend from bit 7; sw carries 2^-6.
                        family::MX_INT8 => {
                            let signed =
                                vshrq_n_s32::<24>(vreinterpretq_s32_u32(vshlq_n_u32::<24>(wide)));
                            vmulq_f32(vcvtq_f32_s32(signed), sw)
                        }
                        // fma(s, u, m), one rounding.
                        family::AFFINE => vfmaq_f32(vdupq_n_f32(p.mw), sw, vcvtq_f32_u32(wide)),
                        // fma(d, sc * u, -(dmin * mn)), one rounding (sc * u < 2^12 is exact).
                        family::SUPER_AFFINE => {
                            let v = vmulq_u32(wide, vdupq_n_u32(p.mult as u32));
                            vfmaq_f32(vdupq_n_f32(p.mw), sw, vcvtq_f32_u32(v))
                        }
                        _ => {
                            let mut v =
                                vsubq_s32(vreinterpretq_s32_u32(wide), vdupq_n_s32(C::OFFSET));
                            if C::FAMILY == family::SUPER {
                                v = vmulq_s32(v, vdupq_n_s32(p.mult));
                            }
                            vmulq_f32(vcvtq_f32_s32(v), sw)
                        }
                    };
                }
            }
        }
    }
    if valid < GROUP {
        // SAFETY: neon.
        unsafe { keep_first(&mut out, valid) };
    }
    out
}

/// MX element codes (one per u32 lane) to their exact f32 values, without a table: the
/// exponent and mantissa bits are placed at the bottom of an f32's exponent and mantissa fields
/// and the result scaled by `2^(127 - bias)`, an exact multiply that also turns f32 subnormals
/// into the element type's subnormals. Special codes are then patched and the sign bit set (so
/// code 0x80 gives -0 like the reference's table). `MX_FP4` gives `2 * E2M1`.
///
/// # Safety
/// The caller must enable `neon`.
#[inline(always)]
unsafe fn mx_element<C: Codec>(code: uint32x4_t) -> float32x4_t {
    if C::FAMILY == family::MX_FP4 {
        // |2 * E2M1| of codes 0..8 are small integers (the shared table, folded to a constant);
        // bit 3 is the sign.
        let doubled: [u8; 16] = std::array::from_fn(|i| FP4_DOUBLED[i & 7] as u8);
        // SAFETY: the table is 16 bytes.
        let table = unsafe { vld1q_u8(doubled.as_ptr()) };
        let index = vreinterpretq_u8_u32(vandq_u32(code, vdupq_n_u32(7)));
        let magnitude = vreinterpretq_u32_u8(vqtbl1q_u8(table, index));
        let value = vreinterpretq_u32_f32(vcvtq_f32_u32(magnitude));
        let sign = vshlq_n_u32::<31>(vshrq_n_u32::<3>(code));
        return vreinterpretq_f32_u32(vorrq_u32(value, sign));
    }
    // (sign bit, exponent bits, mantissa bits, exponent bias) of the element type.
    let (sign_bit, ebits, mbits, bias) = match C::MX {
        MxType::Fp8E4M3 => (7, 4, 3, 7),
        MxType::Fp8E5M2 => (7, 5, 2, 15),
        MxType::Fp6E2M3 => (5, 2, 3, 1),
        _ => (5, 3, 2, 3),
    };
    let magnitude_mask = (1u32 << (ebits + mbits)) - 1;
    let magnitude = vandq_u32(code, vdupq_n_u32(magnitude_mask));
    // Mantissa to the top of the f32 mantissa, exponent right above it.
    let placed = vshlq_u32(magnitude, vdupq_n_s32(23 - mbits));
    let scale = f32::from_bits(((127 - bias + 127) as u32) << 23);
    let mut value = vmulq_f32(vreinterpretq_f32_u32(placed), vdupq_n_f32(scale));
    let nan = vdupq_n_f32(f32::NAN);
    match C::MX {
        // S.1111.111 is NaN; no infinities.
        MxType::Fp8E4M3 => {
            let is_nan = vceqq_u32(magnitude, vdupq_n_u32(magnitude_mask));
            value = vbslq_f32(is_nan, nan, value);
        }
        // IEEE-like: exponent all ones is infinity (mantissa 0) or NaN.
        MxType::Fp8E5M2 => {
            let inf_code = vdupq_n_u32(0x7C);
            let special = vcgeq_u32(magnitude, inf_code);
            let is_inf = vceqq_u32(magnitude, inf_code);
            let patch = vbslq_f32(is_inf, vdupq_n_f32(f32::INFINITY), nan);
            value = vbslq_f32(special, patch, value);
        }
        _ => {}
    }
    let sign = vshlq_u32(
        vandq_u32(code, vdupq_n_u32(1 << sign_bit)),
        vdupq_n_s32(31 - sign_bit),
    );
    vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(value), sign))
}

/// The contract's fixed tree over the 16 lanes held as four q-registers.
#[inline(always)]
unsafe fn reduce16(a: &[float32x4_t; 4]) -> f32 {
    // h = 8: lanes l and l + 8, i.e. registers 0 + 2 and 1 + 3; h = 4: those two.
    let a4 = vaddq_f32(vaddq_f32(a[0], a[2]), vaddq_f32(a[1], a[3]));
    // h = 2: lanes (0, 2) and (1, 3); h = 1: the two results.
    let a2 = vadd_f32(vget_low_f32(a4), vget_high_f32(a4));
    vpadds_f32(a2)
}

#[inline(always)]
unsafe fn float_rows_impl<C: Codec>(
    w: &WeightView,
    x: &[f32],
    m_count: usize,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let n = rows.len();
    let k = w.k();
    let blocks = TileCursor::<FLOAT_ROWS>::blocks_per_row(w);
    let groups = k.div_ceil(GROUP);
    let gpb = C::GROUPS_PER_BLOCK;
    for tile in (0..n).step_by(FLOAT_ROWS) {
        let nr = FLOAT_ROWS.min(n - tile);
        for m0 in (0..m_count).step_by(FLOAT_ACTS) {
            let na = FLOAT_ACTS.min(m_count - m0);
            let mut acc = [[[vdupq_n_f32(0.0); 4]; FLOAT_ROWS]; FLOAT_ACTS];
            let mut cursor = TileCursor::<FLOAT_ROWS>::new(w, rows.start + tile, nr);
            let mut ptrs = [ZERO_BLOCK.as_ptr(); FLOAT_ROWS];
            for b in 0..blocks {
                ptrs.fill(ZERO_BLOCK.as_ptr());
                let present = cursor.next_block(w, b, &mut ptrs);
                if present == 0 {
                    continue;
                }
                for g in 0..gpb.min(groups - b * gpb) {
                    let j = b * gpb + g;
                    let valid = group_len(k, j);
                    let mut wv = [[vdupq_n_f32(0.0); 8]; FLOAT_ROWS];
                    for r in 0..nr {
                        if present >> r & 1 == 1 {
                            // SAFETY: a stored block holds its header and planes (raw: `valid`
                            // elements).
                            wv[r] = unsafe {
                                decode_group::<C>(ptrs[r], g, gpb.min(groups - b * gpb), valid)
                            };
                        }
                    }
                    for (a, acc) in acc.iter_mut().enumerate().take(na) {
                        let row = &x[(m0 + a) * k + j * GROUP..(m0 + a) * k + j * GROUP + valid];
                        // SAFETY: neon.
                        let xv = unsafe { load_group(row) };
                        for (r, acc) in acc.iter_mut().enumerate().take(nr) {
                            // Omitted blocks are skipped, not multiplied by 0 (SPEC.md 17.2).
                            if present >> r & 1 == 0 {
                                continue;
                            }
                            for q in 0..8 {
                                acc[q % 4] = vfmaq_f32(acc[q % 4], wv[r][q], xv[q]);
                            }
                        }
                    }
                }
            }
            for (a, acc) in acc.iter().enumerate().take(na) {
                for (r, acc) in acc.iter().enumerate().take(nr) {
                    // SAFETY: neon.
                    out[(m0 + a) * n + tile + r] = unsafe { reduce16(acc) };
                }
            }
        }
    }
}

/// Up to 32 activations as eight q-registers, zero past the slice's end.
#[inline(always)]
unsafe fn load_group(x: &[f32]) -> Group {
    let mut out = [vdupq_n_f32(0.0); 8];
    if x.len() == GROUP {
        for (q, o) in out.iter_mut().enumerate() {
            // SAFETY: the slice holds 32 floats.
            *o = unsafe { vld1q_f32(x.as_ptr().add(4 * q)) };
        }
    } else {
        let mut buf = [0.0f32; GROUP];
        buf[..x.len()].copy_from_slice(x);
        for (q, o) in out.iter_mut().enumerate() {
            // SAFETY: `buf` is 32 floats.
            *o = unsafe { vld1q_f32(buf.as_ptr().add(4 * q)) };
        }
    }
    out
}

#[inline(always)]
unsafe fn dequant_rows_impl<C: Codec>(w: &WeightView, rows: Range<usize>, out: &mut [f32]) {
    let k = w.k();
    let blocks = TileCursor::<1>::blocks_per_row(w);
    let groups = k.div_ceil(GROUP);
    let gpb = C::GROUPS_PER_BLOCK;
    for (i, row) in rows.enumerate() {
        let mut cursor = TileCursor::<1>::new(w, row, 1);
        let mut ptr = [ZERO_BLOCK.as_ptr()];
        let dst = &mut out[i * k..(i + 1) * k];
        for b in 0..blocks {
            let present = cursor.next_block(w, b, &mut ptr);
            for g in 0..gpb.min(groups - b * gpb) {
                let j = b * gpb + g;
                let valid = group_len(k, j);
                let d = &mut dst[j * GROUP..j * GROUP + valid];
                if present == 0 {
                    d.fill(0.0);
                    continue;
                }
                // SAFETY: a stored block holds its header and planes.
                let v = unsafe { decode_group::<C>(ptr[0], g, gpb.min(groups - b * gpb), valid) };
                if valid == GROUP {
                    for (q, v) in v.iter().enumerate() {
                        // SAFETY: `d` holds 32 floats.
                        unsafe { vst1q_f32(d.as_mut_ptr().add(4 * q), *v) };
                    }
                } else {
                    let mut buf = [0.0f32; GROUP];
                    for (q, v) in v.iter().enumerate() {
                        // SAFETY: `buf` is 32 floats.
                        unsafe { vst1q_f32(buf.as_mut_ptr().add(4 * q), *v) };
                    }
                    d.copy_from_slice(&buf[..valid]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{mx_table, Enc, MxFloat};

    /// Every element code through `mx_element`, against the reference-built tables.
    fn decoded<C: Codec>(codes: u32) -> Vec<f32> {
        let mut out = vec![0.0f32; codes as usize];
        for (c, chunk) in out.chunks_exact_mut(4).enumerate() {
            let lanes: [u32; 4] = std::array::from_fn(|i| (4 * c + i) as u32);
            // SAFETY: NEON is part of every aarch64 target; both arrays hold 4 lanes.
            unsafe {
                let v = mx_element::<C>(vld1q_u32(lanes.as_ptr()));
                vst1q_f32(chunk.as_mut_ptr(), v);
            }
        }
        out
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn mx_elements_match_the_tables() {
        let check = |got: Vec<f32>, t: MxType| {
            for (code, &v) in got.iter().enumerate() {
                assert!(same(v, mx_table(t)[code]), "{t:?} code {code:#x}: {v:e}");
            }
        };
        check(decoded::<MxFloat<0>>(256), MxType::Fp8E4M3);
        check(decoded::<MxFloat<1>>(256), MxType::Fp8E5M2);
        check(decoded::<MxFloat<2>>(64), MxType::Fp6E2M3);
        check(decoded::<MxFloat<3>>(64), MxType::Fp6E3M2);
        let fp4 = decoded::<Enc<{ family::MX_FP4 }, 4>>(16);
        for (code, &v) in fp4.iter().enumerate() {
            assert!(same(v, FP4_DOUBLED[code]), "fp4 code {code}: {v:e}");
        }
    }
}

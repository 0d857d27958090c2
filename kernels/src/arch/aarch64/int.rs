//! Integer path on aarch64, one generic kernel for three ways of forming int8 dots ([`dot`]).
//!
//! A tile is 4 output rows. Per group, each row's 32 codes become signed bytes `s = u - BIAS`
//! (`BIAS` = the codec's offset, or 128 where `u - offset` would not fit in an i8), each row's dot
//! with the activation codes is reduced to one i32 lane, and the 4 lanes go through the contract's
//! float steps together: `acc = fma(sw * sx, f32(isum), acc)` (+ the affine min term). With
//! `isum = dot(s, xq) + (BIAS - offset) * xsum`, every step is exact in i32 and the float steps
//! are the contract's, so every tier gives the reference's bits.
//!
//! - NEON: `smull`/`smlal` put two products in each i16 lane (|sum| <= 2 * 128 * 127 = 32512, no
//!   overflow: activations are never -128), `sadalp` widens pairs into i32.
//! - dotprod: two `sdot` per row and group.
//! - i8mm: `smmla` on two rows x two activation rows (activations pre-interleaved once per call);
//!   an odd last activation row uses `sdot`.

use std::arch::aarch64::*;
use std::arch::asm;
use std::ops::Range;

use tessera_format::GROUP;

use super::planes::{half_mapped, lane_codes, stored_codes};
use super::{dot, f16x4_to_f32};
use crate::codec::{family, group_params, planes_at, with_codec, Codec};
use crate::tile::TileCursor;
use crate::{QuantizedActivations, WeightView};

/// Lanes of absent rows read these zeros (longer than any block header).
static ZERO_BLOCK: [u8; 512] = [0; 512];

/// Output rows per tile (one i32/f32 lane each).
const ROWS: usize = 4;

/// Signed-byte form of a codec's lane codes.
trait SignedCodes: Codec {
    /// Subtracted from every lane code `u` so it fits in an i8.
    const BIAS: u8 = if Self::FAMILY == family::AFFINE && Self::BITS == 8 {
        128
    } else {
        Self::OFFSET as u8
    };
    /// `isum = dot(u - BIAS, xq) + CORRECTION * xsum`.
    const CORRECTION: i32 = Self::BIAS as i32 - Self::OFFSET;
}
impl<C: Codec> SignedCodes for C {}

/// 32 signed codes of a group: elements 0..16, then 16..32.
type Signed = [int8x16_t; 2];

/// The signed codes of group `g` of the block at `block`, which holds `groups` groups.
///
/// # Safety
/// `block` must point at a whole block of `C` holding group `g`; the caller must enable `neon`.
#[inline(always)]
unsafe fn signed_codes<C: Codec>(block: *const u8, g: usize, groups: usize) -> Signed {
    // SAFETY: same contract; the group's planes start at its offset.
    let u = unsafe {
        let stored = stored_codes::<C>(block.add(planes_at::<C>(groups, g)));
        half_mapped::<C>(lane_codes::<C>(stored), block, g)
    };
    let bias = vdupq_n_u8(C::BIAS);
    [
        vreinterpretq_s8_u8(vsubq_u8(u[0], bias)),
        vreinterpretq_s8_u8(vsubq_u8(u[1], bias)),
    ]
}

/// Dot of 32 signed codes with 32 activation codes, spread over the 4 i32 lanes (ARMv8.0).
///
/// # Safety
/// The caller must enable `neon`.
#[inline(always)]
unsafe fn dot_neon(w: Signed, x: Signed) -> int32x4_t {
    // Each i16 lane sums two products: |sum| <= 2 * 128 * 127 = 32512 < 2^15.
    let low = vmlal_s8(
        vmull_s8(vget_low_s8(w[0]), vget_low_s8(x[0])),
        vget_low_s8(w[1]),
        vget_low_s8(x[1]),
    );
    let high = vmlal_high_s8(vmull_high_s8(w[0], x[0]), w[1], x[1]);
    vpadalq_s16(vpaddlq_s16(low), high)
}

/// `acc + sdot(w, x)`: each i32 lane adds four products.
///
/// # Safety
/// The CPU must support `dotprod`.
// Not `inline(always)` (not allowed with `target_feature`); it inlines into the tier's kernel,
// whose features include these.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn sdot(mut acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
    // SAFETY: pure register arithmetic; the caller enables dotprod.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {w:v}.16b, {x:v}.16b",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            x = in(vreg) x,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// `acc + smmla(w, x)`: `w` holds two rows' 8 codes (low, high half), `x` two activation rows'
/// 8 codes; lanes become (row 0 . act 0, row 0 . act 1, row 1 . act 0, row 1 . act 1).
///
/// # Safety
/// The CPU must support `i8mm`.
// Not `inline(always)` (not allowed with `target_feature`); it inlines into the tier's kernel,
// whose features include these.
#[inline]
#[target_feature(enable = "neon,i8mm")]
unsafe fn smmla(mut acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
    // SAFETY: pure register arithmetic; the caller enables i8mm.
    unsafe {
        asm!(
            "smmla {acc:v}.4s, {w:v}.16b, {x:v}.16b",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            x = in(vreg) x,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// The 4 rows' dots with one activation group, one i32 lane per row.
///
/// # Safety
/// `D == dot::SDOT` (or `SMMLA`) needs `dotprod` enabled by the caller.
#[inline(always)]
unsafe fn dots4<const D: u8>(w: &[Signed; ROWS], x: Signed) -> int32x4_t {
    let per_row: [int32x4_t; ROWS] = std::array::from_fn(|r| {
        // SAFETY: the caller enables neon, and dotprod for the other tiers.
        unsafe {
            if D == dot::NEON {
                dot_neon(w[r], x)
            } else {
                sdot(sdot(vdupq_n_s32(0), w[r][0], x[0]), w[r][1], x[1])
            }
        }
    });
    vpaddq_s32(
        vpaddq_s32(per_row[0], per_row[1]),
        vpaddq_s32(per_row[2], per_row[3]),
    )
}

/// A group's 32 activation codes.
///
/// # Safety
/// `p` must point at 32 readable codes.
#[inline(always)]
unsafe fn load_codes(p: *const i8) -> Signed {
    // SAFETY: 32 bytes are readable at `p`.
    unsafe { [vld1q_s8(p), vld1q_s8(p.add(16))] }
}

/// Activations interleaved for `smmla`: for each pair of rows `(2p, 2p + 1)` and group `j`, four
/// 16-byte chunks `c`, each `[row 2p codes 8c..8c+8 | row 2p+1 codes 8c..8c+8]`.
fn interleave_pairs(xq: &QuantizedActivations) -> Vec<i8> {
    let groups = xq.groups();
    let pairs = xq.m() / 2;
    let mut out = vec![0i8; pairs * groups * 2 * GROUP];
    for (p, dst) in out.chunks_exact_mut(groups * 2 * GROUP).enumerate() {
        let (a, b) = (xq.codes(2 * p), xq.codes(2 * p + 1));
        for (i, chunk) in dst.chunks_exact_mut(16).enumerate() {
            // chunk i covers group i / 4, codes 8 (i % 4) ..
            let at = (i / 4) * GROUP + (i % 4) * 8;
            chunk[..8].copy_from_slice(&a[at..at + 8]);
            chunk[8..].copy_from_slice(&b[at..at + 8]);
        }
    }
    out
}

/// Integer-path rows, NEON baseline.
///
/// # Safety
/// The CPU must support NEON; shapes checked by the caller (`out.len() == xq.m() * rows.len()`,
/// `xq.k() == w.k()`, rows inside `w`).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn int_rows_neon(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { int_rows_impl::<C, { dot::NEON }>(w, xq, rows, out) })
}

/// Integer-path rows with `sdot`.
///
/// # Safety
/// As [`int_rows_neon`], and the CPU must support dotprod.
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn int_rows_dotprod(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { int_rows_impl::<C, { dot::SDOT }>(w, xq, rows, out) })
}

/// Integer-path rows with `smmla` (pairs of activation rows) and `sdot` (an odd last row).
///
/// # Safety
/// As [`int_rows_neon`], and the CPU must support dotprod and i8mm.
#[target_feature(enable = "neon,dotprod,i8mm")]
pub(crate) unsafe fn int_rows_i8mm(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { int_rows_impl::<C, { dot::SMMLA }>(w, xq, rows, out) })
}

/// One group's per-row parameters as vectors (absent rows: all zero, adding exactly nothing).
struct Params {
    sw: float32x4_t,
    mw: float32x4_t,
    mult: int32x4_t,
}

/// The contract's float steps for one activation row and one group, 4 rows at once.
///
/// # Safety
/// The caller must enable `neon`.
#[inline(always)]
unsafe fn accumulate<C: Codec>(
    acc: float32x4_t,
    dots: int32x4_t,
    p: &Params,
    sx: f32,
    xsum: i32,
) -> float32x4_t {
    let mut isum = dots;
    if C::CORRECTION != 0 {
        isum = vaddq_s32(isum, vdupq_n_s32(C::CORRECTION * xsum));
    }
    if C::HAS_MULT {
        isum = vmulq_s32(isum, p.mult);
    }
    let sx = vdupq_n_f32(sx);
    // vfmaq_f32(a, b, c) = a + b * c with one rounding; sw * sx rounds once before it.
    let mut acc = vfmaq_f32(acc, vmulq_f32(p.sw, sx), vcvtq_f32_s32(isum));
    if C::HAS_MIN {
        acc = vfmaq_f32(acc, vmulq_f32(p.mw, sx), vdupq_n_f32(xsum as f32));
    }
    acc
}

#[inline(always)]
unsafe fn int_rows_impl<C: Codec, const D: u8>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    if matches!(C::FAMILY, family::RAW | family::MX_FLOAT) {
        return; // no integer path; the API refuses these encodings before calling
    }
    let n = rows.len();
    let m_count = xq.m();
    let groups = xq.groups();
    let blocks = TileCursor::<ROWS>::blocks_per_row(w);
    // smmla takes activation rows in pairs; an odd last one goes through sdot.
    let pairs = if D == dot::SMMLA { m_count / 2 } else { 0 };
    let interleaved = if pairs > 0 {
        interleave_pairs(xq)
    } else {
        Vec::new()
    };
    let mut acc = vec![vdupq_n_f32(0.0); m_count];
    for tile in (0..n).step_by(ROWS) {
        let nr = ROWS.min(n - tile);
        let mut cursor = TileCursor::<ROWS>::new(w, rows.start + tile, nr);
        let mut ptrs = [ZERO_BLOCK.as_ptr(); ROWS];
        acc.fill(vdupq_n_f32(0.0));
        for b in 0..blocks {
            ptrs.fill(ZERO_BLOCK.as_ptr());
            let present = cursor.next_block(w, b, &mut ptrs);
            if present == 0 {
                continue; // no row of the tile stores this block
            }
            let first = b * C::GROUPS_PER_BLOCK;
            let in_block = C::GROUPS_PER_BLOCK.min(groups - first);
            for g in 0..in_block {
                let j = first + g;
                let mut codes = [[vdupq_n_s8(0); 2]; ROWS];
                // f16 scales are gathered as bits and widened 4 at a time (`fcvtl`); E8M0
                // scales go through the scalar power of two.
                let (mut sw, mut sw_bits, mut mw_bits) =
                    ([0.0f32; ROWS], [0u16; ROWS], [0u16; ROWS]);
                let mut mult = [0i32; ROWS];
                // q{b}ka: mw = -(dmin * mn[g]) per row, from the header's scalar decoding.
                let mut mw = [0.0f32; ROWS];
                for r in 0..nr {
                    if present >> r & 1 == 1 {
                        // SAFETY: a stored block holds its header and all its groups' planes.
                        unsafe {
                            let block = ptrs[r];
                            codes[r] = signed_codes::<C>(block, g, in_block);
                            if C::F16_SCALES {
                                sw_bits[r] = u16::from_le(block.cast::<u16>().read_unaligned());
                                if C::FAMILY == family::AFFINE {
                                    mw_bits[r] =
                                        u16::from_le(block.add(2).cast::<u16>().read_unaligned());
                                }
                                if C::FAMILY == family::SUPER {
                                    mult[r] = group_params::<C>(block, g).mult;
                                }
                                if C::FAMILY == family::SUPER_AFFINE {
                                    let p = group_params::<C>(block, g);
                                    (mult[r], mw[r]) = (p.mult, p.mw);
                                }
                            } else {
                                sw[r] = group_params::<C>(block, g).sw;
                            }
                        }
                    }
                }
                // SAFETY: the arrays are ROWS = 4 elements; neon.
                let params = unsafe {
                    let sw = if C::F16_SCALES {
                        f16x4_to_f32(vld1_u16(sw_bits.as_ptr()))
                    } else {
                        vld1q_f32(sw.as_ptr())
                    };
                    Params {
                        sw,
                        mw: if C::FAMILY == family::AFFINE {
                            f16x4_to_f32(vld1_u16(mw_bits.as_ptr()))
                        } else if C::FAMILY == family::SUPER_AFFINE {
                            vld1q_f32(mw.as_ptr())
                        } else {
                            vdupq_n_f32(0.0)
                        },
                        mult: vld1q_s32(mult.as_ptr()),
                    }
                };
                for p in 0..pairs {
                    // Two rows' 8-code chunks side by side, for rows (0, 1) and (2, 3).
                    let pair_chunks = |a: &Signed, b: &Signed| -> [int8x16_t; 4] {
                        // SAFETY (closure body): neon, as in the whole kernel.
                        let wide = |v: &Signed| unsafe { v.map(|h| vreinterpretq_s64_s8(h)) };
                        let (a, b) = (wide(a), wide(b));
                        [
                            vreinterpretq_s8_s64(vzip1q_s64(a[0], b[0])),
                            vreinterpretq_s8_s64(vzip2q_s64(a[0], b[0])),
                            vreinterpretq_s8_s64(vzip1q_s64(a[1], b[1])),
                            vreinterpretq_s8_s64(vzip2q_s64(a[1], b[1])),
                        ]
                    };
                    let w01 = pair_chunks(&codes[0], &codes[1]);
                    let w23 = pair_chunks(&codes[2], &codes[3]);
                    let xp = interleaved[(p * groups + j) * 2 * GROUP..].as_ptr();
                    let mut d01 = vdupq_n_s32(0);
                    let mut d23 = vdupq_n_s32(0);
                    for c in 0..4 {
                        // SAFETY: chunk c of this pair's group j lies inside `interleaved`; the
                        // tier enables i8mm.
                        unsafe {
                            let x = vld1q_s8(xp.add(16 * c));
                            d01 = smmla(d01, w01[c], x);
                            d23 = smmla(d23, w23[c], x);
                        }
                    }
                    // Lanes (r0 a0, r0 a1, r1 a0, r1 a1) -> rows 0..4 for each activation row.
                    let dots = [vuzp1q_s32(d01, d23), vuzp2q_s32(d01, d23)];
                    for (h, dots) in dots.into_iter().enumerate() {
                        let m = 2 * p + h;
                        let (sx, xsum) = (xq.scales(m)[j], xq.sums(m)[j]);
                        // SAFETY: neon.
                        acc[m] = unsafe { accumulate::<C>(acc[m], dots, &params, sx, xsum) };
                    }
                }
                for (m, acc) in acc.iter_mut().enumerate().skip(2 * pairs) {
                    // SAFETY: every row holds whole groups of 32 codes.
                    let x = unsafe { load_codes(xq.codes(m)[j * GROUP..].as_ptr()) };
                    // SAFETY: the tier enables what D needs.
                    let dots = unsafe { dots4::<D>(&codes, x) };
                    let (sx, xsum) = (xq.scales(m)[j], xq.sums(m)[j]);
                    // SAFETY: neon.
                    *acc = unsafe { accumulate::<C>(*acc, dots, &params, sx, xsum) };
                }
            }
        }
        for (m, acc) in acc.iter().enumerate() {
            let mut lanes = [0.0f32; ROWS];
            // SAFETY: `lanes` is 4 floats.
            unsafe { vst1q_f32(lanes.as_mut_ptr(), *acc) };
            out[m * n + tile..m * n + tile + nr].copy_from_slice(&lanes[..nr]);
        }
    }
}

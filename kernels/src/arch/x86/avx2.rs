//! AVX2 tier (+FMA, F16C). Same shapes as the AVX-512 kernels with 8-lane vectors.
//!
//! Integer path: 8 output rows per tile, one ymm lane per row; each group's 8 x 32 codes are
//! transposed into 8 ymm (lane r = 4 consecutive codes of row r) and dotted with 4 broadcast
//! activation codes through `vpmaddwd` on even/odd bytes (exact; no `maddubs` saturation).
//!
//! Float path: lane = k mod 16 held in two ymm (lanes 0..8, 8..16), 2 rows x 3 activation rows.

use std::arch::x86_64::*;
use std::ops::Range;

use tessera_format::GROUP;

use super::planes::{group_codes, half_mapped, stored_codes};
use crate::codec::{
    family, group_len, group_params, mx_table, planes_at, with_codec, Codec, FP4_DOUBLED,
};
use crate::tile::TileCursor;
use crate::{QuantizedActivations, WeightView};

/// Lanes of absent rows read these zeros (longer than any block).
static ZERO_BLOCK: [u8; 512] = [0; 512];

const INT_ROWS: usize = 8;
const FLOAT_ROWS: usize = 2;
const FLOAT_ACTS: usize = 3;

/// Integer-path rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C; shapes checked by the caller
/// (`out.len() == xq.m() * rows.len()`, `xq.k() == w.k()`, rows inside `w`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn int_rows(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { int_rows_impl::<C>(w, xq, rows, out) })
}

/// Float-path rows.
///
/// # Safety
/// AVX2, FMA, F16C; `x.len() == m * w.k()`, `out.len() == m * rows.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
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
/// AVX2, FMA, F16C; `out.len() == rows.len() * w.k()`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dequant_rows(w: &WeightView, rows: Range<usize>, out: &mut [f32]) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { dequant_rows_impl::<C>(w, rows, out) })
}

/// 8 rows' 32 codes each -> 8 ymm, ymm `t` lane `r` = codes `4t..4t+4` of row `r`.
#[inline(always)]
unsafe fn transpose8(c: &[__m256i; 8]) -> [__m256i; 8] {
    let mut u = [_mm256_setzero_si256(); 8];
    for h in 0..2 {
        let c = &c[4 * h..4 * h + 4];
        let t0 = _mm256_unpacklo_epi32(c[0], c[1]);
        let t1 = _mm256_unpackhi_epi32(c[0], c[1]);
        let t2 = _mm256_unpacklo_epi32(c[2], c[3]);
        let t3 = _mm256_unpackhi_epi32(c[2], c[3]);
        u[4 * h] = _mm256_unpacklo_epi64(t0, t2);
        u[4 * h + 1] = _mm256_unpackhi_epi64(t0, t2);
        u[4 * h + 2] = _mm256_unpacklo_epi64(t1, t3);
        u[4 * h + 3] = _mm256_unpackhi_epi64(t1, t3);
    }
    [
        _mm256_permute2x128_si256::<0x20>(u[0], u[4]),
        _mm256_permute2x128_si256::<0x20>(u[1], u[5]),
        _mm256_permute2x128_si256::<0x20>(u[2], u[6]),
        _mm256_permute2x128_si256::<0x20>(u[3], u[7]),
        _mm256_permute2x128_si256::<0x31>(u[0], u[4]),
        _mm256_permute2x128_si256::<0x31>(u[1], u[5]),
        _mm256_permute2x128_si256::<0x31>(u[2], u[6]),
        _mm256_permute2x128_si256::<0x31>(u[3], u[7]),
    ]
}

/// `acc + sum of the 4 u8 x s8 products` in every i32 lane, exactly (even/odd bytes as i16).
#[inline(always)]
unsafe fn dot4(acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
    let w_even = _mm256_and_si256(w, _mm256_set1_epi16(0x00FF));
    let w_odd = _mm256_srli_epi16::<8>(w);
    let x_even = _mm256_srai_epi16::<8>(_mm256_slli_epi16::<8>(x));
    let x_odd = _mm256_srai_epi16::<8>(x);
    let s = _mm256_add_epi32(
        _mm256_madd_epi16(w_even, x_even),
        _mm256_madd_epi16(w_odd, x_odd),
    );
    _mm256_add_epi32(acc, s)
}

#[inline(always)]
unsafe fn int_rows_impl<C: Codec>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let n = rows.len();
    let m_count = xq.m();
    let groups = xq.groups();
    let blocks = TileCursor::<INT_ROWS>::blocks_per_row(w);
    let mut acc = vec![_mm256_setzero_ps(); m_count];
    for tile in (0..n).step_by(INT_ROWS) {
        let nr = INT_ROWS.min(n - tile);
        let mut cursor = TileCursor::<INT_ROWS>::new(w, rows.start + tile, nr);
        let mut ptrs = [ZERO_BLOCK.as_ptr(); INT_ROWS];
        acc.fill(_mm256_setzero_ps());
        for b in 0..blocks {
            ptrs.fill(ZERO_BLOCK.as_ptr());
            let present = cursor.next_block(w, b, &mut ptrs);
            if present == 0 {
                continue; // no row of the tile stores this block: skip it
            }
            let first = b * C::GROUPS_PER_BLOCK;
            let in_block = C::GROUPS_PER_BLOCK.min(groups - first);
            for g in 0..in_block {
                let j = first + g;
                let mut codes = [_mm256_setzero_si256(); INT_ROWS];
                let mut sw = [0.0f32; INT_ROWS];
                let mut mw = [0.0f32; INT_ROWS];
                let mut mult = [0i32; INT_ROWS];
                for r in 0..nr {
                    if present >> r & 1 == 1 {
                        // SAFETY: a stored block holds its header and all its groups' planes.
                        unsafe {
                            codes[r] = half_mapped::<C>(
                                group_codes::<C>(ptrs[r].add(planes_at::<C>(in_block, g))),
                                ptrs[r],
                                g,
                            );
                            let p = group_params::<C>(ptrs[r], g);
                            sw[r] = p.sw;
                            mw[r] = p.mw;
                            mult[r] = p.mult;
                        }
                    }
                }
                // Absent lanes: scale 0 and multiplier 0 add exactly nothing (acc is never -0).
                let wt = unsafe { transpose8(&codes) };
                // SAFETY: the arrays are INT_ROWS = 8 elements.
                let (swv, mwv, multv) = unsafe {
                    (
                        _mm256_loadu_ps(sw.as_ptr()),
                        _mm256_loadu_ps(mw.as_ptr()),
                        _mm256_loadu_si256(mult.as_ptr().cast()),
                    )
                };
                for (m, acc) in acc.iter_mut().enumerate() {
                    let x = xq.codes(m)[j * GROUP..].as_ptr();
                    let mut isum = _mm256_setzero_si256();
                    for (t, &wt) in wt.iter().enumerate() {
                        // SAFETY: the row has whole groups of 32 codes; 4t + 4 <= 32.
                        let four = unsafe { x.add(4 * t).cast::<i32>().read_unaligned() };
                        isum = unsafe { dot4(isum, wt, _mm256_set1_epi32(four)) };
                    }
                    let xsum = xq.sums(m)[j];
                    if C::OFFSET != 0 {
                        isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(C::OFFSET * xsum));
                    }
                    if C::HAS_MULT {
                        isum = _mm256_mullo_epi32(isum, multv);
                    }
                    let sx = _mm256_set1_ps(xq.scales(m)[j]);
                    *acc = _mm256_fmadd_ps(_mm256_mul_ps(swv, sx), _mm256_cvtepi32_ps(isum), *acc);
                    if C::HAS_MIN {
                        let xs = _mm256_set1_ps(xsum as f32);
                        *acc = _mm256_fmadd_ps(_mm256_mul_ps(mwv, sx), xs, *acc);
                    }
                }
            }
        }
        for (m, acc) in acc.iter().enumerate() {
            let mut lanes = [0.0f32; INT_ROWS];
            // SAFETY: `lanes` is 8 floats.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *acc) };
            out[m * n + tile..m * n + tile + nr].copy_from_slice(&lanes[..nr]);
        }
    }
}

/// An i32 lane mask with the first `n` (<= 8) lanes set.
#[inline(always)]
unsafe fn lane_mask(n: usize) -> __m256i {
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
}

/// Group `j`'s 32 weights decoded to f32 in four ymm; lanes at or past `valid` are
/// -0 (times the +0 activation padding that is -0, the one product an fma adds to any accumulator without changing it).
#[inline(always)]
unsafe fn decode_group<C: Codec>(
    block: *const u8,
    g: usize,
    groups: usize,
    valid: usize,
) -> [__m256; 4] {
    if C::FAMILY == family::RAW {
        // SAFETY: `valid` elements of the raw type are readable at `block`.
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
    let halves = [_mm256_castsi256_si128(u), _mm256_extracti128_si256::<1>(u)];
    let sw = _mm256_set1_ps(p.sw);
    let mut out = [_mm256_setzero_ps(); 4];
    for (q, o) in out.iter_mut().enumerate() {
        let bytes = if q % 2 == 0 {
            halves[q / 2]
        } else {
            _mm_srli_si128::<8>(halves[q / 2])
        };
        let codes = _mm256_cvtepu8_epi32(bytes);
        let w = match C::FAMILY {
            family::MX_FLOAT => {
                // SAFETY: codes are < 256, the table has 256 entries.
                let v = unsafe { _mm256_i32gather_ps::<4>(mx_table(C::MX).as_ptr(), codes) };
                _mm256_mul_ps(v, sw)
            }
            family::MX_FP4 => {
                // SAFETY: codes are < 16, the table has 16 entries.
                let v = unsafe { _mm256_i32gather_ps::<4>(FP4_DOUBLED.as_ptr(), codes) };
                _mm256_mul_ps(v, sw)
            }
            family::MX_INT8 => {
                let signed = _mm256_srai_epi32::<24>(_mm256_slli_epi32::<24>(codes));
                _mm256_mul_ps(_mm256_cvtepi32_ps(signed), sw)
            }
            family::AFFINE | family::SUPER_AFFINE => {
                let mut v = codes;
                if C::HAS_MULT {
                    v = _mm256_mullo_epi32(v, _mm256_set1_epi32(p.mult));
                }
                _mm256_fmadd_ps(sw, _mm256_cvtepi32_ps(v), _mm256_set1_ps(p.mw))
            }
            _ => {
                let mut v = _mm256_sub_epi32(codes, _mm256_set1_epi32(C::OFFSET));
                if C::FAMILY == family::SUPER {
                    v = _mm256_mullo_epi32(v, _mm256_set1_epi32(p.mult));
                }
                _mm256_mul_ps(_mm256_cvtepi32_ps(v), sw)
            }
        };
        let keep = unsafe { lane_mask(valid.saturating_sub(8 * q).min(8)) };
        let keep = _mm256_castsi256_ps(keep);
        *o = _mm256_or_ps(
            _mm256_and_ps(w, keep),
            _mm256_andnot_ps(keep, _mm256_set1_ps(-0.0)),
        );
    }
    out
}

/// Raw elements `0..valid` (<= 32) at `p`, widened to f32; lanes past `valid` are -0 (see
/// [`decode_group`]).
#[inline(always)]
unsafe fn decode_raw<C: Codec>(p: *const u8, valid: usize) -> [__m256; 4] {
    use tessera_format::RawType;
    let size = C::RAW.size();
    let mut out = [_mm256_setzero_ps(); 4];
    if valid == GROUP && matches!(C::RAW, RawType::F32 | RawType::F16 | RawType::BF16) {
        for (q, o) in out.iter_mut().enumerate() {
            // SAFETY: 32 whole elements are readable at `p`.
            let at = unsafe { p.add(8 * q * size) };
            *o = unsafe {
                match C::RAW {
                    RawType::F32 => _mm256_loadu_ps(at.cast()),
                    RawType::F16 => _mm256_cvtph_ps(_mm_loadu_si128(at.cast())),
                    _ => _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(
                        _mm_loadu_si128(at.cast()),
                    ))),
                }
            };
        }
        return out;
    }
    let mut buf = [-0.0f32; GROUP];
    // SAFETY: `valid` elements of `size` bytes are readable at `p`.
    let bytes = unsafe { std::slice::from_raw_parts(p, valid * size) };
    crate::codec::decode_raw_scalar(C::RAW, bytes, &mut buf[..valid]);
    for (q, o) in out.iter_mut().enumerate() {
        // SAFETY: `buf` is 32 floats.
        *o = unsafe { _mm256_loadu_ps(buf.as_ptr().add(8 * q)) };
    }
    out
}

/// The contract's fixed tree over 16 lanes held as (lanes 0..8, lanes 8..16).
#[inline(always)]
unsafe fn reduce16(a: [__m256; 2]) -> f32 {
    let a8 = _mm256_add_ps(a[0], a[1]);
    let a4 = _mm_add_ps(_mm256_castps256_ps128(a8), _mm256_extractf128_ps::<1>(a8));
    let a2 = _mm_add_ps(a4, _mm_movehl_ps(a4, a4));
    let a1 = _mm_add_ss(a2, _mm_shuffle_ps::<1>(a2, a2));
    _mm_cvtss_f32(a1)
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
    let gpb = if C::FAMILY == family::RAW {
        1
    } else {
        C::GROUPS_PER_BLOCK
    };
    for tile in (0..n).step_by(FLOAT_ROWS) {
        let nr = FLOAT_ROWS.min(n - tile);
        for m0 in (0..m_count).step_by(FLOAT_ACTS) {
            let na = FLOAT_ACTS.min(m_count - m0);
            let mut acc = [[[_mm256_setzero_ps(); 2]; FLOAT_ROWS]; FLOAT_ACTS];
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
                    let mut wv = [[_mm256_setzero_ps(); 4]; FLOAT_ROWS];
                    for r in 0..nr {
                        if present >> r & 1 == 1 {
                            // SAFETY: a stored block holds its header and planes (raw: `valid`
                            // elements).
                            wv[r] = unsafe {
                                decode_group::<C>(ptrs[r], g, gpb.min(groups - b * gpb), valid)
                            };
                        }
                    }
                    let masks: [__m256i; 4] = std::array::from_fn(|q| unsafe {
                        lane_mask(valid.saturating_sub(8 * q).min(8))
                    });
                    for (a, acc) in acc.iter_mut().enumerate().take(na) {
                        let xp = x[(m0 + a) * k + j * GROUP..].as_ptr();
                        // Quarters past the row's end are not loaded at all: even forming a
                        // pointer beyond the slice would be undefined behaviour.
                        let xv: [__m256; 4] = std::array::from_fn(|q| {
                            if valid > 8 * q {
                                // SAFETY: element j * 32 + 8q is inside row m0 + a of `x`, and
                                // the mask covers only elements inside that row.
                                unsafe { _mm256_maskload_ps(xp.add(8 * q), masks[q]) }
                            } else {
                                _mm256_setzero_ps()
                            }
                        });
                        for (r, acc) in acc.iter_mut().enumerate().take(nr) {
                            // Omitted blocks are skipped, not multiplied by 0 (SPEC.md 17.2:
                            // `-0 + 0 * x` is +0 when x >= 0).
                            if present >> r & 1 == 0 {
                                continue;
                            }
                            // k mod 16 lanes: quarters 0, 2 feed lanes 0..8, quarters 1, 3 lanes 8..16.
                            acc[0] = _mm256_fmadd_ps(wv[r][0], xv[0], acc[0]);
                            acc[1] = _mm256_fmadd_ps(wv[r][1], xv[1], acc[1]);
                            acc[0] = _mm256_fmadd_ps(wv[r][2], xv[2], acc[0]);
                            acc[1] = _mm256_fmadd_ps(wv[r][3], xv[3], acc[1]);
                        }
                    }
                }
            }
            for (a, acc) in acc.iter().enumerate().take(na) {
                for (r, acc) in acc.iter().enumerate().take(nr) {
                    out[(m0 + a) * n + tile + r] = unsafe { reduce16(*acc) };
                }
            }
        }
    }
}

#[inline(always)]
unsafe fn dequant_rows_impl<C: Codec>(w: &WeightView, rows: Range<usize>, out: &mut [f32]) {
    let k = w.k();
    let blocks = TileCursor::<1>::blocks_per_row(w);
    let groups = k.div_ceil(GROUP);
    let gpb = if C::FAMILY == family::RAW {
        1
    } else {
        C::GROUPS_PER_BLOCK
    };
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
                let mut buf = [0.0f32; GROUP];
                for (q, v) in v.iter().enumerate() {
                    // SAFETY: `buf` is 32 floats.
                    unsafe { _mm256_storeu_ps(buf.as_mut_ptr().add(8 * q), *v) };
                }
                d.copy_from_slice(&buf[..valid]);
            }
        }
    }
}

//! AVX-512 tiers (F/BW/VL/DQ, with or without VNNI).
//!
//! Integer path: 16 output rows per tile, one zmm lane per row. Each group's 16 x 32 codes are
//! transposed once into 8 zmm (lane r = 4 consecutive codes of row r), then every activation row
//! broadcasts 4 codes at a time into `vpdpbusd` (or two `vpmaddwd` without VNNI), so the exact i32
//! group sums land one per lane with no horizontal reduction, and the per-group float step is
//! one vector fma for all 16 rows, in the contract's order.
//!
//! Float path: lane = k mod 16 as the contract defines, 4 rows x 3 activation rows of zmm
//! accumulators, then the fixed reduction tree.

use std::arch::x86_64::*;
use std::ops::Range;

use tessera_format::GROUP;

use super::planes::{group_codes, stored_codes};
use crate::codec::{family, group_len, group_params, mx_table, with_codec, Codec, FP4_DOUBLED};
use crate::tile::TileCursor;
use crate::{QuantizedActivations, WeightView};

/// A block of zeros at least as long as any group's header and planes: lanes of absent rows
/// read it.
static ZERO_BLOCK: [u8; 512] = [0; 512];

const INT_ROWS: usize = 16;
const FLOAT_ROWS: usize = 4;
const FLOAT_ACTS: usize = 3;

/// Integer-path rows with `vpdpbusd`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/DQ, VNNI, AVX2, FMA, F16C; shapes checked by the caller
/// (`out.len() == xq.m() * rows.len()`, `xq.k() == w.k()`, rows inside `w`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn int_rows_vnni(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { int_rows::<C, true>(w, xq, rows, out) })
}

/// Integer-path rows with `vpmaddwd` (AVX-512 without VNNI).
///
/// # Safety
/// As [`int_rows_vnni`], without the VNNI requirement.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
pub(crate) unsafe fn int_rows_plain(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { int_rows::<C, false>(w, xq, rows, out) })
}

/// Float-path rows: `out[m][n] = dot(w[n], x[m])` with 16 lane accumulators.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ, AVX2, FMA, F16C; `x.len() == m * w.k()`, `out.len() == m * rows.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
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
/// AVX-512 F/BW/VL/DQ, AVX2, FMA, F16C; `out.len() == rows.len() * w.k()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
pub(crate) unsafe fn dequant_rows(w: &WeightView, rows: Range<usize>, out: &mut [f32]) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { dequant_rows_impl::<C>(w, rows, out) })
}

/// 16 rows' 32 codes each -> 8 zmm, zmm `t` lane `r` = codes `4t..4t+4` of row `r`.
#[inline(always)]
unsafe fn transpose16(c: &[__m256i; 16]) -> [__m512i; 8] {
    let pair = |lo: __m256i, hi: __m256i| _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
    // Row order chosen so that the 128-bit lane shuffles below come out in natural row order.
    let z = [
        pair(c[0], c[4]),
        pair(c[1], c[5]),
        pair(c[2], c[6]),
        pair(c[3], c[7]),
        pair(c[8], c[12]),
        pair(c[9], c[13]),
        pair(c[10], c[14]),
        pair(c[11], c[15]),
    ];
    let mut u = [_mm512_setzero_si512(); 8];
    for h in 0..2 {
        let z = &z[4 * h..4 * h + 4];
        let t0 = _mm512_unpacklo_epi32(z[0], z[1]);
        let t1 = _mm512_unpackhi_epi32(z[0], z[1]);
        let t2 = _mm512_unpacklo_epi32(z[2], z[3]);
        let t3 = _mm512_unpackhi_epi32(z[2], z[3]);
        u[4 * h] = _mm512_unpacklo_epi64(t0, t2);
        u[4 * h + 1] = _mm512_unpackhi_epi64(t0, t2);
        u[4 * h + 2] = _mm512_unpacklo_epi64(t1, t3);
        u[4 * h + 3] = _mm512_unpackhi_epi64(t1, t3);
    }
    [
        _mm512_shuffle_i32x4::<0x88>(u[0], u[4]),
        _mm512_shuffle_i32x4::<0x88>(u[1], u[5]),
        _mm512_shuffle_i32x4::<0x88>(u[2], u[6]),
        _mm512_shuffle_i32x4::<0x88>(u[3], u[7]),
        _mm512_shuffle_i32x4::<0xDD>(u[0], u[4]),
        _mm512_shuffle_i32x4::<0xDD>(u[1], u[5]),
        _mm512_shuffle_i32x4::<0xDD>(u[2], u[6]),
        _mm512_shuffle_i32x4::<0xDD>(u[3], u[7]),
    ]
}

/// `acc + sum of the 4 u8 x s8 products` in every i32 lane.
#[inline(always)]
unsafe fn dot4<const VNNI: bool>(acc: __m512i, w: __m512i, x: __m512i) -> __m512i {
    if VNNI {
        _mm512_dpbusd_epi32(acc, w, x)
    } else {
        // Exact: split both into even and odd bytes as i16 (weights zero-, activations
        // sign-extended), then vpmaddwd sums pairs into i32.
        let w_even = _mm512_and_si512(w, _mm512_set1_epi16(0x00FF));
        let w_odd = _mm512_srli_epi16::<8>(w);
        let x_even = _mm512_srai_epi16::<8>(_mm512_slli_epi16::<8>(x));
        let x_odd = _mm512_srai_epi16::<8>(x);
        let s = _mm512_add_epi32(
            _mm512_madd_epi16(w_even, x_even),
            _mm512_madd_epi16(w_odd, x_odd),
        );
        _mm512_add_epi32(acc, s)
    }
}

#[inline(always)]
unsafe fn int_rows<C: Codec, const VNNI: bool>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let n = rows.len();
    let m_count = xq.m();
    let groups = xq.groups();
    let blocks = TileCursor::<INT_ROWS>::blocks_per_row(w);
    let mut acc = vec![_mm512_setzero_ps(); m_count];
    for tile in (0..n).step_by(INT_ROWS) {
        let nr = INT_ROWS.min(n - tile);
        let mut cursor = TileCursor::<INT_ROWS>::new(w, rows.start + tile, nr);
        let mut ptrs = [ZERO_BLOCK.as_ptr(); INT_ROWS];
        acc.fill(_mm512_setzero_ps());
        for b in 0..blocks {
            ptrs.fill(ZERO_BLOCK.as_ptr());
            let present = cursor.next_block(w, b, &mut ptrs);
            if present == 0 {
                continue; // no row of the tile stores this block: skip it
            }
            let first = b * C::GROUPS_PER_BLOCK;
            for g in 0..C::GROUPS_PER_BLOCK.min(groups - first) {
                let j = first + g;
                let mut codes = [_mm256_setzero_si256(); INT_ROWS];
                let mut sw = [0.0f32; INT_ROWS];
                let mut mw = [0.0f32; INT_ROWS];
                let mut mult = [0i32; INT_ROWS];
                for r in 0..nr {
                    if present >> r & 1 == 1 {
                        // SAFETY: a stored block holds its header and all its groups' planes.
                        unsafe {
                            codes[r] =
                                group_codes::<C>(ptrs[r].add(C::HEADER + g * C::GROUP_BYTES));
                            let p = group_params::<C>(ptrs[r], g);
                            sw[r] = p.sw;
                            mw[r] = p.mw;
                            mult[r] = p.mult;
                        }
                    }
                }
                // Absent lanes: scale 0 and multiplier 0 add exactly nothing (acc is never -0).
                let wt = unsafe { transpose16(&codes) };
                // SAFETY: the arrays are INT_ROWS = 16 elements.
                let (swv, mwv, multv) = unsafe {
                    (
                        _mm512_loadu_ps(sw.as_ptr()),
                        _mm512_loadu_ps(mw.as_ptr()),
                        _mm512_loadu_si512(mult.as_ptr().cast()),
                    )
                };
                for (m, acc) in acc.iter_mut().enumerate() {
                    let x = xq.codes(m)[j * GROUP..].as_ptr();
                    let mut isum = _mm512_setzero_si512();
                    for (t, &wt) in wt.iter().enumerate() {
                        // SAFETY: the row has whole groups of 32 codes; 4t + 4 <= 32.
                        let four = unsafe { x.add(4 * t).cast::<i32>().read_unaligned() };
                        isum = unsafe { dot4::<VNNI>(isum, wt, _mm512_set1_epi32(four)) };
                    }
                    let xsum = xq.sums(m)[j];
                    if C::OFFSET != 0 {
                        isum = _mm512_sub_epi32(isum, _mm512_set1_epi32(C::OFFSET * xsum));
                    }
                    if C::FAMILY == family::SUPER {
                        isum = _mm512_mullo_epi32(isum, multv);
                    }
                    let sx = _mm512_set1_ps(xq.scales(m)[j]);
                    *acc = _mm512_fmadd_ps(_mm512_mul_ps(swv, sx), _mm512_cvtepi32_ps(isum), *acc);
                    if C::FAMILY == family::AFFINE {
                        let xs = _mm512_set1_ps(xsum as f32);
                        *acc = _mm512_fmadd_ps(_mm512_mul_ps(mwv, sx), xs, *acc);
                    }
                }
            }
        }
        let mask: __mmask16 = ((1u32 << nr) - 1) as u16;
        for (m, acc) in acc.iter().enumerate() {
            let dst = &mut out[m * n + tile..m * n + tile + nr];
            // SAFETY: `dst` has `nr` elements and the mask covers exactly `nr` lanes.
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask, *acc) };
        }
    }
}

/// Group `j`'s 32 weights of the row whose block (raw: 32-element chunk) starts at `block`,
/// decoded to f32 in two zmm (elements 0..16, 16..32); lanes at or past `valid` are +0.
#[inline(always)]
unsafe fn decode_group<C: Codec>(block: *const u8, g: usize, valid: usize) -> [__m512; 2] {
    let mask = |half: usize| -> __mmask16 {
        let n = valid.saturating_sub(16 * half).min(16);
        ((1u32 << n) - 1) as u16
    };
    if C::FAMILY == family::RAW {
        // SAFETY: `valid` elements of the raw type are readable at `block`.
        return unsafe { decode_raw::<C>(block, valid) };
    }
    // SAFETY: the block holds the header and the group's planes.
    let (u, p) = unsafe {
        (
            stored_codes::<C>(block.add(C::HEADER + g * C::GROUP_BYTES)),
            group_params::<C>(block, g),
        )
    };
    let codes = [
        _mm512_cvtepu8_epi32(_mm256_castsi256_si128(u)),
        _mm512_cvtepu8_epi32(_mm256_extracti128_si256::<1>(u)),
    ];
    let sw = _mm512_set1_ps(p.sw);
    let mut out = [_mm512_setzero_ps(); 2];
    for h in 0..2 {
        let w = match C::FAMILY {
            family::MX_FLOAT => {
                // SAFETY: codes are < 256, the table has 256 entries.
                let v = unsafe { _mm512_i32gather_ps::<4>(codes[h], mx_table(C::MX).as_ptr()) };
                _mm512_mul_ps(v, sw)
            }
            family::MX_FP4 => {
                // SAFETY: FP4_DOUBLED is 16 floats.
                let table = unsafe { _mm512_loadu_ps(FP4_DOUBLED.as_ptr()) };
                _mm512_mul_ps(_mm512_permutexvar_ps(codes[h], table), sw)
            }
            family::MX_INT8 => {
                let signed = _mm512_srai_epi32::<24>(_mm512_slli_epi32::<24>(codes[h]));
                _mm512_mul_ps(_mm512_cvtepi32_ps(signed), sw)
            }
            family::AFFINE => {
                _mm512_fmadd_ps(sw, _mm512_cvtepi32_ps(codes[h]), _mm512_set1_ps(p.mw))
            }
            _ => {
                let mut q = _mm512_sub_epi32(codes[h], _mm512_set1_epi32(C::OFFSET));
                if C::FAMILY == family::SUPER {
                    q = _mm512_mullo_epi32(q, _mm512_set1_epi32(p.mult));
                }
                _mm512_mul_ps(_mm512_cvtepi32_ps(q), sw)
            }
        };
        out[h] = _mm512_maskz_mov_ps(mask(h), w);
    }
    out
}

/// Raw elements `0..valid` (<= 32) at `p`, widened to f32; lanes past `valid` are +0.
#[inline(always)]
unsafe fn decode_raw<C: Codec>(p: *const u8, valid: usize) -> [__m512; 2] {
    use tessera_format::RawType;
    let size = C::RAW.size();
    let mut out = [_mm512_setzero_ps(); 2];
    if valid == GROUP && matches!(C::RAW, RawType::F32 | RawType::F16 | RawType::BF16) {
        for (h, o) in out.iter_mut().enumerate() {
            // SAFETY: 32 whole elements are readable at `p`.
            let at = unsafe { p.add(16 * h * size) };
            *o = unsafe {
                match C::RAW {
                    RawType::F32 => _mm512_loadu_ps(at.cast()),
                    RawType::F16 => _mm512_cvtph_ps(_mm256_loadu_si256(at.cast())),
                    _ => _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(
                        _mm256_loadu_si256(at.cast()),
                    ))),
                }
            };
        }
        return out;
    }
    let mut buf = [0.0f32; GROUP];
    // SAFETY: `valid` elements of `size` bytes are readable at `p`.
    let bytes = unsafe { std::slice::from_raw_parts(p, valid * size) };
    crate::codec::decode_raw_scalar(C::RAW, bytes, &mut buf[..valid]);
    // SAFETY: `buf` is 32 floats.
    unsafe {
        [
            _mm512_loadu_ps(buf.as_ptr()),
            _mm512_loadu_ps(buf.as_ptr().add(16)),
        ]
    }
}

/// The contract's fixed tree over 16 lanes: halves added for h = 8, 4, 2, 1.
#[inline(always)]
unsafe fn reduce16(a: __m512) -> f32 {
    let a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps::<1>(a));
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
            let mut acc = [[_mm512_setzero_ps(); FLOAT_ROWS]; FLOAT_ACTS];
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
                    let mut wv = [[_mm512_setzero_ps(); 2]; FLOAT_ROWS];
                    for r in 0..nr {
                        if present >> r & 1 == 1 {
                            // SAFETY: a stored block holds its header and planes (raw: `valid`
                            // elements).
                            wv[r] = unsafe { decode_group::<C>(ptrs[r], g, valid) };
                        }
                    }
                    let lo = ((1u32 << valid.min(16)) - 1) as u16;
                    let hi = ((1u32 << valid.saturating_sub(16)) - 1) as u16;
                    for (a, acc) in acc.iter_mut().enumerate().take(na) {
                        let xp = x[(m0 + a) * k + j * GROUP..].as_ptr();
                        // SAFETY: the masks cover only elements inside row m0 + a of `x`.
                        let (x0, x1) = unsafe {
                            (
                                _mm512_maskz_loadu_ps(lo, xp),
                                _mm512_maskz_loadu_ps(hi, xp.add(16)),
                            )
                        };
                        for (r, acc) in acc.iter_mut().enumerate().take(nr) {
                            *acc = _mm512_fmadd_ps(wv[r][0], x0, *acc);
                            *acc = _mm512_fmadd_ps(wv[r][1], x1, *acc);
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
                let v = unsafe { decode_group::<C>(ptr[0], g, valid) };
                let lo = ((1u32 << valid.min(16)) - 1) as u16;
                let hi = ((1u32 << valid.saturating_sub(16)) - 1) as u16;
                // SAFETY: the masks cover exactly `valid` elements of `d`.
                unsafe {
                    _mm512_mask_storeu_ps(d.as_mut_ptr(), lo, v[0]);
                    _mm512_mask_storeu_ps(d.as_mut_ptr().add(16), hi, v[1]);
                }
            }
        }
    }
}

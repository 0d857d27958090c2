//! AVX2 tier (+FMA, F16C). Same shapes as the AVX-512 kernels with 8-lane vectors.
//!
//! Integer path: see [`super::avx2_int`] (8-row tiles, `vpmaddubsw` dots).
//!
//! Float path: see [`super::avx2_float`] (tiles decoded once per panel of activation rows,
//! 3 x 4 register tiles).

use std::arch::x86_64::*;
use std::ops::Range;

use tessera_format::GROUP;

use super::avx2_int::int_rows_8_avx2;
use super::planes::{half_mapped, stored_codes};
use crate::codec::{family, group_len, group_params, planes_at, with_codec, Codec, FP4_DOUBLED};
use crate::tile::TileCursor;
use crate::{QuantizedActivations, WeightView};

/// Lanes of absent rows read these zeros (longer than any block).
static ZERO_BLOCK: [u8; 512] = [0; 512];

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
    with_codec!(w.encoding(), C => unsafe { int_rows_8_avx2::<C>(w, xq, rows, out) })
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
    let panel = super::avx2_float::panel_for_this_cpu(w.k(), m);
    // SAFETY: same contract as this function's.
    unsafe { float_rows_in_panels(w, x, m, rows, out, panel) }
}

/// [`float_rows`] with the activation rows run `panel` at a time (tests run several sizes).
///
/// # Safety
/// As [`float_rows`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn float_rows_in_panels(
    w: &WeightView,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    out: &mut [f32],
    panel: usize,
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe {
        super::avx2_float::float_rows_paneled::<C>(w, x, m, rows, out, panel)
    })
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

/// An i32 lane mask with the first `n` (<= 8) lanes set.
#[inline(always)]
unsafe fn lane_mask(n: usize) -> __m256i {
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
}

/// Group `j`'s 32 weights decoded to f32 in four ymm; lanes at or past `valid` are
/// -0 (times the +0 activation padding that is -0, the one product an fma adds to any accumulator without changing it).
#[inline(always)]
pub(super) unsafe fn decode_group<C: Codec>(
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
                // SAFETY: AVX2, as this function's callers.
                let v = unsafe { super::avx2_float::mx_float_values::<C>(codes) };
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

#[cfg(test)]
mod tests {
    use super::super::avx2_float::panel_for_this_cpu;
    use super::super::cache::panel_rows;
    use super::super::test_cases::check_float_variants;
    use super::*;
    use tessera_format::GROUP;

    /// The float path gives the reference's bits for every panel size: one pass, the panels
    /// this CPU would pick, panels cut small so that several run (also not a multiple of the
    /// register tile's 3 rows), and one row at a time.
    #[test]
    fn every_panel_size_matches_the_reference() {
        if !crate::Isa::Avx2.is_available() {
            eprintln!("skipped: this CPU lacks AVX2, FMA or F16C");
            return;
        }
        check_float_variants(|w, x, m| {
            let (n, k) = (w.rows(), w.k());
            let row_bytes = k.div_ceil(GROUP) * GROUP * 4;
            let panels = [
                m,
                panel_for_this_cpu(k, m),
                panel_rows(k, m, 4 * row_bytes, 3),
                panel_rows(k, m, 7 * row_bytes, 3),
                4,
                2,
                1,
            ];
            panels
                .iter()
                .map(|&panel| {
                    let mut got = vec![f32::NAN; m * n];
                    // SAFETY: the tier's features were detected above; the lengths match the
                    // shape.
                    unsafe { float_rows_in_panels(w, x, m, 0..n, &mut got, panel) };
                    (format!("panel {panel}"), got)
                })
                .collect()
        });
    }
}

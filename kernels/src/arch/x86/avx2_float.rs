//! AVX2 float path: the activation rows run in panels (one on most CPUs, L2-sized ones on Intel:
//! [`panel_for_this_cpu`]). Per panel the activations are packed, each tile of `ROWS` weight rows
//! is decoded into an f32 buffer, then register tiles of `ACTS` activation rows x `ROWS` weight
//! rows run over K in chunks of `CHUNK_GROUPS` groups, the accumulators kept in `state` between
//! chunks.
//!
//! The contract's 16 lanes (lane = k mod 16) are two independent ymm halves: half 0 (lanes 0..8)
//! takes quarters 0 and 2 of every group, half 1 (lanes 8..16) quarters 1 and 3. The halves are
//! run as separate passes so one register tile needs one ymm per (activation row, weight row):
//! 3 x 4 = 12 accumulators, 3 activation vectors and 1 weight vector fill the 16 ymm registers.
//! Per accumulator the fma order is still the contract's (increasing k).

use std::arch::x86_64::*;
use std::ops::Range;

use tessera_format::{MxType, GROUP};

use super::avx2::decode_group;
use super::prefetch::{prefetch_lines, PrefetchTo};
use crate::codec::{group_len, Codec};
use crate::tile::TileCursor;
use crate::WeightView;

/// Weight rows per tile (and per register tile).
const ROWS: usize = 4;
/// Activation rows per register tile.
const ACTS: usize = 3;
/// Groups per K chunk: the chunk's weights (`ROWS * CHUNK_GROUPS * 128` bytes) stay in L1.
const CHUNK_GROUPS: usize = 32;
/// Presence mask of a whole tile.
const ALL_ROWS: u8 = (1 << ROWS) - 1;

/// Float-path rows: `out[m * rows.len() + i] = dot(row rows.start + i, x row m)`, the
/// activation rows `panel` at a time (each panel a call of [`float_rows_panel`], which decodes
/// every weight tile again). Each output is computed the same way in any panel: the bits do not
/// depend on `panel`.
///
/// # Safety
/// AVX2, FMA, F16C; `x.len() == m_count * w.k()`, `out.len() == m_count * rows.len()`, rows
/// inside `w`.
#[inline(always)]
pub(super) unsafe fn float_rows_paneled<C: Codec>(
    w: &WeightView,
    x: &[f32],
    m_count: usize,
    rows: Range<usize>,
    out: &mut [f32],
    panel: usize,
) {
    let (k, n) = (w.k(), rows.len());
    let panel = panel.max(1);
    for m0 in (0..m_count).step_by(panel) {
        let m1 = m_count.min(m0 + panel);
        // SAFETY: the caller's contract, for rows m0..m1 of `x` and `out`.
        unsafe {
            float_rows_panel::<C>(
                w,
                &x[m0 * k..m1 * k],
                m1 - m0,
                rows.clone(),
                &mut out[m0 * n..m1 * n],
            )
        };
    }
}

/// Activation rows per panel on this CPU. On Intel, panels whose packed activations fit in 3/4
/// of L2: one pass over all rows re-reads the packed activations once per tile of 4 weight rows,
/// from L3 once they outgrow L2, and ran at about half the rate (Xeon family 6 model 167, 2 MiB
/// L2, q4, N = 4096, M = 256, 1 thread, GOPS: K = 4096 one pass 46, panels of 86 rows 73, and
/// 1/2 of L2 measured the same as 3/4; K = 14336 one pass 44, panels of 24 rows 57). Panels of
/// fewer rows decode W too often (K = 4096: 12 rows 47, 6 rows 31, 3 rows 18), so below
/// `MIN_PANEL_ROWS` rows one pass it is. Other CPUs (AMD) take one pass: panels are unmeasured
/// there.
pub(super) fn panel_for_this_cpu(k: usize, m_count: usize) -> usize {
    /// Fewest activation rows per panel worth decoding W again for (see above).
    const MIN_PANEL_ROWS: usize = 24;
    super::cache::intel_l2_panel(k, m_count, ACTS, MIN_PANEL_ROWS).unwrap_or(m_count)
}

/// One panel of [`float_rows_paneled`]: each weight tile decoded in turn, then all `m_count`
/// activation rows run over it.
///
/// # Safety
/// As [`float_rows_paneled`].
#[inline(always)]
unsafe fn float_rows_panel<C: Codec>(
    w: &WeightView,
    x: &[f32],
    m_count: usize,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let n = rows.len();
    let k = w.k();
    let groups = k.div_ceil(GROUP);
    assert!(x.len() == m_count * k && out.len() == m_count * n);
    // SAFETY: AVX, as this function.
    let xpack = unsafe { pack_acts(x, m_count, k) };
    // Half h, group j, quarter pair qq (quarter 2 * qq + h), row r:
    // wbuf[((h * groups + j) * 2 + qq) * ROWS + r].
    let mut wbuf = vec![_mm256_setzero_ps(); 2 * groups * 2 * ROWS];
    // Bit r set: row r stores group j.
    let mut present = vec![ALL_ROWS; groups];
    // Activation block at m0 (na rows), half h, row a, weight row r:
    // state[(m0 * 2 + h * na + a) * ROWS + r].
    let mut state = vec![_mm256_setzero_ps(); m_count * 2 * ROWS];
    let sparse = w.is_sparse();
    let bytes = w.bytes();
    // Register-tile calls per tile: the next tile's rows are prefetched over them.
    let steps = (groups.div_ceil(CHUNK_GROUPS) * m_count.div_ceil(ACTS)).max(1);
    for tile in (0..n).step_by(ROWS) {
        let nr = ROWS.min(n - tile);
        // Dense rows are contiguous: fetch the next tile's bytes into L2 a few lines per step of
        // this tile's compute, so its decode reads L2 instead of waiting on memory.
        let (mut next, next_end) = if sparse {
            (0, 0)
        } else {
            let row = rows.start + tile + nr;
            let end = (row + ROWS).min(rows.end);
            (
                w.row_start(row).min(bytes.len()),
                w.row_start(end).min(bytes.len()),
            )
        };
        let per_step = (next_end - next).div_ceil(64 * steps) * 64;
        // SAFETY: rows.start + tile + nr <= rows.end, inside `w`; AVX2/FMA/F16C as this fn.
        unsafe { decode_tile::<C>(w, rows.start + tile, nr, &mut wbuf, &mut present) };
        for g0 in (0..groups).step_by(CHUNK_GROUPS) {
            let g1 = groups.min(g0 + CHUNK_GROUPS);
            let first = g0 == 0;
            let mut m0 = 0;
            while m0 < m_count {
                let na = ACTS.min(m_count - m0);
                let to = next_end.min(next + per_step);
                prefetch_l2(bytes, next..to);
                next = to;
                for h in 0..2 {
                    let ws = &wbuf[(h * groups + g0) * 2 * ROWS..(h * groups + g1) * 2 * ROWS];
                    let xb = m0 * groups * 4;
                    let xs =
                        &xpack[xb + (h * groups + g0) * 2 * na..xb + (h * groups + g1) * 2 * na];
                    let st = &mut state[(m0 * 2 + h * na) * ROWS..(m0 * 2 + (h + 1) * na) * ROWS];
                    let ps = &present[g0..g1];
                    // SAFETY (every arm): AVX2 and FMA, as this function.
                    unsafe {
                        match (na, sparse) {
                            (ACTS, false) => fma_tile_4rows::<ACTS, false>(ws, xs, ps, first, st),
                            (ACTS, true) => fma_tile_4rows::<ACTS, true>(ws, xs, ps, first, st),
                            (2, false) => fma_tile_4rows::<2, false>(ws, xs, ps, first, st),
                            (2, true) => fma_tile_4rows::<2, true>(ws, xs, ps, first, st),
                            (_, false) => fma_tile_4rows::<1, false>(ws, xs, ps, first, st),
                            (_, true) => fma_tile_4rows::<1, true>(ws, xs, ps, first, st),
                        }
                    }
                }
                m0 += na;
            }
        }
        for m0 in (0..m_count).step_by(ACTS) {
            let na = ACTS.min(m_count - m0);
            for a in 0..na {
                let lo = (m0 * 2 + a) * ROWS;
                let hi = (m0 * 2 + na + a) * ROWS;
                // SAFETY: plain AVX register arithmetic.
                let sums = unsafe {
                    reduce16_x4(
                        state[lo..lo + ROWS].try_into().unwrap(),
                        state[hi..hi + ROWS].try_into().unwrap(),
                    )
                };
                out[(m0 + a) * n + tile..][..nr].copy_from_slice(&sums[..nr]);
            }
        }
    }
}

/// The contract's fixed tree over 16 lanes (`lo + hi`, then 128-bit halves, pairs, the last two;
/// lanes 0..8 in `lo[r]`, 8..16 in `hi[r]`) for four rows at once. Every addition keeps its
/// operand order (same bits as the one-row `reduce16` in the tests; all NaNs equal).
///
/// # Safety
/// AVX.
#[inline(always)]
unsafe fn reduce16_x4(lo: [__m256; ROWS], hi: [__m256; ROWS]) -> [f32; ROWS] {
    let a8: [__m256; ROWS] = std::array::from_fn(|r| _mm256_add_ps(lo[r], hi[r]));
    // Rows (0, 1) and (2, 3): [r0 lanes 0..4 | r1 lanes 0..4] + [r0 lanes 4..8 | r1 lanes 4..8].
    let a4_01 = _mm256_add_ps(
        _mm256_permute2f128_ps::<0x20>(a8[0], a8[1]),
        _mm256_permute2f128_ps::<0x31>(a8[0], a8[1]),
    );
    let a4_23 = _mm256_add_ps(
        _mm256_permute2f128_ps::<0x20>(a8[2], a8[3]),
        _mm256_permute2f128_ps::<0x31>(a8[2], a8[3]),
    );
    // Per 128-bit lane: [a4[0], a4[1]] + [a4[2], a4[3]] of two rows -> [r0 | r2], [r1 | r3].
    let a2 = _mm256_add_ps(
        _mm256_shuffle_ps::<0b01_00_01_00>(a4_01, a4_23),
        _mm256_shuffle_ps::<0b11_10_11_10>(a4_01, a4_23),
    );
    // a2[0] + a2[1]: lanes [r0, r2, r0, r2 | r1, r3, r1, r3].
    let a1 = _mm256_add_ps(
        _mm256_shuffle_ps::<0b10_00_10_00>(a2, a2),
        _mm256_shuffle_ps::<0b11_01_11_01>(a2, a2),
    );
    let mut v = [0.0f32; 8];
    // SAFETY: `v` is 8 floats.
    unsafe { _mm256_storeu_ps(v.as_mut_ptr(), a1) };
    [v[0], v[4], v[1], v[5]]
}

/// Hints the cache lines of `bytes[range]` into L2 (nothing under Miri).
#[inline(always)]
fn prefetch_l2(bytes: &[u8], range: Range<usize>) {
    let from = bytes.as_ptr().wrapping_add(range.start);
    prefetch_lines(from, range.len().div_ceil(64), PrefetchTo::L2);
}

/// Copies `x` (`m_count x k`, row-major) into blocks of `ACTS` rows in the kernel's order: block
/// at m0 (na rows), half h, group j, quarter pair qq, row a at
/// `m0 * groups * 4 + ((h * groups + j) * 2 + qq) * na + a`. Elements past K are +0 (the decoded
/// weights there are -0: `fma(-0, +0, acc) == acc`).
///
/// # Safety
/// AVX.
#[inline(always)]
unsafe fn pack_acts(x: &[f32], m_count: usize, k: usize) -> Vec<__m256> {
    let groups = k.div_ceil(GROUP);
    let mut xpack = Vec::with_capacity(m_count * groups * 4);
    for m0 in (0..m_count).step_by(ACTS) {
        let na = ACTS.min(m_count - m0);
        for h in 0..2 {
            for j in 0..groups {
                for qq in 0..2 {
                    let start = j * GROUP + 8 * (2 * qq + h);
                    for a in 0..na {
                        let row = &x[(m0 + a) * k..(m0 + a + 1) * k];
                        let mut v = [0.0f32; 8];
                        if start < k {
                            let end = k.min(start + 8);
                            v[..end - start].copy_from_slice(&row[start..end]);
                        }
                        // SAFETY: `v` is 8 floats.
                        xpack.push(unsafe { _mm256_loadu_ps(v.as_ptr()) });
                    }
                }
            }
        }
    }
    xpack
}

/// Decodes rows `row0..row0 + nr` (nr <= ROWS) into `wbuf` (layout in [`float_rows_panel`]) and
/// their presence per group into `present`. Groups a row does not store are left as they are
/// (the kernel skips them); rows past `nr` are not written (their outputs are not stored).
///
/// # Safety
/// AVX2, FMA, F16C; `row0 + nr` rows inside `w`.
#[inline(always)]
unsafe fn decode_tile<C: Codec>(
    w: &WeightView,
    row0: usize,
    nr: usize,
    wbuf: &mut [__m256],
    present: &mut [u8],
) {
    let k = w.k();
    let groups = k.div_ceil(GROUP);
    let blocks = TileCursor::<ROWS>::blocks_per_row(w);
    let gpb = C::GROUPS_PER_BLOCK;
    let mut cursor = TileCursor::<ROWS>::new(w, row0, nr);
    // Only read for rows whose bit is set, after the cursor pointed them at a stored block.
    let mut ptrs = [std::ptr::null(); ROWS];
    for b in 0..blocks {
        let mask = cursor.next_block(w, b, &mut ptrs) as u8;
        let in_block = gpb.min(groups - b * gpb);
        for g in 0..in_block {
            let j = b * gpb + g;
            // Dense tiles keep every bit set: rows past `nr` hold stale but unused weights.
            present[j] = if w.is_sparse() { mask } else { ALL_ROWS };
            let valid = group_len(k, j);
            for (r, ptr) in ptrs.iter().enumerate().take(nr) {
                if mask >> r & 1 == 0 {
                    continue;
                }
                // SAFETY: a stored block holds its header and planes (raw: `valid` elements).
                let v = unsafe { decode_group::<C>(*ptr, g, in_block, valid) };
                for (q, v) in v.into_iter().enumerate() {
                    wbuf[((q % 2 * groups + j) * 2 + q / 2) * ROWS + r] = v;
                }
            }
        }
    }
}

/// One half's pass over a chunk: `w` holds `ROWS` weight vectors per step, `x` `NA` activation
/// vectors per step, two steps per group (`present.len()` groups); continues the `NA x ROWS`
/// accumulators in `state` (started at +0 when `first`). `SPARSE`: rows whose bit is clear in
/// `present[j]` skip group j (SPEC.md 17.2: skipped, not multiplied by 0).
///
/// # Safety
/// AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_tile_4rows<const NA: usize, const SPARSE: bool>(
    w: &[__m256],
    x: &[__m256],
    present: &[u8],
    first: bool,
    state: &mut [__m256],
) {
    let groups = present.len();
    assert!(w.len() == groups * 2 * ROWS && x.len() == groups * 2 * NA);
    assert!(state.len() == NA * ROWS);
    let mut acc = [[_mm256_setzero_ps(); ROWS]; NA];
    if !first {
        for (acc, st) in acc.iter_mut().zip(state.chunks_exact(ROWS)) {
            acc.copy_from_slice(st);
        }
    }
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    for (j, &mask) in present.iter().enumerate() {
        // SAFETY: j < groups: group j's 2 * ROWS weight and 2 * NA activation vectors lie inside
        // `w` and `x` (lengths asserted above).
        let (wg, xg) = unsafe { (wp.add(j * 2 * ROWS), xp.add(j * 2 * NA)) };
        let all = !SPARSE || mask == ALL_ROWS;
        for qq in 0..2 {
            // SAFETY: qq * NA + a < 2 * NA, inside group j (above).
            let xv: [__m256; NA] = std::array::from_fn(|a| unsafe { *xg.add(qq * NA + a) });
            for r in 0..ROWS {
                if !all && mask >> r & 1 == 0 {
                    continue;
                }
                // SAFETY: qq * ROWS + r < 2 * ROWS, inside group j (above).
                let wv = unsafe { *wg.add(qq * ROWS + r) };
                for (acc, xv) in acc.iter_mut().zip(xv) {
                    acc[r] = _mm256_fmadd_ps(wv, xv, acc[r]);
                }
            }
        }
    }
    for (acc, st) in acc.iter().zip(state.chunks_exact_mut(ROWS)) {
        st.copy_from_slice(acc);
    }
}

/// MX float element codes (`< 2^(1 + e + m)`) to their f32 values, as [`mx_table`] holds them,
/// without a table gather (microcoded and slow on AMD): the magnitude bits placed at the top of
/// an f32's exponent and mantissa fields, times `2^(127 - bias)`, is the value exactly (exponent-0
/// codes land on f32 subnormals, the product is exact); then the sign and the specials.
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(super) unsafe fn mx_float_values<C: Codec>(codes: __m256i) -> __m256 {
    let (ebits, fp8) = match C::MX {
        MxType::Fp8E4M3 => (4, true),
        MxType::Fp8E5M2 => (5, true),
        MxType::Fp6E2M3 => (2, false),
        _ => (3, false),
    };
    let mbits = if fp8 { 7 - ebits } else { 5 - ebits };
    let top = (1i32 << (ebits + mbits)) - 1;
    let bias = (1 << (ebits - 1)) - 1;
    let mag = _mm256_and_si256(codes, _mm256_set1_epi32(top));
    let placed = if mbits == 3 {
        _mm256_slli_epi32::<20>(mag)
    } else {
        _mm256_slli_epi32::<21>(mag)
    };
    let scale = _mm256_set1_ps(f32::from_bits(((254 - bias) as u32) << 23));
    let value = _mm256_castps_si256(_mm256_mul_ps(_mm256_castsi256_ps(placed), scale));
    let sign = if fp8 {
        _mm256_slli_epi32::<24>(codes)
    } else {
        _mm256_slli_epi32::<26>(codes)
    };
    let sign = _mm256_and_si256(sign, _mm256_set1_epi32(i32::MIN));
    let mut v = _mm256_or_si256(value, sign);
    let nan = _mm256_set1_epi32(f32::NAN.to_bits() as i32);
    match C::MX {
        MxType::Fp8E4M3 => {
            let is_nan = _mm256_cmpeq_epi32(mag, _mm256_set1_epi32(top));
            v = _mm256_or_si256(
                _mm256_and_si256(is_nan, nan),
                _mm256_andnot_si256(is_nan, v),
            );
        }
        MxType::Fp8E5M2 => {
            let inf = _mm256_or_si256(sign, _mm256_set1_epi32(f32::INFINITY.to_bits() as i32));
            let is_inf = _mm256_cmpeq_epi32(mag, _mm256_set1_epi32(top - 3));
            v = _mm256_or_si256(
                _mm256_and_si256(is_inf, inf),
                _mm256_andnot_si256(is_inf, v),
            );
            let is_nan = _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(top - 3));
            v = _mm256_or_si256(
                _mm256_and_si256(is_nan, nan),
                _mm256_andnot_si256(is_nan, v),
            );
        }
        _ => {}
    }
    _mm256_castsi256_ps(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{mx_table, MxFloat};

    /// Every code of an MX float type against the table the other tiers gather from.
    fn check<C: Codec>() {
        let table = mx_table(C::MX);
        for c0 in (0..1usize << C::BITS).step_by(8) {
            let idx: [i32; 8] = std::array::from_fn(|i| (c0 + i) as i32);
            let mut got = [0.0f32; 8];
            // SAFETY: AVX2 was detected by the caller; both arrays are 8 lanes.
            unsafe {
                let v = mx_float_values::<C>(_mm256_loadu_si256(idx.as_ptr().cast()));
                _mm256_storeu_ps(got.as_mut_ptr(), v);
            }
            for (i, g) in got.iter().enumerate() {
                let want = table[c0 + i].to_bits();
                assert_eq!(g.to_bits(), want, "{:?} code {:#x}", C::MX, c0 + i);
            }
        }
    }

    /// The contract's fixed tree over 16 lanes held as (lanes 0..8, lanes 8..16).
    unsafe fn reduce16(a: [__m256; 2]) -> f32 {
        let a8 = _mm256_add_ps(a[0], a[1]);
        let a4 = _mm_add_ps(_mm256_castps256_ps128(a8), _mm256_extractf128_ps::<1>(a8));
        let a2 = _mm_add_ps(a4, _mm_movehl_ps(a4, a4));
        let a1 = _mm_add_ss(a2, _mm_shuffle_ps::<1>(a2, a2));
        _mm_cvtss_f32(a1)
    }

    /// The 4-row reduction against the one-row contract tree.
    #[test]
    fn reduce16_x4_matches_reduce16() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            match seed % 16 {
                0 => f32::from_bits(0x7FC0_0000 | (seed >> 40) as u32),
                1 => f32::INFINITY,
                2 => -0.0,
                _ => f32::from_bits((seed >> 32) as u32 & 0x3FFF_FFFF | (seed as u32 & 1) << 31),
            }
        };
        for _ in 0..2000 {
            let v: [f32; 64] = std::array::from_fn(|_| next());
            // SAFETY: AVX2 detected above; `v` holds the 8 vectors read.
            unsafe {
                let ld = |i: usize| _mm256_loadu_ps(v[8 * i..].as_ptr());
                let lo = [ld(0), ld(1), ld(2), ld(3)];
                let hi = [ld(4), ld(5), ld(6), ld(7)];
                let got = reduce16_x4(lo, hi);
                for r in 0..ROWS {
                    let want = reduce16([lo[r], hi[r]]);
                    // All NaNs are equal (LLVM may commute an add's operands, so NaN payloads
                    // are not fixed even in the one-row tree).
                    let same =
                        got[r].to_bits() == want.to_bits() || got[r].is_nan() && want.is_nan();
                    assert!(same, "row {r}: {} vs {want}", got[r]);
                }
            }
        }
    }

    #[test]
    fn mx_float_values_match_the_table() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        check::<MxFloat<0>>();
        check::<MxFloat<1>>();
        check::<MxFloat<2>>();
        check::<MxFloat<3>>();
    }
}

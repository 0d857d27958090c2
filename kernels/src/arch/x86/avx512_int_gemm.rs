//! Integer-path gemm for many activation rows (AVX-512, with or without VNNI).
//!
//! The general loop in the parent module transposes each 16-row weight group for every tile and
//! keeps one zmm of rows per activation broadcast, with the float accumulators in memory: it is
//! bound by loads, not by `vpdpbusd`. Here each tile of `TILE_VECS x 16` weight rows is first
//! repacked over all of K into a per-call scratch buffer (the parent's dot layout: per group 8
//! zmm of 16 rows x 4 codes per n-vector, plus the per-group scale, sub-scale and min vectors).
//! The activations come blocked by `ACT_ROWS` rows ([`QuantizedActivations::row_blocks`], built
//! once and shared by every call and thread that uses the same activations). Then, for every
//! block of `ACT_ROWS` activation rows, the groups of one K chunk run with the
//! `ACT_ROWS x TILE_VECS` float accumulators in registers: every activation broadcast feeds
//! `TILE_VECS` `vpdpbusd` and every weight load `ACT_ROWS`. K is cut into chunks whose repacked
//! weights stay in L1 while all activation blocks pass over them (accumulators saved between
//! chunks).
//!
//! Per output the arithmetic is the contract's: an exact i32 sum per group (started at
//! `-OFFSET * xsum`, so the offset codes need no subtraction later), the integer sub-scale, then
//! `acc = fma(sw * sx, f32(isum), acc)` and the affine term, groups in increasing order. Lanes of
//! omitted sparse blocks and of rows past the tensor's end get scale and min 0: their fmas add
//! `+-0` to an accumulator that is never `-0` on this path (it starts at `+0`, and a product of a
//! nonzero float and a nonzero integer cannot round to zero), so they change nothing.

use std::arch::x86_64::*;
use std::ops::Range;

use tessera_format::GROUP;

use super::super::prefetch::SpreadL2;
use super::super::rows::Strided;
use super::{dot4, group_step, tile_group, tile_head, TileGroup, ZERO_BLOCK};
use crate::activations::RowBlocks;
use crate::codec::Codec;
use crate::tile::TileCursor;
use crate::{QuantizedActivations, WeightView};

#[path = "avx512_amx_gemm.rs"]
pub(super) mod amx;

/// Activation rows from which this path replaces the general loop.
pub(super) const MIN_ACT_ROWS: usize = 8;
/// n-vectors (16 weight rows each) per tile.
const TILE_VECS: usize = 2;
/// Activation rows per register block.
const ACT_ROWS: usize = 5;
/// Groups per K chunk: the chunk's repacked codes (512 bytes per group and n-vector: 32 KiB)
/// stay in L1.
const CHUNK_GROUPS: usize = 32;

const ROWS: usize = 16;

/// One tile's weights over all of K in the dot layout. Group `j`, code dword `t`, n-vector `v`:
/// `codes[(j * 8 + t) * TILE_VECS + v]`; `scale`, `mult`, `min` at `j * TILE_VECS + v`.
struct TilePack {
    codes: Vec<__m512i>,
    scale: Vec<__m512>,
    mult: Vec<__m512i>,
    min: Vec<__m512>,
}

impl TilePack {
    /// # Safety
    /// The CPU runs AVX-512 F.
    #[inline(always)]
    unsafe fn new(groups: usize) -> Self {
        TilePack {
            codes: vec![_mm512_setzero_si512(); groups * 8 * TILE_VECS],
            scale: vec![_mm512_setzero_ps(); groups * TILE_VECS],
            mult: vec![_mm512_setzero_si512(); groups * TILE_VECS],
            min: vec![_mm512_setzero_ps(); groups * TILE_VECS],
        }
    }
}

/// Stores group `j` of n-vector `v` into `pack`.
#[inline(always)]
fn store_group(pack: &mut TilePack, j: usize, v: usize, tg: &TileGroup) {
    for (t, wt) in tg.wt.iter().enumerate() {
        pack.codes[(j * 8 + t) * TILE_VECS + v] = *wt;
    }
    pack.scale[j * TILE_VECS + v] = tg.sw;
    pack.mult[j * TILE_VECS + v] = tg.mult;
    pack.min[j * TILE_VECS + v] = tg.mw;
}

/// Repacks rows `row0 .. row0 + TILE_VECS * 16` (those below `end`) of `w` into `pack`. Omitted
/// blocks and rows at or past `end` get zero codes and zero scales.
///
/// # Safety
/// The CPU runs AVX-512 F/BW/VL/DQ; `row0 < end <= w.rows()`; `pack` sized for `w`'s groups.
#[inline(always)]
unsafe fn repack<C: Codec>(w: &WeightView, row0: usize, end: usize, pack: &mut TilePack) {
    let groups = w.k().div_ceil(GROUP);
    let blocks = TileCursor::<ROWS>::blocks_per_row(w);
    let zero = _mm512_setzero_si512();
    for v in 0..TILE_VECS {
        let first_row = row0 + v * ROWS;
        let nr = end.saturating_sub(first_row).min(ROWS);
        if nr == ROWS && !w.is_sparse() {
            // 16 dense rows: block `b` of row `first_row + r` is at a fixed stride (only a row's
            // last block can be short), so the rows are addressed as 4 bases plus a scaled
            // stride, and every header is present.
            for b in 0..blocks {
                // SAFETY: the 16 rows exist and are dense; `b` is a block of the row.
                let ptrs = unsafe { Strided::dense_block::<C>(w, first_row, b) };
                let first = b * C::GROUPS_PER_BLOCK;
                let in_block = C::GROUPS_PER_BLOCK.min(groups - first);
                // SAFETY: every row's block `b` is stored.
                let head = unsafe { tile_head::<C, _>(&ptrs, u16::MAX as u32, in_block) };
                for g in 0..in_block {
                    // SAFETY: as above.
                    let tg = unsafe { tile_group::<C, _>(&ptrs, &head, g) };
                    store_group(pack, first + g, v, &tg);
                }
            }
            continue;
        }
        let mut cursor = TileCursor::<ROWS>::new(w, first_row.min(end), nr);
        let mut ptrs = [ZERO_BLOCK.as_ptr(); ROWS];
        for b in 0..blocks {
            if w.is_sparse() {
                ptrs.fill(ZERO_BLOCK.as_ptr());
            }
            let present = if nr == 0 {
                0
            } else {
                cursor.next_block(w, b, &mut ptrs)
            };
            let first = b * C::GROUPS_PER_BLOCK;
            let count = C::GROUPS_PER_BLOCK.min(groups - first);
            if present == 0 {
                for j in first..first + count {
                    for t in 0..8 {
                        pack.codes[(j * 8 + t) * TILE_VECS + v] = zero;
                    }
                    pack.scale[j * TILE_VECS + v] = _mm512_setzero_ps();
                    pack.min[j * TILE_VECS + v] = _mm512_setzero_ps();
                }
                continue;
            }
            // SAFETY: every pointer addresses a stored block (or the zero block for lanes that
            // `present` masks out).
            let head = unsafe { tile_head::<C, _>(&ptrs, present, count) };
            for g in 0..count {
                // SAFETY: as above.
                let tg = unsafe { tile_group::<C, _>(&ptrs, &head, g) };
                store_group(pack, first + g, v, &tg);
            }
        }
    }
}

/// Prefetches (into L2) of the tile after the one starting at output row `tile` of `rows`, from
/// its first row's start to the start of the row after it (or the tensor's end), spread over
/// `steps` steps of the current tile's work, so that its repack reads from L2.
fn next_tile(w: &WeightView, rows: &Range<usize>, tile: usize, steps: usize) -> SpreadL2 {
    let tile_rows = TILE_VECS * ROWS;
    let next = (rows.start + tile + tile_rows).min(rows.end);
    let next_end = (next + tile_rows).min(rows.end);
    let byte_at = |r: usize| {
        if r < w.rows() {
            w.row_start(r)
        } else {
            w.bytes().len()
        }
    };
    let from = byte_at(next);
    let start = w.bytes().as_ptr().wrapping_add(from);
    SpreadL2::new([start], byte_at(next_end) - from, steps)
}

/// Which parts of the per-group float step an encoding family has.
#[derive(Clone, Copy)]
struct Step {
    offset: bool,
    mult: bool,
    min: bool,
}

/// Which part of the work one [`block`] call does: groups `j0..j1` against the activation rows
/// from `m0`, starting the accumulators at `+0` when `first`.
#[derive(Clone, Copy)]
struct Span {
    m0: usize,
    j0: usize,
    j1: usize,
    first: bool,
}

/// Groups `j0..j1` of one repacked tile against activation rows `m0..m0 + MB` (`span`),
/// continuing the accumulators in `state` (`MB * TILE_VECS`, started at `+0` when `first`).
/// Each group takes one step of `prefetch` (the next tile's lines): at M = 64 a step per call
/// issued ~40 prefetches at once, which stalled on the misses in flight (q8 1 thread 303 -> 322
/// GOPS, 2 threads 547 -> 572).
///
/// # Safety
/// AVX-512 F/BW/VL/DQ (+ VNNI if `VNNI`); `j1 <= ` the pack's groups; rows `m0..m0 + MB` exist in
/// `x`.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `a` and `v` index the accumulators and their inputs
unsafe fn block<
    const VNNI: bool,
    const OFF: bool,
    const MULT: bool,
    const MIN: bool,
    const MB: usize,
>(
    pack: &TilePack,
    x: &RowBlocks,
    offset: i32,
    span: Span,
    state: &mut [__m512],
    prefetch: &mut SpreadL2,
) {
    const V: usize = TILE_VECS;
    let Span { m0, j0, j1, first } = span;
    assert!(
        state.len() == MB * V && m0 + MB <= x.m && j1 <= x.groups && j1 * 8 * V <= pack.codes.len()
    );
    let mut acc = [[_mm512_setzero_ps(); V]; MB];
    if !first {
        for (a, acc) in acc.iter_mut().enumerate() {
            acc.copy_from_slice(&state[a * V..(a + 1) * V]);
        }
    }
    let base = m0 * x.groups;
    let (wp, sp, mp, np) = (
        pack.codes.as_ptr(),
        pack.scale.as_ptr(),
        pack.mult.as_ptr(),
        pack.min.as_ptr(),
    );
    let (xc, xisum, xscale, xsum) = (
        x.codes.as_ptr(),
        x.isum.as_ptr(),
        x.scale.as_ptr(),
        x.fsum.as_ptr(),
    );
    for j in j0..j1 {
        prefetch.step();
        let at = base + j * MB;
        // SAFETY (all reads below): j < j1 bounds the pack (asserted), and (group j, rows
        // m0..m0 + MB) of the block at m0 lies inside the activation arrays (m0 + MB <= m,
        // j < groups).
        let mut isum = [[_mm512_setzero_si512(); V]; MB];
        if OFF {
            for (a, isum) in isum.iter_mut().enumerate() {
                // The offset codes' excess, `offset * xsum`, subtracted up front (exact: |xsum|
                // <= 32 * 127 and offset <= 128).
                *isum = [_mm512_set1_epi32(-offset * unsafe { *xisum.add(at + a) }); V];
            }
        }
        let codes = unsafe { xc.add(at * GROUP) };
        let wg = unsafe { wp.add(j * 8 * V) };
        for t in 0..8 {
            let wv: [__m512i; V] = std::array::from_fn(|v| unsafe { *wg.add(t * V + v) });
            for a in 0..MB {
                let four = unsafe { codes.add(a * GROUP + 4 * t).cast::<i32>().read_unaligned() };
                let b = _mm512_set1_epi32(four);
                for v in 0..V {
                    isum[a][v] = unsafe { dot4::<VNNI>(isum[a][v], wv[v], b) };
                }
            }
        }
        let sw: [__m512; V] = std::array::from_fn(|v| unsafe { *sp.add(j * V + v) });
        for a in 0..MB {
            let (sx, xs) = unsafe { (*xscale.add(at + a), *xsum.add(at + a)) };
            for v in 0..V {
                let (mult, mw) = unsafe { (*mp.add(j * V + v), *np.add(j * V + v)) };
                // SAFETY: the caller runs AVX-512 F/DQ.
                acc[a][v] = unsafe {
                    group_step::<MULT, MIN>(isum[a][v], (sw[v], mult, mw), sx, xs, acc[a][v])
                };
            }
        }
    }
    for (a, acc) in acc.iter().enumerate() {
        state[a * V..(a + 1) * V].copy_from_slice(acc);
    }
}

/// [`block`] for the step of family `s`, `MB` rows.
///
/// # Safety
/// As [`block`].
#[inline(always)]
unsafe fn block_for<const VNNI: bool, const MB: usize>(
    s: Step,
    pack: &TilePack,
    x: &RowBlocks,
    offset: i32,
    span: Span,
    state: &mut [__m512],
    pf: &mut SpreadL2,
) {
    // SAFETY (every arm): the caller's contract.
    unsafe {
        match (s.offset, s.mult, s.min) {
            (_, false, false) => {
                block::<VNNI, true, false, false, MB>(pack, x, offset, span, state, pf)
            }
            (_, true, false) => {
                block::<VNNI, true, true, false, MB>(pack, x, offset, span, state, pf)
            }
            (false, false, true) => {
                block::<VNNI, false, false, true, MB>(pack, x, offset, span, state, pf)
            }
            (false, true, true) => {
                block::<VNNI, false, true, true, MB>(pack, x, offset, span, state, pf)
            }
            // No family has these yet; the start and the multiplier are exact when unused
            // (`-0 * xsum`, x1).
            (_, _, true) => block::<VNNI, true, true, true, MB>(pack, x, offset, span, state, pf),
        }
    }
}

/// Integer-path rows for `xq.m() >= MIN_ACT_ROWS`: same bits as the general loop.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ (+ VNNI if `VNNI`), AVX2, FMA, F16C; `out.len() == xq.m() * rows.len()`,
/// `xq.k() == w.k()`, rows inside `w`.
#[inline(always)]
pub(super) unsafe fn int_gemm_rows<C: Codec, const VNNI: bool>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let n = rows.len();
    let m_count = xq.m();
    let groups = xq.groups();
    let x = xq.row_blocks(ACT_ROWS, false);
    let step = Step {
        offset: C::OFFSET != 0,
        mult: C::HAS_MULT,
        min: C::HAS_MIN,
    };
    // SAFETY: the caller runs AVX-512 F.
    let mut pack = unsafe { TilePack::new(groups) };
    let mut state = vec![_mm512_setzero_ps(); m_count * TILE_VECS];
    let tile_rows = TILE_VECS * ROWS;
    for tile in (0..n).step_by(tile_rows) {
        // SAFETY: rows.start + tile < rows.end <= w.rows(); `pack` is sized for `groups`.
        unsafe { repack::<C>(w, rows.start + tile, rows.end, &mut pack) };
        let mut prefetch = next_tile(w, &rows, tile, groups * m_count.div_ceil(ACT_ROWS));
        for j0 in (0..groups).step_by(CHUNK_GROUPS) {
            let j1 = groups.min(j0 + CHUNK_GROUPS);
            let first = j0 == 0;
            for (m0, nb) in x.blocks() {
                let st = &mut state[m0 * TILE_VECS..(m0 + nb) * TILE_VECS];
                let span = Span { m0, j0, j1, first };
                let pf = &mut prefetch;
                // SAFETY (every arm): the block's rows m0..m0 + nb exist, j1 <= groups.
                unsafe {
                    match nb {
                        ACT_ROWS => {
                            block_for::<VNNI, ACT_ROWS>(step, &pack, &x, C::OFFSET, span, st, pf)
                        }
                        4 => block_for::<VNNI, 4>(step, &pack, &x, C::OFFSET, span, st, pf),
                        3 => block_for::<VNNI, 3>(step, &pack, &x, C::OFFSET, span, st, pf),
                        2 => block_for::<VNNI, 2>(step, &pack, &x, C::OFFSET, span, st, pf),
                        _ => block_for::<VNNI, 1>(step, &pack, &x, C::OFFSET, span, st, pf),
                    }
                }
            }
        }
        // SAFETY: the caller runs AVX-512 F; `out` is `m_count x n`.
        unsafe { store_tile(&state, tile, n, out) };
    }
}

/// Writes the finished accumulators of the tile whose first output column is `tile` (of `n`)
/// into `out` (`state.len() / TILE_VECS` rows of `n`).
///
/// # Safety
/// AVX-512 F; `out.len() == state.len() / TILE_VECS * n`.
#[inline(always)]
unsafe fn store_tile(state: &[__m512], tile: usize, n: usize, out: &mut [f32]) {
    let m_count = state.len() / TILE_VECS;
    for v in 0..TILE_VECS {
        let col = tile + v * ROWS;
        if col >= n {
            break;
        }
        let nr = ROWS.min(n - col);
        let mask: __mmask16 = ((1u32 << nr) - 1) as u16;
        for m in 0..m_count {
            let dst = &mut out[m * n + col..m * n + col + nr];
            // SAFETY: `dst` has `nr` elements and the mask covers exactly `nr` lanes.
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask, state[m * TILE_VECS + v]) };
        }
    }
}

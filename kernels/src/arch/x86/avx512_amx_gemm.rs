//! Integer-path gemm on AMX tiles (the `avx512amx` tier): the parent's repacked weight tiles
//! times blocks of 16 activation rows, one `tdpbssd` (or `tdpbsud`) per group, n-vector and
//! block where the VNNI gemm issues 8 `vpdpbusd` per activation row.
//!
//! No new layout is needed. One group of a repacked tile (8 zmm, lane `r` of zmm `t` = codes
//! `4t..4t + 4` of weight row `r`) is AMX's B operand as it stands: 8 rows of 16 x 4 bytes,
//! `TILE_VECS * 64` bytes apart. The activations blocked by 16 rows ([`RowBlocks`]) hold a
//! group's 16 rows as 32-byte entries side by side: the A operand, 32 bytes apart. C is the
//! 16 x 16 exact i32 group sums, row `a` = activation row, lane `r` = weight row, which is the
//! VNNI gemm's `isum` zmm for that row; it goes through a small buffer back into zmm for the
//! same float step, so the bits are the VNNI gemm's.
//!
//! Offset families: the tile's codes are made signed once (`u - OFFSET` fits in an i8 for
//! each), so `tdpbssd` sums `(u - OFFSET) * x`, the same integer as the VNNI gemm's
//! `sum(u * x) - OFFSET * xsum`, with no per-row correction. Affine families have no offset and
//! codes up to 255: `tdpbsud` (signed activations, unsigned weights).
//!
//! Each step takes one group of two blocks of 16 activation rows (two A tiles) and both
//! n-vectors of the weight tile (two B tiles): four products, whose sums are stored one step
//! later, just before the next products overwrite them (see [`amx`] for why), and then go
//! through the float step. The accumulators live in memory (64 zmm per step would not fit in
//! registers). The activations are padded to whole blocks of 16 rows, and so are the
//! accumulators: the float step always runs on 16 rows (the padding rows' scales are 0), and
//! only the real rows are written out.
//!
//! What limits it (measured on Xeon family 6 model 167): a `tdpbssd` of K = 32 costs as much as
//! one of K = 64, and the tile instructions and the vector float step hardly overlap, so a
//! group's time is the tile work plus the same float step as the VNNI gemm's. Removing the float
//! step doubles the rate (q4, M = 256: 573 -> 1133 GOPS), so it is half the time: about 1 ns
//! per row of 16 sums, where its 3 vector uops would need 0.4 on two ports. GOPS with
//! `vpdpbusd` / with this tier (q4, 1 thread, 4096 x 4096, one hour, benches/README.md): M = 32
//! 368 / 372, M = 128 453 / 574, M = 256 457 / 573.

use std::arch::x86_64::*;
use std::ops::Range;

use tessera_format::GROUP;

use super::super::group_step_for;
use super::{next_tile, repack, store_tile, TilePack, ROWS, TILE_VECS};
use crate::activations::RowBlocks;
use crate::arch::x86::amx::{self, TileConfig, TILE_ROWS};
use crate::codec::Codec;
use crate::{QuantizedActivations, WeightView};

/// Activation rows from which the AMX tier uses tiles (below, the VNNI gemm, faster there: Xeon
/// family 6 model 167, 1 thread, 4096 x 4096, GOPS VNNI / AMX, interleaved medians: q4 M = 16
/// 221 / 212, M = 32 298 / 303, M = 64 345 / 348, M = 128 418 / 439 (another hour); q8 M = 64
/// 319 / 325; q4k M = 48 305 / 318).
pub(in crate::arch::x86) const MIN_ACT_ROWS: usize = 32;

/// Groups per K chunk: the chunk's weight codes (512 bytes per group and n-vector: 16 KiB) and
/// one pair of blocks' activation codes (16 KiB) stay in L1 while the pairs pass.
const CHUNK_GROUPS: usize = 16;
/// Blocks of 16 activation rows per step.
const PAIR: usize = 2;
/// The C tiles' landing place: 16 x 16 i32 for each of the 4 products of a step, for two
/// groups in turn (a group's float step reads its sums one step after they were stored, when
/// the stores are done).
#[repr(C, align(64))]
struct Sums([[[i32; TILE_ROWS * ROWS]; 4]; 2]);

/// Bytes between the rows of the A and B operands.
const A_STRIDE: usize = GROUP;
const B_STRIDE: usize = TILE_VECS * 64;

/// Integer-path rows with AMX for `xq.m() >= MIN_ACT_ROWS`: the same bits as the VNNI gemm.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ, AVX2, FMA, F16C, and [`amx::is_usable`]; `out.len() == xq.m() *
/// rows.len()`, `xq.k() == w.k()`, rows inside `w`.
#[inline(always)]
pub(in crate::arch::x86) unsafe fn int_gemm_rows<C: Codec>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let n = rows.len();
    let m_count = xq.m();
    let groups = xq.groups();
    let x = xq.row_blocks(TILE_ROWS, true);
    // SAFETY: the caller runs AVX-512 F.
    let mut pack = unsafe { TilePack::new(groups) };
    // Padding rows included: the float step runs on whole blocks of 16 rows (the padding rows'
    // scales are 0, and their sums are never written out).
    let mut state = vec![_mm512_setzero_ps(); m_count.next_multiple_of(TILE_ROWS) * TILE_VECS];
    let mut sums = Sums([[[0; TILE_ROWS * ROWS]; 4]; 2]);
    let pair_rows = PAIR * TILE_ROWS;
    // SAFETY: AMX is usable (caller). Released when `_tiles` drops, after the last tile
    // instruction.
    let _tiles = unsafe { amx::Tiles::configure(&TileConfig::gemm()) };
    for tile in (0..n).step_by(TILE_VECS * ROWS) {
        // SAFETY: rows.start + tile < rows.end <= w.rows(); `pack` is sized for `groups`.
        unsafe { repack::<C>(w, rows.start + tile, rows.end, &mut pack) };
        if C::OFFSET != 0 {
            // SAFETY: the caller runs AVX-512 BW.
            unsafe { make_signed(&mut pack, C::OFFSET) };
        }
        // Every accumulator starts at +0, as in the contract.
        state.fill(_mm512_setzero_ps());
        let steps = groups.div_ceil(CHUNK_GROUPS) * m_count.div_ceil(pair_rows);
        let mut prefetch = next_tile(w, &rows, tile, steps);
        for j0 in (0..groups).step_by(CHUNK_GROUPS) {
            let j1 = groups.min(j0 + CHUNK_GROUPS);
            for m0 in (0..m_count).step_by(pair_rows) {
                prefetch.step();
                let at = Pair { m0, j0, j1 };
                // SAFETY (both): the tiles are configured; the padded blocks from m0 and groups
                // j0..j1 exist in `x` and in `pack`.
                unsafe {
                    if m_count - m0 > TILE_ROWS {
                        pair::<C, 2>(&pack, &x, at, &mut state, &mut sums);
                    } else {
                        pair::<C, 1>(&pack, &x, at, &mut state, &mut sums);
                    }
                }
            }
        }
        // SAFETY: the caller runs AVX-512 F; `out` is `m_count x n`.
        unsafe { store_tile(&state[..m_count * TILE_VECS], tile, n, out) };
    }
}

/// The activation rows from `m0` (one or two blocks of 16) and the groups `j0..j1` of a
/// [`pair`] call.
#[derive(Clone, Copy)]
struct Pair {
    m0: usize,
    j0: usize,
    j1: usize,
}

/// Subtracts `offset` from every repacked code byte (wrapping: `u - offset` as an i8).
///
/// # Safety
/// AVX-512 BW.
#[inline(always)]
unsafe fn make_signed(pack: &mut TilePack, offset: i32) {
    let off = _mm512_set1_epi8(offset as u8 as i8);
    for c in pack.codes.iter_mut() {
        *c = _mm512_sub_epi8(*c, off);
    }
}

/// Groups `j0..j1` of `BLOCKS` (1 or 2) blocks of 16 activation rows from `m0` against both
/// n-vectors of the tile. Step `s` loads group `j0 + s`'s tiles, stores group `j0 + s - 1`'s
/// sums and starts group `j0 + s`'s products, then runs the float steps of group `j0 + s - 2`,
/// whose sums were stored one step before.
///
/// # Safety
/// Tiles configured by [`TileConfig::gemm`]; AVX-512 F/DQ; the padded blocks from `m0` and
/// groups `j0..j1` exist in `x` and `pack`.
#[inline(always)]
unsafe fn pair<C: Codec, const BLOCKS: usize>(
    pack: &TilePack,
    x: &RowBlocks,
    at: Pair,
    state: &mut [__m512],
    sums: &mut Sums,
) {
    let Pair { m0, j0, j1 } = at;
    let count = j1 - j0;
    let a_at =
        |block: usize, j: usize| ((m0 + block * TILE_ROWS) * x.groups + j * TILE_ROWS) * GROUP;
    for s in 0..count + 2 {
        if s < count {
            let j = j0 + s;
            let b = |v: usize| pack.codes[j * 8 * TILE_VECS + v..].as_ptr().cast::<u8>();
            // SAFETY: 16 rows of 32 codes at each A address (a padded block) and 8 rows of 64
            // bytes at each B address (group j of n-vector v) lie inside `x` and `pack`.
            unsafe {
                amx::load::<0>(x.codes[a_at(0, j)..].as_ptr().cast(), A_STRIDE);
                if BLOCKS == 2 {
                    amx::load::<1>(x.codes[a_at(1, j)..].as_ptr().cast(), A_STRIDE);
                }
                amx::load::<2>(b(0), B_STRIDE);
                amx::load::<3>(b(1), B_STRIDE);
            }
        }
        // Per C tile (A block, B n-vector): store the previous group's sums, start this group's.
        let stored = &mut sums.0[(s + 1) % 2];
        macro_rules! product {
            ($c:literal, $a:literal, $b:literal) => {
                if $a < BLOCKS {
                    if s > 0 && s <= count {
                        // SAFETY: the buffer is 1 KiB.
                        unsafe { amx::store::<$c>(stored[$c - 4].as_mut_ptr()) };
                    }
                    if s < count {
                        // SAFETY: the A and B tiles were just loaded.
                        unsafe {
                            if C::OFFSET != 0 {
                                amx::product::<true, $c, $a, $b>()
                            } else {
                                amx::product::<false, $c, $a, $b>()
                            }
                        }
                    }
                }
            };
        }
        product!(4, 0, 2);
        product!(5, 0, 3);
        product!(6, 1, 2);
        product!(7, 1, 3);
        if s >= 2 {
            let j = j0 + s - 2;
            for (q, buf) in sums.0[s % 2].iter().enumerate().take(2 * BLOCKS) {
                let (block, v) = (q / 2, q % 2);
                // SAFETY: the buffer was stored one step ago; AVX-512 F/DQ.
                unsafe { finish::<C>(pack, x, m0 + block * TILE_ROWS, v, j, buf, state) };
            }
        }
    }
}

/// Group `j`'s float step for the padded block of 16 activation rows from `first` and n-vector
/// `v`, from their sums `buf` (16 rows of 16 i32).
///
/// # Safety
/// AVX-512 F/DQ; group `j` and the padded block at `first` exist in `x` and `pack`; `state`
/// covers the padded rows.
#[inline(always)]
unsafe fn finish<C: Codec>(
    pack: &TilePack,
    x: &RowBlocks,
    first: usize,
    v: usize,
    j: usize,
    buf: &[i32; TILE_ROWS * ROWS],
    state: &mut [__m512],
) {
    let i = j * TILE_VECS + v;
    let sc = (pack.scale[i], pack.mult[i], pack.min[i]);
    let entry = first * x.groups + j * TILE_ROWS;
    let sx: &[f32; TILE_ROWS] = x.scale[entry..][..TILE_ROWS].try_into().unwrap();
    let xsum: &[f32; TILE_ROWS] = x.fsum[entry..][..TILE_ROWS].try_into().unwrap();
    let acc = &mut state[first * TILE_VECS..][..TILE_ROWS * TILE_VECS];
    for a in 0..TILE_ROWS {
        let at = a * TILE_VECS + v;
        // SAFETY: row `a` of the buffer, 64-byte aligned (`Sums`); register arithmetic.
        acc[at] = unsafe {
            let isum = _mm512_load_si512(buf[a * ROWS..].as_ptr().cast());
            group_step_for::<C>(isum, sc, sx[a], xsum[a], acc[at])
        };
    }
}

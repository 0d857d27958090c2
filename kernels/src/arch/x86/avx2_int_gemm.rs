//! Integer-path gemm for many activation rows (AVX2), for encodings dotted unsigned (lane codes
//! up to 129: every width up to 7 bits but the `q{b}kh` family).
//!
//! The general loop in [`super::avx2_int`] decodes each 8-row weight group once, then runs every
//! activation row against it, one row at a time, with the float accumulators in memory. Here, as
//! in the AVX-512 gemm, each tile of `TILE_VECS x 8` weight rows is first decoded over all of K
//! into a per-call scratch buffer in the general loop's dot layout (per group 8 ymm of 8 rows x 4
//! codes per n-vector, plus the per-group scale, min and sub-scale vectors). Then, for every block
//! of `ACT_ROWS` activation rows, the groups of one K chunk run with the `ACT_ROWS x TILE_VECS`
//! sums in registers: every weight load feeds `ACT_ROWS` products and every activation broadcast
//! `TILE_VECS`, and each group's float step runs while the next group's products are issued. K is
//! cut into chunks whose decoded weights stay in L1 while all activation blocks pass over them.
//!
//! Zen 3 (1 thread, M = 256, N = 4096, K = 2048, GOPS): q4 87 -> 117-122, q4k 81 -> 110-114,
//! mxfp4 90 -> 119-125. Encodings dotted signed (8-bit codes: `vpsignb` and a `vpmaddwd` per
//! product) measured no gain this way (q8 69-77 either way) and keep the general loop; so does
//! M < 8, where decoding the tile into the scratch costs more than it saves (q4, M = 4: 69 -> 57-64).
//!
//! The arithmetic per output is the general loop's, step for step (its chunking of i16 sums and
//! its `group_float_step`), so the bits are the reference's. Lanes of omitted sparse blocks and of
//! rows past the tensor's end get zero codes, scale, min and multiplier: their float steps add
//! `+-0` to an accumulator that is never `-0` (it starts at `+0`, and a product of a nonzero float
//! and a nonzero integer cannot round to zero), so they change nothing.

use std::arch::x86_64::*;
use std::ops::Range;

use tessera_format::GROUP;

use super::avx2_int::{
    group_float_step, group_min_mult, i16_chunk, signed_dot, tile_codes, tile_head, ROWS,
    ZERO_BLOCK,
};
use super::rows::Strided;
use crate::codec::Codec;
use crate::tile::TileCursor;
use crate::{QuantizedActivations, WeightView};

/// Activation rows from which this path replaces the general loop.
const MIN_ACT_ROWS: usize = 8;
/// n-vectors (8 weight rows each) per tile.
const TILE_VECS: usize = 2;
/// Bytes of decoded weights per K chunk: they stay in L1 (32 KiB on Zen 2/3, 48 KiB on Intel
/// client cores) beside one activation block's chunk.
const CHUNK_BYTES: usize = 16 << 10;

/// Activation rows per register block: 2 rows x 2 n-vectors of sums (4-bit codes: i16, widened
/// once per group; others also i32), 2 weight vectors and a broadcast stay in the 16 ymm
/// registers without spills. Zen 3, q4, M = 128, N = 4096, K = 2048, best of 7 interleaved runs,
/// GOPS: 4 rows 118, 3 rows 112, 2 rows 123-126 (mxfp4: 3 rows 102, 2 rows 117).
const ACT_ROWS: usize = 2;

/// One tile's weights over all of K in the dot layout. Group `j`, code dword `t`, n-vector `v`:
/// `codes[(j * 8 + t) * TILE_VECS + v]`; `scale`, `min`, `mult` at `j * TILE_VECS + v`.
struct TilePack {
    codes: Vec<__m256i>,
    scale: Vec<__m256>,
    min: Vec<__m256>,
    mult: Vec<__m256i>,
}

impl TilePack {
    /// # Safety
    /// The CPU runs AVX.
    #[inline(always)]
    unsafe fn new(groups: usize) -> Self {
        TilePack {
            codes: vec![_mm256_setzero_si256(); groups * 8 * TILE_VECS],
            scale: vec![_mm256_setzero_ps(); groups * TILE_VECS],
            min: vec![_mm256_setzero_ps(); groups * TILE_VECS],
            mult: vec![_mm256_setzero_si256(); groups * TILE_VECS],
        }
    }

    /// Stores group `j` of n-vector `v`.
    #[inline(always)]
    fn store(
        &mut self,
        j: usize,
        v: usize,
        wt: &[__m256i; 8],
        sw: __m256,
        mw: __m256,
        mult: __m256i,
    ) {
        for (t, w) in wt.iter().enumerate() {
            self.codes[(j * 8 + t) * TILE_VECS + v] = *w;
        }
        self.scale[j * TILE_VECS + v] = sw;
        self.min[j * TILE_VECS + v] = mw;
        self.mult[j * TILE_VECS + v] = mult;
    }

    /// Zero codes, scale, min and multiplier for group `j` of n-vector `v` (no row stores it).
    ///
    /// # Safety
    /// AVX.
    #[inline(always)]
    unsafe fn clear(&mut self, j: usize, v: usize) {
        let zero = _mm256_setzero_si256();
        for t in 0..8 {
            self.codes[(j * 8 + t) * TILE_VECS + v] = zero;
        }
        self.scale[j * TILE_VECS + v] = _mm256_setzero_ps();
        self.min[j * TILE_VECS + v] = _mm256_setzero_ps();
        self.mult[j * TILE_VECS + v] = zero;
    }
}

/// Decodes rows `row0 .. row0 + TILE_VECS * 8` (those below `end`) of `w` into `pack`.
///
/// # Safety
/// AVX2, FMA; `row0 < end <= w.rows()`; `pack` sized for `w`'s groups.
#[inline(always)]
unsafe fn repack<C: Codec>(w: &WeightView, row0: usize, end: usize, pack: &mut TilePack) {
    let groups = w.k().div_ceil(GROUP);
    let blocks = TileCursor::<ROWS>::blocks_per_row(w);
    for v in 0..TILE_VECS {
        let first_row = row0 + v * ROWS;
        let nr = end.saturating_sub(first_row).min(ROWS);
        if nr == ROWS && !w.is_sparse() {
            for b in 0..blocks {
                // SAFETY: the 8 rows exist and are dense; `b` is a block of the row.
                let p = unsafe { Strided::dense_block::<C>(w, first_row, b) };
                let first = b * C::GROUPS_PER_BLOCK;
                let in_block = C::GROUPS_PER_BLOCK.min(groups - first);
                // SAFETY: every row's block `b` is stored and holds `in_block` groups.
                unsafe {
                    let head = tile_head::<C, _>(&p, 0xFF);
                    for g in 0..in_block {
                        let wt = tile_codes::<C, _>(&p, in_block, g);
                        let (mw, mult) = group_min_mult::<C, _>(&p, 0xFF, &head, g);
                        pack.store(first + g, v, &wt, head.sw, mw, mult);
                    }
                }
            }
            continue;
        }
        let mut cursor = TileCursor::<ROWS>::new(w, first_row.min(end), nr);
        let mut ptrs = [ZERO_BLOCK.as_ptr(); ROWS];
        for b in 0..blocks {
            if w.is_sparse() {
                // Absent rows keep their last pointer otherwise: read zeros instead.
                ptrs.fill(ZERO_BLOCK.as_ptr());
            }
            let present = if nr == 0 {
                0
            } else {
                cursor.next_block(w, b, &mut ptrs)
            };
            let first = b * C::GROUPS_PER_BLOCK;
            let in_block = C::GROUPS_PER_BLOCK.min(groups - first);
            if present == 0 {
                for j in first..first + in_block {
                    // SAFETY: AVX.
                    unsafe { pack.clear(j, v) };
                }
                continue;
            }
            // SAFETY: every pointer addresses a stored block or the zero block (lanes that
            // `present` masks out get scale, min and multiplier 0).
            unsafe {
                let head = tile_head::<C, _>(&ptrs, present);
                for g in 0..in_block {
                    let wt = tile_codes::<C, _>(&ptrs, in_block, g);
                    let (mw, mult) = group_min_mult::<C, _>(&ptrs, present, &head, g);
                    pack.store(first + g, v, &wt, head.sw, mw, mult);
                }
            }
        }
    }
}

/// Groups `j0..j1` of one decoded tile against activation rows `m0..m0 + MB`, continuing their
/// float accumulators `acc` (`MB * TILE_VECS`, n-vector fastest).
///
/// # Safety
/// AVX2, FMA; `j1 <=` the pack's groups; rows `m0..m0 + MB` exist in `xq`.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `a` and `v` index the sums and their inputs
unsafe fn block<C: Codec, const MB: usize>(
    pack: &TilePack,
    xq: &QuantizedActivations,
    m0: usize,
    j0: usize,
    j1: usize,
    acc: &mut [__m256],
) {
    const V: usize = TILE_VECS;
    let groups = xq.groups();
    assert!(
        acc.len() == MB * V && m0 + MB <= xq.m() && j1 <= groups && j1 * 8 * V <= pack.codes.len()
    );
    let chunk = i16_chunk::<C>();
    let ones = _mm256_set1_epi16(1);
    let xc: [*const i8; MB] = std::array::from_fn(|a| xq.codes(m0 + a).as_ptr());
    let xs = ActRows {
        sums: std::array::from_fn(|a| xq.sums(m0 + a).as_ptr()),
        scales: std::array::from_fn(|a| xq.scales(m0 + a).as_ptr()),
    };
    let wp = pack.codes.as_ptr();
    let mut done = [[_mm256_setzero_si256(); V]; MB];
    for j in j0..j1 {
        // SAFETY (all reads below): j < j1 bounds the pack (asserted), and group j of rows
        // m0..m0 + MB lies inside the activations (m0 + MB <= m, j < groups).
        let wg = unsafe { wp.add(j * 8 * V) };
        let mut part = [[_mm256_setzero_si256(); V]; MB];
        let mut isum = [[_mm256_setzero_si256(); V]; MB];
        for t in 0..8 {
            let wv: [__m256i; V] = std::array::from_fn(|v| unsafe { *wg.add(t * V + v) });
            for a in 0..MB {
                let four = unsafe { xc[a].add(j * GROUP + 4 * t).cast::<i32>().read_unaligned() };
                let xb = _mm256_set1_epi32(four);
                for v in 0..V {
                    // As `group_dot`: products in i16 pairs, `chunk` of them added in i16, then
                    // widened to i32 by `vpmaddwd` with ones.
                    let p = _mm256_maddubs_epi16(wv[v], xb);
                    part[a][v] = if t % chunk == 0 {
                        p
                    } else {
                        _mm256_add_epi16(part[a][v], p)
                    };
                    if t % chunk == chunk - 1 {
                        let wide = _mm256_madd_epi16(part[a][v], ones);
                        isum[a][v] = if t == chunk - 1 {
                            wide
                        } else {
                            _mm256_add_epi32(isum[a][v], wide)
                        };
                    }
                }
            }
        }
        // The float step of group j - 1 (its sums are ready when this group's products start, so
        // the two groups' chains overlap).
        if j > j0 {
            // SAFETY: group j - 1 is inside the pack and the activations.
            unsafe { float_steps::<C, MB>(pack, &xs, j - 1, &done, acc) };
        }
        done = isum;
    }
    if j1 > j0 {
        // SAFETY: as above, for group j1 - 1.
        unsafe { float_steps::<C, MB>(pack, &xs, j1 - 1, &done, acc) };
    }
}

/// Where a block's activation rows keep their per-group sums and scales.
struct ActRows<const MB: usize> {
    sums: [*const i32; MB],
    scales: [*const f32; MB],
}

/// The contract's float steps of group `j` for a block's `MB` activation rows: `isum[a][v]` into
/// `acc[a * TILE_VECS + v]`.
///
/// # Safety
/// AVX2, FMA; group `j` is inside `pack` and inside the rows of `x`.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `a` and `v` index the sums and their inputs
unsafe fn float_steps<C: Codec, const MB: usize>(
    pack: &TilePack,
    x: &ActRows<MB>,
    j: usize,
    isum: &[[__m256i; TILE_VECS]; MB],
    acc: &mut [__m256],
) {
    const V: usize = TILE_VECS;
    let at = j * V;
    for a in 0..MB {
        // SAFETY: group j of row a exists.
        let (xsum, sx) = unsafe { (*x.sums[a].add(j), *x.scales[a].add(j)) };
        for v in 0..V {
            let i = a * V + v;
            // SAFETY: register arithmetic; `at + v` indexes the pack.
            acc[i] = unsafe {
                group_float_step::<C>(
                    acc[i],
                    isum[a][v],
                    *pack.scale.get_unchecked(at + v),
                    *pack.min.get_unchecked(at + v),
                    *pack.mult.get_unchecked(at + v),
                    xsum,
                    sx,
                )
            };
        }
    }
}

/// Whether [`int_gemm_rows`] takes `m` activation rows of encoding `C`.
pub(super) const fn takes<C: Codec>(m: usize) -> bool {
    m >= MIN_ACT_ROWS && !signed_dot::<C>()
}

/// Integer-path rows where [`takes`]: same bits as the general loop.
///
/// # Safety
/// AVX2, FMA; `takes::<C>(xq.m())`; `out.len() == xq.m() * rows.len()`, `xq.k() == w.k()`,
/// rows inside `w`.
#[inline(always)]
pub(super) unsafe fn int_gemm_rows<C: Codec>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let n = rows.len();
    let m_count = xq.m();
    let groups = xq.groups();
    let chunk_groups = CHUNK_BYTES / (32 * 8 * TILE_VECS);
    // SAFETY: the caller runs AVX2.
    let mut pack = unsafe { TilePack::new(groups) };
    let mut acc = vec![_mm256_setzero_ps(); m_count * TILE_VECS];
    let tile_rows = TILE_VECS * ROWS;
    for tile in (0..n).step_by(tile_rows) {
        // SAFETY: rows.start + tile < rows.end <= w.rows(); `pack` is sized for `groups`.
        unsafe { repack::<C>(w, rows.start + tile, rows.end, &mut pack) };
        acc.fill(_mm256_setzero_ps());
        for j0 in (0..groups).step_by(chunk_groups) {
            let j1 = groups.min(j0 + chunk_groups);
            for m0 in (0..m_count).step_by(ACT_ROWS) {
                let nb = ACT_ROWS.min(m_count - m0);
                let st = &mut acc[m0 * TILE_VECS..(m0 + nb) * TILE_VECS];
                // SAFETY (every arm): the block's rows m0..m0 + nb exist, j1 <= groups.
                unsafe {
                    if nb == ACT_ROWS {
                        block::<C, ACT_ROWS>(&pack, xq, m0, j0, j1, st);
                    } else {
                        block::<C, 1>(&pack, xq, m0, j0, j1, st);
                    }
                }
            }
        }
        for v in 0..TILE_VECS {
            let col = tile + v * ROWS;
            if col >= n {
                break;
            }
            let nr = ROWS.min(n - col);
            for m in 0..m_count {
                let mut lanes = [0.0f32; ROWS];
                // SAFETY: `lanes` is 8 floats.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[m * TILE_VECS + v]) };
                out[m * n + col..m * n + col + nr].copy_from_slice(&lanes[..nr]);
            }
        }
    }
}

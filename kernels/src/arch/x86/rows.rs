//! Where a tile's rows are: the block addressing shared by the x86 integer kernels (AVX2 8-row
//! tiles, AVX-512 16-row tiles). A tile either keeps one pointer per row (sparse tensors, partial
//! tiles, absent blocks read from a zero block) or, for dense whole tiles, four base pointers and
//! one stride, so every address is a register plus a scaled index.

use crate::codec::Codec;
use crate::WeightView;

/// Where the current blocks of a tile's rows are: `at(r, off)` is byte `off` of row `r`'s.
pub(super) trait TileRows {
    /// # Safety
    /// `off` must lie inside row `r`'s current block (or the zero block standing in for it).
    unsafe fn at(&self, r: usize, off: usize) -> *const u8;
}

/// One pointer per row.
impl<const N: usize> TileRows for [*const u8; N] {
    #[inline(always)]
    unsafe fn at(&self, r: usize, off: usize) -> *const u8 {
        // SAFETY: the caller keeps `off` inside the block.
        unsafe { self[r].add(off) }
    }
}

/// Dense rows at a fixed stride: row `a + 4i` (`a < 4`) is `base[a] + i * stride4`.
pub(super) struct Strided {
    base: [*const u8; 4],
    stride4: usize,
}

impl Strided {
    /// Block `b` of the dense rows from `row0` of `w` (at least 4 of them; the kernels use 8 or
    /// 16). Only a row's last block can be short, so block `b` starts `b` full blocks into every
    /// row.
    ///
    /// # Safety
    /// `w` is dense with every row the tile reads, and `b` is below its blocks per row.
    #[inline(always)]
    pub(super) unsafe fn dense_block<C: Codec>(w: &WeightView, row0: usize, b: usize) -> Strided {
        let off = b * (C::HEADER + C::GROUPS_PER_BLOCK * C::GROUP_BYTES);
        let base = w.bytes().as_ptr();
        Strided {
            // SAFETY: block `b` of each row starts inside `bytes` (the view checked its length).
            base: std::array::from_fn(|a| unsafe { base.add(w.row_start(row0 + a) + off) }),
            stride4: w.row_start(row0 + 4) - w.row_start(row0),
        }
    }
}

impl TileRows for Strided {
    #[inline(always)]
    unsafe fn at(&self, r: usize, off: usize) -> *const u8 {
        // SAFETY: the caller keeps `off` inside the block, which lies inside the tensor.
        unsafe { self.base[r % 4].add((r / 4) * self.stride4 + off) }
    }
}

/// 16 dense rows addressed from two base pointers (rows 0 and 8) and the strides `s`, `3s`, `5s`
/// and `7s`: row `8h + i` is `base[h]` plus `0, s, 2s, 3s, 4s, 5s, 2 * 3s, 7s`, so every read is
/// one x86 addressing mode (base + index * 1, 2 or 4 + displacement), and moving to the next
/// block adds the block bytes to two registers. Sixteen row pointers rebuilt per block did not
/// fit in the registers: AVX-512 gemv spent ~35 of ~190 instructions per q4 group on them.
pub(super) struct Strided16 {
    base: [*const u8; 2],
    s1: usize,
    s3: usize,
    s5: usize,
    s7: usize,
}

impl Strided16 {
    /// Block 0 of the 16 dense rows from `row0` of `w`.
    ///
    /// # Safety
    /// `w` is dense with rows `row0..row0 + 16`.
    #[inline(always)]
    pub(super) unsafe fn dense_rows(w: &WeightView, row0: usize) -> Strided16 {
        let base = w.bytes().as_ptr();
        let s = w.row_start(row0 + 1) - w.row_start(row0);
        Strided16 {
            // SAFETY: rows row0 and row0 + 8 start inside `bytes` (the view checked its length).
            base: unsafe { [base.add(w.row_start(row0)), base.add(w.row_start(row0 + 8))] },
            s1: s,
            s3: 3 * s,
            s5: 5 * s,
            s7: 7 * s,
        }
    }

    /// Moves every row to its next block (`block_bytes` on: only a row's last block is short).
    /// The caller stops at the row's last block.
    #[inline(always)]
    pub(super) fn next_block(&mut self, block_bytes: usize) {
        for b in &mut self.base {
            *b = b.wrapping_add(block_bytes);
        }
    }
}

impl TileRows for Strided16 {
    #[inline(always)]
    unsafe fn at(&self, r: usize, off: usize) -> *const u8 {
        let step = match r % 8 {
            0 => 0,
            1 => self.s1,
            2 => 2 * self.s1,
            3 => self.s3,
            4 => 4 * self.s1,
            5 => self.s5,
            6 => 2 * self.s3,
            _ => self.s7,
        };
        // SAFETY: the caller keeps `off` inside row `r`'s current block, inside the tensor.
        unsafe { self.base[r / 8].add(step + off) }
    }
}

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

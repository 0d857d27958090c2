//! Walking a tile of consecutive weight rows block by block (dense or sparse), shared by every ISA.

use tessera_format::{Encoding, GROUP};

use crate::WeightView;

/// Per-row byte cursors of up to `T` rows, advanced one storage block at a time. For raw encodings
/// a "block" is one group of 32 elements.
pub(crate) struct TileCursor<const T: usize> {
    cursor: [usize; T],
    first_row: usize,
    rows: usize,
    sparse: bool,
    /// Bytes of every block but the last of a row, and of the last one.
    size_full: usize,
    size_last: usize,
    blocks: usize,
}

impl<const T: usize> TileCursor<T> {
    /// Rows `first_row .. first_row + rows` (`rows <= T`), positioned at block 0.
    #[inline]
    pub fn new(w: &WeightView, first_row: usize, rows: usize) -> Self {
        debug_assert!(rows <= T);
        let mut cursor = [0; T];
        for (r, c) in cursor.iter_mut().enumerate().take(rows) {
            *c = w.row_start(first_row + r);
        }
        let blocks = Self::blocks_per_row(w);
        let size_full = Self::block_bytes(w);
        let size_last = match w.encoding() {
            Encoding::Raw(_) => size_full,
            e => e.block_bytes_at(w.k() as u64, blocks.saturating_sub(1) as u64),
        };
        TileCursor {
            cursor,
            first_row,
            rows,
            sparse: w.is_sparse(),
            size_full,
            size_last,
            blocks,
        }
    }

    /// Blocks (or raw groups) per row.
    pub fn blocks_per_row(w: &WeightView) -> usize {
        match w.encoding() {
            Encoding::Raw(_) => w.k().div_ceil(GROUP),
            _ => w.blocks_per_row(),
        }
    }

    /// Bytes of every block of a row but the last (raw: of 32 elements). Block `b` of a dense
    /// row starts `b` times this after the row's start.
    pub fn block_bytes(w: &WeightView) -> usize {
        match w.encoding() {
            Encoding::Raw(t) => GROUP * t.size(),
            e => e.block_bytes(),
        }
    }

    /// Pointers to block `b` of each row (the next block: call with b = 0, 1, 2, ...). Rows whose
    /// block is not stored, and lanes past `rows`, keep their pointer unchanged and have their bit
    /// clear in the returned mask.
    #[inline(always)]
    pub fn next_block(&mut self, w: &WeightView, b: usize, ptrs: &mut [*const u8; T]) -> u32 {
        let size = if b + 1 == self.blocks {
            self.size_last
        } else {
            self.size_full
        };
        let base = w.bytes().as_ptr();
        // The offsets stay inside `bytes` for every stored block: the view checked the total
        // length against the block sizes. (The last raw group may be partial; decoders read only
        // its valid elements.)
        if !self.sparse {
            for (ptr, c) in ptrs.iter_mut().zip(self.cursor.iter_mut()).take(self.rows) {
                *ptr = base.wrapping_add(*c);
                *c += size;
            }
            return ((1u64 << self.rows) - 1) as u32;
        }
        let mut present = 0u32;
        for (r, ptr) in ptrs.iter_mut().enumerate().take(self.rows) {
            if w.is_present(self.first_row + r, b) {
                *ptr = base.wrapping_add(self.cursor[r]);
                self.cursor[r] += size;
                present |= 1 << r;
            }
        }
        present
    }
}

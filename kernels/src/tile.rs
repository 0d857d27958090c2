//! Walking a tile of consecutive weight rows block by block (dense or sparse), shared by every ISA.

use tessera_format::{Encoding, GROUP};

use crate::WeightView;

/// Per-row byte cursors of up to `T` rows, advanced one storage block at a time. For raw encodings
/// a "block" is one group of 32 elements.
pub(crate) struct TileCursor<const T: usize> {
    cursor: [usize; T],
    first_row: usize,
    rows: usize,
}

impl<const T: usize> TileCursor<T> {
    /// Rows `first_row .. first_row + rows` (`rows <= T`), positioned at block 0.
    pub fn new(w: &WeightView, first_row: usize, rows: usize) -> Self {
        debug_assert!(rows <= T);
        let mut cursor = [0; T];
        for (r, c) in cursor.iter_mut().enumerate().take(rows) {
            *c = w.row_start(first_row + r);
        }
        TileCursor {
            cursor,
            first_row,
            rows,
        }
    }

    /// Blocks (or raw groups) per row.
    pub fn blocks_per_row(w: &WeightView) -> usize {
        match w.encoding() {
            Encoding::Raw(_) => w.k().div_ceil(GROUP),
            _ => w.blocks_per_row(),
        }
    }

    /// Pointers to block `b` of each row (the next block: call with b = 0, 1, 2, ...). Rows whose
    /// block is not stored, and lanes past `rows`, keep their pointer unchanged and have their bit
    /// clear in the returned mask.
    pub fn next_block(&mut self, w: &WeightView, b: usize, ptrs: &mut [*const u8; T]) -> u32 {
        let size = match w.encoding() {
            Encoding::Raw(t) => GROUP * t.size(),
            e => e.block_bytes_at(w.k() as u64, b as u64),
        };
        let base = w.bytes().as_ptr();
        let mut present = 0u32;
        for (r, ptr) in ptrs.iter_mut().enumerate().take(self.rows) {
            if w.is_present(self.first_row + r, b) {
                // The offset stays inside `bytes` for every stored block: the view checked the
                // total length against the block sizes. (For the last raw group it may point at a
                // partial group; decoders read only the valid elements.)
                *ptr = base.wrapping_add(self.cursor[r]);
                self.cursor[r] += size;
                present |= 1 << r;
            }
        }
        present
    }
}

//! Where each storage block of a weight tensor lives, for dense and sparse storage, with every
//! length checked before anything is read.

use tessera_format::{Encoding, GROUP};

use crate::{RefError, Weights};

/// Bytes of the sparse bitmap for `blocks` storage blocks: whole little-endian u64 words.
pub fn bitmap_bytes(blocks: u64) -> u64 {
    blocks.div_ceil(64) * 8
}

/// Bit `i` of a sparse bitmap (LSB-first in little-endian u64 words, i.e. bit `i % 8` of byte
/// `i / 8`).
pub fn bit(bitmap: &[u8], i: u64) -> bool {
    bitmap[(i / 8) as usize] >> (i % 8) & 1 == 1
}

/// The blocks of a tensor: `rows * per_row` entries, `None` for a block omitted by sparse storage.
pub struct Blocks<'a> {
    pub encoding: Encoding,
    pub k: usize,
    pub per_row: usize,
    slices: Vec<Option<&'a [u8]>>,
}

/// Dense bytes of one row, checked for overflow.
pub fn checked_row_bytes(e: Encoding, rows: usize, k: usize) -> Result<(u64, u64), RefError> {
    if !e.is_defined() {
        return Err(RefError::UnknownEncoding { encoding: e });
    }
    let overflow = RefError::ShapeOverflow {
        encoding: e,
        rows,
        k,
    };
    let row = e.row_bytes(k as u64).ok_or(overflow.clone())?;
    let total = row.checked_mul(rows as u64).ok_or(overflow)?;
    Ok((row, total))
}

impl<'a> Blocks<'a> {
    /// Checks the byte length against the shape and locates every block.
    pub fn parse(w: &Weights<'a>) -> Result<Self, RefError> {
        let e = w.encoding;
        if !e.is_blocked() {
            // Raw tensors are handled element-wise; this view is for block encodings only.
            return Err(RefError::NotBlocked { encoding: e });
        }
        let (_, dense_total) = checked_row_bytes(e, w.rows, w.k)?;
        let per_row = e.blocks_per_row(w.k as u64);
        let overflow = RefError::ShapeOverflow {
            encoding: e,
            rows: w.rows,
            k: w.k,
        };
        let nblocks = per_row.checked_mul(w.rows as u64).ok_or(overflow.clone())?;
        let size_at = |i: u64| e.block_bytes_at(w.k as u64, i % per_row.max(1));
        let bad_len = |expected: u64| RefError::ByteLength {
            encoding: e,
            rows: w.rows,
            k: w.k,
            expected,
            got: w.bytes.len(),
        };
        if !w.sparse {
            if dense_total != w.bytes.len() as u64 {
                return Err(bad_len(dense_total));
            }
            // nblocks <= bytes.len() here, so this allocation is bounded by the input.
            let mut slices = Vec::with_capacity(nblocks as usize);
            let mut at = 0usize;
            for i in 0..nblocks {
                let n = size_at(i);
                slices.push(Some(&w.bytes[at..at + n]));
                at += n;
            }
            return Ok(Blocks {
                encoding: e,
                k: w.k,
                per_row: per_row as usize,
                slices,
            });
        }
        let map_len = bitmap_bytes(nblocks);
        if map_len > w.bytes.len() as u64 {
            return Err(bad_len(map_len));
        }
        let (bitmap, data) = w.bytes.split_at(map_len as usize);
        // Padding bits past the last block must be clear.
        for b in nblocks..map_len * 8 {
            if bit(bitmap, b) {
                return Err(RefError::BitmapPadding {
                    bit: b,
                    blocks: nblocks,
                });
            }
        }
        let mut need = map_len;
        for i in 0..nblocks {
            if bit(bitmap, i) {
                need += size_at(i) as u64;
            }
        }
        if need != w.bytes.len() as u64 {
            return Err(bad_len(need));
        }
        // nblocks <= 8 * bitmap bytes <= 8 * input length.
        let mut slices = Vec::with_capacity(nblocks as usize);
        let mut at = 0usize;
        for i in 0..nblocks {
            if bit(bitmap, i) {
                let n = size_at(i);
                slices.push(Some(&data[at..at + n]));
                at += n;
            } else {
                slices.push(None);
            }
        }
        Ok(Blocks {
            encoding: e,
            k: w.k,
            per_row: per_row as usize,
            slices,
        })
    }

    /// The blocks of row `r`.
    pub fn row(&self, r: usize) -> &[Option<&'a [u8]>] {
        &self.slices[r * self.per_row..(r + 1) * self.per_row]
    }

    /// Every block, row by row.
    pub fn all(&self) -> &[Option<&'a [u8]>] {
        &self.slices
    }

    /// Groups of 32 in a row (padding groups of an affine row's last block excluded).
    pub fn groups_per_row(&self) -> usize {
        self.k.div_ceil(GROUP)
    }

    /// Groups per full storage block.
    pub fn groups_per_block(&self) -> usize {
        self.encoding.block_elems() / GROUP
    }
}

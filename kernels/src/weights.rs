//! A checked, zero-copy view of one weight tensor's bytes (dense or sparse), and where its blocks are.

use std::borrow::Cow;

use tessera_format::Encoding;

use crate::KernelError;

/// A weight matrix of `rows x k` in `encoding`, viewing bytes the caller owns (typically straight
/// from the mmap'd `.tsr` file). Built once with [`WeightView::new`] / [`WeightView::new_sparse`],
/// which check every length; kernels then trust it.
///
/// ```
/// use tessera_format::Encoding;
/// use tessera_kernels::WeightView;
/// let q8 = Encoding::IntSym { bits: 8 };
/// let bytes = vec![0u8; 2 * q8.block_bytes()]; // 2 rows of 32
/// let w = WeightView::new(q8, 2, 32, &bytes).unwrap();
/// assert_eq!(w.rows(), 2);
/// assert!(WeightView::new(q8, 3, 32, &bytes).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct WeightView<'a> {
    name: String,
    encoding: Encoding,
    rows: usize,
    k: usize,
    bytes: &'a [u8],
    /// Dense: the row stride in bytes. Sparse: unused.
    row_bytes: usize,
    /// Sparse only: the bitmap (bit per storage block) and the byte offset, inside `bytes`, of each
    /// row's first present block (`rows + 1` entries).
    sparse: Option<SparseIndex<'a>>,
}

#[derive(Clone, Debug)]
struct SparseIndex<'a> {
    bitmap: &'a [u8],
    row_start: Vec<usize>,
}

impl<'a> WeightView<'a> {
    /// A dense tensor: `rows` rows of `k` elements, `bytes` exactly as long as the shape implies.
    pub fn new(
        encoding: Encoding,
        rows: usize,
        k: usize,
        bytes: &'a [u8],
    ) -> Result<Self, KernelError> {
        let name = String::from("weights");
        if !encoding.is_defined() {
            return Err(KernelError::UnknownEncoding {
                tensor: name,
                encoding,
            });
        }
        if k == 0 {
            // No bytes would bound `rows`; the format forbids zero dims anyway.
            return Err(KernelError::EmptyRows { tensor: name });
        }
        let overflow = || KernelError::ShapeOverflow {
            tensor: name.clone(),
            encoding,
            rows,
            k,
        };
        let row_bytes = encoding.row_bytes(k as u64).ok_or_else(overflow)?;
        let expected = row_bytes.checked_mul(rows as u64).ok_or_else(overflow)?;
        if expected != bytes.len() as u64 {
            return Err(KernelError::ByteLength {
                tensor: name.clone(),
                encoding,
                rows,
                k,
                expected,
                got: bytes.len(),
            });
        }
        Ok(WeightView {
            name,
            encoding,
            rows,
            k,
            bytes,
            row_bytes: row_bytes as usize,
            sparse: None,
        })
    }

    /// A sparse tensor: a bitmap with one bit per storage block (LSB-first u64 words), then the
    /// present blocks in order (SPEC.md, "Sparse storage").
    pub fn new_sparse(
        encoding: Encoding,
        rows: usize,
        k: usize,
        bytes: &'a [u8],
    ) -> Result<Self, KernelError> {
        let name = String::from("weights");
        if !encoding.is_defined() {
            return Err(KernelError::UnknownEncoding {
                tensor: name,
                encoding,
            });
        }
        if k == 0 {
            // No bitmap bits would bound `rows`; the format forbids zero dims anyway.
            return Err(KernelError::EmptyRows { tensor: name });
        }
        if !encoding.is_blocked() {
            return Err(KernelError::NotBlocked {
                tensor: name,
                encoding,
            });
        }
        let overflow = || KernelError::ShapeOverflow {
            tensor: name.clone(),
            encoding,
            rows,
            k,
        };
        encoding.row_bytes(k as u64).ok_or_else(overflow)?;
        let per_row = encoding.blocks_per_row(k as u64);
        let blocks = per_row.checked_mul(rows as u64).ok_or_else(overflow)?;
        let bitmap_len = blocks.div_ceil(64).checked_mul(8).ok_or_else(overflow)?;
        let too_short = |expected: u64| KernelError::ByteLength {
            tensor: name.clone(),
            encoding,
            rows,
            k,
            expected,
            got: bytes.len(),
        };
        if bitmap_len > bytes.len() as u64 {
            return Err(too_short(bitmap_len));
        }
        let (bitmap, _) = bytes.split_at(bitmap_len as usize);
        // Bits past the last block must be clear.
        for bit in blocks..bitmap_len * 8 {
            if bitmap[(bit / 8) as usize] >> (bit % 8) & 1 == 1 {
                return Err(KernelError::BitmapPadding {
                    tensor: name.clone(),
                    bit,
                    byte_offset: bit / 8,
                    blocks,
                });
            }
        }
        // rows <= 8 * bitmap bytes here (unless a row has no blocks), so this allocation is bounded
        // by the caller's buffer.
        let per_row = per_row as usize;
        let mut row_start = Vec::with_capacity(if per_row == 0 { 1 } else { rows + 1 });
        let mut at = bitmap_len;
        if per_row > 0 {
            for r in 0..rows {
                row_start.push(at as usize);
                for b in 0..per_row {
                    let bit = r * per_row + b;
                    if bitmap[bit / 8] >> (bit % 8) & 1 == 1 {
                        at += encoding.block_bytes_at(k as u64, b as u64) as u64;
                    }
                }
            }
        }
        row_start.push(at as usize);
        if at != bytes.len() as u64 {
            return Err(too_short(at));
        }
        if per_row == 0 {
            row_start = vec![at as usize; rows + 1];
        }
        Ok(WeightView {
            name,
            encoding,
            rows,
            k,
            bytes,
            row_bytes: 0,
            sparse: Some(SparseIndex { bitmap, row_start }),
        })
    }

    /// Names the tensor in error messages.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn is_sparse(&self) -> bool {
        self.sparse.is_some()
    }

    /// Storage blocks per row.
    pub(crate) fn blocks_per_row(&self) -> usize {
        self.encoding.blocks_per_row(self.k as u64) as usize
    }

    /// Byte offset (in `bytes`) of row `r`'s first block (its first present block if sparse).
    #[inline]
    pub(crate) fn row_start(&self, r: usize) -> usize {
        match &self.sparse {
            None => r * self.row_bytes,
            Some(s) => s.row_start[r],
        }
    }

    /// True if block `b` of row `r` is stored (always, for dense tensors).
    #[inline]
    pub(crate) fn is_present(&self, r: usize, b: usize) -> bool {
        match &self.sparse {
            None => true,
            Some(s) => {
                let bit = r * self.blocks_per_row() + b;
                s.bitmap[bit / 8] >> (bit % 8) & 1 == 1
            }
        }
    }

    /// The tensor as the reference sees it, restricted to `rows` (copies only for sparse tensors).
    pub(crate) fn reference_rows(&self, rows: std::ops::Range<usize>) -> (Cow<'a, [u8]>, bool) {
        match &self.sparse {
            None => {
                let bytes = &self.bytes[rows.start * self.row_bytes..rows.end * self.row_bytes];
                (Cow::Borrowed(bytes), false)
            }
            Some(s) => {
                let per_row = self.blocks_per_row();
                let nblocks = rows.len() * per_row;
                let mut out = vec![0u8; nblocks.div_ceil(64) * 8];
                for (i, r) in rows.clone().enumerate() {
                    for b in 0..per_row {
                        if self.is_present(r, b) {
                            let bit = i * per_row + b;
                            out[bit / 8] |= 1 << (bit % 8);
                        }
                    }
                }
                out.extend_from_slice(&self.bytes[s.row_start[rows.start]..s.row_start[rows.end]]);
                (Cow::Owned(out), true)
            }
        }
    }
}

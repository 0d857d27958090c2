//! Tensor directory entries, the shape and length rules both the reader and the writer apply, and
//! zero-copy views of a tensor's bytes.

use crate::error::{FormatError, Result};
use crate::layout::{MAX_RANK, TENSOR_FLAG_SPARSE};
use crate::meta::encode_str;
use crate::{Encoding, RawType};

/// One entry of the tensor directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// Outermost dimension first; the last dimension is the row length.
    pub shape: Vec<u64>,
    pub encoding: Encoding,
    /// Stored as a block bitmap followed by the present blocks.
    pub sparse: bool,
    /// Absolute file offset of the tensor's first byte.
    pub offset: u64,
    /// Bytes stored (bitmap included for sparse tensors).
    pub length: u64,
    /// XXH3-64 (seed 0) of the stored bytes.
    pub xxh3: u64,
}

impl TensorInfo {
    /// Rows: the product of every dimension but the last (1 for a rank-1 tensor).
    pub fn rows(&self) -> u64 {
        self.shape.iter().rev().skip(1).product()
    }

    /// Elements per row: the last dimension.
    pub fn row_len(&self) -> u64 {
        self.shape.last().copied().unwrap_or(0)
    }

    /// Storage blocks in the whole tensor (elements, for raw encodings).
    pub fn block_count(&self) -> u64 {
        self.rows() * self.encoding.blocks_per_row(self.row_len())
    }

    /// Bytes of the sparse bitmap (0 for dense tensors).
    pub fn bitmap_len(&self) -> u64 {
        if self.sparse {
            self.block_count().div_ceil(64) * 8
        } else {
            0
        }
    }

    pub(crate) fn flags(&self) -> u32 {
        if self.sparse {
            TENSOR_FLAG_SPARSE
        } else {
            0
        }
    }

    /// Appends the directory entry (SPEC.md, "Tensor entries").
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        encode_str(&self.name, out);
        out.extend_from_slice(&(self.shape.len() as u32).to_le_bytes());
        for d in &self.shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&self.encoding.id().to_le_bytes());
        out.extend_from_slice(&self.flags().to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.length.to_le_bytes());
        out.extend_from_slice(&self.xxh3.to_le_bytes());
    }
}

/// What a valid shape implies about storage. Computed with checked arithmetic, so every field of
/// a `Geometry` fits in `u64`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub dense_len: u64,
    pub block_count: u64,
    pub bitmap_len: u64,
}

/// Checks rank, dimensions and overflow; `offset` is the entry's offset, for errors.
pub(crate) fn geometry(
    tensor: &str,
    offset: u64,
    shape: &[u64],
    encoding: Encoding,
) -> Result<Geometry> {
    let rank = shape.len() as u64;
    if rank == 0 || rank > MAX_RANK {
        return Err(FormatError::BadRank {
            tensor: tensor.to_owned(),
            offset,
            rank,
            max: MAX_RANK,
        });
    }
    if let Some(axis) = shape.iter().position(|&d| d == 0) {
        return Err(FormatError::ZeroDim {
            tensor: tensor.to_owned(),
            offset,
            axis,
        });
    }
    let overflow = || FormatError::ShapeOverflow {
        tensor: tensor.to_owned(),
        offset,
        shape: shape.to_vec(),
    };
    // The element count must fit u64 even where the byte count would (e.g. 1-bit-like packings).
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)?;
    let dense_len = encoding.tensor_bytes(shape).ok_or_else(overflow)?;
    let (&k, outer) = shape.split_last().ok_or_else(overflow)?;
    let rows: u64 = outer.iter().product(); // divides the element count: no overflow
    let block_count = rows
        .checked_mul(encoding.blocks_per_row(k))
        .ok_or_else(overflow)?;
    let bitmap_len = block_count
        .div_ceil(64)
        .checked_mul(8)
        .ok_or_else(overflow)?;
    Ok(Geometry {
        dense_len,
        block_count,
        bitmap_len,
    })
}

/// Bytes a sparse tensor must have, given its bitmap (exactly `geometry.bitmap_len` bytes):
/// the bitmap plus every present block. Fails if bits past the last block are set.
pub(crate) fn sparse_len(
    shape: &[u64],
    encoding: Encoding,
    g: &Geometry,
    bitmap: &[u8],
) -> std::result::Result<u64, &'static str> {
    debug_assert_eq!(bitmap.len() as u64, g.bitmap_len);
    // Bits past block_count must be zero.
    let first_byte = (g.block_count / 8) as usize;
    let bit = (g.block_count % 8) as u32;
    if first_byte < bitmap.len() {
        let tail_mask = !((1u16 << bit) - 1) as u8;
        if bitmap[first_byte] & tail_mask != 0 || bitmap[first_byte + 1..].iter().any(|&b| b != 0) {
            return Err("has bits set past the last block");
        }
    }
    let present: u64 = bitmap.iter().map(|b| u64::from(b.count_ones())).sum();
    let full = encoding.block_bytes() as u64;
    let mut len = present
        .checked_mul(full)
        .ok_or("present blocks overflow u64")?;
    // Only super-block rows have a short last block; subtract what each present one lacks.
    let (&k, _) = shape.split_last().ok_or("empty shape")?;
    let per_row = encoding.blocks_per_row(k);
    let last = per_row - 1;
    let short = encoding.block_bytes_at(k, last) as u64;
    if short != full {
        let rows = g.block_count / per_row;
        for r in 0..rows {
            if bit_is_set(bitmap, r * per_row + last) {
                len -= full - short;
            }
        }
    }
    len.checked_add(g.bitmap_len)
        .ok_or("total length overflows u64")
}

fn bit_is_set(bitmap: &[u8], index: u64) -> bool {
    // LSB-first little-endian u64 words are LSB-first bytes.
    bitmap
        .get((index / 8) as usize)
        .is_some_and(|b| b >> (index % 8) & 1 == 1)
}

/// A tensor's directory entry and its stored bytes, borrowed from the file.
#[derive(Clone, Copy)]
pub struct TensorView<'a> {
    pub info: &'a TensorInfo,
    /// Exactly `info.length` bytes at `info.offset`.
    pub bytes: &'a [u8],
}

// Not derived: that would print every byte of the tensor.
impl std::fmt::Debug for TensorView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorView")
            .field("info", self.info)
            .field("bytes", &format_args!("[{} bytes]", self.bytes.len()))
            .finish()
    }
}

impl<'a> TensorView<'a> {
    pub fn name(&self) -> &'a str {
        &self.info.name
    }

    /// The block bitmap of a sparse tensor (LSB-first u64 words), `None` for dense tensors.
    pub fn sparse_bitmap(&self) -> Option<&'a [u8]> {
        self.info
            .sparse
            .then(|| &self.bytes[..self.info.bitmap_len() as usize])
    }

    /// The stored blocks: all bytes of a dense tensor, the present blocks of a sparse one.
    pub fn block_bytes(&self) -> &'a [u8] {
        &self.bytes[self.info.bitmap_len() as usize..]
    }

    /// Whether storage block `index` (row-major over the whole tensor) is stored. Always true
    /// for dense tensors; false past the last block.
    pub fn is_block_present(&self, index: u64) -> bool {
        if index >= self.info.block_count() {
            return false;
        }
        match self.sparse_bitmap() {
            Some(bitmap) => bit_is_set(bitmap, index),
            None => true,
        }
    }

    /// The bytes as `&[f32]`; the tensor must be dense raw f32.
    pub fn as_f32(&self) -> Result<&'a [f32]> {
        self.typed(RawType::F32, "f32")
    }

    /// The bytes as `&[half::f16]`; the tensor must be dense raw f16.
    pub fn as_f16(&self) -> Result<&'a [half::f16]> {
        self.typed(RawType::F16, "f16")
    }

    /// The bytes as `&[half::bf16]`; the tensor must be dense raw bf16.
    pub fn as_bf16(&self) -> Result<&'a [half::bf16]> {
        self.typed(RawType::BF16, "bf16")
    }

    fn typed<T: bytemuck::Pod>(&self, raw: RawType, requested: &'static str) -> Result<&'a [T]> {
        if self.info.encoding != Encoding::Raw(raw) || self.info.sparse {
            return Err(FormatError::WrongViewType {
                tensor: self.info.name.clone(),
                encoding: self.info.encoding,
                sparse: self.info.sparse,
                requested,
            });
        }
        bytemuck::try_cast_slice(self.bytes).map_err(|_| FormatError::UnalignedView {
            tensor: self.info.name.clone(),
            requested,
        })
    }
}

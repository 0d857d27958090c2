//! Sparse storage: a bitmap of present blocks followed by those blocks (SPEC.md,
//! "Sparse storage").

use tessera_format::Encoding;

use crate::layout::{bitmap_bytes, Blocks};
use crate::{block, RefError, Weights};

/// Dense bytes to sparse form, omitting every zero block ([`crate::block::is_zero`]).
pub fn sparsify(
    encoding: Encoding,
    rows: usize,
    k: usize,
    dense: &[u8],
) -> Result<Vec<u8>, RefError> {
    let w = Weights {
        encoding,
        rows,
        k,
        bytes: dense,
        sparse: false,
    };
    let blocks = Blocks::parse(&w)?;
    let all = blocks.all();
    let mut out = vec![0u8; bitmap_bytes(all.len() as u64) as usize];
    for (i, b) in all.iter().enumerate() {
        let b = b.expect("dense storage has every block");
        if !block::is_zero(encoding, b) {
            out[i / 8] |= 1 << (i % 8);
            out.extend_from_slice(b);
        }
    }
    Ok(out)
}

/// Sparse bytes to dense form: omitted blocks become the encoding's canonical zero block (what
/// the quantizer writes for an all-zero group), which decodes to +0.0 everywhere.
pub fn densify(
    encoding: Encoding,
    rows: usize,
    k: usize,
    sparse: &[u8],
) -> Result<Vec<u8>, RefError> {
    let w = Weights {
        encoding,
        rows,
        k,
        bytes: sparse,
        sparse: true,
    };
    let blocks = Blocks::parse(&w)?;
    let mut out = Vec::new();
    for (i, b) in blocks.all().iter().enumerate() {
        match b {
            Some(bytes) => out.extend_from_slice(bytes),
            None => {
                let index = (i % blocks.per_row) as u64;
                out.extend_from_slice(&zero_block(
                    encoding,
                    encoding.block_bytes_at(k as u64, index),
                ))
            }
        }
    }
    Ok(out)
}

/// The canonical zero block of `len` bytes: the quantizer's output for zeros.
pub fn zero_block(e: Encoding, len: usize) -> Vec<u8> {
    let elems = block::groups_in(e, len) * tessera_format::GROUP;
    let mut out = vec![0u8; len];
    block::encode(e, &vec![0.0; elems], &vec![1.0; elems], &mut out);
    out
}

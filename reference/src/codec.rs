//! Whole tensors: quantize values row by row into dense bytes, decode bytes back to f32.

use rayon::prelude::*;
use tessera_format::{Encoding, GROUP};

use crate::fast::{self, Effort};
use crate::layout::{checked_row_bytes, Blocks};
use crate::{block, raw, RefError, Weights};

/// Decodes row `r` into `out` (`k` values). Elements of omitted blocks are +0.0 and marked absent
/// in `present` when given.
pub fn decode_row(blocks: &Blocks, r: usize, out: &mut [f32], mut present: Option<&mut [bool]>) {
    let e = blocks.encoding;
    let k = blocks.k;
    let mut tmp = vec![0.0f32; e.block_elems()];
    for (b, slot) in blocks.row(r).iter().enumerate() {
        let start = b * e.block_elems();
        let len = e.block_bytes_at(k as u64, b as u64);
        let n = (block::groups_in(e, len) * GROUP).min(k - start);
        match slot {
            Some(bytes) => {
                block::decode(e, bytes, &mut tmp[..block::groups_in(e, len) * GROUP]);
                out[start..start + n].copy_from_slice(&tmp[..n]);
            }
            None => out[start..start + n].fill(0.0),
        }
        if let Some(p) = present.as_deref_mut() {
            p[start..start + n].fill(slot.is_some());
        }
    }
}

/// `rows * k` values of any tensor, row-major.
pub fn dequantize(w: &Weights) -> Result<Vec<f32>, RefError> {
    let e = w.encoding;
    let (_, total) = checked_row_bytes(e, w.rows, w.k)?;
    if let Encoding::Raw(t) = e {
        if w.sparse {
            return Err(RefError::NotBlocked { encoding: e });
        }
        if total != w.bytes.len() as u64 {
            return Err(RefError::ByteLength {
                encoding: e,
                rows: w.rows,
                k: w.k,
                expected: total,
                got: w.bytes.len(),
            });
        }
        let mut out = vec![0.0f32; w.bytes.len() / t.size()];
        raw::decode(t, w.bytes, &mut out);
        return Ok(out);
    }
    let blocks = Blocks::parse(w)?;
    // The length was checked against the shape: dense, every 256 elements take >= 9 bytes; sparse,
    // every block (<= 256 elements) takes at least a bitmap bit. So rows * k <= 2048 * length.
    let mut out = vec![0.0f32; w.rows * w.k];
    if w.k > 0 {
        out.par_chunks_mut(w.k)
            .enumerate()
            .for_each(|(r, row)| decode_row(&blocks, r, row, None));
    }
    Ok(out)
}

fn check_values(
    what: &'static str,
    rows: usize,
    k: usize,
    got: usize,
    e: Encoding,
) -> Result<(), RefError> {
    let expected = rows.checked_mul(k).ok_or(RefError::ShapeOverflow {
        encoding: e,
        rows,
        k,
    })?;
    if got != expected {
        return Err(RefError::ValueCount {
            what,
            expected,
            got,
        });
    }
    Ok(())
}

/// Quantizes `rows x k` values (row-major) into dense bytes, minimizing the importance-weighted
/// squared error of each block. Rows are independent, so running them in parallel gives the same
/// bytes for any thread count.
pub fn quantize_weighted(
    e: Encoding,
    rows: usize,
    k: usize,
    values: &[f32],
    importance: Option<&[f32]>,
) -> Result<Vec<u8>, RefError> {
    quantize_with(e, rows, k, values, importance, Effort::Best)
}

/// [`quantize_weighted`] at a chosen [`Effort`]: `Best` is `quantize_weighted` itself; `Fast`
/// uses [`crate::fast`] where it has a search for `e` and `Best` elsewhere. Either way rows are
/// independent, so the bytes are the same for any thread count.
pub fn quantize_with(
    e: Encoding,
    rows: usize,
    k: usize,
    values: &[f32],
    importance: Option<&[f32]>,
    effort: Effort,
) -> Result<Vec<u8>, RefError> {
    check_values("values", rows, k, values.len(), e)?;
    let (row_bytes, total) = checked_row_bytes(e, rows, k)?;
    if let Encoding::Raw(t) = e {
        return raw::encode(t, values).ok_or(RefError::UnsupportedTarget { encoding: e });
    }
    if let Some(imp) = importance {
        check_values("importance", rows, k, imp.len(), e)?;
        if let Some((index, &value)) = imp
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
        {
            return Err(RefError::BadImportance { index, value });
        }
    }
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(RefError::NonFinite {
            encoding: e,
            index,
            value,
        });
    }
    let mut out = vec![0u8; total as usize];
    let fast = effort == Effort::Fast && fast::has_fast_search(e);
    if k == 0 || rows == 0 {
        return Ok(out);
    }
    out.par_chunks_mut(row_bytes as usize)
        .enumerate()
        .for_each(|(r, dst)| {
            let x = &values[r * k..(r + 1) * k];
            let imp = importance.map(|i| &i[r * k..(r + 1) * k]);
            if fast {
                fast::quantize_row(e, x, imp, dst);
            } else {
                quantize_row(e, x, imp, dst);
            }
        });
    Ok(out)
}

/// One row into `dst` (its dense bytes). Padding elements are zeros of importance 0.
fn quantize_row(e: Encoding, x: &[f32], imp: Option<&[f32]>, dst: &mut [u8]) {
    let k = x.len();
    let mut at = 0usize;
    for b in 0..e.blocks_per_row(k as u64) as usize {
        let len = e.block_bytes_at(k as u64, b as u64);
        let elems = block::groups_in(e, len) * GROUP;
        let start = b * e.block_elems();
        let n = elems.min(k - start);
        let mut xs = vec![0.0f32; elems];
        let mut ws = vec![0.0f32; elems];
        xs[..n].copy_from_slice(&x[start..start + n]);
        match imp {
            Some(i) => ws[..n].copy_from_slice(&i[start..start + n]),
            None => ws[..n].fill(1.0),
        }
        // All-zero importance would make every fit equally good; fall back to uniform weights.
        if ws.iter().all(|&v| v == 0.0) {
            ws[..n].fill(1.0);
        }
        block::encode(e, &xs, &ws, &mut dst[at..at + len]);
        at += len;
    }
}

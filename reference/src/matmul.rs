//! The arithmetic contract (SPEC.md, "Arithmetic contract"), written literally.
//!
//! Every output `Y[m][n]` is computed on its own from row `n` of W and row `m` of X, so results do
//! not depend on how outputs are split across threads or tiles.

use rayon::prelude::*;
use tessera_format::{Encoding, Path, GROUP};

use crate::activations::{quantize_activations, QuantizedActivations};
use crate::block::{self, IntGroup};
use crate::codec::decode_row;
use crate::layout::Blocks;
use crate::{RefError, Weights};

/// Lanes of the float path's accumulators: element `k` goes to lane `k mod 16`.
pub const LANES: usize = 16;

/// `Y = X W^T` on `path`; X is `m x k` row-major, Y is `m x rows` row-major.
pub fn matmul(w: &Weights, x: &[f32], m: usize, path: Path) -> Result<Vec<f32>, RefError> {
    if w.k == 0 {
        // With k = 0 nothing in `x` bounds `m`, which sizes the output.
        return Err(RefError::EmptyRows {
            encoding: w.encoding,
        });
    }
    let expected = m.checked_mul(w.k).ok_or(RefError::ShapeOverflow {
        encoding: w.encoding,
        rows: m,
        k: w.k,
    })?;
    if x.len() != expected {
        return Err(RefError::ValueCount {
            what: "activations",
            expected,
            got: x.len(),
        });
    }
    match path {
        Path::Integer => {
            let xq: Vec<QuantizedActivations> = x.chunks(w.k).map(quantize_activations).collect();
            matmul_quantized(w, &xq)
        }
        Path::Float => matmul_float(w, x, m),
    }
}

/// The integer path from pre-quantized rows of X (one per output row).
pub fn matmul_quantized(w: &Weights, xq: &[QuantizedActivations]) -> Result<Vec<f32>, RefError> {
    if w.k == 0 {
        return Err(RefError::EmptyRows {
            encoding: w.encoding,
        });
    }
    if w.encoding.path() != Path::Integer {
        return Err(RefError::NoIntegerPath {
            encoding: w.encoding,
        });
    }
    for (row, a) in xq.iter().enumerate() {
        let groups = a.k.div_ceil(GROUP);
        if a.k != w.k
            || a.q.len() != groups * GROUP
            || a.scale.len() != groups
            || a.sum.len() != groups
        {
            return Err(RefError::ActivationWidth {
                row,
                expected: w.k,
                got: a.k,
            });
        }
    }
    let out_len = output_len(w, xq.len())?;
    let blocks = Blocks::parse(w)?;
    let groups = int_groups(&blocks, w.rows);
    let per_row = blocks.groups_per_row();
    let mut y = vec![0.0f32; out_len];
    if w.rows == 0 {
        return Ok(y);
    }
    y.par_chunks_mut(w.rows).zip(xq).for_each(|(out, a)| {
        for (n, o) in out.iter_mut().enumerate() {
            *o = integer_dot(&groups[n * per_row..(n + 1) * per_row], a);
        }
    });
    Ok(y)
}

/// Every row's groups in order; `None` for groups of omitted sparse blocks.
fn int_groups(blocks: &Blocks, rows: usize) -> Vec<Option<IntGroup>> {
    let per_block = blocks.groups_per_block();
    let per_row = blocks.groups_per_row();
    if per_row == 0 {
        return Vec::new(); // k = 0: nothing to walk, however many rows
    }
    let mut out = Vec::with_capacity(rows * per_row);
    for r in 0..rows {
        for j in 0..per_row {
            let slot = blocks.row(r)[j / per_block];
            out.push(slot.and_then(|b| block::int_group(blocks.encoding, b, j % per_block)));
        }
    }
    out
}

/// `m * rows`, checked (with `k = 0` neither factor is bounded by any input length).
fn output_len(w: &Weights, m: usize) -> Result<usize, RefError> {
    m.checked_mul(w.rows).ok_or(RefError::ShapeOverflow {
        encoding: w.encoding,
        rows: w.rows,
        k: w.k,
    })
}

/// One output of the integer path: groups in increasing order into one f32 accumulator.
pub fn integer_dot(groups: &[Option<IntGroup>], a: &QuantizedActivations) -> f32 {
    if a.non_finite {
        return f32::NAN;
    }
    let mut acc = 0.0f32;
    for (j, g) in groups.iter().enumerate() {
        let Some(g) = g else { continue };
        let xq = &a.q[j * GROUP..(j + 1) * GROUP];
        let dot: i32 = g.q.iter().zip(xq).map(|(&q, &x)| q * x as i32).sum();
        let isum = g.sub_scale * dot;
        let sx = a.scale[j];
        acc = (g.scale * sx).mul_add(isum as f32, acc);
        if let Some(min) = g.min {
            acc = (min * sx).mul_add(a.sum[j] as f32, acc);
        }
    }
    acc
}

/// The float path: weights decoded to f32, 16 lane accumulators, a fixed reduction tree.
fn matmul_float(w: &Weights, x: &[f32], m: usize) -> Result<Vec<f32>, RefError> {
    let k = w.k;
    let out_len = output_len(w, m)?;
    // Decode W once: values plus which elements are present (omitted sparse blocks are skipped).
    let (values, present) = match w.encoding {
        Encoding::Raw(_) => {
            let values = crate::dequantize(w)?;
            let present = vec![true; values.len()];
            (values, present)
        }
        _ => {
            let blocks = Blocks::parse(w)?;
            let mut values = vec![0.0f32; w.rows * k];
            let mut present = vec![false; w.rows * k];
            if k > 0 {
                values
                    .par_chunks_mut(k)
                    .zip(present.par_chunks_mut(k))
                    .enumerate()
                    .for_each(|(r, (v, p))| decode_row(&blocks, r, v, Some(p)));
            }
            (values, present)
        }
    };
    let mut y = vec![0.0f32; out_len];
    if w.rows == 0 {
        return Ok(y);
    }
    y.par_chunks_mut(w.rows).enumerate().for_each(|(i, out)| {
        let xr = &x[i * k..(i + 1) * k];
        let non_finite = xr.iter().any(|v| !v.is_finite());
        for (n, o) in out.iter_mut().enumerate() {
            let wr = &values[n * k..(n + 1) * k];
            let pr = &present[n * k..(n + 1) * k];
            *o = if non_finite {
                f32::NAN
            } else {
                float_dot(wr, pr, xr)
            };
        }
    });
    Ok(y)
}

/// One output of the float path: `a[k mod 16] = fma(w[k], x[k], a[k mod 16])` for k in order,
/// skipping absent elements, then `a[l] += a[l + h]` for h = 8, 4, 2, 1; the result is `a[0]`.
pub fn float_dot(w: &[f32], present: &[bool], x: &[f32]) -> f32 {
    let mut a = [0.0f32; LANES];
    for k in 0..w.len() {
        if present[k] {
            a[k % LANES] = w[k].mul_add(x[k], a[k % LANES]);
        }
    }
    let mut h = LANES / 2;
    while h > 0 {
        for l in 0..h {
            a[l] += a[l + h];
        }
        h /= 2;
    }
    a[0]
}

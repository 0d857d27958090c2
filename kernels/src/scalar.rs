//! The scalar tier: the reference itself, called on the requested row range.

use std::ops::Range;

use tessera_format::Path;
use tessera_reference as reference;

use crate::{KernelError, QuantizedActivations, WeightView};

/// The reference's view of rows `rows` of `w` (a copy only for sparse tensors).
fn with_rows<T>(
    w: &WeightView,
    rows: Range<usize>,
    f: impl FnOnce(&reference::Weights) -> Result<T, reference::RefError>,
) -> Result<T, KernelError> {
    let (bytes, sparse) = w.reference_rows(rows.clone());
    let weights = reference::Weights {
        encoding: w.encoding(),
        rows: rows.len(),
        k: w.k(),
        bytes: &bytes,
        sparse,
    };
    Ok(f(&weights)?)
}

pub(crate) fn int_rows(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let acts: Vec<reference::QuantizedActivations> = (0..xq.m())
        .map(|m| reference::QuantizedActivations {
            k: xq.k(),
            q: xq.codes(m).to_vec(),
            scale: xq.scales(m).to_vec(),
            sum: xq.sums(m).to_vec(),
            non_finite: xq.is_non_finite(m),
        })
        .collect();
    let y = with_rows(w, rows, |weights| {
        reference::matmul_quantized(weights, &acts)
    })?;
    out.copy_from_slice(&y);
    Ok(())
}

pub(crate) fn float_rows(
    w: &WeightView,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let y = with_rows(w, rows, |weights| {
        reference::matmul(weights, x, m, Path::Float)
    })?;
    out.copy_from_slice(&y);
    Ok(())
}

pub(crate) fn dequant_rows(
    w: &WeightView,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let y = with_rows(w, rows, reference::dequantize)?;
    out.copy_from_slice(&y);
    Ok(())
}

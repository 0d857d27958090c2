//! `tessera verify`: structure, every checksum, every tensor decodable; with `--against`, the
//! error of each tensor against its source. Also the comparison of two safetensors checkpoints
//! (`tessera compare`), which gives the same figures for an exported file.
//!
//! All three (convert, verify, compare) measure error with [`chunked_error`], in the same chunks
//! and order, so their figures agree to the last bit.

use crate::convert::chunk_rows;
use crate::dtype::{decode_floats, is_quantizable};
use crate::error::{ConvertError, Result};
use crate::inspect::open;
use crate::source::{Source, SourceTensor};
use crate::stats::{ErrorStats, ErrorSummary};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use tessera_format::{Encoding, TensorView};
use tessera_reference::{dequantize, Weights};

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct TensorCheck {
    pub name: String,
    pub encoding: String,
    /// Error against the source (float tensors, with `--against`).
    #[serde(flatten)]
    pub error: Option<ErrorSummary>,
    /// Byte-for-byte equal to the source (non-float tensors, with `--against`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identical: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub file: String,
    pub checksums_ok: bool,
    pub tensors: Vec<TensorCheck>,
    /// Tensors of the source that the file lacks.
    pub missing: Vec<String>,
    /// Tensors of the file that the source lacks.
    pub extra: Vec<String>,
}

/// Rows and row length of a stored tensor.
fn rows_k_u64(shape: &[u64]) -> (usize, usize) {
    let k = shape.last().copied().unwrap_or(1) as usize;
    let n: u64 = shape.iter().product();
    (n as usize / k.max(1), k)
}

/// Decodes a stored tensor to f32 (any encoding, dense or sparse).
pub fn decode_tensor(path: &Path, v: &TensorView) -> Result<Vec<f32>> {
    let (rows, k) = rows_k_u64(&v.info.shape);
    dequantize(&Weights {
        encoding: v.info.encoding,
        rows,
        k,
        bytes: v.bytes,
        sparse: v.info.sparse,
    })
    .map_err(|e| ConvertError::Verify {
        path: path.into(),
        reason: format!("tensor {:?}: {e}", v.info.name),
    })
}

/// Error of `decoded` (row-major, `k` per row) against the source's float bytes, measured chunk
/// by chunk in the order `convert` uses.
pub fn chunked_error(source: &Source, t: &SourceTensor, decoded: &[f32]) -> Result<ErrorStats> {
    let bytes = source.map_tensor(t)?;
    let k = t.shape.last().copied().unwrap_or(1).max(1);
    let elem = t.dtype.bitsize() / 8;
    let rows = t.elements() / k;
    let step = chunk_rows(k);
    let mut total = ErrorStats::default();
    let mut orig = Vec::new();
    let mut r0 = 0;
    while r0 < rows {
        let nr = step.min(rows - r0);
        decode_floats(
            t.dtype,
            &bytes[r0 * k * elem..(r0 + nr) * k * elem],
            &mut orig,
        )
        .ok_or_else(|| ConvertError::BadTensor {
            path: source.shards[t.shard].path.clone(),
            tensor: t.name.clone(),
            reason: "not a float tensor".into(),
        })?;
        total.merge(&ErrorStats::measure(&orig, &decoded[r0 * k..(r0 + nr) * k]));
        r0 += nr;
    }
    Ok(total)
}

/// Verifies `path`; with `against`, measures every tensor against the source checkpoint.
pub fn verify(path: &Path, against: Option<&Path>) -> Result<VerifyReport> {
    let map = open(path)?;
    let f = map.file();
    f.verify().map_err(|e| ConvertError::Verify {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let source = against.map(Source::open).transpose()?;
    let by_name: HashMap<&str, &SourceTensor> = source
        .as_ref()
        .map(|s| s.tensors.iter().map(|t| (t.name.as_str(), t)).collect())
        .unwrap_or_default();
    let mut tensors = Vec::with_capacity(f.tensors().len());
    let mut extra = Vec::new();
    for i in 0..f.tensors().len() {
        let v = f.tensor_at(i);
        let mut check = TensorCheck {
            name: v.info.name.clone(),
            encoding: v.info.encoding.name(),
            error: None,
            identical: None,
        };
        let src = by_name.get(v.info.name.as_str()).copied();
        match (source.as_ref(), src) {
            (Some(s), Some(t)) if is_quantizable(t.dtype) => {
                let decoded = decode_tensor(path, &v)?;
                if decoded.len() != t.elements() {
                    return Err(ConvertError::Verify {
                        path: path.into(),
                        reason: format!(
                            "tensor {:?} has {} elements, the source {}",
                            v.info.name,
                            decoded.len(),
                            t.elements()
                        ),
                    });
                }
                check.error = Some(chunked_error(s, t, &decoded)?.summary());
            }
            (Some(s), Some(t)) => {
                let same = matches!(v.info.encoding, Encoding::Raw(_))
                    && !v.info.sparse
                    && *s.map_tensor(t)? == *v.bytes;
                check.identical = Some(same);
            }
            (Some(_), None) => {
                extra.push(v.info.name.clone());
                decode_tensor(path, &v)?;
            }
            (None, _) => {
                // No source: still prove every tensor decodes (sparse bitmaps, lengths).
                if v.info.encoding.is_blocked() {
                    decode_tensor(path, &v)?;
                }
            }
        }
        tensors.push(check);
    }
    let missing = source
        .as_ref()
        .map(|s| {
            s.tensors
                .iter()
                .filter(|t| f.tensor(&t.name).is_none() && !t.shape.contains(&0))
                .map(|t| t.name.clone())
                .collect()
        })
        .unwrap_or_default();
    Ok(VerifyReport {
        file: path.display().to_string(),
        checksums_ok: true,
        tensors,
        missing,
        extra,
    })
}

/// Per-tensor error of checkpoint `candidate` against `reference` (both safetensors), for the
/// float tensors the two share; non-float tensors are compared byte for byte.
pub fn compare(reference: &Path, candidate: &Path) -> Result<Vec<TensorCheck>> {
    let a = Source::open(reference)?;
    let b = Source::open(candidate)?;
    let by_name: HashMap<&str, &SourceTensor> =
        b.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut out = Vec::new();
    let mut values = Vec::new();
    for t in &a.tensors {
        let Some(u) = by_name.get(t.name.as_str()) else {
            continue;
        };
        let mut check = TensorCheck {
            name: t.name.clone(),
            encoding: format!("{:?}", u.dtype),
            error: None,
            identical: None,
        };
        if is_quantizable(t.dtype) && is_quantizable(u.dtype) && u.elements() == t.elements() {
            decode_floats(u.dtype, &b.map_tensor(u)?, &mut values);
            check.error = Some(chunked_error(&a, t, &values)?.summary());
        } else {
            check.identical = Some(*a.map_tensor(t)? == *b.map_tensor(u)?);
        }
        out.push(check);
    }
    Ok(out)
}

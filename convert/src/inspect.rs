//! `tessera inspect`: what a `.tsr` file holds, as a table or as JSON.

use crate::error::{ConvertError, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use tessera_format::{MappedTsr, MetaArray, MetaValue, TensorView};

#[derive(Debug, Serialize)]
pub struct Inspection {
    pub file: String,
    pub file_bytes: u64,
    pub version: String,
    pub alignment: u64,
    pub metadata: Vec<(String, serde_json::Value)>,
    pub tensors: Vec<TensorLine>,
}

#[derive(Debug, Serialize)]
pub struct TensorLine {
    pub name: String,
    pub shape: Vec<u64>,
    pub encoding: String,
    pub bpw: f64,
    pub bytes: u64,
    pub sparse: bool,
    /// Percentage of storage blocks omitted (0 for dense tensors).
    pub sparse_percent: f64,
}

/// Opens and describes `path` (structure only; `verify` checks the data).
pub fn inspect(path: &Path) -> Result<Inspection> {
    let map = open(path)?;
    let f = map.file();
    let (major, minor) = f.version();
    let tensors = (0..f.tensors().len())
        .map(|i| line(&f.tensor_at(i)))
        .collect();
    Ok(Inspection {
        file: path.display().to_string(),
        file_bytes: f.bytes().len() as u64,
        version: format!("{major}.{minor}"),
        alignment: f.alignment(),
        metadata: f
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), meta_json(v)))
            .collect(),
        tensors,
    })
}

pub fn open(path: &Path) -> Result<MappedTsr> {
    if !path.exists() {
        return Err(ConvertError::NotFound { path: path.into() });
    }
    MappedTsr::open(path).map_err(|e| ConvertError::Format {
        path: path.into(),
        reason: e.to_string(),
    })
}

fn line(v: &TensorView) -> TensorLine {
    let i = v.info;
    let elems: u64 = i.shape.iter().product();
    let blocks = i.block_count();
    let present = match v.sparse_bitmap() {
        Some(bm) => bm.iter().map(|b| b.count_ones() as u64).sum(),
        None => blocks,
    };
    TensorLine {
        name: i.name.clone(),
        shape: i.shape.clone(),
        encoding: i.encoding.name(),
        bpw: 8.0 * i.length as f64 / elems.max(1) as f64,
        bytes: i.length,
        sparse: i.sparse,
        sparse_percent: if blocks == 0 {
            0.0
        } else {
            100.0 * (blocks - present) as f64 / blocks as f64
        },
    }
}

/// A metadata value as JSON (for `--json` and for printing).
pub fn meta_json(v: &MetaValue) -> serde_json::Value {
    use serde_json::json;
    match v {
        MetaValue::U8(x) => json!(x),
        MetaValue::U16(x) => json!(x),
        MetaValue::U32(x) => json!(x),
        MetaValue::U64(x) => json!(x),
        MetaValue::I8(x) => json!(x),
        MetaValue::I16(x) => json!(x),
        MetaValue::I32(x) => json!(x),
        MetaValue::I64(x) => json!(x),
        MetaValue::F32(x) => json!(x),
        MetaValue::F64(x) => json!(x),
        MetaValue::Bool(x) => json!(x),
        MetaValue::Str(x) => json!(x),
        MetaValue::Array(a) => match a {
            MetaArray::U8(x) => json!(x),
            MetaArray::U16(x) => json!(x),
            MetaArray::U32(x) => json!(x),
            MetaArray::U64(x) => json!(x),
            MetaArray::I8(x) => json!(x),
            MetaArray::I16(x) => json!(x),
            MetaArray::I32(x) => json!(x),
            MetaArray::I64(x) => json!(x),
            MetaArray::F32(x) => json!(x),
            MetaArray::F64(x) => json!(x),
            MetaArray::Bool(x) => json!(x),
            MetaArray::Str(x) => json!(x),
        },
    }
}

/// The human-readable form.
pub fn render(i: &Inspection) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: tessera format {}, {} bytes, alignment {}, {} metadata keys, {} tensors",
        i.file,
        i.version,
        i.file_bytes,
        i.alignment,
        i.metadata.len(),
        i.tensors.len()
    );
    let _ = writeln!(s, "\nmetadata:");
    for (k, v) in &i.metadata {
        let mut text = match v {
            serde_json::Value::String(t) => t.replace('\n', "\\n"),
            other => other.to_string(),
        };
        if text.len() > 100 {
            let cut = (0..=97)
                .rev()
                .find(|&c| text.is_char_boundary(c))
                .unwrap_or(0);
            text.truncate(cut);
            text.push_str("...");
        }
        let _ = writeln!(s, "  {k} = {text}");
    }
    let w = i
        .tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        s,
        "\n{:w$}  {:>18}  {:>10}  {:>7}  {:>12}  {:>7}",
        "name", "shape", "encoding", "bpw", "bytes", "sparse%"
    );
    for t in &i.tensors {
        let shape = format!("{:?}", t.shape);
        let _ = writeln!(
            s,
            "{:w$}  {:>18}  {:>10}  {:>7.3}  {:>12}  {:>7}",
            t.name,
            shape,
            t.encoding,
            t.bpw,
            t.bytes,
            if t.sparse {
                format!("{:.1}", t.sparse_percent)
            } else {
                "-".into()
            }
        );
    }
    s
}

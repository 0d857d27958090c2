//! `tessera export`: a `.tsr` back to safetensors. Block-encoded tensors are decoded to F32; raw
//! tensors keep their type and bytes. Tensors are decoded one at a time, as the `safetensors`
//! crate's file writer asks for them, so memory stays near the largest tensor. The
//! `source.metadata.*` keys go back into `__metadata__`.

use crate::dtype::dtype_of_raw;
use crate::error::{io_err, ConvertError, Result};
use crate::inspect::open;
use crate::metadata::SOURCE_META_PREFIX;
use crate::verify::decode_tensor;
use safetensors::{Dtype, View};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use tessera_format::{Encoding, MetaValue, TensorView};

/// A tensor that decodes itself when the writer asks for its bytes.
struct Lazy<'a> {
    view: TensorView<'a>,
    dtype: Dtype,
    shape: Vec<usize>,
    len: usize,
    path: &'a Path,
    /// The first decoding error (the `View` trait cannot return one).
    failure: &'a RefCell<Option<ConvertError>>,
}

impl View for &Lazy<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        if let Encoding::Raw(_) = self.view.info.encoding {
            if !self.view.info.sparse {
                return Cow::Borrowed(self.view.bytes);
            }
        }
        match decode_tensor(self.path, &self.view) {
            Ok(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Err(e) => {
                self.failure.borrow_mut().get_or_insert(e);
                Cow::Owned(vec![0; self.len])
            }
        }
    }
    fn data_len(&self) -> usize {
        self.len
    }
}

/// Writes `output` (safetensors) from the `.tsr` at `input`. Nothing appears at `output` unless
/// every tensor decoded.
pub fn export(input: &Path, output: &Path) -> Result<usize> {
    let map = open(input)?;
    let f = map.file();
    let failure = RefCell::new(None);
    let mut lazies = Vec::with_capacity(f.tensors().len());
    for i in 0..f.tensors().len() {
        let view = f.tensor_at(i);
        let shape: Vec<usize> = view.info.shape.iter().map(|&d| d as usize).collect();
        let elems: usize = shape.iter().product();
        let (dtype, len) = match view.info.encoding {
            Encoding::Raw(t) if !view.info.sparse => (dtype_of_raw(t), view.bytes.len()),
            _ => (Dtype::F32, elems * 4),
        };
        lazies.push(Lazy {
            view,
            dtype,
            shape,
            len,
            path: input,
            failure: &failure,
        });
    }
    let meta: HashMap<String, String> = f
        .metadata()
        .iter()
        .filter_map(|(k, v)| match v {
            MetaValue::Str(s) => k
                .strip_prefix(SOURCE_META_PREFIX)
                .map(|k| (k.to_string(), s.clone())),
            _ => None,
        })
        .collect();
    let n = lazies.len();
    // Write beside the target under a temporary name, then rename: a failed decode leaves
    // nothing at `output`.
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".tessera-export.")
        .tempfile_in(dir)
        .map_err(io_err(dir))?
        .into_temp_path();
    safetensors::serialize_to_file(
        lazies.iter().map(|l| (l.view.info.name.clone(), l)),
        (!meta.is_empty()).then_some(meta),
        &temp,
    )
    .map_err(|e| ConvertError::Format {
        path: output.into(),
        reason: format!("writing safetensors: {e}"),
    })?;
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    temp.persist(output).map_err(|e| ConvertError::Io {
        path: output.into(),
        source: e.error,
    })?;
    Ok(n)
}

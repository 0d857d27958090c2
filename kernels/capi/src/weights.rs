//! `TesseraWeights`: a checked, zero-copy view of one weight matrix, taken from a file or over a
//! caller's bytes.

use std::sync::Arc;

use tessera_format::Encoding;
use tessera_kernels::WeightView;

use crate::ffi::{free_handle, guard, handle, input, into_handle, Out};
use crate::file::{FileInner, TesseraFile};
use crate::status::{CapiError, TesseraStatus};

/// A weight matrix of `rows x k` (a tensor's outer dimensions flattened into rows). Opaque; free
/// with `tessera_weights_free`.
pub struct TesseraWeights {
    pub(crate) view: WeightView<'static>,
    /// The file whose bytes `view` borrows (None for caller-owned bytes). Declared after `view`
    /// so it is dropped after it.
    _file: Option<Arc<FileInner>>,
}

fn to_usize(tensor: &str, dim: u64) -> Result<usize, CapiError> {
    usize::try_from(dim).map_err(|_| CapiError::DimTooLarge {
        tensor: tensor.to_string(),
        dim,
    })
}

/// Creates a view of tensor `index` of `file` (a rank-r tensor is the matrix of its outer
/// dimensions' product by its last dimension). Checks that the stored byte length matches the
/// shape (and, when sparse, the bitmap).
///
/// Ownership: the caller owns `*out` (`tessera_weights_free`). The view keeps the file's bytes
/// alive: `file` may be freed before the view.
///
/// # Safety
/// `file` must be NULL or a live file handle; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_weights_from_file(
    file: *const TesseraFile,
    index: usize,
    out: *mut *mut TesseraWeights,
) -> TesseraStatus {
    guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: the caller's contract.
        let file = unsafe { handle(file, "file") }?;
        let keep = Arc::clone(&file.inner);
        let tsr = keep.file();
        let count = tsr.tensors().len();
        if index >= count {
            return Err(CapiError::TensorIndex { index, count });
        }
        let tensor = tsr.tensor_at(index);
        let info = tensor.info;
        let rows = to_usize(&info.name, info.rows())?;
        let k = to_usize(&info.name, info.row_len())?;
        // SAFETY: the bytes live in the mmap or buffer held by `FileInner`, which `keep` (stored
        // beside the view, dropped after it) keeps alive and unmodified.
        let bytes: &'static [u8] =
            unsafe { std::slice::from_raw_parts(tensor.bytes.as_ptr(), tensor.bytes.len()) };
        let view = if info.sparse {
            WeightView::new_sparse(info.encoding, rows, k, bytes)?
        } else {
            WeightView::new(info.encoding, rows, k, bytes)?
        }
        .named(info.name.clone());
        drop(tsr);
        // SAFETY: checked by `Out::new`.
        unsafe {
            out.write(into_handle(TesseraWeights {
                view,
                _file: Some(keep),
            }))
        };
        Ok(())
    })
}

/// Creates a view over weight bytes the caller holds: `rows x k` values in the encoding with id
/// `encoding`, dense (`sparse = false`: exactly the bytes the shape implies) or sparse (the block
/// bitmap, then the present blocks).
///
/// Ownership: the caller owns `*out` (`tessera_weights_free`) and keeps owning `data`, which must
/// stay valid and unmodified until the view is freed (zero-copy).
///
/// # Safety
/// `data` must be NULL or point to `len` readable bytes for the view's lifetime; `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_weights_from_buffer(
    encoding: u32,
    sparse: bool,
    rows: usize,
    k: usize,
    data: *const u8,
    len: usize,
    out: *mut *mut TesseraWeights,
) -> TesseraStatus {
    guard(|| {
        let out = Out::new(out, "out")?;
        let enc = Encoding::from_id(encoding).ok_or_else(|| CapiError::BadArgument {
            arg: "encoding",
            message: format!("unknown encoding id {encoding:#06x}"),
        })?;
        if data.is_null() {
            return Err(CapiError::Null { arg: "data" });
        }
        // SAFETY: the caller's contract: readable and unmodified until the view is freed.
        let bytes: &'static [u8] = unsafe { input(data, len, "data") }?;
        let view = if sparse {
            WeightView::new_sparse(enc, rows, k, bytes)?
        } else {
            WeightView::new(enc, rows, k, bytes)?
        };
        // SAFETY: checked by `Out::new`.
        unsafe { out.write(into_handle(TesseraWeights { view, _file: None })) };
        Ok(())
    })
}

/// Stores the view's shape: `*rows` output rows, `*k` elements per row. Either pointer may be
/// NULL to skip it.
///
/// # Safety
/// `weights` must be NULL or a live view; `rows` and `k` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_weights_shape(
    weights: *const TesseraWeights,
    rows: *mut usize,
    k: *mut usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { handle(weights, "weights") }?;
        let rows = (!rows.is_null())
            .then(|| Out::new(rows, "rows"))
            .transpose()?;
        let k = (!k.is_null()).then(|| Out::new(k, "k")).transpose()?;
        // SAFETY: each was checked by `Out::new`.
        unsafe {
            if let Some(rows) = rows {
                rows.write(w.view.rows());
            }
            if let Some(k) = k {
                k.write(w.view.k());
            }
        }
        Ok(())
    })
}

/// Stores the view's encoding id in `*encoding`.
///
/// # Safety
/// `weights` must be NULL or a live view; `encoding` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_weights_encoding(
    weights: *const TesseraWeights,
    encoding: *mut u32,
) -> TesseraStatus {
    guard(|| {
        let encoding = Out::new(encoding, "encoding")?;
        // SAFETY: the caller's contract.
        let w = unsafe { handle(weights, "weights") }?;
        // SAFETY: checked by `Out::new`.
        unsafe { encoding.write(w.view.encoding().id()) };
        Ok(())
    })
}

/// Frees a view. NULL is a no-op.
///
/// # Safety
/// `weights` must be NULL or a live view, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tessera_weights_free(weights: *mut TesseraWeights) {
    // SAFETY: the caller's contract; a panic in a destructor is caught, never unwound into C.
    let _ = std::panic::catch_unwind(|| unsafe { free_handle(weights) });
}

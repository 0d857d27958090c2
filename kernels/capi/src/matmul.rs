//! Matrix products and dequantization on a weight view, into caller-owned output arrays.
//!
//! Every output `Y[i][r]` is computed on its own by the contract's arithmetic, so results have the
//! same bits on every tier and for every split of the rows across the caller's threads.

use std::ops::Range;

use tessera_format::Path;

use crate::activations::TesseraActivations;
use crate::ffi::{guard, handle, input, output, span};
use crate::status::{CapiError, TesseraStatus};
use crate::weights::TesseraWeights;

/// Integer path: int8 activations (quantized per 32), exact integer block dots, one fma per block.
pub const TESSERA_PATH_INTEGER: u32 = 0;
/// Float path: f32 activations times weights decoded to f32.
pub const TESSERA_PATH_FLOAT: u32 = 1;
/// The encoding's default path (`TesseraTensorInfo::default_path`).
pub const TESSERA_PATH_DEFAULT: u32 = 2;

pub(crate) fn path_code(path: Path) -> u32 {
    match path {
        Path::Integer => TESSERA_PATH_INTEGER,
        Path::Float => TESSERA_PATH_FLOAT,
    }
}

fn path_of(code: u32, w: &TesseraWeights) -> Result<Path, CapiError> {
    match code {
        TESSERA_PATH_INTEGER => Ok(Path::Integer),
        TESSERA_PATH_FLOAT => Ok(Path::Float),
        TESSERA_PATH_DEFAULT => Ok(w.view.encoding().path()),
        _ => Err(CapiError::BadArgument {
            arg: "path",
            message: format!("{code} is not TESSERA_PATH_INTEGER, _FLOAT or _DEFAULT"),
        }),
    }
}

fn row_range(start: usize, end: usize) -> Range<usize> {
    // The kernels reject start > end or end > rows with a message naming the tensor.
    start..end
}

/// `y = W x` for one activation row: `x` has `x_len == k` floats, `y` receives `y_len == rows`
/// floats. `path` is `TESSERA_PATH_INTEGER`, `_FLOAT` or `_DEFAULT`.
///
/// Ownership: `x` is read and `y` written during the call only; both stay the caller's. `y` must
/// not overlap `x` or the weight bytes. Both must be 4-byte aligned.
///
/// # Safety
/// `weights` must be NULL or a live view; `x` NULL or `x_len` readable floats; `y` NULL or
/// `y_len` writable floats.
#[no_mangle]
pub unsafe extern "C" fn tessera_gemv(
    weights: *const TesseraWeights,
    x: *const f32,
    x_len: usize,
    path: u32,
    y: *mut f32,
    y_len: usize,
) -> TesseraStatus {
    // SAFETY: the caller's contract, forwarded unchanged.
    unsafe { tessera_gemm(weights, x, x_len, 1, path, y, y_len) }
}

/// `Y = X W^T` for `m` activation rows: `x` is `m x k` row-major (`x_len == m * k`), `y` receives
/// `m x rows` row-major (`y_len == m * rows`).
///
/// Ownership and alignment as in `tessera_gemv`.
///
/// # Safety
/// As `tessera_gemv`.
#[no_mangle]
pub unsafe extern "C" fn tessera_gemm(
    weights: *const TesseraWeights,
    x: *const f32,
    x_len: usize,
    m: usize,
    path: u32,
    y: *mut f32,
    y_len: usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { handle(weights, "weights") }?;
        // SAFETY: forwarded; `gemm_rows_checked` checks every pointer.
        unsafe { gemm_rows_checked(w, x, x_len, m, path, 0..w.view.rows(), y, y_len) }
    })
}

/// Output rows `row_start..row_end` only, for callers that split one product over their own
/// threads: `y[i * (row_end - row_start) + j] = Y[i][row_start + j]`, so
/// `y_len == m * (row_end - row_start)`. Each thread passes its own range and its own `y`; the
/// results are the same bits as one `tessera_gemm` call.
///
/// Ownership and alignment as in `tessera_gemv`.
///
/// # Safety
/// As `tessera_gemv`.
#[no_mangle]
pub unsafe extern "C" fn tessera_gemm_rows(
    weights: *const TesseraWeights,
    x: *const f32,
    x_len: usize,
    m: usize,
    path: u32,
    row_start: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { handle(weights, "weights") }?;
        let rows = row_range(row_start, row_end);
        // SAFETY: forwarded; `gemm_rows_checked` checks every pointer.
        unsafe { gemm_rows_checked(w, x, x_len, m, path, rows, y, y_len) }
    })
}

/// # Safety
/// `x` and `y` as in `tessera_gemv`.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_rows_checked(
    w: &TesseraWeights,
    x: *const f32,
    x_len: usize,
    m: usize,
    path: u32,
    rows: Range<usize>,
    y: *mut f32,
    y_len: usize,
) -> Result<(), CapiError> {
    let path = path_of(path, w)?;
    // SAFETY: the caller's contract.
    let x = unsafe { input(x, x_len, "x") }?;
    let inputs = [(span(x), "x"), (span(w.view.bytes()), "weights")];
    // SAFETY: the caller's contract; `output` checks overlap with the inputs.
    let y = unsafe { output(y, y_len, "y", &inputs) }?;
    crate::isa::current()?.gemm_rows(&w.view, x, m, path, rows, y)?;
    Ok(())
}

/// Integer path with activations quantized once by `tessera_activations_quantize`: `y` receives
/// `m x rows` (`y_len == m * rows`, with `m` and `k` those of the activations).
///
/// Ownership: `y` is the caller's, written during the call only; 4-byte aligned.
///
/// # Safety
/// `weights` and `activations` must be NULL or live handles; `y` NULL or `y_len` writable floats.
#[no_mangle]
pub unsafe extern "C" fn tessera_gemm_quantized(
    weights: *const TesseraWeights,
    activations: *const TesseraActivations,
    y: *mut f32,
    y_len: usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { handle(weights, "weights") }?;
        let rows = 0..w.view.rows();
        // SAFETY: forwarded.
        unsafe { gemm_quantized_checked(w, activations, rows, y, y_len) }
    })
}

/// `tessera_gemm_quantized` for output rows `row_start..row_end` only (layout as
/// `tessera_gemm_rows`). Several threads may share one activations handle (it is read-only).
///
/// # Safety
/// As `tessera_gemm_quantized`.
#[no_mangle]
pub unsafe extern "C" fn tessera_gemm_quantized_rows(
    weights: *const TesseraWeights,
    activations: *const TesseraActivations,
    row_start: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { handle(weights, "weights") }?;
        let rows = row_range(row_start, row_end);
        // SAFETY: forwarded.
        unsafe { gemm_quantized_checked(w, activations, rows, y, y_len) }
    })
}

/// # Safety
/// As `tessera_gemm_quantized`.
unsafe fn gemm_quantized_checked(
    w: &TesseraWeights,
    activations: *const TesseraActivations,
    rows: Range<usize>,
    y: *mut f32,
    y_len: usize,
) -> Result<(), CapiError> {
    // SAFETY: the caller's contract.
    let a = unsafe { handle(activations, "activations") }?;
    let inputs = [(span(w.view.bytes()), "weights")];
    // SAFETY: the caller's contract; `output` checks overlap with the weight bytes.
    let y = unsafe { output(y, y_len, "y", &inputs) }?;
    crate::isa::current()?.gemm_quantized_rows(&w.view, &a.quantized, rows, y)?;
    Ok(())
}

/// Decodes the whole matrix to f32: `out` receives `rows x k` row-major (`out_len == rows * k`).
/// Blocks a sparse tensor omits decode to +0.0.
///
/// Ownership: `out` is the caller's, written during the call only; 4-byte aligned, not
/// overlapping the weight bytes.
///
/// # Safety
/// `weights` must be NULL or a live view; `out` NULL or `out_len` writable floats.
#[no_mangle]
pub unsafe extern "C" fn tessera_dequantize(
    weights: *const TesseraWeights,
    out: *mut f32,
    out_len: usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { handle(weights, "weights") }?;
        // SAFETY: forwarded.
        unsafe { dequantize_checked(w, 0..w.view.rows(), out, out_len) }
    })
}

/// Decodes rows `row_start..row_end` only (`out_len == (row_end - row_start) * k`).
///
/// # Safety
/// As `tessera_dequantize`.
#[no_mangle]
pub unsafe extern "C" fn tessera_dequantize_rows(
    weights: *const TesseraWeights,
    row_start: usize,
    row_end: usize,
    out: *mut f32,
    out_len: usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let w = unsafe { handle(weights, "weights") }?;
        // SAFETY: forwarded.
        unsafe { dequantize_checked(w, row_range(row_start, row_end), out, out_len) }
    })
}

/// # Safety
/// As `tessera_dequantize`.
unsafe fn dequantize_checked(
    w: &TesseraWeights,
    rows: Range<usize>,
    out: *mut f32,
    out_len: usize,
) -> Result<(), CapiError> {
    let inputs = [(span(w.view.bytes()), "weights")];
    // SAFETY: the caller's contract; `output` checks overlap with the weight bytes.
    let out = unsafe { output(out, out_len, "out", &inputs) }?;
    crate::isa::current()?.dequantize_rows(&w.view, rows, out)?;
    Ok(())
}

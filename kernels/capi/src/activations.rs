//! `TesseraActivations`: activations quantized once for the integer path, to be shared by several
//! weight matrices (e.g. the Q, K and V projections of one layer).

use tessera_kernels::QuantizedActivations;

use crate::ffi::{free_handle, guard, handle, input, into_handle, Out};
use crate::status::TesseraStatus;

/// `m` rows of int8 activation codes with per-32 scales. Opaque; free with
/// `tessera_activations_free`.
pub struct TesseraActivations {
    pub(crate) quantized: QuantizedActivations,
}

/// Quantizes `m` rows of `k` floats (`x_len == m * k`, row-major) for the integer path,
/// bit-identical to the reference. A row holding a NaN or an infinity makes that row's outputs NaN.
///
/// Ownership: `x` is only read during the call (the codes are copied into the handle); the caller
/// owns `*out` (`tessera_activations_free`).
///
/// # Safety
/// `x` must be NULL or point to `x_len` floats (4-byte aligned); `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_activations_quantize(
    x: *const f32,
    x_len: usize,
    m: usize,
    k: usize,
    out: *mut *mut TesseraActivations,
) -> TesseraStatus {
    guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: the caller's contract.
        let x = unsafe { input(x, x_len, "x") }?;
        let quantized = QuantizedActivations::new(x, m, k)?;
        // SAFETY: checked by `Out::new`.
        unsafe { out.write(into_handle(TesseraActivations { quantized })) };
        Ok(())
    })
}

/// Stores the shape the activations were quantized with. Either pointer may be NULL to skip it.
///
/// # Safety
/// `activations` must be NULL or a live handle; `m` and `k` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_activations_shape(
    activations: *const TesseraActivations,
    m: *mut usize,
    k: *mut usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let a = unsafe { handle(activations, "activations") }?;
        let m = (!m.is_null()).then(|| Out::new(m, "m")).transpose()?;
        let k = (!k.is_null()).then(|| Out::new(k, "k")).transpose()?;
        // SAFETY: each was checked by `Out::new`.
        unsafe {
            if let Some(m) = m {
                m.write(a.quantized.m());
            }
            if let Some(k) = k {
                k.write(a.quantized.k());
            }
        }
        Ok(())
    })
}

/// Frees quantized activations. NULL is a no-op.
///
/// # Safety
/// `activations` must be NULL or a live handle, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tessera_activations_free(activations: *mut TesseraActivations) {
    // SAFETY: the caller's contract; a panic in a destructor is caught, never unwound into C.
    let _ = std::panic::catch_unwind(|| unsafe { free_handle(activations) });
}

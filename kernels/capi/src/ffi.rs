//! The boundary: the panic guard every entry point runs in, and the checks that turn caller
//! pointers and lengths into Rust references (null, alignment, `len * size` overflow, aliasing).

use std::ffi::{c_char, CStr};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::status::{clear_last_error, set_last_error, CapiError, TesseraStatus};

/// Runs `body`, catching any panic, and turns the outcome into a status (recording the message on
/// failure). Every `extern "C"` function that can fail goes through here, so no unwind ever
/// crosses into C.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), CapiError>) -> TesseraStatus {
    clear_last_error();
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return TesseraStatus::Ok,
        Ok(Err(e)) => e,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".to_string());
            CapiError::Panic(text)
        }
    };
    set_last_error(&error.to_string());
    error.status()
}

/// Checks that a caller's pointer is non-NULL and aligned for `T`.
fn check_pointer<T>(ptr: *const T, arg: &'static str) -> Result<(), CapiError> {
    if ptr.is_null() {
        return Err(CapiError::Null { arg });
    }
    if !ptr.is_aligned() {
        return Err(CapiError::Misaligned {
            arg,
            addr: ptr as usize,
            align: std::mem::align_of::<T>(),
        });
    }
    Ok(())
}

/// Checks a caller's `(ptr, len)` array: `len` elements of `T`. A NULL pointer is accepted only
/// when `len == 0`.
fn check_array<T>(ptr: *const T, len: usize, arg: &'static str) -> Result<(), CapiError> {
    if len == 0 {
        return Ok(());
    }
    check_pointer(ptr, arg)?;
    let too_long = || CapiError::TooLong {
        arg,
        len,
        size: std::mem::size_of::<T>(),
    };
    let bytes = len
        .checked_mul(std::mem::size_of::<T>())
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(too_long)?;
    (ptr as usize).checked_add(bytes).ok_or_else(too_long)?;
    Ok(())
}

/// The caller's input array as a slice.
///
/// # Safety
/// If the checks pass, `ptr` must point to `len` initialized elements that stay valid and are not
/// written to while the returned slice lives (the C function's documented contract).
pub(crate) unsafe fn input<'a, T>(
    ptr: *const T,
    len: usize,
    arg: &'static str,
) -> Result<&'a [T], CapiError> {
    check_array(ptr, len, arg)?;
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: non-null, aligned, `len * size_of::<T>()` fits isize and does not wrap; validity
    // is the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The address range a slice covers, for [`output`]'s overlap check.
pub(crate) fn span<T>(s: &[T]) -> Range<usize> {
    let r = s.as_ptr_range();
    r.start as usize..r.end as usize
}

/// The caller's output array as a mutable slice, after checking that it overlaps none of the
/// `inputs` (address ranges with their argument names): writing through one while reading the
/// other would be undefined behaviour in Rust and garbage in C.
///
/// # Safety
/// If the checks pass, `ptr` must point to `len` writable elements that nothing else reads or
/// writes while the returned slice lives.
pub(crate) unsafe fn output<'a, T>(
    ptr: *mut T,
    len: usize,
    arg: &'static str,
    inputs: &[(Range<usize>, &'static str)],
) -> Result<&'a mut [T], CapiError> {
    check_array(ptr, len, arg)?;
    if len == 0 {
        return Ok(&mut []);
    }
    // No overflow: `check_array` bounded the byte length and the end address.
    let start = ptr as usize;
    let end = start + len * std::mem::size_of::<T>();
    for (other, other_arg) in inputs {
        if start < other.end && other.start < end && other.start < other.end {
            return Err(CapiError::Overlap {
                arg,
                other: other_arg,
            });
        }
    }
    // SAFETY: non-null, aligned, in bounds of the address space, not overlapping any input we
    // hold; exclusive access is the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// A checked out-parameter: non-null and aligned, written once with [`Out::write`].
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Checks `ptr`; call this before doing any work so a bad out-pointer never leaks a result.
    pub(crate) fn new(ptr: *mut T, arg: &'static str) -> Result<Self, CapiError> {
        check_pointer(ptr, arg)?;
        Ok(Out(ptr))
    }

    /// Stores `value` without reading (or dropping) what was there.
    ///
    /// # Safety
    /// The pointer given to [`Out::new`] must be valid for a write of one `T`.
    pub(crate) unsafe fn write(self, value: T) {
        // SAFETY: non-null and aligned (checked in `new`); writable is the caller's contract.
        unsafe { self.0.write(value) }
    }
}

/// A borrowed reference to a handle the library gave out.
///
/// # Safety
/// `ptr` must be NULL or a live handle of this type from this library.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, arg: &'static str) -> Result<&'a T, CapiError> {
    if ptr.is_null() {
        return Err(CapiError::Null { arg });
    }
    if !ptr.is_aligned() {
        return Err(CapiError::Misaligned {
            arg,
            addr: ptr as usize,
            align: std::mem::align_of::<T>(),
        });
    }
    // SAFETY: a live handle is a `Box<T>` the library leaked with `Box::into_raw`.
    Ok(unsafe { &*ptr })
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string.
pub(crate) unsafe fn c_str<'a>(
    ptr: *const c_char,
    arg: &'static str,
) -> Result<&'a str, CapiError> {
    if ptr.is_null() {
        return Err(CapiError::Null { arg });
    }
    // SAFETY: non-null; NUL termination is the caller's contract.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str().map_err(|_| CapiError::NotUtf8 { arg })
}

/// Gives a new handle to C.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back and drops a handle; NULL is a no-op.
///
/// # Safety
/// `ptr` must be NULL or a live handle of this type, not used again afterwards.
pub(crate) unsafe fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: the handle came from `into_handle` (a `Box`) and the caller gives it up.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tessera_last_error_message;

    fn last_error() -> String {
        // SAFETY: the library's message pointer is a valid C string until the next call.
        unsafe { CStr::from_ptr(tessera_last_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = guard(|| panic!("boom {}", 7));
        assert_eq!(status, TesseraStatus::Panic);
        assert!(last_error().contains("boom 7"), "{}", last_error());
        let status = guard(|| std::panic::panic_any(42u8));
        assert_eq!(status, TesseraStatus::Panic);
        assert!(last_error().contains("unknown panic payload"));
        assert_eq!(guard(|| Ok(())), TesseraStatus::Ok);
        assert_eq!(last_error(), "");
    }

    #[test]
    fn messages_keep_interior_nuls_visible() {
        let status = guard(|| {
            Err(CapiError::BadArgument {
                arg: "x",
                message: "a\0b".to_string(),
            })
        });
        assert_eq!(status, TesseraStatus::BadArgument);
        assert!(last_error().contains("a\\0b"), "{}", last_error());
    }
}

//! Status codes, the crate's error type, and the per-thread "last error" message.
//!
//! Every entry point returns a [`TesseraStatus`]; on failure it also records a message that
//! [`tessera_last_error_message`] returns on the same thread.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use tessera_format::FormatError;
use tessera_kernels::KernelError;

/// What a call returned. `TESSERA_STATUS_OK` is zero; every other value is an error, and
/// `tessera_last_error_message()` says which argument, tensor or byte offset was wrong.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TesseraStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// A pointer was not aligned for its element type (4 bytes for `float`, 8 for `uint64_t`).
    Misaligned = 2,
    /// A length does not match the shapes (activations, output, weight bytes), or
    /// `len * sizeof(element)` overflows.
    BadLength = 3,
    /// Any other bad argument: unknown path, encoding id or tensor index, a row range outside
    /// the tensor, overlapping input and output buffers, a string that is not UTF-8.
    BadArgument = 4,
    /// The bytes are not a valid .tsr file (the message names the rule, tensor and offset).
    BadFile = 5,
    /// Opening or mapping the file failed.
    Io = 6,
    /// A tensor's bytes do not match the checksum in the directory.
    Checksum = 7,
    /// No tensor has that name.
    NotFound = 8,
    /// The operation is not defined for this tensor (the integer path on a float encoding), or a
    /// dimension does not fit in `size_t` on this platform.
    Unsupported = 9,
    /// An unknown ISA tier name, or a tier this CPU cannot run (also from a bad `TESSERA_ISA`).
    Isa = 10,
    /// A bug inside Tessera was caught before it could cross the C boundary.
    Panic = 11,
}

/// Everything an entry point can fail with. The `Display` text is what
/// `tessera_last_error_message` returns.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CapiError {
    #[error("argument `{arg}` is NULL")]
    Null { arg: &'static str },
    #[error("argument `{arg}` ({addr:#x}) is not aligned to {align} bytes")]
    Misaligned {
        arg: &'static str,
        addr: usize,
        align: usize,
    },
    #[error("argument `{arg}`: {len} elements of {size} bytes overflow the address space")]
    TooLong {
        arg: &'static str,
        len: usize,
        size: usize,
    },
    #[error("argument `{arg}` overlaps `{other}`: the output must not alias an input")]
    Overlap {
        arg: &'static str,
        other: &'static str,
    },
    #[error("argument `{arg}` is not valid UTF-8")]
    NotUtf8 { arg: &'static str },
    #[error("argument `{arg}`: {message}")]
    BadArgument { arg: &'static str, message: String },
    #[error("tensor {index} does not exist: the file has {count} tensors")]
    TensorIndex { index: usize, count: usize },
    #[error("no tensor named {name:?}")]
    NotFound { name: String },
    #[error("tensor {tensor:?}: dimension {dim} does not fit in size_t on this platform")]
    DimTooLarge { tensor: String, dim: u64 },
    #[error("unknown ISA tier {name:?} (known: {known}, or \"auto\")")]
    UnknownIsa { name: String, known: String },
    #[error("ISA tier {name} cannot run on this CPU (available here: {available})")]
    IsaUnavailable { name: String, available: String },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("internal error (a Rust panic was caught at the C boundary): {0}")]
    Panic(String),
}

impl CapiError {
    pub(crate) fn status(&self) -> TesseraStatus {
        use TesseraStatus as S;
        match self {
            CapiError::Null { .. } => S::NullPointer,
            CapiError::Misaligned { .. } => S::Misaligned,
            CapiError::TooLong { .. } => S::BadLength,
            CapiError::Overlap { .. }
            | CapiError::NotUtf8 { .. }
            | CapiError::BadArgument { .. }
            | CapiError::TensorIndex { .. } => S::BadArgument,
            CapiError::NotFound { .. } => S::NotFound,
            CapiError::DimTooLarge { .. } => S::Unsupported,
            CapiError::UnknownIsa { .. } | CapiError::IsaUnavailable { .. } => S::Isa,
            CapiError::Format(FormatError::Io { .. }) => S::Io,
            CapiError::Format(FormatError::TensorChecksum { .. }) => S::Checksum,
            CapiError::Format(_) => S::BadFile,
            CapiError::Kernel(k) => match k {
                KernelError::UnknownIsa { .. } | KernelError::IsaUnavailable { .. } => S::Isa,
                KernelError::NoIntegerPath { .. }
                | KernelError::NotBlocked { .. }
                | KernelError::UnknownEncoding { .. } => S::Unsupported,
                KernelError::RowRange { .. } => S::BadArgument,
                KernelError::ByteLength { .. }
                | KernelError::ShapeOverflow { .. }
                | KernelError::BitmapPadding { .. }
                | KernelError::Length { .. }
                | KernelError::Width { .. } => S::BadLength,
                // The reference tier refusing input the API already checked is our bug.
                _ => S::Panic,
            },
            CapiError::Panic(_) => S::Panic,
        }
    }
}

thread_local! {
    /// The message of the last failed call on this thread; empty after a successful call.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error. Interior NULs are escaped so the whole message
/// survives as a C string.
pub(crate) fn set_last_error(message: &str) {
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|cell| *cell.borrow_mut() = text);
}

pub(crate) fn clear_last_error() {
    LAST_ERROR.with(|cell| *cell.borrow_mut() = CString::default());
}

/// The message of the most recent failed call made on the calling thread, or `""` if that call
/// succeeded.
///
/// Ownership: the string belongs to the library. It stays valid until the next `tessera_*` call
/// on the same thread; copy it to keep it. Never NULL. Each thread has its own message.
#[no_mangle]
pub extern "C" fn tessera_last_error_message() -> *const c_char {
    // Thread-local access panics only while the thread is being torn down; never unwind then.
    std::panic::catch_unwind(|| LAST_ERROR.with(|cell| cell.borrow().as_ptr()))
        .unwrap_or(c"(the error message is unavailable while this thread exits)".as_ptr())
}

/// A static name for a status value (`"TESSERA_STATUS_BAD_LENGTH"`, ...), or
/// `"TESSERA_STATUS_UNKNOWN"` for a value that is not a status.
///
/// Ownership: static storage, never freed, never NULL.
#[no_mangle]
pub extern "C" fn tessera_status_name(status: i32) -> *const c_char {
    let name: &'static std::ffi::CStr = match status {
        0 => c"TESSERA_STATUS_OK",
        1 => c"TESSERA_STATUS_NULL_POINTER",
        2 => c"TESSERA_STATUS_MISALIGNED",
        3 => c"TESSERA_STATUS_BAD_LENGTH",
        4 => c"TESSERA_STATUS_BAD_ARGUMENT",
        5 => c"TESSERA_STATUS_BAD_FILE",
        6 => c"TESSERA_STATUS_IO",
        7 => c"TESSERA_STATUS_CHECKSUM",
        8 => c"TESSERA_STATUS_NOT_FOUND",
        9 => c"TESSERA_STATUS_UNSUPPORTED",
        10 => c"TESSERA_STATUS_ISA",
        11 => c"TESSERA_STATUS_PANIC",
        _ => c"TESSERA_STATUS_UNKNOWN",
    };
    name.as_ptr()
}

//! `TesseraFile`: an opened, validated .tsr file (mapped from a path or over a caller's buffer),
//! and what it lists about its tensors.

use std::ffi::{c_char, CStr};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tessera_format::{Encoding, MappedTsr, TsrFile};

use crate::ffi::{c_str, free_handle, guard, handle, input, into_handle, Out};
use crate::status::{CapiError, TesseraStatus};

/// Largest tensor rank a .tsr file may hold (the length of `TesseraTensorInfo::shape`).
pub const TESSERA_MAX_RANK: usize = 8;

/// `tessera_file_open*` flag: hash every tensor and compare with the directory before returning
/// (reads the whole file once). Without it, checksums are not checked; structure always is.
pub const TESSERA_OPEN_VERIFY: u32 = 1;
/// `tessera_file_open_buffer` flag: copy the caller's buffer, so it may be freed as soon as the
/// call returns. Without it the file borrows the buffer (zero-copy).
pub const TESSERA_OPEN_COPY: u32 = 2;

/// An opened .tsr file. Opaque; free with `tessera_file_free`.
pub struct TesseraFile {
    pub(crate) inner: Arc<FileInner>,
}

/// The bytes and their parsed index. Shared (by `Arc`) with every weight view taken from the
/// file, so views stay valid after `tessera_file_free`.
pub(crate) struct FileInner {
    source: Source,
    /// Each tensor's name followed by a NUL, for `TesseraTensorInfo::name`.
    names: Vec<Box<[u8]>>,
}

enum Source {
    Mapped(MappedTsr),
    /// `file` views `_copy` when it is `Some`, else memory the caller keeps alive (the
    /// documented contract of `tessera_file_open_buffer` without `TESSERA_OPEN_COPY`).
    Buffer {
        file: TsrFile<'static>,
        _copy: Option<Box<[u8]>>,
    },
}

impl FileInner {
    fn new(source: Source, verify: bool) -> Result<Self, CapiError> {
        let mut inner = FileInner {
            source,
            names: Vec::new(),
        };
        let file = inner.file();
        if verify {
            file.verify()?;
        }
        let names = file
            .tensors()
            .iter()
            .map(|t| {
                let mut name = Vec::with_capacity(t.name.len() + 1);
                name.extend_from_slice(t.name.as_bytes());
                name.push(0);
                name.into_boxed_slice()
            })
            .collect();
        inner.names = names;
        Ok(inner)
    }

    /// The parsed file, borrowing `self`.
    pub(crate) fn file(&self) -> TsrFile<'_> {
        match &self.source {
            Source::Mapped(m) => m.file(),
            Source::Buffer { file, .. } => file.clone(),
        }
    }
}

/// One tensor's directory entry, filled by `tessera_file_tensor_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraTensorInfo {
    /// The name: `name_len` bytes of UTF-8 followed by a NUL. (A name may itself contain NUL
    /// bytes; `name_len` is authoritative.) Owned by the file: valid until `tessera_file_free`.
    pub name: *const c_char,
    /// Bytes of `name`, without the terminating NUL.
    pub name_len: usize,
    /// Number of dimensions, 1..=TESSERA_MAX_RANK.
    pub rank: u32,
    /// Dimensions, outermost first; entries past `rank` are 0. The last one is the row length k.
    pub shape: [u64; TESSERA_MAX_RANK],
    /// Rows of the matrix view: the product of every dimension but the last (1 for rank 1).
    pub rows: u64,
    /// Elements per row: the last dimension.
    pub k: u64,
    /// The encoding's on-disk id (SPEC.md, "Encodings").
    pub encoding: u32,
    /// The encoding's short name (`"q4"`, `"q4k"`, `"mxfp4"`, `"f32"`, ...). Static storage.
    pub encoding_name: *const c_char,
    /// True if stored sparse (a block bitmap, then the present blocks).
    pub sparse: bool,
    /// `TESSERA_PATH_INTEGER` or `TESSERA_PATH_FLOAT`: the encoding's default matmul path.
    pub default_path: u32,
    /// Bytes stored in the file (bitmap included when sparse).
    pub byte_length: u64,
}

/// Short names of every encoding this library knows, as C strings (static, built once).
pub(crate) fn encoding_c_name(encoding: Encoding) -> *const c_char {
    static NAMES: OnceLock<Vec<(Encoding, std::ffi::CString)>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        Encoding::all()
            .into_iter()
            .filter_map(|e| Some((e, std::ffi::CString::new(e.name()).ok()?)))
            .collect()
    });
    names
        .iter()
        .find(|(e, _)| *e == encoding)
        .map_or(c"?".as_ptr(), |(_, n)| n.as_ptr())
}

/// Opens and validates the .tsr file at `path` (memory-mapped, zero-copy).
///
/// `flags`: 0 or `TESSERA_OPEN_VERIFY`. On success stores a new handle in `*out`; on failure
/// `*out` is left untouched.
///
/// Ownership: the caller owns the returned handle and frees it with `tessera_file_free`. The
/// path string is only read during the call.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_file_open(
    path: *const c_char,
    flags: u32,
    out: *mut *mut TesseraFile,
) -> TesseraStatus {
    guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: the caller's contract for `path`.
        let path = unsafe { c_str(path, "path") }?;
        let flags = check_flags(flags, TESSERA_OPEN_VERIFY)?;
        let mapped = MappedTsr::open(Path::new(path))?;
        let inner = FileInner::new(Source::Mapped(mapped), flags & TESSERA_OPEN_VERIFY != 0)?;
        // SAFETY: `out` was checked by `Out::new`; writable is the caller's contract.
        unsafe {
            out.write(into_handle(TesseraFile {
                inner: Arc::new(inner),
            }))
        };
        Ok(())
    })
}

/// Opens and validates a .tsr file held in memory: `len` bytes at `data`.
///
/// `flags`: any of `TESSERA_OPEN_VERIFY`, `TESSERA_OPEN_COPY`. Without `TESSERA_OPEN_COPY` the
/// file borrows the buffer: it must stay valid and unmodified until the file handle AND every
/// weight view taken from it are freed. With `TESSERA_OPEN_COPY` the library copies the bytes and
/// the caller may free its buffer when the call returns. No alignment is required of `data`
/// (weights are read bytewise), but tensors start at the file's alignment offsets, so an aligned
/// buffer keeps loads aligned.
///
/// Ownership: the caller owns the returned handle (`tessera_file_free`) and keeps owning `data`.
///
/// # Safety
/// `data` must be NULL or point to `len` readable bytes (for as long as described above);
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_file_open_buffer(
    data: *const u8,
    len: usize,
    flags: u32,
    out: *mut *mut TesseraFile,
) -> TesseraStatus {
    guard(|| {
        let out = Out::new(out, "out")?;
        let flags = check_flags(flags, TESSERA_OPEN_VERIFY | TESSERA_OPEN_COPY)?;
        if data.is_null() {
            return Err(CapiError::Null { arg: "data" });
        }
        // SAFETY: the caller's contract: `len` readable bytes, alive until every handle derived
        // from them is freed (so the `'static` here never outlives the bytes; `FileInner` only
        // hands out borrows tied to itself).
        let borrowed: &'static [u8] = unsafe { input(data, len, "data") }?;
        let source = if flags & TESSERA_OPEN_COPY != 0 {
            let copy: Box<[u8]> = borrowed.into();
            // SAFETY: the bytes live on the heap in `copy`, which `Source::Buffer` keeps (and
            // never mutates) for as long as `file` exists; moving the Box does not move them.
            let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(copy.as_ptr(), len) };
            Source::Buffer {
                file: TsrFile::parse(bytes)?,
                _copy: Some(copy),
            }
        } else {
            Source::Buffer {
                file: TsrFile::parse(borrowed)?,
                _copy: None,
            }
        };
        let inner = FileInner::new(source, flags & TESSERA_OPEN_VERIFY != 0)?;
        // SAFETY: checked by `Out::new`; writable is the caller's contract.
        unsafe {
            out.write(into_handle(TesseraFile {
                inner: Arc::new(inner),
            }))
        };
        Ok(())
    })
}

fn check_flags(flags: u32, known: u32) -> Result<u32, CapiError> {
    if flags & !known != 0 {
        return Err(CapiError::BadArgument {
            arg: "flags",
            message: format!("unknown bits {:#x}", flags & !known),
        });
    }
    Ok(flags)
}

/// Frees a file handle. NULL is a no-op. Weight views taken from the file stay valid (they keep
/// the bytes alive) until they are freed themselves.
///
/// # Safety
/// `file` must be NULL or a live handle from `tessera_file_open*`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tessera_file_free(file: *mut TesseraFile) {
    // SAFETY: the caller's contract; a panic in a destructor is caught, never unwound into C.
    let _ = std::panic::catch_unwind(|| unsafe { free_handle(file) });
}

/// Hashes every tensor and compares with the directory (`TESSERA_STATUS_CHECKSUM` names the
/// first tensor that differs).
///
/// # Safety
/// `file` must be NULL or a live file handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_file_verify(file: *const TesseraFile) -> TesseraStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let file = unsafe { handle(file, "file") }?;
        file.inner.file().verify()?;
        Ok(())
    })
}

/// Stores the number of tensors in `*count`.
///
/// # Safety
/// `file` must be NULL or a live file handle; `count` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_file_tensor_count(
    file: *const TesseraFile,
    count: *mut usize,
) -> TesseraStatus {
    guard(|| {
        let count = Out::new(count, "count")?;
        // SAFETY: the caller's contract.
        let file = unsafe { handle(file, "file") }?;
        // SAFETY: checked by `Out::new`.
        unsafe { count.write(file.inner.file().tensors().len()) };
        Ok(())
    })
}

/// Fills `*info` with tensor `index` (directory order, `0..count`).
///
/// Ownership: `info->name` points into the file handle (valid until `tessera_file_free`);
/// `info->encoding_name` is static.
///
/// # Safety
/// `file` must be NULL or a live file handle; `info` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_file_tensor_info(
    file: *const TesseraFile,
    index: usize,
    info: *mut TesseraTensorInfo,
) -> TesseraStatus {
    guard(|| {
        let info = Out::new(info, "info")?;
        // SAFETY: the caller's contract.
        let file = unsafe { handle(file, "file") }?;
        let inner = &file.inner;
        let tsr = inner.file();
        let t = tsr.tensors().get(index).ok_or(CapiError::TensorIndex {
            index,
            count: tsr.tensors().len(),
        })?;
        let mut shape = [0u64; TESSERA_MAX_RANK];
        // The reader rejects ranks above the spec's maximum (8).
        for (slot, &d) in shape.iter_mut().zip(&t.shape) {
            *slot = d;
        }
        let filled = TesseraTensorInfo {
            name: inner.names[index].as_ptr().cast(),
            name_len: t.name.len(),
            rank: t.shape.len() as u32,
            shape,
            rows: t.rows(),
            k: t.row_len(),
            encoding: t.encoding.id(),
            encoding_name: encoding_c_name(t.encoding),
            sparse: t.sparse,
            default_path: crate::matmul::path_code(t.encoding.path()),
            byte_length: t.length,
        };
        // SAFETY: checked by `Out::new`.
        unsafe { info.write(filled) };
        Ok(())
    })
}

/// Finds the tensor named `name` (NUL-terminated UTF-8) and stores its index in `*index`.
/// `TESSERA_STATUS_NOT_FOUND` if there is none.
///
/// # Safety
/// `file` must be NULL or a live file handle; `name` NULL or NUL-terminated; `index` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_file_find_tensor(
    file: *const TesseraFile,
    name: *const c_char,
    index: *mut usize,
) -> TesseraStatus {
    guard(|| {
        let index = Out::new(index, "index")?;
        // SAFETY: the caller's contract.
        let file = unsafe { handle(file, "file") }?;
        // SAFETY: the caller's contract.
        let name = unsafe { c_str(name, "name") }?;
        let tsr = file.inner.file();
        let found = tsr
            .tensor(name)
            .map(|view| view.info as *const _)
            .and_then(|wanted| tsr.tensors().iter().position(|t| std::ptr::eq(t, wanted)))
            .ok_or_else(|| CapiError::NotFound {
                name: name.to_string(),
            })?;
        // SAFETY: checked by `Out::new`.
        unsafe { index.write(found) };
        Ok(())
    })
}

/// The short name of the encoding with on-disk id `id` (`"q4"`, `"mxfp4"`, ...), or NULL if this
/// library does not know the id.
///
/// Ownership: static storage, never freed.
#[no_mangle]
pub extern "C" fn tessera_encoding_name(id: u32) -> *const c_char {
    std::panic::catch_unwind(|| Encoding::from_id(id).map_or(std::ptr::null(), encoding_c_name))
        .unwrap_or(std::ptr::null())
}

/// The library version (`"0.1.0"`). Static storage.
#[no_mangle]
pub extern "C" fn tessera_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

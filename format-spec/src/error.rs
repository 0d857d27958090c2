//! The one error type of the crate: every way a `.tsr` file can be refused, and every way a write
//! can fail. Offsets are absolute byte offsets in the file: of the directory field being read for
//! directory problems, of the tensor's data for data problems.

use std::path::PathBuf;

use crate::Encoding;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // ---- header and footer -------------------------------------------------------------------
    #[error("file is {len} bytes, shorter than a header and a footer ({min} bytes)")]
    TooShort { len: u64, min: u64 },
    #[error("not a .tsr file: magic bytes are {found:02x?}")]
    BadMagic { found: [u8; 8] },
    #[error("format version {major}.{minor} is not supported (this reader reads {supported}.x)")]
    UnsupportedVersion {
        major: u16,
        minor: u16,
        supported: u16,
    },
    #[error("footer missing (end magic not found): the file is truncated or was never committed")]
    MissingFooter,
    #[error(
        "footer places the directory at {directory_offset}+{directory_length}, \
         which does not end at the footer of a {file_len}-byte file"
    )]
    BadFooter {
        directory_offset: u64,
        directory_length: u64,
        file_len: u64,
    },
    #[error("header/directory checksum mismatch: footer says {expected:#018x}, bytes give {actual:#018x}")]
    ChecksumMismatch { expected: u64, actual: u64 },
    #[error("file requires features {bits:#x} that this reader does not know")]
    UnknownRequiredFeatures { bits: u64 },
    #[error("alignment {alignment} is not a power of two in 64..={max}")]
    InvalidAlignment { alignment: u64, max: u64 },

    // ---- directory structure -----------------------------------------------------------------
    #[error("{what} at offset {offset} needs {needed} bytes but only {available} remain")]
    Truncated {
        what: &'static str,
        offset: u64,
        needed: u64,
        available: u64,
    },
    #[error("{what} at offset {offset} is {count}, above the limit {max}")]
    CountTooLarge {
        what: &'static str,
        offset: u64,
        count: u64,
        max: u64,
    },
    #[error("{what} at offset {offset} has length {len}, above the limit {max}")]
    StringTooLong {
        what: &'static str,
        offset: u64,
        len: u64,
        max: u64,
    },
    #[error("{what} at offset {offset} is empty")]
    EmptyName { what: &'static str, offset: u64 },
    #[error("{what} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str, offset: u64 },
    #[error("metadata value type {tag} at offset {offset} is unknown")]
    UnknownValueType { tag: u8, offset: u64 },
    #[error("metadata array at offset {offset} holds arrays; nested arrays are not allowed")]
    NestedArray { offset: u64 },
    #[error("bool at offset {offset} is {value}, not 0 or 1")]
    InvalidBool { value: u8, offset: u64 },
    #[error("metadata key {key:?} at offset {offset} appears twice")]
    DuplicateKey { key: String, offset: u64 },
    #[error("metadata key {key:?} at offset {offset} is reserved for {expected} values")]
    ReservedKeyType {
        key: String,
        offset: u64,
        expected: &'static str,
    },
    #[error("directory has {extra} unread bytes at offset {offset}")]
    TrailingBytes { offset: u64, extra: u64 },

    // ---- one tensor's entry ------------------------------------------------------------------
    #[error("tensor {tensor:?} at offset {offset} appears twice")]
    DuplicateTensor { tensor: String, offset: u64 },
    #[error("tensor {tensor:?} (entry at {offset}) has rank {rank}; ranks are 1..={max}")]
    BadRank {
        tensor: String,
        offset: u64,
        rank: u64,
        max: u64,
    },
    #[error("tensor {tensor:?} (entry at {offset}) has a zero in dimension {axis}")]
    ZeroDim {
        tensor: String,
        offset: u64,
        axis: usize,
    },
    #[error("tensor {tensor:?} (entry at {offset}): shape {shape:?} overflows u64 in element count or bytes")]
    ShapeOverflow {
        tensor: String,
        offset: u64,
        shape: Vec<u64>,
    },
    #[error("tensor {tensor:?} (entry at {offset}) has unknown encoding id {id:#06x}")]
    UnknownEncoding {
        tensor: String,
        offset: u64,
        id: u32,
    },
    #[error("tensor {tensor:?} (entry at {offset}) has unknown flags {flags:#x}")]
    UnknownTensorFlags {
        tensor: String,
        offset: u64,
        flags: u32,
    },
    #[error("tensor {tensor:?} (entry at {offset}) is marked sparse but {encoding} is not a block encoding")]
    SparseRaw {
        tensor: String,
        offset: u64,
        encoding: Encoding,
    },

    // ---- one tensor's data -------------------------------------------------------------------
    #[error("tensor {tensor:?} at offset {offset} is not a multiple of the alignment {alignment}")]
    Misaligned {
        tensor: String,
        offset: u64,
        alignment: u64,
    },
    #[error("tensor {tensor:?}: offset {offset} + length {length} overflows u64")]
    OffsetOverflow {
        tensor: String,
        offset: u64,
        length: u64,
    },
    #[error(
        "tensor {tensor:?} at {offset}..+{length} is outside the data section {data_start}..{data_end}"
    )]
    OutOfBounds {
        tensor: String,
        offset: u64,
        length: u64,
        data_start: u64,
        data_end: u64,
    },
    #[error("tensor {tensor:?} is {actual} bytes but its shape and encoding imply {expected} (data at {offset})")]
    LengthMismatch {
        tensor: String,
        offset: u64,
        expected: u64,
        actual: u64,
    },
    #[error("tensor {tensor:?}: sparse bitmap at {offset} {problem}")]
    BadSparseBitmap {
        tensor: String,
        offset: u64,
        problem: &'static str,
    },
    #[error("tensor {tensor:?} at offset {offset} overlaps tensor {other:?}")]
    Overlap {
        tensor: String,
        other: String,
        offset: u64,
    },
    #[error("tensor {tensor:?} starts at {offset}, but the packed layout puts it at {expected}")]
    UnexpectedGap {
        tensor: String,
        offset: u64,
        expected: u64,
    },
    #[error("directory starts at {offset}, but the data section ends at {expected}")]
    DirectoryMisplaced { offset: u64, expected: u64 },
    #[error("padding byte at offset {offset} is {value:#04x}, not zero")]
    NonZeroPadding { offset: u64, value: u8 },
    #[error("tensor {tensor:?} (data at {offset}): checksum {actual:#018x}, directory says {expected:#018x}")]
    TensorChecksum {
        tensor: String,
        offset: u64,
        expected: u64,
        actual: u64,
    },

    // ---- typed views ---------------------------------------------------------------------------
    #[error("tensor {tensor:?} is {encoding}{sparse}, not viewable as {requested}", sparse = if *.sparse { " (sparse)" } else { "" })]
    WrongViewType {
        tensor: String,
        encoding: Encoding,
        sparse: bool,
        requested: &'static str,
    },
    #[error("tensor {tensor:?}: bytes are not aligned for a {requested} view")]
    UnalignedView {
        tensor: String,
        requested: &'static str,
    },

    // ---- writer ------------------------------------------------------------------------------
    #[error("alignment can only be set before the first tensor is written")]
    AlignmentLocked,
    #[error("{what}: {count} would exceed the limit {max}")]
    TooMany {
        what: &'static str,
        count: u64,
        max: u64,
    },
    #[error("this writer must be ended with {expected}()")]
    WrongFinish { expected: &'static str },
    #[error(
        "an earlier write failed or a tensor was left unfinished; the file cannot be completed"
    )]
    WriterPoisoned,
}

pub type Result<T, E = FormatError> = std::result::Result<T, E>;

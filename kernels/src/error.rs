//! The crate's error type: every way a caller's shapes, buffers or environment can be wrong.

use tessera_format::Encoding;

use crate::Isa;

/// What was wrong with a call. Kernels never panic on caller input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KernelError {
    #[error("TESSERA_ISA={name} is not a known tier (known: {known})")]
    UnknownIsa { name: String, known: String },
    #[error("TESSERA_ISA asks for {isa}, which this CPU cannot run")]
    IsaUnavailable { isa: Isa },
    #[error(
        "{tensor}: {encoding:?} is not an encoding this library defines (a width out of range)"
    )]
    UnknownEncoding { tensor: String, encoding: Encoding },
    #[error("{tensor}: {encoding} {rows} x {k} needs {expected} bytes, got {got}")]
    ByteLength {
        tensor: String,
        encoding: Encoding,
        rows: usize,
        k: usize,
        expected: u64,
        got: usize,
    },
    #[error("{tensor}: shape {rows} x {k} of {encoding} overflows")]
    ShapeOverflow {
        tensor: String,
        encoding: Encoding,
        rows: usize,
        k: usize,
    },
    #[error("{tensor}: rows of k = 0 elements (every dimension of a tensor is at least 1)")]
    EmptyRows { tensor: String },
    #[error("{tensor}: sparse storage needs a block encoding, not {encoding}")]
    NotBlocked { tensor: String, encoding: Encoding },
    #[error("{tensor}: sparse bitmap sets bit {bit} (byte offset {byte_offset}), past the {blocks} blocks")]
    BitmapPadding {
        tensor: String,
        bit: u64,
        byte_offset: u64,
        blocks: u64,
    },
    #[error("{tensor}: the integer path is not defined for {encoding} (use the float path)")]
    NoIntegerPath { tensor: String, encoding: Encoding },
    #[error("{what}: expected {expected} elements, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("activations have k = {got}, weights {tensor} have k = {expected}")]
    Width {
        tensor: String,
        expected: usize,
        got: usize,
    },
    #[error("row range {start}..{end} is not inside the {rows} rows of {tensor}")]
    RowRange {
        tensor: String,
        start: usize,
        end: usize,
        rows: usize,
    },
    #[error("scalar tier: {0}")]
    Reference(#[from] tessera_reference::RefError),
}

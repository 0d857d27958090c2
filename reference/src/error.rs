//! The one error type of the crate: every way a caller's shapes or bytes can be wrong.

use tessera_format::Encoding;

/// What was wrong with a call. The reference never panics on caller input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RefError {
    #[error("{encoding:?} is not an encoding this library defines (a width out of range)")]
    UnknownEncoding { encoding: Encoding },
    #[error("{what}: expected {expected} elements, got {got}")]
    ValueCount {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{encoding}: {rows} x {k} needs {expected} bytes, got {got}")]
    ByteLength {
        encoding: Encoding,
        rows: usize,
        k: usize,
        expected: u64,
        got: usize,
    },
    #[error("{encoding}: shape {rows} x {k} overflows")]
    ShapeOverflow {
        encoding: Encoding,
        rows: usize,
        k: usize,
    },
    #[error("{encoding}: matmul needs rows of k >= 1 elements")]
    EmptyRows { encoding: Encoding },
    #[error("{encoding}: sparse storage needs a block encoding")]
    NotBlocked { encoding: Encoding },
    #[error("sparse bitmap sets bit {bit}, past the {blocks} blocks of the tensor")]
    BitmapPadding { bit: u64, blocks: u64 },
    #[error("{encoding}: cannot quantize non-finite value {value} at element {index}")]
    NonFinite {
        encoding: Encoding,
        index: usize,
        value: f32,
    },
    #[error("importance {value} at element {index} is not a finite non-negative number")]
    BadImportance { index: usize, value: f32 },
    #[error("{encoding}: quantizing to this raw type is not supported")]
    UnsupportedTarget { encoding: Encoding },
    #[error(
        "{encoding}: the integer path is not defined for this encoding (its default path is float)"
    )]
    NoIntegerPath { encoding: Encoding },
    #[error("activations row {row} has k = {got}, weights have k = {expected}")]
    ActivationWidth {
        row: usize,
        expected: usize,
        got: usize,
    },
}

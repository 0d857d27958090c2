//! `tessera-reference`: the scalar definition of every encoding and of matmul arithmetic.
//!
//! Everything here is written to be read against `format-spec/SPEC.md`: one module per
//! encoding family (decode a block, give its groups' integers, quantize into it), the bit planes,
//! activation quantization, sparse storage, and both matmul paths of the arithmetic contract.
//! The SIMD kernels must give exactly these bits.

mod activations;
pub mod bfp;
pub mod block;
mod codec;
mod error;
pub mod fast;
pub mod fp;
pub mod int_affine;
pub mod int_super;
pub mod int_super_affine;
pub mod int_super_half;
pub mod int_sym;
pub mod layout;
mod matmul;
pub mod mx;
pub mod mx_elements;
pub mod planes;
pub mod quantizer;
pub mod raw;
mod sparse;

pub use activations::{quantize_activations, QuantizedActivations};
pub use block::IntGroup;
pub use codec::{dequantize, quantize_weighted, quantize_with};
pub use error::RefError;
pub use fast::Effort;
pub use matmul::{float_dot, integer_dot, matmul, matmul_quantized, LANES};
pub use sparse::{densify, sparsify, zero_block};
pub use tessera_format::{Encoding, MxType, Path, RawType};

/// A weight matrix: `rows` rows of `k` elements in `encoding`. `bytes` is the dense row-major
/// encoding, or, when `sparse`, the bitmap followed by the present blocks (SPEC.md,
/// "Sparse storage").
#[derive(Clone, Copy, Debug)]
pub struct Weights<'a> {
    pub encoding: Encoding,
    pub rows: usize,
    pub k: usize,
    pub bytes: &'a [u8],
    pub sparse: bool,
}

/// Quantizes `rows x k` values (row-major) into dense bytes with uniform importance. Raw float
/// encodings round to nearest even; block encodings search for the lowest squared error.
pub fn quantize(
    encoding: Encoding,
    rows: usize,
    k: usize,
    values: &[f32],
) -> Result<Vec<u8>, RefError> {
    quantize_weighted(encoding, rows, k, values, None)
}

/// The integer view of every group of row `row` of `w`, in order (`ceil(k / 32)` entries; `None`
/// for groups of omitted sparse blocks). For kernels' scalar tiers and tests.
pub fn row_int_groups(w: &Weights, row: usize) -> Result<Vec<Option<IntGroup>>, RefError> {
    if w.encoding.path() != Path::Integer {
        return Err(RefError::NoIntegerPath {
            encoding: w.encoding,
        });
    }
    let blocks = layout::Blocks::parse(w)?;
    if row >= w.rows {
        return Err(RefError::ValueCount {
            what: "row index",
            expected: w.rows,
            got: row,
        });
    }
    let per_block = blocks.groups_per_block();
    Ok((0..blocks.groups_per_row())
        .map(|j| {
            blocks.row(row)[j / per_block]
                .and_then(|b| block::int_group(w.encoding, b, j % per_block))
        })
        .collect())
}

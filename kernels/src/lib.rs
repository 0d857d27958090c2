//! `tessera-kernels`: run-time dispatched SIMD dequant-matmul kernels, bit-identical to
//! `tessera-reference` (SPEC.md, "Arithmetic contract").
//!
//! - [`WeightView`]: a checked, zero-copy view of a tensor's bytes (dense or sparse).
//! - [`kernels`] picks a tier once (`TESSERA_ISA=scalar|avx2|avx512|avx512vnni|avx512amx|...`
//!   forces one);
//!   [`kernels_for`] gives a specific tier; [`available_isas`] lists what this CPU runs.
//! - [`Kernels`] methods: dequantize (all or a row range), gemv / gemm on the integer or float
//!   path, a `_rows` variant for callers' own thread pools, and [`Kernels::par_gemm`] on rayon.
//!
//! ```
//! use tessera_format::{Encoding, Path};
//! use tessera_kernels::{kernels, WeightView};
//! let q8 = Encoding::IntSym { bits: 8 };
//! // two rows of 32 weights: scale 1.0, codes 129 (q = 1) and 127 (q = -1)
//! let mut bytes = vec![0x00, 0x3C];
//! bytes.extend([129u8; 32]);
//! bytes.extend([0x00, 0x3C]);
//! bytes.extend([127u8; 32]);
//! let w = WeightView::new(q8, 2, 32, &bytes).unwrap();
//! let y = kernels().unwrap().gemv(&w, &[1.0; 32], Path::Integer).unwrap();
//! assert_eq!(y, vec![32.0, -32.0]);
//! ```

mod activations;
mod api;
mod arch;
mod codec;
mod dispatch;
mod error;
mod isa;
pub mod probe;
mod scalar;
mod tile;
mod weights;

pub use activations::QuantizedActivations;
pub use dispatch::{kernels, kernels_for, Kernels};
pub use error::KernelError;
pub use isa::{available_isas, best_isa, Isa};
pub use weights::WeightView;

//! The matmul implementations `bench` and `demo` run: one entry per tier.
//!
//! Today this is the scalar reference (`tessera-reference`) only. This is the one place to add
//! the SIMD tiers of `tessera-kernels` (one `Tier` per available ISA); `bench` and `demo` need no
//! other change.

use tessera_format::{Encoding, Path};
use tessera_reference::{matmul, Weights};

/// A weight matrix as stored.
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    pub encoding: Encoding,
    pub rows: usize,
    pub k: usize,
    pub bytes: &'a [u8],
    pub sparse: bool,
}

/// One way of computing `Y = X W^T`.
pub struct Tier {
    pub name: String,
    imp: Imp,
}

enum Imp {
    Reference,
}

impl Tier {
    /// `m` rows of activations `x` (`m * k`) times `w`: `m x rows` outputs.
    pub fn gemm(&self, w: &Matrix, x: &[f32], m: usize, path: Path) -> Result<Vec<f32>, String> {
        match self.imp {
            Imp::Reference => {
                let weights = Weights {
                    encoding: w.encoding,
                    rows: w.rows,
                    k: w.k,
                    bytes: w.bytes,
                    sparse: w.sparse,
                };
                matmul(&weights, x, m, path).map_err(|e| e.to_string())
            }
        }
    }
}

/// Every tier this machine can run, slowest first.
pub fn available() -> Vec<Tier> {
    vec![Tier {
        name: "reference".into(),
        imp: Imp::Reference,
    }]
}

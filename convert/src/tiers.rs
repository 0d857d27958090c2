//! The matmul implementations `bench` and `demo` run: the scalar reference (`tessera-reference`,
//! the definition of correct) and every `tessera-kernels` tier this CPU can run.

use tessera_format::{Encoding, Path};
use tessera_kernels::{available_isas, kernels_for, Isa, WeightView};
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
    Kernel(Isa),
}

impl Tier {
    /// True for the scalar reference (slow; the definition the others must match).
    pub fn is_reference(&self) -> bool {
        matches!(self.imp, Imp::Reference)
    }

    /// `m` rows of activations `x` (`m * k`) times `w`: `m x rows` outputs. Kernel tiers split
    /// the rows over rayon's pool (same bits as one thread).
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
            Imp::Kernel(isa) => {
                let view = if w.sparse {
                    WeightView::new_sparse(w.encoding, w.rows, w.k, w.bytes)
                } else {
                    WeightView::new(w.encoding, w.rows, w.k, w.bytes)
                }
                .map_err(|e| e.to_string())?;
                let k = kernels_for(isa).map_err(|e| e.to_string())?;
                k.par_gemm(&view, x, m, path).map_err(|e| e.to_string())
            }
        }
    }
}

/// The reference, then every kernel tier this machine can run, slowest first.
pub fn available() -> Vec<Tier> {
    let mut v = vec![Tier {
        name: "reference".into(),
        imp: Imp::Reference,
    }];
    v.extend(available_isas().into_iter().map(|isa| Tier {
        name: isa.name().to_string(),
        imp: Imp::Kernel(isa),
    }));
    v
}

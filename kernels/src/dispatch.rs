//! One table of kernel entry points per tier, chosen once (`TESSERA_ISA` or the best this CPU
//! runs) and cached.

use std::ops::Range;
use std::sync::OnceLock;

use crate::{Isa, KernelError, QuantizedActivations, WeightView};

/// Integer path: `out[m][i] = Y[m][rows.start + i]` (`out` is `xq.m() x rows.len()`).
pub(crate) type IntRowsFn =
    fn(&WeightView, &QuantizedActivations, Range<usize>, &mut [f32]) -> Result<(), KernelError>;
/// Float path: like [`IntRowsFn`] with `m` rows of f32 activations.
pub(crate) type FloatRowsFn =
    fn(&WeightView, &[f32], usize, Range<usize>, &mut [f32]) -> Result<(), KernelError>;
/// Dequantize `rows` into `out` (`rows.len() x k`).
pub(crate) type DequantRowsFn =
    fn(&WeightView, Range<usize>, &mut [f32]) -> Result<(), KernelError>;

/// The kernels of one tier. Shapes are checked by the public API before any of these run.
pub struct Kernels {
    isa: Isa,
    pub(crate) int_rows: IntRowsFn,
    pub(crate) float_rows: FloatRowsFn,
    pub(crate) dequant_rows: DequantRowsFn,
}

impl Kernels {
    /// The tier these kernels belong to.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kernels({})", self.isa)
    }
}

static SCALAR: Kernels = Kernels {
    isa: Isa::Scalar,
    int_rows: crate::scalar::int_rows,
    float_rows: crate::scalar::float_rows,
    dequant_rows: crate::scalar::dequant_rows,
};

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Safe wrappers: each is reachable only through a table that `kernels_for` hands out after
    //! checking that this CPU has the tier's features.
    use super::*;
    use crate::arch::x86::{avx2, avx512};

    macro_rules! wrap {
        ($int:path, $float:path, $deq:path) => {
            (
                |w: &WeightView, xq: &QuantizedActivations, rows: Range<usize>, out: &mut [f32]| {
                    // SAFETY: the table holding this function is only handed out when the CPU has
                    // the tier's features; the API checked the shapes.
                    unsafe { $int(w, xq, rows, out) };
                    Ok(())
                },
                |w: &WeightView, x: &[f32], m: usize, rows: Range<usize>, out: &mut [f32]| {
                    // SAFETY: as above.
                    unsafe { $float(w, x, m, rows, out) };
                    Ok(())
                },
                |w: &WeightView, rows: Range<usize>, out: &mut [f32]| {
                    // SAFETY: as above.
                    unsafe { $deq(w, rows, out) };
                    Ok(())
                },
            )
        };
    }

    pub(super) fn table(isa: Isa) -> Kernels {
        let (int_rows, float_rows, dequant_rows): (IntRowsFn, FloatRowsFn, DequantRowsFn) =
            match isa {
                Isa::Avx2 => wrap!(avx2::int_rows, avx2::float_rows, avx2::dequant_rows),
                Isa::Avx512 => wrap!(
                    avx512::int_rows_plain,
                    avx512::float_rows,
                    avx512::dequant_rows
                ),
                Isa::Avx512Amx => wrap!(
                    avx512::int_rows_amx,
                    avx512::float_rows,
                    avx512::dequant_rows
                ),
                _ => wrap!(
                    avx512::int_rows_vnni,
                    avx512::float_rows,
                    avx512::dequant_rows
                ),
            };
        Kernels {
            isa,
            int_rows,
            float_rows,
            dequant_rows,
        }
    }
}

/// The kernels of tier `isa`, or an error if this CPU cannot run it. Tests use this to force
/// each tier.
///
/// ```
/// use tessera_kernels::{kernels_for, Isa};
/// assert_eq!(kernels_for(Isa::Scalar).unwrap().isa(), Isa::Scalar);
/// ```
pub fn kernels_for(isa: Isa) -> Result<&'static Kernels, KernelError> {
    if !isa.is_available() {
        return Err(KernelError::IsaUnavailable { isa });
    }
    if isa == Isa::Scalar {
        return Ok(&SCALAR);
    }
    #[cfg(target_arch = "x86_64")]
    {
        static TABLES: [OnceLock<Kernels>; Isa::ALL.len()] =
            [const { OnceLock::new() }; Isa::ALL.len()];
        let slot = Isa::ALL.iter().position(|&i| i == isa).unwrap_or(0);
        Ok(TABLES[slot].get_or_init(|| x86::table(isa)))
    }
    #[cfg(target_arch = "aarch64")]
    {
        static TABLES: [OnceLock<Kernels>; 3] = [const { OnceLock::new() }; 3];
        let slot = match isa {
            Isa::NeonDotprod => 1,
            Isa::NeonI8mm => 2,
            _ => 0,
        };
        Ok(TABLES[slot].get_or_init(|| {
            let (int_rows, float_rows, dequant_rows) = crate::arch::aarch64::entry_points(isa);
            Kernels {
                isa,
                int_rows,
                float_rows,
                dequant_rows,
            }
        }))
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    Ok(&SCALAR)
}

/// The kernels chosen for this process: `TESSERA_ISA` if set, else the best tier. Decided once.
pub fn kernels() -> Result<&'static Kernels, KernelError> {
    static CHOSEN: OnceLock<Result<Isa, KernelError>> = OnceLock::new();
    let isa = CHOSEN.get_or_init(crate::isa::selected_isa).clone()?;
    kernels_for(isa)
}

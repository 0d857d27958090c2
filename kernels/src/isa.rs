//! Instruction-set tiers: what this CPU can run, and which tier `TESSERA_ISA` asks for.

use crate::KernelError;

/// A kernel tier. Every tier gives the same bits; they differ only in speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// The scalar reference (`tessera-reference`), available everywhere.
    Scalar,
    /// AVX2 + FMA + F16C (x86-64 v3).
    Avx2,
    /// AVX-512 F/BW/VL/DQ without VNNI (integer dots through `vpmaddwd`).
    Avx512,
    /// AVX-512 F/BW/VL/DQ with VNNI (`vpdpbusd`).
    Avx512Vnni,
    /// [`Isa::Avx512Vnni`] with Intel AMX (AMX-TILE, AMX-INT8): the integer gemm of 32
    /// activation rows or more on tile registers (`tdpbssd`). The first probe of this tier (its
    /// `is_available`, hence [`available_isas`] and the default choice) asks Linux once for the
    /// process's permission to use the tile state; after that the kernel needs larger alternate
    /// signal stacks. A host that cannot allow that sets `TESSERA_ISA` to another tier, which
    /// skips the probe.
    Avx512Amx,
    /// aarch64 NEON (ARMv8.0): widening `smull`/`sadalp` dots.
    Neon,
    /// NEON with the dot-product extension (`sdot`).
    NeonDotprod,
    /// NEON with dotprod and the int8 matrix-multiply extension (`smmla` for gemm).
    NeonI8mm,
}

impl Isa {
    /// Every tier this crate knows, slowest first.
    pub const ALL: [Isa; 8] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::Avx512,
        Isa::Avx512Vnni,
        Isa::Avx512Amx,
        Isa::Neon,
        Isa::NeonDotprod,
        Isa::NeonI8mm,
    ];

    /// The name `TESSERA_ISA` accepts.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Avx512Amx => "avx512amx",
            Isa::Neon => "neon",
            Isa::NeonDotprod => "neondotprod",
            Isa::NeonI8mm => "neoni8mm",
        }
    }

    /// The tier with this name.
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == name)
    }

    /// True if this CPU can run the tier.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.is_available()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512dq")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => Isa::Avx512.is_available() && is_x86_feature_detected!("avx512vnni"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Amx => Isa::Avx512Vnni.is_available() && crate::arch::x86::amx::is_usable(),
            #[cfg(target_arch = "x86_64")]
            Isa::Neon | Isa::NeonDotprod | Isa::NeonI8mm => false,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDotprod => {
                Isa::Neon.is_available() && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::NeonI8mm => {
                Isa::NeonDotprod.is_available() && std::arch::is_aarch64_feature_detected!("i8mm")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The tiers this CPU can run, slowest first (always starts with [`Isa::Scalar`]).
///
/// ```
/// let tiers = tessera_kernels::available_isas();
/// assert_eq!(tiers[0], tessera_kernels::Isa::Scalar);
/// ```
pub fn available_isas() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
}

/// The fastest tier this CPU can run.
pub fn best_isa() -> Isa {
    *available_isas().last().unwrap_or(&Isa::Scalar)
}

/// The tier to use: `TESSERA_ISA` if set (an error if unknown or unavailable here), else the best.
pub(crate) fn selected_isa() -> Result<Isa, KernelError> {
    match std::env::var("TESSERA_ISA") {
        Ok(name) if !name.is_empty() => {
            let isa = Isa::from_name(&name).ok_or_else(|| KernelError::UnknownIsa {
                name: name.clone(),
                known: Isa::ALL.map(Isa::name).join("|"),
            })?;
            if !isa.is_available() {
                return Err(KernelError::IsaUnavailable { isa });
            }
            Ok(isa)
        }
        _ => Ok(best_isa()),
    }
}

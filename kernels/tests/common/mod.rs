//! Helpers shared by the kernel test files: which tiers to test and a replayable generator.

use tessera_kernels::{available_isas, kernels, kernels_for, Kernels};

/// The tiers under test: the forced one if `TESSERA_ISA` is set (so `.ci/kernel-tiers.sh` can run
/// a suite once per tier), else all this CPU runs.
pub fn tiers() -> Vec<&'static Kernels> {
    match std::env::var("TESSERA_ISA") {
        Ok(name) if !name.is_empty() => {
            vec![kernels().expect("TESSERA_ISA names a tier this CPU runs")]
        }
        _ => available_isas()
            .into_iter()
            .map(|i| kernels_for(i).unwrap())
            .collect(),
    }
}

/// A small deterministic generator (xorshift64*), so failures replay from the printed seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// `Ok` if `a` and `b` have the same bits everywhere (every NaN equal to every NaN), else the
/// first difference.
pub fn same_bits(a: &[f32], b: &[f32]) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("length {} vs {}", a.len(), b.len()));
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if !(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())) {
            return Err(format!(
                "element {i}: {x:e} ({:#010x}) vs reference {y:e} ({:#010x})",
                x.to_bits(),
                y.to_bits()
            ));
        }
    }
    Ok(())
}

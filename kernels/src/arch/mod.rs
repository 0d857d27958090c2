//! Per-architecture kernels. Each ISA module exposes the same three entry points (integer rows,
//! float rows, dequantize rows); `dispatch` wraps them in safe function pointers.

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

#[cfg(target_arch = "aarch64")]
pub(crate) mod aarch64;

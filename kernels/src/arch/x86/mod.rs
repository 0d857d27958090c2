//! x86-64 kernels: AVX2 (+FMA, F16C) and AVX-512 (F/BW/VL/DQ, optionally VNNI, optionally AMX
//! for the integer gemm).

pub(crate) mod amx;
pub(crate) mod avx2;
mod avx2_float;
mod avx2_int;
mod avx2_int_gemm;
pub(crate) mod avx512;
mod cache;
mod planes;
mod prefetch;
mod rows;
#[cfg(test)]
mod test_cases;

//! `tessera-kernels`: run-time dispatched SIMD kernels, bit-identical to `tessera-reference`.

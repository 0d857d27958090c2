//! Every kernel tier this CPU runs equals the reference bit for bit (NaN == NaN): dequantize,
//! gemm on both paths, row-range splits, the parallel gemm. The checks are
//! `tessera_tests::kernels_diff` (shared with the corpus replay).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_tests::kernels_diff::check_kernels(data);
});

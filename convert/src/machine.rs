//! This machine's limits, measured in the same run as the benchmarks they scale: DRAM read
//! bandwidth (one thread streaming a 256 MiB buffer; one core nearly saturates DRAM on the
//! machines we run on) and per-core int8-dot and f32-FMA peaks from `tessera_kernels::probe`,
//! times the thread count.

use std::time::Instant;
use tessera_kernels::probe;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub dram_gb_s: f64,
    /// Integer-path peak (int8 MACs x 2), all threads; `None` without AVX-512 VNNI.
    pub int8_gops: Option<f64>,
    /// f32 FMA peak (x 2), all threads; `None` without AVX-512.
    pub f32_gflops: Option<f64>,
}

/// Measures the limits (about half a second).
pub fn measure() -> Limits {
    let threads = rayon::current_num_threads() as f64;
    let buf = vec![1u8; 256 << 20];
    let t = Instant::now();
    let mut dram = 0.0f64;
    while dram == 0.0 || t.elapsed().as_secs_f64() < 0.3 {
        dram = dram.max(probe::read_bandwidth(&buf, 1));
    }
    Limits {
        dram_gb_s: dram / 1e9,
        int8_gops: probe::int8_dot_peak(2_000_000).map(|r| r * threads / 1e9),
        f32_gflops: probe::f32_fma_peak(2_000_000).map(|r| r * threads / 1e9),
    }
}

//! This machine's limits, measured in the same run as the benchmarks they scale, with the work
//! loops of `tessera_kernels::probe`: DRAM read bandwidth (one thread streaming a 256 MiB buffer;
//! one core nearly saturates DRAM on the machines we run on) and the per-core int8-dot and f32-FMA
//! peaks, times the thread count. Each figure is the best of a few wall-clock runs, so other load
//! on a shared machine lowers it less; the kernels are timed the same way.

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

/// The best rate (work per second) of `runs` calls of `work`, which returns the work it did.
fn best_rate(runs: usize, mut work: impl FnMut() -> Option<f64>) -> Option<f64> {
    let mut best: Option<f64> = None;
    for _ in 0..runs {
        let t = Instant::now();
        let done = work()?;
        let rate = done / t.elapsed().as_secs_f64();
        best = Some(best.map_or(rate, |b: f64| b.max(rate)));
    }
    best
}

/// Measures the limits (about a second).
pub fn measure() -> Limits {
    let threads = rayon::current_num_threads() as f64;
    let buf = vec![1u8; 256 << 20];
    let dram = best_rate(4, || {
        std::hint::black_box(probe::read_pass(&buf));
        Some(buf.len() as f64)
    })
    .unwrap_or(0.0);
    Limits {
        dram_gb_s: dram / 1e9,
        int8_gops: best_rate(5, || probe::int8_dot_work(1_000_000)).map(|r| r * threads / 1e9),
        f32_gflops: best_rate(5, || probe::f32_fma_work(1_000_000)).map(|r| r * threads / 1e9),
    }
}

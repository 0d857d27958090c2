//! This machine's limits, measured in the same run as the benchmarks they scale: DRAM read
//! bandwidth (all threads streaming a buffer far larger than the caches) and f32 multiply-add
//! throughput (all threads on L1-resident data, compiled for the baseline target, so it is the
//! portable-code ceiling rather than the AVX-512 peak).

use rayon::prelude::*;
use std::hint::black_box;
use std::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub dram_gb_s: f64,
    pub f32_gflops: f64,
}

/// Measures both limits (about half a second).
pub fn measure() -> Limits {
    Limits {
        dram_gb_s: dram_read(),
        f32_gflops: fma_rate(),
    }
}

fn dram_read() -> f64 {
    // 256 MiB: eight times the largest L3 of the machines we run on.
    let words = 32 << 20;
    let buf: Vec<u64> = (0..words as u64).collect();
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        let s: u64 = buf
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u64, |a, &b| a.wrapping_add(b)))
            .reduce(|| 0, u64::wrapping_add);
        black_box(s);
        best = best.max((words * 8) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

fn fma_rate() -> f64 {
    let n = 1024;
    let reps = 20_000usize;
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let total: f32 = (0..threads)
        .into_par_iter()
        .map(|i| {
            let a: Vec<f32> = (0..n).map(|j| (i + j) as f32 * 1e-3).collect();
            let b: Vec<f32> = (0..n).map(|j| j as f32 * 1e-3).collect();
            let mut acc = [0.0f32; 16];
            for _ in 0..reps {
                for (ca, cb) in black_box(&a).chunks_exact(16).zip(b.chunks_exact(16)) {
                    for l in 0..16 {
                        acc[l] += ca[l] * cb[l];
                    }
                }
            }
            acc.iter().sum::<f32>()
        })
        .sum();
    black_box(total);
    (2 * n * reps * threads) as f64 / t.elapsed().as_secs_f64() / 1e9
}

//! Helpers shared by the benchmarks: deterministic test bytes and robust timing.

use std::time::Instant;

/// `len` pseudo-random bytes (xorshift64*; every byte string is a valid block encoding).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        out.extend_from_slice(&s.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Random weight bytes for a dense `rows x k` tensor of `e`, with trained-looking scales: for the
/// E8M0-scaled encodings (MX, bfp) every block's exponent is set to 110..130 (scales 2^-17 ..
/// 2^3). Uniformly random exponents would make about 3% of the blocks' scale products f32
/// subnormals, which this CPU's FP units handle several times slower, and 1 in 256 scales NaN:
/// neither happens in real checkpoints. Every other encoding keeps its random bytes (their f16
/// scales never produce subnormal products with the activation scales).
pub fn weight_bytes(e: tessera_format::Encoding, rows: u64, k: u64, seed: u64) -> Vec<u8> {
    let len = e.tensor_bytes(&[rows, k]).expect("shape") as usize;
    let mut bytes = random_bytes(len, seed);
    if e.is_blocked() && e.block_header_bytes() == 1 {
        for (i, block) in bytes.chunks_mut(e.block_bytes()).enumerate() {
            block[0] = 110 + (i % 20) as u8;
        }
    }
    bytes
}

/// `len` activations in [-2, 2).
pub fn random_activations(len: usize, seed: u64) -> Vec<f32> {
    random_bytes(4 * len, seed)
        .chunks_exact(4)
        .map(|c| {
            (u32::from_le_bytes([c[0], c[1], c[2], c[3]]) >> 8) as f32 / (1u32 << 22) as f32 - 2.0
        })
        .collect()
}

/// Median wall time in seconds of `runs` calls of `f` (after one warm-up call).
pub fn median_secs(runs: usize, f: impl FnMut()) -> f64 {
    wall_secs(runs, f).median
}

/// Wall times of several calls, in seconds.
#[derive(Clone, Copy, Debug)]
pub struct WallSecs {
    pub median: f64,
    pub fastest: f64,
    pub slowest: f64,
}

/// Wall times of `runs` calls of `f` (after one warm-up call): on a shared host the spread says
/// how far the median can be trusted.
pub fn wall_secs(runs: usize, mut f: impl FnMut()) -> WallSecs {
    f();
    let mut t: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    WallSecs {
        median: t[t.len() / 2],
        fastest: t[0],
        slowest: t[t.len() - 1],
    }
}

/// Nanoseconds the calling thread has spent on a CPU (Linux `/proc/thread-self/schedstat`), so
/// single-thread figures are not inflated by other processes on a shared machine. `None` elsewhere.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Median on-CPU seconds per call of `f` on this thread: 5 samples of at least `batch` calls
/// each. The thread's CPU clock (`schedstat`) advances only at scheduler ticks (4 ms here), so
/// the batch is raised until a sample lasts at least 200 ms (quantization below 2%); with
/// shorter samples figures jumped between tick multiples (e.g. 52 or 79 Gweights/s for the same
/// kernel). Wall time if the CPU clock is unavailable.
pub fn median_cpu_secs(batch: usize, mut f: impl FnMut()) -> f64 {
    let mut batch = batch.max(1);
    if thread_cpu_ns().is_none() {
        return median_secs(5, || (0..batch).for_each(|_| f())) / batch as f64;
    }
    let start = Instant::now();
    f();
    let one = start.elapsed().as_secs_f64().max(1e-7);
    batch = batch.max((0.2 / one).ceil() as usize);
    let mut t: Vec<f64> = (0..5)
        .map(|_| {
            let start = thread_cpu_ns().unwrap_or(0);
            (0..batch).for_each(|_| f());
            thread_cpu_ns().unwrap_or(0).saturating_sub(start) as f64 * 1e-9 / batch as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// This machine's limits, measured in the calling process. Single-thread figures use this
/// thread's on-CPU time (robust to other load on a shared machine; DRAM bandwidth is still shared
/// with whatever else runs); the 2-thread peaks are wall time with both threads running the probe
/// at once, so they show how far the two vCPUs really scale, whatever they are mapped to.
pub struct Limits {
    /// Bytes per second, one thread streaming a buffer far larger than L3.
    pub dram: f64,
    /// int8 operations per second (a multiply-accumulate is 2), one thread: `vpdpbusd` with
    /// AVX-512 VNNI, else `vpmaddubsw` (see `tessera_kernels::probe::int8_dot_work`).
    pub int8: f64,
    /// f32 operations per second (an FMA is 2), one thread.
    pub fma: f64,
    /// int8 operations per second, two threads at once (wall time).
    pub int8_2t: f64,
    /// f32 operations per second, two threads at once (wall time).
    pub fma_2t: f64,
    /// int8 operations per second, one thread, of the integer path's per-group step with no
    /// loads (`probe::int8_gemm_step_work`): plain scale (q4, q8, MX), and with the integer
    /// sub-scale (q{b}k). The ceiling of a gemm that follows the contract. NaN without AVX-512
    /// VNNI (the probe is written for that register block only).
    pub int8_step: f64,
    /// As `int8_step`, with the integer sub-scale.
    pub int8_step_sub: f64,
}

/// A buffer for [`dram_read_rate`]: 512 MiB, 16x this machine's L3.
pub fn dram_buffer() -> Vec<u8> {
    random_bytes(512 << 20, 1)
}

/// One thread's read bandwidth over `buf` (bytes per second of on-CPU time). On a shared host it
/// moves with the neighbours' traffic (23-38 GB/s seen here within an hour), so a figure judged
/// against it should be measured right beside it.
pub fn dram_read_rate(buf: &[u8]) -> f64 {
    buf.len() as f64
        / median_cpu_secs(1, || {
            std::hint::black_box(tessera_kernels::probe::read_pass(buf));
        })
}

impl Limits {
    /// Runs the probes of `tessera_kernels::probe` (a few seconds).
    pub fn measure() -> Limits {
        use tessera_kernels::probe;
        let dram = dram_read_rate(&dram_buffer());
        let iters = 20_000_000;
        // Operations per second of one thread's on-CPU time for a probe `work(n)` that returns
        // the operations it did.
        let one = |work: &dyn Fn(usize) -> Option<f64>| {
            let ops = work(1).map(|one| one * iters as f64).unwrap_or(f64::NAN);
            ops / median_cpu_secs(1, || {
                std::hint::black_box(work(iters));
            })
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("thread pool");
        // The same on both threads at once, by wall time.
        let two = |work: fn(usize) -> Option<f64>| {
            let ops = work(1)
                .map(|one| 2.0 * one * iters as f64)
                .unwrap_or(f64::NAN);
            ops / median_secs(3, || {
                pool.broadcast(|_| std::hint::black_box(work(iters)));
            })
        };
        Limits {
            dram,
            int8_step: one(&|n| probe::int8_gemm_step_work(n, false, false)),
            int8_step_sub: one(&|n| probe::int8_gemm_step_work(n, true, false)),
            int8: one(&probe::int8_dot_work),
            fma: one(&probe::f32_fma_work),
            int8_2t: two(probe::int8_dot_work),
            fma_2t: two(probe::f32_fma_work),
        }
    }
}

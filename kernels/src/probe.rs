//! Machine-limit probes for benchmarks: how fast this CPU streams memory and how many int8 dot /
//! f32 FMA operations one core retires. Benchmarks report kernels as fractions of these, measured
//! in the same process.

use std::time::Instant;

/// Bytes per second one thread reads from `buf` (summing it with the widest loads available).
/// Use a buffer much larger than the last-level cache to measure DRAM.
pub fn read_bandwidth(buf: &[u8], passes: usize) -> f64 {
    let mut sink = 0u64;
    let start = Instant::now();
    for _ in 0..passes.max(1) {
        sink = sink.wrapping_add(read_all(buf));
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    (buf.len() * passes.max(1)) as f64 / secs
}

fn read_all(buf: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was just detected.
        return unsafe { x86::read_all_avx512(buf) };
    }
    buf.chunks(8).fold(0u64, |a, c| {
        a ^ c.iter().fold(0u64, |b, &v| b << 8 | v as u64)
    })
}

/// int8 multiply-accumulate operations per second on one core (a MAC counts as 2 operations), from
/// `vpdpbusd` on independent accumulators. `None` without AVX-512 VNNI.
pub fn int8_dot_peak(iters: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512f") {
        let start = Instant::now();
        // SAFETY: the features were just detected.
        let sink = unsafe { x86::dpbusd_loop(iters) };
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        // 12 accumulators x 16 lanes x 4 MACs x 2 ops per iteration.
        return Some((iters * 12 * 16 * 4 * 2) as f64 / secs);
    }
    let _ = iters;
    None
}

/// f32 floating-point operations per second on one core (an FMA counts as 2), from zmm FMAs on
/// independent accumulators. `None` without AVX-512.
pub fn f32_fma_peak(iters: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        let start = Instant::now();
        // SAFETY: the feature was just detected.
        let sink = unsafe { x86::fma_loop(iters) };
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        return Some((iters * 12 * 16 * 2) as f64 / secs);
    }
    let _ = iters;
    None
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn read_all_avx512(buf: &[u8]) -> u64 {
        let mut acc = [_mm512_setzero_si512(); 4];
        let chunks = buf.chunks_exact(256);
        let tail = chunks.remainder();
        for c in chunks {
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: `c` is 256 bytes; each load reads 64 of them.
                *a = _mm512_xor_si512(*a, unsafe {
                    _mm512_loadu_si512(c.as_ptr().add(64 * i).cast())
                });
            }
        }
        let v = _mm512_xor_si512(
            _mm512_xor_si512(acc[0], acc[1]),
            _mm512_xor_si512(acc[2], acc[3]),
        );
        _mm512_reduce_add_epi64(v) as u64 ^ tail.iter().map(|&b| b as u64).sum::<u64>()
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn dpbusd_loop(iters: usize) -> i64 {
        let a = _mm512_set1_epi8(3);
        let b = _mm512_set1_epi8(-5);
        let mut acc = [_mm512_setzero_si512(); 12];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_dpbusd_epi32(*v, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_epi32(v) as i64).sum()
    }

    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn fma_loop(iters: usize) -> f32 {
        let a = _mm512_set1_ps(0.999_999);
        let b = _mm512_set1_ps(1e-7);
        let mut acc = [_mm512_setzero_ps(); 12];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }
}

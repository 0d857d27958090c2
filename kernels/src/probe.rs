//! Machine-limit probes for benchmarks: the work that measures how fast this CPU streams memory
//! and how many int8 dot / f32 FMA operations one core retires. Each probe does its work and
//! returns how much it did; the caller times it (wall or on-CPU time) and divides. Benchmarks
//! report kernels as fractions of these, measured in the same process.

/// Reads every byte of `buf` once with the widest loads available (use a buffer much larger than
/// the last-level cache to measure DRAM). Returns a checksum so the reads cannot be elided.
pub fn read_pass(buf: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was just detected.
        return unsafe { x86::read_all_avx512(buf) };
    }
    buf.chunks(8).fold(0u64, |a, c| {
        a ^ c.iter().fold(0u64, |b, &v| b << 8 | v as u64)
    })
}

/// Runs `iters` rounds of `vpdpbusd` on 12 independent zmm accumulators; returns the int8
/// operations done (a multiply-accumulate counts as 2). `None` without AVX-512 VNNI.
pub fn int8_dot_work(iters: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512f") {
        // SAFETY: the features were just detected.
        std::hint::black_box(unsafe { x86::dpbusd_loop(iters) });
        // 12 accumulators x 16 lanes x 4 MACs x 2 ops per round.
        return Some((iters * 12 * 16 * 4 * 2) as f64);
    }
    let _ = iters;
    None
}

/// Runs `iters` rounds of zmm FMAs on 12 independent accumulators; returns the f32 operations
/// done (an FMA counts as 2). `None` without AVX-512.
pub fn f32_fma_work(iters: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was just detected.
        std::hint::black_box(unsafe { x86::fma_loop(iters) });
        return Some((iters * 12 * 16 * 2) as f64);
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

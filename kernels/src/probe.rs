//! Machine-limit probes for benchmarks: the work that measures how fast this CPU streams memory
//! and how many int8 dot / f32 FMA operations one core retires. Each probe does its work and
//! returns how much it did; the caller times it (wall or on-CPU time) and divides. Benchmarks
//! report kernels as fractions of these, measured in the same process.
//!
//! Each probe uses the widest instructions this CPU has: AVX-512 (`vpdpbusd` with VNNI) where
//! present, else AVX2 (`vpmaddubsw`, ymm FMA), so a machine without AVX-512 still gets its own
//! limits rather than none.

/// Reads every byte of `buf` once with the widest loads available (use a buffer much larger than
/// the last-level cache to measure DRAM). Returns a checksum so the reads cannot be elided.
pub fn read_pass(buf: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was just detected.
        return unsafe { x86::read_all_avx512(buf) };
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the feature was just detected.
        return unsafe { x86::read_all_avx2(buf) };
    }
    buf.chunks(8).fold(0u64, |a, c| {
        a ^ c.iter().fold(0u64, |b, &v| b << 8 | v as u64)
    })
}

/// Runs `iters` rounds of `vpdpbusd` on 12 independent zmm accumulators; returns the int8
/// operations done (a multiply-accumulate counts as 2). Without AVX-512 VNNI but with AVX2: 12
/// independent chains of ymm `vpmaddubsw` (32 u8 x s8 multiplies, pairs summed to i16), the int8
/// multiply rate of an AVX2 core (exact i32 sums need a `vpmaddwd`
/// as well, which on some cores shares the same pipe). `None` on other CPUs.
pub fn int8_dot_work(iters: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if vnni_detected() {
        // SAFETY: the features were just detected.
        std::hint::black_box(unsafe { x86::dpbusd_loop(iters) });
        // 12 accumulators x 16 lanes x 4 MACs x 2 ops per round.
        return Some((iters * 12 * 16 * 4 * 2) as f64);
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the feature was just detected.
        std::hint::black_box(unsafe { x86::maddubs_loop(iters) });
        // 12 accumulators x 32 MACs x 2 ops per round.
        return Some((iters * 12 * 32 * 2) as f64);
    }
    let _ = iters;
    None
}

/// The integer path's gemm ceiling: `iters` rounds of what a register-blocked kernel must do for
/// each group of 32 codes, on 10 independent outputs x 16 lanes: 8 `vpdpbusd` into an i32 sum,
/// then the contract's float step, `acc = fma(sw * sx, f32(isum), acc)` (with `mult`, the sum
/// times an integer sub-scale first; with `min`, the affine term `acc = fma(mw * sx, xsum, acc)`
/// too). No loads, no decode: on a CPU whose float multiplies share pipes with `vpdpbusd`, the
/// step alone keeps a gemm below the int8 peak, and this measures by how much. Returns the int8
/// operations of the `vpdpbusd`s (a MAC counts as 2), as the kernels' figures count them. `None`
/// without AVX-512 VNNI.
pub fn int8_gemm_step_work(iters: usize, mult: bool, min: bool) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if vnni_detected() {
        // SAFETY (every arm): the features were just detected.
        let r = unsafe {
            match (mult, min) {
                (false, false) => x86::gemm_step_loop::<false, false>(iters),
                (true, false) => x86::gemm_step_loop::<true, false>(iters),
                (false, true) => x86::gemm_step_loop::<false, true>(iters),
                (true, true) => x86::gemm_step_loop::<true, true>(iters),
            }
        };
        std::hint::black_box(r);
        // 10 outputs x 8 vpdpbusd x 16 lanes x 4 MACs x 2 ops per round.
        return Some((iters * 10 * 8 * 16 * 4 * 2) as f64);
    }
    let _ = (iters, mult, min);
    None
}

/// Runs `iters` rounds of zmm FMAs on 12 independent accumulators (ymm without AVX-512); returns
/// the f32 operations done (an FMA counts as 2). `None` without AVX-512 or AVX2 + FMA.
pub fn f32_fma_work(iters: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was just detected.
        std::hint::black_box(unsafe { x86::fma_loop(iters) });
        return Some((iters * 12 * 16 * 2) as f64);
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        std::hint::black_box(unsafe { x86::fma_loop_avx2(iters) });
        return Some((iters * 12 * 8 * 2) as f64);
    }
    let _ = iters;
    None
}

/// The features the int8 probes are compiled for.
#[cfg(target_arch = "x86_64")]
fn vnni_detected() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
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

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn read_all_avx2(buf: &[u8]) -> u64 {
        let mut acc = [_mm256_setzero_si256(); 8];
        let chunks = buf.chunks_exact(256);
        let tail = chunks.remainder();
        for c in chunks {
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: `c` is 256 bytes; each load reads 32 of them.
                *a = _mm256_xor_si256(*a, unsafe {
                    _mm256_loadu_si256(c.as_ptr().add(32 * i).cast())
                });
            }
        }
        let mut v = acc[0];
        for a in &acc[1..] {
            v = _mm256_xor_si256(v, *a);
        }
        let mut lanes = [0u64; 4];
        // SAFETY: `lanes` is 32 bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
        lanes.iter().fold(0, |a, &l| a ^ l) ^ tail.iter().map(|&b| b as u64).sum::<u64>()
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn maddubs_loop(iters: usize) -> i64 {
        let b = _mm256_set1_epi8(-5);
        // Distinct starts; each chain feeds its own product back in, so nothing is hoisted out of
        // the loop (the values saturate, which costs nothing).
        let mut acc: [__m256i; 12] = std::array::from_fn(|i| _mm256_set1_epi8(i as i8 + 1));
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_maddubs_epi16(*v, b);
            }
        }
        let mut lanes = [0i16; 16];
        let v = acc
            .iter()
            .fold(_mm256_setzero_si256(), |s, &v| _mm256_add_epi16(s, v));
        // SAFETY: `lanes` is 32 bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
        lanes.iter().map(|&l| l as i64).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma_loop_avx2(iters: usize) -> f32 {
        let a = _mm256_set1_ps(0.999_999);
        let b = _mm256_set1_ps(1e-7);
        let mut acc = [_mm256_setzero_ps(); 12];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        let v = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, &v| _mm256_add_ps(s, v));
        // SAFETY: `lanes` is 32 bytes.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().sum()
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

    /// Blocked like the AVX-512 gemm kernel: 5 activation rows x 2 vectors of 16 weight rows.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn gemm_step_loop<const MULT: bool, const MIN: bool>(iters: usize) -> f32 {
        let (a, mut b) = (_mm512_set1_epi8(3), _mm512_set1_epi8(-5));
        let xsum = _mm512_set1_ps(3.0);
        let mut sub = _mm512_set1_epi32(5);
        // The `asm!` blocks below are empty: they only make a value opaque to the compiler.
        // SAFETY: an empty template touches no memory and no other register.
        // Opaque: a constant sub-scale would become shifts and adds.
        std::arch::asm!("/* {0} */", inout(zmm_reg) sub, options(nomem, nostack, pure));
        // Distinct values everywhere, so no two products or chains are the same computation.
        let mut sw: [__m512; 2] = std::array::from_fn(|v| _mm512_set1_ps(1.0 + v as f32));
        let mut mw: [__m512; 2] = std::array::from_fn(|v| _mm512_set1_ps(-0.25 - v as f32));
        let mut sx: [f32; 5] = std::array::from_fn(|i| 0.5 + i as f32);
        let mut acc = [[_mm512_setzero_ps(); 2]; 5];
        for _ in 0..iters {
            // Opaque to the compiler, like the loads they stand for: nothing below is folded
            // into constants or hoisted out of the loop.
            // SAFETY: empty templates (above).
            std::arch::asm!("/* {0} */", inout(zmm_reg) b, options(nomem, nostack, pure));
            for v in sw.iter_mut().chain(mw.iter_mut()) {
                // SAFETY: as above.
                std::arch::asm!(
                    "/* {0} */",
                    inout(zmm_reg) * v,
                    options(nomem, nostack, pure)
                );
            }
            for x in sx.iter_mut() {
                // SAFETY: as above.
                std::arch::asm!(
                    "/* {0} */",
                    inout(xmm_reg) * x,
                    options(nomem, nostack, pure)
                );
            }
            // Distinct starts: identical chains would be computed once.
            let mut isum: [[__m512i; 2]; 5] = std::array::from_fn(|i| {
                [
                    _mm512_set1_epi32(2 * i as i32),
                    _mm512_set1_epi32(2 * i as i32 + 1),
                ]
            });
            for _ in 0..8 {
                for row in isum.iter_mut() {
                    row[0] = _mm512_dpbusd_epi32(row[0], a, b);
                    row[1] = _mm512_dpbusd_epi32(row[1], a, b);
                }
            }
            for i in 0..5 {
                let x = _mm512_set1_ps(sx[i]);
                for v in 0..2 {
                    let s = if MULT {
                        _mm512_mullo_epi32(isum[i][v], sub)
                    } else {
                        isum[i][v]
                    };
                    acc[i][v] =
                        _mm512_fmadd_ps(_mm512_mul_ps(sw[v], x), _mm512_cvtepi32_ps(s), acc[i][v]);
                    if MIN {
                        acc[i][v] = _mm512_fmadd_ps(_mm512_mul_ps(mw[v], x), xsum, acc[i][v]);
                    }
                }
            }
        }
        acc.iter()
            .map(|r| _mm512_reduce_add_ps(_mm512_add_ps(r[0], r[1])))
            .sum()
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

//! Kernel benchmarks, reported as fractions of this machine's limits measured first, in the same
//! process: single-thread DRAM read bandwidth (a buffer far larger than L3), int8 peak (`vpdpbusd`,
//! or `vpmaddubsw` on a CPU without AVX-512 VNNI) and f32 FMA peak per core.
//!
//! `cargo bench -p tessera-benches --bench kernels` prints the summary table (the figures in
//! benches/README.md) and then runs criterion on the main cases. `TESSERA_BENCH_QUICK=1` skips
//! the DRAM-sized gemv runs.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tessera_benches::{
    dram_buffer, dram_read_rate, median_cpu_secs, random_activations, wall_secs, weight_bytes,
    Limits,
};
use tessera_format::{Encoding, MxType, Path, RawType};
use tessera_kernels::{kernels, Kernels, QuantizedActivations, WeightView};

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

/// gemv (or, with `m > 1`, a small batch of `m` activation rows) on one thread over several
/// matrices that together are far larger than L3: bytes of weights streamed per second of on-CPU
/// time.
fn gemv_dram(k: &Kernels, e: Encoding, m: usize) -> f64 {
    let (rows, cols, copies) = (14336, 4096, 4);
    let mats: Vec<Vec<u8>> = (0..copies)
        .map(|i| weight_bytes(e, rows, cols, 10 + i))
        .collect();
    let views: Vec<WeightView> = mats
        .iter()
        .map(|b| WeightView::new(e, rows as usize, cols as usize, b).unwrap())
        .collect();
    let x = random_activations(m * cols as usize, 3);
    let xq = QuantizedActivations::new(&x, m, cols as usize).unwrap();
    let bytes: usize = mats.iter().map(Vec::len).sum();
    let secs = median_cpu_secs(2, || {
        for v in &views {
            std::hint::black_box(k.gemm_quantized(v, &xq).unwrap());
        }
    });
    bytes as f64 / secs
}

/// gemv on one thread with a `rows x cols` matrix resident in cache: weights per second of
/// on-CPU time.
fn gemv_cached(k: &Kernels, e: Encoding, rows: usize, cols: usize) -> f64 {
    let bytes = weight_bytes(e, rows as u64, cols as u64, 5);
    let view = WeightView::new(e, rows, cols, &bytes).unwrap();
    let x = random_activations(cols, 3);
    let xq = QuantizedActivations::new(&x, 1, cols).unwrap();
    let secs = median_cpu_secs(300, || {
        std::hint::black_box(k.gemm_quantized(&view, &xq).unwrap());
    });
    (rows * cols) as f64 / secs
}

/// gemm of `m` rows against `n x n` weights: operations (2 per MAC) per second on 2 threads (wall
/// time: median, slowest and fastest of 15 calls), and on 1 thread (on-CPU time, immune to other
/// load on a shared machine).
fn gemm_ops(k: &Kernels, e: Encoding, path: Path, m: usize, n: usize) -> (GemmRates, f64) {
    let bytes = weight_bytes(e, n as u64, n as u64, 7);
    let view = WeightView::new(e, n, n, &bytes).unwrap();
    let x = random_activations(m * n, 4);
    let ops = 2.0 * (m * n * n) as f64;
    let pool = pool(2);
    // The second vCPU is the one a shared host takes away: 15 calls, and the spread printed.
    let wall = wall_secs(15, || {
        pool.install(|| std::hint::black_box(k.par_gemm(&view, &x, m, path).unwrap()));
    });
    let cpu = median_cpu_secs(1, || {
        std::hint::black_box(k.gemm(&view, &x, m, path).unwrap());
    });
    let two = GemmRates {
        median: ops / wall.median,
        low: ops / wall.slowest,
        high: ops / wall.fastest,
    };
    (two, ops / cpu)
}

/// 2-thread gemm rates: of the median call, the slowest and the fastest.
struct GemmRates {
    median: f64,
    low: f64,
    high: f64,
}

impl GemmRates {
    /// `"<median> G<unit> (calls <low>-<high>)"`.
    fn show(&self, unit: &str) -> String {
        format!(
            "{:.0} G{unit} (calls {:.0}-{:.0})",
            self.median / 1e9,
            self.low / 1e9,
            self.high / 1e9
        )
    }
}

fn summary() {
    let k = kernels().expect("kernels");
    let quick = std::env::var("TESSERA_BENCH_QUICK").is_ok();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("tier: {}; load average at start: {}", k.isa(), load.trim());
    let lim = Limits::measure();
    println!(
        "limits: DRAM read {:.1} GB/s (1 thread), int8 dot {:.0} GOPS/core, f32 FMA {:.1} GFLOPS/core; \
         2 threads at once: int8 dot {:.0} GOPS ({:.2}x one), f32 FMA {:.1} GFLOPS ({:.2}x one)",
        lim.dram / 1e9,
        lim.int8 / 1e9,
        lim.fma / 1e9,
        lim.int8_2t / 1e9,
        lim.int8_2t / lim.int8,
        lim.fma_2t / 1e9,
        lim.fma_2t / lim.fma
    );
    if lim.int8_step.is_finite() {
        println!(
            "integer gemm ceiling (vpdpbusd + the contract's per-group float step, no loads): {:.0} GOPS \
             ({:.0}% of the int8 peak); with q{{b}}k's integer sub-scale {:.0} GOPS ({:.0}%)",
            lim.int8_step / 1e9,
            100.0 * lim.int8_step / lim.int8,
            lim.int8_step_sub / 1e9,
            100.0 * lim.int8_step_sub / lim.int8
        );
    } else {
        println!("integer gemm ceiling: n/a (its probe needs AVX-512 VNNI; the int8 peak above is vpmaddubsw's)");
    }
    let int_encs = [
        Encoding::IntSym { bits: 4 },
        Encoding::IntSym { bits: 8 },
        Encoding::IntSuper { bits: 4 },
        Encoding::Mx(MxType::Fp4E2M1),
    ];
    println!("| kernel | encoding | measured | fraction of limit | bar |");
    println!("|---|---|---|---|---|");
    if !quick {
        let dram_buf = dram_buffer();
        for e in int_encs {
            // The read rate drifts with the host's other traffic: judge each case against a
            // measurement taken just before it (and print both).
            let dram = dram_read_rate(&dram_buf);
            let bw = gemv_dram(k, e, 1);
            println!("| gemv int, 4 x 14336x4096 (DRAM), 1 thread | {e} | {:.1} GB/s (read probe just before: {:.1}) | {:.0}% of DRAM read | >= 85% |", bw / 1e9, dram / 1e9, 100.0 * bw / dram);
        }
        // A small batch (speculative decoding, a few users) reads the weights once for all its
        // rows: no bar, but it should stay near the read rate.
        for e in int_encs {
            let dram = dram_read_rate(&dram_buf);
            let bw = gemv_dram(k, e, 4);
            println!("| small batch int, M=4, 4 x 14336x4096 (DRAM), 1 thread | {e} | {:.1} GB/s (read probe just before: {:.1}) | {:.0}% of DRAM read | none |", bw / 1e9, dram / 1e9, 100.0 * bw / dram);
        }
    }
    // ggml's per-core rates on the Zen 4 VM (cycles per 32 weights at 2.6 GHz, FIELD-NOTES.md);
    // on another CPU compare with ggml measured there (benches/README.md says how).
    let ggml = |e: Encoding| match e {
        Encoding::IntSym { bits: 4 } => Some(2.84),
        Encoding::IntSym { bits: 8 } => Some(2.64),
        Encoding::IntSuper { bits: 4 } => Some(1.83),
        _ => None,
    };
    // In L3 (1024 x 2048: 2.2 MB at 8 bits) and in L2 (512 x 1024: 0.56 MB at 8 bits; L2 is 1 MB).
    for (rows, cols, level) in [(1024, 2048, "L3"), (512, 1024, "L2")] {
        for e in int_encs {
            let rate = gemv_cached(k, e, rows, cols);
            let vs = ggml(e).map_or("n/a (no ggml figure)".to_string(), |c| {
                format!("{:.2}x ggml (Zen 4 figure)", rate / (2.6e9 / c * 32.0))
            });
            println!("| gemv int, {rows}x{cols} ({level}), 1 thread | {e} | {:.1} Gweights/s | {vs} | >= 2x ggml |", rate / 1e9);
        }
    }
    for e in [
        Encoding::IntSym { bits: 8 },
        Encoding::IntSym { bits: 4 },
        Encoding::IntSuper { bits: 4 },
        Encoding::Mx(MxType::Fp4E2M1),
    ] {
        for m in [64, 256, 512] {
            let (two, one) = gemm_ops(k, e, Path::Integer, m, 4096);
            let ceiling = if matches!(e, Encoding::IntSuper { .. }) {
                lim.int8_step_sub
            } else {
                lim.int8_step
            };
            let bar = if e.element_bits() == 8 {
                ">= 75%"
            } else {
                ">= 65%"
            };
            println!(
                "| gemm int, M={m}, N=K=4096 | {e} | 2 threads {}; 1 thread {:.0} GOPS | {:.0}% of the 2-thread peak ({:.0}% of 2x one core's); 1 thread {:.0}% of the peak, {:.0}% of the ceiling | {bar} |",
                two.show("OPS"),
                one / 1e9,
                100.0 * two.median / lim.int8_2t,
                100.0 * two.median / (2.0 * lim.int8),
                100.0 * one / lim.int8,
                100.0 * one / ceiling
            );
        }
    }
    for e in [
        Encoding::Raw(RawType::F16),
        Encoding::Raw(RawType::F32),
        Encoding::Mx(MxType::Fp8E4M3),
        Encoding::Mx(MxType::Fp6E2M3),
    ] {
        let (two, one) = gemm_ops(k, e, Path::Float, 64, 2048);
        println!(
            "| gemm float, M=64, N=K=2048 | {e} | 2 threads {}; 1 thread {:.0} GFLOPS | {:.0}% of the 2-thread peak ({:.0}% of 2x one core's); {:.0}% of 1x peak | >= 70% |",
            two.show("FLOPS"),
            one / 1e9,
            100.0 * two.median / lim.fma_2t,
            100.0 * two.median / (2.0 * lim.fma),
            100.0 * one / lim.fma
        );
    }
}

fn benches(c: &mut Criterion) {
    summary();
    let k = kernels().expect("kernels");
    let mut g = c.benchmark_group("gemv_cached_1024x2048");
    g.sample_size(20);
    for e in [
        Encoding::IntSym { bits: 4 },
        Encoding::IntSym { bits: 8 },
        Encoding::IntSuper { bits: 4 },
        Encoding::Mx(MxType::Fp4E2M1),
    ] {
        let (rows, cols) = (1024usize, 2048usize);
        let bytes = weight_bytes(e, rows as u64, cols as u64, 5);
        let view = WeightView::new(e, rows, cols, &bytes).unwrap();
        let xq = QuantizedActivations::new(&random_activations(cols, 3), 1, cols).unwrap();
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(e.name(), |b| {
            b.iter(|| k.gemm_quantized(&view, &xq).unwrap())
        });
    }
    g.finish();
    let mut g = c.benchmark_group("gemm_m64_4096");
    g.sample_size(10);
    for e in [Encoding::IntSym { bits: 8 }, Encoding::IntSym { bits: 4 }] {
        let n = 4096usize;
        let bytes = weight_bytes(e, n as u64, n as u64, 7);
        let view = WeightView::new(e, n, n, &bytes).unwrap();
        let x = random_activations(64 * n, 4);
        let pool = pool(2);
        g.throughput(Throughput::Elements(2 * 64 * (n * n) as u64));
        g.bench_function(e.name(), |b| {
            b.iter(|| pool.install(|| k.par_gemm(&view, &x, 64, Path::Integer).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(kernel_benches, benches);
criterion_main!(kernel_benches);

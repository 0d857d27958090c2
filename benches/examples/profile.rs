//! Runs one kernel in a loop for profiling (`perf record`):
//! `profile <encoding> <m> <n> <k> <iters> [float|int] [copies]`. With `copies` > 1 the call cycles
//! through that many weight matrices (e.g. 4 x 14336 x 4096 to stream from DRAM).
//! `TESSERA_PROFILE_RANDOM_EXP=1`: see below. `TESSERA_PROFILE_THREADS=n`: `par_gemm` on an
//! n-thread pool from f32 activations (quantization included, as in the bench table), wall time.

use tessera_benches::{
    median_cpu_secs, median_secs, random_activations, random_bytes, weight_bytes,
};
use tessera_format::{Encoding, Path};
use tessera_kernels::{kernels, QuantizedActivations, WeightView};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let e = Encoding::from_name(&arg(1, "q4")).expect("encoding name");
    let m: usize = arg(2, "1").parse().expect("m");
    let n: usize = arg(3, "1024").parse().expect("n");
    let k: usize = arg(4, "2048").parse().expect("k");
    let iters: usize = arg(5, "1000").parse().expect("iters");
    let float = arg(6, "") == "float";
    let copies: usize = arg(7, "1").parse().expect("copies");
    // Trained-looking E8M0 exponents (see `weight_bytes`); `TESSERA_PROFILE_RANDOM_EXP=1` keeps
    // them uniformly random, as in the bench tables before 2026-11-22 23:30 UTC.
    let random_exp = std::env::var_os("TESSERA_PROFILE_RANDOM_EXP").is_some();
    let mats: Vec<Vec<u8>> = (0..copies.max(1) as u64)
        .map(|i| {
            if random_exp {
                random_bytes(
                    e.tensor_bytes(&[n as u64, k as u64]).expect("shape") as usize,
                    5 + i,
                )
            } else {
                weight_bytes(e, n as u64, k as u64, 5 + i)
            }
        })
        .collect();
    let views: Vec<WeightView> = mats
        .iter()
        .map(|b| WeightView::new(e, n, k, b).expect("view"))
        .collect();
    let mut next = 0;
    let x = random_activations(m * k, 3);
    let xq = QuantizedActivations::new(&x, m, k).expect("activations");
    let kern = kernels().expect("kernels");
    let path = if float { Path::Float } else { Path::Integer };
    let pool = std::env::var("TESSERA_PROFILE_THREADS").ok().map(|t| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t.parse().expect("TESSERA_PROFILE_THREADS"))
            .build()
            .expect("pool")
    });
    let run = || {
        let view = &views[next % views.len()];
        next += 1;
        match (&pool, path) {
            (Some(pool), _) => pool.install(|| kern.par_gemm(view, &x, m, path)),
            (None, Path::Float) => kern.gemm(view, &x, m, path),
            (None, Path::Integer) => kern.gemm_quantized(view, &xq),
        }
        .map(std::hint::black_box)
        .expect("gemm");
    };
    // Several threads: wall time; one: this thread's on-CPU time.
    let secs = if pool.is_some() {
        median_secs(iters, run)
    } else {
        median_cpu_secs(iters, run)
    };
    println!(
        "{} {e} m={m} n={n} k={k}: {:.3} ms, {:.1} GOPS, {:.2} GB/s weights",
        kern.isa(),
        secs * 1e3,
        2.0 * (m * n * k) as f64 / secs / 1e9,
        mats[0].len() as f64 / secs / 1e9
    );
}

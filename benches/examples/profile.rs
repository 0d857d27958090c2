//! Runs one kernel in a loop for profiling (`perf record`):
//! `profile <encoding> <m> <n> <k> <iters> [float|int] [copies]`. With `copies` > 1 the call cycles
//! through that many weight matrices (e.g. 4 x 14336 x 4096 to stream from DRAM).
//! `TESSERA_PROFILE_REAL_EXP=1`: see below.

use tessera_benches::{median_cpu_secs, random_activations, random_bytes};
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
    let mats: Vec<Vec<u8>> = (0..copies.max(1) as u64)
        .map(|i| {
            random_bytes(
                e.tensor_bytes(&[n as u64, k as u64]).expect("shape") as usize,
                5 + i,
            )
        })
        .collect();
    // Random E8M0 exponents put ~3% of blocks' scale products in the f32 subnormal range, where
    // this CPU's FP units are several times slower; `TESSERA_PROFILE_REAL_EXP=1` rewrites every
    // block's exponent of a dense E8M0-scaled encoding (MX, bfp) to 110..130, as trained weights have.
    let mats: Vec<Vec<u8>> = if std::env::var_os("TESSERA_PROFILE_REAL_EXP").is_some()
        && e.is_blocked()
        && e.block_header_bytes() == 1
    {
        mats.into_iter()
            .map(|mut b| {
                for (i, blk) in b.chunks_mut(e.block_bytes()).enumerate() {
                    blk[0] = 110 + (i % 20) as u8;
                }
                b
            })
            .collect()
    } else {
        mats
    };
    let views: Vec<WeightView> = mats
        .iter()
        .map(|b| WeightView::new(e, n, k, b).expect("view"))
        .collect();
    let mut next = 0;
    let x = random_activations(m * k, 3);
    let xq = QuantizedActivations::new(&x, m, k).expect("activations");
    let kern = kernels().expect("kernels");
    let secs = median_cpu_secs(iters, || {
        let view = &views[next % views.len()];
        next += 1;
        if float {
            std::hint::black_box(kern.gemm(view, &x, m, Path::Float).expect("gemm"));
        } else {
            std::hint::black_box(kern.gemm_quantized(view, &xq).expect("gemm"));
        }
    });
    println!(
        "{} {e} m={m} n={n} k={k}: {:.3} ms, {:.1} GOPS, {:.2} GB/s weights",
        kern.isa(),
        secs * 1e3,
        2.0 * (m * n * k) as f64 / secs / 1e9,
        mats[0].len() as f64 / secs / 1e9
    );
}

//! Runs one kernel in a loop for profiling (`perf record`): `profile <encoding> <m> <n> <k> <iters> [float]`.

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
    let bytes = random_bytes(
        e.tensor_bytes(&[n as u64, k as u64]).expect("shape") as usize,
        5,
    );
    let view = WeightView::new(e, n, k, &bytes).expect("view");
    let x = random_activations(m * k, 3);
    let xq = QuantizedActivations::new(&x, m, k).expect("activations");
    let kern = kernels().expect("kernels");
    let secs = median_cpu_secs(iters, || {
        if float {
            std::hint::black_box(kern.gemm(&view, &x, m, Path::Float).expect("gemm"));
        } else {
            std::hint::black_box(kern.gemm_quantized(&view, &xq).expect("gemm"));
        }
    });
    println!(
        "{} {e} m={m} n={n} k={k}: {:.3} ms, {:.1} GOPS, {:.2} GB/s weights",
        kern.isa(),
        secs * 1e3,
        2.0 * (m * n * k) as f64 / secs / 1e9,
        bytes.len() as f64 / secs / 1e9
    );
}

//! Quantizer speed per effort, on one thread: ns per weight and an FNV-1a digest of the bytes.
//!
//! `cargo run --release -p tessera-convert --example effort_speed [-- name ... | all [best|fast]]`
//! (default: q4, both efforts; `all`: every block encoding)
//!
//! The inputs are Gaussian rows with outliers (k = 384 and 4096) and MiniLM's layer-0
//! intermediate tensor when present. A change meant to speed a quantizer up without changing its
//! output must leave every digest as it was. Also times the converter's other per-weight work on
//! the same values: dequantizing (reference and the fastest kernel tier, which the converter
//! uses) and the error statistics.

use std::time::Instant;

use tessera_convert::stats::ErrorStats;
use tessera_reference::{dequantize, quantize_with, Effort, Encoding, Weights};

/// Deterministic Gaussian-ish values with a few large outliers (Box-Muller on an LCG).
fn synthetic(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut uniform = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64).max(1e-12)
    };
    (0..n)
        .map(|i| {
            let g = (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
            let outlier = if i % 997 == 0 { 12.0 } else { 1.0 };
            (0.02 * g * outlier) as f32
        })
        .collect()
}

fn minilm_layer0() -> Option<(usize, usize, Vec<f32>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/models/all-MiniLM-L6-v2/model.safetensors"
    );
    let data = std::fs::read(path).ok()?;
    let st = safetensors::SafeTensors::deserialize(&data).ok()?;
    let t = st
        .tensor("encoder.layer.0.intermediate.dense.weight")
        .ok()?;
    let values = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Some((t.shape()[0], t.shape()[1], values))
}

/// Runs per measurement (the least time is printed).
const REPS: usize = 5;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut efforts: Vec<Effort> = args.iter().filter_map(|a| Effort::from_name(a)).collect();
    if efforts.is_empty() {
        efforts = vec![Effort::Best, Effort::Fast];
    }
    let mut only: Vec<String> = args
        .into_iter()
        .filter(|a| Effort::from_name(a).is_none())
        .collect();
    if only.is_empty() {
        only.push("q4".into());
    }
    if only.iter().any(|o| o == "all") {
        only = Encoding::all_blocked().iter().map(|e| e.name()).collect();
    }
    let mut inputs = vec![
        (64, 384, synthetic(64 * 384, 1)),
        (16, 4096, synthetic(16 * 4096, 2)),
    ];
    match minilm_layer0() {
        Some(t) => inputs.push(t),
        None => eprintln!("(MiniLM absent: synthetic inputs only)"),
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let weights: usize = inputs.iter().map(|i| i.2.len()).sum();
    println!(
        "{:12} {:>6} {:>10} {:>18} {:>12} {:>12} {:>12}",
        "encoding", "effort", "ns/weight", "digest", "dequant ns/w", "simd deq", "stats ns/w"
    );
    for name in &only {
        let Some(e) = Encoding::from_name(name) else {
            eprintln!("{name}: not an encoding");
            continue;
        };
        for &effort in &efforts {
            // The least of REPS runs: other work on the machine only ever adds time.
            let (mut digest, mut q_ns, mut d_ns, mut s_ns) = (0u64, 0u128, 0u128, 0u128);
            let mut digest_of = 0u64;
            let mut kd_ns = 0u128;
            for (rows, k, values) in &inputs {
                let (mut q_min, mut d_min, mut s_min) = (u128::MAX, u128::MAX, u128::MAX);
                let mut kd_min = u128::MAX;
                for _ in 0..REPS {
                    pool.install(|| {
                        let t = Instant::now();
                        let bytes = quantize_with(e, *rows, *k, values, None, effort).unwrap();
                        q_min = q_min.min(t.elapsed().as_nanos());
                        let t = Instant::now();
                        let back = dequantize(&Weights {
                            encoding: e,
                            rows: *rows,
                            k: *k,
                            bytes: &bytes,
                            sparse: false,
                        })
                        .unwrap();
                        d_min = d_min.min(t.elapsed().as_nanos());
                        // The converter decodes with the fastest kernel tier (same bits).
                        let t = Instant::now();
                        let kern =
                            tessera_kernels::kernels_for(tessera_kernels::best_isa()).unwrap();
                        let view = tessera_kernels::WeightView::new(e, *rows, *k, &bytes).unwrap();
                        let fast_back = kern.dequantize(&view).unwrap();
                        kd_min = kd_min.min(t.elapsed().as_nanos());
                        assert!(fast_back == back, "kernel and reference decode differ");
                        let t = Instant::now();
                        std::hint::black_box(ErrorStats::measure(values, &back));
                        s_min = s_min.min(t.elapsed().as_nanos());
                        digest_of = fnv1a(&bytes);
                    });
                }
                digest = digest.rotate_left(5) ^ digest_of;
                (q_ns, d_ns, s_ns) = (q_ns + q_min, d_ns + d_min, s_ns + s_min);
                kd_ns += kd_min;
            }
            let per = |ns: u128| ns as f64 / weights as f64;
            println!(
                "{:12} {:>6} {:10.2} {:018x} {:12.2} {:12.2} {:12.2}",
                e.name(),
                effort.name(),
                per(q_ns),
                digest,
                per(d_ns),
                per(kd_ns),
                per(s_ns)
            );
        }
    }
}

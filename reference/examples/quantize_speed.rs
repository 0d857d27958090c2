//! Quantizer speed and output digest per encoding, on one thread.
//!
//! `cargo run --release -p tessera-reference --example quantize_speed [-- name ...]`
//!
//! Prints, per block encoding, the time per weight and an FNV-1a digest of the bytes for a fixed
//! set of inputs (Gaussian rows with outliers, k = 384 and 4096; and MiniLM's layer-0 intermediate
//! tensor when `../shared/models` has it). A change meant to speed a quantizer up without changing
//! its output must leave every digest as it was.

use std::time::Instant;

use tessera_reference::{quantize, Encoding};

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

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let mut inputs = vec![
        ("gauss 64x384", 64, 384, synthetic(64 * 384, 1)),
        ("gauss 16x4096", 16, 4096, synthetic(16 * 4096, 2)),
    ];
    match minilm_layer0() {
        Some((rows, k, v)) => inputs.push(("minilm l0 ffn", rows, k, v)),
        None => eprintln!("(MiniLM absent: synthetic inputs only)"),
    }
    // One thread, so the figure is per core and the pool's start-up is not timed.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    println!("{:12} {:>10} {:>18}", "encoding", "ns/weight", "digest");
    for e in Encoding::all_blocked() {
        if !only.is_empty() && !only.iter().any(|o| *o == e.name()) {
            continue;
        }
        let (mut digest, mut weights, start) = (0u64, 0usize, Instant::now());
        for (_, rows, k, values) in &inputs {
            let bytes = pool.install(|| quantize(e, *rows, *k, values).expect("quantize"));
            digest = digest.rotate_left(5) ^ fnv1a(&bytes);
            weights += values.len();
        }
        let ns = start.elapsed().as_nanos() as f64 / weights as f64;
        println!("{:12} {:10.1} {:018x}", e.name(), ns, digest);
    }
}

//! The fast effort on a real checkpoint: all-MiniLM-L6-v2's `encoder.layer.0.intermediate.dense.
//! weight` (1536 x 384), the tensor SPEC.md section 16 reports. Skips, saying so, when the model
//! is absent.
//!
//! `cargo test --release -p tessera-reference --test fast_minilm -- --nocapture` prints, per
//! `q{b}`, the relative RMSE of `Effort::Fast` and `Effort::Best`, their ratio, and ggml's legacy
//! rule (Q4_0, Q5_0) at the same bits per weight.

use std::path::PathBuf;

use tessera_reference::{dequantize, quantize_with, Effort, Encoding, Weights};

const NAME: &str = "encoder.layer.0.intermediate.dense.weight";

fn load() -> Option<(usize, usize, Vec<f32>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models/all-MiniLM-L6-v2/model.safetensors");
    let Ok(data) = std::fs::read(&path) else {
        eprintln!("SKIPPED: {} not found", path.display());
        return None;
    };
    let st = safetensors::SafeTensors::deserialize(&data).expect("valid safetensors");
    let t = st.tensor(NAME).expect("tensor");
    let values = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Some((t.shape()[0], t.shape()[1], values))
}

fn rel_rmse(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum();
    let den: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
    (num / den).sqrt()
}

fn ours(e: Encoding, effort: Effort, rows: usize, k: usize, v: &[f32]) -> f64 {
    let bytes = quantize_with(e, rows, k, v, None, effort).expect("quantize");
    let back = dequantize(&Weights {
        encoding: e,
        rows,
        k,
        bytes: &bytes,
        sparse: false,
    })
    .expect("dequantize");
    rel_rmse(v, &back)
}

/// ggml's symmetric legacy rule (Q4_0, Q5_0) as `reference/tests/minilm.rs` recomputes it: per
/// 32, the signed value of largest magnitude maps to `-o`, `d = max / -o` stored as f16, codes
/// `min(2o - 1, trunc(x / d + o + 0.5))`.
fn ggml_sym(k: usize, v: &[f32], bits: u32) -> f64 {
    let o = (1 << (bits - 1)) as f32;
    let mut back = Vec::with_capacity(v.len());
    for row in v.chunks(k) {
        for g in row.chunks(32) {
            let max = g
                .iter()
                .fold(0.0f32, |m, &x| if x.abs() > m.abs() { x } else { m });
            let d = max / -o;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let dh = half::f16::from_f32(d).to_f32();
            back.extend(
                g.iter()
                    .map(|&x| ((x * id + o + 0.5) as i32).min(2 * o as i32 - 1) as f32 - o)
                    .map(|q| q * dh),
            );
        }
    }
    rel_rmse(v, &back)
}

/// Fast's rel-RMSE over Best's, measured on this tensor; the test fails if Fast gets worse than
/// this (plus 0.5%).
const FAST_OVER_BEST: &[(u32, f64)] = &[
    (2, 1.0122),
    (3, 1.0041),
    (4, 1.0024),
    (5, 1.0120),
    (6, 1.0175),
    (7, 1.0365),
    (8, 1.0642),
];

#[test]
fn fast_q_b_against_best_and_ggml() {
    let Some((rows, k, v)) = load() else { return };
    println!(
        "{:8} {:>10} {:>10} {:>10} {:>12}",
        "encoding", "best", "fast", "fast/best", "ggml"
    );
    for &(bits, bound) in FAST_OVER_BEST {
        let e = Encoding::IntSym { bits };
        let best = ours(e, Effort::Best, rows, k, &v);
        let fast = ours(e, Effort::Fast, rows, k, &v);
        let ratio = fast / best;
        let ggml = match bits {
            4 | 5 => format!("Q{bits}_0 {:.4e}", ggml_sym(k, &v, bits)),
            _ => String::new(),
        };
        println!(
            "{:8} {best:10.4e} {fast:10.4e} {ratio:10.4} {ggml:>12}",
            e.name()
        );
        assert!(fast >= best * 0.999, "{e}: fast {fast} below best {best}?");
        assert!(
            ratio <= bound * 1.005,
            "{e}: fast / best = {ratio} > {bound}"
        );
        if bits == 4 || bits == 5 {
            let theirs = ggml_sym(k, &v, bits);
            assert!(fast < theirs, "{e}: fast {fast} >= ggml Q{bits}_0 {theirs}");
        }
    }
    // The Q4_0 figure for this tensor.
    let q4 = ours(Encoding::IntSym { bits: 4 }, Effort::Fast, rows, k, &v);
    assert!(q4 < 8.77e-2, "q4 fast {q4} >= Q4_0 8.77e-2");
}

//! Probe: rel-RMSE and time per encoding on one MiniLM tensor (development aid).
use std::time::Instant;
use tessera_reference::*;

fn main() {
    let name = std::env::args()
        .nth(1)
        .unwrap_or("encoder.layer.0.intermediate.dense.weight".into());
    let data = std::fs::read("/work/shared/models/all-MiniLM-L6-v2/model.safetensors").unwrap();
    let st = safetensors::SafeTensors::deserialize(&data).unwrap();
    let t = st.tensor(&name).unwrap();
    let v: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let (rows, k) = (t.shape()[0], t.shape()[1]);
    for enc in Encoding::all_blocked() {
        let t0 = Instant::now();
        let q = quantize(enc, rows, k, &v).unwrap();
        let d = dequantize(&Weights {
            encoding: enc,
            rows,
            k,
            bytes: &q,
            sparse: false,
        })
        .unwrap();
        let num: f64 = v
            .iter()
            .zip(&d)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        let den: f64 = v.iter().map(|a| (*a as f64).powi(2)).sum();
        println!(
            "{:12} {:6.3} {:.4e} {:?}",
            enc.name(),
            8.0 * q.len() as f64 / v.len() as f64,
            (num / den).sqrt(),
            t0.elapsed()
        );
    }
}

//! Helpers shared by the integration tests: small safetensors checkpoints written with the
//! `safetensors` crate, and hand-made hostile ones.
#![allow(dead_code)]

use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A tensor to write: name, dtype, shape, little-endian bytes.
pub struct T {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// A deterministic pseudo-random stream (xorshift), so tests need no rand crate.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Roughly normal: the sum of four uniforms, centred and scaled.
    pub fn gauss(&mut self) -> f32 {
        let s: f64 = (0..4)
            .map(|_| (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
            .sum();
        ((s - 2.0) * 1.732) as f32
    }
}

pub fn f32_tensor(name: &str, shape: &[usize], seed: u64) -> T {
    let n: usize = shape.iter().product();
    let mut rng = Rng::new(seed);
    let bytes = (0..n)
        .flat_map(|_| (rng.gauss() * 0.05).to_le_bytes())
        .collect();
    T {
        name: name.into(),
        dtype: Dtype::F32,
        shape: shape.into(),
        bytes,
    }
}

pub fn bf16_tensor(name: &str, shape: &[usize], seed: u64) -> T {
    let n: usize = shape.iter().product();
    let mut rng = Rng::new(seed);
    let bytes = (0..n)
        .flat_map(|_| half::bf16::from_f32(rng.gauss() * 0.05).to_le_bytes())
        .collect();
    T {
        name: name.into(),
        dtype: Dtype::BF16,
        shape: shape.into(),
        bytes,
    }
}

pub fn i64_tensor(name: &str, values: &[i64]) -> T {
    T {
        name: name.into(),
        dtype: Dtype::I64,
        shape: vec![values.len()],
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

pub fn serialize(tensors: &[T], meta: Option<HashMap<String, String>>) -> Vec<u8> {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                TensorView::new(t.dtype, t.shape.clone(), &t.bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, meta).unwrap()
}

pub fn write_file(path: &Path, tensors: &[T]) {
    std::fs::write(path, serialize(tensors, None)).unwrap();
}

/// Writes `shards` (file name -> tensors) and an index naming every tensor in its shard.
pub fn write_sharded(dir: &Path, shards: &[(&str, Vec<T>)]) -> PathBuf {
    let mut map = serde_json::Map::new();
    for (file, tensors) in shards {
        write_file(&dir.join(file), tensors);
        for t in tensors {
            map.insert(t.name.clone(), serde_json::Value::String(file.to_string()));
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    let path = dir.join("model.safetensors.index.json");
    std::fs::write(&path, serde_json::to_string_pretty(&index).unwrap()).unwrap();
    path
}

/// A safetensors file with a hand-written header (for hostile cases).
pub fn raw_file(header: &str, data_len: usize) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.resize(v.len() + data_len, 0);
    v
}

/// A small transformer-like checkpoint: embeddings, a norm, two linears with biases, an I64.
pub fn small_model(seed: u64) -> Vec<T> {
    vec![
        f32_tensor("embed_tokens.weight", &[64, 96], seed),
        f32_tensor("layers.0.norm.weight", &[96], seed + 1),
        f32_tensor("layers.0.up.weight", &[128, 96], seed + 2),
        f32_tensor("layers.0.up.bias", &[128], seed + 3),
        bf16_tensor("layers.0.down.weight", &[96, 128], seed + 4),
        i64_tensor("position_ids", &[0, 1, 2, 3, 4, 5, 6, 7]),
    ]
}

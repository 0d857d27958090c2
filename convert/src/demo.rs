//! `tessera demo`: the first command to run. It needs no download: it generates a small
//! transformer-like checkpoint (fixed seed; Gaussian weights with a few outlier rows, as trained
//! models have), converts it at several encodings, verifies each file against the source, runs
//! the matmul on every tier (the scalar reference and each `tessera-kernels` tier this CPU runs),
//! and prints one table. "bit-exact" compares every tier's gemv and 4-row gemm output bits with
//! the reference's, on every quantized tensor.

use crate::bench::{gaussian, time_per_call};
use crate::convert::{convert, Options};
use crate::error::{ConvertError, Result};
use crate::inspect::open;
use crate::recipe::Recipe;
use crate::source::Source;
use crate::tiers::{self, Matrix};
use crate::verify::verify;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// The encodings the demo converts to, from most to fewest bits.
pub const ENCODINGS: &[&str] = &[
    "q8", "mxint8", "q6k", "q5k", "q4k", "q4", "q4a", "mxfp4", "bfp4", "q3kh", "q3k", "q2kh", "q2k",
];

/// Hidden size, MLP size, vocabulary and layers of the generated model.
const HIDDEN: usize = 256;
const MLP: usize = 704;
const VOCAB: usize = 1024;
const LAYERS: usize = 2;

/// The generated checkpoint: (name, shape, values).
pub fn model() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut seed = 1u64;
    let mut mat = |name: String, rows: usize, k: usize, std: f32| {
        seed += 1;
        let mut v = gaussian(rows * k, seed);
        for x in v.iter_mut() {
            *x *= std;
        }
        // A few outlier rows, 8x the typical scale.
        for r in (0..rows).step_by(97) {
            for x in &mut v[r * k..(r + 1) * k] {
                *x *= 8.0;
            }
        }
        (name, vec![rows, k], v)
    };
    let mut t = vec![mat("embed_tokens.weight".into(), VOCAB, HIDDEN, 0.02)];
    for l in 0..LAYERS {
        for p in ["q", "k", "v", "o"] {
            t.push(mat(
                format!("layers.{l}.attn.{p}.weight"),
                HIDDEN,
                HIDDEN,
                0.06,
            ));
        }
        t.push(mat(format!("layers.{l}.mlp.up.weight"), MLP, HIDDEN, 0.06));
        t.push(mat(
            format!("layers.{l}.mlp.down.weight"),
            HIDDEN,
            MLP,
            0.04,
        ));
        t.push((
            format!("layers.{l}.norm.weight"),
            vec![HIDDEN],
            vec![1.0; HIDDEN],
        ));
    }
    t
}

fn write_model(path: &Path) -> Result<()> {
    let tensors = model();
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .filter_map(|(n, s, b)| Some((n.clone(), TensorView::new(Dtype::F32, s.clone(), b).ok()?)))
        .collect();
    safetensors::serialize_to_file(views, None, path).map_err(|e| ConvertError::Format {
        path: path.into(),
        reason: e.to_string(),
    })
}

/// One line of the demo's table.
pub struct Line {
    pub encoding: String,
    pub bpw: f64,
    pub rel_rmse: f64,
    pub gb_s: f64,
    pub bit_exact: Option<bool>,
}

/// Runs the demo; returns the table.
pub fn run() -> Result<String> {
    let dir = tempfile::tempdir().map_err(crate::error::io_err(std::env::temp_dir()))?;
    let src_path = dir.path().join("model.safetensors");
    write_model(&src_path)?;
    let source = Source::open(&src_path)?;
    let tiers = tiers::available();
    let mut lines = Vec::new();
    for name in ENCODINGS {
        let out = dir.path().join(format!("{name}.tsr"));
        let opts = Options {
            recipe: Recipe::uniform(name),
            ..Options::default()
        };
        let report = convert(&source, &out, &opts)?;
        // verify --against must agree with what convert measured.
        let checked = verify(&out, Some(&src_path))?;
        let mut sum_w = 0.0;
        let mut sum_e = 0.0;
        let mut bits = 0.0;
        for (r, c) in report.tensors.iter().zip(&checked.tensors) {
            if r.error != c.error {
                return Err(ConvertError::Verify {
                    path: out.clone(),
                    reason: format!("tensor {:?}: verify and convert disagree", r.name),
                });
            }
            if r.encoding == *name {
                let n: usize = r.shape.iter().product();
                let e = r.error.and_then(|e| e.rel_rmse).unwrap_or(f64::NAN);
                sum_w += n as f64;
                sum_e += n as f64 * e * e;
                bits += 8.0 * r.bytes_out as f64;
            }
        }
        let (gb_s, bit_exact) = run_tiers(&out, &tiers)?;
        lines.push(Line {
            encoding: name.to_string(),
            bpw: bits / sum_w,
            rel_rmse: (sum_e / sum_w).sqrt(),
            gb_s,
            bit_exact,
        });
    }
    let tier_names: Vec<&str> = tiers.iter().map(|t| t.name.as_str()).collect();
    let mut s = String::new();
    let params: usize = model().iter().map(|t| t.2.len()).sum();
    let _ = writeln!(
        s,
        "tessera demo: a generated {LAYERS}-layer model ({params} weights, f32), converted with every\n\
         float tensor of rank 2 at one encoding; each file verified against the source.\n\
         tiers: {}\n",
        tier_names.join(", ")
    );
    let _ = writeln!(
        s,
        "{:>9}  {:>6}  {:>9}  {:>8}  {:>22}",
        "encoding", "bpw", "rel-RMSE", "GB/s", "bit-exact across tiers"
    );
    for l in &lines {
        let exact = match l.bit_exact {
            Some(true) => "yes".to_string(),
            Some(false) => "NO".to_string(),
            None => format!("n/a ({} tier)", tiers.len()),
        };
        let _ = writeln!(
            s,
            "{:>9}  {:>6.3}  {:>9.3e}  {:>8.2}  {:>22}",
            l.encoding, l.bpw, l.rel_rmse, l.gb_s, exact
        );
    }
    let _ = writeln!(
        s,
        "\nrel-RMSE: element-weighted over the quantized tensors. GB/s: gemv on layers.0.mlp.up.weight\n\
         ({MLP}x{HIDDEN}, cache-resident), weight bytes per second, fastest kernel tier."
    );
    Ok(s)
}

/// gemv throughput on the MLP matrix (fastest tier) and whether every tier gives the same bits on
/// every quantized tensor (gemv and a 4-row gemm).
fn run_tiers(path: &Path, tiers: &[tiers::Tier]) -> Result<(f64, Option<bool>)> {
    let map = open(path)?;
    let f = map.file();
    let mut exact = true;
    let mut best = 0.0f64;
    for info in f.tensors() {
        if !info.encoding.is_blocked() {
            continue;
        }
        let view = f.tensor(&info.name).ok_or_else(|| ConvertError::Verify {
            path: path.into(),
            reason: format!("tensor {:?} vanished", info.name),
        })?;
        let k = *info.shape.last().unwrap_or(&1) as usize;
        let rows = info.shape.iter().product::<u64>() as usize / k;
        let m = Matrix {
            encoding: info.encoding,
            rows,
            k,
            bytes: view.bytes,
            sparse: info.sparse,
        };
        let x = gaussian(4 * k, 11);
        let mut first: Option<Vec<u32>> = None;
        for tier in tiers {
            let mut bits = Vec::new();
            for mrows in [1, 4] {
                let y = tier
                    .gemm(&m, &x[..mrows * k], mrows, info.encoding.path())
                    .map_err(|e| ConvertError::Verify {
                        path: path.into(),
                        reason: format!("tensor {:?} on {}: {e}", info.name, tier.name),
                    })?;
                bits.extend(y.iter().map(|v| v.to_bits()));
            }
            match &first {
                None => first = Some(bits),
                Some(f) => exact &= *f == bits,
            }
            if info.name == "layers.0.mlp.up.weight" && !tier.is_reference() {
                let t = time_per_call(Duration::from_millis(50), || {
                    let _ = tier.gemm(&m, &x[..k], 1, info.encoding.path());
                });
                best = best.max(view.bytes.len() as f64 / t / 1e9);
            }
        }
    }
    Ok((best, (tiers.len() > 1).then_some(exact)))
}

//! `tessera bench`: gemv and gemm throughput of every tier, on a file's tensors or on standard
//! LLM shapes, next to this machine's limits measured in the same run.
//!
//! gemv (one activation row) is memory-bound: it is reported in GB/s of weight bytes and as a
//! fraction of the measured DRAM read bandwidth (a matrix that fits in L3 can exceed 100%).
//! gemm (M = 16 rows) is compute-bound: it is reported in GOPS (2 * rows * k * M per call) and as
//! a fraction of the measured peak of its path (int8 dot for the integer path, f32 FMA for the
//! float path). The scalar reference is left out unless asked for: it is the definition of the
//! bits, not a fast path.

use crate::error::{ConvertError, Result};
use crate::inspect::open;
use crate::machine::{self, Limits};
use crate::tiers::{self, Matrix, Tier};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};
use tessera_format::Encoding;
use tessera_reference::quantize;

/// Activation rows of the gemm measurement.
const GEMM_M: usize = 16;

/// One workload: a named matrix.
pub struct Workload {
    pub name: String,
    pub encoding: Encoding,
    pub rows: usize,
    pub k: usize,
    pub bytes: Vec<u8>,
    pub sparse: bool,
}

/// Gaussian-ish values from a fixed seed (xorshift; the sum of four uniforms).
pub fn gaussian(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| ((next() + next() + next() + next() - 2.0) * 1.732) as f32)
        .collect()
}

fn standard(quick: bool) -> Result<Vec<Workload>> {
    let shapes: &[(&str, usize, usize)] = if quick {
        &[("2048x2048", 2048, 2048)]
    } else {
        &[
            ("4096x4096 (attention)", 4096, 4096),
            ("11008x4096 (MLP up)", 11008, 4096),
        ]
    };
    let encodings = ["q4k", "q8", "mxfp4"];
    let mut out = Vec::new();
    for &(name, rows, k) in shapes {
        let values = gaussian(rows * k, rows as u64 ^ k as u64);
        for e in encodings.iter().filter_map(|n| Encoding::from_name(n)) {
            let bytes = quantize(e, rows, k, &values).map_err(|err| ConvertError::Codec {
                path: "(generated)".into(),
                tensor: name.into(),
                reason: err.to_string(),
            })?;
            out.push(Workload {
                name: name.into(),
                encoding: e,
                rows,
                k,
                bytes,
                sparse: false,
            });
        }
    }
    Ok(out)
}

fn from_file(path: &Path, quick: bool) -> Result<Vec<Workload>> {
    let map = open(path)?;
    let f = map.file();
    let mut v: Vec<Workload> = f
        .tensors()
        .iter()
        .filter(|t| t.encoding.is_blocked() && t.shape.len() >= 2)
        .map(|t| {
            let k = *t.shape.last().unwrap_or(&1) as usize;
            let n: u64 = t.shape.iter().product();
            Workload {
                name: t.name.clone(),
                encoding: t.encoding,
                rows: n as usize / k.max(1),
                k,
                bytes: f
                    .tensor(&t.name)
                    .map(|v| v.bytes.to_vec())
                    .unwrap_or_default(),
                sparse: t.sparse,
            }
        })
        .collect();
    // The largest tensors say most about throughput; a handful keeps the run short.
    v.sort_by_key(|w| std::cmp::Reverse(w.bytes.len()));
    v.truncate(if quick { 2 } else { 6 });
    Ok(v)
}

/// Mean seconds per call: one warm-up, then calls until `budget` has passed (at least two).
pub fn time_per_call(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    let mut n = 0u32;
    while n < 2 || t.elapsed() < budget {
        f();
        n += 1;
    }
    t.elapsed().as_secs_f64() / n as f64
}

/// One measurement row.
pub struct Measured {
    pub gemv_gb_s: f64,
    pub gemm_gops: f64,
}

pub fn measure(
    tier: &Tier,
    w: &Workload,
    budget: Duration,
) -> std::result::Result<Measured, String> {
    let m = Matrix {
        encoding: w.encoding,
        rows: w.rows,
        k: w.k,
        bytes: &w.bytes,
        sparse: w.sparse,
    };
    let x = gaussian(GEMM_M * w.k, 7);
    let path = w.encoding.path();
    let mut err = None;
    let gemv = time_per_call(budget, || {
        if let Err(e) = tier.gemm(&m, &x[..w.k], 1, path) {
            err.get_or_insert(e);
        }
    });
    let gemm = time_per_call(budget, || {
        if let Err(e) = tier.gemm(&m, &x, GEMM_M, path) {
            err.get_or_insert(e);
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    Ok(Measured {
        gemv_gb_s: w.bytes.len() as f64 / gemv / 1e9,
        gemm_gops: 2.0 * (w.rows * w.k * GEMM_M) as f64 / gemm / 1e9,
    })
}

pub fn run(file: Option<&Path>, quick: bool, with_reference: bool) -> Result<String> {
    let work = match file {
        Some(p) => from_file(p, quick)?,
        None => standard(quick)?,
    };
    let limits: Limits = machine::measure();
    let budget = Duration::from_millis(if quick { 100 } else { 400 });
    let mut s = String::new();
    let opt = |x: Option<f64>| x.map(|v| format!("{v:.0}")).unwrap_or("n/a".into());
    let _ = writeln!(
        s,
        "machine (measured now): DRAM read {:.1} GB/s (1 thread), int8-dot peak {} GOPS, f32 FMA peak {} GFLOP/s ({} threads)",
        limits.dram_gb_s,
        opt(limits.int8_gops),
        opt(limits.f32_gflops),
        rayon::current_num_threads()
    );
    let w = work.iter().map(|w| w.name.len()).max().unwrap_or(6).max(6);
    let _ = writeln!(
        s,
        "{:10}  {:w$}  {:>8}  {:>10}  {:>7}  {:>10}  {:>8}",
        "tier", "tensor", "encoding", "gemv GB/s", "of DRAM", "gemm GOPS", "of peak"
    );
    for tier in tiers::available()
        .into_iter()
        .filter(|t| with_reference || !t.is_reference())
    {
        for wl in &work {
            match measure(&tier, wl, budget) {
                Ok(m) => {
                    let peak = match wl.encoding.path() {
                        tessera_format::Path::Integer => limits.int8_gops,
                        tessera_format::Path::Float => limits.f32_gflops,
                    };
                    let of_peak = peak
                        .map(|p| format!("{:.1}%", 100.0 * m.gemm_gops / p))
                        .unwrap_or("n/a".into());
                    let _ = writeln!(
                        s,
                        "{:10}  {:w$}  {:>8}  {:>10.2}  {:>6.1}%  {:>10.2}  {:>8}",
                        tier.name,
                        wl.name,
                        wl.encoding.name(),
                        m.gemv_gb_s,
                        100.0 * m.gemv_gb_s / limits.dram_gb_s,
                        m.gemm_gops,
                        of_peak
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        s,
                        "{:10}  {:w$}  {:>8}  failed: {e}",
                        tier.name,
                        wl.name,
                        wl.encoding.name()
                    );
                }
            }
        }
    }
    Ok(s)
}

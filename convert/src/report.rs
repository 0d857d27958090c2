//! Text and JSON output: the closing summary of `convert`, and the tables of `verify` and
//! `compare`.

use crate::convert::Report;
use crate::error::{io_err, Result};
use crate::verify::{TensorCheck, VerifyReport};
use std::fmt::Write as _;
use std::path::Path;

/// How many of the worst tensors the summary lists.
const WORST: usize = 5;

pub fn write_json(path: &Path, r: &Report) -> Result<()> {
    let text = serde_json::to_string_pretty(r).unwrap_or_default();
    std::fs::write(path, text + "\n").map_err(io_err(path))
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

pub fn render_summary(r: &Report) -> String {
    let mut s = String::new();
    let raw: Vec<&str> = r
        .tensors
        .iter()
        .filter(|t| t.note.as_deref().is_some_and(|n| n.ends_with("stored raw")))
        .map(|t| t.name.as_str())
        .collect();
    let quantized = r
        .tensors
        .iter()
        .filter(|t| {
            tessera_format::Encoding::from_name(&t.encoding).is_some_and(|e| e.is_blocked())
        })
        .count();
    let _ = writeln!(
        s,
        "{} -> {}: {} tensors ({} quantized), {:.1} MB -> {:.1} MB, {:.3} bits/weight quantized ({:.3} overall)",
        r.input.display(),
        r.output.display(),
        r.tensors.len(),
        quantized,
        mb(r.bytes_in),
        mb(r.bytes_out),
        r.avg_bpw_quantized,
        r.avg_bpw
    );
    let _ = writeln!(
        s,
        "{:.2} s, {:.0} MB/s of input, {} threads, quantizer effort {}",
        r.seconds, r.mb_per_s, r.threads, r.effort
    );
    if !raw.is_empty() {
        let _ = writeln!(s, "non-float tensors stored raw: {}", raw.join(", "));
    }
    for t in r.tensors.iter().filter(|t| t.encoding == "(not stored)") {
        let _ = writeln!(
            s,
            "not stored: {} ({})",
            t.name,
            t.note.as_deref().unwrap_or("")
        );
    }
    let mut worst: Vec<_> = r
        .tensors
        .iter()
        .filter_map(|t| Some((t, t.error?.rel_rmse?)))
        .filter(|(_, e)| *e > 0.0)
        .collect();
    worst.sort_by(|a, b| b.1.total_cmp(&a.1));
    if !worst.is_empty() {
        let _ = writeln!(s, "worst tensors by relative RMSE:");
        for (t, e) in worst.iter().take(WORST) {
            let _ = writeln!(s, "  {e:.3e}  {:>8}  {}", t.encoding, t.name);
        }
    }
    let pruned: Vec<_> = r
        .tensors
        .iter()
        .filter_map(|t| Some((t, t.prune_rel_rmse?)))
        .collect();
    if !pruned.is_empty() {
        let worst = pruned.iter().map(|p| p.1).fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "--prune-blocks: {} tensors pruned, worst pruning-only relative RMSE {worst:.3e}",
            pruned.len()
        );
    }
    let sparse = r.tensors.iter().filter(|t| t.sparse).count();
    if sparse > 0 {
        let _ = writeln!(s, "{sparse} tensors stored sparse");
    }
    s
}

fn fmt_opt(x: Option<f64>, prec: usize) -> String {
    match x {
        Some(v) => format!("{v:.prec$e}"),
        None => "-".into(),
    }
}

pub fn render_checks(checks: &[TensorCheck]) -> String {
    let mut s = String::new();
    let w = checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        s,
        "{:w$}  {:>10}  {:>10}  {:>10}  {:>8}",
        "name", "encoding", "rel-RMSE", "max-abs", "SNR dB"
    );
    for c in checks {
        let (rel, max, snr) = match (c.error, c.identical) {
            (Some(e), _) => (
                fmt_opt(e.rel_rmse, 3),
                fmt_opt(e.max_abs_error, 3),
                e.snr_db.map(|v| format!("{v:.1}")).unwrap_or("inf".into()),
            ),
            (None, Some(true)) => ("identical".into(), "-".into(), "-".into()),
            (None, Some(false)) => ("DIFFERENT".into(), "-".into(), "-".into()),
            (None, None) => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "{:w$}  {:>10}  {rel:>10}  {max:>10}  {snr:>8}",
            c.name, c.encoding
        );
    }
    s
}

pub fn render_verify(r: &VerifyReport, against: bool) -> String {
    let mut s = format!(
        "{}: structure and all {} tensor checksums OK\n",
        r.file,
        r.tensors.len()
    );
    if against {
        s.push_str(&render_checks(&r.tensors));
        for m in &r.missing {
            let _ = writeln!(s, "missing from the file: {m}");
        }
        for m in &r.extra {
            let _ = writeln!(s, "not in the source: {m}");
        }
    }
    s
}

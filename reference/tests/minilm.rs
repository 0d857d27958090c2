//! Quantization error on a real checkpoint: all-MiniLM-L6-v2 (shared/models). Skips, saying so,
//! when the model is absent.
//!
//! `cargo test --release -p tessera-reference --test minilm -- --nocapture` prints the table for
//! `encoder.layer.0.intermediate.dense.weight` (the tensor the issue's ggml figures were measured
//! on); add `--ignored` for every 2-D tensor of the model.

use std::path::PathBuf;

use tessera_reference::{dequantize, quantize_with, Effort, Encoding, Weights};

struct Tensor {
    name: String,
    rows: usize,
    k: usize,
    values: Vec<f32>,
}

fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models/all-MiniLM-L6-v2/model.safetensors")
}

/// Every 2-D f32 tensor (the one 2-D integer tensor, `position_ids`, holds indices, not weights).
fn load(only: Option<&str>) -> Option<Vec<Tensor>> {
    let path = model_path();
    let Ok(data) = std::fs::read(&path) else {
        eprintln!("SKIPPED: {} not found", path.display());
        return None;
    };
    let st = safetensors::SafeTensors::deserialize(&data).expect("valid safetensors");
    let mut names: Vec<String> = st.names().into_iter().map(|n| n.to_string()).collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        if only.is_some_and(|o| o != name.as_str()) {
            continue;
        }
        let t = st.tensor(&name).expect("tensor");
        if t.shape().len() != 2 || t.dtype() != safetensors::Dtype::F32 {
            continue;
        }
        let values = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.push(Tensor {
            name,
            rows: t.shape()[0],
            k: t.shape()[1],
            values,
        });
    }
    Some(out)
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

/// ggml's quantizers on every 2-D tensor of the model, measured with candle 0.11.1's ports (see
/// the file's header): `(tensor, [(type, rel-RMSE)])`.
fn ggml_measured() -> Vec<(String, Vec<(String, f64)>)> {
    let text = include_str!("data/ggml_minilm.tsv");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().expect("header").split('\t').skip(1).collect();
    lines
        .map(|l| {
            let mut cols = l.split('\t');
            let name = cols.next().expect("tensor name").to_string();
            let errs = header
                .iter()
                .zip(cols)
                .map(|(h, v)| (h.to_string(), v.parse().expect("rel-RMSE")))
                .collect();
            (name, errs)
        })
        .collect()
}

/// The measured ggml rel-RMSE of `ty` on `tensor`.
fn ggml_on(table: &[(String, Vec<(String, f64)>)], tensor: &str, ty: &str) -> f64 {
    let row = &table
        .iter()
        .find(|r| r.0 == tensor)
        .expect("tensor in table")
        .1;
    row.iter().find(|c| c.0 == ty).expect("type in table").1
}

/// Per code width, the ggml types nearest in bits per weight (ours at width b cost b + 0.25 to
/// b + 0.625; 7 bits is nearer Q6_K's 6.56 than Q8_0's 8.5). The best of our encodings of that
/// width (`q{b}`, `q{b}a`, `q{b}k`, `q{b}ka`, `q{b}kh`) must beat each on every tensor, except
/// where listed in [`KNOWN_SHORTFALLS`].
const NEAREST_GGML: &[(u32, &[&str])] = &[
    (2, &["Q2_K"]),
    (3, &["Q3_K"]),
    (4, &["Q4_0", "Q4_K"]),
    (5, &["Q5_0", "Q5_K"]),
    (6, &["Q6_K"]),
    (7, &["Q6_K"]),
    (8, &["Q8_0"]),
];

/// Where our best is measured worse than ggml: (width, tensor or "*", ggml type, largest ratio
/// ours / ggml measured); the test fails if a shortfall grows by more than 2%. Empty since
/// `q{b}kh` (16-weight sub-blocks, as Q2_K and Q3_K have): before it, 2 bits lost to Q2_K on
/// every tensor (up to 1.162, see `two_bit_groups_of_32_cannot_reach_q2_k`) and 3 bits to Q3_K
/// on the token-type table (1.098). Measured now: q2kh / Q2_K <= 0.898 and q3kh / Q3_K <= 0.826
/// on all 40 tensors.
const KNOWN_SHORTFALLS: &[(u32, &str, &str, f64)] = &[];

/// Checks every width of tensor `t` against [`NEAREST_GGML`] and [`KNOWN_SHORTFALLS`].
fn assert_beats_nearest_ggml(
    table: &[(String, Vec<(String, f64)>)],
    t: &Tensor,
    ours: &dyn Fn(&str) -> f64,
) {
    for &(bits, rivals) in NEAREST_GGML {
        let best = ["", "a", "k", "ka", "kh"]
            .iter()
            .map(|suffix| format!("q{bits}{suffix}"))
            .filter(|n| Encoding::from_name(n).is_some())
            .map(|n| ours(&n))
            .fold(f64::INFINITY, f64::min);
        for &rival in rivals {
            let ratio = best / ggml_on(table, &t.name, rival);
            let known = KNOWN_SHORTFALLS
                .iter()
                .find(|k| k.0 == bits && (k.1 == "*" || k.1 == t.name) && k.2 == rival);
            match known {
                Some(&(_, _, _, worst)) => assert!(
                    ratio <= worst * 1.02,
                    "{}: {bits}-bit shortfall against {rival} grew: {ratio:.3} > {worst}",
                    t.name
                ),
                None => assert!(
                    ratio < 1.0,
                    "{}: best {bits}-bit / {rival} = {ratio:.3}",
                    t.name
                ),
            }
        }
    }
}

fn ours(e: Encoding, t: &Tensor) -> (f64, f64) {
    ours_with(e, Effort::Best, t)
}

/// (bits per weight, rel-RMSE) of `e` at `effort`.
fn ours_with(e: Encoding, effort: Effort, t: &Tensor) -> (f64, f64) {
    let bytes = quantize_with(e, t.rows, t.k, &t.values, None, effort).expect("quantize");
    let w = Weights {
        encoding: e,
        rows: t.rows,
        k: t.k,
        bytes: &bytes,
        sparse: false,
    };
    let back = dequantize(&w).expect("dequantize");
    (
        8.0 * bytes.len() as f64 / t.values.len() as f64,
        rel_rmse(&t.values, &back),
    )
}

/// ggml's reference rule for the symmetric legacy types (Q4_0, Q5_0), written from its
/// description: per 32, the signed value of largest magnitude maps to `-o`, `d = max / -o` stored
/// as f16, codes `min(2o - 1, trunc(x / d + o + 0.5))`.
fn ggml_sym(t: &Tensor, bits: u32) -> f64 {
    let o = (1 << (bits - 1)) as f32;
    let mut back = Vec::with_capacity(t.values.len());
    for row in t.values.chunks(t.k) {
        for g in row.chunks(32) {
            let max = g
                .iter()
                .fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
            let d = max / -o;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let dh = half::f16::from_f32(d).to_f32();
            back.extend(
                g.iter()
                    .map(|&v| ((v * id + o + 0.5) as i32).min(2 * o as i32 - 1) as f32 - o)
                    .map(|q| q * dh),
            );
        }
    }
    rel_rmse(&t.values, &back)
}

/// ggml's reference rule for the affine legacy types (Q4_1, Q5_1): per 32, `d = (max - min) / L`
/// and `m = min`, both f16; codes `min(L, trunc((x - min) / d + 0.5))`.
fn ggml_affine(t: &Tensor, bits: u32) -> f64 {
    let top = ((1 << bits) - 1) as f32;
    let mut back = Vec::with_capacity(t.values.len());
    for row in t.values.chunks(t.k) {
        for g in row.chunks(32) {
            let lo = g.iter().fold(f32::INFINITY, |m, &v| m.min(v));
            let hi = g.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let d = (hi - lo) / top;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let (dh, mh) = (
                half::f16::from_f32(d).to_f32(),
                half::f16::from_f32(lo).to_f32(),
            );
            back.extend(
                g.iter()
                    .map(|&v| (((v - lo) * id + 0.5) as i32).min(top as i32) as f32 * dh + mh),
            );
        }
    }
    rel_rmse(&t.values, &back)
}

/// ggml's reference Q8_0 rule: `d = amax / 127` as f16, codes `round(x / d)` (half away from 0).
fn ggml_q8_0(t: &Tensor) -> f64 {
    let mut back = Vec::with_capacity(t.values.len());
    for row in t.values.chunks(t.k) {
        for g in row.chunks(32) {
            let amax = g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let dh = half::f16::from_f32(d).to_f32();
            back.extend(g.iter().map(|&v| (v * id).round() * dh));
        }
    }
    rel_rmse(&t.values, &back)
}

/// The legacy ggml types computed here: (name, bpw, rel-RMSE).
fn ggml_legacy(t: &Tensor) -> Vec<(&'static str, f64, f64)> {
    vec![
        ("Q4_0", 4.5, ggml_sym(t, 4)),
        ("Q4_1", 5.0, ggml_affine(t, 4)),
        ("Q5_0", 5.5, ggml_sym(t, 5)),
        ("Q5_1", 6.0, ggml_affine(t, 5)),
        ("Q8_0", 8.5, ggml_q8_0(t)),
    ]
}

/// Ours must beat each legacy ggml type with the encodings of the same or fewer bits per weight
/// (Q4_1 and Q5_1, affine over 32 at 5.0 and 6.0 bpw, are printed, not asserted: see the report).
fn assert_beats_legacy(t: &Tensor, ours: &dyn Fn(&str) -> f64) {
    for (ggml, _, theirs) in ggml_legacy(t) {
        let rivals: &[&str] = match ggml {
            "Q4_0" => &["q4", "q4a", "q4k"],
            "Q5_0" => &["q5", "q5a", "q5k"],
            "Q8_0" => &["q8", "q8a"],
            _ => &[],
        };
        for r in rivals {
            assert!(
                ours(r) < theirs,
                "{}: {r} {} >= {ggml} {theirs}",
                t.name,
                ours(r)
            );
        }
    }
}

/// Measured on this tensor (rel-RMSE); the test fails if any encoding gets 2% worse.
const LAYER0_INTERMEDIATE: &[(&str, f64)] = &[
    ("q2", 3.3449e-1),
    ("q3", 1.6530e-1),
    ("q4", 8.2675e-2),
    ("q5", 4.0931e-2),
    ("q6", 2.0044e-2),
    ("q7", 9.7566e-3),
    ("q8", 4.7358e-3),
    ("q2a", 3.2342e-1),
    ("q3a", 1.6668e-1),
    ("q4a", 8.2262e-2),
    ("q5a", 4.0289e-2),
    ("q6a", 1.9856e-2),
    ("q7a", 9.8399e-3),
    ("q8a", 4.9177e-3),
    ("q2k", 3.3457e-1),
    ("q3k", 1.6548e-1),
    ("q4k", 8.2997e-2),
    ("q5k", 4.1456e-2),
    ("q6k", 2.0731e-2),
    ("bfp2", 3.9032e-1),
    ("bfp3", 2.0999e-1),
    ("bfp4", 1.1400e-1),
    ("bfp5", 6.0347e-2),
    ("bfp6", 3.1297e-2),
    ("bfp7", 1.5959e-2),
    ("bfp8", 8.0535e-3),
    ("mxfp8_e4m3", 2.6418e-2),
    ("mxfp8_e5m2", 5.2814e-2),
    ("mxfp6_e2m3", 2.8146e-2),
    ("mxfp6_e3m2", 5.2816e-2),
    ("mxfp4", 1.1232e-1),
    ("mxint8", 8.0840e-3),
    ("q2ka", 2.9878e-1),
    ("q3ka", 1.4587e-1),
    ("q4ka", 7.0173e-2),
    ("q5ka", 3.4417e-2),
    ("q6ka", 1.7237e-2),
    ("q2kh", 2.6154e-1),
    ("q3kh", 1.2562e-1),
];

#[test]
fn layer0_intermediate_against_ggml() {
    let Some(ts) = load(Some("encoder.layer.0.intermediate.dense.weight")) else {
        return;
    };
    let t = &ts[0];
    // Measured here with candle 0.11.1's ports of ggml's quantizers (data/ggml_minilm.tsv); they
    // agree with the issue's figures (Q4_0 8.77e-2, Q4_K 7.56e-2, Q6_K 1.86e-2, Q8_0 5.47e-3).
    let table = ggml_measured();
    let g = |ty| ggml_on(&table, &t.name, ty);
    let (q4_0, q4_k, q6_k, q8_0) = (g("Q4_0"), g("Q4_K"), g("Q6_K"), g("Q8_0"));
    for (issue, measured) in [
        (8.77e-2, q4_0),
        (7.56e-2, q4_k),
        (1.86e-2, q6_k),
        (5.47e-3, q8_0),
    ] {
        assert!(
            (measured / issue - 1.0f64).abs() < 0.005,
            "{measured} vs {issue}"
        );
    }
    // Our own ggml-rule baselines must reproduce the issue's figures (checks loading and metric).
    let legacy = ggml_legacy(t);
    for (name, bpw, err) in &legacy {
        println!("ggml {name:5} {bpw:4.2} bpw {err:.4e}");
    }
    assert!((legacy[0].2 / q4_0 - 1.0).abs() < 0.01 && (legacy[4].2 / q8_0 - 1.0).abs() < 0.01);
    println!("{:12} {:>6} {:>10}", "encoding", "bpw", "rel-RMSE");
    let mut measured = Vec::new();
    for e in Encoding::all_blocked() {
        let (bpw, err) = ours(e, t);
        println!("{:12} {:6.3} {:10.4e}", e.name(), bpw, err);
        measured.push((e.name(), err));
    }
    let get = |n: &str| measured.iter().find(|m| m.0 == n).map(|m| m.1).unwrap();
    assert_eq!(LAYER0_INTERMEDIATE.len(), measured.len());
    for (name, bound) in LAYER0_INTERMEDIATE {
        assert!(
            get(name) <= bound * 1.02,
            "{name}: {} > {bound} * 1.02",
            get(name)
        );
    }
    assert_beats_legacy(t, &get);
    assert_beats_nearest_ggml(&table, t, &get);
    // 10% below Q8_0; record how far below the K-quant figures (Q4_K, Q6_K) we are.
    assert!(get("q8") < 0.9 * q8_0 && get("q8a") < 0.91 * q8_0);
    // The affine super-blocks (a scale and a min per 32 under f16 super-block scales, ggml's
    // K-quant geometry) beat Q4_K and Q6_K.
    assert!(get("q4ka") < q4_k && get("q6ka") < q6_k);
    let best4 = get("q4").min(get("q4a")).min(get("q4ka"));
    let best6 = get("q6").min(get("q6a")).min(get("q6ka"));
    println!(
        "best 4-bit / Q4_K = {:.3}, best 6-bit / Q6_K = {:.3}",
        best4 / q4_k,
        best6 / q6_k
    );
}

/// Per encoding, the largest rel-RMSE over every 2-D tensor of the model (measured; the test
/// fails if any gets 2% worse).
const WORST_OVER_MODEL: &[(&str, f64)] = &[
    ("q2", 3.5253e-1),
    ("q3", 2.2042e-1),
    ("q4", 1.5012e-1),
    ("q5", 8.3619e-2),
    ("q6", 4.3711e-2),
    ("q7", 2.1355e-2),
    ("q8", 1.0007e-2),
    ("q2a", 3.6124e-1),
    ("q3a", 2.5587e-1),
    ("q4a", 1.4482e-1),
    ("q5a", 6.9504e-2),
    ("q6a", 3.6229e-2),
    ("q7a", 1.7910e-2),
    ("q8a", 9.0458e-3),
    ("q2k", 3.5264e-1),
    ("q3k", 2.2221e-1),
    ("q4k", 1.5045e-1),
    ("q5k", 8.3946e-2),
    ("q6k", 4.4043e-2),
    ("bfp2", 4.2021e-1),
    ("bfp3", 2.4540e-1),
    ("bfp4", 1.8400e-1),
    ("bfp5", 1.1811e-1),
    ("bfp6", 5.9683e-2),
    ("bfp7", 3.1683e-2),
    ("bfp8", 1.4708e-2),
    ("mxfp8_e4m3", 3.2128e-2),
    ("mxfp8_e5m2", 5.3577e-2),
    ("mxfp6_e2m3", 4.3227e-2),
    ("mxfp6_e3m2", 5.3583e-2),
    ("mxfp4", 1.3180e-1),
    ("mxint8", 1.4708e-2),
    ("q2ka", 3.1880e-1),
    ("q3ka", 1.7724e-1),
    ("q4ka", 9.5265e-2),
    ("q5ka", 4.6084e-2),
    ("q6ka", 2.2876e-2),
    ("q2kh", 2.7308e-1),
    ("q3kh", 1.3162e-1),
];

#[test]
#[ignore = "minutes in release: every 2-D tensor of MiniLM in every encoding"]
fn every_tensor_table() {
    let Some(ts) = load(None) else { return };
    let table = ggml_measured();
    assert_eq!(
        table.len(),
        ts.len(),
        "one measured ggml row per 2-D tensor"
    );
    let all = Encoding::all_blocked();
    let mut worst = vec![0.0f64; all.len()];
    print!("{:48}", "tensor");
    for e in &all {
        print!(" {:>10}", e.name());
    }
    println!();
    print!("{:48}", "bpw (k = 384; 1536 for output.dense)");
    for e in &all {
        print!(" {:>10.3}", e.nominal_bpw());
    }
    println!();
    for t in &ts {
        let mut errs = Vec::new();
        print!("{:48}", t.name);
        for (i, &e) in all.iter().enumerate() {
            let (_, err) = ours(e, t);
            worst[i] = worst[i].max(err);
            print!(" {:10.4e}", err);
            errs.push((e.name(), err));
        }
        println!();
        let get = |n: &str| errs.iter().find(|m| m.0 == n).map(|m| m.1).unwrap();
        assert_beats_legacy(t, &get);
        for (name, _, theirs) in ggml_legacy(t) {
            print!("  ggml {name} {theirs:.4e}");
        }
        for ty in ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"] {
            print!("  ggml {ty} {:.4e}", ggml_on(&table, &t.name, ty));
        }
        println!();
        assert_beats_nearest_ggml(&table, t, &get);
    }
    print!("{:48}", "worst");
    for w in &worst {
        print!(" {:10.4e}", w);
    }
    println!();
    assert_eq!(WORST_OVER_MODEL.len(), all.len());
    for (name, bound) in WORST_OVER_MODEL {
        let i = all.iter().position(|e| e.name() == *name).unwrap();
        assert!(
            worst[i] <= bound * 1.02,
            "{name}: {} > {bound} * 1.02",
            worst[i]
        );
    }
}

/// The least squared error of fitting `x` (sorted ascending) with 4 evenly spaced levels
/// `m + d * c`, `c` in 0..4, for any real `m` and `d`: the minimum over every monotone split into
/// 4 runs of the least-squares error of that code assignment (an optimal fit assigns each value its
/// nearest level, so its codes are monotone in the value). Prefix sums make each split O(1).
fn best_four_level_fit(x: &[f64]) -> f64 {
    let n = x.len();
    let mut sum = vec![0.0f64; n + 1];
    for (i, v) in x.iter().enumerate() {
        sum[i + 1] = sum[i] + v;
    }
    let sxx: f64 = x.iter().map(|v| v * v).sum();
    let sx = sum[n];
    let mut best = sxx - sx * sx / n as f64; // all one code
    for c1 in 0..=n {
        for c2 in c1..=n {
            for c3 in c2..=n {
                let counts = [c1, c2 - c1, c3 - c2, n - c3];
                let sc: f64 = (0..4).map(|c| (c * counts[c]) as f64).sum();
                let scc: f64 = (0..4).map(|c| (c * c * counts[c]) as f64).sum();
                let sxc =
                    (sum[c2] - sum[c1]) + 2.0 * (sum[c3] - sum[c2]) + 3.0 * (sum[n] - sum[c3]);
                let det = n as f64 * scc - sc * sc;
                if det <= 0.0 {
                    continue;
                }
                let d = (n as f64 * sxc - sx * sc) / det;
                let m = (sx - d * sc) / n as f64;
                // Least-squares residual: x.x - beta . (X^T x).
                best = best.min(sxx - m * sx - d * sxc);
            }
        }
    }
    best.max(0.0)
}

/// The relative RMSE of the best 4-level fit of every group of `group` values of `t`.
fn four_level_bound(t: &Tensor, group: usize) -> f64 {
    let mut err = 0.0;
    for g in t.values.chunks(group) {
        let mut x: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        x.sort_by(f64::total_cmp);
        err += best_four_level_fit(&x);
    }
    let norm: f64 = t.values.iter().map(|&v| (v as f64).powi(2)).sum();
    (err / norm).sqrt()
}

/// Why 2 bits need `q2kh`: an encoding that gives each group of 32 weights (or a coarser unit) 4
/// evenly spaced levels cannot beat Q2_K here. Even with a real-valued scale and offset per group,
/// the best such fit of this tensor is worse than Q2_K, which adapts every 16 weights; our `q2ka`
/// is within 0.5% of that bound. Groups of 16 leave room to beat Q2_K by 10%, and `q2kh`, with
/// 16-weight sub-blocks, comes within 2% of that bound.
#[test]
fn two_bit_groups_of_32_cannot_reach_q2_k() {
    let Some(ts) = load(Some("encoder.layer.0.intermediate.dense.weight")) else {
        return;
    };
    let t = &ts[0];
    let q2_k = ggml_on(&ggml_measured(), &t.name, "Q2_K");
    let (bound32, bound16) = (four_level_bound(t, 32), four_level_bound(t, 16));
    let (_, q2ka) = ours(Encoding::from_name("q2ka").unwrap(), t);
    println!("4-level bound: groups of 32 {bound32:.4e}, of 16 {bound16:.4e}; Q2_K {q2_k:.4e}; q2ka {q2ka:.4e}");
    assert!(bound32 > q2_k, "{bound32} <= {q2_k}");
    assert!(
        q2ka >= bound32 && q2ka < bound32 * 1.005,
        "{q2ka} vs {bound32}"
    );
    assert!(bound16 < 0.9 * q2_k, "{bound16} vs {q2_k}");
    let (_, q2kh) = ours(Encoding::from_name("q2kh").unwrap(), t);
    println!("q2kh {q2kh:.4e}");
    assert!(
        q2kh >= bound16 && q2kh < bound16 * 1.02 && q2kh < 0.9 * q2_k,
        "{q2kh} vs {bound16}"
    );
}

/// `Effort::Fast` over `Effort::Best` rel-RMSE for `q{b}` on the layer-0 intermediate tensor,
/// measured; the test fails if Fast gets more than 0.5% worse than this.
const FAST_OVER_BEST: &[(u32, f64)] = &[
    (2, 1.0122),
    (3, 1.0041),
    (4, 1.0024),
    (5, 1.0120),
    (6, 1.0175),
    (7, 1.0365),
    (8, 1.0642),
];

/// The fast effort (a few candidate scales per group, `reference/src/fast.rs`) against the exact
/// search and ggml's legacy rule at the same bits per weight.
#[test]
fn fast_effort_against_best_and_ggml() {
    let Some(ts) = load(Some("encoder.layer.0.intermediate.dense.weight")) else {
        return;
    };
    let t = &ts[0];
    println!(
        "{:8} {:>10} {:>10} {:>10}",
        "encoding", "best", "fast", "fast/best"
    );
    for &(bits, bound) in FAST_OVER_BEST {
        let e = Encoding::IntSym { bits };
        let (_, best) = ours_with(e, Effort::Best, t);
        let (_, fast) = ours_with(e, Effort::Fast, t);
        let ratio = fast / best;
        println!("{:8} {best:10.4e} {fast:10.4e} {ratio:10.4}", e.name());
        assert!(fast >= best * 0.999, "{e}: fast {fast} below best {best}?");
        assert!(
            ratio <= bound * 1.005,
            "{e}: fast / best = {ratio} > {bound}"
        );
    }
    let table = ggml_measured();
    for (bits, ggml) in [(4, "Q4_0"), (5, "Q5_0"), (8, "Q8_0")] {
        let (_, fast) = ours_with(Encoding::IntSym { bits }, Effort::Fast, t);
        let theirs = ggml_on(&table, &t.name, ggml);
        assert!(fast < theirs, "q{bits} fast {fast} >= {ggml} {theirs}");
    }
}

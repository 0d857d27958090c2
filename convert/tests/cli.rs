//! The `tessera` binary end to end: conversion round trips, determinism across thread counts, and
//! every bad-input case of the issue (one-line error naming the file and tensor, non-zero exit,
//! nothing at the output path).

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Asserts a failure with one stderr line containing every needle; returns the line.
fn fails(o: &Output, needles: &[&str]) -> String {
    assert!(
        !o.status.success(),
        "unexpected success: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
    err
}

/// No file left in `dir` except those named.
fn only_files(dir: &Path, allowed: &[&str]) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            allowed.contains(&name.as_str()),
            "unexpected file {name} left in {}",
            dir.display()
        );
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn small_source(dir: &Path) -> PathBuf {
    let p = dir.join("model.safetensors");
    write_file(&p, &small_model(5));
    std::fs::write(
        dir.join("config.json"),
        r#"{"hidden_size": 96, "model_type": "toy", "layer_norm_eps": 1e-5, "architectures": ["Toy"]}"#,
    )
    .unwrap();
    p
}

#[test]
fn convert_inspect_verify_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = small_source(dir.path());
    let out = dir.path().join("m.tsr");
    let report = dir.path().join("report.json");
    let summary = ok(&tessera(&[
        "convert",
        s(&src),
        s(&out),
        "--report",
        s(&report),
    ]));
    assert!(summary.contains("6 tensors"), "{summary}");
    assert!(
        summary.contains("position_ids"),
        "summary names raw non-float tensors: {summary}"
    );

    let r = json(&std::fs::read_to_string(&report).unwrap());
    let by_name = |n: &str| {
        r["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("embed_tokens.weight")["encoding"], "mxint8");
    assert_eq!(by_name("layers.0.up.weight")["encoding"], "q4");
    assert_eq!(by_name("layers.0.down.weight")["encoding"], "q4");
    assert_eq!(by_name("layers.0.norm.weight")["encoding"], "f32");
    assert_eq!(by_name("position_ids")["encoding"], "i64");
    let up = by_name("layers.0.up.weight");
    let rel = up["rel_rmse"].as_f64().unwrap();
    assert!(rel > 0.01 && rel < 0.2, "{rel}");
    assert!(up["snr_db"].as_f64().unwrap() > 10.0);
    assert!(up["max_abs_error"].as_f64().unwrap() > 0.0);
    // 96 = three groups of 32: each an f16 scale and 16 code bytes.
    assert!((up["bpw"].as_f64().unwrap() - 8.0 * 3.0 * 18.0 / 96.0).abs() < 1e-9);

    // inspect: typed metadata from config.json and the converter's record.
    let i = json(&ok(&tessera(&["inspect", s(&out), "--json"])));
    let meta: Vec<(String, Value)> = serde_json::from_value(i["metadata"].clone()).unwrap();
    let get = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("config.hidden_size"), Some(Value::from(96)));
    assert_eq!(get("general.architecture"), Some(Value::from("toy")));
    assert_eq!(
        get("config.architectures"),
        Some(serde_json::json!(["Toy"]))
    );
    let sha = get("tessera.source.sha256").unwrap();
    assert_eq!(sha.as_str().unwrap().len(), 64);
    assert!(get("tessera.recipe")
        .unwrap()
        .as_str()
        .unwrap()
        .contains("mxint8"));
    assert_eq!(
        get("tessera.rel_rmse.layers.0.up.weight")
            .unwrap()
            .as_f64()
            .unwrap(),
        rel
    );
    assert_eq!(i["tensors"].as_array().unwrap().len(), 6);
    let table = ok(&tessera(&["inspect", s(&out)]));
    assert!(
        table.contains("layers.0.up.weight") && table.contains("q4"),
        "{table}"
    );

    // verify --against gives the figures convert reported.
    let v = json(&ok(&tessera(&[
        "verify",
        s(&out),
        "--against",
        s(&src),
        "--json",
    ])));
    for t in v["tensors"].as_array().unwrap() {
        let rep = by_name(t["name"].as_str().unwrap());
        assert_eq!(t["rel_rmse"], rep["rel_rmse"], "{}", t["name"]);
        assert_eq!(t["max_abs_error"], rep["max_abs_error"], "{}", t["name"]);
    }
    assert_eq!(
        v["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "position_ids")
            .unwrap()["identical"],
        true
    );

    // export, then compare the export with the source: the same per-tensor errors again.
    let exported = dir.path().join("back.safetensors");
    ok(&tessera(&["export", s(&out), s(&exported)]));
    let bytes = std::fs::read(&exported).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.len(), 6);
    assert_eq!(
        st.tensor("layers.0.up.weight").unwrap().dtype(),
        safetensors::Dtype::F32
    );
    assert_eq!(
        st.tensor("position_ids").unwrap().dtype(),
        safetensors::Dtype::I64
    );
    let c = json(&ok(&tessera(&["compare", s(&src), s(&exported), "--json"])));
    for t in c.as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let vt = v["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap();
        assert_eq!(t["rel_rmse"], vt["rel_rmse"], "{name}");
        assert_eq!(t["max_abs_error"], vt["max_abs_error"], "{name}");
        assert_eq!(t["snr_db"], vt["snr_db"], "{name}");
    }
}

#[test]
fn output_is_identical_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.safetensors");
    // 2100 rows of 1024: three chunks of rows, so the waves really run in parallel.
    write_file(
        &src,
        &[
            f32_tensor("w", &[2100, 1024], 9),
            bf16_tensor("v", &[64, 1000], 3),
        ],
    );
    let mut files = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.path().join(format!("t{threads}.tsr"));
        let rep = dir.path().join(format!("r{threads}.json"));
        ok(&tessera(&[
            "convert",
            s(&src),
            s(&out),
            "--type",
            "q4",
            "--threads",
            threads,
            "-q",
            "--report",
            s(&rep),
        ]));
        let r = json(&std::fs::read_to_string(&rep).unwrap());
        files.push((std::fs::read(&out).unwrap(), r["tensors"].clone()));
    }
    assert!(
        files.windows(2).all(|w| w[0] == w[1]),
        "outputs or error figures differ"
    );
}

#[test]
fn target_bpw_meets_the_budget_and_mixes_encodings() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    // Tensors of very different difficulty: a heavy-tailed one quantizes badly.
    let mut heavy = f32_tensor("heavy.weight", &[64, 256], 1);
    for (i, c) in heavy.bytes.chunks_exact_mut(4).enumerate() {
        if i % 37 == 0 {
            let v = f32::from_le_bytes(c.try_into().unwrap()) * 40.0;
            c.copy_from_slice(&v.to_le_bytes());
        }
    }
    write_file(
        &src,
        &[
            heavy,
            f32_tensor("a.weight", &[64, 256], 2),
            f32_tensor("b.weight", &[128, 256], 3),
        ],
    );
    let out = dir.path().join("m.tsr");
    let rep = dir.path().join("r.json");
    ok(&tessera(&[
        "convert",
        s(&src),
        s(&out),
        "--target-bpw",
        "4.5",
        "-q",
        "--report",
        s(&rep),
    ]));
    let r = json(&std::fs::read_to_string(&rep).unwrap());
    let avg = r["avg_bpw_quantized"].as_f64().unwrap();
    assert!(avg <= 4.5 + 1e-9 && avg > 3.0, "{avg}");
    let encs: Vec<&str> = r["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["encoding"].as_str().unwrap())
        .collect();
    assert!(
        encs.iter().any(|e| *e != encs[0]),
        "one encoding for all: {encs:?}"
    );
    // Small tensors are sampled whole, so the allocator's estimates are exact: its choice must
    // beat every uniform choice that fits the budget (q4k at 4.25 bits, q3k at 3.25).
    let weighted = |r: &Value| -> f64 {
        r["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let n: u64 = t["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap())
                    .product();
                n as f64 * t["rel_rmse"].as_f64().unwrap().powi(2)
            })
            .sum()
    };
    for uniform in ["q4k", "q3k"] {
        let rep_u = dir.path().join(format!("{uniform}.json"));
        ok(&tessera(&[
            "convert",
            s(&src),
            s(&dir.path().join("u.tsr")),
            "--type",
            uniform,
            "-q",
            "--report",
            s(&rep_u),
        ]));
        let ru = json(&std::fs::read_to_string(&rep_u).unwrap());
        assert!(
            weighted(&r) <= weighted(&ru),
            "{uniform}: {} > {}",
            weighted(&r),
            weighted(&ru)
        );
    }
    // A budget below every candidate is a usage error.
    let o = tessera(&[
        "convert",
        s(&src),
        s(&dir.path().join("x.tsr")),
        "--target-bpw",
        "1.0",
    ]);
    fails(&o, &["--target-bpw"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.path().join("x.tsr").exists());
}

#[test]
fn sparse_auto_and_prune_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    // Half the rows are zero: half the blocks can be omitted.
    let mut t = f32_tensor("w.weight", &[64, 128], 4);
    for r in (0..64).step_by(2) {
        t.bytes[r * 512..(r + 1) * 512].fill(0);
    }
    write_file(&src, &[t, f32_tensor("d.weight", &[64, 128], 5)]);
    let out = dir.path().join("s.tsr");
    let rep = dir.path().join("r.json");
    ok(&tessera(&[
        "convert",
        s(&src),
        s(&out),
        "--type",
        "q4",
        "--sparse",
        "auto",
        "--prune-blocks",
        "0.25",
        "-q",
        "--report",
        s(&rep),
    ]));
    let r = json(&std::fs::read_to_string(&rep).unwrap());
    let w = &r["tensors"][1];
    assert_eq!(w["name"], "w.weight");
    assert_eq!(w["sparse"], true);
    // Pruning 25% of blocks hits zero blocks only: it costs nothing.
    assert_eq!(w["prune_rel_rmse"], 0.0);
    assert!((w["omitted_blocks"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    let d = &r["tensors"][0];
    assert_eq!(d["name"], "d.weight");
    let prune = d["prune_rel_rmse"].as_f64().unwrap();
    assert!(prune > 0.0 && prune < 0.5, "{prune}");
    assert!(d["rel_rmse"].as_f64().unwrap() >= prune * 0.9);
    assert_eq!(d["sparse"], true);
    assert!((d["omitted_blocks"].as_f64().unwrap() - 0.25).abs() < 1e-12);
    let i = json(&ok(&tessera(&["inspect", s(&out), "--json"])));
    let line = i["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "w.weight")
        .unwrap()
        .clone();
    assert_eq!(line["sparse_percent"], 50.0);
    // verify agrees with the report, sparse or not.
    let v = json(&ok(&tessera(&[
        "verify",
        s(&out),
        "--against",
        s(&src),
        "--json",
    ])));
    assert_eq!(v["tensors"][1]["rel_rmse"], w["rel_rmse"]);
    assert_eq!(v["tensors"][0]["rel_rmse"], d["rel_rmse"]);
}

#[test]
fn recipe_file_rules() {
    let dir = tempfile::tempdir().unwrap();
    let src = small_source(dir.path());
    let recipe = dir.path().join("r.toml");
    std::fs::write(&recipe, "default = \"q5\"\n[[rule]]\npattern = \"*down*\"\ntype = \"mxfp4\"\n[[rule]]\nrank = 1\ntype = \"f16\"\n").unwrap();
    let out = dir.path().join("m.tsr");
    let rep = dir.path().join("r.json");
    ok(&tessera(&[
        "convert",
        s(&src),
        s(&out),
        "--recipe",
        s(&recipe),
        "-q",
        "--report",
        s(&rep),
    ]));
    let r = json(&std::fs::read_to_string(&rep).unwrap());
    let enc = |n: &str| {
        r["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == n)
            .unwrap()["encoding"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(enc("layers.0.down.weight"), "mxfp4");
    assert_eq!(enc("layers.0.up.weight"), "q5");
    assert_eq!(enc("embed_tokens.weight"), "q5");
    assert_eq!(enc("layers.0.norm.weight"), "f16");
    assert_eq!(enc("position_ids"), "i64");
    std::fs::write(&recipe, "default = \"q17\"").unwrap();
    fails(
        &tessera(&[
            "convert",
            s(&src),
            s(&dir.path().join("y.tsr")),
            "--recipe",
            s(&recipe),
        ]),
        &["r.toml", "q17"],
    );
}

// ---- bad input: each case gives one line naming the file (and tensor), a non-zero exit, and
// ---- nothing at the output path.

#[test]
fn bad_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.tsr");
    fails(
        &tessera(&["convert", s(&dir.path().join("nope.safetensors")), s(&out)]),
        &["nope.safetensors", "not found"],
    );
    only_files(dir.path(), &[]);
}

#[test]
fn bad_directory_without_index() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ckpt");
    std::fs::create_dir(&input).unwrap();
    let out = dir.path().join("o.tsr");
    fails(
        &tessera(&["convert", s(&input), s(&out)]),
        &["ckpt", "index"],
    );
    assert!(!out.exists());
}

#[test]
fn bad_hostile_header() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("evil.safetensors");
    let mut bytes = (1u64 << 40).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&input, bytes).unwrap();
    let out = dir.path().join("o.tsr");
    fails(
        &tessera(&["convert", s(&input), s(&out)]),
        &["evil.safetensors", "header"],
    );
    std::fs::write(&input, raw_file(r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8)).unwrap();
    fails(
        &tessera(&["convert", s(&input), s(&out)]),
        &["evil.safetensors", "\"w\"", "twice"],
    );
    only_files(dir.path(), &["evil.safetensors"]);
}

fn two_shards(dir: &Path) -> PathBuf {
    write_sharded(
        dir,
        &[
            ("a.safetensors", vec![f32_tensor("x.weight", &[8, 64], 1)]),
            ("b.safetensors", vec![f32_tensor("y.weight", &[8, 64], 2)]),
        ],
    )
}

#[test]
fn bad_shard_missing() {
    let dir = tempfile::tempdir().unwrap();
    let index = two_shards(dir.path());
    std::fs::remove_file(dir.path().join("b.safetensors")).unwrap();
    let out = dir.path().join("o.tsr");
    fails(
        &tessera(&["convert", s(dir.path()), s(&out)]),
        &["index.json", "b.safetensors", "y.weight", "missing"],
    );
    assert!(!out.exists());
    fails(
        &tessera(&["convert", s(&index), s(&out)]),
        &["b.safetensors"],
    );
}

#[test]
fn bad_tensor_listed_twice() {
    let dir = tempfile::tempdir().unwrap();
    two_shards(dir.path());
    // y.weight is stored in both shards.
    write_file(
        &dir.path().join("a.safetensors"),
        &[
            f32_tensor("x.weight", &[8, 64], 1),
            f32_tensor("y.weight", &[8, 64], 2),
        ],
    );
    let out = dir.path().join("o.tsr");
    fails(
        &tessera(&["convert", s(dir.path()), s(&out)]),
        &["y.weight", "twice"],
    );
    assert!(!out.exists());
}

#[test]
fn bad_unwritable_output_path() {
    let dir = tempfile::tempdir().unwrap();
    let src = small_source(dir.path());
    // The output's parent is a regular file (root ignores permission bits, this it cannot).
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let out = blocker.join("o.tsr");
    fails(&tessera(&["convert", s(&src), s(&out)]), &["o.tsr"]);
    only_files(dir.path(), &["model.safetensors", "config.json", "blocker"]);
}

#[cfg(unix)]
#[test]
fn bad_disk_full() {
    // An injected write failure from the OS: a file-size limit (with SIGXFSZ ignored, writes
    // past it fail with EFBIG, as on a full disk).
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    // Outputs well past the writer's 1 MiB buffer, so the failure comes while a tensor is written.
    write_file(
        &src,
        &[
            f32_tensor("a.weight", &[1024, 1024], 1),
            f32_tensor("b.weight", &[1024, 1024], 2),
        ],
    );
    let out = dir.path().join("o.tsr");
    let script = format!(
        "trap '' XFSZ; ulimit -f 256; exec '{}' convert '{}' '{}' --type q8 -q",
        env!("CARGO_BIN_EXE_tessera"),
        s(&src),
        s(&out)
    );
    let o = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    fails(&o, &["o.tsr", "weight", "nothing was written"]);
    only_files(dir.path(), &["m.safetensors"]);
}

#[cfg(unix)]
#[test]
fn bad_sigint_mid_write() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    // 128 MB of f32 at q4k: seconds of quantization, so the interrupt lands mid-write.
    let tensors: Vec<T> = (0..16)
        .map(|i| f32_tensor(&format!("l{i}.weight"), &[1024, 2048], i))
        .collect();
    write_file(&src, &tensors);
    let out = dir.path().join("o.tsr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["convert", s(&src), s(&out), "--type", "q4k", "-q"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the writer's temporary file exists, i.e. writing has begun.
    let started = std::time::Instant::now();
    loop {
        let temp = std::fs::read_dir(dir.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"));
        if temp {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "no temporary file appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be interrupted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    fails(&o, &["o.tsr", "interrupted", "weight"]);
    only_files(dir.path(), &["m.safetensors"]);
}

#[test]
fn verify_detects_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let src = small_source(dir.path());
    let out = dir.path().join("m.tsr");
    ok(&tessera(&["convert", s(&src), s(&out), "-q"]));
    ok(&tessera(&["verify", s(&out)]));
    let mut bytes = std::fs::read(&out).unwrap();
    // Flip a byte in the middle of the tensor data.
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x40;
    std::fs::write(&out, bytes).unwrap();
    fails(&tessera(&["verify", s(&out)]), &["m.tsr"]);
}

#[test]
fn demo_prints_its_table() {
    let o = ok(&tessera(&["demo"]));
    for needle in [
        "encoding",
        "bpw",
        "rel-RMSE",
        "GB/s",
        "bit-exact",
        "q4k",
        "mxfp4",
        "q8",
    ] {
        assert!(o.contains(needle), "{needle}: {o}");
    }
}

#[test]
fn minilm_converts_and_verifies() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models/all-MiniLM-L6-v2/model.safetensors");
    if !src.exists() {
        eprintln!("skipping: {} is absent", src.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("minilm.tsr");
    let rep = dir.path().join("r.json");
    ok(&tessera(&[
        "convert",
        s(&src),
        s(&out),
        "-q",
        "--report",
        s(&rep),
    ]));
    let r = json(&std::fs::read_to_string(&rep).unwrap());
    let t = r["tensors"].as_array().unwrap();
    assert_eq!(t.len(), 104);
    let inter = t
        .iter()
        .find(|x| x["name"] == "encoder.layer.0.intermediate.dense.weight")
        .unwrap();
    assert_eq!(inter["encoding"], "q4");
    // Field notes: ggml Q4_0 gives 8.77e-2 on this tensor.
    let rel = inter["rel_rmse"].as_f64().unwrap();
    assert!(rel > 0.05 && rel < 0.0877, "{rel}");
    let emb = t
        .iter()
        .find(|x| x["name"] == "embeddings.word_embeddings.weight")
        .unwrap();
    assert_eq!(emb["encoding"], "mxint8");
    let i = json(&ok(&tessera(&["inspect", s(&out), "--json"])));
    let meta: Vec<(String, Value)> = serde_json::from_value(i["metadata"].clone()).unwrap();
    assert!(meta
        .iter()
        .any(|(k, v)| k == "config.hidden_size" && v.as_i64() == Some(384)));
    let v = json(&ok(&tessera(&[
        "verify",
        s(&out),
        "--against",
        s(&src),
        "--json",
    ])));
    let vi = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == inter["name"])
        .unwrap()
        .clone();
    assert_eq!(vi["rel_rmse"], inter["rel_rmse"]);
}

#[test]
fn non_finite_values_name_the_tensor_and_element() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    let mut t = f32_tensor("bad.weight", &[4, 64], 1);
    t.bytes[4 * 70..4 * 71].copy_from_slice(&f32::NAN.to_le_bytes());
    write_file(&src, &[f32_tensor("good.weight", &[4, 64], 2), t]);
    let out = dir.path().join("o.tsr");
    fails(
        &tessera(&["convert", s(&src), s(&out)]),
        &["m.safetensors", "bad.weight", "element 70"],
    );
    only_files(dir.path(), &["m.safetensors"]);
}

#[test]
fn scalars_and_empty_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    let scalar = T {
        name: "scale".into(),
        dtype: safetensors::Dtype::F32,
        shape: vec![],
        bytes: 2.5f32.to_le_bytes().to_vec(),
    };
    let empty = T {
        name: "empty".into(),
        dtype: safetensors::Dtype::F32,
        shape: vec![0, 4],
        bytes: vec![],
    };
    write_file(&src, &[scalar, empty, f32_tensor("w", &[4, 64], 1)]);
    let out = dir.path().join("o.tsr");
    let summary = ok(&tessera(&["convert", s(&src), s(&out)]));
    assert!(summary.contains("not stored: empty"), "{summary}");
    let i = json(&ok(&tessera(&["inspect", s(&out), "--json"])));
    let names: Vec<&str> = i["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let sc = i["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "scale")
        .unwrap();
    assert_eq!(sc["shape"], serde_json::json!([1]));
    assert_eq!(sc["encoding"], "f32");
}

#[test]
fn export_loads_in_python_safetensors() {
    let probe = Command::new("python3")
        .args(["-c", "import safetensors.numpy"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        // CI installs the package (.ci/run), so there a missing one is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with the safetensors package is required under CI"
        );
        eprintln!("skipping: python3 with the safetensors package is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = small_source(dir.path());
    let out = dir.path().join("m.tsr");
    ok(&tessera(&["convert", s(&src), s(&out), "-q"]));
    let back = dir.path().join("back.safetensors");
    ok(&tessera(&["export", s(&out), s(&back)]));
    let script = format!(
        "from safetensors.numpy import load_file\nd = load_file({:?})\nprint(len(d), d['layers.0.up.weight'].shape, d['layers.0.up.weight'].dtype, d['position_ids'].dtype)",
        s(&back)
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(ok(&o).trim(), "6 (128, 96) float32 int64");
}

#[test]
fn effort_fast_is_recorded_deterministic_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    // 1100 rows of 1024 (two chunks) and a bf16 tensor with a ragged last group.
    write_file(
        &src,
        &[
            f32_tensor("w", &[1100, 1024], 4),
            bf16_tensor("v", &[64, 1000], 5),
        ],
    );
    let run = |effort: &str, threads: &str| {
        let out = dir.path().join(format!("{effort}{threads}.tsr"));
        let rep = dir.path().join(format!("{effort}{threads}.json"));
        ok(&tessera(&[
            "convert",
            s(&src),
            s(&out),
            "--type",
            "q4",
            "--effort",
            effort,
            "--threads",
            threads,
            "-q",
            "--report",
            s(&rep),
        ]));
        let r = json(&std::fs::read_to_string(&rep).unwrap());
        (
            out,
            std::fs::read(dir.path().join(format!("{effort}{threads}.tsr"))).unwrap(),
            r,
        )
    };
    let (fast_out, fast1, rep1) = run("fast", "1");
    let (_, fast2, rep2) = run("fast", "2");
    let (_, best, best_rep) = run("best", "2");
    assert!(
        fast1 == fast2,
        "fast output differs between 1 and 2 threads"
    );
    assert_eq!(rep1["tensors"], rep2["tensors"]);
    assert!(fast1 != best, "fast and best gave the same bytes");
    assert_eq!(rep1["effort"], "fast");
    assert_eq!(best_rep["effort"], "best");
    // The effort is in the file's metadata.
    let meta = json(&ok(&tessera(&["inspect", s(&fast_out), "--json"])))["metadata"].clone();
    let effort = meta
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv[0] == "tessera.quantizer_effort")
        .map(|kv| kv[1].clone());
    assert_eq!(effort, Some(Value::from("fast")));
    // verify --against measures exactly what convert reported.
    let v = json(&ok(&tessera(&[
        "verify",
        s(&fast_out),
        "--against",
        s(&src),
        "--json",
    ])));
    for (t, vt) in rep1["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v["tensors"].as_array().unwrap())
    {
        assert_eq!(t["name"], vt["name"]);
        assert_eq!(t["rel_rmse"], vt["rel_rmse"], "{}", t["name"]);
        assert_eq!(t["max_abs_error"], vt["max_abs_error"], "{}", t["name"]);
    }
    // Fast is close to best on these Gaussian rows (within 2% of its relative RMSE).
    for (f, b) in rep1["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .zip(best_rep["tensors"].as_array().unwrap())
    {
        let (f, b) = (
            f["rel_rmse"].as_f64().unwrap(),
            b["rel_rmse"].as_f64().unwrap(),
        );
        assert!(f >= b * 0.999 && f <= b * 1.02, "fast {f} vs best {b}");
    }
    // A bad value is a usage error.
    let o = tessera(&["convert", s(&src), "x.tsr", "--effort", "quick"]);
    assert_eq!(o.status.code(), Some(2));
}

//! Replays every file under `fuzz/corpus/<target>/` through the same checks the fuzz targets run,
//! and checks the hostile seeds: that they are checked in unchanged and that each `.tsr` seed
//! gets the error it was built for.
//!
//! To regenerate the seed files after changing `tessera_tests::seeds`:
//! `TESSERA_WRITE_SEEDS=1 cargo test --release -p tessera-tests --test corpus_replay`.

use std::fs;
use std::path::PathBuf;

use tessera_format::TsrFile;
use tessera_tests::{corpus_dir, seeds, targets};

fn files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir().join(target);
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn replay(target: &str) {
    let Some(t) = targets().into_iter().find(|t| t.name == target) else {
        // Built without the feature that brings this target's crate (see tests/Cargo.toml).
        eprintln!("{target}: not in this build, skipped");
        return;
    };
    let files = files(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    for path in files {
        let data = fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| (t.check)(&data));
        if let Err(e) = result {
            std::panic::resume_unwind(Box::new(format!(
                "{target}: {} fails: {:?}",
                path.display(),
                e.downcast_ref::<String>()
                    .map(String::as_str)
                    .or(e.downcast_ref::<&str>().copied())
            )));
        }
    }
}

#[test]
fn replay_tsr_parse() {
    replay("tsr_parse");
}

#[test]
fn replay_tsr_structured() {
    replay("tsr_structured");
}

#[test]
fn replay_quant_roundtrip() {
    replay("quant_roundtrip");
}

#[test]
fn replay_kernels_diff() {
    replay("kernels_diff");
}

#[test]
fn replay_safetensors_front() {
    replay("safetensors_front");
}

#[test]
fn seeds_are_checked_in() {
    let write = std::env::var_os("TESSERA_WRITE_SEEDS").is_some();
    for seed in seeds::all() {
        let path = corpus_dir().join(seed.target).join(&seed.name);
        if write {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &seed.bytes).unwrap();
        }
        let on_disk = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            on_disk == seed.bytes,
            "{} differs from its generator",
            path.display()
        );
    }
}

#[test]
fn tsr_seeds_give_their_errors() {
    let mut names = std::collections::HashSet::new();
    for seed in seeds::all().into_iter().filter(|s| s.target == "tsr_parse") {
        assert!(
            names.insert(seed.name.clone()),
            "two seeds named {}",
            seed.name
        );
        let parsed = TsrFile::parse(&seed.bytes);
        let got = match (&parsed, seed.expect.strip_prefix("verify:")) {
            (Ok(f), Some(_)) => match f.verify() {
                Ok(()) => "Ok".to_string(),
                Err(e) => format!("verify:{e:?}"),
            },
            (Ok(_), None) => "Ok".to_string(),
            (Err(e), _) => format!("{e:?}"),
        };
        let variant = got.split([' ', '(']).next().unwrap_or("");
        assert_eq!(variant, seed.expect, "{}: got {got}", seed.name);
    }
}

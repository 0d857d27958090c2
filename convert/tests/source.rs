//! The safetensors front end: good checkpoints in all three shapes, and every malformed one.

mod common;
use common::*;
use safetensors::Dtype;
use tessera_convert::source::Source;
use tessera_convert::ConvertError;

fn err(path: &std::path::Path) -> ConvertError {
    Source::open(path).unwrap_err()
}

#[test]
fn single_file_in_offset_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    write_file(&p, &small_model(1));
    let s = Source::open(&p).unwrap();
    assert_eq!(s.tensors.len(), 6);
    assert_eq!(s.shards.len(), 1);
    let mut offsets: Vec<u64> = s.tensors.iter().map(|t| t.offset).collect();
    let sorted = {
        offsets.sort();
        offsets.clone()
    };
    assert_eq!(
        s.tensors.iter().map(|t| t.offset).collect::<Vec<_>>(),
        sorted
    );
    let up = s
        .tensors
        .iter()
        .find(|t| t.name == "layers.0.up.weight")
        .unwrap();
    assert_eq!(up.shape, vec![128, 96]);
    assert_eq!(up.dtype, Dtype::F32);
    let bytes = s.map_tensor(up).unwrap();
    let want = f32_tensor("x", &[128, 96], 3).bytes;
    assert_eq!(&bytes[..], &want[..]);
    // A directory holding model.safetensors works too.
    std::fs::rename(&p, dir.path().join("model.safetensors")).unwrap();
    assert_eq!(Source::open(dir.path()).unwrap().tensors.len(), 6);
}

#[test]
fn sharded_directory_and_index_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = small_model(7);
    let second: Vec<T> = m.drain(3..).collect();
    let index = write_sharded(
        dir.path(),
        &[
            ("model-00001-of-00002.safetensors", m),
            ("model-00002-of-00002.safetensors", second),
        ],
    );
    for input in [dir.path(), index.as_path()] {
        let s = Source::open(input).unwrap();
        assert_eq!(s.shards.len(), 2);
        assert_eq!(s.tensors.len(), 6);
        assert_eq!(s.tensors[0].shard, 0);
        assert_eq!(s.tensors[5].shard, 1);
    }
}

#[test]
fn missing_file_and_directory_without_index() {
    let dir = tempfile::tempdir().unwrap();
    let e = err(&dir.path().join("nope.safetensors"));
    assert!(matches!(e, ConvertError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("nope.safetensors"));
    let e = err(dir.path());
    assert!(matches!(e, ConvertError::NoIndex { .. }), "{e}");
}

#[test]
fn hostile_headers() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.safetensors");
    let good = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("too short", vec![1, 2, 3], "shorter than"),
        (
            "huge length",
            u64::MAX.to_le_bytes().to_vec(),
            "does not fit",
        ),
        (
            "leading space",
            raw_file(&format!(" {good}"), 8),
            "does not start",
        ),
        (
            "duplicate tensor",
            raw_file(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}}"#,
                8,
            ),
            "listed twice",
        ),
        (
            "duplicate field",
            raw_file(
                r#"{"a":{"dtype":"F32","dtype":"I8","shape":[2],"data_offsets":[0,8]}}"#,
                8,
            ),
            "duplicate key",
        ),
        ("not json", raw_file("{nope", 0), "bad safetensors header"),
        ("short data", raw_file(good, 4), "bad safetensors header"),
        (
            "trailing data",
            raw_file(good, 12),
            "bad safetensors header",
        ),
        (
            "overflowing shape",
            raw_file(
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}}"#,
                8,
            ),
            "bad safetensors header",
        ),
        (
            "overlapping",
            raw_file(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                8,
            ),
            "bad safetensors header",
        ),
    ];
    for (what, bytes, needle) in cases {
        std::fs::write(&p, bytes).unwrap();
        let e = err(&p).to_string();
        assert!(e.contains(needle), "{what}: {e}");
        assert!(e.contains("bad.safetensors"), "{what}: {e}");
        assert_eq!(e.lines().count(), 1, "{what}: {e}");
    }
    std::fs::write(&p, raw_file(good, 8)).unwrap();
    assert_eq!(Source::open(&p).unwrap().tensors.len(), 1);
}

fn sharded(dir: &std::path::Path) -> std::path::PathBuf {
    write_sharded(
        dir,
        &[
            (
                "s1.safetensors",
                vec![f32_tensor("a", &[4, 32], 1), f32_tensor("b", &[32], 2)],
            ),
            ("s2.safetensors", vec![f32_tensor("c", &[4, 32], 3)]),
        ],
    )
}

fn rewrite_index(index: &std::path::Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(index).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(index, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn shard_missing() {
    let dir = tempfile::tempdir().unwrap();
    let index = sharded(dir.path());
    std::fs::remove_file(dir.path().join("s2.safetensors")).unwrap();
    let e = err(&index);
    assert!(matches!(e, ConvertError::ShardMissing { .. }), "{e}");
    let s = e.to_string();
    assert!(s.contains("s2.safetensors") && s.contains("\"c\""), "{s}");
}

#[test]
fn tensor_in_two_shards() {
    let dir = tempfile::tempdir().unwrap();
    let index = sharded(dir.path());
    write_file(
        &dir.path().join("s2.safetensors"),
        &[f32_tensor("c", &[4, 32], 3), f32_tensor("a", &[4, 32], 1)],
    );
    let e = err(&index);
    assert!(matches!(e, ConvertError::DuplicateTensor { .. }), "{e}");
    assert!(e.to_string().contains("\"a\""), "{e}");
}

#[test]
fn tensor_listed_twice_in_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let index = sharded(dir.path());
    let text = std::fs::read_to_string(&index).unwrap();
    let text = text.replacen(
        "\"weight_map\": {",
        "\"weight_map\": {\n    \"c\": \"s1.safetensors\",",
        1,
    );
    std::fs::write(&index, text).unwrap();
    let e = err(&index);
    assert!(matches!(e, ConvertError::DuplicateTensor { .. }), "{e}");
    assert!(e.to_string().contains("weight_map"), "{e}");
}

#[test]
fn listed_but_absent_and_unlisted() {
    let dir = tempfile::tempdir().unwrap();
    let index = sharded(dir.path());
    rewrite_index(&index, |v| {
        v["weight_map"]["ghost"] = "s2.safetensors".into();
    });
    let e = err(&index);
    assert!(matches!(e, ConvertError::TensorAbsent { .. }), "{e}");
    assert!(e.to_string().contains("ghost"));

    let index = sharded(dir.path());
    rewrite_index(&index, |v| {
        v["weight_map"].as_object_mut().unwrap().remove("b");
    });
    let e = err(&index);
    assert!(matches!(e, ConvertError::TensorUnlisted { .. }), "{e}");

    let index = sharded(dir.path());
    rewrite_index(&index, |v| {
        v["weight_map"]["a"] = "../s1.safetensors".into();
    });
    let e = err(&index);
    assert!(matches!(e, ConvertError::BadIndex { .. }), "{e}");

    std::fs::write(&index, "{\"weight_map\": 3}").unwrap();
    assert!(matches!(err(&index), ConvertError::BadIndex { .. }));
}

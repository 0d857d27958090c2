//! The typed metadata a converted file carries: the source's `__metadata__`, the model's
//! config.json (flattened to dotted keys), and the converter's own record (version, source
//! sha256, recipe).
//!
//! `general.architecture` and `general.name` come from config.json's `model_type` and
//! `_name_or_path`. config.json values map to the narrowest natural type: integers to I64 (U64 above i64::MAX),
//! other numbers to F64, booleans, strings, and arrays whose elements all share one of those
//! types. Nested objects become dotted keys (`config.rope_scaling.factor`); nulls are dropped;
//! arrays of mixed or nested values are kept as their JSON text.

use crate::error::{io_err, ConvertError, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use tessera_format::{MetaArray, MetaValue};

/// Key prefixes, so the three sources never collide.
pub const CONFIG_PREFIX: &str = "config.";
pub const SOURCE_META_PREFIX: &str = "source.metadata.";
pub const CONVERTER_KEY: &str = "tessera.converter";
pub const SHA256_KEY: &str = "tessera.source.sha256";
pub const RECIPE_KEY: &str = "tessera.recipe";
/// The quantizer effort (`best` or `fast`, see `tessera_reference::Effort`).
pub const EFFORT_KEY: &str = "tessera.quantizer_effort";
pub const ERROR_PREFIX: &str = "tessera.rel_rmse.";

/// The converter's name and version, as recorded.
pub fn converter_version() -> String {
    format!("tessera-convert {}", env!("CARGO_PKG_VERSION"))
}

/// Reads `config.json` in `dir`, if present, as typed keys under `config.`.
pub fn read_config(dir: &Path) -> Result<Vec<(String, MetaValue)>> {
    let path = dir.join("config.json");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ConvertError::Format {
        path: path.clone(),
        reason: format!("config.json is not JSON: {e}"),
    })?;
    let mut out = Vec::new();
    // The reserved general.* keys, where config.json says them.
    for (from, to) in [
        ("model_type", "general.architecture"),
        ("_name_or_path", "general.name"),
    ] {
        if let Some(Value::String(v)) = value.get(from) {
            if !v.is_empty() {
                out.push((to.to_string(), MetaValue::Str(v.clone())));
            }
        }
    }
    flatten(CONFIG_PREFIX.trim_end_matches('.'), &value, &mut out);
    Ok(out)
}

/// Flattens a JSON value into typed keys below `prefix`.
pub fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, MetaValue)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        Value::Null => {}
        _ => {
            if let Some(t) = typed(v) {
                out.push((prefix.to_string(), t));
            }
        }
    }
}

fn typed(v: &Value) -> Option<MetaValue> {
    Some(match v {
        Value::Bool(b) => MetaValue::Bool(*b),
        Value::String(s) => MetaValue::Str(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                MetaValue::I64(i)
            } else if let Some(u) = n.as_u64() {
                MetaValue::U64(u)
            } else {
                MetaValue::F64(n.as_f64()?)
            }
        }
        Value::Array(a) => {
            MetaValue::Array(typed_array(a).unwrap_or_else(|| {
                MetaArray::Str(vec![serde_json::to_string(a).unwrap_or_default()])
            }))
        }
        Value::Null | Value::Object(_) => return None,
    })
}

/// An array of one scalar type; `None` if mixed or nested.
fn typed_array(a: &[Value]) -> Option<MetaArray> {
    if a.iter().all(Value::is_boolean) {
        return Some(MetaArray::Bool(
            a.iter().filter_map(Value::as_bool).collect(),
        ));
    }
    if a.iter().all(Value::is_string) {
        return Some(MetaArray::Str(
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        ));
    }
    if a.iter().all(Value::is_i64) {
        return Some(MetaArray::I64(a.iter().filter_map(Value::as_i64).collect()));
    }
    if a.iter().all(Value::is_number) {
        return Some(MetaArray::F64(a.iter().filter_map(Value::as_f64).collect()));
    }
    None
}

/// sha256 of a file, streamed (never mapped, so it adds nothing to resident memory).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_typed_and_flattened() {
        let v: Value = serde_json::from_str(
            r#"{"hidden_size":384,"layer_norm_eps":1e-12,"architectures":["BertModel"],
               "tie":true,"rope":{"factor":2.0,"type":null},"ids":[1,2,3],"mixed":[1,"a"],
               "big":18446744073709551615}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        flatten("config", &v, &mut out);
        let get = |k: &str| out.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("config.hidden_size"), Some(MetaValue::I64(384)));
        assert_eq!(get("config.layer_norm_eps"), Some(MetaValue::F64(1e-12)));
        assert_eq!(
            get("config.architectures"),
            Some(MetaValue::Array(MetaArray::Str(vec!["BertModel".into()])))
        );
        assert_eq!(get("config.tie"), Some(MetaValue::Bool(true)));
        assert_eq!(get("config.rope.factor"), Some(MetaValue::F64(2.0)));
        assert_eq!(get("config.rope.type"), None);
        assert_eq!(
            get("config.ids"),
            Some(MetaValue::Array(MetaArray::I64(vec![1, 2, 3])))
        );
        assert_eq!(
            get("config.mixed"),
            Some(MetaValue::Array(MetaArray::Str(vec!["[1,\"a\"]".into()])))
        );
        assert_eq!(get("config.big"), Some(MetaValue::U64(u64::MAX)));
    }

    #[test]
    fn sha256_of_known_text() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

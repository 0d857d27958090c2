//! A JSON well-formedness check that serde_json alone does not make: an object with the same key
//! twice. serde_json (and so the `safetensors` crate) keeps the last value silently, which lets a
//! hostile header give one tensor two dtypes or shapes. We walk the document once with a visitor
//! that remembers the keys of each object and stops at the first repeat.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// What is wrong with a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonProblem {
    /// `key` appears twice in the object at `parent` (`""` for the top level, else `a.b[3]`).
    DuplicateKey { parent: String, key: String },
    /// Not JSON at all; serde_json's message.
    Malformed(String),
}

impl fmt::Display for JsonProblem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            JsonProblem::DuplicateKey { parent, key } if parent.is_empty() => {
                write!(f, "duplicate key {key:?}")
            }
            JsonProblem::DuplicateKey { parent, key } => {
                write!(f, "duplicate key {key:?} in {parent}")
            }
            JsonProblem::Malformed(m) => f.write_str(m),
        }
    }
}

/// Parses `text` as JSON and fails on the first object holding a key twice.
pub fn check_no_duplicate_keys(text: &str) -> Result<(), JsonProblem> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    // Nesting is bounded by serde_json's recursion limit (128), so the walk cannot overflow.
    let walked = Walk {
        path: String::new(),
        found: &found,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    match (walked, found.into_inner()) {
        (_, Some(dup)) => Err(dup),
        (Err(e), None) => Err(JsonProblem::Malformed(e.to_string())),
        (Ok(()), None) => Ok(()),
    }
}

struct Walk<'a> {
    path: String,
    /// Where the first duplicate is recorded (serde errors carry only text).
    found: &'a RefCell<Option<JsonProblem>>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(Walk {
                path: format!("{}[{i}]", self.path),
                found: self.found,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if seen.contains(&key) {
                *self.found.borrow_mut() = Some(JsonProblem::DuplicateKey {
                    parent: self.path.clone(),
                    key,
                });
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(Walk {
                path,
                found: self.found,
            })?;
            seen.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_at_any_depth() {
        assert!(check_no_duplicate_keys(r#"{"a":1,"b":{"c":[1,{"d":2}]}}"#).is_ok());
        let dup = |parent: &str, key: &str| JsonProblem::DuplicateKey {
            parent: parent.into(),
            key: key.into(),
        };
        let r = check_no_duplicate_keys(r#"{"a":1,"a":2}"#);
        assert_eq!(r, Err(dup("", "a")));
        let r = check_no_duplicate_keys(r#"{"t":{"dtype":"F32","dtype":"I8"}}"#);
        assert_eq!(r, Err(dup("t", "dtype")));
        let r = check_no_duplicate_keys(r#"{"x":[{"k":1,"k":1}]}"#);
        assert_eq!(r, Err(dup("x[0]", "k")));
    }

    #[test]
    fn rejects_malformed_and_trailing_garbage() {
        let malformed =
            |t: &str| matches!(check_no_duplicate_keys(t), Err(JsonProblem::Malformed(_)));
        assert!(malformed("{"));
        assert!(malformed("{} x"));
        // Deep nesting is refused by serde_json's recursion limit, not by a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(malformed(&deep));
    }
}

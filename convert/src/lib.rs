//! `tessera-convert`: the library behind the `tessera` command.
//!
//! - [`source`]: the safetensors front end (single file, shards, index) and its extra checks.
//! - [`strict_json`]: duplicate-key detection for headers and indexes.
//! - [`error`]: the one-line errors the command prints.

pub mod allocate;
pub mod bench;
pub mod convert;
pub mod demo;
pub mod dtype;
pub mod error;
pub mod export;
pub mod inspect;
pub mod machine;
pub mod metadata;
pub mod recipe;
pub mod report;
pub mod signal;
pub mod source;
pub mod stats;
pub mod strict_json;
pub mod tiers;
pub mod verify;

pub use error::{ConvertError, Result};

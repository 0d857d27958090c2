//! `tessera-convert`: the library behind the `tessera` command.
//!
//! - [`source`]: the safetensors front end (single file, shards, index) and its extra checks.
//! - [`strict_json`]: duplicate-key detection for headers and indexes.
//! - [`error`]: the one-line errors the command prints.

pub mod allocate;
pub mod dtype;
pub mod error;
pub mod metadata;
pub mod recipe;
pub mod source;
pub mod stats;
pub mod strict_json;

pub use error::{ConvertError, Result};

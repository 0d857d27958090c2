//! `tessera-format`: the `.tsr` container (see `SPEC.md` beside this crate).
//!
//! - [`TsrFile::parse`] validates a file held in memory; [`MappedTsr::open`] maps one from disk.
//!   Both are lazy: tensor bytes are not hashed until [`TsrFile::verify`].
//! - [`Writer`] streams a file to a temporary path and renames it into place on
//!   [`Writer::finish`].

mod cursor;
pub mod encoding;
mod error;
pub mod layout;
mod meta;
mod reader;
mod tensor;
mod writer;

pub use encoding::{Encoding, MxType, Path, RawType, GROUP, GROUPS_PER_SUPER_BLOCK};
pub use error::{FormatError, Result};
pub use meta::{reserved_key_type, tag as meta_tag, MetaArray, MetaValue};
pub use reader::{MappedTsr, ParseOptions, TsrFile};
pub use tensor::{TensorInfo, TensorView};
pub use writer::{TensorWriter, Writer};

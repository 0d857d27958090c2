//! `tessera-format`: the `.tsr` container (see `SPEC.md` beside this crate).

pub mod encoding;

pub use encoding::{Encoding, MxType, Path, RawType, GROUP, GROUPS_PER_SUPER_BLOCK};

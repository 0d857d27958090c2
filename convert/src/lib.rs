//! `tessera-convert`: the library behind the `tessera` command.

//! `tessera-tests`: the checks shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and by the
//! corpus replay (`tests/tests/corpus_replay.rs`), so that every input the fuzzer ever kept is
//! re-checked by a plain `cargo test`.
//!
//! Each `check_*` function takes arbitrary bytes, never returns an error, and panics only when a
//! crate under test misbehaves (a panic inside it, a wrong answer, two answers that disagree).
//!
//! - [`tsr::check_tsr_bytes`]: bytes parsed as a `.tsr` file (target `tsr_parse`).
//! - [`structured::check_structured`]: a valid file built by the writer from fuzzer choices, then
//!   mutated field by field with the checksums recomputed (target `tsr_structured`).
//! - [`roundtrip::check_roundtrip`]: quantize -> dequantize -> quantize through the reference
//!   (target `quant_roundtrip`).
//! - [`kernels_diff::check_kernels`]: every kernel tier against the reference, bit for bit
//!   (target `kernels_diff`).
//! - [`safetensors_front::check_safetensors`]: the converter's safetensors front end (target
//!   `safetensors_front`).
//!
//! [`seeds`] builds the hostile seed files checked in under `fuzz/corpus/`.

pub mod bits;
pub mod directory;
#[cfg(feature = "kernels")]
pub mod kernels_diff;
pub mod roundtrip;
#[cfg(feature = "convert")]
pub mod safetensors_front;
pub mod seeds;
pub mod structured;
pub mod tsr;

/// A fuzz target's name (its directory under `fuzz/corpus/`) and its check.
pub struct Target {
    pub name: &'static str,
    pub check: fn(&[u8]),
}

/// Every target whose crates this build includes.
pub fn targets() -> Vec<Target> {
    #[allow(unused_mut)]
    let mut t = vec![
        Target {
            name: "tsr_parse",
            check: tsr::check_tsr_bytes,
        },
        Target {
            name: "tsr_structured",
            check: structured::check_structured,
        },
        Target {
            name: "quant_roundtrip",
            check: roundtrip::check_roundtrip,
        },
    ];
    #[cfg(feature = "kernels")]
    t.push(Target {
        name: "kernels_diff",
        check: kernels_diff::check_kernels,
    });
    #[cfg(feature = "convert")]
    t.push(Target {
        name: "safetensors_front",
        check: safetensors_front::check_safetensors,
    });
    t
}

/// `fuzz/corpus/` in this checkout.
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

/// Deterministic pseudo-random bytes (an LCG), the same on every machine: fixed-seed inputs for
/// tests that run without the fuzzer.
pub fn lcg_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (s >> 56) as u8
        })
        .collect()
}

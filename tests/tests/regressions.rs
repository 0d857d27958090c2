//! One named test per input the fuzzer found failing, replayed through its target's check. The
//! inputs live in `fuzz/corpus/<target>/regress-*`, so the corpus replay runs them too; these
//! tests name them and say what went wrong.

use std::fs;

use tessera_tests::corpus_dir;

fn input(target: &str, name: &str) -> Vec<u8> {
    let path = corpus_dir().join(target).join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// tsr_parse, 2026-11-22: a file with an f32 array metadata value holding a NaN. The harness
/// compared the looked-up value with `==`, which NaN never satisfies (harness bug; the reader was
/// right). Lookups are now checked by identity.
#[test]
fn nan_metadata_value_is_found_by_key() {
    let data = input("tsr_parse", "regress-nan-metadata-lookup.tsr");
    let file = tessera_format::TsrFile::parse_with(
        &data,
        tessera_format::ParseOptions {
            check_directory_checksum: false,
        },
    )
    .expect("the input parses without its checksum");
    assert!(file
        .metadata()
        .iter()
        .any(|(_, v)| format!("{v:?}").contains("NaN")));
    tessera_tests::tsr::check_tsr_bytes(&data);
}

/// quant_roundtrip, 2026-11-22: q8a values whose re-quantization decodes differently
/// (-16319.5 vs -16325.0). The affine quantizer does not promise a fixed point (only q{b} has a
/// canonical form, SPEC.md section 16); the harness asserted it for every encoding
/// (harness bug). The check now asserts canonical re-quantization for q{b} only.
#[test]
fn q8a_requantization_is_not_required_to_be_a_fixed_point() {
    tessera_tests::roundtrip::check_roundtrip(&input(
        "quant_roundtrip",
        "regress-q8a-requantize.bin",
    ));
}

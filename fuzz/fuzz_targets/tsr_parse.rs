//! Arbitrary bytes parsed as a `.tsr` file, validated, verified, every tensor touched and
//! decoded. The checks are `tessera_tests::tsr::check_tsr_bytes` (shared with the corpus replay).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_tests::tsr::check_tsr_bytes(data);
});

//! A valid file built by the writer from fuzzer choices and read back exactly, then header,
//! directory and footer fields mutated with the checksums recomputed, and checked like
//! `tsr_parse`. The checks are `tessera_tests::structured` (shared with the corpus replay).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_tests::structured::check_structured(data);
});

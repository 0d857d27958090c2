//! quantize -> dequantize -> quantize through the reference, for every encoding. The checks
//! are `tessera_tests::roundtrip` (shared with the corpus replay).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_tests::roundtrip::check_roundtrip(data);
});

//! Arbitrary bytes as a safetensors file through the converter's front end, compared with the
//! safetensors crate. The checks are `tessera_tests::safetensors_front` (shared with the corpus
//! replay).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_tests::safetensors_front::check_safetensors(data);
});

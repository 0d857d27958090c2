//! Every check on a few hundred pseudo-random inputs (fixed seeds), without the fuzzer: a cheap
//! guard that the checks themselves hold on ordinary inputs, and a little extra coverage for
//! `cargo test`. The fuzz campaigns are the real search.

use tessera_tests::{lcg_bytes, targets};

#[test]
fn every_check_on_random_inputs() {
    let count: u64 = std::env::var("TESSERA_RANDOM_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for t in targets() {
        for seed in 0..count {
            let len = [16usize, 100, 700, 3000][(seed % 4) as usize];
            let data = lcg_bytes(seed ^ (t.name.len() as u64 * 1000), len);
            (t.check)(&data);
        }
    }
}

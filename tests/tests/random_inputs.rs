//! Every check on a few hundred pseudo-random inputs (fixed seeds), without the fuzzer: a cheap
//! guard that the checks themselves hold on ordinary inputs, and a little extra coverage for
//! `cargo test`. The fuzz campaigns are the real search.

use tessera_tests::targets;

fn lcg_bytes(seed: u64, n: usize) -> Vec<u8> {
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

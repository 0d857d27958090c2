//! The reader on every hostile seed, through the same checks as the `tsr_parse` fuzz target,
//! with the seeds built in memory (no file access), so Miri can run it:
//! `cargo +nightly miri test -p tessera-tests --test miri_reader` (see `.ci/miri-more.sh`).

use tessera_tests::{seeds, tsr::check_tsr_bytes};

#[test]
fn hostile_seeds_through_the_reader() {
    let all = seeds::all();
    let tsr: Vec<_> = all.iter().filter(|s| s.target == "tsr_parse").collect();
    assert!(tsr.len() > 50);
    for seed in tsr {
        check_tsr_bytes(&seed.bytes);
    }
}

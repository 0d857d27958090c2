//! Every encoding through every tier this build can run, against the reference, on small shapes:
//! small enough for Miri, which checks the AVX2 kernels' unsafe code when run as
//! `RUSTFLAGS="-C target-feature=+avx2,+fma,+f16c" cargo +nightly miri test -p tessera-tests
//! --test miri_kernels` (see `.ci/miri-more.sh`). Without the flags Miri's feature detection
//! reports no AVX2 and only the scalar tier runs, so the test insists the tier is there when the
//! build enables it. Raw f16 is skipped under Miri: it does not implement `_mm256_cvtph_ps`.
#![cfg(feature = "kernels")]

use tessera_format::{Encoding, RawType};
use tessera_kernels::{available_isas, Isa};
use tessera_tests::kernels_diff::check_all_tiers;
use tessera_tests::lcg_bytes as lcg;

/// The encodings are checked in parts, one `#[test]` each, so `.ci/miri-more.sh` can run every
/// part in a Miri process of its own: within one process Miri slows down as the run goes on
/// (10 encodings in one process took 160 s on a 2-core Zen 1, about twice their time in separate
/// processes, and all of them in one process did not finish in 30 minutes).
const PARTS: usize = 6;

#[test]
fn encodings_part_0() {
    check_part(0);
}
#[test]
fn encodings_part_1() {
    check_part(1);
}
#[test]
fn encodings_part_2() {
    check_part(2);
}
#[test]
fn encodings_part_3() {
    check_part(3);
}
#[test]
fn encodings_part_4() {
    check_part(4);
}
#[test]
fn encodings_part_5() {
    check_part(5);
}

/// gemv (one activation row) over whole dense tiles of 8 rows: the AVX2 tier's pipelined loop
/// (`gemv_tile_dense`, with the untransposed 4-bit dots of `row_dots` for q4, q4k and mxfp4),
/// which the 3-row shapes of the parts never reach.
#[test]
fn dense_gemv_tiles() {
    insist_on_avx2_when_built();
    check_dense(&["q4", "q8", "q3", "q4k", "mxfp4"], (8, 72, 1), 200);
}

/// The AVX2 tier's register-blocked integer gemm (`avx2_int_gemm`, M >= 8, unsigned-dot
/// encodings): a whole 16-row tile and a ragged one, K past one group, 9 activation rows (4
/// blocks of 2 and a tail of 1), dense and sparse.
#[test]
fn int_gemm_register_blocks() {
    insist_on_avx2_when_built();
    check_dense(&["q4", "q4k", "mxfp4"], (20, 72, 9), 400);
}

/// The named encodings on dense `rows x k` weights and `m` activation rows (random bytes and
/// activations from `seed` on) through every tier this build can run, against the reference.
fn check_dense(names: &[&str], (rows, k, m): (usize, usize, usize), seed: u64) {
    for (i, name) in names.iter().enumerate() {
        let e = Encoding::from_name(name).expect("encoding name");
        let n = e.tensor_bytes(&[rows as u64, k as u64]).unwrap() as usize;
        let bytes = lcg(seed + i as u64, n);
        let x: Vec<f32> = lcg(seed + 100 + i as u64, m * k)
            .iter()
            .map(|&b| (b as f32 - 128.0) / 32.0)
            .collect();
        check_all_tiers(e, rows, k, false, &bytes, &x, m);
    }
}

/// Fails if the build enables AVX2 but the kernels do not offer that tier (Miri without the
/// target features reports none, and only the scalar tier would run).
fn insist_on_avx2_when_built() {
    if cfg!(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma",
        target_feature = "f16c"
    )) {
        assert!(
            available_isas().contains(&Isa::Avx2),
            "AVX2 enabled at build time but not detected"
        );
    }
}

/// Part `part` of every encoding through every tier this build can run, against the reference.
fn check_part(part: usize) {
    insist_on_avx2_when_built();
    // k = 40: one full group and a ragged one (two ragged super-block groups for q{b}k).
    let (rows, k, m) = (3usize, 40usize, 2usize);
    let all = Encoding::all();
    let per_part = all.len().div_ceil(PARTS);
    for (i, e) in all
        .into_iter()
        .enumerate()
        .skip(part * per_part)
        .take(per_part)
    {
        if cfg!(miri) && e == Encoding::Raw(RawType::F16) {
            continue;
        }
        let n = e.tensor_bytes(&[rows as u64, k as u64]).unwrap() as usize;
        let mut bytes = lcg(i as u64, n);
        if let Encoding::Raw(RawType::F32) = e {
            // Keep raw f32 weights finite and moderate; NaN handling is covered elsewhere.
            for c in bytes.chunks_mut(4) {
                c[3] = 0x3F;
            }
        }
        let x: Vec<f32> = lcg(100 + i as u64, m * k)
            .iter()
            .map(|&b| (b as f32 - 128.0) / 32.0)
            .collect();
        check_all_tiers(e, rows, k, false, &bytes, &x, m);
        if e.is_blocked() {
            // Sparse: a bitmap with blocks 0 and 2 of 6 (or of 3) stored.
            let per_row = e.blocks_per_row(k as u64);
            let mut sparse = vec![0b101u8, 0, 0, 0, 0, 0, 0, 0];
            for b in [0u64, 2] {
                let len = e.block_bytes_at(k as u64, b % per_row);
                sparse.extend(lcg(b + 7, len));
            }
            check_all_tiers(e, rows, k, true, &sparse, &x, m);
        }
    }
}

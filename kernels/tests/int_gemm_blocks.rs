//! Integer-path gemm with many activation rows (the register-blocked kernels take over from 8
//! rows on AVX-512, from 4 on AVX2), compared BIT FOR BIT (all NaNs equal) with `tessera-reference`: M below, at and
//! past the threshold and the register block, N ragged against the 32-row tiles, K ragged and
//! past one L1 chunk, sparse tensors, every integer encoding, weights at their code extremes,
//! activations at +-127 and special scales (NaN, infinity, subnormal, huge), row sub-ranges and
//! several thread counts.
//!
//! With `TESSERA_ISA` set, only that tier is exercised (as in `bit_exact.rs`).

use tessera_format::{Encoding, Path};
use tessera_kernels::WeightView;
use tessera_reference as reference;

mod common;
use common::{same_bits, tiers, Rng};

/// How the weight blocks are filled.
#[derive(Clone, Copy, Debug)]
enum Weights {
    /// Random bytes with special scales planted in some headers.
    Random,
    /// Random headers, every code byte of a block one of 0x00, 0xFF, 0x77, 0x80, 0x7F (the
    /// encodings' extreme codes).
    Extreme,
}

fn weight_bytes(e: Encoding, rows: usize, k: usize, kind: Weights, rng: &mut Rng) -> Vec<u8> {
    const F16: [u16; 8] = [
        0x7E00, 0x7C00, 0xFC00, 0x0001, 0x8001, 0x7BFF, 0xFBFF, 0x0000,
    ];
    const E8M0: [u8; 6] = [0, 0xFF, 254, 1, 127, 200];
    const FILL: [u8; 5] = [0x00, 0xFF, 0x77, 0x80, 0x7F];
    let row_bytes = e.row_bytes(k as u64).unwrap() as usize;
    let mut bytes: Vec<u8> = (0..rows * row_bytes).map(|_| rng.next() as u8).collect();
    let blocks = e.blocks_per_row(k as u64) as usize;
    let header = e.block_header_bytes();
    for r in 0..rows {
        let mut at = r * row_bytes;
        for b in 0..blocks {
            let len = e.block_bytes_at(k as u64, b as u64);
            let block = &mut bytes[at..at + len];
            if rng.below(100) < 3 {
                block.copy_from_slice(&reference::zero_block(e, len));
            } else {
                if let Weights::Extreme = kind {
                    block[header..].fill(FILL[rng.below(5) as usize]);
                }
                if rng.below(6) == 0 {
                    if header == 1 {
                        block[0] = E8M0[rng.below(6) as usize];
                    } else {
                        let at = 2 * rng.below(2) as usize;
                        block[at..at + 2]
                            .copy_from_slice(&F16[rng.below(8) as usize].to_le_bytes());
                    }
                }
            }
            at += len;
        }
    }
    bytes
}

/// `m * k` activations: uniform in [-2, 2) with a few extremes, or (`saturate`) every group a
/// mix of +-A so that its codes are +-127; one row may hold a NaN or an infinity.
fn activations(m: usize, k: usize, saturate: bool, rng: &mut Rng) -> Vec<f32> {
    let mut x: Vec<f32> = (0..m * k)
        .map(|i| {
            if saturate {
                let a = [1.0f32, 3e38, 1e-38, 2.5e-43][(i / 32) % 4];
                if rng.below(2) == 0 {
                    a
                } else {
                    -a
                }
            } else {
                rng.unit() * 2.0
            }
        })
        .collect();
    for _ in 0..4 {
        let i = rng.below((m * k) as u64) as usize;
        x[i] = [1e30, -3e38, 1e-40, 65504.0, -0.0][rng.below(5) as usize];
    }
    if rng.below(4) == 0 {
        let i = rng.below((m * k) as u64) as usize;
        x[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][rng.below(3) as usize];
    }
    x
}

#[allow(clippy::too_many_arguments)]
fn check(
    e: Encoding,
    rows: usize,
    k: usize,
    m: usize,
    sparse: bool,
    kind: Weights,
    saturate: bool,
    seed: u64,
) {
    let ctx = format!(
        "{e} rows={rows} k={k} m={m} sparse={sparse} weights={kind:?} saturate={saturate} \
         seed={seed}"
    );
    let mut rng = Rng(seed | 1);
    let dense = weight_bytes(e, rows, k, kind, &mut rng);
    let bytes = if sparse {
        // Drop about 40% of the blocks.
        let row_bytes = e.row_bytes(k as u64).unwrap() as usize;
        let mut d = dense;
        let blocks = e.blocks_per_row(k as u64) as usize;
        for r in 0..rows {
            let mut at = r * row_bytes;
            for b in 0..blocks {
                let len = e.block_bytes_at(k as u64, b as u64);
                if rng.below(10) < 4 {
                    d[at..at + len].copy_from_slice(&reference::zero_block(e, len));
                }
                at += len;
            }
        }
        reference::sparsify(e, rows, k, &d).unwrap()
    } else {
        dense
    };
    let rw = reference::Weights {
        encoding: e,
        rows,
        k,
        bytes: &bytes,
        sparse,
    };
    let view = if sparse {
        WeightView::new_sparse(e, rows, k, &bytes)
    } else {
        WeightView::new(e, rows, k, &bytes)
    }
    .unwrap();
    let x = activations(m, k, saturate, &mut rng);
    let want = reference::matmul(&rw, &x, m, Path::Integer).unwrap();
    for kern in tiers() {
        let isa = kern.isa();
        let got = kern.gemm(&view, &x, m, Path::Integer).unwrap();
        same_bits(&got, &want).unwrap_or_else(|s| panic!("gemm {ctx} tier={isa}: {s}"));
        // A sub-range starting mid-tile.
        let sub = 3.min(rows - 1)..rows;
        let mut out = vec![0.0; m * sub.len()];
        kern.gemm_rows(&view, &x, m, Path::Integer, sub.clone(), &mut out)
            .unwrap();
        let want_sub: Vec<f32> = (0..m)
            .flat_map(|i| want[i * rows + sub.start..i * rows + sub.end].to_vec())
            .collect();
        same_bits(&out, &want_sub).unwrap_or_else(|s| panic!("gemm_rows {ctx} tier={isa}: {s}"));
        for threads in [2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let par = pool
                .install(|| kern.par_gemm(&view, &x, m, Path::Integer))
                .unwrap();
            same_bits(&par, &want)
                .unwrap_or_else(|s| panic!("par_gemm/{threads} {ctx} tier={isa}: {s}"));
        }
    }
}

fn integer_encodings() -> Vec<Encoding> {
    Encoding::all()
        .into_iter()
        .filter(|e| e.path() == Path::Integer)
        .collect()
}

/// (rows, k, m): M around the AVX-512 threshold (7, 8) and its 5-row register block (9, 10, 11,
/// 16, 24, 33), at the AVX2 threshold (4) and past its 4- and 3-row blocks (5, 7, 9, 10, 11), N
/// ragged against the 32-row (AVX-512) and 16-row (AVX2) tiles (37, 100, 17, 21) or whole (64),
/// K ragged (300, 513, 520), past one chunk of 32 or 16 groups (1056, 2055) or long (4096).
/// AMX (from 32 rows; 16-row tiles, two blocks of them per step, K chunks of 16 groups): M = 33,
/// 40, 48, 64, 96, 100, 113 (whole pairs, then a whole or ragged single block, or a pair with a
/// ragged second block), K chunks ending on a single group (530, 1056).
const SHAPES: [(usize, usize, usize); 18] = [
    (37, 4096, 16),
    (100, 300, 24),
    (33, 513, 33),
    (64, 1056, 8),
    (17, 2055, 9),
    (40, 96, 7),
    (48, 64, 10),
    (5, 40, 11),
    (70, 288, 64),
    (32, 4096, 13),
    (29, 200, 4),
    (21, 520, 5),
    (45, 1056, 40),
    (19, 530, 17),
    (40, 600, 113),
    (33, 1056, 96),
    (21, 530, 100),
    (30, 700, 48),
];

#[test]
fn every_integer_encoding_many_rows() {
    for e in integer_encodings() {
        for (i, &(rows, k, m)) in SHAPES.iter().enumerate() {
            for sparse in [false, true] {
                let seed = 0x1A7E_6E33 + 977 * i as u64 + 31 * e.id() as u64 + sparse as u64;
                check(e, rows, k, m, sparse, Weights::Random, false, seed);
            }
        }
    }
}

#[test]
fn extreme_codes_and_saturated_activations() {
    const EXTREME: [(usize, usize, usize); 6] = [
        (37, 300, 16),
        (33, 1100, 9),
        (16, 64, 21),
        (40, 600, 35),
        (35, 520, 107),
        (20, 300, 80),
    ];
    for e in integer_encodings() {
        for (i, &(rows, k, m)) in EXTREME.iter().enumerate() {
            for (sparse, saturate) in [(false, true), (true, true), (false, false)] {
                let seed = 0xE0E0 + 613 * i as u64 + 7 * e.id() as u64 + saturate as u64;
                check(e, rows, k, m, sparse, Weights::Extreme, saturate, seed);
            }
        }
    }
}

//! aarch64 only: the NEON tiers this (emulated) CPU should have are really detected and used, and
//! the inputs that break NEON kernels elsewhere give the reference's bits: int8 products at the
//! i16 limit (`smull`/`smlal` pairs), codes 0 and 255 of every width, an odd activation row after
//! `smmla` pairs, and float sums whose bits depend on the exact lane/tree order.
//!
//! `.ci/aarch64.sh` sets `TESSERA_EXPECT_ISAS` to the tiers the qemu CPU model has, so a run under
//! `-cpu cortex-a53` proves the baseline tier ran (and `-cpu max` that dotprod and i8mm did).
#![cfg(target_arch = "aarch64")]

use tessera_format::{Encoding, Path};
use tessera_kernels::{available_isas, kernels, kernels_for, Isa, Kernels, WeightView};
use tessera_reference as reference;

/// The forced tier if `TESSERA_ISA` is set, else every tier this CPU runs.
fn tiers() -> Vec<&'static Kernels> {
    match std::env::var("TESSERA_ISA") {
        Ok(name) if !name.is_empty() => vec![kernels().expect("TESSERA_ISA names a tier here")],
        _ => available_isas()
            .into_iter()
            .map(|i| kernels_for(i).unwrap())
            .collect(),
    }
}

fn same_bits(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what}: element {i}: {g:e} ({:#010x}) vs reference {w:e} ({:#010x})",
            g.to_bits(),
            w.to_bits()
        );
    }
}

#[test]
fn expected_tiers_are_detected() {
    let names: Vec<&str> = available_isas().into_iter().map(Isa::name).collect();
    assert!(names.contains(&"neon"), "{names:?}");
    if let Ok(want) = std::env::var("TESSERA_EXPECT_ISAS") {
        assert_eq!(names.join(","), want, "tiers detected on this CPU");
    }
    if let Ok(forced) = std::env::var("TESSERA_ISA") {
        if !forced.is_empty() {
            assert_eq!(kernels().unwrap().isa().name(), forced);
        }
    }
    assert!(kernels_for(Isa::Avx2).is_err());
}

/// Every byte of every block set to `fill`, then finite unit scales written over the headers
/// (E8M0 127, f16 1.0; the affine min -1.0), so the extreme codes reach the dot products.
fn filled_weights(e: Encoding, rows: usize, k: usize, fill: u8) -> Vec<u8> {
    let row_bytes = e.row_bytes(k as u64).unwrap() as usize;
    let mut bytes = vec![fill; rows * row_bytes];
    for r in 0..rows {
        let mut at = r * row_bytes;
        for b in 0..e.blocks_per_row(k as u64) {
            let block = &mut bytes[at..at + e.block_bytes_at(k as u64, b)];
            if e.block_header_bytes() == 1 {
                block[0] = 127;
            } else {
                block[..2].copy_from_slice(&0x3C00u16.to_le_bytes());
                if matches!(e, Encoding::IntAffine { .. }) {
                    block[2..4].copy_from_slice(&0xBC00u16.to_le_bytes());
                }
            }
            at += block.len();
        }
    }
    bytes
}

fn check_against_reference(e: Encoding, rows: usize, k: usize, m: usize, w: &[u8], x: &[f32]) {
    let rw = reference::Weights {
        encoding: e,
        rows,
        k,
        bytes: w,
        sparse: false,
    };
    let view = WeightView::new(e, rows, k, w).unwrap();
    let mut paths = vec![Path::Float];
    if e.path() == Path::Integer {
        paths.push(Path::Integer);
    }
    for path in paths {
        let want = reference::matmul(&rw, x, m, path).unwrap();
        for kern in tiers() {
            let got = kern.gemm(&view, x, m, path).unwrap();
            same_bits(
                &got,
                &want,
                &format!("{e} {path:?} rows={rows} k={k} m={m} tier={}", kern.isa()),
            );
        }
    }
}

#[test]
fn extreme_codes_and_activations() {
    // Activations that quantize to +-127 everywhere, with the signs of the products all equal
    // (the i16 pair sums reach 2 * 128 * 127) or alternating.
    let patterns: [fn(usize) -> f32; 4] = [
        |_| 4.0,
        |_| -4.0,
        |i| if i % 2 == 0 { 4.0 } else { -4.0 },
        |i| if (i / 16) % 2 == 0 { -4.0 } else { 4.0 },
    ];
    for e in Encoding::all_blocked() {
        for fill in [0x00u8, 0xFF, 0x80, 0x7F, 0x55] {
            for (rows, k, m) in [(5, 64, 1), (4, 256, 2), (9, 96, 3), (3, 300, 5)] {
                let w = filled_weights(e, rows, k, fill);
                for pattern in patterns {
                    let x: Vec<f32> = (0..m * k).map(|i| pattern(i % k)).collect();
                    check_against_reference(e, rows, k, m, &w, &x);
                }
            }
        }
    }
}

/// A small deterministic generator (xorshift64*).
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn float_sums_follow_the_lane_tree() {
    // Raw f32 weights spanning 2^-20..2^20 with random signs: almost any other summation order
    // (another lane mapping, another tree, a non-fused multiply-add) changes the bits.
    let e = Encoding::Raw(tessera_format::RawType::F32);
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    for k in [1, 5, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257] {
        for m in [1, 2, 3] {
            let rows = 3;
            let mut value = || {
                let r = next(&mut state);
                let magnitude = f32::from_bits(0x3F80_0000 | (r as u32 & 0x007F_FFFF));
                let scale = 2f32.powi((r >> 32) as i32 % 21);
                if r >> 63 == 1 {
                    -magnitude * scale
                } else {
                    magnitude / scale
                }
            };
            let w: Vec<u8> = (0..rows * k).flat_map(|_| value().to_le_bytes()).collect();
            let x: Vec<f32> = (0..m * k).map(|_| value()).collect();
            check_against_reference(e, rows, k, m, &w, &x);
        }
    }
}

#[test]
fn every_activation_count_through_smmla_pairs() {
    // m = 1..=7 covers zero to three smmla pairs with and without an odd sdot row.
    let mut state = 99u64;
    for e in [
        Encoding::IntSym { bits: 4 },
        Encoding::IntAffine { bits: 8 },
        Encoding::IntSuper { bits: 6 },
        Encoding::Mx(tessera_format::MxType::Fp4E2M1),
    ] {
        let (rows, k) = (7, 320);
        let len = rows * e.row_bytes(k as u64).unwrap() as usize;
        let mut w: Vec<u8> = (0..len).map(|_| next(&mut state) as u8).collect();
        // Finite scales keep every output meaningful.
        let clean = filled_weights(e, rows, k, 0);
        let row_bytes = e.row_bytes(k as u64).unwrap() as usize;
        for r in 0..rows {
            let mut at = r * row_bytes;
            for b in 0..e.blocks_per_row(k as u64) {
                let h = if matches!(e, Encoding::IntSuper { .. }) {
                    2
                } else {
                    e.block_header_bytes()
                };
                w[at..at + h].copy_from_slice(&clean[at..at + h]);
                at += e.block_bytes_at(k as u64, b);
            }
        }
        for m in 1..=7 {
            let x: Vec<f32> = (0..m * k)
                .map(|_| (next(&mut state) >> 40) as f32 / (1u64 << 22) as f32 - 2.0)
                .collect();
            check_against_reference(e, rows, k, m, &w, &x);
        }
    }
}

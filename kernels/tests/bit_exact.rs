//! Every kernel x every encoding x every tier this CPU runs, compared BIT FOR BIT (all NaNs equal)
//! with `tessera-reference`: random bytes (every byte string is a valid block encoding), ragged
//! shapes, adversarial scales and activations, unaligned activation buffers, sparse tensors.
//!
//! With `TESSERA_ISA` set, only that tier (and the scalar reference tier) is exercised, so
//! `.ci/kernel-tiers.sh` can run the suite once per tier.

use proptest::prelude::*;
use tessera_format::{Encoding, Path};
use tessera_kernels::{kernels, Isa, QuantizedActivations, WeightView};
use tessera_reference as reference;

mod common;
use common::{same_bits, tiers, Rng};

/// Random dense bytes of a `rows x k` tensor, with special scale values planted in some block
/// headers and some blocks replaced by the encoding's zero block (so sparsifying drops them).
fn weight_bytes(e: Encoding, rows: usize, k: usize, rng: &mut Rng, zero_fraction: u64) -> Vec<u8> {
    let row_bytes = e.row_bytes(k as u64).unwrap() as usize;
    let mut bytes: Vec<u8> = (0..rows * row_bytes).map(|_| rng.next() as u8).collect();
    if !e.is_blocked() {
        return bytes;
    }
    const F16: [u16; 8] = [
        0x7E00, 0x7C00, 0xFC00, 0x0001, 0x8001, 0x7BFF, 0xFBFF, 0x0000,
    ];
    const E8M0: [u8; 5] = [0, 0xFF, 254, 1, 127];
    let blocks = e.blocks_per_row(k as u64) as usize;
    for r in 0..rows {
        let mut at = r * row_bytes;
        for b in 0..blocks {
            let len = e.block_bytes_at(k as u64, b as u64);
            let block = &mut bytes[at..at + len];
            if rng.below(100) < zero_fraction {
                block.copy_from_slice(&reference::zero_block(e, len));
            } else if rng.below(5) == 0 {
                match e.block_header_bytes() {
                    1 => block[0] = E8M0[rng.below(5) as usize],
                    _ => {
                        let v = F16[rng.below(8) as usize].to_le_bytes();
                        block[..2].copy_from_slice(&v);
                        if matches!(
                            e,
                            Encoding::IntAffine { .. } | Encoding::IntSuperAffine { .. }
                        ) && rng.below(2) == 0
                        {
                            block[2..4].copy_from_slice(&F16[rng.below(8) as usize].to_le_bytes());
                        }
                    }
                }
            }
            at += len;
        }
    }
    bytes
}

/// `m * k` activations, mostly ordinary, with planted extremes. `non_finite` plants a NaN or an
/// infinity in one row.
fn activations(m: usize, k: usize, rng: &mut Rng, non_finite: bool) -> Vec<f32> {
    let mut x: Vec<f32> = (0..m * k).map(|_| rng.unit() * 4.0).collect();
    if m * k > 0 {
        for _ in 0..3 {
            let i = rng.below((m * k) as u64) as usize;
            x[i] = match rng.below(6) {
                0 => 1e30,
                1 => -3e38,
                2 => 1e-40, // subnormal
                3 => 65504.0,
                4 => -0.0,
                _ => 0.0,
            };
        }
        // A group of exact zeros (scale 0).
        let z = rng.below(k.div_ceil(32) as u64) as usize * 32;
        let row = rng.below(m as u64) as usize;
        for v in x[row * k + z..(row * k + z + 32).min(row * k + k)].iter_mut() {
            *v = 0.0;
        }
        if non_finite {
            let i = rng.below((m * k) as u64) as usize;
            x[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][rng.below(3) as usize];
        }
    }
    x
}

struct Case {
    e: Encoding,
    rows: usize,
    k: usize,
    m: usize,
    sparse: bool,
    seed: u64,
}

/// Runs every kernel of every tier on one case and compares with the reference.
fn check(case: &Case) -> Result<(), String> {
    let Case {
        e,
        rows,
        k,
        m,
        sparse,
        seed,
    } = *case;
    let ctx = |what: &str, isa: Isa| {
        format!("{what} {e} rows={rows} k={k} m={m} sparse={sparse} seed={seed} tier={isa}")
    };
    let mut rng = Rng(seed | 1);
    let dense = weight_bytes(e, rows, k, &mut rng, if sparse { 40 } else { 3 });
    let bytes = if sparse {
        reference::sparsify(e, rows, k, &dense).map_err(|err| err.to_string())?
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
    .map_err(|err| err.to_string())?;
    let non_finite = rng.below(8) == 0;
    // Unaligned activations: start 1..3 floats into a buffer.
    let shift = 1 + rng.below(3) as usize;
    let mut buffer = vec![0.0f32; shift];
    buffer.extend(activations(m, k, &mut rng, non_finite));
    let x = &buffer[shift..];

    let want_deq = reference::dequantize(&rw).map_err(|err| err.to_string())?;
    let want_float = reference::matmul(&rw, x, m, Path::Float).map_err(|err| err.to_string())?;
    let want_int = if e.path() == Path::Integer {
        Some(reference::matmul(&rw, x, m, Path::Integer).map_err(|err| err.to_string())?)
    } else {
        None
    };
    for kern in tiers() {
        let isa = kern.isa();
        let got = kern.dequantize(&view).map_err(|err| err.to_string())?;
        same_bits(&got, &want_deq).map_err(|s| format!("{}: {s}", ctx("dequantize", isa)))?;
        let got = kern
            .gemm(&view, x, m, Path::Float)
            .map_err(|err| err.to_string())?;
        same_bits(&got, &want_float).map_err(|s| format!("{}: {s}", ctx("float gemm", isa)))?;
        if let Some(want) = &want_int {
            let got = kern
                .gemm(&view, x, m, Path::Integer)
                .map_err(|err| err.to_string())?;
            same_bits(&got, want).map_err(|s| format!("{}: {s}", ctx("integer gemm", isa)))?;
        }
        // A row sub-range equals the same columns of the full result.
        if rows > 2 {
            let sub = 1..rows - 1;
            let path = e.path();
            let full = want_int.as_ref().unwrap_or(&want_float);
            let mut out = vec![0.0; m * sub.len()];
            kern.gemm_rows(&view, x, m, path, sub.clone(), &mut out)
                .map_err(|err| err.to_string())?;
            let want: Vec<f32> = (0..m)
                .flat_map(|i| full[i * rows + sub.start..i * rows + sub.end].to_vec())
                .collect();
            same_bits(&out, &want).map_err(|s| format!("{}: {s}", ctx("gemm_rows", isa)))?;
            let mut deq = vec![0.0; sub.len() * k];
            kern.dequantize_rows(&view, sub.clone(), &mut deq)
                .map_err(|err| err.to_string())?;
            same_bits(&deq, &want_deq[sub.start * k..sub.end * k])
                .map_err(|s| format!("{}: {s}", ctx("dequantize_rows", isa)))?;
        }
    }
    Ok(())
}

/// Shapes that hit every edge: K below / at / past 32 and 256, odd group counts, rows past the
/// 8- and 16-row tiles, M from 1 to past 17.
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 1, 1),
    (3, 31, 2),
    (17, 33, 3),
    (16, 256, 1),
    (5, 300, 17),
    (33, 513, 2),
    (9, 64, 20),
    (2, 96, 5),
    (24, 288, 1),
];

#[test]
fn every_encoding_on_edge_shapes() {
    for e in Encoding::all() {
        for (i, &(rows, k, m)) in SHAPES.iter().enumerate() {
            for sparse in [false, true] {
                if sparse && !e.is_blocked() {
                    continue;
                }
                let case = Case {
                    e,
                    rows,
                    k,
                    m,
                    sparse,
                    seed: 0x9E37_79B9 + 131 * i as u64 + e.id() as u64,
                };
                if let Err(msg) = check(&case) {
                    panic!("{msg}");
                }
            }
        }
    }
}

/// gemv (M = 1) and small batches (M = 2 to 4) on dense tensors take strided kernels for whole
/// 16-row tiles and the general loop for the rest: row counts of whole tiles, whole tiles plus a
/// ragged rest, ragged K (odd group counts, short super-blocks: K = 430 leaves one of 6 groups),
/// and the row sub-range `1..rows - 1` that `check` also runs (tiles starting mid-tensor).
#[test]
fn gemv_whole_tiles_and_rest() {
    const GEMV_SHAPES: [(usize, usize); 7] = [
        (16, 33),
        (16, 430),
        (32, 1000),
        (53, 257),
        (48, 64),
        (20, 2055),
        (64, 4096),
    ];
    for e in Encoding::all() {
        if e.path() != Path::Integer {
            continue;
        }
        for (i, &(rows, k)) in GEMV_SHAPES.iter().enumerate() {
            for (sparse, m) in [(false, 1), (true, 1), (false, 2), (false, 3), (false, 4)] {
                let case = Case {
                    e,
                    rows,
                    k,
                    m,
                    sparse,
                    seed: 0x5EED + 17 * i as u64 + e.id() as u64 + 1000 * (m as u64 - 1),
                };
                if let Err(msg) = check(&case) {
                    panic!("{msg}");
                }
            }
        }
    }
}

/// gemv on dense tensors above 8 MiB, where the AVX2 dense-tile loop also prefetches the next
/// tile (a hint: results must not change): q4, q4k and mxfp4, 8-row tiles and a ragged rest.
/// x86-64 only: the other tiers have no such switch, and under qemu the 8 MiB reference gemv is
/// slow.
#[cfg(target_arch = "x86_64")]
#[test]
fn gemv_large_tensors() {
    for (i, name) in ["q4", "q4k", "mxfp4"].into_iter().enumerate() {
        let e = Encoding::from_name(name).expect("encoding name");
        let k = 8192;
        // Rows for a little over 8 MiB, not a multiple of 8.
        let row_bytes = e.row_bytes(k as u64).unwrap() as usize;
        let rows = (8 << 20) / row_bytes + 13;
        let case = Case {
            e,
            rows,
            k,
            m: 1,
            sparse: false,
            seed: 0xB16 + i as u64,
        };
        if let Err(msg) = check(&case) {
            panic!("{msg}");
        }
    }
}

/// Float-path gemm with M >= 4 on dense tensors decodes weight tiles (AVX-512: 8 rows, chunk by
/// chunk of K; AVX2: 4 rows) and runs blocks of activation rows over them: M not a multiple of 3 (and below 4: the
/// general loop), N not a multiple of 8, K past one chunk with a partial last group, K inside
/// the first chunk, sparse twins; several seeds per shape so some runs plant a NaN or infinity in
/// an activation row. (The AVX-512 plans this CPU does not pick, and panels smaller than M, are
/// run by the unit test `every_decoded_plan_matches_the_reference` in `avx512.rs`.)
#[test]
fn float_gemm_decoded_tiles() {
    // Rows past 32 cover several AVX-512 tiles decoded together (4 x 8 rows in the one-pass
    // plan) and a ragged rest.
    const FLOAT_SHAPES: [(usize, usize, usize); 9] = [
        (13, 1100, 7),
        (45, 300, 5),
        (70, 530, 4),
        (8, 1024, 4),
        (9, 40, 5),
        (17, 2049, 6),
        (3, 97, 11),
        (24, 31, 8),
        (10, 1056, 3),
    ];
    for e in Encoding::all() {
        for (i, &(rows, k, m)) in FLOAT_SHAPES.iter().enumerate() {
            for sparse in [false, true] {
                if sparse && !e.is_blocked() {
                    continue;
                }
                let seeds: u64 = if e.path() == Path::Float { 4 } else { 1 };
                for s in 0..seeds {
                    let case = Case {
                        e,
                        rows,
                        k,
                        m,
                        sparse,
                        seed: 0xF10A7 + 1009 * s + 31 * i as u64 + e.id() as u64,
                    };
                    if let Err(msg) = check(&case) {
                        panic!("{msg}");
                    }
                }
            }
        }
    }
}

fn any_encoding() -> impl Strategy<Value = Encoding> {
    let all = Encoding::all();
    (0..all.len()).prop_map(move |i| all[i])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_shapes_match_reference(
        e in any_encoding(),
        rows in 1usize..40,
        k in 1usize..700,
        m in prop_oneof![1usize..=17, 18usize..40],
        sparse in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let sparse = sparse && e.is_blocked();
        check(&Case { e, rows, k, m, sparse, seed }).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn activation_quantization_matches_reference(k in 1usize..300, m in 1usize..4, seed in any::<u64>()) {
        let mut rng = Rng(seed | 1);
        let non_finite = rng.below(4) == 0;
        let x = activations(m, k, &mut rng, non_finite);
        let ours = QuantizedActivations::new(&x, m, k).unwrap();
        for r in 0..m {
            let want = reference::quantize_activations(&x[r * k..(r + 1) * k]);
            prop_assert_eq!(ours.codes(r), &want.q[..]);
            prop_assert_eq!(ours.sums(r), &want.sum[..]);
            prop_assert_eq!(ours.is_non_finite(r), want.non_finite);
            same_bits(ours.scales(r), &want.scale).map_err(TestCaseError::fail)?;
        }
    }
}

#[test]
fn thread_count_does_not_change_bits() {
    // `par_gemm` splits the activation rows from 96 per thread, else the output rows. m = 3:
    // output rows on every pool; m = 200: activation bands of 100 on 2 threads, output rows on 3;
    // m = 301: unequal activation bands on 2 (151 + 150) and 3 threads (101 + 101 + 99).
    let e = Encoding::IntSuper { bits: 4 };
    let (rows, k) = (100, 320);
    let mut rng = Rng(7);
    let bytes = weight_bytes(e, rows, k, &mut rng, 0);
    let view = WeightView::new(e, rows, k, &bytes).unwrap();
    for m in [3, 200, 301] {
        let x = activations(m, k, &mut rng, m > 3);
        for kern in tiers() {
            for path in [Path::Integer, Path::Float] {
                let one = kern.gemm(&view, &x, m, path).unwrap();
                for threads in [1, 2, 3] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let par = pool.install(|| kern.par_gemm(&view, &x, m, path)).unwrap();
                    same_bits(&par, &one)
                        .unwrap_or_else(|s| panic!("m={m} threads={threads} {path:?}: {s}"));
                }
            }
        }
    }
}

#[test]
fn quantized_activations_shared_by_encodings_and_threads() {
    // One `QuantizedActivations` serves weights of different encodings (whose codes carry
    // different offsets) and calls on several threads at once; the gemm kernels keep a copy of
    // it laid out for themselves, and that copy must serve every one of these calls.
    let (rows, k, m) = (48, 320, 13);
    let mut rng = Rng(11);
    let x = activations(m, k, &mut rng, true);
    let encodings = [
        Encoding::IntSym { bits: 8 },
        Encoding::IntSym { bits: 4 },
        Encoding::IntSuper { bits: 4 },
        Encoding::IntSym { bits: 3 },
    ];
    let weights: Vec<Vec<u8>> = encodings
        .iter()
        .map(|&e| weight_bytes(e, rows, k, &mut rng, 0))
        .collect();
    for kern in tiers() {
        let xq = QuantizedActivations::new(&x, m, k).unwrap();
        let results: Vec<Vec<f32>> = std::thread::scope(|scope| {
            let handles: Vec<_> = encodings
                .iter()
                .zip(&weights)
                .map(|(&e, bytes)| {
                    let xq = &xq;
                    scope.spawn(move || {
                        let view = WeightView::new(e, rows, k, bytes).unwrap();
                        kern.gemm_quantized(&view, xq).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for ((&e, bytes), got) in encodings.iter().zip(&weights).zip(&results) {
            let rw = reference::Weights {
                encoding: e,
                rows,
                k,
                bytes,
                sparse: false,
            };
            let want = reference::matmul(&rw, &x, m, Path::Integer).unwrap();
            same_bits(got, &want).unwrap_or_else(|s| panic!("{e} tier={}: {s}", kern.isa()));
        }
    }
}

#[test]
fn bad_shapes_are_typed_errors() {
    let e = Encoding::IntSym { bits: 4 };
    let bytes = vec![0u8; 2 * e.block_bytes()];
    assert!(WeightView::new(e, 3, 32, &bytes).is_err());
    assert!(WeightView::new(e, usize::MAX, usize::MAX, &bytes).is_err());
    assert!(WeightView::new_sparse(e, 1 << 40, 32, &bytes).is_err());
    let view = WeightView::new(e, 2, 32, &bytes).unwrap().named("blk.0.w");
    let kern = kernels().unwrap();
    assert!(kern.gemm(&view, &[0.0; 31], 1, Path::Integer).is_err());
    let err = kern
        .gemm_rows(&view, &[0.0; 32], 1, Path::Float, 1..3, &mut [0.0; 2])
        .unwrap_err();
    assert!(err.to_string().contains("blk.0.w"), "{err}");
    let fp8 = Encoding::Mx(tessera_format::MxType::Fp8E4M3);
    let bytes = vec![0u8; fp8.block_bytes()];
    let view = WeightView::new(fp8, 1, 32, &bytes).unwrap();
    assert!(kern.gemm(&view, &[0.0; 32], 1, Path::Integer).is_err());
    // Bits set in the bitmap's padding are rejected.
    let mut sparse = vec![0u8; 8];
    sparse[0] = 0b100;
    assert!(WeightView::new_sparse(e, 2, 32, &sparse).is_err());
    // Widths no encoding has are refused before any kernel could pick a codec for them (a 1-bit
    // q{b}kh would otherwise run as the 8-bit codec over a shorter block).
    for bad in [
        Encoding::IntSym { bits: 1 },
        Encoding::IntSuperHalf { bits: 1 },
        Encoding::IntSuper { bits: 9 },
    ] {
        let bytes = vec![0u8; bad.row_bytes(64).unwrap() as usize];
        let err = WeightView::new(bad, 1, 64, &bytes).unwrap_err();
        assert!(err.to_string().contains("not an encoding"), "{err}");
        assert!(WeightView::new_sparse(bad, 1, 64, &bytes).is_err());
    }
}

/// Float path, outputs that are signed zeros: every product underflows to a negative zero, so the
/// reference's lane accumulators end at -0 and so does the output (for k >= 16, when every lane
/// gets an element). A kernel that ran an fma of +0 on a padding lane past K, or on a row whose
/// block is omitted, would turn -0 into +0 there (SPEC.md section 17.2).
#[test]
fn float_path_keeps_negative_zero_outputs() {
    for k in [1usize, 15, 17, 33, 47, 100, 1030] {
        for m in [1usize, 2, 3, 4, 5, 9] {
            let rows = 11;
            let w: Vec<u8> = (0..rows * k).flat_map(|_| 1e-30f32.to_le_bytes()).collect();
            let x = vec![-1e-30f32; m * k];
            let e = Encoding::Raw(tessera_format::RawType::F32);
            let reference = reference::matmul(
                &reference::Weights {
                    encoding: e,
                    rows,
                    k,
                    bytes: &w,
                    sparse: false,
                },
                &x,
                m,
                Path::Float,
            )
            .unwrap();
            // Lanes no element reaches stay +0, so only k >= 16 gives -0 outputs.
            if k >= 16 {
                assert!(reference.iter().all(|v| v.to_bits() == (-0.0f32).to_bits()));
            }
            let view = WeightView::new(e, rows, k, &w).unwrap();
            for t in tiers() {
                let y = t.gemm(&view, &x, m, Path::Float).unwrap();
                same_bits(&y, &reference)
                    .unwrap_or_else(|err| panic!("{:?} m {m} k {k}: {err}", t.isa()));
            }
        }
    }
}

/// The same with an omitted block: even rows hold 2^-24 in their first block (every product with
/// the tiny negative activations underflows to -0) and a zero block, omitted when sparse, where
/// the activations are +1. The reference skips the omitted block, so those outputs stay -0.
#[test]
fn float_path_skips_omitted_blocks_exactly() {
    let (rows, k, m) = (6usize, 64usize, 2usize);
    let values: Vec<f32> = (0..rows * k)
        .map(|i| {
            let (r, c) = (i / k, i % k);
            if c < 32 || r % 2 == 1 {
                2f32.powi(-24)
            } else {
                0.0
            }
        })
        .collect();
    let x: Vec<f32> = (0..m * k)
        .map(|i| if i % k < 32 { -1e-38 } else { 1.0 })
        .collect();
    let e = Encoding::IntSym { bits: 8 };
    let dense = reference::quantize(e, rows, k, &values).unwrap();
    let sparse = reference::sparsify(e, rows, k, &dense).unwrap();
    let want = reference::matmul(
        &reference::Weights {
            encoding: e,
            rows,
            k,
            bytes: &sparse,
            sparse: true,
        },
        &x,
        m,
        Path::Float,
    )
    .unwrap();
    for a in 0..m {
        for r in (0..rows).step_by(2) {
            assert_eq!(want[a * rows + r].to_bits(), (-0.0f32).to_bits());
        }
    }
    let view = WeightView::new_sparse(e, rows, k, &sparse).unwrap();
    for t in tiers() {
        let y = t.gemm(&view, &x, m, Path::Float).unwrap();
        same_bits(&y, &want).unwrap_or_else(|err| panic!("{:?}: {err}", t.isa()));
    }
}

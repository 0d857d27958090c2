//! Both matmul paths on hand-checkable inputs, sparse against dense, and the error cases.

use tessera_reference::*;

fn lcg(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn integer_path_exact_example() {
    // q8 with d = 1: weights are the integers u - 128. Activations with amax 127 quantize to
    // themselves (sx = 1), so each output is an exact integer dot product.
    let k = 40;
    let enc = Encoding::IntSym { bits: 8 };
    let w_int: Vec<f32> = (0..2 * k)
        .map(|i| ((i * 37) % 255) as f32 - 127.0)
        .collect();
    // Written by hand: per block d = 1.0 (f16 0x3C00) and one byte per code u = q + 128;
    // padding codes are 128 (q = 0).
    let mut bytes = Vec::new();
    for r in 0..2 {
        for b in 0..2 {
            bytes.extend([0x00, 0x3C]);
            for i in 0..32 {
                let at = b * 32 + i;
                let q = if at < k { w_int[r * k + at] as i32 } else { 0 };
                bytes.push((q + 128) as u8);
            }
        }
    }
    let w = Weights {
        encoding: enc,
        rows: 2,
        k,
        bytes: &bytes,
        sparse: false,
    };
    assert_eq!(dequantize(&w).unwrap(), w_int);
    let x: Vec<f32> = (0..k)
        .map(|i| {
            if i % 32 == 0 {
                127.0
            } else {
                (i % 11) as f32 - 5.0
            }
        })
        .collect();
    let y = matmul(&w, &x, 1, Path::Integer).unwrap();
    for n in 0..2 {
        let exact: f32 = (0..k).map(|i| w_int[n * k + i] * x[i]).sum();
        assert_eq!(y[n], exact);
    }
}

#[test]
fn float_path_follows_the_lane_order() {
    // 17 elements: lane 0 gets k = 0 and k = 16. With w = [1e8, 0.., 1, -1e8 at k = 16], the
    // lanes cancel inside lane 0 (1e8 - 1e8 = 0) and lane 1 keeps 1: a plain left-to-right sum
    // would give (1e8 + 1) - 1e8 = 0 in f32.
    let k = 17;
    let mut wv = vec![0.0f32; k];
    wv[0] = 1e8;
    wv[1] = 1.0;
    wv[16] = -1e8;
    let bytes = quantize(Encoding::Raw(RawType::F32), 1, k, &wv).unwrap();
    let w = Weights {
        encoding: Encoding::Raw(RawType::F32),
        rows: 1,
        k,
        bytes: &bytes,
        sparse: false,
    };
    let y = matmul(&w, &vec![1.0; k], 1, Path::Float).unwrap();
    assert_eq!(y, vec![1.0]);
}

#[test]
fn sparse_equals_dense_on_both_paths() {
    let (rows, k) = (5, 300);
    let mut values = lcg(7, rows * k);
    // Zero out whole regions so that some blocks of every geometry are all zero.
    for r in 0..rows {
        for i in 0..k {
            if (r + i / 64) % 2 == 0 {
                values[r * k + i] = 0.0;
            }
        }
    }
    let x = lcg(9, 3 * k);
    for enc in Encoding::all_blocked() {
        let dense = quantize(enc, rows, k, &values).unwrap();
        let sparse = sparsify(enc, rows, k, &dense).unwrap();
        assert!(sparse.len() < dense.len(), "{enc}: nothing omitted");
        assert_eq!(densify(enc, rows, k, &sparse).unwrap(), dense, "{enc}");
        let wd = Weights {
            encoding: enc,
            rows,
            k,
            bytes: &dense,
            sparse: false,
        };
        let ws = Weights {
            sparse: true,
            bytes: &sparse,
            ..wd
        };
        let dd = dequantize(&wd).unwrap();
        let ds = dequantize(&ws).unwrap();
        assert_eq!(bits(&dd), bits(&ds), "{enc}");
        let mut paths = vec![Path::Float];
        if enc.path() == Path::Integer {
            paths.push(Path::Integer);
        }
        for p in paths {
            let yd = matmul(&wd, &x, 3, p).unwrap();
            let ys = matmul(&ws, &x, 3, p).unwrap();
            assert_eq!(bits(&yd), bits(&ys), "{enc} {p:?}");
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn non_finite_activations_give_nan_rows() {
    let enc = Encoding::IntSym { bits: 4 };
    let bytes = quantize(enc, 2, 32, &lcg(1, 64)).unwrap();
    let w = Weights {
        encoding: enc,
        rows: 2,
        k: 32,
        bytes: &bytes,
        sparse: false,
    };
    let mut x = lcg(2, 64);
    x[40] = f32::INFINITY;
    for p in [Path::Integer, Path::Float] {
        let y = matmul(&w, &x, 2, p).unwrap();
        assert!(y[0].is_finite() && y[1].is_finite());
        assert!(y[2].is_nan() && y[3].is_nan());
    }
}

#[test]
fn errors_not_panics() {
    let enc = Encoding::Mx(MxType::Fp8E4M3);
    let bytes = quantize(enc, 1, 32, &lcg(1, 32)).unwrap();
    let w = Weights {
        encoding: enc,
        rows: 1,
        k: 32,
        bytes: &bytes,
        sparse: false,
    };
    assert!(matches!(
        matmul(&w, &[0.0; 32], 1, Path::Integer),
        Err(RefError::NoIntegerPath { .. })
    ));
    assert!(matches!(
        matmul(&w, &[0.0; 31], 1, Path::Float),
        Err(RefError::ValueCount { .. })
    ));
    let short = Weights {
        bytes: &bytes[1..],
        ..w
    };
    assert!(matches!(
        dequantize(&short),
        Err(RefError::ByteLength { .. })
    ));
    let sparse = Weights {
        bytes: &bytes[..3],
        sparse: true,
        ..w
    };
    assert!(dequantize(&sparse).is_err());
    // A set bitmap bit past the last block.
    let mut bad = vec![0u8; 8];
    bad[0] = 0b10;
    assert!(matches!(
        densify(enc, 1, 32, &bad),
        Err(RefError::BitmapPadding { .. })
    ));
    assert!(matches!(
        quantize(Encoding::IntSym { bits: 4 }, 1, 2, &[1.0, f32::NAN]),
        Err(RefError::NonFinite { index: 1, .. })
    ));
    assert!(quantize(Encoding::IntSym { bits: 4 }, 2, 3, &[0.0; 5]).is_err());
    assert!(quantize(Encoding::Raw(RawType::I32), 1, 1, &[1.0]).is_err());
    assert!(quantize(Encoding::IntSym { bits: 4 }, usize::MAX, 2, &[]).is_err());
    // k = 0 allows any row or activation count with no bytes, so matmul refuses it.
    let empty = Weights {
        encoding: Encoding::IntSym { bits: 4 },
        rows: usize::MAX / 2,
        k: 0,
        bytes: &[],
        sparse: false,
    };
    for m in [4, usize::MAX / 2] {
        for path in [Path::Float, Path::Integer] {
            assert!(matches!(
                matmul(&empty, &[], m, path),
                Err(RefError::EmptyRows { .. })
            ));
        }
    }
    let xq = vec![quantize_activations(&[0.0; 31])];
    let qw = Weights {
        encoding: Encoding::IntSym { bits: 4 },
        rows: 0,
        k: 32,
        bytes: &[],
        sparse: false,
    };
    assert!(matches!(
        matmul_quantized(&qw, &xq),
        Err(RefError::ActivationWidth { .. })
    ));
}

#[test]
fn round_trips_every_encoding() {
    // Ragged shapes: k = 1, 33, 300 (short super-block, odd affine group count).
    for enc in Encoding::all_blocked() {
        for k in [1usize, 33, 300] {
            let v = lcg(k as u64, 3 * k);
            let bytes = quantize(enc, 3, k, &v).unwrap();
            assert_eq!(
                bytes.len() as u64,
                enc.tensor_bytes(&[3, k as u64]).unwrap()
            );
            let d = dequantize(&Weights {
                encoding: enc,
                rows: 3,
                k,
                bytes: &bytes,
                sparse: false,
            })
            .unwrap();
            let num: f64 = v
                .iter()
                .zip(&d)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum();
            let den: f64 = v.iter().map(|a| (*a as f64).powi(2)).sum();
            let rel = (num / den).sqrt();
            // Uniform values: one extra bit roughly halves the error of an integer grid; a
            // floating-point element's relative error is set by its mantissa bits.
            let bound = match enc {
                Encoding::Mx(MxType::Fp8E4M3 | MxType::Fp6E2M3) => 0.07,
                Encoding::Mx(MxType::Fp8E5M2 | MxType::Fp6E3M2) => 0.13,
                Encoding::Mx(MxType::Fp4E2M1) => 0.26,
                _ => 2.4 * 2f64.powi(-(enc.element_bits() as i32)),
            };
            assert!(rel < bound, "{enc} k={k}: {rel} >= {bound}");
        }
    }
    for t in [
        RawType::F32,
        RawType::F16,
        RawType::BF16,
        RawType::F64,
        RawType::F8E4M3,
        RawType::F8E5M2,
    ] {
        let v = lcg(3, 10);
        let enc = Encoding::Raw(t);
        let bytes = quantize(enc, 2, 5, &v).unwrap();
        let d = dequantize(&Weights {
            encoding: enc,
            rows: 2,
            k: 5,
            bytes: &bytes,
            sparse: false,
        })
        .unwrap();
        for (a, b) in v.iter().zip(&d) {
            assert!((a - b).abs() <= a.abs() * 0.13, "{enc}: {a} {b}");
        }
    }
}

#[test]
fn quantize_and_matmul_ignore_thread_count() {
    let (rows, k) = (37, 300);
    let v = lcg(11, rows * k);
    let x = lcg(12, 3 * k);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    for enc in Encoding::all_blocked() {
        let run = || {
            let bytes = quantize(enc, rows, k, &v).unwrap();
            let w = Weights {
                encoding: enc,
                rows,
                k,
                bytes: &bytes,
                sparse: false,
            };
            let y = matmul(&w, &x, 3, Path::Float).unwrap();
            (bytes.clone(), bits(&y))
        };
        assert_eq!(one.install(run), four.install(run), "{enc}");
    }
}

#[test]
fn importance_steers_the_error() {
    // Every 4th weight matters 50 times more: the weighted error must drop against the
    // unweighted quantization of the same values.
    let (rows, k) = (64, 256);
    let v = lcg(21, rows * k);
    let imp: Vec<f32> = (0..rows * k)
        .map(|i| if i % 4 == 0 { 50.0 } else { 1.0 })
        .collect();
    for enc in [
        Encoding::IntSym { bits: 3 },
        Encoding::IntAffine { bits: 3 },
        Encoding::IntSuper { bits: 3 },
        Encoding::Bfp { bits: 3 },
        Encoding::Mx(MxType::Fp4E2M1),
    ] {
        let werr = |bytes: &[u8]| {
            let d = dequantize(&Weights {
                encoding: enc,
                rows,
                k,
                bytes,
                sparse: false,
            })
            .unwrap();
            v.iter()
                .zip(&d)
                .zip(&imp)
                .map(|((a, b), w)| *w as f64 * ((a - b) as f64).powi(2))
                .sum::<f64>()
        };
        let plain = werr(&quantize(enc, rows, k, &v).unwrap());
        let weighted = werr(&quantize_weighted(enc, rows, k, &v, Some(&imp)).unwrap());
        assert!(weighted < plain, "{enc}: {weighted} >= {plain}");
    }
}

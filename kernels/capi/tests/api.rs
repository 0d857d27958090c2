//! The C API on valid input gives exactly what the Rust API gives: the same tensor list, and the
//! same bits from every matmul entry point, on every tier, for every row split.

mod common;

use std::ffi::{c_char, CStr};
use std::ptr::null_mut;

use common::*;
use tessera_capi::*;
use tessera_format::Path;
use tessera_kernels::{kernels, WeightView};

/// The bits of each value, every NaN as one pattern: the contract treats all NaNs as equal (and
/// Miri picks NaN signs and payloads at random, as Rust allows).
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter()
        .map(|x| if x.is_nan() { 0x7FC0_0000 } else { x.to_bits() })
        .collect()
}

fn c_string(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: the library returns NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
}

/// The Rust view of tensor `i` of [`TENSORS`], over `bytes`.
fn rust_view(i: usize, bytes: &[u8]) -> WeightView<'_> {
    let (_, e, shape, sparse) = TENSORS[i];
    let (rows, k) = rows_k(shape);
    if sparse {
        WeightView::new_sparse(e, rows, k, bytes).unwrap()
    } else {
        WeightView::new(e, rows, k, bytes).unwrap()
    }
}

#[test]
fn lists_tensors_like_the_directory() {
    let bytes = file_bytes();
    let file = open(&bytes);
    unsafe {
        let mut count = 0;
        assert_eq!(
            tessera_file_tensor_count(file, &mut count),
            TesseraStatus::Ok
        );
        assert_eq!(count, TENSORS.len());
        for (i, &(name, e, shape, sparse)) in TENSORS.iter().enumerate() {
            let mut info = std::mem::MaybeUninit::<TesseraTensorInfo>::uninit();
            assert_eq!(
                tessera_file_tensor_info(file, i, info.as_mut_ptr()),
                TesseraStatus::Ok
            );
            let info = info.assume_init();
            assert_eq!(c_string(info.name), name);
            assert_eq!(info.name_len, name.len());
            assert_eq!(info.rank as usize, shape.len());
            assert_eq!(&info.shape[..shape.len()], shape);
            assert!(info.shape[shape.len()..].iter().all(|&d| d == 0));
            let (rows, k) = rows_k(shape);
            assert_eq!((info.rows, info.k), (rows as u64, k as u64));
            assert_eq!(info.encoding, e.id());
            assert_eq!(c_string(info.encoding_name), e.name());
            assert_eq!(c_string(tessera_encoding_name(e.id())), e.name());
            assert_eq!(info.sparse, sparse);
            assert_eq!(info.byte_length, tensor_bytes(i).len() as u64);
            let default = match e.path() {
                Path::Integer => TESSERA_PATH_INTEGER,
                Path::Float => TESSERA_PATH_FLOAT,
            };
            assert_eq!(info.default_path, default);
            let mut index = usize::MAX;
            let c_name = std::ffi::CString::new(name).unwrap();
            assert_eq!(
                tessera_file_find_tensor(file, c_name.as_ptr(), &mut index),
                TesseraStatus::Ok
            );
            assert_eq!(index, i);
        }
        assert!(tessera_encoding_name(0xFFFF).is_null());
        assert_eq!(c_string(tessera_version()), env!("CARGO_PKG_VERSION"));
        tessera_file_free(file);
    }
}

#[test]
fn every_entry_point_gives_the_rust_bits() {
    let bytes = file_bytes();
    let file = open(&bytes);
    let kern = kernels().unwrap();
    for (i, &(name, e, shape, _)) in TENSORS.iter().enumerate() {
        let (rows, k) = rows_k(shape);
        let stored = tensor_bytes(i);
        let rust = rust_view(i, &stored);
        let w = weights(file, i);
        let m = 3;
        let x = activations(m, k);
        unsafe {
            let (mut r, mut kk) = (0, 0);
            assert_eq!(tessera_weights_shape(w, &mut r, &mut kk), TesseraStatus::Ok);
            assert_eq!((r, kk), (rows, k));
            let mut enc = 0;
            assert_eq!(tessera_weights_encoding(w, &mut enc), TesseraStatus::Ok);
            assert_eq!(enc, e.id());

            for (code, path) in [
                (TESSERA_PATH_INTEGER, Path::Integer),
                (TESSERA_PATH_FLOAT, Path::Float),
                (TESSERA_PATH_DEFAULT, e.path()),
            ] {
                let expected = match kern.gemm(&rust, &x, m, path) {
                    Ok(y) => y,
                    Err(_) => {
                        let mut y = vec![0.0; m * rows];
                        let s =
                            tessera_gemm(w, x.as_ptr(), x.len(), m, code, y.as_mut_ptr(), y.len());
                        assert_eq!(s, TesseraStatus::Unsupported, "{name}: {}", last_error());
                        continue;
                    }
                };
                // gemm
                let mut y = vec![0.0; m * rows];
                let s = tessera_gemm(w, x.as_ptr(), x.len(), m, code, y.as_mut_ptr(), y.len());
                assert_eq!(s, TesseraStatus::Ok, "{name}: {}", last_error());
                assert_eq!(bits(&y), bits(&expected), "{name} {path:?} gemm");
                // gemv = the first row
                let mut y1 = vec![0.0; rows];
                let s = tessera_gemv(w, x.as_ptr(), k, code, y1.as_mut_ptr(), rows);
                assert_eq!(s, TesseraStatus::Ok);
                assert_eq!(bits(&y1), bits(&kern.gemv(&rust, &x[..k], path).unwrap()));
                // every split point of the output rows
                for split in 0..=rows {
                    let mut lo = vec![0.0; m * split];
                    let mut hi = vec![0.0; m * (rows - split)];
                    let s = tessera_gemm_rows(
                        w,
                        x.as_ptr(),
                        x.len(),
                        m,
                        code,
                        0,
                        split,
                        lo.as_mut_ptr(),
                        lo.len(),
                    );
                    assert_eq!(s, TesseraStatus::Ok, "{}", last_error());
                    let s = tessera_gemm_rows(
                        w,
                        x.as_ptr(),
                        x.len(),
                        m,
                        code,
                        split,
                        rows,
                        hi.as_mut_ptr(),
                        hi.len(),
                    );
                    assert_eq!(s, TesseraStatus::Ok, "{}", last_error());
                    for r in 0..m {
                        let joined: Vec<f32> = lo[r * split..(r + 1) * split]
                            .iter()
                            .chain(&hi[r * (rows - split)..(r + 1) * (rows - split)])
                            .copied()
                            .collect();
                        assert_eq!(bits(&joined), bits(&expected[r * rows..(r + 1) * rows]));
                    }
                }
                // activations quantized once
                if path == Path::Integer {
                    let mut xq = null_mut();
                    assert_eq!(
                        tessera_activations_quantize(x.as_ptr(), x.len(), m, k, &mut xq),
                        TesseraStatus::Ok
                    );
                    let (mut qm, mut qk) = (0, 0);
                    assert_eq!(
                        tessera_activations_shape(xq, &mut qm, &mut qk),
                        TesseraStatus::Ok
                    );
                    assert_eq!((qm, qk), (m, k));
                    let mut yq = vec![0.0; m * rows];
                    assert_eq!(
                        tessera_gemm_quantized(w, xq, yq.as_mut_ptr(), yq.len()),
                        TesseraStatus::Ok
                    );
                    assert_eq!(bits(&yq), bits(&expected));
                    let mut tail = vec![0.0; m];
                    assert_eq!(
                        tessera_gemm_quantized_rows(w, xq, rows - 1, rows, tail.as_mut_ptr(), m),
                        TesseraStatus::Ok
                    );
                    for r in 0..m {
                        assert_eq!(
                            bits(&tail[r..=r]),
                            bits(&expected[r * rows + rows - 1..][..1])
                        );
                    }
                    tessera_activations_free(xq);
                }
            }
            // dequantize, whole and one row
            let expected = kern.dequantize(&rust).unwrap();
            let mut all = vec![0.0; rows * k];
            assert_eq!(
                tessera_dequantize(w, all.as_mut_ptr(), all.len()),
                TesseraStatus::Ok
            );
            assert_eq!(bits(&all), bits(&expected));
            let mut last = vec![0.0; k];
            assert_eq!(
                tessera_dequantize_rows(w, rows - 1, rows, last.as_mut_ptr(), k),
                TesseraStatus::Ok
            );
            assert_eq!(bits(&last), bits(&expected[(rows - 1) * k..]));
            tessera_weights_free(w);
        }
    }
    unsafe { tessera_file_free(file) };
}

#[test]
fn every_tier_gives_the_same_bits() {
    let bytes = file_bytes();
    let file = open(&bytes);
    let w = weights(file, 1); // q4k, 6 x 260
    let x = activations(2, 260);
    let gemm = |path: u32| {
        let mut y = vec![0.0f32; 12];
        // SAFETY: live handle, correct lengths.
        let s = unsafe { tessera_gemm(w, x.as_ptr(), x.len(), 2, path, y.as_mut_ptr(), 12) };
        assert_eq!(s, TesseraStatus::Ok, "{}", last_error());
        bits(&y)
    };
    let reference = (gemm(TESSERA_PATH_INTEGER), gemm(TESSERA_PATH_FLOAT));
    unsafe {
        assert!(tessera_isa_count() >= 1);
        assert_eq!(c_string(tessera_isa_name(0)), "scalar");
        assert!(tessera_isa_is_available(0));
        let mut tested = 0;
        for t in 0..tessera_isa_count() {
            if !tessera_isa_is_available(t) {
                continue;
            }
            assert_eq!(tessera_isa_force(tessera_isa_name(t)), TesseraStatus::Ok);
            let mut current: *const c_char = std::ptr::null();
            assert_eq!(tessera_isa_current(&mut current), TesseraStatus::Ok);
            // Other tests may force tiers concurrently; only the bits are asserted across them.
            let _ = c_string(current);
            assert_eq!(gemm(TESSERA_PATH_INTEGER), reference.0, "tier {t}");
            assert_eq!(gemm(TESSERA_PATH_FLOAT), reference.1, "tier {t}");
            tested += 1;
        }
        assert!(tested >= 1);
        assert_eq!(tessera_isa_force(c"auto".as_ptr()), TesseraStatus::Ok);
        assert_eq!(tessera_isa_force(c"scalar".as_ptr()), TesseraStatus::Ok);
        let mut current: *const c_char = std::ptr::null();
        assert_eq!(tessera_isa_current(&mut current), TesseraStatus::Ok);
        assert_eq!(c_string(current), "scalar");
        assert_eq!(tessera_isa_force(c"auto".as_ptr()), TesseraStatus::Ok);
        tessera_weights_free(w);
        tessera_file_free(file);
    }
}

#[test]
fn views_outlive_their_file_and_buffers_can_be_copied() {
    let bytes = file_bytes();
    let x = activations(1, 70);
    let expected = {
        let stored = tensor_bytes(0);
        bits(
            &kernels()
                .unwrap()
                .gemv(&rust_view(0, &stored), &x, Path::Integer)
                .unwrap(),
        )
    };
    let run = |w: *const TesseraWeights| {
        let mut y = vec![0.0f32; 6];
        // SAFETY: live handle, correct lengths.
        let s = unsafe { tessera_gemv(w, x.as_ptr(), 70, TESSERA_PATH_INTEGER, y.as_mut_ptr(), 6) };
        assert_eq!(s, TesseraStatus::Ok, "{}", last_error());
        bits(&y)
    };
    unsafe {
        // A copied buffer: the caller's bytes can go away at once; the view outlives the file.
        let mut scratch = bytes.clone();
        let mut file = null_mut();
        let flags = TESSERA_OPEN_COPY | TESSERA_OPEN_VERIFY;
        assert_eq!(
            tessera_file_open_buffer(scratch.as_ptr(), scratch.len(), flags, &mut file),
            TesseraStatus::Ok
        );
        scratch.fill(0xEE);
        drop(scratch);
        let w = weights(file, 0);
        tessera_file_free(file);
        assert_eq!(run(w), expected);
        tessera_weights_free(w);

        // A mapped file on disk, opened with verification (Miri cannot map files).
        if !cfg!(miri) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("model.tsr");
            std::fs::write(&path, &bytes).unwrap();
            let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            let mut mapped = null_mut();
            assert_eq!(
                tessera_file_open(c_path.as_ptr(), TESSERA_OPEN_VERIFY, &mut mapped),
                TesseraStatus::Ok,
                "{}",
                last_error()
            );
            assert_eq!(tessera_file_verify(mapped), TesseraStatus::Ok);
            let w = weights(mapped, 0);
            tessera_file_free(mapped);
            assert_eq!(run(w), expected);
            tessera_weights_free(w);
        }

        // Caller-held weight bytes, no file at all.
        let stored = tensor_bytes(0);
        let mut w = null_mut();
        assert_eq!(
            tessera_weights_from_buffer(
                0x0104,
                false,
                6,
                70,
                stored.as_ptr(),
                stored.len(),
                &mut w
            ),
            TesseraStatus::Ok
        );
        assert_eq!(run(w), expected);
        tessera_weights_free(w);
    }
}

#[test]
fn threads_share_handles() {
    let bytes = file_bytes();
    let file = open(&bytes);
    let w = weights(file, 3); // sparse q8, 4 x 96
    let x = activations(1, 96);
    let mut whole = vec![0.0f32; 4];
    // SAFETY: live handle, correct lengths.
    let s = unsafe { tessera_gemv(w, x.as_ptr(), 96, 0, whole.as_mut_ptr(), 4) };
    assert_eq!(s, TesseraStatus::Ok);
    // Raw pointers are not Send; pass the addresses (the handles are shareable by contract).
    let (w_addr, x_addr) = (w as usize, x.as_ptr() as usize);
    let parts: Vec<Vec<u32>> = (0..4)
        .map(|r| {
            std::thread::spawn(move || {
                let mut y = [0.0f32; 1];
                let w = w_addr as *const TesseraWeights;
                // SAFETY: the handle and x outlive the joined threads.
                let s = unsafe {
                    tessera_gemm_rows(
                        w,
                        x_addr as *const f32,
                        96,
                        1,
                        0,
                        r,
                        r + 1,
                        y.as_mut_ptr(),
                        1,
                    )
                };
                assert_eq!(s, TesseraStatus::Ok);
                bits(&y)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(parts.concat(), bits(&whole));
    unsafe {
        tessera_weights_free(w);
        tessera_file_free(file);
    }
}

#[test]
fn weight_bytes_need_no_alignment() {
    // Every tensor, copied to an odd address, gives the same bits as at its aligned place.
    let kern = kernels().unwrap();
    for (i, &(name, e, shape, sparse)) in TENSORS.iter().enumerate() {
        let (rows, k) = rows_k(shape);
        let stored = tensor_bytes(i);
        let mut shifted = vec![0u8; stored.len() + 1];
        shifted[1..].copy_from_slice(&stored);
        let odd = &shifted[1..];
        let x = activations(1, k);
        let expected = bits(&kern.gemv(&rust_view(i, &stored), &x, Path::Float).unwrap());
        let mut w = null_mut();
        let mut y = vec![0.0f32; rows];
        unsafe {
            let s = tessera_weights_from_buffer(
                e.id(),
                sparse,
                rows,
                k,
                odd.as_ptr(),
                odd.len(),
                &mut w,
            );
            assert_eq!(s, TesseraStatus::Ok, "{name}: {}", last_error());
            let s = tessera_gemv(w, x.as_ptr(), k, TESSERA_PATH_FLOAT, y.as_mut_ptr(), rows);
            assert_eq!(s, TesseraStatus::Ok, "{name}: {}", last_error());
            tessera_weights_free(w);
        }
        assert_eq!(bits(&y), expected, "{name}");
    }
}

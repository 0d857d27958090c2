//! Every way a C caller can get an argument wrong: each call must return the right status and a
//! message naming the argument (or tensor, or offset), and must not write its out-parameters.

mod common;

use std::ffi::c_char;
use std::ptr::{null, null_mut};

use common::*;
use tessera_capi::*;

const Q4: usize = 0; // 6 x 70
const MXFP8: usize = 2; // 5 x 64
const F32: usize = 4; // 3 x 8

#[test]
fn null_pointers_are_refused_by_name() {
    let bytes = file_bytes();
    let file = open(&bytes);
    let w = weights(file, Q4);
    let x = activations(1, 70);
    let mut y = vec![0.0f32; 6];
    let mut out_file: *mut TesseraFile = null_mut();
    let mut count = 0usize;
    unsafe {
        expect(
            tessera_file_open(null(), 0, &mut out_file),
            TesseraStatus::NullPointer,
            &["`path`"],
        );
        expect(
            tessera_file_open(c"x.tsr".as_ptr(), 0, null_mut()),
            TesseraStatus::NullPointer,
            &["`out`"],
        );
        expect(
            tessera_file_open_buffer(null(), 10, 0, &mut out_file),
            TesseraStatus::NullPointer,
            &["`data`"],
        );
        assert!(out_file.is_null(), "no handle on failure");
        expect(
            tessera_file_tensor_count(null(), &mut count),
            TesseraStatus::NullPointer,
            &["`file`"],
        );
        expect(
            tessera_file_tensor_info(file, 0, null_mut()),
            TesseraStatus::NullPointer,
            &["`info`"],
        );
        expect(
            tessera_file_find_tensor(file, null(), &mut count),
            TesseraStatus::NullPointer,
            &["`name`"],
        );
        expect(
            tessera_gemv(
                null(),
                x.as_ptr(),
                70,
                TESSERA_PATH_INTEGER,
                y.as_mut_ptr(),
                6,
            ),
            TesseraStatus::NullPointer,
            &["`weights`"],
        );
        expect(
            tessera_gemv(w, null(), 70, TESSERA_PATH_INTEGER, y.as_mut_ptr(), 6),
            TesseraStatus::NullPointer,
            &["`x`"],
        );
        expect(
            tessera_gemv(w, x.as_ptr(), 70, TESSERA_PATH_INTEGER, null_mut(), 6),
            TesseraStatus::NullPointer,
            &["`y`"],
        );
        expect(
            tessera_gemm_quantized(w, null(), y.as_mut_ptr(), 6),
            TesseraStatus::NullPointer,
            &["`activations`"],
        );
        expect(
            tessera_dequantize(w, null_mut(), 420),
            TesseraStatus::NullPointer,
            &["`out`"],
        );
        expect(
            tessera_isa_force(null()),
            TesseraStatus::NullPointer,
            &["`name`"],
        );
        expect(
            tessera_isa_current(null_mut()),
            TesseraStatus::NullPointer,
            &["`name`"],
        );
        // The free functions accept NULL.
        tessera_file_free(null_mut());
        tessera_weights_free(null_mut());
        tessera_activations_free(null_mut());
        tessera_weights_free(w);
        tessera_file_free(file);
    }
}

#[test]
fn lengths_that_do_not_match_the_shapes() {
    let bytes = file_bytes();
    let file = open(&bytes);
    let w = weights(file, Q4);
    let x = activations(2, 70);
    let mut y = vec![0.0f32; 12];
    unsafe {
        // x_len is not k.
        expect(
            tessera_gemv(w, x.as_ptr(), 69, TESSERA_PATH_INTEGER, y.as_mut_ptr(), 6),
            TesseraStatus::BadLength,
            &["activations", "expected 70", "got 69"],
        );
        // y_len is not rows.
        expect(
            tessera_gemv(w, x.as_ptr(), 70, TESSERA_PATH_FLOAT, y.as_mut_ptr(), 7),
            TesseraStatus::BadLength,
            &["output", "expected 6", "got 7"],
        );
        // m = 2 but only one row of activations.
        expect(
            tessera_gemm(
                w,
                x.as_ptr(),
                70,
                2,
                TESSERA_PATH_INTEGER,
                y.as_mut_ptr(),
                12,
            ),
            TesseraStatus::BadLength,
            &["expected 140", "got 70"],
        );
        // m * k overflows.
        expect(
            tessera_gemm(w, x.as_ptr(), 140, usize::MAX / 2, 0, y.as_mut_ptr(), 12),
            TesseraStatus::BadLength,
            &["activations"],
        );
        // len * sizeof(float) overflows the address space (checked before any read).
        expect(
            tessera_gemv(w, x.as_ptr(), usize::MAX / 2, 0, y.as_mut_ptr(), 6),
            TesseraStatus::BadLength,
            &["`x`", "overflow"],
        );
        expect(
            tessera_dequantize(w, y.as_mut_ptr(), usize::MAX / 3),
            TesseraStatus::BadLength,
            &["`out`", "overflow"],
        );
        // dequantize needs rows * k values.
        expect(
            tessera_dequantize(w, y.as_mut_ptr(), 12),
            TesseraStatus::BadLength,
            &["output", "expected 420", "got 12"],
        );
        // Weight bytes that do not match the shape.
        let q4 = tensor_bytes(Q4);
        let mut view = null_mut();
        expect(
            tessera_weights_from_buffer(0x0104, false, 6, 70, q4.as_ptr(), q4.len() - 1, &mut view),
            TesseraStatus::BadLength,
            &["q4 6 x 70 needs 324 bytes, got 323"],
        );
        expect(
            tessera_weights_from_buffer(
                0x0104,
                false,
                usize::MAX,
                70,
                q4.as_ptr(),
                q4.len(),
                &mut view,
            ),
            TesseraStatus::BadLength,
            &["overflows"],
        );
        assert!(view.is_null());
        // Quantized activations with the wrong element count.
        let mut xq = null_mut();
        expect(
            tessera_activations_quantize(x.as_ptr(), 140, 3, 70, &mut xq),
            TesseraStatus::BadLength,
            &["expected 210", "got 140"],
        );
        assert!(xq.is_null());
        tessera_weights_free(w);
        tessera_file_free(file);
    }
}

#[test]
fn wrong_shapes_paths_and_ranges() {
    let bytes = file_bytes();
    let file = open(&bytes);
    let w = weights(file, Q4);
    let x = activations(1, 70);
    let mut y = vec![0.0f32; 70]; // room for the largest output claimed below
    unsafe {
        // Row ranges outside the 6 rows, or backwards.
        expect(
            tessera_gemm_rows(w, x.as_ptr(), 70, 1, 0, 4, 7, y.as_mut_ptr(), 3),
            TesseraStatus::BadArgument,
            &["row range 4..7", "6 rows of q4"],
        );
        expect(
            tessera_gemm_rows(w, x.as_ptr(), 70, 1, 1, 5, 2, y.as_mut_ptr(), 0),
            TesseraStatus::BadArgument,
            &["row range 5..2"],
        );
        expect(
            tessera_dequantize_rows(w, 6, 7, y.as_mut_ptr(), 70),
            TesseraStatus::BadArgument,
            &["row range 6..7"],
        );
        // A path that is not one of the constants.
        expect(
            tessera_gemv(w, x.as_ptr(), 70, 7, y.as_mut_ptr(), 6),
            TesseraStatus::BadArgument,
            &["`path`", "7 is not"],
        );
        // Quantized activations of another width.
        let x64 = activations(1, 64);
        let mut xq = null_mut();
        assert_eq!(
            tessera_activations_quantize(x64.as_ptr(), 64, 1, 64, &mut xq),
            TesseraStatus::Ok
        );
        expect(
            tessera_gemm_quantized(w, xq, y.as_mut_ptr(), 6),
            TesseraStatus::BadLength,
            &["k = 64", "q4 have k = 70"],
        );
        // The integer path is not defined for mxfp8 or raw floats.
        let fp8 = weights(file, MXFP8);
        expect(
            tessera_gemv(
                fp8,
                x64.as_ptr(),
                64,
                TESSERA_PATH_INTEGER,
                y.as_mut_ptr(),
                5,
            ),
            TesseraStatus::Unsupported,
            &["mxfp8", "integer path"],
        );
        expect(
            tessera_gemm_quantized(fp8, xq, y.as_mut_ptr(), 5),
            TesseraStatus::Unsupported,
            &["mxfp8"],
        );
        let f32w = weights(file, F32);
        expect(
            tessera_gemv(f32w, x.as_ptr(), 8, TESSERA_PATH_INTEGER, y.as_mut_ptr(), 3),
            TesseraStatus::Unsupported,
            &["f32"],
        );
        // An encoding id nobody knows, and sparse raw storage.
        let mut view = null_mut();
        expect(
            tessera_weights_from_buffer(0x7777, false, 1, 1, [0u8].as_ptr(), 1, &mut view),
            TesseraStatus::BadArgument,
            &["`encoding`", "0x7777"],
        );
        expect(
            tessera_weights_from_buffer(0x0000, true, 1, 1, [0u8; 12].as_ptr(), 12, &mut view),
            TesseraStatus::Unsupported,
            &["sparse storage needs a block encoding"],
        );
        assert!(view.is_null());
        // Tensor indices and names that do not exist.
        let mut info = std::mem::MaybeUninit::<TesseraTensorInfo>::uninit();
        expect(
            tessera_file_tensor_info(file, 5, info.as_mut_ptr()),
            TesseraStatus::BadArgument,
            &["tensor 5 does not exist", "5 tensors"],
        );
        expect(
            tessera_weights_from_file(file, usize::MAX, &mut view),
            TesseraStatus::BadArgument,
            &["does not exist"],
        );
        let mut index = 99usize;
        expect(
            tessera_file_find_tensor(file, c"nope".as_ptr(), &mut index),
            TesseraStatus::NotFound,
            &["\"nope\""],
        );
        assert_eq!(index, 99, "out-parameter untouched on failure");
        tessera_activations_free(xq);
        tessera_weights_free(fp8);
        tessera_weights_free(f32w);
        tessera_weights_free(w);
        tessera_file_free(file);
    }
}

#[test]
fn misaligned_and_overlapping_buffers() {
    let bytes = file_bytes();
    let file = open(&bytes);
    let w = weights(file, Q4);
    // Room for 70 floats starting one byte in.
    let raw = vec![0u32; 80];
    let base = raw.as_ptr() as *const u8;
    let mut y = vec![0.0f32; 140];
    unsafe {
        let odd = base.add(1) as *const f32;
        expect(
            tessera_gemv(w, odd, 70, 0, y.as_mut_ptr(), 6),
            TesseraStatus::Misaligned,
            &["`x`", "4 bytes"],
        );
        let odd_out = (y.as_mut_ptr() as *mut u8).add(2) as *mut f32;
        expect(
            tessera_dequantize_rows(w, 0, 1, odd_out, 70),
            TesseraStatus::Misaligned,
            &["`out`"],
        );
        let mut count = 0usize;
        let odd_count = (&mut count as *mut usize as *mut u8).add(1) as *mut usize;
        expect(
            tessera_file_tensor_count(file, odd_count),
            TesseraStatus::Misaligned,
            &["`count`"],
        );
        // y overlapping x: x = y[0..70], out = y[60..66].
        let x = activations(1, 70);
        y[..70].copy_from_slice(&x);
        expect(
            tessera_gemv(w, y.as_ptr(), 70, 0, y.as_mut_ptr().add(60), 6),
            TesseraStatus::BadArgument,
            &["`y` overlaps `x`"],
        );
        tessera_weights_free(w);
        tessera_file_free(file);
    }
}

#[test]
fn output_over_the_weight_bytes_is_refused() {
    // A dense f32 tensor: its bytes can hold the output, so only the overlap check stops it.
    let mut values: Vec<f32> = (0..16).map(|i| i as f32).collect();
    let mut view = null_mut();
    unsafe {
        assert_eq!(
            tessera_weights_from_buffer(0, false, 2, 8, values.as_ptr().cast(), 64, &mut view),
            TesseraStatus::Ok
        );
        expect(
            tessera_dequantize(view, values.as_mut_ptr(), 16),
            TesseraStatus::BadArgument,
            &["`out` overlaps `weights`"],
        );
        tessera_weights_free(view);
    }
}

#[test]
fn bad_file_bytes() {
    let good = file_bytes();
    let mut file: *mut TesseraFile = null_mut();
    unsafe {
        // Too short, wrong magic, truncated.
        expect(
            tessera_file_open_buffer(good.as_ptr(), 10, 0, &mut file),
            TesseraStatus::BadFile,
            &["10 bytes, shorter than a header"],
        );
        let mut bad = good.clone();
        bad[0] ^= 0xFF;
        expect(
            tessera_file_open_buffer(bad.as_ptr(), bad.len(), 0, &mut file),
            TesseraStatus::BadFile,
            &["not a .tsr file"],
        );
        expect(
            tessera_file_open_buffer(good.as_ptr(), good.len() - 7, 0, &mut file),
            TesseraStatus::BadFile,
            &[],
        );
        assert!(file.is_null());
        // A flipped tensor byte: structure is fine, the checksum is not.
        let mut flipped = good.clone();
        let at = 64 + 3; // inside the first tensor's data (alignment 64)
        flipped[at] ^= 0x01;
        expect(
            tessera_file_open_buffer(
                flipped.as_ptr(),
                flipped.len(),
                TESSERA_OPEN_VERIFY,
                &mut file,
            ),
            TesseraStatus::Checksum,
            &["\"q4\"", "checksum"],
        );
        assert!(file.is_null());
        let lazy = open(&flipped);
        expect(
            tessera_file_verify(lazy),
            TesseraStatus::Checksum,
            &["\"q4\""],
        );
        tessera_file_free(lazy);
        // Unknown flag bits.
        expect(
            tessera_file_open_buffer(good.as_ptr(), good.len(), 0x80, &mut file),
            TesseraStatus::BadArgument,
            &["`flags`", "0x80"],
        );
        // A path that does not exist, and a file of garbage (Miri cannot open or map files).
        if !cfg!(miri) {
            expect(
                tessera_file_open(c"/nonexistent/dir/x.tsr".as_ptr(), 0, &mut file),
                TesseraStatus::Io,
                &["/nonexistent/dir/x.tsr"],
            );
            let dir = tempfile::tempdir().unwrap();
            let garbage = dir.path().join("garbage.tsr");
            std::fs::write(&garbage, vec![0xAB; 4096]).unwrap();
            let c_path = std::ffi::CString::new(garbage.to_str().unwrap()).unwrap();
            expect(
                tessera_file_open(c_path.as_ptr(), 0, &mut file),
                TesseraStatus::BadFile,
                &["not a .tsr file"],
            );
        }
        // Not UTF-8.
        let latin1 = [b'x', 0xE9, b'.', b't', 0];
        expect(
            tessera_file_open(latin1.as_ptr() as *const c_char, 0, &mut file),
            TesseraStatus::BadArgument,
            &["`path` is not valid UTF-8"],
        );
        assert!(file.is_null());
    }
}

#[test]
fn unknown_and_unavailable_isa_names() {
    unsafe {
        expect(
            tessera_isa_force(c"avx9000".as_ptr()),
            TesseraStatus::Isa,
            &["\"avx9000\"", "scalar", "auto"],
        );
        expect(
            tessera_isa_force(c"".as_ptr()),
            TesseraStatus::Isa,
            &["\"\""],
        );
        expect(
            tessera_isa_force([0xFFu8, 0].as_ptr() as *const c_char),
            TesseraStatus::BadArgument,
            &["not valid UTF-8"],
        );
        // A tier this CPU cannot run (if any) is refused the same way.
        for i in 0..tessera_isa_count() {
            if !tessera_isa_is_available(i) {
                expect(
                    tessera_isa_force(tessera_isa_name(i)),
                    TesseraStatus::Isa,
                    &["cannot run"],
                );
            }
        }
        assert!(tessera_isa_name(tessera_isa_count()).is_null());
        assert!(!tessera_isa_is_available(usize::MAX));
    }
}

#[test]
fn messages_are_per_thread_and_cleared_by_success() {
    unsafe {
        let mut count = 0usize;
        expect(
            tessera_file_tensor_count(null(), &mut count),
            TesseraStatus::NullPointer,
            &["`file`"],
        );
        // Another thread sees its own (empty) message.
        let other = std::thread::spawn(last_error).join().unwrap();
        assert_eq!(other, "");
        assert!(last_error().contains("`file`"));
        // A successful call clears it.
        let bytes = file_bytes();
        let file = open(&bytes);
        assert_eq!(last_error(), "");
        tessera_file_free(file);
    }
}

#[test]
fn status_names() {
    let name = |s: i32| {
        unsafe { std::ffi::CStr::from_ptr(tessera_status_name(s)) }
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(name(TesseraStatus::Ok as i32), "TESSERA_STATUS_OK");
    assert_eq!(
        name(TesseraStatus::BadLength as i32),
        "TESSERA_STATUS_BAD_LENGTH"
    );
    assert_eq!(name(TesseraStatus::Panic as i32), "TESSERA_STATUS_PANIC");
    assert_eq!(name(-1), "TESSERA_STATUS_UNKNOWN");
}

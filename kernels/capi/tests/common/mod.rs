//! A small .tsr file built in memory, and helpers to call the C API from Rust tests.

#![allow(dead_code)] // each test file uses a different subset

use std::ffi::CStr;

use tessera_capi::*;
use tessera_format::{Encoding, MxType, RawType, Writer};
use tessera_reference as reference;

/// `(name, encoding, shape, sparse)` of the tensors in [`file_bytes`], in directory order.
pub const TENSORS: &[(&str, Encoding, &[u64], bool)] = &[
    ("q4", Encoding::IntSym { bits: 4 }, &[6, 70], false),
    ("q4k", Encoding::IntSuper { bits: 4 }, &[3, 2, 260], false),
    ("mxfp8", Encoding::Mx(MxType::Fp8E4M3), &[5, 64], false),
    ("q8s", Encoding::IntSym { bits: 8 }, &[4, 96], true),
    ("f32", Encoding::Raw(RawType::F32), &[3, 8], false),
];

pub fn rows_k(shape: &[u64]) -> (usize, usize) {
    let k = *shape.last().unwrap() as usize;
    (shape.iter().rev().skip(1).product::<u64>() as usize, k)
}

/// Deterministic values in [-1, 1) with every third 32-block of row 0 zeroed (for sparsity).
pub fn values(n: usize, k: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if (i / k + (i % k) / 32).is_multiple_of(3) {
                0.0
            } else {
                (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            }
        })
        .collect()
}

/// The stored bytes of tensor `i` of [`TENSORS`]. Under Miri the reference's searching quantizer
/// is far too slow, so the blocks are pseudo-random bytes instead (every byte string is a valid
/// block; the tests compare the C API with the Rust API on the same bytes either way).
pub fn tensor_bytes(i: usize) -> Vec<u8> {
    let (_, e, shape, sparse) = TENSORS[i];
    let (rows, k) = rows_k(shape);
    let dense = if cfg!(miri) {
        let len = e.row_bytes(k as u64).unwrap() as usize * rows;
        let mut s = 0x2545_F491_4F6C_DD1Du64 + i as u64;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 32) as u8
            })
            .collect()
    } else {
        reference::quantize(e, rows, k, &values(rows * k, k, i as u64 + 1)).unwrap()
    };
    if sparse {
        reference::sparsify(e, rows, k, &dense).unwrap()
    } else {
        dense
    }
}

/// A valid .tsr file holding [`TENSORS`].
pub fn file_bytes() -> Vec<u8> {
    let mut w = Writer::in_memory();
    for (i, &(name, e, shape, sparse)) in TENSORS.iter().enumerate() {
        w.add_tensor(name, shape, e, sparse, &tensor_bytes(i))
            .unwrap();
    }
    w.finish_to_vec().unwrap()
}

/// Activations: `m * k` small exact values.
pub fn activations(m: usize, k: usize) -> Vec<f32> {
    (0..m * k)
        .map(|j| ((j * 37 + 11) % 101) as f32 / 32.0 - 1.5)
        .collect()
}

/// This thread's last error message.
pub fn last_error() -> String {
    // SAFETY: the library returns a valid NUL-terminated string, valid until the next call.
    unsafe { CStr::from_ptr(tessera_last_error_message()) }
        .to_str()
        .unwrap()
        .to_string()
}

/// Opens `bytes` with `tessera_file_open_buffer` (borrowed: `bytes` must outlive the handle).
pub fn open(bytes: &[u8]) -> *mut TesseraFile {
    let mut file = std::ptr::null_mut();
    // SAFETY: `bytes` is a valid slice that the caller keeps alive.
    let s = unsafe { tessera_file_open_buffer(bytes.as_ptr(), bytes.len(), 0, &mut file) };
    assert_eq!(s, TesseraStatus::Ok, "{}", last_error());
    file
}

/// A weight view of tensor `index`.
pub fn weights(file: *const TesseraFile, index: usize) -> *mut TesseraWeights {
    let mut w = std::ptr::null_mut();
    // SAFETY: `file` is live.
    let s = unsafe { tessera_weights_from_file(file, index, &mut w) };
    assert_eq!(s, TesseraStatus::Ok, "{}", last_error());
    w
}

/// Asserts a status and that the message contains every fragment.
#[track_caller]
pub fn expect(status: TesseraStatus, wanted: TesseraStatus, fragments: &[&str]) {
    let message = last_error();
    assert_eq!(status, wanted, "message: {message}");
    for f in fragments {
        assert!(message.contains(f), "{f:?} not in {message:?}");
    }
}

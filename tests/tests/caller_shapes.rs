//! Caller shapes that must be refused with a typed error, not a panic (house rule: bad shapes
//! from callers never panic). With `k = 0` a tensor needs no bytes whatever its row count, and
//! activations need none whatever `m`, so neither `rows` nor `m` is bounded by any buffer: every
//! allocation sized by them must be checked. Found by reading the code after the fuzz targets
//! (which draw k >= 1) could not reach it. The four cases failed before f43a491 ("refuse rows of
//! k = 0") and pass since; they stay as regression tests.
//!
//! The sizes are chosen so that an unchecked allocation panics with "capacity overflow" (more
//! than `isize::MAX` bytes) rather than aborting the test binary.
#![cfg(feature = "kernels")]

use std::panic::{catch_unwind, AssertUnwindSafe};

use tessera_format::{Encoding, Path};
use tessera_kernels::{available_isas, kernels_for, QuantizedActivations, WeightView};
use tessera_reference::{matmul, Weights};

const Q4: Encoding = Encoding::IntSym { bits: 4 };

/// Runs `f`, failing the test with `what` if it panics or succeeds.
fn must_be_error<T: std::fmt::Debug, E>(what: &str, f: impl FnOnce() -> Result<T, E>) {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Err(_)) => {}
        Ok(Ok(v)) => panic!("{what}: accepted, gave {v:?}"),
        Err(_) => panic!("{what}: panicked instead of returning an error"),
    }
}

/// `Kernels::gemm` (kernels/src/api.rs) allocates `vec![0.0; m * w.rows()]` before `gemm_rows`
/// checks the product: `m * rows` overflows (release: wraps, then capacity overflow).
#[test]
fn kernels_gemm_k0_output_overflow_is_an_error() {
    // Since f43a491 a view with k = 0 is refused, which closes the hole too.
    let Ok(w) = WeightView::new(Q4, usize::MAX / 2, 0, &[]) else {
        return;
    };
    for isa in available_isas() {
        let k = kernels_for(isa).unwrap();
        for path in [Path::Float, Path::Integer] {
            must_be_error(&format!("{isa:?} {path:?} gemm"), || {
                k.gemm(&w, &[], 4, path).map(|v| v.len())
            });
            must_be_error(&format!("{isa:?} {path:?} par_gemm"), || {
                k.par_gemm(&w, &[], 4, path).map(|v| v.len())
            });
        }
    }
}

/// `WeightView::new_sparse` (kernels/src/weights.rs) builds `vec![at; rows + 1]` when a row has
/// no blocks (k = 0), so `rows` sizes an allocation no buffer bounds.
#[test]
fn kernels_sparse_view_k0_huge_rows_is_bounded() {
    match catch_unwind(|| WeightView::new_sparse(Q4, usize::MAX / 2, 0, &[]).map(|w| w.rows())) {
        Ok(_) => {}
        Err(_) => panic!("new_sparse panicked on rows = usize::MAX / 2, k = 0"),
    }
}

/// `QuantizedActivations::new` (kernels/src/activations.rs) allocates per-row state for `m`
/// rows even when `k = 0` and `x` is empty.
#[test]
fn kernels_activations_k0_huge_m_is_an_error() {
    must_be_error("QuantizedActivations::new(&[], usize::MAX, 0)", || {
        QuantizedActivations::new(&[], usize::MAX, 0).map(|q| q.m())
    });
    let Ok(w) = WeightView::new(Q4, 3, 0, &[]) else {
        return; // k = 0 views are refused (f43a491)
    };
    let k = kernels_for(available_isas()[0]).unwrap();
    must_be_error("gemm m = usize::MAX / 2, rows = 3, k = 0", || {
        k.gemm(&w, &[], usize::MAX / 2, Path::Integer)
            .map(|v| v.len())
    });
}

/// `tessera_reference::matmul` checks `m * rows` for overflow but not the output's byte size
/// (`m * rows * 4 > isize::MAX`), and the integer path collects `m` quantized activation rows
/// before that check.
#[test]
fn reference_matmul_k0_huge_output_is_an_error() {
    let w = Weights {
        encoding: Q4,
        rows: 1,
        k: 0,
        bytes: &[],
        sparse: false,
    };
    for path in [Path::Float, Path::Integer] {
        must_be_error(
            &format!("reference matmul {path:?} m = usize::MAX / 2"),
            || matmul(&w, &[], usize::MAX / 2, path).map(|v| v.len()),
        );
    }
}

//! Caller shapes the kernels must refuse with a typed error, not a panic (house rule: bad shapes
//! from callers never panic). The reference gives `ShapeOverflow` for these
//! (`reference/tests/matmul.rs`, k = 0 case).

use tessera_format::{Encoding, Path};
use tessera_kernels::{available_isas, kernels_for, WeightView};

/// `k = 0` needs no bytes for any row count, so `rows` is not bounded by the buffer; `m * rows`
/// overflows. Found by reading `kernels/src/api.rs`: `gemm` sizes its output with an unchecked
/// `m * w.rows()` before `gemm_rows` checks it.
#[test]
#[ignore = "bug: Kernels::gemm/par_gemm size the output with unchecked m * rows (k = 0): panics; see report"]
fn k0_huge_rows_gemm_is_an_error() {
    let empty = WeightView::new(Encoding::IntSym { bits: 4 }, usize::MAX / 2, 0, &[])
        .expect("k = 0 with no bytes is a valid view");
    for isa in available_isas() {
        let k = kernels_for(isa).unwrap();
        for path in [Path::Float, Path::Integer] {
            let r = std::panic::catch_unwind(|| k.gemm(&empty, &[], 4, path).map(|v| v.len()));
            assert!(matches!(r, Ok(Err(_))), "{isa:?} {path:?} gemm: {r:?}");
            let r = std::panic::catch_unwind(|| k.par_gemm(&empty, &[], 4, path).map(|v| v.len()));
            assert!(matches!(r, Ok(Err(_))), "{isa:?} {path:?} par_gemm: {r:?}");
        }
    }
}

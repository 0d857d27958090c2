//! Target `kernels_diff`: every kernel tier this CPU runs against the reference, bit for bit
//! (NaN equal to NaN), on fuzzer-chosen encodings, shapes, weight bytes (dense or sparse) and
//! activations: dequantize, gemm on both paths, a row-range split and the rayon-parallel gemm.

use arbitrary::{Result, Unstructured};
use tessera_format::{Encoding, Path};
use tessera_kernels::{available_isas, kernels_for, Isa, WeightView};
use tessera_reference::Weights;

use crate::bits::assert_same_bits;

pub fn check_kernels(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let encodings = Encoding::all();
    let e = *u.choose(&encodings)?;
    // Up to 40 rows: more than two 16-row tiles, with a ragged last tile.
    let rows = u.int_in_range(1..=40usize)?;
    let k = u.int_in_range(1..=300usize)?;
    let m = u.int_in_range(1..=4usize)?;
    let sparse = e.is_blocked() && u.ratio(1, 4)?;
    let bytes = crate::structured::tensor_bytes(u, e, &[rows as u64, k as u64], sparse)?;
    let x = activations(u, m * k)?;
    check_all_tiers(e, rows, k, sparse, &bytes, &x, m);
    Ok(())
}

/// Activations: ordinary values at a fuzzer-chosen scale, with raw bit patterns (NaN, Inf,
/// subnormals, huge values) mixed in when the fuzzer asks.
fn activations(u: &mut Unstructured<'_>, n: usize) -> Result<Vec<f32>> {
    let scale = 2f32.powi(u.int_in_range(-30..=30)?);
    let wild = u.ratio(1, 4)?;
    (0..n)
        .map(|_| {
            if u.is_empty() {
                return Ok(0.0);
            }
            if wild && u.ratio(1, 8)? {
                return Ok(f32::from_bits(u.arbitrary()?));
            }
            Ok(u.arbitrary::<i16>()? as f32 / 4096.0 * scale)
        })
        .collect()
}

/// Decodes and multiplies with the reference, then with every available tier, and compares.
pub fn check_all_tiers(
    e: Encoding,
    rows: usize,
    k: usize,
    sparse: bool,
    bytes: &[u8],
    x: &[f32],
    m: usize,
) {
    let w = Weights {
        encoding: e,
        rows,
        k,
        bytes,
        sparse,
    };
    let ref_values = tessera_reference::dequantize(&w);
    let ref_float = tessera_reference::matmul(&w, x, m, Path::Float);
    let ref_int = tessera_reference::matmul(&w, x, m, Path::Integer);
    let what = |isa: &dyn std::fmt::Debug, op: &str| {
        format!("{isa:?} {op}: {e} {rows}x{k} sparse={sparse} m={m}")
    };
    for isa in available_isas() {
        if cfg!(miri) && isa == Isa::Scalar {
            // The scalar tier is the reference itself: under Miri, where every call is slow,
            // comparing it with itself checks nothing new.
            continue;
        }
        let kern = kernels_for(isa).expect("available tier");
        let view = if sparse {
            WeightView::new_sparse(e, rows, k, bytes)
        } else {
            WeightView::new(e, rows, k, bytes)
        };
        let view = match (view, &ref_values) {
            (Ok(v), Ok(_)) => v,
            (Err(_), Err(_)) => continue,
            (v, r) => panic!(
                "{}: view {:?} but reference {:?}",
                what(&isa, "view"),
                v.err(),
                r.as_ref().err()
            ),
        };
        let values = kern.dequantize(&view).expect("dequantize of a valid view");
        assert_same_bits(
            &what(&isa, "dequantize"),
            &values,
            ref_values.as_ref().unwrap(),
        );

        let float = kern.gemm(&view, x, m, Path::Float);
        match (&float, &ref_float) {
            (Ok(a), Ok(b)) => assert_same_bits(&what(&isa, "gemm float"), a, b),
            (a, b) => panic!("{}: {:?} vs reference {:?}", what(&isa, "gemm float"), a, b),
        }
        let int = kern.gemm(&view, x, m, Path::Integer);
        match (&int, &ref_int) {
            (Ok(a), Ok(b)) => assert_same_bits(&what(&isa, "gemm integer"), a, b),
            (Err(_), Err(_)) => assert_ne!(e.path(), Path::Integer),
            (a, b) => panic!(
                "{}: {:?} vs reference {:?}",
                what(&isa, "gemm integer"),
                a,
                b
            ),
        }

        // A split into two row ranges, and the parallel gemm, give the same bits.
        let path = e.path();
        let whole = if path == Path::Integer { &int } else { &float };
        let whole = whole.as_ref().unwrap();
        let cut = rows / 2;
        for range in [0..cut, cut..rows] {
            let mut out = vec![0.0; m * range.len()];
            kern.gemm_rows(&view, x, m, path, range.clone(), &mut out)
                .expect("row range inside the tensor");
            for i in 0..m {
                assert_same_bits(
                    &what(&isa, &format!("gemm_rows {range:?} row {i}")),
                    &out[i * range.len()..(i + 1) * range.len()],
                    &whole[i * rows + range.start..i * rows + range.end],
                );
            }
        }
        let par = kern.par_gemm(&view, x, m, path).expect("par_gemm");
        assert_same_bits(&what(&isa, "par_gemm"), &par, whole);
    }
}

//! Writes a small .tsr file for the C example (`examples/c/gemv.c`) and the text that example must
//! print, computed here with the Rust kernels API. `.ci/capi.sh` diffs the two outputs.
//!
//! ```sh
//! cargo run --release -p tessera-capi --example make_example_tsr -- example.tsr expected.txt
//! ```
//!
//! The output format (one line each, f32 values as the hex of their bits):
//! - `tensors N`
//! - `tensor NAME ENCODING D0xD1.. sparse=0|1 path=integer|float` (the default path)
//! - `gemv NAME PATH HEX..` (or `gemv NAME PATH error` if the path is not defined)
//! - `gemm NAME PATH HEX..` (m = 2 activation rows, row-major)
//! - `dequant NAME HEX..` (row 0, at most 16 values)

use std::fmt::Write as _;
use std::path::Path as FsPath;

use tessera_format::{Encoding, MxType, Path, RawType, Writer};
use tessera_kernels::{kernels, WeightView};
use tessera_reference as reference;

/// Activation `i` of row `r`: small integers over 32, so exact in f32 and computed identically
/// by the C program.
fn activation(r: usize, i: usize) -> f32 {
    ((i * 37 + r * 53 + 11) % 101) as f32 / 32.0 - 50.0 / 32.0
}

/// Weight values: a fixed xorshift stream mapped to roughly [-1, 1), with a few larger outliers.
fn weight_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            if i % 97 == 0 {
                v * 8.0
            } else {
                v
            }
        })
        .collect()
}

struct Spec {
    name: &'static str,
    encoding: Encoding,
    shape: &'static [u64],
    sparse: bool,
}

const SPECS: &[Spec] = &[
    Spec {
        name: "blk.0.attn_q.q4",
        encoding: Encoding::IntSym { bits: 4 },
        shape: &[24, 100],
        sparse: false,
    },
    Spec {
        name: "blk.0.ffn_up.q4k",
        encoding: Encoding::IntSuper { bits: 4 },
        shape: &[20, 300],
        sparse: false,
    },
    Spec {
        name: "blk.0.ffn_down.q5a",
        encoding: Encoding::IntAffine { bits: 5 },
        shape: &[2, 9, 70],
        sparse: false,
    },
    Spec {
        name: "blk.0.attn_k.mxfp4",
        encoding: Encoding::Mx(MxType::Fp4E2M1),
        shape: &[16, 96],
        sparse: false,
    },
    Spec {
        name: "blk.0.attn_v.mxfp8",
        encoding: Encoding::Mx(MxType::Fp8E4M3),
        shape: &[12, 64],
        sparse: false,
    },
    Spec {
        name: "blk.0.attn_o.q8.sparse",
        encoding: Encoding::IntSym { bits: 8 },
        shape: &[10, 128],
        sparse: true,
    },
    Spec {
        name: "blk.0.norm.f16",
        encoding: Encoding::Raw(RawType::F16),
        shape: &[8, 40],
        sparse: false,
    },
];

fn hex(values: &[f32]) -> String {
    values.iter().fold(String::new(), |mut s, v| {
        let _ = write!(s, " {:08x}", v.to_bits());
        s
    })
}

fn path_name(p: Path) -> &'static str {
    match p {
        Path::Integer => "integer",
        Path::Float => "float",
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tsr_path, expected_path] = args.as_slice() else {
        return Err("usage: make_example_tsr OUT.tsr EXPECTED.txt".into());
    };

    // Encode every tensor; zero some blocks of the sparse one so its bitmap has gaps.
    let mut stored = Vec::new();
    for (seed, spec) in (1u64..).zip(SPECS) {
        let k = *spec.shape.last().ok_or("empty shape")? as usize;
        let rows = spec.shape.iter().rev().skip(1).product::<u64>() as usize;
        let mut values = weight_values(rows * k, seed * 0x9E37_79B9);
        if spec.sparse {
            for (i, v) in values.iter_mut().enumerate() {
                let (r, c) = (i / k, i % k);
                if (r + c / 32) % 3 == 0 {
                    *v = 0.0;
                }
            }
        }
        let dense = reference::quantize(spec.encoding, rows, k, &values)?;
        let bytes = if spec.sparse {
            reference::sparsify(spec.encoding, rows, k, &dense)?
        } else {
            dense
        };
        stored.push((spec, rows, k, bytes));
    }

    let mut writer = Writer::create(FsPath::new(tsr_path))?;
    for (spec, _, _, bytes) in &stored {
        writer.add_tensor(spec.name, spec.shape, spec.encoding, spec.sparse, bytes)?;
    }
    writer.finish()?;

    // The expected output, from the Rust API (the same tier choice as the C library: TESSERA_ISA
    // or the best this CPU runs).
    let kern = kernels()?;
    let mut out = format!("tensors {}\n", stored.len());
    for (spec, rows, k, bytes) in &stored {
        let (rows, k) = (*rows, *k);
        let view = if spec.sparse {
            WeightView::new_sparse(spec.encoding, rows, k, bytes)?
        } else {
            WeightView::new(spec.encoding, rows, k, bytes)?
        };
        let dims: Vec<String> = spec.shape.iter().map(u64::to_string).collect();
        writeln!(
            out,
            "tensor {} {} {} sparse={} path={}",
            spec.name,
            spec.encoding.name(),
            dims.join("x"),
            u8::from(spec.sparse),
            path_name(spec.encoding.path())
        )?;
        let x: Vec<f32> = (0..2 * k).map(|j| activation(j / k, j % k)).collect();
        for path in [Path::Integer, Path::Float] {
            match kern.gemv(&view, &x[..k], path) {
                Ok(y) => writeln!(out, "gemv {} {}{}", spec.name, path_name(path), hex(&y))?,
                Err(_) => writeln!(out, "gemv {} {} error", spec.name, path_name(path))?,
            }
            match kern.gemm(&view, &x, 2, path) {
                Ok(y) => writeln!(out, "gemm {} {}{}", spec.name, path_name(path), hex(&y))?,
                Err(_) => writeln!(out, "gemm {} {} error", spec.name, path_name(path))?,
            }
        }
        let row0 = kern.dequantize(&view)?;
        writeln!(out, "dequant {}{}", spec.name, hex(&row0[..k.min(16)]))?;
    }
    std::fs::write(expected_path, out)?;
    Ok(())
}

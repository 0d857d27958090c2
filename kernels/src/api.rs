//! The safe public API: shape checks with typed errors, then the chosen tier's kernels.
//!
//! Every output `Y[m][n]` is computed on its own by the contract's arithmetic, so results are the
//! same bits for every tier, every row range split and every thread count.

use std::ops::Range;

use rayon::prelude::*;
use tessera_format::Path;

use crate::activations::check_len;
use crate::codec::has_integer_path;
use crate::dispatch::Kernels;
use crate::{KernelError, QuantizedActivations, WeightView};

impl Kernels {
    /// Decodes the whole tensor to f32 (`rows x k`, row-major); omitted sparse blocks give +0.
    ///
    /// ```
    /// use tessera_format::Encoding;
    /// use tessera_kernels::{kernels, WeightView};
    /// // one q8 group: scale 1.0 (f16 0x3C00), codes 128 + i, i.e. values 0, 1, 2, ...
    /// let mut block = vec![0x00, 0x3C];
    /// block.extend((0..32).map(|i| 128 + i as u8));
    /// let w = WeightView::new(Encoding::IntSym { bits: 8 }, 1, 32, &block).unwrap();
    /// let values = kernels().unwrap().dequantize(&w).unwrap();
    /// assert_eq!(values[5], 5.0);
    /// ```
    pub fn dequantize(&self, w: &WeightView) -> Result<Vec<f32>, KernelError> {
        let mut out = vec![0.0; w.rows() * w.k()];
        self.dequantize_rows(w, 0..w.rows(), &mut out)?;
        Ok(out)
    }

    /// Decodes rows `rows` into `out` (`rows.len() * k` values).
    pub fn dequantize_rows(
        &self,
        w: &WeightView,
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_rows(w, &rows)?;
        check_out(out, rows.len(), w.k())?;
        (self.dequant_rows)(w, rows, out)
    }

    /// `Y = X W^T` for `m` rows of activations `x` (`m * k`, row-major), on `path`. Returns
    /// `m x rows` values, row-major.
    ///
    /// ```
    /// use tessera_format::{Encoding, Path, RawType};
    /// use tessera_kernels::{kernels, WeightView};
    /// let w: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    /// let w = WeightView::new(Encoding::Raw(RawType::F32), 1, 3, &w).unwrap();
    /// let y = kernels().unwrap().gemm(&w, &[1.0, 1.0, 1.0], 1, Path::Float).unwrap();
    /// assert_eq!(y, vec![6.0]);
    /// ```
    pub fn gemm(
        &self,
        w: &WeightView,
        x: &[f32],
        m: usize,
        path: Path,
    ) -> Result<Vec<f32>, KernelError> {
        let mut out = vec![0.0; m * w.rows()];
        self.gemm_rows(w, x, m, path, 0..w.rows(), &mut out)?;
        Ok(out)
    }

    /// [`Kernels::gemm`] with one activation row.
    pub fn gemv(&self, w: &WeightView, x: &[f32], path: Path) -> Result<Vec<f32>, KernelError> {
        self.gemm(w, x, 1, path)
    }

    /// Output rows `rows` only: `out[i * rows.len() + j] = Y[i][rows.start + j]`. For callers that
    /// split the work over their own threads.
    pub fn gemm_rows(
        &self,
        w: &WeightView,
        x: &[f32],
        m: usize,
        path: Path,
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_len("activations", x, m, w.k())?;
        match path {
            Path::Integer => {
                check_integer(w)?;
                let xq = QuantizedActivations::new(x, m, w.k())?;
                self.gemm_quantized_rows(w, &xq, rows, out)
            }
            Path::Float => {
                check_rows(w, &rows)?;
                check_out(out, m, rows.len())?;
                (self.float_rows)(w, x, m, rows.clone(), out)?;
                let k = w.k();
                for i in 0..m {
                    if x[i * k..(i + 1) * k].iter().any(|v| !v.is_finite()) {
                        out[i * rows.len()..(i + 1) * rows.len()].fill(f32::NAN);
                    }
                }
                Ok(())
            }
        }
    }

    /// Integer path with activations quantized once by the caller (e.g. shared by several weight
    /// matrices). Returns `xq.m() x rows`.
    pub fn gemm_quantized(
        &self,
        w: &WeightView,
        xq: &QuantizedActivations,
    ) -> Result<Vec<f32>, KernelError> {
        let mut out = vec![0.0; xq.m() * w.rows()];
        self.gemm_quantized_rows(w, xq, 0..w.rows(), &mut out)?;
        Ok(out)
    }

    /// Integer path, output rows `rows` only (layout as [`Kernels::gemm_rows`]).
    pub fn gemm_quantized_rows(
        &self,
        w: &WeightView,
        xq: &QuantizedActivations,
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_integer(w)?;
        check_rows(w, &rows)?;
        if xq.k() != w.k() {
            return Err(KernelError::Width {
                tensor: w.name().to_string(),
                expected: w.k(),
                got: xq.k(),
            });
        }
        check_out(out, xq.m(), rows.len())?;
        (self.int_rows)(w, xq, rows.clone(), out)?;
        for i in 0..xq.m() {
            if xq.is_non_finite(i) {
                out[i * rows.len()..(i + 1) * rows.len()].fill(f32::NAN);
            }
        }
        Ok(())
    }

    /// [`Kernels::gemm`] split over rayon's thread pool; the same bits as the single-threaded call.
    /// From 96 activation rows per thread, each thread takes a band of activation rows against
    /// all of W (and writes its band of Y in place); below that, the output rows are split.
    pub fn par_gemm(
        &self,
        w: &WeightView,
        x: &[f32],
        m: usize,
        path: Path,
    ) -> Result<Vec<f32>, KernelError> {
        check_len("activations", x, m, w.k())?;
        if path == Path::Integer {
            check_integer(w)?;
        }
        let (n, k) = (w.rows(), w.k());
        let threads = rayon::current_num_threads().max(1);
        if n > 0 && k > 0 && m >= threads * SPLIT_ACTIVATIONS_FROM {
            // Many activation rows: each thread takes a band of them against all of W and writes
            // its band of Y in place. Every thread reads (and the gemm kernels repack) all of W,
            // which costs little at this many rows, and nothing is copied afterwards.
            let band = m.div_ceil(threads);
            let mut out = vec![0.0; m * n];
            out.par_chunks_mut(band * n)
                .zip(x.par_chunks(band * k))
                .try_for_each(|(out, x)| self.gemm_rows(w, x, x.len() / k, path, 0..n, out))?;
            return Ok(out);
        }
        match path {
            Path::Integer => {
                let xq = QuantizedActivations::new_par(x, m, k)?;
                self.par_rows(n, m, 4, |rows, out| {
                    self.gemm_quantized_rows(w, &xq, rows, out)
                })
            }
            Path::Float => {
                // One band of output rows per thread: the float kernel copies all of X into its
                // own layout on every call (eight 256-row chunks at N = 2048 spent ~10% on it).
                self.par_rows(n, m, 1, |rows, out| {
                    self.gemm_rows(w, x, m, path, rows, out)
                })
            }
        }
    }

    /// Runs `f` on `chunks_per_thread` chunks of output rows per thread, in parallel, and
    /// assembles `m x n` row-major.
    fn par_rows<F>(
        &self,
        n: usize,
        m: usize,
        chunks_per_thread: usize,
        f: F,
    ) -> Result<Vec<f32>, KernelError>
    where
        F: Fn(Range<usize>, &mut [f32]) -> Result<(), KernelError> + Sync,
    {
        let threads = rayon::current_num_threads().max(1);
        // Whole 16-row tiles; more than one chunk per thread balances uneven threads.
        let chunk = n.div_ceil(threads * chunks_per_thread).div_ceil(16).max(1) * 16;
        let parts: Vec<(usize, Vec<f32>)> = (0..n.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let rows = c * chunk..((c + 1) * chunk).min(n);
                let mut part = vec![0.0; m * rows.len()];
                f(rows.clone(), &mut part).map(|()| (rows.start, part))
            })
            .collect::<Result<_, _>>()?;
        // Each part holds a column range of every output row; the rows are assembled in parallel
        // too (at M = 512 a serial copy was about a tenth of a 2-thread gemm).
        let mut out = vec![0.0; m * n];
        out.par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                for (start, part) in &parts {
                    let len = part.len() / m.max(1);
                    row[*start..start + len].copy_from_slice(&part[i * len..(i + 1) * len]);
                }
            });
        Ok(out)
    }
}

/// Activation rows per thread from which [`Kernels::par_gemm`] splits the activations rather than
/// the output rows (below it, each thread's share of rows is too small to pay for a pass over all
/// of W).
const SPLIT_ACTIVATIONS_FROM: usize = 96;

fn check_integer(w: &WeightView) -> Result<(), KernelError> {
    if has_integer_path(w.encoding()) {
        Ok(())
    } else {
        Err(KernelError::NoIntegerPath {
            tensor: w.name().to_string(),
            encoding: w.encoding(),
        })
    }
}

fn check_rows(w: &WeightView, rows: &Range<usize>) -> Result<(), KernelError> {
    if rows.start > rows.end || rows.end > w.rows() {
        return Err(KernelError::RowRange {
            tensor: w.name().to_string(),
            start: rows.start,
            end: rows.end,
            rows: w.rows(),
        });
    }
    Ok(())
}

fn check_out(out: &[f32], a: usize, b: usize) -> Result<(), KernelError> {
    let expected = a.checked_mul(b).ok_or(KernelError::Length {
        what: "output",
        expected: usize::MAX,
        got: out.len(),
    })?;
    if out.len() != expected {
        return Err(KernelError::Length {
            what: "output",
            expected,
            got: out.len(),
        });
    }
    Ok(())
}

//! Error of a converted tensor against its source: relative RMSE, max absolute error, SNR.
//!
//! Sums are f64 and merged in a fixed chunk order, so the figures are the same for any thread
//! count (and the same from `convert`, `verify --against` and a comparison after `export`).

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorStats {
    /// Sum over elements of (decoded - source)^2.
    pub sum_sq_err: f64,
    /// Sum over elements of source^2.
    pub sum_sq_ref: f64,
    /// Largest |decoded - source|.
    pub max_abs: f64,
    /// Elements compared.
    pub count: u64,
}

impl ErrorStats {
    /// Compares `decoded` with `source` element by element (they must be the same length). The
    /// sums run in eight lanes (element `i` into lane `i % 8`, lanes added in a fixed order), which
    /// vectorizes and still gives the same bits every time.
    pub fn measure(source: &[f32], decoded: &[f32]) -> ErrorStats {
        debug_assert_eq!(source.len(), decoded.len());
        const L: usize = 8;
        let mut err = [0f64; L];
        let mut sig = [0f64; L];
        let mut max = [0f64; L];
        let mut nan = false;
        let body = source.len() / L * L;
        for (a, b) in source[..body]
            .chunks_exact(L)
            .zip(decoded[..body].chunks_exact(L))
        {
            for l in 0..L {
                let (x, y) = (a[l] as f64, b[l] as f64);
                let d = y - x;
                err[l] += d * d;
                sig[l] += x * x;
                max[l] = max[l].max(d.abs());
                nan |= d.is_nan();
            }
        }
        for (i, (&a, &b)) in source[body..].iter().zip(&decoded[body..]).enumerate() {
            let (x, y) = (a as f64, b as f64);
            let d = y - x;
            err[i] += d * d;
            sig[i] += x * x;
            max[i] = max[i].max(d.abs());
            nan |= d.is_nan();
        }
        let fold = |v: [f64; L]| ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
        ErrorStats {
            sum_sq_err: fold(err),
            sum_sq_ref: fold(sig),
            // f64::max drops NaN; keep a NaN difference visible.
            max_abs: if nan {
                f64::NAN
            } else {
                max.iter().copied().fold(0.0, f64::max)
            },
            count: source.len() as u64,
        }
    }

    /// Adds another chunk's sums (call in chunk order for reproducible figures).
    pub fn merge(&mut self, o: &ErrorStats) {
        self.sum_sq_err += o.sum_sq_err;
        self.sum_sq_ref += o.sum_sq_ref;
        if o.max_abs > self.max_abs || o.max_abs.is_nan() {
            self.max_abs = o.max_abs;
        }
        self.count += o.count;
    }

    /// sqrt(sum err^2 / sum ref^2); 0 for an exact all-zero tensor.
    pub fn rel_rmse(&self) -> f64 {
        if self.sum_sq_err == 0.0 {
            0.0
        } else {
            (self.sum_sq_err / self.sum_sq_ref).sqrt()
        }
    }

    /// Relative mean squared error (rel_rmse squared): the per-element figure `--target-bpw`
    /// weighs by element count.
    pub fn rel_mse(&self) -> f64 {
        let r = self.rel_rmse();
        r * r
    }

    /// 10 log10(signal / noise); infinite when exact.
    pub fn snr_db(&self) -> f64 {
        10.0 * (self.sum_sq_ref / self.sum_sq_err).log10()
    }

    pub fn summary(&self) -> ErrorSummary {
        ErrorSummary {
            rel_rmse: finite(self.rel_rmse()),
            max_abs_error: finite(self.max_abs),
            snr_db: finite(self.snr_db()),
        }
    }
}

/// JSON has no NaN or infinity: those become null.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The per-tensor error figures as reported (null where not finite).
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct ErrorSummary {
    pub rel_rmse: Option<f64>,
    pub max_abs_error: Option<f64>,
    pub snr_db: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        let src = [3.0f32, 4.0];
        let dec = [3.0f32, 4.5];
        let s = ErrorStats::measure(&src, &dec);
        assert_eq!(s.sum_sq_err, 0.25);
        assert_eq!(s.sum_sq_ref, 25.0);
        assert_eq!(s.max_abs, 0.5);
        assert_eq!(s.rel_rmse(), 0.1);
        assert!((s.snr_db() - 20.0).abs() < 1e-12);
        let exact = ErrorStats::measure(&src, &src);
        assert_eq!(exact.rel_rmse(), 0.0);
        assert_eq!(exact.summary().snr_db, None);
        let mut m = ErrorStats::measure(&src[..1], &dec[..1]);
        m.merge(&ErrorStats::measure(&src[1..], &dec[1..]));
        assert_eq!(m, s);
        // Long inputs: the lanes add up to the plain sums (exactly, for these small integers).
        let a: Vec<f32> = (0..1003).map(|i| (i % 17) as f32).collect();
        let b: Vec<f32> = (0..1003)
            .map(|i| (i % 17) as f32 + (i % 3) as f32)
            .collect();
        let l = ErrorStats::measure(&a, &b);
        let err: f64 = (0..1003).map(|i| ((i % 3) * (i % 3)) as f64).sum();
        let sig: f64 = (0..1003).map(|i| ((i % 17) * (i % 17)) as f64).sum();
        assert_eq!(
            (l.sum_sq_err, l.sum_sq_ref, l.max_abs, l.count),
            (err, sig, 2.0, 1003)
        );
        let mut with_nan = b.clone();
        with_nan[1001] = f32::NAN;
        assert!(ErrorStats::measure(&a, &with_nan).max_abs.is_nan());
        let nan = ErrorStats::measure(&[1.0], &[f32::NAN]);
        assert!(nan.max_abs.is_nan());
        assert_eq!(nan.summary().rel_rmse, None);
    }
}

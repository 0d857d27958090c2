//! Activation quantization for the integer path (SPEC.md, "Integer path"): each row of X
//! is cut into groups of 32 and each group becomes int8 codes, an f32 scale and the codes' sum.

use tessera_format::GROUP;

/// `m` rows of quantized activations, each padded with zero codes to a whole number of groups.
///
/// ```
/// let x = [1.0f32, -2.0, 0.5];
/// let xq = tessera_kernels::QuantizedActivations::new(&x, 1, 3).unwrap();
/// assert_eq!(xq.codes(0)[..3], [64, -127, 32]);
/// assert_eq!(xq.scales(0)[0], 2.0 / 127.0);
/// assert_eq!(xq.sums(0)[0], 64 - 127 + 32);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedActivations {
    m: usize,
    k: usize,
    groups: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<i32>,
    non_finite: Vec<bool>,
}

impl QuantizedActivations {
    /// Quantizes `m` rows of `k` values (`x.len() == m * k`), bit-identical to the reference.
    pub fn new(x: &[f32], m: usize, k: usize) -> Result<Self, crate::KernelError> {
        if k == 0 {
            // With k = 0 nothing in `x` bounds `m`, which sizes the per-row state below.
            return Err(crate::KernelError::EmptyRows {
                tensor: String::from("activations"),
            });
        }
        check_len("activations", x, m, k)?;
        let groups = k.div_ceil(GROUP);
        let mut out = QuantizedActivations {
            m,
            k,
            groups,
            codes: vec![0; m * groups * GROUP],
            scales: vec![0.0; m * groups],
            sums: vec![0; m * groups],
            non_finite: vec![false; m],
        };
        for row in 0..m {
            let xs = &x[row * k..(row + 1) * k];
            out.non_finite[row] = xs.iter().any(|v| !v.is_finite());
            for (j, chunk) in xs.chunks(GROUP).enumerate() {
                let at = row * groups + j;
                let codes = &mut out.codes[at * GROUP..at * GROUP + chunk.len()];
                let (scale, sum) = quantize_group(chunk, codes);
                out.scales[at] = scale;
                out.sums[at] = sum;
            }
        }
        Ok(out)
    }

    /// Rows.
    pub fn m(&self) -> usize {
        self.m
    }
    /// Elements per row (before padding).
    pub fn k(&self) -> usize {
        self.k
    }
    /// Groups of 32 per row.
    pub fn groups(&self) -> usize {
        self.groups
    }
    /// Row `r`'s codes, `groups * 32` long (zero-padded past `k`).
    pub fn codes(&self, r: usize) -> &[i8] {
        &self.codes[r * self.groups * GROUP..(r + 1) * self.groups * GROUP]
    }
    /// Row `r`'s per-group scales `sx`.
    pub fn scales(&self, r: usize) -> &[f32] {
        &self.scales[r * self.groups..(r + 1) * self.groups]
    }
    /// Row `r`'s per-group code sums `xsum`.
    pub fn sums(&self, r: usize) -> &[i32] {
        &self.sums[r * self.groups..(r + 1) * self.groups]
    }
    /// True if row `r` held a NaN or an infinity (its outputs are all NaN).
    pub fn is_non_finite(&self, r: usize) -> bool {
        self.non_finite[r]
    }
}

/// One group: `sx = amax / 127`, codes `round_half_even(x / sx)` clamped to +-127 (true division).
/// A group holding a NaN or an infinity gets zero codes and scale NaN (its row's outputs are NaN).
fn quantize_group(x: &[f32], codes: &mut [i8]) -> (f32, i32) {
    if x.iter().any(|v| !v.is_finite()) {
        codes.fill(0);
        return (f32::NAN, 0);
    }
    let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let scale = amax / 127.0;
    if scale == 0.0 {
        codes.fill(0);
        return (scale, 0);
    }
    let mut sum = 0i32;
    for (c, &v) in codes.iter_mut().zip(x) {
        let q = (v / scale).round_ties_even().clamp(-127.0, 127.0) as i8;
        *c = q;
        sum += q as i32;
    }
    (scale, sum)
}

pub(crate) fn check_len(
    what: &'static str,
    x: &[f32],
    m: usize,
    k: usize,
) -> Result<(), crate::KernelError> {
    let expected = m.checked_mul(k).ok_or(crate::KernelError::Length {
        what,
        expected: usize::MAX,
        got: x.len(),
    })?;
    if x.len() != expected {
        return Err(crate::KernelError::Length {
            what,
            expected,
            got: x.len(),
        });
    }
    Ok(())
}

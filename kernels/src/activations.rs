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
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: this CPU has the features the function is compiled for.
            unsafe { out.fill_avx512(x) };
            return Ok(out);
        }
        out.fill(x);
        Ok(out)
    }

    /// Quantizes every group of `x` into `self` (sized by `new`). The same IEEE operations on
    /// every target; only how many lanes the compiler uses differs.
    #[inline(always)]
    fn fill(&mut self, x: &[f32]) {
        let (k, groups) = (self.k, self.groups);
        for row in 0..self.m {
            let xs = &x[row * k..(row + 1) * k];
            for (j, chunk) in xs.chunks(GROUP).enumerate() {
                let at = row * groups + j;
                let codes = &mut self.codes[at * GROUP..at * GROUP + chunk.len()];
                let (scale, sum) = quantize_group(chunk, codes);
                self.scales[at] = scale;
                self.sums[at] = sum;
                // Only a group with a NaN or an infinity gets a NaN scale.
                self.non_finite[row] |= scale.is_nan();
            }
        }
    }

    /// [`Self::fill`] vectorized 16 lanes wide (the same bits: division, rounding and clamping
    /// are exact per lane).
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and BW.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn fill_avx512(&mut self, x: &[f32]) {
        self.fill(x);
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
/// Written without early exits and with integer reductions, so a whole group vectorizes.
#[inline(always)]
fn quantize_group(x: &[f32], codes: &mut [i8]) -> (f32, i32) {
    let mut full = [0.0f32; GROUP];
    full[..x.len()].copy_from_slice(x);
    // Non-finite: all exponent bits set. For finite values, the magnitude's bits order like it.
    let non_finite = full
        .iter()
        .fold(false, |b, v| b | (v.to_bits() & 0x7F80_0000 == 0x7F80_0000));
    let amax = f32::from_bits(
        full.iter()
            .fold(0u32, |a, v| a.max(v.to_bits() & 0x7FFF_FFFF)),
    );
    if non_finite {
        codes.fill(0);
        return (f32::NAN, 0);
    }
    let scale = amax / 127.0;
    if scale == 0.0 {
        codes.fill(0);
        return (scale, 0);
    }
    let mut q = [0i8; GROUP];
    for (c, &v) in q.iter_mut().zip(&full) {
        *c = rounded_code(v / scale).clamp(-127, 127) as i8;
    }
    codes.copy_from_slice(&q[..codes.len()]);
    // Padding lanes are +0 and quantize to 0, so the sum over all 32 is the sum over `x`.
    (scale, q.iter().map(|&c| c as i32).sum())
}

/// `1.5 * 2^23`: adding it to an f32 of magnitude below `2^22` rounds that value to an integer
/// (ties to even, the FPU's default mode), which the sum's low mantissa bits then hold.
const MAGIC: f32 = 12_582_912.0;

/// `v` rounded to the nearest integer, ties to even, for `|v| < 2^22` (here `|v| <= 127` plus
/// rounding), read from the bits of `v + MAGIC`: the same integer as `f32::round_ties_even`, which
/// compiles to a library call on x86-64 without SSE4.1 and, like a float-to-int `as` cast, keeps
/// the group loop from vectorizing (activation quantization was ~40% of an M = 512 gemm).
#[inline(always)]
fn rounded_code(v: f32) -> i32 {
    (v + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounded_codes_match_the_library() {
        let mut v = -130.0f32;
        while v <= 130.0 {
            assert_eq!(rounded_code(v), v.round_ties_even() as i32, "{v}");
            v += 1.0 / 64.0;
        }
        for v in [
            0.5f32, 1.5, 2.5, -0.5, -1.5, 126.5, -126.5, 0.49999997, 127.49999, -0.0,
        ] {
            assert_eq!(rounded_code(v), v.round_ties_even() as i32, "{v}");
        }
    }
}

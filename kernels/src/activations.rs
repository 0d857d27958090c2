//! Activation quantization for the integer path (SPEC.md, "Integer path"): each row of X
//! is cut into groups of 32 and each group becomes int8 codes, an f32 scale and the codes' sum.

use std::borrow::Cow;
use std::sync::OnceLock;

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
///
/// The first many-row gemm on x86 with AVX-512 keeps a second, row-blocked copy of the codes
/// inside (about as large as the codes), for every later call with these activations.
#[derive(Clone)]
pub struct QuantizedActivations {
    m: usize,
    k: usize,
    groups: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<i32>,
    non_finite: Vec<bool>,
    /// The row-blocked copy a many-row gemm kernel reads, built by the first call that needs it
    /// and shared by every later call and thread (`par_gemm`'s row chunks, a runtime's own
    /// threads, several weight matrices): built per call, it cost each chunk a pass over all of X.
    row_blocks: OnceLock<RowBlocks>,
}

impl std::fmt::Debug for QuantizedActivations {
    /// The quantized values; not the kernels' cached layout.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantizedActivations")
            .field("m", &self.m)
            .field("k", &self.k)
            .field("codes", &self.codes)
            .field("scales", &self.scales)
            .field("sums", &self.sums)
            .field("non_finite", &self.non_finite)
            .finish()
    }
}

impl PartialEq for QuantizedActivations {
    /// Equal quantized values; whether a kernel has cached its layout does not matter.
    fn eq(&self, other: &Self) -> bool {
        (
            self.m,
            self.k,
            &self.codes,
            &self.scales,
            &self.sums,
            &self.non_finite,
        ) == (
            other.m,
            other.k,
            &other.codes,
            &other.scales,
            &other.sums,
            &other.non_finite,
        )
    }
}

impl QuantizedActivations {
    /// Quantizes `m` rows of `k` values (`x.len() == m * k`), bit-identical to the reference.
    pub fn new(x: &[f32], m: usize, k: usize) -> Result<Self, crate::KernelError> {
        let mut out = Self::zeroed(x, m, k)?;
        fill_rows(x, k, out.rows_out());
        Ok(out)
    }

    /// [`Self::new`] with the rows split over rayon's thread pool (the same bits).
    pub(crate) fn new_par(x: &[f32], m: usize, k: usize) -> Result<Self, crate::KernelError> {
        use rayon::prelude::*;
        let mut out = Self::zeroed(x, m, k)?;
        let groups = out.groups;
        // Chunks of rows big enough to amortize a task (~64 KiB of activations).
        let rows = (16384 / k).max(1);
        let all = out.rows_out();
        x.par_chunks(rows * k)
            .zip(all.codes.par_chunks_mut(rows * groups * GROUP))
            .zip(all.scales.par_chunks_mut(rows * groups))
            .zip(all.sums.par_chunks_mut(rows * groups))
            .zip(all.non_finite.par_chunks_mut(rows))
            .for_each(|((((x, codes), scales), sums), non_finite)| {
                let out = RowsOut {
                    codes,
                    scales,
                    sums,
                    non_finite,
                };
                fill_rows(x, k, out)
            });
        Ok(out)
    }

    /// Checks the shape and allocates zero codes for `m` rows of `k`.
    fn zeroed(x: &[f32], m: usize, k: usize) -> Result<Self, crate::KernelError> {
        if k == 0 {
            // With k = 0 nothing in `x` bounds `m`, which sizes the per-row state below.
            return Err(crate::KernelError::EmptyRows {
                tensor: String::from("activations"),
            });
        }
        check_len("activations", x, m, k)?;
        let groups = k.div_ceil(GROUP);
        Ok(QuantizedActivations {
            m,
            k,
            groups,
            codes: vec![0; m * groups * GROUP],
            scales: vec![0.0; m * groups],
            sums: vec![0; m * groups],
            non_finite: vec![false; m],
            row_blocks: OnceLock::new(),
        })
    }

    fn rows_out(&mut self) -> RowsOut<'_> {
        RowsOut {
            codes: &mut self.codes,
            scales: &mut self.scales,
            sums: &mut self.sums,
            non_finite: &mut self.non_finite,
        }
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

    /// These activations in blocks of `rows_per_block` rows (see [`RowBlocks`]), the last block
    /// padded with zero rows to the full height if `padded`. One layout is cached, the first one
    /// asked for (a process normally runs one tier); another is built for the call.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // only the AVX-512 gemms, so far
    pub(crate) fn row_blocks(&self, rows_per_block: usize, padded: bool) -> Cow<'_, RowBlocks> {
        assert!(rows_per_block > 0, "row blocks of 0 rows");
        let cached = self
            .row_blocks
            .get_or_init(|| RowBlocks::new(self, rows_per_block, padded));
        if (cached.rows_per_block, cached.padded) == (rows_per_block, padded) {
            Cow::Borrowed(cached)
        } else {
            Cow::Owned(RowBlocks::new(self, rows_per_block, padded))
        }
    }
}

/// Quantized activations regrouped for a kernel that runs a block of rows against each weight
/// group: blocks of `rows_per_block` rows (the last one shorter), each block group-major, so a
/// block streams through one contiguous stretch. Group `j` of row `a` of the block starting at
/// row `m0` with `nb` rows is entry `m0 * groups + j * nb + a`; per entry 32 codes, `sx`, and the
/// codes' sum as i32 and as f32.
///
/// `padded`: the last block too is laid out with `rows_per_block` rows (`nb` above is then always
/// `rows_per_block`), its rows past `m` all zero, so a kernel can load whole blocks (the AMX
/// tiles).
#[derive(Clone, Debug)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct RowBlocks {
    pub rows_per_block: usize,
    pub padded: bool,
    pub m: usize,
    pub groups: usize,
    pub codes: Vec<i8>,
    pub scale: Vec<f32>,
    pub isum: Vec<i32>,
    pub fsum: Vec<f32>,
}

impl RowBlocks {
    fn new(xq: &QuantizedActivations, rows_per_block: usize, padded: bool) -> Self {
        let (m, groups) = (xq.m, xq.groups);
        let rows = if padded {
            m.next_multiple_of(rows_per_block)
        } else {
            m
        };
        let mut x = RowBlocks {
            rows_per_block,
            padded,
            m,
            groups,
            codes: vec![0; rows * groups * GROUP],
            scale: vec![0.0; rows * groups],
            isum: vec![0; rows * groups],
            fsum: vec![0.0; rows * groups],
        };
        for (m0, nb) in x.blocks() {
            let stride = if padded { rows_per_block } else { nb };
            for a in 0..nb {
                let row = m0 + a;
                let (sums, scales) = (xq.sums(row), xq.scales(row));
                for (j, chunk) in xq.codes(row).chunks_exact(GROUP).enumerate() {
                    let at = m0 * groups + j * stride + a;
                    x.codes[at * GROUP..(at + 1) * GROUP].copy_from_slice(chunk);
                    x.scale[at] = scales[j];
                    x.isum[at] = sums[j];
                    x.fsum[at] = sums[j] as f32;
                }
            }
        }
        x
    }

    /// The blocks as (first row, rows that exist).
    pub fn blocks(&self) -> impl Iterator<Item = (usize, usize)> {
        let (m, r) = (self.m, self.rows_per_block);
        (0..m).step_by(r).map(move |m0| (m0, r.min(m - m0)))
    }
}

/// Where [`fill_rows`] writes a run of rows: their slices of the codes, scales, sums and
/// non-finite flags.
struct RowsOut<'a> {
    codes: &'a mut [i8],
    scales: &'a mut [f32],
    sums: &'a mut [i32],
    non_finite: &'a mut [bool],
}

/// Quantizes whole rows of `k` values from `x` into `out`, with the widest vector build this CPU
/// runs.
fn fill_rows(x: &[f32], k: usize, out: RowsOut) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        // SAFETY: this CPU has the features the function is compiled for.
        unsafe { fill_rows_avx512(x, k, out) };
        return;
    }
    fill_rows_portable(x, k, out);
}

/// [`fill_rows_portable`] with whole groups quantized by [`quantize_group_avx512`] (the same
/// bits); a row's partial last group takes the portable code.
///
/// # Safety
/// The CPU must have AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn fill_rows_avx512(x: &[f32], k: usize, out: RowsOut) {
    fill_rows_with(x, k, out, |chunk, codes| {
        match (chunk.try_into(), codes.try_into()) {
            // SAFETY: the caller guarantees the features `quantize_group_avx512` needs.
            (Ok(full), Ok(codes)) => unsafe { quantize_group_avx512(full, codes) },
            _ => quantize_group(chunk, codes),
        }
    });
}

/// [`quantize_group`] for a whole group, written out in AVX-512 (the compiler's vectorization of
/// the portable code ran at ~1.3 G values/s, 6% of an M = 512 gemm on two threads). The same IEEE
/// operations per lane, so the same bits: the largest magnitude as the largest masked bit
/// pattern, one f32 division per value, rounding by the `MAGIC` addition, clamping as integers.
///
/// # Safety
/// The CPU must have AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_group_avx512(x: &[f32; GROUP], codes: &mut [i8; GROUP]) -> (f32, i32) {
    use std::arch::x86_64::*;
    // SAFETY: `x` holds 32 values.
    let (a, b) = unsafe {
        (
            _mm512_loadu_ps(x.as_ptr()),
            _mm512_loadu_ps(x.as_ptr().add(16)),
        )
    };
    let magnitude = _mm512_set1_epi32(0x7FFF_FFFF);
    let amax_bits = _mm512_reduce_max_epu32(_mm512_max_epu32(
        _mm512_and_si512(_mm512_castps_si512(a), magnitude),
        _mm512_and_si512(_mm512_castps_si512(b), magnitude),
    ));
    // Every non-finite magnitude's bits lie at or above infinity's, every finite one's below.
    if amax_bits >= 0x7F80_0000 {
        codes.fill(0);
        return (f32::NAN, 0);
    }
    let scale = f32::from_bits(amax_bits) / 127.0;
    if scale == 0.0 {
        codes.fill(0);
        return (scale, 0);
    }
    let sx = _mm512_set1_ps(scale);
    // `rounded_code(v / sx).clamp(-127, 127)` per lane.
    let mut q = [_mm512_setzero_si512(); 2];
    for (q, v) in q.iter_mut().zip([a, b]) {
        let rounded = _mm512_sub_epi32(
            _mm512_castps_si512(_mm512_add_ps(_mm512_div_ps(v, sx), _mm512_set1_ps(MAGIC))),
            _mm512_set1_epi32(MAGIC.to_bits() as i32),
        );
        *q = _mm512_min_epi32(
            _mm512_max_epi32(rounded, _mm512_set1_epi32(-127)),
            _mm512_set1_epi32(127),
        );
    }
    let [qa, qb] = q;
    // SAFETY: `codes` holds 32 bytes, 16 per store.
    unsafe {
        _mm_storeu_si128(codes.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(qa));
        _mm_storeu_si128(codes.as_mut_ptr().add(16).cast(), _mm512_cvtepi32_epi8(qb));
    }
    (scale, _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb)))
}

/// Every group through [`quantize_group`].
fn fill_rows_portable(x: &[f32], k: usize, out: RowsOut) {
    fill_rows_with(x, k, out, quantize_group);
}

/// Quantizes whole rows of `k` values from `x` into `out`, each group (its values, and its codes'
/// slice to write) by `group`, which returns the group's scale and code sum.
#[inline(always)]
fn fill_rows_with(
    x: &[f32],
    k: usize,
    out: RowsOut,
    mut group: impl FnMut(&[f32], &mut [i8]) -> (f32, i32),
) {
    let groups = k.div_ceil(GROUP);
    for (row, flag) in out.non_finite.iter_mut().enumerate() {
        let xs = &x[row * k..(row + 1) * k];
        for (j, chunk) in xs.chunks(GROUP).enumerate() {
            let at = row * groups + j;
            let codes = &mut out.codes[at * GROUP..at * GROUP + chunk.len()];
            let (scale, sum) = group(chunk, codes);
            out.scales[at] = scale;
            out.sums[at] = sum;
            // Only a group with a NaN or an infinity gets a NaN scale.
            *flag |= scale.is_nan();
        }
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

    /// The AVX-512 group quantizer against the portable one on groups chosen to hit its edges:
    /// ties across the code range, subnormal-only groups (subnormal or zero scale), the largest finite
    /// values, signed zeros, each non-finite value, and random groups.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_groups_match_portable() {
        if !(std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw"))
        {
            eprintln!("skipped: this CPU has no AVX-512 F/BW");
            return;
        }
        let mut groups: Vec<[f32; GROUP]> = Vec::new();
        // Ties: amax 127 makes the scale exactly 1, so each n + 0.5 below is a tie (31 of them,
        // -104.5 to 105.5).
        groups.push(std::array::from_fn(|i| {
            if i == 0 {
                127.0
            } else {
                (i as f32 - 16.0) * 7.0 + 0.5
            }
        }));
        groups.push(std::array::from_fn(|i| f32::from_bits(1 + i as u32 * 97)));
        groups.push(std::array::from_fn(|i| {
            -f32::from_bits(i as u32 % 3) // -0 and the two smallest negative subnormals
        }));
        groups.push(std::array::from_fn(|i| {
            if i % 2 == 0 {
                f32::MAX
            } else {
                -f32::MAX / (i as f32)
            }
        }));
        groups.push([-0.0; GROUP]);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut g = [1.0; GROUP];
            g[31] = bad;
            groups.push(g);
        }
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            groups.push(std::array::from_fn(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let bits = (state >> 32) as u32;
                // Random finite values over the whole exponent range, and ordinary ones.
                if bits & 1 == 0 {
                    f32::from_bits(bits & 0xFF7F_FFFF)
                } else {
                    (bits as i32 >> 8) as f32 / 1e6
                }
            }));
        }
        for g in &groups {
            let (mut ours, mut want) = ([0i8; GROUP], [0i8; GROUP]);
            // SAFETY: the features were detected above.
            let got = unsafe { quantize_group_avx512(g, &mut ours) };
            let expected = quantize_group(g, &mut want);
            assert_eq!(ours, want, "codes of {g:?}");
            assert_eq!(got.0.to_bits(), expected.0.to_bits(), "scale of {g:?}");
            assert_eq!(got.1, expected.1, "sum of {g:?}");
        }
    }

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

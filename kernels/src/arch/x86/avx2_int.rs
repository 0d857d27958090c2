//! AVX2 integer path: 8 output rows per tile, one i32 / f32 lane per row.
//!
//! Each group's codes of the 8 rows are held "one dword per row": ymm `t` lane `r` holds the lane
//! codes `4t..4t + 4` of row `r`. 4- and 8-bit codes are read straight into that layout by a 4x4
//! dword transpose of the packed bytes; other widths are unpacked per row and transposed. Against 4
//! broadcast activation codes, `vpmaddubsw` (u8 x s8 -> i16 pair sums) does the products; as many
//! of its results as cannot overflow add in i16, and one `vpmaddwd` by ones widens them to i32.
//! Lane codes above 129 (8-bit codes, `q{b}kh`) could saturate a pair sum, so they are dotted as
//! `u - 128` through `maddubs(|s|, sign(x, s))` and corrected by `128 * xsum`. Every integer step
//! is exact, so the sums, and the contract's float steps after them, are the reference's bits.
//! The multipliers (`vpmaddubsw`, `vpmaddwd`) share one pipe on Zen 1: 4-bit codes take 9 per
//! 8 rows and group, 8-bit codes 16 (was 16 / 16 plus twice the shifts as even/odd `vpmaddwd`).

use std::arch::x86_64::*;
use std::ops::Range;

use tessera_format::GROUP;

use super::cache;
use super::planes::{group_codes, half_mapped};
use super::prefetch::{prefetch_lines, PrefetchTo, STREAM_ABOVE_BYTES};
use super::rows::{Strided, TileRows};
use crate::codec::{family, group_params, planes_at, Codec};
use crate::tile::TileCursor;
use crate::{QuantizedActivations, WeightView};

/// Output rows per tile (one ymm lane each).
pub(super) const ROWS: usize = 8;

/// Lanes of absent rows read these zeros (longer than any block).
pub(super) static ZERO_BLOCK: [u8; 512] = [0; 512];

/// The largest lane code of `C` (see [`Codec::OFFSET`]).
const fn max_lane_code<C: Codec>() -> i32 {
    match C::FAMILY {
        family::MX_FP4 => 24,
        family::SUPER_HALF => 255,
        _ => (1 << C::BITS) - 1,
    }
}

/// True if the codes are dotted as `u - 128` (signed): an unsigned `vpmaddubsw` pair sum
/// `2 * u * 127` saturates above u = 129.
pub(super) const fn signed_dot<C: Codec>() -> bool {
    max_lane_code::<C>() > 129
}

/// How many `vpmaddubsw` results add in i16 before widening: `2c` products of at most
/// `max * 127` each stay below 2^15 (the signed form: `|s| <= 128`, one result).
pub(super) const fn i16_chunk<C: Codec>() -> usize {
    let max = if signed_dot::<C>() {
        128
    } else {
        max_lane_code::<C>()
    };
    let mut c = 8;
    while c > 1 && 2 * c as i32 * max * 127 > i16::MAX as i32 {
        c /= 2;
    }
    c
}

/// What `isum` of the dot needs added, times the activations' sum, to become the contract's
/// `sum (u - OFFSET) * x`.
const fn offset_correction<C: Codec>() -> i32 {
    if signed_dot::<C>() {
        128 - C::OFFSET
    } else {
        -C::OFFSET
    }
}

/// f16 bit patterns (low 16 bits of each i32 lane, high bits zero) to f32, exactly as
/// `half::f16::to_f32` (NaNs quieted, payload kept). Neither F16C (Miri does not run
/// `vcvtph2ps`) nor f32 subnormal inputs (DAZ would flush them) are used. Only built for Miri
/// (see [`f16_lanes_to_f32`]) and for the test that checks both against `half`.
#[cfg(any(miri, test))]
#[inline(always)]
unsafe fn f16_bits_to_f32(h: __m256i) -> __m256 {
    let em = _mm256_and_si256(h, _mm256_set1_epi32(0x7FFF));
    let sign = _mm256_slli_epi32::<16>(_mm256_xor_si256(h, em));
    // Normal: rebias the exponent by 127 - 15.
    let normal = _mm256_add_epi32(_mm256_slli_epi32::<13>(em), _mm256_set1_epi32(112 << 23));
    // Subnormal (and zero): mantissa * 2^-24, an exact normal f32.
    let sub = _mm256_castps_si256(_mm256_mul_ps(
        _mm256_cvtepi32_ps(em),
        _mm256_set1_ps(f32::from_bits(103 << 23)),
    ));
    // Infinity / NaN: all exponent bits, the mantissa, and the quiet bit for NaN.
    let quiet = _mm256_and_si256(
        _mm256_cmpgt_epi32(em, _mm256_set1_epi32(0x7C00)),
        _mm256_set1_epi32(0x0040_0000),
    );
    let special = _mm256_or_si256(
        _mm256_or_si256(_mm256_slli_epi32::<13>(em), _mm256_set1_epi32(0x7F80_0000)),
        quiet,
    );
    let is_sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x400), em);
    let is_special = _mm256_cmpgt_epi32(em, _mm256_set1_epi32(0x7BFF));
    let v = _mm256_blendv_epi8(normal, sub, is_sub);
    let v = _mm256_blendv_epi8(v, special, is_special);
    _mm256_castsi256_ps(_mm256_or_si256(v, sign))
}

/// f16 bit patterns (low 16 bits of each i32 lane, high bits zero) to f32 with F16C's
/// `vcvtph2ps` (exact; NaNs quieted, payload kept, as `half`), or under Miri, which does not run
/// it, with [`f16_bits_to_f32`] (q4 gemv in L3 on Zen 3, with `row_dots`: 48 -> 55 GOPS).
///
/// # Safety
/// AVX2 and F16C.
#[inline(always)]
unsafe fn f16_lanes_to_f32(h: __m256i) -> __m256 {
    #[cfg(not(miri))]
    {
        // Unsigned saturation leaves values below 2^16 as they are.
        let words = _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
        _mm256_cvtph_ps(words)
    }
    #[cfg(miri)]
    // SAFETY: register arithmetic.
    unsafe {
        f16_bits_to_f32(h)
    }
}

/// An i32 lane mask with lane `r` set where bit `r` of `present` is.
#[inline(always)]
unsafe fn present_lanes(present: u32) -> __m256i {
    let bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    let m = _mm256_and_si256(_mm256_set1_epi32(present as i32), bit);
    _mm256_cmpeq_epi32(m, bit)
}

/// One u32 per row read at byte `off` of its block (unaligned), lane `r` = row `r`.
///
/// # Safety
/// 4 readable bytes at each `p.at(r, off)`.
#[inline(always)]
unsafe fn dword_per_row<P: TileRows>(p: &P, off: usize) -> __m256i {
    // SAFETY: the caller guarantees 4 readable bytes at each `p.at(r, off)`.
    let d = |r: usize| unsafe { p.at(r, off).cast::<i32>().read_unaligned() };
    _mm256_setr_epi32(d(0), d(1), d(2), d(3), d(4), d(5), d(6), d(7))
}

/// The 8 rows' 16 bytes at `off` as 4 ymm: ymm `s` lane `r` = dword `s` of row `r`.
///
/// # Safety
/// 16 readable bytes at each `p.at(r, off)`.
#[inline(always)]
unsafe fn dwords_8x4<P: TileRows>(p: &P, off: usize) -> [__m256i; 4] {
    // Rows a (low 128 bits) and a + 4 (high), then a 4x4 dword transpose in each 128-bit lane.
    let mut z = [_mm256_setzero_si256(); 4];
    for (a, z) in z.iter_mut().enumerate() {
        // SAFETY: the caller guarantees 16 readable bytes at each `p.at(r, off)`.
        *z = unsafe { _mm256_loadu2_m128i(p.at(a + 4, off).cast(), p.at(a, off).cast()) };
    }
    let t0 = _mm256_unpacklo_epi32(z[0], z[1]);
    let t1 = _mm256_unpackhi_epi32(z[0], z[1]);
    let t2 = _mm256_unpacklo_epi32(z[2], z[3]);
    let t3 = _mm256_unpackhi_epi32(z[2], z[3]);
    [
        _mm256_unpacklo_epi64(t0, t2),
        _mm256_unpackhi_epi64(t0, t2),
        _mm256_unpacklo_epi64(t1, t3),
        _mm256_unpackhi_epi64(t1, t3),
    ]
}

/// 8 rows' 32 codes each (element order) -> ymm `t` lane `r` = codes `4t..4t + 4` of row `r`.
#[inline(always)]
unsafe fn transpose_8x8_dwords(c: &[__m256i; ROWS]) -> [__m256i; 8] {
    let mut u = [_mm256_setzero_si256(); 8];
    for h in 0..2 {
        let c = &c[4 * h..4 * h + 4];
        let t0 = _mm256_unpacklo_epi32(c[0], c[1]);
        let t1 = _mm256_unpackhi_epi32(c[0], c[1]);
        let t2 = _mm256_unpacklo_epi32(c[2], c[3]);
        let t3 = _mm256_unpackhi_epi32(c[2], c[3]);
        u[4 * h] = _mm256_unpacklo_epi64(t0, t2);
        u[4 * h + 1] = _mm256_unpackhi_epi64(t0, t2);
        u[4 * h + 2] = _mm256_unpacklo_epi64(t1, t3);
        u[4 * h + 3] = _mm256_unpackhi_epi64(t1, t3);
    }
    [
        _mm256_permute2x128_si256::<0x20>(u[0], u[4]),
        _mm256_permute2x128_si256::<0x20>(u[1], u[5]),
        _mm256_permute2x128_si256::<0x20>(u[2], u[6]),
        _mm256_permute2x128_si256::<0x20>(u[3], u[7]),
        _mm256_permute2x128_si256::<0x31>(u[0], u[4]),
        _mm256_permute2x128_si256::<0x31>(u[1], u[5]),
        _mm256_permute2x128_si256::<0x31>(u[2], u[6]),
        _mm256_permute2x128_si256::<0x31>(u[3], u[7]),
    ]
}

/// Group `g`'s dot operands of the tile's rows (blocks holding `groups` groups): ymm `t` lane `r`
/// holds lane codes `4t..4t + 4` of row `r`, as `u` or (signed dot) `u - 128` as i8.
///
/// # Safety
/// Every pointer addresses a whole block of `C` holding group `g` (or the zero block).
#[inline(always)]
pub(super) unsafe fn tile_codes<C: Codec, P: TileRows>(
    p: &P,
    groups: usize,
    g: usize,
) -> [__m256i; 8] {
    let at = planes_at::<C>(groups, g);
    let mut wt = [_mm256_setzero_si256(); 8];
    // The XOR that turns stored bytes into dot operands (8-bit codes: lane code, then signed).
    let mut flip = 0u8;
    if C::BITS == 4 && C::FAMILY != family::SUPER_HALF {
        // Byte i of the plane holds code i (low nibble) and code i + 16 (high nibble), so dword s
        // holds codes 4s..4s + 4 and 16 + 4s..20 + 4s.
        // SAFETY: each block holds the group's 16 plane bytes at `at`.
        let d = unsafe { dwords_8x4(p, at) };
        let nib = _mm256_set1_epi8(0x0F);
        for s in 0..4 {
            wt[s] = _mm256_and_si256(d[s], nib);
            wt[s + 4] = _mm256_and_si256(_mm256_srli_epi32::<4>(d[s]), nib);
        }
        if let Some(lut) = C::LUT4 {
            // SAFETY: `lut` is 16 bytes.
            let table = unsafe { _mm_loadu_si128(lut.as_ptr().cast()) };
            let table = _mm256_set_m128i(table, table);
            for w in wt.iter_mut() {
                *w = _mm256_shuffle_epi8(table, *w);
            }
        }
        flip = C::XOR;
    } else if C::BITS == 8 && C::FAMILY != family::SUPER_HALF {
        // SAFETY: each block holds the group's 32 code bytes at `at`.
        let (lo, hi) = unsafe { (dwords_8x4(p, at), dwords_8x4(p, at + 16)) };
        wt = [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]];
        flip = C::XOR;
    } else {
        let mut codes = [_mm256_setzero_si256(); ROWS];
        for (r, c) in codes.iter_mut().enumerate() {
            // SAFETY: each block holds the group's planes (and, for q{b}kh, its sub-fields).
            *c = unsafe { half_mapped::<C>(group_codes::<C>(p.at(r, at)), p.at(r, 0), g) };
        }
        // SAFETY: register shuffles only.
        wt = unsafe { transpose_8x8_dwords(&codes) };
    }
    if signed_dot::<C>() {
        flip ^= 0x80;
    }
    if flip != 0 {
        for w in wt.iter_mut() {
            *w = _mm256_xor_si256(*w, _mm256_set1_epi8(flip as i8));
        }
    }
    wt
}

/// The tile's block headers, read once per block: per-row scale `sw` and (`q{b}a`) min `mw`, 0 in
/// absent lanes; for `q{b}k` the dwords at bytes 2 and 5 (the sub-scale bit string).
pub(super) struct TileHead {
    pub(super) sw: __m256,
    mw: __m256,
    present: __m256i,
    sub_scales: [__m256i; 2],
}

/// Reads the headers of the tile's current blocks.
///
/// # Safety
/// Every pointer addresses a whole block of `C` (or the zero block); rows in `present` a stored
/// one.
#[inline(always)]
pub(super) unsafe fn tile_head<C: Codec, P: TileRows>(p: &P, present: u32) -> TileHead {
    // SAFETY: register arithmetic.
    let lanes = unsafe { present_lanes(present) };
    let zero = _mm256_setzero_si256();
    let (sw, mw) = if C::F16_SCALES {
        // Every such block starts with its f16 scale (then, for q{b}a / q{b}ka, the f16 min) and
        // holds at least 4 bytes.
        // SAFETY: as above; the rest is register arithmetic.
        unsafe {
            let head = dword_per_row(p, 0);
            let low = _mm256_and_si256(head, _mm256_set1_epi32(0xFFFF));
            (
                f16_lanes_to_f32(low),
                f16_lanes_to_f32(_mm256_srli_epi32::<16>(head)),
            )
        }
    } else {
        // E8M0 exponents: the scalar decoding (a few integer operations per row).
        let mut sw = [0.0f32; ROWS];
        for (r, sw) in sw.iter_mut().enumerate() {
            // SAFETY: the block starts with its 1-byte header.
            *sw = unsafe { group_params::<C>(p.at(r, 0), 0).sw };
        }
        // SAFETY: `sw` is 8 floats.
        (unsafe { _mm256_loadu_ps(sw.as_ptr()) }, _mm256_setzero_ps())
    };
    let sub_scales = if C::FAMILY == family::SUPER {
        // A q{b}k block holds at least 3 header bytes and 8 plane bytes, so bytes 2..9 lie
        // inside it.
        // SAFETY: as above.
        unsafe { [dword_per_row(p, 2), dword_per_row(p, 5)] }
    } else {
        [zero; 2]
    };
    let keep = _mm256_castsi256_ps(lanes);
    TileHead {
        sw: _mm256_and_ps(sw, keep),
        mw: if C::FAMILY == family::AFFINE {
            _mm256_and_ps(mw, keep)
        } else {
            _mm256_setzero_ps()
        },
        present: lanes,
        sub_scales,
    }
}

/// Group `g`'s per-row min `mw` and integer multiplier (0 in absent lanes; unused unless
/// `HAS_MIN` / `HAS_MULT`).
///
/// # Safety
/// As [`tile_head`], which read `head` from the same blocks.
#[inline(always)]
pub(super) unsafe fn group_min_mult<C: Codec, P: TileRows>(
    p: &P,
    present: u32,
    head: &TileHead,
    g: usize,
) -> (__m256, __m256i) {
    match C::FAMILY {
        family::SUPER => {
            // Sub-scale g (stored + 32) is bits 6g..6g + 6 of the bit string from byte 2, i.e.
            // of the dword at byte 2 (g < 5) or at byte 5 (24 bits on).
            let (d, shift) = if g < 5 {
                (head.sub_scales[0], 6 * g)
            } else {
                (head.sub_scales[1], 6 * g - 24)
            };
            let v = _mm256_and_si256(
                _mm256_srl_epi32(d, _mm_cvtsi32_si128(shift as i32)),
                _mm256_set1_epi32(63),
            );
            let mult = _mm256_sub_epi32(v, _mm256_set1_epi32(32));
            (head.mw, _mm256_and_si256(mult, head.present))
        }
        family::SUPER_AFFINE => {
            let mut mw = [0.0f32; ROWS];
            let mut mult = [0i32; ROWS];
            for r in 0..ROWS {
                if present >> r & 1 == 1 {
                    // SAFETY: a stored block holds its whole header.
                    let gp = unsafe { group_params::<C>(p.at(r, 0), g) };
                    mw[r] = gp.mw;
                    mult[r] = gp.mult;
                }
            }
            // SAFETY: the arrays are 8 elements.
            unsafe {
                (
                    _mm256_loadu_ps(mw.as_ptr()),
                    _mm256_loadu_si256(mult.as_ptr().cast()),
                )
            }
        }
        _ => (head.mw, _mm256_set1_epi32(1)),
    }
}

/// The operands' magnitudes for [`group_dot`] (signed dot only; otherwise the operands as they
/// are, unused).
#[inline(always)]
unsafe fn magnitudes<C: Codec>(wt: &[__m256i; 8]) -> [__m256i; 8] {
    let mut wabs = *wt;
    if signed_dot::<C>() {
        for v in wabs.iter_mut() {
            *v = _mm256_abs_epi8(*v);
        }
    }
    wabs
}

/// `sum over the group of operand * x` per row lane, exact in i32: `wt` the group's operands (see
/// [`tile_codes`]), `wabs` their magnitudes (signed dot only), `x` the group's 32 activation codes.
///
/// # Safety
/// 32 readable bytes at `x`.
#[inline(always)]
unsafe fn group_dot<C: Codec>(wt: &[__m256i; 8], wabs: &[__m256i; 8], x: *const i8) -> __m256i {
    let chunk = i16_chunk::<C>();
    let ones = _mm256_set1_epi16(1);
    let mut isum = _mm256_setzero_si256();
    let mut part = _mm256_setzero_si256();
    for t in 0..8 {
        // SAFETY: 4t + 4 <= 32 readable bytes.
        let four = unsafe { x.add(4 * t).cast::<i32>().read_unaligned() };
        let xb = _mm256_set1_epi32(four);
        let p = if signed_dot::<C>() {
            // |s| as u8 (128 for -128) times x with the sign of s: s * x, pairs within i16.
            _mm256_maddubs_epi16(wabs[t], _mm256_sign_epi8(xb, wt[t]))
        } else {
            _mm256_maddubs_epi16(wt[t], xb)
        };
        part = if t % chunk == 0 {
            p
        } else {
            _mm256_add_epi16(part, p)
        };
        if t % chunk == chunk - 1 {
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(part, ones));
        }
    }
    isum
}

/// Encodings whose gemv dots each row's plane as stored ([`row_dots`]) instead of transposing it
/// first: one 4-bit plane per group (byte `i`: code `i` in the low nibble, code `i + 16` in the
/// high one), dotted unsigned.
const fn row_layout<C: Codec>() -> bool {
    C::BITS == 4 && C::FAMILY != family::SUPER_HALF && C::XOR == 0 && !signed_dot::<C>()
}

/// Per 128-bit lane: `[x0 + x2, y0 + y2, x1 + x3, y1 + y3]` (i32, exact).
#[inline(always)]
unsafe fn add_pairs(x: __m256i, y: __m256i) -> __m256i {
    _mm256_add_epi32(_mm256_unpacklo_epi32(x, y), _mm256_unpackhi_epi32(x, y))
}

/// The exact i32 sums `sum u * x` of group `g` of the 8 rows (lane `r` = row `r`), for
/// [`row_layout`] encodings, from the rows' planes as stored: two rows per ymm (rows `k` and `k +
/// 4`), low nibbles against activations 0..16 and high nibbles against 16..32 (`xlo` / `xhi`,
/// each in both 128-bit lanes), then a transpose-and-add tree of the partial sums. Against
/// [`tile_codes`] + [`group_dot`] this saves the 4x4 dword transposes and the 8 activation
/// broadcasts per group, for 3 more `vpmaddwd`.
///
/// # Safety
/// `row_layout::<C>()`; every `p.at(r, 0)` addresses a whole block of `C` holding group `g` (of
/// `groups`).
#[inline(always)]
unsafe fn row_dots<C: Codec, P: TileRows>(
    p: &P,
    groups: usize,
    g: usize,
    xlo: __m256i,
    xhi: __m256i,
) -> __m256i {
    let at = planes_at::<C>(groups, g);
    let nib = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    let mut d = [_mm256_setzero_si256(); 4];
    for (k, d) in d.iter_mut().enumerate() {
        // SAFETY: each block holds the group's 16 plane bytes at `at`.
        let z = unsafe { _mm256_loadu2_m128i(p.at(k + 4, at).cast(), p.at(k, at).cast()) };
        let mut lo = _mm256_and_si256(z, nib);
        let mut hi = _mm256_and_si256(_mm256_srli_epi16::<4>(z), nib);
        if let Some(lut) = C::LUT4 {
            // SAFETY: `lut` is 16 bytes.
            let table =
                _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(lut.as_ptr().cast()) });
            lo = _mm256_shuffle_epi8(table, lo);
            hi = _mm256_shuffle_epi8(table, hi);
        }
        // Four products per i16 (at most 4 * 24 * 127), then widened: 128-bit lane L holds four
        // partial sums of row k + 4L.
        let s = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo), _mm256_maddubs_epi16(hi, xhi));
        *d = _mm256_madd_epi16(s, ones);
    }
    // SAFETY (add_pairs): register arithmetic.
    let (b0, b1) = unsafe { (add_pairs(d[0], d[1]), add_pairs(d[2], d[3])) };
    // b0, lane L: rows 4L and 4L + 1, two partial sums each; b1 rows 4L + 2 and 4L + 3.
    _mm256_add_epi32(_mm256_unpacklo_epi64(b0, b1), _mm256_unpackhi_epi64(b0, b1))
}

/// The contract's float steps for one group and activation row: `isum` the dot from
/// [`group_dot`], `xsum` / `sx` the activations' sum and scale.
#[inline(always)]
pub(super) unsafe fn group_float_step<C: Codec>(
    acc: __m256,
    mut isum: __m256i,
    sw: __m256,
    mw: __m256,
    mult: __m256i,
    xsum: i32,
    sx: f32,
) -> __m256 {
    let corr = offset_correction::<C>();
    if corr != 0 {
        isum = _mm256_add_epi32(isum, _mm256_set1_epi32(corr.wrapping_mul(xsum)));
    }
    if C::HAS_MULT {
        isum = _mm256_mullo_epi32(isum, mult);
    }
    let sx = _mm256_set1_ps(sx);
    let mut acc = _mm256_fmadd_ps(_mm256_mul_ps(sw, sx), _mm256_cvtepi32_ps(isum), acc);
    if C::HAS_MIN {
        acc = _mm256_fmadd_ps(_mm256_mul_ps(mw, sx), _mm256_set1_ps(xsum as f32), acc);
    }
    acc
}

/// Group `j` of activation row `m` into that row's accumulator: [`group_dot`], then
/// [`group_float_step`].
///
/// # Safety
/// Row `m` of `xq` exists; `wt` / `wabs` from [`tile_codes`] of group `j`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn group_step<C: Codec>(
    xq: &QuantizedActivations,
    m: usize,
    j: usize,
    wt: &[__m256i; 8],
    wabs: &[__m256i; 8],
    head: &TileHead,
    mw: __m256,
    mult: __m256i,
    acc: __m256,
) -> __m256 {
    let x = xq.codes(m)[j * GROUP..j * GROUP + GROUP].as_ptr();
    // SAFETY: the slice holds the group's 32 codes; register arithmetic.
    unsafe {
        let isum = group_dot::<C>(wt, wabs, x);
        group_float_step::<C>(acc, isum, head.sw, mw, mult, xq.sums(m)[j], xq.scales(m)[j])
    }
}

/// Block `b` of the tile's rows (`present`: the rows storing it) into the accumulators: `acc1`
/// for one activation row, else `acc[m]` per row `m`.
///
/// # Safety
/// Every `p.at(r, 0)` addresses a whole block `b` of `C` (or the zero block); `acc` holds
/// `xq.m()` vectors when `xq.m() > 1`.
#[inline(always)]
unsafe fn tile_block<C: Codec, P: TileRows>(
    p: &P,
    present: u32,
    b: usize,
    xq: &QuantizedActivations,
    acc: &mut [__m256],
    acc1: &mut __m256,
) {
    let first = b * C::GROUPS_PER_BLOCK;
    let in_block = C::GROUPS_PER_BLOCK.min(xq.groups() - first);
    // SAFETY: every pointer addresses a stored block or the zero block.
    let head = unsafe { tile_head::<C, P>(p, present) };
    for g in 0..in_block {
        let j = first + g;
        // Absent lanes: scale 0 and multiplier 0 add exactly nothing (acc is never -0).
        // SAFETY: as above; the blocks hold `in_block` groups.
        let (wt, (mw, mult)) = unsafe {
            (
                tile_codes::<C, P>(p, in_block, g),
                group_min_mult::<C, P>(p, present, &head, g),
            )
        };
        // SAFETY: register arithmetic.
        let wabs = unsafe { magnitudes::<C>(&wt) };
        // (No closures here: they would not inherit AVX2, and the intrinsics in them would
        // stay calls.)
        if xq.m() == 1 {
            // SAFETY: one activation row of whole groups exists.
            *acc1 = unsafe { group_step::<C>(xq, 0, j, &wt, &wabs, &head, mw, mult, *acc1) };
        } else {
            for (m, acc) in acc.iter_mut().enumerate() {
                // SAFETY: activation row m of whole groups exists.
                *acc = unsafe { group_step::<C>(xq, m, j, &wt, &wabs, &head, mw, mult, *acc) };
            }
        }
    }
}

/// gemv over 8 dense rows from `row0`: [`tile_block`]'s work for one activation row, pipelined
/// by one group. Group j's float step runs after group j + 1's dot is issued, so the two groups'
/// dependency chains overlap: the loop is bound by latency more than by throughput.
///
/// # Safety
/// AVX2, FMA enabled by the caller; `w` is dense and holds rows `row0..row0 + 8`; `xq` has one
/// row and `w.k()` columns.
#[inline(always)]
unsafe fn gemv_tile_dense<C: Codec>(
    w: &WeightView,
    row0: usize,
    xq: &QuantizedActivations,
) -> __m256 {
    let groups = xq.groups();
    let blocks = TileCursor::<ROWS>::blocks_per_row(w);
    let (codes, sums, scales) = (xq.codes(0), xq.sums(0), xq.scales(0));
    let mut acc = _mm256_setzero_ps();
    // The next tile's rows (one contiguous stretch), prefetched into L2 as one sequential stream
    // spread evenly over this tile's groups: 8 interleaved row streams alone left q4 from DRAM
    // at two thirds of its in-cache rate.
    let block_bytes = C::HEADER + C::GROUPS_PER_BLOCK * C::GROUP_BYTES;
    let group_step = ROWS * block_bytes / C::GROUPS_PER_BLOCK;
    let group_lines = group_step.div_ceil(64);
    let mut next = w
        .bytes()
        .as_ptr()
        .wrapping_add(w.row_start(row0 + ROWS).min(w.bytes().len()));
    // Not for tensors that stay in L2 or L3 (`STREAM_ABOVE_BYTES`), nor for rows the hardware
    // streamer follows alone.
    let stream =
        w.bytes().len() > STREAM_ABOVE_BYTES && !cache::streamer_follows_rows(w.row_start(1));
    // Group j - 1, issued but not yet added (a plain value: in the AVX-512 gemv an `Option`
    // put such vectors on the stack).
    let mut pending = (
        _mm256_setzero_si256(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_set1_epi32(1),
        0,
    );
    for b in 0..blocks {
        // SAFETY: the tensor is dense and holds the tile's 8 rows; b < blocks.
        let p = unsafe { Strided::dense_block::<C>(w, row0, b) };
        let first = b * C::GROUPS_PER_BLOCK;
        let in_block = C::GROUPS_PER_BLOCK.min(groups - first);
        // SAFETY: block b of the 8 rows is stored inside the tensor.
        let head = unsafe { tile_head::<C, Strided>(&p, 0xFF) };
        for g in 0..in_block {
            let j = first + g;
            if stream {
                prefetch_lines(next, group_lines, PrefetchTo::L2);
                next = next.wrapping_add(group_step);
            }
            let x = codes[j * GROUP..j * GROUP + GROUP].as_ptr();
            // SAFETY: as above; the blocks hold `in_block` groups; group j's 32 codes exist.
            let isum = unsafe {
                if row_layout::<C>() {
                    let xlo = _mm256_broadcastsi128_si256(_mm_loadu_si128(x.cast()));
                    let xhi = _mm256_broadcastsi128_si256(_mm_loadu_si128(x.add(16).cast()));
                    row_dots::<C, Strided>(&p, in_block, g, xlo, xhi)
                } else {
                    let wt = tile_codes::<C, Strided>(&p, in_block, g);
                    group_dot::<C>(&wt, &magnitudes::<C>(&wt), x)
                }
            };
            if j > 0 {
                let (pi, psw, pmw, pmult, pj) = pending;
                // SAFETY: register arithmetic.
                acc = unsafe {
                    group_float_step::<C>(acc, pi, psw, pmw, pmult, sums[pj], scales[pj])
                };
            }
            // SAFETY: register arithmetic on the block's header.
            let (mw, mult) = unsafe { group_min_mult::<C, Strided>(&p, 0xFF, &head, g) };
            pending = (isum, head.sw, mw, mult, j);
        }
    }
    if groups > 0 {
        let (pi, psw, pmw, pmult, pj) = pending;
        // SAFETY: register arithmetic.
        acc = unsafe { group_float_step::<C>(acc, pi, psw, pmw, pmult, sums[pj], scales[pj]) };
    }
    acc
}

/// Integer-path rows `rows` of `w` against every activation row of `xq`, in tiles of 8 rows
/// (`out[m * rows.len() + i]`).
///
/// # Safety
/// AVX2, FMA enabled by the caller; `out.len() == xq.m() * rows.len()`, `xq.k() == w.k()`, rows
/// inside `w`.
#[inline(always)]
pub(super) unsafe fn int_rows_8_avx2<C: Codec>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let n = rows.len();
    let m_count = xq.m();
    let blocks = TileCursor::<ROWS>::blocks_per_row(w);
    let sparse = w.is_sparse();
    if super::avx2_int_gemm::takes::<C>(m_count) {
        // SAFETY: same contract as this function's.
        unsafe { super::avx2_int_gemm::int_gemm_rows::<C>(w, xq, rows, out) };
        return;
    }
    let mut acc = vec![_mm256_setzero_ps(); m_count];
    for tile in (0..n).step_by(ROWS) {
        let nr = ROWS.min(n - tile);
        let row0 = rows.start + tile;
        acc.fill(_mm256_setzero_ps());
        // gemv: the accumulator stays in a register.
        let mut acc1 = _mm256_setzero_ps();
        // Pipelined gemv for the `q{b}` family only, where it measured a gain (Zen 4, tier
        // avx2, medians of 5, GOPS): in L2 q4 60 -> 63-66, q8 43 -> 45; from DRAM q4 34 -> 40,
        // q8 26 -> 28. For q4k and mxfp4 it measured 1-7% slower (in L2 and from DRAM), about
        // as much as code layout alone moved them.
        if !sparse && nr == ROWS && m_count == 1 && (C::FAMILY == family::SYM || row_layout::<C>())
        {
            // SAFETY: as below.
            acc1 = unsafe { gemv_tile_dense::<C>(w, row0, xq) };
        } else if !sparse && nr == ROWS {
            for b in 0..blocks {
                // SAFETY: the tensor is dense and holds the tile's 8 rows; b < blocks.
                let p = unsafe { Strided::dense_block::<C>(w, row0, b) };
                // SAFETY: block b of the 8 rows is stored inside the tensor.
                unsafe { tile_block::<C, Strided>(&p, 0xFF, b, xq, &mut acc, &mut acc1) };
            }
        } else {
            let mut cursor = TileCursor::<ROWS>::new(w, row0, nr);
            let mut ptrs = [ZERO_BLOCK.as_ptr(); ROWS];
            for b in 0..blocks {
                if sparse {
                    // Absent rows keep their last pointer otherwise: read zeros instead.
                    ptrs.fill(ZERO_BLOCK.as_ptr());
                }
                let present = cursor.next_block(w, b, &mut ptrs);
                if present == 0 {
                    continue; // no row of the tile stores this block: skip it
                }
                // SAFETY: every pointer addresses a stored block or the zero block.
                unsafe { tile_block::<C, _>(&ptrs, present, b, xq, &mut acc, &mut acc1) };
            }
        }
        if m_count == 1 {
            acc[0] = acc1;
        }
        for (m, acc) in acc.iter().enumerate() {
            let mut lanes = [0.0f32; ROWS];
            // SAFETY: `lanes` is 8 floats.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *acc) };
            out[m * n + tile..m * n + tile + nr].copy_from_slice(&lanes[..nr]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)]
    fn f16_bits_convert_like_half() {
        // (Every AVX2 CPU seen has F16C; the tier requires both.)
        if !is_x86_feature_detected!("avx2") || !is_x86_feature_detected!("f16c") {
            return;
        }
        #[target_feature(enable = "avx2,f16c")]
        unsafe fn convert(bits: &[i32; 8], f16c: bool) -> [f32; 8] {
            let mut out = [0.0f32; 8];
            // SAFETY: 8-element arrays; AVX2 and F16C are enabled.
            unsafe {
                let h = _mm256_loadu_si256(bits.as_ptr().cast());
                let v = if f16c {
                    f16_lanes_to_f32(h)
                } else {
                    f16_bits_to_f32(h)
                };
                _mm256_storeu_ps(out.as_mut_ptr(), v);
            }
            out
        }
        for base in (0..0x10000).step_by(8) {
            let bits: [i32; 8] = std::array::from_fn(|i| base + i as i32);
            for with_f16c in [false, true] {
                // SAFETY: AVX2 and F16C were detected.
                let got = unsafe { convert(&bits, with_f16c) };
                for (b, g) in bits.iter().zip(got) {
                    let want = half::f16::from_bits(*b as u16).to_f32();
                    assert_eq!(g.to_bits(), want.to_bits(), "f16 {b:#06x} f16c={with_f16c}");
                }
            }
        }
    }
}

//! AVX-512 tiers (F/BW/VL/DQ, with or without VNNI).
//!
//! Integer path: 16 output rows per tile, one zmm lane per row. Each group's 16 x 32 codes are
//! transposed once into 8 zmm (lane r = 4 consecutive codes of row r), then every activation row
//! broadcasts 4 codes at a time into `vpdpbusd` (or two `vpmaddwd` without VNNI), so the exact i32
//! group sums land one per lane with no horizontal reduction, and the per-group float step is
//! one vector fma for all 16 rows, in the contract's order. Dense gemv and small batches (M up to
//! 4) skip the transposition instead: each group's codes are multiplied as loaded and the i32
//! partial sums are transposed and added (`gemv_dense_tile`, `gemv_rows_tile`).
//!
//! Float path: lane = k mod 16 as the contract defines, then the fixed reduction tree. Dense
//! weights with M >= 4: the activation rows are cut into panels, and per panel each 8-row weight
//! tile is decoded chunk by chunk of K into an f32 buffer that every 3-activation-row block runs
//! over (8 x 3 zmm accumulators; panel, tiles and chunk sizes per CPU, see `DecodedPlan`);
//! otherwise 4 rows x 4 activation rows, decoding per block of activation rows.

use std::arch::x86_64::*;
use std::ops::Range;

use tessera_format::GROUP;

use super::cache;
use super::planes::{half_mapped, stored_codes};
use super::prefetch::{prefetch_lines, PrefetchTo, SpreadL2, STREAM_ABOVE_BYTES};
use super::rows::{Strided16, TileRows};

#[path = "avx512_int_gemm.rs"]
mod int_gemm;
use crate::codec::{
    family, group_len, group_params, planes_at, with_codec, Codec, GroupParams, FP4_DOUBLED,
};
use crate::tile::TileCursor;
use crate::{QuantizedActivations, WeightView};

/// A block of zeros at least as long as any group's header and planes: lanes of absent rows
/// read it.
static ZERO_BLOCK: [u8; 512] = [0; 512];

const INT_ROWS: usize = 16;
/// How far ahead in each weight row gemv prefetches (general loop: into L1 from DRAM).
const PREFETCH_BYTES: usize = 768;
/// Dense gemv tiles above this size have partly left L1 again when their groups are reached.
const GEMV_L1_TILE_BYTES: usize = 48 << 10;
/// Dense gemv on tiles larger than L1: how far ahead of use each row is prefetched.
const GEMV_ROW_PREFETCH: usize = 256;
const FLOAT_ROWS: usize = 4;
const FLOAT_ACTS: usize = 4;
/// Decoded float path (dense, M >= FLOAT_ACTS): weight rows x activation rows of zmm
/// accumulators.
const DECODED_ROWS: usize = 8;
const DECODED_ACTS: usize = 3;
/// How many groups ahead the decoded float tile prefetches its activation block.
const X_PREFETCH_GROUPS: usize = 4;
/// Activation rows up to which a dense tensor's whole tiles take [`gemv_rows_tile`]. Zen 4, q4 /
/// q8 / q4k / mxfp4 at 4096 x 4096, GOPS, transposing loop -> this kernel: M = 2 71 -> 123, 64
/// -> 120, 100 -> 123, 76 -> 127; M = 4 108 -> 165, 106 -> 129, 200 -> 191, 129 -> 168; from
/// M = 5 the transposing loop is faster (q4 168 vs 158, q4k 191 vs 150).
const SMALL_BATCH: usize = 4;

/// Integer-path rows with `vpdpbusd`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/DQ, VNNI, AVX2, FMA, F16C; shapes checked by the caller
/// (`out.len() == xq.m() * rows.len()`, `xq.k() == w.k()`, rows inside `w`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn int_rows_vnni(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { int_rows_vnni_for::<C>(w, xq, rows, out) })
}

/// [`int_rows_vnni`] for one encoding. One function per encoding, not one for all: with every
/// encoding's kernels in one function, their register allocation and inlining depend on each
/// other (Zen 4, in L2: q8 gemv 87 GOPS there, 94 here; q4k 103 vs 106).
///
/// # Safety
/// As [`int_rows_vnni`].
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")]
unsafe fn int_rows_vnni_for<C: Codec>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    unsafe { int_rows::<C, true>(w, xq, rows, out) }
}

/// Integer-path rows with AMX tiles from `int_gemm::amx::MIN_ACT_ROWS` (32) activation rows,
/// else as [`int_rows_vnni`].
///
/// # Safety
/// As [`int_rows_vnni`], and `amx::is_usable()` (AMX-TILE, AMX-INT8, granted by the OS).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn int_rows_amx(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { int_rows_amx_for::<C>(w, xq, rows, out) })
}

/// [`int_rows_amx`] for one encoding (see [`int_rows_vnni_for`]).
///
/// # Safety
/// As [`int_rows_amx`].
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")]
unsafe fn int_rows_amx_for<C: Codec>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY (both): same contract as this function's.
    if xq.m() >= int_gemm::amx::MIN_ACT_ROWS {
        unsafe { int_gemm::amx::int_gemm_rows::<C>(w, xq, rows, out) }
    } else {
        unsafe { int_rows::<C, true>(w, xq, rows, out) }
    }
}

/// Integer-path rows with `vpmaddwd` (AVX-512 without VNNI).
///
/// # Safety
/// As [`int_rows_vnni`], without the VNNI requirement.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
pub(crate) unsafe fn int_rows_plain(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { int_rows_plain_for::<C>(w, xq, rows, out) })
}

/// [`int_rows_plain`] for one encoding (see [`int_rows_vnni_for`]).
///
/// # Safety
/// As [`int_rows_plain`].
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
unsafe fn int_rows_plain_for<C: Codec>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: same contract as this function's.
    unsafe { int_rows::<C, false>(w, xq, rows, out) }
}

/// Float-path rows: `out[m][n] = dot(w[n], x[m])` with 16 lane accumulators.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ, AVX2, FMA, F16C; `x.len() == m * w.k()`, `out.len() == m * rows.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
pub(crate) unsafe fn float_rows(
    w: &WeightView,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let plan = DecodedPlan::for_this_cpu(w.k(), m);
    // SAFETY: same contract as this function's.
    unsafe { float_rows_planned(w, x, m, rows, out, &plan) }
}

/// [`float_rows`] with the decoded path cut as `plan` says (tests run every plan).
///
/// # Safety
/// As [`float_rows`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
unsafe fn float_rows_planned(
    w: &WeightView,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    out: &mut [f32],
    plan: &DecodedPlan,
) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { float_rows_impl::<C>(w, x, m, rows, out, plan) })
}

/// Decodes `rows` to f32 into `out` (`rows.len() * k`).
///
/// # Safety
/// AVX-512 F/BW/VL/DQ, AVX2, FMA, F16C; `out.len() == rows.len() * w.k()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
pub(crate) unsafe fn dequant_rows(w: &WeightView, rows: Range<usize>, out: &mut [f32]) {
    // SAFETY: same contract as this function's.
    with_codec!(w.encoding(), C => unsafe { dequant_rows_impl::<C>(w, rows, out) })
}

/// `acc + sum of the 4 u8 x s8 products` in every i32 lane.
#[inline(always)]
unsafe fn dot4<const VNNI: bool>(acc: __m512i, w: __m512i, x: __m512i) -> __m512i {
    if VNNI {
        _mm512_dpbusd_epi32(acc, w, x)
    } else {
        // Exact: split both into even and odd bytes as i16 (weights zero-, activations
        // sign-extended), then vpmaddwd sums pairs into i32.
        let w_even = _mm512_and_si512(w, _mm512_set1_epi16(0x00FF));
        let w_odd = _mm512_srli_epi16::<8>(w);
        let x_even = _mm512_srai_epi16::<8>(_mm512_slli_epi16::<8>(x));
        let x_odd = _mm512_srai_epi16::<8>(x);
        let s = _mm512_add_epi32(
            _mm512_madd_epi16(w_even, x_even),
            _mm512_madd_epi16(w_odd, x_odd),
        );
        _mm512_add_epi32(acc, s)
    }
}

/// The quantized activations re-laid group-major for the m-block loop: for group `j`, the codes of
/// rows `0..m` are contiguous (`(j * m + row) * 32`), then per (group, row) the scale, the offset
/// correction `OFFSET * xsum` and `xsum` as f32.
struct Acts {
    codes: Vec<i8>,
    scales: Vec<f32>,
    offset_sums: Vec<i32>,
    sums_f32: Vec<f32>,
    m: usize,
}

impl Acts {
    fn new(xq: &QuantizedActivations, offset: i32) -> Self {
        let (m, groups) = (xq.m(), xq.groups());
        let mut a = Acts {
            codes: vec![0; m * groups * GROUP],
            scales: vec![0.0; m * groups],
            offset_sums: vec![0; m * groups],
            sums_f32: vec![0.0; m * groups],
            m,
        };
        for row in 0..m {
            for (j, chunk) in xq.codes(row).chunks_exact(GROUP).enumerate() {
                let at = j * m + row;
                a.codes[at * GROUP..(at + 1) * GROUP].copy_from_slice(chunk);
                a.scales[at] = xq.scales(row)[j];
                a.offset_sums[at] = offset * xq.sums(row)[j];
                a.sums_f32[at] = xq.sums(row)[j] as f32;
            }
        }
        a
    }
}

/// Per-group weight data of one 16-row tile: transposed codes and per-row scale vectors.
struct TileGroup {
    wt: [__m512i; 8],
    sw: __m512,
    mw: __m512,
    mult: __m512i,
}

/// Four rows' 16 bytes at `off` in one zmm: 128-bit lane `L` holds row `a + 4L`. Two rows per
/// ymm, then the two halves: on Zen 4 (256-bit datapath) two 256-bit inserts and one 512-bit one
/// cost less than three 512-bit `vinserti32x4` (q4 gemv in L2 85 -> 92 GOPS, medians of 5).
#[inline(always)]
unsafe fn load_4_rows<P: TileRows>(p: &P, a: usize, off: usize) -> __m512i {
    // No closures around intrinsics: a closure does not inherit `#[target_feature]`, so when it
    // is not inlined its intrinsics stay calls (q8 gemv fell to 5 GOPS that way).
    // SAFETY: the caller guarantees 16 readable bytes at each `p.at(r, off)`.
    unsafe {
        let low = _mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(_mm_loadu_si128(p.at(a, off).cast())),
            _mm_loadu_si128(p.at(a + 4, off).cast()),
        );
        let high = _mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(_mm_loadu_si128(p.at(a + 8, off).cast())),
            _mm_loadu_si128(p.at(a + 12, off).cast()),
        );
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low), high)
    }
}

/// 16 rows' 16 bytes at `off` -> 4 zmm, zmm `s` lane `r` = dword `s` of row `r`.
#[inline(always)]
unsafe fn dwords_16x4<P: TileRows>(p: &P, off: usize) -> [__m512i; 4] {
    // SAFETY: as `load_4_rows`.
    let z = unsafe {
        [
            load_4_rows(p, 0, off),
            load_4_rows(p, 1, off),
            load_4_rows(p, 2, off),
            load_4_rows(p, 3, off),
        ]
    };
    // A 4x4 dword transpose inside every 128-bit lane; lane L dword a is then row a + 4L.
    let t0 = _mm512_unpacklo_epi32(z[0], z[1]);
    let t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    let t2 = _mm512_unpacklo_epi32(z[2], z[3]);
    let t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    [
        _mm512_unpacklo_epi64(t0, t2),
        _mm512_unpackhi_epi64(t0, t2),
        _mm512_unpacklo_epi64(t1, t3),
        _mm512_unpackhi_epi64(t1, t3),
    ]
}

/// One u32 per row read at `off` (unaligned), as a zmm with lane `r` = row `r`.
#[inline(always)]
unsafe fn dword_per_row<P: TileRows>(p: &P, off: usize) -> __m512i {
    // SAFETY: the caller guarantees 4 readable bytes at each `p.at(r, off)`.
    let d: [u32; INT_ROWS] =
        std::array::from_fn(|r| unsafe { p.at(r, off).cast::<u32>().read_unaligned() });
    // SAFETY: `d` is 16 u32.
    unsafe { _mm512_loadu_si512(d.as_ptr().cast()) }
}

/// The codes of group `g` of 16 rows (whose blocks hold `groups` groups), read straight into the
/// dot layout: zmm `c` lane `r` holds
/// codes `4c..4c+4` of row `r`. Each plane width lands there with shifts and masks only (its byte
/// `i` / bit positions already sit in the right dword), so no transposition of unpacked codes is
/// needed.
#[inline(always)]
unsafe fn tile_codes<C: Codec, P: TileRows>(p: &P, groups: usize, g: usize) -> [__m512i; 8] {
    let at = planes_at::<C>(groups, g);
    let mut wt = [_mm512_setzero_si512(); 8];
    // SAFETY (all plane reads): each block holds this group's GROUP_BYTES plane bytes at `at`.
    if C::BITS == 8 {
        let lo = unsafe { dwords_16x4(p, at) };
        let hi = unsafe { dwords_16x4(p, at + 16) };
        wt = [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]];
    } else {
        let mut off = at;
        let mut shift = 0;
        if C::BITS >= 4 {
            // Byte i holds code i (low nibble) and code i + 16 (high nibble).
            let d = unsafe { dwords_16x4(p, off) };
            let nib = _mm512_set1_epi8(0x0F);
            for s in 0..4 {
                wt[s] = _mm512_and_si512(d[s], nib);
                wt[s + 4] = _mm512_and_si512(_mm512_srli_epi32::<4>(d[s]), nib);
            }
            off += 16;
            shift = 4;
        }
        if C::BITS & 2 != 0 {
            // Byte i holds code i + 8t in bits 2t..2t+2: dword s, shifted by 2t, is chunk 2t + s.
            let d = unsafe { [dword_per_row(p, off), dword_per_row(p, off + 4)] };
            let two = _mm512_set1_epi8(3);
            for t in 0..4 {
                for (s, d) in d.iter().enumerate() {
                    let part = _mm512_and_si512(
                        _mm512_srl_epi32(*d, _mm_cvtsi32_si128(2 * t as i32)),
                        two,
                    );
                    wt[2 * t + s] = _mm512_or_si512(
                        wt[2 * t + s],
                        _mm512_sll_epi32(part, _mm_cvtsi32_si128(shift)),
                    );
                }
            }
            off += 8;
            shift += 2;
        }
        if C::BITS & 1 != 0 {
            // Bit i is code i: chunk c's 4 bits spread to the 4 bytes by a multiply.
            let d = unsafe { dword_per_row(p, off) };
            for (c, w) in wt.iter_mut().enumerate() {
                let four = _mm512_and_si512(
                    _mm512_srl_epi32(d, _mm_cvtsi32_si128(4 * c as i32)),
                    _mm512_set1_epi32(0xF),
                );
                let spread = _mm512_and_si512(
                    _mm512_mullo_epi32(four, _mm512_set1_epi32(0x0020_4081)),
                    _mm512_set1_epi32(0x0101_0101),
                );
                *w = _mm512_or_si512(*w, _mm512_sll_epi32(spread, _mm_cvtsi32_si128(shift)));
            }
        }
    }
    if C::XOR != 0 {
        for w in wt.iter_mut() {
            *w = _mm512_xor_si512(*w, _mm512_set1_epi8(C::XOR as i8));
        }
    }
    if let Some(lut) = C::LUT4 {
        // SAFETY: `lut` is 16 bytes.
        let table = _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(lut.as_ptr().cast()) });
        for w in wt.iter_mut() {
            *w = _mm512_shuffle_epi8(table, *w);
        }
    }
    if C::FAMILY == family::SUPER_HALF {
        // Per row: zmm 0..4 hold half 0, 4..8 half 1; lane code = sc * u + 128 - k * mn, the
        // whole dword times sc (codes < 8, sc < 16: no byte carries). The sub-field bytes are the
        // group's last two, read as the top of the dword ending there.
        // SAFETY: the dwords lie inside each row's block (header byte 2; the group's bytes).
        let (head, fields) = unsafe {
            (
                dword_per_row(p, 0),
                dword_per_row(p, at + C::GROUP_BYTES - 4),
            )
        };
        let k = _mm512_add_epi32(
            _mm512_and_si512(_mm512_srli_epi32::<16>(head), _mm512_set1_epi32(7)),
            _mm512_set1_epi32(1),
        );
        let nibble = |shift: u32| {
            _mm512_and_si512(
                _mm512_srl_epi32(fields, _mm_cvtsi32_si128(shift as i32)),
                _mm512_set1_epi32(15),
            )
        };
        for h in 0..2 {
            let sc = nibble(16 + 4 * h as u32);
            let add = _mm512_sub_epi32(
                _mm512_set1_epi32(128),
                _mm512_mullo_epi32(k, nibble(24 + 4 * h as u32)),
            );
            let add4 = _mm512_mullo_epi32(add, _mm512_set1_epi32(0x0101_0101));
            for w in &mut wt[4 * h..4 * h + 4] {
                *w = _mm512_add_epi8(_mm512_mullo_epi32(*w, sc), add4);
            }
        }
    }
    wt
}

/// The block headers of 16 rows, read once per storage block: the scale vector, the affine min
/// (or `f32(dmin)` for `q{b}ka`), and the raw 6-bit fields of the super-block families. Lanes not
/// in `present` get scale and min 0.
struct TileHead {
    sw: __m512,
    mw: __m512,
    /// `q{b}k`: dwords at bytes 2 and 5 (the sub-scale bit string). `q{b}ka`: dwords at 4, 6
    /// (sub-scales) and 10, 12 (sub-mins).
    fields: [__m512i; 4],
    /// Groups in these blocks (8, or fewer in a row's short last super-block).
    groups: usize,
}

/// Reads the headers of the 16 rows' current blocks, which hold `groups` groups each.
#[inline(always)]
unsafe fn tile_head<C: Codec, P: TileRows>(p: &P, present: u32, groups: usize) -> TileHead {
    let lanes = present as __mmask16;
    let zero = _mm512_setzero_si512();
    // SAFETY (header reads): every block starts with its HEADER bytes.
    let head = unsafe { dword_per_row(p, 0) };
    if C::F16_SCALES {
        let sw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(head));
        let mw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(head)));
        // SAFETY: q{b}ka headers hold 16 bytes; a q{b}k block holds at least 3 header bytes and
        // 8 plane bytes, so bytes 2..9 lie inside it.
        let fields = unsafe {
            match C::FAMILY {
                family::SUPER => [dword_per_row(p, 2), dword_per_row(p, 5), zero, zero],
                family::SUPER_AFFINE => [
                    dword_per_row(p, 4),
                    dword_per_row(p, 6),
                    dword_per_row(p, 10),
                    dword_per_row(p, 12),
                ],
                _ => [zero; 4],
            }
        };
        TileHead {
            sw: _mm512_maskz_mov_ps(lanes, sw),
            mw: _mm512_maskz_mov_ps(lanes, mw),
            fields,
            groups,
        }
    } else {
        // E8M0: 2^(e - 127 - shift); normal when e - shift >= 1, else a subnormal power of two;
        // 0xFF is NaN.
        let shift = match C::FAMILY {
            family::MX_INT8 => 6,
            family::MX_FP4 => 1,
            _ => 0,
        };
        let e = _mm512_and_si512(head, _mm512_set1_epi32(0xFF));
        let v = _mm512_sub_epi32(e, _mm512_set1_epi32(shift));
        let normal = _mm512_slli_epi32::<23>(v);
        let sub = _mm512_sllv_epi32(
            _mm512_set1_epi32(1),
            _mm512_add_epi32(v, _mm512_set1_epi32(22)),
        );
        let is_normal = _mm512_cmpgt_epi32_mask(v, _mm512_setzero_si512());
        let bits = _mm512_mask_blend_epi32(is_normal, sub, normal);
        let is_nan = _mm512_cmpeq_epi32_mask(e, _mm512_set1_epi32(0xFF));
        let bits = _mm512_mask_blend_epi32(is_nan, bits, _mm512_set1_epi32(0x7FC0_0000));
        TileHead {
            sw: _mm512_maskz_mov_ps(lanes, _mm512_castsi512_ps(bits)),
            mw: _mm512_setzero_ps(),
            fields: [zero; 4],
            groups,
        }
    }
}

/// Value `g` of a 6-bit field (the sub-scale packing of SPEC.md: low 4 bits in byte g % 4, nibble
/// g / 4; high 2 bits at bits 2g..2g+2 of the u16 at byte 4 of the field), from the dwords at the
/// field's bytes 0..4 (`low4`) and 2..6 (`high2`).
#[inline(always)]
unsafe fn six_bit(low4: __m512i, high2: __m512i, g: usize) -> __m512i {
    let low = _mm512_and_si512(
        _mm512_srl_epi32(low4, _mm_cvtsi32_si128((8 * (g % 4) + 4 * (g / 4)) as i32)),
        _mm512_set1_epi32(15),
    );
    let high = _mm512_and_si512(
        _mm512_srl_epi32(high2, _mm_cvtsi32_si128((16 + 2 * g) as i32)),
        _mm512_set1_epi32(3),
    );
    _mm512_or_si512(low, _mm512_slli_epi32::<4>(high))
}

/// Group `g`'s codes and scales from the tile's block pointers and header.
#[inline(always)]
unsafe fn tile_group<C: Codec, P: TileRows>(p: &P, head: &TileHead, g: usize) -> TileGroup {
    // SAFETY: as `tile_codes`.
    let wt = unsafe { tile_codes::<C, P>(p, head.groups, g) };
    // SAFETY: register arithmetic only.
    let (mw, mult) = unsafe { group_min_mult::<C>(head, g) };
    TileGroup {
        wt,
        sw: head.sw,
        mw,
        mult,
    }
}

/// Group `g`'s min vector and integer multiplier from the tile's block headers.
#[inline(always)]
unsafe fn group_min_mult<C: Codec>(head: &TileHead, g: usize) -> (__m512, __m512i) {
    // SAFETY (six_bit calls): register arithmetic only.
    match C::FAMILY {
        // c'[g] - 32, bits 6g..6g + 6 of the field from byte 2: in the dword at byte 2 for g < 5,
        // else in the one at byte 5 (absent lanes have sw = 0, so their multiplier does not
        // matter).
        family::SUPER => {
            let (dword, shift) = if g < 5 {
                (head.fields[0], 6 * g)
            } else {
                (head.fields[1], 6 * g - 24)
            };
            let stored = _mm512_and_si512(
                _mm512_srl_epi32(dword, _mm_cvtsi32_si128(shift as i32)),
                _mm512_set1_epi32(63),
            );
            (head.mw, _mm512_sub_epi32(stored, _mm512_set1_epi32(32)))
        }
        // mw = -(dmin * mn[g]) (exact product, sign flipped exactly), mult = sc[g].
        family::SUPER_AFFINE => {
            let mn = _mm512_cvtepi32_ps(unsafe { six_bit(head.fields[2], head.fields[3], g) });
            let neg = _mm512_xor_ps(_mm512_mul_ps(head.mw, mn), _mm512_set1_ps(-0.0));
            (neg, unsafe { six_bit(head.fields[0], head.fields[1], g) })
        }
        _ => (head.mw, _mm512_set1_epi32(1)),
    }
}

/// Accumulates group `j` of the tile into `acc[0..MB]` for activation rows `m0..m0 + MB`.
/// Integer sums: one `vpdpbusd` chain per activation row (two for MB = 1, to halve the latency
/// chain); then the contract's per-group float step.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `a` indexes both the activation rows and the chains
unsafe fn m_block<C: Codec, const VNNI: bool, const MB: usize>(
    tg: &TileGroup,
    x: &Acts,
    j: usize,
    m0: usize,
    acc: &mut [__m512],
) {
    let chains = if MB == 1 { 2 } else { 1 };
    let first = j * x.m + m0;
    // SAFETY (all reads below): rows m0..m0+MB of group j exist in the group-major arrays.
    let codes = unsafe { x.codes.as_ptr().add(first * GROUP) };
    let mut isum = [[_mm512_setzero_si512(); MB]; 2];
    for t in 0..8 {
        for a in 0..MB {
            let four = unsafe { codes.add(a * GROUP + 4 * t).cast::<i32>().read_unaligned() };
            let c = t % chains;
            isum[c][a] = unsafe { dot4::<VNNI>(isum[c][a], tg.wt[t], _mm512_set1_epi32(four)) };
        }
    }
    for a in 0..MB {
        let s = if chains == 2 {
            _mm512_add_epi32(isum[0][a], isum[1][a])
        } else {
            isum[0][a]
        };
        // SAFETY: (group, row) `first + a` exists.
        unsafe { float_step::<C>(s, tg.sw, tg.mw, tg.mult, x, first + a, &mut acc[a]) };
    }
}

/// The contract's per-group float step for 16 rows, from the lane sums `s` of `u * xq` (codes
/// still offset): `isum = (s - OFFSET * xsum) * mult`, then `acc = fma(sw * sx, isum, acc)` and,
/// for affine families, `acc = fma(mw * sx, xsum, acc)`.
///
/// # Safety
/// `at` (= group * m + activation row) indexes the group-major activation arrays.
#[inline(always)]
unsafe fn float_step<C: Codec>(
    mut s: __m512i,
    sw: __m512,
    mw: __m512,
    mult: __m512i,
    x: &Acts,
    at: usize,
    acc: &mut __m512,
) {
    // SAFETY (all reads): the caller guarantees `at` is in range.
    if C::OFFSET != 0 {
        s = _mm512_sub_epi32(
            s,
            _mm512_set1_epi32(unsafe { *x.offset_sums.get_unchecked(at) }),
        );
    }
    let (sx, xs) = unsafe { (*x.scales.get_unchecked(at), *x.sums_f32.get_unchecked(at)) };
    *acc = unsafe { group_step_for::<C>(s, (sw, mult, mw), sx, xs, *acc) };
}

/// The contract's float step of one group for one activation row (`sx`, `xsum`) and 16 weight
/// rows, from their exact i32 sums `s` (offset already removed) and the rows' `(sw, mult, mw)`:
/// `acc = fma(sw * sx, f32(s * mult), acc)`, then with `MIN` `acc = fma(mw * sx, xsum, acc)`.
/// One definition for every AVX-512 integer kernel (gemv, the VNNI and AMX gemms), whose bits
/// must agree.
///
/// # Safety
/// AVX-512 F/DQ.
#[inline(always)]
pub(super) unsafe fn group_step<const MULT: bool, const MIN: bool>(
    s: __m512i,
    (sw, mult, mw): (__m512, __m512i, __m512),
    sx: f32,
    xsum: f32,
    acc: __m512,
) -> __m512 {
    let s = if MULT { _mm512_mullo_epi32(s, mult) } else { s };
    let sx = _mm512_set1_ps(sx);
    let acc = _mm512_fmadd_ps(_mm512_mul_ps(sw, sx), _mm512_cvtepi32_ps(s), acc);
    if MIN {
        _mm512_fmadd_ps(_mm512_mul_ps(mw, sx), _mm512_set1_ps(xsum), acc)
    } else {
        acc
    }
}

/// [`group_step`] for family `C`.
///
/// # Safety
/// AVX-512 F/DQ.
#[inline(always)]
pub(super) unsafe fn group_step_for<C: Codec>(
    s: __m512i,
    scales: (__m512, __m512i, __m512),
    sx: f32,
    xsum: f32,
    acc: __m512,
) -> __m512 {
    // SAFETY (every arm): the caller's contract.
    unsafe {
        match (C::HAS_MULT, C::HAS_MIN) {
            (false, false) => group_step::<false, false>(s, scales, sx, xsum, acc),
            (true, false) => group_step::<true, false>(s, scales, sx, xsum, acc),
            (false, true) => group_step::<false, true>(s, scales, sx, xsum, acc),
            (true, true) => group_step::<true, true>(s, scales, sx, xsum, acc),
        }
    }
}

/// Per 128-bit lane: `[x0 + x2, y0 + y2, x1 + x3, y1 + y3]` (i32, exact).
#[inline(always)]
unsafe fn add_pairs(x: __m512i, y: __m512i) -> __m512i {
    _mm512_add_epi32(_mm512_unpacklo_epi32(x, y), _mm512_unpackhi_epi32(x, y))
}

/// One gemv group's codes for 16 dense rows, as loaded for [`gemv_dots`]: 4-bit codes in zmm
/// 0..4 (zmm `k`, 128-bit lane `L`: the 16 plane bytes of row `k + 4L`), 8-bit codes in zmm 0..8
/// (zmm `i`: the 32 code bytes of rows `i` and `i + 8`).
type GemvCodes = [__m512i; 8];

/// The partial products of one gemv group, reduced to row sums by [`sum_rows`].
type GemvDots = [__m512i; 8];

/// Encodings whose gemv uses [`gemv_load`] / [`gemv_dots`] / [`sum_rows`]: one 4-bit plane
/// (no XOR), or 8-bit codes without an integer sub-scale.
const fn gemv_direct<C: Codec>() -> bool {
    (C::BITS == 4 && C::XOR == 0) || (C::BITS == 8 && !C::HAS_MULT)
}

/// Loads the codes of the group whose plane is at `at` in each of the 16 rows' current block.
///
/// # Safety
/// `gemv_direct::<C>()`; each row's block holds the group's plane (16 or 32 bytes) at `at`.
#[inline(always)]
unsafe fn gemv_load<C: Codec>(p: &Strided16, at: usize) -> GemvCodes {
    let mut z = [_mm512_setzero_si512(); 8];
    if C::BITS == 4 {
        for (k, z) in z.iter_mut().take(4).enumerate() {
            // SAFETY: 16 readable plane bytes in rows k, k + 4, k + 8, k + 12.
            *z = unsafe { load_4_rows(p, k, at) };
        }
    } else {
        for (i, z) in z.iter_mut().enumerate() {
            // SAFETY: 32 readable code bytes in rows i and i + 8.
            *z = unsafe {
                _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(_mm256_loadu_si256(p.at(i, at).cast())),
                    _mm256_loadu_si256(p.at(i + 8, at).cast()),
                )
            };
        }
    }
    z
}

/// One group's lane codes `u` from its loaded codes ([`gemv_load`]), ready for [`gemv_dots`]:
/// - 4-bit: zmm `k` (k < 4) the low nibbles, zmm `k + 4` the high nibbles of loaded zmm `k`
///   (through [`Codec::LUT4`] if any).
/// - 8-bit: the loaded codes (XOR [`Codec::XOR`]).
///
/// Computed once per group however many activation rows use it.
#[inline(always)]
unsafe fn gemv_lanes<C: Codec>(z: &GemvCodes) -> GemvCodes {
    let mut u = *z;
    if C::BITS == 4 {
        let nib = _mm512_set1_epi8(0x0F);
        for k in 0..4 {
            u[k] = _mm512_and_si512(z[k], nib);
            u[k + 4] = _mm512_and_si512(_mm512_srli_epi32::<4>(z[k]), nib);
        }
        if let Some(lut) = C::LUT4 {
            // SAFETY: `lut` is 16 bytes.
            let t = _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(lut.as_ptr().cast()) });
            for u in u.iter_mut() {
                *u = _mm512_shuffle_epi8(t, *u);
            }
        }
    } else if C::XOR != 0 {
        for u in u.iter_mut() {
            *u = _mm512_xor_si512(*u, _mm512_set1_epi8(C::XOR as i8));
        }
    }
    u
}

/// The partial products `u * xq` of one group's lane codes (from [`gemv_lanes`]) against its 32
/// activation codes at `xc`, without transposing the codes:
/// - 4-bit: per loaded zmm `k`, low nibbles against activations 0..16 and high nibbles against
///   16..32 (each broadcast to every 128-bit lane): dword `d` of zmm `k` is a partial of row
///   `k + 4 (d / 4)`.
/// - 8-bit: per zmm, the 32 codes against the 32 activations (broadcast to both halves): dword
///   `d` of zmm `i` is a partial of row `i` (d < 8) or `i + 8`.
///
/// # Safety
/// `gemv_direct::<C>()`; `xc` points at 32 readable activation codes.
#[inline(always)]
unsafe fn gemv_dots<C: Codec, const VNNI: bool>(u: &GemvCodes, xc: *const i8) -> GemvDots {
    let mut a = [_mm512_setzero_si512(); 8];
    if C::BITS == 4 {
        // SAFETY: 32 readable activation bytes.
        let (xlo, xhi) = unsafe {
            (
                _mm512_broadcast_i32x4(_mm_loadu_si128(xc.cast())),
                _mm512_broadcast_i32x4(_mm_loadu_si128(xc.add(16).cast())),
            )
        };
        for k in 0..4 {
            // SAFETY: register arithmetic.
            a[k] = unsafe {
                dot4::<VNNI>(
                    dot4::<VNNI>(_mm512_setzero_si512(), u[k], xlo),
                    u[k + 4],
                    xhi,
                )
            };
        }
    } else {
        // SAFETY: 32 readable activation bytes.
        let xv = _mm512_broadcast_i64x4(unsafe { _mm256_loadu_si256(xc.cast()) });
        for (a, u) in a.iter_mut().zip(u) {
            // SAFETY: register arithmetic.
            *a = unsafe { dot4::<VNNI>(_mm512_setzero_si512(), *u, xv) };
        }
    }
    a
}

/// The 16 row sums (lane `r` = row `r`) of [`gemv_dots`]' partial products: an exact i32
/// transpose-and-add tree (6 shuffles for 4-bit codes, 14 for 8-bit) instead of transposing the
/// codes before the products.
#[inline(always)]
unsafe fn sum_rows<C: Codec>(a: &GemvDots) -> __m512i {
    // SAFETY (add_pairs): register arithmetic.
    if C::BITS == 4 {
        let (b0, b1) = unsafe { (add_pairs(a[0], a[1]), add_pairs(a[2], a[3])) };
        // b0 128-bit lane L: rows 4L, 4L + 1, two partial sums each; b1 rows 4L + 2, 4L + 3.
        return _mm512_add_epi32(_mm512_unpacklo_epi64(b0, b1), _mm512_unpackhi_epi64(b0, b1));
    }
    // a[i] dword d: row i (d < 8) or i + 8 (d >= 8), partial d % 8.
    let b = unsafe {
        [
            add_pairs(a[0], a[1]),
            add_pairs(a[2], a[3]),
            add_pairs(a[4], a[5]),
            add_pairs(a[6], a[7]),
        ]
    };
    // b[k] 128-bit lane: rows 2k, 2k + 1 (or + 8), two partials each. c0's 128-bit lanes: rows
    // 0-3 (sum of partials 0-3), rows 0-3 (4-7), rows 8-11 (0-3), rows 8-11 (4-7); c1 the same
    // for rows 4-7 and 12-15.
    let c0 = _mm512_add_epi32(
        _mm512_unpacklo_epi64(b[0], b[1]),
        _mm512_unpackhi_epi64(b[0], b[1]),
    );
    let c1 = _mm512_add_epi32(
        _mm512_unpacklo_epi64(b[2], b[3]),
        _mm512_unpackhi_epi64(b[2], b[3]),
    );
    let lo = _mm512_permutex2var_epi64(c0, _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), c1);
    let hi = _mm512_permutex2var_epi64(c0, _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15), c1);
    _mm512_add_epi32(lo, hi)
}

/// A gemv group in flight: its products (`Dots`, from [`gemv_dots`]) or its row sums (`__m512i`,
/// from [`sum_rows`]), with its block's scale, min and sub-scale, not yet added to the output.
#[derive(Clone, Copy)]
struct InFlight<T> {
    part: T,
    sw: __m512,
    mw: __m512,
    mult: __m512i,
    j: usize,
}

impl<T: Copy> InFlight<T> {
    /// Group 0 with nothing computed (each stage is only read once a group has filled it).
    #[inline(always)]
    fn empty(part: T) -> Self {
        // SAFETY: register zeroing.
        let (zf, zi) = unsafe { (_mm512_setzero_ps(), _mm512_setzero_si512()) };
        InFlight {
            part,
            sw: zf,
            mw: zf,
            mult: zi,
            j: 0,
        }
    }
}

impl InFlight<GemvDots> {
    /// The row sums of the group's products.
    #[inline(always)]
    unsafe fn reduce<C: Codec>(&self) -> InFlight<__m512i> {
        InFlight {
            // SAFETY: register arithmetic.
            part: unsafe { sum_rows::<C>(&self.part) },
            sw: self.sw,
            mw: self.mw,
            mult: self.mult,
            j: self.j,
        }
    }
}

impl InFlight<__m512i> {
    /// Adds the group into `acc` by the contract's float step.
    ///
    /// # Safety
    /// Group `self.j` of the one activation row exists.
    #[inline(always)]
    unsafe fn finish<C: Codec>(&self, x: &Acts, acc: &mut __m512) {
        // SAFETY: the caller guarantees group `j`.
        unsafe { float_step::<C>(self.part, self.sw, self.mw, self.mult, x, self.j, acc) };
    }
}

/// Where gemv streams the next tile while one runs (`None`: nowhere, the hardware prefetchers
/// follow the rows), for a dense tensor whose 16-row tiles hold `tile_bytes`.
fn gemv_stream_to(w: &WeightView, tile_bytes: usize) -> Option<PrefetchTo> {
    let row_prefetch = tile_bytes > GEMV_L1_TILE_BYTES;
    // AMD: with a 48 KB L1 (Zen 5) into L1, measured best there; with a 32 KB L1 (Zen 4) a tile
    // ahead into L1 evicts the lines about to be used (q4 from DRAM 9.5 GB/s), into L2 it runs
    // 17 GB/s and q4k 10 -> 21. Intel (Xeon, family 6 model 167, 48 KB L1): a non-temporal
    // prefetch skips L2, and q4 from DRAM fell to 4.3 GB/s, q8 in L3 to 26 GOPS; into L2 q4 ran
    // 10.9 GB/s, q4k 13. Rows of a page or more are each one page stream, which Intel's L2
    // streamer follows better alone than beside software prefetches (these hold a line fill
    // buffer each): q8 at K = 4096 12.8 -> 14.0 GB/s (the measured read rate), q4 at K = 16384
    // 10.7 -> 16.3, q8 in L3 62 -> 70 GOPS; with shorter rows alone it fell (q4 10.9 -> 7.2).
    // Tensors that stay in L2 or L3 are not streamed (`STREAM_ABOVE_BYTES`).
    if cache::is_intel() {
        let streamed = !cache::streamer_follows_rows(tile_bytes / INT_ROWS);
        (streamed && w.bytes().len() > STREAM_ABOVE_BYTES).then_some(PrefetchTo::L2)
    } else if cache::l1d_bytes() < 48 << 10 {
        Some(PrefetchTo::L2)
    } else if row_prefetch {
        Some(PrefetchTo::L1)
    } else {
        Some(PrefetchTo::L1NonTemporal)
    }
}

/// [`gemv_stream_to`] as a const parameter of [`gemv_dense_tile`], so the choice costs its loop
/// nothing (a run-time choice there took ~15 of the ~155 instructions of a q4 group on Zen 4).
const fn stream_code(to: Option<PrefetchTo>) -> u8 {
    match to {
        None => 0,
        Some(PrefetchTo::L1) => 1,
        Some(PrefetchTo::L1NonTemporal) => 2,
        Some(PrefetchTo::L2) => 3,
    }
}

/// The inverse of [`stream_code`].
const fn stream_of(code: u8) -> Option<PrefetchTo> {
    match code {
        1 => Some(PrefetchTo::L1),
        2 => Some(PrefetchTo::L1NonTemporal),
        3 => Some(PrefetchTo::L2),
        _ => None,
    }
}

/// The stretch of the tensor after a 16-row dense tile (the next tile's bytes), prefetched evenly
/// over the tile's groups: each group takes the tile bytes one group holds (a compile-time count
/// of lines, so no loop and no clamp: a prefetch past the tensor reads nothing). A per-group loop
/// over a computed count cost q4 gemv in cache ~30 instructions per group.
struct TileStream {
    next: *const u8,
    group_step: usize,
    group_lines: usize,
}

impl TileStream {
    /// For the tile of dense rows `row0..row0 + 16` of `w`.
    #[inline(always)]
    fn new<C: Codec>(w: &WeightView, row0: usize) -> Self {
        let block_bytes = C::HEADER + C::GROUPS_PER_BLOCK * C::GROUP_BYTES;
        let group_step = INT_ROWS * block_bytes / C::GROUPS_PER_BLOCK;
        let end = w.row_start(row0 + INT_ROWS).min(w.bytes().len());
        TileStream {
            // `wrapping_add` forms no reference.
            next: w.bytes().as_ptr().wrapping_add(end),
            group_step,
            group_lines: group_step.div_ceil(64),
        }
    }

    /// Prefetches one group's share into `to`.
    #[inline(always)]
    fn step(&mut self, to: PrefetchTo) {
        prefetch_lines(self.next, self.group_lines, to);
        self.next = self.next.wrapping_add(self.group_step);
    }
}

/// gemv (one activation row) on 16 consecutive rows `row0..row0 + 16` of a dense tensor, into
/// `out[0..16]`. Block `b` of row `r` is at a fixed stride (`row0 + r` times the row bytes, plus
/// `b` times the block bytes: only a row's last block can be short), so no per-row cursor is
/// kept and each block header is read once.
///
/// Memory: the 16 rows of a tile are one contiguous stretch of the tensor, read as 16 interleaved
/// streams. While a tile runs, the next tile's stretch is prefetched as one sequential stream
/// spread evenly over the groups (per-row prefetches alone, or none, left q4 at half the DRAM
/// rate: 16 streams outran the hardware prefetchers). Where that stretch goes is `STREAM`,
/// [`stream_code`] of [`gemv_stream_to`] for this tensor, chosen once per call by the caller.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ (+ VNNI if `VNNI`); `w` dense with at least `row0 + 16` rows; `x` holds one
/// activation row of `w.k()` elements.
#[inline(always)]
unsafe fn gemv_dense_tile<C: Codec, const VNNI: bool, const STREAM: u8>(
    w: &WeightView,
    x: &Acts,
    row0: usize,
    out: &mut [f32],
) {
    let blocks = TileCursor::<INT_ROWS>::blocks_per_row(w);
    let groups = w.k().div_ceil(GROUP);
    let block_bytes = C::HEADER + C::GROUPS_PER_BLOCK * C::GROUP_BYTES;
    let tile_bytes = w.row_start(row0 + INT_ROWS) - w.row_start(row0);
    // A tile larger than L1 (8-bit codes at K = 4096: 70 KB) has partly left L1 again when its
    // groups are reached: then each row's block is also prefetched a few lines ahead, once per
    // block (inside the group loop, this cost q4k in cache 15%: its registers and branch stayed
    // in the loop even where it never ran).
    let row_prefetch = tile_bytes > GEMV_L1_TILE_BYTES;
    let stream_to = stream_of(STREAM);
    let row_lines = block_bytes.div_ceil(64);
    let mut next = TileStream::new::<C>(w, row0);
    let mut acc = _mm512_setzero_ps();
    // SAFETY: the 16 rows exist and are dense.
    let mut ptrs = unsafe { Strided16::dense_rows(w, row0) };
    // Prefetches each row's current block a few lines ahead (see `row_prefetch`).
    let prefetch_rows = |ptrs: &Strided16| {
        for r in 0..INT_ROWS {
            // SAFETY: byte 0 of row r's current block is inside the tensor.
            let at = unsafe { ptrs.at(r, 0) };
            prefetch_lines(
                at.wrapping_add(GEMV_ROW_PREFETCH),
                row_lines,
                PrefetchTo::L1,
            );
        }
    };
    if gemv_direct::<C>() {
        // Software-pipelined, since the loop is bound by latency more than by throughput (the
        // FP scheduler holds about one group's instructions): group j + 1's codes (4-bit) and
        // block header are loaded before group j's products are issued; group j's row sums
        // follow in iteration j + 1 and its float step in j + 2. Zen 4, medians of 5, GOPS, one
        // stage deferred: in L2 q4 100 -> 112, q4k 108 -> 114, mxfp4 83 -> 91, q8 96 -> 95
        // (noise); from DRAM q4 87 -> 106, mxfp4 76 -> 89, q8 49 -> 57. The float step a
        // further group later: in L2 q4 112 -> 115, q4k and q8 +1, mxfp4 91 -> 93.
        let mut in_block = C::GROUPS_PER_BLOCK.min(groups);
        let mut g = 0;
        if row_prefetch {
            prefetch_rows(&ptrs);
        }
        // SAFETY: block 0 of every row is stored and holds `in_block` groups.
        let mut head = unsafe { tile_head::<C, _>(&ptrs, u16::MAX as u32, in_block) };
        // Blocks of one group: every group starts a block, at a fixed offset.
        let one = C::GROUPS_PER_BLOCK == 1;
        let plane = |in_block: usize, g: usize| {
            if one {
                planes_at::<C>(1, 0)
            } else {
                planes_at::<C>(in_block, g)
            }
        };
        // 4-bit codes are loaded a group ahead; 8-bit ones (8 zmm) are not: their registers
        // would spill (q8 99 -> 93 GOPS).
        let ahead = C::BITS == 4;
        let mut codes = [_mm512_setzero_si512(); 8];
        if ahead {
            // SAFETY: as above, and group 0's plane is at `plane`.
            codes = unsafe { gemv_load::<C>(&ptrs, plane(in_block, 0)) };
        }
        // Groups j - 1 (products issued) and j - 2 (row sums done) in iteration j: plain values
        // (an `Option` put their vectors on the stack, q4 112 -> 64 GOPS).
        let mut issued = InFlight::empty([_mm512_setzero_si512(); 8]);
        let mut summed = InFlight::empty(_mm512_setzero_si512());
        for j in 0..groups {
            // The next tile's lines for this group (spread over the groups: a block's worth at
            // once overran the miss buffers and halved q4k from DRAM).
            if let Some(to) = stream_to {
                next.step(to);
            }
            let this = if ahead {
                codes
            } else {
                // SAFETY: group j's plane lies in the rows' current block.
                unsafe { gemv_load::<C>(&ptrs, plane(in_block, g)) }
            };
            // SAFETY: register arithmetic.
            let (mw, mult) = unsafe { group_min_mult::<C>(&head, g) };
            let sw = head.sw;
            if j + 1 < groups {
                g += 1;
                if one || g == in_block {
                    ptrs.next_block(block_bytes);
                    g = 0;
                    in_block = C::GROUPS_PER_BLOCK.min(groups - (j + 1));
                    if row_prefetch {
                        prefetch_rows(&ptrs);
                    }
                    // SAFETY: group j + 1 starts the rows' next block, which is stored.
                    head = unsafe { tile_head::<C, _>(&ptrs, u16::MAX as u32, in_block) };
                }
                if ahead {
                    // SAFETY: group j + 1's plane lies in the rows' current block.
                    codes = unsafe { gemv_load::<C>(&ptrs, plane(in_block, g)) };
                }
            }
            // SAFETY: group j's activation codes exist (one row, group-major).
            let dots = unsafe {
                gemv_dots::<C, VNNI>(&gemv_lanes::<C>(&this), x.codes.as_ptr().add(j * GROUP))
            };
            if j > 1 {
                // SAFETY: group j - 2 exists.
                unsafe { summed.finish::<C>(x, &mut acc) };
            }
            if j > 0 {
                // SAFETY: register arithmetic.
                summed = unsafe { issued.reduce::<C>() };
            }
            issued = InFlight {
                part: dots,
                sw,
                mw,
                mult,
                j,
            };
        }
        // SAFETY (drain): groups `groups - 2` and `groups - 1` exist where these run.
        if groups > 1 {
            unsafe { summed.finish::<C>(x, &mut acc) };
        }
        if groups > 0 {
            unsafe { issued.reduce::<C>().finish::<C>(x, &mut acc) };
        }
    } else {
        for b in 0..blocks {
            if b > 0 {
                ptrs.next_block(block_bytes);
            }
            let first = b * C::GROUPS_PER_BLOCK;
            let in_block = C::GROUPS_PER_BLOCK.min(groups - first);
            // SAFETY: every row's block `b` is stored.
            let head = unsafe { tile_head::<C, _>(&ptrs, u16::MAX as u32, in_block) };
            if row_prefetch {
                prefetch_rows(&ptrs);
            }
            for g in 0..in_block {
                if let Some(to) = stream_to {
                    next.step(to);
                }
                // SAFETY: every row's block holds group g; one activation row exists.
                unsafe {
                    let tg = tile_group::<C, _>(&ptrs, &head, g);
                    m_block::<C, VNNI, 1>(&tg, x, first + g, 0, std::slice::from_mut(&mut acc));
                }
            }
        }
    }
    // SAFETY: `out` has 16 elements.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), acc) };
}

/// [`gemv_dense_tile`] for a small batch: all `MR` activation rows (2 to [`SMALL_BATCH`]) at
/// once. Each group's codes are loaded and unpacked once and multiplied by every row's
/// activations without transposing them, so a batch of 2 to 4 costs far less than as many gemvs
/// (the transposing loop of [`int_rows`] ran q4 at M = 2 slower than two gemvs). Writes columns
/// `col..col + 16` of every row of `out` (`MR x n`). The next tile is streamed to `stream_to` as
/// in gemv (here a run-time choice: this loop is longer, so the branch costs less).
///
/// # Safety
/// As [`gemv_dense_tile`]; `gemv_direct::<C>()`; `x.m == MR`; `out` is `MR x n` with
/// `col + 16 <= n`.
#[inline(always)]
unsafe fn gemv_rows_tile<C: Codec, const VNNI: bool, const MR: usize>(
    w: &WeightView,
    x: &Acts,
    row0: usize,
    stream_to: Option<PrefetchTo>,
    out: &mut [f32],
    n: usize,
    col: usize,
) {
    let groups = w.k().div_ceil(GROUP);
    let block_bytes = C::HEADER + C::GROUPS_PER_BLOCK * C::GROUP_BYTES;
    let mut next = TileStream::new::<C>(w, row0);
    // SAFETY: the 16 rows exist and are dense.
    let mut ptrs = unsafe { Strided16::dense_rows(w, row0) };
    let mut acc = [_mm512_setzero_ps(); MR];
    let mut in_block = C::GROUPS_PER_BLOCK.min(groups);
    let mut g = 0;
    // SAFETY: block 0 of every row is stored and holds `in_block` groups.
    let mut head = unsafe { tile_head::<C, _>(&ptrs, u16::MAX as u32, in_block) };
    for j in 0..groups {
        if let Some(to) = stream_to {
            next.step(to);
        }
        // SAFETY: group j's plane lies in the rows' current block.
        let lanes = unsafe { gemv_lanes::<C>(&gemv_load::<C>(&ptrs, planes_at::<C>(in_block, g))) };
        // SAFETY: register arithmetic.
        let (mw, mult) = unsafe { group_min_mult::<C>(&head, g) };
        let sw = head.sw;
        for (a, acc) in acc.iter_mut().enumerate() {
            let at = j * MR + a;
            // SAFETY: (group j, row a) exists in the group-major activations.
            unsafe {
                let dots = gemv_dots::<C, VNNI>(&lanes, x.codes.as_ptr().add(at * GROUP));
                float_step::<C>(sum_rows::<C>(&dots), sw, mw, mult, x, at, acc);
            }
        }
        if j + 1 < groups {
            g += 1;
            if g == in_block {
                ptrs.next_block(block_bytes);
                g = 0;
                in_block = C::GROUPS_PER_BLOCK.min(groups - (j + 1));
                // SAFETY: group j + 1 starts the rows' next block, which is stored.
                head = unsafe { tile_head::<C, _>(&ptrs, u16::MAX as u32, in_block) };
            }
        }
    }
    for (a, acc) in acc.iter().enumerate() {
        let at = a * n + col;
        // SAFETY: `out` holds row a's 16 outputs from `col`.
        unsafe { _mm512_storeu_ps(out[at..at + INT_ROWS].as_mut_ptr(), *acc) };
    }
}

#[inline(always)]
unsafe fn int_rows<C: Codec, const VNNI: bool>(
    w: &WeightView,
    xq: &QuantizedActivations,
    rows: Range<usize>,
    out: &mut [f32],
) {
    if xq.m() >= int_gemm::MIN_ACT_ROWS {
        // SAFETY: same contract as this function's.
        unsafe { int_gemm::int_gemm_rows::<C, VNNI>(w, xq, rows, out) };
        return;
    }
    let n = rows.len();
    let m_count = xq.m();
    let groups = xq.groups();
    let blocks = TileCursor::<INT_ROWS>::blocks_per_row(w);
    let x = Acts::new(xq, C::OFFSET);
    let mut start = 0;
    let small_batch = (2..=SMALL_BATCH).contains(&m_count) && gemv_direct::<C>();
    if (m_count == 1 || small_batch) && !w.is_sparse() {
        // gemv, or a small batch, on a dense tensor: whole 16-row tiles take the strided kernels
        // (the small batch's for all its activation rows at once), the rest the general loop
        // below.
        start = n / INT_ROWS * INT_ROWS;
        macro_rules! tiles {
            ($to:expr) => {
                for tile in (0..start).step_by(INT_ROWS) {
                    // SAFETY: rows `rows.start + tile ..+ 16` exist; `out` holds `n` outputs.
                    unsafe {
                        gemv_dense_tile::<C, VNNI, { stream_code($to) }>(
                            w,
                            &x,
                            rows.start + tile,
                            &mut out[tile..tile + INT_ROWS],
                        )
                    };
                }
            };
        }
        if start > 0 {
            // Dense rows are all as long, so every tile holds as many bytes as the first.
            let tile_bytes = w.row_start(rows.start + INT_ROWS) - w.row_start(rows.start);
            let to = gemv_stream_to(w, tile_bytes);
            #[cfg(test)]
            let to = tests::STREAM_OVERRIDE.with(|o| o.get()).unwrap_or(to);
            if small_batch {
                for tile in (0..start).step_by(INT_ROWS) {
                    let row0 = rows.start + tile;
                    // SAFETY (each arm): rows row0..row0 + 16 exist and are dense; `m_count`
                    // activation rows exist; `out` is m_count x n.
                    unsafe {
                        match m_count {
                            2 => gemv_rows_tile::<C, VNNI, 2>(w, &x, row0, to, out, n, tile),
                            3 => gemv_rows_tile::<C, VNNI, 3>(w, &x, row0, to, out, n, tile),
                            _ => gemv_rows_tile::<C, VNNI, 4>(w, &x, row0, to, out, n, tile),
                        }
                    }
                }
            } else {
                match to {
                    None => tiles!(None),
                    Some(PrefetchTo::L1) => tiles!(Some(PrefetchTo::L1)),
                    Some(PrefetchTo::L1NonTemporal) => tiles!(Some(PrefetchTo::L1NonTemporal)),
                    Some(PrefetchTo::L2) => tiles!(Some(PrefetchTo::L2)),
                }
            }
        }
    }
    let mut acc = vec![_mm512_setzero_ps(); m_count];
    for tile in (start..n).step_by(INT_ROWS) {
        let nr = INT_ROWS.min(n - tile);
        let mut cursor = TileCursor::<INT_ROWS>::new(w, rows.start + tile, nr);
        let mut ptrs = [ZERO_BLOCK.as_ptr(); INT_ROWS];
        acc.fill(_mm512_setzero_ps());
        let mut acc1 = _mm512_setzero_ps();
        for b in 0..blocks {
            if w.is_sparse() {
                ptrs.fill(ZERO_BLOCK.as_ptr());
            }
            let present = cursor.next_block(w, b, &mut ptrs);
            if present == 0 {
                continue; // no row of the tile stores this block: skip it
            }
            if m_count <= 4 {
                // gemv streams 16 rows at once; fetch each row well ahead of use (a hint only:
                // prefetching past the buffer never faults).
                for p in ptrs.iter().take(nr) {
                    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PREFETCH_BYTES).cast());
                }
            }
            let first = b * C::GROUPS_PER_BLOCK;
            let in_block = C::GROUPS_PER_BLOCK.min(groups - first);
            // SAFETY: as below.
            let head = unsafe { tile_head::<C, _>(&ptrs, present, in_block) };
            for g in 0..in_block {
                let j = first + g;
                // SAFETY: every pointer addresses a stored block (or the zero block for absent
                // lanes, which `present` masks out).
                let tg = unsafe { tile_group::<C, _>(&ptrs, &head, g) };
                if m_count == 1 {
                    // gemv: the accumulator stays in a register.
                    // SAFETY: one row of activations exists.
                    unsafe {
                        m_block::<C, VNNI, 1>(&tg, &x, j, 0, std::slice::from_mut(&mut acc1))
                    };
                    continue;
                }
                let mut m0 = 0;
                // SAFETY (m_block calls): m0 + MB <= m_count rows of activations exist.
                while m0 + 8 <= m_count {
                    unsafe { m_block::<C, VNNI, 8>(&tg, &x, j, m0, &mut acc[m0..m0 + 8]) };
                    m0 += 8;
                }
                while m0 + 4 <= m_count {
                    unsafe { m_block::<C, VNNI, 4>(&tg, &x, j, m0, &mut acc[m0..m0 + 4]) };
                    m0 += 4;
                }
                while m0 < m_count {
                    unsafe { m_block::<C, VNNI, 1>(&tg, &x, j, m0, &mut acc[m0..m0 + 1]) };
                    m0 += 1;
                }
            }
        }
        if m_count == 1 {
            acc[0] = acc1;
        }
        let mask: __mmask16 = ((1u32 << nr) - 1) as u16;
        for (m, acc) in acc.iter().enumerate() {
            let dst = &mut out[m * n + tile..m * n + tile + nr];
            // SAFETY: `dst` has `nr` elements and the mask covers exactly `nr` lanes.
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask, *acc) };
        }
    }
}

/// Group `g`'s 32 weights of the row whose block (raw: 32-element chunk) starts at `block` and
/// holds `groups` groups, decoded to f32 in two zmm (elements 0..16, 16..32); lanes at or past
/// `valid` are
/// -0 (times the +0 activation padding that is -0, the one product an fma adds to any accumulator without changing it).
#[inline(always)]
unsafe fn decode_group<C: Codec>(
    block: *const u8,
    g: usize,
    groups: usize,
    valid: usize,
) -> [__m512; 2] {
    let mask = |half: usize| -> __mmask16 {
        let n = valid.saturating_sub(16 * half).min(16);
        ((1u32 << n) - 1) as u16
    };
    if C::FAMILY == family::RAW {
        // SAFETY: `valid` elements of the raw type are readable at `block`.
        return unsafe { decode_raw::<C>(block, valid) };
    }
    // SAFETY: the block holds the header and the group's planes.
    let (u, p) = unsafe {
        (
            half_mapped::<C>(
                stored_codes::<C>(block.add(planes_at::<C>(groups, g))),
                block,
                g,
            ),
            group_params::<C>(block, g),
        )
    };
    let codes = [
        _mm512_cvtepu8_epi32(_mm256_castsi256_si128(u)),
        _mm512_cvtepu8_epi32(_mm256_extracti128_si256::<1>(u)),
    ];
    let values = if C::BITS <= 4 && C::FAMILY != family::SUPER_HALF {
        // Codes below 16 index a table of the group's 16 possible values, made once by the
        // same lane arithmetic: 2 permutes instead of the arithmetic twice (for q4 the table is
        // a constant times the scale). Same bits, lane by lane.
        // SAFETY: ALL_CODES_4 is 16 i32; then register arithmetic.
        let table =
            unsafe { code_values::<C>(_mm512_loadu_si512(ALL_CODES_4.as_ptr().cast()), &p) };
        [
            _mm512_permutexvar_ps(codes[0], table),
            _mm512_permutexvar_ps(codes[1], table),
        ]
    } else {
        // SAFETY: register arithmetic.
        unsafe {
            [
                code_values::<C>(codes[0], &p),
                code_values::<C>(codes[1], &p),
            ]
        }
    };
    [
        _mm512_mask_mov_ps(_mm512_set1_ps(-0.0), mask(0), values[0]),
        _mm512_mask_mov_ps(_mm512_set1_ps(-0.0), mask(1), values[1]),
    ]
}

/// The 16 codes of 4 bits, one per i32 lane.
static ALL_CODES_4: [i32; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// The f32 weights of 16 lane codes (one per i32 lane) of a group with parameters `p`: the
/// family's arithmetic of the reference's decode, lane by lane.
#[inline(always)]
unsafe fn code_values<C: Codec>(codes: __m512i, p: &GroupParams) -> __m512 {
    let sw = _mm512_set1_ps(p.sw);
    match C::FAMILY {
        // SAFETY: register arithmetic.
        family::MX_FLOAT => _mm512_mul_ps(unsafe { mx_float_values::<C>(codes) }, sw),
        family::MX_FP4 => {
            // SAFETY: FP4_DOUBLED is 16 floats.
            let table = unsafe { _mm512_loadu_ps(FP4_DOUBLED.as_ptr()) };
            _mm512_mul_ps(_mm512_permutexvar_ps(codes, table), sw)
        }
        family::MX_INT8 => {
            let signed = _mm512_srai_epi32::<24>(_mm512_slli_epi32::<24>(codes));
            _mm512_mul_ps(_mm512_cvtepi32_ps(signed), sw)
        }
        family::AFFINE | family::SUPER_AFFINE => {
            let mut v = codes;
            if C::HAS_MULT {
                v = _mm512_mullo_epi32(v, _mm512_set1_epi32(p.mult));
            }
            _mm512_fmadd_ps(sw, _mm512_cvtepi32_ps(v), _mm512_set1_ps(p.mw))
        }
        _ => {
            let mut q = _mm512_sub_epi32(codes, _mm512_set1_epi32(C::OFFSET));
            if C::FAMILY == family::SUPER {
                q = _mm512_mullo_epi32(q, _mm512_set1_epi32(p.mult));
            }
            _mm512_mul_ps(_mm512_cvtepi32_ps(q), sw)
        }
    }
}

/// Exact f32 values of 16 MXFP8 / MXFP6 element codes (one per i32 lane). Each minifloat is
/// re-biased into f16 bits (its exponent and mantissa fields slid into f16's), widened by
/// `vcvtph2ps` and scaled by the exact power of two that fixes the bias; E5M2 is the top byte of
/// an f16 as is. E4M3's NaN codes (magnitude 0x7F) are patched in.
#[inline(always)]
unsafe fn mx_float_values<C: Codec>(codes: __m512i) -> __m512 {
    use tessera_format::MxType;
    // (magnitude mask, shift of the magnitude into f16 position, sign bit, 2^bias fix)
    let (mag_mask, shift, sign_bit, fix) = match C::MX {
        MxType::Fp8E5M2 => (0x7F, 8, 7, 1.0f32),
        MxType::Fp8E4M3 => (0x7F, 7, 7, 256.0),
        MxType::Fp6E3M2 => (0x1F, 8, 5, 4096.0),
        _ => (0x1F, 7, 5, 16384.0),
    };
    let mag = _mm512_and_si512(codes, _mm512_set1_epi32(mag_mask));
    let sign = _mm512_slli_epi32::<15>(_mm512_and_si512(
        _mm512_srlv_epi32(codes, _mm512_set1_epi32(sign_bit)),
        _mm512_set1_epi32(1),
    ));
    let half = _mm512_or_si512(_mm512_sllv_epi32(mag, _mm512_set1_epi32(shift)), sign);
    let v = _mm512_mul_ps(
        _mm512_cvtph_ps(_mm512_cvtepi32_epi16(half)),
        _mm512_set1_ps(fix),
    );
    if C::MX == MxType::Fp8E4M3 {
        let nan = _mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x7F));
        return _mm512_mask_blend_ps(nan, v, _mm512_set1_ps(f32::NAN));
    }
    v
}

/// Raw elements `0..valid` (<= 32) at `p`, widened to f32; lanes past `valid` are -0 (see
/// [`decode_group`]).
#[inline(always)]
unsafe fn decode_raw<C: Codec>(p: *const u8, valid: usize) -> [__m512; 2] {
    use tessera_format::RawType;
    let size = C::RAW.size();
    let mut out = [_mm512_setzero_ps(); 2];
    if valid == GROUP && matches!(C::RAW, RawType::F32 | RawType::F16 | RawType::BF16) {
        for (h, o) in out.iter_mut().enumerate() {
            // SAFETY: 32 whole elements are readable at `p`.
            let at = unsafe { p.add(16 * h * size) };
            *o = unsafe {
                match C::RAW {
                    RawType::F32 => _mm512_loadu_ps(at.cast()),
                    RawType::F16 => _mm512_cvtph_ps(_mm256_loadu_si256(at.cast())),
                    _ => _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(
                        _mm256_loadu_si256(at.cast()),
                    ))),
                }
            };
        }
        return out;
    }
    let mut buf = [-0.0f32; GROUP];
    // SAFETY: `valid` elements of `size` bytes are readable at `p`.
    let bytes = unsafe { std::slice::from_raw_parts(p, valid * size) };
    crate::codec::decode_raw_scalar(C::RAW, bytes, &mut buf[..valid]);
    // SAFETY: `buf` is 32 floats.
    unsafe {
        [
            _mm512_loadu_ps(buf.as_ptr()),
            _mm512_loadu_ps(buf.as_ptr().add(16)),
        ]
    }
}

/// The contract's fixed tree over 16 lanes: halves added for h = 8, 4, 2, 1.
#[inline(always)]
unsafe fn reduce16(a: __m512) -> f32 {
    let a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps::<1>(a));
    let a4 = _mm_add_ps(_mm256_castps256_ps128(a8), _mm256_extractf128_ps::<1>(a8));
    let a2 = _mm_add_ps(a4, _mm_movehl_ps(a4, a4));
    let a1 = _mm_add_ss(a2, _mm_shuffle_ps::<1>(a2, a2));
    _mm_cvtss_f32(a1)
}

#[inline(always)]
unsafe fn float_rows_impl<C: Codec>(
    w: &WeightView,
    x: &[f32],
    m_count: usize,
    rows: Range<usize>,
    out: &mut [f32],
    plan: &DecodedPlan,
) {
    if !w.is_sparse() && m_count >= FLOAT_ACTS {
        // SAFETY: same contract as this function's.
        unsafe { float_rows_decoded::<C>(w, x, m_count, rows, out, plan) };
        return;
    }
    let n = rows.len();
    for tile in (0..n).step_by(FLOAT_ROWS) {
        let nr = FLOAT_ROWS.min(n - tile);
        let mut m0 = 0;
        // SAFETY (both calls): rows m0..m0 + NA of `x` exist.
        while m0 + FLOAT_ACTS <= m_count {
            unsafe { float_tile::<C, FLOAT_ACTS>(w, x, rows.start + tile, nr, m0, n, tile, out) };
            m0 += FLOAT_ACTS;
        }
        while m0 < m_count {
            unsafe { float_tile::<C, 1>(w, x, rows.start + tile, nr, m0, n, tile, out) };
            m0 += 1;
        }
    }
}

/// Dense weights, several activation rows. The activation rows are cut into panels; each
/// panel is copied chunk-major ([`pack_panel`]: chunk of groups, then block of `DECODED_ACTS`
/// rows, group, row, half; zero past K), so that a chunk's activations are one sequential stream.
/// Per panel, the weight rows are taken `tiles` tiles of `DECODED_ROWS` rows at a time; per chunk
/// of K, those tiles' chunk is decoded into an L1 buffer ([`decode_chunk`]) and every activation
/// block of the panel runs over each of them with `DECODED_ROWS x DECODED_ACTS` zmm
/// accumulators, kept in `state` between chunks. Per output the fma order is the contract's
/// (lane = k mod 16, increasing k); the last group's lanes past K are masked, not multiplied.
/// The panel, tile and chunk sizes are [`DecodedPlan`]'s.
#[inline(always)]
unsafe fn float_rows_decoded<C: Codec>(
    w: &WeightView,
    x: &[f32],
    m_count: usize,
    rows: Range<usize>,
    out: &mut [f32],
    plan: &DecodedPlan,
) {
    const R: usize = DECODED_ROWS;
    let k = w.k();
    let n = rows.len();
    let groups = k.div_ceil(GROUP);
    let tail = k % GROUP;
    // Chunks hold whole blocks: 8 groups is the largest block (the q{b}k families).
    let whole_blocks = plan.chunk > 0 && plan.chunk.is_multiple_of(8);
    assert!((1..=MAX_DECODED_TILES).contains(&plan.tiles) && whole_blocks);
    let panel = plan.panel.clamp(1, m_count);
    let mut xpack = vec![_mm512_setzero_ps(); panel * groups * 2];
    // Tile t's row r, group g0 + j of the chunk being run: buf[t * tile_len + (j * R + r) * 2..].
    let tile_len = R * plan.chunk * 2;
    let mut buf = vec![_mm512_setzero_ps(); plan.tiles * tile_len];
    // Tile t, panel row m, tile row r: state[(t * panel + m) * R + r].
    let mut state = vec![_mm512_setzero_ps(); plan.tiles * panel * R];
    // On Intel the hardware prefetchers follow each row's blocks in time (see `decode_chunk`).
    let prefetch_next = !cache::is_intel();
    for p0 in (0..m_count).step_by(panel) {
        let pm = panel.min(m_count - p0);
        // SAFETY: AVX-512 F, as this function.
        unsafe {
            pack_panel(
                &x[p0 * k..(p0 + pm) * k],
                (k, pm, plan.chunk),
                &mut xpack[..pm * groups * 2],
            )
        };
        for tile0 in (0..n).step_by(R * plan.tiles) {
            let tiles = plan.tiles.min((n - tile0).div_ceil(R));
            let nr = |t: usize| R.min(n - tile0 - t * R);
            for g0 in (0..groups).step_by(plan.chunk) {
                let g1 = groups.min(g0 + plan.chunk);
                let cg = g1 - g0;
                let first = g0 == 0;
                // Valid elements of the chunk's last group when it is the row's partial one.
                let part = if g1 == groups { tail } else { 0 };
                for t in 0..tiles {
                    let wc = &mut buf[t * tile_len..t * tile_len + cg * R * 2];
                    let tile_rows = (rows.start + tile0 + t * R, nr(t));
                    // SAFETY: the tile's rows lie inside `rows`, which is inside the dense `w`;
                    // chunks start at whole blocks (a chunk is a multiple of every block's
                    // groups).
                    unsafe { decode_chunk::<C>(w, tile_rows, (g0, g1), wc) };
                }
                let xc = &xpack[g0 * pm * 2..g1 * pm * 2];
                let chunk = DecodedChunk {
                    buf: &buf[..tiles * tile_len],
                    tile_len,
                    groups: cg,
                    part,
                    first,
                };
                // The chunk decoded next: the same tiles' next chunk of K, or the next tiles'
                // first one (the next panel's first chunk is not worth it: one per panel),
                // prefetched over the panel's activation blocks.
                let blocks = pm.div_ceil(DECODED_ACTS);
                let mut next = if !prefetch_next {
                    SpreadL2::none()
                } else if g1 < groups {
                    let tile_rows =
                        rows.start + tile0..rows.end.min(rows.start + tile0 + tiles * R);
                    next_chunk::<C>(w, tile_rows, (g1, plan.chunk), blocks)
                } else if tile0 + R * plan.tiles < n {
                    let t0 = rows.start + tile0 + R * plan.tiles;
                    let tile_rows = t0..rows.end.min(t0 + R * plan.tiles);
                    next_chunk::<C>(w, tile_rows, (0, plan.chunk), blocks)
                } else {
                    SpreadL2::none()
                };
                // SAFETY: AVX-512 F, as this function.
                unsafe { chunk.run(xc, pm, &mut state[..tiles * panel * R], panel, &mut next) };
            }
            for t in 0..tiles {
                for m in 0..pm {
                    for r in 0..nr(t) {
                        // SAFETY: register arithmetic (AVX-512 DQ and SSE), as this function.
                        let v = unsafe { reduce16(state[(t * panel + m) * R + r]) };
                        out[(p0 + m) * n + tile0 + t * R + r] = v;
                    }
                }
            }
        }
    }
}

/// How [`float_rows_decoded`] cuts the work: activation rows per panel, weight tiles decoded
/// together (at most `MAX_DECODED_TILES`), groups per chunk of K (a multiple of every encoding's
/// groups per block). Every plan gives the same bits; [`DecodedPlan::for_this_cpu`] picks the
/// fastest one measured.
struct DecodedPlan {
    panel: usize,
    tiles: usize,
    chunk: usize,
}

/// The most weight tiles a [`DecodedPlan`] decodes together.
const MAX_DECODED_TILES: usize = 4;

impl DecodedPlan {
    /// Measured with `profile q4 256 4096 4096 3 float` (benches/README.md):
    /// - Intel (Xeon, 2 MiB L2): streaming the packed activations from L3 once per tile group
    ///   held the kernel near 48% of the FMA peak. Panels whose activations fit in 3/4 of L2, one
    ///   tile and chunks of 32 groups (the tile's 32 KiB chunk stays in L1) reach about 60%,
    ///   although each weight tile is then decoded once per panel.
    /// - Otherwise (Zen 4, 1 MiB L2, where L3 feeds one core faster and the FMA rate per cycle
    ///   is half Intel's): all rows in one panel, one tile, chunks of 32 groups. Against 4 tiles
    ///   and chunks of 8 groups (Intel's one-pass plan), Zen 4, medians of 5 interleaved runs,
    ///   GOPS: f16 M=64 2048 x 2048 76 -> 84, MXFP8 M=64 80 -> 86, q4 M=256 4096 x 4096 88 -> 95.
    /// - But panels of few rows decode W too often: on the same Xeon (K = 4096, M = 256, GOPS)
    ///   one pass 107, panels of 86 rows 119, 48 rows 113, 24 rows 96, 12 rows 78, 6 rows 57;
    ///   and at K = 14336, where 3/4 of L2 holds 24 rows, one pass 112 against 93. So Intel
    ///   takes panels only if they hold `MIN_PANEL_ROWS` rows (or all of them).
    fn for_this_cpu(k: usize, m_count: usize) -> Self {
        /// Fewest activation rows per panel worth decoding W again for (see above).
        const MIN_PANEL_ROWS: usize = 48;
        match super::cache::intel_l2_panel(k, m_count, DECODED_ACTS, MIN_PANEL_ROWS) {
            Some(panel) => Self::in_panels(panel),
            None if super::cache::is_intel() => Self::one_pass(m_count),
            None => Self::in_panels(m_count),
        }
    }

    /// One tile at a time, chunks of 32 groups, panels of `panel` rows.
    fn in_panels(panel: usize) -> Self {
        DecodedPlan {
            panel,
            tiles: 1,
            chunk: 32,
        }
    }

    /// All rows in one panel, `MAX_DECODED_TILES` tiles, chunks of 8 groups (Intel, where
    /// panels would be too small).
    fn one_pass(m_count: usize) -> Self {
        DecodedPlan {
            panel: m_count,
            tiles: MAX_DECODED_TILES,
            chunk: 8,
        }
    }
}

/// Copies `pm` activation rows (`x`, row-major, `pm * k` values) into `xpack` chunk-major: the
/// chunk of groups `g0..g1` (`chunk` groups, fewer at the end) at `g0 * pm * 2`, inside it the
/// block of rows `m0..` at `m0 * (g1 - g0) * 2`, inside that group j, row a, half h at
/// `((j - g0) * na + a) * 2 + h`; zero past K.
///
/// # Safety
/// AVX-512 F.
#[inline(always)]
unsafe fn pack_panel(x: &[f32], (k, pm, chunk): (usize, usize, usize), xpack: &mut [__m512]) {
    let groups = k.div_ceil(GROUP);
    for g0 in (0..groups).step_by(chunk) {
        let g1 = groups.min(g0 + chunk);
        let cg = g1 - g0;
        for m0 in (0..pm).step_by(DECODED_ACTS) {
            let na = DECODED_ACTS.min(pm - m0);
            for a in 0..na {
                let row = &x[(m0 + a) * k..(m0 + a + 1) * k];
                for j in g0..g1 {
                    let part = &row[j * GROUP..k.min((j + 1) * GROUP)];
                    let at = g0 * pm * 2 + m0 * cg * 2 + ((j - g0) * na + a) * 2;
                    for (h, half) in part.chunks(16).enumerate() {
                        let mask = ((1u32 << half.len()) - 1) as u16;
                        // SAFETY: the mask covers exactly `half`.
                        xpack[at + h] = unsafe { _mm512_maskz_loadu_ps(mask, half.as_ptr()) };
                    }
                    if part.len() <= 16 {
                        // The row's last group has no second half: zero, whatever an earlier
                        // panel left there.
                        xpack[at + 1] = _mm512_setzero_ps();
                    }
                }
            }
        }
    }
}

/// One chunk of K of the decoded float path: the decoded chunks of `buf.len() / tile_len` weight
/// tiles (each `groups` groups of `DECODED_ROWS` rows; `part` > 0: the last group is the row's
/// partial one with `part` valid elements), run against every activation block of a panel.
struct DecodedChunk<'a> {
    buf: &'a [__m512],
    tile_len: usize,
    groups: usize,
    part: usize,
    first: bool,
}

impl DecodedChunk<'_> {
    /// Runs the panel's `pm` packed rows (`xc`, this chunk's groups) over every tile,
    /// continuing tile t's accumulators of panel row m at `state[(t * panel + m) * R..]` (from
    /// +0 when `first`). The block's chunk of activations, read once, serves every tile from L1.
    /// Before each activation block, `next` takes a step.
    ///
    /// Compiled on its own (not inlined into the large caller, where the register allocator
    /// kept the accumulators in memory and halved the rate).
    #[inline(never)]
    #[target_feature(enable = "avx512f")]
    unsafe fn run(
        &self,
        xc: &[__m512],
        pm: usize,
        state: &mut [__m512],
        panel: usize,
        next: &mut SpreadL2,
    ) {
        const R: usize = DECODED_ROWS;
        let (cg, part, first) = (self.groups, self.part, self.first);
        for m0 in (0..pm).step_by(DECODED_ACTS) {
            next.step();
            let na = DECODED_ACTS.min(pm - m0);
            let xs = &xc[m0 * cg * 2..(m0 + na) * cg * 2];
            for (t, tile) in self.buf.chunks_exact(self.tile_len).enumerate() {
                let wc = &tile[..cg * R * 2];
                let at = (t * panel + m0) * R;
                let st = &mut state[at..at + na * R];
                // SAFETY (every arm): plain AVX-512 F register and slice work, as this function.
                match na {
                    DECODED_ACTS => unsafe {
                        decoded_tile::<DECODED_ACTS>(wc, xs, part, first, st)
                    },
                    1 => unsafe { decoded_tile::<1>(wc, xs, part, first, st) },
                    _ => unsafe { decoded_tile::<2>(wc, xs, part, first, st) },
                }
            }
        }
    }
}

/// Prefetches (into L2) of groups `g0..g0 + chunk` (clipped to the row; `g0` starts a block) of
/// the dense rows `rows` (at most `MAX_DECODED_TILES` tiles), the chunk [`float_rows_decoded`]
/// decodes next, over `steps` activation blocks of [`DecodedChunk::run`]: the decode then finds
/// them in L2 rather than waiting on L3 or DRAM. Zen 4, M=64 2048 x 2048 float, medians of 7
/// interleaved runs, GOPS: one thread f32 76 -> 86, f16 84 -> 90; two threads f32 116 -> 137,
/// f16 135 -> 143; MXFP8, MXFP6 and q4 (M=256 4096 x 4096) within noise. In bursts per
/// activation block: one line per group inside the tile loop cost more (f32 86 -> 83).
fn next_chunk<C: Codec>(
    w: &WeightView,
    rows: Range<usize>,
    (g0, chunk): (usize, usize),
    steps: usize,
) -> SpreadL2 {
    let gpb = C::GROUPS_PER_BLOCK;
    let block_bytes = TileCursor::<DECODED_ROWS>::block_bytes(w);
    let blocks = (g0 + chunk).min(w.k().div_ceil(GROUP)).div_ceil(gpb) - g0 / gpb;
    let base = w.bytes().as_ptr();
    // `wrapping_add` forms no reference: the pointers are only prefetched.
    let starts = rows.map(|r| base.wrapping_add(w.row_start(r) + g0 / gpb * block_bytes));
    SpreadL2::new(starts, blocks * block_bytes, steps)
}

/// Decodes groups `g0..g1` (whole blocks) of the dense rows `row0..row0 + nr` (`nr <=
/// DECODED_ROWS`) into `buf`, group-major: row r's group j at `buf[((j - g0) * DECODED_ROWS +
/// r) * 2..][..2]`, zero past K and for rows past `nr`. Row by row, so that each row's blocks are
/// read in order (on Intel the hardware prefetchers follow them; per-block software prefetches
/// and a cursor over 8 rows cost more instructions than the decoding). On AMD one prefetch per
/// block, `PREFETCH_BYTES` ahead, still pays: Zen 4, medians of 5 interleaved runs, GOPS, f32
/// M=64 2048 x 2048 float 72 -> 75, MXFP6 86 -> 90, q4 M=256 4096 x 4096 90 -> 93.
///
/// # Safety
/// AVX-512 F; the rows exist in `w`, which is dense; `g0` starts a block and `g1` ends one
/// (or the row).
#[inline(always)]
unsafe fn decode_chunk<C: Codec>(
    w: &WeightView,
    (row0, nr): (usize, usize),
    (g0, g1): (usize, usize),
    buf: &mut [__m512],
) {
    const R: usize = DECODED_ROWS;
    let k = w.k();
    let groups = k.div_ceil(GROUP);
    let gpb = C::GROUPS_PER_BLOCK;
    let block_bytes = TileCursor::<R>::block_bytes(w);
    // Whole blocks: the block loop below writes every group of the blocks it touches.
    let whole = g0.is_multiple_of(gpb) && (g1 == groups || g1.is_multiple_of(gpb));
    assert!(nr <= R && whole && g0 < g1 && g1 <= groups && buf.len() >= (g1 - g0) * R * 2);
    if nr < R {
        // Rows past `nr` stay zero: their accumulators are computed but never stored.
        for j in 0..g1 - g0 {
            buf[(j * R + nr) * 2..(j + 1) * R * 2].fill(_mm512_setzero_ps());
        }
    }
    let out = buf.as_mut_ptr();
    let prefetch_ahead = !cache::is_intel();
    for r in 0..nr {
        // Dense rows: block b of the row starts b whole blocks in.
        let mut block = w
            .bytes()
            .as_ptr()
            .wrapping_add(w.row_start(row0 + r) + g0 / gpb * block_bytes);
        for b in g0 / gpb..g1.div_ceil(gpb) {
            if prefetch_ahead {
                prefetch_lines(block.wrapping_add(PREFETCH_BYTES), 1, PrefetchTo::L1);
            }
            let in_block = gpb.min(groups - b * gpb);
            for g in 0..in_block {
                let j = b * gpb + g;
                let valid = group_len(k, j);
                // SAFETY: the row's block b is stored at `block` and holds its header and
                // planes (raw: `valid` elements). A whole group (the common case) decodes
                // without masks.
                let v = unsafe {
                    if valid == GROUP {
                        decode_group::<C>(block, g, in_block, GROUP)
                    } else {
                        decode_group::<C>(block, g, in_block, valid)
                    }
                };
                // SAFETY: g0 <= j < g1 (whole blocks, asserted above) and r < R: inside `buf`.
                unsafe {
                    let at = out.add(((j - g0) * R + r) * 2);
                    *at = v[0];
                    *at.add(1) = v[1];
                }
            }
            block = block.wrapping_add(block_bytes);
        }
    }
}

/// One chunk of `DECODED_ROWS` decoded rows (`wc`) against `NA` packed activation rows (`xc`,
/// the same groups), continuing the accumulators in `state` (`NA x DECODED_ROWS`; started at +0
/// when `first`). `part` > 0: the chunk's last group is the row's partial one with `part` valid
/// elements.
#[inline(always)]
unsafe fn decoded_tile<const NA: usize>(
    wc: &[__m512],
    xc: &[__m512],
    part: usize,
    first: bool,
    state: &mut [__m512],
) {
    const R: usize = DECODED_ROWS;
    let groups = wc.len() / (R * 2);
    assert!(wc.len() == R * groups * 2 && xc.len() == NA * groups * 2 && state.len() == NA * R);
    // A partial last group needs a last group.
    assert!(part < GROUP && (part == 0 || groups > 0));
    let mut acc = [[_mm512_setzero_ps(); R]; NA];
    if !first {
        for (acc, st) in acc.iter_mut().zip(state.chunks_exact(R)) {
            acc.copy_from_slice(st);
        }
    }
    let full = if part > 0 { groups - 1 } else { groups };
    let ahead = xc.as_ptr().cast::<u8>();
    let (wp, xp) = (wc.as_ptr(), xc.as_ptr());
    for j in 0..full {
        // The activation block streams from L2: fetch its lines a few groups ahead (wrapping
        // address, may lie past the buffer; prefetches never fault).
        let at = ahead.wrapping_add((j + X_PREFETCH_GROUPS) * NA * 2 * 64);
        for l in 0..NA * 2 {
            // SAFETY: a prefetch does not access memory architecturally.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(64 * l).cast()) };
        }
        // SAFETY: j < groups, so group j's R * 2 weight and NA * 2 activation vectors lie
        // inside `wc` and `xc` (lengths asserted above). Constant trip counts below keep the
        // R x NA accumulators in registers.
        let (wg, xg) = unsafe { (wp.add(j * R * 2), xp.add(j * NA * 2)) };
        for h in 0..2 {
            for r in 0..R {
                // SAFETY: r * 2 + h < R * 2, inside group j (above).
                let wv = unsafe { *wg.add(r * 2 + h) };
                for (a, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: a * 2 + h < NA * 2, inside group j (above).
                    acc[r] = _mm512_fmadd_ps(wv, unsafe { *xg.add(a * 2 + h) }, acc[r]);
                }
            }
        }
    }
    if part > 0 {
        // The row's partial last group: lanes at or past K keep their accumulator.
        // SAFETY: `full` < groups: the last group's vectors lie inside `wc` and `xc`.
        let (wg, xg) = unsafe { (wp.add(full * R * 2), xp.add(full * NA * 2)) };
        for h in 0..2 {
            let mask = ((1u32 << part.saturating_sub(16 * h).min(16)) - 1) as u16;
            // Constant trip counts, as above: a loop over slices here kept the accumulators in
            // memory for the whole function.
            for r in 0..R {
                // SAFETY: r * 2 + h < R * 2, inside the last group.
                let wv = unsafe { *wg.add(r * 2 + h) };
                for (a, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: a * 2 + h < NA * 2, inside the last group.
                    let xv = unsafe { *xg.add(a * 2 + h) };
                    acc[r] = _mm512_mask3_fmadd_ps(wv, xv, acc[r], mask);
                }
            }
        }
    }
    for (acc, st) in acc.iter().zip(state.chunks_exact_mut(R)) {
        st.copy_from_slice(acc);
    }
}

/// Rows `row0..row0 + nr` (nr <= 4) against activation rows `m0..m0 + NA`; every trip count is a
/// constant so the 4 x NA accumulators stay in registers (rows past `nr` get zero weights and are
/// not stored).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn float_tile<C: Codec, const NA: usize>(
    w: &WeightView,
    x: &[f32],
    row0: usize,
    nr: usize,
    m0: usize,
    n: usize,
    col: usize,
    out: &mut [f32],
) {
    let k = w.k();
    let blocks = TileCursor::<FLOAT_ROWS>::blocks_per_row(w);
    let groups = k.div_ceil(GROUP);
    let gpb = C::GROUPS_PER_BLOCK;
    let mut acc = [[_mm512_setzero_ps(); FLOAT_ROWS]; NA];
    let mut cursor = TileCursor::<FLOAT_ROWS>::new(w, row0, nr);
    let mut ptrs = [ZERO_BLOCK.as_ptr(); FLOAT_ROWS];
    for b in 0..blocks {
        let present = cursor.next_block(w, b, &mut ptrs);
        if present == 0 {
            continue;
        }
        for g in 0..gpb.min(groups - b * gpb) {
            let j = b * gpb + g;
            let valid = group_len(k, j);
            let mut wv = [[_mm512_setzero_ps(); 2]; FLOAT_ROWS];
            for (r, wv) in wv.iter_mut().enumerate() {
                if present >> r & 1 == 1 {
                    // SAFETY: a stored block holds its header and planes (raw: `valid` elements).
                    *wv =
                        unsafe { decode_group::<C>(ptrs[r], g, gpb.min(groups - b * gpb), valid) };
                }
            }
            let lo = ((1u32 << valid.min(16)) - 1) as u16;
            let hi = ((1u32 << valid.saturating_sub(16)) - 1) as u16;
            for (a, acc) in acc.iter_mut().enumerate() {
                // SAFETY: the masks cover only elements inside row m0 + a of `x`
                // (x.len() == m * k, group j starts before k).
                // The second half is not loaded when the row ends first: even forming a
                // pointer beyond the slice would be undefined behaviour.
                let (x0, x1) = unsafe {
                    let xp = x.as_ptr().add((m0 + a) * k + j * GROUP);
                    let x1 = if valid > 16 {
                        _mm512_maskz_loadu_ps(hi, xp.add(16))
                    } else {
                        _mm512_setzero_ps()
                    };
                    (_mm512_maskz_loadu_ps(lo, xp), x1)
                };
                for (r, (acc, wv)) in acc.iter_mut().zip(wv.iter()).enumerate() {
                    // Omitted blocks are skipped, not multiplied by 0 (SPEC.md 17.2).
                    if present >> r & 1 == 0 {
                        continue;
                    }
                    *acc = _mm512_fmadd_ps(wv[0], x0, *acc);
                    *acc = _mm512_fmadd_ps(wv[1], x1, *acc);
                }
            }
        }
    }
    for (a, acc) in acc.iter().enumerate() {
        for (r, acc) in acc.iter().enumerate().take(nr) {
            // SAFETY: register arithmetic (AVX-512 DQ and SSE), as this function.
            out[(m0 + a) * n + col + r] = unsafe { reduce16(*acc) };
        }
    }
}

#[inline(always)]
unsafe fn dequant_rows_impl<C: Codec>(w: &WeightView, rows: Range<usize>, out: &mut [f32]) {
    let k = w.k();
    let blocks = TileCursor::<1>::blocks_per_row(w);
    let groups = k.div_ceil(GROUP);
    let gpb = C::GROUPS_PER_BLOCK;
    for (i, row) in rows.enumerate() {
        let mut cursor = TileCursor::<1>::new(w, row, 1);
        let mut ptr = [ZERO_BLOCK.as_ptr()];
        let dst = &mut out[i * k..(i + 1) * k];
        for b in 0..blocks {
            let present = cursor.next_block(w, b, &mut ptr);
            for g in 0..gpb.min(groups - b * gpb) {
                let j = b * gpb + g;
                let valid = group_len(k, j);
                let d = &mut dst[j * GROUP..j * GROUP + valid];
                if present == 0 {
                    d.fill(0.0);
                    continue;
                }
                // SAFETY: a stored block holds its header and planes.
                let v = unsafe { decode_group::<C>(ptr[0], g, gpb.min(groups - b * gpb), valid) };
                let lo = ((1u32 << valid.min(16)) - 1) as u16;
                let hi = ((1u32 << valid.saturating_sub(16)) - 1) as u16;
                // SAFETY: the masks cover exactly `valid` elements of `d`.
                unsafe {
                    _mm512_mask_storeu_ps(d.as_mut_ptr(), lo, v[0]);
                    _mm512_mask_storeu_ps(d.as_mut_ptr().add(16), hi, v[1]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_cases::{
        assert_same_bits, check_float_variants, quantize_and_multiply, values_from,
    };
    use super::*;
    use std::cell::Cell;
    use tessera_format::{Encoding, MxType, Path};

    thread_local! {
        /// Where gemv streams the next tile, in place of [`gemv_stream_to`]'s choice for this
        /// CPU (`Some(choice)`), so that every compiled variant of the dense tile runs here.
        pub(super) static STREAM_OVERRIDE: Cell<Option<Option<PrefetchTo>>> =
            const { Cell::new(None) };
    }

    /// Every stream variant of the dense gemv tile (nowhere, L1, L1 non-temporal, L2: this CPU
    /// compiles all four but runs one) gives the reference's bits, with and without VNNI, on
    /// whole and ragged tiles, across blocks, and on tiles above `GEMV_L1_TILE_BYTES` (which
    /// also prefetch each row).
    #[test]
    fn every_gemv_stream_variant_matches_the_reference() {
        if !crate::Isa::Avx512.is_available() {
            eprintln!("skipped: this CPU lacks AVX-512");
            return;
        }
        let vnni = crate::Isa::Avx512Vnni.is_available();
        let encodings = [
            Encoding::IntSym { bits: 4 },
            Encoding::IntSym { bits: 8 },
            Encoding::IntSuper { bits: 4 },
            Encoding::IntAffine { bits: 5 },
            Encoding::Mx(MxType::Fp4E2M1),
        ];
        // (n, k): one whole tile; tiles and a ragged rest with a partial last group; an 8-bit
        // tile of 54 KB (row prefetches).
        let shapes = [(16, 64), (37, 1100), (32, 3200)];
        let mut next = values_from(0x9E37_79B9_7F4A_7C15);
        for e in encodings {
            for (n, k) in shapes {
                let values: Vec<f32> = (0..n * k).map(|_| next()).collect();
                let mut x: Vec<f32> = (0..k).map(|_| next() * 4.0).collect();
                x[k / 3] = -1.0e30; // one huge activation
                let (bytes, want) = quantize_and_multiply(e, (n, k), &values, &x, Path::Integer);
                let w = WeightView::new(e, n, k, &bytes).unwrap();
                let xq = QuantizedActivations::new(&x, 1, k).unwrap();
                let choices = [
                    None,
                    Some(PrefetchTo::L1),
                    Some(PrefetchTo::L1NonTemporal),
                    Some(PrefetchTo::L2),
                ];
                for to in choices {
                    STREAM_OVERRIDE.with(|o| o.set(Some(to)));
                    for with_vnni in [false, true].into_iter().filter(|&v| !v || vnni) {
                        let mut got = vec![f32::NAN; n];
                        // SAFETY: the tier's features were detected above; the lengths match
                        // the shape.
                        unsafe {
                            if with_vnni {
                                int_rows_vnni(&w, &xq, 0..n, &mut got)
                            } else {
                                int_rows_plain(&w, &xq, 0..n, &mut got)
                            }
                        };
                        let case = format!(
                            "{e:?} n {n} k {k} stream {} vnni {with_vnni}",
                            stream_code(to)
                        );
                        assert_same_bits(&got, &want, &case);
                    }
                }
                STREAM_OVERRIDE.with(|o| o.set(None));
            }
        }
    }

    /// Every [`DecodedPlan`] (Intel's panels, also cut small so that several panels run, and the
    /// one-pass plan) gives the reference's bits, whichever one this CPU uses.
    #[test]
    fn every_decoded_plan_matches_the_reference() {
        if !crate::Isa::Avx512.is_available() {
            eprintln!("skipped: this CPU lacks AVX-512");
            return;
        }
        check_float_variants(|w, x, m| {
            let (n, k) = (w.rows(), w.k());
            let row_bytes = k.div_ceil(GROUP) * GROUP * 4;
            // Panels within a budget of bytes, as Intel's plan cuts them.
            let panels = |budget| {
                DecodedPlan::in_panels(super::super::cache::panel_rows(k, m, budget, DECODED_ACTS))
            };
            let plans = [
                panels(2 << 20),
                panels(4 * row_bytes),
                panels(7 * row_bytes),
                panels(1),
                DecodedPlan::one_pass(m),
                // Several tiles and short panels together.
                DecodedPlan {
                    panel: 3,
                    tiles: MAX_DECODED_TILES,
                    chunk: 16,
                },
            ];
            plans
                .iter()
                .map(|plan| {
                    let mut got = vec![f32::NAN; m * n];
                    // SAFETY: the tier's features were detected above; the lengths match the
                    // shape.
                    unsafe { float_rows_planned(w, x, m, 0..n, &mut got, plan) };
                    let label = format!(
                        "panel {} tiles {} chunk {}",
                        plan.panel, plan.tiles, plan.chunk
                    );
                    (label, got)
                })
                .collect()
        });
    }
}

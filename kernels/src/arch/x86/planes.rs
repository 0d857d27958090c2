//! Bit-plane unpacking with AVX2 instructions (also used by the AVX-512 tiers): one group's planes
//! become 32 unsigned byte codes in element order. Each plane width has one routine; every code
//! width is their composition (SPEC.md, "Bit planes").
//!
//! These are `#[inline(always)]` helpers without their own `target_feature`; they are only called
//! from functions that enable at least `avx2`, into which they inline.

use std::arch::x86_64::*;

use crate::codec::{family, half_maps, Codec};

/// 4-bit plane (16 bytes): byte `i` holds `u[i]` low and `u[i + 16]` high.
#[inline(always)]
unsafe fn plane4(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 16 readable bytes at `p`.
    let packed = unsafe { _mm_loadu_si128(p.cast()) };
    let mask = _mm_set1_epi8(0x0F);
    let low = _mm_and_si128(packed, mask);
    let high = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
    _mm256_set_m128i(high, low)
}

/// 2-bit plane (8 bytes): byte `i` holds `u[i + 8t]` in bits `2t..2t+2`.
#[inline(always)]
unsafe fn plane2(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 8 readable bytes at `p`.
    let packed = unsafe { p.cast::<i64>().read_unaligned() };
    // 64-bit lane t takes the whole plane shifted right by 2t.
    let spread = _mm256_srlv_epi64(_mm256_set1_epi64x(packed), _mm256_set_epi64x(6, 4, 2, 0));
    _mm256_and_si256(spread, _mm256_set1_epi8(3))
}

/// 1-bit plane (4 bytes, little-endian u32): bit `i` is `u[i]`.
#[inline(always)]
unsafe fn plane1(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 4 readable bytes at `p`.
    let bits = unsafe { p.cast::<i32>().read_unaligned() };
    // Byte i gets byte i / 8 of the word, then keeps bit i % 8.
    let pick = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
    );
    let spread = _mm256_shuffle_epi8(_mm256_set1_epi32(bits), pick);
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    _mm256_min_epu8(_mm256_and_si256(spread, bit), _mm256_set1_epi8(1))
}

/// The 32 unsigned codes of the group whose planes start at `p`, mapped to the lane code `u` of
/// [`Codec`] (two's complement flipped to offset form, E2M1 through its table).
///
/// # Safety
/// `p` must point at `C::GROUP_BYTES` readable bytes; the caller must enable `avx2`.
#[inline(always)]
pub(crate) unsafe fn group_codes<C: Codec>(p: *const u8) -> __m256i {
    // SAFETY: same contract.
    let u = unsafe { stored_codes::<C>(p) };
    // SAFETY: `avx2` is enabled by the caller.
    unsafe { lane_codes::<C>(u) }
}

/// Stored codes -> lane codes `u` (two's complement flipped, E2M1 through its table).
///
/// # Safety
/// The caller must enable `avx2`.
#[inline(always)]
pub(crate) unsafe fn lane_codes<C: Codec>(mut u: __m256i) -> __m256i {
    if C::XOR != 0 {
        u = _mm256_xor_si256(u, _mm256_set1_epi8(C::XOR as i8));
    }
    if let Some(lut) = C::LUT4 {
        // SAFETY: `lut` is 16 bytes.
        let table = unsafe { _mm_loadu_si128(lut.as_ptr().cast()) };
        u = _mm256_shuffle_epi8(_mm256_set_m128i(table, table), u);
    }
    u
}

/// The 32 codes exactly as stored (no mapping).
///
/// # Safety
/// `p` must point at `C::GROUP_BYTES` readable bytes; the caller must enable `avx2`.
#[inline(always)]
pub(crate) unsafe fn stored_codes<C: Codec>(p: *const u8) -> __m256i {
    // SAFETY (whole body): plane offsets stay inside the GROUP_BYTES the caller guarantees.
    let u = if C::BITS == 8 {
        unsafe { _mm256_loadu_si256(p.cast()) }
    } else {
        let mut at = 0;
        let mut shift = 0;
        let mut u = _mm256_setzero_si256();
        if C::BITS >= 4 {
            u = unsafe { plane4(p) };
            at = 16;
            shift = 4;
        }
        if C::BITS & 2 != 0 {
            let p2 = unsafe { plane2(p.add(at)) };
            u = _mm256_or_si256(u, _mm256_sll_epi16(p2, _mm_cvtsi32_si128(shift)));
            at += 8;
            shift += 2;
        }
        if C::BITS & 1 != 0 {
            let p1 = unsafe { plane1(p.add(at)) };
            u = _mm256_or_si256(u, _mm256_sll_epi16(p1, _mm_cvtsi32_si128(shift)));
        }
        u
    };
    debug_assert!(C::FAMILY <= family::LAST);
    u
}

/// For `q{b}kh`, the lane codes of group `g` of the block at `block` from its stored codes `u`
/// (each half times its sub-scale plus its addend, see [`crate::codec::HalfMaps`]); every other
/// family's codes pass through.
///
/// # Safety
/// `block` must point at a whole block of `C` holding group `g`; the caller must enable `avx2`.
#[inline(always)]
pub(crate) unsafe fn half_mapped<C: Codec>(u: __m256i, block: *const u8, g: usize) -> __m256i {
    if C::FAMILY != family::SUPER_HALF {
        return u;
    }
    // SAFETY: same contract.
    let m = unsafe { half_maps::<C>(block, g) };
    let mul = _mm256_set_m128i(
        _mm_set1_epi32(m.sc[1] as i32),
        _mm_set1_epi32(m.sc[0] as i32),
    );
    let add = _mm256_set_m128i(_mm_set1_epi8(m.add[1] as i8), _mm_set1_epi8(m.add[0] as i8));
    // Codes are below 8 and sub-scales below 16: no product carries into the next byte.
    _mm256_add_epi8(_mm256_mullo_epi32(u, mul), add)
}

//! Bit-plane unpacking with NEON: one group's planes become 32 unsigned byte codes in element
//! order, held as two q-registers (elements 0..16 and 16..32). Each plane width has one routine;
//! every code width is their composition (SPEC.md, "Bit planes").
//!
//! These are `#[inline(always)]` helpers without their own `target_feature`; they are only called
//! from functions that enable at least `neon`, into which they inline.

use std::arch::aarch64::*;

use crate::codec::{family, half_maps, Codec};

/// A group's 32 byte codes: elements 0..16, then 16..32.
pub(crate) type Codes = [uint8x16_t; 2];

/// 4-bit plane (16 bytes): byte `i` holds `u[i]` low and `u[i + 16]` high.
#[inline(always)]
unsafe fn plane4(p: *const u8) -> Codes {
    // SAFETY: the caller guarantees 16 readable bytes at `p`.
    let packed = unsafe { vld1q_u8(p) };
    [vandq_u8(packed, vdupq_n_u8(0x0F)), vshrq_n_u8::<4>(packed)]
}

/// 2-bit plane (8 bytes): byte `i` holds `u[i + 8t]` in bits `2t..2t+2`.
#[inline(always)]
unsafe fn plane2(p: *const u8) -> Codes {
    // SAFETY: the caller guarantees 8 readable bytes at `p`.
    let packed = unsafe { vld1_u8(p) };
    let both = vcombine_u8(packed, packed);
    // Negative `ushl` counts shift right: elements 8t..8t+8 take the plane shifted by 2t.
    const LOW: [i8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, -2, -2, -2, -2, -2, -2, -2, -2];
    const HIGH: [i8; 16] = [
        -4, -4, -4, -4, -4, -4, -4, -4, -6, -6, -6, -6, -6, -6, -6, -6,
    ];
    // SAFETY: the constants are 16 bytes.
    let (low, high) = unsafe { (vld1q_s8(LOW.as_ptr()), vld1q_s8(HIGH.as_ptr())) };
    let three = vdupq_n_u8(3);
    [
        vandq_u8(vshlq_u8(both, low), three),
        vandq_u8(vshlq_u8(both, high), three),
    ]
}

/// 1-bit plane (4 bytes, little-endian u32): bit `i` is `u[i]`.
#[inline(always)]
unsafe fn plane1(p: *const u8) -> Codes {
    // SAFETY: the caller guarantees 4 readable bytes at `p`.
    let word = unsafe { p.cast::<u32>().read_unaligned() };
    let bytes = vreinterpretq_u8_u32(vdupq_n_u32(u32::from_le(word)));
    // Element i takes byte i / 8 of the word, then keeps bit i % 8.
    const PICK_LOW: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
    const PICK_HIGH: [u8; 16] = [2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3];
    const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    // SAFETY: the constants are 16 bytes.
    let (pick_low, pick_high, bit) = unsafe {
        (
            vld1q_u8(PICK_LOW.as_ptr()),
            vld1q_u8(PICK_HIGH.as_ptr()),
            vld1q_u8(BIT.as_ptr()),
        )
    };
    let one = vdupq_n_u8(1);
    [
        vminq_u8(vandq_u8(vqtbl1q_u8(bytes, pick_low), bit), one),
        vminq_u8(vandq_u8(vqtbl1q_u8(bytes, pick_high), bit), one),
    ]
}

/// `a | b << shift` on both halves.
#[inline(always)]
fn or_shifted(a: Codes, b: Codes, shift: i8) -> Codes {
    // SAFETY: NEON is part of every aarch64 target this module is compiled for.
    unsafe {
        let s = vdupq_n_s8(shift);
        [
            vorrq_u8(a[0], vshlq_u8(b[0], s)),
            vorrq_u8(a[1], vshlq_u8(b[1], s)),
        ]
    }
}

/// The 32 codes exactly as stored (no mapping).
///
/// # Safety
/// `p` must point at `C::GROUP_BYTES` readable bytes; the caller must enable `neon`.
#[inline(always)]
pub(crate) unsafe fn stored_codes<C: Codec>(p: *const u8) -> Codes {
    debug_assert!(C::FAMILY != family::RAW && C::FAMILY <= family::LAST);
    if C::BITS == 8 {
        // SAFETY: 32 bytes are readable at `p`.
        return unsafe { [vld1q_u8(p), vld1q_u8(p.add(16))] };
    }
    let mut at = 0;
    let mut shift = 0;
    // SAFETY: `vdupq_n_u8` only needs neon.
    let mut u = unsafe { [vdupq_n_u8(0); 2] };
    if C::BITS >= 4 {
        // SAFETY: the 4-bit plane comes first, 16 bytes.
        u = unsafe { plane4(p) };
        at = 16;
        shift = 4;
    }
    if C::BITS & 2 != 0 {
        // SAFETY: the 2-bit plane follows, 8 bytes, inside GROUP_BYTES.
        u = or_shifted(u, unsafe { plane2(p.add(at)) }, shift);
        at += 8;
        shift += 2;
    }
    if C::BITS & 1 != 0 {
        // SAFETY: the 1-bit plane comes last, 4 bytes, inside GROUP_BYTES.
        u = or_shifted(u, unsafe { plane1(p.add(at)) }, shift);
    }
    u
}

/// Stored codes -> the lane codes `u` of [`Codec`] (two's complement flipped, E2M1 through its
/// table).
///
/// # Safety
/// The caller must enable `neon`.
#[inline(always)]
pub(crate) unsafe fn lane_codes<C: Codec>(mut u: Codes) -> Codes {
    if C::XOR != 0 {
        let flip = vdupq_n_u8(C::XOR);
        u = [veorq_u8(u[0], flip), veorq_u8(u[1], flip)];
    }
    if let Some(lut) = C::LUT4 {
        // SAFETY: `lut` is 16 bytes.
        let table = unsafe { vld1q_u8(lut.as_ptr()) };
        u = [vqtbl1q_u8(table, u[0]), vqtbl1q_u8(table, u[1])];
    }
    u
}

/// For `q{b}kh`, the lane codes of group `g` of the block at `block` from its stored codes `u`
/// (each half times its sub-scale plus its addend, see [`crate::codec::HalfMaps`]; no byte
/// overflows); every other family's codes pass through.
///
/// # Safety
/// `block` must point at a whole block of `C` holding group `g`; the caller must enable `neon`.
#[inline(always)]
pub(crate) unsafe fn half_mapped<C: Codec>(u: Codes, block: *const u8, g: usize) -> Codes {
    if C::FAMILY != family::SUPER_HALF {
        return u;
    }
    // SAFETY: same contract.
    let m = unsafe { half_maps::<C>(block, g) };
    std::array::from_fn(|h| vmlaq_u8(vdupq_n_u8(m.add[h]), u[h], vdupq_n_u8(m.sc[h])))
}

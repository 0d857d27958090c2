//! What a kernel needs to know about a block encoding, as compile-time constants: where a group's
//! bit planes sit in its block, how its header gives the per-group scale, and how its codes become
//! the integers of the contract. Each ISA turns these into vector code; adding an encoding family
//! means adding a `Family` and its header decoding here.

use tessera_format::{Encoding, MxType, RawType, GROUP};

/// Encoding families, as `u8` so they can be const generic parameters.
pub(crate) mod family {
    /// `q{b}`: f16 scale, codes offset by `2^(b-1)`.
    pub const SYM: u8 = 0;
    /// `q{b}a`: f16 scale and f16 min, unsigned codes, two groups per block.
    pub const AFFINE: u8 = 1;
    /// `q{b}k`: f16 scale and 6-bit signed sub-scales, eight groups per block (a short block's
    /// header holds only its groups' sub-scales, see [`super::planes_at`]).
    pub const SUPER: u8 = 2;
    /// `bfp{b}`: E8M0 exponent, codes offset by `2^(b-1)`.
    pub const BFP: u8 = 3;
    /// `mxint8`: E8M0 exponent, two's-complement bytes.
    pub const MX_INT8: u8 = 4;
    /// `mxfp4`: E8M0 exponent, E2M1 codes (integers after doubling).
    pub const MX_FP4: u8 = 5;
    /// MXFP8 / MXFP6 (float path only): E8M0 exponent, codes decoded through a table.
    pub const MX_FLOAT: u8 = 6;
    /// Raw arrays (float path only): "groups" are 32 consecutive elements, no header.
    pub const RAW: u8 = 7;
    /// `q{b}ka`: f16 scale and f16 min, unsigned 6-bit sub-scales and sub-mins, unsigned codes,
    /// eight groups per block.
    pub const SUPER_AFFINE: u8 = 8;
    /// `q{b}kh`: f16 scale, min multiplier `k`, per 16 codes a 4-bit sub-scale and sub-min (after
    /// each group's planes); lane code `sc * u + 128 - k * mn` ([`super::half_maps`]).
    pub const SUPER_HALF: u8 = 9;
    /// The largest family number.
    pub const LAST: u8 = SUPER_HALF;
}

/// Compile-time description of one block encoding.
pub(crate) trait Codec {
    /// Family (see [`family`]).
    const FAMILY: u8;
    /// Width of the stored codes.
    const BITS: u32;
    /// Only for `MX_FLOAT`: which element type.
    const MX: MxType = MxType::Fp8E4M3;
    /// Only for `RAW`: which element type.
    const RAW: RawType = RawType::F32;

    /// Groups per storage block (`RAW`: 1, the kernels walk raw rows 32 elements at a time).
    const GROUPS_PER_BLOCK: usize = match Self::FAMILY {
        family::AFFINE => 2,
        family::SUPER | family::SUPER_AFFINE | family::SUPER_HALF => 8,
        _ => 1,
    };
    /// Header bytes at the start of each full block (see [`planes_at`] for short `q{b}k` ones).
    const HEADER: usize = match Self::FAMILY {
        family::SYM => 2,
        family::AFFINE => 4,
        family::SUPER => 8,
        family::SUPER_AFFINE => 16,
        family::SUPER_HALF => 3,
        family::RAW => 0,
        _ => 1,
    };
    /// Bytes from one group to the next: its planes (`4 * BITS`), plus for `SUPER_HALF` its two
    /// sub-field bytes (for `RAW`, the bytes of 32 elements). The planes come first.
    const GROUP_BYTES: usize =
        4 * Self::BITS as usize + 2 * (Self::FAMILY == family::SUPER_HALF) as usize;
    /// The unsigned lane code `u` (after [`Codec::LUT4`] / [`Codec::XOR`]) minus this is the
    /// integer `q` of the contract (for `SUPER` and `SUPER_AFFINE`, before the sub-scale).
    const OFFSET: i32 = match Self::FAMILY {
        family::AFFINE | family::SUPER_AFFINE => 0,
        family::MX_INT8 | family::SUPER_HALF => 128,
        family::MX_FP4 => 12,
        family::RAW => 0,
        _ => 1 << (Self::BITS - 1),
    };
    /// True if the block header's scales are f16 (else an E8M0 exponent).
    const F16_SCALES: bool = matches!(
        Self::FAMILY,
        family::SYM | family::AFFINE | family::SUPER | family::SUPER_AFFINE | family::SUPER_HALF
    );
    /// True if each group's integer sum is multiplied by an integer sub-scale (`mult`).
    const HAS_MULT: bool = matches!(Self::FAMILY, family::SUPER | family::SUPER_AFFINE);
    /// True if each group has an affine min term (`mw`).
    const HAS_MIN: bool = matches!(Self::FAMILY, family::AFFINE | family::SUPER_AFFINE);
    /// Bits flipped in every stored code to make it unsigned (two's complement -> offset 128).
    const XOR: u8 = if Self::FAMILY == family::MX_INT8 {
        0x80
    } else {
        0
    };
    /// For `MX_FP4`: stored 4-bit code -> `2 * E2M1 + 12`.
    const LUT4: Option<[u8; 16]> = if Self::FAMILY == family::MX_FP4 {
        Some(FP4_DOUBLED_PLUS_12)
    } else {
        None
    };
}

/// `2 * E2M1(code) + 12` for the 16 E2M1 codes: values 0, .5, 1, 1.5, 2, 3, 4, 6 and negatives.
const FP4_DOUBLED_PLUS_12: [u8; 16] = [12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0];

/// `2 * E2M1(code)` as f32, -0 kept for code 8 (the float path needs the sign of zero).
pub(crate) static FP4_DOUBLED: [f32; 16] = [
    0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, -0.0, -1.0, -2.0, -3.0, -4.0, -6.0, -8.0, -12.0,
];

/// One monomorphized codec per (family, bits).
pub(crate) struct Enc<const F: u8, const B: u32>;
impl<const F: u8, const B: u32> Codec for Enc<F, B> {
    const FAMILY: u8 = F;
    const BITS: u32 = B;
}

/// MXFP8/MXFP6 codecs carry their element type.
pub(crate) struct MxFloat<const T: u8>;
impl<const T: u8> Codec for MxFloat<T> {
    const FAMILY: u8 = family::MX_FLOAT;
    const BITS: u32 = if T < 2 { 8 } else { 6 };
    const MX: MxType = match T {
        0 => MxType::Fp8E4M3,
        1 => MxType::Fp8E5M2,
        2 => MxType::Fp6E2M3,
        _ => MxType::Fp6E3M2,
    };
}

/// Raw arrays, by `RawType` index in `RawType::ALL`.
pub(crate) struct Raw<const T: u8>;
impl<const T: u8> Codec for Raw<T> {
    const FAMILY: u8 = family::RAW;
    const RAW: RawType = RawType::ALL[T as usize];
    const BITS: u32 = 8 * RawType::ALL[T as usize].size() as u32;
}

/// Per-group numbers from a block header: the scale `sw`, the affine min `mw`, and the integer
/// multiplier of the codes (the `q{b}k` / `q{b}ka` sub-scale, else 1).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GroupParams {
    pub sw: f32,
    pub mw: f32,
    pub mult: i32,
}

/// Reads group `g`'s parameters from the header of the block at `block`.
///
/// # Safety
/// `block` must point at a whole block header of codec `C`.
#[inline(always)]
pub(crate) unsafe fn group_params<C: Codec>(block: *const u8, g: usize) -> GroupParams {
    // SAFETY: the caller guarantees HEADER readable bytes at `block`.
    let header = unsafe { std::slice::from_raw_parts(block, C::HEADER) };
    let f16_at = |at: usize| half::f16::from_le_bytes([header[at], header[at + 1]]).to_f32();
    match C::FAMILY {
        family::SYM | family::SUPER_HALF => GroupParams {
            sw: f16_at(0),
            mw: 0.0,
            mult: 1,
        },
        family::AFFINE => GroupParams {
            sw: f16_at(0),
            mw: f16_at(2),
            mult: 1,
        },
        family::SUPER => GroupParams {
            sw: f16_at(0),
            mw: 0.0,
            // SAFETY: every q{b}k block holds its header and at least 8 plane bytes.
            mult: unsafe { stored_sub_scale(block, g) } - 32,
        },
        family::SUPER_AFFINE => GroupParams {
            sw: f16_at(0),
            // dmin * mn is exact in f32 (11 by 6 significant bits).
            mw: -(f16_at(2) * six_bit(&header[10..16], g) as f32),
            mult: six_bit(&header[4..10], g),
        },
        family::MX_INT8 => GroupParams {
            sw: e8m0_pow2(header[0], 6),
            mw: 0.0,
            mult: 1,
        },
        family::MX_FP4 => GroupParams {
            sw: e8m0_pow2(header[0], 1),
            mw: 0.0,
            mult: 1,
        },
        _ => GroupParams {
            sw: e8m0_pow2(header[0], 0),
            mw: 0.0,
            mult: 1,
        },
    }
}

/// Byte offset of group `g`'s planes in a block of `C` holding `groups` groups: after the header,
/// which for `q{b}k` is the 2-byte scale and `ceil(6 * groups / 8)` bytes of sub-scales (so a
/// short super-block's header is shorter than [`Codec::HEADER`]).
#[inline(always)]
pub(crate) fn planes_at<C: Codec>(groups: usize, g: usize) -> usize {
    let header = if C::FAMILY == family::SUPER {
        2 + (6 * groups).div_ceil(8)
    } else {
        C::HEADER
    };
    header + g * C::GROUP_BYTES
}

/// `q{b}k` sub-scale `g` as stored (`c + 32`): bits `6g..6g + 6` of the little-endian bit string
/// that starts at byte 2.
///
/// # Safety
/// `block` must point at a whole `q{b}k` block holding group `g` (it then holds the two bytes
/// read: the field's last byte is followed by planes).
#[inline(always)]
unsafe fn stored_sub_scale(block: *const u8, g: usize) -> i32 {
    let at = 2 + 6 * g / 8;
    // SAFETY: the caller guarantees bytes `at` and `at + 1` lie inside the block.
    let pair = unsafe { u16::from_le_bytes([*block.add(at), *block.add(at + 1)]) };
    ((pair >> (6 * g % 8)) & 63) as i32
}

/// `q{b}kh` group `g`: per half `h` (codes `16h..16h + 16`) the byte multiplier `sc[h]` and addend
/// `add[h] = 128 - k * mn[h]` that turn a stored code `u` into the lane code `sc * u + add`, whose
/// offset from 128 is the contract's integer `sc * u - k * mn`. No byte overflows: `sc * u <= 105`
/// and `add` is in `[8, 128]`, so a u32 lane of four codes can be multiplied by `sc` as a whole.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HalfMaps {
    pub sc: [u8; 2],
    pub add: [u8; 2],
}

/// Reads group `g`'s [`HalfMaps`] from the block at `block`.
///
/// # Safety
/// `block` must point at a whole `SUPER_HALF` block holding group `g`.
#[inline(always)]
pub(crate) unsafe fn half_maps<C: Codec>(block: *const u8, g: usize) -> HalfMaps {
    // SAFETY: the caller guarantees the header and group g's bytes; its sub-field bytes are the
    // last two of the group.
    let (k, sc, mn) = unsafe {
        let fields = block.add(C::HEADER + (g + 1) * C::GROUP_BYTES - 2);
        ((*block.add(2) & 7) + 1, *fields, *fields.add(1))
    };
    HalfMaps {
        sc: [sc & 15, sc >> 4],
        add: [128 - k * (mn & 15), 128 - k * (mn >> 4)],
    }
}

/// Unsigned 6-bit value `g` of a 6-byte `q{b}ka` sub-scale or sub-min field.
#[inline(always)]
fn six_bit(bytes: &[u8], g: usize) -> i32 {
    let low = (bytes[g % 4] >> (4 * (g / 4))) & 15;
    let high = (u16::from_le_bytes([bytes[4], bytes[5]]) >> (2 * g)) & 3;
    low as i32 | (high as i32) << 4
}

/// `2^(e - 127 - shift)` exactly (subnormal results included); `e = 0xFF` is NaN.
#[inline(always)]
pub(crate) fn e8m0_pow2(e: u8, shift: i32) -> f32 {
    if e == 0xFF {
        return f32::NAN;
    }
    let n = e as i32 - 127 - shift;
    if n >= -126 {
        f32::from_bits(((n + 127) as u32) << 23)
    } else {
        // n >= -133 here: a subnormal power of two.
        f32::from_bits(1u32 << (n + 149))
    }
}

/// f32 value of every code of an MX float element type (index = code), built once.
pub(crate) fn mx_table(t: MxType) -> &'static [f32; 256] {
    use std::sync::OnceLock;
    static TABLES: [OnceLock<[f32; 256]>; 4] = [const { OnceLock::new() }; 4];
    let (slot, ebits, mbits) = match t {
        MxType::Fp8E4M3 => (0, 4, 3),
        MxType::Fp8E5M2 => (1, 5, 2),
        MxType::Fp6E2M3 => (2, 2, 3),
        _ => (3, 3, 2),
    };
    TABLES[slot].get_or_init(|| {
        let mut table = [0.0f32; 256];
        let codes = 1usize << (1 + ebits + mbits);
        for (code, v) in table.iter_mut().enumerate().take(codes) {
            *v = minifloat(code as u32, ebits, mbits);
            let magnitude = code as u32 & ((1 << (ebits + mbits)) - 1);
            let top = (1 << (ebits + mbits)) - 1;
            if t == MxType::Fp8E4M3 && magnitude == top {
                *v = f32::NAN;
            }
            if t == MxType::Fp8E5M2 && magnitude >= top - 3 {
                let inf = if code & 0x80 != 0 {
                    f32::NEG_INFINITY
                } else {
                    f32::INFINITY
                };
                *v = if magnitude == top - 3 { inf } else { f32::NAN };
            }
        }
        table
    })
}

/// Value of a sign/exponent/mantissa code with bias `2^(ebits-1) - 1` (exponent 0 subnormal),
/// built directly as f32 bits (every such value is exact in f32).
fn minifloat(code: u32, ebits: u32, mbits: u32) -> f32 {
    let sign = (code >> (ebits + mbits)) & 1;
    let exp = (code >> mbits) & ((1 << ebits) - 1);
    let man = code & ((1 << mbits) - 1);
    let bias = (1i32 << (ebits - 1)) - 1;
    let magnitude = if exp == 0 {
        // man * 2^(1 - bias - mbits), an exact small product.
        man as f32 * f32::from_bits(((1 - bias - mbits as i32 + 127) as u32) << 23)
    } else {
        f32::from_bits((((exp as i32 - bias + 127) as u32) << 23) | (man << (23 - mbits)))
    };
    if sign == 1 {
        -magnitude
    } else {
        magnitude
    }
}

/// Valid elements of group `j` in a row of `k` (32 except possibly the last).
#[inline(always)]
pub(crate) fn group_len(k: usize, j: usize) -> usize {
    (k - j * GROUP).min(GROUP)
}

/// Expands `$body` once per code width, with `$C` the codec of family `$fam` and that width.
macro_rules! codec_bits {
    ($fam:expr, $bits:expr, $C:ident => $body:expr) => {
        match $bits {
            2 => {
                type $C = $crate::codec::Enc<{ $fam }, 2>;
                $body
            }
            3 => {
                type $C = $crate::codec::Enc<{ $fam }, 3>;
                $body
            }
            4 => {
                type $C = $crate::codec::Enc<{ $fam }, 4>;
                $body
            }
            5 => {
                type $C = $crate::codec::Enc<{ $fam }, 5>;
                $body
            }
            6 => {
                type $C = $crate::codec::Enc<{ $fam }, 6>;
                $body
            }
            7 => {
                type $C = $crate::codec::Enc<{ $fam }, 7>;
                $body
            }
            _ => {
                type $C = $crate::codec::Enc<{ $fam }, 8>;
                $body
            }
        }
    };
}
pub(crate) use codec_bits;

/// Evaluates `$body` with `$C` bound to the codec type of encoding `$enc`.
#[cfg(not(tessera_fast_build))]
macro_rules! with_codec {
    ($enc:expr, $C:ident => $body:expr) => {{
        use tessera_format::{Encoding, MxType, RawType};
        use $crate::codec::{codec_bits, family, Enc, MxFloat, Raw};
        match $enc {
            Encoding::Raw(RawType::F32) => { type $C = Raw<0>; $body }
            Encoding::Raw(RawType::F16) => { type $C = Raw<1>; $body }
            Encoding::Raw(RawType::BF16) => { type $C = Raw<2>; $body }
            Encoding::Raw(RawType::F64) => { type $C = Raw<3>; $body }
            Encoding::Raw(RawType::I8) => { type $C = Raw<4>; $body }
            Encoding::Raw(RawType::I16) => { type $C = Raw<5>; $body }
            Encoding::Raw(RawType::I32) => { type $C = Raw<6>; $body }
            Encoding::Raw(RawType::I64) => { type $C = Raw<7>; $body }
            Encoding::Raw(RawType::U8) => { type $C = Raw<8>; $body }
            Encoding::Raw(RawType::U16) => { type $C = Raw<9>; $body }
            Encoding::Raw(RawType::U32) => { type $C = Raw<10>; $body }
            Encoding::Raw(RawType::U64) => { type $C = Raw<11>; $body }
            Encoding::Raw(RawType::Bool) => { type $C = Raw<12>; $body }
            Encoding::Raw(RawType::F8E4M3) => { type $C = Raw<13>; $body }
            Encoding::Raw(RawType::F8E5M2) => { type $C = Raw<14>; $body }
            Encoding::IntSym { bits } => codec_bits!(family::SYM, bits, $C => $body),
            Encoding::IntAffine { bits } => codec_bits!(family::AFFINE, bits, $C => $body),
            Encoding::IntSuper { bits } => codec_bits!(family::SUPER, bits.min(6), $C => $body),
            Encoding::IntSuperAffine { bits } => {
                codec_bits!(family::SUPER_AFFINE, bits.min(6), $C => $body)
            }
            Encoding::IntSuperHalf { bits } => {
                codec_bits!(family::SUPER_HALF, bits.min(3), $C => $body)
            }
            Encoding::Bfp { bits } => codec_bits!(family::BFP, bits, $C => $body),
            Encoding::Mx(MxType::Int8) => { type $C = Enc<{ family::MX_INT8 }, 8>; $body }
            Encoding::Mx(MxType::Fp4E2M1) => { type $C = Enc<{ family::MX_FP4 }, 4>; $body }
            Encoding::Mx(MxType::Fp8E4M3) => { type $C = MxFloat<0>; $body }
            Encoding::Mx(MxType::Fp8E5M2) => { type $C = MxFloat<1>; $body }
            Encoding::Mx(MxType::Fp6E2M3) => { type $C = MxFloat<2>; $body }
            Encoding::Mx(MxType::Fp6E3M2) => { type $C = MxFloat<3>; $body }
        }
    }};
}
/// Kernel experiments only (`RUSTFLAGS="--cfg tessera_fast_build"`): the encodings of the
/// benches' tables, so a release build of a kernel change takes a fraction of the time. Every
/// other encoding panics.
#[cfg(tessera_fast_build)]
macro_rules! with_codec {
    ($enc:expr, $C:ident => $body:expr) => {{
        use tessera_format::{Encoding, MxType, RawType};
        use $crate::codec::{family, Enc, MxFloat, Raw};
        match $enc {
            Encoding::Raw(RawType::F32) => {
                type $C = Raw<0>;
                $body
            }
            Encoding::Raw(RawType::F16) => {
                type $C = Raw<1>;
                $body
            }
            Encoding::IntSym { bits: 4 } => {
                type $C = Enc<{ family::SYM }, 4>;
                $body
            }
            Encoding::IntSym { bits: 8 } => {
                type $C = Enc<{ family::SYM }, 8>;
                $body
            }
            Encoding::IntSuper { bits: 4 } => {
                type $C = Enc<{ family::SUPER }, 4>;
                $body
            }
            Encoding::Mx(MxType::Fp4E2M1) => {
                type $C = Enc<{ family::MX_FP4 }, 4>;
                $body
            }
            Encoding::Mx(MxType::Fp8E4M3) => {
                type $C = MxFloat<0>;
                $body
            }
            Encoding::Mx(MxType::Fp6E2M3) => {
                type $C = MxFloat<2>;
                $body
            }
            other => panic!("{other} is not built with --cfg tessera_fast_build"),
        }
    }};
}
pub(crate) use with_codec;

/// Decodes `out.len()` raw elements of type `t` from `bytes` (`out.len() * t.size()` bytes) the way
/// the contract defines: floats widen exactly or round to nearest, integers convert with rounding,
/// bool is 0 or 1.
pub(crate) fn decode_raw_scalar(t: RawType, bytes: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(bytes.chunks_exact(t.size())) {
        let a2 = || [b[0], b[1]];
        let a4 = || [b[0], b[1], b[2], b[3]];
        let a8 = || [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
        *o = match t {
            RawType::F32 => f32::from_le_bytes(a4()),
            RawType::F16 => half::f16::from_le_bytes(a2()).to_f32(),
            RawType::BF16 => half::bf16::from_le_bytes(a2()).to_f32(),
            RawType::F64 => f64::from_le_bytes(a8()) as f32,
            RawType::I8 => b[0] as i8 as f32,
            RawType::I16 => i16::from_le_bytes(a2()) as f32,
            RawType::I32 => i32::from_le_bytes(a4()) as f32,
            RawType::I64 => i64::from_le_bytes(a8()) as f32,
            RawType::U8 => b[0] as f32,
            RawType::U16 => u16::from_le_bytes(a2()) as f32,
            RawType::U32 => u32::from_le_bytes(a4()) as f32,
            RawType::U64 => u64::from_le_bytes(a8()) as f32,
            RawType::Bool => (b[0] != 0) as u8 as f32,
            RawType::F8E4M3 => mx_table(MxType::Fp8E4M3)[b[0] as usize],
            RawType::F8E5M2 => mx_table(MxType::Fp8E5M2)[b[0] as usize],
        };
    }
}

/// True if the integer path is defined for this encoding.
pub(crate) fn has_integer_path(e: Encoding) -> bool {
    e.is_blocked() && e.path() == tessera_format::Path::Integer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp4_table_doubles_e2m1() {
        let values = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
        for code in 0..16 {
            let v = values[code & 7] * if code & 8 != 0 { -1.0 } else { 1.0 };
            assert_eq!(
                FP4_DOUBLED_PLUS_12[code] as f32 - 12.0,
                2.0 * v,
                "code {code}"
            );
        }
    }

    #[test]
    fn e8m0_powers() {
        assert_eq!(e8m0_pow2(127, 0), 1.0);
        assert_eq!(e8m0_pow2(0, 0).to_bits(), 0x0040_0000);
        assert_eq!(e8m0_pow2(0, 6) as f64, 2f64.powi(-133));
        assert!(e8m0_pow2(255, 1).is_nan());
        assert_eq!(e8m0_pow2(254, 0), 2f32.powi(127));
    }

    #[test]
    fn mx_tables_hit_the_known_maxima() {
        assert_eq!(mx_table(MxType::Fp8E4M3)[0x7E], 448.0);
        assert!(mx_table(MxType::Fp8E4M3)[0xFF].is_nan());
        assert_eq!(mx_table(MxType::Fp8E5M2)[0x7B], 57344.0);
        assert_eq!(mx_table(MxType::Fp8E5M2)[0xFC], f32::NEG_INFINITY);
        assert_eq!(mx_table(MxType::Fp6E2M3)[0x1F], 7.5);
        assert_eq!(mx_table(MxType::Fp6E3M2)[0x1F], 28.0);
        assert_eq!(mx_table(MxType::Fp6E3M2)[0x21], -0.0625);
    }
}

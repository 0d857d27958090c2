//! OCP Microscaling v1.0 element types: exact decoding of every code, and rounding of an f32 to the
//! nearest code (ties to the even code, saturating at the largest finite magnitude).

use std::sync::OnceLock;

use tessera_format::MxType;

use crate::fp::pow2;

/// The f32 value of one element code (the low `bits` bits of `code`). Exact: every element value is
/// an f32. MXINT8 codes are two's complement with an implicit `2^-6`.
pub fn decode(t: MxType, code: u8) -> f32 {
    match t {
        MxType::Fp8E4M3 => {
            if code & 0x7F == 0x7F {
                return f32::NAN;
            }
            minifloat(code, 4, 3)
        }
        MxType::Fp8E5M2 => {
            let mag = code & 0x7F;
            if mag == 0x7C {
                return if code & 0x80 != 0 {
                    f32::NEG_INFINITY
                } else {
                    f32::INFINITY
                };
            }
            if mag > 0x7C {
                return f32::NAN;
            }
            minifloat(code, 5, 2)
        }
        MxType::Fp6E2M3 => minifloat(code & 0x3F, 2, 3),
        MxType::Fp6E3M2 => minifloat(code & 0x3F, 3, 2),
        MxType::Fp4E2M1 => minifloat(code & 0x0F, 2, 1),
        MxType::Int8 => (code as i8) as f32 * 0.015625,
    }
}

/// A sign-exponent-mantissa code with `ebits` exponent bits (bias `2^(ebits-1) - 1`) and `mbits`
/// mantissa bits; exponent 0 is subnormal. Inf/NaN codes are handled by the caller.
fn minifloat(code: u8, ebits: u32, mbits: u32) -> f32 {
    let sign = (code >> (ebits + mbits)) & 1;
    let exp = ((code >> mbits) & ((1 << ebits) - 1)) as i32;
    let man = (code & ((1 << mbits) - 1)) as f32;
    let bias = (1 << (ebits - 1)) - 1;
    // Both branches are exact: few significant bits times a power of two.
    let mag = if exp == 0 {
        man * pow2(1 - bias - mbits as i32)
    } else {
        (man + pow2(mbits as i32)) * pow2(exp - bias - mbits as i32)
    };
    if sign == 1 {
        -mag
    } else {
        mag
    }
}

/// The sign bit of a code of type `t` (bit 7 for 8-bit types, 5 for FP6, 3 for FP4).
fn sign_bit(t: MxType) -> u8 {
    1 << (t.bits() - 1)
}

/// The non-negative finite values of `t` with their codes, in increasing order (for the
/// floating-point types codes increase with value).
fn positive_table(t: MxType) -> &'static [(f32, u8)] {
    static TABLES: [OnceLock<Vec<(f32, u8)>>; 6] = [const { OnceLock::new() }; 6];
    let slot = MxType::ALL.iter().position(|&x| x == t).unwrap_or(0);
    TABLES[slot].get_or_init(|| {
        (0..sign_bit(t))
            .map(|c| (decode(t, c), c))
            .filter(|(v, _)| v.is_finite())
            .collect()
    })
}

/// Largest finite element value: 448, 57344, 7.5, 28, 6, 127/64.
pub fn max_finite(t: MxType) -> f32 {
    positive_table(t).last().map_or(0.0, |&(v, _)| v)
}

/// The code nearest to `v` (ties to the code whose lowest bit is 0, i.e. the even mantissa),
/// saturating to the largest finite magnitude. MXINT8 never yields -128. `v` must be finite.
/// Zero and values that round to zero give the +0 code.
pub fn encode(t: MxType, v: f32) -> u8 {
    if t == MxType::Int8 {
        let q = (v * 64.0).round_ties_even().clamp(-127.0, 127.0) as i8;
        return q as u8;
    }
    let table = positive_table(t);
    let mag = v.abs();
    // Index of the first value above mag; the nearest is it or the one before.
    let up = table.partition_point(|&(x, _)| x <= mag);
    let code = if up == table.len() {
        table[up - 1].1 // saturate
    } else {
        let (lo_v, lo_c) = table[up - 1];
        let (hi_v, hi_c) = table[up];
        let (d_lo, d_hi) = (mag - lo_v, hi_v - mag);
        if d_lo < d_hi || (d_lo == d_hi && lo_c & 1 == 0) {
            lo_c
        } else {
            hi_c
        }
    };
    if v < 0.0 && code != 0 {
        code | sign_bit(t)
    } else {
        code
    }
}

#[cfg(test)]
// Binary literals are grouped sign_exponent_mantissa.
#[allow(clippy::unusual_byte_groupings)]
mod tests {
    use super::*;

    fn all_codes(t: MxType) -> Vec<f32> {
        (0..(1u16 << t.bits()))
            .map(|c| decode(t, c as u8))
            .collect()
    }

    #[test]
    fn e2m1_matches_ocp_table() {
        let v = all_codes(MxType::Fp4E2M1);
        let pos = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
        assert_eq!(&v[..8], &pos);
        for i in 0..8 {
            assert_eq!(v[8 + i], -pos[i]);
        }
        assert!(v[8].is_sign_negative());
    }

    #[test]
    fn e2m3_and_e3m2_match_ocp_values() {
        let t = MxType::Fp6E2M3;
        assert_eq!(decode(t, 0b0_00_001), 0.125); // min subnormal
        assert_eq!(decode(t, 0b0_00_111), 0.875);
        assert_eq!(decode(t, 0b0_01_000), 1.0); // min normal
        assert_eq!(decode(t, 0b0_11_111), 7.5);
        assert_eq!(decode(t, 0b1_11_111), -7.5);
        assert_eq!(max_finite(t), 7.5);
        let t = MxType::Fp6E3M2;
        assert_eq!(decode(t, 0b0_000_01), 0.0625);
        assert_eq!(decode(t, 0b0_001_00), 0.25);
        assert_eq!(decode(t, 0b0_111_11), 28.0);
        assert_eq!(max_finite(t), 28.0);
        // Every FP6/FP4 code is finite (no Inf/NaN encodings).
        for t in [MxType::Fp6E2M3, MxType::Fp6E3M2, MxType::Fp4E2M1] {
            assert!(all_codes(t).iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn fp8_match_ocp_values() {
        let t = MxType::Fp8E4M3;
        assert_eq!(decode(t, 0x01), 2f32.powi(-9));
        assert_eq!(decode(t, 0x08), 2f32.powi(-6));
        assert_eq!(decode(t, 0x7E), 448.0);
        assert_eq!(decode(t, 0x78), 256.0);
        assert!(decode(t, 0x7F).is_nan() && decode(t, 0xFF).is_nan());
        assert_eq!(all_codes(t).iter().filter(|v| v.is_nan()).count(), 2);
        assert_eq!(max_finite(t), 448.0);
        let t = MxType::Fp8E5M2;
        assert_eq!(decode(t, 0x01), 2f32.powi(-16));
        assert_eq!(decode(t, 0x04), 2f32.powi(-14));
        assert_eq!(decode(t, 0x7B), 57344.0);
        assert_eq!(decode(t, 0x7C), f32::INFINITY);
        assert_eq!(decode(t, 0xFC), f32::NEG_INFINITY);
        assert_eq!(all_codes(t).iter().filter(|v| v.is_nan()).count(), 6);
        assert_eq!(max_finite(t), 57344.0);
    }

    #[test]
    fn int8_has_implicit_scale() {
        assert_eq!(decode(MxType::Int8, 64), 1.0);
        assert_eq!(decode(MxType::Int8, 0x81), -127.0 / 64.0);
        assert_eq!(decode(MxType::Int8, 0x80), -2.0);
        assert_eq!(encode(MxType::Int8, -100.0), 0x81);
    }

    #[test]
    fn encode_rounds_to_nearest_even_and_saturates() {
        for t in MxType::ALL {
            // Every finite code round-trips (except -0, which keeps its sign only for nonzero).
            for c in 0..(1u16 << t.bits()) {
                let v = decode(t, c as u8);
                if v.is_finite() && v != 0.0 && !(t == MxType::Int8 && c == 0x80) {
                    assert_eq!(decode(t, encode(t, v)), v, "{t:?} {c:#x}");
                }
            }
            let m = max_finite(t);
            assert_eq!(decode(t, encode(t, 1e30)), m);
            assert_eq!(decode(t, encode(t, -1e30)), -m);
        }
        // E2M1: 2.5 lies between 2 (code 4, even) and 3 (code 5): ties to 2.
        assert_eq!(decode(MxType::Fp4E2M1, encode(MxType::Fp4E2M1, 2.5)), 2.0);
        assert_eq!(decode(MxType::Fp4E2M1, encode(MxType::Fp4E2M1, 3.5)), 4.0);
        assert_eq!(decode(MxType::Fp4E2M1, encode(MxType::Fp4E2M1, 0.25)), 0.0);
        assert_eq!(decode(MxType::Fp4E2M1, encode(MxType::Fp4E2M1, 5.0)), 4.0);
    }
}

//! Small exact floating-point helpers: powers of two, E8M0 scales and f16 conversions.

use half::f16;

/// `2^n` as an exact f32, for `n` in `-149..=127` (subnormals included). Outside that range the
/// result is 0 or infinity, as IEEE rounding of the true value would give.
pub fn pow2(n: i32) -> f32 {
    if n > 127 {
        f32::INFINITY
    } else if n >= -126 {
        f32::from_bits(((n + 127) as u32) << 23)
    } else if n >= -149 {
        f32::from_bits(1u32 << (n + 149))
    } else {
        0.0
    }
}

/// The E8M0 shared scale of OCP MX and of `bfp{b}`: `2^(e - 127)`, `0xFF` is NaN.
pub fn e8m0(e: u8) -> f32 {
    if e == 0xFF {
        f32::NAN
    } else {
        pow2(e as i32 - 127)
    }
}

/// `2^(e - 127 - shift)`, the scale of an E8M0 block whose elements are read as integers that are
/// `2^shift` times the element values. `0xFF` is NaN.
pub fn e8m0_shifted(e: u8, shift: i32) -> f32 {
    if e == 0xFF {
        f32::NAN
    } else {
        pow2(e as i32 - 127 - shift)
    }
}

/// Reads a little-endian f16 at `at` and widens it (exact).
pub fn read_f16(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// Rounds to f16 (nearest, ties to even) and writes it little-endian.
pub fn write_f16(out: &mut [u8], at: usize, v: f32) {
    out[at..at + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes());
}

/// `v` rounded to the nearest f16 value, clamped to the finite f16 range (quantizers never store
/// an infinite scale).
pub fn to_f16_finite(v: f32) -> f32 {
    f16::from_f32(v.clamp(-65504.0, 65504.0)).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_are_exact() {
        for n in -149..=127 {
            assert_eq!(pow2(n) as f64, 2f64.powi(n), "2^{n}");
        }
        assert_eq!(pow2(-150), 0.0);
        assert_eq!(pow2(128), f32::INFINITY);
        assert_eq!(e8m0(127), 1.0);
        assert_eq!(e8m0(0).to_bits(), 0x0040_0000);
        assert_eq!(e8m0(254), 2f32.powi(127));
        assert!(e8m0(255).is_nan());
        assert_eq!(e8m0_shifted(0, 6), 2f32.powi(-133));
    }
}

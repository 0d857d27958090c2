//! Raw encodings: plain little-endian arrays, one value per element, no blocks.
//!
//! Decoding to f32: f16, bf16, f8 and small integers convert exactly; f64 and 32/64-bit
//! integers round to nearest even; `bool` is 0 or 1 (any nonzero byte is 1).

use half::{bf16, f16};
use tessera_format::{MxType, RawType};

use crate::mx_elements;

/// Decodes `out.len()` elements of type `t` from `bytes` (exactly `out.len() * t.size()` bytes).
pub fn decode(t: RawType, bytes: &[u8], out: &mut [f32]) {
    let n = t.size();
    for (o, b) in out.iter_mut().zip(bytes.chunks_exact(n)) {
        *o = decode_one(t, b);
    }
}

fn decode_one(t: RawType, b: &[u8]) -> f32 {
    let a2 = || [b[0], b[1]];
    let a4 = || [b[0], b[1], b[2], b[3]];
    let a8 = || [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
    match t {
        RawType::F32 => f32::from_le_bytes(a4()),
        RawType::F16 => f16::from_le_bytes(a2()).to_f32(),
        RawType::BF16 => bf16::from_le_bytes(a2()).to_f32(),
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
        RawType::F8E4M3 => mx_elements::decode(MxType::Fp8E4M3, b[0]),
        RawType::F8E5M2 => mx_elements::decode(MxType::Fp8E5M2, b[0]),
    }
}

/// Encodes values as `t`: floats round to nearest even (f32 and f64 exactly; f16/bf16 keep
/// Inf/NaN; f8 saturates finite values as MX elements do). `None` for integer and bool types,
/// which are not quantization targets.
pub fn encode(t: RawType, values: &[f32]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(values.len() * t.size());
    for &v in values {
        match t {
            RawType::F32 => out.extend_from_slice(&v.to_le_bytes()),
            RawType::F16 => out.extend_from_slice(&f16::from_f32(v).to_le_bytes()),
            RawType::BF16 => out.extend_from_slice(&bf16::from_f32(v).to_le_bytes()),
            RawType::F64 => out.extend_from_slice(&(v as f64).to_le_bytes()),
            RawType::F8E4M3 => out.push(f8(MxType::Fp8E4M3, v)),
            RawType::F8E5M2 => out.push(f8(MxType::Fp8E5M2, v)),
            _ => return None,
        }
    }
    Some(out)
}

/// An f8 code: NaN to the type's NaN, infinities saturate (E4M3 has none; E5M2 keeps them),
/// finite values round to nearest even and saturate.
fn f8(t: MxType, v: f32) -> u8 {
    if v.is_nan() {
        return 0x7F;
    }
    if v.is_infinite() && t == MxType::Fp8E5M2 {
        return if v > 0.0 { 0x7C } else { 0xFC };
    }
    mx_elements::encode(t, v.clamp(f32::MIN, f32::MAX))
}

//! Source element types: which ones we quantize, how they are stored raw, and decoding of float
//! rows to f32 for the quantizers.

use half::{bf16, f16};
use safetensors::Dtype;
use tessera_format::RawType;

/// The raw type that stores this safetensors dtype unchanged, if there is one.
pub fn raw_type(dtype: Dtype) -> Option<RawType> {
    Some(match dtype {
        Dtype::BOOL => RawType::Bool,
        Dtype::U8 => RawType::U8,
        Dtype::I8 => RawType::I8,
        Dtype::F8_E5M2 => RawType::F8E5M2,
        Dtype::F8_E4M3 => RawType::F8E4M3,
        Dtype::I16 => RawType::I16,
        Dtype::U16 => RawType::U16,
        Dtype::F16 => RawType::F16,
        Dtype::BF16 => RawType::BF16,
        Dtype::I32 => RawType::I32,
        Dtype::U32 => RawType::U32,
        Dtype::F32 => RawType::F32,
        Dtype::F64 => RawType::F64,
        Dtype::I64 => RawType::I64,
        Dtype::U64 => RawType::U64,
        _ => return None,
    })
}

/// The safetensors dtype of a raw type (for `export`).
pub fn dtype_of_raw(t: RawType) -> Dtype {
    match t {
        RawType::F32 => Dtype::F32,
        RawType::F16 => Dtype::F16,
        RawType::BF16 => Dtype::BF16,
        RawType::F64 => Dtype::F64,
        RawType::I8 => Dtype::I8,
        RawType::I16 => Dtype::I16,
        RawType::I32 => Dtype::I32,
        RawType::I64 => Dtype::I64,
        RawType::U8 => Dtype::U8,
        RawType::U16 => Dtype::U16,
        RawType::U32 => Dtype::U32,
        RawType::U64 => Dtype::U64,
        RawType::Bool => Dtype::BOOL,
        RawType::F8E4M3 => Dtype::F8_E4M3,
        RawType::F8E5M2 => Dtype::F8_E5M2,
    }
}

/// True for the float dtypes the converter quantizes.
pub fn is_quantizable(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16)
}

/// Decodes little-endian F32/F16/BF16 bytes into `out` (cleared first). Other dtypes, or a byte
/// count that is not a whole number of elements, give `None`.
pub fn decode_floats(dtype: Dtype, bytes: &[u8], out: &mut Vec<f32>) -> Option<()> {
    out.clear();
    match dtype {
        Dtype::F32 if bytes.len() % 4 == 0 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        Dtype::F16 if bytes.len() % 2 == 0 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        Dtype::BF16 if bytes.len() % 2 == 0 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        _ => return None,
    }
    Some(())
}

/// Encodes f32 values as little-endian bytes of a raw float type (round to nearest even).
pub fn encode_floats(t: RawType, values: &[f32]) -> Option<Vec<u8>> {
    Some(match t {
        RawType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        RawType::F16 => values
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect(),
        RawType::BF16 => values
            .iter()
            .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
            .collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_exactly() {
        let v = [0.0f32, -1.5, 3.25, 65504.0, -0.0];
        for t in [RawType::F32, RawType::F16, RawType::BF16] {
            let bytes = encode_floats(t, &v).unwrap();
            let mut out = Vec::new();
            decode_floats(dtype_of_raw(t), &bytes, &mut out).unwrap();
            let want: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
            let got: Vec<u32> = out.iter().map(|x| x.to_bits()).collect();
            if t == RawType::BF16 {
                // 65504 is not a bf16 value; it rounds to 65536.
                assert_eq!(out[3], 65536.0);
                assert_eq!(&got[..3], &want[..3]);
            } else {
                assert_eq!(got, want, "{t:?}");
            }
        }
        let mut out = Vec::new();
        assert!(decode_floats(Dtype::F32, &[0; 5], &mut out).is_none());
        assert!(decode_floats(Dtype::I64, &[0; 8], &mut out).is_none());
    }

    #[test]
    fn every_raw_type_maps_back() {
        for t in RawType::ALL {
            assert_eq!(raw_type(dtype_of_raw(t)), Some(t));
        }
        assert_eq!(raw_type(Dtype::F4), None);
    }
}

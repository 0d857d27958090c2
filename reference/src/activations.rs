//! Activation quantization for the integer path (SPEC.md, "Integer path").

use tessera_format::GROUP;

/// One row of X quantized per group of 32 (the last group zero-padded).
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedActivations {
    /// Elements of the row before padding.
    pub k: usize,
    /// `groups * 32` integers in `[-127, 127]`, padding 0.
    pub q: Vec<i8>,
    /// Per group: `amax / 127` (f32 division), or NaN for a group holding a non-finite value.
    pub scale: Vec<f32>,
    /// Per group: the sum of its integers.
    pub sum: Vec<i32>,
    /// True if any element of the row is NaN or infinite; every output of the row is then NaN.
    pub non_finite: bool,
}

impl QuantizedActivations {
    /// Groups of 32 in the row.
    pub fn groups(&self) -> usize {
        self.scale.len()
    }
}

/// Quantizes one row of X: per group `sx = amax / 127`, `xq = clamp(round_half_even(x / sx),
/// -127, 127)` with a true f32 division (all zero if `sx == 0`). A group with a non-finite value
/// gets `q = 0`, `sum = 0`, `scale = NaN` (the row's outputs are NaN regardless).
pub fn quantize_activations(x: &[f32]) -> QuantizedActivations {
    let groups = x.len().div_ceil(GROUP);
    let mut q = vec![0i8; groups * GROUP];
    let mut scale = Vec::with_capacity(groups);
    let mut sum = Vec::with_capacity(groups);
    let mut non_finite = false;
    for (g, chunk) in x.chunks(GROUP).enumerate() {
        if chunk.iter().any(|v| !v.is_finite()) {
            non_finite = true;
            scale.push(f32::NAN);
            sum.push(0);
            continue;
        }
        let amax = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let sx = amax / 127.0;
        let mut s = 0i32;
        if sx != 0.0 {
            for (i, &v) in chunk.iter().enumerate() {
                let r = (v / sx).round_ties_even().clamp(-127.0, 127.0) as i8;
                q[g * GROUP + i] = r;
                s += r as i32;
            }
        }
        scale.push(sx);
        sum.push(s);
    }
    QuantizedActivations {
        k: x.len(),
        q,
        scale,
        sum,
        non_finite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_group() {
        let mut x = vec![0.0f32; 40];
        x[0] = 1.27;
        x[1] = -1.27;
        x[2] = 0.005; // 0.5 exactly at scale 0.01 rounds to even: 0
        x[3] = 0.015; // 1.5 rounds to 2
        x[33] = -3.0;
        let a = quantize_activations(&x);
        assert_eq!(a.groups(), 2);
        assert_eq!(a.scale[0], 1.27f32 / 127.0);
        assert_eq!(a.q[0], 127);
        assert_eq!(a.q[1], -127);
        assert_eq!(
            a.q[2],
            (0.005f32 / (1.27f32 / 127.0)).round_ties_even() as i8
        );
        assert_eq!(a.q[32 + 1], -127);
        assert_eq!(a.sum[1], -127);
        assert_eq!(a.q.len(), 64);
        assert!(!a.non_finite);
    }

    #[test]
    fn zeros_subnormals_and_non_finite() {
        let a = quantize_activations(&[0.0; 5]);
        assert_eq!(a.scale, vec![0.0]);
        assert!(a.q.iter().all(|&v| v == 0));
        // The smallest subnormal: amax / 127 underflows to 0, so the group is all zeros.
        let a = quantize_activations(&[f32::from_bits(1), -f32::from_bits(1)]);
        assert_eq!(a.scale, vec![0.0]);
        let a = quantize_activations(&[1.0, f32::NAN]);
        assert!(a.non_finite && a.scale[0].is_nan());
        assert!(quantize_activations(&[f32::NEG_INFINITY]).non_finite);
        assert_eq!(quantize_activations(&[]).groups(), 0);
    }
}

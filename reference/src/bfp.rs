//! `bfp{b}`: block floating point, one E8M0 exponent per group of 32 signed `b`-bit mantissas.
//!
//! Block (1 + 4b bytes): `e: u8`, then the planes of the codes `u`. Value `(u - o) * 2^(e - 127)`
//! (exact), `e = 0xFF` is NaN.

use tessera_format::GROUP;

use crate::block::IntGroup;
use crate::fp::e8m0;
use crate::planes;
use crate::quantizer::{floor_log2, signed_absmax, sym_codes, GroupInput, SymFit};

pub fn offset(bits: u32) -> i32 {
    1 << (bits - 1)
}

pub fn int_group(bits: u32, block: &[u8]) -> IntGroup {
    let u = planes::unpack(bits, &block[1..]);
    let o = offset(bits);
    IntGroup {
        q: std::array::from_fn(|i| u[i] as i32 - o),
        scale: e8m0(block[0]),
        sub_scale: 1,
        min: None,
    }
}

pub fn decode(bits: u32, block: &[u8], out: &mut [f32]) {
    let g = int_group(bits, block);
    for (o, q) in out.iter_mut().zip(g.q) {
        *o = q as f32 * g.scale;
    }
}

/// Zero block: every mantissa 0 and a scale of at most 1 (SPEC.md, "Sparse storage").
pub fn is_zero(bits: u32, block: &[u8]) -> bool {
    let g = int_group(bits, block);
    block[0] <= 127 && g.q.iter().all(|&q| q == 0)
}

/// Exponent search: the smallest exponent whose scale keeps the largest magnitude within the
/// levels (`e0`), one below it (finer steps, the largest value clipped) and one above; keep the
/// lowest error, preferring `e0`. An all-zero group is stored with `e = 0`.
pub fn encode(bits: u32, g: GroupInput, out: &mut [u8]) {
    let o = offset(bits);
    let m = signed_absmax(g.x);
    let mut best_e = 0u8;
    let mut best = SymFit {
        scale: 0.0,
        q: [0; GROUP],
        err: 0.0,
    };
    if m != 0.0 {
        // 2^(E) with E = floor(log2 |m|) - (b - 2): |m| / 2^E lies in [2^(b-2), 2^(b-1)), within
        // [-o, o-1] except when rounding reaches o.
        let e0 = floor_log2(m) - (bits as i32 - 2) + 127;
        let mut first = true;
        for e in [e0, e0 - 1, e0 + 1] {
            let e = e.clamp(0, 254) as u8;
            let fit = sym_codes(g, e8m0(e), o);
            if first || fit.err < best.err {
                best = fit;
                best_e = e;
                first = false;
            }
        }
    }
    out[0] = best_e;
    let codes: [u8; GROUP] = std::array::from_fn(|i| (best.q[i] + o) as u8);
    planes::pack(bits, &codes, &mut out[1..]);
}

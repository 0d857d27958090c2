//! aarch64 kernels: a NEON baseline (ARMv8.0), a dotprod tier (`sdot`) and an i8mm tier
//! (`smmla` for gemm). The float path and dequantization need nothing past ARMv8.0 NEON, so every
//! tier shares them; the tiers differ only in how the integer path forms its int8 dot products.

mod float;
mod int;
mod planes;

use std::arch::aarch64::{float32x4_t, uint16x4_t};
use std::arch::asm;
use std::ops::Range;

use crate::dispatch::{DequantRowsFn, FloatRowsFn, IntRowsFn};
use crate::{Isa, WeightView};

/// How a tier forms int8 dot products, as a `u8` so it can be a const generic parameter.
pub(crate) mod dot {
    /// `smull` / `smlal` into i16 pairs, `sadalp` into i32 (ARMv8.0).
    pub const NEON: u8 = 0;
    /// `sdot`: four products per i32 lane.
    pub const SDOT: u8 = 1;
    /// `smmla`: a 2x8 by 8x2 int8 matrix product per instruction (two rows x two activations).
    pub const SMMLA: u8 = 2;
}

/// The three entry points of tier `isa` as safe function pointers. Only `kernels_for` calls this,
/// after checking that this CPU has the tier's features.
pub(crate) fn entry_points(isa: Isa) -> (IntRowsFn, FloatRowsFn, DequantRowsFn) {
    let int_rows: IntRowsFn = match isa {
        Isa::NeonI8mm => |w, xq, rows, out| {
            // SAFETY: this table is only handed out when the CPU has neon, dotprod and i8mm; the
            // API checked the shapes.
            unsafe { int::int_rows_i8mm(w, xq, rows, out) };
            Ok(())
        },
        Isa::NeonDotprod => |w, xq, rows, out| {
            // SAFETY: as above, with neon and dotprod.
            unsafe { int::int_rows_dotprod(w, xq, rows, out) };
            Ok(())
        },
        _ => |w, xq, rows, out| {
            // SAFETY: as above, with neon.
            unsafe { int::int_rows_neon(w, xq, rows, out) };
            Ok(())
        },
    };
    let float_rows: FloatRowsFn =
        |w: &WeightView, x: &[f32], m: usize, rows: Range<usize>, out: &mut [f32]| {
            // SAFETY: every aarch64 tier has neon; the API checked the shapes.
            unsafe { float::float_rows(w, x, m, rows, out) };
            Ok(())
        };
    let dequant_rows: DequantRowsFn = |w: &WeightView, rows: Range<usize>, out: &mut [f32]| {
        // SAFETY: as above.
        unsafe { float::dequant_rows(w, rows, out) };
        Ok(())
    };
    (int_rows, float_rows, dequant_rows)
}

/// Four f16 values (as u16 bits) widened exactly to f32 (`fcvtl`, ARMv8.0; subnormals exact
/// with Linux's default FPCR).
///
/// # Safety
/// The caller must enable `neon`.
#[inline(always)]
pub(crate) unsafe fn f16x4_to_f32(h: uint16x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: pure register arithmetic, part of base aarch64 NEON.
    unsafe {
        asm!(
            "fcvtl {out:v}.4s, {h:v}.4h",
            out = lateout(vreg) out,
            h = in(vreg) h,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

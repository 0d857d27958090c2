//! One storage block of any block encoding: decode it, give its groups' integers, tell whether it
//! is a zero block, and quantize values into it. Dispatches to the family modules.

use tessera_format::{Encoding, GROUP};

use crate::quantizer::GroupInput;
use crate::{bfp, int_affine, int_super, int_super_affine, int_super_half, int_sym, mx};

/// One group as the integer path sees it (SPEC.md, "Integer path"): the group's
/// contribution to an output is `fma(scale * sx, f32(sub_scale * sum q*xq), acc)`, then, for
/// affine blocks, `fma(min * sx, f32(sum xq), acc)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IntGroup {
    /// The group's integers, padding included.
    pub q: [i32; GROUP],
    /// The f32 scale `sw` of the group.
    pub scale: f32,
    /// The integer sub-scale of a super-block group (`c[g]` of `q{b}k`, `sc[g]` of `q{b}ka`; 1
    /// elsewhere).
    pub sub_scale: i32,
    /// The affine min `mw` (affine encodings only).
    pub min: Option<f32>,
}

/// Groups held by a block of `len` bytes (short super-blocks hold fewer than 8).
pub fn groups_in(e: Encoding, len: usize) -> usize {
    match e {
        Encoding::IntSuper { bits } => int_super::groups_in(bits, len),
        Encoding::IntSuperAffine { bits } => int_super_affine::groups_in(bits, len),
        Encoding::IntSuperHalf { bits } => int_super_half::groups_in(bits, len),
        _ => e.block_elems() / GROUP,
    }
}

/// Decodes every element of the block, padding included (`out.len() == groups_in * 32`).
pub fn decode(e: Encoding, block: &[u8], out: &mut [f32]) {
    match e {
        Encoding::IntSym { bits } => int_sym::decode(bits, block, out),
        Encoding::IntAffine { bits } => int_affine::decode(bits, block, out),
        Encoding::IntSuper { bits } => int_super::decode(bits, block, out),
        Encoding::IntSuperAffine { bits } => int_super_affine::decode(bits, block, out),
        Encoding::IntSuperHalf { bits } => int_super_half::decode(bits, block, out),
        Encoding::Bfp { bits } => bfp::decode(bits, block, out),
        Encoding::Mx(t) => mx::decode(t, block, out),
        Encoding::Raw(_) => unreachable!("raw encodings have no blocks"),
    }
}

/// The integer view of group `g` of the block, or `None` if the encoding has no integer path.
pub fn int_group(e: Encoding, block: &[u8], g: usize) -> Option<IntGroup> {
    match e {
        Encoding::IntSym { bits } => Some(int_sym::int_group(bits, block)),
        Encoding::IntAffine { bits } => Some(int_affine::int_group(bits, block, g)),
        Encoding::IntSuper { bits } => Some(int_super::int_group(bits, block, g)),
        Encoding::IntSuperAffine { bits } => Some(int_super_affine::int_group(bits, block, g)),
        Encoding::IntSuperHalf { bits } => Some(int_super_half::int_group(bits, block, g)),
        Encoding::Bfp { bits } => Some(bfp::int_group(bits, block)),
        Encoding::Mx(t) => mx::int_group(t, block),
        Encoding::Raw(_) => None,
    }
}

/// True if the block may be omitted from sparse storage: it decodes to ±0 everywhere and adds
/// exactly nothing on either path for any finite activations (SPEC.md, "Sparse storage").
pub fn is_zero(e: Encoding, block: &[u8]) -> bool {
    match e {
        Encoding::IntSym { .. } => int_sym::is_zero(block),
        Encoding::IntAffine { .. } => int_affine::is_zero(block),
        Encoding::IntSuper { .. } => int_super::is_zero(block),
        Encoding::IntSuperAffine { .. } => int_super_affine::is_zero(block),
        Encoding::IntSuperHalf { .. } => int_super_half::is_zero(block),
        Encoding::Bfp { bits } => bfp::is_zero(bits, block),
        Encoding::Mx(t) => mx::is_zero(t, block),
        Encoding::Raw(_) => false,
    }
}

/// Quantizes `x` (exactly `groups * 32` values, padded) with importances `imp` (padding has
/// importance 0) into `out`, a block of `block_bytes_at` bytes.
pub fn encode(e: Encoding, x: &[f32], imp: &[f32], out: &mut [u8]) {
    let group = |g: usize| GroupInput {
        x: x[g * GROUP..(g + 1) * GROUP]
            .try_into()
            .expect("group of 32"),
        imp: imp[g * GROUP..(g + 1) * GROUP]
            .try_into()
            .expect("group of 32"),
    };
    match e {
        Encoding::IntSym { bits } => int_sym::encode(bits, group(0), out),
        Encoding::IntAffine { bits } => int_affine::encode(
            bits,
            x.try_into().expect("64 values"),
            imp.try_into().expect("64 values"),
            out,
        ),
        Encoding::IntSuper { bits } => {
            let groups: Vec<GroupInput> = (0..x.len() / GROUP).map(group).collect();
            int_super::encode(bits, &groups, out)
        }
        Encoding::IntSuperAffine { bits } => {
            let groups: Vec<GroupInput> = (0..x.len() / GROUP).map(group).collect();
            int_super_affine::encode(bits, &groups, out)
        }
        Encoding::IntSuperHalf { bits } => {
            let groups: Vec<GroupInput> = (0..x.len() / GROUP).map(group).collect();
            int_super_half::encode(bits, &groups, out)
        }
        Encoding::Bfp { bits } => bfp::encode(bits, group(0), out),
        Encoding::Mx(t) => mx::encode(t, group(0), out),
        Encoding::Raw(_) => unreachable!("raw encodings have no blocks"),
    }
}

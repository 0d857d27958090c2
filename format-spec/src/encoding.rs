//! The encodings table: one descriptor per encoding.
//!
//! This is the single place that says, for every encoding, its numeric id, its name, how a row of
//! `K` elements is cut into storage blocks, and how many bytes each block takes. The reader uses it
//! to check that a tensor's byte length is what its shape implies; the reference codecs and the
//! kernels use it to walk rows. It holds geometry only: how values are computed from the bytes is
//! defined by `tessera-reference` and written down in SPEC.md.
//!
//! Geometry rules shared by every block encoding (SPEC.md, "Rows and blocks"):
//! - A tensor of shape `[d0, .., d(r-1)]` is `rows = d0 * .. * d(r-2)` rows of `K = d(r-1)` elements
//!   (a rank-1 tensor is one row). Rows are encoded one after another, each on its own: no block
//!   straddles two rows.
//! - A row is cut into groups of 32 elements ("sub-blocks"); the last group is padded with zeros
//!   to 32. Padding elements are encoded like any other zero and ignored when decoding.
//! - Affine blocks hold 64 elements (two groups): a row whose group count is odd ends with a block
//!   whose second half is all padding.
//! - Super-blocks hold up to 8 groups (256 elements). A row whose length is not a multiple of 256
//!   ends with one short super-block holding only the groups that remain, so its size is
//!   `header + groups * group_bytes` bytes. Its header is the full one (16 bytes for `q{b}ka`, 3
//!   for `q{b}kh`), except for `q{b}k`, whose 6-bit sub-scales take `ceil(6 * groups / 8)` bytes
//!   after the 2-byte scale (see [`Encoding::header_bytes_for`]).

/// Elements in one group: the unit of activation quantization and of the integer dot product.
pub const GROUP: usize = 32;
/// Groups in one full super-block.
pub const GROUPS_PER_SUPER_BLOCK: usize = 8;

/// Element types stored as plain little-endian arrays, one value per element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RawType {
    F32,
    F16,
    BF16,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    /// One byte per element, 0 or 1.
    Bool,
    /// OCP FP8 E4M3 bytes with no shared scale (as found in checkpoints).
    F8E4M3,
    /// OCP FP8 E5M2 bytes with no shared scale.
    F8E5M2,
}

impl RawType {
    pub const ALL: [RawType; 15] = [
        RawType::F32,
        RawType::F16,
        RawType::BF16,
        RawType::F64,
        RawType::I8,
        RawType::I16,
        RawType::I32,
        RawType::I64,
        RawType::U8,
        RawType::U16,
        RawType::U32,
        RawType::U64,
        RawType::Bool,
        RawType::F8E4M3,
        RawType::F8E5M2,
    ];

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            RawType::F64 | RawType::I64 | RawType::U64 => 8,
            RawType::F32 | RawType::I32 | RawType::U32 => 4,
            RawType::F16 | RawType::BF16 | RawType::I16 | RawType::U16 => 2,
            RawType::I8 | RawType::U8 | RawType::Bool | RawType::F8E4M3 | RawType::F8E5M2 => 1,
        }
    }

    const fn code(self) -> u32 {
        match self {
            RawType::F32 => 0,
            RawType::F16 => 1,
            RawType::BF16 => 2,
            RawType::F64 => 3,
            RawType::I8 => 4,
            RawType::I16 => 5,
            RawType::I32 => 6,
            RawType::I64 => 7,
            RawType::U8 => 8,
            RawType::U16 => 9,
            RawType::U32 => 10,
            RawType::U64 => 11,
            RawType::Bool => 12,
            RawType::F8E4M3 => 13,
            RawType::F8E5M2 => 14,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            RawType::F32 => "f32",
            RawType::F16 => "f16",
            RawType::BF16 => "bf16",
            RawType::F64 => "f64",
            RawType::I8 => "i8",
            RawType::I16 => "i16",
            RawType::I32 => "i32",
            RawType::I64 => "i64",
            RawType::U8 => "u8",
            RawType::U16 => "u16",
            RawType::U32 => "u32",
            RawType::U64 => "u64",
            RawType::Bool => "bool",
            RawType::F8E4M3 => "f8_e4m3",
            RawType::F8E5M2 => "f8_e5m2",
        }
    }
}

/// OCP Microscaling v1.0 element types. Every MX block is a one-byte E8M0 scale followed by 32
/// elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MxType {
    Fp8E4M3,
    Fp8E5M2,
    Fp6E2M3,
    Fp6E3M2,
    Fp4E2M1,
    Int8,
}

impl MxType {
    pub const ALL: [MxType; 6] = [
        MxType::Fp8E4M3,
        MxType::Fp8E5M2,
        MxType::Fp6E2M3,
        MxType::Fp6E3M2,
        MxType::Fp4E2M1,
        MxType::Int8,
    ];

    /// Bits per element.
    pub const fn bits(self) -> u32 {
        match self {
            MxType::Fp8E4M3 | MxType::Fp8E5M2 | MxType::Int8 => 8,
            MxType::Fp6E2M3 | MxType::Fp6E3M2 => 6,
            MxType::Fp4E2M1 => 4,
        }
    }

    const fn code(self) -> u32 {
        match self {
            MxType::Fp8E4M3 => 0,
            MxType::Fp8E5M2 => 1,
            MxType::Fp6E2M3 => 2,
            MxType::Fp6E3M2 => 3,
            MxType::Fp4E2M1 => 4,
            MxType::Int8 => 5,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            MxType::Fp8E4M3 => "mxfp8_e4m3",
            MxType::Fp8E5M2 => "mxfp8_e5m2",
            MxType::Fp6E2M3 => "mxfp6_e2m3",
            MxType::Fp6E3M2 => "mxfp6_e3m2",
            MxType::Fp4E2M1 => "mxfp4",
            MxType::Int8 => "mxint8",
        }
    }
}

/// Every encoding a tensor can have. Ids are stable on disk (SPEC.md, "Encodings").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Plain little-endian values, no blocks. Id `0x0000 + code`.
    Raw(RawType),
    /// Symmetric integers, one f16 scale per 32 elements. `bits` in 2..=8. Id `0x0100 + bits`.
    IntSym { bits: u32 },
    /// Affine integers, f16 scale and f16 min per 64 elements. `bits` in 2..=8. Id `0x0200 + bits`.
    IntAffine { bits: u32 },
    /// Symmetric integers in super-blocks of 256: one f16 scale and eight signed 6-bit sub-scales.
    /// `bits` in 2..=6. Id `0x0300 + bits`.
    IntSuper { bits: u32 },
    /// Block floating point: one E8M0 exponent per 32 signed `bits`-bit mantissas. `bits` in
    /// 2..=8. Id `0x0400 + bits`.
    Bfp { bits: u32 },
    /// OCP MX types. Id `0x0500 + code`.
    Mx(MxType),
    /// Affine integers in super-blocks of 256: f16 scale `d` and f16 min `dmin`, eight unsigned
    /// 6-bit sub-scales and eight unsigned 6-bit sub-mins. `bits` in 2..=6. Id `0x0600 + bits`.
    IntSuperAffine { bits: u32 },
    /// Affine integers in super-blocks of 256 with 16-element sub-blocks: one f16 scale `d` and a
    /// min multiplier `k` per super-block; per 16 elements a 4-bit sub-scale and a 4-bit sub-min,
    /// stored after each group's planes. `bits` in 2..=3. Id `0x0700 + bits`.
    IntSuperHalf { bits: u32 },
}

/// Which arithmetic of SPEC.md's contract a matmul on this encoding uses by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// int8 activations, exact i32 block dots, one fma per block (per group, for affine: two).
    Integer,
    /// f32 activations times weights decoded to f32, 16 lane accumulators.
    Float,
}

impl Encoding {
    /// Every encoding, in id order.
    pub fn all() -> Vec<Encoding> {
        let mut v: Vec<Encoding> = RawType::ALL.iter().map(|&t| Encoding::Raw(t)).collect();
        v.extend((2..=8).map(|bits| Encoding::IntSym { bits }));
        v.extend((2..=8).map(|bits| Encoding::IntAffine { bits }));
        v.extend((2..=6).map(|bits| Encoding::IntSuper { bits }));
        v.extend((2..=8).map(|bits| Encoding::Bfp { bits }));
        v.extend(MxType::ALL.iter().map(|&t| Encoding::Mx(t)));
        v.extend((2..=6).map(|bits| Encoding::IntSuperAffine { bits }));
        v.extend((2..=3).map(|bits| Encoding::IntSuperHalf { bits }));
        v
    }

    /// Every block encoding (the ones that quantize and may be stored sparse).
    pub fn all_blocked() -> Vec<Encoding> {
        Encoding::all()
            .into_iter()
            .filter(|e| e.is_blocked())
            .collect()
    }

    /// True if this value is one of [`Encoding::all`]. The enum can hold widths no encoding has
    /// (`IntSym { bits: 1 }`); APIs that take an `Encoding` from a caller refuse those.
    pub fn is_defined(self) -> bool {
        Encoding::from_id(self.id()) == Some(self)
    }

    /// The on-disk id.
    pub const fn id(self) -> u32 {
        match self {
            Encoding::Raw(t) => t.code(),
            Encoding::IntSym { bits } => 0x0100 + bits,
            Encoding::IntAffine { bits } => 0x0200 + bits,
            Encoding::IntSuper { bits } => 0x0300 + bits,
            Encoding::Bfp { bits } => 0x0400 + bits,
            Encoding::Mx(t) => 0x0500 + t.code(),
            Encoding::IntSuperAffine { bits } => 0x0600 + bits,
            Encoding::IntSuperHalf { bits } => 0x0700 + bits,
        }
    }

    /// The encoding with this on-disk id, if it is one this version knows.
    pub fn from_id(id: u32) -> Option<Encoding> {
        Encoding::all().into_iter().find(|e| e.id() == id)
    }

    /// The short name used by the command line and recipes: `f16`, `q4`, `q4a`, `q4k`, `q4ka`,
    /// `q2kh`, `bfp4`, `mxfp4`, ...
    pub fn name(self) -> String {
        match self {
            Encoding::Raw(t) => t.name().to_string(),
            Encoding::IntSym { bits } => format!("q{bits}"),
            Encoding::IntAffine { bits } => format!("q{bits}a"),
            Encoding::IntSuper { bits } => format!("q{bits}k"),
            Encoding::Bfp { bits } => format!("bfp{bits}"),
            Encoding::Mx(t) => t.name().to_string(),
            Encoding::IntSuperAffine { bits } => format!("q{bits}ka"),
            Encoding::IntSuperHalf { bits } => format!("q{bits}kh"),
        }
    }

    /// The encoding with this name (see [`Encoding::name`]).
    pub fn from_name(name: &str) -> Option<Encoding> {
        Encoding::all().into_iter().find(|e| e.name() == name)
    }

    /// True for the block (quantized) encodings; false for raw arrays.
    pub const fn is_blocked(self) -> bool {
        !matches!(self, Encoding::Raw(_))
    }

    /// Bits of each stored element value (the integer or element width), or the raw type's width.
    pub const fn element_bits(self) -> u32 {
        match self {
            Encoding::Raw(t) => 8 * t.size() as u32,
            Encoding::IntSym { bits }
            | Encoding::IntAffine { bits }
            | Encoding::IntSuper { bits }
            | Encoding::IntSuperAffine { bits }
            | Encoding::IntSuperHalf { bits }
            | Encoding::Bfp { bits } => bits,
            Encoding::Mx(t) => t.bits(),
        }
    }

    /// The default matmul path (SPEC.md, "Arithmetic contract").
    pub const fn path(self) -> Path {
        match self {
            Encoding::Raw(_) => Path::Float,
            Encoding::Mx(MxType::Fp8E4M3 | MxType::Fp8E5M2 | MxType::Fp6E2M3 | MxType::Fp6E3M2) => {
                Path::Float
            }
            _ => Path::Integer,
        }
    }

    /// Elements covered by one full storage block (1 for raw encodings).
    pub const fn block_elems(self) -> usize {
        match self {
            Encoding::Raw(_) => 1,
            Encoding::IntAffine { .. } => 2 * GROUP,
            Encoding::IntSuper { .. }
            | Encoding::IntSuperAffine { .. }
            | Encoding::IntSuperHalf { .. } => GROUPS_PER_SUPER_BLOCK * GROUP,
            _ => GROUP,
        }
    }

    /// Bytes of the per-block header (scales, mins, exponents) before the element bytes.
    pub const fn block_header_bytes(self) -> usize {
        match self {
            Encoding::Raw(_) => 0,
            Encoding::IntSym { .. } => 2,
            Encoding::IntAffine { .. } => 4,
            Encoding::IntSuper { .. } => 8,
            Encoding::IntSuperAffine { .. } => 16,
            Encoding::IntSuperHalf { .. } => 3,
            Encoding::Bfp { .. } | Encoding::Mx(_) => 1,
        }
    }

    /// Bytes of the header of a block holding `groups` groups: [`Encoding::block_header_bytes`],
    /// except for a short `q{b}k` super-block, whose sub-scale field holds only its groups' 6-bit
    /// values (`2 + ceil(6 * groups / 8)` bytes; 8 for a full one).
    pub const fn header_bytes_for(self, groups: usize) -> usize {
        match self {
            Encoding::IntSuper { .. } => 2 + (6 * groups).div_ceil(8),
            _ => self.block_header_bytes(),
        }
    }

    /// Bytes of one group of 32 elements after the block header: the bit planes (`4 * bits`),
    /// plus, for `q{b}kh`, the group's two bytes of sub-scales and sub-mins. Raw: `32 * size`.
    pub const fn group_bytes(self) -> usize {
        match self {
            Encoding::Raw(t) => GROUP * t.size(),
            Encoding::IntSuperHalf { bits } => 4 * bits as usize + 2,
            _ => 4 * self.element_bits() as usize,
        }
    }

    /// Bytes of one full storage block (the element size for raw encodings).
    pub const fn block_bytes(self) -> usize {
        match self {
            Encoding::Raw(t) => t.size(),
            _ => {
                let groups = self.block_elems() / GROUP;
                self.block_header_bytes() + groups * self.group_bytes()
            }
        }
    }

    /// Nominal bits per weight of a row made only of full blocks.
    pub fn nominal_bpw(self) -> f64 {
        8.0 * self.block_bytes() as f64 / self.block_elems() as f64
    }

    /// Storage blocks in one row of `k` elements (`k` for raw encodings).
    pub const fn blocks_per_row(self, k: u64) -> u64 {
        k.div_ceil(self.block_elems() as u64)
    }

    /// True for the super-block encodings (`q{b}k`, `q{b}ka`, `q{b}kh`), whose last block in a
    /// row may be short.
    pub const fn is_super_block(self) -> bool {
        matches!(
            self,
            Encoding::IntSuper { .. }
                | Encoding::IntSuperAffine { .. }
                | Encoding::IntSuperHalf { .. }
        )
    }

    /// Bytes of storage block `index` (0-based) of a row of `k` elements. Only the last block of a
    /// super-block row can be shorter than [`Encoding::block_bytes`]: it holds only the groups that
    /// remain, after a header of [`Encoding::header_bytes_for`] those groups.
    pub const fn block_bytes_at(self, k: u64, index: u64) -> usize {
        if self.is_super_block() {
            let full = k / (GROUPS_PER_SUPER_BLOCK * GROUP) as u64;
            if index >= full {
                let groups = (k % (GROUPS_PER_SUPER_BLOCK * GROUP) as u64).div_ceil(GROUP as u64);
                let groups = groups as usize;
                return self.header_bytes_for(groups) + groups * self.group_bytes();
            }
        }
        self.block_bytes()
    }

    /// Bytes of one dense row of `k` elements, or `None` if it overflows `u64`.
    pub fn row_bytes(self, k: u64) -> Option<u64> {
        let blocks = self.blocks_per_row(k);
        if blocks == 0 {
            return Some(0);
        }
        let full = blocks
            .checked_sub(1)?
            .checked_mul(self.block_bytes() as u64)?;
        full.checked_add(self.block_bytes_at(k, blocks - 1) as u64)
    }

    /// Bytes of a dense tensor of this shape, or `None` if the shape is empty or any step
    /// overflows `u64`. Shape validity (rank, zero dims) is the reader's business.
    pub fn tensor_bytes(self, shape: &[u64]) -> Option<u64> {
        let (&k, outer) = shape.split_last()?;
        let rows = outer.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
        rows.checked_mul(self.row_bytes(k)?)
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_and_round_trip() {
        let all = Encoding::all();
        for (i, a) in all.iter().enumerate() {
            assert_eq!(Encoding::from_id(a.id()), Some(*a));
            assert_eq!(Encoding::from_name(&a.name()), Some(*a));
            for b in &all[i + 1..] {
                assert_ne!(a.id(), b.id());
                assert_ne!(a.name(), b.name());
            }
        }
        assert_eq!(Encoding::from_id(0xFFFF), None);
        assert!(all.iter().all(|e| e.is_defined()));
        for bad in [
            Encoding::IntSym { bits: 1 },
            Encoding::IntSym { bits: 9 },
            Encoding::IntSuper { bits: 7 },
            Encoding::IntSuperHalf { bits: 4 },
            Encoding::IntSym { bits: 0x100 + 2 }, // its id is q2a's
        ] {
            assert!(!bad.is_defined(), "{bad:?}");
        }
    }

    #[test]
    fn bits_per_weight_meet_the_budget() {
        for e in Encoding::all_blocked() {
            let bpw = e.nominal_bpw();
            let b = e.element_bits() as f64;
            match e {
                Encoding::IntSuper { .. } => assert!(bpw <= b + 0.3, "{e}: {bpw}"),
                // 16-element sub-blocks: ggml's Q2_K budget (2.625) and below.
                Encoding::IntSuperHalf { .. } => assert!(bpw <= b + 0.625, "{e}: {bpw}"),
                _ => assert!(bpw <= b + 0.5, "{e}: {bpw}"),
            }
        }
        assert_eq!(Encoding::IntSym { bits: 4 }.block_bytes(), 18);
        assert_eq!(Encoding::IntAffine { bits: 4 }.block_bytes(), 36);
        assert_eq!(Encoding::IntSuper { bits: 4 }.block_bytes(), 136);
        for bits in 2..=6 {
            let e = Encoding::IntSuperAffine { bits };
            assert_eq!(e.block_bytes(), 16 + 32 * bits as usize);
            assert_eq!(e.nominal_bpw(), bits as f64 + 0.5);
            assert_eq!(e.path(), Path::Integer);
            assert_eq!(e.id(), 0x0600 + bits);
            assert_eq!(e.name(), format!("q{bits}ka"));
        }
        assert_eq!(Encoding::IntSuperAffine { bits: 4 }.block_bytes(), 144);
        for bits in 2..=3 {
            let e = Encoding::IntSuperHalf { bits };
            assert_eq!(e.block_bytes(), 3 + 8 * (4 * bits as usize + 2));
            assert_eq!(e.id(), 0x0700 + bits);
            assert_eq!(e.name(), format!("q{bits}kh"));
            assert_eq!(e.path(), Path::Integer);
        }
        // 83 bytes per 256 weights: 2.59375 bits per weight, below Q2_K's 2.625.
        assert_eq!(Encoding::IntSuperHalf { bits: 2 }.nominal_bpw(), 2.59375);
        assert_eq!(Encoding::Mx(MxType::Fp4E2M1).block_bytes(), 17);
        assert_eq!(Encoding::Mx(MxType::Fp6E3M2).block_bytes(), 25);
    }

    #[test]
    fn ragged_rows() {
        let q4k = Encoding::IntSuper { bits: 4 };
        // 384 = one full super-block and a short one of 4 groups, whose header is 2 + 3 bytes:
        // 4.271 bits per weight.
        assert_eq!(q4k.row_bytes(384), Some(136 + 5 + 4 * 16));
        assert_eq!(q4k.row_bytes(1), Some(3 + 16));
        assert_eq!(q4k.block_bytes_at(224, 0), 8 + 7 * 16);
        for b in 2..=6u32 {
            let e = Encoding::IntSuper { bits: b };
            let bpw = 8.0 * e.row_bytes(384).unwrap() as f64 / 384.0;
            assert!(bpw <= b as f64 + 0.3, "{e} at k = 384: {bpw}");
            assert_eq!(e.header_bytes_for(8), e.block_header_bytes());
        }
        let q4ka = Encoding::IntSuperAffine { bits: 4 };
        assert_eq!(q4ka.row_bytes(384), Some(144 + 16 + 4 * 16));
        assert_eq!(q4ka.row_bytes(1), Some(16 + 16));
        assert_eq!(q4ka.block_bytes_at(384, 0), 144);
        assert_eq!(q4ka.block_bytes_at(384, 1), 16 + 4 * 16);
        assert_eq!(
            Encoding::IntSuperAffine { bits: 6 }.row_bytes(512),
            Some(2 * (16 + 8 * 24))
        );
        let q2kh = Encoding::IntSuperHalf { bits: 2 };
        // 384 = 256 + 128: 83 + (3 + 4 * 10) bytes, 2.625 bits per weight.
        assert_eq!(q2kh.row_bytes(384), Some(83 + 3 + 4 * 10));
        assert_eq!(q2kh.block_bytes_at(384, 1), 43);
        let q4 = Encoding::IntSym { bits: 4 };
        assert_eq!(q4.row_bytes(33), Some(36));
        let q4a = Encoding::IntAffine { bits: 4 };
        assert_eq!(q4a.row_bytes(32), Some(36));
        assert_eq!(Encoding::Raw(RawType::F32).tensor_bytes(&[3, 5]), Some(60));
        assert_eq!(
            Encoding::Raw(RawType::U8).tensor_bytes(&[1 << 32, 1 << 32]),
            None
        );
        assert_eq!(q4.tensor_bytes(&[]), None);
    }
}

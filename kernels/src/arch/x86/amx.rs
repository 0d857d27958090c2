//! Intel AMX (tile registers, `tdpbssd` / `tdpbsud`) for the integer gemm: whether this process
//! may use it, the tile shapes the gemm configures, and one `asm!` block per tile operation.
//!
//! Rust has no stable AMX intrinsics, so the instructions are written in `asm!`; the tile
//! registers are not operands of `asm!` (nor can they be declared as clobbered), which is why
//! each operation names its tiles in the template and the gemm keeps a fixed assignment. Their
//! contents persist from one `asm!` block to the next because nothing else in the program
//! touches them: the compiler never allocates tile registers.
//!
//! | tile | shape (rows x bytes) | holds |
//! |---|---|---|
//! | `tmm0`, `tmm1` | 16 x 32 | one group's codes of 16 activation rows each (A) |
//! | `tmm2`, `tmm3` | 8 x 64 | one group's codes of 16 weight rows each, 4 per row per tile row (B) |
//! | `tmm4` .. `tmm7` | 16 x 64 | the 16 x 16 i32 sums of one A and one B (C) |
//!
//! The tile unit runs its instructions in order, and a tile store waits for the product it
//! stores: so the gemm stores each C just before the next product overwrites it, one group
//! later, and loads each A and B once for two products. Measured in a loop of tile instructions
//! alone (Xeon family 6 model 167, TSC cycles per 16 x 16 x 32 product, data in L1): each store
//! right after its product 40; stores one product later, A and B loaded per product 28; stores
//! one round later, A and B shared 2 x 2, 21. A product of K = 32 costs as much as one of
//! K = 64 (about 14 alone), and with the float step added the cycles add up (21 + 30 -> 53).

use std::arch::asm;
use std::sync::OnceLock;

/// Activation rows per A tile (and per C tile).
pub(crate) const TILE_ROWS: usize = 16;

/// True if the CPU has AMX-TILE and AMX-INT8, the OS saves the tile state, and Linux granted this
/// process the right to use it (asked once, here).
pub(crate) fn is_usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(detect_and_request)
}

#[cfg(all(target_os = "linux", not(miri)))]
fn detect_and_request() -> bool {
    use std::arch::x86_64::{__cpuid_count, _xgetbv};
    // SAFETY: CPUID exists on every x86-64 CPU.
    #[allow(unused_unsafe)]
    let max_leaf = unsafe { __cpuid_count(0, 0) }.eax;
    if max_leaf < 7 {
        return false;
    }
    #[allow(unused_unsafe)]
    // SAFETY: leaf 7 exists (checked above).
    let leaf7 = unsafe { __cpuid_count(7, 0) };
    let (amx_tile, amx_int8) = (leaf7.edx >> 24 & 1 == 1, leaf7.edx >> 25 & 1 == 1);
    #[allow(unused_unsafe)]
    // SAFETY: leaf 1 exists on every x86-64 CPU.
    let osxsave = unsafe { __cpuid_count(1, 0) }.ecx >> 27 & 1 == 1;
    if !(amx_tile && amx_int8 && osxsave) {
        return false;
    }
    // SAFETY: OSXSAVE is set, so XGETBV with ECX = 0 exists.
    let xcr0 = unsafe { _xgetbv(0) };
    // XTILECFG (bit 17) and XTILEDATA (bit 18) saved by the OS.
    if xcr0 & (3 << 17) != 3 << 17 {
        return false;
    }
    // Linux hands out the 8 KiB tile state only to processes that ask for it
    // (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); without it the first tile
    // instruction raises SIGILL.
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with these arguments only changes this process's permissions.
    let status = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    status == 0
}

/// Elsewhere (and under Miri, which runs no `asm!`) the tier is never offered.
#[cfg(not(all(target_os = "linux", not(miri))))]
fn detect_and_request() -> bool {
    false
}

/// The 64-byte operand of `ldtilecfg` (palette 1): per tile its bytes per row and its rows.
#[repr(C, align(64))]
pub(crate) struct TileConfig([u8; 64]);

impl TileConfig {
    /// The gemm's tiles (module doc).
    pub(crate) fn gemm() -> Self {
        let mut c = TileConfig([0; 64]);
        c.0[0] = 1; // palette 1
        let shapes = [
            (TILE_ROWS, 32),
            (TILE_ROWS, 32),
            (8, 64),
            (8, 64),
            (TILE_ROWS, 64),
            (TILE_ROWS, 64),
            (TILE_ROWS, 64),
            (TILE_ROWS, 64),
        ];
        for (t, (rows, bytes)) in shapes.into_iter().enumerate() {
            c.0[16 + 2 * t..18 + 2 * t].copy_from_slice(&(bytes as u16).to_le_bytes());
            c.0[48 + t] = rows as u8;
        }
        c
    }
}

/// This thread's tile registers, configured: made by [`Tiles::configure`], released on drop (also
/// on unwinding), so the OS need not save 8 KiB of tile state for a thread done with them.
pub(crate) struct Tiles(());

impl Tiles {
    /// Loads `config` into this thread's tile registers (zeroing them).
    ///
    /// # Safety
    /// [`is_usable`] returned true.
    #[inline(always)]
    pub(crate) unsafe fn configure(config: &TileConfig) -> Tiles {
        // SAFETY: AMX is usable (caller); the operand is 64 readable, aligned bytes.
        unsafe { asm!("ldtilecfg [{0}]", in(reg) config.0.as_ptr(), options(nostack, readonly)) };
        Tiles(())
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: a `Tiles` exists only after `configure`, whose caller checked AMX is usable.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

/// Loads tile `T` (`tmm0` .. `tmm3`): its configured rows of its configured width, from `from`
/// on, `stride` bytes apart.
///
/// # Safety
/// Tiles configured with [`TileConfig::gemm`]; the configured rows readable at `from`.
#[inline(always)]
pub(crate) unsafe fn load<const T: usize>(from: *const u8, stride: usize) {
    const { assert!(T < 4, "A and B tiles are tmm0 .. tmm3") };
    macro_rules! load {
        ($t:literal) => {
            // SAFETY: the caller's contract.
            unsafe {
                asm!(
                    concat!("tileloadd tmm", $t, ", [{p} + {s}]"),
                    p = in(reg) from, s = in(reg) stride,
                    options(nostack, readonly),
                )
            }
        };
    }
    match T {
        0 => load!("0"),
        1 => load!("1"),
        2 => load!("2"),
        _ => load!("3"),
    }
}

/// Stores C tile `T` (`tmm4` .. `tmm7`: 16 rows of 16 i32) at `to`, rows 64 bytes apart.
///
/// # Safety
/// Tiles configured with [`TileConfig::gemm`]; `to` writable over 1 KiB.
#[inline(always)]
pub(crate) unsafe fn store<const T: usize>(to: *mut i32) {
    const { assert!(4 <= T && T < 8, "C tiles are tmm4 .. tmm7") };
    macro_rules! store {
        ($t:literal) => {
            // SAFETY: the caller's contract.
            unsafe {
                asm!(
                    concat!("tilestored [{p} + {s}], tmm", $t),
                    p = in(reg) to, s = in(reg) 64usize,
                    options(nostack),
                )
            }
        };
    }
    match T {
        4 => store!("4"),
        5 => store!("5"),
        6 => store!("6"),
        _ => store!("7"),
    }
}

/// C tile `C` = A tile `A` times B tile `B`: the exact i32 dot products of 32 i8 activation codes
/// with 32 weight codes, i8 if `SIGNED_B` (`tdpbssd`), else u8 (`tdpbsud`).
///
/// # Safety
/// Tiles configured with [`TileConfig::gemm`]; `C` in 4..8, `A` in 0..2, `B` in 2..4.
#[inline(always)]
pub(crate) unsafe fn product<
    const SIGNED_B: bool,
    const C: usize,
    const A: usize,
    const B: usize,
>() {
    const {
        assert!(
            matches!((C, A, B), (4, 0, 2) | (5, 0, 3) | (6, 1, 2) | (7, 1, 3)),
            "the gemm pairs C tiles with A and B tiles this way only"
        )
    };
    macro_rules! product {
        ($op:literal, $c:literal, $a:literal, $b:literal) => {
            // SAFETY: the caller's contract; registers only.
            unsafe {
                asm!(
                    concat!("tilezero tmm", $c),
                    concat!($op, " tmm", $c, ", tmm", $a, ", tmm", $b),
                    options(nostack, nomem),
                )
            }
        };
    }
    macro_rules! arms {
        ($op:literal) => {
            match (C, A, B) {
                (4, 0, 2) => product!($op, "4", "0", "2"),
                (5, 0, 3) => product!($op, "5", "0", "3"),
                (6, 1, 2) => product!($op, "6", "1", "2"),
                (7, 1, 3) => product!($op, "7", "1", "3"),
                _ => unreachable!("the gemm pairs C tiles with A and B tiles this way only"),
            }
        };
    }
    if SIGNED_B {
        arms!("tdpbssd")
    } else {
        arms!("tdpbsud")
    }
}

//! Software prefetches shared by the x86 kernels: one helper for every cache level they aim at.

// Only the prefetch instructions, which Miri does not run.
#[cfg(not(miri))]
use std::arch::x86_64::*;

/// The AVX2 gemv (and the AVX-512 one on Intel) prefetch the next tile only in tensors above this
/// size: below it the tensor stays in L2 or L3 between calls, and the prefetches cost time (Zen 3,
/// q4k 1024 x 2048 in L3: 48 -> 39 GOPS; Intel Xeon, AVX-512 q4 in L2: 94 -> 90).
pub(super) const STREAM_ABOVE_BYTES: usize = 8 << 20;

/// Where a software prefetch puts its line.
#[derive(Clone, Copy)]
pub(super) enum PrefetchTo {
    L1,
    /// Into L1, marked to leave first (AMD: measured on Zen 5, q4k from DRAM 30 -> 34 GB/s
    /// against `L1`, q4 30 -> 32).
    L1NonTemporal,
    L2,
}

/// Prefetches the `lines` cache lines from `from` on. A prefetch never faults, so the lines may
/// lie past the caller's buffer. Nothing under Miri, which does not implement the intrinsic.
#[inline(always)]
pub(super) fn prefetch_lines(from: *const u8, lines: usize, to: PrefetchTo) {
    #[cfg(not(miri))]
    for i in 0..lines {
        // `wrapping_add` forms no reference.
        let p = from.wrapping_add(64 * i).cast();
        // SAFETY: SSE is part of x86-64; a prefetch is a hint that reads nothing and never
        // faults.
        unsafe {
            match to {
                PrefetchTo::L1 => _mm_prefetch::<_MM_HINT_T0>(p),
                PrefetchTo::L1NonTemporal => _mm_prefetch::<_MM_HINT_NTA>(p),
                PrefetchTo::L2 => _mm_prefetch::<_MM_HINT_T1>(p),
            }
        }
    }
    #[cfg(miri)]
    let _ = (from, lines, to);
}

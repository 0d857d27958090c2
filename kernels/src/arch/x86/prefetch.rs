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

/// The most byte ranges a [`SpreadL2`] covers (the rows of four 8-row weight tiles).
pub(super) const SPREAD_RANGES: usize = 32;

/// Prefetches into L2 of the bytes the next piece of work will read, spread evenly over the
/// current piece's `steps` calls of [`SpreadL2::step`] (all at once, they stall on the misses in
/// flight), so that the next piece reads from L2 rather than from L3 or DRAM. The bytes are up to
/// `SPREAD_RANGES` ranges of one length: a stretch of rows, or each row's share of a chunk of K.
pub(super) struct SpreadL2 {
    /// Each range's first line (its start rounded down to 64 bytes).
    starts: [*const u8; SPREAD_RANGES],
    ranges: usize,
    /// Bytes from each start: the range, plus up to a line for the rounding.
    bytes: usize,
    /// Lines per step in 1/256ths, and the share not yet prefetched: a step prefetches its whole
    /// lines, so fewer lines than steps are spread out rather than all issued early.
    per_step: usize,
    credit: usize,
    /// The next line: range `range`, `at` bytes from its start.
    range: usize,
    at: usize,
}

impl SpreadL2 {
    /// Nothing to prefetch.
    pub(super) fn none() -> Self {
        SpreadL2 {
            starts: [std::ptr::null(); SPREAD_RANGES],
            ranges: 0,
            bytes: 0,
            per_step: 0,
            credit: 0,
            range: 0,
            at: 0,
        }
    }

    /// `len` bytes from each of `starts` (the first `SPREAD_RANGES`), over `steps` steps. The
    /// pointers are only prefetched, so they may lie past the caller's buffer.
    pub(super) fn new(
        starts: impl IntoIterator<Item = *const u8>,
        len: usize,
        steps: usize,
    ) -> Self {
        let mut spread = SpreadL2::none();
        if len == 0 {
            return spread;
        }
        for (slot, p) in spread.starts.iter_mut().zip(starts) {
            // `wrapping_sub` forms no reference.
            *slot = p.wrapping_sub(p as usize & 63);
            spread.ranges += 1;
        }
        spread.bytes = len + 63;
        spread.per_step = (spread.ranges * spread.bytes.div_ceil(64) * 256).div_ceil(steps.max(1));
        spread
    }

    /// Prefetches this step's share of the lines.
    #[inline(always)]
    pub(super) fn step(&mut self) {
        self.credit += self.per_step;
        while self.credit >= 256 {
            self.credit -= 256;
            if self.range == self.ranges {
                return;
            }
            prefetch_lines(
                self.starts[self.range].wrapping_add(self.at),
                1,
                PrefetchTo::L2,
            );
            self.at += 64;
            if self.at >= self.bytes {
                (self.range, self.at) = (self.range + 1, 0);
            }
        }
    }
}

//! This CPU's caches and prefetchers, as far as the kernels' prefetch and blocking choices need
//! them (CPUID, read once), and the panel size derived from a cache budget.

#[cfg(not(miri))]
use std::arch::x86_64::__cpuid_count;
use std::arch::x86_64::CpuidResult;
use std::sync::OnceLock;

/// The L1 data cache of one core, in bytes; 32 KB when CPUID does not say.
pub(crate) fn l1d_bytes() -> usize {
    static L1D: OnceLock<usize> = OnceLock::new();
    *L1D.get_or_init(|| detect_l1d().unwrap_or(32 << 10))
}

/// The L2 cache of one core, in bytes; 1 MB when CPUID does not say.
pub(crate) fn l2_bytes() -> usize {
    static L2: OnceLock<usize> = OnceLock::new();
    *L2.get_or_init(|| detect_l2().unwrap_or(1 << 20))
}

/// Activation rows per panel of a float gemm whose packed activations take `k` rounded up to
/// whole groups, in f32, per row: as few panels as keep each one within `budget` bytes, all of
/// one size (a multiple of `block` rows, at least one block; 0 for no rows) but the last.
pub(crate) fn panel_rows(k: usize, m_count: usize, budget: usize, block: usize) -> usize {
    let row_bytes = k.div_ceil(tessera_format::GROUP) * tessera_format::GROUP * 4;
    let most = (budget / row_bytes / block).max(1) * block;
    let panels = m_count.div_ceil(most).max(1);
    // At most `most`: it is a multiple of `block` and at least m_count / panels.
    m_count.div_ceil(panels).next_multiple_of(block)
}

/// On Intel, the rows per panel (see [`panel_rows`]) whose packed activations fit in 3/4 of L2,
/// where the float gemms measured panels faster than one pass re-reading the activations from
/// L3. `None` elsewhere, or where such a panel would hold fewer than `min_rows` of the `m_count`
/// rows: decoding W again per panel then costs more (measurements at the callers).
pub(crate) fn intel_l2_panel(
    k: usize,
    m_count: usize,
    block: usize,
    min_rows: usize,
) -> Option<usize> {
    if !is_intel() {
        return None;
    }
    let panel = panel_rows(k, m_count, l2_bytes() / 4 * 3, block);
    (panel >= m_count.min(min_rows)).then_some(panel)
}

/// Whether this CPU is Intel's. Its L2 streamer follows each 4 KB page's accesses in order and
/// its software prefetches hold a line fill buffer, so the gemv's prefetch choices differ from
/// AMD's (see `avx512::gemv_dense_tile`).
pub(crate) fn is_intel() -> bool {
    static INTEL: OnceLock<bool> = OnceLock::new();
    *INTEL.get_or_init(|| {
        let r = cpuid(0, 0);
        // The vendor string is EBX, EDX, ECX: "Genu" "ineI" "ntel".
        (r.ebx, r.edx, r.ecx) == (0x756E_6547, 0x4965_6E69, 0x6C65_746E)
    })
}

/// Whether the hardware L2 streamer alone follows a gemv tile whose rows are `row_bytes` long:
/// on Intel, rows of a page or more are each one page stream, and software prefetches beside
/// them only take line fill buffers (measurements at `avx512::gemv_dense_tile`).
pub(crate) fn streamer_follows_rows(row_bytes: usize) -> bool {
    const PAGE_BYTES: usize = 4096;
    row_bytes >= PAGE_BYTES && is_intel()
}

fn cpuid(leaf: u32, sub: u32) -> CpuidResult {
    // SAFETY: CPUID exists on every x86-64 CPU; leaves above the reported maximum return
    // reserved values, which the callers guard against.
    #[cfg(not(miri))]
    #[allow(unused_unsafe)]
    unsafe {
        __cpuid_count(leaf, sub)
    }
    // Miri cannot run CPUID: all zeros read as a CPU of no known vendor that reports no cache
    // leaves, so every caller takes its default.
    #[cfg(miri)]
    {
        let _ = (leaf, sub);
        CpuidResult {
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
        }
    }
}

fn detect_l2() -> Option<usize> {
    // AMD: leaf 0x8000_0006, ECX bits 31..16 = L2 size in KB (Intel reports it there too).
    extended_leaf_kb(0x8000_0006, 16).or_else(|| deterministic_cache_bytes(2))
}

fn detect_l1d() -> Option<usize> {
    // AMD: leaf 0x8000_0005, ECX bits 31..24 = L1 data cache size in KB (Intel reports 0 here).
    extended_leaf_kb(0x8000_0005, 24).or_else(|| deterministic_cache_bytes(1))
}

/// A cache size in KB from ECX bits `shift..32` of extended leaf `leaf`, in bytes; `None` where
/// the CPU lacks the leaf or reports 0.
fn extended_leaf_kb(leaf: u32, shift: u32) -> Option<usize> {
    let max_ext = cpuid(0x8000_0000, 0).eax;
    if max_ext < leaf {
        return None;
    }
    let kb = (cpuid(leaf, 0).ecx >> shift) as usize;
    (kb > 0).then_some(kb << 10)
}

/// Intel's deterministic cache parameters (leaf 4): the data or unified cache of `level`.
fn deterministic_cache_bytes(level: u32) -> Option<usize> {
    const DATA: u32 = 1;
    const UNIFIED: u32 = 3;
    if cpuid(0, 0).eax < 4 {
        return None;
    }
    for sub in 0..8 {
        let r = cpuid(4, sub);
        let (kind, at) = (r.eax & 0x1F, (r.eax >> 5) & 7);
        if kind == 0 {
            break;
        }
        if (kind == DATA || kind == UNIFIED) && at == level {
            let ways = ((r.ebx >> 22) & 0x3FF) as usize + 1;
            let parts = ((r.ebx >> 12) & 0x3FF) as usize + 1;
            let line = (r.ebx & 0xFFF) as usize + 1;
            let sets = r.ecx as usize + 1;
            return Some(ways * parts * line * sets);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn l1d_size_is_plausible() {
        let b = super::l1d_bytes();
        assert!((8 << 10..=1 << 20).contains(&b), "L1D {b} bytes");
    }

    #[test]
    fn l2_size_is_plausible() {
        let b = super::l2_bytes();
        assert!((128 << 10..=64 << 20).contains(&b), "L2 {b} bytes");
    }
}

//! Kernel tiers: list them, force one for the whole process, or go back to automatic choice.

use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tessera_kernels::{kernels, kernels_for, Isa, Kernels};

use crate::ffi::{c_str, guard, Out};
use crate::status::{CapiError, TesseraStatus};

/// `Isa::ALL` index of the forced tier, or `AUTO`.
static FORCED: AtomicUsize = AtomicUsize::new(AUTO);
const AUTO: usize = usize::MAX;

/// The kernels every matmul call uses: the forced tier if any, else `TESSERA_ISA` (read once per
/// process) or the best tier this CPU runs.
pub(crate) fn current() -> Result<&'static Kernels, CapiError> {
    let forced = FORCED.load(Ordering::Relaxed);
    Ok(match Isa::ALL.get(forced) {
        Some(&isa) => kernels_for(isa)?,
        None => kernels()?,
    })
}

/// Tier names as C strings, in `Isa::ALL` order (built once).
fn c_names() -> &'static [CString] {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    NAMES.get_or_init(|| {
        Isa::ALL
            .iter()
            .map(|i| CString::new(i.name()).unwrap_or_default())
            .collect()
    })
}

fn c_name(isa: Isa) -> *const c_char {
    let at = Isa::ALL.iter().position(|&i| i == isa).unwrap_or(0);
    c_names()[at].as_ptr()
}

/// How many tiers this library knows (on any CPU); index them `0..count` in the functions below.
/// Slowest first.
#[no_mangle]
pub extern "C" fn tessera_isa_count() -> usize {
    Isa::ALL.len()
}

/// The name of tier `index` (`"scalar"`, `"avx2"`, `"avx512"`, `"avx512vnni"`, `"avx512amx"`,
/// `"neon"`, ...), or NULL past the end. Static storage.
#[no_mangle]
pub extern "C" fn tessera_isa_name(index: usize) -> *const c_char {
    std::panic::catch_unwind(|| Isa::ALL.get(index).map_or(std::ptr::null(), |&i| c_name(i)))
        .unwrap_or(std::ptr::null())
}

/// True if this CPU can run tier `index` (false past the end). `"scalar"` is always available.
#[no_mangle]
pub extern "C" fn tessera_isa_is_available(index: usize) -> bool {
    std::panic::catch_unwind(|| Isa::ALL.get(index).is_some_and(|i| i.is_available()))
        .unwrap_or(false)
}

/// Makes every later call in this process use tier `name`, or `"auto"` for the default choice
/// (`TESSERA_ISA` if set, else the fastest tier this CPU runs). Fails with `TESSERA_STATUS_ISA`
/// if the name is unknown or the CPU cannot run it (the tier in use is then unchanged).
///
/// Threading: the choice is one process-wide atomic; calls already running finish on the tier
/// they started with. Every tier gives the same bits, so a race changes speed only.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tessera_isa_force(name: *const c_char) -> TesseraStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let name = unsafe { c_str(name, "name") }?;
        if name == "auto" {
            FORCED.store(AUTO, Ordering::Relaxed);
            return Ok(());
        }
        let isa = Isa::from_name(name).ok_or_else(|| CapiError::UnknownIsa {
            name: name.to_string(),
            known: Isa::ALL.map(Isa::name).join(", "),
        })?;
        if !isa.is_available() {
            return Err(CapiError::IsaUnavailable {
                name: name.to_string(),
                available: tessera_kernels::available_isas()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let at = Isa::ALL.iter().position(|&i| i == isa).unwrap_or(AUTO);
        FORCED.store(at, Ordering::Relaxed);
        Ok(())
    })
}

/// Stores the name of the tier calls use now in `*name` (static storage). Fails with
/// `TESSERA_STATUS_ISA` if nothing is forced and `TESSERA_ISA` names a bad tier.
///
/// # Safety
/// `name` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_isa_current(name: *mut *const c_char) -> TesseraStatus {
    guard(|| {
        let name = Out::new(name, "name")?;
        let isa = current()?.isa();
        // SAFETY: checked by `Out::new`.
        unsafe { name.write(c_name(isa)) };
        Ok(())
    })
}

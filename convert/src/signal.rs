//! Ctrl-C during a conversion. The first SIGINT sets [`flag`]; the
//! converter notices it between chunks, fails, and its writer deletes the temporary file, so
//! nothing is left anywhere. A second SIGINT exits at once; the temporary file may then remain,
//! but it is never renamed to the output path.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The shared flag (false until a SIGINT arrives).
pub fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Installs the handlers. Failing to install them is not an error: Ctrl-C then ends the process
/// the default way, which also never renames the temporary file into place.
pub fn install() {
    #[cfg(unix)]
    {
        use signal_hook::consts::SIGINT;
        let f = Arc::clone(flag());
        // Order matters: the conditional exit is checked before the flag is set by this signal.
        let _ = signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&f));
        let _ = signal_hook::flag::register(SIGINT, f);
    }
}

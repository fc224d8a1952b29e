//! The simulator's own diagnostics through `tracing` (`RUST_LOG=pycom_sim=debug`), written where
//! they never tear the screen: a `--log FILE`, else stderr unless stderr is the terminal the
//! frontend draws on (then nowhere).

use std::io::IsTerminal;
use std::path::Path;

/// Sets the process's subscriber once; `interactive` says the frontend owns the terminal.
pub fn init(file: Option<&Path>, interactive: bool) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--log {}: {e}; give a file you can write", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .try_init()
        }
        None if interactive && std::io::stderr().is_terminal() => return Ok(()),
        None => builder
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .try_init(),
    };
    // A subscriber set before (a second run in one process, a test) stays.
    if result.is_ok() {
        tracing::debug!(
            ?file,
            interactive,
            version = env!("CARGO_PKG_VERSION"),
            "diagnostics on"
        );
    }
    Ok(())
}

//! The terminal while the frontend owns it: raw mode, and a scroll region that leaves the
//! bottom row to the status line. The UART output scrolls in the region above as the
//! terminal's own text (a region from row 1 keeps scrollback, selection and copy working).
//!
//! Restoring is idempotent and reachable from everywhere — the guard's drop, the panic hook,
//! the signal path (which ends the run normally) — so the shell gets its terminal back
//! however the run ends.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};

/// Whether the terminal is in the frontend's state now.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Rows of the terminal when the region was last set.
static ROWS: AtomicU16 = AtomicU16::new(0);

/// The terminal's size as (columns, rows).
pub fn size() -> (u16, u16) {
    crossterm::terminal::size().unwrap_or((80, 24))
}

/// Raw mode plus the scroll region, for the life of the value.
pub struct TerminalGuard;

impl TerminalGuard {
    pub fn enable() -> Result<TerminalGuard, String> {
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| format!("cannot put the terminal in raw mode: {e}"))?;
        ACTIVE.store(true, Ordering::SeqCst);
        install_panic_hook();
        let (_, rows) = size();
        let mut out = std::io::stdout().lock();
        // Make sure the row the cursor is on is not the one the status line takes.
        let _ = out.write_all(b"\n\x1b[A");
        let _ = out.write_all(set_region(rows).as_bytes());
        let _ = out.flush();
        Ok(TerminalGuard)
    }

    /// Sets the region again after a resize.
    ///
    /// A terminal that shrinks drops rows below the cursor and pushes rows above it into the
    /// scrollback, so the cursor (the UART text's end) can land on the new bottom row, which
    /// is the status line's: the status would then overwrite the prompt and the cursor sit
    /// outside the region. So, with the whole screen scrolling, a line feed and cursor-up keep
    /// the cursor off the bottom row (scrolling the text up one if it was there), and whatever
    /// is left below the cursor's line (a stale status line, or its wrapped tail after the
    /// width shrank) is erased before the region is set for the new size.
    pub fn resized(&self, rows: u16) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(RESIZE_CLEANUP);
        let _ = out.write_all(set_region(rows).as_bytes());
        let _ = out.flush();
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Whole-screen region (cursor kept: DECSTBM homes it), LF + cursor-up, then erase from the
/// start of the next line to the end of the screen (cursor kept).
const RESIZE_CLEANUP: &[u8] = b"\x1b7\x1b[r\x1b8\n\x1b[A\x1b7\x1b[E\x1b[J\x1b8";

/// The region rows 1..rows-1, the cursor kept where it was (DECSTBM homes it).
fn set_region(rows: u16) -> String {
    ROWS.store(rows, Ordering::SeqCst);
    format!("\x1b7\x1b[1;{}r\x1b8", rows.saturating_sub(1).max(1))
}

/// Gives the terminal back: full scroll region, the status row cleared, colours reset, cursor
/// shown, cooked mode. Safe to call more than once and from a panic hook.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let rows = ROWS.load(Ordering::SeqCst).max(1);
    let mut out = std::io::stdout();
    let _ = write!(
        out,
        "\x1b7\x1b[r\x1b8\x1b7\x1b[{rows};1H\x1b[2K\x1b8\x1b[0m\x1b[?25h\r\n"
    );
    let _ = out.flush();
    let _ = crossterm::terminal::disable_raw_mode();
}

/// Whether the frontend holds the terminal (for the status writer).
pub fn active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}

/// A panic on any host thread restores the terminal before the message prints, so the message
/// is readable and the shell is usable. The device thread's panics are the device's (it
/// reboots and the session goes on), so they leave the terminal alone.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_device = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("device-"));
            if !on_device {
                restore();
            }
            previous(info);
        }));
    });
}

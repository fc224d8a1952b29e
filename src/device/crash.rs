//! A crash on the device thread is a reboot, not a hang: a Rust panic anywhere in the firmware
//! (RustPython included) unwinds to the reset loop, which prints the module's panic text on
//! UART0 and restarts the chip with `rst:0xc (SW_CPU_RESET)`, as ESP-IDF's panic handler does.
//! The flash file is written through, so nothing the user stored is lost.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    /// What the last panic on this thread said, and where (filled by the hook below).
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Threads whose panics are the device's to report (the device thread's name starts so).
pub const DEVICE_THREAD_PREFIX: &str = "device-";

/// Installs, once per process, a panic hook that keeps device-thread panics off stderr (the
/// device reports them on its UART and in a `fault` event) and leaves every other thread's
/// panic to the default hook.
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_device = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(DEVICE_THREAD_PREFIX));
            if !on_device {
                default(info);
                return;
            }
            let text = payload_text(info.payload());
            let text = match info.location() {
                Some(at) => format!("{text} (at {}:{})", at.file(), at.line()),
                None => text,
            };
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
        }));
    });
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_string()
    }
}

/// The message of a caught panic: what the hook recorded (with its place), else the payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    LAST_PANIC
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| payload_text(payload))
}

/// The text ESP-IDF's panic handler prints before it reboots, with the cause on its own line.
pub fn guru_meditation(cause: &str) -> String {
    let cause = cause.replace('\n', "\r\n");
    format!(
        "Guru Meditation Error: Core  1 panic'ed (Unhandled exception in the simulator). \
         Exception was unhandled.\r\n\
         Cause: {cause}\r\n\
         Rebooting...\r\n"
    )
}

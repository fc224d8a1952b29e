//! What the tests that drive the real binary with real host tools share: the project's Python
//! venv (esptool, mpremote, pyserial, ...), a child's output collected as it comes, and waiting
//! for a text in it. Each test crate that needs them says `mod host_tools;`.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The project's venv, set up by `scripts/python-venv` once per test process (the tests of a
/// crate run in parallel threads); the script prints its path last.
pub fn venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python-venv");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run scripts/python-venv");
        assert!(
            out.status.success(),
            "scripts/python-venv failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or_default()
                .trim(),
        )
    })
    .clone()
}

/// Appends what `from` gives (a child's stdout or stderr) to `into`, on a thread of its own.
pub fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                return;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}

/// Waits until `text` holds `want`, up to `limit` of wall time (a real-time device and real
/// tools); on failure shows the text and `context()`.
pub fn wait_for(text: &Mutex<String>, want: &str, limit: Duration, context: impl Fn() -> String) {
    let start = Instant::now();
    while !text.lock().unwrap().contains(want) {
        assert!(
            start.elapsed() < limit,
            "never saw {want:?}; got:\n{}\n{}",
            text.lock().unwrap(),
            context()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

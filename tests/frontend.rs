//! The interactive terminal as a person sees it: the real binary in tmux (a real terminal
//! emulator, so the test reads the screen itself — the status row, the scroll region, the
//! terminal's modes after exit — not our own bytes parsed by our own code). scripts/test
//! installs Debian's tmux when it is missing.
//!
//! Real time: assertions are bounds on device times shown on the screen, never races.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Term {
    socket: String,
    dir: tempfile::TempDir,
}

const ROWS: u16 = 30;

impl Term {
    /// Starts `pycom-sim ARGS` in a 120x30 tmux window; after it exits the shell records the
    /// terminal's modes (`stty -a`) and waits.
    fn start(args: &str, env: &[(&str, &str)]) -> Term {
        assert!(
            Command::new("tmux").arg("-V").output().is_ok(),
            "tmux is missing: scripts/test installs it (apt-get install tmux)"
        );
        let dir = tempfile::tempdir().unwrap();
        let socket = format!(
            "pycom-sim-test-{}-{}",
            std::process::id(),
            dir.path().file_name().unwrap().to_string_lossy()
        );
        let mut vars = format!(
            "XDG_STATE_HOME={} XDG_DATA_HOME={} ",
            dir.path().join("state").display(),
            dir.path().join("data").display()
        );
        for (k, v) in env {
            vars.push_str(&format!("{k}={v} "));
        }
        let stty = dir.path().join("stty.txt");
        let status = dir.path().join("status.txt");
        let cmd = format!(
            "env {vars} {} {args}; echo $? > {}; stty -a > {}; sleep 600",
            env!("CARGO_BIN_EXE_pycom-sim"),
            status.display(),
            stty.display()
        );
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
            ])
            .arg(ROWS.to_string())
            .arg(&cmd)
            .status()
            .unwrap();
        assert!(ok.success());
        Term { socket, dir }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn literal(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", text]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "0"])
    }

    /// The bottom row: the status line.
    fn status(&self) -> String {
        self.screen().lines().last().unwrap_or_default().to_string()
    }

    /// Waits (up to `secs`) until the screen satisfies `ok`; returns it.
    fn wait_for(&self, secs: u64, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if Instant::now() > end {
                panic!("waited {secs} s for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    /// Sends SIGTERM to the pycom-sim running under the pane's shell.
    fn terminate(&self) {
        let pane = self.tmux(&["display", "-p", "-t", "0", "#{pane_pid}"]);
        let out = Command::new("pgrep")
            .args(["-P", pane.trim(), "-f", "pycom-sim"])
            .output()
            .unwrap();
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!pid.is_empty(), "no pycom-sim under the pane's shell");
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Waits for the program to have ended; returns its exit status and `stty -a`.
    fn ended(&self, secs: u64) -> (String, String) {
        let end = Instant::now() + Duration::from_secs(secs);
        let stty = self.file("stty.txt");
        while !(stty.exists() && std::fs::metadata(&stty).is_ok_and(|m| m.len() > 0)) {
            assert!(
                Instant::now() < end,
                "pycom-sim did not end; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        (
            std::fs::read_to_string(self.file("status.txt")).unwrap_or_default(),
            std::fs::read_to_string(stty).unwrap_or_default(),
        )
    }

    fn scroll_region(&self) -> String {
        self.tmux(&[
            "display",
            "-p",
            "-t",
            "0",
            "#{scroll_region_upper} #{scroll_region_lower}",
        ])
        .trim()
        .to_string()
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn led_hex(status: &str) -> Option<String> {
    let at = status.find('#')?;
    status.get(at..at + 7).map(str::to_string)
}

/// Cooked mode again: canonical input, echo, signals (not raw).
fn assert_cooked(stty: &str) {
    let words: Vec<&str> = stty.split_whitespace().collect();
    for flag in ["icanon", "echo", "isig", "icrnl", "opost"] {
        assert!(
            words.contains(&flag) && !words.contains(&format!("-{flag}").as_str()),
            "terminal not restored ({flag}):\n{stty}"
        );
    }
}

/// `reset+1.234s` on the status line (device time since the reset), in ms.
fn since_reset(status: &str) -> Option<u64> {
    let at = status.find("reset+")? + 6;
    let rest = &status[at..];
    let end = rest.find('s')?;
    let (s, ms) = rest[..end].split_once('.')?;
    Some(s.parse::<u64>().ok()? * 1000 + ms.parse::<u64>().ok()?)
}

fn flash_with(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let board = pycom_sim::board::Board::builtin("lopy4").unwrap();
    let path = dir.join("lopy4.flash");
    let (mut flash, _) = pycom_sim::flash::FlashFile::open_or_create(
        &path,
        &board,
        &pycom_sim::image::default_image(),
        pycom_sim::flash::OpenOptions::default(),
    )
    .unwrap();
    for (name, text) in files {
        pycom_sim::fs::write_file(&mut flash, board.fs, name, text.as_bytes()).unwrap();
    }
    flash.sync().unwrap();
    path
}

#[test]
fn safe_boot_live_status_shows_the_windows_and_release_in_window_1_skips_main_py() {
    let data = tempfile::tempdir().unwrap();
    let flash = flash_with(data.path(), &[("/main.py", "print('MAIN RAN')\n")]);
    let t = Term::start(
        &format!("run --flash {}", flash.display()),
        &[("COLORTERM", "truecolor")],
    );
    let s = t.wait_for(20, "the first prompt", |s| s.contains(">>>"));
    assert!(s.contains("MAIN RAN"));
    // The status row is apart from the UART text: the scroll region ends above it.
    assert_eq!(t.scroll_region(), format!("0 {}", ROWS - 2));
    assert!(t.status().contains("| REPL |"), "{}", t.status());
    assert!(s.contains("Ctrl-] quits"), "legend shown:\n{s}");

    t.keys(&["C-t", "p"]);
    t.wait_for(5, "P12 held", |_| t.status().contains("P12 3V3"));
    t.keys(&["C-t", "r"]);
    // Window 1: orange and off alternate at 500 ms, within 0.1-3.1 s of device time.
    let mut seen1 = Vec::new();
    let mut seen2 = Vec::new();
    let mut swatch_seen = false;
    let end = Instant::now() + Duration::from_secs(12);
    while Instant::now() < end {
        let st = t.status();
        if let (Some(ms), Some(hex)) = (since_reset(&st), led_hex(&st)) {
            if st.contains("window 1") {
                // The swatch's colour is read while the status says the LED is orange: a
                // capture taken later may land in an off phase.
                if hex == "#2c1200" && !swatch_seen {
                    let coloured = t.tmux(&["capture-pane", "-p", "-e", "-t", "0"]);
                    swatch_seen = coloured.contains("48;2;255;104;0");
                }
                seen1.push((ms, hex.clone(), st.clone()));
            } else if st.contains("window 2") {
                seen2.push((ms, hex, st.clone()));
                // The blink period shows once two edges of the window were seen; on a loaded
                // machine that can take more samples than on a quiet one.
                if seen2.len() > 20 && seen2.iter().any(|s| s.2.contains("blink 250 ms")) {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(
        !seen1.is_empty() && !seen2.is_empty(),
        "{seen1:?} {seen2:?}"
    );
    for (ms, hex, st) in &seen1 {
        assert!((100..=3150).contains(ms), "window 1 at {ms} ms: {st}");
        assert!(hex == "#2c1200" || hex == "#000000", "{st}");
    }
    for (ms, hex, st) in &seen2 {
        assert!((3090..=6150).contains(ms), "window 2 at {ms} ms: {st}");
        assert!(hex == "#2c1200" || hex == "#000000", "{st}");
    }
    let hexes1: std::collections::BTreeSet<_> = seen1.iter().map(|s| s.1.clone()).collect();
    assert_eq!(hexes1.len(), 2, "window 1 blinks: {seen1:?}");
    assert!(
        seen1.iter().any(|s| s.2.contains("window 1, blink 500 ms")),
        "{seen1:?}"
    );
    assert!(
        seen2.iter().any(|s| s.2.contains("window 2, blink 250 ms")),
        "{seen2:?}"
    );
    // The swatch is drawn in 24-bit colour: the LED's orange raised to full brightness.
    assert!(
        swatch_seen || seen1.iter().all(|s| s.1 == "#000000"),
        "{seen1:?}"
    );

    // Let the forced factory end, then again: hold, reset, release in window 1.
    t.wait_for(15, "the prompt after the factory boot", |_| {
        t.status().contains("| REPL |")
    });
    t.keys(&["C-t", "r"]);
    t.wait_for(5, "window 1 again", |_| t.status().contains("window 1"));
    std::thread::sleep(Duration::from_millis(700));
    t.keys(&["C-t", "p"]);
    // The status can say REPL a moment before the prompt reaches the screen.
    let s = t.wait_for(10, "the REPL after the safe boot", |s| {
        t.status().contains("| REPL |")
            && s.rsplit("entry 0x400a05bc")
                .next()
                .is_some_and(|a| a.contains(">>>"))
    });
    let st = t.status();
    assert!(st.contains("P12 open"), "{st}");
    assert!(st.contains("(scripts skipped)"), "{st}");
    let after = s.rsplit("entry 0x400a05bc").next().unwrap_or_default();
    assert!(!after.contains("MAIN RAN"), "main.py skipped:\n{s}");
    assert!(after.contains(">>>"));
    // The REPL answers through the frontend.
    t.literal("print(6*7)");
    t.keys(&["Enter"]);
    t.wait_for(5, "42", |s| s.contains("\n42\n") || s.contains("42\n>>>"));
    t.keys(&["C-]"]);
    let (code, stty) = t.ended(10);
    assert_eq!(code.trim(), "0");
    assert_cooked(&stty);
    assert_eq!(t.scroll_region(), format!("0 {}", ROWS - 1));
}

#[test]
fn legend_keys_do_what_they_say_and_the_monitor_keeps_its_history() {
    let t = Term::start("run --fresh", &[("NO_COLOR", "1")]);
    t.wait_for(20, "the prompt", |s| s.contains(">>>"));
    // NO_COLOR: the status line has no colour at all.
    let coloured = t.tmux(&["capture-pane", "-p", "-e", "-t", "0"]);
    let last = coloured.lines().last().unwrap_or_default().to_string();
    assert!(
        !last.contains("\x1b[4") && !last.contains("48;"),
        "{last:?}"
    );

    t.keys(&["C-t", "h"]);
    t.wait_for(5, "the key list", |s| {
        s.contains("Ctrl-T Ctrl-T  send a literal Ctrl-T")
    });
    t.keys(&["C-t", "g"]);
    t.wait_for(5, "G23 to GND", |_| t.status().contains("G23 GND"));
    t.keys(&["C-t", "r"]);
    let s = t.wait_for(10, "download mode", |s| s.contains("waiting for download"));
    assert!(s.contains("boot:0x3 (DOWNLOAD_BOOT"), "{s}");
    assert!(t.status().contains("download mode"), "{}", t.status());
    t.keys(&["C-t", "g"]);
    t.wait_for(5, "G23 open", |_| t.status().contains("G23 open"));
    t.keys(&["C-t", "o"]);
    t.wait_for(15, "power-on boot", |_| {
        t.status().contains("reset: power-on") && t.status().contains("| REPL |")
    });
    // Ctrl-T Ctrl-T sends a literal Ctrl-T (20) to the device.
    t.literal("import sys; print('got', ord(sys.stdin.read(1)))");
    t.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["C-t", "C-t"]);
    t.wait_for(5, "the byte read", |s| s.contains("got 20"));

    // The monitor prompt: a command, its answer, and output held while it was open.
    t.keys(&["C-t", ":"]);
    t.wait_for(5, "the monitor prompt", |s| s.contains("(pycom-sim)"));
    t.literal("hold P12 for 4.5s");
    t.keys(&["Enter"]);
    t.wait_for(5, "the hold", |s| s.contains("P12 held to 3V3 for 4.500 s"));
    t.keys(&["C-t", ":"]);
    t.wait_for(5, "the prompt again", |s| {
        s.matches("(pycom-sim)").count() >= 2
    });
    t.literal("pins");
    t.keys(&["Enter"]);
    let s = t.wait_for(5, "the pin list", |s| s.contains("P2/G23"));
    assert!(s.contains("P12") && s.contains("3V3"), "{s}");
    // Typed in one burst: Ctrl-T :, a command and Enter, then a line for the device.
    let burst: Vec<String> = b"\x14:status\rprint('after the burst')\r"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut args = vec!["send-keys", "-t", "0", "-H"];
    args.extend(burst.iter().map(String::as_str));
    t.tmux(&args);
    t.wait_for(5, "the status and the device's line", |s| {
        s.contains("(pycom-sim) status")
            && s.contains("stage: REPL")
            && s.contains("\nafter the burst")
    });
    t.keys(&["C-t", ":"]);
    t.literal("hold P99");
    t.keys(&["Enter"]);
    t.wait_for(5, "an error naming the fix", |s| {
        s.contains("error: no pin named 'P99'")
    });
    t.keys(&["C-t", ":"]);
    t.literal("quit");
    t.keys(&["Enter"]);
    let (code, stty) = t.ended(10);
    assert_eq!(code.trim(), "0");
    assert_cooked(&stty);
    let history = std::fs::read_to_string(t.file("state/pycom-sim/monitor_history")).unwrap();
    assert!(history.contains("hold P12 for 4.5s"), "{history}");

    // A new run with the same state directory: Up recalls the last command.
    let state = t.file("state");
    let t2 = Term::start(
        "run --fresh",
        &[("XDG_STATE_HOME", state.to_str().unwrap())],
    );
    t2.wait_for(20, "the prompt", |s| s.contains(">>>"));
    t2.keys(&["C-t", ":"]);
    t2.wait_for(5, "the monitor prompt", |s| s.contains("(pycom-sim)"));
    t2.keys(&["Up"]);
    t2.wait_for(5, "the recalled command", |s| {
        s.contains("(pycom-sim) quit")
    });
    t2.keys(&["Up"]);
    t2.wait_for(5, "the one before", |s| s.contains("(pycom-sim) hold P99"));
    t2.keys(&["C-u", "Enter"]);
    t2.keys(&["C-]"]);
    t2.ended(10);
}

#[test]
fn a_panic_on_the_frontend_thread_restores_the_terminal() {
    let t = Term::start(
        "run --fresh",
        &[
            ("PYCOM_SIM_TEST_PANIC", "frontend"),
            ("RUST_BACKTRACE", "0"),
        ],
    );
    let (code, stty) = t.ended(30);
    assert_ne!(code.trim(), "0");
    assert_cooked(&stty);
    assert_eq!(t.scroll_region(), format!("0 {}", ROWS - 1));
    let s = t.screen();
    assert!(s.contains("deliberate panic on the frontend thread"), "{s}");
}

#[test]
fn a_panic_on_the_device_thread_reboots_the_board_and_the_terminal_stays() {
    let t = Term::start("run --fresh", &[("PYCOM_SIM_TEST_PANIC", "device")]);
    let s = t.wait_for(30, "the reboot", |s| s.contains("rst:0xc (SW_CPU_RESET)"));
    assert!(s.contains("Guru Meditation Error"), "{s}");
    t.wait_for(20, "the prompt after the reboot", |_| {
        t.status().contains("reset: panic") && t.status().contains("| REPL |")
    });
    assert_eq!(t.scroll_region(), format!("0 {}", ROWS - 2));
    t.keys(&["C-]"]);
    let (code, stty) = t.ended(10);
    assert_eq!(code.trim(), "0");
    assert_cooked(&stty);
}

#[test]
fn put_and_get_go_through_the_device() {
    let t = Term::start("run --fresh", &[]);
    t.wait_for(20, "the prompt", |s| s.contains(">>>"));
    let host = t.file("hello.py");
    std::fs::write(&host, "print('hello from put')\n").unwrap();
    t.keys(&["C-t", ":"]);
    t.literal(&format!("put {} main.py", host.display()));
    t.keys(&["Enter"]);
    t.wait_for(15, "the put", |s| s.contains("/flash/main.py (24 bytes)"));
    let back = t.file("back.py");
    t.keys(&["C-t", ":"]);
    t.literal(&format!("get main.py {}", back.display()));
    t.keys(&["Enter"]);
    t.wait_for(15, "the get", |s| {
        s.contains("(24 bytes)") && s.matches("24 bytes").count() >= 2
    });
    assert_eq!(
        std::fs::read_to_string(&back).unwrap(),
        "print('hello from put')\n"
    );
    // The raw REPL's chatter is not shown; the friendly prompt is back for the user.
    let s = t.screen();
    assert!(!s.contains("raw REPL; CTRL-B"), "{s}");
    // `ota`: a file that is not an image is refused, naming it; an image goes to ota_0 through
    // the device's own OTA API and boots after a reset.
    t.keys(&["C-t", ":"]);
    t.literal(&format!("ota {}", host.display()));
    t.keys(&["Enter"]);
    t.wait_for(15, "the refusal", |s| {
        s.contains(&format!("error: {}: not a usable image", host.display()))
    });
    let image = t.file("fw.bin");
    let built = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .args(["image", "build", "--version", "1.20.9", "-o"])
        .arg(&image)
        .output()
        .unwrap();
    assert!(built.status.success());
    t.keys(&["C-t", ":"]);
    t.literal(&format!("ota {}", image.display()));
    t.keys(&["Enter"]);
    t.wait_for(30, "the OTA update", |s| {
        s.contains("(1.20.9, ") && s.contains("delivered as an OTA update; 'reset' boots it")
    });
    assert!(t.status().contains("factory 1.20.2.r4"), "{}", t.status());
    t.keys(&["C-t", "r"]);
    t.wait_for(15, "main.py running", |s| s.contains("hello from put"));
    t.wait_for(10, "the update booted", |_| {
        t.status().contains("ota_0 1.20.9")
    });
    t.keys(&["C-]"]);
    t.ended(10);
}

#[test]
fn sigterm_and_a_resize_leave_a_sane_terminal() {
    let t = Term::start("run --fresh", &[]);
    t.wait_for(20, "the prompt", |s| s.contains(">>>"));
    // Fill the screen, so the prompt (the cursor) is on the row just above the status line.
    t.literal("for i in range(40): print('line', i)");
    t.keys(&["Enter"]);
    t.keys(&["Enter"]);
    t.wait_for(10, "the loop's output", |s| s.contains("line 39\n>>>"));
    // A resize moves the status line to the new bottom row and the region with it. The
    // shrinking terminal drops the old status row and pushes the text up, so the prompt lands
    // on the new bottom row: it must stay visible above the status, not be drawn over.
    t.tmux(&["resize-window", "-t", "0", "-x", "90", "-y", "20"]);
    t.wait_for(5, "the region after the resize", |_| {
        t.scroll_region() == "0 18"
    });
    let s = t.wait_for(5, "the status on the new bottom row", |s| {
        s.lines().count() == 20 && t.status().starts_with("LED ")
    });
    let rows: Vec<&str> = s.lines().collect();
    assert_eq!(
        rows[18].trim_end(),
        ">>>",
        "the prompt above the status:\n{s}"
    );
    assert_eq!(rows[17], "line 39", "{s}");
    assert_eq!(s.matches("LED ").count(), 1, "one status line:\n{s}");
    // The prompt still works in the new region.
    t.literal("6*7");
    t.keys(&["Enter"]);
    let s = t.wait_for(5, "the answer", |s| s.contains(">>> 6*7\n42\n>>>"));
    assert!(t.status().starts_with("LED "), "{s}");
    t.terminate();
    let (_, stty) = t.ended(10);
    assert_cooked(&stty);
    assert_eq!(t.scroll_region(), "0 19");
}

#[test]
fn the_safe_boot_lesson_on_the_terminal_follows_the_keys() {
    let t = Term::start("lesson safe-boot", &[]);
    t.wait_for(30, "the lockout explained", |s| {
        s.contains("[lesson] main.py ran and cut the UART")
    });
    t.keys(&["C-t", "p"]);
    t.wait_for(5, "P12 held", |_| t.status().contains("P12 3V3"));
    t.keys(&["C-t", "r"]);
    t.wait_for(5, "window 1", |_| t.status().contains("window 1"));
    std::thread::sleep(Duration::from_millis(500));
    t.keys(&["C-t", "p"]);
    let s = t.wait_for(10, "the window named", |s| {
        s.contains("in window 1 (the slow blink")
    });
    assert!(s.contains("Safe boot is not persistent"), "{s}");
    t.keys(&["C-]"]);
    let (code, stty) = t.ended(10);
    assert_eq!(code.trim(), "0");
    assert_cooked(&stty);
}

#[test]
fn no_arguments_creates_the_default_flash_and_says_where() {
    let t = Term::start("", &[]);
    let flash = t.file("data/pycom-sim/lopy4.flash");
    let s = t.wait_for(30, "the prompt", |s| s.contains(">>>"));
    assert!(flash.exists(), "{s}");
    assert!(
        s.replace('\n', "").contains(&flash.display().to_string()),
        "{s}"
    );
    t.keys(&["C-]"]);
    t.ended(10);
}

#[test]
fn output_while_the_monitor_prompt_is_open_is_shown_after_it_none_lost() {
    let data = tempfile::tempdir().unwrap();
    let flash = flash_with(
        data.path(),
        &[(
            "/main.py",
            "import time\nn = 0\nwhile True:\n    print('tick', n)\n    n += 1\n    time.sleep(0.2)\n",
        )],
    );
    let t = Term::start(&format!("run --flash {}", flash.display()), &[]);
    t.wait_for(20, "ticks", |s| s.contains("tick 3"));
    t.keys(&["C-t", ":"]);
    let open = t.wait_for(5, "the monitor prompt", |s| s.contains("(pycom-sim)"));
    let last = |s: &str| {
        s.lines()
            .filter_map(|l| l.strip_prefix("tick "))
            .filter_map(|n| n.trim().parse::<u32>().ok())
            .max()
            .unwrap_or(0)
    };
    let before = last(&open);
    std::thread::sleep(Duration::from_millis(1500));
    // Nothing drawn while the prompt is open.
    assert_eq!(last(&t.screen()), before, "{}", t.screen());
    t.literal("status");
    t.keys(&["Enter"]);
    let s = t.wait_for(5, "status and the held ticks", |s| {
        s.contains("stage: firmware") && last(s) >= before + 6
    });
    // Every tick is there, in order, after the status answer.
    let ticks: Vec<u32> = s
        .lines()
        .filter_map(|l| l.strip_prefix("tick "))
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "{ticks:?}\n{s}");
    assert!(s.contains("LED #") && s.contains("device time: "), "{s}");
    t.keys(&["C-c"]);
    t.keys(&["C-]"]);
    t.ended(10);
}

#[test]
fn a_virtual_run_on_the_terminal_ends_at_the_idle_prompt() {
    let t = Term::start("run --fresh --time virtual", &[]);
    let (code, stty) = t.ended(30);
    assert_eq!(code.trim(), "0");
    assert_cooked(&stty);
    assert!(t.screen().contains(">>>"), "{}", t.screen());
}

#[test]
fn sigterm_while_the_monitor_prompt_is_open_ends_the_run_and_gives_the_terminal_back() {
    let t = Term::start("run --fresh", &[]);
    t.wait_for(20, "the prompt", |s| s.contains(">>>"));
    t.keys(&["C-t", ":"]);
    t.wait_for(5, "the monitor prompt", |s| s.contains("(pycom-sim)"));
    t.terminate();
    // No key is pressed: the run must end by itself, the terminal cooked again.
    let (_, stty) = t.ended(10);
    assert_cooked(&stty);
}

//! The MicroPython runtime as the page describes it: boot.py, main.py, the REPL, and the four ways
//! out (Ctrl-D, `sys.exit()`, `machine.reset()`, `os.mkfs`), with safe boot skipping the scripts.

mod support;

use std::time::Duration;

use pycom_sim::device::FlashSource;
use pycom_sim::event::EventKind;
use pycom_sim::gpio::Drive;
use support::{BANNER, FlashDir, Rig, after_rom, boots, install_ota, led_timeline, uart};

const BLUE: &str = "#000050";

const SCRIPTS: &[(&str, &str)] = &[
    ("/boot.py", "print('boot.py ran')\n"),
    ("/main.py", "print('main.py ran')\n"),
];

#[test]
fn boot_py_then_main_py_then_the_banner_and_prompt() {
    let flash = FlashDir::new(SCRIPTS);
    let mut rig = Rig::on(&flash.path);
    let text = rig.boot();
    assert_eq!(
        after_rom(&text),
        format!("boot.py ran\r\nmain.py ran\r\n{BANNER}>>> ")
    );
}

#[test]
fn the_prompt_evaluates_expressions_and_blocks() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    assert_eq!(rig.line("1 + 1"), "2\r\n>>> ");
    assert_eq!(rig.line("'abc'"), "'abc'\r\n>>> ");
    assert_eq!(rig.line("None"), ">>> ");
    // Auto-indent: the block's lines come indented; Enter on an indented blank line keeps
    // going, and after two blank lines there is no indent, so the third Enter runs the block.
    assert_eq!(rig.line("for i in range(3):"), "...     ");
    assert_eq!(rig.line("print(i)"), "...     ");
    assert_eq!(rig.line(""), "...     ");
    assert_eq!(rig.line(""), "... ");
    assert_eq!(rig.line(""), "0\r\n1\r\n2\r\n>>> ");
    assert_eq!(rig.line("(1,"), "... ");
    assert_eq!(rig.line(" 2)"), "(1, 2)\r\n>>> ");
}

#[test]
fn backspace_takes_back_a_level_of_auto_indent() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    let text = rig.type_bytes(b"for i in range(2):\rif i:\rprint('one')\r\x7fprint(i)\r\r\r\r");
    assert_eq!(
        text,
        "for i in range(2):\r\n...     if i:\r\n...         print('one')\r\n...         \
         \x08\x08\x08\x08\x1b[Kprint(i)\r\n...     \r\n...     \r\n... \r\n0\r\none\r\n1\r\n>>> "
    );
}

#[test]
fn up_and_down_recall_lines_until_a_soft_reset() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    rig.line("x = 6");
    assert_eq!(rig.line("x * 7"), "42\r\n>>> ");
    // Up shows "x * 7", up again "x = 6" (drawn over it), down "x * 7" again; Enter runs it.
    assert_eq!(
        rig.type_bytes(b"\x1b[A\x1b[A\x1b[B\r"),
        "x * 7\x1b[5Dx = 6\x1b[5Dx * 7\r\n42\r\n>>> "
    );
    // Left arrow and an insertion in the middle of a recalled line: each key redraws the rest
    // of the line and steps back over it.
    assert_eq!(
        rig.type_bytes(b"\x1b[A\x1b[D\x1b[D\x1b[D+ 1 \r"),
        "x * 7\x08\x08\x08+* 7\x08\x08\x08 * 7\x08\x08\x081* 7\x08\x08\x08 * 7\x08\x08\x08\r\n13\r\n>>> "
    );
    rig.soft_reset();
    assert_eq!(rig.type_bytes(b"\x1b[A\r"), "\r\n>>> ");
}

#[test]
fn tab_completes_names_and_lists_the_choices() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    rig.line("import machine");
    assert_eq!(
        rig.type_bytes(b"machine.reset_c\t()\r"),
        "machine.reset_cause()\r\n0\r\n>>> "
    );
    rig.line("alpha_one = 1; alpha_two = 2");
    // Completing through a property runs it, and it may use the device (here the filesystem).
    rig.paste(&[
        "class Here:",
        "    @property",
        "    def cwd(self):",
        "        import os",
        "        return os.getcwd()",
        "here = Here()",
    ]);
    assert_eq!(
        rig.type_bytes(b"here.cwd.upp\t()\r"),
        "here.cwd.upper()\r\n'/FLASH'\r\n>>> "
    );
    // The first Tab completes what the choices share, the second lists them.
    let text = rig.type_bytes(b"alpha\t\t");
    assert_eq!(
        text,
        format!(
            "alpha_\r\nalpha_one{}alpha_two\r\n>>> alpha_",
            " ".repeat(7)
        )
    );
}

#[test]
fn ctrl_d_in_input_raises_eoferror() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    rig.enter("try:\rinput('? ')\r\x7fexcept EOFError:\rprint('eof')\r\r\r");
    let text = rig.type_bytes(b"\x04");
    assert_eq!(text, "eof\r\n>>> ");
}

#[test]
fn a_traceback_in_main_py_is_printed_and_the_repl_still_starts() {
    let flash = FlashDir::new(&[("/main.py", "x = 1\ny = 2\nprint(undefined_name)\n")]);
    let mut rig = Rig::on(&flash.path);
    let text = rig.boot();
    assert_eq!(
        after_rom(&text),
        format!(
            "Traceback (most recent call last):\r\n  File \"main.py\", line 3, in <module>\r\n\
             NameError: name 'undefined_name' isn't defined\r\n{BANNER}>>> "
        )
    );
    // main.py's globals are the prompt's, as on the module.
    assert_eq!(rig.line("x + y"), "3\r\n>>> ");
}

#[test]
fn a_syntax_error_in_boot_py_names_the_file_and_main_py_still_runs() {
    let flash = FlashDir::new(&[
        ("/boot.py", "x = (\n"),
        ("/main.py", "print('main.py ran')\n"),
    ]);
    let mut rig = Rig::on(&flash.path);
    let text = rig.boot();
    let firmware = after_rom(&text);
    assert!(
        firmware.starts_with("Traceback (most recent call last):\r\n  File \"boot.py\", line 1"),
        "{firmware}"
    );
    assert!(
        firmware.contains("\r\nSyntaxError: invalid syntax\r\n"),
        "{firmware}"
    );
    assert!(firmware.ends_with(&format!("main.py ran\r\n{BANNER}>>> ")));
}

#[test]
fn ctrl_d_soft_resets_reruns_the_scripts_and_forgets_globals() {
    let flash = FlashDir::new(SCRIPTS);
    let mut rig = Rig::on(&flash.path);
    rig.boot();
    assert_eq!(rig.line("x = 42"), ">>> ");
    let text = rig.type_bytes(b"\x04");
    assert_eq!(
        text,
        format!("\r\nPYB: soft reboot\r\nboot.py ran\r\nmain.py ran\r\n{BANNER}>>> ")
    );
    assert!(
        rig.line("x").contains("NameError: name 'x' isn't defined"),
        "globals are gone"
    );
    assert_eq!(
        rig.line("import machine; machine.reset_cause()"),
        "4\r\n>>> "
    );
}

#[test]
fn sys_exit_at_the_prompt_soft_resets() {
    let flash = FlashDir::new(SCRIPTS);
    let mut rig = Rig::on(&flash.path);
    rig.boot();
    let text = rig.line("import sys; sys.exit()");
    assert_eq!(
        text,
        format!("PYB: soft reboot\r\nboot.py ran\r\nmain.py ran\r\n{BANNER}>>> ")
    );
}

#[test]
fn sys_exit_in_boot_py_ends_boot_py_and_main_py_still_runs() {
    // As the firmware's `pyexec_file` does (§9.3): no soft reset, no loop.
    let flash = FlashDir::new(&[
        (
            "/boot.py",
            "import sys\nprint('leaving')\nsys.exit()\nprint('not here')\n",
        ),
        ("/main.py", "print('main.py ran')\n"),
    ]);
    let mut rig = Rig::on(&flash.path);
    let text = rig.boot();
    assert_eq!(
        after_rom(&text),
        format!("leaving\r\nmain.py ran\r\n{BANNER}>>> ")
    );
}

#[test]
fn machine_main_in_boot_py_runs_that_file_instead_of_main_py() {
    let flash = FlashDir::new(&[
        ("/boot.py", "import machine\nmachine.main('app.py')\n"),
        ("/main.py", "print('main.py ran')\n"),
        ("/app.py", "print('app.py ran')\nundefined_name\n"),
    ]);
    let mut rig = Rig::on(&flash.path);
    let text = rig.boot();
    assert_eq!(
        after_rom(&text),
        format!(
            "app.py ran\r\nTraceback (most recent call last):\r\n  File \"app.py\", line 2, in \
             <module>\r\nNameError: name 'undefined_name' isn't defined\r\n{BANNER}>>> "
        )
    );
    // The choice lasts one boot cycle: a soft reset without boot.py's call runs main.py again.
    rig.line("import os; os.remove('/flash/boot.py')");
    let text = rig.type_bytes(b"\x04");
    assert_eq!(
        text,
        format!("\r\nPYB: soft reboot\r\nmain.py ran\r\n{BANNER}>>> ")
    );
}

#[test]
fn safe_boot_skips_boot_py_and_main_py_until_the_next_hard_reset() {
    let flash = FlashDir::new(SCRIPTS);
    let mut rig = Rig::on(&flash.path);
    rig.handle.drive("P12", Drive::High).unwrap();
    rig.handle
        .drive_at(Duration::from_millis(1000), "P12", Drive::Floating)
        .unwrap();
    let text = rig.boot();
    assert_eq!(after_rom(&text), format!("{BANNER}>>> "));
    assert_eq!(
        boots(&rig.log),
        vec![(
            "factory".into(),
            "1.20.2.r4".into(),
            "current".into(),
            true,
            false
        )]
    );
    // A soft reset inside a safe-booted session stays safe (§8.3).
    assert_eq!(
        rig.type_bytes(b"\x04"),
        format!("\r\nPYB: soft reboot\r\n{BANNER}>>> ")
    );
    // The next hard reset is a normal boot again.
    let text = rig.press_reset();
    assert_eq!(
        after_rom(&text),
        format!("boot.py ran\r\nmain.py ran\r\n{BANNER}>>> ")
    );
}

#[test]
fn ctrl_f_requests_a_safe_boot_and_hard_resets_through_the_rom() {
    let flash = FlashDir::new(SCRIPTS);
    let mut rig = Rig::on(&flash.path);
    rig.boot();
    rig.handle.write_uart(b"\x06");
    let events = rig.until_idle_after_reset();
    let text = uart(&events);
    assert!(
        text.contains("rst:0x7 (TG0WDT_SYS_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)"),
        "{text}"
    );
    assert_eq!(after_rom(&text), format!("{BANNER}>>> "), "scripts skipped");
    assert_eq!(
        boots(&events),
        vec![(
            "factory".into(),
            "1.20.2.r4".into(),
            "current".into(),
            true,
            true
        )]
    );
    assert!(events.iter().any(|e| matches!(
        e.kind,
        EventKind::Reset {
            cause: pycom_sim::rom::ResetCause::Watchdog
        }
    )));
    // The request was a one-shot: the next reset is normal.
    let text = rig.press_reset();
    assert!(after_rom(&text).starts_with("boot.py ran\r\nmain.py ran\r\n"));
}

#[test]
fn the_previous_image_boots_with_its_own_version_in_the_banner() {
    let flash = FlashDir::new(&[]);
    install_ota(&flash.path, "1.20.2.r7", false);
    let mut rig = Rig::on(&flash.path);
    let text = rig.boot();
    assert!(after_rom(&text).starts_with("Pycom MicroPython 1.20.2.r7 [v1.11-ffb0e1c]"));
    // Held into window 2: the previous (factory) image, with its version.
    let now = rig.log.last().unwrap().time_ms();
    rig.handle
        .batch()
        .drive("P12", Drive::High)
        .unwrap()
        .press_reset()
        .drive_at(Duration::from_millis(4000 + now), "P12", Drive::Floating)
        .unwrap()
        .send();
    let text = uart(&rig.until_idle_after_reset());
    assert!(
        after_rom(&text).starts_with("Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c]"),
        "{text}"
    );
    let text = rig.press_reset();
    assert!(
        after_rom(&text).starts_with("Pycom MicroPython 1.20.2.r7"),
        "not persistent"
    );
}

#[test]
fn raw_repl_frames_output_and_errors_as_host_tools_expect() {
    let flash = FlashDir::new(SCRIPTS);
    let mut rig = Rig::on(&flash.path);
    rig.boot();
    assert_eq!(rig.type_bytes(b"\x01"), "\r\nraw REPL; CTRL-B to exit\r\n>");
    assert_eq!(rig.type_bytes(b"print(6*7)\x04"), "OK42\r\n\x04\x04>");
    // mpremote's raw-paste probe: Pycom has no raw-paste, so `\x05A` lands in the buffer and
    // Ctrl-A resets the raw REPL (banner again, buffer cleared); the host falls back.
    assert_eq!(
        rig.type_bytes(b"\x05A\x01"),
        "raw REPL; CTRL-B to exit\r\n>"
    );
    assert_eq!(rig.type_bytes(b"print(1)\x04"), "OK1\r\n\x04\x04>");
    let err = rig.type_bytes(b"1/0\x04");
    assert!(
        err.starts_with("OK\x04Traceback (most recent call last):\r\n"),
        "{err:?}"
    );
    assert!(
        err.ends_with("ZeroDivisionError: division by zero\r\n\x04>"),
        "{err:?}"
    );
    // Ctrl-D on an empty buffer: soft reset, boot.py runs, main.py does not, still raw.
    assert_eq!(
        rig.type_bytes(b"\x04"),
        "OK\r\nPYB: soft reboot\r\nboot.py ran\r\nraw REPL; CTRL-B to exit\r\n>"
    );
    assert_eq!(rig.type_bytes(b"\x02"), format!("\r\n{BANNER}>>> "));
}

#[test]
fn paste_mode_runs_what_was_pasted() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    let text = rig.type_bytes(b"\x05def f():\r    return 7\r\rprint(f() * 6)\r\x04");
    assert_eq!(
        text,
        "\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== def f():\r\n===     return 7\r\n=== \r\n=== print(f() * 6)\r\n=== \r\n42\r\n>>> "
    );
}

#[test]
fn input_reads_a_line_from_the_uart() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    assert_eq!(rig.line("name = input('name? ')"), "name? ");
    assert_eq!(rig.type_bytes(b"bob\r"), "bob\r\n>>> ");
    assert_eq!(rig.line("name"), "'bob'\r\n>>> ");
}

#[test]
fn ctrl_c_at_the_prompt_abandons_the_line() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    assert_eq!(rig.type_bytes(b"print('no')\x03"), "print('no')\r\n>>> ");
}

#[test]
fn help_lists_the_control_keys() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    let text = rig.line("help()");
    assert!(text.starts_with("Welcome to MicroPython!\r\n"));
    assert!(text.contains(
        "CTRL-F        -- on a blank line, do a hard reset of the board and enter safe boot\r\n"
    ));
}

#[test]
fn the_device_cannot_read_host_files() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    // The host's files are not the device's: /etc is not a mount point of the device.
    assert!(
        rig.eval("open('/etc/passwd')")
            .ends_with("OSError: [Errno 19] ENODEV\r\n"),
    );
    // Nothing of the engine reaches the host either. (`select` is the firmware's uselect now,
    // over the device's own streams: tests/python_modules.rs.)
    for module in ["posix", "socket", "_socket", "_select", "subprocess"] {
        assert_eq!(
            rig.eval(&format!("import {module}")),
            format!(
                "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in \
                 <module>\r\nImportError: no module named '{module}'\r\n"
            ),
            "{module}"
        );
    }
    let text = rig.eval("import _io; _io.FileIO('/etc/passwd')");
    assert!(!text.contains("root") && text.contains("Error: "), "{text}");
}

#[test]
fn sys_exit_in_main_py_ends_it_and_the_repl_starts() {
    let flash = FlashDir::new(&[(
        "/main.py",
        "import sys\nprint('main.py ran')\nsys.exit()\nprint('stayed')\n",
    )]);
    let mut rig = Rig::on(&flash.path);
    let text = rig.boot();
    assert_eq!(after_rom(&text), format!("main.py ran\r\n{BANNER}>>> "));
}

#[test]
fn a_failing_main_py_stops_the_heartbeat_until_the_next_boot() {
    let flash = FlashDir::new(&[("/main.py", "import time\ntime.sleep(5)\nundefined_name\n")]);
    let mut rig = Rig::on(&flash.path);
    let events = rig.boot_events();
    let failed_at = events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Uart { text } if String::from_utf8_lossy(text).contains("NameError")))
        .map(|e| e.time_ms())
        .expect("the traceback");
    let prompt_at = events
        .iter()
        .rfind(|e| matches!(&e.kind, EventKind::Uart { .. }))
        .map(|e| e.time_ms())
        .expect("the prompt");
    // mperror_signal_error: the LED is held off for 1.2 s before the REPL starts.
    assert!(
        (failed_at + 1200..failed_at + 1250).contains(&prompt_at),
        "error at {failed_at} ms, prompt at {prompt_at} ms"
    );
    let leds = led_timeline(&events);
    assert!(
        leds.iter().any(|(_, c)| c == BLUE),
        "the heartbeat ran during main.py: {leds:?}"
    );
    assert_eq!(leds.last().map(|(_, c)| c.as_str()), Some("#000000"));
    assert_eq!(rig.eval("import pycom; pycom.heartbeat()"), "False\r\n");
    let quiet = rig.enter("import time; time.sleep(10)");
    assert_eq!(led_timeline(&quiet), vec![], "no heartbeat in 10 s");
    // A soft reset starts it again (and main.py fails again, stopping it again).
    let again = {
        rig.handle.write_uart(b"\x04");
        rig.until_idle()
    };
    assert!(led_timeline(&again).iter().any(|(_, c)| c == BLUE));
}

#[test]
fn os_errors_print_with_their_errno_name() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    assert_eq!(
        rig.line("open('/flash/nope')"),
        "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\nOSError: [Errno 2] ENOENT\r\n>>> "
    );
}

#[test]
fn common_errors_print_in_the_firmwares_words() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    let last_line = |text: String| {
        text.trim_end_matches(">>> ")
            .trim_end()
            .rsplit("\r\n")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        last_line(rig.line("import no_such_module")),
        "ImportError: no module named 'no_such_module'"
    );
    assert_eq!(
        last_line(rig.line("undefined_name")),
        "NameError: name 'undefined_name' isn't defined"
    );
    assert_eq!(
        last_line(rig.line("import machine; machine.nothing")),
        "AttributeError: 'module' object has no attribute 'nothing'"
    );
    assert_eq!(last_line(rig.line("1 +* 2")), "SyntaxError: invalid syntax");
    rig.paste(&["def deeper(n):", "    return deeper(n + 1)"]);
    assert_eq!(
        last_line(rig.line("deeper(0)")),
        "RuntimeError: maximum recursion depth exceeded"
    );
    assert_eq!(
        last_line(rig.line("  x = 1")),
        "IndentationError: unexpected indent"
    );
    // The exception is still the engine's to catch: ImportError catches a missing module.
    assert_eq!(
        rig.printed("exec('try:\\n import nope\\nexcept ImportError:\\n print(1)')"),
        "1"
    );
}

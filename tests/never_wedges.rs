//! The device never wedges: input wakes it at once (real time too), a chip reset empties the
//! UART's FIFO, a crash in the runtime reboots the module, memory runs out as MemoryError, piped
//! input lands at defined device times, and `sys.exit()` ends a start-up script, not the boot.

mod support;

use std::time::{Duration, Instant};

use pycom_sim::board::Board;
use pycom_sim::clock::TimeMode;
use pycom_sim::device::{Action, DeviceConfig, DeviceHandle, FlashSource, collect_until};
use pycom_sim::event::{Event, EventKind};
use support::{BANNER, Rig, after_rom, uart};

/// A LoPy4 on a throwaway flash in `time`, powered off.
fn lopy4(time: TimeMode) -> DeviceHandle {
    DeviceHandle::spawn(DeviceConfig {
        board: Board::builtin("lopy4").unwrap(),
        flash: FlashSource::Fresh,
        reformat: false,
        time,
        sd: None,
    })
    .unwrap()
}

// ----- 1. input wakes an idle device at once, in real time -------------------------------------

/// A LoPy4 in real time on a throwaway flash, powered on, with its prompt reached.
fn real_time_device() -> (DeviceHandle, std::sync::mpsc::Receiver<Event>) {
    let handle = lopy4(TimeMode::Real);
    let events = handle.subscribe();
    handle.power_on();
    let mut text = String::new();
    collect_until(&events, |e| {
        if let EventKind::Uart { text: t } = &e.kind {
            text.push_str(&String::from_utf8_lossy(t));
        }
        text.ends_with(">>> ")
    });
    (handle, events)
}

/// Wall time from `send` until the UART has printed `want` (which it must print).
fn answered_within(
    events: &std::sync::mpsc::Receiver<Event>,
    want: &str,
    send: impl FnOnce(),
) -> Duration {
    let start = Instant::now();
    send();
    let text = wait_for(events, want);
    assert!(
        text.contains(want),
        "the device ended without printing {want:?}:\n{text}"
    );
    start.elapsed()
}

/// Collects UART text until it contains `want` (or the device ends); returns it.
fn wait_for(events: &std::sync::mpsc::Receiver<Event>, want: &str) -> String {
    let mut text = String::new();
    collect_until(events, |e| {
        if let EventKind::Uart { text: t } = &e.kind {
            text.push_str(&String::from_utf8_lossy(t));
        }
        text.contains(want)
    });
    text
}

/// The heartbeat's next edge is almost 4 s away after the prompt appears; the answer must not
/// wait for it. (The millisecond figures are in `scripts/bench`; this bound is seconds.)
#[test]
fn real_time_input_at_the_prompt_is_answered_at_once() {
    let (handle, events) = real_time_device();
    let took = answered_within(&events, "\r\n2\r\n>>> ", || handle.write_uart(b"1+1\r"));
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    let took = answered_within(&events, "'abc'", || {
        handle.write_uart(b"input('? ')\r");
        handle.write_uart(b"abc\r");
    });
    assert!(
        took < Duration::from_secs(2),
        "input() answered after {took:?}"
    );
}

#[test]
fn real_time_ctrl_c_ends_a_sleep_and_a_byte_ends_machine_idle_at_once() {
    let (handle, events) = real_time_device();
    handle.write_uart(b"import time, machine\r");
    // The code says when it is inside the wait, so the key lands there and not before.
    handle.write_uart(b"print('sle' + 'eping'); time.sleep(30)\r");
    wait_for(&events, "sleeping\r\n");
    let took = answered_within(&events, "KeyboardInterrupt", || handle.write_uart(b"\x03"));
    assert!(took < Duration::from_secs(2), "Ctrl-C seen after {took:?}");
    handle.write_uart(b"print('idl' + 'ing'); machine.idle(); print('wo' + 'ke')\r");
    wait_for(&events, "idling\r\n");
    let took = answered_within(&events, "woke", || handle.write_uart(b"x"));
    assert!(
        took < Duration::from_secs(2),
        "machine.idle() woke after {took:?}"
    );
}

// ----- 2. a chip reset empties the RX FIFO -----------------------------------------------------

/// Device time of the last event the rig has seen.
fn now(rig: &Rig) -> Duration {
    Duration::from_micros(rig.log.last().map_or(0, |e| e.time_us))
}

/// What the first prompt after the reset shows once `print(5)` is typed: it must be the line
/// alone, with nothing left over from before the reset.
fn first_prompt_line(rig: &mut Rig, text: &str) -> String {
    assert!(text.ends_with(">>> "), "no prompt after the reset:\n{text}");
    rig.type_line("print(5)")
}

#[test]
fn ctrl_f_after_typed_bytes_leaves_nothing_in_the_new_prompt() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    rig.handle.write_uart(b"abc\x06");
    let text = uart(&rig.until_idle_after_reset());
    assert!(text.contains("rst:0x7 (TG0WDT_SYS_RESET)"), "{text}");
    assert!(!after_rom(&text).contains("abc"), "{text}");
    assert_eq!(first_prompt_line(&mut rig, &text), "print(5)\r\n5\r\n>>> ");
}

/// Bytes typed while code runs wait in the FIFO; `action` resets the chip before the code reads
/// them. After the reset the prompt must not show them.
fn bytes_in_the_fifo_are_gone_after(action: Option<Action>, code: &str, cause: &str) {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    rig.type_line("import time, machine");
    let t = now(&rig);
    let mut batch = rig.handle.batch();
    batch.write_uart(format!("{code}\r").as_bytes()).at(
        t + Duration::from_millis(300),
        Action::Uart(b"abc".to_vec()),
    );
    if let Some(a) = action {
        batch.at(t + Duration::from_millis(600), a);
    }
    batch.send();
    let text = uart(&rig.until_idle_after_reset());
    assert!(text.contains(cause), "{text}");
    assert!(!after_rom(&text).contains("abc"), "{text}");
    assert_eq!(first_prompt_line(&mut rig, &text), "print(5)\r\n5\r\n>>> ");
}

#[test]
fn machine_reset_empties_the_fifo() {
    bytes_in_the_fifo_are_gone_after(
        None,
        "time.sleep(1); machine.reset()",
        "rst:0x7 (TG0WDT_SYS_RESET)",
    );
}

#[test]
fn the_reset_button_empties_the_fifo() {
    bytes_in_the_fifo_are_gone_after(
        Some(Action::ResetButton),
        "time.sleep(5)",
        "rst:0x1 (POWERON_RESET)",
    );
}

#[test]
fn a_power_cycle_empties_the_fifo() {
    bytes_in_the_fifo_are_gone_after(
        Some(Action::PowerCycle),
        "time.sleep(5)",
        "rst:0x1 (POWERON_RESET)",
    );
}

#[test]
fn bytes_that_arrive_after_the_reset_are_kept() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    let t = now(&rig);
    // Pressed at t + 10 ms; "xyz" arrives 50 ms later, while the bootloader runs.
    rig.handle
        .batch()
        .at(t + Duration::from_millis(10), Action::ResetButton)
        .at(t + Duration::from_millis(60), Action::Uart(b"xyz".to_vec()))
        .send();
    let text = uart(&rig.until_idle_after_reset());
    assert!(after_rom(&text).ends_with(">>> xyz"), "{text}");
}

// ----- 3. a crash reboots the module -----------------------------------------------------------

fn assert_guru_meditation_and_reboot(text: &str) {
    let at = text
        .find("Guru Meditation Error: Core  1 panic'ed (")
        .unwrap_or_else(|| panic!("no panic text:\n{text}"));
    let after = &text[at..];
    let cause = after.lines().nth(1).unwrap_or_default();
    assert!(cause.starts_with("Cause: "), "{after}");
    assert!(cause.contains("deliberate panic"), "{after}");
    let rst = after
        .find("rst:0xc (SW_CPU_RESET)")
        .unwrap_or_else(|| panic!("no SW_CPU_RESET after the panic:\n{after}"));
    assert!(after[rst..].ends_with(">>> "), "{after}");
}

#[test]
fn a_panic_at_the_prompt_prints_the_fault_and_reboots_with_the_flash_intact() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    rig.type_line("open('/flash/kept.txt', 'w').write('still here')");
    rig.handle.inject_panic();
    let events = rig.until_idle_after_reset();
    let text = uart(&events);
    assert_guru_meditation_and_reboot(&text);
    assert!(
        events.iter().any(
            |e| matches!(&e.kind, EventKind::Fault { message } if message.contains("panicked"))
        ),
        "no fault event"
    );
    assert_eq!(
        rig.printed("open('/flash/kept.txt').read()"),
        "'still here'"
    );
    // `mpsleep_init0` reports SW_CPU_RESET as PWRON_RESET.
    rig.type_line("import machine");
    assert_eq!(rig.printed("machine.reset_cause()"), "0");
    assert_eq!(rig.printed("1 + 1"), "2");
}

#[test]
fn a_panic_while_code_runs_reboots_the_module() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    rig.type_line("import time");
    let t = now(&rig);
    rig.handle
        .batch()
        .write_uart(b"time.sleep(10)\r")
        .at(t + Duration::from_secs(2), Action::Panic)
        .send();
    let text = uart(&rig.until_idle_after_reset());
    assert_guru_meditation_and_reboot(&text);
    assert_eq!(rig.printed("'alive'"), "'alive'");
}

/// RustPython 0.5's code generator panics (`StackUnderflow`) on this valid program: a `return`
/// in `finally:` around a loop that returns early.
const COMPILER_PANIC: &str = "def f():\r try:\r  for x in y: return\r finally: return\r";

#[test]
fn code_the_compiler_panics_on_is_a_syntax_error_and_the_prompt_comes_back() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    // Paste mode keeps the program's own indentation.
    let out = rig.type_bytes(format!("\x05{COMPILER_PANIC}\x04").as_bytes());
    assert!(
        out.contains("SyntaxError: pycom-sim cannot compile this code"),
        "{out}"
    );
    assert!(out.ends_with(">>> "), "{out}");
    assert!(!out.contains("Guru Meditation"), "{out}");
    // compile() and exec() from Python too.
    let src = COMPILER_PANIC.replace('\r', "\\n");
    let out = rig.eval(&format!("compile('{src}', 'x', 'exec')"));
    assert!(
        out.contains("SyntaxError: pycom-sim cannot compile"),
        "{out}"
    );
    let out = rig.eval(&format!("exec('{src}')"));
    assert!(
        out.contains("SyntaxError: pycom-sim cannot compile"),
        "{out}"
    );
    assert_eq!(rig.printed("'still ' + 'here'"), "'still here'");
}

#[test]
fn the_command_line_survives_the_compiler_panic_and_exits_when_input_ends() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .args(["run", "--fresh", "--time", "virtual"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pycom-sim");
    let input = format!("\x05{COMPILER_PANIC}\x04print('al' + 'ive')\r");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("pycom-sim ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("SyntaxError: pycom-sim cannot compile"),
        "{stdout}"
    );
    assert!(stdout.ends_with("alive\r\n>>> "), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ----- 4. out of memory is MemoryError ---------------------------------------------------------

#[test]
fn a_list_too_big_for_the_heap_raises_memory_error_and_the_device_goes_on() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    let out = rig.eval("l = list(range(10000)); l = 1000000000 * l");
    assert!(
        out.ends_with("MemoryError: memory allocation failed, allocating 40000000000000 bytes\r\n"),
        "{out}"
    );
    assert_eq!(rig.printed("len(l)"), "10000");
    for line in [
        "b = bytearray(10**12)",
        "s = 'ab' * 10**7",
        "t = (1,) * 10**9",
        "l *= 10**9",
        "bytes(10**15)",
    ] {
        let out = rig.eval(line);
        assert!(
            out.contains("MemoryError: memory allocation failed"),
            "{line}: {out}"
        );
    }
    // What fits is made.
    assert_eq!(rig.printed("len([0] * 100000)"), "100000");
    assert_eq!(rig.printed("len(bytearray(1000))"), "1000");
}

#[test]
fn the_heap_is_the_boards_gc_heap() {
    for (board, heap) in [("lopy4", 2_561_344u64), ("lopy", 67_008)] {
        let mut rig = Rig::spawn(board, FlashSource::Fresh, None);
        rig.boot();
        rig.type_line("import gc");
        assert_eq!(
            rig.number("gc.mem_free() + gc.mem_alloc()"),
            heap,
            "{board}"
        );
        // 20000 list items are 80000 bytes on the module: too many for 67 KiB.
        let out = rig.eval("x = [0] * 20000");
        assert_eq!(
            out.contains("MemoryError"),
            heap < 80_000,
            "{board}: {out:?} {:?}",
            rig.log
                .iter()
                .map(|e| match &e.kind {
                    EventKind::Uart { text } => String::from_utf8_lossy(text).into_owned(),
                    EventKind::Idle => "<IDLE>".into(),
                    _ => String::new(),
                })
                .collect::<String>()
        );
    }
}

// ----- 5. piped input lands at defined device times --------------------------------------------

/// Types `input` ahead in `chunks` pieces with the host thread yielding between them, as a pipe
/// read by another thread does, and returns the whole UART transcript of the run.
fn typed_run(input: &[u8], chunks: usize) -> String {
    let handle = lopy4(TimeMode::Virtual);
    let events = handle.subscribe();
    handle.open_input();
    handle.power_on();
    let size = input.len().div_ceil(chunks.max(1));
    for piece in input.chunks(size.max(1)) {
        handle.type_uart(piece);
        std::thread::yield_now();
    }
    handle.close_input();
    let mut closed = false;
    let log = collect_until(&events, |e| {
        closed |= e.kind == EventKind::InputClosed;
        closed && e.kind == EventKind::Idle
    });
    handle.shutdown();
    uart(&log)
}

#[test]
fn the_same_piped_input_gives_the_same_output_every_run() {
    let input = b"print(111)\r\x03print(222)\r";
    let first = typed_run(input, 1);
    assert!(first.contains("\r\n111\r\n>>> "), "{first}");
    assert!(first.ends_with("print(222)\r\n222\r\n>>> "), "{first}");
    for run in 1..100 {
        let chunks = 1 + run % input.len();
        assert_eq!(
            typed_run(input, chunks),
            first,
            "run {run} ({chunks} pieces)"
        );
    }
}

#[test]
fn typed_lines_after_a_reset_reach_the_new_boot() {
    let text = typed_run(b"import machine\rmachine.reset()\rprint(5)\r", 1);
    let after = text
        .rsplit_once("rst:0x7")
        .map(|(_, a)| a)
        .unwrap_or_default();
    assert!(after.ends_with(">>> print(5)\r\n5\r\n>>> "), "{text}");
}

// ----- 6. sys.exit() in boot.py and main.py ends the script ------------------------------------

#[test]
fn sys_exit_in_main_py_reaches_the_repl_once() {
    let mut rig = Rig::with_files(&[
        (
            "/boot.py",
            "import sys\nprint('boot')\nsys.exit()\nprint('not boot')\n",
        ),
        (
            "/main.py",
            "import sys\nprint('main')\nsys.exit()\nprint('not main')\n",
        ),
    ]);
    let text = rig.boot();
    assert_eq!(after_rom(&text), format!("boot\r\nmain\r\n{BANNER}>>> "));
    assert!(!text.contains("soft reboot"), "{text}");
    // At the prompt the page holds: sys.exit() soft-resets.
    let text = rig.type_line("import sys; sys.exit()");
    assert!(
        text.contains("PYB: soft reboot\r\nboot\r\nmain\r\n"),
        "{text}"
    );
}

// ----- 7. help() and bootmgr() as the firmware has them ----------------------------------------

#[test]
fn help_prints_the_firmware_text() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    let out = rig.eval("help()");
    assert!(
        out.starts_with(
            "Welcome to MicroPython!\r\nFor online docs please visit http://docs.pycom.io\r\n\r\nControl commands:\r\n"
        ),
        "{out}"
    );
    assert!(
        out.ends_with(
            "For further help on a specific object, type help(obj)\r\nFor a list of available modules, type help('modules')\r\n"
        ),
        "{out}"
    );
}

#[test]
fn bootmgr_reports_the_record_read_at_boot_until_the_next_reset() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    rig.type_line("import pycom");
    let before = rig.printed("pycom.bootmgr()");
    assert_eq!(
        before,
        "('Factory', 'FAT', 'SafeBoot: False', 'Status: Ready')"
    );
    // An OTA of the running image: the record in flash now says ota_0, CHECK.
    let image = pycom_sim::image::build_image(&pycom_sim::image::default_spec());
    rig.type_line("pycom.ota_start()");
    for chunk in image.chunks(2048) {
        let hex: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
        rig.type_line(&format!("pycom.ota_write(bytes.fromhex('{hex}'))"));
    }
    rig.type_line("pycom.ota_finish()");
    assert_eq!(rig.printed("pycom.bootmgr()"), before);
    let text = rig.press_reset();
    assert!(text.ends_with(">>> "), "{text}");
    rig.type_line("import pycom");
    let after = rig.printed("pycom.bootmgr()");
    assert!(
        after.starts_with("('ota_0', 'FAT', 'SafeBoot: False'"),
        "{after}"
    );
}

//! A soft reset frees everything the session made, as MicroPython's frees its heap: the device
//! thread keeps its interpreter from one session to the next (python::engine) and a thread
//! keeps it from one device to the next, so these check that nothing a session did — to
//! builtins, to sys, to the modules, in files it left open — reaches the next session or the
//! next device.

mod support;

use pycom_sim::device::FlashSource;
use support::{FlashDir, Rig};

#[test]
fn what_a_session_changed_is_gone_after_a_soft_reset() {
    let flash = FlashDir::new(&[("/lib/helper.py", "VALUE = 7\n")]);
    let mut rig = Rig::on(&flash.path);
    rig.boot();
    let before = [
        rig.printed("import sys; sys.path"),
        rig.printed("import gc; gc.mem_free()"),
        rig.printed("len(dir(__builtins__))"),
    ];
    rig.run_lines(&[
        "import sys; sys.path.append('/elsewhere'); sys.leftover = 2",
        "import helper; helper.VALUE = 8",
        "import machine; machine.leftover = 3",
        "import os; os.leftover = 4",
        // Last: everything after this, importing included, sees the session's `len`.
        "import builtins; builtins.leftover = 1; builtins.len = lambda x: -1",
    ]);
    assert_eq!(rig.printed("len('abc')"), "-1", "the change took");
    rig.soft_reset();
    let after = [
        rig.printed("import sys; sys.path"),
        rig.printed("import gc; gc.mem_free()"),
        rig.printed("len(dir(__builtins__))"),
    ];
    assert_eq!(before, after);
    assert_eq!(rig.printed("len('abc')"), "3");
    assert!(rig.line("leftover").contains("NameError"));
    assert_eq!(rig.printed("import sys; hasattr(sys, 'leftover')"), "False");
    assert_eq!(rig.printed("'helper' in sys.modules"), "False");
    assert_eq!(rig.printed("import helper; helper.VALUE"), "7");
    assert_eq!(
        rig.printed("import machine, os; hasattr(machine, 'leftover'), hasattr(os, 'leftover')"),
        "(False, False)"
    );
}

#[test]
fn a_file_left_open_is_written_at_the_soft_reset() {
    let mut rig = Rig::with_files(&[]);
    rig.boot();
    rig.run_lines(&[
        "f = open('/flash/open.txt', 'w'); f.write('kept')",
        // One in a cycle and one in a module's globals: only the reset can reach them.
        "g = open('/flash/cycle.txt', 'w'); g.write('cycle'); g.me = g; del g",
        "import sys; sys.modules['keeper'] = type(sys)('keeper')",
        "sys.modules['keeper'].f = open('/flash/global.txt', 'w'); sys.modules['keeper'].f.write('global')",
    ]);
    rig.soft_reset();
    assert_eq!(
        rig.printed(
            "[open('/flash/' + n).read() for n in ('open.txt', 'cycle.txt', 'global.txt')]"
        ),
        "['kept', 'cycle', 'global']"
    );
}

#[test]
fn a_hard_reset_starts_as_clean_as_a_soft_one() {
    let mut rig = Rig::with_files(&[]);
    rig.boot();
    rig.run_lines(&["import builtins; builtins.leftover = 1"]);
    rig.handle.write_uart(b"import machine; machine.reset()\r");
    rig.until_idle_after_reset();
    assert!(rig.line("leftover").contains("NameError"));
}

#[test]
fn the_next_device_on_a_thread_is_its_own_board() {
    // Devices one after another reuse a thread and its interpreter; each sees its own board
    // and nothing the one before it did.
    let flash = tempfile::tempdir().unwrap();
    for (board, platform) in [("lopy4", "LoPy4"), ("wipy3", "WiPy"), ("lopy4", "LoPy4")] {
        let path = flash.path().join(format!("{board}.flash"));
        let mut rig = Rig::spawn(board, FlashSource::File(path), None);
        rig.boot();
        assert_eq!(
            rig.printed("import sys; sys.platform"),
            format!("'{platform}'")
        );
        assert!(rig.line("leftover").contains("NameError"));
        rig.run_lines(&["import builtins; builtins.leftover = 1"]);
        rig.shutdown();
    }
}

#[test]
fn the_firmware_modules_are_as_at_power_on_after_a_soft_reset() {
    // machine, os and _pyboot stay loaded from one session to the next (python::engine's
    // firmware layer): whatever a session did to their classes, objects, tables and handlers
    // is put back, and their per-boot state starts again.
    let mut rig = Rig::with_files(&[]);
    rig.boot();
    let probe = "import machine, os; (sorted(dir(machine)), sorted(dir(machine.Pin)), os.sep, \
                 machine.Pin('P9').mode() == machine.Pin.IN, machine.Pin('P9').pull(), \
                 machine.Pin.__module__)";
    let before = rig.printed(probe);
    rig.run_lines(&[
        "import machine, os, time",
        "machine.Pin.leftover = 1; machine.Pin.value = None; machine.UART.leftover = 2",
        "p = machine.Pin('P9', mode=machine.Pin.OUT); p.extra = 5",
        "os.sep = '\\\\'; machine.mem32.leftover = 3; machine.Pin.__module__ = 'elsewhere'",
        "del machine.Timer",
    ]);
    assert_eq!(rig.printed("hasattr(machine, 'Timer')"), "False");
    rig.soft_reset();
    assert_eq!(rig.printed(probe), before, "machine and os as at power-on");
    assert_eq!(
        rig.printed(
            "hasattr(machine.Pin, 'leftover'), hasattr(machine.UART, 'leftover'), \
             hasattr(machine.Pin('P9'), 'extra'), hasattr(machine.mem32, 'leftover')"
        ),
        "(False, False, False, False)"
    );
    assert_eq!(rig.printed("machine.Pin('P9').value()"), "0");
    assert_eq!(rig.printed("hasattr(machine, 'Timer')"), "True");
}

#[test]
fn an_alarm_and_a_pin_callback_of_one_session_do_not_reach_the_next() {
    let mut rig = Rig::with_files(&[]);
    rig.boot();
    let out = rig.paste(&[
        "import machine, sys, time",
        "early = machine.Timer.Alarm(lambda alarm: print('early'), ms=10)",
        "late = machine.Timer.Alarm(lambda alarm: print('late'), ms=300)",
        "p = machine.Pin('P10', mode=machine.Pin.IN)",
        "p.callback(machine.Pin.IRQ_RISING, lambda pin: print('edge'))",
        "p9 = machine.Pin('P9', mode=machine.Pin.OUT); p9.value(1)",
        "time.sleep_ms(50)",
        "sys.exit()",
    ]);
    assert!(out.contains("early"), "alarms run in the session: {out}");
    // After the reset P9 is an input again (pulled down) and no handler is left.
    let pins = support::pin_levels(&rig.log);
    assert_eq!(
        pins.iter()
            .rev()
            .find(|(pin, _)| pin == "P9")
            .map(|(_, l)| *l),
        Some(0),
        "P9 back to its boot state: {pins:?}"
    );
    rig.handle
        .drive("P10", pycom_sim::gpio::Drive::High)
        .unwrap();
    let out = rig.line("import time; time.sleep_ms(500)");
    assert!(!out.contains("late") && !out.contains("edge"), "{out}");
}

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

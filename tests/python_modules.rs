//! The firmware's Python modules as a user meets them at the REPL of a virtual LoPy4:
//! `pycom` (LED, NVS, boot manager, OTA), `time`, `sys`, `micropython`, `gc` and the u-modules.
//! Everything runs in virtual time; assertions are on the UART text and the LED events.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use pycom_sim::device::{FlashSource, collect_until};
use pycom_sim::event::{Event, EventKind};
use support::{Rig, decision, led_colours, uart};

const BLUE: &str = "#000050";
const RED: &str = "#ff0000";

/// A fresh LoPy4 at the REPL prompt.
fn booted() -> Rig {
    let mut rig = Rig::new(FlashSource::Fresh);
    let boot = rig.boot();
    assert!(boot.ends_with(">>> "), "{boot}");
    rig
}

/// A LoPy4 on a flash file kept in `dir`, at the REPL prompt.
fn booted_on(dir: &Path) -> Rig {
    let mut rig = Rig::on(&dir.join("lopy4.flash"));
    rig.boot();
    rig
}

/// `(safe_boot, skip_scripts)` of the bootloader's decision in `events`.
fn boot_decision(events: &[Event]) -> (String, bool) {
    let (_, _, _, safe_boot, skip_scripts, _) = decision(events);
    (safe_boot, skip_scripts)
}

#[test]
fn rgbled_needs_the_heartbeat_off_and_shows_the_colour() {
    let mut rig = booted();
    assert_eq!(rig.eval("import pycom"), "");
    assert_eq!(rig.eval("pycom.heartbeat()"), "True\r\n");
    assert_eq!(
        rig.eval("pycom.rgbled(0xff0000)"),
        "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n\
         OSError: the requested operation is not possible\r\n"
    );
    let off = rig.enter("pycom.heartbeat(False)");
    assert!(!led_colours(&off).iter().any(|c| c == BLUE));
    let red = rig.enter("pycom.rgbled(0xff0000)");
    assert_eq!(led_colours(&red), vec![RED.to_string()]);
    assert_eq!(rig.eval("pycom.rgbled()"), "16711680\r\n");
    let blue = rig.enter("pycom.heartbeat(True)");
    assert_eq!(led_colours(&blue).first().map(String::as_str), Some(BLUE));
    rig.shutdown();
}

#[test]
fn dir_pycom_lists_the_firmware_functions_and_constants() {
    let mut rig = booted();
    let out = rig.eval("import pycom; print(dir(pycom))");
    for name in [
        "heartbeat",
        "rgbled",
        "heartbeat_on_boot",
        "ota_start",
        "ota_write",
        "ota_finish",
        "ota_verify",
        "ota_slot",
        "diff_update_enabled",
        "pulses_get",
        "nvs_set",
        "nvs_get",
        "nvs_erase",
        "nvs_erase_all",
        "wifi_on_boot",
        "wifi_mode_on_boot",
        "wifi_ssid_sta",
        "wifi_pwd_sta",
        "wifi_ssid_ap",
        "wifi_pwd_ap",
        "wdt_on_boot",
        "wdt_on_boot_timeout",
        "lte_modem_en_on_boot",
        "get_free_heap",
        "create_128bit_le_uuid_from_string",
        "sigfox_info",
        "bootmgr",
        "FACTORY",
        "OTA_0",
        "FAT",
        "LittleFS",
    ] {
        assert!(out.contains(&format!("'{name}'")), "{name} missing: {out}");
    }
    assert!(!out.contains("'_pycom'"), "{out}");
    assert_eq!(
        rig.eval("pycom.FACTORY, pycom.OTA_0, pycom.FAT, pycom.LittleFS"),
        "(0, 1, 0, 1)\r\n"
    );
    rig.shutdown();
}

#[test]
fn nvs_values_survive_a_hard_reset_and_errors_read_like_the_firmware() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rig = booted_on(dir.path());
    let set = "import pycom; pycom.nvs_set('count', 42); pycom.nvs_set('name', b'lopy')";
    assert_eq!(rig.eval(set), "");
    rig.press_reset();
    assert_eq!(
        rig.eval("import pycom; pycom.nvs_get('count'), pycom.nvs_get('name')"),
        "(42, 'lopy')\r\n"
    );
    assert_eq!(
        rig.eval("pycom.nvs_get('missing')"),
        "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n\
         ValueError: No matching object for the provided key\r\n"
    );
    assert_eq!(rig.eval("pycom.nvs_get('missing', 7)"), "7\r\n");
    assert!(
        rig.eval("pycom.nvs_erase('missing')")
            .ends_with("KeyError: key not found\r\n")
    );
    assert!(
        rig.eval("pycom.nvs_set('x', 1.5)")
            .ends_with("ValueError: Value must be string, bytes or integer\r\n")
    );
    assert!(
        rig.eval("pycom.nvs_set('x', 'a' * 1984)")
            .ends_with("ValueError: value too long (max: 1984)\r\n")
    );
    assert_eq!(
        rig.eval(
            "pycom.nvs_set('neg', -1); pycom.nvs_erase('count'); pycom.nvs_get('neg'), pycom.nvs_get('count', None)"
        ),
        "(-1, None)\r\n"
    );
    assert_eq!(
        rig.eval("pycom.nvs_erase_all(); pycom.nvs_get('name', 'gone')"),
        "'gone'\r\n"
    );
    rig.shutdown();
}

#[test]
fn heartbeat_on_boot_false_keeps_the_led_dark_after_a_reset() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rig = booted_on(dir.path());
    assert_eq!(
        rig.eval("import pycom; pycom.heartbeat_on_boot(False); pycom.heartbeat_on_boot()"),
        "False\r\n"
    );
    rig.handle.press_reset();
    let after = rig.until_idle_after_reset();
    let reset_at = after
        .iter()
        .position(|e| matches!(e.kind, EventKind::Reset { .. }))
        .expect("a reset");
    let colours = led_colours(&after[reset_at..]);
    assert!(!colours.iter().any(|c| c == BLUE), "{colours:?}");
    assert_eq!(rig.eval("import pycom; pycom.heartbeat()"), "False\r\n");
    // The other bytes of the config block are kept: the fs type the flash was made with.
    assert_eq!(rig.eval("pycom.bootmgr()[1]"), "'FAT'\r\n");
    assert_eq!(rig.eval("pycom.heartbeat_on_boot(True)"), "");
    rig.handle.press_reset();
    let again = rig.until_idle_after_reset();
    assert!(led_colours(&again).iter().any(|c| c == BLUE));
    rig.shutdown();
}

#[test]
fn bootmgr_reports_the_record_and_safeboot_reset_gives_one_safe_boot() {
    let mut rig = booted();
    assert_eq!(
        rig.eval("import pycom; pycom.bootmgr()"),
        "('Factory', 'FAT', 'SafeBoot: False', 'Status: Ready')\r\n"
    );
    assert!(
        rig.eval("pycom.bootmgr(safeboot=2)")
            .ends_with("ValueError: Error safeboot must be True or False!\r\n")
    );
    assert!(
        rig.eval("pycom.bootmgr(boot_partition=pycom.FACTORY)")
            .ends_with(
                "ValueError: Error invalid boot partition! or partition already active!\r\n"
            )
    );
    assert!(
        rig.eval("pycom.bootmgr(fs_type=7)")
            .ends_with("ValueError: Error invalid filesystem type!\r\n")
    );
    // Without reset the request is only stored.
    assert_eq!(rig.eval("pycom.bootmgr(safeboot=True)"), "");
    assert_eq!(rig.eval("pycom.bootmgr()[2]"), "'SafeBoot: True'\r\n");
    assert_eq!(rig.eval("pycom.bootmgr(safeboot=False)"), "");
    rig.handle
        .write_uart(b"pycom.bootmgr(safeboot=True, reset=True)\r");
    let safe = rig.until_idle_after_reset();
    assert_eq!(boot_decision(&safe), ("current".to_string(), true));
    assert_eq!(
        rig.eval("import pycom; pycom.bootmgr()[2]"),
        "'SafeBoot: True'\r\n"
    );
    rig.handle.press_reset();
    let normal = rig.until_idle_after_reset();
    assert_eq!(boot_decision(&normal), ("none".to_string(), false));
    rig.shutdown();
}

#[test]
fn ota_writes_the_other_slot_and_switches_the_record() {
    let mut rig = booted();
    assert_eq!(
        rig.eval("import pycom; hex(pycom.ota_slot())"),
        "'0x210000'\r\n"
    );
    let out =
        rig.eval("pycom.ota_start(); pycom.ota_write(b'\\xe9' + bytes(5000)); pycom.ota_finish()");
    assert_eq!(
        out,
        "Full Update Image detected. Restart the device to load the new firmware.\r\n"
    );
    // `bootmgr()` shows the copy `modpycom_init0` read at boot; the updater wrote its own.
    assert_eq!(
        rig.eval("pycom.bootmgr(), pycom.ota_verify()"),
        "(('Factory', 'FAT', 'SafeBoot: False', 'Status: Ready'), False)\r\n"
    );
    // A soft reset reads the record again.
    rig.soft_reset();
    assert_eq!(
        rig.eval("import pycom; pycom.bootmgr()"),
        "('ota_0', 'FAT', 'SafeBoot: False', 'Status: Check')\r\n"
    );
    // An image already pending: the firmware writes and prints nothing.
    assert_eq!(
        rig.eval("pycom.ota_start(); pycom.ota_write(b'\\xe9'); pycom.ota_finish()"),
        ""
    );
    assert_eq!(rig.eval("pycom.diff_update_enabled()"), "False\r\n");
    rig.shutdown();
}

#[test]
fn time_sleep_advances_device_time_not_wall_time() {
    let mut rig = booted();
    assert_eq!(rig.eval("import time"), "");
    let started = Instant::now();
    let log = rig.enter("time.sleep(5); print('woke')");
    let wall = started.elapsed();
    let echo_us = log
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Uart { text } if text.ends_with(b"\r\n")))
        .map(|e| e.time_us)
        .expect("the echo of Enter");
    let woke_us = log
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Uart { text } if text.starts_with(b"woke")))
        .map(|e| e.time_us)
        .expect("woke");
    let slept = woke_us - echo_us;
    assert!(
        (5_000_000..5_100_000).contains(&slept),
        "slept {slept} µs of device time"
    );
    assert!(wall < Duration::from_secs(3), "took {wall:?}");
    // In virtual time the clock also follows the wall clock while code computes (DESIGN.md), so
    // the statements around the sleep may add a millisecond or so on a busy machine.
    let elapsed: u64 =
        rig.number("t = time.ticks_ms(); time.sleep_ms(250); time.ticks_diff(time.ticks_ms(), t)");
    assert!((250..300).contains(&elapsed), "slept {elapsed} ms");
    rig.shutdown();
}

#[test]
fn ticks_wrap_like_the_firmware_and_the_clock_starts_at_1970() {
    let mut rig = booted();
    assert_eq!(rig.eval("import utime"), "");
    assert_eq!(
        rig.eval(
            "utime.ticks_diff(5, 0xFFFFFFFB), utime.ticks_diff(0xFFFFFFFB, 5), utime.ticks_add(0xFFFFFFFF, 2)"
        ),
        "(10, -10, 1)\r\n"
    );
    assert_eq!(
        rig.eval("utime.localtime(0), utime.gmtime(951782400)"),
        "((1970, 1, 1, 0, 0, 0, 3, 1), (2000, 2, 29, 0, 0, 0, 1, 60))\r\n"
    );
    assert_eq!(
        rig.eval("utime.mktime((2000, 2, 29, 0, 0, 0, 1, 60)), utime.time() < 60"),
        "(951782400, True)\r\n"
    );
    rig.shutdown();
}

#[test]
fn sys_micropython_and_gc_look_like_micropython() {
    let mut rig = booted();
    assert_eq!(
        rig.eval(
            "import sys; sys.implementation.name, sys.implementation.version, sys.platform, sys.path"
        ),
        "('micropython', (1, 11, 0), 'LoPy4', ['', '/flash', '/flash/lib'])\r\n"
    );
    assert_eq!(
        rig.eval("import gc; gc.collect(); gc.mem_free() + gc.mem_alloc(), gc.isenabled()"),
        "(2561344, True)\r\n"
    );
    let info = rig.eval("import micropython; micropython.mem_info()");
    assert!(info.contains("GC: total: 2561344, used: "), "{info}");
    assert_eq!(
        rig.eval(
            "micropython.const(7), callable(micropython.kbd_intr), micropython.schedule(print, 'ran')"
        ),
        "ran\r\n(7, True, None)\r\n"
    );
    assert_eq!(
        rig.eval(
            "exec(\"try:\\n sys.exit(3)\\nexcept SystemExit as e:\\n print('exit', e.args)\"); sys.maxsize"
        ),
        "exit (3,)\r\n2147483647\r\n"
    );
    rig.shutdown();
}

#[test]
fn u_modules_round_trip() {
    let mut rig = booted();
    assert_eq!(
        rig.eval(
            "import ujson; s = ujson.dumps({'a': [1, 2.5, None, True], 'b': 'x'}); s, ujson.loads(s) == {'a': [1, 2.5, None, True], 'b': 'x'}"
        ),
        "('{\"a\": [1, 2.5, null, true], \"b\": \"x\"}', True)\r\n"
    );
    assert!(
        rig.eval("ujson.loads('{bad')")
            .ends_with("ValueError: syntax error in JSON\r\n")
    );
    assert_eq!(
        rig.eval(
            "import ustruct; b = ustruct.pack('<hI', -2, 7); b, ustruct.unpack('<hI', b), ustruct.calcsize('<hI')"
        ),
        "(b'\\xfe\\xff\\x07\\x00\\x00\\x00', (-2, 7), 6)\r\n"
    );
    assert_eq!(
        rig.eval(
            "import ubinascii; h = ubinascii.hexlify(b'\\x00\\xffpy'); h, ubinascii.unhexlify(h), ubinascii.b2a_base64(b'py'), ubinascii.a2b_base64('cHk='), hasattr(ubinascii, 'crc32')"
        ),
        "(b'00ff7079', b'\\x00\\xffpy', b'cHk=\\n', b'py', False)\r\n"
    );
    assert_eq!(
        rig.eval("import uhashlib; ubinascii.hexlify(uhashlib.sha256(b'abc').digest())"),
        "b'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'\r\n"
    );
    assert_eq!(
        rig.eval(
            "import ure; m = ure.search(r'(\\d+)-(\\w+)', 'id 12-ab!'); m.group(0), m.group(2), ure.compile(',').split('a,b'), [n for n in ('sub', 'split') if hasattr(ure, n)]"
        ),
        "('12-ab', 'ab', ['a', 'b'], [])\r\n"
    );
    assert_eq!(
        rig.eval(
            "import ucollections, uio, uerrno; P = ucollections.namedtuple('P', ('x', 'y')); P(1, 2), uio.BytesIO(b'ab').read(), uerrno.errorcode[uerrno.ENOENT]"
        ),
        "(P(x=1, y=2), b'ab', 'ENOENT')\r\n"
    );
    assert_eq!(rig.eval("import math; math.sqrt(16.0)"), "4.0\r\n");
    rig.shutdown();
}

/// Sends `code` (which runs busily for a while), then Ctrl-C once it is running.
fn interrupt_busy_code(rig: &mut Rig, code: &str) -> String {
    rig.handle.write_uart(format!("{code}\r").as_bytes());
    // Wait for the echo of Enter (the code is compiling or running), then for it to be busy.
    let mut text = String::new();
    let _ = collect_until(&rig.events, |e| {
        if let EventKind::Uart { text: t } = &e.kind {
            text.push_str(&String::from_utf8_lossy(t));
        }
        text.ends_with("\r\n")
    });
    std::thread::sleep(Duration::from_millis(400));
    rig.handle.write_uart(b"\x03");
    text.push_str(&uart(&rig.until_idle()));
    text
}

#[test]
fn kbd_intr_decides_whether_ctrl_c_interrupts_running_code() {
    let mut rig = booted();
    assert_eq!(rig.eval("import micropython, time"), "");
    let spin = "exec(\"t = time.ticks_ms()\\nwhile time.ticks_diff(time.ticks_ms(), t) < 1500: pass\\nprint('finished')\")";
    // kbd_intr(-1) holds for the rest of the code it runs in (the firmware re-arms Ctrl-C at the
    // start of each REPL input).
    let uninterrupted = interrupt_busy_code(&mut rig, &format!("micropython.kbd_intr(-1); {spin}"));
    assert!(uninterrupted.contains("finished"), "{uninterrupted}");
    assert!(
        !uninterrupted.contains("KeyboardInterrupt"),
        "{uninterrupted}"
    );
    assert_eq!(rig.eval("micropython.kbd_intr(3)"), "");
    let interrupted = interrupt_busy_code(&mut rig, "while True: pass\r");
    assert!(interrupted.contains("KeyboardInterrupt"), "{interrupted}");
    assert!(interrupted.ends_with(">>> "), "{interrupted}");
    rig.shutdown();
}

#[test]
fn heartbeat_off_lasts_until_a_soft_reset() {
    let mut rig = booted();
    assert_eq!(rig.eval("import pycom, time; pycom.heartbeat(False)"), "");
    let dark = rig.enter("time.sleep(10)");
    assert!(!led_colours(&dark).iter().any(|c| c == BLUE));
    // Not persistent across a soft reboot (§10.4): mperror_init0 starts it again.
    rig.soft_reset();
    let lit = rig.enter("import time; time.sleep(10)");
    let blue: Vec<u64> = support::led_timeline(&lit)
        .into_iter()
        .filter(|(_, c)| c == BLUE)
        .map(|(t, _)| t)
        .collect();
    // The pulse at the soft reset itself came before; two more fall in the 10 s.
    assert_eq!(blue.len(), 2, "{blue:?}");
    assert_eq!(blue[1] - blue[0], 4000, "a pulse every 4 s: {blue:?}");
    rig.shutdown();
}

#[test]
fn microsecond_sleeps_and_ticks_follow_device_time() {
    let mut rig = booted();
    assert_eq!(rig.eval("import time"), "");
    let slept: u64 =
        rig.number("t = time.ticks_us(); time.sleep_us(1500); time.ticks_diff(time.ticks_us(), t)");
    assert!(
        (1500..20_000).contains(&slept),
        "sleep_us(1500) took {slept} µs"
    );
    let cpu: u64 =
        rig.number("c = time.ticks_cpu(); time.sleep(2); time.ticks_diff(time.ticks_cpu(), c)");
    assert!(
        (2_000_000..2_020_000).contains(&cpu),
        "ticks_cpu moved {cpu}"
    );
    assert_eq!(
        rig.eval("0 <= time.ticks_us() < 2**32, 0 <= time.ticks_cpu() < 2**32"),
        "(True, True)\r\n"
    );
    rig.shutdown();
}

#[test]
fn print_exception_and_opt_level_as_micropython_has_them() {
    let mut rig = booted();
    assert_eq!(
        rig.paste(&[
            "import sys",
            "def fail():",
            "    raise ValueError('bad value')",
            "try:",
            "    fail()",
            "except ValueError as e:",
            "    sys.print_exception(e)",
        ]),
        "Traceback (most recent call last):\r\n  File \"<stdin>\", line 5, in <module>\r\n  \
         File \"<stdin>\", line 3, in fail\r\nValueError: bad value\r\n"
    );
    assert_eq!(
        rig.eval("import micropython; micropython.opt_level()"),
        "0\r\n"
    );
    assert_eq!(
        rig.eval("micropython.opt_level(2); micropython.opt_level()"),
        "2\r\n"
    );
    rig.shutdown();
}

#[test]
fn firmware_modules_show_only_their_documented_names() {
    let mut rig = booted();
    for (module, expected) in [
        (
            "os",
            &[
                "listdir", "mkfs", "fsformat", "mkfat", "dupterm", "uname", "sep",
            ][..],
        ),
        ("uos", &["listdir", "getfree", "mount", "umount"][..]),
        (
            "time",
            &["sleep_us", "ticks_cpu", "localtime", "mktime"][..],
        ),
        ("utime", &["ticks_ms", "ticks_diff", "ticks_add"][..]),
        ("gc", &["collect", "mem_free", "mem_alloc", "threshold"][..]),
        (
            "micropython",
            &["const", "opt_level", "mem_info", "kbd_intr", "schedule"][..],
        ),
    ] {
        let names = rig.eval(&format!("import {module}; print(dir({module}))"));
        for name in expected {
            assert!(
                names.contains(&format!("'{name}'")),
                "{module}.{name}: {names}"
            );
        }
        assert!(
            !names
                .split(", ")
                .any(|n| n.trim_start_matches('[').starts_with("'_") && !n.contains("'__")),
            "helpers leak into dir({module}): {names}"
        );
    }
    rig.shutdown();
}

/// `sorted` public names of each module, under each name the firmware accepts.
const MODULE_NAMES: &[(&[&str], &str)] = &[
    (&["array"], "['array']"),
    (&["uzlib"], "['DecompIO', 'decompress']"),
    (
        &["uselect", "select"],
        "['POLLERR', 'POLLHUP', 'POLLIN', 'POLLOUT', 'poll', 'select']",
    ),
    (&["utimeq"], "['utimeq']"),
    (&["uqueue", "queue"], "['Queue']"),
    (
        &["ucrypto", "crypto"],
        "['AES', 'generate_rsa_signature', 'getrandbits', 'rsa_decrypt', 'rsa_encrypt']",
    ),
    (
        &["uio"],
        "['BytesIO', 'FileIO', 'StringIO', 'TextIOWrapper', 'open']",
    ),
    (&["ucollections"], "['deque', 'namedtuple']"),
    (
        &["uctypes"],
        "['ARRAY', 'BFINT16', 'BFINT32', 'BFINT8', 'BFUINT16', 'BFUINT32', 'BFUINT8', 'BF_LEN', \
         'BF_POS', 'BIG_ENDIAN', 'FLOAT32', 'FLOAT64', 'INT', 'INT16', 'INT32', 'INT64', 'INT8', \
         'LITTLE_ENDIAN', 'LONG', 'LONGLONG', 'NATIVE', 'PTR', 'SHORT', 'UINT', 'UINT16', \
         'UINT32', 'UINT64', 'UINT8', 'ULONG', 'ULONGLONG', 'USHORT', 'VOID', 'addressof', \
         'bytearray_at', 'bytes_at', 'sizeof', 'struct']",
    ),
    (
        &["framebuf"],
        "['FrameBuffer', 'FrameBuffer1', 'GS2_HMSB', 'GS4_HMSB', 'GS8', 'MONO_HLSB', 'MONO_HMSB', \
         'MONO_VLSB', 'MVLSB', 'RGB565']",
    ),
    (&["ure", "re"], "['DEBUG', 'compile', 'match', 'search']"),
    // JSONDecodeError is pycom-sim's (RustPython's scanner looks it up in `json` by name; see
    // docs/differences.md).
    (
        &["ujson", "json"],
        "['JSONDecodeError', 'dump', 'dumps', 'load', 'loads']",
    ),
    (
        &["ubinascii", "binascii"],
        "['a2b_base64', 'b2a_base64', 'hexlify', 'unhexlify']",
    ),
    (
        &["ustruct", "struct"],
        "['calcsize', 'pack', 'pack_into', 'unpack', 'unpack_from']",
    ),
    (
        &["uhashlib", "hashlib"],
        "['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512']",
    ),
    (
        &["cmath"],
        "['cos', 'e', 'exp', 'log', 'phase', 'pi', 'polar', 'rect', 'sin', 'sqrt']",
    ),
    (
        &["math"],
        "['acos', 'asin', 'atan', 'atan2', 'ceil', 'copysign', 'cos', 'degrees', 'e', 'exp', \
         'fabs', 'floor', 'fmod', 'frexp', 'isfinite', 'isinf', 'isnan', 'ldexp', 'log', 'modf', \
         'pi', 'pow', 'radians', 'sin', 'sqrt', 'tan', 'trunc']",
    ),
];

#[test]
fn the_firmware_module_set_imports_under_every_name_with_only_the_firmware_names() {
    let mut rig = booted();
    for (names, public) in MODULE_NAMES {
        for name in *names {
            assert_eq!(
                rig.eval(&format!(
                    "import {name}; print(sorted(n for n in dir({name}) if n[0] != '_'))"
                )),
                format!("{public}\r\n"),
                "dir({name})"
            );
        }
    }
    assert_eq!(
        rig.eval("import umachine, machine; print(umachine.reset_cause() == machine.reset_cause(), umachine.PWRON_RESET)"),
        "True 0\r\n"
    );
    for missing in [
        "collections",
        "io",
        "random",
        "urandom",
        "heapq",
        "uheapq",
        "zlib",
        "itertools",
        // The engine imports these into every interpreter; the board has none.
        "_ast",
        "codecs",
        "encodings_utf_8",
    ] {
        assert_eq!(
            rig.eval(&format!("import {missing}")),
            format!(
                "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n\
                 ImportError: no module named '{missing}'\r\n"
            )
        );
    }
    rig.shutdown();
}

/// The engine's codecs are pycom-sim's small ones (src/python/lib/engine): text still encodes
/// and decodes as UTF-8 and ascii, with the error handlers the caller names, and a failure's
/// traceback has no frame of the codec's own.
#[test]
fn text_encodes_and_decodes_through_the_engines_small_codecs() {
    let mut rig = booted();
    assert_eq!(
        rig.eval(
            r"print('é'.encode(), 'é'.encode('utf8'), b'\xc3\xa9'.decode('UTF-8'), str(b'abc', 'ascii'), 'x'.encode('ascii'), bytes('é', 'utf-8'))"
        ),
        "b'\\xc3\\xa9' b'\\xc3\\xa9' é abc b'x' b'\\xc3\\xa9'\r\n"
    );
    assert_eq!(
        rig.eval(r"print(repr(b'\xff'.decode('utf-8', 'ignore')), repr(b'a\xffb'.decode('utf-8', 'replace')))"),
        "'' 'a\u{fffd}b'\r\n"
    );
    assert_eq!(
        rig.eval(r"b'\xff'.decode()"),
        "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n\
         UnicodeDecodeError: ('utf-8', b'\\xff', 0, 1, 'invalid start byte')\r\n"
    );
    assert_eq!(
        rig.eval("'x'.encode('latin-1')"),
        "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n\
         LookupError: unknown encoding: latin_1\r\n"
    );
    rig.shutdown();
}

#[test]
fn help_modules_prints_the_firmware_list_in_its_columns() {
    let mut rig = booted();
    assert_eq!(
        rig.eval("help('modules')"),
        "__main__          json              sys               uos\r\n\
         _boot             machine           time              uqueue\r\n\
         _main             math              ubinascii         ure\r\n\
         _thread           micropython       ubinascii         uselect\r\n\
         array             network           ucollections      uselect\r\n\
         binascii          os                ucrypto           usocket\r\n\
         builtins          pycom             uctypes           ussl\r\n\
         cmath             queue             uerrno            ustruct\r\n\
         crypto            re                uerrno            utime\r\n\
         errno             select            uhashlib          utimeq\r\n\
         framebuf          socket            uio               uzlib\r\n\
         gc                ssl               ujson\r\n\
         hashlib           struct            umachine\r\n\
         Plus any modules on the filesystem\r\n"
    );
    rig.shutdown();
}

#[test]
fn array_uzlib_and_math_give_the_documented_results() {
    let mut rig = booted();
    assert_eq!(
        rig.eval("import array; a = array.array('h', [1, -2]); a.append(3); a.extend([4]); print(a, len(a), bytes(a[:3]))"),
        "array('h', [1, -2, 3, 4]) 4 b'\\x01\\x00\\xfe\\xff\\x03\\x00'\r\n"
    );
    assert_eq!(
        rig.eval("import ustruct; print(ustruct.unpack('<2h', array.array('h', [7, -7])))"),
        "(7, -7)\r\n"
    );
    assert_eq!(
        rig.eval(
            "import uzlib, uio; print(uzlib.decompress(b'x\\x9c\\xcb\\xc8\\x04\\x00\\x01;\\x00\\xd2'), uzlib.decompress(b'\\xcb\\xc8\\x04\\x00', -8))"
        ),
        "bytearray(b'hi') bytearray(b'hi')\r\n"
    );
    assert_eq!(
        rig.eval(
            "d = uzlib.DecompIO(uio.BytesIO(b'\\x1f\\x8b\\x08\\x00\\x00\\x00\\x00\\x00\\x02\\x03\\xcb\\xc8\\x04\\x00\\xac*\\x93\\xd8\\x02\\x00\\x00\\x00'), 31); print(d.read(1), d.read(), d.read())"
        ),
        "b'h' b'i' b''\r\n"
    );
    assert_eq!(
        rig.eval("uzlib.DecompIO(uio.BytesIO(b'junk'))"),
        "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n\
         ValueError: compression header\r\n"
    );
    assert_eq!(
        rig.eval("import cmath, math; print(cmath.sqrt(-4), cmath.polar(1j), math.log(math.e), math.trunc(-2.5))"),
        "2j (1.0, 1.5707963267948966) 1.0 -2\r\n"
    );
    rig.shutdown();
}

#[test]
fn uselect_utimeq_uqueue_and_crypto_give_the_documented_results() {
    let mut rig = booted();
    assert_eq!(
        rig.eval("import uselect, sys, time; p = uselect.poll(); p.register(sys.stdin, uselect.POLLIN); print(p.poll(0))"),
        "[]\r\n"
    );
    assert_eq!(
        rig.paste(&[
            "class Ready:",
            "    def ioctl(self, req, arg):",
            "        return arg & uselect.POLLIN if req == 3 else 0",
            "r = Ready(); p.register(r)",
            "print([(o is r, ev) for o, ev in p.poll(0)])",
            "p.unregister(r); t = time.ticks_ms(); print(p.poll(50), time.ticks_diff(time.ticks_ms(), t) >= 50)",
            "rl, wl, xl = uselect.select([sys.stdin], [sys.stdout], [], 0); print(rl, wl == [sys.stdout], xl)",
        ]),
        "[(True, 1)]\r\n[] True\r\n[] True []\r\n"
    );
    assert_eq!(
        rig.paste(&[
            "import utimeq",
            "q = utimeq.utimeq(3); q.push(20, 'b', 2); q.push(10, 'a', 1); q.push(20, 'c', 3)",
            "r = [0, 0, 0]; q.pop(r); print(r, q.peektime(), len(q))",
            "q.pop(r); print(r); q.pop(r); print(r, bool(q))",
            "try: q.pop(r)",
            "except IndexError as e: print(e)",
        ]),
        "[10, 'a', 1] 20 2\r\n[20, 'b', 2]\r\n[20, 'c', 3] False\r\nempty heap\r\n"
    );
    assert_eq!(
        rig.paste(&[
            "import queue",
            "q = queue.Queue(2); q.put(1); q.put(2); print(q.full(), q.get(), q.empty())",
            "q.get(); t = time.ticks_ms()",
            "try: q.get(timeout=20)",
            "except OSError as e: print(e, time.ticks_diff(time.ticks_ms(), t) >= 20)",
            "try: q.get(block=False)",
            "except queue.Queue.Empty as e: print(type(e) is OSError, e)",
        ]),
        "True 1 False\r\nEmpty True\r\nTrue Empty\r\n"
    );
    assert_eq!(
        rig.eval("import crypto; b = crypto.getrandbits(33); print(type(b).__name__, len(b), len(crypto.getrandbits(64)))"),
        "bytes 8 8\r\n"
    );
    rig.shutdown();
}

/// A 1024-bit RSA key made with `openssl genrsa` for the crypto test (PKCS#1 PEM), and its
/// public half (SubjectPublicKeyInfo PEM).
const RSA_PRIVATE: &[&str] = &[
    "-----BEGIN RSA PRIVATE KEY-----\n",
    "MIICXAIBAAKBgQDCbMA/zA0n8MYKGYBQDSl3fUHLjs+lunS/Qbsf2HbHXhdXpf5q\n",
    "tAv7Q9oZH6CRVk8rZ4+5Jz7ZTwefYHx+nqwjqyHVS4POMjsr2nHb+Uow2N6FjQtf\n",
    "kLQ0mnfAz3my8jNkUgkOyCsG0SSyD9WGukLyX0K8F5wKulwqRwltCAgABwIDAQAB\n",
    "AoGAJPJRnk4CegKRP74U2iGGLcTJygr7frzuDqJJEwYpnD1PJkLPFCve0wLT4U5X\n",
    "TwcdyFvHviGtGdKg2jKVteIlR9Sd+Q+gCGWqx5qJ1vT/fHQy3yVH3VmcaQDBtkq9\n",
    "ZI1mP1K53fuBxRw0h+ha3JJCmUGCK6PVCtxTCtsJSY9O5VECQQD5YbBrltr9CRPD\n",
    "CfDisS5+sNH0voCJRLAxH1+Oxkbnqk4ZmEhaOgFlTg74M7LbJOx5ZSSGv4YcrW59\n",
    "nuQFqC/TAkEAx5WuxS5GgWROVMvpTaL4KcNmtrOtdajv5L8i9bhpOrOUvbLomxY2\n",
    "1mgBGHrLQZiLbNiDApow961aROlZ7LMCfQJAVZ34V7e/D0hihH+ROALkl5JVQtV0\n",
    "g6wVYYgH4pioFzkc/ySNEoz/lawq74OwUBRpK3RSCgEPJiFU4cP/PQH1CQJARKxW\n",
    "RHaVv/PZmAfJsPMAXK5lazwL1U5ZrOWvi8j2PEKKTXN/4c0U9VU3+0pVIa7xWnRt\n",
    "L7oKW06Enu2ECZPWqQJBAMUYE8doVJlcwjDGEqIGgLsvvPxyz5Fn1WhdCwvpnD+1\n",
    "5PAS+yxV5iviweRsSDsC/DP6V05/6UqcEtS9ZiJdqvg=\n",
    "-----END RSA PRIVATE KEY-----\n",
];
const RSA_PUBLIC: &[&str] = &[
    "-----BEGIN PUBLIC KEY-----\n",
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCbMA/zA0n8MYKGYBQDSl3fUHL\n",
    "js+lunS/Qbsf2HbHXhdXpf5qtAv7Q9oZH6CRVk8rZ4+5Jz7ZTwefYHx+nqwjqyHV\n",
    "S4POMjsr2nHb+Uow2N6FjQtfkLQ0mnfAz3my8jNkUgkOyCsG0SSyD9WGukLyX0K8\n",
    "F5wKulwqRwltCAgABwIDAQAB\n",
    "-----END PUBLIC KEY-----\n",
];
/// `printf 'hello pycom' | openssl dgst -sha256 -sign key.pem | xxd -p` with that key.
const RSA_SIGNATURE: &str = "7580fb682b3cd1deec382637313c2dad2cc7ad25a0060bc71dfc360c350abfb22ed303bdd7036be5f1a05636347f689893d8191a8e6063a20cc76664c5a3860bf087def4a75beadd8fa430b97040d4a1d35e8410802b7a94e08cca52580f1e9c297ca0cfa4d1910853930476fa6fc046c2b0f8e05ebdac6ed736b2b98d02057e";

/// The PEM lines as one Python string literal.
fn pem_literal(lines: &[&str]) -> String {
    format!("'{}'", lines.concat().replace('\n', "\\n"))
}

#[test]
fn crypto_aes_gives_the_nist_sp_800_38a_answers_in_every_mode() {
    let mut rig = booted();
    rig.run_lines(&[
        "from crypto import AES; import crypto, ubinascii as b",
        "k = b.unhexlify('2b7e151628aed2a6abf7158809cf4f3c')",
        "iv = b.unhexlify('000102030405060708090a0b0c0d0e0f')",
        "pt = b.unhexlify('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51')",
        "ctr = b.unhexlify('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff')",
    ]);
    // SP 800-38A F.1.1 (ECB), F.2.1 (CBC), F.3.13 (CFB128), F.3.7 (CFB8, the firmware's
    // default segment), F.5.1 (CTR): the first two blocks (18 bytes for CFB8).
    for (cipher, expected) in [
        (
            "AES(k, AES.MODE_ECB)",
            "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf",
        ),
        (
            "AES(k, AES.MODE_CBC, iv)",
            "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2",
        ),
        (
            "AES(k, AES.MODE_CFB, IV=iv, segment_size=128)",
            "3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0b3a93fcde3cdad9f1ce58b",
        ),
        (
            "AES(k, AES.MODE_CFB, iv)",
            "3b79424c9c0dd436bace9e0ed4586a4f32b9",
        ),
        (
            "AES(k, AES.MODE_CTR, counter=ctr)",
            "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff",
        ),
    ] {
        let n = expected.len() / 2;
        assert_eq!(
            rig.eval(&format!(
                "print(b.hexlify({cipher}.encrypt(pt[:{n}])).decode())"
            )),
            format!("{expected}\r\n"),
            "{cipher}"
        );
    }
    // One object keeps one IV and offset for both directions, as mbedTLS does: the CTR stream
    // goes on across calls of any length, and decrypting with a fresh object gives pt back.
    assert_eq!(
        rig.paste(&[
            "c = AES(k, AES.MODE_CTR, counter=ctr)",
            "parts = c.encrypt(pt[:5]) + c.encrypt(pt[5:21]) + c.encrypt(pt[21:])",
            "print(parts == AES(k, AES.MODE_CTR, counter=ctr).encrypt(pt))",
            "c = AES(k, AES.MODE_CBC, iv); ct = c.encrypt(pt)",
            "print(AES(k, AES.MODE_CBC, iv).decrypt(ct) == pt, c.decrypt(ct) == pt)",
            "print(AES(k, AES.MODE_CFB, iv).decrypt(AES(k, AES.MODE_CFB, iv).encrypt('Attack at dawn')))",
            "print(type(c), AES.MODE_ECB, AES.MODE_CBC, AES.MODE_CFB, AES.MODE_CTR, AES.SEGMENT_8, AES.SEGMENT_128)",
        ]),
        "True\r\nTrue False\r\nb'Attack at dawn'\r\n<class 'AESCipher'> 1 2 3 6 8 128\r\n"
    );
    // The firmware's checks, in its order and words.
    for (call, error) in [
        (
            "AES(k).encrypt(b'123')",
            "ValueError: Input strings must be a multiple of 16 in length",
        ),
        (
            "AES(k, AES.MODE_CBC, iv).decrypt(bytes(17))",
            "ValueError: Input strings must be a multiple of 16 in length",
        ),
        (
            "AES(b'short')",
            "ValueError: AES key must be either 16, 24, or 32 bytes long",
        ),
        ("AES(k, 4)", "ValueError: Unknown cipher feedback mode 4"),
        (
            "AES(k, AES.MODE_CBC, b'iv')",
            "ValueError: IV must be 16 bytes long",
        ),
        (
            "AES(k, AES.MODE_CTR)",
            "TypeError: object with buffer protocol required",
        ),
        (
            "AES(k, AES.MODE_CTR, counter=b'1')",
            "ValueError: Initial counter value must be 16 bytes long",
        ),
        (
            "AES(k, AES.MODE_ECB, counter=ctr)",
            "ValueError: 'counter' parameter only useful with CTR mode",
        ),
        (
            "AES(k, AES.MODE_CFB, iv, segment_size=16)",
            "ValueError: segment_size must be 8 or 128",
        ),
    ] {
        let out = rig.eval(call);
        assert!(out.ends_with(&format!("{error}\r\n")), "{call}: {out}");
    }
    // CFB and CTR take any length; a 24-byte key is AES-192 (F.1.3's first block).
    assert_eq!(
        rig.eval("print(b.hexlify(AES(b.unhexlify('8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b'), AES.MODE_ECB).encrypt(pt[:16])).decode())"),
        "bd334f1d6e45f25ff712a214571fa5cc\r\n"
    );
    rig.shutdown();
}

#[test]
fn crypto_rsa_signs_as_openssl_and_encrypts_for_its_own_decrypt() {
    let mut rig = booted();
    rig.run_lines(&[
        &format!("PRIV = {}", pem_literal(RSA_PRIVATE)),
        &format!("PUB = {}", pem_literal(RSA_PUBLIC)),
        "import crypto, ubinascii",
    ]);
    // PKCS#1 v1.5 over SHA-256 is deterministic: the same bytes as openssl's.
    assert_eq!(
        rig.eval(
            "print(ubinascii.hexlify(crypto.generate_rsa_signature('hello pycom', PRIV)).decode())"
        ),
        format!("{RSA_SIGNATURE}\r\n")
    );
    assert_eq!(
        rig.eval("print(crypto.generate_rsa_signature(b'hello pycom', private_key=PRIV, pers='x') == crypto.generate_rsa_signature('hello pycom', PRIV))"),
        "True\r\n"
    );
    // Encryption is randomised (PKCS#1 v1.5 padding): two ciphertexts differ, both decrypt.
    assert_eq!(
        rig.paste(&[
            "a = crypto.rsa_encrypt(b'secret', PUB); b = crypto.rsa_encrypt('secret', key=PUB)",
            "print(len(a), a != b, crypto.rsa_decrypt(a, PRIV), crypto.rsa_decrypt(b, PRIV))",
        ]),
        "128 True b'secret' b'secret'\r\n"
    );
    for (call, error) in [
        (
            "crypto.generate_rsa_signature('m', 'junk')",
            "ValueError: Invalid Private Key, error code: -15616",
        ),
        (
            "crypto.rsa_encrypt(b'm', 'junk')",
            "ValueError: Invalid public key, mbedtls error code: 0x3D62",
        ),
        (
            "crypto.rsa_encrypt(b'm', PRIV)",
            "ValueError: Invalid public key, mbedtls error code: 0x3D62",
        ),
        (
            "crypto.rsa_decrypt(b'm', PUB)",
            "ValueError: Invalid private key, mbedtls error code: 0x3D00",
        ),
        (
            "crypto.rsa_encrypt(bytes(118), PUB)",
            "RuntimeError: Encrypt failed, mbedtls error code: 0x4080!",
        ),
        (
            "crypto.rsa_decrypt(bytes(5), PRIV)",
            "RuntimeError: Decrypt failed, mbedtls error code: 0x4080!",
        ),
        (
            "crypto.rsa_decrypt(bytes(128), PRIV)",
            "RuntimeError: Decrypt failed, mbedtls error code: 0x4100!",
        ),
        (
            "crypto.rsa_encrypt(b'm', 5)",
            "TypeError: can't convert 'int' object to str implicitly",
        ),
    ] {
        let out = rig.eval(call);
        assert!(out.ends_with(&format!("{error}\r\n")), "{call}: {out}");
    }
    rig.shutdown();
}

#[test]
fn uctypes_reads_and_writes_buffers_through_descriptors_and_knows_no_other_address() {
    let mut rig = booted();
    assert_eq!(
        rig.eval("import uctypes; print(uctypes.UINT8, uctypes.INT8, uctypes.UINT32, uctypes.BFUINT16, uctypes.FLOAT64, uctypes.PTR, uctypes.ARRAY, uctypes.BF_POS, uctypes.BF_LEN)"),
        "0 134217728 536870912 -805306368 -134217728 536870912 -1073741824 17 22\r\n"
    );
    assert_eq!(
        rig.paste(&[
            "desc = {'id': uctypes.UINT16 | 0, 'flags': uctypes.BFUINT8 | 2 | 4 << uctypes.BF_POS | 3 << uctypes.BF_LEN,",
            "        'data': (uctypes.ARRAY | 4, uctypes.UINT8 | 4), 'words': (uctypes.ARRAY | 4, uctypes.UINT16 | 2),",
            "        'sub': (8, {'v': uctypes.INT32 | 0})}",
            "buf = bytearray(b'\\x34\\x12\\x50\\x00abcd\\xff\\xff\\xff\\xff')",
            "a = uctypes.addressof(buf); s = uctypes.struct(a, desc, uctypes.LITTLE_ENDIAN)",
            "print(hex(s.id), s.flags, s.data, [hex(w) for w in s.words], s.sub.v, uctypes.sizeof(desc), uctypes.sizeof(s))",
            "s.id = 0xBEEF; s.flags = 2; s.sub.v = -2; s.words[1] = 0x4142",
            "print(buf)",
            "big = uctypes.struct(a, desc, uctypes.BIG_ENDIAN)",
            "print(hex(big.id), uctypes.bytes_at(a + 4, 4), s)",
            "print(a == uctypes.addressof(buf), a % 8, uctypes.addressof(s) == a)",
            "p = uctypes.struct(uctypes.addressof(bytearray(a.to_bytes(4, 'little'))), {'p': (uctypes.PTR | 0, uctypes.UINT16)})",
            "print(hex(p.p[0]), int(p.p) == a)",
            "ba = uctypes.bytearray_at(a + 4, 2); ba[0] = 0x7a; print(ba, buf[4:6])",
        ]),
        "0x1234 5 bytearray(b'abcd') ['0x61', '0x62', '0x63', '0x64'] -1 12 12\r\n\
         bytearray(b'\\xef\\xbe \\x00abBA\\xfe\\xff\\xff\\xff')\r\n\
         0xefbe b'abBA' <struct STRUCT 3f800000>\r\n\
         True 0 True\r\n\
         0xbeef True\r\n\
         bytearray(b'zb') bytearray(b'zb')\r\n"
    );
    for (call, error) in [
        (
            "uctypes.bytes_at(0x3ff44000, 4)",
            "ValueError: uctypes: address 0x3ff44000 (4 bytes) is not in a buffer from addressof()",
        ),
        (
            "uctypes.struct(0x3ff44000, desc).id",
            "ValueError: uctypes: address 0x3ff44000 (2 bytes) is not in a buffer from addressof()",
        ),
        ("s.words[2]", "IndexError: struct: index out of range"),
        ("s.nothing", "KeyError: nothing"),
        ("s.sub = 1", "TypeError: syntax error in uctypes descriptor"),
        (
            "uctypes.sizeof(uctypes.UINT8)",
            "TypeError: Cannot unambiguously get sizeof scalar",
        ),
        (
            "uctypes.addressof(5)",
            "TypeError: object with buffer protocol required",
        ),
    ] {
        let out = rig.eval(call);
        assert!(out.ends_with(&format!("{error}\r\n")), "{call}: {out}");
    }
    rig.shutdown();
}

#[test]
fn framebuf_draws_into_the_callers_buffer_as_the_firmware_lays_it_out() {
    let mut rig = booted();
    assert_eq!(
        rig.paste(&[
            "import framebuf",
            "b = bytearray(8); fb = framebuf.FrameBuffer(b, 8, 8, framebuf.MONO_VLSB)",
            "fb.text('!', 0, 0); print([fb.pixel(3, y) for y in range(8)])",
            "fb.fill(0); fb.line(0, 0, 7, 7, 1); fb.rect(0, 0, 8, 8, 1); print(b)",
            "b = bytearray(24); g = framebuf.FrameBuffer(b, 4, 3, framebuf.RGB565)",
            "g.fill_rect(1, 1, 2, 2, 0xF800); g.hline(0, 0, 4, 0x07E0); g.pixel(3, 2, 0x001F); print(g.pixel(1, 1), b)",
            "g.blit(framebuf.FrameBuffer(bytearray(2), 1, 1, framebuf.RGB565), 0, 2); print(g.pixel(0, 2))",
            "b = bytearray(8); h = framebuf.FrameBuffer(b, 8, 8, framebuf.MONO_HLSB); h.vline(0, 0, 8, 1); h.scroll(2, 0); print(b)",
            "b = bytearray(4); q = framebuf.FrameBuffer(b, 4, 2, framebuf.GS4_HMSB); q.fill(3); q.pixel(1, 0, 0xA); print(b, q.pixel(1, 0))",
        ]),
        "[1, 1, 1, 1, 0, 0, 1, 0]\r\n\
         bytearray(b'\\xff\\x83\\x85\\x89\\x91\\xa1\\xc1\\xff')\r\n\
         63488 bytearray(b'\\xe0\\x07\\xe0\\x07\\xe0\\x07\\xe0\\x07\\x00\\x00\\x00\\xf8\\x00\\xf8\\x00\\x00\\x00\\x00\\x00\\xf8\\x00\\xf8\\x1f\\x00')\r\n\
         0\r\n\
         bytearray(b'\\xa0\\xa0\\xa0\\xa0\\xa0\\xa0\\xa0\\xa0')\r\n\
         bytearray(b':333') 10\r\n"
    );
    let out = rig.eval("framebuf.FrameBuffer(bytearray(8), 8, 8, 9)");
    assert!(out.ends_with("ValueError: invalid format\r\n"), "{out}");
    rig.shutdown();
}

#[test]
fn math_domain_errors_and_ujson_bytes_read_as_on_the_firmware() {
    let mut rig = booted();
    assert_eq!(
        rig.paste(&[
            "import math, ujson",
            "for f, args in ((math.sqrt, (-1,)), (math.log, (0,)), (math.log, (2, -1)), (math.acos, (2,)), (math.pow, (0, -1)), (math.exp, (1000,)), (math.fmod, (1, 0))):",
            "    try: print(f(*args))",
            "    except ValueError as e: print(f.__name__, e)",
            "try: math.log(2, 1)",
            "except ZeroDivisionError as e: print(e, math.log(8, 2), math.log(1))",
            "print(math.sqrt(2.25), math.pow(2, 10), ujson.dumps([b'1234', 'x']))",
        ]),
        "sqrt math domain error\r\nlog math domain error\r\nlog math domain error\r\nacos math domain error\r\n\
         pow math domain error\r\nexp math domain error\r\nfmod math domain error\r\n\
         divide by zero 3.0 0.0\r\n\
         1.5 1024.0 [\"1234\", \"x\"]\r\n"
    );
    rig.shutdown();
}

#[test]
fn ure_split_stops_at_an_empty_match_and_refuses_groups_as_modure_does() {
    let mut rig = booted();
    assert_eq!(
        rig.paste(&[
            "import ure",
            "print(ure.compile(' *').split('a b    c'), ure.compile('x*').split('axbc'), ure.compile(',').split('a,b,c', 1))",
            "print(ure.compile(' +').split('a b    c'), ure.compile(',').split('a,b,c', -1))",
            "try: ure.compile('( )').split('a b')",
            "except NotImplementedError as e: print(e)",
        ]),
        "['a b    c'] ['axbc'] ['a', 'b,c']\r\n['a', 'b', 'c'] ['a', 'b', 'c']\r\n\
         Splitting with sub-captures\r\n"
    );
    rig.shutdown();
}

#[test]
fn uio_streams_take_the_firmwares_write_arguments_and_seek_errors() {
    let mut rig = booted();
    assert_eq!(
        rig.paste(&[
            "import uio",
            "b = uio.BytesIO(); b.write(b'foo', 2); b.write(b'foobar', 1, 3); b.write(b'xyz', 9, 1); print(b.getvalue())",
            "s = uio.StringIO(); s.write('hello', 4); print(s.getvalue(), type(s), repr(s).startswith('<io.StringIO '))",
            "try: uio.BytesIO(b'ab').seek(-10)",
            "except OSError as e: print(e.args)",
        ]),
        "b'fooob'\r\nhell <class 'StringIO'> True\r\n(22,)\r\n"
    );
    rig.shutdown();
}

#[test]
fn machine_mem_checks_alignment_and_prints_as_the_firmware() {
    let mut rig = booted();
    assert_eq!(
        rig.paste(&[
            "import machine",
            "print(machine.mem8, machine.mem16, machine.mem32, machine.mem32[0x3ff44004])",
            "for mem, addr in ((machine.mem16, 1), (machine.mem32, 0x3ff44002)):",
            "    try: mem[addr] = 1",
            "    except ValueError as e: print(e)",
            "try: del machine.mem8[0]",
            "except TypeError: print('TypeError')",
        ]),
        "<8-bit memory> <16-bit memory> <32-bit memory> 0\r\n\
         address 00000001 is not aligned to 2 bytes\r\n\
         address 3ff44002 is not aligned to 4 bytes\r\nTypeError\r\n"
    );
    rig.shutdown();
}

#[test]
fn round_of_a_bool_is_an_int_as_on_micropython() {
    let mut rig = booted();
    assert_eq!(
        rig.eval("print(round(False), round(True), round(True, 2), type(round(True)), round(7))"),
        "0 1 1 <class 'int'> 7\r\n"
    );
    rig.shutdown();
}

#[test]
fn a_module_and_its_other_name_are_one_object() {
    // The firmware's weak links: `os` is `uos`, whichever name is imported first.
    let mut rig = booted();
    for (first, second) in [
        ("os", "uos"),
        ("umachine", "machine"),
        ("json", "ujson"),
        ("ucrypto", "crypto"),
        ("utime", "time"),
        ("struct", "ustruct"),
    ] {
        assert_eq!(
            rig.printed(&format!("import {first}, {second}; {first} is {second}")),
            "True",
            "{first} / {second}"
        );
    }
    // And a soft reset forgets both, as the heap goes.
    rig.soft_reset();
    assert_eq!(
        rig.printed("import sys; 'uos' in sys.modules, 'ujson' in sys.modules"),
        "(False, False)"
    );
}

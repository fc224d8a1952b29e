//! The REPL byte by byte in both profiles, against the framing of host-tools reference §5:
//! friendly control keys, paste, raw and raw-paste (micropython profile only).

mod support;

use pycom_sim::device::{FlashSource, ReplProfile};
use pycom_sim::event::EventKind;
use support::{BANNER, Rig};

/// Types `input` and returns the exact bytes the device sent until it was idle again.
fn raw(rig: &mut Rig, input: &[u8]) -> Vec<u8> {
    rig.handle.write_uart(input);
    rig.until_idle()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Uart { text } => Some(text),
            _ => None,
        })
        .flatten()
        .collect()
}

fn booted(profile: ReplProfile) -> Rig {
    let mut rig = Rig::with_files(&[("/boot.py", "print('boot.py ran')\n")]);
    rig.handle.set_repl_profile(profile);
    rig.boot();
    rig
}

const MPY_BANNER: &str = "MicroPython v1.11-ffb0e1c on 2021-01-12; LoPy4 with ESP32\r\nType \"help()\" for more information.\r\n";

#[test]
fn friendly_control_keys_print_what_section_5_1_lists() {
    let mut rig = booted(ReplProfile::Pycom);
    assert_eq!(rig.type_bytes(b"\x03"), "\r\n>>> ");
    assert_eq!(rig.type_bytes(b"\x02"), format!("\r\n{BANNER}>>> "));
    assert_eq!(
        rig.type_bytes(b"\x05"),
        "\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== "
    );
    assert_eq!(rig.type_bytes(b"\x03"), "\r\n>>> ");
    assert_eq!(rig.type_bytes(b"\x01"), "\r\nraw REPL; CTRL-B to exit\r\n>");
    assert_eq!(rig.type_bytes(b"\x02"), format!("\r\n{BANNER}>>> "));
    assert_eq!(
        rig.type_bytes(b"\x04"),
        format!("\r\nPYB: soft reboot\r\nboot.py ran\r\n{BANNER}>>> ")
    );
}

#[test]
fn the_micropython_profile_says_mpy_and_upstream_s_banner() {
    let mut rig = booted(ReplProfile::Micropython);
    assert_eq!(
        rig.type_bytes(b"\x04"),
        format!("\r\nMPY: soft reboot\r\nboot.py ran\r\n{MPY_BANNER}>>> ")
    );
    assert_eq!(rig.type_bytes(b"\x02"), format!("\r\n{MPY_BANNER}>>> "));
}

#[test]
fn raw_paste_frames_window_credits_and_output_byte_by_byte() {
    let mut rig = booted(ReplProfile::Micropython);
    assert_eq!(rig.type_bytes(b"\x01"), "\r\nraw REPL; CTRL-B to exit\r\n>");
    // The answer: R, 0x01, the window (128, little-endian), one extra window of credit.
    assert_eq!(raw(&mut rig, b"\x05A\x01"), b"R\x01\x80\x00\x01");
    // 300 bytes of code: one credit back per 128 taken, then \x04 for the end, then the run.
    let code = format!("x = '{}'\nprint(len(x))", "a".repeat(280));
    assert_eq!(code.len(), 300);
    let mut input = code.into_bytes();
    input.push(0x04);
    assert_eq!(rig.type_bytes(&input), "\x01\x01\x04280\r\n\x04\x04>");
    // An error goes between the two EOTs, as in the raw REPL.
    rig.type_bytes(b"\x05A\x01");
    let out = rig.type_bytes(b"1/0\x04");
    assert!(
        out.starts_with("\x04\x04Traceback (most recent call last):\r\n"),
        "{out:?}"
    );
    assert!(
        out.ends_with("ZeroDivisionError: division by zero\r\n\x04>"),
        "{out:?}"
    );
    // An unknown raw-paste command is refused with R\x00 and the raw REPL goes on.
    assert_eq!(rig.type_bytes(b"\x05B"), "R\x00");
    assert_eq!(rig.type_bytes(b"print(3)\x04"), "OK3\r\n\x04\x04>");
}

#[test]
fn the_pycom_profile_has_no_raw_paste_and_hosts_fall_back() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    assert_eq!(rig.type_bytes(b"\x01"), "\r\nraw REPL; CTRL-B to exit\r\n>");
    assert_eq!(
        rig.type_bytes(b"\x05A\x01"),
        "raw REPL; CTRL-B to exit\r\n>"
    );
    assert_eq!(rig.type_bytes(b"print(2)\x04"), "OK2\r\n\x04\x04>");
}

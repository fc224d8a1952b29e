//! Lessons taken end to end by a scripted learner on stdin (virtual time: the same run every
//! time).

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn lesson(args: &[&str], script: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .arg("lesson")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pycom-sim");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The lesson's own lines (`[lesson] …`) in a run's output.
fn said(t: &str) -> Vec<&str> {
    t.lines()
        .filter_map(|l| l.trim_start_matches('\r').strip_prefix("[lesson] "))
        .collect()
}

/// Where the lesson first said something containing `what`; fails the test if it never did.
fn first_said(said: &[&str], what: &str, t: &str) -> usize {
    said.iter()
        .position(|l| l.contains(what))
        .unwrap_or_else(|| panic!("the lesson never said {what:?}:\n{t}"))
}

/// The learner: safe boot released in window 1, a normal reset (main.py is back), safe boot
/// again, remove main.py, reset.
const WINDOW_1_LEARNER: &str = "\
hold P12
reset
wait 1.5s
release P12

type print('REPL', 6*7)

reset

hold P12
reset
wait 1s
release P12

type import os; os.remove('/flash/main.py')

reset
";

#[test]
fn safe_boot_completes_when_the_learner_releases_p12_in_window_1() {
    let out = lesson(&["safe-boot"], WINDOW_1_LEARNER);
    let t = text(&out);
    assert!(
        out.status.success(),
        "{t}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = said(&t);
    let find = |what: &str| first_said(&said, what, &t);
    let locked = find("main.py ran and cut the UART");
    let w1 = find("You released P12 1.500s after reset, in window 1");
    let again = find("main.py ran again");
    let done = find("Lesson complete");
    assert!(locked < w1 && w1 < again && again < done, "{said:#?}");
    // The REPL answered in the safe boot; main.py ran on the first boot and after the normal
    // reset, and not after it was removed.
    assert!(t.contains("REPL 42"), "{t}");
    assert_eq!(
        t.matches("main.py: taking the REPL off UART0").count(),
        2,
        "{t}"
    );
    assert_eq!(
        out,
        lesson(&["safe-boot"], WINDOW_1_LEARNER),
        "the same run every time"
    );
}

#[test]
fn releasing_in_window_2_is_explained_as_the_previous_image() {
    let out = lesson(&["safe-boot"], "hold P12\nreset\nwait 4s\nrelease P12\n");
    let t = text(&out);
    assert!(
        t.contains("You released P12 4.000s after reset, in window 2"),
        "{t}"
    );
    assert!(t.contains("previous OTA image"), "{t}");
    // The script ended before the lesson did: say so, and fail.
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not complete"));
}

#[test]
fn bootloader_lesson_is_g23_to_gnd_at_reset() {
    let out = lesson(&["bootloader"], "ground G23\nreset\n\nrelease G23\nreset\n");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("boot:0x3 (DOWNLOAD_BOOT"), "{t}");
    assert!(t.contains("waiting for download"), "{t}");
    assert!(t.contains("[lesson] The ROM read GPIO0 (G23) low"), "{t}");
    assert!(t.contains("Lesson complete"), "{t}");
}

#[test]
fn lesson_alone_lists_them_and_a_bad_name_says_what_exists() {
    let out = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .arg("lesson")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        t.contains("safe-boot") && t.contains("bootloader") && t.contains("ota-rollback"),
        "{t}"
    );
    let out = lesson(&["nope"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`pycom-sim lesson` lists them"));
}

#[test]
fn os_mkfs_is_the_other_way_to_finish() {
    let script = WINDOW_1_LEARNER.replace("os.remove('/flash/main.py')", "os.mkfs('/flash')");
    let out = lesson(&["safe-boot"], &script);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(
        "[lesson] No main.py ran: a normal boot reaches the REPL again. Lesson complete."
    ));
}

/// The learner of ota-rollback: window 1 first (the update hangs again), then window 2 (the
/// previous image, 1.20.2), then a normal reset (the update again: not persistent).
const ROLLBACK_LEARNER: &str = "\
type print('anyone there?')

hold P12
reset
wait 2s
release P12

hold P12
reset
wait 4.5s
release P12

type import os; print('on', os.uname().release)

reset
";

#[test]
fn ota_rollback_goes_back_to_the_previous_image_in_window_2_for_one_boot() {
    let out = lesson(&["ota-rollback"], ROLLBACK_LEARNER);
    let t = text(&out);
    assert!(
        out.status.success(),
        "{t}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = said(&t);
    let find = |what: &str| first_said(&said, what, &t);
    let stuck = find("1.20.3's frozen start-up took UART0");
    // The reset lands a millisecond into the group (the stuck update polls the UART each ms).
    let w1 = find("You released P12 1.999s after reset, in window 1");
    let w2 = find("You released P12 4.499s after reset, in window 2");
    let back = find("The REPL is back, on 1.20.2");
    let again = find("1.20.3 boots again: safe boot is not persistent");
    assert!(
        stuck < w1 && w1 < w2 && w2 < back && back < again,
        "{said:#?}"
    );
    // What the learner typed at the stuck update went nowhere; on 1.20.2 the REPL answered.
    assert!(!t.contains("anyone there?\r\n"), "{t}");
    assert!(t.contains("on 1.20.2.r4"), "{t}");
    assert!(
        t.contains("Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; LoPy4 with ESP32"),
        "{t}"
    );
    // The update hung three times: the first boot, the window-1 safe boot and the last reset.
    assert_eq!(
        t.matches("1.20.3: waiting for the modem...").count(),
        3,
        "{t}"
    );
}

//! A Python loop that keeps allocating ends in `MemoryError`, and the device goes on; code that
//! swallows resets costs no memory per reset. Alone in its test binary: the budget is counted for
//! the whole process, so its tests must not share one with other devices, nor run at once.

mod support;

use std::sync::Mutex;

use pycom_sim::device::FlashSource;
use pycom_sim::scenario::{self, FileResult, RunLimits};
use support::Rig;

/// One test at a time: each reads the process's allocation count.
static ALONE: Mutex<()> = Mutex::new(());

#[test]
fn a_loop_that_fills_memory_gets_memory_error_and_the_memory_back() {
    let _alone = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    let out = rig.paste(&[
        "l = []",
        "try:",
        "    while True:",
        "        l.append(bytearray(100000))",
        "except MemoryError as e:",
        "    print('caught', str(e).startswith('memory allocation failed'))",
        "n = len(l)",
        "del l",
    ]);
    assert_eq!(out, "caught True\r\n");
    // Far more than the board's 2.5 MiB heap, far less than the host's memory.
    let n = rig.number("n");
    assert!(
        (25..20_000).contains(&n),
        "{n} blocks of 100 kB before MemoryError"
    );
    assert_eq!(rig.printed("len([0] * 1000)"), "1000");
}

/// An interpreter whose code swallowed a reset is thrown away and a new one built; the old one's
/// objects are freed with it. (A plain drop left its cyclic objects behind: 2.2 MiB a reset, so
/// 40 resets held about 90 MiB.)
#[test]
fn resets_swallowed_by_the_code_cost_no_memory_each() {
    let _alone = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario_with = |resets: usize| {
        let mut text = String::from(
            r#"name = "resets the code swallows"
[files]
"/flash/main.py" = """
print('swallowing')
while True:
    try:
        while True:
            pass
    except:
        pass
"""
[[step]]
wait_uart = "swallowing"
"#,
        );
        for _ in 0..resets {
            text.push_str("[[step]]\nreset = true\n[[step]]\nwait_uart = \"swallowing\"\n");
        }
        let path = dir.path().join(format!("resets{resets}.toml"));
        std::fs::write(&path, text).expect("write scenario");
        let results = scenario::run_files(&[path], 1, RunLimits::default());
        match &results[0] {
            FileResult::Ran(s) => assert!(s.outcome.is_pass(), "{:?}", s.outcome),
            FileResult::Bad(e) => panic!("{e}"),
        }
        pycom_sim::ALLOCATOR.allocated()
    };
    // The first run builds what every run keeps (the device thread, its caches).
    let after_5 = scenario_with(5);
    let after_45 = scenario_with(45);
    let grown = after_45.saturating_sub(after_5);
    assert!(
        grown < 24 << 20,
        "40 more swallowed resets kept {} MiB",
        grown >> 20
    );
}

//! A Python loop that keeps allocating ends in `MemoryError`, and the device goes on. Alone in
//! its test binary: the budget is counted for the whole process, so it must not share one with
//! other devices.

mod support;

use pycom_sim::device::FlashSource;
use support::Rig;

#[test]
fn a_loop_that_fills_memory_gets_memory_error_and_the_memory_back() {
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

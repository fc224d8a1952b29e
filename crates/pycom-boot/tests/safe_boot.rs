//! `wait_for_safe_boot` (reference §8.1, `bootmgr.c:70-133`): P12 high at reset.
//!
//! The expected LED timelines are derived by hand from the reference and written out as literal
//! tables: `(device ms, colour)` for every LED write, in order.
//!
//! * Step 0: P12 high → wait 100 ms → sample again. Low at either sample: no safe boot.
//! * Window 1: while P12 high and `500·count < 3000`: toggle, wait 500 ms (≤ 6 toggles).
//! * Window 2: the same with 250 ms (≤ 12 toggles).
//! * Window 3: forced, pin ignored: 15 toggles of 100 ms.
//! * The toggle starts "on" (0x2C1200) and carries across windows; LED off at the end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use pycom_boot::SafeBootOutcome;
use pycom_boot::safeboot::{
    DEBOUNCE_MS, LED_OFF, SAFEBOOT_COLOR, WINDOW_1, WINDOW_2, WINDOW_3, Window,
};
use smart_leds_trait::RGB8;
use support::{MockPin, NS_PER_MS, OFF, ORANGE, run_safe_boot};

/// Window 1 run to its end: 100..3100 ms, a toggle every 500 ms starting "on".
const WINDOW_1_FULL: [(u64, RGB8); 6] = [
    (100, ORANGE),
    (600, OFF),
    (1100, ORANGE),
    (1600, OFF),
    (2100, ORANGE),
    (2600, OFF),
];

/// Window 2 run to its end: 3100..6100 ms, a toggle every 250 ms. Window 1 ended on "off", so
/// window 2 starts on "on".
const WINDOW_2_FULL: [(u64, RGB8); 12] = [
    (3100, ORANGE),
    (3350, OFF),
    (3600, ORANGE),
    (3850, OFF),
    (4100, ORANGE),
    (4350, OFF),
    (4600, ORANGE),
    (4850, OFF),
    (5100, ORANGE),
    (5350, OFF),
    (5600, ORANGE),
    (5850, OFF),
];

/// Window 3 (forced): 6100..7600 ms, a toggle every 100 ms, 15 toggles so it ends on "on".
const WINDOW_3_FULL: [(u64, RGB8); 15] = [
    (6100, ORANGE),
    (6200, OFF),
    (6300, ORANGE),
    (6400, OFF),
    (6500, ORANGE),
    (6600, OFF),
    (6700, ORANGE),
    (6800, OFF),
    (6900, ORANGE),
    (7000, OFF),
    (7100, ORANGE),
    (7200, OFF),
    (7300, ORANGE),
    (7400, OFF),
    (7500, ORANGE),
];

fn concat(parts: &[&[(u64, RGB8)]]) -> Vec<(u64, RGB8)> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

// ------------------------------------------------------------------------------------------------
// constants

#[test]
fn constants_are_the_firmwares() {
    assert_eq!(DEBOUNCE_MS, 100);
    let w = |length_ms, period_ms, forced| Window {
        length_ms,
        period_ms,
        forced,
    };
    assert_eq!(WINDOW_1, w(3000, 500, false));
    assert_eq!(WINDOW_2, w(3000, 250, false));
    assert_eq!(WINDOW_3, w(1500, 100, true));
    assert_eq!(LED_OFF, OFF);
}

#[test]
fn safe_boot_colour_is_exactly_0x2c1200() {
    assert_eq!(SAFEBOOT_COLOR, ORANGE);
    assert_eq!(
        (SAFEBOOT_COLOR.r, SAFEBOOT_COLOR.g, SAFEBOOT_COLOR.b),
        (0x2C, 0x12, 0x00)
    );
    let packed = u32::from(SAFEBOOT_COLOR.r) << 16
        | u32::from(SAFEBOOT_COLOR.g) << 8
        | u32::from(SAFEBOOT_COLOR.b);
    assert_eq!(packed, 0x2C_1200);
    // and that is the colour the LED really shows during a hold
    let run = run_safe_boot(|c| MockPin::held_until(c, Some(600)));
    assert_eq!(run.led[0].1, RGB8::new(0x2C, 0x12, 0x00));
}

#[test]
fn outcome_names() {
    assert_eq!(SafeBootOutcome::None.name(), "none");
    assert_eq!(SafeBootOutcome::Current.name(), "current");
    assert_eq!(SafeBootOutcome::Previous.name(), "previous");
    assert_eq!(SafeBootOutcome::Factory.name(), "factory");
    assert!(!SafeBootOutcome::None.is_safe_boot());
    assert!(SafeBootOutcome::Current.is_safe_boot());
    assert!(SafeBootOutcome::Previous.is_safe_boot());
    assert!(SafeBootOutcome::Factory.is_safe_boot());
}

// ------------------------------------------------------------------------------------------------
// step 0

#[test]
fn not_held_is_no_safe_boot_with_no_delay_and_no_led() {
    let run = run_safe_boot(MockPin::low);
    assert_eq!(run.outcome, SafeBootOutcome::None);
    assert_eq!(run.elapsed_ns, 0);
    assert_eq!(run.delay_calls, 0);
    assert!(run.led.is_empty());
    assert_eq!(run.pin_samples.len(), 1, "a single sample");
}

#[test]
fn high_at_first_sample_low_at_100_ms_is_no_safe_boot_after_exactly_100_ms() {
    let run = run_safe_boot(|c| MockPin::held_until(c, Some(100)));
    assert_eq!(run.outcome, SafeBootOutcome::None);
    assert_eq!(run.elapsed_ns, 100 * NS_PER_MS);
    assert!(run.led.is_empty());
    let times: Vec<u64> = run.pin_samples.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![0, 100 * NS_PER_MS]);
}

#[test]
fn released_at_50_ms_timeline() {
    // Released inside the 100 ms debounce: the second sample is low.
    let run = run_safe_boot(|c| MockPin::held_until(c, Some(50)));
    assert_eq!(run.outcome, SafeBootOutcome::None);
    assert_eq!(run.led, vec![]);
    assert_eq!(run.elapsed_ms, 100);
}

#[test]
fn unreadable_pin_counts_as_released() {
    let run = run_safe_boot(MockPin::broken);
    assert_eq!(run.outcome, SafeBootOutcome::None);
    assert_eq!(run.elapsed_ns, 0);
    assert!(run.led.is_empty());
}

// ------------------------------------------------------------------------------------------------
// full timelines

#[test]
fn released_at_2_2_s_timeline() {
    // Released in window 1: the loop sees the pin low at 2600 and stops; LED off; current image.
    let run = run_safe_boot(|c| MockPin::held_until(c, Some(2_200)));
    let expected = vec![
        (100, ORANGE),
        (600, OFF),
        (1100, ORANGE),
        (1600, OFF),
        (2100, ORANGE),
        (2600, OFF), // final off: at 2600 the loop sees P12 low and does not toggle again
    ];
    assert_eq!(run.led, expected);
    assert_eq!(run.outcome, SafeBootOutcome::Current);
    assert_eq!(run.elapsed_ms, 2600);
}

#[test]
fn released_at_4_9_s_timeline() {
    // Window 1 complete; window 2 sees the pin low at 5100 after 8 toggles; previous image.
    let run = run_safe_boot(|c| MockPin::held_until(c, Some(4_900)));
    let expected = vec![
        // window 1
        (100, ORANGE),
        (600, OFF),
        (1100, ORANGE),
        (1600, OFF),
        (2100, ORANGE),
        (2600, OFF),
        // window 2
        (3100, ORANGE),
        (3350, OFF),
        (3600, ORANGE),
        (3850, OFF),
        (4100, ORANGE),
        (4350, OFF),
        (4600, ORANGE),
        (4850, OFF),
        // final off
        (5100, OFF),
    ];
    assert_eq!(run.led, expected);
    assert_eq!(run.outcome, SafeBootOutcome::Previous);
    assert_eq!(run.elapsed_ms, 5100);
}

#[test]
fn never_released_timeline() {
    let run = run_safe_boot(|c| MockPin::held_until(c, None));
    let expected = concat(&[
        &WINDOW_1_FULL,
        &WINDOW_2_FULL,
        &WINDOW_3_FULL,
        &[(7600, OFF)],
    ]);
    assert_eq!(expected.len(), 6 + 12 + 15 + 1);
    assert_eq!(run.led, expected);
    assert_eq!(run.outcome, SafeBootOutcome::Factory);
    assert_eq!(run.elapsed_ms, 7600);
}

// ------------------------------------------------------------------------------------------------
// details

#[test]
fn blink_phase_carries_across_windows() {
    // Note: a window only hands over to the next one after running to its end, with 6 (window 1)
    // or 12 (window 2) toggles, both even, so "carry the phase" and "restart each window on on"
    // give the same timeline. What this pins down is the hand-over itself: no skipped or doubled
    // colour between windows, and strict alternation throughout.
    let run = run_safe_boot(|c| MockPin::held_until(c, None));
    // Window 1's last toggle (2600) was "off", so window 2 starts with "on" at 3100; window 2's
    // last (5850) was "off", so window 3 starts with "on" at 6100.
    let at = |ms: u64| run.led.iter().position(|&(t, _)| t == ms).unwrap();
    assert_eq!(run.led[at(2600)], (2600, OFF));
    assert_eq!(run.led[at(2600) + 1], (3100, ORANGE));
    assert_eq!(run.led[at(5850)], (5850, OFF));
    assert_eq!(run.led[at(5850) + 1], (6100, ORANGE));
    // and the colours strictly alternate from the first toggle to the last
    let toggles = &run.led[..run.led.len() - 1];
    for pair in toggles.windows(2) {
        assert_ne!(pair[0].1, pair[1].1, "{pair:?}");
    }
}

#[test]
fn forced_window_ignores_the_pin() {
    // Released at 6.2 s: still held when window 2 ends at 6100, so window 3 runs to 7600.
    let run = run_safe_boot(|c| MockPin::held_until(c, Some(6_200)));
    let expected = concat(&[
        &WINDOW_1_FULL,
        &WINDOW_2_FULL,
        &WINDOW_3_FULL,
        &[(7600, OFF)],
    ]);
    assert_eq!(run.led, expected);
    assert_eq!(run.outcome, SafeBootOutcome::Factory);
    assert_eq!(run.elapsed_ms, 7600);
}

#[test]
fn released_exactly_at_the_end_of_window_1() {
    // Low from 3100 on: window 1's loop ends on its count at 3100 and the pin reads low → current.
    let run = run_safe_boot(|c| MockPin::held_until(c, Some(3_100)));
    let expected = concat(&[&WINDOW_1_FULL, &[(3100, OFF)]]);
    assert_eq!(run.led, expected);
    assert_eq!(run.outcome, SafeBootOutcome::Current);
    assert_eq!(run.elapsed_ms, 3100);
}

#[test]
fn released_one_nanosecond_after_the_end_of_window_1() {
    // Still high at 3100 → window 2 starts (one toggle), low at 3350 → previous.
    let run = run_safe_boot(|c| MockPin::held_until_ns(c, Some(3_100 * NS_PER_MS + 1)));
    let expected = concat(&[&WINDOW_1_FULL, &[(3100, ORANGE), (3350, OFF)]]);
    assert_eq!(run.led, expected);
    assert_eq!(run.outcome, SafeBootOutcome::Previous);
    assert_eq!(run.elapsed_ms, 3350);
}

#[test]
fn released_exactly_at_the_end_of_window_2() {
    let run = run_safe_boot(|c| MockPin::held_until(c, Some(6_100)));
    let expected = concat(&[&WINDOW_1_FULL, &WINDOW_2_FULL, &[(6100, OFF)]]);
    assert_eq!(run.led, expected);
    assert_eq!(run.outcome, SafeBootOutcome::Previous);
    assert_eq!(run.elapsed_ms, 6100);
}

#[test]
fn released_exactly_at_a_window_1_toggle() {
    // Low at 600: the loop condition fails before the second toggle; the final off follows.
    let run = run_safe_boot(|c| MockPin::held_until(c, Some(600)));
    assert_eq!(run.led, vec![(100, ORANGE), (600, OFF)]);
    assert_eq!(run.outcome, SafeBootOutcome::Current);
    assert_eq!(run.elapsed_ms, 600);
}

#[test]
fn released_just_after_the_debounce_sample() {
    // High at 100 ms (released at 100 ms + 1 ns): safe boot, one toggle, current image.
    let run = run_safe_boot(|c| MockPin::held_until_ns(c, Some(100 * NS_PER_MS + 1)));
    assert_eq!(run.led, vec![(100, ORANGE), (600, OFF)]);
    assert_eq!(run.outcome, SafeBootOutcome::Current);
}

#[test]
fn a_glitch_low_at_the_first_sample_is_no_safe_boot() {
    // The pin is only sampled at 0 and at 100 ms: low at 0 ends the check whatever comes after.
    let run = run_safe_boot(|c| MockPin::from_fn(c, |now| Ok(now > 0)));
    assert_eq!(run.outcome, SafeBootOutcome::None);
    assert_eq!(run.elapsed_ns, 0);
    assert!(run.led.is_empty());
}

#[test]
fn every_led_write_is_orange_or_off() {
    for release in [150, 700, 2_999, 3_001, 4_000, 6_000, 7_000] {
        let run = run_safe_boot(|c| MockPin::held_until(c, Some(release)));
        assert!(
            run.led.iter().all(|&(_, c)| c == ORANGE || c == OFF),
            "{release}"
        );
        assert_eq!(
            run.led.last().map(|&(_, c)| c),
            Some(OFF),
            "ends off ({release})"
        );
    }
}

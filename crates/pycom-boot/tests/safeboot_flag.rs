//! The stored safeboot flag as a one-shot, and the non-persistence of the slot safe boot picks
//! (reference §8.2, `bootloader.c:417-437`).
//!
//! | Stored S       | Measured M | What the bootloader does                                  |
//! |----------------|------------|-----------------------------------------------------------|
//! | 0              | 1          | store 1; app sees safe boot                               |
//! | 1              | 0          | store 0; next boot is normal                              |
//! | 2 (SW request) | any        | store 1; app sees safe boot; the boot after that clears it |
//! | S == M         |            | nothing written                                           |
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use pycom_boot::boot_info::{
    IMG_ACT_FACTORY, IMG_ACT_UPDATE1, IMG_STATUS_READY, SAFE_BOOT_HW, SAFE_BOOT_NONE, SAFE_BOOT_SW,
};
use pycom_boot::select::{measured_flag, next_safeboot_flag};
use pycom_boot::updates::app_sees_safe_boot;
use pycom_boot::{SafeBootOutcome, Slot};
use support::{Device, P12, record};

/// A READY record on ota_0 (previous: factory) with the given stored safeboot flag.
fn ota0_ready(safeboot: u32) -> pycom_boot::BootInfo {
    record(
        IMG_ACT_UPDATE1,
        IMG_STATUS_READY,
        IMG_ACT_FACTORY,
        1_000_000,
        safeboot,
    )
}

/// P12 released in window 1: measured `SAFE_BOOT_HW`, current image.
const HELD_1S: P12 = P12::ReleasedAt(1_000);

#[test]
fn one_shot_rule_table() {
    // (stored, measured, stored afterwards or None for "no write")
    let table = [
        (SAFE_BOOT_NONE, SAFE_BOOT_NONE, None),
        (SAFE_BOOT_NONE, SAFE_BOOT_HW, Some(SAFE_BOOT_HW)),
        (SAFE_BOOT_HW, SAFE_BOOT_NONE, Some(SAFE_BOOT_NONE)),
        (SAFE_BOOT_HW, SAFE_BOOT_HW, None),
        (SAFE_BOOT_SW, SAFE_BOOT_NONE, Some(SAFE_BOOT_HW)),
        (SAFE_BOOT_SW, SAFE_BOOT_HW, Some(SAFE_BOOT_HW)),
    ];
    for (stored, measured, after) in table {
        assert_eq!(
            next_safeboot_flag(stored, measured),
            after,
            "S={stored} M={measured}"
        );
    }
    assert_eq!(measured_flag(false), SAFE_BOOT_NONE);
    assert_eq!(measured_flag(true), SAFE_BOOT_HW);
}

#[test]
fn app_sees_safe_boot_for_hw_and_sw_flags() {
    assert!(!app_sees_safe_boot(&ota0_ready(SAFE_BOOT_NONE)));
    assert!(app_sees_safe_boot(&ota0_ready(SAFE_BOOT_HW)));
    assert!(app_sees_safe_boot(&ota0_ready(SAFE_BOOT_SW)));
}

#[test]
fn stored_0_measured_1_stores_1_and_app_skips_scripts() {
    let mut device = Device::with_record(&ota0_ready(SAFE_BOOT_NONE));
    let run = device.reset(HELD_1S);

    assert_eq!(run.decision.safe_boot, SafeBootOutcome::Current);
    assert!(run.decision.skip_scripts);
    assert!(!run.decision.software_request);
    assert_eq!(run.decision.slot, Slot::Ota0);
    assert_eq!(device.record(), ota0_ready(SAFE_BOOT_HW));
    assert_eq!(run.decision.record, ota0_ready(SAFE_BOOT_HW));
    assert_eq!((run.erases, run.writes), (1, 1));
}

#[test]
fn stored_1_measured_0_stores_0_and_boot_is_normal() {
    let mut device = Device::with_record(&ota0_ready(SAFE_BOOT_HW));
    let run = device.reset(P12::Low);

    assert_eq!(run.decision.safe_boot, SafeBootOutcome::None);
    assert!(!run.decision.skip_scripts);
    assert_eq!(device.record(), ota0_ready(SAFE_BOOT_NONE));
    assert_eq!((run.erases, run.writes), (1, 1));
}

#[test]
fn stored_2_measured_0_stores_1_safe_then_the_next_boot_clears_it() {
    let mut device = Device::with_record(&ota0_ready(SAFE_BOOT_SW));

    // boot 1: the software request is honoured
    let first = device.reset(P12::Low);
    assert!(first.decision.skip_scripts, "scripts skipped");
    assert!(first.decision.software_request);
    assert_eq!(first.decision.safe_boot, SafeBootOutcome::Current);
    assert_eq!(first.decision.slot, Slot::Ota0);
    assert_eq!(first.led.len(), 1, "no blinking for a software request");
    assert_eq!(first.elapsed_ms, 0);
    assert_eq!(device.record(), ota0_ready(SAFE_BOOT_HW));
    assert_eq!((first.erases, first.writes), (1, 1));

    // boot 2, same flash: stored 1, measured 0 → cleared, normal
    let second = device.reset(P12::Low);
    assert!(!second.decision.skip_scripts);
    assert!(!second.decision.software_request);
    assert_eq!(second.decision.safe_boot, SafeBootOutcome::None);
    assert_eq!(device.record(), ota0_ready(SAFE_BOOT_NONE));

    // boot 3: nothing left to do, nothing written
    let third = device.reset(P12::Low);
    assert!(!third.decision.skip_scripts);
    assert_eq!((third.erases, third.writes), (0, 0));
}

#[test]
fn stored_2_measured_1_stores_1_safe_then_the_next_boot_clears_it() {
    let mut device = Device::with_record(&ota0_ready(SAFE_BOOT_SW));

    let first = device.reset(HELD_1S);
    assert!(first.decision.skip_scripts);
    assert_eq!(first.decision.safe_boot, SafeBootOutcome::Current);
    // P12 measured the safe boot itself, so it is not reported as the software request
    assert!(!first.decision.software_request);
    assert_eq!(device.record(), ota0_ready(SAFE_BOOT_HW));

    let second = device.reset(P12::Low);
    assert!(!second.decision.skip_scripts);
    assert_eq!(device.record(), ota0_ready(SAFE_BOOT_NONE));
}

#[test]
fn stored_equals_measured_writes_nothing() {
    // 0 / 0
    let mut device = Device::with_record(&ota0_ready(SAFE_BOOT_NONE));
    let run = device.reset(P12::Low);
    assert_eq!((run.erases, run.writes), (0, 0));
    assert!(!run.decision.skip_scripts);
    assert_eq!(device.record(), ota0_ready(SAFE_BOOT_NONE));

    // 1 / 1
    let mut device = Device::with_record(&ota0_ready(SAFE_BOOT_HW));
    let run = device.reset(HELD_1S);
    assert_eq!((run.erases, run.writes), (0, 0));
    assert!(run.decision.skip_scripts);
    assert_eq!(device.record(), ota0_ready(SAFE_BOOT_HW));
}

// ------------------------------------------------------------------------------------------------
// non-persistence of the slot

#[test]
fn window_2_boots_the_previous_slot_without_storing_it() {
    // ota_0 active, factory previous. P12 held into window 2 (released at 4.9 s).
    let mut device = Device::with_record(&ota0_ready(SAFE_BOOT_NONE));
    let run = device.reset(P12::ReleasedAt(4_900));

    assert_eq!(run.decision.safe_boot, SafeBootOutcome::Previous);
    assert_eq!(run.decision.slot, Slot::Factory);
    assert_eq!(run.decision.offset, 0x1_0000);
    assert!(run.decision.skip_scripts);
    // the stored ActiveImg is unchanged; only the safeboot flag was written
    let stored = device.record();
    assert_eq!(stored.active_img, IMG_ACT_UPDATE1);
    assert_eq!(stored, ota0_ready(SAFE_BOOT_HW));
    assert_eq!(run.decision.record.active_img, IMG_ACT_UPDATE1);

    // the next normal reset boots ActiveImg again, and clears the flag
    let next = device.reset(P12::Low);
    assert_eq!(next.decision.slot, Slot::Ota0);
    assert_eq!(next.decision.offset, 0x1C_0000);
    assert_eq!(next.decision.safe_boot, SafeBootOutcome::None);
    assert!(!next.decision.skip_scripts);
    assert_eq!(device.record(), ota0_ready(SAFE_BOOT_NONE));
}

#[test]
fn window_3_boots_the_factory_slot_without_storing_it() {
    // After two OTAs: factory active, ota_0 previous. Window 2 would pick ota_0; holding on
    // through window 2 picks the factory slot.
    let two_otas = record(IMG_ACT_FACTORY, IMG_STATUS_READY, IMG_ACT_UPDATE1, 0, 0);
    let mut device = Device::with_record(&two_otas);

    let window2 = device.reset(P12::ReleasedAt(4_000));
    assert_eq!(window2.decision.slot, Slot::Ota0);

    let window3 = device.reset(P12::Held);
    assert_eq!(window3.decision.safe_boot, SafeBootOutcome::Factory);
    assert_eq!(window3.decision.slot, Slot::Factory);
    assert_eq!(window3.elapsed_ms, 7600);
    let stored = device.record();
    assert_eq!(
        (stored.active_img, stored.prev_img, stored.safeboot),
        (IMG_ACT_FACTORY, IMG_ACT_UPDATE1, SAFE_BOOT_HW)
    );
}

#[test]
fn window_3_picks_factory_even_when_ota0_is_active_and_previous() {
    let record = ota0_ready(SAFE_BOOT_NONE);
    let mut device = Device::with_record(&record);
    let run = device.reset(P12::Held);
    assert_eq!(run.decision.slot, Slot::Factory);
    assert_eq!(device.record().active_img, IMG_ACT_UPDATE1);
    let next = device.reset(P12::Low);
    assert_eq!(next.decision.slot, Slot::Ota0);
}

#[test]
fn safe_boot_blinks_through_boot_after_the_initial_led_off() {
    // boot(): mperror_init0 turns the LED off at 0 ms, then the window-1 timeline follows.
    use support::{OFF, ORANGE};
    let mut device = Device::with_record(&ota0_ready(SAFE_BOOT_NONE));
    let run = device.reset(P12::ReleasedAt(2_200));
    assert_eq!(
        run.led,
        vec![
            (0, OFF),
            (100, ORANGE),
            (600, OFF),
            (1100, ORANGE),
            (1600, OFF),
            (2100, ORANGE),
            (2600, OFF),
        ]
    );
    assert_eq!(run.elapsed_ms, 2600);
}

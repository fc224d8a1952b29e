//! `find_active_image` (reference §7, `bootloader.c:323-440`): one test per path.
//!
//! * B: record invalid (erased or bad CRC) → factory / READY / Prev 0 / safeboot 0, written; the
//!   safe-boot pin is not looked at.
//! * C.1: record valid and CHECK → ActiveImg 2 becomes 0, the image is verified, a bad one is
//!   rolled back (ActiveImg ⇄ PrevImg, message on the console), READY written either way.
//! * C, READY: nothing is verified and nothing is written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use pycom_boot::boot_info::{
    IMG_ACT_FACTORY, IMG_ACT_UPDATE1, IMG_ACT_UPDATE2, IMG_STATUS_CHECK, IMG_STATUS_READY,
    SAFE_BOOT_NONE,
};
use pycom_boot::select::ROLLBACK_MESSAGE;
use pycom_boot::{BootInfo, SafeBootOutcome, Slot, find_active_image};
use support::{Device, LAYOUT_4MB, OFF, P12, RamFlash, Verifier, record};

/// The text `ets_printf` prints on rollback (`bootloader.c`), newline included.
const ROLLBACK: &str =
    "Cannot load Firmware img in the active partition! .. Defaulting back to previous partition\n";

fn assert_initialised(r: &BootInfo) {
    assert_eq!(r.active_img, IMG_ACT_FACTORY, "ActiveImg");
    assert_eq!(r.status, IMG_STATUS_READY, "Status");
    assert_eq!(r.prev_img, IMG_ACT_FACTORY, "PrevImg");
    assert_eq!(r.safeboot, SAFE_BOOT_NONE, "safeboot");
    assert!(r.is_valid());
}

// ------------------------------------------------------------------------------------------------
// B. invalid record

#[test]
fn erased_otadata_is_initialised_to_factory_and_written() {
    let mut flash = RamFlash::erased(4 * 1024 * 1024);
    let mut verifier = Verifier::all_good();
    let selection = find_active_image(&mut flash, LAYOUT_4MB.otadata, &mut verifier).unwrap();

    assert!(selection.initialised);
    assert!(!selection.rolled_back);
    assert_initialised(&selection.record);
    // read back from flash: the record is there, sealed
    let stored = flash.record(LAYOUT_4MB.otadata);
    assert_eq!(stored, selection.record);
    assert_initialised(&stored);
    // the sector was erased once, then programmed once
    assert_eq!(
        (flash.erases, flash.sectors_erased, flash.writes),
        (1, 1, 1)
    );
    // the rest of the otadata sector stays erased
    assert!(
        flash
            .bytes(LAYOUT_4MB.otadata + 40, 0x1000 - 40)
            .iter()
            .all(|&b| b == 0xFF)
    );
    // nothing is verified on this path
    assert!(verifier.calls.is_empty());
    // like the firmware, `size` and `signature` keep what was read: erased
    assert_eq!(stored.size, 0xFFFF_FFFF);
    assert_eq!(stored.signature, [0xFF; 16]);
}

#[test]
fn erased_otadata_boot_skips_the_safe_boot_pin() {
    let mut device = Device::blank_4mb();
    let run = device.reset(P12::Held);

    assert!(run.decision.record_initialised);
    assert_eq!(run.pin_samples, 0, "P12 must not be sampled");
    assert_eq!(
        run.led,
        vec![(0, OFF)],
        "only mperror_init0's LED off, no blink"
    );
    assert_eq!(run.delay_calls, 0);
    assert_eq!(run.elapsed_ms, 0);
    assert_eq!(run.decision.slot, Slot::Factory);
    assert_eq!(run.decision.offset, 0x1_0000);
    assert_eq!(run.decision.safe_boot, SafeBootOutcome::None);
    assert!(!run.decision.skip_scripts);
    assert_eq!(run.console, "");
    assert_initialised(&device.record());
    assert_eq!(device.record(), run.decision.record);
    assert_eq!((run.erases, run.writes), (1, 1));
}

#[test]
fn corrupt_crc_is_initialised_to_factory_and_written() {
    // A record pointing at ota_0 with a wrong CRC: it is not trusted at all.
    let mut corrupt = record(IMG_ACT_UPDATE1, IMG_STATUS_READY, IMG_ACT_FACTORY, 777, 1);
    corrupt.crc ^= 0x8000_0000;
    let mut flash = RamFlash::erased(4 * 1024 * 1024);
    flash.install_record(LAYOUT_4MB.otadata, &corrupt);
    let mut verifier = Verifier::all_good();

    let selection = find_active_image(&mut flash, LAYOUT_4MB.otadata, &mut verifier).unwrap();

    assert!(selection.initialised);
    assert_initialised(&selection.record);
    assert_eq!(flash.record(LAYOUT_4MB.otadata), selection.record);
    assert_eq!((flash.erases, flash.writes), (1, 1));
    assert!(verifier.calls.is_empty());
}

#[test]
fn corrupt_crc_boot_skips_the_safe_boot_pin() {
    let mut corrupt = record(IMG_ACT_UPDATE1, IMG_STATUS_READY, IMG_ACT_FACTORY, 777, 0);
    corrupt.crc = corrupt.crc.wrapping_add(1);
    let mut device = Device::with_record(&corrupt);
    let run = device.reset(P12::Held);

    assert!(run.decision.record_initialised);
    assert_eq!(run.pin_samples, 0);
    assert_eq!(run.led, vec![(0, OFF)]);
    assert_eq!(run.elapsed_ms, 0);
    assert_eq!(run.decision.slot, Slot::Factory);
    assert_eq!(run.decision.safe_boot, SafeBootOutcome::None);
    assert_initialised(&device.record());
}

#[test]
fn status_ffffffff_with_matching_crc_is_initialised() {
    let mut device = Device::with_record(&record(IMG_ACT_UPDATE1, u32::MAX, 0, 0, 0));
    let run = device.reset(P12::Low);
    assert!(run.decision.record_initialised);
    assert_eq!(run.decision.slot, Slot::Factory);
    assert_initialised(&device.record());
}

#[test]
fn initialising_works_on_an_8mb_board_too() {
    let mut device = Device::blank_8mb();
    let run = device.reset(P12::Low);
    assert!(run.decision.record_initialised);
    assert_eq!(run.decision.offset, 0x1_0000);
    assert_initialised(&device.flash.record(0x1F_F000));
}

// ------------------------------------------------------------------------------------------------
// C. valid READY record

#[test]
fn valid_ready_record_is_left_untouched() {
    let ready = record(
        IMG_ACT_UPDATE1,
        IMG_STATUS_READY,
        IMG_ACT_FACTORY,
        1_500_000,
        0,
    );
    let mut flash = RamFlash::erased(4 * 1024 * 1024);
    flash.install_record(LAYOUT_4MB.otadata, &ready);
    let mut verifier = Verifier::all_good();

    let selection = find_active_image(&mut flash, LAYOUT_4MB.otadata, &mut verifier).unwrap();

    assert!(!selection.initialised);
    assert!(!selection.rolled_back);
    assert_eq!(selection.record, ready);
    assert_eq!(flash.record(LAYOUT_4MB.otadata), ready);
    assert_eq!((flash.erases, flash.writes), (0, 0), "no flash write");
    assert!(verifier.calls.is_empty(), "READY images are not verified");
}

#[test]
fn valid_ready_record_boots_its_slot_even_if_that_image_is_bad() {
    // Only CHECK images are verified (§7 step 5): a READY one is loaded whatever it holds.
    let ready = record(IMG_ACT_UPDATE1, IMG_STATUS_READY, IMG_ACT_FACTORY, 0, 0);
    let mut device = Device::with_record(&ready);
    device.bad_images = vec![Slot::Ota0];
    let run = device.reset(P12::Low);
    assert_eq!(run.decision.slot, Slot::Ota0);
    assert_eq!(run.decision.offset, 0x1C_0000);
    assert!(!run.decision.rolled_back);
    assert!(run.verified.is_empty());
    assert_eq!((run.erases, run.writes), (0, 0));
    assert_eq!(device.record(), ready);
}

// ------------------------------------------------------------------------------------------------
// C.1 valid CHECK record

#[test]
fn check_with_good_image_becomes_ready_and_keeps_the_slot() {
    let check = record(
        IMG_ACT_UPDATE1,
        IMG_STATUS_CHECK,
        IMG_ACT_FACTORY,
        1_234_567,
        0,
    );
    let mut flash = RamFlash::erased(4 * 1024 * 1024);
    flash.install_record(LAYOUT_4MB.otadata, &check);
    let mut verifier = Verifier::all_good();

    let selection = find_active_image(&mut flash, LAYOUT_4MB.otadata, &mut verifier).unwrap();

    assert_eq!(verifier.calls, vec![Slot::Ota0]);
    assert!(!selection.rolled_back);
    let expected = record(
        IMG_ACT_UPDATE1,
        IMG_STATUS_READY,
        IMG_ACT_FACTORY,
        1_234_567,
        0,
    );
    assert_eq!(selection.record, expected);
    assert_eq!(flash.record(LAYOUT_4MB.otadata), expected, "READY written");
    assert_eq!((flash.erases, flash.writes), (1, 1));
}

#[test]
fn check_with_bad_image_rolls_back_and_prints() {
    let check = record(
        IMG_ACT_UPDATE1,
        IMG_STATUS_CHECK,
        IMG_ACT_FACTORY,
        1_234_567,
        0,
    );
    let mut device = Device::with_record(&check);
    device.bad_images = vec![Slot::Ota0];

    let run = device.reset(P12::Low);

    assert_eq!(run.verified, vec![Slot::Ota0]);
    assert!(run.decision.rolled_back);
    assert_eq!(
        run.console,
        "Cannot load Firmware img in the active partition! .. Defaulting back to previous partition\n"
    );
    assert_eq!(ROLLBACK_MESSAGE, ROLLBACK);
    // ActiveImg and PrevImg swapped, READY
    let expected = record(
        IMG_ACT_FACTORY,
        IMG_STATUS_READY,
        IMG_ACT_UPDATE1,
        1_234_567,
        0,
    );
    assert_eq!(device.record(), expected);
    assert_eq!(run.decision.record, expected);
    assert_eq!(run.decision.slot, Slot::Factory);
    assert_eq!(run.decision.offset, 0x1_0000);
    assert_eq!((run.erases, run.writes), (1, 1));
}

#[test]
fn check_with_bad_image_via_find_active_image_alone() {
    let check = record(IMG_ACT_UPDATE1, IMG_STATUS_CHECK, IMG_ACT_FACTORY, 9, 0);
    let mut flash = RamFlash::erased(4 * 1024 * 1024);
    flash.install_record(LAYOUT_4MB.otadata, &check);
    let mut verifier = Verifier::bad(Slot::Ota0);
    let selection = find_active_image(&mut flash, LAYOUT_4MB.otadata, &mut verifier).unwrap();
    assert!(selection.rolled_back);
    assert!(!selection.initialised);
    assert_eq!(
        (
            selection.record.active_img,
            selection.record.prev_img,
            selection.record.status
        ),
        (IMG_ACT_FACTORY, IMG_ACT_UPDATE1, IMG_STATUS_READY)
    );
    assert_eq!(flash.record(LAYOUT_4MB.otadata), selection.record);
}

#[test]
fn check_with_active_img_2_is_verified_as_the_factory_slot() {
    // "we only have space for 1 OTA image": UPDATE2 (2) is turned into FACTORY (0) first.
    let check = record(
        IMG_ACT_UPDATE2,
        IMG_STATUS_CHECK,
        IMG_ACT_UPDATE1,
        1_300_000,
        0,
    );
    let mut device = Device::with_record(&check);

    let run = device.reset(P12::Low);

    assert_eq!(run.verified, vec![Slot::Factory]);
    assert!(!run.decision.rolled_back);
    assert_eq!(
        device.record(),
        record(
            IMG_ACT_FACTORY,
            IMG_STATUS_READY,
            IMG_ACT_UPDATE1,
            1_300_000,
            0
        )
    );
    assert_eq!(run.decision.slot, Slot::Factory);
    assert_eq!(run.decision.offset, 0x1_0000);
    assert_eq!(run.console, "");
}

#[test]
fn check_with_active_img_2_and_bad_factory_image_rolls_back_to_ota0() {
    let check = record(
        IMG_ACT_UPDATE2,
        IMG_STATUS_CHECK,
        IMG_ACT_UPDATE1,
        1_300_000,
        0,
    );
    let mut device = Device::with_record(&check);
    device.bad_images = vec![Slot::Factory];

    let run = device.reset(P12::Low);

    assert_eq!(run.verified, vec![Slot::Factory]);
    assert!(run.decision.rolled_back);
    assert_eq!(run.console, ROLLBACK);
    // the swap happens after 2 → 0, so PrevImg becomes 0, not 2
    assert_eq!(
        device.record(),
        record(
            IMG_ACT_UPDATE1,
            IMG_STATUS_READY,
            IMG_ACT_FACTORY,
            1_300_000,
            0
        )
    );
    assert_eq!(run.decision.slot, Slot::Ota0);
    assert_eq!(run.decision.offset, 0x1C_0000);
}

#[test]
fn check_record_is_written_before_the_safe_boot_pin_is_read() {
    // CHECK → READY is stored even when P12 then picks another slot for this boot only.
    let check = record(IMG_ACT_UPDATE1, IMG_STATUS_CHECK, IMG_ACT_FACTORY, 5, 0);
    let mut device = Device::with_record(&check);
    let run = device.reset(P12::ReleasedAt(4_900));
    assert_eq!(run.decision.safe_boot, SafeBootOutcome::Previous);
    assert_eq!(run.decision.slot, Slot::Factory);
    let stored = device.record();
    assert_eq!(
        (
            stored.active_img,
            stored.status,
            stored.prev_img,
            stored.safeboot
        ),
        (IMG_ACT_UPDATE1, IMG_STATUS_READY, IMG_ACT_FACTORY, 1)
    );
    // READY write, then the safeboot-flag write
    assert_eq!((run.erases, run.writes), (2, 2));
}

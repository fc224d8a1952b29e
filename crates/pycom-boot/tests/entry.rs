//! `boot()` end to end (reference §7 `bootloader_main` + `find_active_image`): a normal boot,
//! slot offsets per `FlashLayout`, and flash errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use pycom_boot::boot_info::{IMG_ACT_FACTORY, IMG_ACT_UPDATE1, IMG_STATUS_READY};
use pycom_boot::{FlashLayout, SafeBootOutcome, Slot};
use support::{
    Clock, Device, FlashError, LAYOUT_4MB, LAYOUT_8MB, MockDelay, MockLed, MockPin, OFF, P12,
    RamFlash, Verifier, record,
};

#[test]
fn normal_boot_turns_the_led_off_once_and_takes_no_time() {
    let ready = record(
        IMG_ACT_UPDATE1,
        IMG_STATUS_READY,
        IMG_ACT_FACTORY,
        1_000_000,
        0,
    );
    let mut device = Device::with_record(&ready);

    let run = device.reset(P12::Low);

    assert_eq!(
        run.led,
        vec![(0, OFF)],
        "mperror_init0: LED off, nothing else"
    );
    assert_eq!(run.elapsed_ms, 0);
    assert_eq!(run.delay_calls, 0);
    assert_eq!(run.pin_samples, 1);
    assert_eq!(run.console, "");
    assert!(run.verified.is_empty());
    assert_eq!((run.erases, run.writes), (0, 0));

    let d = run.decision;
    assert_eq!(d.slot, Slot::Ota0);
    assert_eq!(d.offset, 0x1C_0000);
    assert_eq!(d.safe_boot, SafeBootOutcome::None);
    assert!(!d.software_request);
    assert!(!d.skip_scripts);
    assert!(!d.record_initialised);
    assert!(!d.rolled_back);
    assert_eq!(d.record, ready);
    assert_eq!(device.record(), ready);
}

#[test]
fn normal_boot_of_the_factory_slot() {
    let mut device = Device::with_record(&record(0, IMG_STATUS_READY, 1, 0, 0));
    let run = device.reset(P12::Low);
    assert_eq!(run.decision.slot, Slot::Factory);
    assert_eq!(run.decision.offset, 0x1_0000);
    assert_eq!(run.led, vec![(0, OFF)]);
    assert_eq!(run.elapsed_ms, 0);
}

#[test]
fn slot_offsets_follow_the_flash_layout() {
    // 4 MB: factory 0x10000, ota_0 0x1C0000. 8 MB: factory 0x10000, ota_0 0x210000.
    assert_eq!(LAYOUT_4MB.slot_offset(Slot::Factory), 0x1_0000);
    assert_eq!(LAYOUT_4MB.slot_offset(Slot::Ota0), 0x1C_0000);
    assert_eq!(LAYOUT_8MB.slot_offset(Slot::Factory), 0x1_0000);
    assert_eq!(LAYOUT_8MB.slot_offset(Slot::Ota0), 0x21_0000);

    let ota0 = record(IMG_ACT_UPDATE1, IMG_STATUS_READY, IMG_ACT_FACTORY, 0, 0);
    let mut device = Device::blank_8mb();
    device.flash.install_record(device.layout.otadata, &ota0);
    let run = device.reset(P12::Low);
    assert_eq!(run.decision.slot, Slot::Ota0);
    assert_eq!(run.decision.offset, 0x21_0000);
}

#[test]
fn boot_uses_whatever_layout_it_is_given() {
    let layout = FlashLayout {
        otadata: 0x3000,
        factory: 0x4000,
        ota0: 0x8000,
    };
    let mut device = Device {
        layout,
        flash: RamFlash::erased(0x10000),
        bad_images: Vec::new(),
    };
    let run = device.reset(P12::Low);
    assert!(run.decision.record_initialised);
    assert_eq!(run.decision.offset, 0x4000);
    assert!(device.flash.record(0x3000).is_valid());
    device.app_writes(&record(IMG_ACT_UPDATE1, IMG_STATUS_READY, 0, 0, 0));
    assert_eq!(device.reset(P12::Low).decision.offset, 0x8000);
}

#[test]
fn a_record_that_ends_up_the_same_is_not_rewritten_across_many_boots() {
    let mut device = Device::blank_4mb();
    device.reset(P12::Low);
    for _ in 0..5 {
        let run = device.reset(P12::Low);
        assert_eq!((run.erases, run.writes), (0, 0));
        assert_eq!(run.decision.slot, Slot::Factory);
    }
}

#[test]
fn flash_errors_are_returned() {
    // otadata outside the chip: the firmware would show solid red and hang; the core reports it.
    let layout = FlashLayout {
        otadata: 0x1B_E000,
        factory: 0x1_0000,
        ota0: 0x1C_0000,
    };
    let mut flash = RamFlash::erased(0x10_0000);
    let clock = Clock::new();
    let mut pin = MockPin::low(&clock);
    let mut delay = MockDelay::new(&clock);
    let mut led = MockLed::new(&clock);
    let mut verifier = Verifier::all_good();
    let mut console = String::new();
    let result = pycom_boot::boot(
        &layout,
        &mut flash,
        &mut pin,
        &mut delay,
        &mut led,
        &mut verifier,
        &mut console,
    );
    assert_eq!(result, Err(FlashError::OutOfBounds));
}

#[test]
fn boot_accepts_a_closure_as_the_image_verifier() {
    let mut flash = RamFlash::erased(4 * 1024 * 1024);
    flash.install_record(
        LAYOUT_4MB.otadata,
        &record(IMG_ACT_UPDATE1, 0, IMG_ACT_FACTORY, 0, 0),
    );
    let clock = Clock::new();
    let mut pin = MockPin::low(&clock);
    let mut delay = MockDelay::new(&clock);
    let mut led = MockLed::new(&clock);
    let mut asked = Vec::new();
    let mut verifier = |slot: Slot| {
        asked.push(slot);
        false
    };
    let mut console = String::new();
    let decision = pycom_boot::boot(
        &LAYOUT_4MB,
        &mut flash,
        &mut pin,
        &mut delay,
        &mut led,
        &mut verifier,
        &mut console,
    )
    .unwrap();
    assert_eq!(asked, vec![Slot::Ota0]);
    assert!(decision.rolled_back);
    assert_eq!(decision.slot, Slot::Factory);
    assert!(console.starts_with("Cannot load Firmware img"));
}

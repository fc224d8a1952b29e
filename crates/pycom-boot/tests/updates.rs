//! Record updates made outside the bootloader (reference §13): `pycom.ota_finish()`,
//! `pycom.ota_slot()`, the firmware-updater tool, software safe-boot requests and
//! `pycom.bootmgr(boot_partition=…)` — each followed through the next `boot()`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use pycom_boot::boot_info::{
    IMG_ACT_FACTORY, IMG_ACT_UPDATE1, IMG_ACT_UPDATE2, IMG_STATUS_CHECK, IMG_STATUS_PATCH,
    IMG_STATUS_READY, SAFE_BOOT_HW, SAFE_BOOT_NONE, SAFE_BOOT_SW,
};
use pycom_boot::updates::{
    AlreadyActive, after_firmware_updater, after_ota_finish, bootmgr_switch, clear_safe_boot,
    ota_slot, request_software_safe_boot,
};
use pycom_boot::{BootInfo, SafeBootOutcome, Slot};
use support::{Device, P12, record};

fn fields(r: &BootInfo) -> (u32, u32, u32) {
    (r.active_img, r.status, r.prev_img)
}

/// A 4 MB board that has booted once from a blank otadata: factory / READY / Prev factory.
fn fresh_device() -> Device {
    let mut device = Device::blank_4mb();
    let run = device.reset(P12::Low);
    assert!(run.decision.record_initialised);
    device
}

// ------------------------------------------------------------------------------------------------
// ota_finish

#[test]
fn ota_finish_from_factory_points_at_ota0_in_check() {
    let before = BootInfo::initial();
    let after = after_ota_finish(&before, 1_234_567);
    assert_eq!(after.active_img, IMG_ACT_UPDATE1);
    assert_eq!(after.prev_img, IMG_ACT_FACTORY);
    assert_eq!(after.status, IMG_STATUS_CHECK);
    assert_eq!(after.size, 1_234_567);
    assert_eq!(after.safeboot, SAFE_BOOT_NONE);
    assert!(after.is_valid());
    // python3 -c "import zlib,struct; d=struct.pack('<5I',1,0,0,1234567,0)+b'\xff'*16; print(hex(zlib.crc32(d,0xFFFFFFFF)))"
    // -> 0xa067389f
    assert_eq!(after.crc, 0xA067_389F);
}

#[test]
fn next_boot_verifies_the_ota_image_and_marks_it_ready() {
    let mut device = fresh_device();
    assert_eq!(ota_slot(&device.record()), Slot::Ota0);
    let pending = after_ota_finish(&device.record(), 1_234_567);
    device.app_writes(&pending);

    let run = device.reset(P12::Low);

    assert_eq!(run.verified, vec![Slot::Ota0]);
    assert!(!run.decision.rolled_back);
    assert_eq!(run.decision.slot, Slot::Ota0);
    assert_eq!(run.decision.offset, 0x1C_0000);
    assert_eq!(
        fields(&device.record()),
        (IMG_ACT_UPDATE1, IMG_STATUS_READY, IMG_ACT_FACTORY)
    );
    assert_eq!(device.record().size, 1_234_567);
}

#[test]
fn second_ota_writes_update2_which_the_bootloader_maps_to_factory() {
    let mut device = fresh_device();
    device.app_writes(&after_ota_finish(&device.record(), 1_000_000));
    device.reset(P12::Low);

    // second OTA: running ota_0, so the image goes into the factory slot
    assert_eq!(ota_slot(&device.record()), Slot::Factory);
    let pending = after_ota_finish(&device.record(), 1_100_000);
    assert_eq!(
        fields(&pending),
        (IMG_ACT_UPDATE2, IMG_STATUS_CHECK, IMG_ACT_UPDATE1)
    );
    device.app_writes(&pending);

    let run = device.reset(P12::Low);
    assert_eq!(run.verified, vec![Slot::Factory]);
    assert_eq!(run.decision.slot, Slot::Factory);
    assert_eq!(run.decision.offset, 0x1_0000);
    assert_eq!(
        fields(&device.record()),
        (IMG_ACT_FACTORY, IMG_STATUS_READY, IMG_ACT_UPDATE1)
    );
}

#[test]
fn slots_alternate_over_three_otas() {
    // (slot ota_slot() names for the download, slot booted after reset, ActiveImg, PrevImg)
    let expected = [
        (Slot::Ota0, Slot::Ota0, IMG_ACT_UPDATE1, IMG_ACT_FACTORY),
        (
            Slot::Factory,
            Slot::Factory,
            IMG_ACT_FACTORY,
            IMG_ACT_UPDATE1,
        ),
        (Slot::Ota0, Slot::Ota0, IMG_ACT_UPDATE1, IMG_ACT_FACTORY),
    ];
    let mut device = fresh_device();
    assert_eq!(device.reset(P12::Low).decision.slot, Slot::Factory);
    for (n, (target, booted, active, prev)) in expected.into_iter().enumerate() {
        assert_eq!(ota_slot(&device.record()), target, "OTA {}", n + 1);
        device.app_writes(&after_ota_finish(&device.record(), 1_000_000 + n as u32));
        let run = device.reset(P12::Low);
        assert_eq!(run.verified, vec![target], "OTA {}", n + 1);
        assert_eq!(run.decision.slot, booted, "OTA {}", n + 1);
        let r = device.record();
        assert_eq!(
            (r.active_img, r.status, r.prev_img),
            (active, IMG_STATUS_READY, prev),
            "OTA {}",
            n + 1
        );
    }
}

#[test]
fn a_bad_second_ota_rolls_back_to_ota0() {
    let mut device = fresh_device();
    device.app_writes(&after_ota_finish(&device.record(), 1_000_000));
    device.reset(P12::Low);
    device.app_writes(&after_ota_finish(&device.record(), 1_100_000));
    device.bad_images = vec![Slot::Factory];

    let run = device.reset(P12::Low);

    assert!(run.decision.rolled_back);
    assert_eq!(run.decision.slot, Slot::Ota0);
    assert_eq!(
        fields(&device.record()),
        (IMG_ACT_UPDATE1, IMG_STATUS_READY, IMG_ACT_FACTORY)
    );
}

#[test]
fn ota_finish_while_check_keeps_the_pending_slot() {
    // "if we still have an image pending for verification, leave the boot info as it is"
    let pending = record(IMG_ACT_UPDATE1, IMG_STATUS_CHECK, IMG_ACT_FACTORY, 10, 0);
    let again = after_ota_finish(&pending, 20);
    assert_eq!(fields(&again), fields(&pending));
    assert!(again.is_valid());
}

#[test]
fn ota_finish_keeps_the_safeboot_flag() {
    let safe = record(
        IMG_ACT_FACTORY,
        IMG_STATUS_READY,
        IMG_ACT_FACTORY,
        0,
        SAFE_BOOT_HW,
    );
    assert_eq!(after_ota_finish(&safe, 5).safeboot, SAFE_BOOT_HW);
}

// ------------------------------------------------------------------------------------------------
// ota_slot

#[test]
fn ota_slot_table() {
    // (ActiveImg, Status, slot the next ota_start() writes to)
    let table = [
        // READY: the slot that is not running
        (IMG_ACT_FACTORY, IMG_STATUS_READY, Slot::Ota0),
        (IMG_ACT_UPDATE1, IMG_STATUS_READY, Slot::Factory),
        // CHECK: the pending slot, overwritten in place
        (IMG_ACT_FACTORY, IMG_STATUS_CHECK, Slot::Factory),
        (IMG_ACT_UPDATE1, IMG_STATUS_CHECK, Slot::Ota0),
        // quirk: the pending image is in the factory slot, yet ota_slot() names ota_0
        (IMG_ACT_UPDATE2, IMG_STATUS_CHECK, Slot::Ota0),
        // PATCH is "not CHECK"
        (IMG_ACT_FACTORY, IMG_STATUS_PATCH, Slot::Ota0),
    ];
    for (active, status, slot) in table {
        let r = record(active, status, IMG_ACT_FACTORY, 0, 0);
        assert_eq!(ota_slot(&r), slot, "ActiveImg {active} Status {status}");
    }
}

// ------------------------------------------------------------------------------------------------
// firmware-updater tool

#[test]
fn firmware_updater_record_is_factory_ready_prev_factory() {
    let r = after_firmware_updater(1_441_792);
    assert_eq!(
        fields(&r),
        (IMG_ACT_FACTORY, IMG_STATUS_READY, IMG_ACT_FACTORY)
    );
    assert_eq!(r.size, 1_441_792);
    assert_eq!(r.safeboot, SAFE_BOOT_NONE);
    assert_eq!(r.signature, [0xFF; 16]);
    // updater.py: struct.pack('<5I16s', 0, 1, 0, image_size, 0, ota_signature), CRC of ff×4 + data
    // python3 -c "import zlib,struct; d=struct.pack('<5I',0,1,0,1441792,0)+b'\xff'*16; print(hex(zlib.crc32(b'\xff'*4+d)))"
    // -> 0x62b67db
    assert_eq!(r.crc, 0x062B_67DB);
}

#[test]
fn firmware_updater_resets_the_previous_slot_so_window_2_boots_factory() {
    // An OTA'd device: ota_0 active, factory previous.
    let mut device = fresh_device();
    device.app_writes(&after_ota_finish(&device.record(), 1_000_000));
    device.reset(P12::Low);
    assert_eq!(
        device.reset(P12::ReleasedAt(4_900)).decision.slot,
        Slot::Factory
    );
    assert_eq!(device.reset(P12::Low).decision.slot, Slot::Ota0);

    // Tool flash into factory, then set_ota(False, size).
    let size = 1_441_792;
    device.app_writes(&after_firmware_updater(size));

    let normal = device.reset(P12::Low);
    assert_eq!(normal.decision.slot, Slot::Factory);
    // "updates performed via the firmware update tool do not count": window 2 has nothing older
    let window2 = device.reset(P12::ReleasedAt(4_900));
    assert_eq!(window2.decision.safe_boot, SafeBootOutcome::Previous);
    assert_eq!(window2.decision.slot, Slot::Factory);
    assert_eq!(window2.decision.offset, 0x1_0000);
}

// ------------------------------------------------------------------------------------------------
// software safe boot

#[test]
fn software_safe_boot_request_sets_sw_and_nothing_else() {
    let before = record(
        IMG_ACT_UPDATE1,
        IMG_STATUS_READY,
        IMG_ACT_FACTORY,
        123,
        SAFE_BOOT_NONE,
    );
    let after = request_software_safe_boot(&before);
    assert_eq!(after.safeboot, SAFE_BOOT_SW);
    assert_eq!(
        BootInfo {
            safeboot: SAFE_BOOT_NONE,
            ..after
        }
        .sealed(),
        before
    );
    assert!(after.is_valid());
    assert_eq!(clear_safe_boot(&after), before);
}

#[test]
fn software_safe_boot_request_makes_exactly_the_next_boot_safe() {
    let mut device = fresh_device();
    device.app_writes(&request_software_safe_boot(&device.record()));

    let safe = device.reset(P12::Low);
    assert!(safe.decision.software_request);
    assert!(safe.decision.skip_scripts);
    assert_eq!(safe.decision.safe_boot, SafeBootOutcome::Current);
    assert_eq!(safe.decision.slot, Slot::Factory);
    assert_eq!(device.record().safeboot, SAFE_BOOT_HW);

    let normal = device.reset(P12::Low);
    assert!(!normal.decision.skip_scripts);
    assert_eq!(device.record().safeboot, SAFE_BOOT_NONE);
}

#[test]
fn clearing_the_request_before_reset_gives_a_normal_boot() {
    let mut device = fresh_device();
    device.app_writes(&request_software_safe_boot(&device.record()));
    device.app_writes(&clear_safe_boot(&device.record()));
    let run = device.reset(P12::Low);
    assert!(!run.decision.skip_scripts);
    assert!(!run.decision.software_request);
}

// ------------------------------------------------------------------------------------------------
// bootmgr(boot_partition=…)

#[test]
fn bootmgr_switch_to_ota0() {
    let before = BootInfo::initial();
    let after = bootmgr_switch(&before, Slot::Ota0).unwrap();
    assert_eq!(
        fields(&after),
        (IMG_ACT_UPDATE1, IMG_STATUS_CHECK, IMG_ACT_FACTORY)
    );
    assert!(after.is_valid());

    // the reset that follows verifies ota_0 and boots it
    let mut device = fresh_device();
    device.app_writes(&after);
    let run = device.reset(P12::Low);
    assert_eq!(run.verified, vec![Slot::Ota0]);
    assert_eq!(run.decision.slot, Slot::Ota0);
}

#[test]
fn bootmgr_switch_back_to_factory() {
    let on_ota0 = record(IMG_ACT_UPDATE1, IMG_STATUS_READY, IMG_ACT_FACTORY, 0, 0);
    let after = bootmgr_switch(&on_ota0, Slot::Factory).unwrap();
    assert_eq!(
        fields(&after),
        (IMG_ACT_FACTORY, IMG_STATUS_CHECK, IMG_ACT_UPDATE1)
    );
}

#[test]
fn bootmgr_switch_to_the_active_partition_is_refused() {
    let on_factory = BootInfo::initial();
    assert_eq!(
        bootmgr_switch(&on_factory, Slot::Factory),
        Err(AlreadyActive)
    );
    let on_ota0 = record(IMG_ACT_UPDATE1, IMG_STATUS_READY, IMG_ACT_FACTORY, 0, 0);
    assert_eq!(bootmgr_switch(&on_ota0, Slot::Ota0), Err(AlreadyActive));
}

#[test]
fn bootmgr_switch_to_a_bad_image_rolls_back_on_the_next_boot() {
    let mut device = fresh_device();
    device.app_writes(&bootmgr_switch(&device.record(), Slot::Ota0).unwrap());
    device.bad_images = vec![Slot::Ota0];
    let run = device.reset(P12::Low);
    assert!(run.decision.rolled_back);
    assert_eq!(run.decision.slot, Slot::Factory);
    assert_eq!(
        fields(&device.record()),
        (IMG_ACT_FACTORY, IMG_STATUS_READY, IMG_ACT_UPDATE1)
    );
}

#[test]
fn bootmgr_compares_the_raw_active_img_so_a_pending_update2_may_switch_to_factory() {
    // After the second OTA (ActiveImg 2 = factory, pending) the firmware's raw comparison
    // `ActiveImg != boot_partition` accepts FACTORY (0).
    let pending = record(IMG_ACT_UPDATE2, IMG_STATUS_CHECK, IMG_ACT_UPDATE1, 0, 0);
    let after = bootmgr_switch(&pending, Slot::Factory).unwrap();
    assert_eq!(
        fields(&after),
        (IMG_ACT_FACTORY, IMG_STATUS_CHECK, IMG_ACT_UPDATE2)
    );
}

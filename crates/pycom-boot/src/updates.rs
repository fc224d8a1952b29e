//! Record updates made outside the bootloader: by the app when an OTA finishes, by the serial
//! firmware-updater tool, and by the app's safe-boot and `bootmgr` requests.
//!
//! They live in the boot core because they are the other half of its contract: the bootloader
//! only makes sense together with the records these write.

use crate::boot_info::{
    BootInfo, IMG_ACT_FACTORY, IMG_ACT_UPDATE1, IMG_ACT_UPDATE2, IMG_STATUS_CHECK,
    IMG_STATUS_READY, SAFE_BOOT_HW, SAFE_BOOT_NONE, SAFE_BOOT_SW, Slot,
};

/// The slot the next `pycom.ota_start()` writes to (`updater.c:583-618`).
///
/// READY: the slot not running (ota_0 when `ActiveImg == 0`, otherwise factory).
/// CHECK: the pending slot (factory when `ActiveImg == 0`, otherwise ota_0) — including the
/// firmware's quirk that a pending image in the factory slot (`ActiveImg == 2`) names ota_0.
pub fn ota_slot(record: &BootInfo) -> Slot {
    let active_is_factory = record.active_img == IMG_ACT_FACTORY;
    match (record.status == IMG_STATUS_CHECK, active_is_factory) {
        (false, true) => Slot::Ota0,
        (false, false) => Slot::Factory,
        (true, true) => Slot::Factory,
        (true, false) => Slot::Ota0,
    }
}

/// The record `pycom.ota_finish()` writes after a full image of `size` bytes went into
/// [`ota_slot`]: `PrevImg` = the running slot, `ActiveImg` = 1, or 2 when ota_0 was running
/// (so the slots alternate factory → ota_0 → factory …), Status CHECK. A record already in CHECK
/// keeps its slots (the pending image was overwritten in place).
pub fn after_ota_finish(record: &BootInfo, size: u32) -> BootInfo {
    let mut next = *record;
    if record.status != IMG_STATUS_CHECK {
        next.prev_img = record.active_img;
        next.active_img = if record.active_img != IMG_ACT_UPDATE1 {
            IMG_ACT_UPDATE1
        } else {
            IMG_ACT_UPDATE2
        };
        next.status = IMG_STATUS_CHECK;
    }
    next.size = size;
    next.sealed()
}

/// The record the firmware-updater tool writes after flashing an image of `size` bytes into the
/// factory slot (`updater.py` `set_ota(False, size)`): factory / READY / PrevImg factory. There is
/// no older image left to fall back to — "updates performed via the firmware update tool do not
/// count".
pub fn after_firmware_updater(size: u32) -> BootInfo {
    BootInfo {
        active_img: IMG_ACT_FACTORY,
        status: IMG_STATUS_READY,
        prev_img: IMG_ACT_FACTORY,
        size,
        safeboot: SAFE_BOOT_NONE,
        signature: [0xFF; 16],
        crc: 0,
    }
    .sealed()
}

/// Ctrl-F / `pycom.bootmgr(safeboot=True)`: ask the next boot to be safe (`SAFE_BOOT_SW`).
pub fn request_software_safe_boot(record: &BootInfo) -> BootInfo {
    BootInfo {
        safeboot: SAFE_BOOT_SW,
        ..*record
    }
    .sealed()
}

/// `pycom.bootmgr(safeboot=False)`: clear any pending request.
pub fn clear_safe_boot(record: &BootInfo) -> BootInfo {
    BootInfo {
        safeboot: SAFE_BOOT_NONE,
        ..*record
    }
    .sealed()
}

/// Whether the app of this boot runs in safe mode (the firmware's `boot_info.safeboot != 0`).
pub fn app_sees_safe_boot(record: &BootInfo) -> bool {
    record.safeboot == SAFE_BOOT_HW || record.safeboot == SAFE_BOOT_SW
}

/// `pycom.bootmgr(boot_partition=…)` asked for the slot that is already active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyActive;

/// `pycom.bootmgr(boot_partition=slot)`: `PrevImg` = active, `ActiveImg` = slot, Status CHECK.
pub fn bootmgr_switch(record: &BootInfo, slot: Slot) -> Result<BootInfo, AlreadyActive> {
    // The firmware compares the raw `ActiveImg`, so a pending UPDATE2 (2) may still be switched
    // to the factory slot before the reset.
    if record.active_img == slot.img_value() {
        return Err(AlreadyActive);
    }
    Ok(BootInfo {
        prev_img: record.active_img,
        active_img: slot.img_value(),
        status: IMG_STATUS_CHECK,
        ..*record
    }
    .sealed())
}

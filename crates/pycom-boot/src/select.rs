//! `find_active_image` (`bootloader.c:323-440`): which slot the record points at, with the
//! verify-and-rollback step for a freshly OTA'd image, and the safeboot one-shot.

use embedded_storage::nor_flash::NorFlash;

use crate::boot_info::{
    BootInfo, IMG_ACT_FACTORY, IMG_ACT_UPDATE2, IMG_STATUS_CHECK, IMG_STATUS_READY, SAFE_BOOT_HW,
    SAFE_BOOT_NONE, SAFE_BOOT_SW, Slot,
};
use crate::otadata::{read_record, write_record};

/// What the bootloader prints, unconditionally through `ets_printf`, when the image waiting in
/// CHECK status fails verification and it falls back to the previous slot.
pub const ROLLBACK_MESSAGE: &str =
    "Cannot load Firmware img in the active partition! .. Defaulting back to previous partition\n";

/// Checks that the app image in a slot is loadable (the firmware's `esp_image_verify`).
/// The caller supplies it: the boot core knows nothing of the image format.
pub trait ImageVerifier {
    fn verify(&mut self, slot: Slot) -> bool;
}

impl<F: FnMut(Slot) -> bool> ImageVerifier for F {
    fn verify(&mut self, slot: Slot) -> bool {
        self(slot)
    }
}

/// The record after `find_active_image` and what happened on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// The record as it now stands in flash.
    pub record: BootInfo,
    /// The stored record was erased or corrupt and has been re-initialised to the factory slot.
    /// On this path the firmware does not look at P12.
    pub initialised: bool,
    /// An image in CHECK status failed verification and the record was rolled back.
    pub rolled_back: bool,
}

/// Reads the record at `otadata`, repairs or verifies it as the firmware does, and writes it back
/// when it changed.
pub fn find_active_image<F, V>(
    flash: &mut F,
    otadata: u32,
    verifier: &mut V,
) -> Result<Selection, F::Error>
where
    F: NorFlash,
    V: ImageVerifier,
{
    let stored = read_record(flash, otadata)?;
    if !stored.is_valid() {
        // The firmware sets the four fields and keeps what it read of `size` and `signature`.
        let fresh = BootInfo::initial();
        let repaired = BootInfo {
            active_img: fresh.active_img,
            status: fresh.status,
            prev_img: fresh.prev_img,
            safeboot: fresh.safeboot,
            ..stored
        };
        let record = write_record(flash, otadata, &repaired)?;
        return Ok(Selection {
            record,
            initialised: true,
            rolled_back: false,
        });
    }
    if stored.status != IMG_STATUS_CHECK {
        return Ok(Selection {
            record: stored,
            initialised: false,
            rolled_back: false,
        });
    }
    let (record, rolled_back) = settle_check(&stored, verifier);
    let record = write_record(flash, otadata, &record)?;
    Ok(Selection {
        record,
        initialised: false,
        rolled_back,
    })
}

/// The CHECK step on a record: UPDATE2 becomes the factory slot, the image is verified, a bad
/// one swaps `ActiveImg` and `PrevImg`, and the status becomes READY either way.
pub fn settle_check<V: ImageVerifier>(stored: &BootInfo, verifier: &mut V) -> (BootInfo, bool) {
    let mut record = *stored;
    if record.active_img == IMG_ACT_UPDATE2 {
        record.active_img = IMG_ACT_FACTORY;
    }
    let rolled_back = !verifier.verify(record.active_slot());
    if rolled_back {
        core::mem::swap(&mut record.active_img, &mut record.prev_img);
    }
    record.status = IMG_STATUS_READY;
    (record.sealed(), rolled_back)
}

/// The safeboot flag as a one-shot (`bootloader.c:422-434`): given the stored flag and what P12
/// measured (`SAFE_BOOT_HW` or 0), the flag to store, or `None` when nothing changes.
///
/// | stored | measured | stored afterwards |
/// |--------|----------|-------------------|
/// | 0      | 1        | 1 (app sees safe boot) |
/// | 1      | 0        | 0 (normal boot)        |
/// | 2 (SW) | any      | 1 (app sees safe boot; the boot after clears it) |
pub fn next_safeboot_flag(stored: u32, measured: u32) -> Option<u32> {
    if stored == measured {
        None
    } else if stored == SAFE_BOOT_SW {
        Some(SAFE_BOOT_HW)
    } else {
        Some(measured)
    }
}

/// `measured` as the firmware's `wait_for_safe_boot` returns it.
pub const fn measured_flag(safe_boot_requested: bool) -> u32 {
    if safe_boot_requested {
        SAFE_BOOT_HW
    } else {
        SAFE_BOOT_NONE
    }
}

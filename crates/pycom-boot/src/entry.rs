//! The one entry a firmware `main` calls: `bootloader_main`'s decision part.

use core::fmt::Write;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::InputPin;
use embedded_storage::nor_flash::NorFlash;
use smart_leds_trait::{RGB8, SmartLedsWrite};

use crate::boot_info::{BootInfo, SAFE_BOOT_SW, Slot};
use crate::otadata::write_record;
use crate::safeboot::{LED_OFF, SafeBootOutcome, wait_for_safe_boot};
use crate::select::{
    ImageVerifier, ROLLBACK_MESSAGE, find_active_image, measured_flag, next_safeboot_flag,
};
use crate::updates::app_sees_safe_boot;

/// Where the boot core finds things in flash (from the partition table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashLayout {
    /// Start of the otadata partition (0x1BE000 on 4 MB boards, 0x1FF000 on 8 MB boards).
    pub otadata: u32,
    /// Start of the factory slot (0x10000).
    pub factory: u32,
    /// Start of the ota_0 slot.
    pub ota0: u32,
}

impl FlashLayout {
    /// Flash address of a slot.
    pub const fn slot_offset(&self, slot: Slot) -> u32 {
        match slot {
            Slot::Factory => self.factory,
            Slot::Ota0 => self.ota0,
        }
    }
}

/// What the bootloader decided: where to jump and how the app is to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootDecision {
    /// The slot to jump to (never written back when safe boot chose it).
    pub slot: Slot,
    /// Its flash address.
    pub offset: u32,
    /// The safe-boot outcome; a software request shows as [`SafeBootOutcome::Current`].
    pub safe_boot: SafeBootOutcome,
    /// The safe boot was asked for by software (Ctrl-F, `pycom.bootmgr(safeboot=True)`).
    pub software_request: bool,
    /// boot.py and main.py are to be skipped (the stored safeboot flag is set).
    pub skip_scripts: bool,
    /// The otadata record was invalid and has been re-initialised.
    pub record_initialised: bool,
    /// An OTA image failed verification and the previous slot was restored.
    pub rolled_back: bool,
    /// The record as it stands in flash after this boot.
    pub record: BootInfo,
}

/// Runs the boot decision: LED off (`mperror_init0`), `find_active_image`, the P12 check (unless
/// the record was just initialised), the safeboot one-shot, and the slot to jump to.
///
/// `console` receives what the bootloader prints even with logging off (the rollback message).
/// Flash errors are returned; the firmware turns them into the solid red LED and hangs.
#[allow(clippy::too_many_arguments)]
pub fn boot<F, P, D, L, V, W>(
    layout: &FlashLayout,
    flash: &mut F,
    safe_boot_pin: &mut P,
    delay: &mut D,
    led: &mut L,
    verifier: &mut V,
    console: &mut W,
) -> Result<BootDecision, F::Error>
where
    F: NorFlash,
    P: InputPin,
    D: DelayNs,
    L: SmartLedsWrite<Color = RGB8>,
    V: ImageVerifier,
    W: Write,
{
    let _ = led.write(core::iter::once(LED_OFF));
    let selection = find_active_image(flash, layout.otadata, verifier)?;
    if selection.rolled_back {
        let _ = console.write_str(ROLLBACK_MESSAGE);
    }
    let mut record = selection.record;
    let measured = if selection.initialised {
        SafeBootOutcome::None
    } else {
        wait_for_safe_boot(safe_boot_pin, delay, led)
    };
    let software_request = record.safeboot == SAFE_BOOT_SW;
    if let Some(flag) = next_safeboot_flag(record.safeboot, measured_flag(measured.is_safe_boot()))
    {
        record = write_record(
            flash,
            layout.otadata,
            &BootInfo {
                safeboot: flag,
                ..record
            },
        )?;
    }
    let skip_scripts = app_sees_safe_boot(&record);
    let safe_boot = if measured == SafeBootOutcome::None && skip_scripts {
        SafeBootOutcome::Current
    } else {
        measured
    };
    let slot = measured.slot(record.active_slot(), record.prev_slot());
    Ok(BootDecision {
        slot,
        offset: layout.slot_offset(slot),
        safe_boot,
        software_request: software_request && !measured.is_safe_boot(),
        skip_scripts,
        record_initialised: selection.initialised,
        rolled_back: selection.rolled_back,
        record,
    })
}

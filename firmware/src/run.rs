//! One boot of a board, the same on every machine: find the partitions, let the boot core decide
//! with the machine's pin, delay, LED and console, checking images with the board's chip id.

use core::cell::RefCell;
use core::fmt::Write;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::InputPin;
use embedded_storage::nor_flash::NorFlash;
use pycom_boot::BootDecision;
use smart_leds_trait::{RGB8, SmartLedsWrite};

use crate::board::Board;
use crate::image::SlotVerifier;
use crate::partitions::{Partitions, TableError, read_partitions};
use crate::shared::{SharedFlash, SharedFlashError};

/// Why a boot could not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootError<E> {
    /// No partition table with factory, ota_0 and otadata.
    Partitions(TableError<SharedFlashError<E>>),
    /// Flash failed under the boot core (the firmware's `mperror_fatal_error`).
    Flash(SharedFlashError<E>),
}

/// Reads the partition table of `board` from `flash`.
pub fn partitions<F: NorFlash>(
    board: &Board,
    flash: &RefCell<F>,
) -> Result<Partitions, BootError<F::Error>> {
    read_partitions(&mut SharedFlash(flash), board.partition_table).map_err(BootError::Partitions)
}

/// Runs the boot core once on `flash` with the machine's ports.
pub fn boot_once<F, P, D, L, W>(
    board: &Board,
    partitions: Partitions,
    flash: &RefCell<F>,
    safe_boot_pin: &mut P,
    delay: &mut D,
    led: &mut L,
    console: &mut W,
) -> Result<BootDecision, BootError<F::Error>>
where
    F: NorFlash,
    P: InputPin,
    D: DelayNs,
    L: SmartLedsWrite<Color = RGB8>,
    W: Write,
{
    pycom_boot::boot(
        &partitions.layout(),
        &mut SharedFlash(flash),
        safe_boot_pin,
        delay,
        led,
        &mut SlotVerifier {
            flash: SharedFlash(flash),
            partitions,
            chip_id: board.chip_id,
        },
        console,
    )
    .map_err(BootError::Flash)
}

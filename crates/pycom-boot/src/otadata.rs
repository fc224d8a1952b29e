//! Reading and writing `boot_info_t` in the otadata partition through `embedded-storage`.
//!
//! The firmware erases the whole 4 KiB sector and then programs the 40 bytes
//! (`bootloader.c:275-303`, `updater.c:536-581`); a power cut between the two leaves an erased
//! record, which the next boot treats as invalid and re-initialises to the factory slot.

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

use crate::boot_info::{BootInfo, RECORD_LEN};

/// Size of the otadata sector the record lives in.
pub const OTADATA_SECTOR: u32 = 0x1000;

/// Reads the 40-byte record at `offset` (the start of the otadata partition).
pub fn read_record<F: ReadNorFlash>(flash: &mut F, offset: u32) -> Result<BootInfo, F::Error> {
    let mut bytes = [0u8; RECORD_LEN];
    flash.read(offset, &mut bytes)?;
    Ok(BootInfo::decode(&bytes))
}

/// Erases the sector at `offset` and programs `record` (with its CRC recomputed) into it.
pub fn write_record<F: NorFlash>(
    flash: &mut F,
    offset: u32,
    record: &BootInfo,
) -> Result<BootInfo, F::Error> {
    let sealed = record.sealed();
    let sector = OTADATA_SECTOR.max(F::ERASE_SIZE as u32);
    flash.erase(offset, offset.saturating_add(sector))?;
    flash.write(offset, &sealed.encode())?;
    Ok(sealed)
}

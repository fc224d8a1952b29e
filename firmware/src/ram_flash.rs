//! A NOR flash chip in RAM: erase sets 4 KiB sectors to 0xFF, programming only clears bits —
//! the same rules as the simulator's flash file, so a record written on one reads the same on
//! the other.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Sector size.
pub const SECTOR: u32 = 4096;

/// What the chip refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamFlashError {
    OutOfBounds,
    NotAligned,
}

impl NorFlashError for RamFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            RamFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            RamFlashError::NotAligned => NorFlashErrorKind::NotAligned,
        }
    }
}

/// The chip: its bytes.
pub struct RamFlash<'a> {
    bytes: &'a mut [u8],
}

impl<'a> RamFlash<'a> {
    pub fn new(bytes: &'a mut [u8]) -> RamFlash<'a> {
        RamFlash { bytes }
    }

    fn range(&self, offset: u32, len: usize) -> Result<core::ops::Range<usize>, RamFlashError> {
        let start = offset as usize;
        let end = start.checked_add(len).ok_or(RamFlashError::OutOfBounds)?;
        if end > self.bytes.len() {
            return Err(RamFlashError::OutOfBounds);
        }
        Ok(start..end)
    }
}

impl ErrorType for RamFlash<'_> {
    type Error = RamFlashError;
}

impl ReadNorFlash for RamFlash<'_> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), Self::Error> {
        let range = self.range(offset, out.len())?;
        let src = self.bytes.get(range).ok_or(RamFlashError::OutOfBounds)?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl NorFlash for RamFlash<'_> {
    /// As the ESP32's SPI flash through esp-storage: words.
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = SECTOR as usize;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if from > to || !from.is_multiple_of(SECTOR) || !to.is_multiple_of(SECTOR) {
            return Err(RamFlashError::NotAligned);
        }
        let range = self.range(from, (to - from) as usize)?;
        self.bytes
            .get_mut(range)
            .ok_or(RamFlashError::OutOfBounds)?
            .fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error> {
        if !(offset as usize).is_multiple_of(Self::WRITE_SIZE)
            || !data.len().is_multiple_of(Self::WRITE_SIZE)
        {
            return Err(RamFlashError::NotAligned);
        }
        let range = self.range(offset, data.len())?;
        let cells = self
            .bytes
            .get_mut(range)
            .ok_or(RamFlashError::OutOfBounds)?;
        for (cell, byte) in cells.iter_mut().zip(data) {
            *cell &= *byte;
        }
        Ok(())
    }
}

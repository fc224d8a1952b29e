//! One flash for two users: the boot core writes otadata through `NorFlash` while the image
//! verifier it calls reads the slots. A `RefCell` hands the chip to whichever runs; a borrow
//! that cannot be had is an error, never a panic.

use core::cell::RefCell;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// A `NorFlash` that borrows the chip in `cell` for each operation.
pub struct SharedFlash<'a, F>(pub &'a RefCell<F>);

/// The chip's error, or the chip was already in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedFlashError<E> {
    Flash(E),
    Busy,
}

impl<E: NorFlashError> NorFlashError for SharedFlashError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SharedFlashError::Flash(e) => e.kind(),
            SharedFlashError::Busy => NorFlashErrorKind::Other,
        }
    }
}

impl<F: ErrorType> ErrorType for SharedFlash<'_, F> {
    type Error = SharedFlashError<F::Error>;
}

impl<F: ReadNorFlash> ReadNorFlash for SharedFlash<'_, F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let mut chip = self
            .0
            .try_borrow_mut()
            .map_err(|_| SharedFlashError::Busy)?;
        chip.read(offset, bytes).map_err(SharedFlashError::Flash)
    }

    fn capacity(&self) -> usize {
        self.0.try_borrow().map_or(0, |chip| chip.capacity())
    }
}

impl<F: NorFlash> NorFlash for SharedFlash<'_, F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let mut chip = self
            .0
            .try_borrow_mut()
            .map_err(|_| SharedFlashError::Busy)?;
        chip.erase(from, to).map_err(SharedFlashError::Flash)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let mut chip = self
            .0
            .try_borrow_mut()
            .map_err(|_| SharedFlashError::Busy)?;
        chip.write(offset, bytes).map_err(SharedFlashError::Flash)
    }
}

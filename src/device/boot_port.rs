//! The virtual hardware seen through the traits the boot core speaks: P12 as an
//! `embedded_hal` input, the device clock as `DelayNs`, the WS2812 as `SmartLedsWrite`, the flash
//! file as `NorFlash`, UART0 as `fmt::Write`.
//!
//! When the handle interrupts a boot (reset button, power cut) the ports make the rest of the boot
//! core's run a no-op: delays return at once, the pin reads released, the LED ignores writes, and
//! flash refuses to change — so an interrupted boot leaves flash exactly as a real reset would.

use std::cell::RefCell;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, InputPin};
use embedded_storage::nor_flash::{
    ErrorType as FlashErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use smart_leds_trait::{RGB8, SmartLedsWrite};

use super::hw::Hw;
use crate::flash::{FlashError, FlashFile};

/// The safe-boot pin as the bootloader configures it (input, pull-down).
pub struct BootPin<'a> {
    pub hw: &'a RefCell<Hw>,
    pub gpio: u8,
}

impl PinErrorType for BootPin<'_> {
    type Error = core::convert::Infallible;
}

impl InputPin for BootPin<'_> {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        let hw = self.hw.borrow();
        Ok(hw.interrupted().is_none() && hw.gpio.level(self.gpio))
    }

    fn is_low(&mut self) -> Result<bool, Self::Error> {
        self.is_high().map(|high| !high)
    }
}

/// Busy-wait delays on the device clock.
pub struct BootDelay<'a> {
    pub hw: &'a RefCell<Hw>,
}

impl BootDelay<'_> {
    fn wait_us(&mut self, us: u64) {
        let mut hw = self.hw.borrow_mut();
        if hw.interrupted().is_none() {
            hw.wait(us);
        }
    }
}

impl DelayNs for BootDelay<'_> {
    fn delay_ns(&mut self, ns: u32) {
        self.wait_us(u64::from(ns).div_ceil(1000));
    }

    fn delay_us(&mut self, us: u32) {
        self.wait_us(u64::from(us));
    }

    fn delay_ms(&mut self, ms: u32) {
        self.wait_us(u64::from(ms) * 1000);
    }
}

/// The RGB LED's data line.
pub struct BootLed<'a> {
    pub hw: &'a RefCell<Hw>,
}

impl SmartLedsWrite for BootLed<'_> {
    type Error = core::convert::Infallible;
    type Color = RGB8;

    fn write<T, I>(&mut self, iterator: T) -> Result<(), Self::Error>
    where
        T: IntoIterator<Item = I>,
        I: Into<Self::Color>,
    {
        let mut hw = self.hw.borrow_mut();
        for colour in iterator {
            if hw.interrupted().is_none() {
                hw.show(colour.into());
            }
        }
        Ok(())
    }
}

/// Why the boot core's flash access failed.
#[derive(Debug)]
pub enum BootFlashError {
    Flash(FlashError),
    /// The boot was interrupted by a reset or power cut; nothing was written.
    Interrupted,
}

impl NorFlashError for BootFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            BootFlashError::Flash(e) => e.kind(),
            BootFlashError::Interrupted => NorFlashErrorKind::Other,
        }
    }
}

/// The flash chip as the bootloader sees it.
pub struct BootFlash<'a> {
    pub hw: &'a RefCell<Hw>,
    pub flash: &'a RefCell<FlashFile>,
}

impl BootFlash<'_> {
    fn guard(&self) -> Result<(), BootFlashError> {
        match self.hw.borrow().interrupted() {
            Some(_) => Err(BootFlashError::Interrupted),
            None => Ok(()),
        }
    }
}

impl FlashErrorType for BootFlash<'_> {
    type Error = BootFlashError;
}

impl ReadNorFlash for BootFlash<'_> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.flash
            .borrow_mut()
            .read(offset, bytes)
            .map_err(BootFlashError::Flash)
    }

    fn capacity(&self) -> usize {
        self.flash.borrow().capacity()
    }
}

impl NorFlash for BootFlash<'_> {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.guard()?;
        self.flash
            .borrow_mut()
            .erase(from, to)
            .map_err(BootFlashError::Flash)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.guard()?;
        self.flash
            .borrow_mut()
            .write(offset, bytes)
            .map_err(BootFlashError::Flash)
    }
}

/// UART0 as the bootloader's `ets_printf` uses it; the ROM's character output turns `\n` into
/// `\r\n`.
pub struct BootConsole<'a> {
    pub hw: &'a RefCell<Hw>,
}

impl core::fmt::Write for BootConsole<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let cooked = s.replace('\n', "\r\n");
        self.hw.borrow_mut().uart_write(cooked.as_bytes());
        Ok(())
    }
}

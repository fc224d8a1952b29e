//! The boot core alone, for its size: `pycom_boot::boot` linked with ports that touch no
//! hardware (`black_box` keeps the optimiser from folding them away) and riscv-rt's start code.
//! Everything in this binary's `.text` and `.rodata` is the boot core, the start code or a
//! few bytes of port — an upper bound of what the boot core costs a second-stage bootloader
//! (0x1000..0x8000 on the ESP32). It is built, measured (tests/firmware_qemu.rs bounds it at
//! 4 KiB `.text` and 1 KiB `.rodata`) and never run.
#![no_std]
#![no_main]

use core::hint::black_box;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, InputPin};
use embedded_storage::nor_flash::{
    ErrorType as FlashErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash,
};
use pycom_boot::{FlashLayout, Slot};
use smart_leds_trait::{RGB8, SmartLedsWrite};

struct Pin;

impl PinErrorType for Pin {
    type Error = core::convert::Infallible;
}

impl InputPin for Pin {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        Ok(black_box(false))
    }

    fn is_low(&mut self) -> Result<bool, Self::Error> {
        Ok(black_box(true))
    }
}

struct Delay;

impl DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        black_box(ns);
    }
}

struct Led;

impl SmartLedsWrite for Led {
    type Error = core::convert::Infallible;
    type Color = RGB8;

    fn write<T, I>(&mut self, iterator: T) -> Result<(), Self::Error>
    where
        T: IntoIterator<Item = I>,
        I: Into<Self::Color>,
    {
        for colour in iterator {
            black_box(colour.into());
        }
        Ok(())
    }
}

struct Flash;

impl FlashErrorType for Flash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for Flash {
    const READ_SIZE: usize = 4;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        bytes.fill(black_box(offset as u8));
        Ok(())
    }

    fn capacity(&self) -> usize {
        black_box(0x80_0000)
    }
}

impl NorFlash for Flash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        black_box((from, to));
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        black_box((offset, bytes));
        Ok(())
    }
}

struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        black_box(s);
        Ok(())
    }
}

#[riscv_rt::entry]
fn main() -> ! {
    let layout = black_box(FlashLayout {
        otadata: 0x1F_F000,
        factory: 0x1_0000,
        ota0: 0x21_0000,
    });
    let decision = pycom_boot::boot(
        &layout,
        &mut Flash,
        &mut Pin,
        &mut Delay,
        &mut Led,
        &mut |slot: Slot| black_box(slot) == Slot::Ota0,
        &mut Console,
    );
    black_box(decision.ok());
    loop {
        black_box(());
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        black_box(());
    }
}

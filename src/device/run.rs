//! The reset loop on the device thread: power-on → ROM → `pycom-boot` → firmware, again after
//! every reset, until the handle shuts the device down.

use std::cell::RefCell;
use std::rc::Rc;

use pycom_boot::{BootDecision, FlashLayout, Slot};

use super::boot_port::{BootConsole, BootDelay, BootFlash, BootFlashError, BootLed, BootPin};
use super::hw::{Hw, Interrupt};
use crate::board::Board;
use crate::event::{EventKind, Stage};
use crate::flash::FlashFile;
use crate::gpio::Pull;
use crate::image::{self, FirmwareImage};
use crate::led;
use crate::rom::{self, ResetCause};

/// The whole virtual module on its thread.
pub struct Device {
    pub board: Board,
    /// Shared with the Python runtime's native modules, all on this thread.
    pub hw: Rc<RefCell<Hw>>,
    pub flash: Rc<RefCell<FlashFile>>,
    /// The host directory behind `machine.SD()`, if any.
    pub sd: Option<std::path::PathBuf>,
    /// App images parsed at earlier boots, kept while the flash under their slot is unchanged.
    pub images: RefCell<Vec<ParsedSlot>>,
}

/// A slot's app image as parsed (header, checksum, SHA-256), and the flash's
/// [`FlashFile::changes`] count for that slot when it was read.
pub struct ParsedSlot {
    slot: Slot,
    changes: u64,
    parsed: Result<FirmwareImage, String>,
}

/// What the device does after a boot ends.
enum Next {
    Start(ResetCause),
    PowerOff,
    Shutdown,
}

impl From<Interrupt> for Next {
    fn from(i: Interrupt) -> Next {
        match i {
            Interrupt::Reset(cause) => Next::Start(cause),
            Interrupt::PowerOff => Next::PowerOff,
            Interrupt::Shutdown => Next::Shutdown,
        }
    }
}

impl Device {
    /// Runs until shut down.
    pub fn run(self) {
        let mut next = self.wait_for_power();
        loop {
            next = match next {
                Next::Shutdown => break,
                Next::PowerOff => {
                    let mut hw = self.hw.borrow_mut();
                    hw.powered = false;
                    hw.set_heartbeat(false);
                    if let Some(c) = hw.led.power_off() {
                        hw.emit(EventKind::Led { color: led::hex(c) });
                    }
                    hw.emit(EventKind::PowerOff);
                    drop(hw);
                    self.wait_for_power()
                }
                Next::Start(cause) => self.boot_guarded(cause),
            };
        }
        let mut hw = self.hw.borrow_mut();
        hw.emit(EventKind::Stopped);
        if let Err(e) = self.flash.borrow_mut().sync() {
            hw.emit(EventKind::Fault {
                message: format!("could not sync the flash file: {e}"),
            });
        }
    }

    /// One boot, with a panic anywhere in it (the runtime included) caught: the chip prints
    /// the panic handler's text and restarts as a panicking module does.
    fn boot_guarded(&self, cause: ResetCause) -> Next {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.boot(cause)));
        match result {
            Ok(next) => next,
            Err(payload) => {
                let message = super::crash::panic_message(payload.as_ref());
                let mut hw = self.hw.borrow_mut();
                hw.python_busy = false;
                hw.clock.set_computing(false);
                hw.uart_write(super::crash::guru_meditation(&message).as_bytes());
                hw.emit(EventKind::Fault {
                    message: format!("the firmware panicked and the chip rebooted: {message}"),
                });
                // A shutdown, power cut or reset asked for meanwhile still wins.
                hw.take_interrupt()
                    .map_or(Next::Start(ResetCause::Panic), Next::from)
            }
        }
    }

    /// Powered off: nothing runs and no scheduled work happens until power returns.
    fn wait_for_power(&self) -> Next {
        let mut hw = self.hw.borrow_mut();
        loop {
            hw.wait_for_command();
            match hw.take_interrupt() {
                Some(Interrupt::Reset(_)) => return Next::Start(ResetCause::PowerOn),
                Some(Interrupt::Shutdown) => return Next::Shutdown,
                Some(Interrupt::PowerOff) | None => {}
            }
        }
    }

    /// Idles (firmware waiting, download mode, a hung module) until something resets it.
    fn hang(&self) -> Next {
        let mut hw = self.hw.borrow_mut();
        hw.idle(|_| false);
        hw.take_interrupt().map_or(Next::Shutdown, Next::from)
    }

    fn interrupted(&self) -> Option<Next> {
        self.hw.borrow_mut().take_interrupt().map(Next::from)
    }

    /// One pass through the boot chain.
    fn boot(&self, cause: ResetCause) -> Next {
        {
            let mut hw = self.hw.borrow_mut();
            hw.powered = true;
            hw.set_heartbeat(false);
            hw.clear_python_hardware();
            hw.intr_char = None;
            hw.python_busy = false;
            hw.kbd_interrupt = false;
            hw.safe_boot_request = false;
            hw.uart0_enabled = true;
            hw.reset_uart();
            hw.emit(EventKind::Reset { cause });
            let changes = hw.gpio.reset(&rom::RESET_PULLS);
            for c in changes {
                hw.pin_changed(Some(c));
            }
            hw.emit(EventKind::Stage { stage: Stage::Rom });
            let strap = rom::strap_byte(&hw.gpio);
            hw.uart_write(rom::rom_text(cause, strap).as_bytes());
            if rom::is_download_mode(strap) {
                hw.emit(EventKind::Stage {
                    stage: Stage::DownloadMode,
                });
                drop(hw);
                // The ROM's serial loader answers esptool until a reset ends download mode.
                match crate::rom_loader::serve(&self.hw, &self.flash, &self.board, strap) {
                    crate::rom_loader::End::Interrupted => {
                        return self.interrupted().unwrap_or(Next::Shutdown);
                    }
                    // The ROM's software reset; the straps are sampled again.
                    crate::rom_loader::End::Reboot => return Next::Start(ResetCause::ResetButton),
                    // "Run user code": on to the flash boot below, without a reset.
                    crate::rom_loader::End::RunUserCode => {}
                }
                hw = self.hw.borrow_mut();
            }
            hw.emit(EventKind::Stage {
                stage: Stage::Bootloader,
            });
        }
        let decision = match self.run_bootloader() {
            Ok(d) => d,
            Err(BootFlashError::Interrupted) => {
                return self.interrupted().unwrap_or(Next::Shutdown);
            }
            Err(BootFlashError::Flash(e)) => {
                // The firmware's `mperror_fatal_error`: solid red LED, hang.
                let mut hw = self.hw.borrow_mut();
                hw.show(led::ERROR_COLOR);
                hw.emit(EventKind::Fault {
                    message: format!("bootloader could not use flash: {e}"),
                });
                drop(hw);
                return self.hang();
            }
        };
        if let Some(next) = self.interrupted() {
            return next;
        }
        self.start_firmware(&decision, cause)
    }

    fn layout(&self) -> FlashLayout {
        FlashLayout {
            otadata: self.board.otadata_offset(),
            factory: self.board.factory_offset(),
            ota0: self.board.ota0_offset(),
        }
    }

    /// The app image in `slot`. Each boot checks it in the bootloader and loads it in the app
    /// stage; reading and hashing a 1.5 MB slot twice a boot was a tenth of a scenario suite's
    /// time, so the result is kept until something writes to the slot.
    fn slot_image(&self, slot: Slot) -> Result<FirmwareImage, String> {
        let (offset, size) = self
            .board
            .partition(slot.name())
            .map_or((0, 0), |p| (p.offset, p.size));
        let changes = self.flash.borrow().changes(offset, size);
        if let Some(known) = self
            .images
            .borrow()
            .iter()
            .find(|p| p.slot == slot && p.changes == changes)
        {
            return known.parsed.clone();
        }
        let flash = self.flash.borrow();
        let extent = image::image_extent(size as usize, |at, buf| {
            flash.read(offset + at as u32, buf).is_ok()
        });
        let parsed = flash
            .read_with(offset, extent, image::parse_image)
            .unwrap_or_else(|_| image::parse_image(&[]))
            .map_err(|e| e.to_string());
        let mut images = self.images.borrow_mut();
        images.retain(|p| p.slot != slot);
        images.push(ParsedSlot {
            slot,
            changes,
            parsed: parsed.clone(),
        });
        parsed
    }

    fn run_bootloader(&self) -> Result<BootDecision, BootFlashError> {
        let safe_pin = self.pin_gpio(&self.board.safe_boot_pin);
        // The bootloader enables P12's pull-down for the check and disables it afterwards.
        self.set_pull(safe_pin, Pull::Down);
        let result = pycom_boot::boot(
            &self.layout(),
            &mut BootFlash {
                hw: &self.hw,
                flash: &self.flash,
            },
            &mut BootPin {
                hw: &self.hw,
                gpio: safe_pin,
            },
            &mut BootDelay { hw: &self.hw },
            &mut BootLed { hw: &self.hw },
            &mut |slot: Slot| self.slot_image(slot).is_ok(),
            &mut BootConsole { hw: &self.hw },
        );
        self.set_pull(safe_pin, Pull::None);
        result
    }

    fn pin_gpio(&self, name: &str) -> u8 {
        let hw = self.hw.borrow();
        hw.gpio.resolve(name).unwrap_or(21)
    }

    fn set_pull(&self, gpio: u8, pull: Pull) {
        let mut hw = self.hw.borrow_mut();
        let change = hw.gpio.set_pull(gpio, pull);
        hw.pin_changed(change);
    }

    /// The app stage. Until the MicroPython runtime lands it reports the decision and idles.
    fn start_firmware(&self, decision: &BootDecision, cause: ResetCause) -> Next {
        let parsed = self.slot_image(decision.slot);
        let mut hw = self.hw.borrow_mut();
        let version = parsed
            .as_ref()
            .map(|img| img.spec.version.clone())
            .unwrap_or_default();
        hw.emit(EventKind::Boot {
            slot: decision.slot.name().to_string(),
            offset: decision.offset,
            version: version.clone(),
            safe_boot: decision.safe_boot.name().to_string(),
            skip_scripts: decision.skip_scripts,
            software_request: decision.software_request,
            rolled_back: decision.rolled_back,
            record_initialised: decision.record_initialised,
        });
        let image = match parsed {
            Ok(image) => image,
            Err(e) => {
                // A real module would jump into garbage here; show it as the fatal red LED.
                hw.show(led::ERROR_COLOR);
                let message = format!(
                    "the {} slot at {:#x} holds no valid firmware image: {e}",
                    decision.slot.name(),
                    decision.offset
                );
                hw.uart_write(format!("[pycom-sim] {message}\r\n").as_bytes());
                hw.emit(EventKind::Fault { message });
                drop(hw);
                return self.hang();
            }
        };
        hw.emit(EventKind::Stage {
            stage: Stage::Firmware,
        });
        drop(hw);
        match crate::python::run_firmware(self, image, decision, cause) {
            crate::python::FirmwareEnd::Reset(cause) => Next::Start(cause),
            crate::python::FirmwareEnd::Interrupt(i) => {
                self.hw.borrow_mut().take_interrupt();
                Next::from(i)
            }
        }
    }
}

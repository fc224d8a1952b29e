//! The ESP32 ROM's serial download protocol, so the real esptool (and Pycom's Firmware Updater,
//! and `pycom-sim update`) can write a board's flash in download mode (G23 to GND at reset).
//!
//! * [`slip`]: the framing, pure and streaming.
//! * [`protocol`]: request decoding and reply encoding, pure.
//! * [`chip`]: the registers esptool reads (magic, eFuse identity and MAC, SPI flash commands).
//! * [`loader`]: the commands — SYNC, READ/WRITE_REG, SPI_ATTACH/SET_PARAMS, FLASH_* and the
//!   compressed FLASH_DEFL_*, SPI_FLASH_MD5, READ_FLASH_SLOW, CHANGE_BAUDRATE, MEM_* — against
//!   the board's flash.
//! * [`serve`]: the loop on the device thread.
//!
//! The facts come from `../shared/reference/esp32-rom-loader.md` (esptool's source and traces).

pub mod chip;
pub mod client;
pub mod loader;
pub mod protocol;
pub mod serve;
pub mod slip;

pub use serve::{End, serve};

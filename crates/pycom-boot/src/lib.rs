//! The Pycom second-stage boot logic, as one `#![no_std]` crate.
//!
//! This is the part of the module's bootloader that decides *what* to boot: it keeps the
//! `boot_info_t` record in the otadata partition, verifies a freshly OTA'd image and rolls back
//! when it is bad, watches the safe-boot pin (P12) with the orange LED windows, and keeps the
//! safeboot flag as a one-shot. It talks to hardware only through the ecosystem's traits
//! (`embedded-hal`, `embedded-storage`, `smart-leds-trait`), so the same code runs inside the
//! simulator and would run on the module.
//!
//! The entry a firmware `main` calls is [`boot`]; the pieces it is made of are public so that
//! tests (and other tools) can drive each step alone.
#![no_std]
#![forbid(unsafe_code)]

pub mod boot_info;
pub mod otadata;
pub mod safeboot;
pub mod select;
pub mod updates;

mod entry;

pub use boot_info::{BootInfo, Slot};
pub use entry::{BootDecision, FlashLayout, boot};
pub use safeboot::{SafeBootOutcome, wait_for_safe_boot};
pub use select::{ImageVerifier, Selection, find_active_image};

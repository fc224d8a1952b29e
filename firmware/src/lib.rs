//! pycom-boot on bare metal: what the firmware's `main` needs around the boot core, shared by the
//! machines it is built for (ESP32-C3 with esp-hal, QEMU's riscv32 `virt`).
//!
//! The boot core (`pycom_boot`) decides; this crate finds the partitions it decides between,
//! checks app images as the IDF bootloader's `esp_image_verify` does, lets the verifier and the
//! boot core share one flash, and prints the decision on the console. Board differences (pins,
//! chip id) are data in [`board`], not copies of code.
#![no_std]
#![forbid(unsafe_code)]

pub mod board;
pub mod case;
pub mod image;
pub mod partitions;
pub mod ram_flash;
pub mod report;
pub mod run;
pub mod shared;
pub mod status_led;

//! pycom-sim: a desktop emulator of a Pycom board.
pub mod board;
pub mod cli;
pub mod clock;
pub mod device;
pub mod event;
pub mod flash;
pub mod fs;
pub mod gpio;
pub mod image;
pub mod led;
pub mod partition;
pub mod python;
pub mod rom;

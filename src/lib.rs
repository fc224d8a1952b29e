//! pycom-sim: a desktop emulator of a Pycom board.
pub mod board;

//! pycom-sim: a desktop emulator of a Pycom board.

/// The process's allocator, counting what is allocated (`python::memory` reads it). A device's
/// Python that grows past its budget gets `MemoryError`; the ceiling set here keeps a runaway
/// native loop (`list(range(10**12))`) from taking the host's memory with it.
///
/// Under the count, mimalloc rather than glibc's malloc: RustPython makes and frees millions
/// of small objects, and on a device thread glibc grew its arena a page at a time (an
/// `mprotect` and a fault each; a sixth of a cold scenario's time). With mimalloc a cold
/// 10 s safe-boot scenario took a quarter less wall time.
#[global_allocator]
pub static ALLOCATOR: cap::Cap<mimalloc::MiMalloc> =
    cap::Cap::new(mimalloc::MiMalloc, python::memory::HOST_CEILING);
pub mod board;
pub mod cli;
pub mod clock;
pub mod device;
pub mod duration;
pub mod event;
pub mod flash;
pub mod frontend;
pub mod fs;
pub mod fs_cli;
pub mod gpio;
pub mod image;
pub mod led;
pub mod lesson;
pub mod partition;
pub mod python;
pub mod rom;
pub mod rom_loader;
pub mod scenario;
pub mod transport;
pub mod update;

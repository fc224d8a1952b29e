//! A flash chip's content held in memory instead of a host file: what a scenario's device runs
//! on. A scenario's flash is thrown away when it ends, so writing 8 MiB to a file, reading it
//! back and deleting it was waste — about half the wall time of the scenario suite.
//!
//! The chip is kept sector by sector, and a sector nobody has programmed since its erase is not
//! stored at all. Sectors are shared between copies until one of them changes (copy on write),
//! so a scenario's chip starts as a copy of its board's template for the price of one list of
//! 2048 pointers, and a look at its files mid-run reads a private copy the look cannot change.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{FlashError, FlashFile, SECTOR_SIZE};
use crate::board::Board;

const SECTOR: usize = SECTOR_SIZE as usize;

/// One 4 KiB sector's bytes.
type Sector = Arc<[u8; SECTOR]>;

/// A chip in memory. Cloning gives a second handle to the same chip (the device writes through
/// one, the scenario that made it reads through the other); [`MemoryChip::fork`] gives an
/// independent copy.
#[derive(Clone)]
pub struct MemoryChip {
    inner: Arc<Mutex<Sectors>>,
}

#[derive(Clone)]
struct Sectors {
    size: u32,
    /// `None` is an erased sector (all 0xFF).
    sectors: Vec<Option<Sector>>,
}

impl std::fmt::Debug for MemoryChip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemoryChip({} bytes)", self.size())
    }
}

/// Two handles are equal when they are the same chip.
impl PartialEq for MemoryChip {
    fn eq(&self, other: &MemoryChip) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for MemoryChip {}

impl MemoryChip {
    /// An erased chip of `size` bytes (a whole number of sectors).
    pub fn erased(size: u32) -> MemoryChip {
        MemoryChip::from_sectors(Sectors {
            size,
            sectors: vec![None; (size as usize).div_ceil(SECTOR)],
        })
    }

    /// A factory-fresh chip for `board`: what a new flash file holds (partition table, otadata,
    /// the factory image, the config block, a formatted /flash with its default files).
    pub fn fresh(board: &Board, factory_image: &[u8]) -> Result<MemoryChip, FlashError> {
        let chip = MemoryChip::erased(board.flash_size);
        FlashFile::on_chip(chip.clone(), board)?.provision(board, factory_image)?;
        Ok(chip)
    }

    /// A chip holding `bytes` (a flash file's content).
    pub fn from_bytes(bytes: &[u8]) -> MemoryChip {
        let sectors = bytes
            .chunks(SECTOR)
            .map(|chunk| {
                if chunk.iter().all(|&b| b == 0xFF) {
                    return None;
                }
                let mut sector = [0xFF; SECTOR];
                sector[..chunk.len()].copy_from_slice(chunk);
                Some(Arc::new(sector))
            })
            .collect();
        MemoryChip::from_sectors(Sectors {
            size: bytes.len() as u32,
            sectors,
        })
    }

    fn from_sectors(sectors: Sectors) -> MemoryChip {
        MemoryChip {
            inner: Arc::new(Mutex::new(sectors)),
        }
    }

    /// An independent copy of the chip as it is now; neither sees the other's later changes.
    pub fn fork(&self) -> MemoryChip {
        MemoryChip::from_sectors(self.lock().clone())
    }

    /// The chip's size in bytes.
    pub fn size(&self) -> u32 {
        self.lock().size
    }

    /// The whole chip's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = vec![0; self.size() as usize];
        self.read(0, &mut bytes);
        bytes
    }

    /// Copies the chip's bytes at `offset` into `buf`. The caller ([`super::FlashFile`]) has
    /// checked the range.
    pub(super) fn read(&self, offset: usize, buf: &mut [u8]) {
        let chip = self.lock();
        for_each_piece(offset, buf.len(), |sector, within, at, len| {
            let out = &mut buf[at..at + len];
            match chip.sectors.get(sector).and_then(Option::as_ref) {
                Some(bytes) => out.copy_from_slice(&bytes[within..within + len]),
                None => out.fill(0xFF),
            }
        });
    }

    /// Stores `bytes` at `offset`, copying a sector shared with another copy before it changes.
    /// An all-0xFF sector that covers a whole sector is stored as erased.
    pub(super) fn write(&self, offset: usize, bytes: &[u8]) {
        let mut chip = self.lock();
        for_each_piece(offset, bytes.len(), |sector, within, at, len| {
            let Some(slot) = chip.sectors.get_mut(sector) else {
                return;
            };
            let piece = &bytes[at..at + len];
            if len == SECTOR && piece.iter().all(|&b| b == 0xFF) {
                *slot = None;
                return;
            }
            let stored = slot.get_or_insert_with(|| Arc::new([0xFF; SECTOR]));
            Arc::make_mut(stored)[within..within + len].copy_from_slice(piece);
        });
    }

    /// A poisoned lock only means another handle's thread panicked mid-copy of plain bytes;
    /// the bytes are still what they were or what they became.
    fn lock(&self) -> MutexGuard<'_, Sectors> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Splits `len` bytes at `offset` into per-sector pieces: `f(sector, offset within it, offset
/// within the caller's buffer, length)`.
fn for_each_piece(offset: usize, len: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
    let mut at = 0;
    while at < len {
        let address = offset + at;
        let (sector, within) = (address / SECTOR, address % SECTOR);
        let piece = (SECTOR - within).min(len - at);
        f(sector, within, at, piece);
        at += piece;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_writes_across_sectors_and_erased_reads_ff() {
        let chip = MemoryChip::erased(4 * SECTOR_SIZE);
        let data: Vec<u8> = (0..6000u32).map(|i| i as u8).collect();
        chip.write(4000, &data);
        let mut back = vec![0; 6000];
        chip.read(4000, &mut back);
        assert_eq!(back, data);
        let mut edge = [0; 8];
        chip.read(3992, &mut edge);
        assert_eq!(edge, [0xFF; 8]);
        assert_eq!(chip.to_vec()[3 * SECTOR..], [0xFF; SECTOR]);
    }

    #[test]
    fn a_fork_and_its_original_change_apart() {
        let original = MemoryChip::from_bytes(&[0x11; 2 * SECTOR]);
        let handle = original.clone();
        let fork = original.fork();
        handle.write(10, &[0x22]);
        fork.write(11, &[0x33]);
        assert_eq!(original.to_vec()[10..12], [0x22, 0x11]);
        assert_eq!(fork.to_vec()[10..12], [0x11, 0x33]);
        assert_eq!(original, handle);
        assert_ne!(original, fork);
    }

    #[test]
    fn a_whole_erased_sector_is_dropped_and_a_short_last_sector_keeps_its_length() {
        let chip = MemoryChip::from_bytes(&[0u8; SECTOR + 100]);
        assert_eq!(chip.size() as usize, SECTOR + 100);
        chip.write(0, &[0xFF; SECTOR]);
        assert!(chip.lock().sectors[0].is_none());
        assert_eq!(chip.to_vec()[SECTOR..], [0u8; 100]);
    }
}

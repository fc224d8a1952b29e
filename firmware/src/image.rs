//! The app-image check the IDF bootloader makes before it jumps (`esp_image_verify`), over
//! `ReadNorFlash`: header magic, segment count, chip id, every segment inside the slot, the XOR
//! checksum (seed 0xEF) in the last byte of the 16-byte block the segments end in, and the
//! SHA-256 of everything before it, appended after the checksum.
//!
//! It reads in aligned blocks, so it works on a chip that only reads whole words (esp-storage),
//! and never trusts a length it read: a slot of garbage is an error, not a panic or a long walk.

use embedded_storage::nor_flash::ReadNorFlash;
use pycom_boot::{ImageVerifier, Slot};
use sha2::{Digest, Sha256};

use crate::partitions::{Partition, Partitions};

/// `ESP_IMAGE_HEADER_MAGIC`.
pub const MAGIC: u8 = 0xE9;
/// `esp_image_header_t` with its extended part.
pub const HEADER_LEN: u32 = 24;
/// `esp_image_segment_header_t`.
const SEGMENT_HEADER_LEN: u32 = 8;
/// `ESP_IMAGE_MAX_SEGMENTS`.
pub const MAX_SEGMENTS: u8 = 16;
const CHECKSUM_SEED: u8 = 0xEF;
const HASH_LEN: usize = 32;
/// Bytes per flash read: a multiple of any chip's read size (esp-storage reads words).
const BLOCK: usize = 256;

/// Why an image was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError<E> {
    Flash(E),
    BadMagic(u8),
    BadSegmentCount(u8),
    WrongChip(u16),
    NoHash,
    /// A segment (or the checksum, or the hash) runs past the end of the slot.
    OutOfSlot,
    ChecksumMismatch,
    HashMismatch,
}

/// Reads a slot front to back through one aligned block buffer.
struct Reader<'a, F> {
    flash: &'a mut F,
    slot: Partition,
    /// Slot-relative offset of `block`'s first byte, or `None` before the first read.
    block_at: Option<u32>,
    block: [u8; BLOCK],
}

impl<F: ReadNorFlash> Reader<'_, F> {
    /// Calls `each` with the slot's bytes `from..from + len` in order, a slice at a time.
    fn visit(
        &mut self,
        from: u32,
        len: u32,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), ImageError<F::Error>> {
        let end = from.checked_add(len).ok_or(ImageError::OutOfSlot)?;
        if end > self.slot.size {
            return Err(ImageError::OutOfSlot);
        }
        let mut pos = from;
        while pos < end {
            let block_start = pos - pos % BLOCK as u32;
            if self.block_at != Some(block_start) {
                let addr = self
                    .slot
                    .offset
                    .checked_add(block_start)
                    .ok_or(ImageError::OutOfSlot)?;
                self.flash
                    .read(addr, &mut self.block)
                    .map_err(ImageError::Flash)?;
                self.block_at = Some(block_start);
            }
            let within = (pos - block_start) as usize;
            let take = (BLOCK - within).min((end - pos) as usize);
            let chunk = self
                .block
                .get(within..within + take)
                .ok_or(ImageError::OutOfSlot)?;
            each(chunk);
            pos += take as u32;
        }
        Ok(())
    }

    /// Copies the slot's bytes at `from` into `out`.
    fn read_into(&mut self, from: u32, out: &mut [u8]) -> Result<(), ImageError<F::Error>> {
        let mut filled = 0usize;
        self.visit(from, out.len() as u32, |chunk| {
            for (dst, src) in out.iter_mut().skip(filled).zip(chunk) {
                *dst = *src;
            }
            filled += chunk.len();
        })
    }
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    for (dst, src) in w.iter_mut().zip(bytes.iter().skip(at)) {
        *dst = *src;
    }
    u32::from_le_bytes(w)
}

/// Checks the app image at the start of `slot`; `chip_id` is the board's.
pub fn verify_app_image<F: ReadNorFlash>(
    flash: &mut F,
    slot: Partition,
    chip_id: u16,
) -> Result<(), ImageError<F::Error>> {
    let mut reader = Reader {
        flash,
        slot,
        block_at: None,
        block: [0; BLOCK],
    };
    let mut header = [0u8; HEADER_LEN as usize];
    reader.read_into(0, &mut header)?;
    let [magic, count, ..] = header;
    if magic != MAGIC {
        return Err(ImageError::BadMagic(magic));
    }
    if count == 0 || count > MAX_SEGMENTS {
        return Err(ImageError::BadSegmentCount(count));
    }
    let chip = u16::from_le_bytes([
        header.get(12).copied().unwrap_or(0xFF),
        header.get(13).copied().unwrap_or(0xFF),
    ]);
    if chip != chip_id {
        return Err(ImageError::WrongChip(chip));
    }
    if header.get(23) != Some(&1) {
        return Err(ImageError::NoHash);
    }

    let mut hasher = Sha256::new();
    hasher.update(header);
    let mut checksum = CHECKSUM_SEED;
    let mut pos = HEADER_LEN;
    for _ in 0..count {
        let mut seg = [0u8; SEGMENT_HEADER_LEN as usize];
        reader.read_into(pos, &mut seg)?;
        hasher.update(seg);
        let len = le_u32(&seg, 4);
        pos = pos
            .checked_add(SEGMENT_HEADER_LEN)
            .ok_or(ImageError::OutOfSlot)?;
        reader.visit(pos, len, |chunk| {
            hasher.update(chunk);
            checksum = chunk.iter().fold(checksum, |acc, b| acc ^ b);
        })?;
        pos = pos.checked_add(len).ok_or(ImageError::OutOfSlot)?;
    }
    // The checksum is the last byte of the 16-byte block the segments end in.
    let checksum_at = pos + (15 - pos % 16);
    reader.visit(pos, checksum_at - pos, |padding| hasher.update(padding))?;
    let mut stored = [0u8; 1];
    reader.read_into(checksum_at, &mut stored)?;
    hasher.update(stored);
    if stored != [checksum] {
        return Err(ImageError::ChecksumMismatch);
    }
    let mut stored_hash = [0u8; HASH_LEN];
    reader.read_into(checksum_at + 1, &mut stored_hash)?;
    if hasher.finalize().as_slice() != stored_hash.as_slice() {
        return Err(ImageError::HashMismatch);
    }
    Ok(())
}

/// The boot core's [`ImageVerifier`] for a board: the slot's image must pass
/// [`verify_app_image`].
pub struct SlotVerifier<F> {
    pub flash: F,
    pub partitions: Partitions,
    pub chip_id: u16,
}

impl<F: ReadNorFlash> ImageVerifier for SlotVerifier<F> {
    fn verify(&mut self, slot: Slot) -> bool {
        verify_app_image(&mut self.flash, self.partitions.slot(slot), self.chip_id).is_ok()
    }
}

//! The ESP partition table: where the factory slot, ota_0 and the otadata record are.
//!
//! 32-byte entries from the table's offset (0x8000): magic `0x50AA`, type, subtype, offset, size,
//! a 16-byte label, flags; the list ends at an entry without the magic (the MD5 entry `0xEBEB`, or
//! erased flash). Partitions are found by label, as the simulator's board files name them.

use embedded_storage::nor_flash::ReadNorFlash;
use pycom_boot::{FlashLayout, Slot};

/// Entry size in bytes.
const ENTRY_LEN: usize = 32;
/// At most this many entries fit the table's 0xC00 bytes.
const MAX_ENTRIES: u32 = 0xC00 / ENTRY_LEN as u32;
/// `ESP_PARTITION_MAGIC`, little-endian.
const MAGIC: [u8; 2] = [0xAA, 0x50];

/// One partition: where it is and how big.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub offset: u32,
    pub size: u32,
}

/// The three partitions the boot decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partitions {
    pub factory: Partition,
    pub ota0: Partition,
    pub otadata: Partition,
}

impl Partitions {
    /// The boot core's view.
    pub const fn layout(&self) -> FlashLayout {
        FlashLayout {
            otadata: self.otadata.offset,
            factory: self.factory.offset,
            ota0: self.ota0.offset,
        }
    }

    /// The partition of an app slot.
    pub const fn slot(&self, slot: Slot) -> Partition {
        match slot {
            Slot::Factory => self.factory,
            Slot::Ota0 => self.ota0,
        }
    }
}

/// Why the table gave no layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError<E> {
    /// Reading flash failed.
    Flash(E),
    /// The table has no partition with this label (or there is no table: erased flash).
    Missing(&'static str),
}

/// Reads the table at `table_offset` and finds `factory`, `ota_0` and `otadata`.
pub fn read_partitions<F: ReadNorFlash>(
    flash: &mut F,
    table_offset: u32,
) -> Result<Partitions, TableError<F::Error>> {
    let mut factory = None;
    let mut ota0 = None;
    let mut otadata = None;
    for index in 0..MAX_ENTRIES {
        let mut entry = [0u8; ENTRY_LEN];
        let at = table_offset.saturating_add(index.saturating_mul(ENTRY_LEN as u32));
        flash.read(at, &mut entry).map_err(TableError::Flash)?;
        if entry.get(0..2) != Some(&MAGIC[..]) {
            break;
        }
        let word = |from: usize| {
            let mut w = [0u8; 4];
            for (dst, src) in w.iter_mut().zip(entry.iter().skip(from)) {
                *dst = *src;
            }
            u32::from_le_bytes(w)
        };
        let part = Partition {
            offset: word(4),
            size: word(8),
        };
        let label = entry.get(12..28).unwrap_or_default();
        let name_len = label.iter().position(|&b| b == 0).unwrap_or(label.len());
        match label.get(..name_len) {
            Some(b"factory") => factory = Some(part),
            Some(b"ota_0") => ota0 = Some(part),
            Some(b"otadata") => otadata = Some(part),
            _ => {}
        }
    }
    Ok(Partitions {
        factory: factory.ok_or(TableError::Missing("factory"))?,
        ota0: ota0.ok_or(TableError::Missing("ota_0"))?,
        otadata: otadata.ok_or(TableError::Missing("otadata"))?,
    })
}

//! `boot_info_t`: the 40-byte record at offset 0 of the otadata partition.
//!
//! Layout (little-endian), from the firmware's `bootloader.h`:
//!
//! | offset | field       | meaning                                                  |
//! |--------|-------------|----------------------------------------------------------|
//! | 0      | `ActiveImg` | 0 factory slot, 1 ota_0 slot, 2 "UPDATE2" (factory again) |
//! | 4      | `Status`    | 0 CHECK, 1 READY, 2 PATCH                                |
//! | 8      | `PrevImg`   | the slot that was active before the last switch          |
//! | 12     | `size`      | bytes written by the last OTA                            |
//! | 16     | `safeboot`  | 0 none, 1 hardware (P12), 2 software request             |
//! | 20     | `signature` | 16 bytes, unused by the firmware (0xFF)                  |
//! | 36     | `crc`       | CRC32 over bytes 0..36                                   |
//!
//! Fields stay raw `u32`s because flash can hold any value; typed views are methods.

/// Size of the encoded record in bytes.
pub const RECORD_LEN: usize = 40;
/// Number of bytes the CRC covers (everything before the `crc` field).
pub const CRC_COVERED_LEN: usize = 36;

/// `IMG_ACT_FACTORY`: the factory slot (0x10000).
pub const IMG_ACT_FACTORY: u32 = 0;
/// `IMG_ACT_UPDATE1`: the ota_0 slot.
pub const IMG_ACT_UPDATE1: u32 = 1;
/// `IMG_ACT_UPDATE2`: written by OTA when the new image went into the factory slot; the
/// bootloader turns it back into 0 ("we only have space for 1 OTA image").
pub const IMG_ACT_UPDATE2: u32 = 2;

/// `IMG_STATUS_CHECK`: a new image waits to be verified at the next boot.
pub const IMG_STATUS_CHECK: u32 = 0;
/// `IMG_STATUS_READY`: the active image is trusted.
pub const IMG_STATUS_READY: u32 = 1;
/// `IMG_STATUS_PATCH`: a delta update waits to be applied by the app.
pub const IMG_STATUS_PATCH: u32 = 2;

/// `safeboot` value: no safe boot.
pub const SAFE_BOOT_NONE: u32 = 0;
/// `SAFE_BOOT_HW`: P12 was held at reset (or a software request is being honoured).
pub const SAFE_BOOT_HW: u32 = 1;
/// `SAFE_BOOT_SW`: Ctrl-F or `pycom.bootmgr(safeboot=True)` asked for a safe boot.
pub const SAFE_BOOT_SW: u32 = 2;

/// An app-image slot the bootloader can jump to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// The `factory` partition at 0x10000.
    Factory,
    /// The `ota_0` partition.
    Ota0,
}

impl Slot {
    /// The slot an `ActiveImg`/`PrevImg` value selects, as `bs->image[ActiveImg]` does:
    /// 1 is ota_0, everything else (0, and the transient 2) is the factory slot.
    pub const fn from_img(value: u32) -> Slot {
        if value == IMG_ACT_UPDATE1 {
            Slot::Ota0
        } else {
            Slot::Factory
        }
    }

    /// The `ActiveImg` value that names this slot.
    pub const fn img_value(self) -> u32 {
        match self {
            Slot::Factory => IMG_ACT_FACTORY,
            Slot::Ota0 => IMG_ACT_UPDATE1,
        }
    }

    /// The other slot of the A/B pair.
    pub const fn other(self) -> Slot {
        match self {
            Slot::Factory => Slot::Ota0,
            Slot::Ota0 => Slot::Factory,
        }
    }

    /// The partition name, as `pycom.bootmgr()` reports it.
    pub const fn name(self) -> &'static str {
        match self {
            Slot::Factory => "factory",
            Slot::Ota0 => "ota_0",
        }
    }
}

/// The decoded `boot_info_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootInfo {
    pub active_img: u32,
    pub status: u32,
    pub prev_img: u32,
    pub size: u32,
    pub safeboot: u32,
    pub signature: [u8; 16],
    pub crc: u32,
}

/// CRC32 exactly as the firmware computes it: `crc32_le(UINT32_MAX, data, len)` from the ESP32
/// ROM, which is zlib's `crc32(data, 0xFFFFFFFF)` — the standard reflected CRC-32 continued from a
/// previous CRC of `0xFFFFFFFF` (so the register starts at 0, not at `!0`).
pub fn firmware_crc32(data: &[u8]) -> u32 {
    crc32_le(u32::MAX, data)
}

/// The reflected CRC-32 polynomial (IEEE 802.3, zlib).
const CRC32_POLY: u32 = 0xEDB8_8320;

/// The ROM's `crc32_le(crc, buf, len)`: zlib's `crc32` continued from `crc`.
///
/// Bit by bit, with no table: the bootloader checks 36 bytes per boot, so speed does not matter,
/// and a table would cost the second-stage bootloader's tight budget (0x1000..0x8000) 1 KiB
/// (byte-wise) or 16 KiB (crc32fast's slicing-by-16) of `.rodata`.
pub fn crc32_le(crc: u32, data: &[u8]) -> u32 {
    let mut reg = !crc;
    for &byte in data {
        reg ^= u32::from(byte);
        for _ in 0..8 {
            // All ones when the bit shifted out is set, else zero: no branch.
            let mask = (reg & 1).wrapping_neg();
            reg = (reg >> 1) ^ (CRC32_POLY & mask);
        }
    }
    !reg
}

impl BootInfo {
    /// The record the bootloader writes when otadata is erased or corrupt:
    /// factory / READY / PrevImg factory / no safe boot, signature 0xFF, CRC filled in.
    pub fn initial() -> BootInfo {
        BootInfo {
            active_img: IMG_ACT_FACTORY,
            status: IMG_STATUS_READY,
            prev_img: IMG_ACT_FACTORY,
            size: 0,
            safeboot: SAFE_BOOT_NONE,
            signature: [0xFF; 16],
            crc: 0,
        }
        .sealed()
    }

    /// The 36 bytes the CRC covers.
    pub fn covered_bytes(&self) -> [u8; CRC_COVERED_LEN] {
        let mut out = [0u8; CRC_COVERED_LEN];
        let words = [
            self.active_img,
            self.status,
            self.prev_img,
            self.size,
            self.safeboot,
        ];
        for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        for (dst, src) in out.iter_mut().skip(20).zip(self.signature) {
            *dst = src;
        }
        out
    }

    /// The CRC this record's contents call for.
    pub fn computed_crc(&self) -> u32 {
        firmware_crc32(&self.covered_bytes())
    }

    /// The same record with its `crc` field recomputed, ready to be written.
    #[must_use]
    pub fn sealed(mut self) -> BootInfo {
        self.crc = self.computed_crc();
        self
    }

    /// Valid iff `Status != 0xFFFFFFFF` and the stored CRC matches (`bootloader.c:268-273`).
    pub fn is_valid(&self) -> bool {
        self.status != u32::MAX && self.crc == self.computed_crc()
    }

    /// The 40 bytes as they sit in flash.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        for (dst, src) in out.iter_mut().zip(self.covered_bytes()) {
            *dst = src;
        }
        for (dst, src) in out
            .iter_mut()
            .skip(CRC_COVERED_LEN)
            .zip(self.crc.to_le_bytes())
        {
            *dst = src;
        }
        out
    }

    /// Decodes 40 bytes; says nothing about validity (see [`BootInfo::is_valid`]).
    pub fn decode(bytes: &[u8; RECORD_LEN]) -> BootInfo {
        let word = |at: usize| {
            let mut w = [0u8; 4];
            for (dst, src) in w.iter_mut().zip(bytes.iter().skip(at)) {
                *dst = *src;
            }
            u32::from_le_bytes(w)
        };
        let mut signature = [0u8; 16];
        for (dst, src) in signature.iter_mut().zip(bytes.iter().skip(20)) {
            *dst = *src;
        }
        BootInfo {
            active_img: word(0),
            status: word(4),
            prev_img: word(8),
            size: word(12),
            safeboot: word(16),
            signature,
            crc: word(36),
        }
    }

    /// The slot `ActiveImg` selects.
    pub fn active_slot(&self) -> Slot {
        Slot::from_img(self.active_img)
    }

    /// The slot `PrevImg` selects.
    pub fn prev_slot(&self) -> Slot {
        Slot::from_img(self.prev_img)
    }
}

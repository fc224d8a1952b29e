//! The ESP32 app-image container, byte for byte as ESP-IDF's `esp_image_format.h` and esptool's
//! `image_info` define it.
//!
//! This layer knows nothing of Pycom or Python: it lays out segments and proves them intact. The
//! bootloader's verify step and `pycom.ota_verify()` are exactly this check, so keeping it separate
//! from the payload means a slot that holds someone else's (real) ESP32 image still gets a precise
//! answer about *why* it cannot boot here.

use std::ops::Range;

use sha2::{Digest, Sha256};

use super::ImageError;

/// `ESP_IMAGE_HEADER_MAGIC`.
pub(crate) const MAGIC: u8 = 0xE9;
/// `esp_image_header_t`: 8 common bytes plus the 16-byte extended header.
pub(crate) const HEADER_LEN: usize = 24;
/// `esp_image_segment_header_t`: load address and data length.
pub(crate) const SEGMENT_HEADER_LEN: usize = 8;
/// `ESP_IMAGE_MAX_SEGMENTS`.
pub(crate) const MAX_SEGMENTS: usize = 16;
/// `ESP_ROM_CHECKSUM_INITIAL`.
const CHECKSUM_SEED: u8 = 0xEF;
/// The appended SHA-256.
pub(crate) const HASH_LEN: usize = 32;

/// SPI mode byte: DIO, what Pycom's `script` files flash with (`mode:DIO` in the ROM log).
const SPI_MODE_DIO: u8 = 2;
/// Flash size (high nibble) 4 MB — Pycom's bootloader forces 4 MB for every board
/// (`bootloader.c:496`) — and speed (low nibble) 80 MHz.
const SPI_SIZE_4MB_SPEED_80M: u8 = 0x2F;
/// `wp_pin` 0xEE: WP is not remapped to another GPIO (esptool's `WP_PIN_DISABLED`; the ROM log
/// prints it as `SPIWP:0xee`).
const WP_PIN_DISABLED: u8 = 0xEE;
/// `ESP_CHIP_ID_ESP32`.
pub(crate) const CHIP_ID_ESP32: u16 = 0;

/// Where the flash cache maps read-only data (esptool's ESP32 `MEMORY_MAP` "DROM").
pub(crate) const DROM: Range<u32> = 0x3F40_0000..0x3F80_0000;

/// A segment as stored: its load address and the file offset of its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Address the bootloader loads (RAM) or maps (flash cache) the data at.
    pub load_addr: u32,
    /// File offset of the segment's data.
    pub data_offset: usize,
    /// Data length in bytes (a multiple of 4).
    pub len: usize,
}

impl SegmentInfo {
    /// File offset of the segment's 8-byte header, just before its data — the "File offs" column
    /// of esptool's `image_info`.
    pub fn header_offset(&self) -> usize {
        self.data_offset.saturating_sub(SEGMENT_HEADER_LEN)
    }

    /// The ESP32 memory region of the load address, named as esptool names it, so `inspect`
    /// output can be compared with `esptool image_info` line by line.
    pub fn memory_type(&self) -> &'static str {
        const MAP: &[(u32, u32, &str)] = &[
            (0x3F40_0000, 0x3F80_0000, "DROM"),
            (0x3F80_0000, 0x3FC0_0000, "EXTRAM_DATA"),
            (0x3FF8_0000, 0x3FF8_2000, "RTC_DRAM"),
            (0x3FFA_E000, 0x4000_0000, "DRAM"),
            (0x4007_0000, 0x4008_0000, "CACHE"),
            (0x4008_0000, 0x400A_0000, "IRAM"),
            (0x400A_0000, 0x400B_FFFC, "DIRAM_IRAM"),
            (0x400C_0000, 0x400C_2000, "RTC_IRAM"),
            (0x400D_0000, 0x4040_0000, "IROM"),
            (0x5000_0000, 0x5000_2000, "RTC_DATA"),
        ];
        MAP.iter()
            .find(|(start, end, _)| (*start..*end).contains(&self.load_addr))
            .map_or("unknown", |(_, _, name)| name)
    }
}

/// The header fields `inspect` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub entry: u32,
    pub spi_mode: u8,
    pub spi_size_speed: u8,
}

impl Header {
    /// Flash parameters as `mode, speed, size`, the way the ROM log and esptool spell them.
    pub fn flash_summary(&self) -> String {
        let mode = match self.spi_mode {
            0 => "QIO",
            1 => "QOUT",
            2 => "DIO",
            3 => "DOUT",
            _ => "?",
        };
        let speed = match self.spi_size_speed & 0x0F {
            0x0 => "40m",
            0x1 => "26m",
            0x2 => "20m",
            0xF => "80m",
            _ => "?",
        };
        let size = match self.spi_size_speed >> 4 {
            0 => "1MB",
            1 => "2MB",
            2 => "4MB",
            3 => "8MB",
            4 => "16MB",
            _ => "?",
        };
        format!("{mode}, {speed}, {size}")
    }
}

/// A structurally sound image: every header and segment lies inside the buffer. Checksum and hash
/// are read and recomputed here but judged by [`Layout::check_integrity`], so `inspect` can report
/// both values.
#[derive(Debug, Clone)]
pub(crate) struct Layout<'a> {
    pub header: Header,
    pub segments: Vec<(SegmentInfo, &'a [u8])>,
    pub checksum_offset: usize,
    pub stored_checksum: u8,
    pub computed_checksum: u8,
    pub stored_hash: [u8; HASH_LEN],
    pub computed_hash: [u8; HASH_LEN],
    /// Image length including the appended hash; anything after it is slot filler.
    pub size: usize,
}

impl Layout<'_> {
    /// What the IDF bootloader checks before it jumps into an image.
    pub fn check_integrity(&self) -> Result<(), ImageError> {
        if self.stored_checksum != self.computed_checksum {
            return Err(ImageError::ChecksumMismatch {
                offset: self.checksum_offset,
                stored: self.stored_checksum,
                computed: self.computed_checksum,
            });
        }
        if self.stored_hash != self.computed_hash {
            return Err(ImageError::HashMismatch {
                offset: self.checksum_offset + 1,
                stored: hex(&self.stored_hash),
                computed: hex(&self.computed_hash),
            });
        }
        Ok(())
    }
}

/// Lays out an image: header, the segments (each padded with zeros to a multiple of 4), padding so
/// the checksum is the last byte of a 16-byte block, the checksum, then the SHA-256 of all of it.
pub(crate) fn assemble(entry: u32, segments: &[(u32, &[u8])]) -> Vec<u8> {
    let data_len: usize = segments
        .iter()
        .map(|(_, d)| SEGMENT_HEADER_LEN + d.len() + 3)
        .sum();
    let mut out = Vec::with_capacity(HEADER_LEN + data_len + 16 + HASH_LEN);

    // The segment count byte cannot say more than 255; callers pass a fixed handful.
    let count = u8::try_from(segments.len()).unwrap_or(u8::MAX);
    out.extend_from_slice(&[MAGIC, count, SPI_MODE_DIO, SPI_SIZE_4MB_SPEED_80M]);
    out.extend_from_slice(&entry.to_le_bytes());
    // Extended header: wp pin, 3 drive-strength bytes, chip id, legacy min rev, min/max rev full
    // (0 = "not set", as IDF v3.3 — what Pycom 1.20 was built with — predates them),
    // 4 reserved bytes, hash_appended.
    out.push(WP_PIN_DISABLED);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&CHIP_ID_ESP32.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(1);

    let mut checksum = CHECKSUM_SEED;
    for (load_addr, data) in segments {
        let padded = data.len().next_multiple_of(4);
        // A segment longer than u32 cannot exist in a 4 MB flash; saturate rather than panic.
        let len = u32::try_from(padded).unwrap_or(u32::MAX);
        out.extend_from_slice(&load_addr.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(data);
        out.resize(out.len() + (padded - data.len()), 0);
        checksum = data.iter().fold(checksum, |acc, b| acc ^ b);
    }
    out.resize(checksum_offset(out.len()), 0);
    out.push(checksum);
    let hash = Sha256::digest(&out);
    out.extend_from_slice(&hash);
    out
}

/// The checksum sits at the last byte of the 16-byte block the segments end in (esptool's
/// `align_file_position(f, 16)` before `read_checksum`).
fn checksum_offset(segments_end: usize) -> usize {
    segments_end + (15 - segments_end % 16)
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// How many bytes from the start of a slot [`read_layout`] looks at, found from the image's
/// headers alone (`read(offset, buf)` fills `buf` from the slot, false past its end): the
/// header, each segment, the checksum and the hash. A header that fails at once needs only
/// itself. `None` when a header runs past the slot, and then the whole slot is needed for
/// `read_layout` to say so.
pub(crate) fn image_extent(mut read: impl FnMut(usize, &mut [u8]) -> bool) -> Option<usize> {
    let mut header = [0u8; HEADER_LEN];
    if !read(0, &mut header) {
        return None;
    }
    let count = usize::from(header[1]);
    if header[0] != MAGIC || count == 0 || count > MAX_SEGMENTS {
        return Some(HEADER_LEN);
    }
    let mut pos = HEADER_LEN;
    for _ in 0..count {
        let mut segment = [0u8; SEGMENT_HEADER_LEN];
        if !read(pos, &mut segment) {
            return None;
        }
        let len = le_u32(&segment, 4)? as usize;
        pos = pos.checked_add(SEGMENT_HEADER_LEN)?.checked_add(len)?;
    }
    checksum_offset(pos).checked_add(1 + HASH_LEN)
}

/// Walks headers and segments without trusting any length: every read is bounds-checked, so a
/// truncated or corrupt slot yields an error naming the offset, never a panic.
pub(crate) fn read_layout(bytes: &[u8]) -> Result<Layout<'_>, ImageError> {
    let truncated = |what: &'static str, offset: usize, needed: usize| ImageError::Truncated {
        what,
        offset,
        needed,
        len: bytes.len(),
    };
    if bytes.is_empty() {
        return Err(truncated("image header", 0, HEADER_LEN));
    }
    if bytes[0] != MAGIC {
        return Err(ImageError::BadMagic { found: bytes[0] });
    }
    let header_bytes = bytes
        .get(..HEADER_LEN)
        .ok_or_else(|| truncated("image header", 0, HEADER_LEN))?;
    let count = usize::from(header_bytes[1]);
    if count == 0 || count > MAX_SEGMENTS {
        return Err(ImageError::BadSegmentCount { count });
    }
    let chip_id = u16::from_le_bytes([header_bytes[12], header_bytes[13]]);
    if chip_id != CHIP_ID_ESP32 {
        return Err(ImageError::WrongChip { chip_id });
    }
    if header_bytes[23] != 1 {
        return Err(ImageError::NoHash {
            found: header_bytes[23],
        });
    }
    let header = Header {
        entry: le_u32(header_bytes, 4).unwrap_or(0),
        spi_mode: header_bytes[2],
        spi_size_speed: header_bytes[3],
    };

    let mut pos = HEADER_LEN;
    let mut segments = Vec::with_capacity(count);
    let mut checksum = CHECKSUM_SEED;
    for index in 0..count {
        let (Some(load_addr), Some(len)) = (le_u32(bytes, pos), le_u32(bytes, pos + 4)) else {
            return Err(truncated("segment header", pos, SEGMENT_HEADER_LEN));
        };
        let len = len as usize;
        let start = pos + SEGMENT_HEADER_LEN;
        let data = start
            .checked_add(len)
            .and_then(|end| bytes.get(start..end))
            .ok_or(ImageError::SegmentOutOfBounds {
                index,
                offset: pos,
                len,
                image_len: bytes.len(),
            })?;
        if !len.is_multiple_of(4) {
            return Err(ImageError::SegmentUnaligned {
                index,
                offset: pos,
                len,
            });
        }
        checksum = data.iter().fold(checksum, |acc, b| acc ^ b);
        segments.push((
            SegmentInfo {
                load_addr,
                data_offset: start,
                len,
            },
            data,
        ));
        pos = start + len;
    }

    let checksum_offset = checksum_offset(pos);
    let stored_checksum = *bytes
        .get(checksum_offset)
        .ok_or_else(|| truncated("checksum", checksum_offset, 1))?;
    let hash_offset = checksum_offset + 1;
    let stored_hash: [u8; HASH_LEN] = bytes
        .get(hash_offset..hash_offset + HASH_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| truncated("SHA-256", hash_offset, HASH_LEN))?;
    let computed_hash: [u8; HASH_LEN] = Sha256::digest(&bytes[..hash_offset]).into();

    Ok(Layout {
        header,
        segments,
        checksum_offset,
        stored_checksum,
        computed_checksum: checksum,
        stored_hash,
        computed_hash,
        size: hash_offset + HASH_LEN,
    })
}

/// Lower-case hex, as esptool prints digests.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_lands_on_last_byte_of_a_16_byte_block() {
        for end in 0..64 {
            assert_eq!(checksum_offset(end) % 16, 15);
            assert!(checksum_offset(end) >= end && checksum_offset(end) < end + 16);
        }
    }

    #[test]
    fn memory_types_match_esptool_names() {
        let seg = |load_addr| SegmentInfo {
            load_addr,
            data_offset: 0,
            len: 0,
        };
        assert_eq!(seg(0x3F40_0020).memory_type(), "DROM");
        assert_eq!(seg(0x4008_0400).memory_type(), "IRAM");
        assert_eq!(seg(0x400D_0018).memory_type(), "IROM");
        assert_eq!(seg(0x1234).memory_type(), "unknown");
    }
}

//! Firmware images: what the virtual flash holds in each app slot.
//!
//! The simulator runs no Xtensa code, yet the bootloader (verify, rollback), OTA
//! (`pycom.ota_write`, FTP `/flash/sys/appimg.bin`) and the firmware-updater path all move whole
//! *images* around. So a pycom-sim image is a genuine ESP32 app image — esptool's `image_info`
//! reads it and finds checksum and SHA-256 valid — whose segments carry, instead of machine code,
//! what the simulated firmware needs: the version the banner prints, the boards it runs on, and
//! the frozen Python modules (`_boot.py`, `_main.py`). Swapping images then changes what boots,
//! exactly as on the module.
//!
//! # Layout
//!
//! ```text
//! 0x00  esp_image_header_t (24 bytes): magic 0xE9, segment count 3, SPI mode DIO, 4MB/80m,
//!       entry point, wp pin 0xEE, chip id 0 (ESP32), hash_appended 1
//! 0x18  segment 0, DROM @ 0x3F400020: esp_app_desc_t (256 bytes; version, project "pycom-sim",
//!       date, idf_ver) followed by the Pycom descriptor
//!       segment 1, DROM @ 0x3F400000 + its file offset: the frozen-module archive
//!       segment 2, IRAM @ 0x40080400 (= entry point): a 4-byte idle loop, never executed
//!       zero padding up to the last byte of a 16-byte block, then the checksum byte
//!       (XOR of all segment data, seeded 0xEF), then SHA-256 of everything before it
//! ```
//!
//! Both DROM segments are placed at `0x3F400000 + file offset`, the mapping the flash cache gives
//! an image that starts on a 64 KiB boundary (both app slots do), so their addresses never
//! overlap. Segment data is zero-padded to a multiple of 4. All integers are little-endian.
//!
//! **Pycom descriptor** (right after the app description): `"PYCOMDSC"`, u16 format version (1),
//! u16 board count N, then u16-length-prefixed UTF-8 strings: version, git tag, build date
//! (`YYYY-MM-DD`), and N board ids. Its version is the authoritative one; the app description's
//! 32-byte field is the copy esptool shows.
//!
//! **Frozen-module archive**: `"PYFROZEN"`, u16 format version (1), u16 module count M, then M
//! entries of {u16 name length, u32 source length, name (UTF-8, e.g. `_boot.py`), source (UTF-8)}.
//! The parser finds the archive by its magic, not by segment position.

mod cli;
mod esp32;
mod payload;

use std::io;
use std::path::PathBuf;

pub use cli::{build_command, inspect_command};
pub use esp32::SegmentInfo;

/// Board ids an image supports when the user names none: every Pycom ESP32 module of firmware 1.20.
pub const ALL_BOARDS: [&str; 7] = ["wipy3", "lopy4", "sipy", "gpy", "fipy", "wipy2", "lopy"];

/// The largest image that fits both app slots of a 4 MB board (`IMG_SIZE_4MB`, 1720 KiB); 8 MB
/// boards have bigger slots, but one image must fit every board it claims.
pub const MAX_IMAGE_SIZE: usize = 1720 * 1024;

/// Entry point: inside the IRAM stub segment, where a real IDF app's `call_start_cpu0` lives.
const ENTRY: u32 = 0x4008_0400;
/// `loop: j loop` in Xtensa (J with offset -4), then a zero byte to make the segment 4 bytes long.
const ENTRY_STUB: [u8; 4] = [0x06, 0xFF, 0xFF, 0x00];

/// The hint every "this image is damaged" error ends with.
const REBUILD_HINT: &str = "the image is damaged or incomplete: rebuild it (`pycom-sim image build`) \
     or write a good image to the slot";

/// What goes into an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// `SW_VERSION_NUMBER`, e.g. `1.20.2.r4`.
    pub version: String,
    /// `MICROPY_GIT_TAG` (`git describe` output), e.g. `v1.11-ffb0e1c`.
    pub git_tag: String,
    /// `MICROPY_BUILD_DATE`, `YYYY-MM-DD`.
    pub build_date: String,
    /// Board ids (`boards/<id>.toml` stems) the image may boot on.
    pub boards: Vec<String>,
    /// Frozen modules as (file name, source text), e.g. (`_boot.py`, …), in archive order.
    pub frozen: Vec<(String, String)>,
}

/// A parsed, verified image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareImage {
    /// Everything the image was built from; `build_image(&img.spec)` reproduces the image.
    pub spec: ImageSpec,
    /// Header entry point.
    pub entry: u32,
    /// Segments in file order.
    pub segments: Vec<SegmentInfo>,
    /// `esp_app_desc_t.project_name`.
    pub project_name: String,
    /// `esp_app_desc_t.idf_ver`.
    pub idf_version: String,
    /// The checksum byte (verified).
    pub checksum: u8,
    /// Image length in bytes, including the appended SHA-256; bytes after it are slot filler.
    pub size: usize,
    /// The appended SHA-256 (verified).
    pub sha256: [u8; 32],
}

impl FirmwareImage {
    /// Source of a frozen module by file name (`_boot.py`) or module name (`_boot`), so both the
    /// boot sequence and an `import` can look it up.
    pub fn frozen_module(&self, name: &str) -> Option<&str> {
        let find = |wanted: &str| {
            self.spec
                .frozen
                .iter()
                .find(|(n, _)| n == wanted)
                .map(|(_, src)| src.as_str())
        };
        find(name).or_else(|| find(&format!("{name}.py")))
    }

    /// Whether the image lists `board_id` among the boards it supports.
    pub fn supports_board(&self, board_id: &str) -> bool {
        self.spec.boards.iter().any(|b| b == board_id)
    }

    /// The first banner line (reference §10.1), without the line ending:
    /// `Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; LoPy4 with ESP32`.
    pub fn banner(&self, board_name: &str) -> String {
        format!(
            "Pycom MicroPython {} [{}] on {}; {board_name} with ESP32",
            self.spec.version, self.spec.git_tag, self.spec.build_date
        )
    }

    /// The appended SHA-256 in lower-case hex, as esptool prints it.
    pub fn sha256_hex(&self) -> String {
        esp32::hex(&self.sha256)
    }
}

/// Everything that can be wrong with an image or an image command. Each message says what is
/// wrong, where (file offset), and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "image too short: the {what} at offset {offset:#x} needs {needed} bytes but the data ends \
         at {len:#x} ({len} bytes); {REBUILD_HINT}"
    )]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: usize,
        len: usize,
    },

    #[error(
        "not an ESP32 app image: byte 0 is {found:#04x}, the image magic is 0xe9 (an erased slot \
         reads 0xff); write a firmware image built with `pycom-sim image build`"
    )]
    BadMagic { found: u8 },

    #[error(
        "bad image header: offset 0x1 says {count} segments, an app image has 1 to 16; \
         {REBUILD_HINT}"
    )]
    BadSegmentCount { count: usize },

    #[error(
        "image is for another chip: chip id {chip_id} at offset 0xc, ESP32 is 0; \
         use an image built for the ESP32"
    )]
    WrongChip { chip_id: u16 },

    #[error(
        "image has no appended SHA-256: hash_appended at offset 0x17 is {found}, not 1; \
         the Pycom bootloader verifies that hash, so rebuild the image with it \
         (`pycom-sim image build` always appends it)"
    )]
    NoHash { found: u8 },

    #[error(
        "segment {index} (header at offset {offset:#x}) claims {len} bytes, past the end of the \
         data at {image_len:#x}; {REBUILD_HINT}"
    )]
    SegmentOutOfBounds {
        index: usize,
        offset: usize,
        len: usize,
        image_len: usize,
    },

    #[error(
        "segment {index} (header at offset {offset:#x}) is {len} bytes long, not a multiple of 4 \
         as the bootloader requires; {REBUILD_HINT}"
    )]
    SegmentUnaligned {
        index: usize,
        offset: usize,
        len: usize,
    },

    #[error(
        "checksum mismatch: the byte at offset {offset:#x} is {stored:#04x} but the segment data \
         XORs to {computed:#04x}, so segment data was altered; {REBUILD_HINT}"
    )]
    ChecksumMismatch {
        offset: usize,
        stored: u8,
        computed: u8,
    },

    #[error(
        "SHA-256 mismatch: the hash at offset {offset:#x} is {stored} but the image hashes to \
         {computed}; {REBUILD_HINT}"
    )]
    HashMismatch {
        offset: usize,
        stored: String,
        computed: String,
    },

    #[error(
        "no app description at offset {offset:#x}: {reason}; this is not an image pycom-sim \
         built, and it can only boot its own images (`pycom-sim image build`)"
    )]
    AppDesc { offset: usize, reason: String },

    #[error("bad Pycom descriptor at offset {offset:#x}: {reason}; {REBUILD_HINT}")]
    Descriptor { offset: usize, reason: String },

    #[error("bad frozen-module archive at offset {offset:#x}: {reason}; {REBUILD_HINT}")]
    Archive { offset: usize, reason: String },

    #[error(
        "invalid firmware version {version:?}: expected MAJOR.MINOR.PATCH with an optional .rN, \
         .rcN or .bN suffix, at most 31 characters, like 1.20.2.r4, 1.20.2.rc9 or 1.18.0"
    )]
    InvalidVersion { version: String },

    #[error("invalid {field} {value:?}: {expected}")]
    InvalidField {
        field: &'static str,
        value: String,
        expected: String,
    },

    #[error(
        "frozen module file {path}: {reason}; frozen modules must be UTF-8 Python source files \
         named *.py"
    )]
    FrozenFile { path: PathBuf, reason: String },

    #[error(
        "image is {size} bytes, larger than an app slot ({max} bytes on 4 MB boards); \
         freeze fewer or smaller modules"
    )]
    TooLarge { size: usize, max: usize },

    #[error(
        "refusing to overwrite {path}: {reason}. Nothing was written and the file is untouched; \
         choose another output path, or delete the file yourself if it is not needed"
    )]
    WouldOverwrite { path: PathBuf, reason: String },

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Builds the image for `spec`. Deterministic: the same spec always gives the same bytes, because
/// no clock or randomness goes in. It does not validate `spec` (call [`validate_spec`] for user
/// input); over-long fields are cut to what the format can hold.
pub fn build_image(spec: &ImageSpec) -> Vec<u8> {
    use sha2::{Digest, Sha256};

    let descriptor =
        payload::descriptor(&spec.version, &spec.git_tag, &spec.build_date, &spec.boards);
    let archive = payload::archive(&spec.frozen);
    // No ELF exists to fill app_elf_sha256, so it hashes what distinguishes one build from another.
    let mut hasher = Sha256::new();
    hasher.update(&descriptor);
    hasher.update(&archive);
    let content_hash: [u8; 32] = hasher.finalize().into();

    let mut first = payload::app_desc(&spec.version, &spec.build_date, &content_hash);
    first.extend_from_slice(&descriptor);
    first.resize(first.len().next_multiple_of(4), 0);

    let first_offset = esp32::HEADER_LEN + esp32::SEGMENT_HEADER_LEN;
    let archive_offset = first_offset + first.len() + esp32::SEGMENT_HEADER_LEN;
    let drom_addr = |data_offset: usize| {
        esp32::DROM
            .start
            .saturating_add(u32::try_from(data_offset).unwrap_or(u32::MAX))
    };

    esp32::assemble(
        ENTRY,
        &[
            (drom_addr(first_offset), first.as_slice()),
            (drom_addr(archive_offset), archive.as_slice()),
            (ENTRY, ENTRY_STUB.as_slice()),
        ],
    )
}

/// How many bytes at the start of a slot of `slot_len` bytes [`parse_image`] looks at, read
/// from the image's headers through `read(offset, buf)`. An app slot is 1.5–2 MiB and mostly
/// erased; bringing all of it in at every boot was a tenth of a scenario suite's time. Parsing
/// just these bytes gives what parsing the whole slot gives.
pub fn image_extent(slot_len: usize, mut read: impl FnMut(usize, &mut [u8]) -> bool) -> usize {
    esp32::image_extent(|at, buf| at + buf.len() <= slot_len && read(at, buf))
        .map_or(slot_len, |extent| extent.min(slot_len))
}

/// Parses and verifies an image: header, segment bounds, checksum, SHA-256, then the app
/// description, Pycom descriptor and frozen archive. `bytes` may be a whole flash slot: whatever
/// follows the image (0xFF filler, or leftovers of an older, longer image) is ignored, as the
/// bootloader ignores it.
pub fn parse_image(bytes: &[u8]) -> Result<FirmwareImage, ImageError> {
    let layout = esp32::read_layout(bytes)?;
    layout.check_integrity()?;
    decode(&layout)
}

/// The bootloader's accept/reject decision for a slot (OTA verify, rollback). An image pycom-sim
/// cannot read counts as invalid even if its checksum holds, because booting it would leave the
/// simulated device with no firmware to run — rolling back is what a person would want.
pub fn verify_image(bytes: &[u8]) -> bool {
    parse_image(bytes).is_ok()
}

/// Reads the payload out of a verified layout.
fn decode(layout: &esp32::Layout<'_>) -> Result<FirmwareImage, ImageError> {
    let Some(&(first, first_data)) = layout.segments.first() else {
        return Err(ImageError::BadSegmentCount { count: 0 });
    };
    if !esp32::DROM.contains(&first.load_addr) {
        return Err(ImageError::AppDesc {
            offset: first.data_offset,
            reason: format!(
                "segment 0 loads at {:#010x}, outside DROM (0x3f400000..0x3f800000) where the \
                 description must be",
                first.load_addr
            ),
        });
    }
    let desc = payload::parse_app_desc(first_data, first.data_offset)?;
    let after_desc = first_data.get(payload::APP_DESC_LEN..).unwrap_or_default();
    let (version, git_tag, build_date, boards) =
        payload::parse_descriptor(after_desc, first.data_offset + payload::APP_DESC_LEN)?;

    let (archive_seg, archive_data) = layout
        .segments
        .iter()
        .skip(1)
        .find(|(_, data)| payload::is_archive(data))
        .ok_or_else(|| ImageError::Archive {
            offset: first.data_offset + first.len,
            reason: format!(
                "none of the {} segments after the first starts with the archive magic \"PYFROZEN\"",
                layout.segments.len() - 1
            ),
        })?;
    let frozen = payload::parse_archive(archive_data, archive_seg.data_offset)?;

    Ok(FirmwareImage {
        spec: ImageSpec {
            version,
            git_tag,
            build_date,
            boards,
            frozen,
        },
        entry: layout.header.entry,
        segments: layout.segments.iter().map(|(info, _)| *info).collect(),
        project_name: desc.project_name,
        idf_version: desc.idf_ver,
        checksum: layout.stored_checksum,
        size: layout.size,
        sha256: layout.stored_hash,
    })
}

/// The firmware pycom-sim ships: Pycom 1.20.2.r4 as released (reference §10.1), for every board,
/// with the frozen modules of `firmware/frozen/`.
pub fn default_spec() -> ImageSpec {
    ImageSpec {
        version: "1.20.2.r4".to_owned(),
        git_tag: "v1.11-ffb0e1c".to_owned(),
        build_date: "2021-01-12".to_owned(),
        boards: ALL_BOARDS.iter().map(|b| (*b).to_owned()).collect(),
        frozen: vec![
            (
                "_boot.py".to_owned(),
                include_str!("../../firmware/frozen/_boot.py").to_owned(),
            ),
            (
                "_main.py".to_owned(),
                include_str!("../../firmware/frozen/_main.py").to_owned(),
            ),
        ],
    }
}

/// The default image, the same bytes on every call and every machine.
pub fn default_image() -> Vec<u8> {
    build_image(&default_spec())
}

/// Checks a firmware version string: `MAJOR.MINOR.PATCH` plus an optional `.rN` (release),
/// `.rcN` (release candidate) or `.bN` (beta) — the forms Pycom released under.
pub fn validate_version(version: &str) -> Result<(), ImageError> {
    let digits = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = version.split('.').collect();
    let ok = version.len() <= 31
        && match parts.as_slice() {
            [a, b, c] => digits(a) && digits(b) && digits(c),
            [a, b, c, suffix] => {
                let tail = suffix
                    .strip_prefix("rc")
                    .or_else(|| suffix.strip_prefix('r'))
                    .or_else(|| suffix.strip_prefix('b'));
                digits(a) && digits(b) && digits(c) && tail.is_some_and(digits)
            }
            _ => false,
        };
    if ok {
        Ok(())
    } else {
        Err(ImageError::InvalidVersion {
            version: version.to_owned(),
        })
    }
}

fn invalid(field: &'static str, value: &str, expected: impl Into<String>) -> ImageError {
    ImageError::InvalidField {
        field,
        value: value.to_owned(),
        expected: expected.into(),
    }
}

fn validate_date(date: &str) -> Result<(), ImageError> {
    let bad = || {
        invalid(
            "build date",
            date,
            "expected a real calendar date as YYYY-MM-DD, like 2021-01-12",
        )
    };
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| {
        date.get(r)
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))?
            .parse::<u32>()
            .ok()
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return Err(bad());
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if (1..=days).contains(&d) {
        Ok(())
    } else {
        Err(bad())
    }
}

fn validate_frozen_name(name: &str) -> Result<(), ImageError> {
    let expected = "expected a relative path of .py files like `_boot.py` or `lib/util.py` \
                    (no empty, `.` or `..` parts, no backslashes, at most 255 bytes)";
    let parts_ok = name
        .split('/')
        .all(|p| !p.is_empty() && p != "." && p != "..");
    if name.len() > 255 || !name.ends_with(".py") || name.contains('\\') || !parts_ok {
        return Err(invalid("frozen module name", name, expected));
    }
    Ok(())
}

/// Checks a spec before it is built from user input, so mistakes are reported instead of being
/// baked into an image the banner would then print.
pub fn validate_spec(spec: &ImageSpec) -> Result<(), ImageError> {
    validate_version(&spec.version)?;
    let tag_ok = (1..=64).contains(&spec.git_tag.len())
        && spec.git_tag.bytes().all(|b| b.is_ascii_graphic());
    if !tag_ok {
        return Err(invalid(
            "git tag",
            &spec.git_tag,
            "expected `git describe` output: 1 to 64 printable ASCII characters without spaces, \
             like v1.11-ffb0e1c",
        ));
    }
    validate_date(&spec.build_date)?;
    if spec.boards.len() > 64 {
        return Err(invalid(
            "board list",
            &spec.boards.join(","),
            "at most 64 boards",
        ));
    }
    if spec.frozen.len() > usize::from(u16::MAX) {
        return Err(invalid("frozen module list", "", "at most 65535 modules"));
    }
    if spec.boards.is_empty() {
        return Err(invalid(
            "board list",
            "",
            format!("name at least one board, from {}", ALL_BOARDS.join(", ")),
        ));
    }
    for (i, board) in spec.boards.iter().enumerate() {
        let ok = (1..=16).contains(&board.len())
            && board
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok {
            return Err(invalid(
                "board id",
                board,
                format!(
                    "expected a board file stem in lower case letters and digits, like {}",
                    ALL_BOARDS.join(", ")
                ),
            ));
        }
        if spec.boards[..i].contains(board) {
            return Err(invalid("board id", board, "each board may be listed once"));
        }
    }
    for (i, (name, _)) in spec.frozen.iter().enumerate() {
        validate_frozen_name(name)?;
        if spec.frozen[..i].iter().any(|(n, _)| n == name) {
            return Err(invalid(
                "frozen module name",
                name,
                "each module may be frozen once",
            ));
        }
    }
    Ok(())
}

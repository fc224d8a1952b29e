//! Boards as data: `boards/*.toml`, one file per module (names, flash, pins, partitions).
//!
//! The TOML files are compiled into the binary (so `pycom-sim` works from any directory) and a
//! user may load their own with `--board-file`.

use serde::Deserialize;

/// One module pin: the names a user may call it by and what the pad can do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinDef {
    /// Module name, e.g. `P12`.
    pub name: String,
    /// ESP32 GPIO number, e.g. 21.
    pub gpio: u8,
    /// Expansion-board name, e.g. `G28`.
    pub exp_board: String,
    /// GPIO34-39 pads cannot drive an output.
    #[serde(default)]
    pub input_only: bool,
}

/// One partition-table entry (ESP-IDF `gen_esp32part.py` fields).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionDef {
    pub name: String,
    /// `app` or `data`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `factory`, `ota_0`, `ota`, `nvs`, or a number for Pycom's custom data subtypes.
    pub subtype: String,
    pub offset: u32,
    pub size: u32,
}

/// Where the `/flash` filesystem lives (not always in the partition table: 8 MB boards keep it at
/// a fixed address outside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub offset: u32,
    pub size: u32,
}

/// A board, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// The id used on the command line (`lopy4`), the file stem.
    pub id: String,
    /// `MICROPY_HW_BOARD_NAME`: what the banner and `sys.platform` say (`LoPy4`).
    pub name: String,
    /// Flash chip size in bytes (0x400000 or 0x800000).
    pub flash_size: u32,
    /// Whether the module has PSRAM.
    pub psram: bool,
    pub lora: bool,
    pub sigfox: bool,
    pub lte: bool,
    /// Every module pin.
    pub pins: Vec<PinDef>,
    /// Module name of the safe-boot pin (`P12`).
    pub safe_boot_pin: String,
    /// Module name of the ROM download strap (`P2`, i.e. G23 / GPIO0).
    pub strap_pin: String,
    /// Module name of the RGB LED data pin (`P2`).
    pub led_pin: String,
    /// The partition table written at 0x8000.
    pub partitions: Vec<PartitionDef>,
    /// The `/flash` filesystem region.
    pub fs: Region,
    /// The 4 KiB Pycom config block (0x3FF000).
    pub config: Region,
}

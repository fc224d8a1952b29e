//! Boards as data: `boards/*.toml`, one file per module (names, flash, pins, partitions).
//!
//! The TOML files are compiled into the binary (so `pycom-sim` works from any directory) and a
//! user may load their own with `--board-file`. Board differences live in data rather than code,
//! as esp-hal keeps its chip TOMLs and probe-rs its targets, so adding a board never touches the
//! simulator. Everything a file says is checked once here; the rest of the simulator then relies
//! on a [`Board`] being consistent (pins exist, partitions fit, otadata is present) without
//! re-checking.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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

impl Region {
    /// One past the last byte, widened so a region at the top of a 4 GiB space cannot wrap.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.size)
    }

    /// Whether the two byte ranges share at least one byte.
    pub fn overlaps(&self, other: &Region) -> bool {
        u64::from(self.offset) < other.end() && u64::from(other.offset) < self.end()
    }
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
    /// Bytes in MicroPython's GC heap as `gc.mem_free() + gc.mem_alloc()` report it: the pool
    /// the firmware allocates (2.5 MiB with PSRAM, 67 KiB without) less its block tables. An
    /// object that does not fit raises `MemoryError`.
    pub gc_heap: u32,
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
    /// What a person reads in listings and `--help`, e.g.
    /// `Pycom LoPy4 (ESP32, 8 MB flash, 4 MB PSRAM, LoRa + Sigfox)`; the banner name alone cannot
    /// tell WiPy 2.0 from WiPy 3.0.
    pub description: String,
    /// `DEFAULT_AP_SSID` (`lopy4-wlan`): the firmware's default access point adds `-xxxx` from
    /// the MAC (reference §9.4).
    pub ap_ssid: String,
}

/// Why a board could not be loaded. Every variant names the file (or the id asked for) and says
/// what to change, because the person reading it is usually editing a board file by hand.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The file could not be read at all.
    #[error("cannot read board file {}: {source}; check the path and its permissions", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key, or a value of the wrong type. `message` is the
    /// whole text: `file:line:column`, the table, toml's reason (which lists the allowed keys or
    /// values) and the offending line.
    #[error("{message}")]
    Syntax { file: String, message: String },
    /// The TOML parsed but describes an impossible board.
    #[error("{file}: `{key}`: {problem}; fix: {fix}")]
    Invalid {
        file: String,
        key: String,
        problem: String,
        fix: String,
    },
    /// `--board` named something that is not built in.
    #[error(
        "unknown board `{id}`; built-in boards are: {}; or load your own with --board-file",
        known.join(", ")
    )]
    UnknownBuiltin {
        id: String,
        known: Vec<&'static str>,
    },
}

/// The built-in board files, embedded so the binary works from any directory. Order is the order
/// of `pycom-sim boards`: current boards first, then the first-generation 4 MB ones.
const BUILTIN: [(&str, &str); 7] = [
    ("wipy3", include_str!("../boards/wipy3.toml")),
    ("lopy4", include_str!("../boards/lopy4.toml")),
    ("sipy", include_str!("../boards/sipy.toml")),
    ("gpy", include_str!("../boards/gpy.toml")),
    ("fipy", include_str!("../boards/fipy.toml")),
    ("wipy2", include_str!("../boards/wipy2.toml")),
    ("lopy", include_str!("../boards/lopy.toml")),
];

/// The board `pycom-sim` emulates when none is named: the most common current module.
const DEFAULT_ID: &str = "lopy4";

const MIB: u32 = 0x10_0000;
/// NOR flash erase unit; partitions and regions must start and end on it.
const SECTOR: u32 = 0x1000;
/// ESP-IDF maps app images through the MMU in 64 KiB pages.
const APP_ALIGN: u32 = 0x1_0000;
/// Second-stage bootloader at 0x1000 and partition table at 0x8000 occupy everything below this.
const FIRST_PARTITION_OFFSET: u32 = 0x9000;
/// The bootloader reads otadata as a fixed table entry (`OTA_DATA_INDEX 2`, reference §5.2).
const OTADATA_INDEX: usize = 2;
/// ESP-IDF's partition-table name field is 16 bytes (NUL-padded, not NUL-terminated).
const MAX_PARTITION_NAME: usize = 16;

// ---------------------------------------------------------------------------------------------
// The TOML schema. These structs mirror the file one to one, so serde's own "unknown field,
// expected one of" errors list exactly the keys a person may write.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    board: RawBoard,
    flash: RawFlash,
    #[serde(rename = "partition")]
    partitions: Vec<RawPartition>,
    #[serde(rename = "pin")]
    pins: Vec<PinDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    name: String,
    description: String,
    ap_ssid: String,
    psram: bool,
    gc_heap: u32,
    #[serde(default)]
    radios: Vec<Radio>,
    safe_boot_pin: String,
    strap_pin: String,
    led_pin: String,
}

/// Radios beyond WiFi and BLE, which every board has.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Radio {
    Lora,
    Sigfox,
    Lte,
}

impl Radio {
    fn as_str(self) -> &'static str {
        match self {
            Radio::Lora => "lora",
            Radio::Sigfox => "sigfox",
            Radio::Lte => "lte",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlash {
    size: u32,
    fs: Region,
    config: Region,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartition {
    name: String,
    #[serde(rename = "type")]
    kind: PartitionKind,
    subtype: Subtype,
    offset: u32,
    size: u32,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum PartitionKind {
    App,
    Data,
}

impl PartitionKind {
    fn as_str(self) -> &'static str {
        match self {
            PartitionKind::App => "app",
            PartitionKind::Data => "data",
        }
    }
}

/// A subtype as written: a name (`"nvs"`) or, for Pycom's custom data partitions, a number
/// (`5`, `"5"` or `"0x05"`), because `partitions_*.csv` writes them as bare numbers.
struct Subtype(String);

impl<'de> Deserialize<'de> for Subtype {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Subtype;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a subtype name such as \"nvs\" or \"factory\", or a number 0-254")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Subtype, E> {
                Ok(Subtype(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Subtype, E> {
                Ok(Subtype(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Subtype, E> {
                Ok(Subtype(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// ESP-IDF's named data subtypes as of the v3.3 IDF Pycom builds with (`gen_esp32part.py`).
const DATA_SUBTYPES: [&str; 10] = [
    "ota",
    "phy",
    "nvs",
    "coredump",
    "nvs_keys",
    "efuse",
    "undefined",
    "esphttpd",
    "fat",
    "spiffs",
];

/// Normalises a subtype for `kind`: names lower-cased, numbers to decimal. `None` if unknown.
fn normalise_subtype(kind: PartitionKind, raw: &str) -> Option<String> {
    let lower = raw.trim().to_ascii_lowercase();
    match kind {
        PartitionKind::App => {
            // `ota_3`, not `ota_03`: the name must round-trip through the number.
            let ota = lower
                .strip_prefix("ota_")
                .and_then(|n| n.parse::<u8>().ok())
                .is_some_and(|n| n <= 15 && format!("ota_{n}") == lower);
            let ok = lower == "factory" || lower == "test" || ota;
            ok.then_some(lower)
        }
        PartitionKind::Data => {
            if DATA_SUBTYPES.contains(&lower.as_str()) {
                return Some(lower);
            }
            let number = match lower.strip_prefix("0x") {
                Some(hex) => u8::from_str_radix(hex, 16).ok(),
                None => lower.parse::<u8>().ok(),
            };
            number.filter(|&n| n != 0xFF).map(|n| n.to_string())
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// Builds validation errors for one file, so every check reads as one line.
struct Checker<'a> {
    file: &'a str,
}

impl Checker<'_> {
    fn fail<T>(
        &self,
        key: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Result<T, BoardError> {
        Err(BoardError::Invalid {
            file: self.file.to_owned(),
            key: key.into(),
            problem: problem.into(),
            fix: fix.into(),
        })
    }
}

fn pin_key(pin: &PinDef, field: &str) -> String {
    format!("pin.\"{}\".{field}", pin.name)
}

fn part_key(name: &str, field: &str) -> String {
    format!("partition.\"{name}\".{field}")
}

/// ESP32 pads that exist and are free for the user: 20, 24 and 28-31 are not bonded out, and
/// 6-11 drive the SPI flash the firmware runs from.
fn gpio_usable(gpio: u8) -> bool {
    matches!(gpio, 0..=5 | 12..=19 | 21..=23 | 25..=27 | 32..=39)
}

impl Board {
    /// Parses and validates one board file. `id` is what `--board` calls it; `source_name` is
    /// used only in error messages (a path, or `boards/lopy4.toml (built in)`).
    pub fn parse(id: &str, source_name: &str, text: &str) -> Result<Board, BoardError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| syntax_error(source_name, text, &e))?;
        validate(id, source_name, raw)
    }

    /// Loads a user's board file (`--board-file`). The id is the file stem, as for built-ins.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Board, BoardError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| BoardError::Io {
            path: path.to_owned(),
            source,
        })?;
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        Board::parse(&id, &path.display().to_string(), &text)
    }

    /// A board compiled into the binary, by id (case-insensitive).
    pub fn builtin(id: &str) -> Result<Board, BoardError> {
        let wanted = id.trim().to_ascii_lowercase();
        match BUILTIN.iter().find(|(known, _)| *known == wanted) {
            Some((known, text)) => {
                // Parsed once per process: a scenario suite asks for its board once a file.
                type Parsed = std::sync::Mutex<Vec<(&'static str, Board)>>;
                static PARSED: Parsed = std::sync::Mutex::new(Vec::new());
                if let Some((_, board)) = PARSED
                    .lock()
                    .ok()
                    .as_deref()
                    .and_then(|p| p.iter().find(|(id, _)| id == known))
                {
                    return Ok(board.clone());
                }
                let board = Board::parse(known, &format!("boards/{known}.toml (built in)"), text)?;
                if let Ok(mut parsed) = PARSED.lock() {
                    parsed.push((known, board.clone()));
                }
                Ok(board)
            }
            None => Err(BoardError::UnknownBuiltin {
                id: id.to_owned(),
                known: Board::builtin_ids(),
            }),
        }
    }

    /// Ids of the built-in boards, in listing order.
    pub fn builtin_ids() -> Vec<&'static str> {
        BUILTIN.iter().map(|(id, _)| *id).collect()
    }

    /// Every built-in board, in listing order. Fails only if a shipped file is broken, which the
    /// test suite rules out.
    pub fn all_builtin() -> Result<Vec<Board>, BoardError> {
        BUILTIN.iter().map(|(id, _)| Board::builtin(id)).collect()
    }

    /// The board used when none is named.
    pub fn default_id() -> &'static str {
        DEFAULT_ID
    }

    /// Looks a pin up the way `machine.Pin('…')` does: the expansion-board name (`G28`) first,
    /// then the module name (`P12`). Case-insensitive, so a scenario may write `p12`.
    pub fn pin(&self, name: &str) -> Option<&PinDef> {
        self.pins
            .iter()
            .find(|p| p.exp_board.eq_ignore_ascii_case(name))
            .or_else(|| self.pins.iter().find(|p| p.name.eq_ignore_ascii_case(name)))
    }

    /// The module pin wired to an ESP32 GPIO, for code that thinks in pads (strap, LED driver).
    pub fn pin_by_gpio(&self, gpio: u8) -> Option<&PinDef> {
        self.pins.iter().find(|p| p.gpio == gpio)
    }

    /// A partition-table entry by its exact name (`otadata`, `ota_0`).
    pub fn partition(&self, name: &str) -> Option<&PartitionDef> {
        self.partitions.iter().find(|p| p.name == name)
    }

    /// Where `boot_info_t` lives. Validation guarantees the entry; a hand-built `Board` without
    /// one gets Pycom's standard offset for its flash size rather than a panic.
    pub fn otadata_offset(&self) -> u32 {
        self.partition_offset_or("otadata", 0x1BE000, 0x1FF000)
    }

    /// Image slot 0 (`IMG_FACTORY_OFFSET`).
    pub fn factory_offset(&self) -> u32 {
        self.partition_offset_or("factory", 0x10000, 0x10000)
    }

    /// Image slot 1 (`IMG_UPDATE1_OFFSET_4MB` / `_8MB`).
    pub fn ota0_offset(&self) -> u32 {
        self.partition_offset_or("ota_0", 0x1C0000, 0x210000)
    }

    fn partition_offset_or(&self, name: &str, four_mb: u32, eight_mb: u32) -> u32 {
        self.partition(name).map_or(
            if self.flash_size >= 8 * MIB {
                eight_mb
            } else {
                four_mb
            },
            |p| p.offset,
        )
    }

    /// The size of an app slot: both slots are the same size on Pycom layouts, and an image
    /// larger than this cannot be flashed or OTA'd.
    pub fn app_slot_size(&self) -> u32 {
        let factory = self.partition("factory").map_or(0, |p| p.size);
        let ota0 = self.partition("ota_0").map_or(0, |p| p.size);
        factory.min(ota0)
    }

    /// GPIO of the safe-boot pin (21 unless a board file says otherwise).
    pub fn safe_boot_gpio(&self) -> u8 {
        self.pin(&self.safe_boot_pin).map_or(21, |p| p.gpio)
    }

    /// GPIO of the ROM download strap (always 0 on an ESP32; validation enforces it).
    pub fn strap_gpio(&self) -> u8 {
        self.pin(&self.strap_pin).map_or(0, |p| p.gpio)
    }

    /// GPIO of the RGB LED data line (`MICROPY_HW_HB_PIN_NUM`, 0 on every Pycom board).
    pub fn led_gpio(&self) -> u8 {
        self.pin(&self.led_pin).map_or(0, |p| p.gpio)
    }

    /// Flash size as people say it: `4 MB`, `8 MB`.
    pub fn flash_text(&self) -> String {
        format!("{} MB", self.flash_size / MIB)
    }

    /// The radios beyond WiFi and BLE, `-` if none: `LoRa, Sigfox`.
    pub fn radios_text(&self) -> String {
        let radios: Vec<&str> = [
            (self.lora, "LoRa"),
            (self.sigfox, "Sigfox"),
            (self.lte, "LTE"),
        ]
        .into_iter()
        .filter_map(|(has, name)| has.then_some(name))
        .collect();
        if radios.is_empty() {
            "-".to_owned()
        } else {
            radios.join(", ")
        }
    }

    /// One aligned row for listings: id, banner name, flash, PSRAM, radios, description.
    pub fn summary_line(&self) -> String {
        format!(
            "{:<6}  {:<6}  {:<5}  {:<5}  {:<18}  {}",
            self.id,
            self.name,
            self.flash_text(),
            if self.psram { "yes" } else { "no" },
            self.radios_text(),
            self.description
        )
    }
}

/// The text of `pycom-sim boards`: every built-in board, the default marked.
pub fn list_text() -> String {
    let mut out = String::from("Built-in boards:\n\n");
    let _ = writeln!(
        out,
        "  {:<6}  {:<6}  {:<5}  {:<5}  {:<18}  DESCRIPTION",
        "ID", "NAME", "FLASH", "PSRAM", "RADIOS"
    );
    for id in Board::builtin_ids() {
        let mark = if id == DEFAULT_ID { '*' } else { ' ' };
        match Board::builtin(id) {
            Ok(board) => {
                let _ = writeln!(out, "{mark} {}", board.summary_line());
            }
            Err(e) => {
                let _ = writeln!(out, "{mark} {id:<6}  (broken: {e})");
            }
        }
    }
    out.push_str("\n(* = default) Every board also has WiFi and Bluetooth LE.\n");
    out
}

/// Turns toml's error into `file:line:col: in [table]: reason` plus the offending line. toml's
/// reason already names the bad key and lists the allowed ones; what it lacks is the file name
/// and, for keys inside `[[pin]]` or `[flash]`, which table the key was in.
fn syntax_error(file: &str, text: &str, err: &toml::de::Error) -> BoardError {
    let reason = err.message().trim_end();
    let Some(span) = err.span() else {
        return BoardError::Syntax {
            file: file.to_owned(),
            message: format!("{file}: {reason}"),
        };
    };
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    let line_text = text
        .get(line_start..)
        .and_then(|rest| rest.lines().next())
        .unwrap_or("");
    // The nearest table header at or above the error names the table the key belongs to.
    let table = text
        .get(..line_start + line_text.len())
        .unwrap_or("")
        .lines()
        .rev()
        .map(str::trim_start)
        .find(|l| l.starts_with('['))
        .map(|l| l.split('#').next().unwrap_or(l).trim_end().to_owned());
    let context = table.map(|t| format!("in {t}: ")).unwrap_or_default();
    let width = line_no.to_string().len();
    let caret_len = text
        .get(span.clone())
        .and_then(|s| s.lines().next())
        .map_or(1, |s| s.chars().count().max(1));
    let message = format!(
        "{file}:{line_no}:{column}: {context}{reason}\n{:width$} |\n{line_no} | {line_text}\n{:width$} | {}{}",
        "",
        "",
        " ".repeat(column - 1),
        "^".repeat(caret_len),
    );
    BoardError::Syntax {
        file: file.to_owned(),
        message,
    }
}

fn validate(id: &str, file: &str, raw: RawFile) -> Result<Board, BoardError> {
    let c = Checker { file };
    let RawFile {
        board,
        flash,
        partitions: raw_partitions,
        pins,
    } = raw;

    if id.is_empty()
        || !id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
    {
        return c.fail(
            "(file name)",
            format!("board id `{id}` (taken from the file name) is not a simple name"),
            "name the file like `myboard.toml`, using letters, digits, `-` or `_`",
        );
    }
    if board.name.trim().is_empty() || board.name.chars().any(char::is_whitespace) {
        return c.fail(
            "board.name",
            format!(
                "`{}` is not a banner name (it must be one word)",
                board.name
            ),
            "use the firmware's MICROPY_HW_BOARD_NAME, e.g. `name = \"LoPy4\"`",
        );
    }

    // Radios.
    let mut radios: Vec<Radio> = Vec::new();
    for r in &board.radios {
        if radios.contains(r) {
            return c.fail(
                "board.radios",
                format!("`{}` is listed twice", r.as_str()),
                "list each of \"lora\", \"sigfox\", \"lte\" at most once",
            );
        }
        radios.push(*r);
    }

    // Flash size.
    if flash.size != 4 * MIB && flash.size != 8 * MIB {
        return c.fail(
            "flash.size",
            format!(
                "{:#X} ({:.2} MiB) is not a Pycom flash size",
                flash.size,
                f64::from(flash.size) / f64::from(MIB)
            ),
            "use `size = 0x400000` (4 MiB, revision-0 boards) or `size = 0x800000` (8 MiB, revision-1 boards with PSRAM)",
        );
    }

    check_pins(&c, &pins)?;

    // Role pins, stored by module name whichever name the file used.
    let find = |name: &str| {
        pins.iter()
            .find(|p| p.exp_board.eq_ignore_ascii_case(name))
            .or_else(|| pins.iter().find(|p| p.name.eq_ignore_ascii_case(name)))
    };
    let role = |key: &str, name: &str| {
        match find(name) {
        Some(p) => Ok(p.clone()),
        None => c.fail(
            key,
            format!("there is no pin `{name}` in this file"),
            "name one of the [[pin]] entries by module name (e.g. \"P12\") or expansion name (e.g. \"G28\")",
        ),
    }
    };
    let safe = role("board.safe_boot_pin", &board.safe_boot_pin)?;
    let strap = role("board.strap_pin", &board.strap_pin)?;
    let led = role("board.led_pin", &board.led_pin)?;
    if strap.gpio != 0 {
        return c.fail(
            "board.strap_pin",
            format!(
                "`{}` is GPIO{}, but the ESP32 ROM samples GPIO0 for download mode",
                board.strap_pin, strap.gpio
            ),
            "name the pin wired to GPIO0 (`P2` on Pycom modules)",
        );
    }
    if led.input_only {
        return c.fail(
            "board.led_pin",
            format!(
                "`{}` is GPIO{}, an input-only pad, and cannot drive the LED",
                board.led_pin, led.gpio
            ),
            "name a pin that can drive an output (`P2` on Pycom modules)",
        );
    }

    let partitions = check_partitions(&c, flash.size, raw_partitions)?;

    check_region(&c, "flash.fs", flash.fs, flash.size, &partitions)?;
    check_region(&c, "flash.config", flash.config, flash.size, &partitions)?;
    if flash.fs.overlaps(&flash.config) {
        return c.fail(
            "flash.config",
            format!(
                "the config block {:#X}..{:#X} overlaps the filesystem {:#X}..{:#X}",
                flash.config.offset,
                flash.config.end(),
                flash.fs.offset,
                flash.fs.end()
            ),
            "move one of them; Pycom puts the config block at 0x3FF000, just past a 4 MB board's filesystem",
        );
    }

    Ok(Board {
        id: id.to_owned(),
        name: board.name,
        flash_size: flash.size,
        psram: board.psram,
        gc_heap: board.gc_heap,
        lora: radios.contains(&Radio::Lora),
        sigfox: radios.contains(&Radio::Sigfox),
        lte: radios.contains(&Radio::Lte),
        pins,
        safe_boot_pin: safe.name,
        strap_pin: strap.name,
        led_pin: led.name,
        partitions,
        fs: flash.fs,
        config: flash.config,
        description: board.description,
        ap_ssid: board.ap_ssid,
    })
}

fn check_pins(c: &Checker, pins: &[PinDef]) -> Result<(), BoardError> {
    if pins.is_empty() {
        return c.fail(
            "pin",
            "the file has no [[pin]] entries",
            "add the module's pins from its pins.csv",
        );
    }
    // Every name a user may type, to the pin that owns it: lookups are case-insensitive and
    // search both namespaces, so one name must not mean two pins.
    let mut names: HashMap<String, &str> = HashMap::new();
    let mut gpios: HashMap<u8, &str> = HashMap::new();
    for pin in pins {
        for (field, value) in [("name", &pin.name), ("exp_board", &pin.exp_board)] {
            if value.is_empty() || value.chars().any(|ch| !ch.is_ascii_alphanumeric()) {
                return c.fail(
                    pin_key(pin, field),
                    format!("`{value}` is not a pin name"),
                    "use letters and digits only, like \"P12\" or \"G28\"",
                );
            }
            let folded = value.to_ascii_uppercase();
            if let Some(other) = names.get(&folded) {
                return c.fail(
                    pin_key(pin, field),
                    format!("`{value}` is already a name of pin `{other}`"),
                    "give every pin distinct module and expansion-board names",
                );
            }
            names.insert(folded, &pin.name);
        }
        if !gpio_usable(pin.gpio) {
            return c.fail(
                pin_key(pin, "gpio"),
                format!("GPIO{} is not a usable ESP32 pad", pin.gpio),
                "use 0-5, 12-19, 21-23, 25-27 or 32-39 (6-11 drive the SPI flash; 20, 24, 28-31 do not exist)",
            );
        }
        if let Some(other) = gpios.insert(pin.gpio, &pin.name) {
            return c.fail(
                pin_key(pin, "gpio"),
                format!("GPIO{} is already pin `{other}`", pin.gpio),
                "each GPIO is wired to one module pin; check the GPIO number against pins.csv",
            );
        }
        let pad_input_only = (34..=39).contains(&pin.gpio);
        if pin.input_only && !pad_input_only {
            return c.fail(
                pin_key(pin, "input_only"),
                format!(
                    "GPIO{} can drive an output; only GPIO34-39 are input-only",
                    pin.gpio
                ),
                "remove `input_only = true` from this pin",
            );
        }
        if pad_input_only && !pin.input_only {
            return c.fail(
                pin_key(pin, "input_only"),
                format!(
                    "GPIO{} is an input-only pad (GPIO34-39 have no output driver)",
                    pin.gpio
                ),
                "add `input_only = true` to this pin",
            );
        }
    }
    Ok(())
}

fn check_partitions(
    c: &Checker,
    flash_size: u32,
    raw: Vec<RawPartition>,
) -> Result<Vec<PartitionDef>, BoardError> {
    let mut out: Vec<PartitionDef> = Vec::with_capacity(raw.len());
    for p in raw {
        let name = p.name;
        if name.is_empty() || name.len() > MAX_PARTITION_NAME || !name.is_ascii() {
            return c.fail(
                part_key(&name, "name"),
                format!("`{name}` does not fit the partition table's name field"),
                format!("use 1-{MAX_PARTITION_NAME} ASCII characters"),
            );
        }
        if out.iter().any(|q| q.name == name) {
            return c.fail(
                part_key(&name, "name"),
                "two partitions have this name",
                "rename one; the firmware finds partitions by name",
            );
        }
        let Some(subtype) = normalise_subtype(p.kind, &p.subtype.0) else {
            let allowed = match p.kind {
                PartitionKind::App => "\"factory\", \"test\" or \"ota_0\"..\"ota_15\"".to_owned(),
                PartitionKind::Data => format!(
                    "one of {} or a number 0-254",
                    DATA_SUBTYPES.map(|s| format!("\"{s}\"")).join(", ")
                ),
            };
            return c.fail(
                part_key(&name, "subtype"),
                format!(
                    "`{}` is not a known subtype for type = \"{}\"",
                    p.subtype.0,
                    p.kind.as_str()
                ),
                format!("use {allowed}"),
            );
        };
        let region = Region {
            offset: p.offset,
            size: p.size,
        };
        if p.size == 0 || !p.size.is_multiple_of(SECTOR) {
            return c.fail(
                part_key(&name, "size"),
                format!("{:#X} is not a whole number of 4 KiB sectors", p.size),
                "use a non-zero multiple of 0x1000",
            );
        }
        if !p.offset.is_multiple_of(SECTOR) {
            return c.fail(
                part_key(&name, "offset"),
                format!("{:#X} is not on a 4 KiB sector boundary", p.offset),
                format!(
                    "round it to a multiple of 0x1000, e.g. {:#X}",
                    p.offset - p.offset % SECTOR
                ),
            );
        }
        if p.kind == PartitionKind::App && !p.offset.is_multiple_of(APP_ALIGN) {
            return c.fail(
                part_key(&name, "offset"),
                format!("app partition at {:#X} is not 64 KiB aligned (the ESP32 maps apps in 64 KiB pages)", p.offset),
                format!("move it to a multiple of 0x10000, e.g. {:#X}", p.offset.next_multiple_of(APP_ALIGN)),
            );
        }
        if p.offset < FIRST_PARTITION_OFFSET {
            return c.fail(
                part_key(&name, "offset"),
                format!(
                    "{:#X} is inside the bootloader (0x1000) or partition table (0x8000)",
                    p.offset
                ),
                "start partitions at 0x9000 or later",
            );
        }
        if region.end() > u64::from(flash_size) {
            return c.fail(
                part_key(&name, "size"),
                format!(
                    "the partition ends at {:#X}, past the end of the {} MiB flash ({:#X})",
                    region.end(),
                    flash_size / MIB,
                    flash_size
                ),
                "shrink it or move it so offset + size <= flash.size",
            );
        }
        if let Some(q) = out.iter().find(|q| {
            region.overlaps(&Region {
                offset: q.offset,
                size: q.size,
            })
        }) {
            return c.fail(
                part_key(&name, "offset"),
                format!(
                    "{:#X}..{:#X} overlaps partition `{}` at {:#X}..{:#X}",
                    region.offset,
                    region.end(),
                    q.name,
                    q.offset,
                    u64::from(q.offset) + u64::from(q.size)
                ),
                "move or shrink one of them so they do not share any byte",
            );
        }
        out.push(PartitionDef {
            name,
            kind: p.kind.as_str().to_owned(),
            subtype,
            offset: p.offset,
            size: p.size,
        });
    }

    // The entries the boot chain cannot work without, with the type the bootloader expects.
    for (name, kind, subtype, why) in [
        ("factory", "app", "factory", "image slot 0"),
        ("otadata", "data", "ota", "the boot_info_t record"),
        ("ota_0", "app", "ota_0", "image slot 1"),
    ] {
        match out.iter().find(|p| p.name == name) {
            None => {
                return c.fail(
                    "partition",
                    format!("there is no `{name}` partition ({why})"),
                    format!("add a [[partition]] with name = \"{name}\", type = \"{kind}\", subtype = \"{subtype}\""),
                );
            }
            Some(p) if p.kind != kind || p.subtype != subtype => {
                return c.fail(
                    part_key(name, "subtype"),
                    format!(
                        "`{name}` is {}/{}, but the bootloader needs {kind}/{subtype}",
                        p.kind, p.subtype
                    ),
                    format!("set type = \"{kind}\" and subtype = \"{subtype}\""),
                );
            }
            Some(_) => {}
        }
    }
    if out.get(OTADATA_INDEX).is_none_or(|p| p.name != "otadata") {
        return c.fail(
            part_key("otadata", "position"),
            "otadata is not the 3rd [[partition]]; the bootloader reads it as table entry 2 (OTA_DATA_INDEX)",
            "list the partitions in the order nvs, factory, otadata, ota_0, ...",
        );
    }
    let index = |n: &str| out.iter().position(|p| p.name == n);
    if index("factory") > index("ota_0") {
        return c.fail(
            part_key("factory", "position"),
            "factory comes after ota_0; the bootloader numbers image slots in table order",
            "list factory before ota_0",
        );
    }
    Ok(out)
}

/// A fixed region (filesystem, config block) must fit the flash and either be exactly one data
/// partition (4 MB layout) or stay clear of all of them (the 8 MB filesystem sits outside the
/// table).
fn check_region(
    c: &Checker,
    key: &str,
    region: Region,
    flash_size: u32,
    partitions: &[PartitionDef],
) -> Result<(), BoardError> {
    if region.size == 0
        || !region.size.is_multiple_of(SECTOR)
        || !region.offset.is_multiple_of(SECTOR)
    {
        return c.fail(
            key,
            format!(
                "offset {:#X} / size {:#X} are not whole 4 KiB sectors",
                region.offset, region.size
            ),
            "use multiples of 0x1000 for offset and a non-zero multiple for size",
        );
    }
    if region.offset < FIRST_PARTITION_OFFSET {
        return c.fail(
            key,
            format!(
                "{:#X} is inside the bootloader or partition table",
                region.offset
            ),
            "place it at 0x9000 or later",
        );
    }
    if region.end() > u64::from(flash_size) {
        return c.fail(
            key,
            format!(
                "{:#X}..{:#X} runs past the end of the {} MiB flash",
                region.offset,
                region.end(),
                flash_size / MIB
            ),
            "shrink or move it so offset + size <= flash.size",
        );
    }
    for p in partitions {
        let part = Region {
            offset: p.offset,
            size: p.size,
        };
        if part == region {
            if p.kind != "data" {
                return c.fail(
                    key,
                    format!("it is exactly the app partition `{}`", p.name),
                    "point it at a data partition or at flash outside the table",
                );
            }
            continue;
        }
        if part.overlaps(&region) {
            return c.fail(
                key,
                format!(
                    "{:#X}..{:#X} partly overlaps partition `{}` at {:#X}..{:#X}",
                    region.offset,
                    region.end(),
                    p.name,
                    part.offset,
                    part.end()
                ),
                format!(
                    "make it exactly `{}` (offset = {:#X}, size = {:#X}) or move it clear of the table",
                    p.name, p.offset, p.size
                ),
            );
        }
    }
    Ok(())
}

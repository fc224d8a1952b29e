//! The ESP-IDF partition table at flash 0x8000, in the binary format `gen_esp32part.py` writes.
//!
//! The bootloader and the firmware find the app slots and otadata through this table, so the
//! simulator writes it byte-for-byte as the IDF tool does (32-byte entries, then the MD5 entry the
//! tool appends by default, then 0xFF up to 0xC00) and reads it back the way the tool does: an
//! all-0xFF entry ends the table, an entry starting `EB EB` carries the MD5 of the entries before
//! it. Keeping the real format means a flash file can be inspected with the IDF's own tools.

use md5::{Digest, Md5};

use crate::board::{Board, PartitionDef};

/// Where the table lives (`CONFIG_PARTITION_TABLE_OFFSET`).
pub const TABLE_OFFSET: u32 = 0x8000;
/// Bytes the table may take (`MAX_PARTITION_LENGTH`); the rest of its 4 KiB sector is for a
/// secure-boot signature.
pub const MAX_TABLE_LEN: usize = 0xC00;
/// One entry (`struct.pack('<2sBBLL16sL')`).
pub const ENTRY_LEN: usize = 32;
/// An entry's first two bytes (`b'\xAA\x50'`, i.e. 0x50AA little-endian).
pub const ENTRY_MAGIC: u16 = 0x50AA;
/// The first two bytes of the MD5 entry (`MD5_PARTITION_BEGIN`).
pub const MD5_MAGIC: u16 = 0xEBEB;
/// Partition type `app`.
pub const TYPE_APP: u8 = 0x00;
/// Partition type `data`.
pub const TYPE_DATA: u8 = 0x01;
/// App subtype `factory`.
pub const SUBTYPE_FACTORY: u8 = 0x00;
/// App subtype `ota_0` (`ota_N` is 0x10 + N).
pub const SUBTYPE_OTA_0: u8 = 0x10;
/// Data subtype `ota`: the otadata partition (on Pycom it holds `boot_info_t`).
pub const SUBTYPE_OTADATA: u8 = 0x00;
/// Longest name the 16-byte field holds.
pub const NAME_LEN: usize = 16;

/// Data subtypes `gen_esp32part.py` knows by name.
const DATA_SUBTYPES: [(&str, u8); 10] = [
    ("ota", 0x00),
    ("phy", 0x01),
    ("nvs", 0x02),
    ("coredump", 0x03),
    ("nvs_keys", 0x04),
    ("efuse", 0x05),
    ("undefined", 0x06),
    ("esphttpd", 0x80),
    ("fat", 0x81),
    ("spiffs", 0x82),
];

/// What is wrong with a table or with a board's partition list. Decoding errors carry the flash
/// address of the bad entry, so a message points at the byte to look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("the entry at {addr:#x} starts {:02x} {:02x}, not the magic aa 50", found[0], found[1])]
    BadMagic { addr: u32, found: [u8; 2] },
    #[error(
        "the MD5 entry at {addr:#x} holds {stored} but the entries before it hash to {computed}"
    )]
    Md5Mismatch {
        addr: u32,
        stored: String,
        computed: String,
    },
    #[error("the table has no end marker (an all-0xFF entry) before {addr:#x}")]
    NoEndMarker { addr: u32 },
    #[error("the first entry, at {addr:#x}, is erased: there is no table")]
    Empty { addr: u32 },
    #[error("the entry at {addr:#x} has a name that is not UTF-8")]
    BadName { addr: u32 },
    #[error("partition name {name:?} is longer than {NAME_LEN} bytes")]
    NameTooLong { name: String },
    #[error("partition {name:?} has unknown type {kind:?} (expected app, data or a number)")]
    UnknownType { name: String, kind: String },
    #[error("partition {name:?} has unknown subtype {subtype:?}")]
    UnknownSubtype { name: String, subtype: String },
    #[error("{count} partitions do not fit in the {MAX_TABLE_LEN:#x}-byte table")]
    TooMany { count: usize },
}

/// One decoded entry. Numbers, not names, because that is what the binary holds; the
/// `*_name` methods give the CSV spelling back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionEntry {
    pub name: String,
    /// 0 app, 1 data.
    pub kind: u8,
    pub subtype: u8,
    pub offset: u32,
    pub size: u32,
    /// Bit 0 `encrypted`, bit 1 `readonly`.
    pub flags: u32,
}

impl PartitionEntry {
    /// Converts a board's CSV-style definition (`app`/`data`, `factory`/`ota_0`/`nvs`/`5`/`0x10`).
    pub fn from_def(def: &PartitionDef) -> Result<PartitionEntry, PartitionError> {
        if def.name.len() > NAME_LEN {
            return Err(PartitionError::NameTooLong {
                name: def.name.clone(),
            });
        }
        let kind = match def.kind.to_ascii_lowercase().as_str() {
            "app" => TYPE_APP,
            "data" => TYPE_DATA,
            other => parse_number(other).ok_or_else(|| PartitionError::UnknownType {
                name: def.name.clone(),
                kind: def.kind.clone(),
            })?,
        };
        let subtype =
            parse_subtype(kind, &def.subtype).ok_or_else(|| PartitionError::UnknownSubtype {
                name: def.name.clone(),
                subtype: def.subtype.clone(),
            })?;
        Ok(PartitionEntry {
            name: def.name.clone(),
            kind,
            subtype,
            offset: def.offset,
            size: def.size,
            flags: 0,
        })
    }

    /// The 32 bytes `PartitionDefinition.to_binary` produces (name NUL-padded).
    pub fn encode(&self) -> Result<[u8; ENTRY_LEN], PartitionError> {
        let name = self.name.as_bytes();
        if name.len() > NAME_LEN {
            return Err(PartitionError::NameTooLong {
                name: self.name.clone(),
            });
        }
        let mut out = [0u8; ENTRY_LEN];
        out[0..2].copy_from_slice(&ENTRY_MAGIC.to_le_bytes());
        out[2] = self.kind;
        out[3] = self.subtype;
        out[4..8].copy_from_slice(&self.offset.to_le_bytes());
        out[8..12].copy_from_slice(&self.size.to_le_bytes());
        out[12..12 + name.len()].copy_from_slice(name);
        out[28..32].copy_from_slice(&self.flags.to_le_bytes());
        Ok(out)
    }

    /// Decodes one entry; `addr` is its flash address, used in errors.
    pub fn decode(bytes: &[u8; ENTRY_LEN], addr: u32) -> Result<PartitionEntry, PartitionError> {
        let magic = [bytes[0], bytes[1]];
        if u16::from_le_bytes(magic) != ENTRY_MAGIC {
            return Err(PartitionError::BadMagic { addr, found: magic });
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let raw_name = &bytes[12..28];
        let end = raw_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        let name = std::str::from_utf8(&raw_name[..end])
            .map_err(|_| PartitionError::BadName { addr })?
            .to_owned();
        Ok(PartitionEntry {
            name,
            kind: bytes[2],
            subtype: bytes[3],
            offset: word(4),
            size: word(8),
            flags: word(28),
        })
    }

    pub fn is_app(&self) -> bool {
        self.kind == TYPE_APP
    }

    /// The otadata partition, where Pycom keeps `boot_info_t`.
    pub fn is_otadata(&self) -> bool {
        self.kind == TYPE_DATA && self.subtype == SUBTYPE_OTADATA
    }

    /// `app`, `data`, or the number.
    pub fn kind_name(&self) -> String {
        match self.kind {
            TYPE_APP => "app".to_owned(),
            TYPE_DATA => "data".to_owned(),
            n => n.to_string(),
        }
    }

    /// The subtype as `gen_esp32part.py --to-csv` spells it.
    pub fn subtype_name(&self) -> String {
        match self.kind {
            TYPE_APP => match self.subtype {
                SUBTYPE_FACTORY => "factory".to_owned(),
                0x20 => "test".to_owned(),
                n @ 0x10..=0x1F => format!("ota_{}", n - SUBTYPE_OTA_0),
                n => n.to_string(),
            },
            TYPE_DATA => DATA_SUBTYPES
                .iter()
                .find(|(_, v)| *v == self.subtype)
                .map(|(name, _)| (*name).to_owned())
                .unwrap_or_else(|| self.subtype.to_string()),
            _ => self.subtype.to_string(),
        }
    }

    /// Same place and role (type, subtype, offset, size); names and flags are not compared,
    /// because the bootloader does not look at them.
    pub fn same_slot(&self, other: &PartitionEntry) -> bool {
        self.kind == other.kind
            && self.subtype == other.subtype
            && self.offset == other.offset
            && self.size == other.size
    }
}

impl std::fmt::Display for PartitionEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}/{} at {:#x} size {:#x}",
            self.name,
            self.kind_name(),
            self.subtype_name(),
            self.offset,
            self.size
        )
    }
}

/// A whole table, in table order (the bootloader numbers slots by it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionTable {
    pub entries: Vec<PartitionEntry>,
}

impl PartitionTable {
    pub fn from_defs(defs: &[PartitionDef]) -> Result<PartitionTable, PartitionError> {
        let entries = defs
            .iter()
            .map(PartitionEntry::from_def)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PartitionTable { entries })
    }

    /// The table a board's flash must carry.
    pub fn from_board(board: &Board) -> Result<PartitionTable, PartitionError> {
        PartitionTable::from_defs(&board.partitions)
    }

    /// The 0xC00 bytes `gen_esp32part.py` writes: entries, the MD5 entry, 0xFF padding.
    pub fn encode(&self) -> Result<Vec<u8>, PartitionError> {
        let count = self.entries.len();
        // Entries + MD5 entry must leave room: the tool refuses `len >= MAX_PARTITION_LENGTH`.
        if (count + 1) * ENTRY_LEN >= MAX_TABLE_LEN {
            return Err(PartitionError::TooMany { count });
        }
        let mut out = Vec::with_capacity(MAX_TABLE_LEN);
        for entry in &self.entries {
            out.extend_from_slice(&entry.encode()?);
        }
        let digest = Md5::digest(&out);
        out.extend_from_slice(&MD5_MAGIC.to_le_bytes());
        out.extend_from_slice(&[0xFF; 14]);
        out.extend_from_slice(&digest);
        out.resize(MAX_TABLE_LEN, 0xFF);
        Ok(out)
    }

    /// Parses a table the way `PartitionTable.from_binary` does. `bytes` starts at flash address
    /// `base` (normally [`TABLE_OFFSET`]), which errors use to name the bad entry. A table with no
    /// MD5 entry is accepted, as the IDF tool accepts it; a table with a wrong one is not. An
    /// empty table is an error: no Pycom flash can boot from it.
    pub fn decode(bytes: &[u8], base: u32) -> Result<PartitionTable, PartitionError> {
        let mut entries = Vec::new();
        let mut hasher = Md5::new();
        let addr_of = |index: usize| base.saturating_add((index * ENTRY_LEN) as u32);
        for (index, chunk) in bytes.chunks_exact(ENTRY_LEN).enumerate() {
            let addr = addr_of(index);
            let Ok(raw) = <&[u8; ENTRY_LEN]>::try_from(chunk) else {
                break;
            };
            if raw.iter().all(|&b| b == 0xFF) {
                if entries.is_empty() {
                    return Err(PartitionError::Empty { addr: base });
                }
                return Ok(PartitionTable { entries });
            }
            if u16::from_le_bytes([raw[0], raw[1]]) == MD5_MAGIC {
                let computed = hasher.clone().finalize();
                if raw[16..] != computed[..] {
                    return Err(PartitionError::Md5Mismatch {
                        addr,
                        stored: hex(&raw[16..]),
                        computed: hex(&computed),
                    });
                }
                continue;
            }
            hasher.update(raw);
            entries.push(PartitionEntry::decode(raw, addr)?);
        }
        Err(PartitionError::NoEndMarker {
            addr: addr_of(bytes.len() / ENTRY_LEN),
        })
    }

    /// The first entry of this type and subtype.
    pub fn find(&self, kind: u8, subtype: u8) -> Option<&PartitionEntry> {
        self.entries
            .iter()
            .find(|e| e.kind == kind && e.subtype == subtype)
    }

    pub fn by_name(&self, name: &str) -> Option<&PartitionEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Image slot 0.
    pub fn factory(&self) -> Option<&PartitionEntry> {
        self.find(TYPE_APP, SUBTYPE_FACTORY)
    }

    /// Image slot 1.
    pub fn ota_0(&self) -> Option<&PartitionEntry> {
        self.find(TYPE_APP, SUBTYPE_OTA_0)
    }

    /// Where `boot_info_t` lives.
    pub fn otadata(&self) -> Option<&PartitionEntry> {
        self.find(TYPE_DATA, SUBTYPE_OTADATA)
    }

    /// The entries the boot path depends on: every app slot and otadata.
    pub fn boot_entries(&self) -> impl Iterator<Item = &PartitionEntry> {
        self.entries.iter().filter(|e| e.is_app() || e.is_otadata())
    }

    /// Says how this table differs from `expected` in the entries that decide what boots (app
    /// slots and otadata), or `None` when it does not. Other entries may differ: the bootloader
    /// never reads them, and a board file may gain a data partition without orphaning every
    /// flash file made before.
    pub fn boot_mismatch(&self, expected: &PartitionTable) -> Option<String> {
        for want in expected.boot_entries() {
            if !self.boot_entries().any(|have| have.same_slot(want)) {
                return Some(format!("it has no partition {want}"));
            }
        }
        for have in self.boot_entries() {
            if !expected.boot_entries().any(|want| want.same_slot(have)) {
                return Some(format!("it has an unexpected partition {have}"));
            }
        }
        None
    }
}

fn parse_number(text: &str) -> Option<u8> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse_subtype(kind: u8, text: &str) -> Option<u8> {
    let lower = text.trim().to_ascii_lowercase();
    if let Some(n) = parse_number(&lower) {
        return Some(n);
    }
    match kind {
        TYPE_APP => match lower.as_str() {
            "factory" => Some(SUBTYPE_FACTORY),
            "test" => Some(0x20),
            other => {
                let n: u8 = other.strip_prefix("ota_")?.parse().ok()?;
                (n < 16).then_some(SUBTYPE_OTA_0 + n)
            }
        },
        TYPE_DATA => DATA_SUBTYPES
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, v)| *v),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

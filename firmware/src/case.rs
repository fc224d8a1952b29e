//! The QEMU machine's case table: the boots to run and, for each, what P12 does — a list of
//! edges in milliseconds since that boot's reset, as a scenario drives the simulator's pin.
//!
//! The host test writes it into RAM next to the flash image (QEMU's `-device loader`):
//!
//! ```text
//! "PYCASE1\n"                         magic
//! u32 flash_len                       bytes of the flash image loaded beside it
//! u32 boots                           1..=MAX_BOOTS
//! per boot: u32 after                 bit 0: the app asks for a software safe boot (Ctrl-F)
//!           u32 edges                 0..=MAX_EDGES
//!           edges × (u32 at_ms, u32 level)   P12 from then on: 1 held at 3V3, 0 released
//! ```
//!
//! All little-endian. A table that does not parse is refused as a whole.

/// At most this many boots per case.
pub const MAX_BOOTS: usize = 4;
/// At most this many P12 edges per boot.
pub const MAX_EDGES: usize = 8;
/// The table's first 8 bytes.
pub const MAGIC: &[u8; 8] = b"PYCASE1\n";
/// `after` bit: the app requests a software safe boot (Ctrl-F) once this boot is done.
pub const AFTER_CTRL_F: u32 = 1;

/// One P12 change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Edge {
    pub at_ms: u32,
    pub high: bool,
}

/// One boot of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Boot {
    pub after: u32,
    edges: [Edge; MAX_EDGES],
    edge_count: usize,
}

impl Boot {
    /// P12's level `us` microseconds after the reset: the last edge at or before it; released
    /// (the pull-down wins) before the first.
    pub fn p12_high_at(&self, us: u64) -> bool {
        self.edges
            .iter()
            .take(self.edge_count)
            .take_while(|e| u64::from(e.at_ms) * 1000 <= us)
            .last()
            .is_some_and(|e| e.high)
    }
}

/// A parsed table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub flash_len: u32,
    boots: [Boot; MAX_BOOTS],
    boot_count: usize,
}

impl Case {
    /// The boots in order.
    pub fn boots(&self) -> impl Iterator<Item = &Boot> {
        self.boots.iter().take(self.boot_count)
    }
}

/// Why a table was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseError {
    BadMagic,
    Truncated,
    TooMany,
}

/// Reads little-endian words from the table.
struct Words<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Words<'_> {
    fn next(&mut self) -> Result<u32, CaseError> {
        let end = self.at.checked_add(4).ok_or(CaseError::Truncated)?;
        let word = self.bytes.get(self.at..end).ok_or(CaseError::Truncated)?;
        let mut w = [0u8; 4];
        w.copy_from_slice(word);
        self.at = end;
        Ok(u32::from_le_bytes(w))
    }

    fn count(&mut self, max: usize) -> Result<usize, CaseError> {
        let n = self.next()? as usize;
        if n > max {
            Err(CaseError::TooMany)
        } else {
            Ok(n)
        }
    }
}

/// Parses a table.
pub fn parse(bytes: &[u8]) -> Result<Case, CaseError> {
    if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(CaseError::BadMagic);
    }
    let mut words = Words {
        bytes,
        at: MAGIC.len(),
    };
    let flash_len = words.next()?;
    let boot_count = words.count(MAX_BOOTS)?;
    let mut boots = [Boot::default(); MAX_BOOTS];
    for boot in boots.iter_mut().take(boot_count) {
        boot.after = words.next()?;
        boot.edge_count = words.count(MAX_EDGES)?;
        for edge in boot.edges.iter_mut().take(boot.edge_count) {
            edge.at_ms = words.next()?;
            edge.high = words.next()? != 0;
        }
    }
    Ok(Case {
        flash_len,
        boots,
        boot_count,
    })
}

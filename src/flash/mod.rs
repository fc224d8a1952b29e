//! The module's SPI NOR flash, kept in a host file (or, for a scenario, in memory: [`memory`]).
//!
//! Everything the device remembers lives here and only here: the partition table, otadata
//! (`boot_info_t`), both app slots, the config block and the `/flash` filesystem. The file behaves
//! like the chip: erase sets whole 4 KiB sectors to 0xFF, programming can only clear bits. Every
//! erase and write goes to the file at once with a positional write and no buffering, so killing
//! the simulator at any instant leaves exactly what a power cut would leave on the chip.
//!
//! A write that would set a bit is a bug in whoever wrote it (real silicon would silently AND the
//! bits together and corrupt the data); the simulator refuses it, counts it and names the address,
//! so tests catch firmware code that forgot to erase.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use embedded_storage::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use pycom_boot::BootInfo;

use crate::board::{Board, Region};
use crate::fs::FsError;
use crate::partition::{PartitionError, PartitionTable, TABLE_OFFSET};

mod memory;

pub use memory::MemoryChip;

/// The erase unit of the ESP32's flash chips.
pub const SECTOR_SIZE: u32 = 4096;
/// Offset of `boot_fs_type` in the config block (0 FAT, 1 LittleFS, 0xFF LittleFS).
pub const CONFIG_BOOT_FS_TYPE: u32 = 533;
/// `boot_fs_type` value for FatFS.
pub const FS_TYPE_FAT: u8 = 0;

/// The hint every refusal to touch an existing file ends with.
const FIX_HINT: &str = "use --reformat to overwrite it, or --flash to pick another file";

/// What went wrong with the flash or its file.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// A write tried to turn a 0 bit into a 1 without an erase.
    #[error(
        "flash write at {addr:#x} would set a bit from 0 to 1; NOR flash can only clear bits, \
         so the sector must be erased first (write refused)"
    )]
    BitSet { addr: u32 },
    #[error("flash erase {from:#x}..{to:#x} is not aligned to 4 KiB sectors")]
    NotAligned { from: u32, to: u32 },
    #[error("flash access at {offset:#x} (+{len:#x} bytes) is outside the {size:#x}-byte chip")]
    OutOfBounds { offset: u32, len: usize, size: u32 },
    #[error("flash file {}: cannot {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("flash file {} is a directory, not a flash file; use --flash to pick a file", path.display())]
    IsDirectory { path: PathBuf },
    /// Another process (another simulator) holds the file: two devices on one chip would corrupt
    /// each other's writes.
    #[error(
        "flash file {} is in use by another process (another pycom-sim?); stop it, or use --flash \
         to pick another file",
        path.display()
    )]
    InUse { path: PathBuf },
    #[error(
        "flash file {} is {actual} bytes but a {board} has {} MiB ({expected}) of flash; {FIX_HINT}",
        path.display(),
        expected / (1024 * 1024)
    )]
    WrongSize {
        path: PathBuf,
        board: String,
        actual: u64,
        expected: u32,
    },
    #[error(
        "flash file {} has no readable partition table at {TABLE_OFFSET:#x} ({source}); {FIX_HINT}",
        path.display()
    )]
    BadPartitionTable {
        path: PathBuf,
        #[source]
        source: PartitionError,
    },
    #[error(
        "flash file {}'s partition table at {TABLE_OFFSET:#x} is not a {board}'s: {detail}; {FIX_HINT}",
        path.display()
    )]
    PartitionMismatch {
        path: PathBuf,
        board: String,
        detail: String,
    },
    /// The board definition itself cannot be laid out (a bug in a board file, not in the flash).
    #[error("board {board}: {detail}")]
    Layout { board: String, detail: String },
    #[error("the firmware image is {len} bytes but the {slot} slot holds only {capacity}")]
    ImageTooLarge {
        slot: String,
        len: usize,
        capacity: u32,
    },
    #[error("cannot create the /flash filesystem: {0}")]
    Filesystem(#[source] Box<FsError>),
}

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FlashError::NotAligned { .. } => NorFlashErrorKind::NotAligned,
            FlashError::OutOfBounds { .. } => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// How to open a flash file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Rebuild the file from scratch even if it exists (the CLI's `--reformat`).
    pub reformat: bool,
}

/// What `open_or_create` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The file was there and passed the checks; nothing was written.
    Existing,
    /// There was no file; a factory-fresh one was made.
    New,
    /// The file was replaced by a factory-fresh one, as asked.
    Reformatted,
}

/// Where the writes go besides the in-memory copy.
#[derive(Debug)]
enum Backing {
    File {
        file: File,
        path: PathBuf,
    },
    /// A chip in memory that others may hold a handle to (a scenario reads its device's files).
    Chip(MemoryChip),
    Memory,
}

/// A flash chip of a board's size. Reads come from an in-memory copy that is filled from the
/// file a sector at a time, the first time anything touches that sector (a boot reads a few
/// hundred KiB of an 8 MiB chip; reading all of it at start-up cost more than the boot). Every
/// change goes to the file first and to the copy only once the file has it, so the copy never
/// runs ahead of disk.
#[derive(Debug)]
pub struct FlashFile {
    /// Interior mutability because reading is `&self` but may fill the copy.
    copy: RefCell<SectorCopy>,
    size: u32,
    backing: Backing,
    bit_set_violations: u64,
    /// Erases and programs so far, per 64 KiB block (see [`FlashFile::changes`]).
    block_changes: Vec<u32>,
}

/// The index of the first byte of `new` that needs a bit of `old` to go from 0 to 1. Checked a
/// block at a time, which the compiler vectorises (a byte loop with an early exit was most of
/// the time of writing an image).
fn first_bit_set(old: &[u8], new: &[u8]) -> Option<usize> {
    const BLOCK: usize = 64;
    let mut at = 0;
    for (o, n) in old.chunks(BLOCK).zip(new.chunks(BLOCK)) {
        if o.iter().zip(n).fold(0u8, |acc, (&o, &n)| acc | (n & !o)) != 0 {
            return o
                .iter()
                .zip(n)
                .position(|(&o, &n)| n & !o != 0)
                .map(|i| at + i);
        }
        at += BLOCK;
    }
    None
}

/// The granule of [`FlashFile::changes`].
const CHANGE_BLOCK: u32 = 64 * 1024;

/// The indices of the [`CHANGE_BLOCK`]s that `len` bytes at `offset` touch (none for none).
fn change_blocks(offset: u32, len: usize) -> std::ops::Range<usize> {
    if len == 0 {
        return 0..0;
    }
    let end = offset.saturating_add(len as u32 - 1);
    (offset / CHANGE_BLOCK) as usize..(end / CHANGE_BLOCK) as usize + 1
}

/// The in-memory copy of the chip and which of its sectors have been read from the file.
#[derive(Debug)]
struct SectorCopy {
    /// The chip's bytes; a sector whose `loaded` flag is false holds anything (zeros, or a
    /// previous chip's bytes), not flash content.
    data: Bytes,
    loaded: Vec<bool>,
}

/// The copy's bytes. A chip read lazily from its file starts as an anonymous mapping, whose
/// zero pages cost nothing until a sector is read into them: a zeroed `Vec` of 4–16 MiB was a
/// memset of all of it at every open once glibc's malloc had raised its mmap threshold (17 % of
/// the scenario suite's instructions). Where the system will not map, a `Vec` does the same.
#[derive(Debug)]
enum Bytes {
    Heap(Vec<u8>),
    Mapped(memmap2::MmapMut),
}

/// Copies of chips that are gone, kept for the next chip of the same size: a new mapping's pages
/// are faulted in and cleared by the kernel as the boot first touches them, and unmapped again
/// when the device goes, which was a tenth of a scenario suite run (a device per scenario). A
/// reused copy's sectors are all marked unloaded, so what it held before is never read.
static SPARE_COPIES: std::sync::Mutex<Vec<Bytes>> = std::sync::Mutex::new(Vec::new());

/// How many spare copies to keep: one per device that runs at once in a scenario suite on a
/// typical CI runner; more would only hold memory.
const MAX_SPARE_COPIES: usize = 4;

impl Bytes {
    /// `len` bytes of any content: a spare copy of that size, or a new mapping.
    fn for_lazy_copy(len: usize) -> Bytes {
        let spare = SPARE_COPIES.lock().ok().and_then(|mut spares| {
            let i = spares.iter().position(|b| b.len() == len)?;
            Some(spares.swap_remove(i))
        });
        spare.unwrap_or_else(|| match memmap2::MmapMut::map_anon(len) {
            Ok(map) if len > 0 => Bytes::Mapped(map),
            _ => Bytes::Heap(vec![0; len]),
        })
    }
}

impl Drop for SectorCopy {
    fn drop(&mut self) {
        // Only lazily loaded copies are worth keeping (an erased chip's copy is a plain Vec).
        if !matches!(self.data, Bytes::Mapped(_)) {
            return;
        }
        if let Ok(mut spares) = SPARE_COPIES.lock()
            && spares.len() < MAX_SPARE_COPIES
        {
            spares.push(std::mem::replace(&mut self.data, Bytes::Heap(Vec::new())));
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Heap(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

impl std::ops::DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Bytes::Heap(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

impl SectorCopy {
    /// Makes sure every sector overlapping `range` is in `data`, reading runs of missing sectors
    /// from `backing` with one positional read each.
    fn load(
        &mut self,
        range: &std::ops::Range<usize>,
        backing: &Backing,
    ) -> Result<(), FlashError> {
        if range.is_empty() {
            return Ok(());
        }
        let sector = SECTOR_SIZE as usize;
        let (first, last) = (range.start / sector, (range.end - 1) / sector);
        let mut s = first;
        while s <= last {
            if self.loaded.get(s).copied().unwrap_or(true) {
                s += 1;
                continue;
            }
            let run_start = s;
            while s <= last && !self.loaded.get(s).copied().unwrap_or(true) {
                s += 1;
            }
            let bytes = run_start * sector..(s * sector).min(self.data.len());
            match backing {
                Backing::File { file, path } => {
                    read_at(file, bytes.start as u64, &mut self.data[bytes])
                        .map_err(io_error(path, "read it"))?;
                }
                Backing::Chip(chip) => chip.read(bytes.start, &mut self.data[bytes]),
                Backing::Memory => {}
            }
            self.loaded[run_start..s].fill(true);
        }
        Ok(())
    }

    /// Marks the sectors fully inside `range` as known (they were just erased).
    fn mark_loaded(&mut self, range: &std::ops::Range<usize>) {
        let sector = SECTOR_SIZE as usize;
        let first = range.start.div_ceil(sector);
        let end = range.end / sector;
        if first < end {
            self.loaded[first..end].fill(true);
        }
    }
}

impl FlashFile {
    /// An erased chip of `size` bytes that lives only in memory (tests, scratch images).
    pub fn erased(size: u32) -> FlashFile {
        let sectors = (size as usize).div_ceil(SECTOR_SIZE as usize);
        FlashFile {
            copy: RefCell::new(SectorCopy {
                data: Bytes::Heap(vec![0xFF; size as usize]),
                loaded: vec![true; sectors],
            }),
            size,
            backing: Backing::Memory,
            bit_set_violations: 0,
            block_changes: vec![0; size.div_ceil(CHANGE_BLOCK) as usize],
        }
    }

    /// A chip whose content is in `backing` and is read into the copy when first needed.
    fn lazy(backing: Backing, size: u32) -> FlashFile {
        let sectors = (size as usize).div_ceil(SECTOR_SIZE as usize);
        FlashFile {
            copy: RefCell::new(SectorCopy {
                data: Bytes::for_lazy_copy(size as usize),
                loaded: vec![false; sectors],
            }),
            size,
            backing,
            bit_set_violations: 0,
            block_changes: vec![0; size.div_ceil(CHANGE_BLOCK) as usize],
        }
    }

    /// A chip whose content is in `chip` and is copied in when first needed. Refused if the
    /// chip is not `board`'s size.
    pub fn on_chip(chip: MemoryChip, board: &Board) -> Result<FlashFile, FlashError> {
        if chip.size() != board.flash_size {
            return Err(FlashError::Layout {
                board: board.name.clone(),
                detail: format!(
                    "the chip is {:#x} bytes, the board says {:#x}",
                    chip.size(),
                    board.flash_size
                ),
            });
        }
        let size = chip.size();
        Ok(FlashFile::lazy(Backing::Chip(chip), size))
    }

    /// A factory-fresh flash for `board` in memory: what `open_or_create` would write to a new
    /// file.
    pub fn in_memory(board: &Board, factory_image: &[u8]) -> Result<FlashFile, FlashError> {
        let mut flash = FlashFile::erased(board.flash_size);
        flash.provision(board, factory_image)?;
        Ok(flash)
    }

    /// Opens the flash file at `path`, or makes a factory-fresh one if there is none (or if
    /// `opts.reformat`).
    ///
    /// An existing file is checked read-only first (size, partition table and its boot entries)
    /// and is never modified when a check fails: it may hold someone's only copy of their
    /// programs. A fresh file is built completely in a temporary file beside it and renamed into
    /// place, so an interrupted `--reformat` leaves the old file intact.
    pub fn open_or_create(
        path: &Path,
        board: &Board,
        factory_image: &[u8],
        opts: OpenOptions,
    ) -> Result<(FlashFile, Created), FlashError> {
        let exists = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(FlashError::IsDirectory {
                    path: path.to_path_buf(),
                });
            }
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_error(path, "read its metadata")(e)),
        };

        if exists && opts.reformat {
            // Replacing a file another simulator is writing would leave it writing to a ghost.
            let file = File::open(path).map_err(io_error(path, "open it for reading"))?;
            lock(&file, path)?;
        }
        if exists && !opts.reformat {
            Self::check_existing(path, board)?;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(io_error(path, "open it for writing"))?;
            lock(&file, path)?;
            let backing = Backing::File {
                file,
                path: path.to_path_buf(),
            };
            let flash = FlashFile::lazy(backing, board.flash_size);
            return Ok((flash, Created::Existing));
        }

        let fresh = FlashFile::in_memory(board, factory_image)?;
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(io_error(path, "create its directory"))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".pycom-flash-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io_error(path, "create a temporary file beside it"))?;
        io::Write::write_all(&mut temp, &fresh.copy.borrow().data)
            .map_err(io_error(path, "write it"))?;
        temp.as_file()
            .sync_data()
            .map_err(io_error(path, "sync it"))?;
        let file = temp
            .persist(path)
            .map_err(|e| io_error(path, "move the new file into place")(e.error))?;
        lock(&file, path)?;
        let flash = FlashFile {
            backing: Backing::File {
                file,
                path: path.to_path_buf(),
            },
            ..fresh
        };
        let created = if exists {
            Created::Reformatted
        } else {
            Created::New
        };
        Ok((flash, created))
    }

    /// Checks, through a read-only handle, that an existing file is this board's flash: its
    /// size and its partition table. Nothing here can write.
    pub fn check_existing(path: &Path, board: &Board) -> Result<(), FlashError> {
        let file = File::open(path).map_err(io_error(path, "open it for reading"))?;
        lock(&file, path)?;
        let actual = file
            .metadata()
            .map_err(io_error(path, "read its metadata"))?
            .len();
        if actual != u64::from(board.flash_size) {
            return Err(FlashError::WrongSize {
                path: path.to_path_buf(),
                board: board.name.clone(),
                actual,
                expected: board.flash_size,
            });
        }
        let mut table_bytes = vec![0; crate::partition::MAX_TABLE_LEN];
        read_at(&file, u64::from(TABLE_OFFSET), &mut table_bytes)
            .map_err(io_error(path, "read it"))?;
        let table = PartitionTable::decode(&table_bytes, TABLE_OFFSET).map_err(|source| {
            FlashError::BadPartitionTable {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let expected = board_table(board)?;
        if let Some(detail) = table.boot_mismatch(&expected) {
            return Err(FlashError::PartitionMismatch {
                path: path.to_path_buf(),
                board: board.name.clone(),
                detail,
            });
        }
        Ok(())
    }

    /// Writes everything a factory-fresh module has onto this (erased) chip: partition table,
    /// a valid otadata record pointing at the factory slot, the factory image, the config block
    /// with `boot_fs_type` = FAT, and a FAT `/flash` with the default files.
    fn provision(&mut self, board: &Board, factory_image: &[u8]) -> Result<(), FlashError> {
        let layout_err = |detail: String| FlashError::Layout {
            board: board.name.clone(),
            detail,
        };
        if self.size() != board.flash_size {
            return Err(layout_err(format!(
                "the chip is {:#x} bytes, the board says {:#x}",
                self.size(),
                board.flash_size
            )));
        }
        let table = board_table(board)?;
        for entry in &table.entries {
            self.check_region(&entry.name, entry.offset, entry.size)
                .map_err(layout_err)?;
        }
        self.check_region("fs", board.fs.offset, board.fs.size)
            .map_err(layout_err)?;
        self.check_region("config", board.config.offset, board.config.size)
            .map_err(layout_err)?;
        let factory = table
            .factory()
            .ok_or_else(|| layout_err("no app/factory partition".to_owned()))?
            .clone();
        let otadata = table
            .otadata()
            .ok_or_else(|| layout_err("no data/ota (otadata) partition".to_owned()))?
            .clone();
        if factory_image.len() > factory.size as usize {
            return Err(FlashError::ImageTooLarge {
                slot: factory.name.clone(),
                len: factory_image.len(),
                capacity: factory.size,
            });
        }

        let table_bytes = table.encode().map_err(|e| layout_err(e.to_string()))?;
        self.erase_and_write(TABLE_OFFSET, &table_bytes)?;

        let record = BootInfo {
            size: factory_image.len() as u32,
            ..BootInfo::initial()
        };
        pycom_boot::otadata::write_record(self, otadata.offset, &record)?;

        self.erase_and_write(factory.offset, factory_image)?;

        self.erase(board.config.offset, board.config.offset + SECTOR_SIZE)?;
        self.write(board.config.offset + CONFIG_BOOT_FS_TYPE, &[FS_TYPE_FAT])?;

        crate::fs::format(self, board.fs).map_err(|e| FlashError::Filesystem(Box::new(e)))?;
        crate::fs::ensure_defaults(self, board.fs)
            .map_err(|e| FlashError::Filesystem(Box::new(e)))?;
        Ok(())
    }

    /// A region must sit on sector boundaries inside the chip.
    fn check_region(&self, name: &str, offset: u32, size: u32) -> Result<(), String> {
        let end = u64::from(offset) + u64::from(size);
        if end > u64::from(self.size()) {
            return Err(format!(
                "{name} ({offset:#x}+{size:#x}) does not fit in {:#x} bytes of flash",
                self.size()
            ));
        }
        if !offset.is_multiple_of(SECTOR_SIZE) {
            return Err(format!("{name} at {offset:#x} is not on a 4 KiB sector"));
        }
        Ok(())
    }

    /// Chip size in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The host file, if there is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.backing {
            Backing::File { path, .. } => Some(path),
            Backing::Chip(_) | Backing::Memory => None,
        }
    }

    /// The whole chip as it stands (also what is in the file).
    pub fn contents(&self) -> Result<Vec<u8>, FlashError> {
        self.read_region(Region {
            offset: 0,
            size: self.size,
        })
    }

    /// How many writes were refused for trying to set a bit since this flash was opened.
    pub fn bit_set_violations(&self) -> u64 {
        self.bit_set_violations
    }

    fn range(&self, offset: u32, len: usize) -> Result<std::ops::Range<usize>, FlashError> {
        let start = offset as usize;
        match start.checked_add(len) {
            Some(end) if end <= self.size as usize => Ok(start..end),
            _ => Err(FlashError::OutOfBounds {
                offset,
                len,
                size: self.size(),
            }),
        }
    }

    /// Reads `buf.len()` bytes at `offset`.
    pub fn read(&self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.read_with(offset, buf.len(), |bytes| buf.copy_from_slice(bytes))
    }

    /// Calls `f` with the `len` bytes at `offset`, without copying them out of the chip's copy
    /// (the boot reads a whole 1.5–2 MiB app slot to check its image).
    pub fn read_with<R>(
        &self,
        offset: u32,
        len: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, FlashError> {
        let range = self.range(offset, len)?;
        let mut copy = self.copy.borrow_mut();
        copy.load(&range, &self.backing)?;
        Ok(f(&copy.data[range]))
    }

    /// Sets the sectors `from..to` to 0xFF. Both ends must be on 4 KiB boundaries.
    pub fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        if from > to || !from.is_multiple_of(SECTOR_SIZE) || !to.is_multiple_of(SECTOR_SIZE) {
            return Err(FlashError::NotAligned { from, to });
        }
        let range = self.range(from, (to - from) as usize)?;
        let erased = vec![0xFF; range.len()];
        self.persist(from, &erased)?;
        let copy = self.copy.get_mut();
        copy.data[range.clone()].fill(0xFF);
        copy.mark_loaded(&range);
        Ok(())
    }

    /// Programs `bytes` at `offset`. Refused, with nothing written, if any byte would need a bit
    /// to go from 0 to 1; the error names the first such address.
    pub fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let range = self.range(offset, bytes.len())?;
        let copy = self.copy.get_mut();
        copy.load(&range, &self.backing)?;
        let current = &copy.data[range.clone()];
        if let Some(i) = first_bit_set(current, bytes) {
            self.bit_set_violations += 1;
            return Err(FlashError::BitSet {
                addr: offset + i as u32,
            });
        }
        self.persist(offset, bytes)?;
        self.copy.get_mut().data[range].copy_from_slice(bytes);
        Ok(())
    }

    /// Erases the sectors `data` covers, starting at the sector-aligned `offset`, and programs
    /// it: how the firmware writes an image, the partition table, or a sector it rewrites.
    pub fn erase_and_write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let len = u32::try_from(data.len()).map_err(|_| FlashError::OutOfBounds {
            offset,
            len: data.len(),
            size: self.size(),
        })?;
        let end = offset
            .checked_add(len.div_ceil(SECTOR_SIZE) * SECTOR_SIZE)
            .ok_or(FlashError::OutOfBounds {
                offset,
                len: data.len(),
                size: self.size(),
            })?;
        self.erase(offset, end)?;
        self.write(offset, data)
    }

    /// A number that changes whenever anything in `offset..offset + len` is erased or
    /// programmed through this handle: what a cache of something read from there (the boot's
    /// parsed app image) compares to know it is still right.
    pub fn changes(&self, offset: u32, len: u32) -> u64 {
        change_blocks(offset, len as usize)
            .filter_map(|b| self.block_changes.get(b))
            .map(|&n| u64::from(n))
            .sum()
    }

    /// Reads a region (e.g. a partition) into a new buffer.
    pub fn read_region(&self, region: Region) -> Result<Vec<u8>, FlashError> {
        let mut buf = vec![0; region.size as usize];
        self.read(region.offset, &mut buf)?;
        Ok(buf)
    }

    /// Forces what has been written onto the disk (`fdatasync`). Not needed for crash
    /// consistency against a killed process, only against a host power failure.
    pub fn sync(&self) -> Result<(), FlashError> {
        match &self.backing {
            Backing::File { file, path } => file.sync_data().map_err(io_error(path, "sync it")),
            Backing::Chip(_) | Backing::Memory => Ok(()),
        }
    }

    /// Sends `bytes` to the file at `offset` before the in-memory copy changes.
    fn persist(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        for block in change_blocks(offset, bytes.len()) {
            if let Some(n) = self.block_changes.get_mut(block) {
                *n = n.wrapping_add(1);
            }
        }
        match &mut self.backing {
            Backing::File { file, path } => {
                write_at(file, u64::from(offset), bytes).map_err(io_error(path, "write it"))
            }
            Backing::Chip(chip) => {
                chip.write(offset as usize, bytes);
                Ok(())
            }
            Backing::Memory => Ok(()),
        }
    }
}

/// Takes the advisory exclusive lock that marks a flash file as in use; it goes away with the
/// handle (also when the process is killed). Filesystems without locks are used unlocked.
fn lock(file: &File, path: &Path) -> Result<(), FlashError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(FlashError::InUse {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => Ok(()),
        Err(std::fs::TryLockError::Error(source)) => Err(io_error(path, "lock it")(source)),
    }
}

/// What `action` on the flash file at `path` failing with an I/O error is.
fn io_error(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> FlashError {
    move |source| FlashError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// The board's partition table, with a board-file problem reported as one.
fn board_table(board: &Board) -> Result<PartitionTable, FlashError> {
    PartitionTable::from_board(board).map_err(|e| FlashError::Layout {
        board: board.name.clone(),
        detail: e.to_string(),
    })
}

#[cfg(unix)]
fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
fn read_at(mut file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

#[cfg(unix)]
fn write_at(file: &mut File, offset: u64, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, offset)
}

#[cfg(not(unix))]
fn write_at(file: &mut File, offset: u64, bytes: &[u8]) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

impl ErrorType for FlashFile {
    type Error = FlashError;
}

impl ReadNorFlash for FlashFile {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        FlashFile::read(self, offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.size as usize
    }
}

impl NorFlash for FlashFile {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = SECTOR_SIZE as usize;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        FlashFile::erase(self, from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        FlashFile::write(self, offset, bytes)
    }
}

/// Writing the same place twice is fine as long as each write only clears bits, which `write`
/// enforces.
impl MultiwriteNorFlash for FlashFile {}

/// Where a board's flash file lives by default: `<data dir>/pycom-sim/<board>.flash`. Here, not
/// in the CLI, so `update` and the monitor's `ota` (which the CLI imports) can name it too.
pub fn default_path(board_id: &str) -> Result<std::path::PathBuf, String> {
    let dirs = directories::ProjectDirs::from("", "", "pycom-sim").ok_or(
        "cannot find a data directory for the flash file (no home directory?); pass --flash PATH",
    )?;
    Ok(dirs.data_dir().join(format!("{board_id}.flash")))
}

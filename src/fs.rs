//! The `/flash` filesystem inside the fs region of the NOR flash: FAT ([`fat`]) or LittleFS
//! ([`littlefs`]), as the firmware chooses by the config block's `boot_fs_type` byte (reference
//! §11.1: 0 FAT, 1 LittleFS, erased → LittleFS).
//!
//! The helpers here (`read_file`, `write_file`, `list_dir`, …) work on whichever of the two the
//! region holds, so their callers (the device's `os` module, `pycom-sim fs`, scenarios, FTP)
//! never ask. Which one is *mounted at boot* is the config byte's business ([`mount_at_boot`]);
//! between `pycom.bootmgr(fs_type=…)` and the next boot the region still holds the old type, and
//! the running firmware keeps using it, as the module does.
//!
//! Every helper mounts the volume, does one thing and lets go, so when it returns its work is in
//! the flash file. Paths are absolute inside the volume (`/main.py`, `/lib/x.py`); the Python
//! runtime maps `/flash/...` onto them.

pub mod fat;
pub mod littlefs;

use std::io;

use crate::board::{Board, Region};
use crate::flash::{CONFIG_BOOT_FS_TYPE, FlashError, FlashFile};

pub use fat::{FlashDisk, FlashFs, with_fs};

/// `/main.py` as the firmware creates it (`mptask.c:133`).
pub const MAIN_PY: &[u8] = b"# main.py -- put your code here!\r\n";
/// `/boot.py` as the firmware creates it (`mptask.c:134`).
pub const BOOT_PY: &[u8] = b"# boot.py -- run on boot-up\r\n";
/// Directories the firmware creates at every boot if missing (`mptask.c:421-500`).
pub const DEFAULT_DIRS: [&str; 3] = ["/sys", "/lib", "/cert"];
/// FatFS sector size on the module (`sflash_diskio.h`).
pub const FAT_SECTOR_SIZE: u16 = 512;

#[cfg(test)]
thread_local! {
    /// Tests only: how many more erases and programs reach the flash before the power goes
    /// (`None`: no cut). Everything after the cut fails without touching the chip, as on a
    /// module that lost power.
    pub(crate) static POWER_LEFT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Whether the power is still on for one more erase or program (always, outside tests).
pub(crate) fn powered() -> bool {
    #[cfg(test)]
    {
        POWER_LEFT.with(|left| match left.get() {
            None => true,
            Some(0) => false,
            Some(n) => {
                left.set(Some(n - 1));
                true
            }
        })
    }
    #[cfg(not(test))]
    {
        true
    }
}

/// The two filesystems the firmware can put on `/flash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Fat,
    LittleFs,
}

impl FsKind {
    /// `boot_fs_type` as `config_get_boot_fs_type` and the mount read it: 1 and erased (0xFF)
    /// are LittleFS; 0, and anything else, FAT (`mptask.c` tests `== 0x01`).
    pub fn from_config_byte(byte: u8) -> FsKind {
        match byte {
            1 | 0xFF => FsKind::LittleFs,
            _ => FsKind::Fat,
        }
    }

    /// The byte `pycom.bootmgr(fs_type=…)` stores.
    pub fn config_byte(self) -> u8 {
        match self {
            FsKind::Fat => 0,
            FsKind::LittleFs => 1,
        }
    }

    /// How `pycom.bootmgr()` names it.
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Fat => "FAT",
            FsKind::LittleFs => "LittleFS",
        }
    }
}

impl std::fmt::Display for FsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What went wrong with the filesystem.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error(transparent)]
    Flash(#[from] FlashError),
    #[error("the fs region {offset:#x}+{size:#x} is not whole 4 KiB blocks inside the flash")]
    BadRegion { offset: u32, size: u32 },
    #[error(
        "there is no FAT or LittleFS filesystem in the fs region ({0}); booting the flash file \
         (pycom-sim run) formats it as the config block says, as the module does"
    )]
    NoFilesystem(String),
    #[error("{path}: no space left on /flash")]
    NoSpace { path: String },
    #[error(
        "{path}: the LittleFS metadata is corrupt; os.fsformat('/flash') on the device, or \
         pycom-sim run --reformat, gives an empty one"
    )]
    Corrupt { path: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: already exists")]
    AlreadyExists { path: String },
    #[error("{path}: is a directory")]
    IsADirectory { path: String },
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    #[error("{path}: directory not empty")]
    NotEmpty { path: String },
    #[error("{path}: invalid path ({reason})")]
    InvalidPath { path: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// What [`mount_at_boot`] (or [`ensure_defaults`]) had to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    /// There was no filesystem, so the region was formatted.
    pub formatted: bool,
    /// Files and directories that were missing and got created, in creation order.
    pub created: Vec<&'static str>,
}

/// Canonical form of a volume path: no leading or trailing `/`, no `.` or empty components,
/// `..` resolved. `""` is the root. Paths must be absolute, as the firmware requires for `/flash`
/// paths once the runtime has stripped the mount point.
pub fn normalize(path: &str) -> Result<String, FsError> {
    if !path.starts_with('/') {
        return Err(FsError::InvalidPath {
            path: path.to_owned(),
            reason: "not an absolute path".to_owned(),
        });
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    Ok(parts.join("/"))
}

/// One entry of a directory listing, or what [`stat`] says about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file name (long name if there is one), without its directory.
    pub name: String,
    pub is_dir: bool,
    /// Bytes; 0 for directories.
    pub size: u64,
}

/// Size figures for `os.statvfs` / `os.getfree`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub cluster_size: u32,
    pub total_clusters: u32,
    pub free_clusters: u32,
}

/// Which filesystem the config block says the firmware mounts at boot.
pub fn configured_kind(flash: &FlashFile, config: Region) -> Result<FsKind, FsError> {
    let mut byte = [0u8];
    flash.read(config.offset + CONFIG_BOOT_FS_TYPE, &mut byte)?;
    Ok(FsKind::from_config_byte(byte[0]))
}

/// Which filesystem the region holds now: LittleFS if it has a LittleFS superblock, else FAT
/// (which may turn out not to mount: then the helpers say [`FsError::NoFilesystem`]).
pub fn kind_of(flash: &FlashFile, region: Region) -> FsKind {
    if littlefs::has_superblock(flash, region) {
        FsKind::LittleFs
    } else {
        FsKind::Fat
    }
}

/// The firmware's mount step at every boot and soft reboot (`mptask_init_sflash_filesystem`):
/// the type the config block names; if the region does not mount as that type (empty, corrupt,
/// or the other type after `pycom.bootmgr(fs_type=…)`), it is formatted as it — nothing is
/// converted; then the default files and directories that are missing.
pub fn mount_at_boot(flash: &mut FlashFile, board: &Board) -> Result<(FsKind, Defaults), FsError> {
    let kind = configured_kind(flash, board.config)?;
    let report = match kind {
        FsKind::Fat => fat::ensure_defaults(flash, board.fs)?,
        FsKind::LittleFs => littlefs::ensure_defaults(flash, board.fs)?,
    };
    Ok((kind, report))
}

/// [`mount_at_boot`] for the type the region already holds (FAT if it holds none): what a flash
/// file prepared without a board's config block gets.
pub fn ensure_defaults(flash: &mut FlashFile, region: Region) -> Result<Defaults, FsError> {
    match kind_of(flash, region) {
        FsKind::Fat => fat::ensure_defaults(flash, region),
        FsKind::LittleFs => littlefs::ensure_defaults(flash, region),
    }
}

/// A fresh, empty FAT (`f_mkfs(FM_SFD | FM_FAT)`) over the region.
pub fn format(flash: &mut FlashFile, region: Region) -> Result<(), FsError> {
    fat::format(flash, region)
}

/// A fresh, empty volume of `kind`: `os.fsformat('/flash')` on a module running that type.
pub fn format_as(flash: &mut FlashFile, region: Region, kind: FsKind) -> Result<(), FsError> {
    match kind {
        FsKind::Fat => fat::format(flash, region),
        FsKind::LittleFs => littlefs::format(flash, region),
    }
}

/// Whether the region holds a FAT or LittleFS volume that mounts.
pub fn is_formatted(flash: &mut FlashFile, region: Region) -> Result<bool, FsError> {
    match kind_of(flash, region) {
        FsKind::Fat => fat::is_formatted(flash, region),
        FsKind::LittleFs => littlefs::is_formatted(flash, region),
    }
}

/// Runs the FAT or the LittleFS version of a helper, whichever the region holds.
macro_rules! either {
    ($flash:expr, $region:expr, $f:ident($($arg:expr),*)) => {
        match kind_of($flash, $region) {
            FsKind::Fat => fat::$f($flash, $region $(, $arg)*),
            FsKind::LittleFs => littlefs::$f($flash, $region $(, $arg)*),
        }
    };
}

/// What is at `path`, or `None` if nothing is.
pub fn stat(flash: &mut FlashFile, region: Region, path: &str) -> Result<Option<Entry>, FsError> {
    either!(flash, region, stat(path))
}

/// The whole content of the file at `path`.
pub fn read_file(flash: &mut FlashFile, region: Region, path: &str) -> Result<Vec<u8>, FsError> {
    either!(flash, region, read_file(path))
}

/// Creates or replaces the file at `path` with `data`. The parent directory must exist.
pub fn write_file(
    flash: &mut FlashFile,
    region: Region,
    path: &str,
    data: &[u8],
) -> Result<(), FsError> {
    either!(flash, region, write_file(path, data))
}

/// Appends `data` to the file at `path`, creating it if missing.
pub fn append_file(
    flash: &mut FlashFile,
    region: Region,
    path: &str,
    data: &[u8],
) -> Result<(), FsError> {
    either!(flash, region, append_file(path, data))
}

/// The entries of the directory at `path`, without `.` and `..`, in directory order.
pub fn list_dir(flash: &mut FlashFile, region: Region, path: &str) -> Result<Vec<Entry>, FsError> {
    either!(flash, region, list_dir(path))
}

/// Creates the directory `path`; its parent must exist and `path` must not.
pub fn mkdir(flash: &mut FlashFile, region: Region, path: &str) -> Result<(), FsError> {
    either!(flash, region, mkdir(path))
}

/// Removes the file at `path` (not a directory: [`FsError::IsADirectory`]).
pub fn remove(flash: &mut FlashFile, region: Region, path: &str) -> Result<(), FsError> {
    match kind_of(flash, region) {
        FsKind::Fat => fat::remove(flash, region, path),
        FsKind::LittleFs => match littlefs::stat(flash, region, path)? {
            Some(e) if e.is_dir => Err(FsError::IsADirectory {
                path: path.to_owned(),
            }),
            _ => littlefs::remove(flash, region, path),
        },
    }
}

/// Removes the empty directory at `path` (not a file: [`FsError::NotADirectory`]).
pub fn rmdir(flash: &mut FlashFile, region: Region, path: &str) -> Result<(), FsError> {
    match kind_of(flash, region) {
        FsKind::Fat => fat::rmdir(flash, region, path),
        FsKind::LittleFs => match littlefs::stat(flash, region, path)? {
            Some(e) if !e.is_dir => Err(FsError::NotADirectory {
                path: path.to_owned(),
            }),
            _ => littlefs::remove(flash, region, path),
        },
    }
}

/// Renames or moves `from` to `to`; `to` must not exist.
pub fn rename(flash: &mut FlashFile, region: Region, from: &str, to: &str) -> Result<(), FsError> {
    match kind_of(flash, region) {
        FsKind::Fat => fat::rename(flash, region, from, to),
        FsKind::LittleFs => {
            if littlefs::stat(flash, region, to)?.is_some() {
                return Err(FsError::AlreadyExists {
                    path: to.to_owned(),
                });
            }
            littlefs::rename(flash, region, from, to)
        }
    }
}

/// Size figures of the volume.
pub fn stats(flash: &mut FlashFile, region: Region) -> Result<Stats, FsError> {
    match kind_of(flash, region) {
        FsKind::Fat => fat::stats(flash, region),
        FsKind::LittleFs => littlefs::stats(flash, region),
    }
}

/// Every file of a LittleFS volume given as the bytes of its region (the rest of the region
/// erased), each with its content: the entry point for fuzzing the LittleFS mount on arbitrary
/// images. Never panics, whatever the bytes; a volume that does not mount is an error.
pub fn littlefs_image_files(image: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FsError> {
    const BLOCKS: u32 = 127;
    let region = Region {
        offset: 0,
        size: BLOCKS * crate::flash::SECTOR_SIZE,
    };
    let mut flash = FlashFile::erased(region.size);
    let take = image.len().min(region.size as usize);
    flash.write(0, &image[..take])?;
    let mut out = Vec::new();
    let mut dirs = vec!["/".to_owned()];
    // A corrupt image can describe directory loops; a bound keeps the walk finite.
    let mut budget = 256usize;
    while let Some(dir) = dirs.pop() {
        for entry in littlefs::list_dir(&mut flash, region, &dir)? {
            if budget == 0 {
                return Ok(out);
            }
            budget -= 1;
            let path = format!("{}/{}", dir.trim_end_matches('/'), entry.name);
            if entry.is_dir {
                dirs.push(path);
            } else {
                let data = littlefs::read_file(&mut flash, region, &path)?;
                out.push((path, data));
            }
        }
    }
    Ok(out)
}

//! `/flash` as FAT, stored in the fs region of the NOR flash.
//!
//! The firmware runs FatFS on 512-byte sectors over a one-block cache of the flash's 4 KiB erase
//! blocks (`esp32/fatfs/src/drivers/sflash_diskio.c`): a write loads the block into the cache and
//! changes it there; when another block is needed, or FatFS syncs, the cached block is erased and
//! programmed back. [`FlashDisk`] does the same, so the flash sees the same erase/program pattern
//! and a power cut between erase and program loses what it would lose on the module.
//!
//! Every helper here mounts the volume, does one thing, unmounts and flushes the cache, so when a
//! helper returns its work is in the flash file. Paths are absolute inside the volume
//! (`/main.py`, `/lib/x.py`); the Python runtime maps `/flash/...` onto them.

use std::io::{self, Read, Seek, SeekFrom, Write};

use fatfs::{FileSystem, FormatVolumeOptions, FsOptions};

use super::{
    BOOT_PY, DEFAULT_DIRS, Defaults, Entry, FAT_SECTOR_SIZE, FsError, MAIN_PY, Stats, normalize,
};
use crate::board::Region;
use crate::flash::{FlashError, FlashFile, SECTOR_SIZE};

/// A mounted `/flash` volume, as [`with_fs`] lends it.
pub type FlashFs<'d, 'f> = FileSystem<&'d mut FlashDisk<'f>>;

/// Turns a fatfs error about `path` into the matching variant. Flash errors travel through
/// fatfs inside `io::Error` and come back out as themselves.
pub(super) fn from_io(path: &str, err: io::Error) -> FsError {
    let path = path.to_owned();
    let kind = err.kind();
    let message = err.to_string();
    if err
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<FlashError>().is_some())
    {
        if let Some(inner) = err.into_inner()
            && let Ok(flash) = inner.downcast::<FlashError>()
        {
            return FsError::Flash(*flash);
        }
        return FsError::Io {
            path,
            source: io::Error::new(kind, message),
        };
    }
    match (kind, message.as_str()) {
        (io::ErrorKind::NotFound, _) => FsError::NotFound { path },
        (io::ErrorKind::AlreadyExists, _) => FsError::AlreadyExists { path },
        (_, "Is a directory") => FsError::IsADirectory { path },
        (_, "Not a directory") => FsError::NotADirectory { path },
        (_, "Directory not empty") => FsError::NotEmpty { path },
        (_, "File name is empty" | "File name too long")
        | (_, "File name contains unsupported characters") => FsError::InvalidPath {
            path,
            reason: message,
        },
        _ => FsError::Io { path, source: err },
    }
}

/// The fs region as a `Read + Write + Seek` disk for fatfs, through a one-block write-back cache
/// of 4 KiB erase blocks, as the firmware's `sflash_diskio` keeps one.
///
/// Dropping it without [`FlashDisk::flush`] loses the cached block, as a power cut would; the
/// helpers in this module always flush.
#[derive(Debug)]
pub struct FlashDisk<'f> {
    flash: &'f mut FlashFile,
    base: u32,
    len: u32,
    pos: u64,
    cache: Option<CachedBlock>,
}

#[derive(Debug)]
struct CachedBlock {
    /// Block index within the region.
    index: u32,
    data: Vec<u8>,
    dirty: bool,
}

impl<'f> FlashDisk<'f> {
    /// A disk over `region` of `flash`; the region must be whole sectors inside the chip.
    pub fn new(flash: &'f mut FlashFile, region: Region) -> Result<FlashDisk<'f>, FsError> {
        let end = u64::from(region.offset) + u64::from(region.size);
        if !region.offset.is_multiple_of(SECTOR_SIZE)
            || !region.size.is_multiple_of(SECTOR_SIZE)
            || region.size == 0
            || end > u64::from(flash.size())
        {
            return Err(FsError::BadRegion {
                offset: region.offset,
                size: region.size,
            });
        }
        Ok(FlashDisk {
            flash,
            base: region.offset,
            len: region.size,
            pos: 0,
            cache: None,
        })
    }

    /// Writes the cached block back if it changed: erase its sector, program it. A block that
    /// ends up identical to the flash is left alone, sparing an erase.
    pub fn flush_cache(&mut self) -> Result<(), FlashError> {
        let Some(block) = self.cache.as_mut() else {
            return Ok(());
        };
        if !block.dirty {
            return Ok(());
        }
        let addr = self.base + block.index * SECTOR_SIZE;
        let mut current = vec![0u8; SECTOR_SIZE as usize];
        self.flash.read(addr, &mut current)?;
        if current != block.data {
            if !super::powered() {
                return Err(power_cut(addr));
            }
            self.flash.erase(addr, addr + SECTOR_SIZE)?;
            if !super::powered() {
                return Err(power_cut(addr));
            }
            self.flash.write(addr, &block.data)?;
        }
        block.dirty = false;
        Ok(())
    }

    /// Makes `index` the cached block, writing back the previous one.
    fn load_block(&mut self, index: u32) -> Result<&mut CachedBlock, FlashError> {
        if self.cache.as_ref().is_none_or(|b| b.index != index) {
            self.flush_cache()?;
            let mut data = vec![0u8; SECTOR_SIZE as usize];
            self.flash
                .read(self.base + index * SECTOR_SIZE, &mut data)?;
            self.cache = Some(CachedBlock {
                index,
                data,
                dirty: false,
            });
        }
        // Just filled above when it was missing.
        self.cache.as_mut().ok_or(FlashError::OutOfBounds {
            offset: self.base + index * SECTOR_SIZE,
            len: SECTOR_SIZE as usize,
            size: self.flash.size(),
        })
    }

    /// Bytes left from the cursor to the end of the region, capped at `want`.
    fn available(&self, want: usize) -> usize {
        let left = u64::from(self.len).saturating_sub(self.pos);
        want.min(usize::try_from(left).unwrap_or(usize::MAX))
    }
}

/// What a write after a (test's) power cut fails with: nothing reaches the chip any more.
fn power_cut(addr: u32) -> FlashError {
    FlashError::Io {
        path: "power cut".into(),
        action: "write it",
        source: io::Error::other(format!("no power at {addr:#x}")),
    }
}

fn to_io(err: FlashError) -> io::Error {
    io::Error::other(err)
}

impl Read for FlashDisk<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.available(buf.len());
        let mut done = 0;
        while done < n {
            // pos < len <= u32::MAX, so these fit.
            let pos = (self.pos + done as u64) as u32;
            let index = pos / SECTOR_SIZE;
            let within = (pos % SECTOR_SIZE) as usize;
            let chunk = (n - done).min(SECTOR_SIZE as usize - within);
            let out = &mut buf[done..done + chunk];
            match &self.cache {
                Some(block) if block.index == index => {
                    out.copy_from_slice(&block.data[within..within + chunk]);
                }
                _ => self.flash.read(self.base + pos, out).map_err(to_io)?,
            }
            done += chunk;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for FlashDisk<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.available(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the fs region",
            ));
        }
        let mut done = 0;
        while done < n {
            let pos = (self.pos + done as u64) as u32;
            let index = pos / SECTOR_SIZE;
            let within = (pos % SECTOR_SIZE) as usize;
            let chunk = (n - done).min(SECTOR_SIZE as usize - within);
            let block = self.load_block(index).map_err(to_io)?;
            let src = &buf[done..done + chunk];
            let dst = &mut block.data[within..within + chunk];
            if dst != src {
                dst.copy_from_slice(src);
                block.dirty = true;
            }
            done += chunk;
        }
        self.pos += n as u64;
        Ok(n)
    }

    /// FatFS's `CTRL_SYNC`: the cached block goes to flash.
    fn flush(&mut self) -> io::Result<()> {
        self.flush_cache().map_err(to_io)
    }
}

impl Seek for FlashDisk<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => u64::from(self.len).checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) if p <= u64::from(self.len) => {
                self.pos = p;
                Ok(p)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the fs region",
            )),
        }
    }
}

/// Timestamps for new directory entries. The module's RTC is not set at boot, and the host's
/// clock would make two runs of the same scenario produce different flash files, so files get
/// the earliest FAT time (1980-01-01 00:00), which keeps flash images reproducible.
#[derive(Debug)]
struct DosEpoch;

impl fatfs::TimeProvider for DosEpoch {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date {
            year: 1980,
            month: 1,
            day: 1,
        }
    }

    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.get_current_date(),
            time: fatfs::Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

static DOS_EPOCH: DosEpoch = DosEpoch;

fn fs_options() -> FsOptions {
    FsOptions::new().time_provider(&DOS_EPOCH)
}

/// Makes a fresh, empty FAT12/16 "super floppy" (no partition table, 512-byte sectors) over the
/// whole region, as `f_mkfs(FM_SFD | FM_FAT)` does. Only the boot sector, FATs and root
/// directory are written: old file data stays in the clusters, as after `os.fsformat`.
pub fn format(flash: &mut FlashFile, region: Region) -> Result<(), FsError> {
    let mut disk = FlashDisk::new(flash, region)?;
    let total_sectors = region.size / u32::from(FAT_SECTOR_SIZE);
    let options = FormatVolumeOptions::new()
        .bytes_per_sector(FAT_SECTOR_SIZE)
        .total_sectors(total_sectors);
    fatfs::format_volume(&mut disk, options).map_err(|e| from_io("/", e))?;
    disk.flush_cache()?;
    Ok(())
}

/// Whether the region holds a FAT volume fatfs can mount.
pub fn is_formatted(flash: &mut FlashFile, region: Region) -> Result<bool, FsError> {
    match with_fs(flash, region, |_| Ok(())) {
        Ok(()) => Ok(true),
        Err(FsError::NoFilesystem(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes a default file at the volume root unless something of that name exists; true if
/// it was created.
fn create_default(fs: &FlashFs<'_, '_>, path: &'static str, text: &[u8]) -> Result<bool, FsError> {
    let name = path.trim_start_matches('/');
    if exists_in(fs, name)? {
        return Ok(false);
    }
    let mut file = fs
        .root_dir()
        .create_file(name)
        .map_err(|e| from_io(path, e))?;
    file.write_all(text).map_err(|e| from_io(path, e))?;
    file.flush().map_err(|e| from_io(path, e))?;
    Ok(true)
}

/// The firmware's mount step at every boot and soft reboot (`mptask.c:421-500`): format if there
/// is no FAT; create `/main.py` if missing; create `/sys`, `/lib`, `/cert` if missing; create
/// `/boot.py` if missing. Existing files are never touched, whatever they hold.
pub fn ensure_defaults(flash: &mut FlashFile, region: Region) -> Result<Defaults, FsError> {
    let mut report = Defaults::default();
    if !is_formatted(flash, region)? {
        format(flash, region)?;
        report.formatted = true;
    }
    with_fs(flash, region, |fs| {
        let root = fs.root_dir();
        // The firmware's order: main.py, the directories, then boot.py.
        if create_default(fs, "/main.py", MAIN_PY)? {
            report.created.push("/main.py");
        }
        for dir in DEFAULT_DIRS {
            let name = dir.trim_start_matches('/');
            if !exists_in(fs, name)? {
                root.create_dir(name).map_err(|e| from_io(dir, e))?;
                report.created.push(dir);
            }
        }
        if create_default(fs, "/boot.py", BOOT_PY)? {
            report.created.push("/boot.py");
        }
        Ok(())
    })?;
    Ok(report)
}

/// Mounts the volume, lends it to `f`, then unmounts and flushes the block cache, so on return
/// everything `f` wrote is in the flash. The escape hatch for what the helpers below don't cover
/// (open files with modes, seek, stat details); paths given to fatfs are relative to the root,
/// without the leading `/` (see [`normalize`]).
pub fn with_fs<R>(
    flash: &mut FlashFile,
    region: Region,
    f: impl FnOnce(&FlashFs<'_, '_>) -> Result<R, FsError>,
) -> Result<R, FsError> {
    let mut disk = FlashDisk::new(flash, region)?;
    let result = {
        let fs = match FileSystem::new(&mut disk, fs_options()) {
            Ok(fs) => fs,
            Err(e) => {
                return Err(match from_io("/", e) {
                    FsError::Flash(flash) => FsError::Flash(flash),
                    other => FsError::NoFilesystem(other.to_string()),
                });
            }
        };
        let result = f(&fs);
        let unmounted = fs.unmount().map_err(|e| from_io("/", e));
        match (result, unmounted) {
            (Ok(value), Ok(())) => Ok(value),
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        }
    };
    // Flush even after an error: the firmware's cache is written back at every sync, and the
    // volume must not be left half-updated because an unrelated step failed.
    let flushed = disk.flush_cache();
    let value = result?;
    flushed?;
    Ok(value)
}

fn exists_in(fs: &FlashFs<'_, '_>, rel: &str) -> Result<bool, FsError> {
    Ok(stat_in(fs, rel)?.is_some())
}

fn stat_in(fs: &FlashFs<'_, '_>, rel: &str) -> Result<Option<Entry>, FsError> {
    if rel.is_empty() {
        return Ok(Some(Entry {
            name: String::new(),
            is_dir: true,
            size: 0,
        }));
    }
    let (parent, name) = match rel.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => ("", rel),
    };
    let dir = if parent.is_empty() {
        fs.root_dir()
    } else {
        match fs.root_dir().open_dir(parent) {
            Ok(dir) => dir,
            Err(e) => {
                return match from_io(rel, e) {
                    FsError::NotFound { .. } | FsError::NotADirectory { .. } => Ok(None),
                    other => Err(other),
                };
            }
        }
    };
    for entry in dir.iter() {
        let entry = entry.map_err(|e| from_io(rel, e))?;
        let long = entry.file_name();
        if long.eq_ignore_ascii_case(name) || entry.short_file_name().eq_ignore_ascii_case(name) {
            return Ok(Some(Entry {
                name: long,
                is_dir: entry.is_dir(),
                size: if entry.is_dir() { 0 } else { entry.len() },
            }));
        }
    }
    Ok(None)
}

/// What is at `path`, or `None` if nothing is.
pub fn stat(flash: &mut FlashFile, region: Region, path: &str) -> Result<Option<Entry>, FsError> {
    let rel = normalize(path)?;
    with_fs(flash, region, |fs| stat_in(fs, &rel))
}

/// The whole content of the file at `path`.
pub fn read_file(flash: &mut FlashFile, region: Region, path: &str) -> Result<Vec<u8>, FsError> {
    let rel = normalize(path)?;
    with_fs(flash, region, |fs| {
        let mut file = fs
            .root_dir()
            .open_file(&rel)
            .map_err(|e| from_io(path, e))?;
        let mut out = Vec::new();
        file.read_to_end(&mut out).map_err(|e| from_io(path, e))?;
        Ok(out)
    })
}

/// Creates or replaces the file at `path` with `data`. The parent directory must exist.
pub fn write_file(
    flash: &mut FlashFile,
    region: Region,
    path: &str,
    data: &[u8],
) -> Result<(), FsError> {
    let rel = normalize(path)?;
    if rel.is_empty() {
        return Err(FsError::IsADirectory {
            path: path.to_owned(),
        });
    }
    with_fs(flash, region, |fs| {
        let err = |e| from_io(path, e);
        let mut file = fs.root_dir().create_file(&rel).map_err(err)?;
        file.truncate().map_err(err)?;
        file.write_all(data).map_err(err)?;
        file.flush().map_err(err)?;
        Ok(())
    })
}

/// Appends `data` to the file at `path`, creating it if missing.
pub fn append_file(
    flash: &mut FlashFile,
    region: Region,
    path: &str,
    data: &[u8],
) -> Result<(), FsError> {
    let rel = normalize(path)?;
    with_fs(flash, region, |fs| {
        let err = |e| from_io(path, e);
        let mut file = fs.root_dir().create_file(&rel).map_err(err)?;
        file.seek(SeekFrom::End(0)).map_err(err)?;
        file.write_all(data).map_err(err)?;
        file.flush().map_err(err)?;
        Ok(())
    })
}

/// The entries of the directory at `path`, without `.` and `..`, in directory order.
pub fn list_dir(flash: &mut FlashFile, region: Region, path: &str) -> Result<Vec<Entry>, FsError> {
    let rel = normalize(path)?;
    with_fs(flash, region, |fs| {
        let dir = if rel.is_empty() {
            fs.root_dir()
        } else {
            fs.root_dir().open_dir(&rel).map_err(|e| from_io(path, e))?
        };
        let mut out = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(|e| from_io(path, e))?;
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            out.push(Entry {
                is_dir: entry.is_dir(),
                size: if entry.is_dir() { 0 } else { entry.len() },
                name,
            });
        }
        Ok(out)
    })
}

/// Creates the directory `path`; its parent must exist and `path` must not.
pub fn mkdir(flash: &mut FlashFile, region: Region, path: &str) -> Result<(), FsError> {
    let rel = normalize(path)?;
    with_fs(flash, region, |fs| {
        if stat_in(fs, &rel)?.is_some() {
            return Err(FsError::AlreadyExists {
                path: path.to_owned(),
            });
        }
        fs.root_dir()
            .create_dir(&rel)
            .map_err(|e| from_io(path, e))?;
        Ok(())
    })
}

/// Removes the file at `path` (`os.remove`: not a directory).
pub fn remove(flash: &mut FlashFile, region: Region, path: &str) -> Result<(), FsError> {
    remove_kind(flash, region, path, false)
}

/// Removes the empty directory at `path` (`os.rmdir`).
pub fn rmdir(flash: &mut FlashFile, region: Region, path: &str) -> Result<(), FsError> {
    remove_kind(flash, region, path, true)
}

fn remove_kind(
    flash: &mut FlashFile,
    region: Region,
    path: &str,
    want_dir: bool,
) -> Result<(), FsError> {
    let rel = normalize(path)?;
    if rel.is_empty() {
        return Err(FsError::InvalidPath {
            path: path.to_owned(),
            reason: "cannot remove the root directory".to_owned(),
        });
    }
    with_fs(flash, region, |fs| {
        let path = path.to_owned();
        match stat_in(fs, &rel)? {
            None => return Err(FsError::NotFound { path }),
            Some(e) if e.is_dir && !want_dir => return Err(FsError::IsADirectory { path }),
            Some(e) if !e.is_dir && want_dir => return Err(FsError::NotADirectory { path }),
            Some(_) => {}
        }
        fs.root_dir().remove(&rel).map_err(|e| from_io(&path, e))
    })
}

/// Renames or moves `from` to `to`; `to` must not exist.
pub fn rename(flash: &mut FlashFile, region: Region, from: &str, to: &str) -> Result<(), FsError> {
    let src = normalize(from)?;
    let dst = normalize(to)?;
    with_fs(flash, region, |fs| {
        if stat_in(fs, &dst)?.is_some() {
            return Err(FsError::AlreadyExists {
                path: to.to_owned(),
            });
        }
        let root = fs.root_dir();
        root.rename(&src, &root, &dst).map_err(|e| from_io(from, e))
    })
}

pub fn stats(flash: &mut FlashFile, region: Region) -> Result<Stats, FsError> {
    with_fs(flash, region, |fs| {
        let s = fs.stats().map_err(|e| from_io("/", e))?;
        Ok(Stats {
            cluster_size: s.cluster_size(),
            total_clusters: s.total_clusters(),
            free_clusters: s.free_clusters(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A LoPy's fs region (127 blocks, 1016 FAT sectors) at the start of an in-memory chip.
    const REGION: Region = Region {
        offset: 0x1000,
        size: 127 * SECTOR_SIZE,
    };

    /// What a cut left, as the next boot finds it.
    #[derive(Debug, Default)]
    struct Outcomes {
        /// Cuts between two whole-block writes (after a program, before the next erase).
        between_blocks: u32,
        /// Cuts between a block's erase and its program: that 4 KiB is all 0xFF.
        inside_block: u32,
        old: u32,
        new: u32,
        /// `f.bin` empty, shorter, missing or holding other bytes.
        torn: u32,
        /// `other.txt`, closed before the write began, gone or changed.
        closed_lost: u32,
        /// No FAT left: the firmware's boot formats the region (`mptask.c:421-440`).
        unmountable: u32,
    }

    /// FatFS on the module's one-block cache: rewriting a 9 KB file (three clusters of 4 KiB on
    /// this volume) erases and programs the FAT block, the directory block and the data blocks
    /// one after the other. A cut between two of those blocks loses nothing that was closed (each
    /// block is whole, old or new); a cut between an erase and its program leaves one block of
    /// 0xFF, and what that costs depends on the block — the boot sector and FATs (the volume: the
    /// next boot formats it, as the firmware does on `FR_NO_FILESYSTEM`), the directory (every
    /// file in it), or data. This is what a FAT module loses, since `sflash_diskio.c` writes
    /// back its cache the same way.
    #[test]
    fn a_cut_on_fat_loses_what_the_block_being_rewritten_held() {
        let v1 = vec![0x11u8; 9000];
        let v2 = vec![0x22u8; 9100];
        let mut base = FlashFile::erased(REGION.offset + REGION.size);
        ensure_defaults(&mut base, REGION).unwrap();
        mkdir(&mut base, REGION, "/d").unwrap();
        write_file(&mut base, REGION, "/d/f.bin", &v1).unwrap();
        write_file(&mut base, REGION, "/d/other.txt", b"closed before").unwrap();
        let image = base.contents().unwrap();
        let mut seen = Outcomes::default();
        for budget in 0usize.. {
            let mut flash = FlashFile::erased(image.len() as u32);
            flash.write(0, &image).unwrap();
            crate::fs::POWER_LEFT.with(|p| p.set(Some(budget)));
            let done = write_file(&mut flash, REGION, "/d/f.bin", &v2).is_ok();
            crate::fs::POWER_LEFT.with(|p| p.set(None));
            let inside = budget % 2 == 1;
            if inside {
                seen.inside_block += 1;
            } else {
                seen.between_blocks += 1;
            }
            if !is_formatted(&mut flash, REGION).unwrap() {
                assert!(inside, "cut {budget}: whole blocks only, yet no FAT");
                seen.unmountable += 1;
                let boot = ensure_defaults(&mut flash, REGION).unwrap();
                assert!(boot.formatted, "the boot formats a region with no FAT");
            } else {
                let other = read_file(&mut flash, REGION, "/d/other.txt");
                if other.as_deref().ok() != Some(&b"closed before"[..]) {
                    assert!(inside, "cut {budget} between whole blocks lost other.txt");
                    seen.closed_lost += 1;
                }
                match read_file(&mut flash, REGION, "/d/f.bin") {
                    Ok(d) if d == v1 => seen.old += 1,
                    Ok(d) if d == v2 => seen.new += 1,
                    _ => seen.torn += 1,
                }
            }
            if done {
                break;
            }
        }
        println!("FAT rewrite of a 9 KB file, cut after every flash operation: {seen:?}");
        // The write has both kinds of cut, and each kind of loss happens.
        assert!(
            seen.inside_block >= 4 && seen.between_blocks >= 4,
            "{seen:?}"
        );
        assert!(seen.torn > 0, "{seen:?}");
        assert!(seen.closed_lost + seen.unmountable > 0, "{seen:?}");
    }
}

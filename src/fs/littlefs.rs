//! `/flash` as LittleFS, the firmware's default when the config block's `boot_fs_type` byte is
//! erased (reference §11.1).
//!
//! The C littlefs the firmware builds (v2.0) runs here too, through the `littlefs2` crate (C
//! littlefs 2.9 writing on-disk version 2.0, so an image made here mounts on the module and back).
//! The geometry is Pycom's (`sflash_diskio_littlefs.c`): read, program, cache and block size all
//! 4096, so littlefs only ever erases a whole sector and programs it whole, and the flash sees
//! the same erase/program pattern as on the module. No wear levelling (`block_cycles` 0 in r4,
//! which littlefs now spells -1).
//!
//! littlefs is copy-on-write: a file's new content goes to fresh blocks and becomes visible in
//! one metadata commit when the file is closed, and a metadata pair is rewritten in its other
//! block before the old one is given up. So a power cut at any point leaves every file either as
//! it was or as it was last closed, which is what `tests/flash_power.rs` checks by killing the
//! simulator mid-write.
//!
//! Like the FAT helpers, every helper mounts, does one thing and lets go, so on return its work
//! is in the flash file.

use littlefs2::consts::{U16, U4096};
use littlefs2::driver::Storage;
use littlefs2::fs::{FileOpenFlags, FileType};
use littlefs2::io::{Error as LfsError, Result as LfsResult};
use littlefs2::object_safe::{DynFile, DynFilesystem, DynStorage};
use littlefs2::path::PathBuf;

use super::{BOOT_PY, DEFAULT_DIRS, Defaults, Entry, FsError, MAIN_PY, Stats, normalize, powered};
use crate::board::Region;
use crate::flash::{FlashError, FlashFile, SECTOR_SIZE};

/// littlefs's block: the flash's 4 KiB erase sector, as Pycom configures it.
const BLOCK: usize = SECTOR_SIZE as usize;

/// Where a LittleFS superblock names itself: `"littlefs"` after the 4-byte revision count and
/// the 4-byte tag of the first commit in block 0 or block 1 (littlefs SPEC.md).
const MAGIC: &[u8; 8] = b"littlefs";
const MAGIC_OFFSET: u32 = 8;

/// The fs region as littlefs storage. `BLOCKS` is a constant because littlefs2 takes the geometry
/// as constants: 127 blocks on a 4 MB board, 1024 on an 8 MB one (reference §11.2).
struct RegionStorage<'f, const BLOCKS: usize> {
    flash: &'f mut FlashFile,
    base: u32,
    /// The flash error behind the last `IO` littlefs saw, so the caller can name it.
    fault: &'f mut Option<FlashError>,
}

impl<const BLOCKS: usize> RegionStorage<'_, BLOCKS> {
    fn addr(&self, off: usize, len: usize) -> LfsResult<u32> {
        match off.checked_add(len) {
            Some(end) if end <= BLOCKS * BLOCK => u32::try_from(off)
                .map(|o| self.base + o)
                .map_err(|_| LfsError::IO),
            _ => Err(LfsError::IO),
        }
    }

    fn failed(&mut self, e: FlashError) -> LfsError {
        *self.fault = Some(e);
        LfsError::IO
    }
}

impl<const BLOCKS: usize> Storage for RegionStorage<'_, BLOCKS> {
    const READ_SIZE: usize = BLOCK;
    const WRITE_SIZE: usize = BLOCK;
    const BLOCK_SIZE: usize = BLOCK;
    const BLOCK_COUNT: usize = BLOCKS;
    const BLOCK_CYCLES: isize = -1;
    type CACHE_SIZE = U4096;
    /// 128 bytes, the 8 MB boards' figure; the 4 MB boards' 32 only changes which free block is
    /// picked first, never what is stored.
    type LOOKAHEAD_SIZE = U16;

    fn read(&mut self, off: usize, buf: &mut [u8]) -> LfsResult<usize> {
        let addr = self.addr(off, buf.len())?;
        match self.flash.read(addr, buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn write(&mut self, off: usize, data: &[u8]) -> LfsResult<usize> {
        let addr = self.addr(off, data.len())?;
        if !powered() {
            return Err(LfsError::IO);
        }
        match self.flash.write(addr, data) {
            Ok(()) => Ok(data.len()),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn erase(&mut self, off: usize, len: usize) -> LfsResult<usize> {
        let addr = self.addr(off, len)?;
        if !powered() {
            return Err(LfsError::IO);
        }
        // `addr` checked that off + len fits in the region, so this cannot overflow.
        match self.flash.erase(addr, addr + len as u32) {
            Ok(()) => Ok(len),
            Err(e) => Err(self.failed(e)),
        }
    }
}

/// Lends `f` the region as littlefs storage of the right geometry, and turns littlefs's error
/// into ours (the flash's own error when that was the cause).
fn with_storage<R>(
    flash: &mut FlashFile,
    region: Region,
    path: &str,
    f: impl FnOnce(&mut dyn DynStorage) -> Result<R, LfsError>,
) -> Result<R, FsError> {
    let end = u64::from(region.offset) + u64::from(region.size);
    if !region.offset.is_multiple_of(SECTOR_SIZE)
        || !region.size.is_multiple_of(SECTOR_SIZE)
        || end > u64::from(flash.size())
    {
        return Err(FsError::BadRegion {
            offset: region.offset,
            size: region.size,
        });
    }
    let mut fault = None;
    let base = region.offset;
    let result = match region.size / SECTOR_SIZE {
        127 => f(&mut RegionStorage::<127> {
            flash,
            base,
            fault: &mut fault,
        }),
        1024 => f(&mut RegionStorage::<1024> {
            flash,
            base,
            fault: &mut fault,
        }),
        blocks => {
            return Err(FsError::Unsupported(format!(
                "LittleFS on a /flash of {blocks} blocks: the firmware (and pycom-sim) has it on \
                 127 (4 MB boards) or 1024 (8 MB boards); give the board's fs region one of \
                 those sizes, or use FAT (pycom.bootmgr(fs_type=pycom.FAT))"
            )));
        }
    };
    result.map_err(|e| match fault {
        Some(flash) => FsError::Flash(flash),
        None => from_lfs(path, e),
    })
}

/// littlefs's error about `path` as ours.
fn from_lfs(path: &str, e: LfsError) -> FsError {
    let path = path.to_owned();
    match e {
        LfsError::NO_SUCH_ENTRY => FsError::NotFound { path },
        LfsError::ENTRY_ALREADY_EXISTED => FsError::AlreadyExists { path },
        LfsError::PATH_IS_DIR => FsError::IsADirectory { path },
        LfsError::PATH_NOT_DIR => FsError::NotADirectory { path },
        LfsError::DIR_NOT_EMPTY => FsError::NotEmpty { path },
        LfsError::NO_SPACE => FsError::NoSpace { path },
        LfsError::FILENAME_TOO_LONG => FsError::InvalidPath {
            path,
            reason: "name longer than 255 bytes".to_owned(),
        },
        LfsError::CORRUPTION => FsError::Corrupt { path },
        other => FsError::Io {
            path,
            source: std::io::Error::other(format!("littlefs error {}", other.code())),
        },
    }
}

/// The littlefs path of a volume path (`/lib/x.py`), or why it cannot be one.
fn lfs_path(path: &str) -> Result<PathBuf, FsError> {
    let rel = normalize(path)?;
    PathBuf::try_from(format!("/{rel}").as_str()).map_err(|e| FsError::InvalidPath {
        path: path.to_owned(),
        reason: format!("{e:?}"),
    })
}

/// Mounts, runs `f` on the mounted volume, lets go. A volume that does not mount is
/// [`FsError::NoFilesystem`].
fn with_fs<R>(
    flash: &mut FlashFile,
    region: Region,
    path: &str,
    f: impl FnOnce(&dyn DynFilesystem) -> Result<R, LfsError>,
) -> Result<R, FsError> {
    let mut f = Some(f);
    let mut mounted = false;
    let result = with_storage(flash, region, path, |storage| {
        storage.mount_and_then(&mut |fs| {
            mounted = true;
            match f.take() {
                Some(f) => f(fs),
                None => Err(LfsError::IO),
            }
        })
    });
    match result {
        Err(FsError::Flash(e)) => Err(FsError::Flash(e)),
        Err(e) if !mounted => Err(FsError::NoFilesystem(format!(
            "LittleFS does not mount: {e}"
        ))),
        other => other,
    }
}

/// A fresh, empty LittleFS over the whole region (`lfs_format`, as `os.fsformat('/flash')`
/// does on a LittleFS module). Blocks it does not need keep their old bytes.
pub fn format(flash: &mut FlashFile, region: Region) -> Result<(), FsError> {
    with_storage(flash, region, "/", |storage| storage.format())
}

/// Whether the region holds a LittleFS that mounts.
pub fn is_formatted(flash: &mut FlashFile, region: Region) -> Result<bool, FsError> {
    match with_fs(flash, region, "/", |_| Ok(())) {
        Ok(()) => Ok(true),
        Err(FsError::NoFilesystem(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the first two blocks look like a LittleFS superblock (cheap: no mount). The FAT
/// boot sector, FATs and root directory fill both blocks on every board, and `lfs_format`
/// writes both, so the two filesystems never both claim one region.
pub fn has_superblock(flash: &FlashFile, region: Region) -> bool {
    [0, SECTOR_SIZE].iter().any(|block| {
        let mut magic = [0u8; 8];
        region.size >= 2 * SECTOR_SIZE
            && flash
                .read(region.offset + block + MAGIC_OFFSET, &mut magic)
                .is_ok()
            && &magic == MAGIC
    })
}

/// The firmware's LittleFS mount at every boot and soft reboot (`mptask.c:502-613`): mount, or
/// format and mount; then `/main.py` and `/boot.py` if missing (created exclusively, so a
/// directory of that name is left alone), then `/sys`, `/lib`, `/cert`.
pub fn ensure_defaults(flash: &mut FlashFile, region: Region) -> Result<Defaults, FsError> {
    let mut report = Defaults::default();
    if !is_formatted(flash, region)? {
        format(flash, region)?;
        report.formatted = true;
    }
    let mut created = Vec::new();
    with_fs(flash, region, "/", |fs| {
        for (name, text) in [("/main.py", MAIN_PY), ("/boot.py", BOOT_PY)] {
            let path = PathBuf::try_from(name).map_err(|_| LfsError::INVALID)?;
            let flags = FileOpenFlags::WRITE | FileOpenFlags::CREATE | FileOpenFlags::EXCL;
            match fs.open_file_with_flags_and_then(flags, &path, &mut |file| file.write_all(text)) {
                Ok(()) => created.push(name),
                Err(LfsError::ENTRY_ALREADY_EXISTED) => {}
                Err(e) => return Err(e),
            }
        }
        for dir in DEFAULT_DIRS {
            let path = PathBuf::try_from(dir).map_err(|_| LfsError::INVALID)?;
            match fs.create_dir(&path) {
                Ok(()) => created.push(dir),
                Err(LfsError::ENTRY_ALREADY_EXISTED) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })?;
    report.created = created;
    Ok(report)
}

fn entry(name: String, kind: FileType, size: usize) -> Entry {
    let is_dir = kind.is_dir();
    Entry {
        name,
        is_dir,
        size: if is_dir { 0 } else { size as u64 },
    }
}

/// What is at `path`, or `None` if nothing is.
pub fn stat(flash: &mut FlashFile, region: Region, path: &str) -> Result<Option<Entry>, FsError> {
    let p = lfs_path(path)?;
    let name = p.file_name().map(|n| n.to_string()).unwrap_or_default();
    with_fs(flash, region, path, |fs| match fs.metadata(&p) {
        Ok(m) => Ok(Some(entry(name.clone(), m.file_type(), m.len()))),
        Err(LfsError::NO_SUCH_ENTRY | LfsError::PATH_NOT_DIR) => Ok(None),
        Err(e) => Err(e),
    })
}

fn read_all(file: &dyn DynFile) -> Result<Vec<u8>, LfsError> {
    let mut out = vec![0u8; file.len()?];
    let mut done = 0;
    while done < out.len() {
        match file.read(&mut out[done..])? {
            0 => break,
            n => done += n,
        }
    }
    out.truncate(done);
    Ok(out)
}

/// The whole content of the file at `path`.
pub fn read_file(flash: &mut FlashFile, region: Region, path: &str) -> Result<Vec<u8>, FsError> {
    let p = lfs_path(path)?;
    with_fs(flash, region, path, |fs| {
        fs.open_file_and_then(&p, &mut |file| read_all(file))
    })
}

fn write_with(
    flash: &mut FlashFile,
    region: Region,
    path: &str,
    data: &[u8],
    flags: FileOpenFlags,
) -> Result<(), FsError> {
    let p = lfs_path(path)?;
    if p.as_ref() == "/" {
        return Err(FsError::IsADirectory {
            path: path.to_owned(),
        });
    }
    with_fs(flash, region, path, |fs| {
        fs.open_file_with_flags_and_then(flags, &p, &mut |file| file.write_all(data))
    })
}

/// Creates or replaces the file at `path` with `data`; the parent directory must exist. The
/// old content stays until the new one is complete (littlefs commits it at close).
pub fn write_file(
    flash: &mut FlashFile,
    region: Region,
    path: &str,
    data: &[u8],
) -> Result<(), FsError> {
    let flags = FileOpenFlags::WRITE | FileOpenFlags::CREATE | FileOpenFlags::TRUNCATE;
    write_with(flash, region, path, data, flags)
}

/// Appends `data` to the file at `path`, creating it if missing.
pub fn append_file(
    flash: &mut FlashFile,
    region: Region,
    path: &str,
    data: &[u8],
) -> Result<(), FsError> {
    let flags = FileOpenFlags::WRITE | FileOpenFlags::CREATE | FileOpenFlags::APPEND;
    write_with(flash, region, path, data, flags)
}

/// The entries of the directory at `path`, without `.` and `..`, in littlefs's order (sorted
/// by name).
pub fn list_dir(flash: &mut FlashFile, region: Region, path: &str) -> Result<Vec<Entry>, FsError> {
    let p = lfs_path(path)?;
    with_fs(flash, region, path, |fs| {
        match fs.metadata(&p) {
            Ok(m) if !m.is_dir() => return Err(LfsError::PATH_NOT_DIR),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        fs.read_dir_and_then(&p, &mut |entries| {
            let mut out = Vec::new();
            for e in entries {
                let e = e?;
                let name = e.file_name().to_string();
                if name == "." || name == ".." {
                    continue;
                }
                out.push(entry(name, e.file_type(), e.metadata().len()));
            }
            Ok(out)
        })
    })
}

/// Creates the directory `path`; its parent must exist and `path` must not.
pub fn mkdir(flash: &mut FlashFile, region: Region, path: &str) -> Result<(), FsError> {
    let p = lfs_path(path)?;
    with_fs(flash, region, path, |fs| fs.create_dir(&p))
}

/// `lfs_remove`: a file, or an empty directory (the firmware's `os.remove` and `os.rmdir` are
/// both this on LittleFS).
pub fn remove(flash: &mut FlashFile, region: Region, path: &str) -> Result<(), FsError> {
    let p = lfs_path(path)?;
    if p.as_ref() == "/" {
        return Err(FsError::InvalidPath {
            path: path.to_owned(),
            reason: "cannot remove the root directory".to_owned(),
        });
    }
    with_fs(flash, region, path, |fs| fs.remove(&p))
}

/// `lfs_rename`: moves `from` to `to` in one commit, replacing a file (or an empty directory,
/// for a directory) already at `to`.
pub fn rename(flash: &mut FlashFile, region: Region, from: &str, to: &str) -> Result<(), FsError> {
    let a = lfs_path(from)?;
    let b = lfs_path(to)?;
    with_fs(flash, region, from, |fs| fs.rename(&a, &b))
}

/// Size figures: 4 KiB blocks, the region's count, and the blocks `lfs_fs_size` does not count
/// as in use (what the firmware's `os.getfree` and `os.statvfs` report).
pub fn stats(flash: &mut FlashFile, region: Region) -> Result<Stats, FsError> {
    with_fs(flash, region, "/", |fs| {
        let total = fs.total_blocks();
        let free = fs.available_blocks()?;
        Ok(Stats {
            cluster_size: BLOCK as u32,
            total_clusters: total as u32,
            free_clusters: free as u32,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A LoPy's fs region (127 blocks) at the start of an in-memory chip.
    const REGION: Region = Region {
        offset: 0x1000,
        size: 127 * SECTOR_SIZE,
    };

    fn fresh() -> FlashFile {
        let mut flash = FlashFile::erased(REGION.offset + REGION.size);
        let report = ensure_defaults(&mut flash, REGION).expect("mount or format");
        assert!(report.formatted);
        assert_eq!(
            report.created,
            vec!["/main.py", "/boot.py", "/sys", "/lib", "/cert"]
        );
        flash
    }

    fn names(flash: &mut FlashFile, dir: &str) -> Vec<String> {
        list_dir(flash, REGION, dir)
            .expect("list")
            .into_iter()
            .map(|e| {
                if e.is_dir {
                    format!("{}/", e.name)
                } else {
                    e.name
                }
            })
            .collect()
    }

    #[test]
    fn the_firmware_defaults_on_an_erased_region_and_nothing_twice() {
        let mut flash = fresh();
        assert!(has_superblock(&flash, REGION));
        assert_eq!(
            names(&mut flash, "/"),
            ["boot.py", "cert/", "lib/", "main.py", "sys/"]
        );
        assert_eq!(read_file(&mut flash, REGION, "/main.py").unwrap(), MAIN_PY);
        assert_eq!(read_file(&mut flash, REGION, "/boot.py").unwrap(), BOOT_PY);
        write_file(&mut flash, REGION, "/boot.py", b"# mine").unwrap();
        let again = ensure_defaults(&mut flash, REGION).unwrap();
        assert_eq!(again, Defaults::default());
        assert_eq!(
            read_file(&mut flash, REGION, "/boot.py").unwrap(),
            b"# mine"
        );
        assert_eq!(flash.bit_set_violations(), 0);
    }

    #[test]
    fn files_and_directories_behave_as_littlefs_says() {
        let mut flash = fresh();
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        write_file(&mut flash, REGION, "/lib/big.bin", &big).unwrap();
        append_file(&mut flash, REGION, "/lib/big.bin", b"tail").unwrap();
        let back = read_file(&mut flash, REGION, "/lib/big.bin").unwrap();
        assert_eq!(back.len(), 20_004);
        assert_eq!(&back[..20_000], &big[..]);
        let st = stat(&mut flash, REGION, "/lib/big.bin").unwrap().unwrap();
        assert_eq!(
            (st.name.as_str(), st.is_dir, st.size),
            ("big.bin", false, 20_004)
        );
        // Names are case-sensitive on LittleFS (not on FAT).
        assert!(stat(&mut flash, REGION, "/LIB/big.bin").unwrap().is_none());
        assert!(matches!(
            mkdir(&mut flash, REGION, "/lib"),
            Err(FsError::AlreadyExists { .. })
        ));
        assert!(matches!(
            remove(&mut flash, REGION, "/lib"),
            Err(FsError::NotEmpty { .. })
        ));
        assert!(matches!(
            read_file(&mut flash, REGION, "/nope"),
            Err(FsError::NotFound { .. })
        ));
        assert!(matches!(
            write_file(&mut flash, REGION, "/nodir/x", b"1"),
            Err(FsError::NotFound { .. })
        ));
        // lfs_rename replaces a file in one commit.
        write_file(&mut flash, REGION, "/a.txt", b"new").unwrap();
        rename(&mut flash, REGION, "/a.txt", "/main.py").unwrap();
        assert_eq!(read_file(&mut flash, REGION, "/main.py").unwrap(), b"new");
        remove(&mut flash, REGION, "/lib/big.bin").unwrap();
        remove(&mut flash, REGION, "/lib").unwrap();
        assert_eq!(
            names(&mut flash, "/"),
            ["boot.py", "cert/", "main.py", "sys/"]
        );
        let s = stats(&mut flash, REGION).unwrap();
        assert_eq!((s.cluster_size, s.total_clusters), (4096, 127));
        assert!(s.free_clusters > 100 && s.free_clusters < 127, "{s:?}");
        assert_eq!(flash.bit_set_violations(), 0);
    }

    #[test]
    fn an_image_of_garbage_is_no_filesystem_not_a_panic() {
        let mut flash = FlashFile::erased(REGION.offset + REGION.size);
        let junk: Vec<u8> = (0..2 * SECTOR_SIZE)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        flash.write(REGION.offset, &junk).unwrap();
        assert!(!is_formatted(&mut flash, REGION).unwrap());
        assert!(matches!(
            list_dir(&mut flash, REGION, "/"),
            Err(FsError::NoFilesystem(_))
        ));
        assert!(crate::fs::littlefs_image_files(&junk).is_err());
    }

    /// Rewrites `/d/f.bin` (v1 → v2, 9 KB each, three blocks) and cuts the power after each
    /// erase or program in turn, up to the one after which the write has finished: every cut
    /// leaves a volume that mounts, the other file untouched, and `f.bin` either v1 or v2.
    #[test]
    fn a_cut_after_any_flash_operation_leaves_the_old_or_the_new_file() {
        let v1 = vec![0x11u8; 9000];
        let v2 = vec![0x22u8; 9100];
        let mut base = fresh();
        mkdir(&mut base, REGION, "/d").unwrap();
        write_file(&mut base, REGION, "/d/f.bin", &v1).unwrap();
        write_file(&mut base, REGION, "/d/other.txt", b"closed before").unwrap();
        let image = base.contents().unwrap();
        let (mut old, mut new) = (0, 0);
        for budget in 0.. {
            let mut flash = FlashFile::erased(image.len() as u32);
            flash.write(0, &image).unwrap();
            crate::fs::POWER_LEFT.with(|p| p.set(Some(budget)));
            let done = write_file(&mut flash, REGION, "/d/f.bin", &v2).is_ok();
            crate::fs::POWER_LEFT.with(|p| p.set(None));
            let now = read_file(&mut flash, REGION, "/d/f.bin").expect("mounts after the cut");
            assert_eq!(
                read_file(&mut flash, REGION, "/d/other.txt").unwrap(),
                b"closed before"
            );
            if now == v1 {
                old += 1;
            } else {
                assert_eq!(now, v2, "cut after {budget} operations: torn file");
                new += 1;
            }
            if done {
                break;
            }
        }
        assert!(old >= 3 && new >= 1, "old {old}, new {new}");
    }

    /// Seeded byte flips in a real volume's metadata blocks: mounting and walking it never
    /// panics or hangs, whatever the flips did (an error is fine).
    #[test]
    fn flipped_metadata_is_an_error_or_a_volume_never_a_crash() {
        let region = Region {
            offset: 0,
            size: 127 * SECTOR_SIZE,
        };
        let mut flash = FlashFile::erased(region.size);
        ensure_defaults(&mut flash, region).unwrap();
        write_file(&mut flash, region, "/lib/a.py", &[7u8; 6000]).unwrap();
        let image = flash.contents().unwrap();
        let used = 12 * SECTOR_SIZE as usize;
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..300 {
            let mut bad = image[..used].to_vec();
            for _ in 0..1 + next() % 8 {
                let at = (next() % used as u64) as usize;
                bad[at] ^= 1 << (next() % 8);
            }
            let _ = crate::fs::littlefs_image_files(&bad);
        }
    }
}

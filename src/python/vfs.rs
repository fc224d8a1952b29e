//! The device's file namespace: `/flash` (FAT or LittleFS in the flash file, see `crate::fs`) and,
//! when mounted, `/sd` (a host directory given with `--sd DIR`). Python paths are resolved here, against the current
//! directory, and never reach the host's filesystem except inside that SD directory.
//!
//! Errors are the firmware's: errno numbers as MicroPython's FatFS port raises them
//! (`fresult_to_errno_table`, `extmod/vfs.c`), or on LittleFS as Pycom's `vfs_littlefs.c` does
//! (`littleFsErrorToErrno`), so `OSError: [Errno 2] ENOENT` reads the same.
//! Paths outside every mount (`/etc/passwd`) give ENODEV, as `mp_vfs_lookup_path` does.

use std::cell::RefMut;
use std::io;
use std::path::{Path, PathBuf};

use crate::board::Region;
use crate::flash::FlashFile;
use crate::fs::{self, FsError, FsKind};
use crate::python::bridge::Bridge;

/// MicroPython's errno numbers (`py/mperrno.h`), which are Linux's whatever the host is.
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const ENOEXEC: i32 = 8;
    pub const EBADF: i32 = 9;
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
    pub const EACCES: i32 = 13;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const EXDEV: i32 = 18;
    pub const ENODEV: i32 = 19;
    pub const ENOTDIR: i32 = 20;
    pub const EISDIR: i32 = 21;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
    pub const EROFS: i32 = 30;
    pub const ENOTEMPTY: i32 = 39;

    /// The name MicroPython prints for an errno (`[Errno 2] ENOENT`). Only the firmware's
    /// `uerrno` list has names; others print as the bare number (`OSError: 20`).
    pub fn name(n: i32) -> Option<&'static str> {
        Some(match n {
            EPERM => "EPERM",
            ENOENT => "ENOENT",
            EIO => "EIO",
            EBADF => "EBADF",
            EAGAIN => "EAGAIN",
            ENOMEM => "ENOMEM",
            EACCES => "EACCES",
            EEXIST => "EEXIST",
            ENODEV => "ENODEV",
            EISDIR => "EISDIR",
            EINVAL => "EINVAL",
            _ => return None,
        })
    }
}

/// Where the `/flash` volume is mounted.
pub const FLASH_MOUNT: &str = "/flash";
/// Where `os.mount(machine.SD(), '/sd')` mounts the SD card.
pub const SD_MOUNT: &str = "/sd";
/// The size the SD card reports (`os.statvfs('/sd')`, `os.getfree('/sd')`): a 4 GB card.
pub const SD_CAPACITY: u64 = 4 * 1024 * 1024 * 1024;
/// Block size the SD card reports.
pub const SD_BLOCK: u64 = 4096;
/// Modification time of every `/flash` file, in seconds since 1970: the FAT timestamps are
/// 1980-01-01 00:00 (see `fs.rs`), so flash images stay reproducible.
pub const FLASH_MTIME: u64 = 315_532_800;
/// What `mount` says when the simulator was started without an SD directory.
pub const NO_SD_CARD: &str = "no SD card: start pycom-sim with --sd DIR";

/// An `OSError` as the firmware raises it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VfsError {
    /// `OSError(errno)`: printed `[Errno 2] ENOENT` (or `20` for an errno without a name).
    #[error("{}", errno_text(*.0))]
    Errno(i32),
    /// An errno with a message of ours instead of the bare name.
    #[error("[Errno {0}] {1}")]
    ErrnoMsg(i32, String),
    /// `OSError("text")` with no errno (`Cannot format root dir`).
    #[error("{0}")]
    Message(String),
}

/// How MicroPython prints an errno: `[Errno 2] ENOENT`, or the number if it has no name.
pub fn errno_text(n: i32) -> String {
    match errno::name(n) {
        Some(name) => format!("[Errno {n}] {name}"),
        None => n.to_string(),
    }
}

impl VfsError {
    /// The errno, if the error has one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            VfsError::Errno(n) | VfsError::ErrnoMsg(n, _) => Some(*n),
            VfsError::Message(_) => None,
        }
    }
}

fn err(n: i32) -> VfsError {
    VfsError::Errno(n)
}

/// Where an absolute device path lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `/` itself: the list of mounted volumes.
    Root,
    /// A path inside `/flash`, as the FAT volume knows it (`/main.py`; `/` is its root).
    Flash(String),
    /// A path inside the mounted SD card (`/data/log.txt`; `/` is its root).
    Sd(String),
}

/// What `stat` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub is_dir: bool,
    /// Bytes; 0 for directories.
    pub size: u64,
    /// Seconds since 1970.
    pub mtime: u64,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
}

/// What `statvfs` reports (MicroPython's order minus the constant fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeStats {
    /// Block (cluster) size in bytes.
    pub block_size: u64,
    pub blocks: u64,
    pub free_blocks: u64,
}

/// How `open()` opens a file (the mode letter; `+` is separate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenKind {
    /// `r`: the file must exist.
    Read,
    /// `w`: created or truncated.
    Write,
    /// `x`: created; must not exist.
    Exclusive,
    /// `a`: created if missing, kept otherwise.
    Append,
}

/// Normalises `path` against the current directory: `.` and `..` resolved (never above `/`),
/// no trailing `/`.
pub fn absolute(bridge: &Bridge, path: &str) -> String {
    if path.starts_with('/') {
        return normalize(path);
    }
    let cwd = bridge.session.borrow().cwd.clone();
    normalize(&format!("{cwd}/{path}"))
}

/// `.` and `..` resolved in an absolute path; `..` at `/` stays at `/`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The volume path under a mount point: `rest` of `/flash<rest>`, or None if `path` is not on it.
fn under(path: &str, mount: &str) -> Option<String> {
    let rest = path.strip_prefix(mount)?;
    if rest.is_empty() {
        Some("/".to_string())
    } else if rest.starts_with('/') {
        Some(rest.to_string())
    } else {
        None
    }
}

/// Which volume an absolute, normalised path is on; ENODEV for a path under no mount point.
pub fn locate(bridge: &Bridge, path: &str) -> Result<Location, VfsError> {
    if path == "/" {
        return Ok(Location::Root);
    }
    if let Some(rel) = under(path, FLASH_MOUNT) {
        return Ok(Location::Flash(rel));
    }
    if sd_mounted(bridge)
        && let Some(rel) = under(path, SD_MOUNT)
    {
        return Ok(Location::Sd(rel));
    }
    Err(err(errno::ENODEV))
}

/// Resolves a user path to its absolute form and volume.
pub fn resolve(bridge: &Bridge, path: &str) -> Result<(String, Location), VfsError> {
    let abs = absolute(bridge, path);
    let loc = locate(bridge, &abs)?;
    Ok((abs, loc))
}

/// Whether `/sd` is mounted in this interpreter's life.
pub fn sd_mounted(bridge: &Bridge) -> bool {
    bridge.session.try_borrow().is_ok_and(|s| s.sd_mounted)
}

/// `dir` + `name` as the importer forms it (`''` means the current directory).
pub fn join(_bridge: &Bridge, dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

/// The file name tracebacks show for a module found at `path` (as given, like the firmware).
pub fn display_name(_bridge: &Bridge, path: &str) -> String {
    path.to_string()
}

// ----- errors ------------------------------------------------------------------------------

/// A fs.rs error as FatFS would have reported it (`fresult_to_errno_table`).
fn fat_errno(e: &FsError) -> VfsError {
    err(match e {
        FsError::NotFound { .. } => errno::ENOENT,
        FsError::AlreadyExists { .. } => errno::EEXIST,
        FsError::IsADirectory { .. } => errno::EISDIR,
        FsError::NotADirectory { .. } => errno::ENOTDIR,
        // FR_DENIED: f_unlink of a directory that is not empty.
        FsError::NotEmpty { .. } => errno::EACCES,
        FsError::InvalidPath { .. } => errno::EINVAL,
        FsError::NoFilesystem(_) | FsError::Unsupported(_) => errno::ENODEV,
        FsError::NoSpace { .. } => errno::ENOSPC,
        FsError::Corrupt { .. } => errno::ENOEXEC,
        FsError::Io { source, .. } if source.to_string().contains("No space") => errno::ENOSPC,
        FsError::Flash(_) | FsError::BadRegion { .. } | FsError::Io { .. } => errno::EIO,
    })
}

/// A host error on the SD card as the FAT card would have reported it.
fn host_errno(e: &io::Error) -> VfsError {
    use io::ErrorKind as K;
    err(match e.kind() {
        K::NotFound => errno::ENOENT,
        K::AlreadyExists => errno::EEXIST,
        K::PermissionDenied | K::DirectoryNotEmpty => errno::EACCES,
        K::IsADirectory => errno::EISDIR,
        K::NotADirectory => errno::ENOENT,
        K::StorageFull => errno::ENOSPC,
        K::ReadOnlyFilesystem => errno::EROFS,
        K::InvalidInput | K::InvalidFilename => errno::EINVAL,
        K::OutOfMemory => errno::ENOMEM,
        _ => errno::EIO,
    })
}

// ----- /flash ------------------------------------------------------------------------------

/// Runs `f` on the flash file and the `/flash` region. A flash already in use (a finaliser
/// running inside another flash operation) is EBUSY rather than a panic. `map` gives FatFS's
/// errno; on LittleFS the few that differ are LittleFS's (a directory not empty is ENOTEMPTY,
/// not FatFS's EACCES).
fn with_flash<R>(
    bridge: &Bridge,
    f: impl FnOnce(&mut FlashFile, Region) -> Result<R, FsError>,
    map: impl FnOnce(&FsError) -> VfsError,
) -> Result<R, VfsError> {
    let mut flash: RefMut<'_, FlashFile> = bridge
        .flash
        .try_borrow_mut()
        .map_err(|_| err(errno::EBUSY))?;
    let kind = fs::kind_of(&flash, bridge.board.fs);
    f(&mut flash, bridge.board.fs).map_err(|e| match (kind, &e) {
        (FsKind::LittleFs, FsError::NotEmpty { .. }) => err(errno::ENOTEMPTY),
        _ => map(&e),
    })
}

/// Which filesystem `/flash` is: the one the region holds (what the boot mounted, until the
/// next boot acts on a `pycom.bootmgr(fs_type=…)`).
fn flash_kind(bridge: &Bridge) -> Result<FsKind, VfsError> {
    let flash = bridge.flash.try_borrow().map_err(|_| err(errno::EBUSY))?;
    Ok(fs::kind_of(&flash, bridge.board.fs))
}

fn flash_stat(bridge: &Bridge, rel: &str) -> Result<Option<Stat>, VfsError> {
    let entry = with_flash(bridge, |f, r| fs::stat(f, r, rel), fat_errno)?;
    Ok(entry.map(|e| Stat {
        is_dir: e.is_dir,
        size: e.size,
        mtime: FLASH_MTIME,
    }))
}

// ----- /sd ---------------------------------------------------------------------------------

/// The SD card's host directory, canonical; ENODEV when there is none.
fn sd_root(bridge: &Bridge) -> Result<PathBuf, VfsError> {
    let dir = bridge
        .sd_dir
        .as_ref()
        .ok_or_else(|| VfsError::ErrnoMsg(errno::ENODEV, NO_SD_CARD.to_string()))?;
    let root = dir.canonicalize().map_err(|e| {
        VfsError::ErrnoMsg(
            errno::ENODEV,
            format!("SD card directory {}: {e}", dir.display()),
        )
    })?;
    if !root.is_dir() {
        return Err(VfsError::ErrnoMsg(
            errno::ENODEV,
            format!("SD card directory {} is not a directory", dir.display()),
        ));
    }
    Ok(root)
}

/// The components of a path on the card, each a plain FAT name (no `..`, no separators or
/// characters FAT refuses, which on some hosts would mean something else).
fn sd_components(rel: &str) -> Result<Vec<&str>, VfsError> {
    let mut out = Vec::new();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(err(errno::EINVAL)),
            p if p
                .chars()
                .any(|c| c.is_control() || "\\:*?\"<>|".contains(c)) =>
            {
                return Err(err(errno::EINVAL));
            }
            p => out.push(p),
        }
    }
    Ok(out)
}

/// What the card says about a symlink that leads out of it (or nowhere).
fn refused() -> VfsError {
    err(errno::EACCES)
}

/// The host path of `comps` under `root`, following symlinks only where they stay inside the
/// card. The existing part of the result has no symlinks left in it; a missing part is
/// appended as plain names, so anything created there is created inside the card.
fn sd_follow(root: &Path, comps: &[&str]) -> Result<PathBuf, VfsError> {
    let mut cur = root.to_path_buf();
    for (i, comp) in comps.iter().enumerate() {
        let next = cur.join(comp);
        match std::fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                let real = next.canonicalize().map_err(|_| refused())?;
                if !real.starts_with(root) {
                    return Err(refused());
                }
                cur = real;
            }
            Ok(_) => cur = next,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                cur = next;
                for rest in &comps[i + 1..] {
                    cur.push(rest);
                }
                return Ok(cur);
            }
            Err(e) => return Err(host_errno(&e)),
        }
    }
    Ok(cur)
}

/// The host path of a card path, every symlink followed and confined.
fn sd_path(bridge: &Bridge, rel: &str) -> Result<PathBuf, VfsError> {
    let root = sd_root(bridge)?;
    let comps = sd_components(rel)?;
    sd_follow(&root, &comps)
}

/// The host path of a card path whose last component is not followed (remove, rename,
/// mkdir act on a symlink itself, never on its target). EPERM for the card's root.
fn sd_entry(bridge: &Bridge, rel: &str) -> Result<PathBuf, VfsError> {
    let root = sd_root(bridge)?;
    let comps = sd_components(rel)?;
    let Some((last, parents)) = comps.split_last() else {
        return Err(err(errno::EPERM));
    };
    Ok(sd_follow(&root, parents)?.join(last))
}

fn sd_stat(bridge: &Bridge, rel: &str) -> Result<Option<Stat>, VfsError> {
    let path = sd_path(bridge, rel)?;
    match std::fs::metadata(&path) {
        Ok(m) => Ok(Some(host_stat(&m))),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(host_errno(&e)),
    }
}

fn host_stat(m: &std::fs::Metadata) -> Stat {
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Stat {
        is_dir: m.is_dir(),
        size: if m.is_dir() { 0 } else { m.len() },
        mtime,
    }
}

/// Bytes used under `dir` (not following symlinks), for the card's free space.
fn host_usage(dir: &Path, depth: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0u64;
    for entry in entries.flatten() {
        let Ok(m) = entry.metadata() else { continue };
        if m.is_dir() {
            if depth < 32 {
                total = total.saturating_add(host_usage(&entry.path(), depth + 1));
            }
        } else {
            total = total.saturating_add(m.len().div_ceil(SD_BLOCK) * SD_BLOCK);
        }
    }
    total
}

/// Empties the card: everything inside the SD directory goes, the directory stays. Symlinks
/// are removed, never followed.
fn sd_erase(root: &Path) -> Result<(), VfsError> {
    let entries = std::fs::read_dir(root).map_err(|e| host_errno(&e))?;
    for entry in entries {
        let entry = entry.map_err(|e| host_errno(&e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| host_errno(&e))?;
        let removed = if kind.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| host_errno(&e))?;
    }
    Ok(())
}

// ----- operations --------------------------------------------------------------------------

/// What is at `path`; ENOENT if nothing.
pub fn stat(bridge: &Bridge, path: &str) -> Result<Stat, VfsError> {
    let (_, loc) = resolve(bridge, path)?;
    let found = match loc {
        Location::Root => Some(Stat {
            is_dir: true,
            size: 0,
            mtime: 0,
        }),
        Location::Flash(rel) => flash_stat(bridge, &rel)?,
        Location::Sd(rel) => sd_stat(bridge, &rel)?,
    };
    found.ok_or(err(errno::ENOENT))
}

/// The entries of a directory (`/` lists the mount points).
pub fn list_dir(bridge: &Bridge, path: &str) -> Result<Vec<DirEntry>, VfsError> {
    let (_, loc) = resolve(bridge, path)?;
    match loc {
        Location::Root => {
            let mut out = vec![DirEntry {
                name: "flash".to_string(),
                is_dir: true,
                size: 0,
            }];
            if sd_mounted(bridge) {
                out.push(DirEntry {
                    name: "sd".to_string(),
                    is_dir: true,
                    size: 0,
                });
            }
            Ok(out)
        }
        Location::Flash(rel) => {
            let entries = with_flash(
                bridge,
                |f, r| fs::list_dir(f, r, &rel),
                // FatFS's f_opendir on a file: FR_NO_PATH.
                |e| match e {
                    FsError::NotADirectory { .. } | FsError::IsADirectory { .. } => {
                        err(errno::ENOENT)
                    }
                    e => fat_errno(e),
                },
            )?;
            Ok(entries
                .into_iter()
                .map(|e| DirEntry {
                    name: e.name,
                    is_dir: e.is_dir,
                    size: e.size,
                })
                .collect())
        }
        Location::Sd(rel) => {
            let root = sd_root(bridge)?;
            let dir = sd_follow(&root, &sd_components(&rel)?)?;
            if !dir.is_dir() {
                return Err(err(errno::ENOENT));
            }
            let entries = std::fs::read_dir(&dir).map_err(|e| host_errno(&e))?;
            let mut out = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| host_errno(&e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                // A symlink shows as what it leads to only if that is on the card.
                let path = entry.path();
                let meta = match entry.file_type() {
                    Ok(t) if t.is_symlink() => path
                        .canonicalize()
                        .ok()
                        .filter(|p| p.starts_with(&root))
                        .and_then(|p| std::fs::metadata(p).ok()),
                    _ => entry.metadata().ok(),
                };
                let (is_dir, size) = match meta {
                    Some(m) => (m.is_dir(), if m.is_dir() { 0 } else { m.len() }),
                    None => (false, 0),
                };
                out.push(DirEntry { name, is_dir, size });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        }
    }
}

/// Creates a directory; its parent must exist (ENOENT), it must not (EEXIST).
pub fn mkdir(bridge: &Bridge, path: &str) -> Result<(), VfsError> {
    let (_, loc) = resolve(bridge, path)?;
    match loc {
        Location::Root => Err(err(errno::EPERM)),
        Location::Flash(rel) if rel == "/" => Err(err(errno::EEXIST)),
        Location::Flash(rel) => with_flash(
            bridge,
            |f, r| fs::mkdir(f, r, &rel),
            |e| match e {
                FsError::NotADirectory { .. } => err(errno::ENOENT),
                e => fat_errno(e),
            },
        ),
        Location::Sd(rel) => {
            let entry = sd_entry(bridge, &rel).map_err(|e| match e {
                VfsError::Errno(errno::EPERM) => err(errno::EEXIST),
                e => e,
            })?;
            std::fs::create_dir(&entry).map_err(|e| host_errno(&e))
        }
    }
}

/// Removes a file (EISDIR for a directory), or with `dir` an empty directory (ENOTDIR for a
/// file, EACCES if not empty), as `fat_vfs_remove_internal` does.
pub fn remove(bridge: &Bridge, path: &str, dir: bool) -> Result<(), VfsError> {
    let (_, loc) = resolve(bridge, path)?;
    match loc {
        Location::Root => Err(err(errno::EPERM)),
        Location::Flash(rel) if rel == "/" => Err(err(errno::EINVAL)),
        // Pycom's LittleFS VFS has one `lfs_remove` for both: a file or an empty directory.
        Location::Flash(rel) if flash_kind(bridge)? == FsKind::LittleFs => {
            with_flash(bridge, |f, r| fs::littlefs::remove(f, r, &rel), fat_errno)
        }
        Location::Flash(rel) => with_flash(
            bridge,
            |f, r| {
                if dir {
                    fs::rmdir(f, r, &rel)
                } else {
                    fs::remove(f, r, &rel)
                }
            },
            fat_errno,
        ),
        Location::Sd(rel) => {
            let entry = sd_entry(bridge, &rel).map_err(|e| match e {
                VfsError::Errno(errno::EPERM) => err(errno::EINVAL),
                e => e,
            })?;
            let meta = std::fs::symlink_metadata(&entry).map_err(|e| host_errno(&e))?;
            let result = match (meta.is_dir(), dir) {
                (true, true) => std::fs::remove_dir(&entry),
                (false, false) => std::fs::remove_file(&entry),
                (true, false) => return Err(err(errno::EISDIR)),
                (false, true) => return Err(err(errno::ENOTDIR)),
            };
            result.map_err(|e| host_errno(&e))
        }
    }
}

/// Renames within one volume (EXDEV across volumes). An existing file at `to` is replaced, as
/// `fat_vfs_rename` does; an existing directory there is EISDIR, as its retry reports it. On
/// LittleFS it is one `lfs_rename`, which replaces in the same commit (so a power cut leaves the
/// old file or the new one, never neither).
pub fn rename(bridge: &Bridge, from: &str, to: &str) -> Result<(), VfsError> {
    let (_, src) = resolve(bridge, from)?;
    let (_, dst) = resolve(bridge, to)?;
    match (src, dst) {
        (Location::Flash(a), Location::Flash(b)) => {
            if a == "/" || b == "/" {
                return Err(err(errno::EINVAL));
            }
            if flash_kind(bridge)? == FsKind::LittleFs {
                return with_flash(bridge, |f, r| fs::littlefs::rename(f, r, &a, &b), fat_errno);
            }
            if flash_stat(bridge, &a)?.is_none() {
                return Err(err(errno::ENOENT));
            }
            match flash_stat(bridge, &b)? {
                Some(st) if st.is_dir => return Err(err(errno::EISDIR)),
                Some(_) if a.eq_ignore_ascii_case(&b) => {}
                Some(_) => with_flash(bridge, |f, r| fs::remove(f, r, &b), fat_errno)?,
                None => {}
            }
            with_flash(
                bridge,
                |f, r| fs::rename(f, r, &a, &b),
                |e| match e {
                    FsError::NotADirectory { .. } => err(errno::ENOENT),
                    e => fat_errno(e),
                },
            )
        }
        (Location::Sd(a), Location::Sd(b)) => {
            let from = sd_entry(bridge, &a).map_err(|_| err(errno::EINVAL))?;
            let to = sd_entry(bridge, &b).map_err(|_| err(errno::EINVAL))?;
            std::fs::symlink_metadata(&from).map_err(|e| host_errno(&e))?;
            if let Ok(m) = std::fs::symlink_metadata(&to)
                && m.is_dir()
            {
                return Err(err(errno::EISDIR));
            }
            std::fs::rename(&from, &to).map_err(|e| host_errno(&e))
        }
        (Location::Root, _) | (_, Location::Root) => Err(err(errno::EPERM)),
        _ => Err(err(errno::EXDEV)),
    }
}

/// The current directory.
pub fn getcwd(bridge: &Bridge) -> String {
    bridge.session.borrow().cwd.clone()
}

/// Changes the current directory; it must be a directory (ENOENT otherwise).
pub fn chdir(bridge: &Bridge, path: &str) -> Result<(), VfsError> {
    let abs = absolute(bridge, path);
    let st = stat(bridge, &abs)?;
    if !st.is_dir {
        return Err(err(errno::ENOENT));
    }
    bridge.session.borrow_mut().cwd = abs;
    Ok(())
}

/// Reads a whole file (ENOENT for a directory, as FatFS's `f_open` says `FR_NO_FILE`).
pub fn read(bridge: &Bridge, path: &str) -> Result<Vec<u8>, VfsError> {
    let (_, loc) = resolve(bridge, path)?;
    read_at(bridge, loc)
}

fn read_at(bridge: &Bridge, loc: Location) -> Result<Vec<u8>, VfsError> {
    match loc {
        Location::Root => Err(err(errno::EPERM)),
        Location::Flash(rel) => with_flash(
            bridge,
            |f, r| fs::read_file(f, r, &rel),
            |e| match e {
                FsError::IsADirectory { .. } | FsError::NotADirectory { .. } => err(errno::ENOENT),
                e => fat_errno(e),
            },
        ),
        Location::Sd(rel) => {
            let path = sd_path(bridge, &rel)?;
            if path.is_dir() {
                return Err(err(errno::ENOENT));
            }
            std::fs::read(&path).map_err(|e| host_errno(&e))
        }
    }
}

/// Creates or replaces a file with `data` (EACCES for a directory, ENOENT if the parent is
/// missing).
pub fn write(bridge: &Bridge, path: &str, data: &[u8]) -> Result<(), VfsError> {
    let (_, loc) = resolve(bridge, path)?;
    write_at(bridge, loc, data)
}

fn write_at(bridge: &Bridge, loc: Location, data: &[u8]) -> Result<(), VfsError> {
    // The chip is being reset or powered off (a file object finalised while the interpreter
    // unwinds): nothing reaches the flash or the card any more, as on the module.
    if bridge
        .hw
        .try_borrow()
        .is_ok_and(|hw| hw.interrupted().is_some())
    {
        return Err(err(errno::EIO));
    }
    match loc {
        Location::Root => Err(err(errno::EPERM)),
        Location::Flash(rel) => with_flash(
            bridge,
            |f, r| fs::write_file(f, r, &rel, data),
            |e| match e {
                FsError::IsADirectory { .. } => err(errno::EACCES),
                FsError::NotADirectory { .. } => err(errno::ENOENT),
                e => fat_errno(e),
            },
        ),
        Location::Sd(rel) => {
            let path = sd_path(bridge, &rel)?;
            if path.is_dir() {
                return Err(err(errno::EACCES));
            }
            std::fs::write(&path, data).map_err(|e| host_errno(&e))
        }
    }
}

/// `open()`: the checks FatFS's `f_open` makes for the mode, creating or truncating as it
/// would. Returns the absolute path (where the file object writes back) and the content.
pub fn open(bridge: &Bridge, path: &str, kind: OpenKind) -> Result<(String, Vec<u8>), VfsError> {
    let (abs, loc) = resolve(bridge, path)?;
    let existing = match &loc {
        Location::Root => return Err(err(errno::EPERM)),
        Location::Flash(rel) => flash_stat(bridge, rel)?,
        Location::Sd(rel) => sd_stat(bridge, rel)?,
    };
    let data = match (kind, existing) {
        (OpenKind::Read, None) => return Err(err(errno::ENOENT)),
        (OpenKind::Read, Some(st)) if st.is_dir => return Err(err(errno::ENOENT)),
        (OpenKind::Read, Some(_)) => read_at(bridge, loc)?,
        (OpenKind::Exclusive, Some(_)) => return Err(err(errno::EEXIST)),
        (_, Some(st)) if st.is_dir => return Err(err(errno::EACCES)),
        (OpenKind::Append, Some(_)) => read_at(bridge, loc)?,
        // littlefs truncates an open file in RAM and commits at close: until then the old
        // content is what a power cut leaves. (FatFS truncates in `f_open`.)
        (OpenKind::Write, Some(_))
            if matches!(loc, Location::Flash(_)) && flash_kind(bridge)? == FsKind::LittleFs =>
        {
            Vec::new()
        }
        (OpenKind::Write | OpenKind::Exclusive | OpenKind::Append, _) => {
            write_at(bridge, loc, &[])?;
            Vec::new()
        }
    };
    Ok((abs, data))
}

/// `os.fsformat(path)` / `os.mkfs(path)`: an empty volume. `/flash` gets a fresh one of its type,
/// FAT or LittleFS (boot.py and main.py come back at the next boot or soft reset); `/sd` empties
/// the SD directory.
pub fn format(bridge: &Bridge, path: &str) -> Result<(), VfsError> {
    if !path.starts_with('/') {
        return Err(VfsError::Message(format!(
            "{path} is not an absolute or invalid path"
        )));
    }
    match normalize(path).as_str() {
        "/" => Err(VfsError::Message("Cannot format root dir".to_string())),
        FLASH_MOUNT => {
            let kind = flash_kind(bridge)?;
            with_flash(bridge, |f, r| fs::format_as(f, r, kind), fat_errno)
        }
        SD_MOUNT if sd_mounted(bridge) => format_sd(bridge),
        _ => Err(err(errno::ENODEV)),
    }
}

/// Formats the SD card (mounted or not): everything inside the SD directory is deleted.
pub fn format_sd(bridge: &Bridge) -> Result<(), VfsError> {
    let root = sd_root(bridge)?;
    sd_erase(&root)
}

/// Whether the simulator has an SD card (a usable `--sd DIR`).
pub fn sd_present(bridge: &Bridge) -> Result<(), VfsError> {
    sd_root(bridge).map(|_| ())
}

/// `os.mount(sd, '/sd')`. The card mounts only at `/sd`; EPERM if it already is.
pub fn mount_sd(bridge: &Bridge, point: &str) -> Result<(), VfsError> {
    sd_root(bridge)?;
    if normalize(point) != SD_MOUNT || !point.starts_with('/') {
        return Err(VfsError::ErrnoMsg(
            errno::EINVAL,
            format!("{point}: pycom-sim mounts the SD card at {SD_MOUNT} only"),
        ));
    }
    let mut session = bridge.session.borrow_mut();
    if session.sd_mounted {
        return Err(err(errno::EPERM));
    }
    session.sd_mounted = true;
    Ok(())
}

/// `os.umount('/sd')`. EINVAL for what is not mounted; `/flash` stays mounted here.
pub fn umount(bridge: &Bridge, point: &str) -> Result<(), VfsError> {
    let abs = absolute(bridge, point);
    let mut session = bridge.session.borrow_mut();
    if abs == SD_MOUNT && session.sd_mounted {
        session.sd_mounted = false;
        // As in mp_vfs_umount: leaving the current volume puts the current directory at /.
        if under(&session.cwd, SD_MOUNT).is_some() {
            session.cwd = "/".to_string();
        }
        return Ok(());
    }
    if abs == FLASH_MOUNT {
        return Err(VfsError::ErrnoMsg(
            errno::EPERM,
            "pycom-sim keeps /flash mounted".to_string(),
        ));
    }
    Err(err(errno::EINVAL))
}

/// Size figures of the volume `path` is on.
pub fn statvfs(bridge: &Bridge, path: &str) -> Result<VolumeStats, VfsError> {
    let (_, loc) = resolve(bridge, path)?;
    match loc {
        Location::Root => Err(err(errno::EPERM)),
        Location::Flash(_) => {
            let s = with_flash(bridge, fs::stats, fat_errno)?;
            Ok(VolumeStats {
                block_size: u64::from(s.cluster_size),
                blocks: u64::from(s.total_clusters),
                free_blocks: u64::from(s.free_clusters),
            })
        }
        Location::Sd(_) => {
            let root = sd_root(bridge)?;
            let used = host_usage(&root, 0);
            let blocks = SD_CAPACITY / SD_BLOCK;
            Ok(VolumeStats {
                block_size: SD_BLOCK,
                blocks,
                free_blocks: blocks.saturating_sub(used / SD_BLOCK),
            })
        }
    }
}

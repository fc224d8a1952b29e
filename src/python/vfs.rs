//! The device's file namespace: `/flash` (FAT in the flash file) and, when mounted, `/sd`.
//! Python paths are resolved here, against the current directory, and never reach the host's
//! filesystem except through a directory the user mounted as the SD card.

use crate::fs::{self, FsError};
use crate::python::bridge::Bridge;

/// Where an absolute device path lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `/` itself: the list of mounted volumes.
    Root,
    /// A path inside `/flash`, as the FAT volume knows it (`/main.py`).
    Flash(String),
}

/// Normalises `path` against the current directory: `.` and `..` resolved, no trailing `/`.
pub fn absolute(bridge: &Bridge, path: &str) -> String {
    let cwd = bridge.session.borrow().cwd.clone();
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
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

/// Which volume an absolute path is on.
pub fn locate(path: &str) -> Option<Location> {
    if path == "/" {
        return Some(Location::Root);
    }
    let rest = path.strip_prefix("/flash")?;
    if rest.is_empty() {
        Some(Location::Flash("/".to_string()))
    } else if rest.starts_with('/') {
        Some(Location::Flash(rest.to_string()))
    } else {
        None
    }
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

/// Reads a whole file.
pub fn read(bridge: &Bridge, path: &str) -> Result<Vec<u8>, FsError> {
    let abs = absolute(bridge, path);
    match locate(&abs) {
        Some(Location::Flash(rel)) => {
            let mut flash = bridge.flash.borrow_mut();
            fs::read_file(&mut flash, bridge.board.fs, &rel)
        }
        _ => Err(FsError::NotFound { path: abs }),
    }
}

//! `pycom-sim fs ls|put|get|rm|mkdir --flash PATH`: the /flash of a stopped flash file, FAT or
//! LittleFS (whichever the region holds: `crate::fs` decides), so CI can prepare a device's files
//! without booting it and inspect the flash of a failed run.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::board::Board;
use crate::flash::{FlashFile, OpenOptions};

/// Which flash file, of which board.
#[derive(Debug, Clone, Args)]
pub struct FsArgs {
    /// The flash file (it must exist; nothing is created).
    #[arg(long, value_name = "PATH", global = true)]
    pub flash: Option<PathBuf>,
    /// The board the flash file belongs to (its partition table says where /flash is).
    #[arg(long, default_value = "lopy4", global = true)]
    pub board: String,
    #[command(subcommand)]
    pub command: FsCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum FsCommand {
    /// List a directory of /flash (default the root).
    Ls { path: Option<String> },
    /// Copy a host file into /flash (default: its name at the root).
    Put { file: PathBuf, dest: Option<String> },
    /// Copy a file out of /flash (default: to stdout).
    Get { path: String, file: Option<PathBuf> },
    /// Remove a file or an empty directory.
    Rm { path: String },
    /// Make a directory.
    Mkdir { path: String },
}

/// `/flash/main.py`, `/main.py` and `main.py` all name the file at the root of /flash.
fn volume_path(p: &str) -> String {
    let p = p.strip_prefix("/flash").unwrap_or(p);
    format!("/{}", p.trim_start_matches('/'))
}

/// Runs `pycom-sim fs …`.
pub fn command(args: &FsArgs) -> Result<(), String> {
    let path = args
        .flash
        .as_deref()
        .ok_or("give the flash file: pycom-sim fs … --flash PATH")?;
    if !path.is_file() {
        return Err(format!(
            "{}: no such flash file (pycom-sim fs never creates one; `pycom-sim run --flash {}` \
             does)",
            path.display(),
            path.display()
        ));
    }
    let board = Board::builtin(&args.board).map_err(|e| e.to_string())?;
    let mut flash = open(path, &board)?;
    let region = board.fs;
    let err = |e: crate::fs::FsError| e.to_string();
    match &args.command {
        FsCommand::Ls { path } => {
            let dir = volume_path(path.as_deref().unwrap_or("/"));
            let mut entries = crate::fs::list_dir(&mut flash, region, &dir).map_err(err)?;
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            let mut out = std::io::stdout().lock();
            for e in entries {
                let line = if e.is_dir {
                    format!("{:>9}  {}/", "-", e.name)
                } else {
                    format!("{:>9}  {}", e.size, e.name)
                };
                writeln!(out, "{line}").map_err(|e| e.to_string())?;
            }
        }
        FsCommand::Put { file, dest } => {
            let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let dest = match dest {
                Some(d) if d.ends_with('/') => volume_path(&format!("{d}{}", file_name(file)?)),
                Some(d) => volume_path(d),
                None => volume_path(&file_name(file)?),
            };
            crate::fs::write_file(&mut flash, region, &dest, &bytes).map_err(err)?;
        }
        FsCommand::Get { path, file } => {
            let bytes =
                crate::fs::read_file(&mut flash, region, &volume_path(path)).map_err(err)?;
            match file {
                Some(f) => std::fs::write(f, bytes).map_err(|e| format!("{}: {e}", f.display()))?,
                None => std::io::stdout()
                    .lock()
                    .write_all(&bytes)
                    .map_err(|e| e.to_string())?,
            }
        }
        FsCommand::Rm { path } => {
            let p = volume_path(path);
            match crate::fs::stat(&mut flash, region, &p).map_err(err)? {
                Some(e) if e.is_dir => crate::fs::rmdir(&mut flash, region, &p).map_err(err)?,
                Some(_) => crate::fs::remove(&mut flash, region, &p).map_err(err)?,
                None => return Err(format!("{p}: no such file or directory in /flash")),
            }
        }
        FsCommand::Mkdir { path } => {
            crate::fs::mkdir(&mut flash, region, &volume_path(path)).map_err(err)?;
        }
    }
    flash.sync().map_err(|e| e.to_string())
}

fn file_name(file: &Path) -> Result<String, String> {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{}: not a file name", file.display()))
}

fn open(path: &Path, board: &Board) -> Result<FlashFile, String> {
    FlashFile::open_or_create(
        path,
        board,
        &crate::image::default_image(),
        OpenOptions::default(),
    )
    .map(|(f, _)| f)
    .map_err(|e| e.to_string())
}

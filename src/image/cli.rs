//! The `image build` and `image inspect` subcommands, as functions returning the text to print, so
//! the binary only wires arguments and tests need no process.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::{
    ImageError, ImageSpec, MAX_IMAGE_SIZE, build_image, decode, default_spec, esp32, parse_image,
    validate_spec,
};

/// Builds an image and writes it to `out`.
///
/// `version` is required; the rest default to [`default_spec`] (tag, date, all boards, the
/// built-in frozen modules). `frozen_dir` replaces the frozen modules with every `*.py` file under
/// it (recursively, named by their `/`-separated path relative to it, sorted by name).
///
/// `out` is written only if it does not exist or already holds a valid pycom-sim image: a file
/// the user wrote by hand is never lost to a mistyped path. The write goes to a temporary file in
/// the same folder that is then renamed over `out`, so an interrupted build leaves the old file.
/// Returns a summary for the terminal.
pub fn build_command(
    version: &str,
    git_tag: Option<&str>,
    date: Option<&str>,
    boards: Option<Vec<String>>,
    frozen_dir: Option<&Path>,
    out: &Path,
) -> Result<String, ImageError> {
    let defaults = default_spec();
    let frozen = match frozen_dir {
        Some(dir) => read_frozen_dir(dir)?,
        None => defaults.frozen,
    };
    let spec = ImageSpec {
        version: version.to_owned(),
        git_tag: git_tag.map_or(defaults.git_tag, str::to_owned),
        build_date: date.map_or(defaults.build_date, str::to_owned),
        boards: boards.unwrap_or(defaults.boards),
        frozen,
    };
    validate_spec(&spec)?;
    let image = build_image(&spec);
    if image.len() > MAX_IMAGE_SIZE {
        return Err(ImageError::TooLarge {
            size: image.len(),
            max: MAX_IMAGE_SIZE,
        });
    }

    let replacing = check_overwrite(out)?;
    write_atomically(out, &image, replacing)?;

    let parsed = parse_image(&image)?;
    let mut text = String::new();
    let verb = if replacing { "replaced" } else { "wrote" };
    let _ = writeln!(text, "{verb} {} ({} bytes)", out.display(), image.len());
    let _ = writeln!(
        text,
        "  Pycom MicroPython {} [{}] on {}",
        spec.version, spec.git_tag, spec.build_date
    );
    let _ = writeln!(text, "  boards: {}", spec.boards.join(", "));
    let modules: Vec<String> = spec
        .frozen
        .iter()
        .map(|(name, src)| format!("{name} ({} bytes)", src.len()))
        .collect();
    let modules = if modules.is_empty() {
        "none".to_owned()
    } else {
        modules.join(", ")
    };
    let _ = writeln!(text, "  frozen: {modules}");
    let _ = writeln!(text, "  sha256: {}", parsed.sha256_hex());
    if parsed.frozen_module("_boot.py").is_none() {
        let _ = writeln!(
            text,
            "  warning: no _boot.py is frozen; on Pycom firmware it is what attaches the REPL to \
             UART0 (os.dupterm), so this image may boot to a silent serial port"
        );
    }
    Ok(text)
}

/// Shows what an image holds: descriptor fields, segments, frozen modules, integrity. An image
/// that fails verification is an error naming the failure, so scripts can rely on the exit code.
pub fn inspect_command(path: &Path) -> Result<String, ImageError> {
    let bytes = fs::read(path).map_err(|source| ImageError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let layout = esp32::read_layout(&bytes)?;
    layout.check_integrity()?;
    let image = decode(&layout)?;
    let spec = &image.spec;

    let mut t = String::new();
    let _ = writeln!(t, "{}: pycom-sim firmware image", path.display());
    let _ = writeln!(t, "  version     {}", spec.version);
    let _ = writeln!(t, "  git tag     {}", spec.git_tag);
    let _ = writeln!(t, "  build date  {}", spec.build_date);
    let _ = writeln!(t, "  boards      {}", spec.boards.join(", "));
    let _ = writeln!(
        t,
        "  project     {} (ESP-IDF {})",
        image.project_name, image.idf_version
    );
    let _ = writeln!(t, "  flash       {}", layout.header.flash_summary());
    let _ = writeln!(t, "  entry       {:#010x}", image.entry);
    let _ = writeln!(t, "  segments    {}", image.segments.len());
    for (i, seg) in image.segments.iter().enumerate() {
        let _ = writeln!(
            t,
            "    {i}  {:<7} load {:#010x}  file {:#010x}  len {:#07x} ({} bytes)",
            seg.memory_type(),
            seg.load_addr,
            seg.header_offset(),
            seg.len,
            seg.len
        );
    }
    let _ = writeln!(t, "  frozen      {} modules", spec.frozen.len());
    let width = spec.frozen.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, source) in &spec.frozen {
        let _ = writeln!(t, "    {name:<width$}  {} bytes", source.len());
    }
    let _ = writeln!(t, "  checksum    {:#04x} (valid)", image.checksum);
    let _ = writeln!(t, "  sha256      {} (valid)", image.sha256_hex());
    let trailing = bytes.len() - image.size;
    if trailing == 0 {
        let _ = writeln!(t, "  size        {} bytes", image.size);
    } else {
        let filler = if bytes[image.size..].iter().all(|&b| b == 0xFF) {
            "0xFF filler"
        } else {
            "not part of the image"
        };
        let _ = writeln!(
            t,
            "  size        {} bytes, then {trailing} trailing bytes ({filler})",
            image.size
        );
    }
    Ok(t)
}

/// Collects `*.py` under `dir`, recursively, as (relative name, source), sorted for reproducible
/// images.
fn read_frozen_dir(dir: &Path) -> Result<Vec<(String, String)>, ImageError> {
    let meta = fs::metadata(dir).map_err(|source| ImageError::Io {
        action: "read frozen-module folder",
        path: dir.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(ImageError::Io {
            action: "read frozen-module folder",
            path: dir.to_owned(),
            source: io::Error::other("it is not a folder"),
        });
    }
    let mut modules = Vec::new();
    collect_py(dir, "", &mut modules)?;
    modules.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(modules)
}

fn collect_py(dir: &Path, prefix: &str, out: &mut Vec<(String, String)>) -> Result<(), ImageError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| ImageError::Io {
            action: "read",
            path,
            source,
        }
    };
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            return Err(ImageError::FrozenFile {
                path,
                reason: "its name is not UTF-8".to_owned(),
            });
        };
        let rel = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        // Only real folders are descended into, so a symlink loop cannot hang the build.
        if entry.file_type().map_err(io_err(&path))?.is_dir() {
            collect_py(&path, &rel, out)?;
        } else if name.ends_with(".py") && path.is_file() {
            let bytes = fs::read(&path).map_err(io_err(&path))?;
            let source = String::from_utf8(bytes).map_err(|e| ImageError::FrozenFile {
                path: path.clone(),
                reason: format!(
                    "not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            })?;
            out.push((rel, source));
        }
    }
    Ok(())
}

/// `Ok(true)` if `out` holds an image that may be replaced, `Ok(false)` if it does not exist, and
/// an error for anything else — including a file that cannot be read, which is never overwritten.
fn check_overwrite(out: &Path) -> Result<bool, ImageError> {
    let refuse = |reason: String| ImageError::WouldOverwrite {
        path: out.to_owned(),
        reason,
    };
    match fs::symlink_metadata(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(ImageError::Io {
                action: "check",
                path: out.to_owned(),
                source,
            });
        }
        Ok(meta) if meta.is_dir() => return Err(refuse("it is a folder".to_owned())),
        Ok(_) => {}
    }
    let existing = fs::read(out).map_err(|source| ImageError::Io {
        action: "read (to check it is an image before replacing it)",
        path: out.to_owned(),
        source,
    })?;
    match (existing.first(), parse_image(&existing)) {
        (_, Ok(_)) => Ok(true),
        (None, _) => Err(refuse(
            "it exists and is empty, not a firmware image".to_owned(),
        )),
        (Some(&first), _) if first != esp32::MAGIC => Err(refuse(format!(
            "it exists and is not a firmware image ({} bytes starting with {first:#04x}, an image \
             starts with 0xe9)",
            existing.len()
        ))),
        (_, Err(e)) => Err(refuse(format!(
            "it exists and is not a valid pycom-sim image ({e})"
        ))),
    }
}

fn write_atomically(out: &Path, bytes: &[u8], replacing: bool) -> Result<(), ImageError> {
    let io_err = |action: &'static str| {
        move |source| ImageError::Io {
            action,
            path: out.to_owned(),
            source,
        }
    };
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut tmp =
        tempfile::NamedTempFile::new_in(&dir).map_err(io_err("create a temporary file next to"))?;
    tmp.write_all(bytes).map_err(io_err("write"))?;
    tmp.as_file().sync_all().map_err(io_err("write"))?;
    // When nothing was there, refuse to clobber a file that appeared in the meantime.
    let persisted = if replacing {
        tmp.persist(out)
    } else {
        tmp.persist_noclobber(out)
    };
    persisted.map_err(|e| ImageError::Io {
        action: "write",
        path: out.to_owned(),
        source: e.error,
    })?;
    Ok(())
}

//! How long each scenario file took last time, so the next run starts the slowest first.
//!
//! With `--jobs N` a run ends when its last scenario does: one long scenario taken last keeps
//! the other workers idle while it runs (in `tests/scenarios`, a file whose resets each build a
//! new interpreter is a third of the suite's time, and started seventh it set the `--jobs 2`
//! wall time). Starting the longest first is the classic fix for that tail; Jest's test
//! sequencer does the same from its cache of earlier durations. Files with no time yet go
//! first of all (new or renamed: their cost is unknown, and they are the ones being written).
//!
//! The order changes no result: every scenario runs on its own device, and reports keep the
//! order of the files. The times live in the user's cache directory
//! (`$XDG_CACHE_HOME/pycom-sim/scenario-times.json` on Linux); a cache that cannot be read or written
//! only costs the ordering.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::FileResult;

/// Scenario wall times from earlier runs, by canonical path, the least recently run first
/// (the file is a JSON object in that order).
#[derive(Debug, Default)]
pub struct History {
    file: Option<PathBuf>,
    times_ms: serde_json::Map<String, serde_json::Value>,
}

/// At most this many files are remembered; the least recently run go first.
const MAX_FILES: usize = 20_000;

impl History {
    /// The history in the user's cache directory (none when the platform has no such place).
    pub fn load_default() -> History {
        match directories::ProjectDirs::from("", "", "pycom-sim") {
            Some(dirs) => History::load(&dirs.cache_dir().join("scenario-times.json")),
            None => History::default(),
        }
    }

    /// The history kept in `file`; a missing or unreadable file is an empty history.
    pub fn load(file: &Path) -> History {
        let times_ms = std::fs::read(file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|v| match v {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, ms)| ms.as_f64().is_some_and(|ms| ms >= 0.0))
            .collect();
        History {
            file: Some(file.to_path_buf()),
            times_ms,
        }
    }

    /// The order in which to start `files` (indices into it): files never timed first, then
    /// the slowest first; ties keep the files' order.
    pub fn order(&self, files: &[PathBuf]) -> Vec<usize> {
        let cost: Vec<Option<f64>> = files
            .iter()
            .map(|f| {
                self.times_ms
                    .get(&key(f))
                    .and_then(serde_json::Value::as_f64)
            })
            .collect();
        let mut order: Vec<usize> = (0..files.len()).collect();
        // `None` (never timed) sorts as the longest.
        order.sort_by(|&a, &b| {
            let (ca, cb) = (
                cost[a].unwrap_or(f64::INFINITY),
                cost[b].unwrap_or(f64::INFINITY),
            );
            cb.total_cmp(&ca)
        });
        order
    }

    /// Records this run's times and writes the history back (atomically: a run that reads it
    /// meanwhile sees the old times or the new ones). Two runs at once each write what they
    /// read plus their own times, and the last one's file stands: times lost that way only
    /// cost the ordering, as does a write that fails.
    pub fn record(mut self, results: &[FileResult]) {
        let Some(file) = self.file.take() else {
            return;
        };
        let mut ran: Vec<(String, Duration)> = Vec::new();
        for r in results {
            if let FileResult::Ran(s) = r {
                ran.push((key(&s.path), s.wall));
            }
        }
        if ran.is_empty() {
            return;
        }
        // Entries of this run go last, so trimming drops the files run longest ago.
        for (k, _) in &ran {
            self.times_ms.shift_remove(k);
        }
        let mut entries: Vec<(String, serde_json::Value)> = self.times_ms.into_iter().collect();
        entries.extend(
            ran.into_iter()
                .map(|(k, d)| (k, serde_json::json!(d.as_secs_f64() * 1000.0))),
        );
        let keep_from = entries.len().saturating_sub(MAX_FILES);
        let kept: serde_json::Map<String, serde_json::Value> =
            entries.into_iter().skip(keep_from).collect();
        if let Err(e) = write_atomically(&file, &kept) {
            tracing::debug!("cannot keep scenario times in {}: {e}", file.display());
        }
    }
}

/// The history's key for a file: its canonical path, so `./a.toml` and `a.toml` are one file.
fn key(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn write_atomically(
    file: &Path,
    times: &serde_json::Map<String, serde_json::Value>,
) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut tmp, times)?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

//! Every input the fuzzers kept (`fuzz/corpus/<target>/`) and every finding's reproducer
//! (`fuzz/regressions/<target>/`), replayed on the stable toolchain through the same entry points
//! the cargo-fuzz targets call (`fuzz/src/lib.rs`, included here), so a parser change that
//! brings a finding back fails the normal `cargo test`, without nightly or the fuzz crate.
//!
//! Each entry point asserts its own properties (round trips, split-read invariance, the device
//! still answering); here each file must pass them without a panic, and each corpus must show
//! the parser both accepting and refusing input, so a corpus that lost its valid seeds (or a
//! parser that started accepting everything) is noticed.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::path::{Path, PathBuf};

use targets::{TARGETS, Target, Verdict};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted so failures list in the same order every run.
fn files(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = root().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_none_or(|n| n != "README.md"))
        .collect();
    out.sort();
    out
}

fn entry(target: &str) -> Target {
    TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no entry point for {target}"))
}

/// Replays every corpus and regression file of `target`; returns the verdicts of the corpus
/// files. Fails with every file that panicked, not only the first.
fn replay(target: &str) -> Vec<Verdict> {
    let run = entry(target);
    let corpus = files("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty: run scripts/fuzz, or restore its seeds"
    );
    let mut failures = Vec::new();
    let mut verdicts = Vec::new();
    for (kind, paths) in [
        ("corpus", corpus),
        ("regressions", files("regressions", target)),
    ] {
        for path in paths {
            let data = std::fs::read(&path).expect("read corpus file");
            match std::panic::catch_unwind(|| run(&data)) {
                Ok(v) => {
                    if kind == "corpus" {
                        verdicts.push(v);
                    }
                }
                Err(payload) => {
                    let why = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!("{}: {why}", path.display()));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} input(s) of {target} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    verdicts
}

/// The corpus holds input the parser accepts and input it refuses with its own error.
fn both_ways(target: &str, verdicts: &[Verdict]) {
    assert!(
        verdicts.contains(&Verdict::Accepted),
        "no input in fuzz/corpus/{target}/ is accepted"
    );
    assert!(
        verdicts.iter().any(|v| matches!(v, Verdict::Rejected(_))),
        "no input in fuzz/corpus/{target}/ is refused"
    );
}

#[test]
fn every_corpus_directory_has_an_entry_point() {
    for kind in ["corpus", "regressions"] {
        let Ok(dirs) = std::fs::read_dir(root().join(kind)) else {
            continue;
        };
        for dir in dirs.filter_map(Result::ok) {
            let name = dir.file_name().to_string_lossy().into_owned();
            if dir.path().is_dir() {
                assert!(
                    TARGETS.iter().any(|(t, _)| *t == name),
                    "fuzz/{kind}/{name}/ has no entry point in fuzz/src/lib.rs"
                );
            }
        }
    }
}

#[test]
fn boot_info_corpus() {
    both_ways("boot_info", &replay("boot_info"));
}

#[test]
fn image_corpus() {
    both_ways("image", &replay("image"));
}

#[test]
fn partition_table_corpus() {
    both_ways("partition_table", &replay("partition_table"));
}

#[test]
fn board_toml_corpus() {
    both_ways("board_toml", &replay("board_toml"));
}

#[test]
fn scenario_toml_corpus() {
    both_ways("scenario_toml", &replay("scenario_toml"));
}

#[test]
fn telnet_corpus() {
    both_ways("telnet", &replay("telnet"));
}

#[test]
fn rfc2217_corpus() {
    // Every byte string is a valid telnet stream: there is nothing to refuse.
    replay("rfc2217");
}

#[test]
fn fat_corpus() {
    both_ways("fat", &replay("fat"));
}

#[test]
fn littlefs_corpus() {
    both_ways("littlefs", &replay("littlefs"));
}

#[test]
fn rom_slip_corpus() {
    both_ways("rom_slip", &replay("rom_slip"));
}

#[test]
fn ftp_command_corpus() {
    both_ways("ftp_command", &replay("ftp_command"));
}

#[test]
fn repl_corpus() {
    replay("repl");
}

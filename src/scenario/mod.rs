//! Scenarios: pin-hold scripts in TOML that run in virtual time and report like a test runner.
//!
//! `pycom-sim scenario PATH...` checks every file first ([`file`]), runs each on its own device
//! ([`run`]) — several at once with `--jobs`, the slowest of the last run first ([`history`]),
//! a stable share of them with `--partition K/N` — and reports ([`report`]): a human summary, `--junit FILE`, `--json`. Exit status 0 all
//! passed, 1 an expectation failed, 2 a bad scenario file, 42 a timeout.

pub mod file;
pub mod history;
pub mod report;
pub mod run;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use file::{FileError, Scenario, load, parse};
pub use report::FileResult;
pub use run::{Outcome, RunLimits, ScenarioResult};

/// `--partition K/N`: the K-th of N shares (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub k: u32,
    pub n: u32,
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Partition, String> {
        let bad = || format!("'{s}' is not a partition; write K/N with 1 <= K <= N, like 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Partition { k, n })
    }
}

impl Partition {
    /// Whether `path` is in this share: by a hash of the path as given (FNV-1a, stable across
    /// machines and releases), as cargo-nextest's `hash:` partitioning does, so adding a file
    /// moves no other file to another runner.
    pub fn takes(&self, path: &Path) -> bool {
        let text = path.to_string_lossy().replace('\\', "/");
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h % u64::from(self.n) == u64::from(self.k - 1)
    }
}

/// The scenario files named by `paths`: files as given, directories searched (recursively) for
/// `*.toml`, in sorted order.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        found.sort();
        for p in found {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let before = out.len();
            walk(p, &mut out)?;
            if out.len() == before {
                // A CI job pointed at the wrong directory must not pass by running nothing.
                return Err(format!("{}: no scenario files (*.toml) in it", p.display()));
            }
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

/// Checks and runs scenario files, `jobs` at a time (each on its own device and thread);
/// results come back in the order of `files`.
pub fn run_files(files: &[PathBuf], jobs: usize, limits: RunLimits) -> Vec<FileResult> {
    let order: Vec<usize> = (0..files.len()).collect();
    run_files_in(files, &order, jobs, limits)
}

/// [`run_files`], starting the files in `order` (indices into `files`, each once, as
/// [`history::History::order`] gives them); results still come back in the order of `files`.
pub fn run_files_in(
    files: &[PathBuf],
    order: &[usize],
    jobs: usize,
    limits: RunLimits,
) -> Vec<FileResult> {
    debug_assert!(
        {
            let mut sorted = order.to_vec();
            sorted.sort_unstable();
            sorted.iter().copied().eq(0..files.len())
        },
        "the order is not one of the files' indices each once"
    );
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileResult>>> = Mutex::new(vec![None; files.len()]);
    let began = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, files.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let Some(&i) = order.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        return;
                    };
                    let Some(path) = files.get(i) else { return };
                    let started = began.elapsed();
                    let result = match load(path) {
                        Ok(s) => FileResult::Ran(ScenarioResult {
                            started,
                            ..run::run(&s, limits)
                        }),
                        Err(e) => FileResult::Bad(e),
                    };
                    if let Ok(mut r) = results.lock()
                        && let Some(slot) = r.get_mut(i)
                    {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// `pycom-sim scenario` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ScenarioArgs {
    /// Scenario files, or directories searched for *.toml.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Scenarios run at once, each on its own device (default: the machine's cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Run only the K-th of N stable shares of the files (by a hash of each path), e.g. one
    /// share per CI runner: --partition 2/4.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<Partition>,
    /// Also write a JUnit XML report (GitHub and GitLab test reporters read it).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the report as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Start the files in the order given, not the slowest first by their times in earlier
    /// runs (kept in the user's cache directory), and keep no times from this run.
    #[arg(long)]
    pub no_history: bool,
    /// Wall-clock seconds a scenario may take before it is given up as stuck.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub wall_limit: u64,
}

/// Runs `pycom-sim scenario`; returns the exit status.
pub fn command(args: &ScenarioArgs) -> Result<i32, String> {
    let mut files = match collect(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            // Nothing to run is a bad scenario set, not a pass: status 2, as for a bad file.
            eprintln!("pycom-sim: {e}");
            return Ok(2);
        }
    };
    if let Some(p) = args.partition {
        files.retain(|f| p.takes(f));
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let limits = RunLimits {
        wall: std::time::Duration::from_secs(args.wall_limit.max(1)),
    };
    if !files.is_empty() {
        crate::device::prewarm(jobs.clamp(1, files.len()));
    }
    // The slowest first, so that with several jobs no long scenario starts last.
    let history = (!args.no_history).then(history::History::load_default);
    let order = history
        .as_ref()
        .map_or_else(|| (0..files.len()).collect(), |h| h.order(&files));
    let results = run_files_in(&files, &order, jobs, limits);
    if let Some(history) = history {
        history.record(&results);
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&results))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if args.json {
        println!("{}", report::json(&results));
    } else {
        print!("{}", report::human(&results, true));
    }
    Ok(report::exit_code(&results))
}

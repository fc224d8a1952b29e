//! Reports: the human summary, JUnit XML (what GitLab and GitHub test reporters read) and JSON.
//!
//! The JUnit file is written by hand rather than with a crate: it is one `<testsuites>` of flat
//! `<testsuite>`/`<testcase>` elements with `<failure>` and `<system-out>`, and the only care it
//! needs — escaping, and dropping the control characters XML 1.0 forbids (UART text has them) —
//! is a dozen lines.

use std::fmt::Write as _;
use std::time::Duration;

use super::file::FileError;
use super::run::{Outcome, ScenarioResult, ms};

/// What happened to one scenario file.
#[derive(Debug, Clone)]
pub enum FileResult {
    Ran(ScenarioResult),
    /// The file could not be run (exit status 2).
    Bad(FileError),
}

/// `4.5 s`, `100 ms`.
pub fn duration_text(d: Duration) -> String {
    let us = d.as_micros();
    if us.is_multiple_of(1_000_000) {
        format!("{} s", us / 1_000_000)
    } else if us.is_multiple_of(1000) {
        format!("{} ms", us / 1000)
    } else {
        format!("{} us", us)
    }
}

fn wall_text(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mark(o: &Outcome) -> &'static str {
    match o {
        Outcome::Pass => "ok",
        Outcome::Fail(_) => "FAIL",
        Outcome::Timeout(_) => "TIMEOUT",
        Outcome::Skipped => "skip",
    }
}

/// The human summary: each step with its device and wall time; on failure the failing step,
/// the device's last output and its LED and pins. `wall` false leaves wall times out, so the
/// text is the same every run.
pub fn human(results: &[FileResult], wall: bool) -> String {
    let mut out = String::new();
    for r in results {
        match r {
            FileResult::Bad(e) => {
                let _ = writeln!(out, "BAD  {e}");
            }
            FileResult::Ran(s) => {
                let _ = write!(
                    out,
                    "{:<4} {} ({}): {} device time",
                    mark(&s.outcome),
                    s.name,
                    s.path.display(),
                    ms(s.device_us)
                );
                if wall {
                    let _ = write!(out, ", {} wall", wall_text(s.wall));
                }
                out.push('\n');
                for st in &s.steps {
                    let _ = write!(
                        out,
                        "     {:<7} {:>14}  line {:<3} {}",
                        mark(&st.outcome),
                        ms(st.device_us),
                        st.line,
                        st.label
                    );
                    if wall && st.outcome != Outcome::Skipped {
                        let _ = write!(out, "  ({} wall)", wall_text(st.wall));
                    }
                    out.push('\n');
                    if let Outcome::Fail(m) | Outcome::Timeout(m) = &st.outcome {
                        for l in m.lines() {
                            let _ = writeln!(out, "             {l}");
                        }
                    }
                }
                if let (Outcome::Fail(m), true) = (&s.outcome, s.steps.is_empty()) {
                    let _ = writeln!(out, "     {m}");
                }
                if let Some(snap) = &s.snapshot {
                    let _ = writeln!(
                        out,
                        "     LED {}; pins: {}",
                        snap.led,
                        if snap.pins.is_empty() {
                            "all low, none held".to_string()
                        } else {
                            snap.pins.join(", ")
                        }
                    );
                    let _ = writeln!(out, "     last UART lines:");
                    for l in snap.uart_tail.split('\n') {
                        let _ = writeln!(out, "     | {}", l.trim_end_matches('\r'));
                    }
                }
            }
        }
    }
    let (pass, fail, bad) = counts(results);
    let _ = writeln!(
        out,
        "{} scenario(s): {pass} passed, {fail} failed, {bad} bad file(s)",
        results.len()
    );
    out
}

fn counts(results: &[FileResult]) -> (usize, usize, usize) {
    let mut c = (0, 0, 0);
    for r in results {
        match r {
            FileResult::Ran(s) if s.outcome.is_pass() => c.0 += 1,
            FileResult::Ran(_) => c.1 += 1,
            FileResult::Bad(_) => c.2 += 1,
        }
    }
    c
}

/// The process exit status: 2 if a file was bad, else 1 if an expectation failed, else 42 if
/// a wait timed out (Wokwi's convention), else 0.
pub fn exit_code(results: &[FileResult]) -> i32 {
    let bad = results.iter().any(|r| matches!(r, FileResult::Bad(_)));
    let failed = results
        .iter()
        .any(|r| matches!(r, FileResult::Ran(s) if matches!(s.outcome, Outcome::Fail(_))));
    let timeout = results
        .iter()
        .any(|r| matches!(r, FileResult::Ran(s) if matches!(s.outcome, Outcome::Timeout(_))));
    if bad {
        2
    } else if failed {
        1
    } else if timeout {
        42
    } else {
        0
    }
}

/// Text safe inside XML: escaped, and without the control characters XML 1.0 cannot carry.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            '\r' => {}
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "^{}", ((c as u8) + b'@') as char);
            }
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `<testsuite>` per scenario file, one `<testcase>` per step (the step's device
/// time is its `time`, in seconds), so reports of several CI runners merge by concatenation of
/// their suites.
pub fn junit(results: &[FileResult]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (_, fail, bad) = counts(results);
    let tests: usize = results
        .iter()
        .map(|r| match r {
            FileResult::Ran(s) => s.steps.len().max(1),
            FileResult::Bad(_) => 1,
        })
        .sum();
    let _ = writeln!(
        out,
        "<testsuites name=\"pycom-sim scenarios\" tests=\"{tests}\" failures=\"{fail}\" errors=\"{bad}\">"
    );
    for r in results {
        match r {
            FileResult::Bad(e) => {
                let path = e.path.display().to_string();
                let _ = writeln!(
                    out,
                    "  <testsuite name=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0\">",
                    xml(&path)
                );
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"{}\" name=\"scenario file\" file=\"{}\" time=\"0\">\n      <error message=\"{}\" type=\"bad scenario\"/>\n    </testcase>\n  </testsuite>",
                    xml(&path),
                    xml(&path),
                    xml(&e.to_string())
                );
            }
            FileResult::Ran(s) => {
                let path = s.path.display().to_string();
                let failures = s
                    .steps
                    .iter()
                    .filter(|st| matches!(st.outcome, Outcome::Fail(_) | Outcome::Timeout(_)))
                    .count()
                    + usize::from(s.steps.is_empty() && !s.outcome.is_pass());
                let skipped = s
                    .steps
                    .iter()
                    .filter(|st| st.outcome == Outcome::Skipped)
                    .count();
                let _ = writeln!(
                    out,
                    "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.6}\" file=\"{}\">",
                    xml(&s.name),
                    s.steps.len().max(1),
                    s.device_us as f64 / 1e6,
                    xml(&path)
                );
                let mut previous = 0;
                for st in &s.steps {
                    let took = st.device_us.saturating_sub(previous);
                    previous = st.device_us;
                    let _ = write!(
                        out,
                        "    <testcase classname=\"{}\" name=\"line {}: {}\" file=\"{}\" line=\"{}\" time=\"{:.6}\"",
                        xml(&s.name),
                        st.line,
                        xml(&st.label),
                        xml(&path),
                        st.line,
                        took as f64 / 1e6
                    );
                    match &st.outcome {
                        Outcome::Pass => out.push_str("/>\n"),
                        Outcome::Skipped => out.push_str(">\n      <skipped/>\n    </testcase>\n"),
                        Outcome::Fail(m) | Outcome::Timeout(m) => {
                            let kind = if matches!(st.outcome, Outcome::Timeout(_)) {
                                "timeout"
                            } else {
                                "expectation"
                            };
                            let _ = writeln!(
                                out,
                                ">\n      <failure message=\"{}\" type=\"{kind}\">{}</failure>",
                                xml(m.lines().next().unwrap_or_default()),
                                xml(m)
                            );
                            if let Some(snap) = &s.snapshot {
                                let _ = writeln!(
                                    out,
                                    "      <system-out>LED {}; pins: {}\n{}</system-out>",
                                    xml(&snap.led),
                                    xml(&snap.pins.join(", ")),
                                    xml(&snap.uart_tail)
                                );
                            }
                            out.push_str("    </testcase>\n");
                        }
                    }
                }
                if s.steps.is_empty()
                    && let Outcome::Fail(m) = &s.outcome
                {
                    let _ = writeln!(
                        out,
                        "    <testcase classname=\"{}\" name=\"start\" file=\"{}\" time=\"0\">\n      <failure message=\"{}\" type=\"start\"/>\n    </testcase>",
                        xml(&s.name),
                        xml(&path),
                        xml(m)
                    );
                }
                out.push_str("  </testsuite>\n");
            }
        }
    }
    out.push_str("</testsuites>\n");
    out
}

/// JSON: `{"scenarios": [...], "exit_code": N}`; times as `device_us` and `wall_ms`.
pub fn json(results: &[FileResult]) -> String {
    let scenarios: Vec<serde_json::Value> = results
        .iter()
        .map(|r| match r {
            FileResult::Bad(e) => serde_json::json!({
                "path": e.path.display().to_string(),
                "outcome": "bad",
                "error": e.to_string(),
                "line": e.line,
                "column": e.column,
            }),
            FileResult::Ran(s) => serde_json::json!({
                "path": s.path.display().to_string(),
                "name": s.name,
                "outcome": outcome_name(&s.outcome),
                "message": outcome_message(&s.outcome),
                "device_us": s.device_us,
                "wall_ms": s.wall.as_secs_f64() * 1000.0,
                "started_ms": s.started.as_secs_f64() * 1000.0,
                "steps": s.steps.iter().map(|st| serde_json::json!({
                    "line": st.line,
                    "label": st.label,
                    "outcome": outcome_name(&st.outcome),
                    "message": outcome_message(&st.outcome),
                    "device_us": st.device_us,
                    "wall_ms": st.wall.as_secs_f64() * 1000.0,
                })).collect::<Vec<_>>(),
                "failure_state": s.snapshot.as_ref().map(|snap| serde_json::json!({
                    "led": snap.led,
                    "pins": snap.pins,
                    "uart_tail": snap.uart_tail,
                })),
            }),
        })
        .collect();
    serde_json::json!({ "scenarios": scenarios, "exit_code": exit_code(results) }).to_string()
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail(_) => "fail",
        Outcome::Timeout(_) => "timeout",
        Outcome::Skipped => "skipped",
    }
}

fn outcome_message(o: &Outcome) -> Option<&str> {
    match o {
        Outcome::Fail(m) | Outcome::Timeout(m) => Some(m),
        _ => None,
    }
}

//! Runs one scenario on its own device, step by step, in virtual time.
//!
//! The device is always stopped between steps (see [`crate::device::Watch`]): a step's actions
//! are sent while it stands still, then the step's condition and timeout are armed and the
//! device runs until one of them stops it again. So every action lands at the device time the
//! previous condition matched, and — with computation taking no device time — a scenario gives
//! the same device times every run, however loaded the host is. Expectations about the past
//! (the LED blinked, a boot decided) are checked against the timestamped event log.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::clock::{Micros, TimeMode};
use crate::device::{Action, DeviceConfig, DeviceHandle, FlashSource, StopWhen, Watch};
use crate::event::{Event, EventKind, Stage, uart_text};
use crate::flash::{FlashFile, MemoryChip};
use crate::gpio::Drive;
use crate::image;

use super::file::{
    BootExpect, FileExpect, FlashStart, ImageSource, Scenario, Since, SlotImage, StepAction,
    TextMatch, Volume,
};

/// How a step, or a whole scenario, ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// An expectation did not hold.
    Fail(String),
    /// A wait's device-time timeout came first (or the wall-clock limit: the device stood
    /// still).
    Timeout(String),
    /// Not run: an earlier step ended the scenario.
    Skipped,
}

impl Outcome {
    pub fn is_pass(&self) -> bool {
        *self == Outcome::Pass
    }
}

/// One step's result.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub label: String,
    pub line: usize,
    pub outcome: Outcome,
    /// Device time when the step ended (µs since power-on).
    pub device_us: Micros,
    pub wall: Duration,
}

/// The device's state when a scenario failed, for the report.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The last 40 lines the device printed.
    pub uart_tail: String,
    pub led: String,
    /// Pins that are high, and pins driven from outside, by module name.
    pub pins: Vec<String>,
}

/// A scenario's result.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub path: PathBuf,
    pub name: String,
    pub steps: Vec<StepResult>,
    pub outcome: Outcome,
    /// Device time covered.
    pub device_us: Micros,
    pub wall: Duration,
    /// When it started, from the start of the run (`pycom-sim scenario` starts the files
    /// slowest first: [`super::history`]).
    pub started: Duration,
    /// Set when the scenario did not pass.
    pub snapshot: Option<Snapshot>,
}

/// Limits that are about the host, not the scenario.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Wall time a scenario may take before it is given up as stuck (a busy loop, which in a
    /// scenario takes no device time).
    pub wall: Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            wall: Duration::from_secs(120),
        }
    }
}

/// Why a run could not go on.
enum Stop {
    /// The device thread ended.
    Gone,
    /// The wall-clock limit passed.
    Stuck,
}

/// What the host knows of the device, from its events.
struct Run {
    handle: DeviceHandle,
    /// The device's events in batches (`subscribe_batched`): the runner needs them only once
    /// the device pauses, so it need not be woken for each.
    events: Receiver<Vec<Event>>,
    /// Events of the last batch not read yet.
    pending: std::collections::VecDeque<Event>,
    /// Every event so far except the stops.
    log: Vec<Event>,
    /// Device time of the last stop.
    now: Micros,
    deadline: Instant,
    /// The device's flash chip, in memory: what `expect_file` reads.
    chip: MemoryChip,
    /// Keeps the SD card's directory until the device is gone.
    _sd: Option<tempfile::TempDir>,
    sd_dir: Option<PathBuf>,
    board: crate::board::Board,
}

/// Runs a checked scenario.
pub fn run(scenario: &Scenario, limits: RunLimits) -> ScenarioResult {
    let started = Instant::now();
    let mut result = ScenarioResult {
        path: scenario.path.clone(),
        name: scenario.name.clone(),
        steps: Vec::new(),
        outcome: Outcome::Pass,
        device_us: 0,
        wall: Duration::ZERO,
        started: Duration::ZERO,
        snapshot: None,
    };
    let mut run = match Run::start(scenario, limits) {
        Ok(r) => r,
        Err(message) => {
            result.outcome = Outcome::Fail(message);
            result.wall = started.elapsed();
            result.snapshot = Some(Snapshot::default());
            return result;
        }
    };
    // Where the previous step began: an expectation about the past looks back over it.
    let mut previous_start = (run.now, run.log.len());
    for step in &scenario.steps {
        if !result.outcome.is_pass() {
            result.steps.push(StepResult {
                label: step.label.clone(),
                line: step.line,
                outcome: Outcome::Skipped,
                device_us: run.now,
                wall: Duration::ZERO,
            });
            continue;
        }
        let t0 = Instant::now();
        let began = (run.now, run.log.len());
        let outcome = match run.step(&step.action, previous_start) {
            Ok(o) => o,
            Err(Stop::Gone) => Outcome::Fail("the device stopped".into()),
            Err(Stop::Stuck) => Outcome::Timeout(format!(
                "device time stood still at {} for the {} s wall-clock limit: the device \
                 computes without waiting (in a scenario computation takes no device time, so a \
                 loop polling time.ticks_ms() never ends; use time.sleep_ms)",
                ms(run.now),
                limits.wall.as_secs()
            )),
        };
        previous_start = began;
        if !outcome.is_pass() {
            result.outcome = match &outcome {
                Outcome::Fail(m) => Outcome::Fail(format!("step {}: {m}", step.line)),
                Outcome::Timeout(m) => Outcome::Timeout(format!("step {}: {m}", step.line)),
                other => other.clone(),
            };
            result.snapshot = Some(run.snapshot());
        }
        result.steps.push(StepResult {
            label: step.label.clone(),
            line: step.line,
            outcome,
            device_us: run.now,
            wall: t0.elapsed(),
        });
    }
    result.device_us = run.now;
    run.handle.shutdown();
    result.wall = started.elapsed();
    result
}

/// Device time as `1234.567 ms`, the way every report writes it.
pub fn ms(us: Micros) -> String {
    format!("{}.{:03} ms", us / 1000, us % 1000)
}

impl Run {
    fn start(scenario: &Scenario, limits: RunLimits) -> Result<Run, String> {
        let board = scenario.board.clone();
        let chip = match &scenario.flash {
            FlashStart::Copy(from) => {
                FlashFile::check_existing(from, &board).map_err(|e| e.to_string())?;
                let bytes = std::fs::read(from)
                    .map_err(|e| format!("cannot read the flash file {}: {e}", from.display()))?;
                MemoryChip::from_bytes(&bytes)
            }
            FlashStart::Fresh => fresh_flash(&board)?.fork(),
        };
        if !scenario.files.is_empty() || scenario.ota.is_some() || scenario.factory.is_some() {
            prepare_flash(scenario, &chip)?;
        }
        let (sd_tmp, sd_dir) = match &scenario.sd {
            None => (None, None),
            Some(files) => {
                let dir = scratch_dir()?;
                let sd = dir.path().join("sd");
                for (p, content) in files {
                    let path = sd.join(p);
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| format!("cannot make the SD card's {p}: {e}"))?;
                    }
                    std::fs::write(&path, content)
                        .map_err(|e| format!("cannot write the SD card's {p}: {e}"))?;
                }
                std::fs::create_dir_all(&sd)
                    .map_err(|e| format!("cannot make the SD card directory: {e}"))?;
                (Some(dir), Some(sd))
            }
        };
        let handle = DeviceHandle::spawn(DeviceConfig {
            board: board.clone(),
            flash: FlashSource::Memory(chip.clone()),
            reformat: false,
            time: TimeMode::Virtual,
            sd: sd_dir.clone(),
        })
        .map_err(|e| e.to_string())?;
        let events = handle.subscribe_batched();
        handle.set_repl_profile(scenario.repl_profile);
        let mut run = Run {
            handle,
            events,
            pending: Default::default(),
            log: Vec::new(),
            now: 0,
            deadline: Instant::now() + limits.wall,
            chip,
            _sd: sd_tmp,
            sd_dir,
            board,
        };
        let mut batch = run.handle.batch();
        batch.free_compute();
        for &(gpio, drive) in &scenario.start_pins {
            batch.drive_gpio(gpio, drive);
        }
        batch.power_on();
        batch.watch(Watch {
            until: None,
            deadline: Some(0),
        });
        batch.send();
        run.settle()
            .map_err(|_| "the device did not start".to_string())?;
        Ok(run)
    }

    /// Reads events until the device stops; returns whether its deadline stopped it.
    fn settle(&mut self) -> Result<bool, Stop> {
        loop {
            let Some(event) = self.pending.pop_front() else {
                let left = self.deadline.saturating_duration_since(Instant::now());
                match self.events.recv_timeout(left) {
                    Ok(batch) => self.pending.extend(batch),
                    Err(RecvTimeoutError::Timeout) => return Err(Stop::Stuck),
                    Err(RecvTimeoutError::Disconnected) => return Err(Stop::Gone),
                }
                continue;
            };
            match event {
                Event {
                    time_us,
                    kind: EventKind::Paused { deadline },
                } => {
                    self.now = time_us;
                    return Ok(deadline);
                }
                e if e.kind == EventKind::Stopped => return Err(Stop::Gone),
                e => self.log.push(e),
            }
        }
    }

    /// Applies commands and waits until the device has them (it stays stopped).
    fn apply(&mut self, fill: impl FnOnce(&mut crate::device::Batch<'_>)) -> Result<(), Stop> {
        let now = self.now;
        let mut batch = self.handle.batch();
        fill(&mut batch);
        batch.watch(Watch {
            until: None,
            deadline: Some(now),
        });
        batch.send();
        self.settle().map(|_| ())
    }

    /// Lets the device run until `until` accepts an event or `timeout` of device time passes;
    /// returns whether the condition matched.
    fn run_until(&mut self, until: Option<StopWhen>, timeout: Duration) -> Result<bool, Stop> {
        let deadline = self.now.saturating_add(micros(timeout));
        self.handle.watch(Watch {
            until,
            deadline: Some(deadline),
        });
        Ok(!self.settle()?)
    }

    fn step(
        &mut self,
        action: &StepAction,
        previous_start: (Micros, usize),
    ) -> Result<Outcome, Stop> {
        let now = self.now;
        Ok(match action {
            StepAction::Drive {
                gpio,
                drive,
                release_after,
                ..
            } => {
                let (gpio, drive, release_after) = (*gpio, *drive, *release_after);
                self.apply(|b| {
                    b.drive_gpio(gpio, drive);
                    if let Some(d) = release_after {
                        b.at(
                            Duration::from_micros(now.saturating_add(micros(d))),
                            Action::Drive {
                                gpio,
                                drive: Drive::Floating,
                            },
                        );
                    }
                })?;
                Outcome::Pass
            }
            StepAction::Reset => {
                self.apply(|b| {
                    b.press_reset();
                })?;
                Outcome::Pass
            }
            StepAction::PowerCycle => {
                self.apply(|b| {
                    b.power_cycle();
                })?;
                Outcome::Pass
            }
            StepAction::WriteUart(bytes) => {
                self.apply(|b| {
                    b.write_uart(bytes);
                })?;
                Outcome::Pass
            }
            StepAction::Delay(d) => {
                self.run_until(None, *d)?;
                Outcome::Pass
            }
            StepAction::WaitUart { what, timeout } => {
                let shown = what.shown();
                let what = what.clone();
                let mut text = Vec::new();
                let matched = self.run_until(
                    Some(Box::new(move |e: &Event| {
                        if let EventKind::Uart { text: t } = &e.kind {
                            text.extend_from_slice(t);
                            what.is_match(&String::from_utf8_lossy(&text))
                        } else {
                            false
                        }
                    })),
                    *timeout,
                )?;
                self.timeout_unless(matched, *timeout, &format!("UART text {shown}"))
            }
            StepAction::WaitPin {
                gpio,
                pin,
                level,
                timeout,
            } => {
                let (gpio, level) = (*gpio, *level);
                if self.pin_level(gpio) == level {
                    return Ok(Outcome::Pass);
                }
                let matched = self.run_until(
                    Some(Box::new(move |e: &Event| {
                        matches!(&e.kind, EventKind::Pin { gpio: g, level: l, .. }
                            if *g == gpio && *l == level)
                    })),
                    *timeout,
                )?;
                self.timeout_unless(matched, *timeout, &format!("{pin} at level {level}"))
            }
            StepAction::WaitLed { color, timeout } => {
                if self.led() == *color {
                    return Ok(Outcome::Pass);
                }
                let want = color.clone();
                let matched = self.run_until(
                    Some(Box::new(move |e: &Event| {
                        matches!(&e.kind, EventKind::Led { color } if *color == want)
                    })),
                    *timeout,
                )?;
                self.timeout_unless(matched, *timeout, &format!("the LED showing {color}"))
            }
            // Entering a stage is an edge, not a level: after a reset the stage before it is
            // still the last one seen, so there is no look at the present here.
            StepAction::WaitStage { stage, timeout } => {
                let want = *stage;
                let matched = self.run_until(
                    Some(Box::new(move |e: &Event| {
                        matches!(&e.kind, EventKind::Stage { stage } if *stage == want)
                    })),
                    *timeout,
                )?;
                self.timeout_unless(matched, *timeout, &format!("stage {}", stage_name(*stage)))
            }
            StepAction::WaitIdle { timeout } => {
                let matched = self.run_until(
                    Some(Box::new(|e: &Event| e.kind == EventKind::Idle)),
                    *timeout,
                )?;
                self.timeout_unless(matched, *timeout, "the device to be idle")
            }
            StepAction::ExpectNoUart { text, during } => {
                let want = text.clone();
                let mut seen = Vec::new();
                let printed = self.run_until(
                    Some(Box::new(move |e: &Event| {
                        if let EventKind::Uart { text: t } = &e.kind {
                            seen.extend_from_slice(t);
                            String::from_utf8_lossy(&seen).contains(want.as_str())
                        } else {
                            false
                        }
                    })),
                    *during,
                )?;
                check(!printed, || {
                    format!(
                        "expected no {text:?} on the UART for {}; it came at {}",
                        crate::scenario::report::duration_text(*during),
                        ms(self.now)
                    )
                })
            }
            StepAction::Eval {
                line,
                expect,
                timeout,
            } => self.eval(line, expect.as_deref(), *timeout)?,
            StepAction::ExpectLed(color) => {
                let led = self.led();
                check(led == *color, || {
                    format!("expected the LED to show {color}, it shows {led}")
                })
            }
            StepAction::ExpectBlink {
                color,
                period,
                on,
                from,
                to,
                tolerance,
            } => {
                // By default the look back starts where the previous step began in the log, not
                // at its device time: events before it may share that time (a reset at 0 ms).
                let (first, from) = match from {
                    Some(f) => (0, micros(*f)),
                    None => (previous_start.1, previous_start.0),
                };
                let to = to.map_or(now, micros);
                self.expect_blink(
                    color,
                    (micros(*period), on.map(micros)),
                    (first, from),
                    to,
                    micros(*tolerance),
                )
            }
            StepAction::ExpectPin { gpio, pin, level } => {
                let got = self.pin_level(*gpio);
                check(got == *level, || {
                    format!("expected {pin} at level {level}, it is at {got}")
                })
            }
            StepAction::ExpectStage(stage) => {
                let got = self.stage();
                check(got == Some(*stage), || {
                    format!(
                        "expected stage {}, the device is in {}",
                        stage_name(*stage),
                        got.map_or("no stage (not started)", stage_name)
                    )
                })
            }
            StepAction::ExpectBoot(b) => self.expect_boot(b),
            StepAction::ExpectResetCause(cause) => {
                let got = self.log.iter().rev().find_map(|e| match &e.kind {
                    EventKind::Reset { cause } => Some(
                        serde_json::to_value(cause)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                    ),
                    _ => None,
                });
                check(got.as_deref() == Some(cause.as_str()), || {
                    format!(
                        "expected the last reset to be {cause}, it was {}",
                        got.as_deref().unwrap_or("none yet")
                    )
                })
            }
            StepAction::ExpectFile(f) => self.expect_file(f),
            StepAction::ExpectUart { what, since } => self.expect_uart(what, *since),
        })
    }

    fn timeout_unless(&self, matched: bool, timeout: Duration, what: &str) -> Outcome {
        if matched {
            Outcome::Pass
        } else {
            Outcome::Timeout(format!(
                "waited {} of device time for {what}; it did not come (timeout at {})",
                crate::scenario::report::duration_text(timeout),
                ms(self.now)
            ))
        }
    }

    /// Types a line at the prompt and waits for its echo and the prompt after it; checks what
    /// was printed between. Waiting for the echo first matters when the line is typed before
    /// the REPL is up (main.py still running): the banner's own prompt is not the answer.
    fn eval(
        &mut self,
        line: &str,
        expect: Option<&str>,
        timeout: Duration,
    ) -> Result<Outcome, Stop> {
        let start = self.log.len();
        let typed = format!("{line}\r");
        self.handle.batch().write_uart(typed.as_bytes()).send();
        let mut text = Vec::new();
        let echo = format!("{line}\r\n").into_bytes();
        let matched = self.run_until(
            Some(Box::new(move |e: &Event| {
                if let EventKind::Uart { text: t } = &e.kind {
                    text.extend_from_slice(t);
                    answered(&text, &echo).is_some()
                } else {
                    false
                }
            })),
            timeout,
        )?;
        let all = uart_text(&self.log[start..]);
        let printed = answered(all.as_bytes(), format!("{line}\r\n").as_bytes())
            .and_then(|at| all.get(at..))
            .unwrap_or(&all)
            .to_string();
        if !matched {
            return Ok(Outcome::Timeout(format!(
                "typed {line:?} and waited {} of device time for the next >>> prompt; the \
                 device printed {printed:?}",
                crate::scenario::report::duration_text(timeout)
            )));
        }
        let out = printed.strip_suffix(">>> ").unwrap_or(&printed);
        let out = out.strip_suffix("\r\n").unwrap_or(out);
        Ok(match expect {
            None if out.contains("Traceback") => Outcome::Fail(format!("{line:?} raised:\n{out}")),
            None => Outcome::Pass,
            Some(want) => check(out == want, || {
                format!("{line:?} printed {out:?}, expected {want:?}")
            }),
        })
    }

    fn pin_level(&self, gpio: u8) -> u8 {
        self.log
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::Pin { gpio: g, level, .. } if *g == gpio => Some(*level),
                _ => None,
            })
            .unwrap_or(0)
    }

    fn led(&self) -> String {
        self.log
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::Led { color } => Some(color.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "#000000".into())
    }

    fn stage(&self) -> Option<Stage> {
        self.log.iter().rev().find_map(|e| match &e.kind {
            EventKind::Stage { stage } => Some(*stage),
            _ => None,
        })
    }

    /// The LED alternated between `color` and off within `from..=to`, turning `color` on once
    /// every `period` (within `tolerance`), at least twice.
    fn expect_blink(
        &self,
        color: &str,
        (period, on): (Micros, Option<Micros>),
        (first, from): (usize, Micros),
        to: Micros,
        tolerance: Micros,
    ) -> Outcome {
        let changes: Vec<(Micros, &str)> = self
            .log
            .get(first..)
            .unwrap_or_default()
            .iter()
            .filter(|e| e.time_us >= from && e.time_us <= to)
            .filter_map(|e| match &e.kind {
                EventKind::Led { color } => Some((e.time_us, color.as_str())),
                _ => None,
            })
            .collect();
        let span = format!("{}..{}", ms(from), ms(to));
        if let Some((t, other)) = changes.iter().find(|(_, c)| *c != color && *c != "#000000") {
            return Outcome::Fail(format!(
                "expected the LED to blink {color} over {span}, it showed {other} at {}",
                ms(*t)
            ));
        }
        let ons: Vec<Micros> = changes
            .iter()
            .filter(|(_, c)| *c == color)
            .map(|(t, _)| *t)
            .collect();
        if ons.len() < 2 {
            return Outcome::Fail(format!(
                "expected the LED to blink {color} over {span}, it turned {color} {} time(s)",
                ons.len()
            ));
        }
        for w in ons.windows(2) {
            let gap = w[1] - w[0];
            if gap.abs_diff(period) > tolerance {
                return Outcome::Fail(format!(
                    "expected {color} every {} over {span}; it came on at {} and again at {} \
                     ({} apart)",
                    ms(period),
                    ms(w[0]),
                    ms(w[1]),
                    ms(gap)
                ));
            }
        }
        if let Some(on) = on {
            for w in changes.windows(2) {
                let ((t0, c0), (t1, _)) = (w[0], w[1]);
                if c0 == color && (t1 - t0).abs_diff(on) > tolerance {
                    return Outcome::Fail(format!(
                        "expected {color} to stay on {} each time over {span}; at {} it stayed \
                         on {}",
                        ms(on),
                        ms(t0),
                        ms(t1 - t0)
                    ));
                }
            }
        }
        Outcome::Pass
    }

    fn expect_boot(&self, b: &BootExpect) -> Outcome {
        let last = self.log.iter().rev().find_map(|e| match &e.kind {
            EventKind::Boot {
                slot,
                version,
                safe_boot,
                skip_scripts,
                rolled_back,
                software_request,
                ..
            } => Some((
                e.time_us,
                slot,
                version,
                safe_boot,
                *skip_scripts,
                *rolled_back,
                *software_request,
            )),
            _ => None,
        });
        let Some((t, slot, version, safe_boot, skip, rolled, software)) = last else {
            return Outcome::Fail("expected a boot decision; the bootloader has made none".into());
        };
        let mut wrong = Vec::new();
        let mut cmp = |what: &str, want: Option<String>, got: String| {
            if let Some(w) = want
                && w != got
            {
                wrong.push(format!("{what} {got} (expected {w})"));
            }
        };
        cmp("slot", b.slot.clone(), slot.clone());
        cmp("version", b.version.clone(), version.clone());
        cmp("safe_boot", b.safe_boot.clone(), safe_boot.clone());
        cmp(
            "skip_scripts",
            b.skip_scripts.map(|v| v.to_string()),
            skip.to_string(),
        );
        cmp(
            "rolled_back",
            b.rolled_back.map(|v| v.to_string()),
            rolled.to_string(),
        );
        cmp(
            "software_request",
            b.software_request.map(|v| v.to_string()),
            software.to_string(),
        );
        check(wrong.is_empty(), || {
            format!("the boot decision at {} has {}", ms(t), wrong.join(", "))
        })
    }

    fn expect_file(&self, f: &FileExpect) -> Outcome {
        let content = match f.volume {
            Volume::Flash => read_flash_file(&self.chip, &self.board, &f.path),
            Volume::Sd => match &self.sd_dir {
                None => Err("the scenario has no SD card ([sd] table)".into()),
                Some(dir) => match std::fs::read(dir.join(f.path.trim_start_matches('/'))) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e.to_string()),
                },
            },
        };
        let content = match content {
            Ok(c) => c,
            Err(e) => return Outcome::Fail(format!("cannot read {}: {e}", f.shown)),
        };
        let text = content.as_ref().map(|c| String::from_utf8_lossy(c));
        match (&text, f.absent) {
            (None, true) => Outcome::Pass,
            (Some(_), true) => Outcome::Fail(format!("expected no {}, it exists", f.shown)),
            (None, false) => Outcome::Fail(format!("expected {}, it does not exist", f.shown)),
            (Some(t), false) => {
                if let Some(want) = &f.content {
                    check(t == want, || {
                        format!("{} holds {t:?}, expected {want:?}", f.shown)
                    })
                } else if let Some(part) = &f.contains {
                    check(t.contains(part.as_str()), || {
                        format!("{} holds {t:?}, which does not contain {part:?}", f.shown)
                    })
                } else {
                    Outcome::Pass
                }
            }
        }
    }

    /// Whether the UART printed `what` since power-on or since the last reset (the text the
    /// chip printed after its last `reset` event).
    fn expect_uart(&self, what: &TextMatch, since: Since) -> Outcome {
        let from = match since {
            Since::PowerOn => 0,
            Since::LastReset => self
                .log
                .iter()
                .rposition(|e| matches!(e.kind, EventKind::Reset { .. }))
                .unwrap_or(0),
        };
        let text = uart_text(&self.log[from..]);
        let shown = what.shown();
        let when = match since {
            Since::PowerOn => "since power-on",
            Since::LastReset => "since the last reset",
        };
        check(what.is_match(&text), || {
            format!("the UART has not printed {shown} {when}")
        })
    }

    fn snapshot(&self) -> Snapshot {
        let text = uart_text(&self.log);
        let lines: Vec<&str> = text.split('\n').collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        let mut levels = std::collections::BTreeMap::new();
        let mut drives = std::collections::BTreeMap::new();
        for e in &self.log {
            match &e.kind {
                EventKind::Pin { pin, level, .. } => {
                    levels.insert(pin.clone(), *level);
                }
                EventKind::Drive { pin, drive, .. } => {
                    drives.insert(pin.clone(), *drive);
                }
                _ => {}
            }
        }
        let mut pins: Vec<String> = levels
            .iter()
            .filter(|(_, l)| **l == 1)
            .map(|(p, _)| format!("{p} high"))
            .collect();
        for (p, d) in drives {
            match d {
                Drive::High => pins.push(format!("{p} held to 3V3")),
                Drive::Low => pins.push(format!("{p} held to GND")),
                Drive::Floating => {}
            }
        }
        Snapshot {
            uart_tail: tail,
            led: self.led(),
            pins,
        }
    }
}

/// Where the output of a typed line starts in `text` (just after its echo), once the
/// prompt has come back after it.
fn answered(text: &[u8], echo: &[u8]) -> Option<usize> {
    let at = text.windows(echo.len()).position(|w| w == echo)? + echo.len();
    let rest = text.get(at..)?;
    (rest == b">>> " || rest.ends_with(b"\r\n>>> ")).then_some(at)
}

fn check(ok: bool, message: impl FnOnce() -> String) -> Outcome {
    if ok {
        Outcome::Pass
    } else {
        Outcome::Fail(message())
    }
}

fn micros(d: Duration) -> Micros {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Rom => "rom",
        Stage::DownloadMode => "download_mode",
        Stage::Bootloader => "bootloader",
        Stage::Firmware => "firmware",
    }
}

/// A directory for a scenario's SD card: in memory (`/dev/shm`) where there is one, since it
/// is deleted a moment later and need not reach the disk.
fn scratch_dir() -> Result<tempfile::TempDir, String> {
    let shm = Path::new("/dev/shm");
    let in_memory = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("pycom-sim-scenario-")
            .tempdir_in(shm)
            .ok()
    } else {
        None
    };
    match in_memory {
        Some(dir) => Ok(dir),
        _ => tempfile::Builder::new()
            .prefix("pycom-sim-scenario-")
            .tempdir()
            .map_err(|e| format!("cannot make a temporary directory: {e}")),
    }
}

/// A new flash chip for `board` (partition table, factory image, formatted /flash), made once
/// per process and board: every fresh scenario starts from a fork of it, which shares its
/// sectors until the device changes them.
fn fresh_flash(board: &crate::board::Board) -> Result<MemoryChip, String> {
    type Templates = std::sync::Mutex<std::collections::HashMap<String, MemoryChip>>;
    static TEMPLATES: std::sync::OnceLock<Templates> = std::sync::OnceLock::new();
    let templates = TEMPLATES.get_or_init(Default::default);
    if let Some(t) = templates
        .lock()
        .ok()
        .and_then(|t| t.get(&board.id).cloned())
    {
        return Ok(t);
    }
    let chip = MemoryChip::fresh(board, &image::default_image()).map_err(|e| e.to_string())?;
    if let Ok(mut t) = templates.lock() {
        t.insert(board.id.clone(), chip.clone());
    }
    Ok(chip)
}

/// Writes the scenario's files and OTA image onto its flash chip.
fn prepare_flash(scenario: &Scenario, chip: &MemoryChip) -> Result<(), String> {
    let board = &scenario.board;
    let mut flash = FlashFile::on_chip(chip.clone(), board).map_err(|e| e.to_string())?;
    for (name, text) in &scenario.files {
        crate::fs::write_file(&mut flash, board.fs, name, text.as_bytes())
            .map_err(|e| format!("cannot put {name} in /flash: {e}"))?;
    }
    if let Some(factory) = &scenario.factory {
        let bytes = slot_bytes(factory)?;
        flash
            .erase_and_write(board.factory_offset(), &bytes)
            .map_err(|e| format!("cannot write the factory image: {e}"))?;
    }
    if let Some(ota) = &scenario.ota {
        let bytes = slot_bytes(ota)?;
        flash
            .erase_and_write(board.ota0_offset(), &bytes)
            .map_err(|e| format!("cannot write the OTA image: {e}"))?;
        let record = pycom_boot::otadata::read_record(&mut flash, board.otadata_offset())
            .map_err(|e| format!("cannot read otadata: {e:?}"))?;
        let next = pycom_boot::updates::after_ota_finish(&record, bytes.len() as u32);
        pycom_boot::otadata::write_record(&mut flash, board.otadata_offset(), &next)
            .map_err(|e| format!("cannot write otadata: {e:?}"))?;
    }
    Ok(())
}

/// The bytes a slot gets: an image built with the version, or the image file; damaged after
/// it was built if `corrupt` says so (then its check at boot fails).
fn slot_bytes(slot: &SlotImage) -> Result<Vec<u8>, String> {
    let mut bytes = match &slot.source {
        ImageSource::Version(v) => image::build_image(&image::ImageSpec {
            version: v.clone(),
            ..image::default_spec()
        }),
        ImageSource::File(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read image {}: {e}", path.display()))?
        }
    };
    if slot.corrupt {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
    }
    Ok(bytes)
}

/// A file in the /flash filesystem of a running device's flash chip, or `None` if it is not
/// there.
///
/// The device writes every change through to its chip, so the chip now is what the device's
/// flash holds at this stop. The filesystem is read from a fork, so nothing the read does (a
/// mount may write) reaches the device.
fn read_flash_file(
    chip: &MemoryChip,
    board: &crate::board::Board,
    file: &str,
) -> Result<Option<Vec<u8>>, String> {
    let mut flash = FlashFile::on_chip(chip.fork(), board).map_err(|e| e.to_string())?;
    match crate::fs::read_file(&mut flash, board.fs, file) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(crate::fs::FsError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

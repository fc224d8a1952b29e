//! Scenario files: the TOML schema, and its checks with `file:line:column` errors.
//!
//! Everything a run needs is checked here, before a device starts: unknown keys, a step with
//! no action or two, pin names on the scenario's board, durations, colours, stage and slot
//! names, regexes. serde's `deny_unknown_fields` plus `toml::Spanned` give the positions.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::board::Board;
use crate::event::Stage;
use crate::gpio::{Drive, Gpio};

/// A scenario file that cannot be run: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    /// 1-based; 0 when the error is about the file as a whole (it cannot be read).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

/// The 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .chars()
        .count()
        + 1;
    (line, column)
}

// ----- the TOML as written ---------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    board: Option<Spanned<String>>,
    /// `"fresh"` (the default) or a flash file, relative to the scenario file, that is copied.
    flash: Option<Spanned<String>>,
    /// Default timeout of the wait steps.
    timeout: Option<Spanned<String>>,
    /// Files put into /flash before power-on: path → content.
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// SD card contents (a fresh host directory): path → content. Present means a card is in.
    sd: Option<BTreeMap<String, String>>,
    /// An OTA image in ota_0, as `pycom.ota_finish()` leaves it.
    ota: Option<Spanned<RawSlotImage>>,
    /// The factory slot's image (default: the simulator's own 1.20.2 image), as the Firmware
    /// Updater leaves it.
    factory: Option<Spanned<RawSlotImage>>,
    /// The REPL's texts and protocol: `pycom` (the default) or `micropython`.
    repl_profile: Option<Spanned<String>>,
    /// Pins tied to 3V3 from power-on.
    #[serde(default)]
    hold_high: Vec<Spanned<String>>,
    /// Pins tied to GND from power-on.
    #[serde(default)]
    hold_low: Vec<Spanned<String>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlotImage {
    /// An image the simulator builds with this version (`image build --version`).
    version: Option<String>,
    /// An image file, relative to the scenario (made with `pycom-sim image build`).
    image: Option<Spanned<String>>,
    /// The image is damaged after it was built, so its check at boot fails (rollback).
    #[serde(default)]
    corrupt: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPin {
    pin: Spanned<String>,
    level: Spanned<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlink {
    color: Spanned<String>,
    /// From one turn-on of the colour to the next (a whole cycle).
    period: Spanned<String>,
    /// How long the colour stays on each time (default: not checked).
    on: Option<Spanned<String>>,
    /// Device time the span starts (default: when the previous step began, so a `delay` then
    /// `expect_blink` looks over the delay).
    from: Option<Spanned<String>>,
    /// Device time the span ends (default: now).
    to: Option<Spanned<String>>,
    /// How far an edge may be from the period (default 1 ms).
    tolerance: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuiet {
    text: Spanned<String>,
    /// How long the device runs without printing it.
    #[serde(rename = "for")]
    during: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoot {
    slot: Option<Spanned<String>>,
    version: Option<String>,
    safe_boot: Option<Spanned<String>>,
    skip_scripts: Option<bool>,
    rolled_back: Option<bool>,
    software_request: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    path: Spanned<String>,
    content: Option<String>,
    contains: Option<String>,
    #[serde(default)]
    absent: bool,
}

/// One `[[step]]`: a name, exactly one action, and the options that action takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Option<String>,
    timeout: Option<Spanned<String>>,
    #[serde(rename = "for")]
    hold_for: Option<Spanned<String>>,
    expect: Option<Spanned<String>>,

    hold_high: Option<Spanned<String>>,
    hold_low: Option<Spanned<String>>,
    release: Option<Spanned<String>>,
    reset: Option<Spanned<bool>>,
    power_cycle: Option<Spanned<bool>>,
    delay: Option<Spanned<String>>,
    write_uart: Option<Spanned<String>>,
    write_line: Option<Spanned<String>>,
    eval: Option<Spanned<String>>,
    wait_uart: Option<Spanned<String>>,
    wait_uart_regex: Option<Spanned<String>>,
    wait_pin: Option<Spanned<RawPin>>,
    wait_led: Option<Spanned<String>>,
    wait_stage: Option<Spanned<String>>,
    wait_idle: Option<Spanned<bool>>,
    expect_no_uart: Option<Spanned<RawQuiet>>,
    expect_led: Option<Spanned<String>>,
    expect_blink: Option<Spanned<RawBlink>>,
    expect_pin: Option<Spanned<RawPin>>,
    expect_stage: Option<Spanned<String>>,
    expect_boot: Option<Spanned<RawBoot>>,
    expect_reset_cause: Option<Spanned<String>>,
    expect_file: Option<Spanned<RawFile>>,
    expect_uart: Option<Spanned<String>>,
    expect_uart_regex: Option<Spanned<String>>,
    /// For `expect_uart*`: look at the text since `"power-on"` (the default) or the last `"reset"`.
    since: Option<Spanned<String>>,
}

/// The action keys a step may have, one of them.
pub const ACTIONS: &[&str] = &[
    "hold_high",
    "hold_low",
    "release",
    "reset",
    "power_cycle",
    "delay",
    "write_uart",
    "write_line",
    "eval",
    "wait_uart",
    "wait_uart_regex",
    "wait_pin",
    "wait_led",
    "wait_stage",
    "wait_idle",
    "expect_no_uart",
    "expect_led",
    "expect_blink",
    "expect_pin",
    "expect_stage",
    "expect_boot",
    "expect_reset_cause",
    "expect_file",
    "expect_uart",
    "expect_uart_regex",
];

// ----- the checked scenario --------------------------------------------------------------------

/// Where a scenario's flash comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashStart {
    Fresh,
    /// A flash file that is copied; the original is never changed.
    Copy(PathBuf),
}

/// A firmware image to place in a slot before power-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotImage {
    pub source: ImageSource,
    pub corrupt: bool,
}

/// Where a slot's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// Built by the simulator with this version.
    Version(String),
    /// An image file (checked when the scenario is read).
    File(PathBuf),
}

/// A checked scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    pub board: Board,
    pub flash: FlashStart,
    pub files: Vec<(String, String)>,
    pub sd: Option<Vec<(String, String)>>,
    /// The image in ota_0, made the current one as `pycom.ota_finish()` makes it.
    pub ota: Option<SlotImage>,
    /// The image in the factory slot, if not the default.
    pub factory: Option<SlotImage>,
    pub repl_profile: crate::device::ReplProfile,
    /// Pins driven before power-on.
    pub start_pins: Vec<(u8, Drive)>,
    pub steps: Vec<Step>,
}

/// One checked step.
#[derive(Debug, Clone)]
pub struct Step {
    /// What the report calls it: its `name`, or the action and its argument.
    pub label: String,
    /// 1-based line of the step in its file.
    pub line: usize,
    pub action: StepAction,
}

/// What a UART wait looks for in the text printed since the step began.
#[derive(Debug, Clone)]
pub enum TextMatch {
    Contains(String),
    Regex(regex::Regex),
}

impl TextMatch {
    /// How a report names it: `"text"` quoted, or `/regex/`.
    pub fn shown(&self) -> String {
        match self {
            TextMatch::Contains(s) => format!("{s:?}"),
            TextMatch::Regex(r) => format!("/{}/", r.as_str()),
        }
    }

    pub fn is_match(&self, text: &str) -> bool {
        match self {
            TextMatch::Contains(s) => text.contains(s.as_str()),
            TextMatch::Regex(r) => r.is_match(text),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepAction {
    /// Connect a pin (GPIO, its name) and, with `for`, connect it back to nothing after a time.
    Drive {
        gpio: u8,
        pin: String,
        drive: Drive,
        release_after: Option<Duration>,
    },
    Reset,
    PowerCycle,
    Delay(Duration),
    WriteUart(Vec<u8>),
    /// Type a line at the REPL and wait for the next prompt; `expect` is what it printed.
    Eval {
        line: String,
        expect: Option<String>,
        timeout: Duration,
    },
    WaitUart {
        what: TextMatch,
        timeout: Duration,
    },
    WaitPin {
        gpio: u8,
        pin: String,
        level: u8,
        timeout: Duration,
    },
    WaitLed {
        color: String,
        timeout: Duration,
    },
    WaitStage {
        stage: Stage,
        timeout: Duration,
    },
    WaitIdle {
        timeout: Duration,
    },
    /// Run for `during` and fail if the UART prints `text` meanwhile.
    ExpectNoUart {
        text: String,
        during: Duration,
    },
    ExpectLed(String),
    ExpectBlink {
        color: String,
        period: Duration,
        on: Option<Duration>,
        from: Option<Duration>,
        to: Option<Duration>,
        tolerance: Duration,
    },
    ExpectPin {
        gpio: u8,
        pin: String,
        level: u8,
    },
    ExpectStage(Stage),
    ExpectBoot(BootExpect),
    ExpectResetCause(String),
    ExpectFile(FileExpect),
    /// The UART has printed this already (since power-on or the last reset); nothing runs.
    ExpectUart {
        what: TextMatch,
        since: Since,
    },
}

/// Where an `expect_uart` starts looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    PowerOn,
    LastReset,
}

/// What a boot decision must say; `None` fields are not checked.
#[derive(Debug, Clone, Default)]
pub struct BootExpect {
    pub slot: Option<String>,
    pub version: Option<String>,
    pub safe_boot: Option<String>,
    pub skip_scripts: Option<bool>,
    pub rolled_back: Option<bool>,
    pub software_request: Option<bool>,
}

/// Which filesystem a file is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volume {
    Flash,
    Sd,
}

/// What a file must hold, or that it must be absent.
#[derive(Debug, Clone)]
pub struct FileExpect {
    pub volume: Volume,
    /// Path inside the volume (`/main.py`).
    pub path: String,
    /// As written (`/flash/main.py`), for messages.
    pub shown: String,
    pub content: Option<String>,
    pub contains: Option<String>,
    pub absent: bool,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| FileError {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read it: {e}"),
    })?;
    parse(path, &text)
}

/// Checks a scenario's text (`path` is where it came from: messages, relative flash files).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, FileError> {
    let err = |span: Range<usize>, message: String| {
        let (line, column) = line_col(text, span.start);
        FileError {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        err(span, e.message().trim_end().replace('\n', "; "))
    })?;
    let board = match &raw.board {
        None => Board::builtin(Board::default_id()),
        Some(b) => Board::builtin(b.get_ref()),
    }
    .map_err(|e| {
        err(
            raw.board.as_ref().map_or(0..0, Spanned::span),
            format!("{e}; the boards are {}", Board::builtin_ids().join(", ")),
        )
    })?;
    let gpio = Gpio::new(&board);
    let resolve = |name: &Spanned<String>| -> Result<(u8, String), FileError> {
        gpio.resolve(name.get_ref())
            .map(|g| (g, name.get_ref().clone()))
            .map_err(|e| err(name.span(), e.to_string()))
    };
    let duration = |d: &Spanned<String>| -> Result<Duration, FileError> {
        parse_duration(d.get_ref()).map_err(|e| err(d.span(), e))
    };
    let default_timeout = match &raw.timeout {
        Some(t) => duration(t)?,
        None => DEFAULT_TIMEOUT,
    };
    let flash = match &raw.flash {
        None => FlashStart::Fresh,
        Some(f) if f.get_ref() == "fresh" => FlashStart::Fresh,
        Some(f) => {
            let file = path.parent().unwrap_or(Path::new(".")).join(f.get_ref());
            if !file.is_file() {
                return Err(err(
                    f.span(),
                    format!(
                        "flash file {} does not exist; give \"fresh\" or a flash file (relative \
                         to this scenario), which is copied and never changed",
                        file.display()
                    ),
                ));
            }
            FlashStart::Copy(file)
        }
    };
    let mut start_pins = Vec::new();
    for (list, drive) in [(&raw.hold_high, Drive::High), (&raw.hold_low, Drive::Low)] {
        for name in list {
            let (g, _) = resolve(name)?;
            start_pins.push((g, drive));
        }
    }
    let files = raw
        .files
        .iter()
        .map(|(p, c)| (flash_path(p), c.clone()))
        .collect();
    let sd = raw.sd.as_ref().map(|m| {
        m.iter()
            .map(|(p, c)| {
                let p = p.strip_prefix("/sd").unwrap_or(p);
                (p.trim_start_matches('/').to_string(), c.clone())
            })
            .collect()
    });
    let slot_image = |key: &str, o: &Spanned<RawSlotImage>| -> Result<SlotImage, FileError> {
        let raw_image = o.get_ref();
        let source = match (&raw_image.version, &raw_image.image) {
            (Some(v), None) => {
                crate::image::validate_version(v).map_err(|e| err(o.span(), e.to_string()))?;
                ImageSource::Version(v.clone())
            }
            (None, Some(f)) => {
                let file = path.parent().unwrap_or(Path::new(".")).join(f.get_ref());
                let bytes = std::fs::read(&file).map_err(|e| {
                    err(
                        f.span(),
                        format!(
                            "cannot read image {}: {e}; give an image file relative to this \
                             scenario (made with `pycom-sim image build`)",
                            file.display()
                        ),
                    )
                })?;
                if let Err(e) = crate::image::parse_image(&bytes) {
                    return Err(err(
                        f.span(),
                        format!(
                            "{} is not a firmware image ({e}); make one with `pycom-sim image \
                             build`",
                            file.display()
                        ),
                    ));
                }
                ImageSource::File(file)
            }
            _ => {
                return Err(err(
                    o.span(),
                    format!("{key} takes one of version = \"1.20.2.r7\" or image = \"fw.bin\""),
                ));
            }
        };
        Ok(SlotImage {
            source,
            corrupt: raw_image.corrupt,
        })
    };
    let ota = raw.ota.as_ref().map(|o| slot_image("ota", o)).transpose()?;
    let factory = raw
        .factory
        .as_ref()
        .map(|o| slot_image("factory", o))
        .transpose()?;
    let repl_profile = match raw.repl_profile.as_ref().map(|p| (p, p.get_ref().as_str())) {
        None | Some((_, "pycom")) => crate::device::ReplProfile::Pycom,
        Some((_, "micropython")) => crate::device::ReplProfile::Micropython,
        Some((p, other)) => {
            return Err(err(
                p.span(),
                format!("unknown REPL profile '{other}'; expected pycom or micropython"),
            ));
        }
    };
    if raw.step.is_empty() {
        return Err(err(
            0..0,
            "no steps; add at least one [[step]] (e.g. wait_uart = \">>> \")".into(),
        ));
    }
    let mut steps = Vec::new();
    for step in &raw.step {
        let span = step.span();
        let s = step.get_ref();
        let present = present_actions(s);
        let action_name = match present.as_slice() {
            [] => {
                return Err(err(
                    span,
                    format!(
                        "this step has no action; give one of {}",
                        ACTIONS.join(", ")
                    ),
                ));
            }
            [(one, _)] => *one,
            [(first, _), (second, at), ..] => {
                return Err(err(
                    at.clone(),
                    format!(
                        "this step has two actions, `{first}` and `{second}`; a step does one \
                         thing, so give `{second}` its own [[step]]"
                    ),
                ));
            }
        };
        // An option the step's action does not take is reported where the option is written.
        let takes = |key: &str, at: Range<usize>, allowed: &[&str]| -> Result<(), FileError> {
            if allowed.contains(&action_name) {
                Ok(())
            } else {
                Err(err(
                    at,
                    format!(
                        "`{key}` does not go with `{action_name}`; it goes with {}",
                        allowed.join(", ")
                    ),
                ))
            }
        };
        const WAITS: &[&str] = &[
            "wait_uart",
            "wait_uart_regex",
            "wait_pin",
            "wait_led",
            "wait_stage",
            "wait_idle",
            "eval",
        ];
        if let Some(t) = &s.timeout {
            takes("timeout", t.span(), WAITS)?;
        }
        if let Some(f) = &s.hold_for {
            takes("for", f.span(), &["hold_high", "hold_low"])?;
        }
        if let Some(e) = &s.expect {
            takes("expect", e.span(), &["eval"])?;
        }
        if let Some(v) = &s.since {
            takes("since", v.span(), &["expect_uart", "expect_uart_regex"])?;
        }
        let since = match &s.since {
            None => Since::PowerOn,
            Some(v) if v.get_ref() == "power-on" => Since::PowerOn,
            Some(v) if v.get_ref() == "reset" => Since::LastReset,
            Some(v) => {
                return Err(err(
                    v.span(),
                    format!(
                        "unknown since '{}'; expected \"power-on\" or \"reset\"",
                        v.get_ref()
                    ),
                ));
            }
        };
        let timeout = match &s.timeout {
            Some(t) => duration(t)?,
            None => default_timeout,
        };
        let action = if let Some(p) = s.hold_high.as_ref().or(s.hold_low.as_ref()) {
            let (g, pin) = resolve(p)?;
            StepAction::Drive {
                gpio: g,
                pin,
                drive: if s.hold_high.is_some() {
                    Drive::High
                } else {
                    Drive::Low
                },
                release_after: s.hold_for.as_ref().map(duration).transpose()?,
            }
        } else if let Some(p) = &s.release {
            let (g, pin) = resolve(p)?;
            StepAction::Drive {
                gpio: g,
                pin,
                drive: Drive::Floating,
                release_after: None,
            }
        } else if let Some(b) = &s.reset {
            need_true(b, "reset", &err)?;
            StepAction::Reset
        } else if let Some(b) = &s.power_cycle {
            need_true(b, "power_cycle", &err)?;
            StepAction::PowerCycle
        } else if let Some(d) = &s.delay {
            StepAction::Delay(duration(d)?)
        } else if let Some(t) = &s.write_uart {
            StepAction::WriteUart(keys(t.get_ref()).map_err(|m| err(t.span(), m))?)
        } else if let Some(t) = &s.write_line {
            let mut bytes = keys(t.get_ref()).map_err(|m| err(t.span(), m))?;
            bytes.push(b'\r');
            StepAction::WriteUart(bytes)
        } else if let Some(l) = &s.eval {
            StepAction::Eval {
                line: l.get_ref().clone(),
                expect: s.expect.as_ref().map(|e| e.get_ref().clone()),
                timeout,
            }
        } else if let Some(t) = &s.wait_uart {
            StepAction::WaitUart {
                what: TextMatch::Contains(t.get_ref().clone()),
                timeout,
            }
        } else if let Some(t) = &s.wait_uart_regex {
            let r = regex::Regex::new(t.get_ref())
                .map_err(|e| err(t.span(), format!("not a regex: {e}")))?;
            StepAction::WaitUart {
                what: TextMatch::Regex(r),
                timeout,
            }
        } else if let Some(p) = &s.wait_pin {
            let (gpio, pin, level) = pin_level(p.get_ref(), &resolve, &err)?;
            StepAction::WaitPin {
                gpio,
                pin,
                level,
                timeout,
            }
        } else if let Some(c) = &s.wait_led {
            StepAction::WaitLed {
                color: colour(c, &err)?,
                timeout,
            }
        } else if let Some(st) = &s.wait_stage {
            StepAction::WaitStage {
                stage: stage(st, &err)?,
                timeout,
            }
        } else if let Some(b) = &s.wait_idle {
            need_true(b, "wait_idle", &err)?;
            StepAction::WaitIdle { timeout }
        } else if let Some(q) = &s.expect_no_uart {
            let q = q.get_ref();
            StepAction::ExpectNoUart {
                text: q.text.get_ref().clone(),
                during: duration(&q.during)?,
            }
        } else if let Some(c) = &s.expect_led {
            StepAction::ExpectLed(colour(c, &err)?)
        } else if let Some(b) = &s.expect_blink {
            let b = b.get_ref();
            StepAction::ExpectBlink {
                color: colour(&b.color, &err)?,
                period: duration(&b.period)?,
                on: b.on.as_ref().map(duration).transpose()?,
                from: b.from.as_ref().map(duration).transpose()?,
                to: b.to.as_ref().map(duration).transpose()?,
                tolerance: b
                    .tolerance
                    .as_ref()
                    .map(duration)
                    .transpose()?
                    .unwrap_or(Duration::from_millis(1)),
            }
        } else if let Some(p) = &s.expect_pin {
            let (gpio, pin, level) = pin_level(p.get_ref(), &resolve, &err)?;
            StepAction::ExpectPin { gpio, pin, level }
        } else if let Some(st) = &s.expect_stage {
            StepAction::ExpectStage(stage(st, &err)?)
        } else if let Some(b) = &s.expect_boot {
            StepAction::ExpectBoot(boot_expect(b.get_ref(), &err)?)
        } else if let Some(c) = &s.expect_reset_cause {
            const CAUSES: &[&str] = &[
                "power_on",
                "reset_button",
                "watchdog",
                "deep_sleep_wake",
                "panic",
            ];
            if !CAUSES.contains(&c.get_ref().as_str()) {
                return Err(err(
                    c.span(),
                    format!(
                        "unknown reset cause '{}'; expected one of {}",
                        c.get_ref(),
                        CAUSES.join(", ")
                    ),
                ));
            }
            StepAction::ExpectResetCause(c.get_ref().clone())
        } else if let Some(f) = &s.expect_file {
            StepAction::ExpectFile(file_expect(f.get_ref(), &err)?)
        } else if let Some(t) = &s.expect_uart {
            StepAction::ExpectUart {
                what: TextMatch::Contains(t.get_ref().clone()),
                since,
            }
        } else if let Some(t) = &s.expect_uart_regex {
            let r = regex::Regex::new(t.get_ref())
                .map_err(|e| err(t.span(), format!("not a regex: {e}")))?;
            StepAction::ExpectUart {
                what: TextMatch::Regex(r),
                since,
            }
        } else {
            unreachable!("present_actions found {action_name}")
        };
        let label = s
            .name
            .clone()
            .unwrap_or_else(|| default_label(action_name, &text[step.span()]));
        steps.push(Step {
            label,
            line: line_col(text, span.start).0,
            action,
        });
    }
    Ok(Scenario {
        path: path.to_path_buf(),
        name: raw.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
        }),
        board,
        flash,
        files,
        sd,
        ota,
        factory,
        repl_profile,
        start_pins,
        steps,
    })
}

pub use crate::duration::parse_duration;

/// `/flash/main.py` and `/main.py` both mean the file at the root of /flash.
fn flash_path(p: &str) -> String {
    let p = p.strip_prefix("/flash").unwrap_or(p);
    format!("/{}", p.trim_start_matches('/'))
}

/// A step's label when it has no name: its source text on one line (`wait_uart = ">>> "`).
fn default_label(action: &str, source: &str) -> String {
    let one_line: Vec<&str> = source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("[["))
        .collect();
    let text = one_line.join(", ");
    if text.is_empty() {
        action.to_string()
    } else {
        text
    }
}

/// The action keys present in a step, with their spans, in the order of [`ACTIONS`].
fn present_actions(s: &RawStep) -> Vec<(&'static str, Range<usize>)> {
    fn span<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
        v.as_ref().map(Spanned::span)
    }
    let all = [
        ("hold_high", span(&s.hold_high)),
        ("hold_low", span(&s.hold_low)),
        ("release", span(&s.release)),
        ("reset", span(&s.reset)),
        ("power_cycle", span(&s.power_cycle)),
        ("delay", span(&s.delay)),
        ("write_uart", span(&s.write_uart)),
        ("write_line", span(&s.write_line)),
        ("eval", span(&s.eval)),
        ("wait_uart", span(&s.wait_uart)),
        ("wait_uart_regex", span(&s.wait_uart_regex)),
        ("wait_pin", span(&s.wait_pin)),
        ("wait_led", span(&s.wait_led)),
        ("wait_stage", span(&s.wait_stage)),
        ("wait_idle", span(&s.wait_idle)),
        ("expect_no_uart", span(&s.expect_no_uart)),
        ("expect_led", span(&s.expect_led)),
        ("expect_blink", span(&s.expect_blink)),
        ("expect_pin", span(&s.expect_pin)),
        ("expect_stage", span(&s.expect_stage)),
        ("expect_boot", span(&s.expect_boot)),
        ("expect_reset_cause", span(&s.expect_reset_cause)),
        ("expect_file", span(&s.expect_file)),
        ("expect_uart", span(&s.expect_uart)),
        ("expect_uart_regex", span(&s.expect_uart_regex)),
    ];
    let mut present: Vec<_> = all
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect();
    // Report the second action where it is written.
    present.sort_by_key(|(_, s)| s.start);
    present
}

type ErrFn<'a> = dyn Fn(Range<usize>, String) -> FileError + 'a;
type ResolveFn<'a> = dyn Fn(&Spanned<String>) -> Result<(u8, String), FileError> + 'a;

fn need_true(b: &Spanned<bool>, key: &str, err: &ErrFn<'_>) -> Result<(), FileError> {
    if *b.get_ref() {
        Ok(())
    } else {
        Err(err(
            b.span(),
            format!("`{key} = false` does nothing; write `{key} = true` or remove the step"),
        ))
    }
}

fn pin_level(
    p: &RawPin,
    resolve: &ResolveFn<'_>,
    err: &ErrFn<'_>,
) -> Result<(u8, String, u8), FileError> {
    let (gpio, pin) = resolve(&p.pin)?;
    let level = *p.level.get_ref();
    if level > 1 {
        return Err(err(
            p.level.span(),
            format!("a pin level is 0 or 1, not {level}"),
        ));
    }
    Ok((gpio, pin, level))
}

/// `#2c1200`, `2C1200`, `0x2c1200` or `off` → `#2c1200`, as LED events write colours.
fn colour(c: &Spanned<String>, err: &ErrFn<'_>) -> Result<String, FileError> {
    let t = c.get_ref().trim();
    if t.eq_ignore_ascii_case("off") {
        return Ok("#000000".into());
    }
    let hex = t
        .strip_prefix('#')
        .or_else(|| t.strip_prefix("0x"))
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if hex.len() == 6 && hex.chars().all(|ch| ch.is_ascii_hexdigit()) {
        Ok(format!("#{}", hex.to_ascii_lowercase()))
    } else {
        Err(err(
            c.span(),
            format!(
                "'{}' is not a colour; write #rrggbb (like \"#2c1200\", the safe-boot orange) \
                 or \"off\"",
                c.get_ref()
            ),
        ))
    }
}

fn stage(s: &Spanned<String>, err: &ErrFn<'_>) -> Result<Stage, FileError> {
    match s.get_ref().as_str() {
        "rom" => Ok(Stage::Rom),
        "download_mode" => Ok(Stage::DownloadMode),
        "bootloader" => Ok(Stage::Bootloader),
        "firmware" => Ok(Stage::Firmware),
        other => Err(err(
            s.span(),
            format!("unknown stage '{other}'; expected rom, download_mode, bootloader or firmware"),
        )),
    }
}

fn boot_expect(b: &RawBoot, err: &ErrFn<'_>) -> Result<BootExpect, FileError> {
    let one_of = |v: &Option<Spanned<String>>, allowed: &[&str], what: &str| match v {
        None => Ok(None),
        Some(v) if allowed.contains(&v.get_ref().as_str()) => Ok(Some(v.get_ref().clone())),
        Some(v) => Err(err(
            v.span(),
            format!(
                "unknown {what} '{}'; expected one of {}",
                v.get_ref(),
                allowed.join(", ")
            ),
        )),
    };
    Ok(BootExpect {
        slot: one_of(&b.slot, &["factory", "ota_0"], "slot")?,
        version: b.version.clone(),
        safe_boot: one_of(
            &b.safe_boot,
            &["none", "current", "previous", "factory"],
            "safe-boot outcome",
        )?,
        skip_scripts: b.skip_scripts,
        rolled_back: b.rolled_back,
        software_request: b.software_request,
    })
}

fn file_expect(f: &RawFile, err: &ErrFn<'_>) -> Result<FileExpect, FileError> {
    let shown = f.path.get_ref().clone();
    let (volume, rest) = if let Some(r) = shown.strip_prefix("/flash/") {
        (Volume::Flash, r)
    } else if let Some(r) = shown.strip_prefix("/sd/") {
        (Volume::Sd, r)
    } else {
        return Err(err(
            f.path.span(),
            format!("'{shown}' is on no volume; a path starts with /flash/ or /sd/"),
        ));
    };
    let checks = usize::from(f.content.is_some())
        + usize::from(f.contains.is_some())
        + usize::from(f.absent);
    if checks != 1 {
        return Err(err(
            f.path.span(),
            "expect_file takes one of content = \"…\", contains = \"…\" or absent = true".into(),
        ));
    }
    Ok(FileExpect {
        volume,
        path: format!("/{rest}"),
        shown,
        content: f.content.clone(),
        contains: f.contains.clone(),
        absent: f.absent,
    })
}

/// UART bytes from a step's text: TOML's own escapes (`\r`, `\u0004`) plus key names in braces
/// — `{ctrl-c}`, `{ctrl-d}`, `{enter}` (CR), `{esc}`, `{{` for a brace.
pub fn keys(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['{', '}']) {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(tail.as_bytes()[0]);
            rest = &tail[2..];
            continue;
        }
        let Some(end) = tail.find('}').filter(|_| tail.starts_with('{')) else {
            return Err(format!(
                "unmatched brace in {text:?}; keys are written {{ctrl-c}}, {{enter}}, and a \
                 brace as {{{{ or }}}}"
            ));
        };
        let name = tail[1..end].to_ascii_lowercase();
        let byte = match name.as_str() {
            "enter" | "cr" => b'\r',
            "lf" => b'\n',
            "esc" => 0x1b,
            "tab" => b'\t',
            "backspace" => 0x08,
            n => match n.strip_prefix("ctrl-") {
                Some(k) if k.len() == 1 && k.as_bytes()[0].is_ascii_lowercase() => {
                    k.as_bytes()[0] - b'a' + 1
                }
                _ => {
                    return Err(format!(
                        "unknown key {{{name}}}; use {{ctrl-a}}..{{ctrl-z}}, {{enter}}, {{lf}}, \
                         {{esc}}, {{tab}} or {{backspace}}"
                    ));
                }
            },
        };
        out.push(byte);
        rest = &tail[end + 1..];
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_turn_names_into_control_bytes() {
        assert_eq!(keys("a{ctrl-d}b{enter}").unwrap(), b"a\x04b\r");
        assert_eq!(keys("{{x}}").unwrap(), b"{x}");
        assert!(keys("{ctrl-}").is_err());
        assert!(keys("{oops").is_err());
    }

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}

//! Shared test rig: a virtual board in virtual time, driven through `DeviceHandle` like a user
//! at the UART would, with the transcript and events it produced, and the helpers that read
//! those events (UART text, LED timeline, pin levels, boot decisions).
//!
//! Each integration test is its own crate and includes this module with `mod support;`; not every
//! crate uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use pycom_sim::board::Board;
use pycom_sim::clock::TimeMode;
use pycom_sim::device::{DeviceConfig, DeviceHandle, FlashSource, collect_until};
use pycom_sim::event::{Event, EventKind};
use pycom_sim::flash::{FlashFile, OpenOptions};
use pycom_sim::image::{ImageSpec, build_image, default_image, default_spec};

pub const BANNER: &str = "Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; LoPy4 with ESP32\r\nType \"help()\" for more information.\r\n";

pub fn lopy4() -> Board {
    Board::builtin("lopy4").expect("lopy4 board")
}

/// A flash file in a temporary directory, with the given files written into `/flash`.
pub struct FlashDir {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl FlashDir {
    pub fn new(files: &[(&str, &str)]) -> FlashDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lopy4.flash");
        write_files(&path, files);
        FlashDir { dir, path }
    }
}

/// Creates (if needed) the flash file at `path` and writes `files` (`/main.py`, …) into /flash.
pub fn write_files(path: &Path, files: &[(&str, &str)]) {
    let board = lopy4();
    let (mut flash, _) =
        FlashFile::open_or_create(path, &board, &default_image(), OpenOptions::default())
            .expect("flash file");
    for (name, text) in files {
        pycom_sim::fs::write_file(&mut flash, board.fs, name, text.as_bytes()).expect("write file");
    }
}

/// Puts an image of `version` into the LoPy4 flash file at `path` (created if needed) the way
/// `pycom.ota_finish()` leaves it: written to ota_0, the otadata record in CHECK status. A
/// `corrupt` image is damaged after it was built, so that its check fails at boot.
pub fn install_ota(path: &Path, version: &str, corrupt: bool) {
    let board = lopy4();
    let (mut flash, _) =
        FlashFile::open_or_create(path, &board, &default_image(), OpenOptions::default())
            .expect("flash file");
    let mut image = build_image(&ImageSpec {
        version: version.to_string(),
        ..default_spec()
    });
    if corrupt {
        let middle = image.len() / 2;
        image[middle] ^= 0x40;
    }
    flash
        .erase_and_write(board.ota0_offset(), &image)
        .expect("write ota_0");
    let record =
        pycom_boot::otadata::read_record(&mut flash, board.otadata_offset()).expect("otadata");
    let next = pycom_boot::updates::after_ota_finish(&record, image.len() as u32);
    pycom_boot::otadata::write_record(&mut flash, board.otadata_offset(), &next).expect("otadata");
}

/// A running device and everything its `until_*` methods have collected so far.
pub struct Rig {
    pub handle: DeviceHandle,
    pub events: Receiver<Event>,
    /// The events collected by `until_idle`, `until_idle_after_reset` and the methods built on
    /// them, in order.
    pub log: Vec<Event>,
    /// The flash file of `Rig::with_files`, kept until the device is gone (fields drop in order).
    flash_dir: Option<FlashDir>,
}

impl Rig {
    /// A LoPy4 on `flash`, without an SD card.
    pub fn new(flash: FlashSource) -> Rig {
        Rig::spawn("lopy4", flash, None)
    }

    /// The built-in `board` on `flash`, with `sd` (a host directory) as its SD card if given.
    /// The device is not powered on yet.
    pub fn spawn(board: &str, flash: FlashSource, sd: Option<PathBuf>) -> Rig {
        let handle = DeviceHandle::spawn(DeviceConfig {
            board: Board::builtin(board).expect("built-in board"),
            flash,
            reformat: false,
            time: TimeMode::Virtual,
            sd,
        })
        .expect("device starts");
        let events = handle.subscribe();
        Rig {
            handle,
            events,
            log: Vec::new(),
            flash_dir: None,
        }
    }

    /// A LoPy4 on the flash file at `path` (created if needed).
    pub fn on(path: &Path) -> Rig {
        Rig::new(FlashSource::File(path.to_path_buf()))
    }

    /// A LoPy4 on a flash file in a temporary directory, with `files` written into `/flash`. The
    /// directory lives as long as the rig.
    pub fn with_files(files: &[(&str, &str)]) -> Rig {
        let flash = FlashDir::new(files);
        let mut rig = Rig::on(&flash.path);
        rig.flash_dir = Some(flash);
        rig
    }

    /// Stops the device thread.
    pub fn shutdown(self) {
        self.handle.shutdown();
    }

    /// Collects events until the device is idle; returns the new ones.
    pub fn until_idle(&mut self) -> Vec<Event> {
        let new = collect_until(&self.events, |e| e.kind == EventKind::Idle);
        self.log.extend(new.iter().cloned());
        new
    }

    /// Collects events until the device is idle again after a reset it went through (events of
    /// commands sent before the reset may end an idle period of their own first); returns them.
    pub fn until_idle_after_reset(&mut self) -> Vec<Event> {
        let mut reset = false;
        let new = collect_until(&self.events, |e| {
            reset |= matches!(e.kind, EventKind::Reset { .. });
            reset && e.kind == EventKind::Idle
        });
        self.log.extend(new.iter().cloned());
        new
    }

    /// Powers on and returns the events up to the first idle (the prompt, or download mode).
    pub fn boot_events(&mut self) -> Vec<Event> {
        self.handle.power_on();
        self.until_idle()
    }

    /// Powers on and returns the UART text up to the idle prompt.
    pub fn boot(&mut self) -> String {
        uart(&self.boot_events())
    }

    /// Types `bytes` and returns what the device printed until it was idle again.
    pub fn type_bytes(&mut self, bytes: &[u8]) -> String {
        self.handle.write_uart(bytes);
        uart(&self.until_idle())
    }

    /// Types `line` and Enter (`\r`); returns the events until the device is idle again.
    pub fn enter(&mut self, line: &str) -> Vec<Event> {
        self.handle.write_uart(format!("{line}\r").as_bytes());
        self.until_idle()
    }

    /// Types `line` and Enter; returns everything the device printed until it was idle again,
    /// the echo of the line included.
    pub fn type_line(&mut self, line: &str) -> String {
        uart(&self.enter(line))
    }

    /// Types one line (with `\r`) and returns the output after the echoed line (the whole
    /// output if there was no echo), the next prompt included.
    pub fn line(&mut self, line: &str) -> String {
        let text = self.type_line(line);
        let echo = format!("{line}\r\n");
        text.strip_prefix(&echo).unwrap_or(&text).to_string()
    }

    /// Types a line and returns its output as `line` does, without the next prompt: `"4\r\n"`,
    /// or `""` for a statement that prints nothing.
    pub fn eval(&mut self, line: &str) -> String {
        let out = self.line(line);
        out.strip_suffix(">>> ").unwrap_or(&out).to_string()
    }

    /// Evaluates `expr` at the prompt and returns what it printed without the echo, the final
    /// line break and the prompt (`"True"`); panics unless the echo and the prompt are there.
    pub fn printed(&mut self, expr: &str) -> String {
        let text = self.type_line(expr);
        let echo = format!("{expr}\r\n");
        let rest = text.strip_prefix(&echo).unwrap_or_else(|| {
            panic!("expected the echo of {expr:?}, got {text:?}");
        });
        rest.strip_suffix(">>> ")
            .unwrap_or_else(|| panic!("expected a prompt after {expr:?}, got {text:?}"))
            .trim_end_matches("\r\n")
            .to_string()
    }

    /// Evaluates `expr` at the prompt and parses what it printed as a whole number.
    pub fn number(&mut self, expr: &str) -> u64 {
        let out = self.eval(expr);
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{expr:?} printed {out:?}, not a number"))
    }

    /// Types each line at the prompt; none of them may raise.
    pub fn run_lines(&mut self, lines: &[&str]) {
        for l in lines {
            let out = self.type_line(l);
            assert!(
                !out.contains("Traceback"),
                "{l:?} failed on the device:\n{out}"
            );
        }
    }

    /// Runs `lines` through paste mode (Ctrl-E … Ctrl-D), as host tools send code with
    /// indentation, so the friendly REPL's auto-indent does not add to it. Returns what the code
    /// printed, without the next prompt.
    pub fn paste(&mut self, lines: &[&str]) -> String {
        let mut input = String::from("\x05");
        for l in lines {
            input.push_str(l);
            input.push('\r');
        }
        input.push('\x04');
        let text = self.type_bytes(input.as_bytes());
        let out = text
            .rsplit_once("=== \r\n")
            .map_or(text.as_str(), |(_, o)| o);
        out.strip_suffix(">>> ").unwrap_or(out).to_string()
    }

    /// Ctrl-D (a soft reset at an empty prompt); returns the text up to the next idle prompt.
    pub fn soft_reset(&mut self) -> String {
        self.type_bytes(b"\x04")
    }

    /// Presses the reset button; returns the text up to the prompt after the reboot.
    pub fn press_reset(&mut self) -> String {
        self.handle.press_reset();
        uart(&self.until_idle_after_reset())
    }
}

/// The UART text of events.
pub fn uart(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Uart { text } => Some(String::from_utf8_lossy(text).into_owned()),
            _ => None,
        })
        .collect()
}

/// The text after the ROM's `entry` line: what the firmware printed.
pub fn after_rom(text: &str) -> &str {
    text.rsplit_once("entry 0x400a05bc\r\n")
        .map_or(text, |(_, rest)| rest)
}

/// `(device ms, colour)` of every LED change.
pub fn led_timeline(events: &[Event]) -> Vec<(u64, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Led { color } => Some((e.time_ms(), color.clone())),
            _ => None,
        })
        .collect()
}

/// The colour of every LED change (`"#000050"`), in order.
pub fn led_colours(events: &[Event]) -> Vec<String> {
    led_timeline(events).into_iter().map(|(_, c)| c).collect()
}

/// The `(pin, level)` of every Pin event.
pub fn pin_levels(events: &[Event]) -> Vec<(String, u8)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Pin { pin, level, .. } => Some((pin.clone(), *level)),
            _ => None,
        })
        .collect()
}

/// One bootloader decision, as its `Boot` event reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootDecision {
    pub time_ms: u64,
    pub slot: String,
    pub version: String,
    pub safe_boot: String,
    pub skip_scripts: bool,
    pub rolled_back: bool,
    pub software_request: bool,
}

/// Every bootloader decision in the events, in order.
pub fn boot_decisions(events: &[Event]) -> Vec<BootDecision> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Boot {
                slot,
                version,
                safe_boot,
                skip_scripts,
                rolled_back,
                software_request,
                ..
            } => Some(BootDecision {
                time_ms: e.time_ms(),
                slot: slot.clone(),
                version: version.clone(),
                safe_boot: safe_boot.clone(),
                skip_scripts: *skip_scripts,
                rolled_back: *rolled_back,
                software_request: *software_request,
            }),
            _ => None,
        })
        .collect()
}

/// Boot decisions in the events: (slot, version, safe_boot, skip_scripts, software_request).
pub fn boots(events: &[Event]) -> Vec<(String, String, String, bool, bool)> {
    boot_decisions(events)
        .into_iter()
        .map(|b| {
            (
                b.slot,
                b.version,
                b.safe_boot,
                b.skip_scripts,
                b.software_request,
            )
        })
        .collect()
}

/// The first bootloader decision in the events (panics if there is none):
/// (ms, slot, version, safe_boot, skip_scripts, rolled_back).
pub fn decision(events: &[Event]) -> (u64, String, String, String, bool, bool) {
    let b = boot_decisions(events)
        .into_iter()
        .next()
        .expect("a boot decision");
    (
        b.time_ms,
        b.slot,
        b.version,
        b.safe_boot,
        b.skip_scripts,
        b.rolled_back,
    )
}

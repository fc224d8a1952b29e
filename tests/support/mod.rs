//! Shared test rig: a virtual LoPy4 in virtual time, driven through `DeviceHandle` like a user
//! at the UART would, with the transcript and events it produced.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use pycom_sim::board::Board;
use pycom_sim::clock::TimeMode;
use pycom_sim::device::{DeviceConfig, DeviceHandle, FlashSource, collect_until};
use pycom_sim::event::{Event, EventKind};
use pycom_sim::flash::{FlashFile, OpenOptions};

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
    let (mut flash, _) = FlashFile::open_or_create(
        path,
        &board,
        &pycom_sim::image::default_image(),
        OpenOptions::default(),
    )
    .expect("flash file");
    for (name, text) in files {
        pycom_sim::fs::write_file(&mut flash, board.fs, name, text.as_bytes()).expect("write file");
    }
}

/// A running device and everything it has emitted so far.
pub struct Rig {
    pub handle: DeviceHandle,
    pub events: Receiver<Event>,
    pub log: Vec<Event>,
}

impl Rig {
    pub fn new(flash: FlashSource) -> Rig {
        let handle = DeviceHandle::spawn(DeviceConfig {
            board: lopy4(),
            flash,
            reformat: false,
            time: TimeMode::Virtual,
            sd: None,
        })
        .expect("device starts");
        let events = handle.subscribe();
        Rig {
            handle,
            events,
            log: Vec::new(),
        }
    }

    pub fn on(path: &Path) -> Rig {
        Rig::new(FlashSource::File(path.to_path_buf()))
    }

    /// Collects events until the device is idle; returns the new ones.
    pub fn until_idle(&mut self) -> Vec<Event> {
        let new = collect_until(&self.events, |e| e.kind == EventKind::Idle);
        self.log.extend(new.iter().cloned());
        new
    }

    /// Collects until idle after a reset has been seen.
    pub fn until_idle_after_reset(&mut self) -> Vec<Event> {
        let mut reset = false;
        let new = collect_until(&self.events, |e| {
            reset |= matches!(e.kind, EventKind::Reset { .. });
            reset && e.kind == EventKind::Idle
        });
        self.log.extend(new.iter().cloned());
        new
    }

    /// Powers on and returns the UART text up to the idle prompt.
    pub fn boot(&mut self) -> String {
        self.handle.power_on();
        uart(&self.until_idle())
    }

    /// Types `bytes` and returns what the device printed until it was idle again.
    pub fn type_bytes(&mut self, bytes: &[u8]) -> String {
        self.handle.write_uart(bytes);
        uart(&self.until_idle())
    }

    /// Types one line (with `\r`) and returns the output after the echoed line.
    pub fn line(&mut self, line: &str) -> String {
        let text = self.type_bytes(format!("{line}\r").as_bytes());
        let echo = format!("{line}\r\n");
        text.strip_prefix(&echo).unwrap_or(&text).to_string()
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

/// Boot decisions in the events: (slot, version, safe_boot, skip_scripts, software_request).
pub fn boots(events: &[Event]) -> Vec<(String, String, String, bool, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Boot {
                slot,
                version,
                safe_boot,
                skip_scripts,
                software_request,
                ..
            } => Some((
                slot.clone(),
                version.clone(),
                safe_boot.clone(),
                *skip_scripts,
                *software_request,
            )),
            _ => None,
        })
        .collect()
}

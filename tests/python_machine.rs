//! `machine` on the virtual board, in virtual time, through `DeviceHandle`.

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use pycom_sim::board::Board;
use pycom_sim::clock::TimeMode;
use pycom_sim::device::{DeviceConfig, DeviceHandle, FlashSource, collect_until};
use pycom_sim::event::{Event, EventKind};
use pycom_sim::flash::{FlashFile, OpenOptions};
use pycom_sim::gpio::Drive;

fn lopy4() -> Board {
    Board::builtin("lopy4").expect("lopy4 board")
}

struct Dev {
    handle: DeviceHandle,
    events: Receiver<Event>,
    _dir: Option<tempfile::TempDir>,
}

impl Dev {
    fn fresh() -> Dev {
        Dev::spawn(FlashSource::Fresh, None)
    }

    fn with_files(files: &[(&str, &str)]) -> Dev {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lopy4.flash");
        write_files(&path, files);
        Dev::spawn(FlashSource::File(path), Some(dir))
    }

    fn spawn(flash: FlashSource, dir: Option<tempfile::TempDir>) -> Dev {
        let handle = DeviceHandle::spawn(DeviceConfig {
            board: lopy4(),
            flash,
            reformat: false,
            time: TimeMode::Virtual,
            sd: None,
        })
        .expect("device starts");
        let events = handle.subscribe();
        Dev {
            handle,
            events,
            _dir: dir,
        }
    }

    fn until_idle(&self) -> Vec<Event> {
        collect_until(&self.events, |e| e.kind == EventKind::Idle)
    }

    fn boot(&self) -> Vec<Event> {
        self.handle.power_on();
        self.until_idle()
    }

    /// Types `line` and Enter; returns what the device sent until it idles again.
    fn line(&self, line: &str) -> String {
        self.handle.write_uart(format!("{line}\r").as_bytes());
        uart_text(&self.until_idle())
    }
}

fn write_files(path: &Path, files: &[(&str, &str)]) {
    let board = lopy4();
    let (mut flash, _) = FlashFile::open_or_create(
        path,
        &board,
        &pycom_sim::image::default_image(),
        OpenOptions::default(),
    )
    .expect("flash file");
    for (name, text) in files {
        pycom_sim::fs::write_file(&mut flash, board.fs, name, text.as_bytes()).expect("write");
    }
}

fn uart_text(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Uart { text } => Some(String::from_utf8_lossy(text).into_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn explore() {
    let d = Dev::fresh();
    d.boot();
    for l in ["import machine", "dir(machine)", "from machine import Pin", "p = Pin('P13', Pin.OUT)", "p.value(1)", "p.value()", "p", "q = Pin('P11', Pin.OPEN_DRAIN, Pin.PULL_UP)", "q(0)", "q(1)", "q()", "machine.Pin('P22').hold(True)", "w = machine.WDT(timeout=2000)", "w.feed()"] {
        d.handle.write_uart(format!("{l}\r").as_bytes());
        for e in d.until_idle() { match e.kind { EventKind::Uart{text} => print!("{}", String::from_utf8_lossy(&text)), k => println!("@{} {:?}", e.time_us, k) } }
    }
    d.handle.write_uart(b"import time\r");
    for e in d.until_idle() { match e.kind { EventKind::Uart{text} => print!("{}", String::from_utf8_lossy(&text)), k => println!("@{} {:?}", e.time_us, k) } }
    d.handle.write_uart(b"w.feed()\r");
    let _ = std::time::Duration::from_secs(1);
    for e in collect_until(&d.events, |e| matches!(e.kind, EventKind::Reset{..})) { match e.kind { EventKind::Uart{text} => print!("{}", String::from_utf8_lossy(&text)), k => println!("@{} {:?}", e.time_us, k) } }
    for e in d.until_idle() { match e.kind { EventKind::Uart{text} => print!("{}", String::from_utf8_lossy(&text)), k => println!("@{} {:?}", e.time_us, k) } }
    for l in ["import machine", "machine.reset_cause()", "machine.deepsleep(2000)"] {
        d.handle.write_uart(format!("{l}\r").as_bytes());
        for e in collect_until(&d.events, |e| e.kind == EventKind::Idle) { match e.kind { EventKind::Uart{text} => print!("{}", String::from_utf8_lossy(&text)), k => println!("@{} {:?}", e.time_us, k) } }
    }
    for l in ["import machine", "machine.reset_cause(), machine.wake_reason()", "machine.UART(0).deinit()", "1+1"] {
        d.handle.write_uart(format!("{l}\r").as_bytes());
        for e in collect_until(&d.events, |e| e.kind == EventKind::Idle) { match e.kind { EventKind::Uart{text} => print!("{}", String::from_utf8_lossy(&text)), k => println!("@{} {:?}", e.time_us, k) } }
    }
}

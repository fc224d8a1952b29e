//! Lessons: a board set up to show one thing from Pycom's safe-boot page, a few lines that say
//! what happened, what to do with the keys, and what the board did in return.
//!
//! A lesson is a [`Narrator`](crate::frontend::Narrator): it only watches the event stream, so
//! the same lesson runs on the interactive terminal (the learner uses Ctrl-T p, Ctrl-T r, …)
//! and from a script on stdin (`pycom-sim lesson safe-boot < learner.txt`), which is how the
//! tests take it end to end.

pub mod script;

use std::io::IsTerminal;

use crate::board::Board;
use crate::clock::TimeMode;
use crate::event::{Event, EventKind, Stage};
use crate::frontend::Narrator;
use crate::frontend::status::{BoardState, seconds};
use crate::gpio::Drive;

/// `pycom-sim lesson [NAME]`.
#[derive(Debug, Clone, clap::Args)]
pub struct LessonArgs {
    /// The lesson to take; without one, the list.
    pub name: Option<String>,
    /// Board to take it on.
    #[arg(long, default_value = "lopy4")]
    pub board: String,
    /// Real time follows the wall clock (the default on a terminal); virtual time jumps over
    /// waits (the default for a scripted learner on stdin).
    #[arg(long, value_enum)]
    pub time: Option<TimeMode>,
    /// Write the simulator's own diagnostics (`RUST_LOG=pycom_sim=debug`) to FILE.
    #[arg(long, value_name = "FILE")]
    pub log: Option<std::path::PathBuf>,
}

/// The lessons: name and what it teaches.
pub const LESSONS: [(&str, &str); 3] = [
    (
        "safe-boot",
        "a main.py locks the REPL out; get back in with P12 and reset, see the two windows, and fix it",
    ),
    (
        "bootloader",
        "G23 to GND at reset: the ROM's download mode, where firmware updates happen",
    ),
    (
        "ota-rollback",
        "an OTA update that never reaches the REPL; back to the previous image with P12 in window 2",
    ),
];

/// The version of the ota-rollback lesson's broken update.
pub const BROKEN_VERSION: &str = "1.20.3";

/// What the broken update prints before it takes UART0 away.
pub const BROKEN_MARKER: &str = "1.20.3: waiting for the modem...";

/// The broken update's frozen `_boot.py`: the same file `tests/scenarios/images` builds
/// `broken-1.20.3.bin` from, so the lesson and the scenario show one image.
pub const BROKEN_BOOT_PY: &str =
    include_str!("../../tests/scenarios/images/broken-1.20.3/_boot.py");

/// The ota-rollback lesson's flash: the default 1.20.2 image in the factory slot and, as
/// `pycom.ota_finish()` leaves an update, the broken 1.20.3 in ota_0, current.
fn install_broken_update(flash: &mut crate::flash::FlashFile, board: &Board) -> Result<(), String> {
    let mut spec = crate::image::default_spec();
    spec.version = BROKEN_VERSION.to_string();
    spec.build_date = "2021-06-01".to_string();
    spec.frozen = vec![
        ("_boot.py".to_string(), BROKEN_BOOT_PY.to_string()),
        ("_main.py".to_string(), String::new()),
    ];
    crate::update::deliver_ota(flash, board, &crate::image::build_image(&spec)).map(|_| ())
}

/// The text main.py of the safe-boot lesson prints before it cuts the UART.
pub const LOCKOUT_MARKER: &str = "main.py: taking the REPL off UART0";

/// The safe-boot lesson's main.py: the page's "you disabled the UART" case.
pub const LOCKOUT_MAIN_PY: &str = "\
# pycom-sim lesson safe-boot: this main.py locks you out of the REPL.
print('main.py: taking the REPL off UART0 (os.dupterm(None)); nothing you type will reach Python')
import os
os.dupterm(None)
";

pub fn command(args: &LessonArgs) -> Result<(), String> {
    let Some(name) = args.name.as_deref() else {
        println!("Lessons (pycom-sim lesson NAME):");
        for (n, what) in LESSONS {
            println!("  {n:<12} {what}");
        }
        return Ok(());
    };
    let narrator: Box<dyn Narrator> = match name {
        "safe-boot" => Box::new(SafeBoot::default()),
        "bootloader" => Box::new(Bootloader::default()),
        "ota-rollback" => Box::new(OtaRollback::default()),
        other => {
            return Err(format!(
                "no lesson named '{other}'; `pycom-sim lesson` lists them (safe-boot, \
                 bootloader, ota-rollback)"
            ));
        }
    };
    let board = Board::builtin(&args.board).map_err(|e| e.to_string())?;
    let scripted = !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal();
    crate::frontend::log::init(args.log.as_deref(), !scripted)?;
    let time = args.time.unwrap_or(if scripted {
        TimeMode::Virtual
    } else {
        TimeMode::Real
    });
    // A lesson never touches the user's own flash file: a throwaway one with its main.py.
    let dir = tempfile::Builder::new()
        .prefix("pycom-sim-lesson-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary flash file: {e}"))?;
    let path = dir.path().join(format!("{}.flash", board.id));
    {
        let (mut flash, _) = crate::flash::FlashFile::open_or_create(
            &path,
            &board,
            &crate::image::default_image(),
            crate::flash::OpenOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        if name == "safe-boot" {
            crate::fs::write_file(&mut flash, board.fs, "/main.py", LOCKOUT_MAIN_PY.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        if name == "ota-rollback" {
            install_broken_update(&mut flash, &board)?;
        }
        flash.sync().map_err(|e| e.to_string())?;
    }
    let handle = crate::device::DeviceHandle::spawn(crate::device::DeviceConfig {
        board: board.clone(),
        flash: crate::device::FlashSource::File(path),
        reformat: false,
        time,
        sd: None,
    })
    .map_err(|e| e.to_string())?;
    let events = handle.subscribe();
    let outcome = if scripted {
        script::run(&handle, events, &board, narrator)
    } else {
        crate::frontend::run_terminal(
            &handle,
            events,
            &board,
            crate::frontend::Session {
                time,
                stop_at_idle: false,
            },
            Some(narrator),
        )
    };
    handle.shutdown();
    drop(dir);
    outcome
}

/// When the learner let go of P12 during the bootloader, counted from the reset: what tells the
/// windows apart.
#[derive(Debug, Default)]
struct P12Release {
    reset_at_us: u64,
    after_us: Option<u64>,
}

impl P12Release {
    fn on_event(&mut self, event: &Event, state: &BoardState) {
        match &event.kind {
            EventKind::Reset { .. } => {
                self.reset_at_us = event.time_us;
                self.after_us = None;
            }
            EventKind::Drive { drive, gpio, .. }
                if Some(*gpio) == state.p12_gpio()
                    && *drive == Drive::Floating
                    && state.stage == Stage::Bootloader =>
            {
                self.after_us = Some(event.time_us.saturating_sub(self.reset_at_us));
            }
            _ => {}
        }
    }

    /// "You released P12 1.500s after reset", for the lesson's line.
    fn said(&self) -> String {
        match self.after_us {
            Some(us) => format!("You released P12 {} after reset", seconds(us)),
            None => "P12 was released".into(),
        }
    }
}

/// Where the safe-boot lesson is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum SafeStep {
    /// The first boot: main.py runs and cuts the UART.
    #[default]
    LockedOut,
    /// Waiting for a boot with P12 held.
    AwaitSafeBoot,
    /// Safe boot done: waiting for a normal reset that shows main.py back.
    AwaitNormal,
    /// Waiting for main.py to be removed and a normal boot without it.
    AwaitFix,
    Done,
}

/// `pycom-sim lesson safe-boot`.
#[derive(Debug, Default)]
pub struct SafeBoot {
    step: SafeStep,
    /// UART text of the current boot.
    text: String,
    p12: P12Release,
    /// The current boot's decision: (safe_boot, skip_scripts).
    decision: Option<(String, bool)>,
    told_locked: bool,
}

impl Narrator for SafeBoot {
    fn intro(&mut self) -> Vec<String> {
        vec![
            "Lesson: safe boot. This board's main.py takes the REPL off the UART with \
             os.dupterm(None): once it has run, nothing you type reaches Python (the page's \
             \"you disabled the UART\" case). Watch it boot."
                .into(),
        ]
    }

    fn on_event(&mut self, event: &Event, state: &BoardState) -> Vec<String> {
        let mut say = Vec::new();
        self.p12.on_event(event, state);
        match &event.kind {
            EventKind::Reset { .. } => {
                self.text.clear();
                self.decision = None;
            }
            EventKind::Uart { text } => self.text.push_str(&String::from_utf8_lossy(text)),
            EventKind::Boot {
                safe_boot,
                skip_scripts,
                ..
            } => {
                self.decision = Some((safe_boot.clone(), *skip_scripts));
                say.extend(self.on_boot(safe_boot));
            }
            EventKind::Idle if state.stage == Stage::Firmware => say.extend(self.on_prompt()),
            _ => {}
        }
        say
    }

    fn finished(&self) -> bool {
        self.step == SafeStep::Done
    }
}

impl SafeBoot {
    fn on_boot(&mut self, safe_boot: &str) -> Vec<String> {
        let mut say = Vec::new();
        match (self.step, safe_boot) {
            (SafeStep::AwaitSafeBoot | SafeStep::AwaitFix, "current") => {
                say.push(format!(
                    "{}, in window 1 (the slow blink, 0.1-3.1 s): boot.py and main.py are \
                     skipped, same firmware image. The REPL is yours again.",
                    self.p12.said()
                ));
            }
            (SafeStep::AwaitSafeBoot | SafeStep::AwaitFix, "previous") => {
                say.push(format!(
                    "{}, in window 2 (the fast blink, 3.1-6.1 s): scripts skipped and the \
                     previous OTA image chosen (this board has had no OTA update, so it is the \
                     same image). The REPL is yours again.",
                    self.p12.said()
                ));
            }
            (SafeStep::AwaitSafeBoot | SafeStep::AwaitFix, "factory") => {
                say.push(
                    "You held P12 through both windows: the bootloader chose the factory image \
                     and blinked fast for a forced 1.5 s. Scripts skipped; the REPL is yours."
                        .into(),
                );
            }
            (SafeStep::AwaitSafeBoot, _) => {
                say.push(
                    "P12 was not high when the bootloader looked, so main.py ran again. Hold P12 \
                     first (Ctrl-T p), then press reset (Ctrl-T r)."
                        .into(),
                );
            }
            (SafeStep::AwaitNormal, "none") => {}
            (SafeStep::AwaitNormal, _) => say.push(
                "That was another safe boot. To see that safe boot does not last, release P12 \
                 (Ctrl-T p) and press reset (Ctrl-T r)."
                    .into(),
            ),
            _ => {}
        }
        if safe_boot != "none" {
            match self.step {
                SafeStep::AwaitSafeBoot => {
                    say.push(
                        "Safe boot is not persistent: release P12 if you still hold it, press \
                         reset once more (Ctrl-T r) and watch main.py run again."
                            .into(),
                    );
                    self.step = SafeStep::AwaitNormal;
                }
                SafeStep::AwaitFix => say.push(
                    "Now remove the bad main.py: type  import os; os.remove('/flash/main.py')  \
                     (or os.mkfs('/flash') to erase all of /flash, not the SD card), then press \
                     reset (Ctrl-T r)."
                        .into(),
                ),
                _ => {}
            }
        }
        say
    }

    fn on_prompt(&mut self) -> Vec<String> {
        let main_ran = self.text.contains(LOCKOUT_MARKER);
        let normal = self
            .decision
            .as_ref()
            .is_some_and(|(s, skip)| s == "none" && !skip);
        let mut say = Vec::new();
        match self.step {
            SafeStep::LockedOut if main_ran && !self.told_locked => {
                self.told_locked = true;
                self.step = SafeStep::AwaitSafeBoot;
                say.push(
                    "main.py ran and cut the UART: type something, nothing answers. Get back in \
                     with safe boot: hold P12 to 3V3 (Ctrl-T p), press reset (Ctrl-T r), watch \
                     the LED blink orange slowly, and release P12 (Ctrl-T p) within the first \
                     3 seconds."
                        .into(),
                );
            }
            SafeStep::AwaitNormal if normal && main_ran => {
                self.step = SafeStep::AwaitFix;
                say.push(
                    "main.py ran again and the UART is gone again: the safe-boot choice lasted \
                     one boot. To fix it for good, safe boot once more (Ctrl-T p, Ctrl-T r, \
                     release in window 1)."
                        .into(),
                );
            }
            SafeStep::AwaitFix if normal && main_ran => say.push(
                "main.py is still there. Safe boot, then  import os; os.remove('/flash/main.py')  \
                 and reset."
                    .into(),
            ),
            SafeStep::AwaitFix if normal => {
                self.step = SafeStep::Done;
                say.push(
                    "No main.py ran: a normal boot reaches the REPL again. Lesson complete. \
                     (Ctrl-] leaves.)"
                        .into(),
                );
            }
            _ => {}
        }
        say
    }
}

/// Where the bootloader lesson is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum LoaderStep {
    #[default]
    Booting,
    AwaitDownload,
    AwaitNormal,
    Done,
}

/// `pycom-sim lesson bootloader`.
#[derive(Debug, Default)]
pub struct Bootloader {
    step: LoaderStep,
}

impl Narrator for Bootloader {
    fn intro(&mut self) -> Vec<String> {
        vec![
            "Lesson: bootloader mode. With G23 tied to GND while the module boots, the ESP32's \
             ROM enters download mode: what Pycom's firmware updater and esptool talk to. Watch \
             a normal boot first."
                .into(),
        ]
    }

    fn on_event(&mut self, event: &Event, state: &BoardState) -> Vec<String> {
        let mut say = Vec::new();
        match (&event.kind, self.step) {
            (EventKind::Idle, LoaderStep::Booting) if state.stage == Stage::Firmware => {
                self.step = LoaderStep::AwaitDownload;
                say.push(
                    "That was a normal boot. Now connect G23 to GND (Ctrl-T g) and press reset \
                     (Ctrl-T r)."
                        .into(),
                );
            }
            (
                EventKind::Stage {
                    stage: Stage::DownloadMode,
                },
                LoaderStep::AwaitDownload | LoaderStep::Booting,
            ) => {
                self.step = LoaderStep::AwaitNormal;
                say.push(
                    "The ROM read GPIO0 (G23) low: boot:0x3, 'waiting for download'. No \
                     bootloader ran, no MicroPython, no heartbeat: this is where a firmware \
                     update writes the flash. Disconnect G23 (Ctrl-T g) and press reset \
                     (Ctrl-T r) to boot normally."
                        .into(),
                );
            }
            (
                EventKind::Stage {
                    stage: Stage::DownloadMode,
                },
                LoaderStep::AwaitNormal,
            ) => say.push(
                "G23 is still tied to GND, so the ROM waits for a download again: disconnect it \
                 (Ctrl-T g) first."
                    .into(),
            ),
            (EventKind::Idle, LoaderStep::AwaitNormal) if state.stage == Stage::Firmware => {
                self.step = LoaderStep::Done;
                say.push(
                    "G23 open: the ROM loaded the bootloader and MicroPython booted. Lesson \
                     complete. (Ctrl-] leaves.)"
                        .into(),
                );
            }
            _ => {}
        }
        say
    }

    fn finished(&self) -> bool {
        self.step == LoaderStep::Done
    }
}

/// Where the ota-rollback lesson is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum RollbackStep {
    /// The first boot: the update runs and takes UART0.
    #[default]
    Stuck,
    /// Waiting for a safe boot into the previous image.
    AwaitWindow2,
    /// On the previous image: waiting for a normal reset that shows the update back.
    AwaitNormal,
    Done,
}

/// `pycom-sim lesson ota-rollback`: the page's "useful if you flashed a OTA update that breaks
/// the device".
#[derive(Debug, Default)]
pub struct OtaRollback {
    step: RollbackStep,
    p12: P12Release,
    /// The current boot's decision: (slot, version, safe_boot).
    decision: Option<(String, String, String)>,
    /// Whether this boot's prompt has been talked about (the device idles at every key).
    told: bool,
}

impl Narrator for OtaRollback {
    fn intro(&mut self) -> Vec<String> {
        vec![format!(
            "Lesson: rolling back an OTA update. This board has just taken an update to \
             {BROKEN_VERSION} (pycom.ota_finish() made ota_0 current); the factory slot still \
             holds 1.20.2. Watch the update boot."
        )]
    }

    fn on_event(&mut self, event: &Event, state: &BoardState) -> Vec<String> {
        let mut say = Vec::new();
        self.p12.on_event(event, state);
        match &event.kind {
            EventKind::Reset { .. } => self.decision = None,
            EventKind::Boot {
                slot,
                version,
                safe_boot,
                ..
            } => {
                self.decision = Some((slot.clone(), version.clone(), safe_boot.clone()));
                self.told = false;
                say.extend(self.on_boot(slot, version, safe_boot));
            }
            EventKind::Idle if state.stage == Stage::Firmware => say.extend(self.on_idle()),
            _ => {}
        }
        say
    }

    fn finished(&self) -> bool {
        self.step == RollbackStep::Done
    }
}

impl OtaRollback {
    fn on_boot(&mut self, slot: &str, version: &str, safe_boot: &str) -> Vec<String> {
        let mut say = Vec::new();
        match (self.step, safe_boot) {
            (RollbackStep::AwaitWindow2, "previous") => {
                say.push(format!(
                    "{}, in window 2 (the fast blink, 3.1-6.1 s): the bootloader chose the \
                     previous OTA image, {version} in the {slot} slot, and skipped the scripts. \
                     Watch its banner.",
                    self.p12.said()
                ));
                self.step = RollbackStep::AwaitNormal;
            }
            (RollbackStep::AwaitWindow2, "factory") => {
                say.push(format!(
                    "You held P12 through both windows: the factory image ({version}) boots, \
                     which here is also the image before the update. Scripts skipped."
                ));
                self.step = RollbackStep::AwaitNormal;
            }
            (RollbackStep::AwaitWindow2, "current") => say.push(format!(
                "{}, in window 1 (the slow blink): scripts skipped, but the same image, \
                 {version}. Its frozen start-up runs even in safe boot, so it hangs again. Hold \
                 P12 (Ctrl-T p), reset (Ctrl-T r) and release it in window 2, after the blink \
                 speeds up.",
                self.p12.said()
            )),
            (RollbackStep::AwaitWindow2, _) => say.push(
                "P12 was not high when the bootloader looked, so the update booted again. Hold \
                 P12 first (Ctrl-T p), then press reset (Ctrl-T r)."
                    .into(),
            ),
            (RollbackStep::AwaitNormal, "none") if version == BROKEN_VERSION => {
                say.push(format!(
                    "{version} boots again: safe boot is not persistent, its choice lasted one \
                     boot. To leave the update behind for good, put a good image on the board: \
                     another OTA update (pycom.ota_write, FTP to /flash/sys/appimg.bin, or \
                     `pycom-sim ota good.bin`), or the Firmware Updater's way, `pycom-sim \
                     update good.bin --auto`, which writes the factory slot; after that, window \
                     2 has no previous image to go back to. Lesson complete. (Ctrl-] leaves.)"
                ));
                self.step = RollbackStep::Done;
            }
            _ => {}
        }
        say
    }

    fn on_idle(&mut self) -> Vec<String> {
        let Some((_, version, safe_boot)) = self.decision.clone() else {
            return Vec::new();
        };
        if std::mem::replace(&mut self.told, true) {
            return Vec::new();
        }
        match self.step {
            RollbackStep::Stuck if version == BROKEN_VERSION => {
                self.step = RollbackStep::AwaitWindow2;
                vec![format!(
                    "{version}'s frozen start-up took UART0 for a modem and waits for ever: no \
                     boot.py, no main.py, no REPL; type something, nothing answers. Window 1 \
                     would not help (the frozen start-up runs in safe boot too). Hold P12 to 3V3 \
                     (Ctrl-T p), press reset (Ctrl-T r), wait for the orange blink to speed up \
                     (3 s), then release P12 (Ctrl-T p)."
                )]
            }
            RollbackStep::AwaitNormal if safe_boot != "none" => vec![format!(
                "The REPL is back, on {version}. Now release P12 if you still hold it and press \
                 reset (Ctrl-T r) once more."
            )],
            _ => Vec::new(),
        }
    }
}

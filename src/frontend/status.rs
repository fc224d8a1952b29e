//! What the board looks like right now, rebuilt from the event stream alone: the LED, what
//! drives P12 and G23, the boot stage (with the safe-boot window), the booted slot, the last
//! reset and the device time. The terminal's status line, `status`/`pins` at the monitor prompt,
//! `--status` lines and the lessons all read this one picture.

use std::collections::BTreeMap;

use crate::board::Board;
use crate::event::{Event, EventKind, Stage};
use crate::gpio::Drive;
use crate::rom::ResetCause;

/// The safe-boot colour (`BOOTMGR_SAFEBOOT_COLOR`), as the LED event spells it.
pub const SAFE_BOOT_HEX: &str = "#2c1200";

/// Where the boot chain is, as a person reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    PoweredOff,
    Rom,
    DownloadMode,
    /// The bootloader before (or without) any orange blinking.
    Bootloader,
    /// P12 was high: blinking slowly (released here: scripts skipped).
    Window1,
    /// Blinking faster (released here: previous OTA image, scripts skipped).
    Window2,
    /// Held past both windows: factory image, a forced 1.5 s of fast blinking.
    ForcedFactory,
    /// The app runs (boot.py, main.py, or code the REPL runs).
    Firmware,
    /// The REPL waits for input.
    Repl,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::PoweredOff => "powered off",
            Phase::Rom => "ROM",
            Phase::DownloadMode => "download mode",
            Phase::Bootloader => "bootloader",
            Phase::Window1 => "safe boot: window 1",
            Phase::Window2 => "safe boot: window 2",
            Phase::ForcedFactory => "safe boot: forced factory",
            Phase::Firmware => "firmware",
            Phase::Repl => "REPL",
        }
    }
}

/// One pin as the events told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinView {
    pub level: u8,
    pub drive: Drive,
}

/// The board, from events.
#[derive(Debug, Clone)]
pub struct BoardState {
    pub led: String,
    /// Device time (µs) of the LED's last change.
    pub led_since_us: u64,
    /// The time between the last two LED changes while the bootloader blinks (µs).
    pub blink_period_us: Option<u64>,
    pub stage: Stage,
    pub powered: bool,
    /// Device time the bootloader's first orange came on in this boot.
    orange_from_us: Option<u64>,
    pub at_prompt: bool,
    pub last_reset: Option<ResetCause>,
    /// Device time of the last reset.
    pub reset_at_us: u64,
    /// `slot version`, and whether scripts were skipped, from the last boot decision.
    pub booted: Option<Booted>,
    pub pins: BTreeMap<u8, PinView>,
    /// Device time of the newest event.
    pub now_us: u64,
    /// Names of the pins: GPIO → (module name, expansion-board name).
    names: BTreeMap<u8, (String, String)>,
    p12: Option<u8>,
    g23: Option<u8>,
}

/// The bootloader's decision, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booted {
    pub slot: String,
    pub version: String,
    pub safe_boot: String,
    pub skip_scripts: bool,
}

impl BoardState {
    pub fn new(board: &Board) -> BoardState {
        let names: BTreeMap<u8, (String, String)> = board
            .pins
            .iter()
            .map(|p| (p.gpio, (p.name.clone(), p.exp_board.clone())))
            .collect();
        let find = |n: &str| {
            names
                .iter()
                .find(|(_, (m, e))| m.eq_ignore_ascii_case(n) || e.eq_ignore_ascii_case(n))
                .map(|(g, _)| *g)
        };
        let p12 = find(&board.safe_boot_pin).or_else(|| find("P12"));
        let g23 = find("G23");
        BoardState {
            led: "#000000".into(),
            led_since_us: 0,
            blink_period_us: None,
            stage: Stage::Rom,
            powered: false,
            orange_from_us: None,
            at_prompt: false,
            last_reset: None,
            reset_at_us: 0,
            booted: None,
            pins: names
                .keys()
                .map(|&g| {
                    (
                        g,
                        PinView {
                            level: 0,
                            drive: Drive::Floating,
                        },
                    )
                })
                .collect(),
            now_us: 0,
            names,
            p12,
            g23,
        }
    }

    /// Takes one event in.
    pub fn apply(&mut self, event: &Event) {
        self.now_us = self.now_us.max(event.time_us);
        match &event.kind {
            EventKind::Reset { cause } => {
                self.powered = true;
                self.last_reset = Some(*cause);
                self.reset_at_us = event.time_us;
                self.orange_from_us = None;
                self.blink_period_us = None;
                self.at_prompt = false;
                self.stage = Stage::Rom;
                self.booted = None;
            }
            EventKind::PowerOff => {
                self.powered = false;
                self.at_prompt = false;
            }
            EventKind::Stage { stage } => {
                self.stage = *stage;
                self.at_prompt = false;
            }
            EventKind::Led { color } => {
                if self.stage == Stage::Bootloader {
                    if self.orange_from_us.is_some() {
                        self.blink_period_us =
                            Some(event.time_us.saturating_sub(self.led_since_us));
                    } else if color == SAFE_BOOT_HEX {
                        self.orange_from_us = Some(event.time_us);
                    }
                }
                self.led.clone_from(color);
                self.led_since_us = event.time_us;
            }
            EventKind::Pin { gpio, level, .. } => {
                self.pins
                    .entry(*gpio)
                    .or_insert(PinView {
                        level: 0,
                        drive: Drive::Floating,
                    })
                    .level = *level;
            }
            EventKind::Drive { gpio, drive, .. } => {
                self.pins
                    .entry(*gpio)
                    .or_insert(PinView {
                        level: 0,
                        drive: Drive::Floating,
                    })
                    .drive = *drive;
            }
            EventKind::Boot {
                slot,
                version,
                safe_boot,
                skip_scripts,
                ..
            } => {
                self.booted = Some(Booted {
                    slot: slot.clone(),
                    version: version.clone(),
                    safe_boot: safe_boot.clone(),
                    skip_scripts: *skip_scripts,
                });
            }
            EventKind::Idle if self.stage == Stage::Firmware => self.at_prompt = true,
            // A soft reset runs boot.py and main.py again: not at the prompt until idle.
            EventKind::Uart { text }
                if self.at_prompt && text.windows(11).any(|w| w == b"soft reboot") =>
            {
                self.at_prompt = false;
            }
            _ => {}
        }
    }

    /// Where the boot chain is at device time `now_us`.
    pub fn phase_at(&self, now_us: u64) -> Phase {
        if !self.powered {
            return Phase::PoweredOff;
        }
        match self.stage {
            Stage::Rom => Phase::Rom,
            Stage::DownloadMode => Phase::DownloadMode,
            Stage::Bootloader => match self.orange_from_us {
                None => Phase::Bootloader,
                Some(from) => {
                    let into = now_us.saturating_sub(from);
                    if into < 3_000_000 {
                        Phase::Window1
                    } else if into < 6_000_000 {
                        Phase::Window2
                    } else {
                        Phase::ForcedFactory
                    }
                }
            },
            Stage::Firmware if self.at_prompt => Phase::Repl,
            Stage::Firmware => Phase::Firmware,
        }
    }

    /// The pin's names: `P12` or `P2/G23`.
    pub fn pin_name(&self, gpio: u8) -> String {
        match self.names.get(&gpio) {
            Some((m, e)) if !e.is_empty() && e != m => format!("{m}/{e}"),
            Some((m, _)) => m.clone(),
            None => format!("GPIO{gpio}"),
        }
    }

    /// What drives P12 (the safe-boot pin).
    pub fn p12(&self) -> Option<PinView> {
        self.p12.and_then(|g| self.pins.get(&g).copied())
    }

    /// What drives G23 (GPIO0, the ROM's download strap).
    pub fn g23(&self) -> Option<PinView> {
        self.g23.and_then(|g| self.pins.get(&g).copied())
    }

    /// The GPIO numbers of P12 and G23.
    pub fn p12_gpio(&self) -> Option<u8> {
        self.p12
    }

    pub fn g23_gpio(&self) -> Option<u8> {
        self.g23
    }

    /// Every pin's names, by GPIO.
    pub fn names(&self) -> impl Iterator<Item = (u8, &str, &str)> {
        self.names
            .iter()
            .map(|(g, (m, e))| (*g, m.as_str(), e.as_str()))
    }

    /// The status fields as plain text, at device time `now_us` (no colour, no swatch).
    pub fn fields(&self, now_us: u64) -> Vec<String> {
        let phase = self.phase_at(now_us);
        let mut stage = phase.label().to_string();
        if matches!(
            phase,
            Phase::Window1 | Phase::Window2 | Phase::ForcedFactory
        ) && let Some(p) = self.blink_period_us
        {
            stage.push_str(&format!(", blink {} ms", p / 1000));
        }
        if matches!(
            phase,
            Phase::Bootloader | Phase::Window1 | Phase::Window2 | Phase::ForcedFactory
        ) {
            // How far into the windows, as the page counts them: from the reset.
            stage.push_str(&format!(
                ", reset+{}",
                seconds(now_us.saturating_sub(self.reset_at_us))
            ));
        }
        let boot = match &self.booted {
            Some(b) => {
                let mut s = format!("{} {}", b.slot, b.version);
                if b.skip_scripts {
                    s.push_str(" (scripts skipped)");
                }
                s
            }
            None => "-".into(),
        };
        let reset = self.last_reset.map_or("-", reset_label);
        vec![
            format!("P12 {}", drive_label(self.p12())),
            format!("G23 {}", drive_label(self.g23())),
            stage,
            format!("t={}", seconds(now_us)),
            boot,
            format!("reset: {reset}"),
        ]
    }

    /// The multi-line answer of `status` at the monitor prompt.
    pub fn report(&self, now_us: u64) -> String {
        let f = self.fields(now_us);
        let get = |i: usize| f.get(i).cloned().unwrap_or_default();
        format!(
            "LED {}\r\n{}\r\n{}\r\nstage: {}\r\nbooted: {}\r\n{}\r\ndevice time: {}\r\n",
            self.led,
            get(0),
            get(1),
            get(2),
            get(4),
            get(5),
            seconds(now_us)
        )
    }

    /// The answer of `pins`: every pin's level and what drives it.
    pub fn pins_report(&self) -> String {
        let mut out = String::from("pin        gpio  level  drive\r\n");
        for (gpio, view) in &self.pins {
            let drive = match view.drive {
                Drive::High => "3V3",
                Drive::Low => "GND",
                Drive::Floating => "-",
            };
            out.push_str(&format!(
                "{:<10} {:>4}  {:<5}  {}\r\n",
                self.pin_name(*gpio),
                gpio,
                if view.level != 0 { "high" } else { "low" },
                drive
            ));
        }
        out
    }
}

fn drive_label(view: Option<PinView>) -> &'static str {
    match view.map(|v| v.drive) {
        None => "n/a",
        Some(Drive::High) => "3V3",
        Some(Drive::Low) => "GND",
        Some(Drive::Floating) => "open",
    }
}

pub fn reset_label(cause: ResetCause) -> &'static str {
    match cause {
        ResetCause::PowerOn => "power-on",
        ResetCause::ResetButton => "button",
        ResetCause::Watchdog => "watchdog/machine.reset",
        ResetCause::DeepSleepWake => "deep-sleep wake",
        ResetCause::Panic => "panic",
    }
}

/// Device time as `12.345s`.
pub fn seconds(us: u64) -> String {
    format!("{}.{:03}s", us / 1_000_000, (us / 1000) % 1000)
}

/// The `--status` line an event gives, if it changes what the status shows: LED, pin, drive,
/// stage, boot decision, reset.
pub fn plain_line(state: &BoardState, event: &Event) -> Option<String> {
    let t = seconds(event.time_us);
    let what = match &event.kind {
        EventKind::Led { color } => format!("led {color}"),
        EventKind::Pin { gpio, level, .. } => {
            format!(
                "pin {} {}",
                state.pin_name(*gpio),
                if *level != 0 { "high" } else { "low" }
            )
        }
        EventKind::Drive { gpio, drive, .. } => format!(
            "drive {} {}",
            state.pin_name(*gpio),
            match drive {
                Drive::High => "3V3",
                Drive::Low => "GND",
                Drive::Floating => "open",
            }
        ),
        EventKind::Stage { .. } | EventKind::Idle => {
            format!("stage {}", state.phase_at(event.time_us).label())
        }
        EventKind::Boot {
            slot,
            version,
            safe_boot,
            skip_scripts,
            ..
        } => format!(
            "boot {slot} {version} safe_boot={safe_boot}{}",
            if *skip_scripts {
                " scripts skipped"
            } else {
                ""
            }
        ),
        EventKind::Reset { cause } => format!("reset {}", reset_label(*cause)),
        EventKind::PowerOff => "power off".into(),
        _ => return None,
    };
    Some(format!("[{t}] {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ms: u64, kind: EventKind) -> Event {
        Event {
            time_us: ms * 1000,
            kind,
        }
    }

    fn led(ms: u64, c: &str) -> Event {
        ev(
            ms,
            EventKind::Led {
                color: c.to_string(),
            },
        )
    }

    #[test]
    fn the_windows_follow_the_first_orange() {
        let mut s = BoardState::new(&Board::builtin("lopy4").unwrap());
        s.apply(&ev(
            0,
            EventKind::Reset {
                cause: ResetCause::ResetButton,
            },
        ));
        s.apply(&ev(
            0,
            EventKind::Stage {
                stage: Stage::Bootloader,
            },
        ));
        assert_eq!(s.phase_at(50_000), Phase::Bootloader);
        s.apply(&led(100, SAFE_BOOT_HEX));
        s.apply(&led(600, "#000000"));
        assert_eq!(s.phase_at(700_000), Phase::Window1);
        assert_eq!(s.blink_period_us, Some(500_000));
        assert!(s.fields(700_000)[2].contains("window 1, blink 500 ms"));
        s.apply(&led(3100, SAFE_BOOT_HEX));
        s.apply(&led(3350, "#000000"));
        assert_eq!(s.phase_at(3_400_000), Phase::Window2);
        assert_eq!(s.blink_period_us, Some(250_000));
        assert_eq!(s.phase_at(6_200_000), Phase::ForcedFactory);
        s.apply(&ev(
            7000,
            EventKind::Stage {
                stage: Stage::Firmware,
            },
        ));
        assert_eq!(s.phase_at(7_000_000), Phase::Firmware);
        s.apply(&ev(7010, EventKind::Idle));
        assert_eq!(s.phase_at(7_010_000), Phase::Repl);
    }

    #[test]
    fn g23_is_gpio0_and_shows_its_drive() {
        let mut s = BoardState::new(&Board::builtin("lopy4").unwrap());
        let g = s.g23_gpio().unwrap();
        assert_eq!(g, 0);
        s.apply(&ev(
            1,
            EventKind::Drive {
                pin: "P2".into(),
                gpio: 0,
                drive: Drive::Low,
            },
        ));
        assert_eq!(s.fields(1000)[1], "G23 GND");
        assert_eq!(s.pin_name(0), "P2/G23");
    }
}

//! The pin bank: every module pin's level, from what drives it.
//!
//! A pad's level comes from, in order of strength: an external drive (a wire to 3V3 or GND, a
//! button, a script's `--hold`), the pad's own output driver, its internal pull resistor. A pad
//! with none of them floats and reads low. Every change of level is reported so that it becomes
//! an event with device time.

use std::collections::BTreeMap;

use crate::board::{Board, PinDef};

/// What the outside world does to a pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Drive {
    /// Tied to 3V3 (e.g. P12 for safe boot).
    High,
    /// Tied to GND (e.g. G23 for download mode).
    Low,
    /// Nothing connected.
    Floating,
}

/// The pad's internal resistor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pull {
    #[default]
    None,
    Up,
    Down,
}

/// One pin's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinState {
    pub def: PinDef,
    pub drive: Drive,
    pub pull: Pull,
    /// `Some(level)` while the pad's output driver is enabled.
    pub output: Option<bool>,
}

impl PinState {
    /// The level the pad reads.
    pub fn level(&self) -> bool {
        match (self.drive, self.output, self.pull) {
            (Drive::High, _, _) => true,
            (Drive::Low, _, _) => false,
            (Drive::Floating, Some(out), _) => out,
            (Drive::Floating, None, Pull::Up) => true,
            (Drive::Floating, None, _) => false,
        }
    }
}

/// A level change to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelChange {
    pub pin: String,
    pub gpio: u8,
    pub level: bool,
}

/// Errors a user can cause by naming pins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpioError {
    #[error(
        "no pin named '{name}' on the {board}; use a module name (P0..P23) or an expansion-board name (G0..G31)"
    )]
    UnknownPin { name: String, board: String },
    #[error("{pin} (GPIO{gpio}) is input only: the ESP32 cannot drive an output on GPIO34-39")]
    InputOnly { pin: String, gpio: u8 },
}

/// All pins of a board, keyed by GPIO number.
#[derive(Debug, Clone)]
pub struct Gpio {
    board_name: String,
    pins: BTreeMap<u8, PinState>,
}

impl Gpio {
    pub fn new(board: &Board) -> Gpio {
        let pins = board
            .pins
            .iter()
            .map(|def| {
                (
                    def.gpio,
                    PinState {
                        def: def.clone(),
                        drive: Drive::Floating,
                        pull: Pull::None,
                        output: None,
                    },
                )
            })
            .collect();
        Gpio {
            board_name: board.name.clone(),
            pins,
        }
    }

    /// Finds a pin by module name (`P12`), expansion-board name (`G28`) or `GPIO21`, ignoring case.
    /// Expansion-board names are tried first, as the firmware's `Pin()` does.
    pub fn resolve(&self, name: &str) -> Result<u8, GpioError> {
        let wanted = name.trim();
        let by = |f: fn(&PinDef) -> &str| {
            self.pins
                .values()
                .find(|p| f(&p.def).eq_ignore_ascii_case(wanted))
                .map(|p| p.def.gpio)
        };
        by(|d| d.exp_board.as_str())
            .or_else(|| by(|d| d.name.as_str()))
            .or_else(|| {
                let digits = wanted.get(4..).filter(|_| {
                    wanted
                        .get(..4)
                        .is_some_and(|p| p.eq_ignore_ascii_case("gpio"))
                })?;
                let n: u8 = digits.parse().ok()?;
                self.pins.contains_key(&n).then_some(n)
            })
            .ok_or_else(|| GpioError::UnknownPin {
                name: name.to_string(),
                board: self.board_name.clone(),
            })
    }

    pub fn pin(&self, gpio: u8) -> Option<&PinState> {
        self.pins.get(&gpio)
    }

    pub fn pins(&self) -> impl Iterator<Item = &PinState> {
        self.pins.values()
    }

    /// Level of a GPIO; a GPIO the board does not bring out reads low.
    pub fn level(&self, gpio: u8) -> bool {
        self.pins.get(&gpio).is_some_and(PinState::level)
    }

    fn change(&mut self, gpio: u8, edit: impl FnOnce(&mut PinState)) -> Option<LevelChange> {
        let pin = self.pins.get_mut(&gpio)?;
        let before = pin.level();
        edit(pin);
        let after = pin.level();
        (before != after).then(|| LevelChange {
            pin: pin.def.name.clone(),
            gpio,
            level: after,
        })
    }

    pub fn set_drive(&mut self, gpio: u8, drive: Drive) -> Option<LevelChange> {
        self.change(gpio, |p| p.drive = drive)
    }

    pub fn set_pull(&mut self, gpio: u8, pull: Pull) -> Option<LevelChange> {
        self.change(gpio, |p| p.pull = pull)
    }

    /// Enables the output driver at `level`, or disables it with `None`.
    pub fn set_output(
        &mut self,
        gpio: u8,
        level: Option<bool>,
    ) -> Result<Option<LevelChange>, GpioError> {
        if let (Some(_), Some(p)) = (level, self.pins.get(&gpio))
            && p.def.input_only
        {
            return Err(GpioError::InputOnly {
                pin: p.def.name.clone(),
                gpio,
            });
        }
        Ok(self.change(gpio, |p| p.output = level))
    }

    /// What a chip reset does to the pads: outputs off, pulls back to the chip's reset defaults.
    /// External drives stay: the wire is still there.
    pub fn reset(&mut self, reset_pulls: &[(u8, Pull)]) -> Vec<LevelChange> {
        let gpios: Vec<u8> = self.pins.keys().copied().collect();
        gpios
            .into_iter()
            .filter_map(|gpio| {
                let pull = reset_pulls
                    .iter()
                    .find(|(g, _)| *g == gpio)
                    .map_or(Pull::None, |(_, p)| *p);
                self.change(gpio, |p| {
                    p.output = None;
                    p.pull = pull;
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bank() -> Gpio {
        Gpio::new(&Board::builtin("lopy4").expect("lopy4"))
    }

    #[test]
    fn names_resolve_by_module_expansion_and_gpio_name() {
        let g = bank();
        assert_eq!(g.resolve("P12"), Ok(21));
        assert_eq!(g.resolve("g28"), Ok(21));
        assert_eq!(g.resolve("GPIO21"), Ok(21));
        assert_eq!(g.resolve("G23"), Ok(0));
        assert!(matches!(
            g.resolve("P42"),
            Err(GpioError::UnknownPin { .. })
        ));
    }

    #[test]
    fn external_drive_beats_output_beats_pull() {
        let mut g = bank();
        assert!(!g.level(21), "floating reads low");
        assert_eq!(
            g.set_pull(21, Pull::Up),
            Some(LevelChange {
                pin: "P12".into(),
                gpio: 21,
                level: true
            })
        );
        assert_eq!(
            g.set_output(21, Some(false)).unwrap().map(|c| c.level),
            Some(false)
        );
        assert_eq!(g.set_drive(21, Drive::High).map(|c| c.level), Some(true));
        assert_eq!(
            g.set_output(21, Some(false)).unwrap(),
            None,
            "the wire wins"
        );
        assert_eq!(
            g.set_drive(21, Drive::Floating).map(|c| c.level),
            Some(false)
        );
    }

    #[test]
    fn input_only_pins_refuse_output() {
        let mut g = bank();
        let p13 = g.resolve("P13").unwrap();
        assert_eq!(p13, 36);
        assert_eq!(
            g.set_output(p13, Some(true)),
            Err(GpioError::InputOnly {
                pin: "P13".into(),
                gpio: 36
            })
        );
        assert!(!g.level(p13));
    }

    #[test]
    fn reset_restores_strap_pulls_and_keeps_wires() {
        let mut g = bank();
        g.set_drive(0, Drive::Low);
        g.set_output(4, Some(true)).unwrap();
        let changes = g.reset(&[(0, Pull::Up), (4, Pull::Down)]);
        assert!(!g.level(0), "G23 is still grounded");
        assert!(!g.level(4));
        assert_eq!(changes.iter().map(|c| c.gpio).collect::<Vec<_>>(), vec![4]);
    }
}

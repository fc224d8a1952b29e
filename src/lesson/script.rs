//! A scripted learner: lessons taken from stdin, so they are tested end to end.
//!
//! The script is groups of lines separated by blank lines. Each group starts when the device is
//! idle (at device time T) and is sent as one batch: `hold PIN [for D]`, `ground PIN`,
//! `release PIN`, `reset`, `power-cycle` (the monitor's words) and `type TEXT` (TEXT and Enter
//! on UART0) happen at T plus the `wait D` lines above them. The next group waits until the
//! device is idle after all of it. Scheduling by device time makes a scripted run the same
//! every time, in virtual time (the default here) and close to it in real time.

use std::io::{BufRead, Write};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::board::Board;
use crate::device::{Action, DeviceHandle};
use crate::event::{Event, EventKind};
use crate::frontend::Narrator;
use crate::frontend::monitor::{self, MonitorCommand};
use crate::frontend::status::BoardState;
use crate::gpio::Drive;

/// One learner action, `offset` after the group's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub offset: Duration,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    Drive(String, Drive),
    Reset,
    PowerCycle,
    Type(String),
}

/// Parses one group's lines.
pub fn parse_group(lines: &[String]) -> Result<Vec<Step>, String> {
    let mut offset = Duration::ZERO;
    let mut steps = Vec::new();
    for line in lines {
        let l = line.trim();
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        if let Some(d) = l.strip_prefix("wait ") {
            offset += crate::duration::parse_duration(d)?;
            continue;
        }
        if let Some(text) = l.strip_prefix("type ") {
            steps.push(Step {
                offset,
                what: What::Type(text.to_string()),
            });
            continue;
        }
        let what = match monitor::parse(l)? {
            MonitorCommand::Hold { pin, for_ } => {
                if let Some(d) = for_ {
                    steps.push(Step {
                        offset: offset + d,
                        what: What::Drive(pin.clone(), Drive::Floating),
                    });
                }
                What::Drive(pin, Drive::High)
            }
            MonitorCommand::Ground { pin } => What::Drive(pin, Drive::Low),
            MonitorCommand::Release { pin } => What::Drive(pin, Drive::Floating),
            MonitorCommand::Reset => What::Reset,
            MonitorCommand::PowerCycle => What::PowerCycle,
            _ => {
                return Err(format!(
                    "'{l}' is not a learner action; use hold, ground, release, reset, \
                     power-cycle, wait DURATION or type TEXT"
                ));
            }
        };
        steps.push(Step { offset, what });
    }
    Ok(steps)
}

/// Runs a lesson with the learner on stdin; UART output and the lesson's lines on stdout.
pub fn run(
    handle: &DeviceHandle,
    events: Receiver<Event>,
    board: &Board,
    mut narrator: Box<dyn Narrator>,
) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let mut state = BoardState::new(board);
    for line in narrator.intro() {
        writeln!(out, "[lesson] {line}").map_err(|e| e.to_string())?;
    }
    handle.power_on();
    if !follow(&events, &mut state, narrator.as_mut(), 0, false, &mut out)? {
        return Err("the device stopped before the lesson began".into());
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut ended = false;
    while !narrator.finished() && !ended {
        let mut group = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.trim().is_empty() && !group.is_empty() => break,
                Some(Ok(l)) if l.trim().is_empty() => {}
                Some(Ok(l)) => group.push(l),
                Some(Err(_)) | None => {
                    ended = true;
                    break;
                }
            }
        }
        let steps = parse_group(&group)?;
        if steps.is_empty() {
            continue;
        }
        let start = state.now_us;
        let mut batch = handle.batch();
        let mut last = Duration::ZERO;
        let mut resets = false;
        for s in &steps {
            let at = Duration::from_micros(start) + s.offset;
            last = last.max(s.offset);
            let action = match &s.what {
                What::Drive(pin, drive) => Action::Drive {
                    gpio: handle.pin(pin).map_err(|e| e.to_string())?,
                    drive: *drive,
                },
                What::Reset => {
                    resets = true;
                    Action::ResetButton
                }
                What::PowerCycle => {
                    resets = true;
                    Action::PowerCycle
                }
                What::Type(text) => Action::Uart(format!("{text}\r").into_bytes()),
            };
            batch.at(at, action);
        }
        batch.send();
        let until = start + u64::try_from(last.as_micros()).unwrap_or(u64::MAX);
        if !follow(
            &events,
            &mut state,
            narrator.as_mut(),
            until,
            resets,
            &mut out,
        )? {
            break;
        }
    }
    writeln!(out).map_err(|e| e.to_string())?;
    if narrator.finished() {
        Ok(())
    } else {
        Err("the lesson did not complete: the learner's script ended first".into())
    }
}

/// Shows events (UART and the lesson's lines) until the device is idle at or after `until_us`
/// (after a reset, if `need_reset`); false if the device stopped.
fn follow(
    events: &Receiver<Event>,
    state: &mut BoardState,
    narrator: &mut dyn Narrator,
    until_us: u64,
    need_reset: bool,
    out: &mut impl Write,
) -> Result<bool, String> {
    let mut reset_seen = !need_reset;
    loop {
        let Ok(e) = events.recv() else {
            return Ok(false);
        };
        state.apply(&e);
        if let EventKind::Uart { text } = &e.kind {
            out.write_all(text).map_err(|e| e.to_string())?;
        }
        for line in narrator.on_event(&e, state) {
            write!(out, "\r\n[lesson] {line}\r\n").map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())?;
        reset_seen |= matches!(e.kind, EventKind::Reset { .. });
        match e.kind {
            EventKind::Stopped => return Ok(false),
            EventKind::Idle if reset_seen && e.time_us >= until_us => return Ok(true),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_schedules_by_waits() {
        let lines: Vec<String> = [
            "hold P12",
            "reset",
            "wait 1.5s",
            "release P12",
            "type print(1)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let steps = parse_group(&lines).unwrap();
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[2].offset, Duration::from_millis(1500));
        assert_eq!(steps[2].what, What::Drive("P12".into(), Drive::Floating));
        assert_eq!(steps[3].what, What::Type("print(1)".into()));
        assert!(parse_group(&["status".to_string()]).is_err());
    }
}

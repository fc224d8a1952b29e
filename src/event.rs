//! The event stream: every observable change on the device, stamped with device time.
//!
//! The terminal, `--events json`, scenarios and tests all read this one stream.

use serde::Serialize;

use crate::clock::Micros;
use crate::gpio::Drive;
use crate::rom::ResetCause;

/// Where in the boot chain the device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The mask ROM is running.
    Rom,
    /// The ROM sits in UART download mode (G23 held low at reset).
    DownloadMode,
    /// The second-stage bootloader (safe-boot check, A/B selection) is running.
    Bootloader,
    /// The app image has been entered.
    Firmware,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The chip starts (power-on or a reset of any kind).
    Reset { cause: ResetCause },
    /// Power removed.
    PowerOff,
    /// The boot chain moved on.
    Stage { stage: Stage },
    /// Bytes the device sent on UART0.
    Uart {
        #[serde(serialize_with = "lossy_text")]
        text: Vec<u8>,
    },
    /// The RGB LED shows a new colour (`#rrggbb`).
    Led { color: String },
    /// A pin's level changed.
    Pin { pin: String, gpio: u8, level: u8 },
    /// Something outside changed what drives a pin.
    Drive { pin: String, gpio: u8, drive: Drive },
    /// The bootloader's decision.
    Boot {
        slot: String,
        offset: u32,
        version: String,
        safe_boot: String,
        skip_scripts: bool,
        software_request: bool,
        rolled_back: bool,
        record_initialised: bool,
    },
    /// The host closed its side of UART0 (stdin ended); no more input will come.
    InputClosed,
    /// The device waits for input with nothing scheduled (the heartbeat does not count).
    Idle,
    /// The run reached its `--for` limit or was shut down.
    Stopped,
    /// A scenario's stop condition held (`deadline` false) or its deadline came (`deadline`
    /// true): the device stands still, time included, until the scenario goes on.
    Paused { deadline: bool },
    /// Something went wrong that a real module would show as a hang or red LED.
    Fault { message: String },
}

fn lossy_text<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

/// An event with its device time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub time_us: Micros,
    pub kind: EventKind,
}

/// The bytes the UART events among `events` carried, joined.
pub fn uart_bytes(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Uart { text } => Some(text.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// The text the UART events among `events` carried, joined before decoding so a character split
/// between two events stays whole (bytes that are not UTF-8 show as U+FFFD).
pub fn uart_text(events: &[Event]) -> String {
    String::from_utf8_lossy(&uart_bytes(events)).into_owned()
}

impl Event {
    /// Device time in whole milliseconds (rounded down).
    pub fn time_ms(&self) -> u64 {
        self.time_us / 1000
    }

    /// One JSON object: `{"time_ms": …, "kind": …, fields…}`. Times that are whole milliseconds
    /// print as integers, others with microsecond decimals.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(&self.kind).unwrap_or(serde_json::Value::Null);
        let time = if self.time_us.is_multiple_of(1000) {
            serde_json::Value::from(self.time_us / 1000)
        } else {
            serde_json::Value::from(self.time_us as f64 / 1000.0)
        };
        let mut object = serde_json::Map::new();
        object.insert("time_ms".into(), time);
        if let serde_json::Value::Object(fields) = value.take() {
            object.extend(fields);
        }
        serde_json::Value::Object(object).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_time_kind_and_fields() {
        let e = Event {
            time_us: 2_600_000,
            kind: EventKind::Led {
                color: "#2c1200".into(),
            },
        };
        assert_eq!(
            e.to_json(),
            r##"{"time_ms":2600,"kind":"led","color":"#2c1200"}"##
        );
        let e = Event {
            time_us: 1_500,
            kind: EventKind::Uart {
                text: b">>> ".to_vec(),
            },
        };
        assert_eq!(
            e.to_json(),
            r#"{"time_ms":1.5,"kind":"uart","text":">>> "}"#
        );
    }
}

//! Keys as serial-console users know them (miniterm, tio, picocom): every byte goes to the
//! device, Ctrl-] quits, and Ctrl-T is the prefix of the board's own keys.

/// `Ctrl-]`: quit (the telnet/miniterm convention; Ctrl-C belongs to the device).
pub const QUIT: u8 = 0x1D;
/// `Ctrl-T`: the menu prefix (tio's).
pub const MENU: u8 = 0x14;

/// What a key (or a Ctrl-T sequence) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAction {
    /// Bytes for UART0.
    Send(Vec<u8>),
    /// Ctrl-T p: hold or release P12 (3V3).
    ToggleP12,
    /// Ctrl-T g: connect or disconnect G23 (GND).
    ToggleG23,
    /// Ctrl-T r: press reset.
    Reset,
    /// Ctrl-T o: power-cycle.
    PowerCycle,
    /// Ctrl-T h (or ?): list the keys.
    Help,
    /// Ctrl-T :: the monitor prompt, with what was typed after it in the same read (a fast
    /// typist or a paste): that belongs to the prompt, not the device.
    Prompt(Vec<u8>),
    /// Ctrl-]: leave.
    Quit,
    /// Ctrl-T and a key that means nothing.
    Unknown(u8),
}

/// The one-line legend shown at start.
pub const LEGEND: &str =
    "Ctrl-] quits; Ctrl-T then: p P12 3V3, g G23 GND, r reset, o power, : prompt, h help";

/// The list Ctrl-T h prints.
pub const HELP: &str = "\
Ctrl-]         quit pycom-sim\r
Ctrl-T p       hold P12 to 3V3 / release it (safe boot: hold, reset, watch the LED, release)\r
Ctrl-T g       connect G23 to GND / disconnect it (download mode at reset)\r
Ctrl-T r       press the reset button\r
Ctrl-T o       power-cycle the board\r
Ctrl-T :       monitor prompt (hold P12 for 4.5s, pins, status, put, get, help)\r
Ctrl-T Ctrl-T  send a literal Ctrl-T\r
Ctrl-T h       this list\r
every other key (Ctrl-C, Ctrl-D, Ctrl-A/B/E/F included) goes to the device's UART0\r
";

/// Splits terminal input into actions, remembering a Ctrl-T that ends one read.
#[derive(Debug, Default)]
pub struct KeyParser {
    prefix: bool,
}

impl KeyParser {
    /// A Ctrl-T waits for its key.
    pub fn pending(&self) -> bool {
        self.prefix
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<KeyAction> {
        let mut out = Vec::new();
        let mut pending = Vec::new();
        let flush = |pending: &mut Vec<u8>, out: &mut Vec<KeyAction>| {
            if !pending.is_empty() {
                out.push(KeyAction::Send(std::mem::take(pending)));
            }
        };
        for (i, &b) in bytes.iter().enumerate() {
            if self.prefix && b == b':' {
                self.prefix = false;
                flush(&mut pending, &mut out);
                out.push(KeyAction::Prompt(
                    bytes.get(i + 1..).unwrap_or_default().to_vec(),
                ));
                return out;
            }
            if self.prefix {
                self.prefix = false;
                let action = match b {
                    MENU => {
                        pending.push(MENU);
                        continue;
                    }
                    b'p' | b'P' | 0x10 => KeyAction::ToggleP12,
                    b'g' | b'G' | 0x07 => KeyAction::ToggleG23,
                    b'r' | b'R' | 0x12 => KeyAction::Reset,
                    b'o' | b'O' | 0x0F => KeyAction::PowerCycle,
                    b'h' | b'H' | b'?' | 0x08 => KeyAction::Help,
                    QUIT | b'q' | b'Q' => KeyAction::Quit,
                    other => KeyAction::Unknown(other),
                };
                flush(&mut pending, &mut out);
                out.push(action);
            } else if b == MENU {
                self.prefix = true;
            } else if b == QUIT {
                flush(&mut pending, &mut out);
                out.push(KeyAction::Quit);
            } else {
                pending.push(b);
            }
        }
        flush(&mut pending, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pass_through_and_ctrl_t_is_a_prefix() {
        let mut k = KeyParser::default();
        assert_eq!(
            k.feed(b"ab\x03\x04"),
            vec![KeyAction::Send(b"ab\x03\x04".to_vec())]
        );
        assert_eq!(
            k.feed(b"x\x14py"),
            vec![
                KeyAction::Send(b"x".to_vec()),
                KeyAction::ToggleP12,
                KeyAction::Send(b"y".to_vec())
            ]
        );
        // A prefix at the end of one read applies to the next.
        assert_eq!(k.feed(b"\x14"), vec![]);
        assert_eq!(k.feed(b"r"), vec![KeyAction::Reset]);
        assert_eq!(k.feed(b"\x14\x14"), vec![KeyAction::Send(vec![MENU])]);
        assert_eq!(k.feed(b"\x14:"), vec![KeyAction::Prompt(vec![])]);
        assert_eq!(
            k.feed(b"a\x14:hold P12\rb"),
            vec![
                KeyAction::Send(b"a".to_vec()),
                KeyAction::Prompt(b"hold P12\rb".to_vec())
            ]
        );
        assert_eq!(k.feed(b"\x14z"), vec![KeyAction::Unknown(b'z')]);
        assert_eq!(
            k.feed(b"a\x1db"),
            vec![
                KeyAction::Send(b"a".to_vec()),
                KeyAction::Quit,
                KeyAction::Send(b"b".to_vec())
            ]
        );
        assert_eq!(
            k.feed(b"\x14g\x14o\x14h"),
            vec![KeyAction::ToggleG23, KeyAction::PowerCycle, KeyAction::Help]
        );
    }
}

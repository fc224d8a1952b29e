//! RFC 2217 (the telnet COM-PORT option), so `rfc2217://` URLs in pyserial, esptool and
//! mpremote reach UART0 as they reach Wokwi or `esp_rfc2217_server`. Line settings are accepted
//! and echoed; with `--auto-reset`, DTR and RTS drive EN and GPIO0 (G23) through the classic
//! two-transistor circuit of ESP32 devkits, so a tool's reset sequence resets this board.

use super::telnet::{DO, DONT, IAC, SB, SE, WILL, WONT};

/// Options the server agrees to: BINARY, ECHO, SGA, COM-PORT.
const BINARY: u8 = 0;
const ECHO: u8 = 1;
const SGA: u8 = 3;
pub const COM_PORT: u8 = 44;

/// COM-PORT commands (client → server; the server answers with the command + 100).
const SET_BAUDRATE: u8 = 1;
const SET_CONTROL: u8 = 5;

/// SET_CONTROL values for the modem lines.
const DTR_ON: u8 = 8;
const DTR_OFF: u8 = 9;
const RTS_ON: u8 = 11;
const RTS_OFF: u8 = 12;

/// What a client sent, once telnet's framing is taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// UART bytes.
    Data(Vec<u8>),
    /// WILL/WONT/DO/DONT an option.
    Negotiate { command: u8, option: u8 },
    /// A subnegotiation's body (after `IAC SB`, before `IAC SE`).
    Sub(Vec<u8>),
}

/// Splits a client's bytes into data, negotiations and subnegotiations, across reads.
#[derive(Debug, Default)]
pub struct Parser {
    state: State,
    sub: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Data,
    Iac,
    Option(u8),
    Sub,
    SubIac,
}

impl Parser {
    pub fn feed(&mut self, input: &[u8]) -> Vec<Incoming> {
        let mut out = Vec::new();
        let mut data = Vec::new();
        for &b in input {
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, b) => {
                    data.push(b);
                    State::Data
                }
                (State::Iac, IAC) => {
                    data.push(IAC);
                    State::Data
                }
                (State::Iac, c @ (WILL | WONT | DO | DONT)) => State::Option(c),
                (State::Iac, SB) => {
                    self.sub.clear();
                    State::Sub
                }
                (State::Iac, _) => State::Data,
                (State::Option(command), option) => {
                    flush(&mut data, &mut out);
                    out.push(Incoming::Negotiate { command, option });
                    State::Data
                }
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, b) => {
                    self.sub.push(b);
                    State::Sub
                }
                (State::SubIac, SE) => {
                    flush(&mut data, &mut out);
                    out.push(Incoming::Sub(std::mem::take(&mut self.sub)));
                    State::Data
                }
                (State::SubIac, b) => {
                    // `IAC IAC` inside a subnegotiation is one 0xFF.
                    self.sub.push(b);
                    State::Sub
                }
            };
        }
        flush(&mut data, &mut out);
        out
    }
}

fn flush(data: &mut Vec<u8>, out: &mut Vec<Incoming>) {
    if !data.is_empty() {
        out.push(Incoming::Data(std::mem::take(data)));
    }
}

/// The server's answer to a negotiation: agree to what a serial server supports, refuse the
/// rest (and never answer an answer with a new request, so no loop).
pub fn answer_negotiation(command: u8, option: u8) -> Option<[u8; 3]> {
    let supported = matches!(option, BINARY | ECHO | SGA | COM_PORT);
    match command {
        WILL => Some([IAC, if supported { DO } else { DONT }, option]),
        DO => Some([IAC, if supported { WILL } else { WONT }, option]),
        _ => None,
    }
}

/// The server's answer to a COM-PORT subnegotiation: the same command + 100 with the value
/// now in force (a baud-rate query, value 0, reports 115200, UART0's rate).
pub fn answer_sub(body: &[u8]) -> Option<Vec<u8>> {
    let (&option, rest) = body.split_first()?;
    if option != COM_PORT {
        return None;
    }
    let (&command, value) = rest.split_first()?;
    // Clients send 0..=12 (RFC 2217); anything else is no request, and echoing 155 + 100 would
    // put a bare IAC in the reply and break the client's framing (found by fuzzing).
    if command > 12 {
        return None;
    }
    let value: Vec<u8> = if command == SET_BAUDRATE && value.iter().all(|&b| b == 0) {
        115_200u32.to_be_bytes().to_vec()
    } else {
        value.to_vec()
    };
    let mut out = vec![IAC, SB, COM_PORT, command.wrapping_add(100)];
    for b in value {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
    out.extend_from_slice(&[IAC, SE]);
    Some(out)
}

/// The DTR or RTS change a SET_CONTROL carries, if any.
pub fn modem_line(body: &[u8]) -> Option<(Line, bool)> {
    match body {
        [COM_PORT, SET_CONTROL, value] => match *value {
            DTR_ON => Some((Line::Dtr, true)),
            DTR_OFF => Some((Line::Dtr, false)),
            RTS_ON => Some((Line::Rts, true)),
            RTS_OFF => Some((Line::Rts, false)),
            _ => None,
        },
        _ => None,
    }
}

/// A modem control line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Dtr,
    Rts,
}

/// The devkit's auto-reset circuit: two transistors cross-wired between DTR, RTS, EN and GPIO0.
/// EN is pulled low only while RTS is asserted and DTR is not; GPIO0 only while DTR is and RTS
/// is not (both asserted, both stay high).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AutoReset {
    pub dtr: bool,
    pub rts: bool,
}

impl AutoReset {
    pub fn set(&mut self, line: Line, asserted: bool) {
        match line {
            Line::Dtr => self.dtr = asserted,
            Line::Rts => self.rts = asserted,
        }
    }

    /// The chip is held in reset.
    pub fn en_low(self) -> bool {
        self.rts && !self.dtr
    }

    /// GPIO0 (G23) is pulled to GND: download mode if the chip comes out of reset now.
    pub fn io0_low(self) -> bool {
        self.dtr && !self.rts
    }
}

/// Doubles 0xFF in device output, as telnet data must.
pub fn escape(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    super::telnet::escape_output(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_options_and_subnegotiations_are_split_across_reads() {
        let mut p = Parser::default();
        let mut got = p.feed(&[b'a', IAC, WILL, COM_PORT, b'b', IAC, IAC, IAC, SB, COM_PORT]);
        got.extend(p.feed(&[SET_CONTROL, DTR_ON, IAC, SE, b'c']));
        assert_eq!(
            got,
            vec![
                Incoming::Data(b"a".to_vec()),
                Incoming::Negotiate {
                    command: WILL,
                    option: COM_PORT
                },
                Incoming::Data(vec![b'b', IAC]),
                Incoming::Sub(vec![COM_PORT, SET_CONTROL, DTR_ON]),
                Incoming::Data(b"c".to_vec()),
            ]
        );
    }

    #[test]
    fn settings_are_echoed_with_the_server_code() {
        assert_eq!(
            answer_sub(&[COM_PORT, SET_BAUDRATE, 0, 0x0E, 0x10, 0x00]).unwrap(),
            vec![IAC, SB, COM_PORT, 101, 0, 0x0E, 0x10, 0x00, IAC, SE]
        );
        assert_eq!(
            answer_sub(&[COM_PORT, SET_BAUDRATE, 0, 0, 0, 0]).unwrap(),
            vec![IAC, SB, COM_PORT, 101, 0, 1, 0xC2, 0, IAC, SE]
        );
        assert_eq!(
            answer_negotiation(WILL, COM_PORT),
            Some([IAC, DO, COM_PORT])
        );
        assert_eq!(answer_negotiation(DO, 24), Some([IAC, WONT, 24]));
        assert_eq!(answer_negotiation(WONT, 24), None);
    }

    #[test]
    fn commands_no_client_sends_get_no_answer() {
        // 155 + 100 is 0xFF: answering it would send a bare IAC inside the subnegotiation.
        assert_eq!(answer_sub(&[COM_PORT, 155]), None);
        assert_eq!(answer_sub(&[COM_PORT, 101, 0]), None);
        let reply = answer_sub(&[COM_PORT, 12, 0]).expect("12 is a client command");
        assert_eq!(
            Parser::default().feed(&reply),
            vec![Incoming::Sub(vec![COM_PORT, 112, 0])]
        );
    }

    #[test]
    fn the_auto_reset_circuit_follows_esptool_s_classic_sequence() {
        let mut c = AutoReset::default();
        c.set(Line::Dtr, false);
        c.set(Line::Rts, true);
        assert!(c.en_low() && !c.io0_low(), "in reset, GPIO0 high");
        c.set(Line::Dtr, true);
        assert!(!c.en_low() && !c.io0_low(), "both asserted: both high");
        c.set(Line::Rts, false);
        assert!(!c.en_low() && c.io0_low(), "out of reset with GPIO0 low");
        c.set(Line::Dtr, false);
        assert!(!c.en_low() && !c.io0_low());
    }
}

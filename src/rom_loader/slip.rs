//! SLIP framing (RFC 1055) as the ESP32 ROM loader uses it: every packet between two `0xC0`
//! bytes, `0xC0` inside sent as `DB DC` and `0xDB` as `DB DD`.
//!
//! Pure and streaming, so the device thread can feed it whatever the UART delivered (half a
//! frame, three frames, line noise) and a fuzzer can feed it anything at all.

/// Frame delimiter.
pub const END: u8 = 0xC0;
/// Escape byte.
pub const ESC: u8 = 0xDB;
/// `ESC ESC_END` stands for a `0xC0` inside a frame.
pub const ESC_END: u8 = 0xDC;
/// `ESC ESC_ESC` stands for a `0xDB` inside a frame.
pub const ESC_ESC: u8 = 0xDD;

/// The largest frame the loader takes: a MEM_DATA block (0x1800) and its 16-byte header, with
/// room to spare. Longer frames cannot be a request the ROM knows and are dropped whole, so
/// a stream of noise without a `0xC0` cannot grow memory without bound.
pub const MAX_FRAME: usize = 0x4000;

/// Why a frame was dropped instead of delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// `0xDB` followed by something other than `DC`/`DD`.
    BadEscape,
    /// More than [`MAX_FRAME`] bytes before the closing `0xC0`.
    TooLong,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames: everything but `0xC0` is noise (the ROM waits for a frame start).
    #[default]
    Outside,
    Inside,
    Escape,
    /// The frame went bad; skip to its closing `0xC0`.
    Discard(FrameError),
}

/// A streaming SLIP decoder.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    state: State,
    frame: Vec<u8>,
}

impl Decoder {
    /// Feeds bytes; returns every frame that ended in them, in order. Empty frames (`C0 C0`,
    /// which also re-synchronises a sender) are not reported.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut out = Vec::new();
        for &b in bytes {
            if let Some(frame) = self.push(b) {
                out.push(frame);
            }
        }
        out
    }

    /// Feeds one byte; returns a frame if it closed one.
    pub fn push(&mut self, b: u8) -> Option<Result<Vec<u8>, FrameError>> {
        match (self.state, b) {
            (State::Outside, END) => {
                self.frame.clear();
                self.state = State::Inside;
                None
            }
            (State::Outside, _) => None,
            (State::Inside, END) => {
                if self.frame.is_empty() {
                    // `C0 C0`: the end of nothing and the start of the next frame.
                    return None;
                }
                self.state = State::Outside;
                Some(Ok(std::mem::take(&mut self.frame)))
            }
            (State::Inside, ESC) => {
                self.state = State::Escape;
                None
            }
            (State::Inside, b) => self.append(b),
            (State::Escape, ESC_END) => self.append(END),
            (State::Escape, ESC_ESC) => self.append(ESC),
            (State::Escape, END) => {
                // A frame cut short by the delimiter: dropped, and the C0 starts the next one.
                self.frame.clear();
                self.state = State::Inside;
                Some(Err(FrameError::BadEscape))
            }
            (State::Escape, _) => {
                self.state = State::Discard(FrameError::BadEscape);
                None
            }
            (State::Discard(why), END) => {
                self.frame.clear();
                self.state = State::Outside;
                Some(Err(why))
            }
            (State::Discard(_), _) => None,
        }
    }

    fn append(&mut self, b: u8) -> Option<Result<Vec<u8>, FrameError>> {
        if self.frame.len() >= MAX_FRAME {
            self.frame = Vec::new();
            self.state = State::Discard(FrameError::TooLong);
        } else {
            self.frame.push(b);
            self.state = State::Inside;
        }
        None
    }
}

/// Decodes a whole buffer at once (for fuzzing and tests): the frames it holds, complete ones
/// only.
pub fn decode(bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
    Decoder::default().feed(bytes)
}

/// Wraps a packet in `0xC0`s, escaping what must be escaped.
pub fn encode(packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packet.len() + 8);
    out.push(END);
    for &b in packet {
        match b {
            END => out.extend_from_slice(&[ESC, ESC_END]),
            ESC => out.extend_from_slice(&[ESC, ESC_ESC]),
            b => out.push(b),
        }
    }
    out.push(END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip_as_in_the_protocol_doc() {
        let packet = [0x01, 0x0A, 0x04, 0x00, 0xC0, 0xDB, 0x00, 0x00];
        let wire = encode(&packet);
        assert_eq!(
            wire,
            [
                0xC0, 0x01, 0x0A, 0x04, 0x00, 0xDB, 0xDC, 0xDB, 0xDD, 0x00, 0x00, 0xC0
            ]
        );
        assert_eq!(decode(&wire), vec![Ok(packet.to_vec())]);
    }

    #[test]
    fn frames_split_across_reads_and_noise_between_them() {
        let mut d = Decoder::default();
        assert!(d.feed(b"boot noise\r\n\xc0\x00\x08").is_empty());
        let got = d.feed(b"\x24\xc0junk\xc0\xc0\x01\xc0");
        assert_eq!(got, vec![Ok(vec![0x00, 0x08, 0x24]), Ok(vec![0x01])]);
    }

    #[test]
    fn a_bad_escape_drops_only_its_own_frame() {
        let got = decode(b"\xc0\x01\xdb\x41\x02\xc0\xc0\x03\xc0");
        assert_eq!(got, vec![Err(FrameError::BadEscape), Ok(vec![0x03])]);
        // An escape cut by the delimiter: the C0 opens the next frame.
        let got = decode(b"\xc0\x01\xdb\xc0\x04\xc0");
        assert_eq!(got, vec![Err(FrameError::BadEscape), Ok(vec![0x04])]);
    }

    #[test]
    fn an_endless_frame_is_dropped_and_memory_stays_bounded() {
        let mut d = Decoder::default();
        d.push(END);
        for _ in 0..3 * MAX_FRAME {
            assert_eq!(d.push(0x55), None);
        }
        assert!(d.frame.capacity() <= MAX_FRAME * 2);
        assert_eq!(d.push(END), Some(Err(FrameError::TooLong)));
        assert_eq!(d.feed(b"\xc0\x07\xc0"), vec![Ok(vec![0x07])]);
    }
}

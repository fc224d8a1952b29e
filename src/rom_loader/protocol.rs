//! The ROM loader's packets, without SLIP: a request is direction `0x00`, opcode, u16 length,
//! u32 checksum, data; a reply is direction `0x01`, the opcode answered, u16 length, u32 value,
//! payload, then the ESP32 ROM's four status bytes (status, error, 0, 0). All little-endian.
//!
//! Pure functions, so a fuzzer can throw any bytes at [`Request::parse`].

/// Opcodes the ESP32 ROM answers (esptool's names).
pub mod op {
    pub const FLASH_BEGIN: u8 = 0x02;
    pub const FLASH_DATA: u8 = 0x03;
    pub const FLASH_END: u8 = 0x04;
    pub const MEM_BEGIN: u8 = 0x05;
    pub const MEM_END: u8 = 0x06;
    pub const MEM_DATA: u8 = 0x07;
    pub const SYNC: u8 = 0x08;
    pub const WRITE_REG: u8 = 0x09;
    pub const READ_REG: u8 = 0x0A;
    pub const SPI_SET_PARAMS: u8 = 0x0B;
    pub const SPI_ATTACH: u8 = 0x0D;
    pub const READ_FLASH_SLOW: u8 = 0x0E;
    pub const CHANGE_BAUDRATE: u8 = 0x0F;
    pub const FLASH_DEFL_BEGIN: u8 = 0x10;
    pub const FLASH_DEFL_DATA: u8 = 0x11;
    pub const FLASH_DEFL_END: u8 = 0x12;
    pub const SPI_FLASH_MD5: u8 = 0x13;
}

/// The ROM's error codes (esptool's `ROM_ERROR` table; the second status byte).
pub mod error {
    pub const INVALID_PARAMETER: u8 = 0x01;
    /// "received message is invalid": unknown opcodes, malformed requests.
    pub const INVALID_MESSAGE: u8 = 0x05;
    pub const CHECKSUM: u8 = 0x07;
    pub const FLASH_WRITE: u8 = 0x08;
    pub const FLASH_READ: u8 = 0x09;
    pub const DEFLATE: u8 = 0x0B;
    pub const DEFLATE_ADLER: u8 = 0x0C;
}

/// Seed of the data checksum (XOR of every data byte).
pub const CHECKSUM_SEED: u8 = 0xEF;

/// One request from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub op: u8,
    /// The header's checksum field (only the `_DATA` commands use it).
    pub checksum: u32,
    pub data: Vec<u8>,
}

/// Why a frame is not a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the 8-byte header: there is not even an opcode to answer.
    TooShort,
    /// Direction byte not 0: not a request (perhaps our own reply echoed back).
    NotARequest,
    /// The length field disagrees with the bytes that came: answered as an invalid message.
    LengthMismatch { op: u8 },
}

impl Request {
    /// Parses a decoded SLIP frame.
    pub fn parse(frame: &[u8]) -> Result<Request, ParseError> {
        let (header, data) = frame.split_at_checked(8).ok_or(ParseError::TooShort)?;
        let [dir, op, l0, l1, c0, c1, c2, c3] = header else {
            return Err(ParseError::TooShort);
        };
        if *dir != 0 {
            return Err(ParseError::NotARequest);
        }
        let len = usize::from(u16::from_le_bytes([*l0, *l1]));
        if len != data.len() {
            return Err(ParseError::LengthMismatch { op: *op });
        }
        Ok(Request {
            op: *op,
            checksum: u32::from_le_bytes([*c0, *c1, *c2, *c3]),
            data: data.to_vec(),
        })
    }

    /// The `n`-th little-endian u32 of the data, if there.
    pub fn word(&self, n: usize) -> Option<u32> {
        word(&self.data, n)
    }
}

/// The `n`-th little-endian u32 of `bytes`, if there.
pub fn word(bytes: &[u8], n: usize) -> Option<u32> {
    let start = n.checked_mul(4)?;
    let b = bytes.get(start..start.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The ROM's data checksum: XOR of `data`, seeded with 0xEF.
pub fn checksum(data: &[u8]) -> u8 {
    data.iter().fold(CHECKSUM_SEED, |acc, b| acc ^ b)
}

/// One reply to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub op: u8,
    pub value: u32,
    /// Payload before the status bytes (MD5 hex, flash bytes).
    pub payload: Vec<u8>,
    /// 0 ok, 1 failed.
    pub status: u8,
    pub error: u8,
}

impl Response {
    pub fn ok(op: u8, value: u32) -> Response {
        Response {
            op,
            value,
            payload: Vec::new(),
            status: 0,
            error: 0,
        }
    }

    pub fn fail(op: u8, value: u32, error: u8) -> Response {
        Response {
            status: 1,
            error,
            ..Response::ok(op, value)
        }
    }

    /// The packet before SLIP framing: the four status bytes of the ESP32 ROM follow the
    /// payload (the stub sends two; esptool reads the first two either way).
    pub fn encode(&self) -> Vec<u8> {
        let len = u16::try_from(self.payload.len() + 4).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(12 + self.payload.len());
        out.push(0x01);
        out.push(self.op);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.value.to_le_bytes());
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(&[self.status, self.error, 0, 0]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sync_request_of_the_protocol_doc_parses() {
        let mut frame = vec![0x00, 0x08, 0x24, 0x00, 0, 0, 0, 0, 0x07, 0x07, 0x12, 0x20];
        frame.extend([0x55; 32]);
        let r = Request::parse(&frame).unwrap();
        assert_eq!(
            (r.op, r.data.len(), r.word(0)),
            (0x08, 36, Some(0x2012_0707))
        );
    }

    #[test]
    fn malformed_frames_are_told_apart() {
        assert_eq!(Request::parse(&[0, 8, 0]), Err(ParseError::TooShort));
        assert_eq!(
            Request::parse(&[1, 8, 0, 0, 0, 0, 0, 0]),
            Err(ParseError::NotARequest)
        );
        assert_eq!(
            Request::parse(&[0, 0x0A, 4, 0, 0, 0, 0, 0, 1]),
            Err(ParseError::LengthMismatch { op: 0x0A })
        );
    }

    #[test]
    fn a_read_reg_reply_is_the_real_chip_s_bytes() {
        // READ_REG 0x40001000 on a real ESP32 (esptool #921): value 0x00F01D83, status 00 00 00 00.
        assert_eq!(
            Response::ok(op::READ_REG, 0x00F0_1D83).encode(),
            [0x01, 0x0A, 0x04, 0x00, 0x83, 0x1D, 0xF0, 0x00, 0, 0, 0, 0]
        );
        assert_eq!(
            Response::fail(0x14, 0, error::INVALID_MESSAGE).encode(),
            [0x01, 0x14, 0x04, 0x00, 0, 0, 0, 0, 1, 5, 0, 0]
        );
    }

    #[test]
    fn checksum_is_xor_seeded_with_ef() {
        assert_eq!(checksum(&[]), 0xEF);
        assert_eq!(checksum(&[0xEF]), 0);
        assert_eq!(checksum(&[1, 2, 4]), 0xEF ^ 7);
    }
}

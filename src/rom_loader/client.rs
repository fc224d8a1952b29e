//! A host-side client of the ROM loader protocol, as Pycom's Firmware Updater is one: SYNC,
//! identify, attach the flash, compressed writes checked with SPI_FLASH_MD5. `pycom-sim update`
//! drives a board through it, so the updater path goes through the same ROM code esptool uses.
//!
//! The ROM side is tested against the real esptool, never against this client.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use md5::{Digest, Md5};

use super::chip::MAGIC_VALUE;
use super::protocol::{checksum, op, word};
use super::slip;

/// Where the bytes go: an in-process device, a serial port.
pub trait Link {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// Bytes that arrived within `timeout` (empty if none did).
    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, String>;
}

/// Why a conversation with the ROM failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("no answer from the ROM loader to {what}")]
    NoAnswer { what: &'static str },
    #[error("the ROM refused {what} (status {status}, error {error:#04x})")]
    Refused {
        what: &'static str,
        status: u8,
        error: u8,
    },
    #[error("the chip is not an ESP32 (magic {found:#010x}, expected {MAGIC_VALUE:#010x})")]
    NotEsp32 { found: u32 },
    #[error(
        "flash verification failed at {offset:#x}: the chip's MD5 is {chip}, the data's {ours}"
    )]
    Md5Mismatch {
        offset: u32,
        chip: String,
        ours: String,
    },
    #[error("{0}")]
    Link(String),
}

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub value: u32,
    pub payload: Vec<u8>,
}

/// Block size of flash writes (what esptool uses with the ROM).
const BLOCK: usize = 0x400;
/// Generous: an in-process device answers in microseconds, a pty in milliseconds.
const TIMEOUT: Duration = Duration::from_secs(5);

pub struct Client<L: Link> {
    link: L,
    decoder: slip::Decoder,
    frames: VecDeque<Vec<u8>>,
}

impl<L: Link> Client<L> {
    pub fn new(link: L) -> Client<L> {
        Client {
            link,
            decoder: slip::Decoder::default(),
            frames: VecDeque::new(),
        }
    }

    /// Sends a request and waits for the reply to the same opcode, skipping anything else
    /// (the seven extra SYNC replies, stray frames).
    fn command(
        &mut self,
        what: &'static str,
        opcode: u8,
        data: &[u8],
        chk: u32,
        timeout: Duration,
    ) -> Result<Reply, ClientError> {
        let mut packet = vec![0x00, opcode];
        packet.extend_from_slice(&u16::try_from(data.len()).unwrap_or(u16::MAX).to_le_bytes());
        packet.extend_from_slice(&chk.to_le_bytes());
        packet.extend_from_slice(data);
        self.link
            .send(&slip::encode(&packet))
            .map_err(ClientError::Link)?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            while let Some(frame) = self.frames.pop_front() {
                if frame.len() < 8 || frame[0] != 0x01 || frame[1] != opcode {
                    continue;
                }
                let value = word(&frame[4..8], 0).unwrap_or(0);
                let body = &frame[8..];
                // The ESP32 ROM ends with four status bytes (status, error, 0, 0).
                let (payload, status) = body.split_at(body.len().saturating_sub(4));
                let (s, e) = (
                    status.first().copied().unwrap_or(1),
                    status.get(1).copied().unwrap_or(0),
                );
                if s != 0 {
                    return Err(ClientError::Refused {
                        what,
                        status: s,
                        error: e,
                    });
                }
                return Ok(Reply {
                    value,
                    payload: payload.to_vec(),
                });
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(ClientError::NoAnswer { what });
            }
            let bytes = self.link.recv(left).map_err(ClientError::Link)?;
            self.frames
                .extend(self.decoder.feed(&bytes).into_iter().flatten());
        }
    }

    /// SYNC until the ROM answers (a few tries, as esptool makes).
    pub fn sync(&mut self) -> Result<(), ClientError> {
        let mut data = vec![0x07, 0x07, 0x12, 0x20];
        data.extend([0x55; 32]);
        for _ in 0..5 {
            match self.command("SYNC", op::SYNC, &data, 0, Duration::from_millis(300)) {
                Ok(_) => {
                    self.frames.clear();
                    return Ok(());
                }
                Err(ClientError::NoAnswer { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::NoAnswer { what: "SYNC" })
    }

    pub fn read_reg(&mut self, addr: u32) -> Result<u32, ClientError> {
        Ok(self
            .command("READ_REG", op::READ_REG, &addr.to_le_bytes(), 0, TIMEOUT)?
            .value)
    }

    /// Checks the chip magic, attaches the SPI flash and declares its size.
    pub fn attach(&mut self, flash_size: u32) -> Result<(), ClientError> {
        let magic = self.read_reg(super::chip::MAGIC_ADDR)?;
        if magic != MAGIC_VALUE {
            return Err(ClientError::NotEsp32 { found: magic });
        }
        self.command("SPI_ATTACH", op::SPI_ATTACH, &[0; 8], 0, TIMEOUT)?;
        let params: Vec<u8> = [0, flash_size, 0x10000, 0x1000, 0x100, 0xFFFF]
            .iter()
            .flat_map(|w: &u32| w.to_le_bytes())
            .collect();
        self.command("SPI_SET_PARAMS", op::SPI_SET_PARAMS, &params, 0, TIMEOUT)?;
        Ok(())
    }

    /// Writes `data` at `offset` compressed (FLASH_DEFL_*), then checks it with the chip's MD5.
    /// `progress(done, total)` hears about every block.
    pub fn write_deflated(
        &mut self,
        offset: u32,
        data: &[u8],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), ClientError> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(data)
            .map_err(|e| ClientError::Link(e.to_string()))?;
        let packed = z.finish().map_err(|e| ClientError::Link(e.to_string()))?;
        let blocks: Vec<&[u8]> = packed.chunks(BLOCK).collect();
        let write_size = data.len().div_ceil(BLOCK) * BLOCK;
        let begin = words(&[write_size as u32, blocks.len() as u32, BLOCK as u32, offset]);
        self.command("FLASH_DEFL_BEGIN", op::FLASH_DEFL_BEGIN, &begin, 0, TIMEOUT)?;
        for (seq, block) in blocks.iter().enumerate() {
            let mut body = words(&[block.len() as u32, seq as u32, 0, 0]);
            body.extend_from_slice(block);
            let chk = u32::from(checksum(block));
            self.command("FLASH_DEFL_DATA", op::FLASH_DEFL_DATA, &body, chk, TIMEOUT)?;
            progress(seq + 1, blocks.len());
        }
        self.verify(offset, data)
    }

    /// Writes `data` at `offset` uncompressed (FLASH_BEGIN/DATA, last block padded with 0xFF),
    /// then checks it with the chip's MD5.
    pub fn write_plain(&mut self, offset: u32, data: &[u8]) -> Result<(), ClientError> {
        let blocks = data.len().div_ceil(BLOCK);
        let begin = words(&[data.len() as u32, blocks as u32, BLOCK as u32, offset]);
        self.command("FLASH_BEGIN", op::FLASH_BEGIN, &begin, 0, TIMEOUT)?;
        for (seq, chunk) in data.chunks(BLOCK).enumerate() {
            let mut block = chunk.to_vec();
            block.resize(BLOCK, 0xFF);
            let mut body = words(&[BLOCK as u32, seq as u32, 0, 0]);
            body.extend_from_slice(&block);
            let chk = u32::from(checksum(&block));
            self.command("FLASH_DATA", op::FLASH_DATA, &body, chk, TIMEOUT)?;
        }
        self.verify(offset, data)
    }

    /// SPI_FLASH_MD5 of what is at `offset` against `data`'s.
    pub fn verify(&mut self, offset: u32, data: &[u8]) -> Result<(), ClientError> {
        let req = words(&[offset, data.len() as u32, 0, 0]);
        let reply = self.command("SPI_FLASH_MD5", op::SPI_FLASH_MD5, &req, 0, TIMEOUT)?;
        let chip = String::from_utf8_lossy(&reply.payload).into_owned();
        let ours: String = Md5::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if chip != ours {
            return Err(ClientError::Md5Mismatch { offset, chip, ours });
        }
        Ok(())
    }
}

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

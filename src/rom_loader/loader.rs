//! The ESP32 ROM loader's command handling: one request in, the ROM's replies out, the board's
//! flash changed as the ROM would change it. No I/O and no clock here: the device thread
//! ([`super::serve`]) feeds it frames, and tests feed it requests.
//!
//! Where the reference (esp32-rom-loader.md) marks the ROM's behaviour as traced, this copies it;
//! where it is inferred, the choice is noted at the command.

use flate2::{Decompress, FlushDecompress, Status};
use md5::{Digest, Md5};

use super::chip::{Chip, Identity};
use super::protocol::{Request, Response, checksum, error, op, word};
use crate::flash::{FlashFile, SECTOR_SIZE};

/// The SYNC request's data: `07 07 12 20` and 32 × `0x55`.
fn is_sync_pattern(data: &[u8]) -> bool {
    data.len() == 36
        && data[..4] == [0x07, 0x07, 0x12, 0x20]
        && data[4..].iter().all(|&b| b == 0x55)
}

/// The SYNC replies' `value` (as a real ESP32 sent it, esptool #570); it must be non-zero.
const SYNC_VALUE: u32 = 0x2012_0707;
/// The ROM answers each SYNC eight times; esptool needs more than one.
const SYNC_REPLIES: usize = 8;
/// READ_FLASH_SLOW always returns this many bytes.
const SLOW_READ_BLOCK: usize = 64;

/// What the loader does after a request besides replying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Stay in the loader.
    Stay,
    /// FLASH_END / FLASH_DEFL_END with "run user code": boot from flash now, no reset.
    RunUserCode,
    /// FLASH_END / FLASH_DEFL_END with "reboot": the chip resets (straps sampled again).
    Reboot,
    /// MEM_END with an entry point: the ROM jumps to code it loaded into RAM (esptool's
    /// flasher stub), which a simulator without an Xtensa core cannot run.
    RunRam { entry: u32 },
}

/// An uncompressed write opened by FLASH_BEGIN.
#[derive(Debug, Clone, Copy)]
struct PlainWrite {
    offset: u32,
    block_size: u32,
}

/// A compressed write opened by FLASH_DEFL_BEGIN: inflated as blocks arrive, written in order.
struct DeflateWrite {
    offset: u32,
    written: u32,
    next_seq: u32,
    inflater: Decompress,
}

impl std::fmt::Debug for DeflateWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeflateWrite")
            .field("offset", &self.offset)
            .field("written", &self.written)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

/// The loader's state between requests.
#[derive(Debug)]
pub struct Loader {
    chip: Chip,
    /// The last READ_REG result, which the ROM leaves in the `value` of later replies.
    last_value: u32,
    /// The flash size SPI_SET_PARAMS declared (the ROM refuses access past it).
    declared_size: Option<u32>,
    plain: Option<PlainWrite>,
    deflate: Option<DeflateWrite>,
    /// A RAM download is open (MEM_BEGIN seen).
    mem_open: bool,
    /// Bytes written to flash since the loader started, for progress reports and tests.
    pub bytes_written: u64,
}

impl Loader {
    pub fn new(id: Identity, strap: u8) -> Loader {
        Loader {
            chip: Chip::new(id, strap),
            last_value: 0,
            declared_size: None,
            plain: None,
            deflate: None,
            mem_open: false,
            bytes_written: 0,
        }
    }

    /// The `value` the ROM puts in a reply now (the last READ_REG result).
    pub fn value(&self) -> u32 {
        self.last_value
    }

    /// Answers one request.
    pub fn handle(&mut self, req: &Request, flash: &mut FlashFile) -> (Vec<Response>, Exit) {
        let v = self.last_value;
        let one = |r: Response| (vec![r], Exit::Stay);
        let fail = |e: u8| (vec![Response::fail(req.op, v, e)], Exit::Stay);
        match req.op {
            op::SYNC => {
                if is_sync_pattern(&req.data) {
                    // The ROM autobauds on the 0x55s; esptool always syncs at 115200.
                    self.chip.set_baud(super::chip::SYNC_BAUD);
                    let r = Response::ok(op::SYNC, SYNC_VALUE);
                    (vec![r; SYNC_REPLIES], Exit::Stay)
                } else {
                    fail(error::INVALID_MESSAGE)
                }
            }
            op::READ_REG => match req.word(0) {
                Some(addr) if req.data.len() == 4 => {
                    self.last_value = self.chip.read(addr);
                    one(Response::ok(op::READ_REG, self.last_value))
                }
                _ => fail(error::INVALID_MESSAGE),
            },
            op::WRITE_REG => {
                if req.data.is_empty() || !req.data.len().is_multiple_of(16) {
                    return fail(error::INVALID_MESSAGE);
                }
                for group in req.data.chunks_exact(16) {
                    let (addr, value, mask) = (
                        word(group, 0).unwrap_or(0),
                        word(group, 1).unwrap_or(0),
                        word(group, 2).unwrap_or(0),
                    );
                    self.chip.write(addr, value, mask, flash);
                }
                one(Response::ok(op::WRITE_REG, v))
            }
            op::SPI_ATTACH => {
                if req.data.len() < 4 {
                    return fail(error::INVALID_MESSAGE);
                }
                one(Response::ok(op::SPI_ATTACH, v))
            }
            op::SPI_SET_PARAMS => match req.word(1) {
                Some(total) if req.data.len() == 24 => {
                    self.declared_size = Some(total);
                    one(Response::ok(op::SPI_SET_PARAMS, v))
                }
                _ => fail(error::INVALID_MESSAGE),
            },
            op::CHANGE_BAUDRATE => match req.word(0) {
                Some(baud) => {
                    // The reply goes out at the old rate; a pty or socket has no rate to change.
                    self.chip.set_baud(baud);
                    one(Response::ok(op::CHANGE_BAUDRATE, v))
                }
                None => fail(error::INVALID_MESSAGE),
            },
            op::FLASH_BEGIN | op::FLASH_DEFL_BEGIN => self.begin(req, flash),
            op::FLASH_DATA => self.plain_data(req, flash),
            op::FLASH_DEFL_DATA => self.deflate_data(req, flash),
            op::FLASH_END | op::FLASH_DEFL_END => {
                let Some(flag) = req.word(0) else {
                    return fail(error::INVALID_MESSAGE);
                };
                self.plain = None;
                self.deflate = None;
                let exit = if flag == 0 {
                    Exit::Reboot
                } else {
                    Exit::RunUserCode
                };
                (vec![Response::ok(req.op, v)], exit)
            }
            op::SPI_FLASH_MD5 => {
                let (Some(addr), Some(size)) = (req.word(0), req.word(1)) else {
                    return fail(error::INVALID_MESSAGE);
                };
                let mut bytes = vec![0; size as usize];
                if !self.in_bounds(addr, size, flash) || flash.read(addr, &mut bytes).is_err() {
                    return fail(error::FLASH_READ);
                }
                let hex: String = Md5::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                one(Response {
                    payload: hex.into_bytes(),
                    ..Response::ok(op::SPI_FLASH_MD5, v)
                })
            }
            op::READ_FLASH_SLOW => {
                let (Some(addr), Some(len)) = (req.word(0), req.word(1)) else {
                    return fail(error::INVALID_MESSAGE);
                };
                if len as usize > SLOW_READ_BLOCK {
                    return fail(0x0A);
                }
                let mut block = vec![0xFF; SLOW_READ_BLOCK];
                let n = (flash.size().saturating_sub(addr) as usize).min(SLOW_READ_BLOCK);
                if !self.in_bounds(addr, len, flash) || flash.read(addr, &mut block[..n]).is_err() {
                    return fail(error::FLASH_READ);
                }
                one(Response {
                    payload: block,
                    ..Response::ok(op::READ_FLASH_SLOW, v)
                })
            }
            op::MEM_BEGIN => {
                if req.data.len() != 16 {
                    return fail(error::INVALID_MESSAGE);
                }
                self.mem_open = true;
                one(Response::ok(op::MEM_BEGIN, v))
            }
            op::MEM_DATA => match data_block(req) {
                Err(e) => fail(e),
                Ok(_) if !self.mem_open => fail(error::INVALID_PARAMETER),
                // The bytes would go to RAM; nothing here can run them, so they are not kept.
                Ok(_) => one(Response::ok(op::MEM_DATA, v)),
            },
            op::MEM_END => {
                let (Some(flag), Some(entry)) = (req.word(0), req.word(1)) else {
                    return fail(error::INVALID_MESSAGE);
                };
                self.mem_open = false;
                let exit = if flag == 0 {
                    Exit::RunRam { entry }
                } else {
                    Exit::Stay
                };
                (vec![Response::ok(op::MEM_END, v)], exit)
            }
            // GET_SECURITY_INFO (0x14) is not in the ESP32 ROM, nor are the stub's 0xD0–0xD4:
            // answered once, same opcode, "invalid message" (what esptool falls back on).
            _ => fail(error::INVALID_MESSAGE),
        }
    }

    /// Whether `addr..addr+len` is inside the chip and the size SPI_SET_PARAMS declared.
    fn in_bounds(&self, addr: u32, len: u32, flash: &FlashFile) -> bool {
        let limit = self
            .declared_size
            .map_or(flash.size(), |d| d.min(flash.size()));
        u64::from(addr) + u64::from(len) <= u64::from(limit)
    }

    /// FLASH_BEGIN / FLASH_DEFL_BEGIN: erase the sectors the write will cover, then take data.
    /// The ESP32 ROM erases `size` bytes from `offset` as given (no ESP8266 erase-size quirk);
    /// erasing whole sectors around them is inferred from how NOR flash works.
    fn begin(&mut self, req: &Request, flash: &mut FlashFile) -> (Vec<Response>, Exit) {
        let v = self.last_value;
        let (Some(size), Some(_blocks), Some(block_size), Some(offset)) =
            (req.word(0), req.word(1), req.word(2), req.word(3))
        else {
            return (
                vec![Response::fail(req.op, v, error::INVALID_MESSAGE)],
                Exit::Stay,
            );
        };
        if !self.in_bounds(offset, size, flash) || block_size == 0 {
            return (
                vec![Response::fail(req.op, v, error::INVALID_PARAMETER)],
                Exit::Stay,
            );
        }
        if size > 0 {
            let from = offset / SECTOR_SIZE * SECTOR_SIZE;
            let to = (u64::from(offset) + u64::from(size)).div_ceil(u64::from(SECTOR_SIZE))
                * u64::from(SECTOR_SIZE);
            let to = u32::try_from(to).unwrap_or(u32::MAX).min(flash.size());
            if flash.erase(from, to).is_err() {
                return (
                    vec![Response::fail(req.op, v, error::FLASH_WRITE)],
                    Exit::Stay,
                );
            }
        }
        if req.op == op::FLASH_BEGIN {
            self.deflate = None;
            self.plain = Some(PlainWrite { offset, block_size });
        } else {
            self.plain = None;
            self.deflate = Some(DeflateWrite {
                offset,
                written: 0,
                next_seq: 0,
                inflater: Decompress::new(true),
            });
        }
        (vec![Response::ok(req.op, v)], Exit::Stay)
    }

    fn plain_data(&mut self, req: &Request, flash: &mut FlashFile) -> (Vec<Response>, Exit) {
        let v = self.last_value;
        let result = data_block(req).and_then(|(seq, payload)| {
            let w = self.plain.ok_or(error::INVALID_PARAMETER)?;
            let at = u64::from(w.offset) + u64::from(seq) * u64::from(w.block_size);
            let at = u32::try_from(at).map_err(|_| error::FLASH_WRITE)?;
            let len = u32::try_from(payload.len()).map_err(|_| error::FLASH_WRITE)?;
            if !self.in_bounds(at, len, flash) {
                return Err(error::FLASH_WRITE);
            }
            flash.write(at, payload).map_err(|_| error::FLASH_WRITE)?;
            self.bytes_written += u64::from(len);
            Ok(())
        });
        (vec![reply(req.op, v, result)], Exit::Stay)
    }

    fn deflate_data(&mut self, req: &Request, flash: &mut FlashFile) -> (Vec<Response>, Exit) {
        let v = self.last_value;
        let result = data_block(req).and_then(|(seq, payload)| {
            let declared = self.declared_size;
            let w = self.deflate.as_mut().ok_or(error::INVALID_PARAMETER)?;
            if seq < w.next_seq {
                // A block esptool sent again because our reply was lost: already inflated.
                return Ok(());
            }
            if seq != w.next_seq {
                return Err(error::INVALID_PARAMETER);
            }
            let inflated = inflate(&mut w.inflater, payload)?;
            let at = u64::from(w.offset) + u64::from(w.written);
            let limit = declared.map_or(flash.size(), |d| d.min(flash.size()));
            if at + inflated.len() as u64 > u64::from(limit) {
                return Err(error::FLASH_WRITE);
            }
            flash
                .write(at as u32, &inflated)
                .map_err(|_| error::FLASH_WRITE)?;
            w.written += inflated.len() as u32;
            w.next_seq += 1;
            self.bytes_written += inflated.len() as u64;
            Ok(())
        });
        (vec![reply(req.op, v, result)], Exit::Stay)
    }
}

fn reply(op: u8, value: u32, result: Result<(), u8>) -> Response {
    match result {
        Ok(()) => Response::ok(op, value),
        Err(e) => Response::fail(op, value, e),
    }
}

/// A `_DATA` request's sequence number and payload, with its length and checksum checked.
fn data_block(req: &Request) -> Result<(u32, &[u8]), u8> {
    let (Some(len), Some(seq)) = (req.word(0), req.word(1)) else {
        return Err(error::INVALID_MESSAGE);
    };
    let payload = req.data.get(16..).ok_or(error::INVALID_MESSAGE)?;
    if len as usize != payload.len() {
        return Err(error::INVALID_MESSAGE);
    }
    if u32::from(checksum(payload)) != req.checksum {
        return Err(error::CHECKSUM);
    }
    Ok((seq, payload))
}

/// Inflates one chunk of the zlib stream; a corrupt stream is the ROM's "deflate failed" and a
/// bad Adler-32 at its end "deflate Adler32 error".
fn inflate(inflater: &mut Decompress, mut input: &[u8]) -> Result<Vec<u8>, u8> {
    let mut out = Vec::with_capacity(input.len() * 4);
    let mut buf = vec![0u8; 0x4000];
    loop {
        let before_in = inflater.total_in();
        let before_out = inflater.total_out();
        let status = inflater
            .decompress(input, &mut buf, FlushDecompress::None)
            .map_err(|e| {
                if e.to_string().contains("check") {
                    error::DEFLATE_ADLER
                } else {
                    error::DEFLATE
                }
            })?;
        let used = (inflater.total_in() - before_in) as usize;
        let made = (inflater.total_out() - before_out) as usize;
        out.extend_from_slice(&buf[..made]);
        input = &input[used..];
        match status {
            Status::StreamEnd => return Ok(out),
            _ if input.is_empty() && made < buf.len() => return Ok(out),
            _ if used == 0 && made == 0 => return Ok(out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::board::Board;

    fn loader() -> Loader {
        let board = Board::builtin("lopy4").unwrap();
        Loader::new(Identity::for_board(&board), 0x03)
    }

    fn request(op: u8, words: &[u32], payload: &[u8]) -> Request {
        let mut data: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        data.extend_from_slice(payload);
        Request {
            op,
            checksum: if payload.is_empty() {
                0
            } else {
                u32::from(checksum(payload))
            },
            data,
        }
    }

    fn status(r: &[Response]) -> (u8, u8) {
        (r[0].status, r[0].error)
    }

    #[test]
    fn sync_gets_eight_replies_and_a_bad_pattern_one_error() {
        let mut l = loader();
        let mut flash = FlashFile::erased(0x80_0000);
        let mut data = vec![0x07, 0x07, 0x12, 0x20];
        data.extend([0x55; 32]);
        let req = Request {
            op: op::SYNC,
            checksum: 0,
            data: data.clone(),
        };
        let (r, _) = l.handle(&req, &mut flash);
        assert_eq!(r.len(), 8);
        assert!(r.iter().all(|r| r.value != 0 && r.status == 0));
        data[5] = 0;
        let (r, _) = l.handle(&Request { data, ..req }, &mut flash);
        assert_eq!((r.len(), status(&r)), (1, (1, 5)));
    }

    #[test]
    fn a_plain_write_erases_checks_each_block_and_md5_matches() {
        let mut l = loader();
        let mut flash = FlashFile::erased(0x80_0000);
        flash.write(0x10000, &[0; 0x2000]).unwrap();
        let image: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let (r, _) = l.handle(
            &request(op::FLASH_BEGIN, &[5000, 5, 0x400, 0x10000], &[]),
            &mut flash,
        );
        assert_eq!(status(&r), (0, 0));
        for (seq, chunk) in image.chunks(0x400).enumerate() {
            let mut block = chunk.to_vec();
            block.resize(0x400, 0xFF);
            let mut bad = request(op::FLASH_DATA, &[0x400, seq as u32, 0, 0], &block);
            bad.checksum ^= 1;
            assert_eq!(status(&l.handle(&bad, &mut flash).0), (1, error::CHECKSUM));
            let good = request(op::FLASH_DATA, &[0x400, seq as u32, 0, 0], &block);
            assert_eq!(status(&l.handle(&good, &mut flash).0), (0, 0));
            // esptool retries a block; writing it again is harmless.
            assert_eq!(status(&l.handle(&good, &mut flash).0), (0, 0));
        }
        let mut got = vec![0; 5000];
        flash.read(0x10000, &mut got).unwrap();
        assert_eq!(got, image);
        let (r, _) = l.handle(
            &request(op::SPI_FLASH_MD5, &[0x10000, 5000, 0, 0], &[]),
            &mut flash,
        );
        let want: String = Md5::digest(&image)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(r[0].payload, want.into_bytes());
        // Past the chip: refused, nothing erased.
        let (r, _) = l.handle(
            &request(op::FLASH_BEGIN, &[0x2000, 8, 0x400, 0x7FF000], &[]),
            &mut flash,
        );
        assert_eq!(status(&r), (1, error::INVALID_PARAMETER));
    }

    #[test]
    fn a_compressed_write_inflates_in_order_and_rejects_a_corrupt_stream() {
        let mut l = loader();
        let mut flash = FlashFile::erased(0x80_0000);
        let image: Vec<u8> = (0..20000u32).map(|i| (i % 251) as u8).collect();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&image).unwrap();
        let packed = z.finish().unwrap();
        let blocks: Vec<&[u8]> = packed.chunks(0x400).collect();
        let size = image.len().div_ceil(0x400) as u32 * 0x400;
        let (r, _) = l.handle(
            &request(
                op::FLASH_DEFL_BEGIN,
                &[size, blocks.len() as u32, 0x400, 0x20000],
                &[],
            ),
            &mut flash,
        );
        assert_eq!(status(&r), (0, 0));
        for (seq, b) in blocks.iter().enumerate() {
            let req = request(op::FLASH_DEFL_DATA, &[b.len() as u32, seq as u32, 0, 0], b);
            assert_eq!(status(&l.handle(&req, &mut flash).0), (0, 0));
            // A repeat of an applied block is acknowledged, not inflated twice.
            assert_eq!(status(&l.handle(&req, &mut flash).0), (0, 0));
        }
        let mut got = vec![0; image.len()];
        flash.read(0x20000, &mut got).unwrap();
        assert_eq!(got, image);

        l.handle(
            &request(op::FLASH_DEFL_BEGIN, &[0x1000, 1, 0x400, 0x30000], &[]),
            &mut flash,
        );
        let garbage = [0x78, 0xDA, 0xFF, 0xFF, 0xFF, 0xFF, 0x12];
        let req = request(op::FLASH_DEFL_DATA, &[7, 0, 0, 0], &garbage);
        assert_eq!(status(&l.handle(&req, &mut flash).0), (1, error::DEFLATE));
    }

    #[test]
    fn unknown_and_malformed_commands_get_invalid_message_once() {
        let mut l = loader();
        let mut flash = FlashFile::erased(0x40_0000);
        for opcode in [0x14, 0xD0, 0xD1, 0x99] {
            let (r, exit) = l.handle(&request(opcode, &[], &[]), &mut flash);
            assert_eq!(
                (r.len(), r[0].op, status(&r), exit),
                (1, opcode, (1, 5), Exit::Stay)
            );
        }
        let (r, _) = l.handle(&request(op::READ_REG, &[], &[1, 2]), &mut flash);
        assert_eq!(status(&r), (1, 5));
        let (r, _) = l.handle(
            &request(op::FLASH_DATA, &[4, 0, 0, 0], &[1, 2, 3, 4]),
            &mut flash,
        );
        assert_eq!(status(&r), (1, error::INVALID_PARAMETER), "no FLASH_BEGIN");
        let (r, _) = l.handle(&request(op::READ_FLASH_SLOW, &[0, 65], &[]), &mut flash);
        assert_eq!(status(&r), (1, 0x0A));
    }

    /// Whatever arrives, the loader answers or ignores it: random frames (valid headers with
    /// random opcodes and data included) never panic and never leave the loader stuck.
    #[test]
    fn random_frames_never_panic() {
        let mut l = loader();
        let mut flash = FlashFile::erased(0x40_0000);
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if frame.len() >= 8 && next() % 2 == 0 {
                frame[0] = 0;
                frame[1] = [
                    2, 3, 4, 5, 6, 7, 8, 9, 0x0A, 0x0B, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x13,
                ][(next() % 16) as usize];
                let n = (frame.len() - 8) as u16;
                frame[2..4].copy_from_slice(&n.to_le_bytes());
            }
            if let Ok(req) = crate::rom_loader::protocol::Request::parse(&frame) {
                let (replies, _) = l.handle(&req, &mut flash);
                assert!(!replies.is_empty(), "every request is answered");
            }
        }
    }

    #[test]
    fn read_reg_leaves_its_value_in_later_replies_and_flash_end_leaves() {
        let mut l = loader();
        let mut flash = FlashFile::erased(0x40_0000);
        let (r, _) = l.handle(&request(op::READ_REG, &[0x4000_1000], &[]), &mut flash);
        assert_eq!(r[0].value, 0x00F0_1D83);
        let (r, _) = l.handle(&request(op::SPI_ATTACH, &[0, 0], &[]), &mut flash);
        assert_eq!(r[0].value, 0x00F0_1D83);
        let (_, exit) = l.handle(&request(op::FLASH_END, &[1], &[]), &mut flash);
        assert_eq!(exit, Exit::RunUserCode);
        let (_, exit) = l.handle(&request(op::FLASH_END, &[0], &[]), &mut flash);
        assert_eq!(exit, Exit::Reboot);
        let (_, exit) = l.handle(&request(op::MEM_END, &[0, 0x4009_0000], &[]), &mut flash);
        assert_eq!(exit, Exit::RunRam { entry: 0x4009_0000 });
    }
}

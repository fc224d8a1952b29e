//! The fuzz entry points, one per parser, shared by the cargo-fuzz targets (`fuzz_targets/*.rs`)
//! and the stable replay test (`tests/fuzz_corpus.rs` includes this file with `#[path]`), so a
//! corpus file means the same thing to both.
//!
//! Each entry point feeds arbitrary bytes to a parser through its public API and returns a
//! [`Verdict`]: the input was accepted, or rejected with the parser's own error type (its text
//! kept). Beyond "no panic", each checks a property a user relies on — a record that decodes
//! encodes back to the same bytes, a table that parses survives a round trip, input split across
//! reads means what it means in one read, a device that took garbage still answers — and panics
//! when that property breaks, which is how libFuzzer and the replay test see a finding.
//!
//! Only `pycom_sim`'s and `pycom_boot`'s public API is used, and nothing here needs nightly.

use std::cell::RefCell;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use pycom_boot::boot_info::{BootInfo, RECORD_LEN};
use pycom_sim::board::{Board, BoardError, Region};
use pycom_sim::clock::TimeMode;
use pycom_sim::device::{DeviceConfig, DeviceHandle, FlashSource, ReplProfile};
use pycom_sim::event::{Event, EventKind};
use pycom_sim::flash::FlashFile;
use pycom_sim::fs::{self, FsError};
use pycom_sim::image::{self, ImageError};
use pycom_sim::partition::{PartitionError, PartitionTable};
use pycom_sim::scenario::file as scenario_file;
use pycom_sim::transport::{rfc2217, telnet};

/// What a parser made of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Parsed (and every property held).
    Accepted,
    /// Refused with the parser's documented error; its message, which must say something.
    Rejected(String),
}

impl Verdict {
    /// A rejection by the parser's own error type. An empty message would tell the user nothing,
    /// so it counts as a finding.
    fn rejected(err: impl std::fmt::Display) -> Verdict {
        let message = err.to_string();
        assert!(!message.trim().is_empty(), "an error with no message");
        Verdict::Rejected(message)
    }
}

/// A fuzz entry point.
pub type Target = fn(&[u8]) -> Verdict;

/// Every target by name: the directory names under `fuzz/corpus/` and `fuzz/regressions/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("boot_info", boot_info),
    ("image", image),
    ("partition_table", partition_table),
    ("board_toml", board_toml),
    ("scenario_toml", scenario_toml),
    ("telnet", telnet),
    ("rfc2217", rfc2217),
    ("fat", fat),
    ("littlefs", littlefs),
    ("rom_slip", rom_slip),
    ("ftp_command", ftp_command),
    ("repl", repl),
];

/// `boot_info_t` (otadata) as the bootloader reads it from flash: 40 bytes, any content.
///
/// Properties: decoding never fails and encodes back to the same bytes; `is_valid` is exactly
/// "status is not erased and the CRC matches"; every record the updaters write is valid.
pub fn boot_info(data: &[u8]) -> Verdict {
    let mut raw = [0xFFu8; RECORD_LEN];
    for (dst, src) in raw.iter_mut().zip(data) {
        *dst = *src;
    }
    let record = BootInfo::decode(&raw);
    assert_eq!(record.encode(), raw, "decode/encode is not the identity");
    assert_eq!(
        record.is_valid(),
        record.status != u32::MAX && record.crc == record.computed_crc(),
        "is_valid disagrees with the firmware's rule for {record:?}"
    );
    let size = data
        .get(RECORD_LEN..RECORD_LEN + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes);
    use pycom_boot::updates;
    for (what, next) in [
        ("after_ota_finish", updates::after_ota_finish(&record, size)),
        (
            "request_software_safe_boot",
            updates::request_software_safe_boot(&record),
        ),
        ("clear_safe_boot", updates::clear_safe_boot(&record)),
    ] {
        // The app only ever updates a record the bootloader accepted (it re-initialises any
        // other at boot), so only those must come out valid.
        assert!(
            next.is_valid() || !record.is_valid(),
            "{what} wrote an invalid record {next:?} from {record:?}"
        );
        assert_eq!(BootInfo::decode(&next.encode()), next, "{what}");
    }
    if record.is_valid() {
        Verdict::Accepted
    } else {
        Verdict::Rejected("invalid record (the bootloader re-initialises it)".into())
    }
}

/// Fixes the checksum byte and the appended SHA-256 that `parse_image` reports as wrong, so the
/// fuzzer's changes to the payload reach the payload decoder instead of stopping at the hash.
/// Uses only what the errors say (offset and computed value).
fn seal(bytes: &mut [u8]) {
    for _ in 0..2 {
        match image::parse_image(bytes) {
            Err(ImageError::ChecksumMismatch {
                offset, computed, ..
            }) => {
                if let Some(b) = bytes.get_mut(offset) {
                    *b = computed;
                }
            }
            Err(ImageError::HashMismatch {
                offset, computed, ..
            }) => {
                let hash: Vec<u8> = (0..computed.len() / 2)
                    .filter_map(|i| u8::from_str_radix(computed.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect();
                if let Some(dst) = bytes.get_mut(offset..offset + hash.len()) {
                    dst.copy_from_slice(&hash);
                }
            }
            _ => return,
        }
    }
}

/// A firmware image in an app slot (OTA, `fs cp` of an update, a damaged flash).
///
/// The first input byte chooses whether the image is taken as it is (header, segment and hash
/// checks) or sealed first (the payload decoder). Properties: `verify_image` agrees with
/// `parse_image`; an image that parses describes a spec that builds into an image that parses
/// back to the same spec.
pub fn image(data: &[u8]) -> Verdict {
    let Some((&mode, rest)) = data.split_first() else {
        return Verdict::rejected(image::parse_image(data).expect_err("empty image parsed"));
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        seal(&mut bytes);
    }
    let parsed = image::parse_image(&bytes);
    assert_eq!(image::verify_image(&bytes), parsed.is_ok());
    match parsed {
        Ok(img) => {
            assert!(img.size <= bytes.len(), "image size past the data");
            let rebuilt = image::build_image(&img.spec);
            match image::parse_image(&rebuilt) {
                Ok(again) => assert_eq!(
                    again.spec, img.spec,
                    "a parsed spec does not survive build + parse"
                ),
                Err(e) => panic!("the image built from a parsed spec does not parse: {e}"),
            }
            let _ = img.banner("LoPy4");
            Verdict::Accepted
        }
        Err(e) => Verdict::rejected(e),
    }
}

/// The partition table at 0x8000, as the bootloader and `FlashFile` read it.
///
/// Property: a table that decodes and encodes decodes again to the same table.
pub fn partition_table(data: &[u8]) -> Verdict {
    match PartitionTable::decode(data, 0x8000) {
        Ok(table) => {
            let _ = table.factory();
            let _ = table.boot_entries().count();
            match table.encode() {
                Ok(bytes) => {
                    let again = PartitionTable::decode(&bytes, 0x8000)
                        .unwrap_or_else(|e| panic!("an encoded table does not decode: {e}"));
                    assert_eq!(
                        again, table,
                        "a decoded table does not survive a round trip"
                    );
                }
                Err(e @ PartitionError::TooMany { .. }) => {
                    let _ = e.to_string();
                }
                Err(e) => {
                    let _ = Verdict::rejected(e);
                }
            }
            Verdict::Accepted
        }
        Err(e) => Verdict::rejected(e),
    }
}

/// A `--board-file` (board TOML).
///
/// Property: a board that validates has a partition table the flash can be built with, and a
/// fresh in-memory flash for it can be provisioned (what `pycom-sim run --board-file` does).
pub fn board_toml(data: &[u8]) -> Verdict {
    let Ok(text) = std::str::from_utf8(data) else {
        return Verdict::Rejected("not UTF-8 (a board file is read as text)".into());
    };
    match Board::parse("fuzz", "fuzz.toml", text) {
        Ok(board) => {
            let table = PartitionTable::from_board(&board)
                .unwrap_or_else(|e| panic!("a valid board has a bad partition table: {e}"));
            table
                .encode()
                .unwrap_or_else(|e| panic!("a valid board's table does not encode: {e}"));
            for pin in &board.pins {
                assert!(board.pin(&pin.name).is_some(), "pin {} not found", pin.name);
            }
            let flash = FlashFile::in_memory(&board, &image::default_image());
            if let Err(e) = flash {
                panic!("a valid board cannot be provisioned: {e}");
            }
            Verdict::Accepted
        }
        Err(e) => {
            let e: BoardError = e;
            Verdict::rejected(e)
        }
    }
}

/// A scenario file, and the key syntax of its `write` steps.
pub fn scenario_toml(data: &[u8]) -> Verdict {
    let Ok(text) = std::str::from_utf8(data) else {
        return Verdict::Rejected("not UTF-8 (a scenario file is read as text)".into());
    };
    let _ = scenario_file::keys(text);
    match scenario_file::parse(Path::new("fuzz.toml"), text) {
        Ok(_) => Verdict::Accepted,
        Err(e) => {
            assert!(
                e.line <= text.lines().count() + 1,
                "error line {} past the end of the text",
                e.line
            );
            Verdict::rejected(e)
        }
    }
}

/// Splits `data` at a point chosen by its first byte: (split, first part, second part).
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&at, rest)) = data.split_first() else {
        return (&[], &[]);
    };
    let at = usize::from(at).min(rest.len());
    rest.split_at(at)
}

/// A telnet client's bytes: the IAC filter, and the login dialogue.
///
/// Properties: the filter gives the same data however the bytes are split between reads;
/// escaped device output comes back unchanged through it; a login succeeds only for the right
/// user and password, which must then appear in what the client sent.
pub fn telnet(data: &[u8]) -> Verdict {
    let (a, b) = split(data);
    let whole: Vec<u8> = [a, b].concat();
    let mut one = Vec::new();
    telnet::IacFilter::default().feed(&whole, &mut one);
    let mut two = Vec::new();
    let mut filter = telnet::IacFilter::default();
    filter.feed(a, &mut two);
    filter.feed(b, &mut two);
    assert_eq!(one, two, "the IAC filter depends on how reads split");
    let mut back = Vec::new();
    telnet::IacFilter::default().feed(&telnet::escape_output(&whole), &mut back);
    assert_eq!(back, whole, "escaped output does not survive the filter");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let login = telnet::Login::default();
    let outcome = runtime.block_on(async {
        let mut stream = tokio::io::join(whole.as_slice(), tokio::io::sink());
        let mut filter = telnet::IacFilter::default();
        telnet::login(&mut stream, &login, "Pycom telnet (fuzz)", &mut filter).await
    });
    match outcome {
        telnet::LoginOutcome::LoggedIn(rest) => {
            // Backspace edits a field, so what was typed holds the user name and then the
            // password as a subsequence, whatever else it holds.
            let wanted = format!("{}{}", login.user, login.password);
            let mut typed = one.iter();
            assert!(
                wanted.bytes().all(|w| typed.any(|&b| b == w)),
                "logged in without the user and password in {:?}",
                String::from_utf8_lossy(&one)
            );
            assert!(rest.len() <= one.len());
            Verdict::Accepted
        }
        telnet::LoginOutcome::Refused => Verdict::Rejected("login refused".into()),
    }
}

/// An RFC 2217 client's bytes (esptool's `rfc2217://`).
///
/// Properties: the parser gives the same data, negotiations and subnegotiations however the
/// bytes are split between reads; every answer it would send is well framed telnet.
pub fn rfc2217(data: &[u8]) -> Verdict {
    use rfc2217::Incoming;
    let (a, b) = split(data);
    let whole: Vec<u8> = [a, b].concat();
    // Adjacent data chunks are one stream: merge them before comparing.
    let merge = |items: Vec<Incoming>| {
        let mut out: Vec<Incoming> = Vec::new();
        for item in items {
            match (out.last_mut(), item) {
                (Some(Incoming::Data(prev)), Incoming::Data(more)) => prev.extend(more),
                (_, item) => out.push(item),
            }
        }
        out
    };
    let one = merge(rfc2217::Parser::default().feed(&whole));
    let mut parser = rfc2217::Parser::default();
    let mut two = parser.feed(a);
    two.extend(parser.feed(b));
    let two = merge(two);
    assert_eq!(one, two, "the RFC 2217 parser depends on how reads split");
    let mut lines = rfc2217::AutoReset::default();
    for item in &one {
        match item {
            Incoming::Negotiate { command, option } => {
                if let Some(answer) = rfc2217::answer_negotiation(*command, *option) {
                    assert_eq!(answer[0], 0xFF, "an answer that is not a command");
                }
            }
            Incoming::Sub(body) => {
                if let Some(answer) = rfc2217::answer_sub(body) {
                    assert!(
                        answer.starts_with(&[0xFF, 0xFA]) && answer.ends_with(&[0xFF, 0xF0]),
                        "a subnegotiation answer that is not framed: {answer:?}"
                    );
                    // What the server sends must parse as one subnegotiation on the client.
                    let parsed = rfc2217::Parser::default().feed(&answer);
                    assert!(
                        matches!(parsed.as_slice(), [Incoming::Sub(_)]),
                        "an answer that does not parse back: {parsed:?}"
                    );
                }
                if let Some((line, asserted)) = rfc2217::modem_line(body) {
                    lines.set(line, asserted);
                    assert!(!(lines.en_low() && lines.io0_low()));
                }
            }
            Incoming::Data(_) => {}
        }
    }
    Verdict::Accepted
}

/// The helpers of one filesystem, so the FAT and LittleFS targets share their walk.
struct FsOps {
    is_formatted: fn(&mut FlashFile, Region) -> Result<bool, FsError>,
    list_dir: fn(&mut FlashFile, Region, &str) -> Result<Vec<fs::Entry>, FsError>,
    stat: fn(&mut FlashFile, Region, &str) -> Result<Option<fs::Entry>, FsError>,
    read_file: fn(&mut FlashFile, Region, &str) -> Result<Vec<u8>, FsError>,
    write_file: fn(&mut FlashFile, Region, &str, &[u8]) -> Result<(), FsError>,
    stats: fn(&mut FlashFile, Region) -> Result<fs::Stats, FsError>,
}

/// An erased chip holding `data` at the start of `region`.
fn flash_with(data: &[u8], region: Region) -> FlashFile {
    let mut flash = FlashFile::erased(region.offset + region.size);
    let take = data.len().min(region.size as usize);
    if let Err(e) = flash.write(region.offset, &data[..take]) {
        panic!("writing the image into erased flash failed: {e}");
    }
    flash
}

/// Walks the volume in `region`: mount, list every directory (bounded: a corrupt one may loop
/// or hold thousands of names), stat and read every file, then write a file and read it back.
fn walk_volume(mut flash: FlashFile, region: Region, ops: &FsOps) -> Verdict {
    match (ops.is_formatted)(&mut flash, region) {
        Ok(false) => return Verdict::Rejected("no filesystem".into()),
        Ok(true) => {}
        Err(e) => return Verdict::rejected(e),
    }
    let mut seen = 0usize;
    let mut dirs = vec!["/".to_string()];
    while let Some(dir) = dirs.pop() {
        let entries = match (ops.list_dir)(&mut flash, region, &dir) {
            Ok(entries) => entries,
            Err(e) => return Verdict::rejected(e),
        };
        for entry in entries {
            seen += 1;
            if seen > 64 {
                break;
            }
            let path = if dir == "/" {
                format!("/{}", entry.name)
            } else {
                format!("{dir}/{}", entry.name)
            };
            let _ = (ops.stat)(&mut flash, region, &path);
            if entry.is_dir {
                if dirs.len() < 8 {
                    dirs.push(path);
                }
            } else if let Ok(bytes) = (ops.read_file)(&mut flash, region, &path) {
                // Small files only: a corrupt size must not read far past what a listing said.
                assert!(
                    entry.size > 1 << 24 || bytes.len() as u64 <= entry.size.max(1 << 20),
                    "{path}: read {} bytes of a {}-byte file",
                    bytes.len(),
                    entry.size
                );
            }
        }
    }
    let _ = (ops.stats)(&mut flash, region);
    let payload = b"print('written by the fuzzer')\n";
    if (ops.write_file)(&mut flash, region, "/fuzz.py", payload).is_ok()
        && let Ok(back) = (ops.read_file)(&mut flash, region, "/fuzz.py")
    {
        assert_eq!(back, payload, "a file written does not read back the same");
    }
    Verdict::Accepted
}

/// The `/flash` FAT volume as a flash file holds it: the input is the first bytes of a 4 MiB fs
/// region (a LoPy4's; the rest erased). A fresh volume's metadata and default files fit in its
/// first 36 KiB, so short inputs reach every structure.
///
/// Properties: mounting, listing, reading and stat never panic, whatever the boot sector, FAT
/// and directories say; a file written to a volume that took the write reads back the same.
pub fn fat(data: &[u8]) -> Verdict {
    let region = Region {
        offset: 0,
        size: 0x40_0000,
    };
    walk_volume(
        flash_with(data, region),
        region,
        &FsOps {
            is_formatted: fs::fat::is_formatted,
            list_dir: fs::fat::list_dir,
            stat: fs::fat::stat,
            read_file: fs::fat::read_file,
            write_file: fs::fat::write_file,
            stats: fs::fat::stats,
        },
    )
}

/// `/flash` as LittleFS (the C littlefs through littlefs2), on a LoPy's 127-block region.
///
/// With the first byte even, the rest is the region's first bytes (the rest erased). With it
/// odd, the harness formats the region and adds the firmware's default files, as a first boot
/// does, then flips bits in its first 64 KiB as the rest says (`offset u16 LE, xor mask`
/// triples), so the fuzzer starts from a real volume with valid CRCs and damages it. Same walk
/// and properties as [`fat`].
pub fn littlefs(data: &[u8]) -> Verdict {
    let region = Region {
        offset: 0,
        size: 127 * 4096,
    };
    let Some((&mode, rest)) = data.split_first() else {
        return Verdict::Rejected("empty".into());
    };
    let flash = if mode & 1 == 1 {
        let mut flash = FlashFile::erased(region.size);
        fs::littlefs::format(&mut flash, region).expect("format a fresh LittleFS");
        fs::littlefs::ensure_defaults(&mut flash, region).expect("the default files");
        let mut head = vec![0u8; 0x1_0000];
        flash.read(0, &mut head).expect("read the volume");
        for patch in rest.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([patch[0], patch[1]]));
            head[at] ^= patch[2];
        }
        flash
            .erase_and_write(0, &head)
            .expect("write the damaged volume");
        flash
    } else {
        flash_with(rest, region)
    };
    walk_volume(
        flash,
        region,
        &FsOps {
            is_formatted: fs::littlefs::is_formatted,
            list_dir: fs::littlefs::list_dir,
            stat: fs::littlefs::stat,
            read_file: fs::littlefs::read_file,
            write_file: fs::littlefs::write_file,
            stats: fs::littlefs::stats,
        },
    )
}

/// The ROM's serial loader in download mode (what esptool talks to): SLIP frames, requests,
/// and the loader's answers against a LoPy4's flash.
///
/// With the first byte even, the rest is the raw UART stream. With it odd, the rest is a list
/// of requests (`len, op, checksum[4], data[len-5]`) that the harness frames correctly (length
/// field, data checksum, SLIP escapes), so the fuzzer's changes reach the loader's commands
/// (flash writes, deflate, MD5, register reads) instead of stopping at the framing.
///
/// Properties: the decoder gives the same frames however the stream is split; a framed packet
/// decodes back to itself; every reply is a well-formed response packet that SLIP round-trips.
pub fn rom_slip(data: &[u8]) -> Verdict {
    use pycom_sim::rom_loader::chip::Identity;
    use pycom_sim::rom_loader::loader::{Exit, Loader};
    use pycom_sim::rom_loader::protocol::{self, Request};
    use pycom_sim::rom_loader::slip;

    let Some((&mode, rest)) = data.split_first() else {
        return Verdict::Rejected("empty".into());
    };
    let stream = if mode & 1 == 1 {
        let mut stream = Vec::new();
        let mut chunks = rest;
        while let Some((&len, tail)) = chunks.split_first() {
            let (chunk, next) = tail.split_at(usize::from(len).min(tail.len()));
            chunks = next;
            let Some((&op, body)) = chunk.split_first() else {
                continue;
            };
            let (sum, payload) = body.split_at(body.len().min(4));
            let mut checksum = [0u8; 4];
            checksum[..sum.len()].copy_from_slice(sum);
            // The _DATA commands carry a 16-byte header before their data.
            if let Some(block) = payload.get(16..) {
                checksum = u32::from(protocol::checksum(block)).to_le_bytes();
            }
            let mut frame = vec![0, op];
            let plen = u16::try_from(payload.len()).unwrap_or(u16::MAX);
            frame.extend_from_slice(&plen.to_le_bytes());
            frame.extend_from_slice(&checksum);
            frame.extend_from_slice(payload);
            let framed = slip::encode(&frame);
            assert_eq!(
                slip::decode(&framed),
                vec![Ok(frame.clone())],
                "a framed packet does not decode back to itself"
            );
            stream.extend_from_slice(&framed);
        }
        stream
    } else {
        rest.to_vec()
    };
    let frames = slip::decode(&stream);
    // The mode byte's other bits say where the UART read splits the stream.
    let (a, b) = stream.split_at(usize::from(mode >> 1).min(stream.len()));
    let mut decoder = slip::Decoder::default();
    let mut two = decoder.feed(a);
    two.extend(decoder.feed(b));
    assert_eq!(frames, two, "SLIP frames depend on how reads split");

    let board = Board::builtin("lopy4").expect("lopy4");
    let mut flash = FlashFile::erased(board.flash_size);
    let mut loader = Loader::new(Identity::for_board(&board), 0x13);
    let mut answered = 0;
    for frame in frames.into_iter().flatten() {
        let Ok(request) = Request::parse(&frame) else {
            continue;
        };
        let (replies, exit) = loader.handle(&request, &mut flash);
        for reply in &replies {
            let packet = reply.encode();
            assert_eq!(
                packet.first(),
                Some(&1),
                "a reply's direction byte is not 1"
            );
            assert_eq!(
                packet.get(1),
                Some(&request.op),
                "a reply to another opcode"
            );
            let len = usize::from(u16::from_le_bytes([packet[2], packet[3]]));
            assert_eq!(len + 8, packet.len(), "a reply's length field is wrong");
            assert_eq!(
                slip::decode(&slip::encode(&packet)),
                vec![Ok(packet.clone())]
            );
        }
        answered += replies.len();
        if exit != Exit::Stay {
            break;
        }
    }
    if answered > 0 {
        Verdict::Accepted
    } else {
        Verdict::Rejected("no request the loader answers".into())
    }
}

/// The FTP server's command lines (as the firmware splits and names them), its path
/// arithmetic, and its reply and listing lines. The input is a session: lines split at CR LF.
///
/// Properties: parsing never fails; the current directory stays absolute and free of `.`,
/// `..` and empty segments whatever CWD/CDUP say; a reply or a listing line is exactly one line
/// whatever name goes in; dates from any time are in range.
pub fn ftp_command(data: &[u8]) -> Verdict {
    use pycom_sim::transport::ftp::protocol::{self, Request};
    let mut cwd = "/".to_string();
    let mut known = 0;
    for line in data.split(|&b| b == b'\n') {
        let request = protocol::parse_command(line);
        let _ = request.allowed_before_login();
        let name = match &request {
            Request::Unknown(_) => None,
            Request::Cwd(p)
            | Request::Size(p)
            | Request::Mdtm(p)
            | Request::Retr(p)
            | Request::Stor(p)
            | Request::Dele(p)
            | Request::Rmd(p)
            | Request::Mkd(p)
            | Request::Rnfr(p)
            | Request::Rnto(p)
            | Request::User(p)
            | Request::Pass(p) => Some(p.clone()),
            _ => Some(String::new()),
        };
        let Some(name) = name else {
            continue;
        };
        known += 1;
        let target = protocol::child(&cwd, &name);
        assert!(
            target.starts_with('/')
                && (target == "/"
                    || target
                        .split('/')
                        .skip(1)
                        .all(|p| !p.is_empty() && p != "." && p != "..")),
            "child({cwd:?}, {name:?}) = {target:?}"
        );
        match request {
            Request::Cwd(_) => cwd = target.clone(),
            Request::Cdup => cwd = protocol::parent(&cwd),
            _ => {}
        }
        assert!(cwd.starts_with('/'), "cwd became {cwd:?}");
        for text in [
            protocol::reply(550, &name),
            protocol::list_line(false, name.len() as u64, 0, 0, &name).into_bytes(),
        ] {
            if name.contains(['\r', '\n']) {
                continue;
            }
            assert!(text.ends_with(b"\r\n"));
            assert_eq!(
                text.windows(2).filter(|w| w == b"\r\n").count(),
                1,
                "not one line: {:?}",
                String::from_utf8_lossy(&text)
            );
        }
        let secs = line.iter().fold(0u64, |acc, &b| {
            acc.wrapping_mul(257).wrapping_add(u64::from(b))
        });
        let (_, month, day, hour, minute, second) = protocol::civil(secs);
        assert!(
            (1..=12).contains(&month) && (1..=31).contains(&day),
            "{secs}"
        );
        assert!(hour < 24 && minute < 60 && second < 60, "{secs}");
        let _ = protocol::mdtm(secs);
        let _ = protocol::list_line(true, secs, secs, secs / 2, &name);
    }
    if known > 0 {
        Verdict::Accepted
    } else {
        Verdict::Rejected("no command the server knows".into())
    }
}

/// How long (wall time) the device may take over one input before the harness presses Ctrl-C,
/// then reset: generous, since an instrumented build is slow, and only a wedged device or an
/// endless loop in the input reaches it.
const REPL_PATIENCE: Duration = Duration::from_secs(10);

/// One LoPy4 in virtual time for every REPL input of this thread: booting costs far more than an
/// input, and the harness brings the device back to a fresh prompt between inputs.
struct ReplRig {
    handle: DeviceHandle,
    events: Receiver<Event>,
}

thread_local! {
    static REPL: RefCell<Option<ReplRig>> = const { RefCell::new(None) };
}

/// What the device did until it next waited at a prompt (Idle), or `None` if it did not
/// within `patience`.
fn settle(events: &Receiver<Event>, patience: Duration) -> Option<Vec<Event>> {
    let until = Instant::now() + patience;
    let mut seen = Vec::new();
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        match events.recv_timeout(left) {
            Ok(e) => {
                let idle = e.kind == EventKind::Idle;
                seen.push(e);
                if idle {
                    return Some(seen);
                }
            }
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => panic!("the device thread ended"),
        }
    }
}

/// A simulator panic shows as a `Fault` event (and the module's Guru Meditation text): a finding.
fn check_no_panic(events: &[Event], input: &[u8]) {
    for e in events {
        if let EventKind::Fault { message } = &e.kind {
            panic!("the device faulted on input {input:?}: {message}");
        }
    }
}

impl ReplRig {
    fn new() -> ReplRig {
        let handle = DeviceHandle::spawn(DeviceConfig {
            board: Board::builtin("lopy4").expect("lopy4"),
            flash: FlashSource::Fresh,
            reformat: false,
            time: TimeMode::Virtual,
            sd: None,
        })
        .expect("a device");
        let events = handle.subscribe();
        handle.power_on();
        settle(&events, REPL_PATIENCE * 3).expect("the device boots to its prompt");
        ReplRig { handle, events }
    }

    /// Whether `6*7` typed at the prompt prints 42 and a new prompt.
    fn computes(&self) -> bool {
        self.handle.write_uart(b"6*7\r");
        let Some(events) = settle(&self.events, REPL_PATIENCE) else {
            return false;
        };
        pycom_sim::event::uart_text(&events).contains("\r\n42\r\n>>> ")
    }

    /// Back to a friendly prompt in a fresh interpreter: Ctrl-C (stop code, leave paste mode),
    /// Ctrl-B (leave raw mode), Ctrl-D (soft reset, one interpreter built). If that does not
    /// bring the prompt back (a raw-paste block still open), the reset button must.
    fn normalise(&self, profile: ReplProfile) {
        self.handle.set_repl_profile(profile);
        self.handle.write_uart(b"\x03\x03\x02\x04");
        if let Some(events) = settle(&self.events, REPL_PATIENCE) {
            check_no_panic(&events, b"(soft reset)");
            return;
        }
        self.handle.press_reset();
        let events = settle(&self.events, REPL_PATIENCE * 3)
            .expect("the device does not come back to its prompt after the reset button");
        check_no_panic(&events, b"(reset button)");
    }
}

/// The REPL's byte stream on UART0, in every mode: friendly (line editing, history, completion,
/// auto-indent), paste (Ctrl-E), raw (Ctrl-A) and raw-paste (Ctrl-A then `\x05A\x01`, in the
/// micropython profile, chosen by the first byte's low bit; the pycom profile has none).
///
/// Properties: no input makes the simulator panic (which the device would show as a Guru
/// Meditation reboot); the device comes back to a prompt after the input (Ctrl-C, then the
/// reset button, if the input loops for ever); and afterwards it still computes: `6*7` gives 42.
pub fn repl(data: &[u8]) -> Verdict {
    let Some((&mode, input)) = data.split_first() else {
        return Verdict::Rejected("empty".into());
    };
    let profile = if mode & 1 == 1 {
        ReplProfile::Micropython
    } else {
        ReplProfile::Pycom
    };
    REPL.with(|cell| {
        let mut slot = cell.borrow_mut();
        let rig = slot.get_or_insert_with(ReplRig::new);
        rig.normalise(profile);
        while rig.events.try_recv().is_ok() {}
        rig.handle.write_uart(input);
        let events = match settle(&rig.events, REPL_PATIENCE) {
            Some(events) => events,
            None => {
                rig.handle.write_uart(b"\x03\x03");
                settle(&rig.events, REPL_PATIENCE).unwrap_or_default()
            }
        };
        check_no_panic(&events, input);
        rig.normalise(ReplProfile::Pycom);
        if rig.computes() {
            return Verdict::Accepted;
        }
        // An open raw-paste block takes the normalising keys as data and ends in the raw REPL,
        // which does not echo: that is the protocol, not a fault. The reset button must still
        // bring back a prompt that computes.
        rig.handle.press_reset();
        let events = settle(&rig.events, REPL_PATIENCE * 3)
            .expect("the device does not come back to its prompt after the reset button");
        check_no_panic(&events, b"(reset button)");
        assert!(
            rig.computes(),
            "after input {input:?} and the reset button the device no longer computes"
        );
        Verdict::Accepted
    })
}

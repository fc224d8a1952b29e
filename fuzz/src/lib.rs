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

/// The `/flash` FAT volume as a flash file holds it: the input is the first bytes of a 4 MiB fs
/// region (a LoPy4's; the rest erased). A fresh volume's metadata and default files fit in its
/// first 36 KiB, so short inputs reach every structure.
///
/// Properties: mounting, listing, reading and stat never panic, whatever the boot sector, FAT
/// and directories say; a file written to a volume that took the write reads back the same.
pub fn fat(data: &[u8]) -> Verdict {
    const REGION: Region = Region {
        offset: 0,
        size: 0x40_0000,
    };
    let mut flash = FlashFile::erased(REGION.offset + REGION.size);
    let take = data.len().min(REGION.size as usize);
    if let Err(e) = flash.write(REGION.offset, &data[..take]) {
        panic!("writing the image into erased flash failed: {e}");
    }
    match fs::is_formatted(&mut flash, REGION) {
        Ok(false) => return Verdict::Rejected("no FAT filesystem".into()),
        Ok(true) => {}
        Err(e) => return Verdict::rejected(e),
    }
    let mut seen = 0usize;
    let mut dirs = vec!["/".to_string()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::list_dir(&mut flash, REGION, &dir) {
            Ok(entries) => entries,
            Err(e) => return Verdict::rejected(e),
        };
        for entry in entries {
            seen += 1;
            // A corrupt directory can name itself (a loop) or hold thousands of entries.
            if seen > 64 {
                break;
            }
            let path = if dir == "/" {
                format!("/{}", entry.name)
            } else {
                format!("{dir}/{}", entry.name)
            };
            let _ = fs::stat(&mut flash, REGION, &path);
            if entry.is_dir {
                if dirs.len() < 8 {
                    dirs.push(path);
                }
            } else if let Err(e) = fs::read_file(&mut flash, REGION, &path) {
                let _: &FsError = &e;
            }
        }
    }
    let _ = fs::stats(&mut flash, REGION);
    let payload = b"print('written by the fuzzer')\n";
    if fs::write_file(&mut flash, REGION, "/fuzz.py", payload).is_ok()
        && let Ok(back) = fs::read_file(&mut flash, REGION, "/fuzz.py")
    {
        assert_eq!(back, payload, "a file written does not read back the same");
    }
    Verdict::Accepted
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

    /// Back to a friendly prompt in a fresh interpreter: Ctrl-C (stop code, leave paste mode),
    /// Ctrl-D (end a raw-paste or raw block), Ctrl-B (leave raw mode), Ctrl-D (soft reset). If
    /// that does not bring the prompt back, the reset button must.
    fn normalise(&self, profile: ReplProfile) {
        self.handle.set_repl_profile(profile);
        self.handle.write_uart(b"\x03\x03\x04\x02\x04");
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
        rig.handle.write_uart(b"6*7\r");
        let events = settle(&rig.events, REPL_PATIENCE).expect("the prompt after 6*7");
        let text: Vec<u8> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Uart { text } => Some(text.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect();
        let text = String::from_utf8_lossy(&text);
        assert!(
            text.contains("\r\n42\r\n>>> "),
            "after input {input:?} the device no longer computes: {text:?}"
        );
        Verdict::Accepted
    })
}

//! One boot core, two machines, one answer: the firmware crate's QEMU build (pycom-boot on an
//! emulated riscv32 CPU, `firmware/src/bin/qemu.rs`) and the simulator's device boot the same
//! LoPy4 flash image with the same P12 script, case by case, and must take the same decisions,
//! show the same LED timeline to the millisecond and leave the same otadata bytes.
//!
//! The simulator side is the real device through `DeviceHandle` (ROM, bootloader, MicroPython),
//! not the boot core with the simulator's ports: what is compared is what a user of pycom-sim
//! sees — its `boot` and `led` events, the UART text, the flash file — including the device's
//! own P12 wiring, reset handling and Ctrl-F path.
//!
//! These tests need `qemu-system-riscv32` and the firmware's builds; `scripts/firmware-check`
//! installs and builds them, then runs this file with `--ignored`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pycom_boot::BootInfo;
use pycom_boot::boot_info::{IMG_ACT_FACTORY, IMG_ACT_UPDATE1, IMG_STATUS_READY, RECORD_LEN};
use pycom_sim::board::Board;
use pycom_sim::clock::TimeMode;
use pycom_sim::device::{Action, DeviceConfig, DeviceHandle, FlashSource, collect_until};
use pycom_sim::event::{Event, EventKind};
use pycom_sim::flash::{FlashFile, OpenOptions};
use pycom_sim::gpio::Drive;
use pycom_sim::image::{ImageSpec, build_image, default_image, default_spec};

const NEEDS: &str = "needs qemu-system-riscv32 and the firmware builds: run scripts/firmware-check";

/// What the bootloader prints when a CHECK image fails (the ROM turns `\n` into `\r\n`).
const ROLLBACK: &str = "Cannot load Firmware img in the active partition! .. Defaulting back to previous partition\r\n";

fn lopy4() -> Board {
    Board::builtin("lopy4").expect("lopy4 board")
}

fn firmware_elf(name: &str) -> PathBuf {
    let dir = std::env::var_os("PYCOM_FIRMWARE_DIR").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("firmware/target/riscv32imc-unknown-none-elf/release")
        },
        PathBuf::from,
    );
    let elf = dir.join(name);
    assert!(elf.is_file(), "{} is missing: {NEEDS}", elf.display());
    elf
}

// ------------------------------------------------------------------------------------------------
// The cases

/// One boot: P12's edges (ms since the reset, held high or released) and whether Ctrl-F is
/// typed at the prompt afterwards (the app's software safe-boot request, then its reset).
struct BootSpec {
    p12: &'static [(u32, bool)],
    ctrl_f_after: bool,
    /// What both machines must decide: (slot, safe_boot); `None` for the random records, where
    /// agreeing is the whole claim.
    expect: Option<(&'static str, &'static str)>,
}

const NO_P12: &[(u32, bool)] = &[];
const HELD: &[(u32, bool)] = &[(0, true)];

const fn boot(p12: &'static [(u32, bool)], slot: &'static str, safe: &'static str) -> BootSpec {
    BootSpec {
        p12,
        ctrl_f_after: false,
        expect: Some((slot, safe)),
    }
}

/// The flash before the first boot.
#[derive(Clone, Copy, Debug)]
enum Setup {
    /// A new flash file: default image in the factory slot.
    Fresh,
    /// A good 1.20.2.r7 image in ota_0, trusted: ActiveImg ota_0, READY, PrevImg factory — so
    /// the current, previous and factory choices are three different answers.
    ReadyOta0,
    /// ReadyOta0 with the otadata sector erased (a power cut between erase and program).
    ErasedRecord,
    /// ReadyOta0 with one CRC byte flipped.
    CorruptRecord,
    /// `pycom.ota_finish()` of a good image: ota_0, CHECK.
    CheckGood,
    /// The same with one byte of the image flipped.
    CheckBad,
    /// CHECK, and ota_0 holds 64 KiB of noise.
    CheckGarbage,
    /// CHECK, and ota_0 starts with a sound header whose segments claim 4 GiB.
    CheckHugeSegment,
    /// ReadyOta0's image, and a record with random fields (ActiveImg, Status, PrevImg, safeboot
    /// drawn from the meaningful values and any u32), sealed so its CRC holds.
    RandomRecord(u32),
}

struct Case {
    name: String,
    setup: Setup,
    boots: Vec<BootSpec>,
}

const WINDOW_1: &[(u32, bool)] = &[(0, true), (1000, false)];
const WINDOW_2: &[(u32, bool)] = &[(0, true), (4000, false)];

/// A small deterministic generator (the same cases every run).
struct Lcg(u32);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.next() >> 16) as usize % from.len()]
    }
}

/// Records with random fields, two boots each with a P12 script drawn from none / window 1 /
/// window 2 / held.
fn random_cases(count: u32) -> Vec<Case> {
    (0..count)
        .map(|seed| {
            let mut rng = Lcg(seed.wrapping_mul(0x9E37_79B9));
            let mut spec = || BootSpec {
                p12: rng.pick(&[NO_P12, WINDOW_1, WINDOW_2, HELD]),
                ctrl_f_after: false,
                expect: None,
            };
            Case {
                name: format!("random record #{seed}"),
                setup: Setup::RandomRecord(seed),
                boots: vec![spec(), spec()],
            }
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let fixed = [
        Case {
            name: "normal boot".into(),
            setup: Setup::Fresh,
            boots: vec![boot(NO_P12, "factory", "none")],
        },
        Case {
            name: "P12 released within the 100 ms debounce".into(),
            setup: Setup::ReadyOta0,
            boots: vec![boot(&[(0, true), (50, false)], "ota_0", "none")],
        },
        Case {
            name: "P12 released in window 1".into(),
            setup: Setup::ReadyOta0,
            boots: vec![boot(&[(0, true), (1000, false)], "ota_0", "current")],
        },
        Case {
            name: "P12 released in window 2".into(),
            setup: Setup::ReadyOta0,
            boots: vec![boot(&[(0, true), (4000, false)], "factory", "previous")],
        },
        Case {
            name: "P12 held past window 2".into(),
            setup: Setup::ReadyOta0,
            boots: vec![boot(HELD, "factory", "factory")],
        },
        Case {
            name: "P12 bouncing: released at 700 ms, high again at 800 ms".into(),
            setup: Setup::ReadyOta0,
            boots: vec![boot(
                &[(0, true), (700, false), (800, true)],
                "factory",
                "factory",
            )],
        },
        Case {
            name: "erased record (P12 held is not looked at)".into(),
            setup: Setup::ErasedRecord,
            boots: vec![boot(HELD, "factory", "none")],
        },
        Case {
            name: "record with a bad CRC".into(),
            setup: Setup::CorruptRecord,
            boots: vec![boot(NO_P12, "factory", "none")],
        },
        Case {
            name: "CHECK with a good image".into(),
            setup: Setup::CheckGood,
            boots: vec![boot(NO_P12, "ota_0", "none"), boot(NO_P12, "ota_0", "none")],
        },
        Case {
            name: "CHECK with a bad image: rollback".into(),
            setup: Setup::CheckBad,
            boots: vec![boot(NO_P12, "factory", "none")],
        },
        Case {
            name: "CHECK with garbage in the slot: rollback".into(),
            setup: Setup::CheckGarbage,
            boots: vec![boot(NO_P12, "factory", "none")],
        },
        Case {
            name: "CHECK with a 4 GiB segment in the slot: rollback".into(),
            setup: Setup::CheckHugeSegment,
            boots: vec![boot(NO_P12, "factory", "none")],
        },
        Case {
            name: "safe-boot flag is a one-shot over three boots".into(),
            setup: Setup::ReadyOta0,
            boots: vec![
                boot(&[(0, true), (1000, false)], "ota_0", "current"),
                boot(NO_P12, "ota_0", "none"),
                boot(NO_P12, "ota_0", "none"),
            ],
        },
        Case {
            name: "Ctrl-F's software request".into(),
            setup: Setup::ReadyOta0,
            boots: vec![
                BootSpec {
                    p12: NO_P12,
                    ctrl_f_after: true,
                    expect: Some(("ota_0", "none")),
                },
                boot(NO_P12, "ota_0", "current"),
                boot(NO_P12, "ota_0", "none"),
            ],
        },
    ];
    fixed.into_iter().chain(random_cases(12)).collect()
}

fn write_record(flash: &mut FlashFile, record: &BootInfo) {
    let at = lopy4().otadata_offset();
    pycom_boot::otadata::write_record(flash, at, record).expect("write otadata");
}

/// Makes the flash file at `path` for `setup`; returns its bytes.
fn prepare(path: &Path, setup: Setup) -> Vec<u8> {
    let board = lopy4();
    let (mut flash, _) =
        FlashFile::open_or_create(path, &board, &default_image(), OpenOptions::default())
            .expect("flash file");
    let image = |corrupt: bool| {
        let mut image = build_image(&ImageSpec {
            version: "1.20.2.r7".to_string(),
            ..default_spec()
        });
        if corrupt {
            let middle = image.len() / 2;
            image[middle] ^= 0x40;
        }
        image
    };
    let ready_ota0 = BootInfo {
        active_img: IMG_ACT_UPDATE1,
        status: IMG_STATUS_READY,
        prev_img: IMG_ACT_FACTORY,
        ..BootInfo::initial()
    };
    let otadata = board.otadata_offset();
    match setup {
        Setup::Fresh => {}
        Setup::ReadyOta0 | Setup::ErasedRecord | Setup::CorruptRecord | Setup::RandomRecord(_) => {
            let image = image(false);
            flash
                .erase_and_write(board.ota0_offset(), &image)
                .expect("ota_0");
            write_record(
                &mut flash,
                &BootInfo {
                    size: image.len() as u32,
                    ..ready_ota0
                },
            );
            if let Setup::ErasedRecord = setup {
                flash.erase(otadata, otadata + 0x1000).expect("erase");
            }
            if let Setup::RandomRecord(seed) = setup {
                let mut rng = Lcg(seed);
                let mut field = |meaningful: &[u32]| {
                    let any = rng.next();
                    let choice = rng.pick(meaningful);
                    if rng.next().is_multiple_of(5) {
                        any
                    } else {
                        choice
                    }
                };
                let record = BootInfo {
                    active_img: field(&[0, 1, 2]),
                    status: field(&[0, 1, 2, u32::MAX]),
                    prev_img: field(&[0, 1, 2]),
                    safeboot: field(&[0, 1, 2]),
                    ..ready_ota0
                };
                // Status 0xFFFFFFFF stays invalid however it is sealed: the erased-record path.
                write_record(&mut flash, &record);
            }
            if let Setup::CorruptRecord = setup {
                let mut bytes = [0u8; RECORD_LEN];
                flash.read(otadata, &mut bytes).expect("read");
                bytes[RECORD_LEN - 1] ^= 0x01;
                flash.erase_and_write(otadata, &bytes).expect("write");
            }
        }
        Setup::CheckGood | Setup::CheckBad | Setup::CheckGarbage | Setup::CheckHugeSegment => {
            let bytes = match setup {
                Setup::CheckHugeSegment => {
                    // Magic, 3 segments, chip ESP32, hash appended; then a segment of 0xFFFFFFF0.
                    let mut header = vec![0xE9, 3, 2, 0x2F, 0, 0, 0, 0x40, 0xEE, 0, 0, 0];
                    header.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                    header.extend_from_slice(&0x3F40_0020u32.to_le_bytes());
                    header.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
                    header.resize(4096, 0x55);
                    header
                }
                Setup::CheckGarbage => {
                    let mut rng = Lcg(0x1234_5678);
                    (0..0x1_0000).map(|_| (rng.next() >> 24) as u8).collect()
                }
                _ => image(matches!(setup, Setup::CheckBad)),
            };
            flash
                .erase_and_write(board.ota0_offset(), &bytes)
                .expect("ota_0");
            let record = pycom_boot::otadata::read_record(&mut flash, otadata).expect("otadata");
            let next = pycom_boot::updates::after_ota_finish(&record, bytes.len() as u32);
            write_record(&mut flash, &next);
        }
    }
    drop(flash);
    std::fs::read(path).expect("read the flash file")
}

// ------------------------------------------------------------------------------------------------
// What one boot looked like, on either machine

/// One boot as a user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    /// slot, offset, safe_boot, software_request, skip_scripts, record_initialised, rolled_back
    decision: (String, u32, String, bool, bool, bool, bool),
    /// ms since the reset when the decision was taken.
    decided_ms: u64,
    /// (ms since the reset, `#rrggbb`) of every LED change, the LED off when the bootloader starts.
    leds: Vec<(u64, String)>,
    /// The bootloader printed the rollback message.
    rollback_message: bool,
    /// The 40 otadata bytes after the boot, and whether the rest of the sector is erased.
    otadata: String,
    rest_erased: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn otadata_of(flash: &[u8]) -> (String, bool) {
    let at = lopy4().otadata_offset() as usize;
    let sector = &flash[at..at + 0x1000];
    (
        hex(&sector[..RECORD_LEN]),
        sector[RECORD_LEN..].iter().all(|&b| b == 0xFF),
    )
}

/// Runs a case on the simulated LoPy4 whose flash file is at `path`.
fn run_simulator(path: &Path, case: &Case) -> Vec<Seen> {
    let handle = DeviceHandle::spawn(DeviceConfig {
        board: lopy4(),
        flash: FlashSource::File(path.to_path_buf()),
        reformat: false,
        time: TimeMode::Virtual,
        sd: None,
    })
    .expect("device starts");
    let events = handle.subscribe();
    let drive = |high: bool| if high { Drive::High } else { Drive::Floating };
    let mut seen = Vec::new();
    let mut idle_ms = 0u64;
    for (i, spec) in case.boots.iter().enumerate() {
        if i == 0 {
            for &(at, high) in spec.p12 {
                handle
                    .drive_at(Duration::from_millis(u64::from(at)), "P12", drive(high))
                    .expect("P12");
            }
            handle.power_on();
        } else if case.boots[i - 1].ctrl_f_after {
            assert!(
                spec.p12.is_empty(),
                "the boot after Ctrl-F has no P12 script"
            );
            handle
                .batch()
                .drive("P12", drive(false))
                .expect("P12")
                .write_uart(b"\x06")
                .send();
        } else {
            // Reset from the idle prompt on a whole second, P12 driven relative to it. The level
            // at 0 ms is in place 1 ms before the reset: released unless the script holds it (a
            // pin left held by the boot before would otherwise still be high). One batch, so the
            // idle device cannot jump to one scheduled edge before the others have arrived.
            let reset = (idle_ms / 1000 + 2) * 1000;
            let mut batch = handle.batch();
            if !spec.p12.iter().any(|&(at, _)| at == 0) {
                batch
                    .drive_at(Duration::from_millis(reset - 1), "P12", drive(false))
                    .expect("P12");
            }
            for &(at, high) in spec.p12 {
                let when = if at == 0 {
                    reset - 1
                } else {
                    reset + u64::from(at)
                };
                batch
                    .drive_at(Duration::from_millis(when), "P12", drive(high))
                    .expect("P12");
            }
            batch
                .at(Duration::from_millis(reset), Action::ResetButton)
                .send();
        }
        let mut reset_seen = false;
        let log = collect_until(&events, |e| {
            reset_seen |= matches!(e.kind, EventKind::Reset { .. });
            reset_seen && e.kind == EventKind::Idle
        });
        idle_ms = log.last().map_or(idle_ms, Event::time_ms);
        let flash = std::fs::read(path).expect("read the flash file");
        seen.push(simulator_boot(&log, &flash));
    }
    handle.shutdown();
    seen
}

/// Reads one boot out of the simulator's events, from its reset to its `boot` event.
fn simulator_boot(log: &[Event], flash: &[u8]) -> Seen {
    let resets: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.kind, EventKind::Reset { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(resets.len(), 1, "one reset per boot");
    let from = resets[0];
    let reset_us = log[from].time_us;
    let ms = |e: &Event| (e.time_us - reset_us) / 1000;
    let boot_at = log[from..]
        .iter()
        .position(|e| matches!(e.kind, EventKind::Boot { .. }))
        .map(|i| from + i)
        .expect("a boot decision");
    let EventKind::Boot {
        slot,
        offset,
        safe_boot,
        skip_scripts,
        software_request,
        rolled_back,
        record_initialised,
        ..
    } = &log[boot_at].kind
    else {
        unreachable!()
    };
    let mut leds: Vec<(u64, String)> = log[from..boot_at]
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Led { color } => Some((ms(e), color.clone())),
            _ => None,
        })
        .collect();
    // The bootloader's first act is LED off; from a heartbeat-lit LED that is a change at 0 ms.
    if leds.first().is_some_and(|(t, c)| *t == 0 && c == "#000000") {
        leds.remove(0);
    }
    let text: String = log[from..boot_at]
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Uart { text } => Some(String::from_utf8_lossy(text).into_owned()),
            _ => None,
        })
        .collect();
    let (otadata, rest_erased) = otadata_of(flash);
    Seen {
        decision: (
            slot.clone(),
            *offset,
            safe_boot.clone(),
            *software_request,
            *skip_scripts,
            *record_initialised,
            *rolled_back,
        ),
        decided_ms: ms(&log[boot_at]),
        leds,
        rollback_message: text.contains(ROLLBACK),
        otadata,
        rest_erased,
    }
}

/// What the QEMU run printed, with how far past the whole millisecond its LED writes fell.
struct QemuRun {
    boots: Vec<Seen>,
    /// Largest `µs mod 1000` of an LED change: the machine's delays are not exact to the µs.
    worst_lag_us: u64,
    /// Machine time of each decision, µs since its reset.
    decided_us: Vec<u64>,
    wall: Duration,
}

/// The case table `firmware/src/case.rs` reads.
fn case_table(flash_len: usize, case: &Case) -> Vec<u8> {
    let mut out = b"PYCASE1\n".to_vec();
    let word = |w: u32, out: &mut Vec<u8>| out.extend_from_slice(&w.to_le_bytes());
    word(flash_len as u32, &mut out);
    word(case.boots.len() as u32, &mut out);
    for spec in &case.boots {
        word(u32::from(spec.ctrl_f_after), &mut out);
        word(spec.p12.len() as u32, &mut out);
        for &(at, high) in spec.p12 {
            word(at, &mut out);
            word(u32::from(high), &mut out);
        }
    }
    out
}

/// Runs `elf` under qemu-system-riscv32 with the flash and case files; returns its console
/// (`\r\n` as `\n`), its exit status and how long it took.
fn qemu(elf: &Path, case_file: &Path, flash_file: &Path) -> (String, Option<i32>, Duration) {
    let started = Instant::now();
    let mut child = Command::new("qemu-system-riscv32")
        .args(["-machine", "virt", "-m", "64M", "-bios", "none"])
        .args(["-nographic", "-monitor", "none", "-serial", "stdio"])
        // The machine's clock counts instructions and jumps over `wfi`: deterministic, and the
        // blink windows' seconds pass in microseconds of host time.
        .args(["-icount", "shift=0,sleep=off"])
        .arg("-kernel")
        .arg(elf)
        .arg("-device")
        .arg(format!(
            "loader,file={},addr=0x80800000,force-raw=on",
            case_file.display()
        ))
        .arg("-device")
        .arg(format!(
            "loader,file={},addr=0x81000000,force-raw=on",
            flash_file.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start qemu-system-riscv32 ({e}): {NEEDS}"));
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    // A machine that hangs is a failure, not a stuck test run.
    let deadline = started + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for qemu") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("QEMU did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = reader.join().expect("qemu output");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(
        status.code().is_some(),
        "QEMU was stopped by a signal ({status})\nconsole:\n{text}\nstderr:\n{stderr}"
    );
    (text.replace("\r\n", "\n"), status.code(), started.elapsed())
}

/// `key=value` of a decision line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

fn run_qemu(dir: &Path, flash: &[u8], case: &Case) -> QemuRun {
    let flash_file = dir.join("qemu.flash");
    let case_file = dir.join("case.bin");
    std::fs::write(&flash_file, flash).expect("write flash");
    std::fs::write(&case_file, case_table(flash.len(), case)).expect("write case");
    let (text, code, wall) = qemu(&firmware_elf("pycom-boot-qemu"), &case_file, &flash_file);
    assert_eq!(code, Some(0), "QEMU failed:\n{text}");
    assert!(
        text.contains("\ndone\n"),
        "QEMU did not finish its boots:\n{text}"
    );
    let mut boots = Vec::new();
    let mut decided_us = Vec::new();
    let mut worst_lag_us = 0;
    for n in 0..case.boots.len() {
        let start = format!("boot {n} start\n");
        let body = text
            .split_once(&start)
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| panic!("no {start:?} in:\n{text}"));
        let body = body
            .split_once(&format!("boot {} start\n", n + 1))
            .map_or(body, |(b, _)| b);
        let mut colour = "#000000".to_string();
        let mut leds = Vec::new();
        let (mut decision, mut otadata) = (None, None);
        for line in body.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["led", _, "dropped", _] => panic!("the LED log overflowed: {line}"),
                ["led", _, us, rgb] => {
                    let us: u64 = us.parse().expect("led time");
                    let c = format!("#{rgb}");
                    if c != colour {
                        worst_lag_us = worst_lag_us.max(us % 1000);
                        leds.push((us / 1000, c.clone()));
                        colour = c;
                    }
                }
                ["decision", ..] => decision = Some(line.to_string()),
                ["otadata", bytes, rest] => {
                    otadata = Some((bytes.to_string(), *rest == "rest_erased=1"));
                }
                _ => {}
            }
        }
        let d = decision.unwrap_or_else(|| panic!("no decision for boot {n}:\n{text}"));
        let (otadata, rest_erased) = otadata.expect("otadata line");
        let flag = |key| field(&d, key) == "1";
        let at_us: u64 = field(&d, "at_us").parse().expect("at_us");
        decided_us.push(at_us);
        boots.push(Seen {
            decision: (
                field(&d, "slot").to_string(),
                u32::from_str_radix(field(&d, "offset").trim_start_matches("0x"), 16)
                    .expect("offset"),
                field(&d, "safe_boot").to_string(),
                flag("software_request"),
                flag("skip_scripts"),
                flag("record_initialised"),
                flag("rolled_back"),
            ),
            decided_ms: at_us / 1000,
            leds,
            rollback_message: body.contains(ROLLBACK.trim_end_matches("\r\n")),
            otadata,
            rest_erased,
        });
    }
    QemuRun {
        boots,
        worst_lag_us,
        decided_us,
        wall,
    }
}

// ------------------------------------------------------------------------------------------------
// The comparison

#[test]
#[ignore = "needs qemu-system-riscv32 and the firmware builds: run scripts/firmware-check"]
fn qemu_and_the_simulator_decide_blink_and_write_alike_case_by_case() {
    let mut report = Vec::new();
    for case in &cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim_flash = dir.path().join("lopy4.flash");
        let initial = prepare(&sim_flash, case.setup);
        let qemu = run_qemu(dir.path(), &initial, case);
        let sim = run_simulator(&sim_flash, case);
        for (n, spec) in case.boots.iter().enumerate() {
            let (q, s) = (&qemu.boots[n], &sim[n]);
            let what = format!("{} — boot {}", case.name, n + 1);
            if let Some(expect) = spec.expect {
                assert_eq!(
                    (s.decision.0.as_str(), s.decision.2.as_str()),
                    expect,
                    "{what}: the simulator's (slot, safe_boot)"
                );
            }
            assert_eq!(q.decision, s.decision, "{what}: decisions differ");
            assert_eq!(q.leds, s.leds, "{what}: LED timelines differ");
            assert_eq!(
                q.rollback_message, s.rollback_message,
                "{what}: rollback message"
            );
            assert_eq!(
                (&q.otadata, q.rest_erased),
                (&s.otadata, s.rest_erased),
                "{what}: otadata bytes differ"
            );
            // The simulator's bootloader takes no device time outside its delays; the emulated
            // CPU does (checking an image costs it real instructions, tens of µs for ours), so the
            // same millisecond is the bound.
            assert_eq!(q.decided_ms, s.decided_ms, "{what}: decision time");
        }
        report.push(format!(
            "{:<58} boots {} | LED changes {:>3} | decided at {:>5} ms (QEMU {:>9} µs) | LED lag ≤ {:>3} µs | QEMU {:>4} ms wall",
            case.name,
            case.boots.len(),
            sim.iter().map(|s| s.leds.len()).sum::<usize>(),
            sim.iter().map(|s| s.decided_ms).max().unwrap_or(0),
            qemu.decided_us.iter().max().copied().unwrap_or(0),
            qemu.worst_lag_us,
            qemu.wall.as_millis(),
        ));
    }
    println!("{}", report.join("\n"));
}

/// Bad input on bare metal: the firmware says what is wrong and stops the machine with its own
/// status — it never panics (status 101) and never hangs (the run's 60 s limit).
#[test]
#[ignore = "needs qemu-system-riscv32 and the firmware builds: run scripts/firmware-check"]
fn the_qemu_build_refuses_bad_input_with_a_message_never_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = prepare(&dir.path().join("lopy4.flash"), Setup::ReadyOta0);
    let one_boot = Case {
        name: "bad input".into(),
        setup: Setup::Fresh,
        boots: vec![boot(HELD, "factory", "factory")],
    };
    let run = |flash: &[u8], table: &[u8]| {
        let (flash_file, case_file) = (dir.path().join("bad.flash"), dir.path().join("bad.case"));
        std::fs::write(&flash_file, flash).expect("write flash");
        std::fs::write(&case_file, table).expect("write case");
        let (text, code, _) = qemu(&firmware_elf("pycom-boot-qemu"), &case_file, &flash_file);
        assert!(!text.contains("panic"), "the firmware panicked:\n{text}");
        (text, code)
    };
    // An erased chip: no partition table.
    let erased = vec![0xFF; good.len()];
    let (text, code) = run(&erased, &case_table(erased.len(), &one_boot));
    assert_eq!(code, Some(4), "{text}");
    assert!(
        text.contains("fatal: no usable partition table: Partitions(Missing(\"factory\"))"),
        "{text}"
    );
    // A case table that is not one.
    let (text, code) = run(&good, b"PYCASE0\n garbage");
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("fatal: the case table does not parse: BadMagic"),
        "{text}"
    );
    let mut too_many = case_table(good.len(), &one_boot);
    too_many[12] = 200; // 200 boots
    let (text, code) = run(&good, &too_many);
    assert_eq!((code, text.contains("TooMany")), (Some(3), true), "{text}");
    // A chip smaller than the partition table says: reading otadata fails, the boot core returns
    // the flash error and the firmware stops (mperror_fatal_error) instead of booting blind.
    let small = &good[..0x10_0000];
    let (text, code) = run(small, &case_table(small.len(), &one_boot));
    assert_eq!(code, Some(5), "{text}");
    assert!(
        text.contains("fatal: boot 0: Flash(Flash(OutOfBounds))"),
        "{text}"
    );
}

/// Sizes of the named sections of a 32-bit little-endian ELF file.
fn elf32_section_sizes(elf: &[u8]) -> Vec<(String, u32)> {
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    assert_eq!(&elf[..5], b"\x7fELF\x01", "a 32-bit ELF file");
    let (shoff, shentsize, shnum, shstrndx) = (
        u32_at(0x20) as usize,
        u16_at(0x2E),
        u16_at(0x30),
        u16_at(0x32),
    );
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u32_at(header(shstrndx) + 16) as usize;
    (0..shnum)
        .map(|i| {
            let h = header(i);
            let name_at = strtab + u32_at(h) as usize;
            let end = elf[name_at..].iter().position(|&b| b == 0).unwrap();
            let name = String::from_utf8_lossy(&elf[name_at..name_at + end]).into_owned();
            (name, u32_at(h + 20))
        })
        .collect()
}

#[test]
#[ignore = "needs qemu-system-riscv32 and the firmware builds: run scripts/firmware-check"]
fn the_boot_core_fits_the_second_stage_bootloader_budget() {
    let elf = std::fs::read(firmware_elf("pycom-boot-size")).expect("read the size probe");
    let sections = elf32_section_sizes(&elf);
    let size = |names: &[&str]| -> u32 {
        sections
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, s)| s)
            .sum()
    };
    let text = size(&[".text", ".init", ".init.rust", ".trap", ".trap.rust"]);
    let rodata = size(&[".rodata", ".srodata"]);
    println!(
        "boot core on riscv32imc (opt-level s, LTO), with start code and no-op ports: \
         .text {text} bytes, .rodata {rodata} bytes"
    );
    assert!(
        text > 1024,
        "the probe links the boot core ({text} bytes of .text)"
    );
    assert!(text <= 4096, ".text {text} bytes is over the 4 KiB budget");
    assert!(
        rodata <= 1024,
        ".rodata {rodata} bytes is over the 1 KiB budget"
    );
}

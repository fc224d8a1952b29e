//! The ROM's serial download protocol and the updater paths, from the outside: the real esptool
//! (PyPI, pinned by scripts/python-venv) against `pycom-sim run` in download mode over a pty and
//! over RFC 2217 with esptool's own reset; then `pycom-sim update` and `pycom-sim ota` and what
//! the board boots after each, safe boot's window 2 included. Every check is on what esptool
//! prints, what the board prints when it boots, or the flash file's bytes.

mod host_tools;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use host_tools::{collect, venv, wait_for};

use pycom_sim::board::Board;

fn sim_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
}

/// `pycom-sim ARGS…`, its output.
fn sim(args: &[&str]) -> Output {
    sim_bin()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pycom-sim")
}

/// A `pycom-sim run` serving a transport, with what it printed.
struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    pty: Option<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = sim_bin()
            .arg("run")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pycom-sim");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let pty = args.contains(&"--pty").then(|| {
            let mut first = String::new();
            out.read_line(&mut first).expect("the pty path");
            first.trim_end().to_string()
        });
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(out, stdout.clone());
        collect(child.stderr.take().expect("stderr"), stderr.clone());
        Running {
            child,
            stdout,
            stderr,
            pty,
        }
    }

    fn uart(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_uart(&self, want: &str) {
        wait_for(&self.stdout, want, Duration::from_secs(20), || {
            self.stderr()
        });
    }

    fn port(&self, what: &str) -> u16 {
        let pattern = format!("{what} on 127.0.0.1:");
        wait_for(&self.stderr, &pattern, Duration::from_secs(20), String::new);
        let text = self.stderr();
        let rest = &text[text.find(&pattern).unwrap() + pattern.len()..];
        rest.lines().next().unwrap().trim().parse().expect("a port")
    }

    /// Ends the run (SIGKILL: the flash file has every write already, as after a power cut).
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The venv's esptool with `args`; returns (success, stdout + stderr).
fn esptool(args: &[&str]) -> (bool, String) {
    let out = Command::new(venv().join("bin/python"))
        .args(["-m", "esptool", "--chip", "esp32"])
        .args(args)
        .output()
        .expect("run esptool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// esptool on a pty, as for a board whose DTR/RTS are not wired: no resets, the ROM only.
fn esptool_pty(port: &str, args: &[&str]) -> String {
    let mut all = vec![
        "--port",
        port,
        "--before",
        "no_reset",
        "--after",
        "no_reset",
        "--no-stub",
    ];
    all.extend_from_slice(args);
    let (ok, text) = esptool(&all);
    assert!(ok, "esptool {args:?} failed:\n{text}");
    text
}

fn image(dir: &Path, version: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(format!("{version}.bin"));
    let out = sim(&[
        &["image", "build", "--version", version, "-o"][..],
        &[path.to_str().unwrap()],
        extra,
    ]
    .concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Boots `flash` in virtual time to the idle prompt (with `extra` run options); returns the
/// UART text and the bootloader's decision as (slot, version).
fn boot(flash: &Path, extra: &[&str]) -> (String, (String, String)) {
    let out = sim(&[
        &[
            "run",
            "--flash",
            flash.to_str().unwrap(),
            "--time",
            "virtual",
            "--events",
            "json",
        ][..],
        extra,
    ]
    .concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut uart = String::new();
    let mut decision = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON event");
        match v["kind"].as_str() {
            Some("uart") => uart.push_str(v["text"].as_str().unwrap_or_default()),
            Some("boot") => {
                decision = Some((
                    v["slot"].as_str().unwrap().to_string(),
                    v["version"].as_str().unwrap().to_string(),
                ));
            }
            _ => {}
        }
    }
    (uart, decision.expect("a boot decision"))
}

/// A flash file made by a first boot.
fn new_flash(dir: &Path) -> PathBuf {
    let flash = dir.join("lopy4.flash");
    let (uart, _) = boot(&flash, &[]);
    assert!(uart.contains("1.20.2.r4"), "{uart}");
    flash
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

#[test]
fn esptool_over_a_pty_reads_the_chip_writes_erases_and_verifies_the_flash() {
    let dir = tempfile::tempdir().unwrap();
    let flash = new_flash(dir.path());
    let fw = image(dir.path(), "1.20.3.r1", &[]);
    let fw_str = fw.to_str().unwrap();
    // Virtual time: download mode must work there too (the ROM waits without moving the clock).
    let run = Running::start(&[
        "--flash",
        flash.to_str().unwrap(),
        "--time",
        "virtual",
        "--pty",
        "--ground",
        "G23",
    ]);
    run.wait_uart("waiting for download\r\n");
    let pty = run.pty.clone().unwrap();
    let mac = pycom_sim::python::native_machine::board_mac(&Board::builtin("lopy4").unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");

    let started = Instant::now();
    let out = esptool_pty(&pty, &["chip_id"]);
    assert!(
        out.contains("Chip is ESP32-D0WDQ6 (revision v1.0)"),
        "{out}"
    );
    assert!(out.contains("Crystal is 40MHz"), "{out}");
    assert!(out.contains(&format!("MAC: {mac}")), "{out}");
    // Without --no-stub esptool uploads its flasher stub and jumps into it: with no Xtensa core
    // the chip resets, so esptool hears the ROM banner and fails at once instead of waiting.
    let t = Instant::now();
    let (ok, out) = esptool(&[
        "--port", &pty, "--before", "no_reset", "--after", "no_reset", "chip_id",
    ]);
    assert!(!ok && out.contains("Running stub..."), "{out}");
    assert!(out.contains("Invalid head of packet"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    run.wait_uart("waiting for download\r\n");
    let out = esptool_pty(&pty, &["read_mac"]);
    assert!(out.contains(&format!("MAC: {mac}")), "{out}");
    let out = esptool_pty(&pty, &["flash_id"]);
    assert!(out.contains("Manufacturer: ef"), "{out}");
    assert!(out.contains("Device: 4017"), "{out}");
    assert!(out.contains("Detected flash size: 8MB"), "{out}");

    let t = Instant::now();
    let out = esptool_pty(&pty, &["write_flash", "0x10000", fw_str]);
    eprintln!(
        "write_flash of {} bytes, uncompressed: {:?}",
        read(&fw).len(),
        t.elapsed()
    );
    assert!(out.contains("Hash of data verified."), "{out}");
    // At a higher rate: CHANGE_BAUDRATE first (a pty has no rate to change).
    let out = esptool_pty(&pty, &["-b", "460800", "verify_flash", "0x10000", fw_str]);
    assert!(out.contains("Changing baud rate to 460800"), "{out}");
    assert!(out.contains("-- verify OK (digest matched)"), "{out}");

    // Compressed (FLASH_DEFL_*), then a region erased, both read back.
    let pattern: Vec<u8> = (0..0x2000u32).map(|i| (i * 13 + 1) as u8).collect();
    let pattern_file = dir.path().join("pattern.bin");
    std::fs::write(&pattern_file, &pattern).unwrap();
    let out = esptool_pty(
        &pty,
        &[
            "write_flash",
            "-z",
            "0x300000",
            pattern_file.to_str().unwrap(),
        ],
    );
    assert!(out.contains("Hash of data verified."), "{out}");
    let out = esptool_pty(&pty, &["erase_region", "0x301000", "0x1000"]);
    assert!(out.contains("Erase completed successfully"), "{out}");
    let back = dir.path().join("back.bin");
    esptool_pty(
        &pty,
        &["read_flash", "0x300000", "0x2000", back.to_str().unwrap()],
    );
    let got = read(&back);
    assert_eq!(&got[..0x1000], &pattern[..0x1000]);
    assert!(got[0x1000..].iter().all(|&b| b == 0xFF), "erased sector");
    // A verify against what is no longer there fails, as on a chip.
    let (ok, out) = esptool(&[
        "--port",
        &pty,
        "--before",
        "no_reset",
        "--after",
        "no_reset",
        "--no-stub",
        "verify_flash",
        "0x300000",
        pattern_file.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("verify FAILED"), "{out}");
    eprintln!("esptool session: {:?}", started.elapsed());
    // esptool's `run` (FLASH_BEGIN 0 + FLASH_END "run user code"): the ROM boots the app from
    // flash, with G23 still grounded and no reset.
    let resets = run.uart().matches("rst:").count();
    let out = esptool_pty(&pty, &["run"]);
    // The ROM locked to 115200 again at this run's SYNC, after the 460800 of an earlier one.
    assert!(out.contains("Crystal is 40MHz"), "{out}");
    run.wait_uart("Pycom MicroPython 1.20.3.r1");
    assert_eq!(run.uart().matches("rst:").count(), resets, "no reset");

    let stderr = run.stop();
    assert!(!stderr.contains("panic"), "{stderr}");
    assert!(stderr.contains("give esptool --no-stub"), "{stderr}");
    // The flash file holds what esptool wrote, and the board boots it without G23.
    let file = read(&flash);
    let fw_bytes = read(&fw);
    assert_eq!(
        md5_hex(&file[0x10000..0x10000 + fw_bytes.len()]),
        md5_hex(&fw_bytes)
    );
    let (uart, (slot, version)) = boot(&flash, &[]);
    assert_eq!((slot.as_str(), version.as_str()), ("factory", "1.20.3.r1"));
    assert!(uart.contains("Pycom MicroPython 1.20.3.r1"), "{uart}");
}

#[test]
fn garbage_in_download_mode_gets_the_rom_s_replies_and_esptool_still_connects() {
    let run = Running::start(&["--fresh", "--time", "real", "--pty", "--ground", "G23"]);
    run.wait_uart("waiting for download\r\n");
    let pty = run.pty.clone().unwrap();
    // Line noise, a frame with a bad escape, a frame that lies about its length, an unknown
    // opcode, a frame far too long, then a READ_REG of the magic: the ROM must answer the
    // malformed and unknown ones with "invalid message" and the good one with the magic.
    let code = format!(
        r#"
import serial, time
s = serial.Serial("{pty}", 115200, timeout=0.5)
s.write(bytes(range(256)) * 4)
s.write(b"\xc0\x00\x0a\x04\x00\x00\x00\x00\x00\xdb\x41\x10\x00\x40\xc0")
s.write(b"\xc0\x00\x0a\x08\x00\x00\x00\x00\x00\x01\xc0")
s.write(b"\xc0\x00\x42\x00\x00\x00\x00\x00\x00\xc0")
s.write(b"\xc0" + b"\x55" * 40000 + b"\xc0")
s.write(b"\xc0\x00\x0a\x04\x00\x00\x00\x00\x00\x00\x10\x00\x40\xc0")
time.sleep(0.5)
print(s.read(4096).hex())
"#
    );
    let out = Command::new(venv().join("bin/python"))
        .args(["-c", &code])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        replies,
        concat!(
            "c0010a0400000000000105 0000c0",
            "c00142040000000000 01050000c0",
            "c0010a0400831df000 00000000c0"
        )
        .replace(' ', ""),
        "the ROM's replies to the noise"
    );
    let out = esptool_pty(&pty, &["chip_id"]);
    assert!(out.contains("Chip is ESP32"), "{out}");
    let stderr = run.stop();
    assert!(!stderr.contains("panic"), "{stderr}");
}

#[test]
fn esptool_s_own_reset_over_rfc2217_enters_download_mode_and_its_hard_reset_boots_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let flash = new_flash(dir.path());
    let fw = image(dir.path(), "1.20.4.r2", &[]);
    let run = Running::start(&[
        "--flash",
        flash.to_str().unwrap(),
        "--time",
        "real",
        "--rfc2217",
        "0",
        "--auto-reset",
    ]);
    let port = run.port("RFC 2217");
    run.wait_uart(">>> ");
    // esptool's own code, as its write_flash -z runs it: connect with the default reset (the
    // classic DTR/RTS sequence for rfc2217:// ports), a compressed write checked by MD5, then its
    // hard reset (an RTS pulse). Through its Python API rather than the command line: over
    // RFC 2217 pyserial waits 50 ms for each line-setting answer, and the command line's chip
    // report and flash probe alone cost it some 15 s (measured), with nothing more to prove.
    let code = format!(
        r#"
import hashlib, time, zlib
from esptool.targets import ESP32ROM
t = time.time()
esp = ESP32ROM("rfc2217://127.0.0.1:{port}", 115200)
esp.connect("default_reset")
print("magic", hex(esp.read_reg(0x40001000)))
esp.flash_spi_attach(0)
data = open("{fw}", "rb").read()
packed = zlib.compress(data, 9)
blocks = esp.flash_defl_begin(len(data), len(packed), 0x10000)
for seq in range(blocks):
    esp.flash_defl_block(packed[seq * esp.FLASH_WRITE_SIZE:(seq + 1) * esp.FLASH_WRITE_SIZE], seq)
print("md5", esp.flash_md5sum(0x10000, len(data)) == hashlib.md5(data).hexdigest())
esp.hard_reset()
esp._port.close()
print("seconds", round(time.time() - t, 1))
"#,
        fw = fw.display()
    );
    let out = Command::new(venv().join("bin/python"))
        .args(["-c", &code])
        .output()
        .expect("python");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("esptool over RFC 2217 (reset, write, hard reset): {text}");
    for want in ["magic 0xf01d83", "md5 True", "Hard resetting via RTS pin"] {
        assert!(text.contains(want), "{want:?}: {text}");
    }
    run.wait_uart("Pycom MicroPython 1.20.4.r2");
    let uart = run.uart();
    let download = uart.find("waiting for download").expect("download mode");
    let banner = uart.find("Pycom MicroPython 1.20.4.r2").unwrap();
    assert!(download < banner, "{uart}");
    assert!(
        uart[banner..].contains(">>> "),
        "the new image reaches its prompt: {uart}"
    );
}

/// The factory slot and otadata, as bytes.
fn boot_record(flash: &Path) -> (u32, u32, u32) {
    let bytes = read(flash);
    let w = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let otadata = 0x1FF000;
    (w(otadata), w(otadata + 4), w(otadata + 8))
}

#[test]
fn ota_and_update_boot_the_slots_the_module_would_and_only_ota_leaves_a_way_back() {
    let dir = tempfile::tempdir().unwrap();
    let flash = new_flash(dir.path());
    let flash_s = flash.to_str().unwrap();
    let v3 = image(dir.path(), "1.20.3.r0", &[]);
    let v5 = image(dir.path(), "1.20.5.r0", &[]);

    // ota: the other slot, CHECK; the next boot verifies it and runs it.
    let out = sim(&["ota", v3.to_str().unwrap(), "--flash", flash_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        boot_record(&flash),
        (1, 0, 0),
        "ota_0 active, CHECK, previous factory"
    );
    let (uart, decision) = boot(&flash, &[]);
    assert_eq!(decision, ("ota_0".into(), "1.20.3.r0".into()), "{uart}");
    // Window 2 (P12 released at 4.5 s): the previous image, the factory one.
    let (_, decision) = boot(&flash, &["--hold-for", "P12=4.5s"]);
    assert_eq!(decision, ("factory".into(), "1.20.2.r4".into()));

    // update without download mode: refused, says how to get there, nothing written.
    let before = read(&flash);
    let out = sim(&["update", v5.to_str().unwrap(), "--flash", flash_s]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("not in download mode") && err.contains("G23") && err.contains("--auto"),
        "{err}"
    );
    assert!(read(&flash) == before, "flash changed by a refused update");

    // update --auto: through the ROM into factory; PrevImg = factory.
    let out = sim(&["update", v5.to_str().unwrap(), "--flash", flash_s, "--auto"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("100 %"), "progress: {err}");
    assert_eq!(
        boot_record(&flash),
        (0, 1, 0),
        "factory active, READY, previous factory"
    );
    let (uart, decision) = boot(&flash, &[]);
    assert_eq!(decision, ("factory".into(), "1.20.5.r0".into()), "{uart}");
    assert!(uart.contains("Pycom MicroPython 1.20.5.r0"), "{uart}");
    // Window 2 now has nothing older: the updater's image again.
    let (_, decision) = boot(&flash, &["--hold-for", "P12=4.5s"]);
    assert_eq!(decision, ("factory".into(), "1.20.5.r0".into()));
}

#[test]
fn bad_images_are_refused_by_update_and_ota_with_the_flash_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let flash = new_flash(dir.path());
    let flash_s = flash.to_str().unwrap();
    let good = read(&image(dir.path(), "1.20.6.r0", &[]));
    let bad = |name: &str, bytes: Vec<u8>| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mut checksum = good.clone();
    checksum[good.len() / 2] ^= 0x01;
    let mut sha = good.clone();
    *sha.last_mut().unwrap() ^= 0x01;
    let mut chip = good.clone();
    chip[12] = 0x05; // the header's chip id: ESP32-C3
    let mut oversized = good.clone();
    oversized.resize(0x1EF000 + 1, 0xFF);
    let cases = [
        (
            bad("truncated.bin", good[..good.len() / 2].to_vec()),
            &["too short", "past the end"][..],
        ),
        (bad("checksum.bin", checksum), &["checksum mismatch"][..]),
        (bad("sha.bin", sha), &["SHA-256 mismatch"][..]),
        (bad("chip.bin", chip), &["another chip"][..]),
        (
            image(dir.path(), "1.20.7.r0", &["--boards", "wipy2"]),
            &["--boards lopy4"][..],
        ),
        (bad("oversized.bin", oversized), &["do not fit"][..]),
    ];
    let before = read(&flash);
    for (file, why) in &cases {
        let name = file.to_str().unwrap();
        for cmd in [
            vec!["ota", name, "--flash", flash_s],
            vec!["update", name, "--flash", flash_s, "--auto"],
        ] {
            let out = sim(&cmd);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{cmd:?} accepted a bad image");
            assert!(
                err.contains(name),
                "{cmd:?}: the error names the file: {err}"
            );
            assert!(
                why.iter().any(|w| err.contains(w)),
                "{cmd:?}: says {why:?}: {err}"
            );
            assert!(read(&flash) == before, "{cmd:?} changed the flash file");
        }
    }
}

/// In-process, virtual time: the ROM answers in download mode without the clock running, a
/// reset with G23 let go boots the firmware at once, and FLASH_END "run user code" goes on to
/// the flash boot without a reset, as the ROM does.
#[test]
fn download_mode_ends_with_a_reset_or_a_flash_end_run() {
    use pycom_sim::clock::TimeMode;
    use pycom_sim::device::{DeviceConfig, DeviceHandle, FlashSource, collect_until};
    use pycom_sim::event::{EventKind, Stage};
    use pycom_sim::gpio::Drive;

    let handle = DeviceHandle::spawn(DeviceConfig {
        board: Board::builtin("lopy4").unwrap(),
        flash: FlashSource::Fresh,
        reformat: false,
        time: TimeMode::Virtual,
        sd: None,
    })
    .unwrap();
    let events = handle.subscribe();
    let idle = |e: &pycom_sim::event::Event| e.kind == EventKind::Idle;
    let stage =
        |s: Stage| move |e: &pycom_sim::event::Event| e.kind == EventKind::Stage { stage: s };
    handle.drive("G23", Drive::Low).unwrap();
    handle.power_on();
    collect_until(&events, stage(Stage::DownloadMode));
    let waited = collect_until(&events, idle);
    let mut sync = b"\xc0\x00\x08\x24\x00\x00\x00\x00\x00\x07\x07\x12\x20".to_vec();
    sync.extend([0x55; 32]);
    sync.push(0xC0);
    handle.write_uart(&sync);
    let answered = collect_until(&events, idle);
    let reply = b"\xc0\x01\x08\x04\x00\x07\x07\x12\x20\x00\x00\x00\x00\xc0";
    let uart = pycom_sim::event::uart_bytes(&answered);
    assert_eq!(uart, reply.repeat(8), "eight SYNC replies");
    assert_eq!(
        answered.last().unwrap().time_us,
        waited.last().unwrap().time_us,
        "no device time passes while the ROM waits and answers"
    );

    // The reset button with G23 released: out of download mode, into the firmware.
    handle
        .batch()
        .drive("G23", Drive::Floating)
        .unwrap()
        .press_reset()
        .send();
    let boot = collect_until(&events, stage(Stage::Firmware));
    assert!(
        boot.iter()
            .any(|e| matches!(e.kind, EventKind::Reset { .. }))
    );
    collect_until(&events, idle);

    // Again into download mode; FLASH_END(1) runs the app from flash with no reset between.
    handle
        .batch()
        .drive("G23", Drive::Low)
        .unwrap()
        .press_reset()
        .send();
    collect_until(&events, stage(Stage::DownloadMode));
    handle.write_uart(b"\xc0\x00\x04\x04\x00\x00\x00\x00\x00\x01\x00\x00\x00\xc0");
    let ran = collect_until(&events, stage(Stage::Bootloader));
    assert!(
        !ran.iter()
            .any(|e| matches!(e.kind, EventKind::Reset { .. })),
        "run user code is no reset"
    );
    handle.shutdown();
}

/// `update --port`: the updater on a serial line to a running board, as Pycom's tool on a
/// module's USB serial — only once the board is in download mode.
#[test]
fn update_over_a_pty_needs_download_mode_and_then_writes_the_factory_slot() {
    let dir = tempfile::tempdir().unwrap();
    let flash = new_flash(dir.path());
    let fw = image(dir.path(), "1.20.8.r0", &[]);
    let flash_s = flash.to_str().unwrap();

    let run = Running::start(&["--flash", flash_s, "--time", "real", "--pty"]);
    run.wait_uart(">>> ");
    let pty = run.pty.clone().unwrap();
    let out = sim(&["update", fw.to_str().unwrap(), "--port", &pty]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a booted board took the update");
    assert!(
        err.contains("not in download mode") && err.contains("G23"),
        "{err}"
    );
    drop(run);

    let run = Running::start(&[
        "--flash", flash_s, "--time", "real", "--pty", "--ground", "G23",
    ]);
    run.wait_uart("waiting for download\r\n");
    let pty = run.pty.clone().unwrap();
    let out = sim(&["update", fw.to_str().unwrap(), "--port", &pty]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run.stop();
    assert_eq!(boot_record(&flash), (0, 1, 0));
    let (uart, decision) = boot(&flash, &[]);
    assert_eq!(decision, ("factory".into(), "1.20.8.r0".into()), "{uart}");
}

//! Power cuts and LittleFS, through the real `pycom-sim` binary.
//!
//! A power cut is SIGKILL: every erase and program reaches the flash file the moment the device
//! makes it (`src/flash.rs`), so a killed simulator leaves the chip as a cut would. Each workload
//! below types code at the REPL that prints a marker (`<W17>`) after each step it finished; the
//! test kills the process when it reads the marker a seeded generator picked, so the cut lands in
//! the step after it or a little later (the kill is not synchronous with the device, and what
//! the device printed last may not have reached the pipe: markers seen are a lower bound, and
//! whether an update finished is read from the boot record in the flash file). Then it
//! boots the same flash file, checks that the device reaches the REPL, and compares what is on
//! the flash with what the markers said was finished.
//!
//! The workloads are rows of one test: file rewrites typed at the REPL (LittleFS, FAT), the same
//! files uploaded over FTP (LittleFS), and `pycom.ota_write` loops; another way of writing the
//! flash (esptool `write_flash`) is one more [`Writer`] or one more function like
//! [`ota_workload`]. Where a cut lands after its marker depends on how far the device got before
//! the signal arrived, so the counts printed vary a little from run to run; the assertions hold
//! for every landing.

mod host_tools;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_pycom-sim");
/// The prompt of the friendly REPL: a boot that prints it reached the REPL.
const PROMPT: &str = ">>> ";

/// A small deterministic generator (xorshift64*), so the kill points are the same every run.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// A Python source as one REPL line: `exec('…')` with the newlines escaped.
fn exec_line(src: &str) -> String {
    let mut lit = String::new();
    for c in src.chars() {
        match c {
            '\\' => lit.push_str("\\\\"),
            '\'' => lit.push_str("\\'"),
            '\n' => lit.push_str("\\n"),
            c => lit.push(c),
        }
    }
    format!("exec('{lit}')\r")
}

/// What a run printed (all of it, up to the cut), and whether it was cut.
struct Run {
    out: String,
    killed: bool,
}

/// Boots `flash` with `input` typed at the REPL; SIGKILLs the process as soon as stdout contains
/// `kill_at` (if given), else lets it finish (input used up, device idle).
fn run(flash: &Path, input: &str, kill_at: Option<&str>) -> Run {
    let mut child = Command::new(BIN)
        .args(["run", "--time", "virtual", "--flash"])
        .arg(flash)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pycom-sim");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("type the input");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut killed = false;
    loop {
        let n = stdout.read(&mut buf).expect("read the UART");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if !killed
            && let Some(marker) = kill_at
            && String::from_utf8_lossy(&out).contains(marker)
        {
            // Child::kill is SIGKILL on Unix: no destructor, no flush, nothing more reaches the
            // flash file. What the device printed before it died is still in the pipe: reading
            // on to EOF tells exactly how far it got.
            child.kill().expect("SIGKILL");
            killed = true;
        }
    }
    child.wait().expect("reap pycom-sim");
    Run {
        out: String::from_utf8_lossy(&out).into_owned(),
        killed,
    }
}

/// A fresh LoPy4 flash file (FAT, as the simulator provisions it) in `dir`.
fn fresh_flash(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let r = run(&path, "", None);
    assert!(r.out.contains(PROMPT), "first boot:\n{}", r.out);
    path
}

/// A fresh LoPy4 flash file switched to LittleFS the firmware's way.
fn littlefs_flash(dir: &Path, name: &str) -> PathBuf {
    let path = fresh_flash(dir, name);
    let r = run(
        &path,
        "import pycom; pycom.bootmgr(fs_type=pycom.LittleFS, reset=True)\r\
         import pycom; print(pycom.bootmgr()[1])\r",
        None,
    );
    assert!(r.out.contains("\r\nLittleFS\r\n"), "{}", r.out);
    path
}

// ----- file workloads ----------------------------------------------------------------------

/// How many files the file workloads keep rewriting (`/flash/d/f0.bin` … `f4.bin`).
const SLOTS: u64 = 5;
/// Steps each run of a file workload tries; the kill comes before the last.
const STEPS: u64 = 8;

/// The file workload: step `i` rewrites slot `i % SLOTS` with version `i` (a header naming the
/// version, then a pattern of a length that depends on it: 0.7 to 30.7 KB, up to eight blocks, so that most of a step is flash writing).
const WRITER: &str = "import os
def work(start, n):
    try:
        os.mkdir('/flash/d')
    except OSError:
        pass
    for i in range(start, start + n):
        size = 700 + (i * 2654435761) % 30000
        pat = bytes([(i + j) & 255 for j in range(256)])
        data = (b'v%06d:' % i) + (pat * (size // 256 + 1))[:size]
        f = open('/flash/d/f%d.bin' % (i % 5), 'wb')
        f.write(data)
        f.close()
        print('<W%d>' % i)
";

/// Prints every slot as `S<slot> <version> <len> <sum>` (or `S<slot> -` if missing), then `<V>`
/// (spelled so that the REPL's echo of this code does not contain it).
const VERIFY: &str = "import os
def verify():
    try:
        names = os.listdir('/flash/d')
    except OSError:
        names = None
    for s in range(5):
        n = 'f%d.bin' % s
        if names is None or n not in names:
            print('S%d -' % s)
            continue
        f = open('/flash/d/' + n, 'rb')
        d = f.read()
        f.close()
        print('S%d %s %d %d' % (s, d[1:7].decode('ascii', 'replace'), len(d), sum(d)))
    print('<%s>' % 'V')
verify()
";

/// Length and byte sum of version `i`, as [`WRITER`] makes it.
fn expected(i: u64) -> (usize, u64) {
    let size = 700 + (i * 2_654_435_761) % 30_000;
    let pat: Vec<u8> = (0..256u64).map(|j| ((i + j) & 255) as u8).collect();
    let mut data = format!("v{i:06}:").into_bytes();
    data.extend(pat.iter().cycle().take(size as usize));
    (data.len(), data.iter().map(|&b| u64::from(b)).sum())
}

/// What the verification found in one slot.
#[derive(Debug, PartialEq)]
enum Slot {
    Missing,
    /// A file with no bytes: LittleFS commits a new file's directory entry when it is opened and
    /// its data only when it is closed, so a cut between the two leaves this (the file's old
    /// state: it had none).
    Empty,
    /// A complete version.
    Version(u64),
    /// Bytes that are no complete version (a torn write).
    Damaged(String),
}

fn parse_slots(out: &str) -> Option<Vec<Slot>> {
    let start = out.rfind("S0 ")?;
    let mut slots = Vec::new();
    for line in out[start..].lines().take(SLOTS as usize) {
        let mut f = line.trim().split(' ').skip(1);
        let slot = match (f.next(), f.next(), f.next(), f.next()) {
            (Some("-"), ..) => Slot::Missing,
            (Some(""), Some("0"), Some("0"), None) => Slot::Empty,
            (Some(v), Some(len), Some(sum), None) => match v.parse::<u64>() {
                Ok(v)
                    if (expected(v).0.to_string(), expected(v).1.to_string())
                        == (len.to_owned(), sum.to_owned()) =>
                {
                    Slot::Version(v)
                }
                _ => Slot::Damaged(line.trim().to_owned()),
            },
            _ => Slot::Damaged(line.trim().to_owned()),
        };
        slots.push(slot);
    }
    (slots.len() == SLOTS as usize).then_some(slots)
}

/// The counts a file workload prints.
#[derive(Debug, Default)]
struct FileCounts {
    cuts: u32,
    /// Files whose close was seen (their marker printed) before the cut, checked after it.
    closed_checked: u32,
    closed_intact: u32,
    /// Closed files found missing or older than what was closed.
    closed_lost: u32,
    /// Closed files holding bytes of no version.
    closed_damaged: u32,
    /// Boots that found the whole volume gone (the firmware's mount formatted it).
    volume_reformatted: u32,
    /// The file being written at the cut: old version, new version, or torn.
    inflight_old: u32,
    inflight_new: u32,
    inflight_torn: u32,
    /// Cuts that landed before the run's last step finished (the rest came after it).
    cut_inside_workload: u32,
}

/// Runs the file workload on `flash` for `cuts` cuts. `must_keep`: assert that every closed
/// file survives (LittleFS) rather than only counting.
/// How a file workload's steps reach the device.
#[derive(Clone, Copy, Debug)]
enum Writer {
    /// [`WRITER`] typed at the REPL, after the verification in the same boot.
    Repl,
    /// The same files uploaded by Python's ftplib to `--ftp`, after a boot that verifies.
    Ftp,
}

/// Boots `flash`, verifies (`verify`, typed), then runs steps `next..next + STEPS` by `writer`,
/// cutting the power at `kill` (a marker printed once step N is closed). The verification's
/// output and the markers are both in the returned text.
fn cut_run(writer: Writer, flash: &Path, verify: &str, next: u64, kill: &str) -> Run {
    match writer {
        Writer::Repl => {
            let input = format!("{verify}{}work({next}, {STEPS})\r", exec_line(WRITER));
            run(flash, &input, Some(kill))
        }
        Writer::Ftp => {
            let checked = run(flash, verify, None);
            let mut r = ftp_steps(flash, next, kill);
            r.out = checked.out + &r.out;
            r
        }
    }
}

/// The FTP client of [`Writer::Ftp`]: the steps of [`WRITER`] as `STOR`s, a marker after each
/// `226` (the server has closed the file).
const FTP_CLIENT: &str = "import ftplib, io, sys
f = ftplib.FTP()
f.connect('127.0.0.1', int(sys.argv[1]), timeout=20)
f.login('micro', 'python')
try:
    f.mkd('/flash/d')
except ftplib.error_perm:
    pass
start = int(sys.argv[2])
for i in range(start, start + int(sys.argv[3])):
    size = 700 + (i * 2654435761) % 30000
    pat = bytes([(i + j) & 255 for j in range(256)])
    data = (b'v%06d:' % i) + (pat * (size // 256 + 1))[:size]
    f.storbinary('STOR /flash/d/f%d.bin' % (i % 5), io.BytesIO(data))
    print('<W%d>' % i, flush=True)
";

/// `pycom-sim run --ftp 0` on `flash`, uploads by [`FTP_CLIENT`], SIGKILL of the simulator
/// when the client prints `kill`. Returns the client's markers.
fn ftp_steps(flash: &Path, next: u64, kill: &str) -> Run {
    ftp_client(
        flash,
        FTP_CLIENT,
        &[&next.to_string(), &STEPS.to_string()],
        kill,
    )
}

/// `pycom-sim run --ftp 0` on `flash` and the Python `script` as its client (argv: the port,
/// then `args`); SIGKILL of the simulator when the client prints the line `kill`. Returns all
/// the client printed (it fails soon after the server is gone).
fn ftp_client(flash: &Path, script: &str, args: &[&str], kill: &str) -> Run {
    use std::io::BufRead;
    let mut sim = Command::new(BIN)
        .args(["run", "--time", "virtual", "--ftp", "0", "--flash"])
        .arg(flash)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pycom-sim --ftp");
    let mut stderr = std::io::BufReader::new(sim.stderr.take().expect("stderr"));
    let pattern = "FTP on 127.0.0.1:";
    let port = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            panic!("pycom-sim --ftp ended before listening");
        }
        if let Some(at) = line.find(pattern) {
            break line[at + pattern.len()..].trim().to_owned();
        }
    };
    // Keep draining stderr so the simulator never blocks on it.
    let drain = std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let mut client = Command::new("python3");
    client.args(["-c", script, &port]).args(args);
    cut_at_marker(sim, drain, client, kill)
}

/// Runs `client` (a script that prints a marker line as it goes) against the simulator `sim`,
/// whose output `drain` keeps reading; SIGKILLs the simulator when the client prints the line
/// `kill`, then reaps both. Returns all the client printed (it fails soon after the server is
/// gone) and whether the cut happened.
fn cut_at_marker(
    mut sim: std::process::Child,
    drain: std::thread::JoinHandle<std::io::Result<u64>>,
    mut client: Command,
    kill: &str,
) -> Run {
    use std::io::BufRead;
    let mut client = client
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the client");
    let mut out = String::new();
    let mut killed = false;
    let lines = std::io::BufReader::new(client.stdout.take().expect("client stdout")).lines();
    for line in lines {
        let Ok(line) = line else { break };
        out.push_str(&line);
        out.push('\n');
        if !killed && line == kill {
            sim.kill().expect("SIGKILL");
            killed = true;
        }
    }
    let _ = client.wait();
    if !killed {
        sim.kill().expect("stop pycom-sim");
    }
    sim.wait().expect("reap pycom-sim");
    let _ = drain.join();
    Run { out, killed }
}

fn file_workload(
    name: &str,
    writer: Writer,
    flash: &Path,
    cuts: u32,
    seed: u64,
    must_keep: bool,
) -> FileCounts {
    let mut rng = Seeded(seed);
    let mut counts = FileCounts::default();
    // The oldest version each slot may hold: the newest one whose close was printed.
    let mut floor: Vec<Option<u64>> = vec![None; SLOTS as usize];
    // The step the last cut interrupted (the one after the last marker printed).
    let mut inflight: Option<u64> = None;
    let mut next = 0u64;
    let verify = exec_line(VERIFY);
    for cut in 0..=cuts {
        let last = cut == cuts;
        let k = rng.below(STEPS - 1);
        let kill = format!("<W{}>", next + k);
        let r = if last {
            run(flash, &verify, None)
        } else {
            cut_run(writer, flash, &verify, next, &kill)
        };
        assert!(
            r.out.contains(PROMPT),
            "{name}: boot after cut {cut} never reached the REPL:\n{}",
            r.out
        );
        let slots = parse_slots(&r.out[..r.out.rfind("<V>").unwrap_or(r.out.len())])
            .unwrap_or_else(|| panic!("{name}: no verification after cut {cut}:\n{}", r.out));
        if cut > 0 {
            if slots.iter().all(|s| *s == Slot::Missing) && floor.iter().any(Option::is_some) {
                counts.volume_reformatted += 1;
            }
            for (s, slot) in slots.iter().enumerate() {
                let want = floor[s];
                if let Some(w) = want {
                    counts.closed_checked += 1;
                    match slot {
                        Slot::Version(v) if *v >= w => counts.closed_intact += 1,
                        Slot::Damaged(_) => counts.closed_damaged += 1,
                        _ => counts.closed_lost += 1,
                    }
                }
                let writing = inflight.filter(|i| i % SLOTS == s as u64);
                if let Some(step) = writing {
                    match slot {
                        Slot::Version(v) if *v == step => counts.inflight_new += 1,
                        Slot::Damaged(_) => counts.inflight_torn += 1,
                        _ => counts.inflight_old += 1,
                    }
                }
                if must_keep {
                    match (slot, want) {
                        (Slot::Version(v), Some(w)) => assert!(
                            *v >= w,
                            "{name}: cut {cut}: slot {s} went back from v{w} to v{v}"
                        ),
                        (Slot::Version(_) | Slot::Missing, None) => {}
                        (Slot::Empty, None) if writing.is_some() => {}
                        (other, _) => panic!(
                            "{name}: cut {cut}: slot {s} closed as v{want:?} is now {other:?} \
                             (in flight: {writing:?})"
                        ),
                    }
                }
                // What is there now is what the next cut must keep.
                floor[s] = match slot {
                    Slot::Version(v) => Some(*v),
                    _ => None,
                };
            }
        }
        if last {
            break;
        }
        assert!(
            r.killed,
            "{name}: run {cut} ended before {kill}:\n{}",
            r.out
        );
        counts.cuts += 1;
        // Every step whose marker the device printed had closed its file.
        let mut i = next;
        while r.out.contains(&format!("<W{i}>")) {
            floor[(i % SLOTS) as usize] = Some(i);
            i += 1;
        }
        if i < next + STEPS {
            counts.cut_inside_workload += 1;
        }
        inflight = Some(i);
        next = i + 1;
    }
    counts
}

// ----- OTA workload ------------------------------------------------------------------------

/// Writes `/flash/fw.bin` (an image) with `pycom.ota_*` in 4 KiB blocks: `<O{k}>` after block
/// `k`, `<F>` before `ota_finish()`, `<D>` after it.
const OTA: &str = "import pycom
def ota():
    f = open('/flash/fw.bin', 'rb')
    img = f.read()
    f.close()
    pycom.ota_start()
    k = 0
    for o in range(0, len(img), 4096):
        pycom.ota_write(img[o:o + 4096])
        print('<O%d>' % k)
        k += 1
    print('<%s>' % 'F')
    pycom.ota_finish()
    print('<%s>' % 'D')
ota()
";

#[derive(Debug, Default)]
struct OtaCounts {
    cuts: u32,
    old_image: u32,
    new_image: u32,
}

/// Whether the flash file's boot record (otadata at 0x1FF000 on a LoPy4) points at a new image
/// in ota_0 waiting for its check: what `ota_finish` (and the FTP OTA) write last. Read from the
/// file after the cut, it says whether the update finished; the UART cannot say, since the
/// device may have printed more than reached the pipe before the kill.
fn update_recorded(flash: &Path) -> bool {
    let bytes = std::fs::read(flash).expect("read the flash file");
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let otadata = 0x1F_F000;
    (word(otadata), word(otadata + 4)) == (1, 0)
}

fn banner_version(out: &str) -> Option<&str> {
    let rest = &out[out.rfind("Pycom MicroPython ")? + "Pycom MicroPython ".len()..];
    rest.split(' ').next()
}

/// Builds the update image (1.20.2.r7, about 40 KB) in `dir`.
fn update_image(dir: &Path) -> PathBuf {
    // A frozen module of 40 KB makes an image of ten 4 KiB blocks, so the cuts spread over the
    // ota_write loop.
    let frozen = dir.join("frozen");
    std::fs::create_dir_all(&frozen).expect("frozen dir");
    std::fs::write(
        frozen.join("filler.py"),
        format!("# {}\n", "x".repeat(40_000)),
    )
    .expect("frozen module");
    let image = dir.join("fw.bin");
    let built = Command::new(BIN)
        .args(["image", "build", "--version", "1.20.2.r7", "--frozen"])
        .arg(&frozen)
        .arg("-o")
        .arg(&image)
        .output()
        .expect("image build");
    assert!(built.status.success(), "{built:?}");
    image
}

fn ota_workload(dir: &Path, cuts: u32, seed: u64) -> OtaCounts {
    let base = fresh_flash(dir, "ota-base.flash");
    let image = update_image(dir);
    let put = Command::new(BIN)
        .args(["fs", "put"])
        .arg(&image)
        .arg("/flash/fw.bin")
        .arg("--flash")
        .arg(&base)
        .output()
        .expect("fs put");
    assert!(put.status.success(), "{put:?}");
    let blocks = std::fs::metadata(&image)
        .expect("image")
        .len()
        .div_ceil(4096);
    let mut rng = Seeded(seed);
    let mut counts = OtaCounts::default();
    let flash = dir.join("ota.flash");
    let ota = exec_line(OTA);
    for cut in 0..cuts {
        std::fs::copy(&base, &flash).expect("copy the flash file");
        // Any block, the moment before ota_finish, or just after it.
        let pick = rng.below(blocks + 2);
        let kill = match pick {
            k if k < blocks => format!("<O{k}>"),
            k if k == blocks => "<F>".to_owned(),
            _ => "<D>".to_owned(),
        };
        let r = run(&flash, &ota, Some(&kill));
        assert!(r.killed, "OTA run {cut} ended before {kill}:\n{}", r.out);
        counts.cuts += 1;
        let finished = update_recorded(&flash);
        // Boot twice: the first boot after a finished update verifies and switches.
        let after = run(&flash, "", None);
        assert!(
            after.out.contains(PROMPT),
            "OTA cut {cut} ({kill}): no REPL:\n{}",
            after.out
        );
        match (banner_version(&after.out), finished) {
            (Some("1.20.2.r4"), false) => counts.old_image += 1,
            (Some("1.20.2.r7"), true) => counts.new_image += 1,
            (other, _) => panic!(
                "OTA cut {cut} at {kill} (update recorded: {finished}) booted {other:?}:\n{}",
                after.out
            ),
        }
    }
    counts
}

/// Uploads the image given as argv[2] to `/flash/sys/appimg.bin` (the firmware's OTA over FTP)
/// in 4 KiB blocks: `<B{k}>` once block `k` is sent, `<T>` after the server's `226`.
const FTP_OTA_CLIENT: &str = "import ftplib, sys
f = ftplib.FTP()
f.connect('127.0.0.1', int(sys.argv[1]), timeout=20)
f.login('micro', 'python')
sent = [0]
def block(b):
    print('<B%d>' % sent[0], flush=True)
    sent[0] += 1
f.storbinary('STOR /flash/sys/appimg.bin', open(sys.argv[2], 'rb'), 4096, block)
print('<T>', flush=True)
";

/// FTP OTA cut at seeded blocks: the next boot is on the old image unless the server had
/// verified the whole image and switched the boot record before the cut.
fn ftp_ota_workload(dir: &Path, cuts: u32, seed: u64) -> OtaCounts {
    let base = fresh_flash(dir, "ftp-ota-base.flash");
    let image = update_image(dir);
    let blocks = std::fs::metadata(&image)
        .expect("image")
        .len()
        .div_ceil(4096);
    let flash = dir.join("ftp-ota.flash");
    let mut rng = Seeded(seed);
    let mut counts = OtaCounts::default();
    for cut in 0..cuts {
        std::fs::copy(&base, &flash).expect("copy the flash file");
        let pick = rng.below(blocks + 1);
        let kill = if pick < blocks {
            format!("<B{pick}>")
        } else {
            "<T>".to_owned()
        };
        let r = ftp_client(
            &flash,
            FTP_OTA_CLIENT,
            &[image.to_str().expect("utf-8")],
            &kill,
        );
        assert!(
            r.killed,
            "FTP OTA run {cut} ended before {kill}:\n{}",
            r.out
        );
        counts.cuts += 1;
        let finished = update_recorded(&flash);
        let after = run(&flash, "", None);
        assert!(
            after.out.contains(PROMPT),
            "FTP OTA cut {cut}: no REPL:\n{}",
            after.out
        );
        match (banner_version(&after.out), finished) {
            (Some("1.20.2.r4"), false) => counts.old_image += 1,
            (Some("1.20.2.r7"), true) => counts.new_image += 1,
            (other, _) => panic!(
                "FTP OTA cut {cut} at {kill} (update recorded: {finished}) booted {other:?}:\n{}",
                after.out
            ),
        }
    }
    counts
}

/// esptool (the venv's, over the pty of a board in download mode) writing the update image into
/// the ota_0 slot through the ROM protocol without its stub, one 1 KiB FLASH_DATA block at a
/// time: `<E{k}>` once the ROM acknowledged block `k`, `<T>` after FLASH_END. Arguments: the
/// pty, the image, the offset.
const ESPTOOL_CLIENT: &str = "import sys
from esptool.targets import ESP32ROM
esp = ESP32ROM(sys.argv[1], 115200)
esp.connect('no_reset')
data = open(sys.argv[2], 'rb').read()
size = esp.FLASH_WRITE_SIZE
blocks = (len(data) + size - 1) // size
esp.flash_begin(blocks * size, int(sys.argv[3], 0))
for k in range(blocks):
    block = data[k * size:(k + 1) * size]
    esp.flash_block(block + b'\\xff' * (size - len(block)), k)
    print('<E%d>' % k, flush=True)
esp.flash_finish(False)
print('<T>', flush=True)
";

/// esptool's write_flash into ota_0 cut at seeded blocks: esptool never touches otadata, so
/// whatever was written, the next normal boot is the running image's, at the REPL (a module
/// whose *running* slot is cut mid-write has no image to boot; its ROM's download mode, which
/// the cut cannot touch, is the way back, as the ROM loader test shows).
fn esptool_workload(dir: &Path, cuts: u32, seed: u64) -> OtaCounts {
    use std::io::BufRead;
    let base = fresh_flash(dir, "esptool-base.flash");
    let image = update_image(dir);
    let blocks = std::fs::metadata(&image)
        .expect("image")
        .len()
        .div_ceil(1024);
    let ota0 = pycom_sim::board::Board::builtin("lopy4")
        .expect("lopy4")
        .ota0_offset();
    let python = host_tools::venv().join("bin/python");
    let flash = dir.join("esptool.flash");
    let mut rng = Seeded(seed);
    let mut counts = OtaCounts::default();
    for cut in 0..cuts {
        std::fs::copy(&base, &flash).expect("copy the flash file");
        let pick = rng.below(blocks + 1);
        let kill = if pick < blocks {
            format!("<E{pick}>")
        } else {
            "<T>".to_owned()
        };
        let mut sim = Command::new(BIN)
            .args([
                "run", "--time", "virtual", "--pty", "--ground", "G23", "--flash",
            ])
            .arg(&flash)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pycom-sim in download mode");
        let mut stdout = std::io::BufReader::new(sim.stdout.take().expect("stdout"));
        let mut pty = String::new();
        stdout.read_line(&mut pty).expect("the pty path");
        let drain = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let mut client = Command::new(&python);
        client
            .args(["-c", ESPTOOL_CLIENT, pty.trim()])
            .arg(&image)
            .arg(format!("{ota0:#x}"));
        let Run { out, killed } = cut_at_marker(sim, drain, client, &kill);
        assert!(killed, "esptool run {cut} ended before {kill}:\n{out}");
        counts.cuts += 1;
        let after = run(&flash, "", None);
        assert!(
            after.out.contains(PROMPT),
            "esptool cut {cut} ({kill}): no REPL:\n{}",
            after.out
        );
        match banner_version(&after.out) {
            Some("1.20.2.r4") => counts.old_image += 1,
            other => panic!(
                "esptool cut {cut} at {kill} booted {other:?}:\n{}",
                after.out
            ),
        }
        if kill == "<T>" {
            // The whole image reached the slot: the write itself worked.
            let bytes = std::fs::read(&flash).expect("read the flash file");
            let written = std::fs::read(&image).expect("image");
            let at = ota0 as usize;
            assert_eq!(
                &bytes[at..at + written.len()],
                &written[..],
                "ota_0 after esptool"
            );
            counts.new_image += 1;
        }
    }
    counts
}

/// The table of workloads: cut each at seeded points, boot after every cut, and check.
#[test]
fn power_cuts_lose_nothing_on_littlefs_and_ota_keeps_the_old_image() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");

    let lfs = littlefs_flash(dir.path(), "lfs.flash");
    let lfs_counts = file_workload("littlefs", Writer::Repl, &lfs, 36, 0x5EED_0001, true);
    println!("littlefs file writes: {lfs_counts:?}");
    assert_eq!(lfs_counts.closed_intact, lfs_counts.closed_checked);
    assert_eq!(lfs_counts.inflight_torn, 0);

    let fat = fresh_flash(dir.path(), "fat.flash");
    let fat_counts = file_workload("fat", Writer::Repl, &fat, 36, 0x5EED_0002, false);
    println!("fat file writes: {fat_counts:?}");

    let ftp = littlefs_flash(dir.path(), "ftp.flash");
    let ftp_counts = file_workload("littlefs via ftp", Writer::Ftp, &ftp, 10, 0x5EED_0004, true);
    println!("littlefs ftp uploads: {ftp_counts:?}");
    assert_eq!(ftp_counts.closed_intact, ftp_counts.closed_checked);

    let ota_counts = ota_workload(dir.path(), 16, 0x5EED_0003);
    println!("ota_write loops: {ota_counts:?}");
    assert!(
        ota_counts.old_image > 0 && ota_counts.new_image > 0,
        "{ota_counts:?}"
    );

    let ftp_ota_counts = ftp_ota_workload(dir.path(), 8, 0x5EED_0005);
    println!("ftp appimg.bin uploads: {ftp_ota_counts:?}");
    assert!(ftp_ota_counts.old_image > 0, "{ftp_ota_counts:?}");

    // Here `old_image` is every boot (all on the running image) and `new_image` the runs that
    // wrote the whole image into ota_0 before the cut.
    let esptool_counts = esptool_workload(dir.path(), 6, 0x5EED_0006);
    println!("esptool write_flash into ota_0: {esptool_counts:?}");
    assert_eq!(
        esptool_counts.old_image, esptool_counts.cuts,
        "{esptool_counts:?}"
    );

    let total = lfs_counts.cuts
        + fat_counts.cuts
        + ftp_counts.cuts
        + ota_counts.cuts
        + ftp_ota_counts.cuts
        + esptool_counts.cuts;
    println!(
        "{total} power cuts in {:.1} s; every boot reached the REPL",
        started.elapsed().as_secs_f64()
    );
    assert!(total >= 100);
}

/// Runs `pycom-sim fs ARGS --flash FLASH`; returns stdout, panicking with stderr on failure.
fn fs_cli(flash: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("fs")
        .args(args)
        .arg("--flash")
        .arg(flash)
        .output()
        .expect("run pycom-sim fs");
    assert!(
        out.status.success(),
        "fs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the line typed as `line` printed: the text between its echo and the next prompt.
fn answer<'a>(out: &'a str, line: &str) -> &'a str {
    let echo = format!("{PROMPT}{line}\r\n");
    let start = out
        .find(&echo)
        .unwrap_or_else(|| panic!("no {line:?} in:\n{out}"))
        + echo.len();
    let rest = &out[start..];
    rest[..rest.find(PROMPT).unwrap_or(rest.len())].trim_end()
}

/// The firmware's default when the config block is erased is LittleFS (reference §11.1): a flash
/// whose config sector was erased boots LittleFS, the old FAT is not converted (its files are
/// gone, the region is formatted), the os functions work on it, `pycom-sim fs` reads and writes
/// it, and `pycom.bootmgr(fs_type=pycom.FAT)` goes back the same way.
#[test]
fn an_erased_config_boots_littlefs_and_every_tool_works_on_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = fresh_flash(dir.path(), "erased.flash");
    std::fs::write(dir.path().join("old.py"), "print('on FAT')\n").expect("host file");
    fs_cli(
        &flash,
        &[
            "put",
            dir.path().join("old.py").to_str().unwrap(),
            "/flash/old.py",
        ],
    );
    assert!(fs_cli(&flash, &["ls"]).contains("old.py"));
    // Erase the config sector, as `esptool erase_region 0x3ff000 0x1000` would.
    let mut bytes = std::fs::read(&flash).expect("read flash");
    bytes[0x3F_F000..0x40_0000].fill(0xFF);
    std::fs::write(&flash, &bytes).expect("write flash");

    let lines = [
        "import os, pycom",
        "pycom.bootmgr()[1]",
        "os.listdir('/flash')",
        // 4 MiB of 4 KiB blocks, less the superblock pair and the pairs of /sys, /lib, /cert
        // (main.py and boot.py are inlined in the root's pair): (1024 - 8) * 4.
        "os.getfree('/flash')",
        "os.statvfs('/flash')[:4]",
        "open('/flash/lib/m.py', 'w').write('X = 1\\n')",
        "open('/flash/lib/m.py', 'a').write('Y = 2\\n')",
        "os.rename('/flash/lib/m.py', '/flash/lib/mod.py')",
        "os.chdir('/flash/lib'); import mod; mod.X + mod.Y, os.getcwd()",
        "os.stat('/flash/lib/mod.py')[6]",
        "os.mkdir('/flash/empty'); os.rmdir('/flash/empty'); 'empty' in os.listdir('/flash')",
        "os.rmdir('/flash/lib')",
        "os.remove('/flash/nope')",
        // Asking for the type an erased byte already means writes nothing and resets nothing.
        "pycom.bootmgr(fs_type=pycom.LittleFS, reset=True); 'no reset'",
    ];
    let input: String = lines.iter().map(|l| format!("{l}\r")).collect();
    let r = run(&flash, &input, None);
    let out = &r.out;
    assert_eq!(answer(out, lines[1]), "'LittleFS'");
    assert_eq!(
        answer(out, lines[2]),
        "['boot.py', 'cert', 'lib', 'main.py', 'sys']"
    );
    assert_eq!(answer(out, lines[3]), "4064");
    assert_eq!(answer(out, lines[4]), "(4096, 4096, 1024, 1016)");
    assert_eq!(answer(out, lines[5]), "6");
    assert_eq!(answer(out, lines[8]), "(3, '/flash/lib')");
    assert_eq!(answer(out, lines[9]), "12");
    assert_eq!(answer(out, lines[10]), "False");
    // Pycom's LittleFS VFS: a directory not empty is ENOTEMPTY (39; FatFS says EACCES).
    assert!(answer(out, lines[11]).ends_with("OSError: 39"), "{out}");
    assert!(
        answer(out, lines[12]).ends_with("OSError: [Errno 2] ENOENT"),
        "{out}"
    );
    assert_eq!(answer(out, lines[13]), "'no reset'");

    // The offline tool sees the device's files and hands it new ones.
    let ls = fs_cli(&flash, &["ls", "/flash/lib"]);
    assert_eq!(ls, "       12  mod.py\n");
    assert_eq!(
        fs_cli(&flash, &["get", "/flash/lib/mod.py"]),
        "X = 1\nY = 2\n"
    );
    std::fs::write(dir.path().join("put.txt"), "from the host").expect("host file");
    fs_cli(
        &flash,
        &[
            "put",
            dir.path().join("put.txt").to_str().unwrap(),
            "/flash/",
        ],
    );
    fs_cli(&flash, &["mkdir", "/flash/data"]);
    assert_eq!(
        fs_cli(&flash, &["ls"]),
        "       29  boot.py\n        -  cert/\n        -  data/\n        -  lib/\n       34  main.py\n\
         \x20      13  put.txt\n        -  sys/\n"
    );

    // fsformat (and the page's mkfs) empty the LittleFS; then back to FAT, formatted anew.
    let lines = [
        "import os, pycom",
        "open('/flash/put.txt').read()",
        "os.fsformat('/flash'); os.listdir('/flash')",
        "_ = open('/flash/x.txt', 'w').write('x'); os.mkfs('/flash'); os.listdir('/flash')",
        "pycom.bootmgr(fs_type=pycom.FAT, reset=True)",
        "import os, pycom; pycom.bootmgr()[1], os.listdir('/flash')",
    ];
    let input: String = lines.iter().map(|l| format!("{l}\r")).collect();
    let r = run(&flash, &input, None);
    assert_eq!(answer(&r.out, lines[1]), "'from the host'");
    assert_eq!(answer(&r.out, lines[2]), "[]");
    assert_eq!(answer(&r.out, lines[3]), "[]");
    assert_eq!(
        answer(&r.out, lines[5]),
        "('FAT', ['main.py', 'sys', 'lib', 'cert', 'boot.py'])"
    );
    assert_eq!(
        fs_cli(&flash, &["ls"]),
        "       29  boot.py\n        -  cert/\n        -  lib/\n       34  main.py\n        -  sys/\n"
    );
}

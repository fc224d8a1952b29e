//! The UART on the wire, tested with the host tools people use: mpremote over the pty (both REPL
//! profiles), pyserial over `socket://`, and a telnet client (Python's telnetlib) against
//! Pycom's login. Needs Python 3 and PyPI through `scripts/python-venv` (as tests/esptool.rs).

mod host_tools;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use host_tools::{collect, venv, wait_for};

/// How long a wait for the device or a tool may take, in wall time.
const LIMIT: Duration = Duration::from_secs(30);

/// A `pycom-sim run` process serving transports, with what it printed so far.
struct Sim {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    pty: Option<String>,
}

impl Sim {
    fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
            .args(["run", "--fresh", "--time", "real"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pycom-sim");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let pty = if args.contains(&"--pty") {
            let mut first = String::new();
            out.read_line(&mut first).expect("the pty path");
            Some(first.trim_end().to_string())
        } else {
            None
        };
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(out, stdout.clone());
        collect(child.stderr.take().expect("stderr"), stderr.clone());
        let sim = Sim {
            child,
            stdout,
            stderr,
            pty,
        };
        // The device is ready once its prompt went out of UART0 (the terminal's copy).
        sim.wait_stdout(">>> ");
        sim
    }

    fn wait_stdout(&self, want: &str) {
        wait_for(&self.stdout, want, LIMIT, || {
            self.stderr.lock().unwrap().clone()
        });
    }

    /// Waits until the UART text after the last `mark` holds `want` (a prompt after a reboot).
    fn wait_stdout_after(&self, mark: &str, want: &str) {
        self.wait_stdout(mark);
        let start = Instant::now();
        loop {
            let text = self.uart();
            let after = text.rsplit_once(mark).map_or("", |(_, a)| a);
            if after.contains(want) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never saw {want:?} after {mark:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The port of the listener the run announced on stderr as `what on ADDR`.
    fn port(&self, what: &str) -> u16 {
        let pattern = format!("{what} on 127.0.0.1:");
        wait_for(&self.stderr, &pattern, LIMIT, String::new);
        let text = self.stderr.lock().unwrap().clone();
        let rest = &text[text.find(&pattern).unwrap() + pattern.len()..];
        rest.lines().next().unwrap().trim().parse().expect("a port")
    }

    fn uart(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mpremote connect PORT ARGS…`; returns its stdout (the device's CR LF as LF), asserting it
/// succeeded.
fn mpremote(port: &str, args: &[&str]) -> String {
    let out = Command::new(venv().join("bin/mpremote"))
        .args(["connect", port])
        .args(args)
        .output()
        .expect("run mpremote");
    let stdout = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(
        out.status.success(),
        "mpremote {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a Python snippet with the venv's interpreter; returns its stdout.
fn python(code: &str) -> String {
    let out = Command::new(venv().join("bin/python"))
        .args(["-c", code])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn mpremote_over_the_pty_runs_code_and_manages_files() {
    let sim = Sim::start(&["--pty"]);
    let pty = sim.pty.clone().expect("pty path");
    assert!(pty.starts_with("/dev/pts/"), "{pty}");
    assert_eq!(mpremote(&pty, &["exec", "print(6*7)"]), "42\n");
    assert_eq!(mpremote(&pty, &["eval", "1+1"]), "2\n");

    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("data.bin");
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    mpremote(&pty, &["fs", "cp", local.to_str().unwrap(), ":data.bin"]);
    let listing = mpremote(&pty, &["fs", "ls"]);
    assert!(listing.contains("        3000 data.bin"), "{listing}");
    let back = dir.path().join("back.bin");
    mpremote(&pty, &["fs", "cp", ":data.bin", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), data);
    let sums = mpremote(&pty, &["fs", "sha256sum", ":data.bin"]);
    assert!(sums.contains(&sha256_hex(&data)), "{sums}");
    mpremote(&pty, &["fs", "mkdir", ":logs"]);
    mpremote(&pty, &["fs", "rm", ":data.bin"]);
    let listing = mpremote(&pty, &["fs", "ls"]);
    assert!(listing.contains("logs/"), "{listing}");
    assert!(!listing.contains("data.bin"), "{listing}");

    let script = dir.path().join("script.py");
    std::fs::write(&script, "import os\nprint('cwd', os.getcwd())\n").unwrap();
    assert_eq!(
        mpremote(&pty, &["run", script.to_str().unwrap()]),
        "cwd /flash\n"
    );
    // mpremote's `df` needs `vfs` (MicroPython >= 1.23); firmware 1.20 has none, so it fails
    // here as on the module.
    let df = Command::new(venv().join("bin/mpremote"))
        .args(["connect", &pty, "df"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&df.stdout).contains("ImportError: no module named 'vfs'"),
        "{}",
        String::from_utf8_lossy(&df.stdout)
    );
    // The firmware's own soft-reboot text on UART0.
    mpremote(&pty, &["soft-reset"]);
    sim.wait_stdout_after("PYB: soft reboot", ">>> ");
    // `reset` is machine.reset(): the ROM and bootloader run again; the pty stays.
    mpremote(&pty, &["reset"]);
    // The next client connects once the rebooted firmware is at its prompt, as a person would.
    sim.wait_stdout_after("rst:0x7 (TG0WDT_SYS_RESET)", ">>> ");
    assert_eq!(mpremote(&pty, &["eval", "2+3"]), "5\n");
    // A client that vanished left nothing behind: the terminal's copy shows the prompt again.
    assert!(sim.uart().ends_with(">>> "), "{}", sim.uart());
}

#[test]
fn a_pty_link_names_the_pty_and_goes_with_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("lopy4");
    {
        let sim = Sim::start(&["--pty", "--pty-link", link.to_str().unwrap()]);
        let target = std::fs::read_link(&link).expect("the link");
        assert_eq!(target, PathBuf::from(sim.pty.clone().unwrap()));
        assert_eq!(
            mpremote(link.to_str().unwrap(), &["eval", "'via link'"]),
            "via link\n"
        );
        let mut sim = sim;
        // Ctrl-C (SIGINT) ends the run as a user's Ctrl-C does.
        let _ = Command::new("kill")
            .args(["-INT", &sim.child.id().to_string()])
            .status();
        let _ = sim.child.wait();
    }
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link outlived the run"
    );
}

#[test]
fn the_micropython_profile_answers_raw_paste_and_says_mpy() {
    let sim = Sim::start(&["--pty", "--repl-profile", "micropython"]);
    let pty = sim.pty.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big.bin");
    let data: Vec<u8> = (0..65536u32).map(|i| (i * 31 % 256) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    mpremote(&pty, &["fs", "cp", local.to_str().unwrap(), ":big.bin"]);
    let back = dir.path().join("back.bin");
    mpremote(&pty, &["fs", "cp", ":big.bin", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), data);
    // `df` through MicroPython >= 1.23's `vfs` module, which this profile has.
    let df = mpremote(&pty, &["df"]);
    assert!(df.contains("<VfsFat>") && df.ends_with(" /flash\n"), "{df}");
    mpremote(&pty, &["soft-reset"]);
    sim.wait_stdout("MPY: soft reboot");
    assert!(
        sim.uart()
            .contains("MicroPython v1.11-ffb0e1c on 2021-01-12; LoPy4 with ESP32"),
        "{}",
        sim.uart()
    );
    // The raw-paste exchange byte by byte, as mpremote's transport does it.
    let transcript = python(&format!(
        r#"
import serial, time
s = serial.Serial({pty:?}, timeout=5)
s.write(b"\r\x03\r\x01")
time.sleep(0.3); s.reset_input_buffer()
s.write(b"\x05A\x01")
head = s.read(5)
s.write(b"print(40+2)\x04")
ack = s.read(1)
rest = s.read_until(b"\x04>")
print(repr(head), repr(ack), repr(rest))
s.write(b"\r\x02")
"#
    ));
    assert_eq!(
        transcript.trim(),
        r"b'R\x01\x80\x00\x01' b'\x04' b'42\r\n\x04\x04>'"
    );
}

#[test]
fn pyserial_reaches_the_repl_over_raw_tcp() {
    let sim = Sim::start(&["--tcp", "0"]);
    let port = sim.port("raw TCP");
    let out = python(&format!(
        r#"
import serial
s = serial.serial_for_url("socket://127.0.0.1:{port}", timeout=10)
s.write(b"print(7*6)\r")
print(s.read_until(b"42\r\n>>> ").decode().replace("\r", ""))
"#
    ));
    assert!(out.contains("print(7*6)\n42\n>>> "), "{out}");
}

#[test]
fn telnet_logs_in_as_the_module_does_and_refuses_a_wrong_password() {
    let sim = Sim::start(&["--telnet", "0", "--user", "teacher", "--password", "s3cret"]);
    let port = sim.port("telnet");
    let out = python(&format!(
        r#"
import telnetlib, warnings
warnings.simplefilter("ignore")
t = telnetlib.Telnet("127.0.0.1", {port}, timeout=10)
print(t.read_until(b"Login as: ").decode(errors="replace"))
t.write(b"teacher\r\n")
t.read_until(b"Password: ")
t.write(b"s3cret\r\n")
print(t.read_until(b"for more information.\r\n").decode(errors="replace"))
t.read_until(b">>> ")
t.write(b"print(5*5)\r\n")
print(t.read_until(b"25\r\n").decode(errors="replace"))
"#
    ));
    assert!(
        out.contains("MicroPython v1.11-ffb0e1c on 2021-01-12; LoPy4 with ESP32\r\n"),
        "{out}"
    );
    assert!(out.contains("Login succeeded!\r\nType \"help()\""), "{out}");
    assert!(out.contains("print(5*5)\r\n25\r\n"), "{out}");
    // The REPL is shared with UART0: the terminal saw the line too.
    sim.wait_stdout("print(5*5)\r\n25\r\n");

    let out = python(&format!(
        r#"
import telnetlib, warnings
warnings.simplefilter("ignore")
t = telnetlib.Telnet("127.0.0.1", {port}, timeout=10)
for attempt in range(3):
    t.read_until(b"Login as: ")
    t.write(b"teacher\r\n")
    t.read_until(b"Password: ")
    t.write(b"print('leak')\r\n")
    print(t.read_until(b"try again.\r\n").decode(errors="replace").strip())
try:
    rest = t.read_all()
except EOFError:
    rest = b""
print("closed", rest)
"#
    ));
    assert_eq!(
        out.matches("Invalid credentials, try again.").count(),
        3,
        "{out}"
    );
    assert!(out.contains("closed b''"), "{out}");
    // A wrong password never reaches the REPL.
    assert!(!sim.uart().contains("leak"), "{}", sim.uart());
}

#[test]
fn a_telnet_session_ends_when_the_chip_resets() {
    // The module's WiFi goes down with the chip: the client's connection closes, and what it
    // sends after the reset never reaches the new boot's REPL.
    let sim = Sim::start(&["--telnet", "0"]);
    let port = sim.port("telnet");
    let out = python(&format!(
        r#"
import telnetlib, warnings
warnings.simplefilter("ignore")
def login():
    t = telnetlib.Telnet("127.0.0.1", {port}, timeout=30)
    t.read_until(b"Login as: ")
    t.write(b"micro\r\n")
    t.read_until(b"Password: ")
    t.write(b"python\r\n")
    t.read_until(b">>> ")
    return t
t = login()
t.write(b"import machine; machine.reset()\r\n")
try:
    seen = t.read_all()
except (EOFError, ConnectionError):
    seen = b""
print("closed", b"Type" in seen)
try:
    t.write(b"print('after' + 'reset')\r\n")
except OSError:
    pass
t = login()
t.write(b"print(6*7)\r\n")
print(t.read_until(b"42\r\n").decode(errors="replace"))
"#
    ));
    // Closed at the reset, before the new boot's banner.
    assert!(out.contains("closed False"), "{out}");
    assert!(out.contains("print(6*7)\r\n42\r\n"), "{out}");
    assert!(!sim.uart().contains("afterreset"), "{}", sim.uart());
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .args(["run", "--fresh", "--tcp", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--tcp 127.0.0.1:{port}: the port is in use")),
        "{err}"
    );
}

#[test]
fn rfc2217_carries_the_repl_and_its_dtr_rts_reset_the_board_as_a_devkit_s_do() {
    let sim = Sim::start(&["--rfc2217", "0", "--auto-reset"]);
    let port = sim.port("RFC 2217");
    let out = python(&format!(
        r#"
import serial, time
s = serial.serial_for_url("rfc2217://127.0.0.1:{port}", baudrate=115200, timeout=10)
s.reset_input_buffer()
s.write(b"print(6*7)\r")
print(s.read_until(b"42\r\n>>> ")[-6:])
s.baudrate = 921600   # accepted, as a serial server does
# esptool's classic reset into the ROM loader: EN low, then out of reset with GPIO0 low.
s.dtr = False; s.rts = True; time.sleep(0.1); s.dtr = True; s.rts = False; time.sleep(0.05); s.dtr = False
print(s.read_until(b"waiting for download\r\n")[-60:])
# A plain reset pulse on RTS: a normal boot to the prompt.
s.rts = True; time.sleep(0.1); s.rts = False
print(s.read_until(b">>> ")[-8:])
"#
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], r"b'\r\n>>> '", "{out}");
    assert!(lines[1].ends_with(r"waiting for download\r\n'"), "{out}");
    assert_eq!(lines[2], r"b'n.\r\n>>> '", "{out}");
    let uart = sim.uart();
    assert!(
        uart.contains(
            "boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download"
        ),
        "{uart}"
    );
    assert_eq!(uart.matches("rst:0x1 (POWERON_RESET)").count(), 3, "{uart}");
}

#[test]
fn without_auto_reset_the_modem_lines_touch_nothing() {
    let sim = Sim::start(&["--rfc2217", "0"]);
    let port = sim.port("RFC 2217");
    let out = python(&format!(
        r#"
import serial, time
s = serial.serial_for_url("rfc2217://127.0.0.1:{port}", timeout=10)
s.dtr = False; s.rts = True; time.sleep(0.2); s.rts = False; time.sleep(0.3)
s.write(b"print('same boot')\r")
print(s.read_until(b"same boot\r\n>>> ")[-15:])
"#
    ));
    assert!(out.contains(r"same boot\r\n>>> "), "{out}");
    assert_eq!(sim.uart().matches("rst:").count(), 1, "{}", sim.uart());
}

/// Runs a venv tool (`ampy`, `rshell`) and returns its stdout, asserting it succeeded.
fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(venv().join("bin").join(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn ampy_and_rshell_list_put_get_and_run_over_the_pty() {
    let sim = Sim::start(&["--pty"]);
    let pty = sim.pty.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("tool.py");
    std::fs::write(&local, "x = 1\n").unwrap();
    // ampy: the root holds /flash, as on the module.
    assert_eq!(tool("ampy", &["--port", &pty, "ls"]), "/flash\n");
    tool(
        "ampy",
        &["--port", &pty, "put", local.to_str().unwrap(), "tool.py"],
    );
    // ampy prints the file, and a line break of its own.
    assert_eq!(
        tool("ampy", &["--port", &pty, "get", "tool.py"]),
        "x = 1\n\n"
    );
    let script = dir.path().join("hello.py");
    std::fs::write(&script, "print('ampy', 2 * 21)\n").unwrap();
    assert_eq!(
        tool("ampy", &["--port", &pty, "run", script.to_str().unwrap()]),
        "ampy 42\n"
    );
    // rshell: `ls`, and a copy onto the board (hex over the serial port, as rshell does with -p).
    let listing = tool("rshell", &["-p", &pty, "--quiet", "ls", "/flash"]);
    assert!(
        listing.contains("tool.py") && listing.contains("boot.py"),
        "{listing}"
    );
    let data: Vec<u8> = b"bin\x00\x03\xff\r\n"
        .iter()
        .copied()
        .cycle()
        .take(3000)
        .collect();
    let bin = dir.path().join("data.bin");
    std::fs::write(&bin, &data).unwrap();
    tool(
        "rshell",
        &[
            "-p",
            &pty,
            "--quiet",
            "cp",
            bin.to_str().unwrap(),
            "/flash/data.bin",
        ],
    );
    let back = dir.path().join("back.bin");
    mpremote(&pty, &["fs", "cp", ":data.bin", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), data);
}

/// rshell acknowledges each block it receives with 0x06, which is Ctrl-F: the Pycom firmware
/// resets into safe boot on it at any time (§8.4), so `rshell cp` *from* a module resets it. The
/// micropython profile has no reset character, and the copy works.
#[test]
fn rshell_copies_from_the_board_in_the_micropython_profile_and_resets_a_pycom_one() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..2000u32).map(|i| (i % 253) as u8).collect();
    let bin = dir.path().join("data.bin");
    std::fs::write(&bin, &data).unwrap();
    let sim = Sim::start(&["--pty", "--repl-profile", "micropython"]);
    let pty = sim.pty.clone().unwrap();
    tool(
        "rshell",
        &[
            "-p",
            &pty,
            "--quiet",
            "cp",
            bin.to_str().unwrap(),
            "/flash/data.bin",
        ],
    );
    let back = dir.path().join("back.bin");
    tool(
        "rshell",
        &[
            "-p",
            &pty,
            "--quiet",
            "cp",
            "/flash/data.bin",
            back.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&back).unwrap(), data);
    drop(sim);

    let sim = Sim::start(&["--pty"]);
    let pty = sim.pty.clone().unwrap();
    tool(
        "rshell",
        &[
            "-p",
            &pty,
            "--quiet",
            "cp",
            bin.to_str().unwrap(),
            "/flash/data.bin",
        ],
    );
    let _ = Command::new(venv().join("bin/rshell"))
        .args([
            "-p",
            &pty,
            "--quiet",
            "cp",
            "/flash/data.bin",
            back.to_str().unwrap(),
        ])
        .output();
    sim.wait_stdout("rst:0x7 (TG0WDT_SYS_RESET)");
}

/// `mpremote mount DIR` in the micropython profile: the device imports a module from the host
/// directory, reads a host file, writes one back, lists and stats the mount, and /flash is
/// still there beside it; with the mount gone, the host's module is not found.
#[test]
fn mpremote_mount_serves_a_host_directory_to_the_device() {
    let sim = Sim::start(&["--pty", "--repl-profile", "micropython"]);
    let pty = sim.pty.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hostmod.py"), "ANSWER = 6 * 7\n").unwrap();
    std::fs::create_dir(dir.path().join("pkg")).unwrap();
    std::fs::write(dir.path().join("pkg/__init__.py"), "NAME = 'pkg'\n").unwrap();
    std::fs::write(dir.path().join("note.txt"), "hello from the host\n").unwrap();
    let code = "import os, hostmod, pkg\n\
        print('cwd', os.getcwd())\n\
        print('answer', hostmod.ANSWER, pkg.NAME)\n\
        print('note', open('note.txt').read().strip())\n\
        f = open('from_device.txt', 'w'); f.write('written on the device'); f.close()\n\
        print('ls', sorted(os.listdir()))\n\
        print('size', os.stat('note.txt')[6])\n\
        print('root', sorted(os.listdir('/')))\n\
        print('flash', 'boot.py' in os.listdir('/flash'))\n";
    let out = mpremote(&pty, &["mount", dir.path().to_str().unwrap(), "exec", code]);
    assert!(out.contains("cwd /remote\n"), "{out}");
    assert!(out.contains("answer 42 pkg\n"), "{out}");
    assert!(out.contains("note hello from the host\n"), "{out}");
    assert!(
        out.contains("ls ['from_device.txt', 'hostmod.py', 'note.txt', 'pkg']\n"),
        "{out}"
    );
    assert!(out.contains("size 20\n"), "{out}");
    assert!(out.contains("root ['flash', 'remote']\n"), "{out}");
    assert!(out.contains("flash True\n"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("from_device.txt")).unwrap(),
        "written on the device"
    );
    // mpremote unmounts when it leaves: the host's module is gone from the device.
    let after = mpremote(
        &pty,
        &[
            "exec",
            "import os\ntry:\n import hostmod\nexcept ImportError as e:\n print('gone', e)\nprint(sorted(os.listdir('/')))",
        ],
    );
    assert!(after.contains("gone no module named 'hostmod'"), "{after}");
    assert!(after.contains("['flash']"), "{after}");
}

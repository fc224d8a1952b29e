//! Pycom's FTP server, tested with real clients: Python's ftplib (from the project's venv) and
//! curl when it is installed, against the real `pycom-sim run --ftp` binary. What they see is
//! checked against what the device sees, through its REPL over `--tcp` and its UART.

mod host_tools;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use host_tools::{collect, venv, wait_for};

/// How long a wait for the device or a tool may take, in wall time.
const LIMIT: Duration = Duration::from_secs(60);

/// A `pycom-sim run --ftp 0 --tcp 0` process in virtual time, and what it printed.
struct Sim {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    ftp: u16,
    tcp: u16,
}

impl Sim {
    fn start(extra: &[&str]) -> Sim {
        Sim::start_until(extra, ">>> ")
    }

    /// Starts the run and waits for `ready` on its UART.
    fn start_until(extra: &[&str], ready: &str) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
            .args([
                "run", "--fresh", "--time", "virtual", "--ftp", "0", "--tcp", "0",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pycom-sim");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().expect("stdout"), stdout.clone());
        collect(child.stderr.take().expect("stderr"), stderr.clone());
        let mut sim = Sim {
            child,
            stdout,
            stderr,
            ftp: 0,
            tcp: 0,
        };
        sim.ftp = sim.port("FTP");
        sim.tcp = sim.port("raw TCP");
        sim.wait_uart(ready);
        sim
    }

    /// The port of the listener announced on stderr as `what on 127.0.0.1:PORT`.
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

    fn wait_uart(&self, want: &str) {
        wait_for(&self.stdout, want, LIMIT, || {
            self.stderr.lock().unwrap().clone()
        });
    }

    /// Waits until the UART text after the last `mark` holds `want`.
    fn wait_uart_after(&self, mark: &str, want: &str) {
        self.wait_uart(mark);
        let start = Instant::now();
        loop {
            let text = self.uart();
            if text
                .rsplit_once(mark)
                .is_some_and(|(_, a)| a.contains(want))
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "never saw {want:?} after {mark:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types a line at the REPL over `--tcp` and returns what it printed before the next prompt.
    fn eval(&self, line: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.tcp)).expect("connect --tcp");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(format!("{line}\r").as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let echo = format!("{line}\r\n");
        loop {
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some((_, after)) = text.split_once(&echo)
                && let Some((out, _)) = after.split_once(">>> ")
            {
                return out.replace("\r\n", "\n");
            }
            let n = s.read(&mut buf).unwrap_or_else(|e| {
                panic!("no answer to {line:?} ({e}); got {text:?}\n{}", self.uart())
            });
            assert!(n > 0, "--tcp closed; got {text:?}");
            got.extend_from_slice(&buf[..n]);
        }
    }

    /// Runs a Python script with `ftplib` imported, `PORT` set to the FTP port and `login()`
    /// giving a logged-in `ftplib.FTP`; returns its stdout.
    fn ftplib(&self, body: &str) -> String {
        let script = format!(
            "import ftplib, io, socket, sys, time\n\
             PORT = {port}\n\
             def connect():\n    f = ftplib.FTP()\n    f.connect('127.0.0.1', PORT, timeout=30)\n    return f\n\
             def login():\n    f = connect()\n    f.login('micro', 'python')\n    return f\n\
             {body}\n",
            port = self.ftp
        );
        let out = Command::new(venv().join("bin/python"))
            .args(["-c", &script])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "the ftplib script failed:\n{}\n{}\n--- UART:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.uart()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pycom-sim image build --version V [--boards B] -o PATH`; returns the image's bytes.
fn build_image(dir: &Path, version: &str, boards: Option<&str>) -> (PathBuf, Vec<u8>) {
    let path = dir.join(format!("{version}-{}.bin", boards.unwrap_or("all")));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pycom-sim"));
    cmd.args(["image", "build", "--version", version, "-o"])
        .arg(&path);
    if let Some(b) = boards {
        cmd.args(["--boards", b]);
    }
    let out = cmd.output().expect("run image build");
    assert!(
        out.status.success(),
        "image build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// Resets the chip from its REPL and waits for the new boot to print `until`; returns the UART
/// text since the reset.
fn reset_until(sim: &Sim, mark: &str, until: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", sim.tcp)).unwrap();
    s.write_all(format!("print('{mark}'); import machine; machine.reset()\r").as_bytes())
        .unwrap();
    sim.wait_uart_after(&format!("{mark}\r\n"), until);
    sim.uart()
        .rsplit_once(&format!("{mark}\r\n"))
        .unwrap()
        .1
        .to_string()
}

#[test]
fn login_listing_and_file_operations_are_the_modules() {
    let sim = Sim::start(&[]);
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("data.bin");
    std::fs::write(&local, &data).unwrap();
    let out = sim.ftplib(&format!(
        r#"
f = connect()
print('greeting', f.getwelcome())
print('before login', f.sendcmd('PWD'))
try:
    f.login('micro', 'wrong')
except ftplib.error_perm as e:
    print('wrong password', e)
print('login', f.login('micro', 'python'))
print('syst', f.sendcmd('SYST'))
print('feat', f.sendcmd('FEAT'))
print('pwd', f.sendcmd('PWD'))
lines = []
f.dir(lines.append)
print('root', lines)
try:
    f.nlst()
except ftplib.error_perm as e:
    print('nlst', e)
f.cwd('flash')
print('pwd', f.sendcmd('PWD'))
lines = []
f.dir(lines.append)
print('flash', lines)
with open({local:?}, 'rb') as src:
    print('stor', f.storbinary('STOR data.bin', src))
print('size', f.size('data.bin'))
print('mdtm', f.sendcmd('MDTM main.py'))
print('noop', f.voidcmd('NOOP'))
got = io.BytesIO()
print('retr', f.retrbinary('RETR data.bin', got.write))
print('same', got.getvalue() == open({local:?}, 'rb').read())
f.mkd('pkg')
f.storbinary('STOR pkg/util.py', io.BytesIO(b'X = 42\n'))
print('rename', f.rename('pkg/util.py', 'pkg/tools.py'))
f.storbinary('STOR gone.txt', io.BytesIO(b'bye'))
print('delete', f.delete('gone.txt'))
f.mkd('empty')
print('rmd', f.rmd('empty'))
try:
    f.rmd('pkg')
except ftplib.error_perm as e:
    print('rmd non-empty', e.args[0][:3])
try:
    f.retrbinary('RETR nothing.txt', print)
except ftplib.error_perm as e:
    print('retr missing', e.args[0][:3])
f.cwd('..')
print('pwd', f.sendcmd('PWD'))
try:
    f.cwd('/nowhere')
except ftplib.error_perm as e:
    print('cwd missing', e)
print('quit', f.quit())
"#
    ));
    let expect = [
        "greeting 220 Micropython FTP Server",
        "before login 332 ",
        "wrong password 530 ",
        "login 230 ",
        "syst 215 UNIX Type: L8",
        "feat 211 no-features",
        "pwd 257 /",
        "root ['drw-rw-r--   1 root  root         0 Jan  1 00:00 flash']",
        "nlst 502 ",
        "pwd 257 /flash",
        "stor 226 ",
        "size 5000",
        // FAT's timestamps are 1980-01-01 00:00 (reproducible flash images).
        "mdtm 213 19800101000000",
        "noop 200 ",
        "retr 226 ",
        "same True",
        "rename 250 ",
        "delete 250 ",
        "rmd 250 ",
        "rmd non-empty 550",
        "retr missing 550",
        "pwd 257 /",
        "cwd missing 550 ",
        "quit 221 ",
    ];
    for line in expect {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
    let flash_listing = out.lines().find(|l| l.starts_with("flash [")).unwrap();
    for name in ["boot.py", "main.py"] {
        assert!(
            flash_listing.contains(&format!("Jan  1 00:00 {name}'")),
            "{flash_listing}"
        );
    }
    // What the device's Python sees.
    assert_eq!(
        sim.eval("import os; l = os.listdir('/flash'); print([n in l for n in ('data.bin', 'pkg', 'gone.txt', 'empty')])"),
        "[True, True, False, False]\n"
    );
    assert_eq!(
        sim.eval("print(os.listdir('/flash/pkg'))"),
        "['tools.py']\n"
    );
    assert_eq!(
        sim.eval("print(open('/flash/pkg/tools.py').read())"),
        "X = 42\n\n"
    );
    assert_eq!(
        sim.eval(
            "d = open('/flash/data.bin', 'rb').read(); print(len(d), d == bytes((i * 7) % 256 for i in range(5000)))"
        ),
        "5000 True\n"
    );
}

#[test]
fn the_sd_card_shows_in_the_root_once_python_mounts_it() {
    let card = tempfile::tempdir().unwrap();
    std::fs::write(card.path().join("log.txt"), b"on the card").unwrap();
    let card_arg = card.path().to_str().unwrap().to_string();
    let sim = Sim::start(&["--sd", &card_arg]);
    let before = sim.ftplib("f = login(); l = []; f.dir(l.append); print(l)");
    assert!(before.contains("flash']"), "{before}");
    assert!(!before.contains(" sd'"), "{before}");
    assert_eq!(
        sim.eval("import os, machine; os.mount(machine.SD(), '/sd'); print('ok')"),
        "ok\n"
    );
    let out = sim.ftplib(
        "f = login(); l = []; f.dir(l.append); print(l)\n\
         f.cwd('/sd'); b = io.BytesIO(); f.retrbinary('RETR log.txt', b.write); print(b.getvalue())\n\
         f.storbinary('STOR new.txt', io.BytesIO(b'from ftp'))",
    );
    assert!(
        out.contains(
            "['drw-rw-r--   1 root  root         0 Jan  1 00:00 flash', \
             'drw-rw-r--   1 root  root         0 Jan  1 00:00 sd']"
        ),
        "{out}"
    );
    assert!(out.contains("b'on the card'"), "{out}");
    assert_eq!(
        std::fs::read(card.path().join("new.txt")).unwrap(),
        b"from ftp"
    );
}

#[test]
fn one_client_at_a_time_a_second_waits_and_more_are_dropped() {
    let sim = Sim::start(&[]);
    let out = sim.ftplib(
        r#"
a = login()
b = socket.create_connection(('127.0.0.1', PORT))
b.settimeout(1.0)
try:
    print('second got', b.recv(100))
except socket.timeout:
    print('second waits')
c = socket.create_connection(('127.0.0.1', PORT))
c.settimeout(10.0)
try:
    print('third got', c.recv(100))
except (ConnectionResetError, socket.timeout) as e:
    print('third got', type(e).__name__)
a.quit()
b.settimeout(10.0)
print('second then', b.recv(100))
"#,
    );
    assert!(out.contains("second waits"), "{out}");
    assert!(
        out.contains("third got b''") || out.contains("third got ConnectionResetError"),
        "{out}"
    );
    assert!(
        out.contains(r"second then b'220 Micropython FTP Server\r\n'"),
        "{out}"
    );
}

#[test]
fn uploading_appimg_bin_is_an_ota_update_and_bad_images_are_refused() {
    let sim = Sim::start(&[]);
    let first = sim.uart();
    assert!(first.contains("Pycom MicroPython 1.20.2.r4"), "{first}");
    let dir = tempfile::tempdir().unwrap();
    let (_, good) = build_image(dir.path(), "1.20.2.r9", None);
    let (_, other_board) = build_image(dir.path(), "1.20.2.r8", Some("wipy3"));
    let mut corrupt = good.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x40;
    let truncated = good[..good.len() - 100].to_vec();
    let mut wrong_chip = good.clone();
    wrong_chip[12] = 0x05; // the extended header's chip id: ESP32-C3
    let mut oversized = good.clone();
    oversized.resize(0x1EF000 + 4096, 0xFF);
    let mut cases = Vec::new();
    for (name, bytes) in [
        ("corrupt", &corrupt),
        ("truncated", &truncated),
        ("wrong_chip", &wrong_chip),
        ("other_board", &other_board),
        ("oversized", &oversized),
        ("good", &good),
    ] {
        let path = dir.path().join(format!("{name}.bin"));
        std::fs::write(&path, bytes).unwrap();
        cases.push((name, path));
    }
    let mut script = String::from("f = login()\n");
    for (name, path) in &cases[..cases.len() - 1] {
        script.push_str(&format!(
            "try:\n    r = f.storbinary('STOR /flash/sys/appimg.bin', open({path:?}, 'rb'))\n    print('{name} accepted', r)\n\
             except ftplib.error_temp as e:\n    print('{name} refused', e)\n"
        ));
    }
    let out = sim.ftplib(&script);
    for (name, _) in &cases[..cases.len() - 1] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{name} refused 451 "))),
            "{name} was not refused with 451:\n{out}"
        );
    }
    assert!(out.contains("larger than"), "{out}");
    // Refused images leave the running firmware and its record: the same image boots.
    let after = reset_until(&sim, "reset-after-bad", ">>> ");
    assert!(after.contains("Pycom MicroPython 1.20.2.r4"), "{after}");
    assert!(!after.contains("Cannot load Firmware"), "{after}");

    let (_, good_path) = &cases[cases.len() - 1];
    let out = sim.ftplib(&format!(
        "f = login(); print('good', f.storbinary('STOR /flash/sys/appimg.bin', open({good_path:?}, 'rb')))"
    ));
    assert!(out.contains("good 226 "), "{out}");
    sim.wait_uart("Full Update Image detected. Restart the device to load the new firmware.\r\n");
    let after = reset_until(&sim, "reset-after-good", ">>> ");
    assert!(after.contains("Pycom MicroPython 1.20.2.r9"), "{after}");
    assert!(!after.contains("Cannot load Firmware"), "{after}");
    // The update is not a file: /flash has no sys/appimg.bin.
    assert_eq!(
        sim.eval("import os; print('appimg.bin' in (os.listdir('/flash/sys') if 'sys' in os.listdir('/flash') else []))"),
        "False\n"
    );
}

#[test]
fn a_client_vanishing_mid_transfer_leaves_the_device_and_server_usable() {
    let sim = Sim::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (_, good) = build_image(dir.path(), "1.20.2.r9", None);
    let img = dir.path().join("img.bin");
    std::fs::write(&img, &good).unwrap();
    // Each client runs in its own process and dies with its data connection half sent.
    for target in ["/flash/big.bin", "/flash/sys/appimg.bin"] {
        let out = sim.ftplib(&format!(
            r#"
import os, struct
f = login()
f.voidcmd('TYPE I')
conn = f.transfercmd('STOR {target}')
data = open({img:?}, 'rb').read() if '{target}'.endswith('appimg.bin') else bytes(range(256)) * 1000
conn.sendall(data[:len(data) // 2])
# No FIN, no QUIT: the connection is reset, as when a laptop drops off the WiFi.
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
print('vanishing')
sys.stdout.flush()
os._exit(0)
"#
        ));
        assert!(out.contains("vanishing"), "{out}");
    }
    // The next client is served at once, and sees what the first left behind.
    let out = sim.ftplib(
        "f = login(); f.cwd('/flash'); l = []; f.dir(l.append); print(l)\n\
         f.storbinary('STOR after.txt', io.BytesIO(b'still here'))\n\
         b = io.BytesIO(); f.retrbinary('RETR after.txt', b.write); print(b.getvalue())",
    );
    assert!(out.contains("b'still here'"), "{out}");
    assert_eq!(sim.eval("print(1 + 1)"), "2\n");
    // Half an update is no update: the old firmware boots.
    let after = reset_until(&sim, "reset-after-cut", ">>> ");
    assert!(after.contains("Pycom MicroPython 1.20.2.r4"), "{after}");
}

#[test]
fn served_while_python_computes_and_while_it_sleeps() {
    let sim = Sim::start(&[]);
    // A main.py that never waits: only the runtime's service ticks can serve FTP.
    let out = sim.ftplib(
        "f = login()\n\
         f.storbinary('STOR /flash/main.py', io.BytesIO(b\"print('busy')\\nwhile True:\\n    pass\\n\"))",
    );
    assert_eq!(out, "");
    reset_until(&sim, "to-busy", "busy\r\n");
    let out = sim.ftplib(
        "f = login(); b = io.BytesIO(); f.retrbinary('RETR /flash/main.py', b.write); print(b.getvalue())\n\
         f.storbinary('STOR /flash/main.py', io.BytesIO(b\"import time\\nprint('asleep')\\nwhile True:\\n    time.sleep_ms(50)\\n\"))\n\
         print('stored')",
    );
    assert!(out.contains("while True"), "{out}");
    assert!(out.contains("stored"), "{out}");
    // Ctrl-C stops the loop; the new main.py sleeps for ever.
    let mut s = TcpStream::connect(("127.0.0.1", sim.tcp)).unwrap();
    s.write_all(b"\x03").unwrap();
    sim.wait_uart("KeyboardInterrupt");
    reset_until(&sim, "to-sleep", "asleep\r\n");
    let out = sim.ftplib(
        "f = login(); f.mkd('/flash/made'); l = []; f.cwd('/flash'); f.dir(l.append); print(l)",
    );
    assert!(out.contains(" made'"), "{out}");
}

#[test]
fn curl_lists_uploads_and_downloads() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("SKIPPED: curl is not installed; the ftplib tests cover the same server");
        return;
    }
    let sim = Sim::start(&[]);
    let base = format!("ftp://127.0.0.1:{}", sim.ftp);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("c.txt");
    std::fs::write(&local, b"via curl\n").unwrap();
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "--user", "micro:python"])
            .args(args)
            .output()
            .expect("run curl")
    };
    let put = curl(&[
        "-T",
        local.to_str().unwrap(),
        &format!("{base}/flash/c.txt"),
    ]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let list = curl(&[&format!("{base}/flash/")]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(
        text.contains("-rw-rw-r--   1 root  root         9 Jan  1 00:00 c.txt"),
        "{text}"
    );
    let get = curl(&[&format!("{base}/flash/c.txt")]);
    assert_eq!(get.stdout, b"via curl\n");
    assert_eq!(
        sim.eval("print(open('/flash/c.txt').read())"),
        "via curl\n\n"
    );
    let wrong = Command::new("curl")
        .args(["-sS", "--max-time", "30", "--user", "micro:nope"])
        .arg(format!("{base}/flash/"))
        .output()
        .unwrap();
    // curl's "login denied".
    assert_eq!(wrong.status.code(), Some(67), "{wrong:?}");
}

#[test]
fn a_custom_login_is_the_one_asked_for() {
    let sim = Sim::start(&["--user", "admin", "--password", "s3cret"]);
    let out = sim.ftplib(
        "f = connect()\n\
         try:\n    f.login('micro', 'python')\nexcept ftplib.error_perm as e:\n    print('default refused', e)\n\
         print(f.login('admin', 's3cret'))",
    );
    assert!(out.contains("default refused 530"), "{out}");
    assert!(out.contains("230"), "{out}");
}

#[test]
fn a_session_ends_when_the_chip_resets() {
    let sim = Sim::start(&[]);
    let out = sim.ftplib(&format!(
        r#"
f = login()
print('noop', f.voidcmd('NOOP'))
r = socket.create_connection(('127.0.0.1', {tcp}))
r.sendall(b"import machine; machine.reset()\r")
seen = b''
while b'Type "help()"' not in seen:
    seen += r.recv(4096)
f.sock.settimeout(30)
try:
    print('after reset', f.voidcmd('NOOP'))
except (EOFError, ConnectionError) as e:
    print('after reset', type(e).__name__)
print('again', login().voidcmd('NOOP'))
"#,
        tcp = sim.tcp
    ));
    assert!(out.contains("noop 200 "), "{out}");
    // The module's WiFi goes down with the chip: the session is closed, a new one works.
    assert!(
        out.contains("after reset EOFError") || out.contains("after reset ConnectionResetError"),
        "{out}"
    );
    assert!(out.contains("again 200 "), "{out}");
}

#[test]
fn an_upload_cut_by_a_chip_reset_writes_none_of_its_data() {
    let sim = Sim::start(&[]);
    let out = sim.ftplib(&format!(
        r#"
class ResetMidway(io.RawIOBase):
    """The upload's data: the chip resets after the first block has gone."""
    def __init__(self):
        self.blocks = 0
    def readable(self):
        return True
    def readinto(self, b):
        self.blocks += 1
        if self.blocks == 2:
            r = socket.create_connection(('127.0.0.1', {tcp}))
            r.sendall(b"import machine; machine.reset()\r")
            seen = b''
            while b'Type "help()"' not in seen:
                seen += r.recv(4096)
        if self.blocks > 3:
            return 0
        b[:4] = b'data'
        return 4
f = login()
f.sock.settimeout(30)
try:
    print('stored', f.storbinary('STOR /flash/cut.txt', ResetMidway(), blocksize=4))
except (EOFError, ConnectionError) as e:
    print('stored', type(e).__name__)
g = login()
listing = []
g.cwd('/flash')
g.retrlines('LIST', listing.append)
print('listed', listing)
print('size', g.size('cut.txt'))
"#,
        tcp = sim.tcp
    ));
    // The chip that received the first block is gone, and with it the connection. STOR made
    // the file before the reset, as the firmware opens it; no data reached it (the firmware
    // never closed it, and FAT records a file's size when it is closed).
    assert!(
        out.contains("stored EOFError") || out.contains("stored ConnectionResetError"),
        "{out}"
    );
    assert!(out.contains("main.py"), "{out}");
    assert!(out.contains("size 0\n"), "{out}");
}

#[test]
fn with_no_firmware_running_operations_fail_at_once() {
    // G23 to GND: the ROM waits for a download and no firmware ever mounts /flash.
    let sim = Sim::start_until(&["--ground", "G23"], "waiting for download");
    let started = Instant::now();
    let out = sim.ftplib(
        "f = login()\n\
         try:\n    f.cwd('/flash')\nexcept ftplib.error_perm as e:\n    print('cwd', e)\n\
         try:\n    f.size('/flash/main.py')\nexcept ftplib.error_perm as e:\n    print('size', e)",
    );
    assert!(out.contains("cwd 550"), "{out}");
    assert!(
        out.contains("size 550 the device is not running its firmware"),
        "{out}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_file_python_holds_open_and_ftp_writes_stays_sound() {
    let sim = Sim::start(&[]);
    assert_eq!(
        sim.eval("f = open('/flash/shared.txt', 'w'); print(f.write('from python'))"),
        "11\n"
    );
    let out = sim.ftplib(
        "f = login(); f.cwd('/flash')\n\
         f.storbinary('STOR shared.txt', io.BytesIO(b'from ftp'))\n\
         b = io.BytesIO(); f.retrbinary('RETR shared.txt', b.write); print(b.getvalue())",
    );
    assert!(out.contains("b'from ftp'"), "{out}");
    // Python reads what FTP wrote; its own file object writes back when it closes, as a FAT
    // file's buffered data does: the last to close wins, and the volume stays sound.
    assert_eq!(
        sim.eval("print(open('/flash/shared.txt').read())"),
        "from ftp\n"
    );
    assert_eq!(
        sim.eval("f.close(); print(open('/flash/shared.txt').read())"),
        "from python\n"
    );
    let out = sim.ftplib(
        "f = login(); f.cwd('/flash')\n\
         b = io.BytesIO(); f.retrbinary('RETR shared.txt', b.write); print(b.getvalue())\n\
         l = []; f.dir(l.append); print(len([x for x in l if x.endswith(' shared.txt')]))",
    );
    assert!(out.contains("b'from python'\n1\n"), "{out}");
    assert_eq!(
        sim.eval("import os; print(os.stat('/flash/shared.txt')[6])"),
        "11\n"
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .args([
            "run",
            "--fresh",
            "--time",
            "virtual",
            "--ftp",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run pycom-sim");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--ftp 127.0.0.1:{port}: the port is in use; pick another (--ftp {})",
            port.wrapping_add(1)
        )),
        "{stderr}"
    );
}

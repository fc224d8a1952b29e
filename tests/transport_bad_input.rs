//! Bad input on the wire: random bytes, a client that vanishes mid-line, two clients at once, a
//! 1 MB paste. The device never hangs and the REPL always comes back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `pycom-sim run --tcp 0` in real time; the port it listens on.
struct Sim {
    child: Child,
    port: u16,
}

impl Sim {
    fn start() -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
            .args(["run", "--fresh", "--time", "real", "--tcp", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pycom-sim");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut port = None;
        let mut line = String::new();
        while port.is_none() {
            line.clear();
            assert!(err.read_line(&mut line).expect("stderr") > 0, "no port");
            port = line
                .trim()
                .strip_prefix("pycom-sim: raw TCP on 127.0.0.1:")
                .and_then(|p| p.parse().ok());
        }
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = err.read_to_end(&mut sink);
        });
        Sim {
            child,
            port: port.unwrap(),
        }
    }

    fn connect(&self) -> Client {
        Client::new(TcpStream::connect(("127.0.0.1", self.port)).expect("connect"))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP client with everything it received so far.
struct Client {
    stream: TcpStream,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Client {
    fn new(stream: TcpStream) -> Client {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = stream.try_clone().expect("clone");
        let into = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    return;
                }
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Client { stream, seen }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    fn saw(&self, want: &str) -> bool {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).contains(want)
    }

    /// Waits until the client has received `want` (30 s of wall time at most).
    fn wait_for(&self, want: &str) {
        let start = Instant::now();
        while !self.saw(want) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never saw {want:?}; the last bytes:\n{}",
                String::from_utf8_lossy(&self.tail())
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn tail(&self) -> Vec<u8> {
        let seen = self.seen.lock().unwrap();
        seen[seen.len().saturating_sub(400)..].to_vec()
    }

    /// From any REPL mode back to the friendly prompt, then a line that proves it answers.
    /// Retries while a reset the garbage asked for (Ctrl-F, Ctrl-D) runs its course.
    fn answers(&mut self, tag: &str) {
        let want = format!("alive-{tag}");
        let start = Instant::now();
        while !self.saw(&want) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the REPL did not come back; the last bytes:\n{}",
                String::from_utf8_lossy(&self.tail())
            );
            self.send(format!("\x03\x03\x02\r\nprint('alive-' + '{tag}')\r").as_bytes());
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// xorshift: the same "random" bytes every run.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn random_bytes_and_broken_escapes_leave_a_repl_that_answers() {
    let sim = Sim::start();
    let mut c = sim.connect();
    c.wait_for(">>> ");
    for (round, seed) in [0x9E37_79B9_7F4A_7C15u64, 7, 1234567]
        .into_iter()
        .enumerate()
    {
        c.send(&noise(16 * 1024, seed));
        // Broken escape sequences and half a UTF-8 character.
        c.send(b"\x1b[\x1b[1;\x1bO\xe2\x82\r");
        c.answers(&round.to_string());
    }
}

#[test]
fn a_client_that_vanishes_mid_line_leaves_the_repl_to_the_next() {
    let sim = Sim::start();
    {
        let mut gone = sim.connect();
        gone.wait_for(">>> ");
        gone.send(b"for i in range(3):\r    print('half");
        // Dropped without a goodbye.
    }
    let mut next = sim.connect();
    next.answers("next");
}

#[test]
fn two_clients_at_once_both_see_the_repl() {
    let sim = Sim::start();
    let mut a = sim.connect();
    let b = sim.connect();
    a.wait_for(">>> ");
    a.send(b"print(6 * 7)\r");
    a.wait_for("42\r\n>>> ");
    b.wait_for("42\r\n>>> ");
}

#[test]
fn a_one_megabyte_paste_is_taken_and_run() {
    let sim = Sim::start();
    let mut c = sim.connect();
    c.wait_for(">>> ");
    let mut paste = b"\x05".to_vec();
    let comment = format!("# {}\r", "x".repeat(1021));
    for _ in 0..1024 {
        paste.extend_from_slice(comment.as_bytes());
    }
    paste.extend_from_slice(b"print('pasted', 1024)\r\x04");
    assert!(paste.len() > 1_000_000);
    c.send(&paste);
    c.wait_for("pasted 1024\r\n>>> ");
    c.answers("after");
}

//! The interactive terminal: the UART as the terminal's own scrolling text, a status line on
//! the bottom row (LED swatch, P12, G23, stage, booted image, last reset, device time), the
//! serial-console keys with the Ctrl-T menu, and the monitor prompt.
//!
//! Threads: the caller's thread is the only writer to the screen (so device output, the status
//! line and notes never interleave mid-sequence); a key thread reads the terminal and acts on
//! the device through the [`DeviceHandle`]; a forwarder moves device events into the writer's
//! queue. The monitor prompt runs on the key thread while the writer holds device output back,
//! and shows it afterwards.

pub mod colour;
pub mod keys;
pub mod log;
pub mod monitor;
pub mod status;
pub mod term;

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::board::Board;
use crate::clock::TimeMode;
use crate::device::DeviceHandle;
use crate::event::{Event, EventKind};
use crate::gpio::Drive;
use colour::ColourMode;
use keys::{KeyAction, KeyParser};
use monitor::MonitorCommand;
use status::BoardState;

/// How often the status line's clock moves (and the size is looked at) with nothing happening.
const TICK: Duration = Duration::from_millis(200);
/// How long a note stays on the status line.
const NOTE_FOR: Duration = Duration::from_secs(4);

/// Something that talks along with the board (a lesson): what it says at start, and after
/// each event.
pub trait Narrator: Send {
    fn intro(&mut self) -> Vec<String>;
    fn on_event(&mut self, event: &Event, state: &BoardState) -> Vec<String>;
    /// The lesson has ended: the session goes on until Ctrl-].
    fn finished(&self) -> bool;
}

/// What the writer thread takes.
enum Msg {
    Device(Event),
    /// The key thread opens the prompt: hold device output, then say so.
    PromptOpen(Sender<()>),
    /// The prompt closed; device UART output in this device-time span (a transfer's raw-REPL
    /// chatter) is not shown.
    PromptClosed(Option<(u64, u64)>),
    /// A short note for the status line.
    Note(String),
    /// Text for the scrolling area (Ctrl-T h).
    Print(String),
    Quit,
}

/// The board as both threads see it.
struct Shared {
    state: BoardState,
    /// When the newest event arrived, to move a real-time clock on between events.
    last_event: Instant,
    time: TimeMode,
}

impl Shared {
    /// Device time now: the newest event's, moved on by the wall clock in real time.
    fn now_us(&self) -> u64 {
        match self.time {
            TimeMode::Real if self.state.powered => {
                self.state.now_us + self.last_event.elapsed().as_micros() as u64
            }
            _ => self.state.now_us,
        }
    }
}

/// Whether the device's output stream is between escape sequences and characters, so a
/// status redraw cannot land inside one.
#[derive(Debug, Default)]
struct StreamState {
    esc: u8,
    utf8_left: u8,
}

impl StreamState {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.utf8_left > 0 && b & 0xC0 == 0x80 {
                self.utf8_left -= 1;
                continue;
            }
            self.utf8_left = 0;
            match (self.esc, b) {
                (_, 0x1B) => self.esc = 1,
                (1, b'[') => self.esc = 2,
                (1, _) => self.esc = 0,
                (2, 0x40..=0x7E) => self.esc = 0,
                (2, _) => {}
                (_, 0xC0..=0xDF) => self.utf8_left = 1,
                (_, 0xE0..=0xEF) => self.utf8_left = 2,
                (_, 0xF0..=0xF7) => self.utf8_left = 3,
                _ => {}
            }
        }
    }

    fn ground(&self) -> bool {
        self.esc == 0 && self.utf8_left == 0
    }
}

/// The status line: the swatch and the fields, cut to `width` columns.
pub fn render_status(
    state: &BoardState,
    now_us: u64,
    mode: ColourMode,
    width: usize,
    note: Option<&str>,
) -> String {
    let swatch = colour::swatch(mode, &state.led);
    // "LED " + 4 cells (or "( ) ") + " " + 7 hex: the swatch's visible width.
    let swatch_width = if mode == ColourMode::None {
        4 + 4 + 7
    } else {
        4 + 4 + 1 + 7
    };
    let mut fields = state.fields(now_us);
    if let Some(n) = note {
        fields.push(n.to_string());
    } else {
        fields.push("Ctrl-T h: keys".into());
    }
    let tail = format!(" | {}", fields.join(" | "));
    let budget = width.saturating_sub(1).saturating_sub(swatch_width);
    let tail: String = tail.chars().take(budget).collect();
    format!("{swatch}{tail}")
}

/// How a terminal session runs.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    pub time: TimeMode,
    /// End once the device is idle (a virtual-time run with nothing else to do, as a piped run
    /// ends): the board is seen booting, then the shell is back.
    pub stop_at_idle: bool,
}

/// Runs the interactive session on this terminal: sets it up, powers the board on, and returns
/// when the user quits or the device stops. The terminal is restored on every way out.
pub fn run_terminal(
    handle: &DeviceHandle,
    events: Receiver<Event>,
    board: &Board,
    session: Session,
    mut narrator: Option<Box<dyn Narrator>>,
) -> Result<(), String> {
    let time = session.time;
    let guard = term::TerminalGuard::enable()?;
    let mode = ColourMode::detect();
    tracing::debug!(?mode, size = ?term::size(), "terminal frontend");
    let (tx, rx) = mpsc::channel::<Msg>();
    let shared = Arc::new(Mutex::new(Shared {
        state: BoardState::new(board),
        last_event: Instant::now(),
        time,
    }));
    let forward = tx.clone();
    std::thread::Builder::new()
        .name("frontend-events".into())
        .spawn(move || {
            for e in events {
                if forward.send(Msg::Device(e)).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| e.to_string())?;
    let stop_keys = Arc::new(AtomicBool::new(false));
    let test_panic = std::env::var("PYCOM_SIM_TEST_PANIC").unwrap_or_default();
    let mut out = std::io::stdout();
    let _ = write!(out, "pycom-sim: {}\r\n", keys::LEGEND);
    if let Some(n) = narrator.as_mut() {
        for line in n.intro() {
            let _ = write!(out, "{}\r\n", lesson_text(&line));
        }
    }
    let _ = out.flush();
    let result = std::thread::scope(|scope| {
        let key_tx = tx.clone();
        let key_shared = shared.clone();
        let stop = stop_keys.clone();
        let board_pins: Vec<String> = board
            .pins
            .iter()
            .flat_map(|p| [p.name.clone(), p.exp_board.clone()])
            .filter(|n| !n.is_empty())
            .collect();
        let keys = std::thread::Builder::new()
            .name("frontend-keys".into())
            .spawn_scoped(scope, move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    key_loop(handle, &key_tx, &key_shared, &stop, board_pins)
                }));
                if outcome.is_err() {
                    let _ = key_tx.send(Msg::Quit);
                }
            })
            .map_err(|e| e.to_string())?;
        handle.power_on();
        // However the writer ends (a panic included), the key thread stops, so the scope ends.
        let _stop = StopOnDrop(stop_keys.clone());
        let r = writer_loop(
            Screen {
                mode,
                stop_at_idle: session.stop_at_idle,
            },
            &rx,
            &shared,
            &guard,
            narrator.as_deref_mut(),
            &test_panic,
            handle,
        );
        stop_keys.store(true, Ordering::SeqCst);
        // The key thread notices the stop between keys, but not while the monitor prompt blocks
        // in rustyline's read (a SIGTERM with the prompt open). Then the terminal is given back
        // and the process ends here instead of waiting for a key that may never come.
        let deadline = Instant::now() + KEY_THREAD_GRACE;
        while !keys.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !keys.is_finished() {
            term::restore();
            // The device has said `stopped`; let it finish syncing the flash file.
            std::thread::sleep(Duration::from_millis(100));
            if let Err(e) = &r {
                eprintln!("pycom-sim: {e}");
            }
            std::process::exit(i32::from(r.is_err()));
        }
        let _ = keys.join();
        r
    });
    drop(guard);
    result
}

/// How long the end of a session waits for the key thread before it stops waiting (see
/// `run_terminal`).
const KEY_THREAD_GRACE: Duration = Duration::from_millis(300);

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn lesson_text(line: &str) -> String {
    format!("\x1b[1m[lesson]\x1b[22m {line}")
}

/// The screen's one writer.
/// How the writer draws and when it ends.
#[derive(Debug, Clone, Copy)]
struct Screen {
    mode: ColourMode,
    stop_at_idle: bool,
}

fn writer_loop(
    screen: Screen,
    rx: &Receiver<Msg>,
    shared: &Mutex<Shared>,
    guard: &term::TerminalGuard,
    mut narrator: Option<&mut (dyn Narrator + 'static)>,
    test_panic: &str,
    handle: &DeviceHandle,
) -> Result<(), String> {
    let Screen { mode, stop_at_idle } = screen;
    let mut out = std::io::stdout();
    let mut stream = StreamState::default();
    let mut held: Vec<Event> = Vec::new();
    let mut holding = false;
    let mut note: Option<(String, Instant)> = None;
    let mut shown = String::new();
    let (mut cols, mut rows) = term::size();
    let mut last_draw = Instant::now();
    let mut dirty = true;
    let mut panicked_device = false;
    // The device-time span of the last put/get's raw-REPL exchange, kept off the screen.
    let mut last_mute: Option<(u64, u64)> = None;
    let lock = lock_shared;
    loop {
        let msg = rx.recv_timeout(TICK);
        let mut stopped = false;
        match msg {
            Ok(Msg::Device(e)) => {
                {
                    let mut s = lock(shared);
                    s.state.apply(&e);
                    s.last_event = Instant::now();
                }
                if e.kind == EventKind::Idle {
                    match test_panic {
                        "frontend" => {
                            panic!("pycom-sim test hook: a deliberate panic on the frontend thread")
                        }
                        "device" if !panicked_device => {
                            panicked_device = true;
                            handle.inject_panic();
                        }
                        _ => {}
                    }
                }
                stopped = e.kind == EventKind::Stopped
                    || (stop_at_idle && e.kind == EventKind::Idle && !holding);
                if !matches!(e.kind, EventKind::Uart { .. }) {
                    dirty = true;
                }
                // The exchange of a put/get can still be on its way through the forwarding
                // thread after the prompt closed: its device times say it is muted all the same.
                let late_muted = matches!(e.kind, EventKind::Uart { .. })
                    && last_mute.is_some_and(|(a, b)| e.time_us >= a && e.time_us <= b);
                if holding {
                    held.push(e.clone());
                } else if !late_muted {
                    show_event(&mut out, &mut stream, &e)?;
                }
                if let Some(n) = narrator.as_deref_mut() {
                    let said = {
                        let s = lock(shared);
                        n.on_event(&e, &s.state)
                    };
                    for line in said {
                        let text = format!("\r\n{}\r\n", lesson_text(&line));
                        if holding {
                            held.push(Event {
                                time_us: u64::MAX,
                                kind: EventKind::Uart {
                                    text: text.into_bytes(),
                                },
                            });
                        } else {
                            out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
                        }
                    }
                }
            }
            Ok(Msg::PromptOpen(ack)) => {
                holding = true;
                let _ = out.write_all(b"\r\n");
                let _ = out.flush();
                let _ = ack.send(());
            }
            Ok(Msg::PromptClosed(mute)) => {
                holding = false;
                last_mute = mute;
                for e in held.drain(..) {
                    let muted = matches!(e.kind, EventKind::Uart { .. })
                        && mute.is_some_and(|(a, b)| e.time_us >= a && e.time_us <= b);
                    if !muted {
                        show_event(&mut out, &mut stream, &e)?;
                    }
                }
                dirty = true;
            }
            Ok(Msg::Note(text)) => {
                // An empty note clears the one shown.
                note = (!text.is_empty()).then(|| (text, Instant::now()));
                dirty = true;
            }
            Ok(Msg::Print(text)) => {
                out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
            }
            Ok(Msg::Quit) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if stopped {
            break;
        }
        if note.as_ref().is_some_and(|(_, at)| at.elapsed() > NOTE_FOR) {
            note = None;
            dirty = true;
        }
        if !holding && (dirty || last_draw.elapsed() >= TICK) && stream.ground() {
            let (c, r) = term::size();
            if (c, r) != (cols, rows) {
                (cols, rows) = (c, r);
                guard.resized(rows);
                shown.clear();
            }
            let line = {
                let s = lock(shared);
                render_status(
                    &s.state,
                    s.now_us(),
                    mode,
                    usize::from(cols),
                    note.as_ref().map(|(n, _)| n.as_str()),
                )
            };
            if line != shown {
                write!(out, "\x1b7\x1b[{rows};1H\x1b[2K{line}\x1b8").map_err(|e| e.to_string())?;
                shown = line;
            }
            last_draw = Instant::now();
            dirty = false;
        }
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn show_event(out: &mut impl Write, stream: &mut StreamState, e: &Event) -> Result<(), String> {
    match &e.kind {
        EventKind::Uart { text } => {
            stream.feed(text);
            out.write_all(text).map_err(|e| e.to_string())
        }
        EventKind::Fault { message } => {
            write!(out, "\r\npycom-sim: {message}\r\n").map_err(|e| e.to_string())
        }
        _ => Ok(()),
    }
}

/// Reads the terminal until Ctrl-] (or the writer stops), acting on each key.
fn key_loop(
    handle: &DeviceHandle,
    tx: &Sender<Msg>,
    shared: &Mutex<Shared>,
    stop: &AtomicBool,
    pins: Vec<String>,
) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::io::Read;
    let mut parser = KeyParser::default();
    let mut prefix_shown = false;
    let mut prompt = Prompt::new(pins);
    let stdin = std::io::stdin();
    let mut buf = [0u8; 256];
    // Keys typed after a monitor command in the same read, to take before reading again.
    let mut again: Vec<u8> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let input = if again.is_empty() {
            let ready = {
                let fd = stdin.as_fd();
                let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0)
            };
            if ready == 0 {
                continue;
            }
            let n = match stdin.lock().read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.get(..n).unwrap_or_default().to_vec()
        } else {
            std::mem::take(&mut again)
        };
        let actions = parser.feed(&input);
        if parser.pending() {
            let _ = tx.send(Msg::Note(
                "Ctrl-T: p P12, g G23, r reset, o power, : prompt, h help, Ctrl-T itself".into(),
            ));
            prefix_shown = true;
        } else if std::mem::take(&mut prefix_shown) {
            let _ = tx.send(Msg::Note(String::new()));
        }
        for action in actions {
            tracing::debug!(?action, "key");
            match action {
                KeyAction::Send(bytes) => handle.write_uart(&bytes),
                KeyAction::ToggleP12 | KeyAction::ToggleG23 => {
                    let p12 = action == KeyAction::ToggleP12;
                    let gpio = {
                        let s = lock_shared(shared);
                        let g = if p12 {
                            s.state.p12_gpio()
                        } else {
                            s.state.g23_gpio()
                        };
                        g.and_then(|g| s.state.pins.get(&g).map(|v| (g, v.drive)))
                    };
                    let Some((gpio, current)) = gpio else {
                        continue;
                    };
                    let (wanted, text) = match (p12, current) {
                        (true, Drive::High) => (Drive::Floating, "P12 released"),
                        (true, _) => (Drive::High, "P12 held to 3V3 (Ctrl-T p releases)"),
                        (false, Drive::Low) => (Drive::Floating, "G23 disconnected"),
                        (false, _) => (Drive::Low, "G23 to GND (Ctrl-T g disconnects)"),
                    };
                    let name = if p12 { "P12" } else { "G23" };
                    if handle.drive(name, wanted).is_ok() {
                        // Seen at once, so a second press before the event arrives toggles back.
                        if let Some(v) = lock_shared(shared).state.pins.get_mut(&gpio) {
                            v.drive = wanted;
                        }
                        let _ = tx.send(Msg::Note(text.into()));
                    }
                }
                KeyAction::Reset => {
                    handle.press_reset();
                    let _ = tx.send(Msg::Note("reset pressed".into()));
                }
                KeyAction::PowerCycle => {
                    handle.power_cycle();
                    let _ = tx.send(Msg::Note("power-cycled".into()));
                }
                KeyAction::Help => {
                    let _ = tx.send(Msg::Print(format!("\r\n{}", keys::HELP)));
                }
                KeyAction::Unknown(b) => {
                    let _ = tx.send(Msg::Note(format!(
                        "Ctrl-T {} means nothing; Ctrl-T h lists the keys",
                        printable(b)
                    )));
                }
                KeyAction::Prompt(typed) => {
                    let (ack_tx, ack_rx) = mpsc::channel();
                    if tx.send(Msg::PromptOpen(ack_tx)).is_err() {
                        return;
                    }
                    let _ = ack_rx.recv_timeout(Duration::from_secs(2));
                    let (quit, mute, rest) = prompt.run_once(handle, shared, &typed);
                    again = rest;
                    let _ = tx.send(Msg::PromptClosed(mute));
                    if quit {
                        let _ = tx.send(Msg::Quit);
                        return;
                    }
                }
                KeyAction::Quit => {
                    let _ = tx.send(Msg::Quit);
                    return;
                }
            }
        }
    }
}

fn printable(b: u8) -> String {
    if b < 0x20 {
        format!("Ctrl-{}", char::from(b + 0x40))
    } else {
        char::from(b).to_string()
    }
}

fn lock_shared(s: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    match s.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The monitor prompt with its history (kept in the user's state directory).
struct Prompt {
    editor: Option<rustyline::Editor<monitor::MonitorHelper, rustyline::history::FileHistory>>,
    history: Option<std::path::PathBuf>,
}

impl Prompt {
    fn new(pins: Vec<String>) -> Prompt {
        let config = rustyline::Config::builder()
            .auto_add_history(false)
            .max_history_size(500)
            .map(|b| b.build())
            .unwrap_or_default();
        let editor = rustyline::Editor::with_config(config).ok().map(|mut e| {
            e.set_helper(Some(monitor::MonitorHelper { pins }));
            e
        });
        Prompt {
            editor,
            history: monitor::history_path(),
        }
    }

    /// One command, starting with what was `typed` after Ctrl-T : (a whole line there is run
    /// as it is). Returns whether to quit, the device-time span of a transfer, and the keys
    /// typed after the command's Enter (they go back to the console).
    fn run_once(
        &mut self,
        handle: &DeviceHandle,
        shared: &Mutex<Shared>,
        typed: &[u8],
    ) -> (bool, Option<(u64, u64)>, Vec<u8>) {
        const PROMPT: &str = "(pycom-sim) ";
        let mut out = std::io::stdout();
        let Some(editor) = self.editor.as_mut() else {
            let _ = out.write_all(b"pycom-sim: the monitor prompt cannot use this terminal\r\n");
            return (false, None, typed.to_vec());
        };
        if let Some(h) = &self.history {
            let _ = editor.load_history(h);
        }
        let mut rest = Vec::new();
        let line = match typed.iter().position(|&b| b == b'\r' || b == b'\n') {
            Some(end) => {
                let line =
                    String::from_utf8_lossy(typed.get(..end).unwrap_or_default()).into_owned();
                let mut after = end + 1;
                if typed.get(end) == Some(&b'\r') && typed.get(after) == Some(&b'\n') {
                    after += 1;
                }
                rest = typed.get(after..).unwrap_or_default().to_vec();
                let _ = write!(out, "{PROMPT}{line}\r\n");
                line
            }
            None => {
                let initial = String::from_utf8_lossy(typed).into_owned();
                match editor.readline_with_initial(PROMPT, (&initial, "")) {
                    Ok(l) => l,
                    Err(_) => return (false, None, rest),
                }
            }
        };
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.trim());
            if let Some(h) = &self.history {
                if let Some(dir) = h.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                if let Err(e) = editor.save_history(h) {
                    tracing::warn!("cannot save the monitor history to {}: {e}", h.display());
                }
            }
        }
        let (text, quit, mute) = execute(&line, handle, shared);
        if !text.is_empty() {
            let _ = write!(
                out,
                "\r{}",
                text.replace("\r\n", "\n").replace('\n', "\r\n")
            );
            if !text.ends_with('\n') {
                let _ = out.write_all(b"\r\n");
            }
        }
        let _ = out.flush();
        (quit, mute, rest)
    }
}

/// Does one monitor command; returns what to print, whether to quit, and a transfer's span.
fn execute(
    line: &str,
    handle: &DeviceHandle,
    shared: &Mutex<Shared>,
) -> (String, bool, Option<(u64, u64)>) {
    let command = match monitor::parse(line) {
        Ok(c) => c,
        Err(e) => return (format!("error: {e}"), false, None),
    };
    tracing::debug!(?command, "monitor");
    let done = |r: Result<String, String>| match r {
        Ok(t) => t,
        Err(e) => format!("error: {e}"),
    };
    match command {
        MonitorCommand::Nothing => (String::new(), false, None),
        MonitorCommand::Quit => (String::new(), true, None),
        MonitorCommand::Help => (monitor::help_text(), false, None),
        MonitorCommand::Status => {
            let s = lock_shared(shared);
            (s.state.report(s.now_us()), false, None)
        }
        MonitorCommand::Pins => (lock_shared(shared).state.pins_report(), false, None),
        MonitorCommand::Reset => {
            handle.press_reset();
            ("reset pressed".into(), false, None)
        }
        MonitorCommand::PowerCycle => {
            handle.power_cycle();
            ("power-cycled".into(), false, None)
        }
        MonitorCommand::Hold { pin, for_ } => {
            let r = monitor::drive(handle, &pin, Drive::High).and_then(|()| match for_ {
                None => Ok(format!("{pin} held to 3V3 ('release {pin}' ends it)")),
                Some(d) => {
                    let now = lock_shared(shared).now_us();
                    handle
                        .drive_at(Duration::from_micros(now) + d, &pin, Drive::Floating)
                        .map_err(|e| e.to_string())?;
                    Ok(format!(
                        "{pin} held to 3V3 for {:.3} s of device time",
                        d.as_secs_f64()
                    ))
                }
            });
            (done(r), false, None)
        }
        MonitorCommand::Ground { pin } => (
            done(
                monitor::drive(handle, &pin, Drive::Low)
                    .map(|()| format!("{pin} tied to GND ('release {pin}' ends it)")),
            ),
            false,
            None,
        ),
        MonitorCommand::Release { pin } => (
            done(monitor::drive(handle, &pin, Drive::Floating).map(|()| format!("{pin} released"))),
            false,
            None,
        ),
        MonitorCommand::Put { host, device } => {
            transfer(handle, |raw| monitor::put(raw, &host, device.as_deref()))
        }
        MonitorCommand::Get { device, host } => {
            transfer(handle, |raw| monitor::get(raw, &device, host.as_deref()))
        }
        MonitorCommand::Ota { image } => {
            // Read and checked once, here: a bad image is refused before the device is disturbed.
            let (bytes, parsed) = match crate::update::load_image(&image, handle.board()) {
                Ok(loaded) => loaded,
                Err(e) => return (format!("error: {e}"), false, None),
            };
            transfer(handle, |raw| monitor::ota(raw, &image, &bytes, &parsed))
        }
    }
}

fn transfer(
    handle: &DeviceHandle,
    work: impl FnOnce(&mut monitor::RawRepl<'_>) -> Result<String, String>,
) -> (String, bool, Option<(u64, u64)>) {
    let mut raw = match monitor::RawRepl::open(handle) {
        Ok(r) => r,
        Err(e) => return (format!("error: {e}"), false, None),
    };
    let result = work(&mut raw);
    let (first, last) = raw.close();
    let mute = first.map(|f| (f, last));
    let text = match result {
        Ok(t) => t,
        Err(e) => format!("error: {e}"),
    };
    (text, false, mute)
}

/// `--status`: plain, device-time-stamped lines on stderr for LED, pin, drive, stage, boot and
/// reset changes, from a subscription of its own. Join the handle after the device stopped.
pub fn spawn_status_lines(handle: &DeviceHandle, board: &Board) -> std::thread::JoinHandle<()> {
    let events = handle.subscribe();
    let mut state = BoardState::new(board);
    std::thread::spawn(move || {
        let mut err = std::io::stderr();
        for e in events {
            state.apply(&e);
            if let Some(line) = status::plain_line(&state, &e) {
                let _ = writeln!(err, "{line}");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_ground_between_sequences_only() {
        let mut s = StreamState::default();
        s.feed(b"abc\x1b[");
        assert!(!s.ground());
        s.feed(b"2K");
        assert!(s.ground());
        s.feed("é".as_bytes().get(..1).unwrap());
        assert!(!s.ground());
        s.feed("é".as_bytes().get(1..).unwrap());
        assert!(s.ground());
    }

    #[test]
    fn the_status_line_fits_its_width() {
        let state = BoardState::new(&Board::builtin("lopy4").unwrap());
        let line = render_status(&state, 0, ColourMode::None, 40, None);
        assert_eq!(line.chars().count(), 39);
        assert!(line.starts_with("LED ( ) #000000 | P12"));
    }
}

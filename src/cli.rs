//! The command line: `pycom-sim [run] …`, `pycom-sim boards`, `pycom-sim image …`.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::board::Board;
use crate::clock::TimeMode;
use crate::device::{Action, DeviceConfig, DeviceHandle, FlashSource};
use crate::event::{Event, EventKind};
use crate::gpio::Drive;

/// Desktop emulator of a Pycom board (WiPy 3.0, LoPy4, SiPy, GPy, FiPy): ESP32 ROM, the safe-boot
/// bootloader with A/B images, and (soon) MicroPython — on a virtual board with pins you can hold.
#[derive(Debug, Parser)]
#[command(name = "pycom-sim", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no subcommand, `pycom-sim` runs the default board.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot a virtual board and join its UART0 to this terminal.
    Run(Box<RunArgs>),
    /// List the boards pycom-sim knows.
    Boards,
    /// Build or inspect firmware images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Run TOML scenarios (pin holds, UART waits, expectations) in virtual time, like tests.
    Scenario(crate::scenario::ScenarioArgs),
    /// Work on the /flash files of a stopped flash file: ls, put, get, rm, mkdir.
    Fs(crate::fs_cli::FsArgs),
    /// Learn safe boot and bootloader mode on a board set up for it; no name lists the lessons.
    Lesson(crate::lesson::LessonArgs),
    /// Flash an image as Pycom's Firmware Updater does (ROM download mode; factory slot).
    Update(crate::update::UpdateArgs),
    /// Deliver an image to a stopped flash file as pycom.ota_start/ota_write/ota_finish do.
    Ota(crate::update::OtaArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build a firmware image (ESP32 app-image format) with a version and frozen modules.
    Build {
        /// Firmware version, like 1.20.2.r4.
        #[arg(long)]
        version: String,
        /// Git tag the banner shows, like v1.11-ffb0e1c.
        #[arg(long)]
        tag: Option<String>,
        /// Build date the banner shows (YYYY-MM-DD).
        #[arg(long)]
        date: Option<String>,
        /// Boards the image supports (comma-separated ids); default all.
        #[arg(long, value_delimiter = ',')]
        boards: Option<Vec<String>>,
        /// Folder of .py files to freeze into the image (e.g. your own _boot.py).
        #[arg(long)]
        frozen: Option<PathBuf>,
        /// Where to write the image.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Show what a firmware image holds and whether it is valid.
    Inspect { image: PathBuf },
}

/// Output format of `--events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventFormat {
    /// One JSON object per event on stdout: time_ms, kind, fields.
    Json,
}

#[derive(Debug, Clone, Args, Default)]
// --user/--password are the login of the telnet and FTP servers: either one must be asked for.
#[command(group(clap::ArgGroup::new("login_servers").args(["telnet", "ftp"]).multiple(true)))]
pub struct RunArgs {
    /// Board to emulate (see `pycom-sim boards`).
    #[arg(long, default_value = "lopy4")]
    pub board: String,
    /// Load the board from a TOML file instead of a built-in one.
    #[arg(long, value_name = "PATH", conflicts_with = "board")]
    pub board_file: Option<PathBuf>,
    /// Flash file to use; created on first use. Default: <data dir>/pycom-sim/<board>.flash.
    #[arg(long, value_name = "PATH")]
    pub flash: Option<PathBuf>,
    /// Boot from a throwaway flash file, deleted at exit.
    #[arg(long, conflicts_with = "flash")]
    pub fresh: bool,
    /// Rebuild the flash file from scratch if it cannot be used (its contents are lost).
    #[arg(long)]
    pub reformat: bool,
    /// Virtual time jumps over waits (fast, repeatable); real time follows the wall clock.
    #[arg(long, value_enum, default_value = "real")]
    pub time: TimeMode,
    /// Hold a pin high (to 3V3) for the whole run, e.g. --hold P12 for safe boot.
    #[arg(long, value_name = "PIN")]
    pub hold: Vec<String>,
    /// Hold a pin high from power-on and release it after a time, e.g. --hold-for P12=4.5s.
    #[arg(long, value_name = "PIN=DURATION")]
    pub hold_for: Vec<String>,
    /// Tie a pin to GND for the whole run, e.g. --ground G23 for download mode.
    #[arg(long, value_name = "PIN")]
    pub ground: Vec<String>,
    /// Print every device event instead of the UART text.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub events: Option<EventFormat>,
    /// A host directory the device sees as its SD card: `os.mount(machine.SD(), '/sd')`.
    #[arg(long, value_name = "DIR")]
    pub sd: Option<PathBuf>,
    /// Stop after this much device time, e.g. --for 10s.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub run_for: Option<Duration>,
    /// Offer UART0 as a pseudo-terminal for mpremote, rshell, ampy, pyserial: its path is the
    /// first line on stdout.
    #[arg(long)]
    pub pty: bool,
    /// Also make a stable symlink to the pty at PATH (replaced if it is an old symlink).
    #[arg(long, value_name = "PATH", requires = "pty")]
    pub pty_link: Option<PathBuf>,
    /// Offer UART0 as raw bytes over TCP (pyserial/mpremote `socket://`); a bare port listens
    /// on 127.0.0.1; 0 picks a free port (printed on stderr).
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = crate::transport::parse_listen)]
    pub tcp: Option<std::net::SocketAddr>,
    /// Run Pycom's telnet server (login, then the REPL shared with UART0); a bare port listens
    /// on 127.0.0.1.
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = crate::transport::parse_listen)]
    pub telnet: Option<std::net::SocketAddr>,
    /// Offer UART0 over RFC 2217 (`rfc2217://` in pyserial, esptool, mpremote); a bare port
    /// listens on 127.0.0.1.
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = crate::transport::parse_listen)]
    pub rfc2217: Option<std::net::SocketAddr>,
    /// Let RFC 2217's DTR and RTS drive EN and GPIO0 (G23) through a devkit's auto-reset
    /// circuit, so a tool's reset sequence resets the board (and can enter download mode).
    #[arg(long, requires = "rfc2217")]
    pub auto_reset: bool,
    /// Run Pycom's FTP server (/flash and /sd; uploading /flash/sys/appimg.bin is an OTA
    /// update); a bare port listens on 127.0.0.1.
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = crate::transport::parse_listen)]
    pub ftp: Option<std::net::SocketAddr>,
    /// The telnet and FTP user name (default micro, as on the module).
    #[arg(long, value_name = "NAME", requires = "login_servers")]
    pub user: Option<String>,
    /// The telnet and FTP password (default python, as on the module).
    #[arg(long, value_name = "PASSWORD", requires = "login_servers")]
    pub password: Option<String>,
    /// The REPL's texts and protocol: the firmware's own (`PYB: soft reboot`, no raw-paste) or
    /// upstream MicroPython's (`MPY: soft reboot`, raw-paste, for fast mpremote transfers).
    #[arg(long, value_enum, default_value = "pycom")]
    pub repl_profile: crate::device::ReplProfile,
    /// Without the terminal's status line (stdout piped): plain, device-time-stamped lines on
    /// stderr for LED, pin, stage, boot and reset changes.
    #[arg(long)]
    pub status: bool,
    /// Write the simulator's own diagnostics (`RUST_LOG=pycom_sim=debug`) to FILE.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

impl RunArgs {
    /// The transports these options ask for.
    fn transports(&self, board: &Board) -> crate::transport::TransportConfig {
        let spec = crate::image::default_spec();
        let mut login = crate::transport::telnet::Login::default();
        if let Some(u) = &self.user {
            login.user.clone_from(u);
        }
        if let Some(p) = &self.password {
            login.password.clone_from(p);
        }
        crate::transport::TransportConfig {
            pty: self.pty,
            pty_link: self.pty_link.clone(),
            tcp: self.tcp,
            telnet: self.telnet,
            rfc2217: self.rfc2217,
            ftp: self.ftp,
            auto_reset: self.auto_reset,
            login,
            // The telnet welcome has no "Pycom" and no release number (§16.2).
            telnet_banner: format!(
                "MicroPython {} on {}; {} with ESP32",
                spec.git_tag, spec.build_date, board.name
            ),
        }
    }
}

pub use crate::duration::parse_duration;

/// Runs the CLI; returns the process exit code.
pub fn main_with(cli: Cli) -> Result<(), String> {
    match cli.command {
        Some(Command::Run(args)) => run(*args),
        None => run(cli.run),
        Some(Command::Scenario(args)) => {
            let code = crate::scenario::command(&args)?;
            if code != 0 {
                // 1 failed, 2 bad file, 42 timeout: CI tells them apart by the status alone.
                let _ = std::io::stdout().flush();
                std::process::exit(code);
            }
            Ok(())
        }
        Some(Command::Fs(args)) => crate::fs_cli::command(&args),
        Some(Command::Lesson(args)) => crate::lesson::command(&args),
        Some(Command::Update(args)) => crate::update::update_command(&args),
        Some(Command::Ota(args)) => crate::update::ota_command(&args),
        Some(Command::Boards) => {
            print!("{}", crate::board::list_text());
            Ok(())
        }
        Some(Command::Image(ImageCommand::Build {
            version,
            tag,
            date,
            boards,
            frozen,
            output,
        })) => {
            let summary = crate::image::build_command(
                &version,
                tag.as_deref(),
                date.as_deref(),
                boards,
                frozen.as_deref(),
                &output,
            )
            .map_err(|e| e.to_string())?;
            println!("{summary}");
            Ok(())
        }
        Some(Command::Image(ImageCommand::Inspect { image })) => {
            let text = crate::image::inspect_command(&image).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(())
        }
    }
}

fn load_board(args: &RunArgs) -> Result<Board, String> {
    match &args.board_file {
        Some(path) => Board::load_file(path).map_err(|e| e.to_string()),
        None => Board::builtin(&args.board).map_err(|e| e.to_string()),
    }
}

/// `--sd DIR` must name a directory that exists: the card is the user's files, and a typo
/// should not leave the device with an empty card that nothing warns about.
fn check_sd_dir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "--sd {}: not a directory; give the directory that holds the card's files",
            dir.display()
        )),
        Err(e) => Err(format!(
            "--sd {}: {e}; create the directory first (mkdir -p {})",
            dir.display(),
            dir.display()
        )),
    }
}

fn run(args: RunArgs) -> Result<(), String> {
    let board = load_board(&args)?;
    if let Some(dir) = &args.sd {
        check_sd_dir(dir)?;
    }
    let flash = if args.fresh {
        FlashSource::Fresh
    } else {
        match &args.flash {
            Some(p) => FlashSource::File(p.clone()),
            None => FlashSource::File(crate::flash::default_path(&board.id)?),
        }
    };
    let handle = DeviceHandle::spawn(DeviceConfig {
        board: board.clone(),
        flash,
        reformat: args.reformat,
        time: args.time,
        sd: args.sd.clone(),
    })
    .map_err(|e| e.to_string())?;
    handle.set_repl_profile(args.repl_profile);
    for name in &args.hold {
        handle.drive(name, Drive::High).map_err(|e| e.to_string())?;
    }
    for name in &args.ground {
        handle.drive(name, Drive::Low).map_err(|e| e.to_string())?;
    }
    for spec in &args.hold_for {
        let (name, duration) = spec.split_once('=').ok_or_else(|| {
            format!("--hold-for takes PIN=DURATION, like P12=4.5s (got '{spec}')")
        })?;
        let duration = parse_duration(duration)?;
        handle.drive(name, Drive::High).map_err(|e| e.to_string())?;
        handle
            .drive_at(duration, name, Drive::Floating)
            .map_err(|e| e.to_string())?;
    }
    if let Some(limit) = args.run_for {
        handle.at(limit, Action::Stop);
    }
    let stdin_piped = !std::io::stdin().is_terminal();
    // A terminal both ways (and no --events): the frontend draws the board. A stdout that is a
    // pipe or a file stays exactly the UART bytes.
    let interactive = !stdin_piped && std::io::stdout().is_terminal() && args.events.is_none();
    crate::frontend::log::init(args.log.as_deref(), interactive)?;
    if args.events.is_none() {
        eprintln!(
            "pycom-sim: {} ({}), flash {}, {} time{}",
            board.name,
            board.id,
            match handle.flash_path() {
                Some(path) if !args.fresh => path.display().to_string(),
                _ => "throwaway".to_string(),
            },
            match args.time {
                TimeMode::Virtual => "virtual",
                TimeMode::Real => "real",
            },
            // On a terminal Ctrl-C is the device's (the line below says how to quit).
            if args.time == TimeMode::Real && stdin_piped {
                "; Ctrl-C quits"
            } else {
                ""
            }
        );
    }
    let transport_config = args.transports(&board);
    let transports = crate::transport::start(&handle, &transport_config)?;
    announce(&transports.announcements)?;
    let events = handle.subscribe();
    let interrupted = install_ctrl_c(&handle);
    // A run ends once its input is used up and the device waits for more: in virtual time
    // always (a terminal types nothing ahead), in real time when a pipe has ended. `--for` runs
    // for its time instead, and with a transport open the run serves its clients until stopped.
    let stop_at_idle = !transport_config.any()
        && args.run_for.is_none()
        && (args.time == TimeMode::Virtual || stdin_piped);
    if interactive {
        let session = crate::frontend::Session {
            time: args.time,
            stop_at_idle,
        };
        let outcome = crate::frontend::run_terminal(&handle, events, &board, session, None);
        drop(transports);
        handle.shutdown();
        return outcome;
    }
    let status = args
        .status
        .then(|| crate::frontend::spawn_status_lines(&handle, &board));
    // On a terminal, keys go to the device as typed (Ctrl-C included); Ctrl-] leaves.
    let _raw = if stdin_piped {
        None
    } else {
        if args.events.is_none() {
            eprintln!("pycom-sim: keys go to the device's UART0; Ctrl-] quits\r");
        }
        Some(RawTerminal::enable()?)
    };
    if stdin_piped {
        // Piped input is typed ahead: the device takes it a line at a time when it waits for
        // input, so the same input gives the same output every run.
        handle.open_input();
    }
    handle.power_on();
    if stdin_piped {
        forward_stdin(&handle);
    } else {
        forward_keys(&handle);
    }
    let outcome = print_events(&events, &args, stdin_piped, stop_at_idle, &interrupted);
    drop(transports);
    handle.shutdown();
    if let Some(s) = status {
        let _ = s.join();
    }
    outcome
}

/// Tells the user where the transports are: the pty path as the first line on stdout (tools
/// and scripts read it there), each listening address on stderr.
fn announce(announcements: &[crate::transport::Announcement]) -> Result<(), String> {
    use crate::transport::Announcement;
    let mut out = std::io::stdout().lock();
    for a in announcements {
        match a {
            Announcement::Pty { path, link } => {
                writeln!(out, "{}", path.display()).map_err(|e| e.to_string())?;
                match link {
                    Some(l) => eprintln!(
                        "pycom-sim: UART0 on {} (linked as {})",
                        path.display(),
                        l.display()
                    ),
                    None => eprintln!("pycom-sim: UART0 on {}", path.display()),
                }
            }
            Announcement::Listening { what, addr } => {
                eprintln!("pycom-sim: {what} on {addr}");
            }
        }
    }
    out.flush().map_err(|e| e.to_string())
}

/// Copies piped stdin to UART0 as typed-ahead input, then tells the device the input ended.
fn forward_stdin(handle: &DeviceHandle) {
    let sender = handle.remote();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sender.type_uart(buf.get(..n).unwrap_or_default()),
            }
        }
        sender.close_input();
    });
}

/// `Ctrl-]`: leaves an interactive session (the telnet/miniterm convention), since Ctrl-C
/// belongs to the device.
const QUIT_KEY: u8 = 0x1D;

/// The terminal in raw mode for the life of the value: every key reaches the device unchanged.
struct RawTerminal;

impl RawTerminal {
    fn enable() -> Result<RawTerminal, String> {
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| format!("cannot put the terminal in raw mode: {e}"))?;
        Ok(RawTerminal)
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Copies terminal keys to UART0 until Ctrl-] (then ends the run).
fn forward_keys(handle: &DeviceHandle) {
    let sender = handle.remote();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 256];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let keys = buf.get(..n).unwrap_or_default();
                    if let Some(at) = keys.iter().position(|&b| b == QUIT_KEY) {
                        sender.write_uart(keys.get(..at).unwrap_or_default());
                        break;
                    }
                    sender.write_uart(keys);
                }
            }
        }
        sender.shutdown();
    });
}

fn install_ctrl_c(handle: &DeviceHandle) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = handle.remote();
    let seen = flag.clone();
    // A second handler cannot be installed in one process; ignoring that error is harmless.
    let _ = ctrlc::set_handler(move || {
        seen.store(true, std::sync::atomic::Ordering::SeqCst);
        sender.shutdown();
    });
    flag
}

fn print_events(
    events: &Receiver<Event>,
    args: &RunArgs,
    stdin_piped: bool,
    stop_at_idle: bool,
    _interrupted: &std::sync::atomic::AtomicBool,
) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let mut input_closed = !stdin_piped;
    while let Ok(event) = events.recv() {
        match args.events {
            Some(EventFormat::Json) => {
                writeln!(out, "{}", event.to_json()).map_err(|e| e.to_string())?;
            }
            None => match &event.kind {
                EventKind::Uart { text } => out.write_all(text).map_err(|e| e.to_string())?,
                EventKind::Fault { message } => eprintln!("pycom-sim: {message}"),
                _ => {}
            },
        }
        out.flush().map_err(|e| e.to_string())?;
        match event.kind {
            EventKind::InputClosed => input_closed = true,
            EventKind::Idle if stop_at_idle && input_closed => break,
            EventKind::Stopped => break,
            _ => {}
        }
    }
    Ok(())
}

//! The monitor prompt, `(pycom-sim) `: commands for the board (pins, reset, power, files),
//! never for the device's Python. Parsing is separate from doing, so both are tested alone.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::device::DeviceHandle;
use crate::event::{Event, EventKind};
use crate::gpio::Drive;

/// One command typed at the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorCommand {
    /// `hold PIN [for DURATION]`: to 3V3, released after the duration if given.
    Hold {
        pin: String,
        for_: Option<Duration>,
    },
    /// `ground PIN`: to GND.
    Ground {
        pin: String,
    },
    /// `release PIN`: nothing connected.
    Release {
        pin: String,
    },
    Reset,
    PowerCycle,
    Status,
    Pins,
    /// `put HOST [DEVICE]`: a host file into /flash.
    Put {
        host: PathBuf,
        device: Option<String>,
    },
    /// `get DEVICE [HOST]`: a /flash file to the host.
    Get {
        device: String,
        host: Option<PathBuf>,
    },
    /// `ota HOST`: a firmware image delivered as an OTA update.
    Ota {
        image: PathBuf,
    },
    Help,
    Quit,
    /// An empty line: back to the console.
    Nothing,
}

/// The commands, for `help` and completion.
pub const COMMANDS: [(&str, &str); 13] = [
    (
        "hold",
        "hold PIN [for DURATION]   tie PIN to 3V3 (e.g. hold P12 for 4.5s)",
    ),
    (
        "ground",
        "ground PIN                tie PIN to GND (e.g. ground G23)",
    ),
    ("release", "release PIN               disconnect PIN"),
    ("reset", "reset                     press the reset button"),
    (
        "power-cycle",
        "power-cycle               remove power and apply it again",
    ),
    (
        "status",
        "status                    LED, P12, G23, stage, booted image, last reset, time",
    ),
    (
        "pins",
        "pins                      every pin's level and what drives it",
    ),
    (
        "put",
        "put HOST [DEVICE]         copy a host file into /flash (through the device's REPL)",
    ),
    (
        "get",
        "get DEVICE [HOST]         copy a /flash file to the host",
    ),
    (
        "ota",
        "ota IMAGE                 an OTA update, as pycom.ota_write/ota_finish take it; reset boots it",
    ),
    ("help", "help                      this list"),
    ("quit", "quit                      leave pycom-sim"),
    ("power", "(power-cycle)"),
];

pub fn help_text() -> String {
    let mut out = String::new();
    for (name, text) in COMMANDS.iter() {
        if *name != "power" {
            out.push_str(text);
            out.push_str("\r\n");
        }
    }
    out.push_str("Enter on an empty line goes back to the console.\r\n");
    out
}

/// Parses one line.
pub fn parse(line: &str) -> Result<MonitorCommand, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&verb, rest)) = words.split_first() else {
        return Ok(MonitorCommand::Nothing);
    };
    let one_pin = |what: &str| -> Result<String, String> {
        match rest {
            [pin] => Ok((*pin).to_string()),
            [] => Err(format!("{what} needs a pin, like '{what} P12'")),
            _ => Err(format!("{what} takes one pin, like '{what} P12'")),
        }
    };
    let none = |c: MonitorCommand| -> Result<MonitorCommand, String> {
        if rest.is_empty() {
            Ok(c)
        } else {
            Err(format!("'{verb}' takes no arguments"))
        }
    };
    match verb.to_ascii_lowercase().as_str() {
        "hold" => match rest {
            [pin] => Ok(MonitorCommand::Hold {
                pin: (*pin).to_string(),
                for_: None,
            }),
            [pin, "for", d] => Ok(MonitorCommand::Hold {
                pin: (*pin).to_string(),
                for_: Some(crate::duration::parse_duration(d)?),
            }),
            _ => Err("hold takes a pin and maybe a time: 'hold P12' or 'hold P12 for 4.5s'".into()),
        },
        "ground" => Ok(MonitorCommand::Ground {
            pin: one_pin("ground")?,
        }),
        "release" => Ok(MonitorCommand::Release {
            pin: one_pin("release")?,
        }),
        "reset" => none(MonitorCommand::Reset),
        "power-cycle" | "power" | "powercycle" => none(MonitorCommand::PowerCycle),
        "status" => none(MonitorCommand::Status),
        "pins" => none(MonitorCommand::Pins),
        "help" | "?" => none(MonitorCommand::Help),
        "quit" | "exit" => none(MonitorCommand::Quit),
        "put" => match rest {
            [host] => Ok(MonitorCommand::Put {
                host: PathBuf::from(host),
                device: None,
            }),
            [host, device] => Ok(MonitorCommand::Put {
                host: PathBuf::from(host),
                device: Some((*device).to_string()),
            }),
            _ => Err("put takes a host file and maybe a device path: 'put main.py' or 'put app.py /flash/main.py'".into()),
        },
        "ota" => match rest {
            [image] => Ok(MonitorCommand::Ota {
                image: PathBuf::from(image),
            }),
            _ => Err("ota takes one image file: 'ota firmware.bin' (made with `pycom-sim image build`)".into()),
        },
        "get" => match rest {
            [device] => Ok(MonitorCommand::Get {
                device: (*device).to_string(),
                host: None,
            }),
            [device, host] => Ok(MonitorCommand::Get {
                device: (*device).to_string(),
                host: Some(PathBuf::from(host)),
            }),
            _ => Err("get takes a device path and maybe a host file: 'get main.py' or 'get /flash/main.py copy.py'".into()),
        },
        other => Err(format!(
            "unknown command '{other}'; type 'help' for the list (keys for the device's Python go to the console: Enter on an empty line)"
        )),
    }
}

/// `main.py` → `/flash/main.py`; absolute paths stay.
pub fn device_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/flash/{p}")
    }
}

/// A Python string literal of `s` (ASCII-safe).
fn py_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        }
    }
    out.push('\'');
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    t.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect()
}

/// How long the device's REPL may take to answer one raw-REPL step.
const RAW_TIMEOUT: Duration = Duration::from_secs(4);
/// Bytes of file per raw-REPL program.
const CHUNK: usize = 2048;

/// Files to and from /flash through the device's own raw REPL on UART0 — the way mpremote and
/// ampy do it — because the device holds the flash file open and locked while it runs, and
/// because going through the firmware is what a real module needs too (no side door in the
/// device). Returns the device-time span of the exchange, so the console can leave the raw
/// REPL's chatter out of what it shows afterwards.
pub struct RawRepl<'a> {
    handle: &'a DeviceHandle,
    events: std::sync::mpsc::Receiver<Event>,
    text: Vec<u8>,
    pub first_us: Option<u64>,
    pub last_us: u64,
}

const NOT_ANSWERING: &str = "the device's REPL does not answer on UART0 (main.py still running, or the UART taken away with os.dupterm(None)?); safe boot first (Ctrl-T p, Ctrl-T r, release P12 while the LED blinks slowly), or quit and use 'pycom-sim fs' on the stopped flash file";

impl<'a> RawRepl<'a> {
    pub fn open(handle: &'a DeviceHandle) -> Result<RawRepl<'a>, String> {
        let mut r = RawRepl {
            handle,
            events: handle.subscribe(),
            text: Vec::new(),
            first_us: None,
            last_us: 0,
        };
        // Interrupt whatever runs, then Ctrl-A: the raw REPL's banner ends with its prompt.
        handle.write_uart(b"\r\x03\x03");
        r.wait_for(b">>> ", Duration::from_millis(1500)).ok();
        r.text.clear();
        handle.write_uart(b"\r\x01");
        r.wait_for(b"raw REPL; CTRL-B to exit\r\n>", RAW_TIMEOUT)
            .map_err(|_| NOT_ANSWERING.to_string())?;
        Ok(r)
    }

    fn wait_for(&mut self, needle: &[u8], timeout: Duration) -> Result<(), ()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.text.windows(needle.len()).any(|w| w == needle) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(());
            }
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    if let EventKind::Uart { text } = &e.kind {
                        self.first_us.get_or_insert(e.time_us);
                        self.last_us = e.time_us;
                        self.text.extend_from_slice(text);
                    }
                    if e.kind == EventKind::Stopped {
                        return Err(());
                    }
                }
                Err(_) => return Err(()),
            }
        }
    }

    /// Runs `code`; returns what it printed, or its traceback as the error.
    pub fn exec(&mut self, code: &str) -> Result<String, String> {
        self.text.clear();
        let mut bytes = code.as_bytes().to_vec();
        bytes.push(0x04);
        self.handle.write_uart(&bytes);
        // "OK", the output, Ctrl-D, the error, Ctrl-D, then the next ">".
        self.wait_for(b"OK", RAW_TIMEOUT)
            .map_err(|_| NOT_ANSWERING.to_string())?;
        let deadline = Instant::now() + RAW_TIMEOUT * 4;
        loop {
            let after_ok = self
                .text
                .windows(2)
                .position(|w| w == b"OK")
                .map_or(&self.text[..], |i| &self.text[i + 2..]);
            let parts: Vec<&[u8]> = after_ok.split(|&b| b == 0x04).collect();
            if parts.len() >= 3 {
                let out = String::from_utf8_lossy(parts[0]).into_owned();
                let err = String::from_utf8_lossy(parts[1]).into_owned();
                return if err.trim().is_empty() {
                    Ok(out)
                } else {
                    Err(err.trim().replace('\n', "\r\n"))
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("the device took too long to run the transfer".into());
            }
            let len = self.text.len();
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    if let EventKind::Uart { text } = &e.kind {
                        self.last_us = e.time_us;
                        self.text.extend_from_slice(text);
                    }
                    if e.kind == EventKind::Stopped {
                        return Err("the device stopped".into());
                    }
                }
                Err(_) if self.text.len() == len => {
                    return Err("the device took too long to run the transfer".into());
                }
                Err(_) => {}
            }
        }
    }

    /// Leaves the raw REPL (Ctrl-B) and waits for the friendly prompt.
    pub fn close(mut self) -> (Option<u64>, u64) {
        self.text.clear();
        self.handle.write_uart(b"\x02");
        self.wait_for(b">>> ", Duration::from_millis(1500)).ok();
        (self.first_us, self.last_us)
    }
}

/// `put`: copies a host file into the device's filesystem. Returns what to tell the user.
pub fn put(raw: &mut RawRepl<'_>, host: &Path, device: Option<&str>) -> Result<String, String> {
    let data = std::fs::read(host).map_err(|e| {
        format!(
            "cannot read {}: {e}; give a file on this computer",
            host.display()
        )
    })?;
    let name = host
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = device_path(device.unwrap_or(&name));
    let mut first = true;
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(CHUNK).collect()
    };
    for chunk in chunks {
        let code = format!(
            "import ubinascii\nf=open({},{})\nf.write(ubinascii.unhexlify('{}'))\nf.close()\n",
            py_str(&target),
            if first { "'wb'" } else { "'ab'" },
            hex(chunk)
        );
        first = false;
        raw.exec(&code)?;
    }
    Ok(format!(
        "{} → {target} ({} bytes)",
        host.display(),
        data.len()
    ))
}

/// `ota`: delivers a host image (already read and checked for this board by
/// `update::load_image`) through the device's own OTA API in the raw REPL (`pycom.ota_start`,
/// `ota_write` in chunks, `ota_finish`), so it goes where and how the firmware puts an update:
/// the other slot, verified, current after a reset.
pub fn ota(
    raw: &mut RawRepl<'_>,
    image: &Path,
    bytes: &[u8],
    parsed: &crate::image::FirmwareImage,
) -> Result<String, String> {
    raw.exec("import pycom, ubinascii\npycom.ota_start()\n")?;
    for chunk in bytes.chunks(CHUNK) {
        raw.exec(&format!(
            "pycom.ota_write(ubinascii.unhexlify('{}'))\n",
            hex(chunk)
        ))?;
    }
    raw.exec("pycom.ota_finish()\n")?;
    Ok(format!(
        "{} ({}, {} bytes) delivered as an OTA update; 'reset' boots it",
        image.display(),
        parsed.spec.version,
        bytes.len()
    ))
}

/// `get`: copies a file of the device's filesystem to the host.
pub fn get(raw: &mut RawRepl<'_>, device: &str, host: Option<&Path>) -> Result<String, String> {
    let source = device_path(device);
    let out = raw.exec(&format!(
        "import ubinascii\nprint(ubinascii.hexlify(open({},'rb').read()).decode())\n",
        py_str(&source)
    ))?;
    let data = unhex(out.trim()).ok_or("the device's answer was not hex")?;
    let name = source.rsplit('/').next().unwrap_or("file").to_string();
    let target = host.map_or_else(|| PathBuf::from(&name), Path::to_path_buf);
    std::fs::write(&target, &data)
        .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    Ok(format!(
        "{source} → {} ({} bytes)",
        target.display(),
        data.len()
    ))
}

/// Applies a pin command; the drive named for the user.
pub fn drive(handle: &DeviceHandle, pin: &str, drive: Drive) -> Result<(), String> {
    handle.drive(pin, drive).map_err(|e| e.to_string())
}

/// Where the prompt's history lives: `$XDG_STATE_HOME/pycom-sim/monitor_history`.
pub fn history_path() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "pycom-sim")?;
    let dir = dirs
        .state_dir()
        .map_or_else(|| dirs.data_local_dir().to_path_buf(), Path::to_path_buf);
    Some(dir.join("monitor_history"))
}

/// Completion of command names, then pin names.
pub struct MonitorHelper {
    pub pins: Vec<String>,
}

impl MonitorHelper {
    pub fn candidates(&self, line: &str) -> (usize, Vec<String>) {
        let start = line.rfind(' ').map_or(0, |i| i + 1);
        let word = &line[start..];
        let before: Vec<&str> = line[..start].split_whitespace().collect();
        let pool: Vec<String> = match before.as_slice() {
            [] => COMMANDS
                .iter()
                .map(|(n, _)| (*n).to_string())
                .filter(|n| n != "power")
                .collect(),
            [verb] if matches!(*verb, "hold" | "ground" | "release") => self.pins.clone(),
            [_, _] if before.first() == Some(&"hold") => vec!["for".into()],
            _ => Vec::new(),
        };
        let found = pool
            .into_iter()
            .filter(|c| {
                c.to_ascii_lowercase()
                    .starts_with(&word.to_ascii_lowercase())
            })
            .collect();
        (start, found)
    }
}

impl rustyline::completion::Completer for MonitorHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.candidates(line.get(..pos).unwrap_or(line)))
    }
}

impl rustyline::hint::Hinter for MonitorHelper {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for MonitorHelper {}
impl rustyline::validate::Validator for MonitorHelper {}
impl rustyline::Helper for MonitorHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_errors_name_the_fix() {
        assert_eq!(
            parse("hold P12 for 4.5s"),
            Ok(MonitorCommand::Hold {
                pin: "P12".into(),
                for_: Some(Duration::from_millis(4500))
            })
        );
        assert_eq!(parse("  "), Ok(MonitorCommand::Nothing));
        assert_eq!(parse("power-cycle"), Ok(MonitorCommand::PowerCycle));
        assert!(parse("hold").unwrap_err().contains("hold P12"));
        assert!(parse("frobnicate").unwrap_err().contains("help"));
        assert!(parse("hold P12 for 4").unwrap_err().contains("4.5s"));
        assert_eq!(
            parse("get main.py"),
            Ok(MonitorCommand::Get {
                device: "main.py".into(),
                host: None
            })
        );
        assert_eq!(device_path("main.py"), "/flash/main.py");
        assert_eq!(py_str("a'b"), "'a\\'b'");
        assert_eq!(unhex(&hex(b"\x00hi\xff")), Some(b"\x00hi\xff".to_vec()));
    }

    #[test]
    fn completion_knows_commands_then_pins() {
        let h = MonitorHelper {
            pins: vec!["P12".into(), "P2".into(), "G23".into()],
        };
        assert_eq!(h.candidates("ho"), (0, vec!["hold".to_string()]));
        assert_eq!(h.candidates("hold P1"), (5, vec!["P12".to_string()]));
        assert_eq!(h.candidates("release g"), (8, vec!["G23".to_string()]));
        assert_eq!(h.candidates("hold P12 f"), (9, vec!["for".to_string()]));
    }
}

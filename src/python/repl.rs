//! The REPL on UART0: friendly (line editing, continuation lines, paste mode) and raw (what
//! mpremote, rshell, ampy and Pymakr drive), with the firmware's texts.

use rustpython_vm::compiler::Mode;
use rustpython_vm::scope::Scope;
use rustpython_vm::{AsObject, VirtualMachine};

use crate::device::hw::ReplProfile;
use crate::python::bridge::current;
use crate::python::exec::{Flow, run_source};
use crate::python::readline;
use crate::python::uart::{read_byte, write_raw};

const CTRL_A: u8 = 0x01;
const CTRL_B: u8 = 0x02;
const CTRL_C: u8 = 0x03;
const CTRL_D: u8 = 0x04;
const CTRL_E: u8 = 0x05;
const EOT: &[u8] = b"\x04";

/// `raw REPL; CTRL-B to exit\r\n` (`pyexec.c`).
pub const RAW_BANNER: &[u8] = b"raw REPL; CTRL-B to exit\r\n";

/// How a REPL session ended.
pub type ReplEnd = Flow;

/// The two lines the friendly REPL starts with.
pub fn banner(vm: &VirtualMachine) -> Vec<u8> {
    match current(vm) {
        Ok(b) => {
            let first = match profile(vm) {
                ReplProfile::Pycom => b.image.banner(&b.board.name),
                // Upstream's form, which mpremote looks for after a soft reboot.
                ReplProfile::Micropython => format!(
                    "MicroPython {} on {}; {} with ESP32",
                    b.image.spec.git_tag, b.image.spec.build_date, b.board.name
                ),
            };
            format!("{first}\r\nType \"help()\" for more information.\r\n").into_bytes()
        }
        Err(_) => Vec::new(),
    }
}

fn profile(vm: &VirtualMachine) -> ReplProfile {
    current(vm).map_or(ReplProfile::Pycom, |b| b.hw.borrow().repl_profile)
}

/// Raw-paste's flow-control window: `MICROPY_REPL_STDIN_BUFFER_MAX / 2`, upstream's default.
const RAW_PASTE_WINDOW: u16 = 128;

/// Runs the REPL until something ends the session (soft or hard reset, host stop).
pub fn run(vm: &VirtualMachine, scope: &Scope) -> ReplEnd {
    loop {
        let raw = current(vm)
            .map(|b| b.session.borrow().raw_repl)
            .unwrap_or(false);
        let flow = if raw {
            raw_repl(vm, scope)
        } else {
            friendly_repl(vm, scope)
        };
        match flow {
            Some(end) => return end,
            None => continue,
        }
    }
}

fn set_raw(vm: &VirtualMachine, raw: bool) {
    if let Ok(b) = current(vm) {
        b.session.borrow_mut().raw_repl = raw;
    }
}

/// Reads a byte; a host stop, Ctrl-F or reset ends the REPL.
fn key(vm: &VirtualMachine) -> Result<u8, Flow> {
    read_byte(vm).map_err(|exc| crate::python::exec::classify(vm, exc))
}

fn out(vm: &VirtualMachine, bytes: &[u8]) -> Result<(), Flow> {
    write_raw(vm, bytes).map_err(|_| Flow::Stop)
}

/// After code ran at the prompt: keep going, or end the session.
fn after_exec(flow: Flow) -> Option<Flow> {
    match flow {
        Flow::Done | Flow::Failed => None,
        end => Some(end),
    }
}

/// `pyexec_raw_repl`: no echo; Ctrl-D runs the buffer and frames its output with `OK` … `\x04`
/// … `\x04`; Ctrl-D on an empty buffer soft-resets; Ctrl-B leaves for the friendly REPL.
/// Returns `Some(end)` to end the session, `None` to switch REPL mode.
fn raw_repl(vm: &VirtualMachine, scope: &Scope) -> Option<Flow> {
    let step = || -> Result<Option<Flow>, Flow> {
        out(vm, RAW_BANNER)?;
        loop {
            out(vm, b">")?;
            let mut buffer: Vec<u8> = Vec::new();
            loop {
                match key(vm)? {
                    CTRL_A => {
                        // `goto raw_repl_reset`: the banner again, no line break before it.
                        out(vm, RAW_BANNER)?;
                        buffer.clear();
                        out(vm, b">")?;
                    }
                    CTRL_B => {
                        out(vm, b"\r\n")?;
                        set_raw(vm, false);
                        return Ok(None);
                    }
                    CTRL_C => buffer.clear(),
                    CTRL_D => break,
                    // Upstream's raw-paste request, `\x05A\x01`, at the start of the input. The
                    // Pycom firmware has none: there the bytes are input, and the `\x01` resets.
                    CTRL_E if buffer.is_empty() && profile(vm) == ReplProfile::Micropython => {
                        match key(vm)? {
                            b'A' => {
                                let _ = key(vm)?;
                                let source = raw_paste(vm)?;
                                let flow = run_raw(vm, scope, &source);
                                if let Some(end) = after_exec(flow) {
                                    return Ok(Some(end));
                                }
                                out(vm, b">")?;
                            }
                            _ => out(vm, b"R\x00")?,
                        }
                        continue;
                    }
                    b => buffer.push(b),
                }
            }
            out(vm, b"OK")?;
            if buffer.is_empty() {
                out(vm, b"\r\n")?;
                return Ok(Some(Flow::SoftReset));
            }
            let source = String::from_utf8_lossy(&buffer).into_owned();
            let flow = run_raw(vm, scope, &source);
            if let Some(end) = after_exec(flow) {
                return Ok(Some(end));
            }
        }
    };
    match step() {
        Ok(next) => next,
        Err(end) => Some(end),
    }
}

/// Raw-paste (`pyexec_raw_repl_process_char` upstream): `R\x01`, the window as a little-endian
/// u16 and one credit `\x01`; then a `\x01` each time a window's worth was taken, until the
/// host's `\x04`, which is answered with `\x04`. Returns the pasted source.
fn raw_paste(vm: &VirtualMachine) -> Result<String, Flow> {
    let [lo, hi] = RAW_PASTE_WINDOW.to_le_bytes();
    out(vm, &[b'R', 0x01, lo, hi, 0x01])?;
    let mut source = Vec::new();
    let mut taken: u16 = 0;
    loop {
        let b = key(vm)?;
        if b == CTRL_D {
            out(vm, EOT)?;
            return Ok(String::from_utf8_lossy(&source).into_owned());
        }
        source.push(b);
        taken += 1;
        if taken == RAW_PASTE_WINDOW {
            taken = 0;
            out(vm, b"\x01")?;
        }
    }
}

/// Runs raw-REPL input: output, `\x04`, the error text if any, `\x04`.
fn run_raw(vm: &VirtualMachine, scope: &Scope, source: &str) -> Flow {
    let flow = run_source_framed(vm, scope, source);
    let _ = write_raw(vm, EOT);
    flow
}

fn run_source_framed(vm: &VirtualMachine, scope: &Scope, source: &str) -> Flow {
    // The traceback goes between the two EOT markers, so the first marker must be written after
    // the code ran but before the error is printed: run, then classify by hand.
    crate::python::exec::set_busy(vm, true);
    let result = crate::python::exec::compile(vm, source, Mode::Exec, "<stdin>")
        .and_then(|code| vm.run_code_obj(code, scope.clone()));
    crate::python::exec::set_busy(vm, false);
    let _ = write_raw(vm, EOT);
    match result {
        Ok(_) => Flow::Done,
        Err(exc) => crate::python::exec::classify(vm, exc),
    }
}

/// What a line editor returned.
enum Line {
    Text(String),
    /// A control key on an empty line (Ctrl-A/B/C/D/E), or Ctrl-C anywhere.
    Control(u8),
}

/// The firmware's readline at the REPL: history, auto-indent after the statement's `previous`
/// lines, tab completion from the prompt's globals; control keys on an empty line are returned
/// to the caller.
fn read_line(
    vm: &VirtualMachine,
    scope: &Scope,
    prompt: &str,
    previous: &[String],
) -> Result<Line, Flow> {
    match crate::python::uart::edit_line(vm, prompt, previous, &mut |path, prefix| {
        completion_names(vm, scope, path, prefix)
    })
    .map_err(|exc| crate::python::exec::classify(vm, exc))?
    {
        readline::Key::Line(text) => Ok(Line::Text(text)),
        readline::Key::Control(c) => Ok(Line::Control(c)),
        readline::Key::Editing => Ok(Line::Control(0)),
    }
}

/// Names Tab can complete to: the prompt's globals (then the builtins if none match), or the
/// attributes of the object a dotted path names. Looking an attribute up may run a property's
/// code, as it does on the module.
fn completion_names(
    vm: &VirtualMachine,
    scope: &Scope,
    path: &[&str],
    prefix: &str,
) -> Vec<String> {
    let keys = |dict: &rustpython_vm::builtins::PyDict| -> Vec<String> {
        dict.keys_vec()
            .iter()
            .filter_map(|k| k.downcast_ref::<rustpython_vm::builtins::PyStr>())
            .map(|k| k.to_string_lossy().into_owned())
            .filter(|k| k.starts_with(prefix))
            .collect()
    };
    let Some((first, rest)) = path.split_first() else {
        let globals = keys(&scope.globals);
        if !globals.is_empty() {
            return globals;
        }
        return keys(&vm.builtins.dict());
    };
    let lookup = |name: &str| {
        scope
            .globals
            .get_item_opt(name, vm)
            .ok()
            .flatten()
            .or_else(|| vm.builtins.get_attr(&vm.ctx.new_str(name), vm).ok())
    };
    let Some(mut obj) = lookup(first) else {
        return Vec::new();
    };
    for name in rest {
        match obj.get_attr(&vm.ctx.new_str(*name), vm) {
            Ok(next) => obj = next,
            Err(_) => return Vec::new(),
        }
    }
    match vm.dir(Some(obj)) {
        Ok(list) => list
            .borrow_vec()
            .iter()
            .filter_map(|k| k.downcast_ref::<rustpython_vm::builtins::PyStr>())
            .map(|k| k.to_string_lossy().into_owned())
            .filter(|k| k.starts_with(prefix))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Whether `source` is unfinished: an open bracket or string, or a compound statement still
/// being typed (`if x:`), as RustPython's parser reports it.
fn is_incomplete(vm: &VirtualMachine, source: &str) -> bool {
    match crate::python::exec::guard_panic(|| {
        vm.compile(source, Mode::Single, "<stdin>".to_string())
    }) {
        // A compiler fault is not "incomplete": running it reports the fault.
        Ok(Ok(_)) | Err(_) => false,
        Ok(Err(err)) => vm
            .new_syntax_error_maybe_incomplete(&err, Some(source), true)
            .fast_isinstance(vm.ctx.exceptions.incomplete_input_error),
    }
}

/// Compound statements run only after a blank line, as in the firmware's
/// `mp_repl_continue_with_input`, even when their first line already compiles.
fn starts_compound(line: &str) -> bool {
    let word = line.trim_start();
    word.starts_with('@')
        || ["if", "while", "for", "try", "def", "class", "with", "async"]
            .iter()
            .any(|k| {
                word.strip_prefix(k)
                    .is_some_and(|r| r.starts_with([' ', ':', '(']))
            })
}

/// `pyexec_friendly_repl`. Returns `Some(end)` to end the session, `None` to switch to raw.
fn friendly_repl(vm: &VirtualMachine, scope: &Scope) -> Option<Flow> {
    let step = || -> Result<Option<Flow>, Flow> {
        out(vm, &banner(vm))?;
        loop {
            let first = match read_line(vm, scope, ">>> ", &[])? {
                Line::Control(CTRL_A) => {
                    out(vm, b"\r\n")?;
                    set_raw(vm, true);
                    return Ok(None);
                }
                Line::Control(CTRL_B) => {
                    out(vm, b"\r\n")?;
                    out(vm, &banner(vm))?;
                    continue;
                }
                Line::Control(CTRL_D) => {
                    out(vm, b"\r\n")?;
                    return Ok(Some(Flow::SoftReset));
                }
                Line::Control(CTRL_E) => {
                    if let Some(end) = paste_mode(vm, scope)? {
                        return Ok(Some(end));
                    }
                    continue;
                }
                Line::Control(_) => {
                    out(vm, b"\r\n")?;
                    continue;
                }
                Line::Text(t) => t,
            };
            if first.trim().is_empty() {
                continue;
            }
            // `mp_repl_continue_with_input`: a compound statement goes on until an empty line
            // (auto-indent's spaces are not empty: Enter three times ends a block); anything
            // else until it parses.
            let mut in_block = starts_compound(&first);
            let mut lines = vec![first];
            let mut cancelled = false;
            loop {
                let last = lines.last().map(String::as_str).unwrap_or_default();
                in_block |= last.trim_end().ends_with(':');
                let more = if in_block {
                    !last.is_empty()
                } else {
                    is_incomplete(vm, &format!("{}\n", lines.join("\n")))
                };
                if !more {
                    break;
                }
                match read_line(vm, scope, "... ", &lines)? {
                    Line::Text(t) => lines.push(t),
                    Line::Control(CTRL_D) => break,
                    Line::Control(_) => {
                        out(vm, b"\r\n")?;
                        cancelled = true;
                        break;
                    }
                }
            }
            if cancelled {
                continue;
            }
            let mut source = lines.join("\n");
            source.push('\n');
            if let Some(end) = after_exec(run_source(vm, scope, &source, "<stdin>", Mode::Single)) {
                return Ok(Some(end));
            }
        }
    };
    match step() {
        Ok(next) => next,
        Err(end) => Some(end),
    }
}

/// Ctrl-E: paste mode; Ctrl-D runs what was pasted, Ctrl-C cancels it.
fn paste_mode(vm: &VirtualMachine, scope: &Scope) -> Result<Option<Flow>, Flow> {
    out(
        vm,
        b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ",
    )?;
    let mut source: Vec<u8> = Vec::new();
    loop {
        match key(vm)? {
            CTRL_C => {
                out(vm, b"\r\n")?;
                return Ok(None);
            }
            CTRL_D => {
                out(vm, b"\r\n")?;
                break;
            }
            b'\r' => {
                source.push(b'\n');
                out(vm, b"\r\n=== ")?;
            }
            b => {
                source.push(b);
                out(vm, &[b])?;
            }
        }
    }
    let text = String::from_utf8_lossy(&source).into_owned();
    Ok(after_exec(run_source(
        vm,
        scope,
        &text,
        "<stdin>",
        Mode::Exec,
    )))
}

//! The REPL on UART0: friendly (line editing, continuation lines, paste mode) and raw (what
//! mpremote, rshell, ampy and Pymakr drive), with the firmware's texts.

use rustpython_vm::compiler::Mode;
use rustpython_vm::scope::Scope;
use rustpython_vm::{AsObject, VirtualMachine};

use crate::python::bridge::current;
use crate::python::exec::{Flow, run_source};
use crate::python::uart::{pop_char, read_byte, skip_lf, write_raw};

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
        Ok(b) => format!(
            "{}\r\nType \"help()\" for more information.\r\n",
            b.image.banner(&b.board.name)
        )
        .into_bytes(),
        Err(_) => Vec::new(),
    }
}

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
                        out(vm, b"\r\n")?;
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
    let result = vm
        .compile(source, Mode::Exec, "<stdin>".to_string())
        .map_err(|err| vm.new_syntax_error(&err, Some(source)))
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
    /// A control key on an empty line (Ctrl-A/B/C/D/E).
    Control(u8),
    /// Ctrl-C on a non-empty line: the line is abandoned.
    Cancelled,
}

/// The firmware's readline: echo, backspace, Ctrl-C to cancel; control keys on an empty line are
/// returned to the caller.
fn read_line(vm: &VirtualMachine, prompt: &[u8]) -> Result<Line, Flow> {
    out(vm, prompt)?;
    let mut line: Vec<u8> = Vec::new();
    let mut escape: Vec<u8> = Vec::new();
    loop {
        let b = key(vm)?;
        if !escape.is_empty() {
            escape.push(b);
            // Arrow keys and the like (ESC [ X): swallowed until history/editing lands.
            if escape.len() >= 3 || (escape.len() == 2 && b != b'[' && b != b'O') {
                escape.clear();
            }
            continue;
        }
        match b {
            CTRL_A..=CTRL_E if line.is_empty() => return Ok(Line::Control(b)),
            CTRL_C => return Ok(Line::Cancelled),
            b'\r' | b'\n' => {
                out(vm, b"\r\n")?;
                if b == b'\r' {
                    skip_lf(vm).map_err(|_| Flow::Stop)?;
                }
                return Ok(Line::Text(String::from_utf8_lossy(&line).into_owned()));
            }
            0x1B => escape.push(b),
            0x08 | 0x7F if pop_char(&mut line) => {
                out(vm, b"\x08 \x08")?;
            }
            0x09 => {
                // Tab inserts spaces (completion is not modelled yet).
                line.extend_from_slice(b"    ");
                out(vm, b"    ")?;
            }
            0x20..=0xFF => {
                line.push(b);
                out(vm, &[b])?;
            }
            _ => {}
        }
    }
}

/// Whether `source` is unfinished: an open bracket or string, or a compound statement still
/// being typed (`if x:`), as RustPython's parser reports it.
fn is_incomplete(vm: &VirtualMachine, source: &str) -> bool {
    match vm.compile(source, Mode::Single, "<stdin>".to_string()) {
        Ok(_) => false,
        Err(err) => vm
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
            let first = match read_line(vm, b">>> ")? {
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
                Line::Control(_) | Line::Cancelled => {
                    out(vm, b"\r\n")?;
                    continue;
                }
                Line::Text(t) => t,
            };
            if first.trim().is_empty() {
                continue;
            }
            let mut in_block = starts_compound(&first);
            let mut source = first;
            let mut cancelled = false;
            loop {
                if !in_block && !is_incomplete(vm, &format!("{source}\n")) {
                    break;
                }
                if source.trim_end().ends_with(':') {
                    in_block = true;
                }
                match read_line(vm, b"... ")? {
                    Line::Text(t) if t.trim().is_empty() && in_block => break,
                    Line::Text(t) => {
                        source.push('\n');
                        source.push_str(&t);
                    }
                    Line::Control(CTRL_D) => break,
                    Line::Control(_) | Line::Cancelled => {
                        out(vm, b"\r\n")?;
                        cancelled = true;
                        break;
                    }
                }
            }
            if cancelled {
                continue;
            }
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

//! UART0 as the firmware's Python sees it: cooked output, blocking reads, a line editor for
//! `input()`.

use rustpython_vm::{PyResult, VirtualMachine};

use crate::python::bridge::{break_exception, current};
use crate::python::readline::{self, Key, LineEditor};

/// The firmware's cooked output: `\n` becomes `\r\n` (`mp_hal_stdout_tx_strn_cooked`).
pub fn cook(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 8);
    for b in text.bytes() {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Console output, raw: out of UART0 while the terminal is there (through the firmware's driver:
/// dropped after `UART(0).deinit()`), or to the stream `os.dupterm()` put the terminal on.
pub fn write_raw(vm: &VirtualMachine, bytes: &[u8]) -> PyResult<()> {
    current(vm)?.hw.borrow_mut().console_write(bytes);
    crate::python::dupterm::write(vm, bytes);
    Ok(())
}

/// Blocks until a byte of console input arrives: on UART0, or from the stream `os.dupterm()`
/// put the terminal on (the device idles meanwhile). A reset, Ctrl-F, or — while code runs —
/// Ctrl-C end the wait with their exception.
pub fn read_byte(vm: &VirtualMachine) -> PyResult<u8> {
    let bridge = current(vm)?;
    loop {
        let (on_uart0, waiting) = {
            let mut hw = bridge.hw.borrow_mut();
            if let Some(e) = break_exception(vm, &mut hw) {
                return Err(e);
            }
            if hw.console_on_uart0
                && let Some(b) = hw.uart_rx.pop_front()
            {
                return Ok(b);
            }
            (hw.console_on_uart0, hw.uart_rx.len())
        };
        if let Some(b) = crate::python::dupterm::read_byte(vm) {
            return Ok(b);
        }
        let callbacks = {
            let mut hw = bridge.hw.borrow_mut();
            // Off UART0, bytes typed there are `UART(0).read()`'s; they only wake the poll.
            hw.idle(|hw| {
                !hw.callbacks.is_empty()
                    || if on_uart0 {
                        !hw.uart_rx.is_empty()
                    } else {
                        hw.uart_rx.len() != waiting
                    }
            });
            !hw.callbacks.is_empty()
        };
        if callbacks {
            // Handlers run while the prompt waits, as scheduled callbacks do on the module.
            crate::python::bridge::dispatch_callbacks(vm)?;
        }
    }
}

/// Edits one line on UART0 with the firmware's readline (echo, cursor keys, history,
/// auto-indent after `previous` lines, Tab asking `names`), until Enter or a control key the
/// caller handles.
pub fn edit_line(
    vm: &VirtualMachine,
    prompt: &str,
    previous: &[String],
    names: readline::Names,
) -> PyResult<Key> {
    let bridge = current(vm)?;
    let mut echo = Vec::new();
    let mut editor = LineEditor::start(prompt, previous, &mut echo);
    write_raw(vm, &echo)?;
    loop {
        let b = read_byte(vm)?;
        echo.clear();
        // The history is taken out of the session while the editor works: Tab completion runs
        // Python (a property, `dir()`), which may itself reach the session (`os.getcwd()`).
        let mut history = std::mem::take(&mut bridge.session.borrow_mut().history);
        let key = editor.feed(b, &mut history, &mut echo, names);
        bridge.session.borrow_mut().history = history;
        write_raw(vm, &echo)?;
        match key {
            Key::Editing => {}
            Key::Line(text) => {
                if b == b'\r' {
                    skip_lf(vm)?;
                }
                return Ok(Key::Line(text));
            }
            control => return Ok(control),
        }
    }
}

/// `input()`: one line with the same editor; Ctrl-D on an empty line is `EOFError`, as
/// `mp_builtin_input` raises.
pub fn read_line(vm: &VirtualMachine, prompt: &str) -> PyResult<String> {
    match edit_line(
        vm,
        &String::from_utf8_lossy(&cook(prompt)),
        &[],
        &mut |_, _| Vec::new(),
    )? {
        Key::Line(text) => Ok(text),
        Key::Control(0x03) => {
            Err(vm.new_exception_empty(vm.ctx.exceptions.keyboard_interrupt.to_owned()))
        }
        Key::Control(0x04) => Err(vm.new_exception_empty(vm.ctx.exceptions.eof_error.to_owned())),
        _ => Ok(String::new()),
    }
}

/// Drops one `\n` right after a `\r` if it is already waiting (CRLF line endings from hosts).
pub fn skip_lf(vm: &VirtualMachine) -> PyResult<()> {
    let bridge = current(vm)?;
    let mut hw = bridge.hw.borrow_mut();
    hw.drain_commands();
    if hw.console_on_uart0 && hw.uart_rx.front() == Some(&b'\n') {
        hw.uart_rx.pop_front();
    }
    Ok(())
}

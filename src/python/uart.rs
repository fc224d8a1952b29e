//! UART0 as the firmware's Python sees it: cooked output, blocking reads, a line editor for
//! `input()`.

use rustpython_vm::{PyResult, VirtualMachine};

use crate::python::bridge::{break_exception, current};

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

/// Writes raw bytes to UART0 (through the firmware's driver: dropped after `UART(0).deinit()`).
pub fn write_raw(vm: &VirtualMachine, bytes: &[u8]) -> PyResult<()> {
    current(vm)?.hw.borrow_mut().console_write(bytes);
    Ok(())
}

/// Blocks until a byte arrives on UART0 (the device idles meanwhile). A reset, Ctrl-F, or — while
/// code runs — Ctrl-C end the wait with their exception.
pub fn read_byte(vm: &VirtualMachine) -> PyResult<u8> {
    let bridge = current(vm)?;
    loop {
        let callbacks = {
            let mut hw = bridge.hw.borrow_mut();
            if let Some(e) = break_exception(vm, &mut hw) {
                return Err(e);
            }
            if let Some(b) = hw.uart_rx.pop_front() {
                return Ok(b);
            }
            hw.idle(|hw| !hw.uart_rx.is_empty() || !hw.callbacks.is_empty());
            !hw.callbacks.is_empty()
        };
        if callbacks {
            // Handlers run while the prompt waits, as scheduled callbacks do on the module.
            crate::python::bridge::dispatch_callbacks(vm)?;
        }
    }
}

/// Reads one line with echo: printable characters are echoed, backspace/DEL erase, Enter ends
/// the line (`\r` or `\n`; `\r\n` counts once).
pub fn read_line(vm: &VirtualMachine, prompt: &str) -> PyResult<String> {
    write_raw(vm, &cook(prompt))?;
    let mut line: Vec<u8> = Vec::new();
    loop {
        let b = read_byte(vm)?;
        match b {
            b'\r' | b'\n' => {
                write_raw(vm, b"\r\n")?;
                if b == b'\r' {
                    skip_lf(vm)?;
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            0x08 | 0x7F if pop_char(&mut line) => {
                write_raw(vm, b"\x08 \x08")?;
            }
            0x20..=0xFF => {
                line.push(b);
                write_raw(vm, &[b])?;
            }
            _ => {}
        }
    }
}

/// Drops one `\n` right after a `\r` if it is already waiting (CRLF line endings from hosts).
pub fn skip_lf(vm: &VirtualMachine) -> PyResult<()> {
    let bridge = current(vm)?;
    let mut hw = bridge.hw.borrow_mut();
    hw.drain_commands();
    if hw.uart_rx.front() == Some(&b'\n') {
        hw.uart_rx.pop_front();
    }
    Ok(())
}

/// Removes the last UTF-8 character of a line being edited.
pub fn pop_char(line: &mut Vec<u8>) -> bool {
    let Some(mut last) = line.pop() else {
        return false;
    };
    while last & 0xC0 == 0x80 {
        match line.pop() {
            Some(b) => last = b,
            None => break,
        }
    }
    true
}

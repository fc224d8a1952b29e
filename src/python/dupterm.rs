//! The REPL's terminal when `os.dupterm()` has put it on a Python stream object (anything with
//! `read(n)` and `write(buf)`), as Pycom's firmware allows: console output is written to the
//! stream, and the console polls the stream's `read(1)` for input. On a `machine.UART` the
//! terminal is the hardware's (`Hw::console_on_uart0`), and this module has nothing to do.
//!
//! The stream lives in `_pyboot.dupterm[1]`, so it belongs to one interpreter: a soft reset
//! gives the terminal back to UART0, as the firmware's `_boot.py` does. A stream whose `write`
//! or `read` raises is dropped and the terminal goes back to UART0 with the error, so a broken
//! stream cannot leave the user without a REPL (the firmware's behaviour there is undefined).

use std::cell::Cell;

use rustpython_vm::builtins::{PyBytes, PyStr};
use rustpython_vm::{PyObjectRef, VirtualMachine};

use crate::python::bridge::current;

thread_local! {
    /// Set while a stream method runs: a stream that prints must not loop back into itself.
    static IN_STREAM: Cell<bool> = const { Cell::new(false) };
}

/// `_pyboot.dupterm`, the interpreter's terminal slots.
fn slots(vm: &VirtualMachine) -> Option<PyObjectRef> {
    let modules = vm.sys_module.get_attr("modules", vm).ok()?;
    modules
        .get_item("_pyboot", vm)
        .ok()?
        .get_attr("dupterm", vm)
        .ok()
}

/// The Python stream the terminal is on, if any (and not while one of its own methods runs).
/// On UART0 there is none by construction (`os.dupterm`), so the usual case looks nothing up.
fn stream(vm: &VirtualMachine) -> Option<PyObjectRef> {
    if IN_STREAM.with(Cell::get) || current(vm).ok()?.hw.borrow().console_on_uart0 {
        return None;
    }
    let slot = slots(vm)?.get_item(&1, vm).ok()?;
    (!vm.is_none(&slot)).then_some(slot)
}

/// Calls `method` on the stream with the re-entry guard up; on an exception, gives the terminal
/// back to UART0 and says why there.
fn call(
    vm: &VirtualMachine,
    stream: &PyObjectRef,
    method: &str,
    arg: PyObjectRef,
) -> Option<PyObjectRef> {
    IN_STREAM.with(|f| f.set(true));
    let result = vm.call_method(stream, method, (arg,));
    IN_STREAM.with(|f| f.set(false));
    match result {
        Ok(value) => Some(value),
        Err(exc) => {
            if let Some(slots) = slots(vm) {
                let _ = slots.set_item(&0, vm.ctx.none(), vm);
                let _ = slots.set_item(&1, vm.ctx.none(), vm);
            }
            let mut text =
                format!("dupterm: Exception in {method}() method, the REPL is back on UART0: ");
            let _ = vm.write_exception(&mut text, &exc);
            if let Ok(bridge) = current(vm) {
                let mut hw = bridge.hw.borrow_mut();
                hw.console_on_uart0 = true;
                hw.console_write(&crate::python::uart::cook(&text));
            }
            None
        }
    }
}

/// Console output to the stream, if the terminal is on one.
pub fn write(vm: &VirtualMachine, bytes: &[u8]) {
    if let Some(s) = stream(vm) {
        call(vm, &s, "write", vm.ctx.new_bytes(bytes.to_vec()).into());
    }
}

/// One byte of console input from the stream, if the terminal is on one and it has a byte now.
pub fn read_byte(vm: &VirtualMachine) -> Option<u8> {
    let s = stream(vm)?;
    let got = call(vm, &s, "read", vm.ctx.new_int(1).into())?;
    got.downcast_ref::<PyBytes>()
        .map(|b| b.as_bytes().first().copied())
        .or_else(|| {
            // A text stream (io.StringIO) answers with str.
            got.downcast_ref::<PyStr>()
                .map(|s| s.as_bytes().first().copied())
        })
        .flatten()
}

//! Running code on the device's interpreter and sorting out how it ended.

use rustpython_vm::builtins::{PyBaseExceptionRef, PyType};
use rustpython_vm::compiler::Mode;
use rustpython_vm::scope::Scope;
use rustpython_vm::{AsObject, PyResult, VirtualMachine};

use crate::python::bridge::current;
use crate::rom::ResetCause;

/// How a piece of code ended, as the firmware's `parse_compile_execute` and its callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Ran to the end.
    Done,
    /// Raised an exception, which has been printed.
    Failed,
    /// `sys.exit()` or Ctrl-D: soft reset.
    SoftReset,
    /// `machine.reset()`, a starved WDT, `machine.deepsleep()`: hard reset with this cause.
    HardReset(ResetCause),
    /// Ctrl-F or `pycom.bootmgr(safeboot=True, reset=True)`: request safe boot, hard reset.
    SafeBootReset,
    /// The host reset or powered off the device, or ended the run.
    Stop,
}

/// Compiles and runs `source` in `scope`; prints a traceback for an ordinary exception.
pub fn run_source(
    vm: &VirtualMachine,
    scope: &Scope,
    source: &str,
    filename: &str,
    mode: Mode,
) -> Flow {
    set_busy(vm, true);
    let result =
        compile(vm, source, mode, filename).and_then(|code| vm.run_code_obj(code, scope.clone()));
    set_busy(vm, false);
    match result {
        Ok(_) => Flow::Done,
        Err(exc) => classify(vm, exc),
    }
}

/// Compiles `source` as the device's compiler does: a syntax error is a `SyntaxError`, and so is
/// a fault of RustPython's code generator (it panics on a few valid programs, e.g. a `finally:`
/// that returns around a `break`), so the user reads an error and the prompt comes back instead
/// of the device crashing.
pub fn compile(
    vm: &VirtualMachine,
    source: &str,
    mode: Mode,
    filename: &str,
) -> PyResult<rustpython_vm::PyRef<rustpython_vm::builtins::PyCode>> {
    let source = &*crate::python::native_compat::normalize_newlines(source);
    crate::python::native_compat::check_source(vm, source, filename)?;
    match guard_panic(|| vm.compile(source, mode, filename.to_string())) {
        Ok(Ok(code)) => Ok(code),
        Ok(Err(err)) => Err(vm.new_syntax_error(&err, Some(source))),
        Err(cause) => Err(compiler_fault(vm, &cause)),
    }
}

/// Runs `f`, turning a panic inside it into its message (the panic hook keeps it off stderr on
/// the device thread; see [`crate::device::panic_message`]).
pub fn guard_panic<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|payload| crate::device::panic_message(payload.as_ref()))
}

/// The `SyntaxError` for code RustPython's compiler gave up on.
pub fn compiler_fault(vm: &VirtualMachine, cause: &str) -> PyBaseExceptionRef {
    vm.new_exception_msg(
        vm.ctx.exceptions.syntax_error.to_owned(),
        format!(
            "pycom-sim cannot compile this code (its compiler failed: {cause}); \
             MicroPython may accept it, so rewrite the construct or report it"
        )
        .into(),
    )
}

/// Marks code as running (Ctrl-C interrupts it) or not (Ctrl-C is a key the REPL reads).
pub fn set_busy(vm: &VirtualMachine, busy: bool) {
    if let Ok(bridge) = current(vm) {
        let mut hw = bridge.hw.borrow_mut();
        hw.python_busy = busy;
        if busy {
            // pyexec arms Ctrl-C (and the Ctrl-F reset char) afresh for every piece of code;
            // `micropython.kbd_intr(-1)` lasts until the next one.
            hw.intr_char = Some(0x03);
        }
        hw.clock.set_computing(busy);
        if !busy {
            // An interrupt that arrived as the code finished has nothing left to interrupt.
            hw.kbd_interrupt = false;
        }
    }
}

fn is_instance_of(vm: &VirtualMachine, exc: &PyBaseExceptionRef, name: &'static str) -> bool {
    let Ok(class) = vm.import("_pyboot", 0).and_then(|m| m.get_attr(name, vm)) else {
        return false;
    };
    class
        .downcast_ref::<PyType>()
        .is_some_and(|t| exc.class().fast_issubclass(t.as_object()))
}

/// Whether `exc` is one of the device's own breaks (`DeviceStop`, `SafeBootReset`, `HardReset`),
/// which end the interpreter's run, not Ctrl-C's `KeyboardInterrupt`.
pub fn is_device_break(vm: &VirtualMachine, exc: &PyBaseExceptionRef) -> bool {
    ["DeviceStop", "SafeBootReset", "HardReset"]
        .into_iter()
        .any(|name| is_instance_of(vm, exc, name))
}

/// The reset a `_pyboot.HardReset(kind)` makes: 3 is a deep-sleep wake, anything else the
/// watchdog's (`machine.reset()`).
pub fn hard_reset_cause(kind: Option<i32>) -> ResetCause {
    match kind {
        Some(3) => ResetCause::DeepSleepWake,
        _ => ResetCause::Watchdog,
    }
}

/// Sorts an exception into a device action, or prints it.
pub fn classify(vm: &VirtualMachine, exc: PyBaseExceptionRef) -> Flow {
    if exc.fast_isinstance(vm.ctx.exceptions.system_exit) {
        return Flow::SoftReset;
    }
    if is_instance_of(vm, &exc, "DeviceStop") {
        return Flow::Stop;
    }
    if is_instance_of(vm, &exc, "SafeBootReset") {
        return Flow::SafeBootReset;
    }
    if is_instance_of(vm, &exc, "HardReset") {
        let kind = exc.get_arg(0).and_then(|a| a.try_to_value::<i32>(vm).ok());
        return Flow::HardReset(hard_reset_cause(kind));
    }
    if let Err(e) = print_exception(vm, &exc) {
        // The traceback printer itself failed: say so plainly rather than lose the error.
        let _ = crate::python::uart::write_raw(
            vm,
            format!("Traceback printing failed: {}\r\n", e.class().name()).as_bytes(),
        );
    }
    Flow::Failed
}

/// Prints an exception as the firmware does (`_pyboot.print_exception`).
pub fn print_exception(vm: &VirtualMachine, exc: &PyBaseExceptionRef) -> PyResult<()> {
    let printer = vm.import("_pyboot", 0)?.get_attr("print_exception", vm)?;
    printer.call((exc.clone(),), vm)?;
    Ok(())
}

//! `_dev`: the few native functions the device's Python modules are built on. Everything a
//! user sees (`machine`, `pycom`, `os`, `time`, …) is Python in `lib/` calling these.

pub(crate) use dev::module_def;

/// Python modules of the firmware, compiled into the simulator. `import machine` finds them
/// before anything on the device's filesystem, as frozen/built-in modules do on the module.
pub const BUILTIN_MODULES: &[(&str, &str)] = &[
    ("_pyboot", include_str!("lib/_pyboot.py")),
    ("machine", include_str!("lib/machine.py")),
    ("os", include_str!("lib/os.py")),
    ("uos", include_str!("lib/os.py")),
];

#[rustpython_vm::pymodule(name = "_dev")]
pub mod dev {
    use rustpython_vm::builtins::{PyListRef, PyStrRef};
    use rustpython_vm::{PyObjectRef, PyResult, VirtualMachine};

    use super::BUILTIN_MODULES;
    use crate::python::bridge::{break_exception, current};
    use crate::python::uart;

    /// Writes text to UART0 as the firmware's cooked stdout does (`\n` → `\r\n`).
    #[pyfunction]
    fn write(s: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let text = s.to_string_lossy();
        bridge.hw.borrow_mut().uart_write(&uart::cook(&text));
        Ok(())
    }

    /// Reads `n` characters from UART0 (at least one; blocks until they arrive).
    #[pyfunction]
    fn read(n: i64, vm: &VirtualMachine) -> PyResult<String> {
        let want = usize::try_from(n.max(1)).unwrap_or(1);
        let mut bytes = Vec::with_capacity(want);
        while bytes.len() < want {
            bytes.push(uart::read_byte(vm)?);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `input()`: prompt, then a line typed on UART0 with echo and backspace.
    #[pyfunction]
    fn readline(prompt: PyStrRef, vm: &VirtualMachine) -> PyResult<String> {
        uart::read_line(vm, &prompt.to_string_lossy())
    }

    /// `sys.platform`: the board's name.
    #[pyfunction]
    fn platform(vm: &VirtualMachine) -> PyResult<String> {
        Ok(current(vm)?.board.name.clone())
    }

    /// `machine.reset_cause()`.
    #[pyfunction]
    fn reset_cause(vm: &VirtualMachine) -> PyResult<u8> {
        Ok(current(vm)?.session.borrow().reset_cause)
    }

    /// Device time in microseconds since power-on.
    #[pyfunction]
    fn ticks_us(vm: &VirtualMachine) -> PyResult<u64> {
        Ok(current(vm)?.hw.borrow_mut().clock.now())
    }

    /// Waits `us` microseconds of device time (jumped over in virtual time); Ctrl-C and resets
    /// end the wait with their exception.
    #[pyfunction]
    fn sleep_us(us: i64, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let mut hw = bridge.hw.borrow_mut();
        let target = hw
            .clock
            .now()
            .saturating_add(u64::try_from(us).unwrap_or(0));
        hw.wait_until(target);
        match break_exception(vm, &mut hw) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Finds a module's source: the firmware's own modules first, then `<dir>/<name>.py` and
    /// `<dir>/<name>/__init__.py` for each directory of `sys.path` on the device's filesystem.
    /// Returns `(source, filename, is_package)` or None.
    #[pyfunction]
    fn find_module(
        name: PyStrRef,
        path: PyListRef,
        vm: &VirtualMachine,
    ) -> PyResult<Option<PyObjectRef>> {
        let name = name.to_string_lossy();
        let found = |source: String, filename: String, package: bool| {
            Some(
                vm.ctx
                    .new_tuple(vec![
                        vm.ctx.new_str(source).into(),
                        vm.ctx.new_str(filename).into(),
                        vm.ctx.new_bool(package).into(),
                    ])
                    .into(),
            )
        };
        if let Some((_, src)) = BUILTIN_MODULES.iter().find(|(n, _)| *n == name) {
            return Ok(found((*src).to_string(), format!("<frozen {name}>"), false));
        }
        let bridge = current(vm)?;
        if let Some(src) = bridge.image.frozen_module(&name) {
            return Ok(found(src.to_string(), format!("{name}.py"), false));
        }
        let rel = name.replace('.', "/");
        let dirs: Vec<String> = path
            .borrow_vec()
            .iter()
            .filter_map(|o| {
                o.downcast_ref::<rustpython_vm::builtins::PyStr>()
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .collect();
        for dir in dirs {
            for (candidate, package) in [
                (format!("{rel}.py"), false),
                (format!("{rel}/__init__.py"), true),
            ] {
                let full = crate::python::vfs::join(&bridge, &dir, &candidate);
                if let Ok(bytes) = crate::python::vfs::read(&bridge, &full) {
                    let source = String::from_utf8_lossy(&bytes).into_owned();
                    let shown = crate::python::vfs::display_name(&bridge, &full);
                    return Ok(found(source, shown, package));
                }
            }
        }
        Ok(None)
    }
}

//! `_dev`: the few native functions the device's Python modules are built on. Everything a
//! user sees (`machine`, `pycom`, `os`, `time`, …) is Python in `lib/` calling these.

pub(crate) use dev::module_def;

/// A Python module of the firmware, compiled to bytecode when the simulator itself is built
/// (`py_compile!`), as the real firmware freezes its modules: starting a device parses none of
/// our Python, and a syntax error in `lib/` fails the build instead of a boot.
pub struct FirmwareModule {
    /// The names `import` finds it by (`os` and `uos` are one module under two names).
    pub names: &'static [&'static str],
    /// The frozen code (a function: the macro's byte slice is not a constant expression).
    code: fn() -> rustpython_vm::frozen::FrozenCodeObject<&'static [u8]>,
}

/// One [`FirmwareModule`] from a file in `lib/`. The `include_str!` is there for cargo: it makes
/// an edit of the `.py` file rebuild this crate, which runs `py_compile!` again.
macro_rules! firmware_module {
    ([$($name:literal),+], $file:literal, $shown:literal) => {{
        const _: &str = include_str!($file);
        FirmwareModule {
            names: &[$($name),+],
            code: || rustpython_vm::py_compile!(file = $file, module_name = $shown),
        }
    }};
}

/// Python modules of the firmware, compiled into the simulator. `import machine` finds them
/// before anything on the device's filesystem, as frozen/built-in modules do on the module.
pub static FIRMWARE_MODULES: &[FirmwareModule] = &[
    firmware_module!(["_pyboot"], "lib/_pyboot.py", "<frozen _pyboot>"),
    firmware_module!(
        ["machine", "umachine"],
        "lib/machine.py",
        "<frozen machine>"
    ),
    firmware_module!(["os", "uos"], "lib/os.py", "<frozen os>"),
    firmware_module!(["_sysext"], "lib/_sysext.py", "<frozen _sysext>"),
    firmware_module!(["pycom"], "lib/pycom.py", "<frozen pycom>"),
    firmware_module!(["time", "utime"], "lib/time.py", "<frozen time>"),
    firmware_module!(["_calendar"], "lib/_calendar.py", "<frozen _calendar>"),
    firmware_module!(
        ["micropython"],
        "lib/micropython.py",
        "<frozen micropython>"
    ),
    firmware_module!(["gc"], "lib/gc.py", "<frozen gc>"),
    firmware_module!(["ujson", "json"], "lib/ujson.py", "<frozen ujson>"),
    firmware_module!(
        ["ubinascii", "binascii"],
        "lib/ubinascii.py",
        "<frozen ubinascii>"
    ),
    firmware_module!(["ustruct", "struct"], "lib/ustruct.py", "<frozen ustruct>"),
    firmware_module!(["uerrno", "errno"], "lib/uerrno.py", "<frozen uerrno>"),
    firmware_module!(["uio"], "lib/uio.py", "<frozen uio>"),
    firmware_module!(["ure", "re"], "lib/ure.py", "<frozen ure>"),
    firmware_module!(
        ["uhashlib", "hashlib"],
        "lib/uhashlib.py",
        "<frozen uhashlib>"
    ),
    firmware_module!(
        ["ucollections"],
        "lib/ucollections.py",
        "<frozen ucollections>"
    ),
    firmware_module!(["_file"], "lib/_file.py", "<frozen _file>"),
    firmware_module!(["array"], "lib/array.py", "<frozen array>"),
    firmware_module!(["math"], "lib/math.py", "<frozen math>"),
    firmware_module!(["cmath"], "lib/cmath.py", "<frozen cmath>"),
    firmware_module!(["uzlib"], "lib/uzlib.py", "<frozen uzlib>"),
    firmware_module!(["uselect", "select"], "lib/uselect.py", "<frozen uselect>"),
    firmware_module!(["utimeq"], "lib/utimeq.py", "<frozen utimeq>"),
    firmware_module!(["uqueue", "queue"], "lib/uqueue.py", "<frozen uqueue>"),
    firmware_module!(["ucrypto", "crypto"], "lib/ucrypto.py", "<frozen ucrypto>"),
    firmware_module!(["vfs"], "lib/vfs.py", "<frozen vfs>"),
    firmware_module!(["io"], "lib/io.py", "<frozen io>"),
    firmware_module!(["_pymount"], "lib/_pymount.py", "<frozen _pymount>"),
    firmware_module!(["uctypes"], "lib/uctypes.py", "<frozen uctypes>"),
    firmware_module!(["framebuf"], "lib/framebuf.py", "<frozen framebuf>"),
];

/// Modules only the `micropython` REPL profile has (they are newer than firmware 1.20's
/// MicroPython 1.11).
const UPSTREAM_ONLY: &[&str] = &["vfs", "io"];

/// The firmware module that answers to `name` (under any of its names).
fn firmware_module(name: &str) -> Option<&'static FirmwareModule> {
    FIRMWARE_MODULES.iter().find(|m| m.names.contains(&name))
}

/// The code object of firmware module `name` for this interpreter, or None if there is none.
pub fn builtin_code(
    vm: &rustpython_vm::VirtualMachine,
    name: &str,
) -> Option<rustpython_vm::PyRef<rustpython_vm::builtins::PyCode>> {
    let module = firmware_module(name)?;
    Some(super::engine::frozen_code(vm, module.names[0], module.code))
}

#[rustpython_vm::pymodule(name = "_dev")]
pub mod dev {
    use rustpython_vm::builtins::{PyListRef, PyStrRef};
    use rustpython_vm::{PyObjectRef, PyResult, VirtualMachine};

    use crate::python::bridge::{break_exception, current, dispatch_callbacks};
    use crate::python::uart;

    /// `machine.reset()` and the firmware's other resets (`kind` 2 watchdog, 3 deep sleep):
    /// raises `_pyboot.HardReset(kind)`, and tells the device, which resets even if the code
    /// catches the exception (the chip does not wait for it).
    #[pyfunction]
    fn hard_reset(kind: i32, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let mut hw = bridge.hw.borrow_mut();
        hw.hard_reset_request = Some(kind);
        let exc = break_exception(vm, &mut hw);
        Err(exc.unwrap_or_else(|| crate::python::bridge::hard_reset_exception(vm, kind)))
    }

    /// Writes text to UART0 as the firmware's cooked stdout does (`\n` → `\r\n`).
    #[pyfunction]
    fn write(s: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        uart::write_raw(vm, &uart::cook(&s.to_string_lossy()))
    }

    /// Reads `n` characters from UART0 (at least one; blocks until they arrive).
    #[pyfunction]
    fn read(n: i64, vm: &VirtualMachine) -> PyResult<String> {
        Ok(String::from_utf8_lossy(&read_n(n, vm)?).into_owned())
    }

    /// `n` bytes (at least one) from the console, blocking until they arrive.
    fn read_n(n: i64, vm: &VirtualMachine) -> PyResult<Vec<u8>> {
        let want = usize::try_from(n.max(1)).unwrap_or(1);
        let mut bytes = Vec::with_capacity(want);
        while bytes.len() < want {
            bytes.push(uart::read_byte(vm)?);
        }
        Ok(bytes)
    }

    /// `sys.stdin.buffer.read(n)`: `n` raw bytes from UART0 (blocks until they arrive), for
    /// the binary transfers of host tools (rshell).
    #[pyfunction]
    fn read_bytes(n: i64, vm: &VirtualMachine) -> PyResult<Vec<u8>> {
        read_n(n, vm)
    }

    /// `sys.stdout.buffer.write(b)`: raw bytes out of the console, not cooked.
    #[pyfunction]
    fn write_bytes(
        data: rustpython_vm::function::ArgBytesLike,
        vm: &VirtualMachine,
    ) -> PyResult<usize> {
        let bytes = data.borrow_buf().to_vec();
        uart::write_raw(vm, &bytes)?;
        Ok(bytes.len())
    }

    /// `compile()` with RustPython's code generator guarded: a fault in it is the `SyntaxError`
    /// of [`crate::python::exec::compiler_fault`], not a crash of the device.
    /// Source text has its CR/CRLF line ends made LF first, as MicroPython's lexer does, and what
    /// the firmware's compiler rejects is a `SyntaxError` ([`crate::python::native_compat`]).
    #[pyfunction]
    fn compile(mut args: rustpython_vm::function::FuncArgs, vm: &VirtualMachine) -> PyResult {
        let filename = args
            .args
            .get(1)
            .and_then(|f| f.downcast_ref::<rustpython_vm::builtins::PyStr>())
            .map_or_else(
                || "<string>".to_string(),
                |f| f.to_string_lossy().into_owned(),
            );
        if let Some(first) = args.args.first_mut()
            && let Some(text) = source_text(first)
        {
            let text = crate::python::native_compat::normalize_newlines(&text).into_owned();
            crate::python::native_compat::check_source(vm, &text, &filename)?;
            *first = vm.ctx.new_str(text).into();
        }
        let original = original_builtin("compile", vm)?;
        match crate::python::exec::guard_panic(|| original.call(args, vm)) {
            Ok(result) => result,
            Err(cause) => Err(crate::python::exec::compiler_fault(vm, &cause)),
        }
    }

    /// `exec()`: source text is compiled through the guarded [`compile`] first; the code then
    /// runs in the caller's frame as the builtin's does (a native function adds no frame).
    #[pyfunction]
    fn exec(args: rustpython_vm::function::FuncArgs, vm: &VirtualMachine) -> PyResult {
        run_builtin("exec", "<string>", args, vm)
    }

    /// `eval()`, as [`exec`].
    #[pyfunction]
    fn eval(args: rustpython_vm::function::FuncArgs, vm: &VirtualMachine) -> PyResult {
        run_builtin("eval", "<string>", args, vm)
    }

    fn original_builtin(name: &str, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        vm.import("_dev", 0)?
            .get_attr(&*vm.ctx.new_str(format!("_builtin_{name}")), vm)
    }

    fn run_builtin(
        name: &str,
        filename: &str,
        mut args: rustpython_vm::function::FuncArgs,
        vm: &VirtualMachine,
    ) -> PyResult {
        if let Some(first) = args.args.first_mut()
            && let Some(text) = source_text(first)
        {
            let mode = if name == "eval" {
                rustpython_vm::compiler::Mode::Eval
            } else {
                rustpython_vm::compiler::Mode::Exec
            };
            let code = crate::python::exec::compile(vm, &text, mode, filename)?;
            *first = code.into();
        }
        original_builtin(name, vm)?.call(args, vm)
    }

    /// The text of a `compile`/`exec`/`eval` source argument (str or bytes), if it is one.
    fn source_text(arg: &PyObjectRef) -> Option<String> {
        if let Some(s) = arg.downcast_ref::<rustpython_vm::builtins::PyStr>() {
            Some(s.to_string_lossy().into_owned())
        } else {
            arg.downcast_ref::<rustpython_vm::builtins::PyBytes>()
                .map(|b| String::from_utf8_lossy(b.as_bytes()).into_owned())
        }
    }

    /// `input()`: prompt, then a line typed on UART0 with echo and backspace.
    #[pyfunction]
    fn readline(prompt: PyStrRef, vm: &VirtualMachine) -> PyResult<String> {
        uart::read_line(vm, &prompt.to_string_lossy())
    }

    /// Puts the REPL's terminal on UART0 (`os.dupterm(UART(0))`) or takes it off.
    #[pyfunction]
    fn console_on_uart0(on: bool, vm: &VirtualMachine) -> PyResult<()> {
        current(vm)?.hw.borrow_mut().console_on_uart0 = on;
        Ok(())
    }

    /// Every name firmware module `name` answers to (`["os", "uos"]`), or none if it is not
    /// one: on the module both names are one object (a weak link), so the importer gives the
    /// second name the module the first one loaded.
    #[pyfunction]
    fn module_names(name: PyStrRef, vm: &VirtualMachine) -> PyObjectRef {
        let name = name.to_string_lossy();
        let names = super::firmware_module(&name)
            .map(|m| m.names.iter().map(|n| vm.ctx.new_str(*n).into()).collect())
            .unwrap_or_default();
        vm.ctx.new_list(names).into()
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
        let target = {
            let mut hw = bridge.hw.borrow_mut();
            hw.clock
                .now()
                .saturating_add(u64::try_from(us).unwrap_or(0))
        };
        loop {
            let done = {
                let mut hw = bridge.hw.borrow_mut();
                hw.wait_until(target);
                if let Some(e) = break_exception(vm, &mut hw) {
                    return Err(e);
                }
                hw.clock.now() >= target && hw.callbacks.is_empty()
            };
            dispatch_callbacks(vm)?;
            if done {
                return Ok(());
            }
        }
    }

    /// The GPIO number of a pin name (`'P9'`, `'G16'`, `'GPIO12'`); ValueError if unknown.
    #[pyfunction]
    fn pin_resolve(name: PyStrRef, vm: &VirtualMachine) -> PyResult<u8> {
        let bridge = current(vm)?;
        let hw = bridge.hw.borrow();
        hw.gpio
            .resolve(&name.to_string_lossy())
            .map_err(|e| vm.new_value_error(e.to_string()))
    }

    /// The module name (`P9`) of a GPIO.
    #[pyfunction]
    fn pin_name(gpio: u8, vm: &VirtualMachine) -> PyResult<String> {
        let bridge = current(vm)?;
        let hw = bridge.hw.borrow();
        hw.gpio
            .pin(gpio)
            .map(|p| p.def.name.clone())
            .ok_or_else(|| vm.new_value_error(format!("no pin on GPIO{gpio}")))
    }

    /// Every pin as (module name, expansion-board name, gpio, input only).
    #[pyfunction]
    fn pin_list(vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let bridge = current(vm)?;
        let hw = bridge.hw.borrow();
        let items = hw
            .gpio
            .pins()
            .map(|p| {
                vm.ctx
                    .new_tuple(vec![
                        vm.ctx.new_str(p.def.name.clone()).into(),
                        vm.ctx.new_str(p.def.exp_board.clone()).into(),
                        vm.ctx.new_int(p.def.gpio).into(),
                        vm.ctx.new_bool(p.def.input_only).into(),
                    ])
                    .into()
            })
            .collect();
        Ok(vm.ctx.new_list(items).into())
    }

    /// Configures a pad: `pull` 0 none / 1 up / 2 down; `output` None (input) or the level the
    /// output driver drives. An input-only pad (GPIO34-39) cannot drive: as on the module, the
    /// request is accepted and nothing is driven.
    #[pyfunction]
    fn pin_config(gpio: u8, pull: u8, output: Option<bool>, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let mut hw = bridge.hw.borrow_mut();
        let pull = match pull {
            1 => crate::gpio::Pull::Up,
            2 => crate::gpio::Pull::Down,
            _ => crate::gpio::Pull::None,
        };
        let change = hw.gpio.set_pull(gpio, pull);
        hw.pin_changed(change);
        if let Ok(change) = hw.gpio.set_output(gpio, output) {
            hw.pin_changed(change);
        }
        Ok(())
    }

    /// The level a pad reads (0/1).
    #[pyfunction]
    fn pin_level(gpio: u8, vm: &VirtualMachine) -> PyResult<u8> {
        let bridge = current(vm)?;
        let mut hw = bridge.hw.borrow_mut();
        // Inputs see what the host did up to now.
        hw.drain_commands();
        Ok(u8::from(hw.gpio.level(gpio)))
    }

    /// Arms (trigger 1 rising, 2 falling, 3 both, 4 low level, 5 high level) or disarms (0) a
    /// pin IRQ; the handler runs through `_pyboot.handlers[('pin', gpio)]`.
    #[pyfunction]
    fn pin_irq(gpio: u8, trigger: u8, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let mut hw = bridge.hw.borrow_mut();
        if trigger == 0 {
            hw.pin_irqs.remove(&gpio);
        } else {
            hw.pin_irqs.insert(gpio, trigger);
        }
        Ok(())
    }

    /// Starts alarm `id`: first after `us`, then every `us` if `periodic`. Its handler runs
    /// through `_pyboot.handlers[('alarm', id)]`.
    #[pyfunction]
    fn alarm_start(id: u64, us: u64, periodic: bool, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let mut hw = bridge.hw.borrow_mut();
        hw.start_alarm(id, us, periodic.then_some(us));
        Ok(())
    }

    /// Stops alarm `id`.
    #[pyfunction]
    fn alarm_cancel(id: u64, vm: &VirtualMachine) -> PyResult<()> {
        current(vm)?.hw.borrow_mut().cancel_alarm(id);
        Ok(())
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
        let upstream = current(vm).is_ok_and(|b| {
            b.hw.borrow().repl_profile == crate::device::hw::ReplProfile::Micropython
        });
        let available = upstream || !super::UPSTREAM_ONLY.contains(&name.as_ref());
        if let Some(code) = super::builtin_code(vm, &name).filter(|_| available) {
            let code: PyObjectRef = code.into();
            return Ok(Some(
                vm.ctx
                    .new_tuple(vec![
                        code,
                        vm.ctx.new_str(format!("<frozen {name}>")).into(),
                        vm.ctx.new_bool(false).into(),
                    ])
                    .into(),
            ));
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

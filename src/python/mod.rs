//! The MicroPython runtime: the firmware's MicroPython task on RustPython.
//!
//! One session per soft-reset cycle, on the device thread's interpreter (kept from one session
//! to the next and restored between them, see [`engine`]): mount `/flash`, run the image's
//! frozen `_boot.py`, then `boot.py` and `main.py` (unless safe boot), then the REPL on UART0.
//! The device's Python reaches the device only through the native `_dev` module (see
//! [`bridge`]); RustPython is built without `host_env`, so it has no host files, no `posix`, and
//! reads no host stdin.

pub mod bridge;
pub mod dupterm;
pub mod engine;
pub mod exec;
pub mod memory;
pub mod native;
pub mod native_compat;
pub mod native_fs;
pub mod native_machine;
pub mod native_pycom;
pub mod readline;
pub mod repl;
pub mod uart;
pub mod vfs;

use std::rc::Rc;
use std::time::Duration;

use rustpython_vm::compiler::Mode;
use rustpython_vm::{Interpreter, Settings, VirtualMachine};

use crate::device::hw::{Interrupt, ReplProfile};
use crate::device::run::Device;
use crate::image::FirmwareImage;
use crate::rom::ResetCause;
use bridge::{Bridge, Session};
use exec::{Flow, run_source};
use pycom_boot::BootDecision;

/// `machine.reset_cause()` values (§12.1).
pub mod reset_cause {
    pub const PWRON_RESET: u8 = 0;
    pub const HARD_RESET: u8 = 1;
    pub const WDT_RESET: u8 = 2;
    pub const DEEPSLEEP_RESET: u8 = 3;
    pub const SOFT_RESET: u8 = 4;
    pub const BROWN_OUT_RESET: u8 = 5;
}

/// How the firmware stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareEnd {
    /// The chip resets (from inside: `machine.reset()`, WDT, Ctrl-F, deep sleep).
    Reset(ResetCause),
    /// The host interrupted (reset button, power, shutdown).
    Interrupt(Interrupt),
}

/// How often running code is interrupted to look at the device (UART, timers, resets).
const SERVICE_PERIOD: Duration = Duration::from_millis(2);

/// Runs the firmware's MicroPython task until the chip resets or the host interrupts.
pub fn run_firmware(
    device: &Device,
    image: FirmwareImage,
    decision: &BootDecision,
    cause: ResetCause,
) -> FirmwareEnd {
    let bridge = Rc::new(Bridge {
        hw: device.hw.clone(),
        flash: device.flash.clone(),
        board: device.board.clone(),
        image,
        sd_dir: device.sd.clone(),
        session: std::cell::RefCell::new(Session {
            reset_cause: match cause {
                ResetCause::Watchdog => reset_cause::WDT_RESET,
                ResetCause::DeepSleepWake => reset_cause::DEEPSLEEP_RESET,
                // `mpsleep_init0` maps SW_CPU_RESET, like every reason it does not name, to
                // PWRON_RESET (§12.1).
                ResetCause::PowerOn | ResetCause::ResetButton | ResetCause::Panic => {
                    reset_cause::PWRON_RESET
                }
            },
            safe_boot: decision.skip_scripts,
            raw_repl: false,
            cwd: "/flash".to_string(),
            sd_mounted: false,
            history: Default::default(),
            boot_record: None,
        }),
    });
    let _installed = bridge::install(bridge.clone());
    {
        let mut hw = bridge.hw.borrow_mut();
        // Once the firmware runs, Ctrl-C interrupts code and Ctrl-F resets into safe boot.
        hw.intr_char = Some(0x03);
    }
    arm_watchdog_on_boot(&bridge);
    loop {
        start_led(&bridge);
        // `modpycom_init0`, at every boot and soft reset, reads the boot record it then keeps.
        bridge.session.borrow_mut().boot_record = None;
        let _ = bridge.boot_record_at_boot();
        if let Some(end) = mount_flash(&bridge) {
            return end;
        }
        let flow = run_interpreter(&bridge);
        let mut hw = bridge.hw.borrow_mut();
        hw.python_busy = false;
        hw.kbd_interrupt = false;
        // Timers and IRQs belong to the interpreter that set them up; the watchdog does not.
        hw.clear_python_hardware_keeping(native_machine::WDT_ALARM_ID);
        match flow {
            Flow::SoftReset => {
                let text: &[u8] = match hw.repl_profile {
                    ReplProfile::Pycom => b"PYB: soft reboot\r\n",
                    ReplProfile::Micropython => b"MPY: soft reboot\r\n",
                };
                hw.console_write(text);
                drop(hw);
                bridge.session.borrow_mut().reset_cause = reset_cause::SOFT_RESET;
                let mut hw = bridge.hw.borrow_mut();
                hw.wait(5_000);
                if let Some(i) = hw.interrupted() {
                    return FirmwareEnd::Interrupt(i);
                }
            }
            Flow::HardReset(cause) => return FirmwareEnd::Reset(cause),
            Flow::SafeBootReset => {
                hw.safe_boot_request = false;
                drop(hw);
                request_safe_boot(&bridge);
                return FirmwareEnd::Reset(ResetCause::Watchdog);
            }
            Flow::Stop | Flow::Done | Flow::Failed => {
                return FirmwareEnd::Interrupt(hw.interrupted().unwrap_or(Interrupt::Shutdown));
            }
        }
    }
}

/// `mperror_init0`, at every boot and soft reset: LED off, heartbeat as `heartbeat_on_boot` says
/// (an erased config block says yes).
fn start_led(bridge: &Bridge) {
    let byte = bridge
        .config_bytes(native_pycom::CONFIG_HEARTBEAT_BYTE, 1)
        .ok()
        .and_then(|b| b.first().copied())
        .unwrap_or(0xFF);
    let mut hw = bridge.hw.borrow_mut();
    hw.show(smart_leds_trait::RGB8::default());
    hw.set_heartbeat(byte & 1 == 1);
}

/// `pycom.wdt_on_boot(True)` with its timeout: the firmware starts the watchdog at every hard
/// boot, before any script (`mptask.c:249-257`); the scripts must feed it (`machine.WDT`) or the
/// chip resets. Only a stored `True` (1) arms it: an erased config block (0xFF, timeout
/// 0xFFFFFFFF) is a board that never set it.
fn arm_watchdog_on_boot(bridge: &Bridge) {
    let Ok(config) = bridge.config_bytes(native_pycom::CONFIG_WDT_ON_BOOT, 8) else {
        return;
    };
    let timeout_ms = u32::from_le_bytes([config[4], config[5], config[6], config[7]]);
    if config[0] == 1 && timeout_ms != u32::MAX {
        let us = u64::from(timeout_ms) * 1000;
        bridge
            .hw
            .borrow_mut()
            .start_alarm(native_machine::WDT_ALARM_ID, us, None);
    }
}

/// `mperror_signal_error`, after boot.py or main.py ended with an exception: the heartbeat stops
/// and the LED is held off for 1.2 s (the firmware means to blink red, but its toggle never
/// toggles, §10.4). The heartbeat stays off until `pycom.heartbeat(True)` or the next boot.
fn signal_script_error(bridge: &Bridge) {
    let mut hw = bridge.hw.borrow_mut();
    hw.set_heartbeat(false);
    hw.show(smart_leds_trait::RGB8::default());
    hw.wait(SCRIPT_ERROR_SIGNAL_US);
}

/// How long [`signal_script_error`] holds the LED: 24 rounds of 50 ms.
const SCRIPT_ERROR_SIGNAL_US: u64 = 24 * 50_000;

/// `mp_hal_reset_safe_and_boot`: store `SAFE_BOOT_SW` in the boot record.
fn request_safe_boot(bridge: &Bridge) {
    if let Ok(record) = bridge.boot_record() {
        let next = pycom_boot::updates::request_software_safe_boot(&record);
        let _ = bridge.store_boot_record(&next);
    }
}

/// `mptask_init_sflash_filesystem`: mount `/flash`, recreating what is missing. A filesystem
/// that cannot be made is the firmware's fatal error: red LED, hang.
fn mount_flash(bridge: &Bridge) -> Option<FirmwareEnd> {
    let result = {
        let mut flash = bridge.flash.borrow_mut();
        crate::fs::mount_at_boot(&mut flash, &bridge.board)
    };
    {
        // The VFS is rebuilt at every boot and soft reset: /flash is current, /sd unmounted.
        let mut session = bridge.session.borrow_mut();
        session.cwd = "/flash".to_string();
        session.sd_mounted = false;
        session.history = Default::default();
    }
    match result {
        Ok(_) => None,
        Err(e) => {
            let mut hw = bridge.hw.borrow_mut();
            hw.show(crate::led::ERROR_COLOR);
            hw.emit(crate::event::EventKind::Fault {
                message: format!("failed to create /flash: {e}"),
            });
            hw.idle(|_| false);
            Some(FirmwareEnd::Interrupt(
                hw.take_interrupt().unwrap_or(Interrupt::Shutdown),
            ))
        }
    }
}

/// An empty `_ast`, in place of RustPython's. The engine's `compiler` feature makes every new
/// interpreter import `_ast`, and building its hundred node classes was an eighth of a cold
/// scenario's work. MicroPython has no `ast`; `_pyboot` hides this module as well
/// (`import _ast` fails as on the board), and `compile()` of source text never needs it.
#[rustpython_vm::pymodule(name = "_ast")]
mod no_ast {}

// `lib/engine` holds small `codecs`, `encodings_ascii` and `encodings_utf_8` modules that take
// the place of RustPython's own (frozen modules given to the builder replace the engine's of
// the same name): it imports them into every interpreter it builds, and its full `codecs` was
// a tenth of a cold scenario's instructions. codecs.py says what they keep.

fn new_interpreter() -> (Interpreter, rustpython_vm::signal::UserSignalSender) {
    let builder = Interpreter::builder(Settings::default());
    let mut defs = vec![
        native::module_def(&builder.ctx),
        native_fs::module_def(&builder.ctx),
        native_machine::module_def(&builder.ctx),
        native_pycom::module_def(&builder.ctx),
        native_compat::crypto::module_def(&builder.ctx),
        no_ast::module_def(&builder.ctx),
    ];
    defs.extend(native_pycom::stdlib_defs(&builder.ctx));
    let (tx, rx) = rustpython_vm::signal::user_signal_channel();
    let interpreter = builder
        .add_native_modules(&defs)
        .add_frozen_modules(rustpython_vm::py_freeze!(dir = "lib/engine"))
        .init_hook(move |vm| {
            vm.set_user_signal_channel(rx);
            memory::install(vm);
            native_compat::install(vm);
        })
        .build();
    (interpreter, tx)
}

/// One soft-reset cycle: the thread's interpreter (see [`engine`]), the start-up scripts, the
/// REPL, and then the session freed, as MicroPython's soft reset frees the heap.
fn run_interpreter(bridge: &Rc<Bridge>) -> Flow {
    // `os.dupterm` is interpreter state: each new one starts with the terminal on UART0, as the
    // frozen `_boot.py` leaves it.
    {
        let mut hw = bridge.hw.borrow_mut();
        hw.console_on_uart0 = true;
        hw.breaks_thrown = 0;
        hw.break_pokes = 0;
        hw.hard_reset_request = None;
    }
    let engine = engine::Engine::take();
    memory::start_budget();
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine.run(|vm| {
            let flow = session(vm, bridge, &engine);
            native_compat::release_main(vm);
            flow
        })
    }));
    // The session is over: a poke still queued for it must not throw anything into the clean-up
    // below, which runs Python too.
    bridge.hw.borrow_mut().python_busy = false;
    match ran {
        Ok(flow) => {
            engine.keep();
            flow
        }
        // Code that swallowed a reset was unwound mid-instruction: its interpreter is not
        // reused (the thread builds a new one), and the device does what it was asked.
        Err(payload) if payload.is::<bridge::BreakSwallowed>() => {
            engine.discard();
            // The unwinding skipped `run_source`'s end of the code: device time stops
            // following host time here, as it does there.
            bridge.hw.borrow_mut().clock.set_computing(false);
            match bridge::device_break(&bridge.hw.borrow()) {
                Some(bridge::DeviceBreak::SafeBoot) => Flow::SafeBootReset,
                Some(bridge::DeviceBreak::HardReset(kind)) => {
                    Flow::HardReset(exec::hard_reset_cause(Some(kind)))
                }
                Some(bridge::DeviceBreak::Stop) | None => Flow::Stop,
            }
        }
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

fn session(vm: &VirtualMachine, bridge: &Rc<Bridge>, engine: &engine::Engine) -> Flow {
    let key = format!("{}/{:?}", bridge.board.id, bridge.hw.borrow().repl_profile);
    if let Err(flow) = engine.load_firmware(vm, &key, load_firmware_modules) {
        return flow;
    }
    // boot.py, main.py and the REPL run in `__main__`, as `pyexec` runs them in mp_globals.
    let scope = vm
        .new_scope_with_main()
        .unwrap_or_else(|_| vm.new_scope_with_builtins());
    let (safe_boot, raw) = {
        let s = bridge.session.borrow();
        (s.safe_boot, s.raw_repl)
    };
    // The frozen _boot.py always runs, even in safe boot.
    if let Some(source) = bridge.image.frozen_module("_boot.py").map(str::to_string) {
        match run_source(vm, &scope, &source, "_boot.py", Mode::Exec) {
            // `sys.exit()` in a start-up script ends that script (§9.3).
            Flow::Done | Flow::Failed | Flow::SoftReset => {}
            end => return end,
        }
    }
    if safe_boot {
        return repl::run(vm, &scope);
    }
    if let Some(end) = run_flash_script(vm, &scope, bridge, "boot.py") {
        return end;
    }
    // After a raw-REPL soft reset (how host tools reset a board) main.py is skipped.
    if !raw {
        // The frozen `_main.py` (empty in release builds) runs first, then main.py or the file
        // that boot.py named with `machine.main()`.
        if let Some(source) = bridge.image.frozen_module("_main.py").map(str::to_string) {
            match run_source(vm, &scope, &source, "_main.py", Mode::Exec) {
                Flow::Done | Flow::Failed | Flow::SoftReset => {}
                end => return end,
            }
        }
        let main = native_machine::main_file(bridge).unwrap_or_else(|| "main.py".to_string());
        if let Some(end) = run_flash_script(vm, &scope, bridge, &main) {
            return end;
        }
    }
    repl::run(vm, &scope)
}

/// Runs a start-up script from the filesystem (`boot.py`, `main.py`, or a path relative to
/// /flash) if it exists. Returns how the session ends if the script ended it (a reset).
fn run_flash_script(
    vm: &VirtualMachine,
    scope: &rustpython_vm::scope::Scope,
    bridge: &Rc<Bridge>,
    name: &str,
) -> Option<Flow> {
    // The working directory is /flash at start-up, as for the firmware's relative paths.
    let bytes = vfs::read(bridge, name).ok()?;
    let source = String::from_utf8_lossy(&bytes).into_owned();
    match run_source(vm, scope, &source, name, Mode::Exec) {
        Flow::Done => None,
        // `sys.exit()` ends the script, not the boot: boot.py → main.py still runs, main.py →
        // the REPL starts (`pyexec_file` returns `pyexec_system_exit`, 0, §9.3). Like an
        // exception it is not a success, so the LED signals the error.
        Flow::Failed | Flow::SoftReset => {
            signal_script_error(bridge);
            None
        }
        end => Some(end),
    }
}

/// The firmware modules the engine's firmware layer holds: `_pyboot`, what the frozen
/// `_boot.py` imports, and what those import. They are imported once per engine, so whatever
/// such a module does at import for this boot only (machine's pins, the RTC start) must also be
/// in an `_init0` it appends to `_pyboot._soft_inits`, which every later session runs.
const FIRMWARE_LAYER_MODULES: [&str; 7] = [
    "_pyboot",
    "_sysext",
    "_file",
    "os",
    "_pymount",
    "machine",
    "_calendar",
];

/// Runs `_pyboot` (UART as stdio, the importer, tracebacks) as a module, then imports the
/// modules the frozen `_boot.py` of every Pycom image imports (`os`, `machine`): what the engine
/// keeps from one session to the next.
fn load_firmware_modules(vm: &VirtualMachine) -> Result<(), Flow> {
    load_prelude(vm)?;
    for name in ["os", "machine"] {
        if let Err(exc) = vm.import(name, 0) {
            return Err(runtime_failed(vm, &exc));
        }
    }
    Ok(())
}

/// Says on UART0 that the firmware's own Python could not start, and stops the session.
fn runtime_failed(vm: &VirtualMachine, exc: &rustpython_vm::builtins::PyBaseExceptionRef) -> Flow {
    let mut text = String::new();
    let _ = vm.write_exception(&mut text, exc);
    let _ = uart::write_raw(
        vm,
        uart::cook(&format!("pycom-sim: the runtime failed to start:\n{text}")).as_slice(),
    );
    Flow::Stop
}

/// Runs `_pyboot` (UART as stdio, the importer, tracebacks) as a module.
fn load_prelude(vm: &VirtualMachine) -> Result<(), Flow> {
    let result = (|| {
        let module = vm.new_module("_pyboot", vm.ctx.new_dict(), None);
        let sys_modules = vm.sys_module.get_attr("modules", vm)?;
        sys_modules.set_item("_pyboot", module.clone().into(), vm)?;
        let code = native::builtin_code(vm, "_pyboot").ok_or_else(|| {
            vm.new_import_error("no _pyboot in the firmware", vm.ctx.new_str("_pyboot"))
        })?;
        let scope = rustpython_vm::scope::Scope::with_builtins(None, module.dict(), vm);
        vm.run_code_obj(code, scope)?;
        Ok::<(), rustpython_vm::builtins::PyBaseExceptionRef>(())
    })();
    result.map_err(|exc| runtime_failed(vm, &exc))
}

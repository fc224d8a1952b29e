//! How the device's Python reaches the device: native functions run on the device thread and find
//! the running device here. Nothing else of the host is reachable from Python.

use std::cell::RefCell;
use std::rc::Rc;

use rustpython_vm::builtins::PyBaseExceptionRef;
use rustpython_vm::{AsObject, PyResult, VirtualMachine};

use crate::board::Board;
use crate::device::hw::{Callback, Hw};
use crate::flash::{FlashError, FlashFile, SECTOR_SIZE};
use crate::image::FirmwareImage;
use pycom_boot::BootInfo;

/// What one hard boot of the firmware knows (kept across soft resets).
pub struct Bridge {
    pub hw: Rc<RefCell<Hw>>,
    pub flash: Rc<RefCell<FlashFile>>,
    pub board: Board,
    pub image: FirmwareImage,
    pub session: RefCell<Session>,
    /// The host directory the user gave as the SD card (`--sd DIR`); the only host files the
    /// device can reach.
    pub sd_dir: Option<std::path::PathBuf>,
}

impl Bridge {
    /// Reads `len` bytes of the config block from `offset` (§14).
    pub fn config_bytes(&self, offset: u32, len: usize) -> Result<Vec<u8>, FlashError> {
        let mut buf = vec![0u8; len];
        self.flash
            .borrow()
            .read(self.board.config.offset + offset, &mut buf)?;
        Ok(buf)
    }

    /// The firmware's `config_write`: read the sector, patch it, erase it, program it. Writing
    /// what is already there writes nothing.
    pub fn config_patch(&self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let base = self.board.config.offset;
        let mut flash = self.flash.borrow_mut();
        let mut sector = vec![0u8; SECTOR_SIZE as usize];
        flash.read(base, &mut sector)?;
        let at = offset as usize;
        let Some(dst) = sector.get_mut(at..at + data.len()) else {
            return Err(FlashError::OutOfBounds {
                offset: base + offset,
                len: data.len(),
                size: SECTOR_SIZE,
            });
        };
        if dst == data {
            return Ok(());
        }
        dst.copy_from_slice(data);
        flash.erase(base, base + SECTOR_SIZE)?;
        flash.write(base, &sector)
    }

    /// The bootloader's record in otadata (`boot_info_t`).
    pub fn boot_record(&self) -> Result<BootInfo, FlashError> {
        let offset = self.board.otadata_offset();
        pycom_boot::otadata::read_record(&mut *self.flash.borrow_mut(), offset)
    }

    /// The record as the firmware's `pycom` module holds it (see [`Session::boot_record`]).
    pub fn boot_record_at_boot(&self) -> Result<BootInfo, FlashError> {
        if let Some(r) = self.session.borrow().boot_record {
            return Ok(r);
        }
        let r = self.boot_record()?;
        self.session.borrow_mut().boot_record = Some(r);
        Ok(r)
    }

    /// Stores `next` as the bootloader's record.
    pub fn store_boot_record(&self, next: &BootInfo) -> Result<(), FlashError> {
        let offset = self.board.otadata_offset();
        pycom_boot::otadata::write_record(&mut *self.flash.borrow_mut(), offset, next).map(|_| ())
    }
}

/// State that the firmware keeps between soft resets of one hard boot.
#[derive(Debug, Clone)]
pub struct Session {
    /// `machine.reset_cause()` value (PWRON 0, HARD 1, WDT 2, DEEPSLEEP 3, SOFT 4, BROWNOUT 5).
    pub reset_cause: u8,
    /// Safe boot as the firmware read it once at hard boot: boot.py and main.py are skipped.
    pub safe_boot: bool,
    /// The REPL is in raw mode (so after a soft reset main.py is skipped).
    pub raw_repl: bool,
    /// The current directory (`/flash` after mount, as the firmware does).
    pub cwd: String,
    /// `/sd` is mounted (`os.mount(machine.SD(), '/sd')`); cleared at every soft reset.
    pub sd_mounted: bool,
    /// The REPL's line history; cleared at every soft reset (`readline_init0`).
    pub history: crate::python::readline::History,
    /// `modpycom`'s copy of the boot record, read at every boot and soft reset
    /// (`modpycom_init0`): `pycom.bootmgr()` reports and edits this copy, so an OTA finished
    /// since then does not show until the next reset.
    pub boot_record: Option<BootInfo>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Bridge>>> = const { RefCell::new(None) };
}

/// Makes `bridge` the device the native functions of this thread talk to, for the life of the
/// returned guard.
pub fn install(bridge: Rc<Bridge>) -> Installed {
    serve_fs_jobs(&bridge);
    CURRENT.with(|c| *c.borrow_mut() = Some(bridge));
    Installed
}

/// Lets transports' filesystem jobs (FTP) run on this firmware's state while it runs. The host
/// holds the bridge weakly: once this boot's firmware has ended, a job that arrives is dropped
/// (its transport hears so) instead of touching a filesystem nobody has mounted.
fn serve_fs_jobs(bridge: &Rc<Bridge>) {
    let weak = Rc::downgrade(bridge);
    bridge
        .hw
        .borrow_mut()
        .set_fs_host(Some(Box::new(move |job| match weak.upgrade() {
            Some(b) => (job.0)(&*b),
            None => Vec::new(),
        })));
}

/// Removes the bridge when the firmware stops.
pub struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

/// The running device, or a `RuntimeError` if native code is called outside a device.
pub fn current(vm: &VirtualMachine) -> PyResult<Rc<Bridge>> {
    CURRENT
        .with(|c| c.borrow().clone())
        .ok_or_else(|| vm.new_runtime_error("no device is running on this thread"))
}

/// The exception a waiting native function raises when it must stop: Ctrl-C, Ctrl-F, a reset.
///
/// A device break (see [`device_break`]) is counted in `hw.breaks_thrown`, and the ticker comes
/// back soon to see that the code let it go.
pub fn break_exception(vm: &VirtualMachine, hw: &mut Hw) -> Option<PyBaseExceptionRef> {
    if let Some(pending) = device_break(hw) {
        hw.breaks_thrown += 1;
        crate::python::engine::look_again_soon();
        return Some(match pending {
            DeviceBreak::Stop => pyboot_exception(vm, "DeviceStop"),
            DeviceBreak::SafeBoot => pyboot_exception(vm, "SafeBootReset"),
            DeviceBreak::HardReset(kind) => hard_reset_exception(vm, kind),
        });
    }
    if hw.kbd_interrupt {
        hw.kbd_interrupt = false;
        return Some(vm.new_exception_empty(vm.ctx.exceptions.keyboard_interrupt.to_owned()));
    }
    None
}

/// An instance of one of `_pyboot`'s device exceptions (falls back to SystemError if the
/// prelude is missing, which would be a bug).
pub fn pyboot_exception(vm: &VirtualMachine, name: &'static str) -> PyBaseExceptionRef {
    pyboot_exception_with(vm, name, Vec::new())
}

fn pyboot_exception_with(
    vm: &VirtualMachine,
    name: &'static str,
    args: Vec<rustpython_vm::PyObjectRef>,
) -> PyBaseExceptionRef {
    let class = vm
        .import("_pyboot", 0)
        .and_then(|m| m.get_attr(name, vm))
        .ok()
        .and_then(|c| c.downcast::<rustpython_vm::builtins::PyType>().ok());
    match class {
        Some(class) => vm.new_exception(class, args),
        None => vm.new_system_error(format!("device exception {name} missing")),
    }
}

/// `_pyboot.HardReset(kind)`: the firmware resets the chip (2 watchdog, 3 deep sleep).
pub fn hard_reset_exception(vm: &VirtualMachine, kind: i32) -> PyBaseExceptionRef {
    pyboot_exception_with(vm, "HardReset", vec![vm.ctx.new_int(kind).into()])
}

/// A break the device itself is taking rather than Ctrl-C: code may catch it, but not outlive
/// it.
pub enum DeviceBreak {
    /// The host reset, powered off or stopped the device (`DeviceStop`).
    Stop,
    /// Ctrl-F: a safe-boot reset (`SafeBootReset`).
    SafeBoot,
    /// The code asked for a hard reset of this kind (`HardReset`: 2 watchdog, 3 deep sleep).
    HardReset(i32),
}

/// The device break waiting, if any, the one that wins first: a host interrupt outranks Ctrl-F,
/// which outranks a reset the code asked for.
pub fn device_break(hw: &Hw) -> Option<DeviceBreak> {
    if hw.interrupted().is_some() {
        Some(DeviceBreak::Stop)
    } else if hw.safe_boot_request {
        Some(DeviceBreak::SafeBoot)
    } else {
        hw.hard_reset_request.map(DeviceBreak::HardReset)
    }
}

/// Raises the pending break, if any.
pub fn check_break(vm: &VirtualMachine) -> PyResult<()> {
    let bridge = current(vm)?;
    let exc = {
        let mut hw = bridge.hw.borrow_mut();
        hw.drain_commands();
        break_exception(vm, &mut hw)
    };
    match exc {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The periodic poke from the ticker thread, run between bytecodes: apply what the host sent,
/// run due timers, and raise a pending break (Ctrl-C, Ctrl-F, reset).
///
/// What may raise into the running code (a break, a handler's Ctrl-C, `MemoryError`) waits for
/// an instruction that can take an exception ([`at_safe_point`]); the ticker is asked to come
/// back soon.
pub fn service(vm: &VirtualMachine) -> PyResult<()> {
    // A torn-down interpreter runs destructors (`__del__`, a generator's `finally`) as it
    // unwinds: a second throw from one of them would abort the process.
    if std::thread::panicking() {
        return Ok(());
    }
    let Some(bridge) = CURRENT.with(|c| c.borrow().clone()) else {
        return Ok(());
    };
    let Ok(mut hw) = bridge.hw.try_borrow_mut() else {
        return Ok(());
    };
    if !hw.python_busy {
        return Ok(());
    }
    hw.drain_commands();
    let now = hw.clock.now();
    hw.run_due_now(now);
    if !at_safe_point(vm) {
        // Only work waiting to reach the code hurries the ticker (the memory check just waits
        // for the next period).
        let waiting = device_break(&hw).is_some() || hw.kbd_interrupt || !hw.callbacks.is_empty();
        drop(hw);
        if waiting {
            crate::python::engine::look_again_soon();
        }
        return Ok(());
    }
    if device_break(&hw).is_some() && hw.breaks_thrown > 0 {
        // On its way out (a `finally:`, a `with` block's `__exit__` writing a file): let it go,
        // for a while.
        hw.break_pokes += 1;
        let patience = hw.break_pokes <= UNWIND_POKES;
        drop(hw);
        if patience && unwinding_from_break(vm) {
            return Ok(());
        }
        // The code caught the last one (`except:`, `except BaseException:`) and runs on. A
        // reset is hardware: no code outlives it. The interpreter is unwound from here and
        // thrown away (`run_interpreter`); while it unwinds, `service` throws nothing more.
        tracing::debug!("running code caught a reset and went on: its interpreter is dropped");
        std::panic::resume_unwind(Box::new(BreakSwallowed));
    }
    if let Some(e) = break_exception(vm, &mut hw) {
        return Err(e);
    }
    crate::python::memory::check_growth(vm)?;
    let pending = !hw.callbacks.is_empty();
    drop(hw);
    if pending {
        dispatch_callbacks(vm)?;
    }
    Ok(())
}

/// What unwinds an interpreter whose code swallowed a device break (see `service`).
pub struct BreakSwallowed;

/// Pokes (about 2 ms each) that code handling a device break in a `finally:` or `except`
/// clause gets before it is torn down all the same: a clause that loops must not hold a reset.
const UNWIND_POKES: u32 = 50;

/// Whether the running code is handling a device break: in a `finally:` or `except` clause, or
/// a `with` block's `__exit__`, on its way out.
fn unwinding_from_break(vm: &VirtualMachine) -> bool {
    vm.sys_module
        .get_attr("exception", vm)
        .and_then(|f| f.call((), vm))
        .ok()
        .and_then(|e| {
            e.downcast::<rustpython_vm::builtins::PyBaseException>()
                .ok()
        })
        .is_some_and(|e| crate::python::exec::is_device_break(vm, &e))
}

/// Whether the running frame may take an exception thrown in from outside before the
/// instruction it is about to run.
///
/// RustPython looks at its signal queue before every instruction, but its exception tables, like
/// CPython's, only hold for an exception at an instruction that can raise one. A break thrown in
/// at an except clause's PUSH_EXC_INFO, just after a first one, left the clause's cleanup a NULL
/// to pop, and the process died of SIGSEGV (a main.py that swallows Ctrl-C, then stopped).
/// CPython takes pending work only on entering a function, on a backward jump and around a
/// call, and MicroPython runs its pending exceptions and scheduled callbacks on jumps: the same
/// points here. Native code that looks at signals is inside a call, so it counts as one.
fn at_safe_point(vm: &VirtualMachine) -> bool {
    use rustpython_vm::bytecode::Instruction;
    let Some(frame) = vm.current_frame() else {
        return true;
    };
    // The frame has already stepped past the instruction it is about to run.
    let Some(next) = (frame.lasti() as usize).checked_sub(1) else {
        return true;
    };
    if next >= frame.code.instructions.len() {
        return true;
    }
    matches!(
        frame.code.instructions.read_op(next).deoptimize(),
        Instruction::Resume { .. }
            | Instruction::JumpBackward { .. }
            | Instruction::Call { .. }
            | Instruction::CallKw { .. }
            | Instruction::CallFunctionEx
    ) && !after_extended_arg(&frame.code.instructions, next)
}

/// Whether the instruction at `index` has an EXTENDED_ARG prefix. RustPython's signal path
/// does not clear the prefix it has read, so the handler an exception thrown there jumps to
/// would take it into its own argument (a `COPY` then reads outside the stack). Walks the
/// instructions from the start, stepping over their cache units (whose bytes are no opcodes).
fn after_extended_arg(units: &rustpython_vm::bytecode::CodeUnits, index: usize) -> bool {
    use rustpython_vm::bytecode::Instruction;
    let mut at = 0;
    let mut prefixed = false;
    while at < index {
        let op = units.read_op(at);
        prefixed = matches!(op.deoptimize(), Instruction::ExtendedArg);
        at += 1 + op.cache_entries();
    }
    // Not an instruction's start (cannot happen): not a place to throw either.
    at != index || prefixed
}

/// Runs queued handlers (timer alarms, pin IRQs) through `_pyboot._dispatch`. An ordinary
/// exception in a handler is printed and the rest still run; a break (Ctrl-C, reset) propagates.
pub fn dispatch_callbacks(vm: &VirtualMachine) -> PyResult<()> {
    let bridge = current(vm)?;
    loop {
        let next = bridge.hw.borrow_mut().callbacks.pop_front();
        let Some(callback) = next else {
            return Ok(());
        };
        let args = match callback {
            Callback::Alarm(id) => ("alarm", id, false),
            Callback::Pin { gpio, level } => ("pin", u64::from(gpio), level),
        };
        let was_busy = {
            let mut hw = bridge.hw.borrow_mut();
            std::mem::replace(&mut hw.python_busy, true)
        };
        let result = vm
            .import("_pyboot", 0)
            .and_then(|m| m.get_attr("_dispatch", vm))
            .and_then(|f| f.call(args, vm));
        bridge.hw.borrow_mut().python_busy = was_busy;
        if let Err(exc) = result {
            // Ctrl-C belongs to the code the handler interrupted; SystemExit in a handler is
            // ignored by the firmware; other errors are printed and the next handler runs.
            if exc.fast_isinstance(vm.ctx.exceptions.keyboard_interrupt) {
                return Err(exc);
            }
            if exc.fast_isinstance(vm.ctx.exceptions.system_exit) {
                continue;
            }
            match crate::python::exec::classify(vm, exc.clone()) {
                crate::python::exec::Flow::Failed => {}
                _ => return Err(exc),
            }
        }
    }
}

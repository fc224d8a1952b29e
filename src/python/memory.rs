//! The device's memory limit. On the module an object that does not fit the GC heap raises
//! `MemoryError`; on the host, RustPython would ask the allocator for the whole block and the
//! process would abort (`[0] * 10**12`). The ways one operation asks for a block by a size the
//! user gives — repeating a sequence, `bytes(n)`, `bytearray(n)` — are checked here first,
//! against the board's heap as MicroPython would fill it (4 bytes per list or tuple item, 1 per
//! byte or character).
//!
//! RustPython keeps these operations in per-type slots (atomic function pointers); the guards
//! are swapped into every new interpreter's types and call the originals when the size fits.

use std::cell::Cell;
use std::sync::OnceLock;

use rustpython_vm::builtins::{PyBytes, PyInt, PyStr, PyType, PyTypeRef};
use rustpython_vm::function::FuncArgs;
use rustpython_vm::protocol::PySequence;
use rustpython_vm::protocol::PySequenceSlots;
use rustpython_vm::{PyObject, PyObjectRef, PyResult, VirtualMachine};

use crate::python::bridge::current;

type RepeatFn = fn(PySequence<'_>, isize, &VirtualMachine) -> PyResult;
type NewFn = fn(PyTypeRef, FuncArgs, &VirtualMachine) -> PyResult;
type InitFn = fn(PyObjectRef, FuncArgs, &VirtualMachine) -> PyResult<()>;

/// The slots as RustPython made them, before the guards went in.
struct Originals {
    list_repeat: Option<RepeatFn>,
    list_inplace_repeat: Option<RepeatFn>,
    tuple_repeat: Option<RepeatFn>,
    str_repeat: Option<RepeatFn>,
    bytes_repeat: Option<RepeatFn>,
    bytearray_repeat: Option<RepeatFn>,
    bytearray_inplace_repeat: Option<RepeatFn>,
    bytes_new: Option<NewFn>,
    bytearray_init: Option<InitFn>,
}

static ORIGINALS: OnceLock<Originals> = OnceLock::new();

/// Puts the guards into this interpreter's builtin types. The originals are taken once, from
/// the first interpreter's untouched slots; they are the same functions in every interpreter.
pub fn install(vm: &VirtualMachine) {
    let types = &vm.ctx.types;
    ORIGINALS.get_or_init(|| Originals {
        list_repeat: seq(types.list_type).repeat.load(),
        list_inplace_repeat: seq(types.list_type).inplace_repeat.load(),
        tuple_repeat: seq(types.tuple_type).repeat.load(),
        str_repeat: seq(types.str_type).repeat.load(),
        bytes_repeat: seq(types.bytes_type).repeat.load(),
        bytearray_repeat: seq(types.bytearray_type).repeat.load(),
        bytearray_inplace_repeat: seq(types.bytearray_type).inplace_repeat.load(),
        bytes_new: types.bytes_type.slots.new.load(),
        bytearray_init: types.bytearray_type.slots.init.load(),
    });
    seq(types.list_type).repeat.store(Some(list_repeat));
    seq(types.list_type)
        .inplace_repeat
        .store(Some(list_inplace_repeat));
    seq(types.tuple_type).repeat.store(Some(tuple_repeat));
    seq(types.str_type).repeat.store(Some(str_repeat));
    seq(types.bytes_type).repeat.store(Some(bytes_repeat));
    seq(types.bytearray_type)
        .repeat
        .store(Some(bytearray_repeat));
    seq(types.bytearray_type)
        .inplace_repeat
        .store(Some(bytearray_inplace_repeat));
    types.bytes_type.slots.new.store(Some(bytes_new));
    types.bytearray_type.slots.init.store(Some(bytearray_init));
}

fn seq(t: &PyType) -> &PySequenceSlots {
    &t.slots.as_sequence
}

fn originals() -> Option<&'static Originals> {
    ORIGINALS.get()
}

/// The most the whole process may allocate: past it an allocation fails, which Rust answers by
/// aborting with "memory allocation of N bytes failed" (no stable API lets it fail softly) —
/// better than a host brought to its knees by one runaway loop inside a native call.
pub const HOST_CEILING: usize = 8 << 30;

/// How far above what an interpreter had at its start its Python may grow before the next
/// check raises `MemoryError`: RustPython's objects are several times MicroPython's, so this
/// is far above the board's heap, and a loop that keeps allocating still ends in a
/// `MemoryError` the code can catch.
const GROWTH_BUDGET: usize = 512 << 20;

thread_local! {
    /// Bytes allocated when this thread's interpreter started, and the level at which the next
    /// `MemoryError` is raised.
    static BUDGET: Cell<(usize, usize)> = const { Cell::new((0, usize::MAX)) };
}

/// Starts the budget of a new interpreter from what the process holds now.
pub fn start_budget() {
    let now = crate::ALLOCATOR.allocated();
    BUDGET.with(|b| b.set((now, now.saturating_add(GROWTH_BUDGET))));
}

/// Called between bytecodes while code runs: `MemoryError` once the process holds more than the
/// budget. After one is raised the next comes only after another eighth of the budget, so
/// `del` and `gc.collect()` still run while the memory is being given back.
pub fn check_growth(vm: &VirtualMachine) -> PyResult<()> {
    let now = crate::ALLOCATOR.allocated();
    let (base, limit) = BUDGET.with(Cell::get);
    let normal = base.saturating_add(GROWTH_BUDGET);
    if now < normal {
        BUDGET.with(|b| b.set((base, normal)));
        return Ok(());
    }
    if now < limit {
        return Ok(());
    }
    BUDGET.with(|b| b.set((base, now.saturating_add(GROWTH_BUDGET / 8))));
    Err(vm.new_memory_error(format!(
        "memory allocation failed, heap is full (pycom-sim: this code's objects hold {} MiB of \
         host memory)",
        (now - base) >> 20
    )))
}

/// MicroPython's words when the heap cannot hold a block.
fn memory_error(vm: &VirtualMachine, bytes: u128) -> rustpython_vm::builtins::PyBaseExceptionRef {
    vm.new_memory_error(format!(
        "memory allocation failed, allocating {bytes} bytes"
    ))
}

/// Refuses a block of `bytes` that the board's heap cannot hold. Outside a device (no board)
/// nothing is refused.
fn check_fits(bytes: u128, vm: &VirtualMachine) -> PyResult<()> {
    let heap = current(vm).map_or(u128::MAX, |b| u128::from(b.board.gc_heap));
    if bytes > heap {
        return Err(memory_error(vm, bytes));
    }
    Ok(())
}

/// The bytes one item of `obj` takes in MicroPython's heap.
fn item_bytes(obj: &PyObject) -> u128 {
    let bytes_like = obj.downcast_ref::<PyStr>().is_some()
        || obj.downcast_ref::<PyBytes>().is_some()
        || obj
            .downcast_ref::<rustpython_vm::builtins::PyByteArray>()
            .is_some();
    if bytes_like { 1 } else { 4 }
}

fn check_repeat(seq: &PySequence<'_>, n: isize, vm: &VirtualMachine) -> PyResult<()> {
    if n <= 1 {
        return Ok(());
    }
    let len = match seq.obj.downcast_ref::<PyStr>() {
        Some(s) => s.byte_len(),
        None => seq.obj.length(vm)?,
    };
    let bytes = (len as u128)
        .saturating_mul(n as u128)
        .saturating_mul(item_bytes(seq.obj));
    check_fits(bytes, vm)
}

macro_rules! guarded_repeat {
    ($name:ident, $field:ident) => {
        fn $name(seq: PySequence<'_>, n: isize, vm: &VirtualMachine) -> PyResult {
            check_repeat(&seq, n, vm)?;
            match originals().and_then(|o| o.$field) {
                Some(original) => original(seq, n, vm),
                None => Err(vm.new_type_error("object can't be repeated")),
            }
        }
    };
}

guarded_repeat!(list_repeat, list_repeat);
guarded_repeat!(list_inplace_repeat, list_inplace_repeat);
guarded_repeat!(tuple_repeat, tuple_repeat);
guarded_repeat!(str_repeat, str_repeat);
guarded_repeat!(bytes_repeat, bytes_repeat);
guarded_repeat!(bytearray_repeat, bytearray_repeat);
guarded_repeat!(bytearray_inplace_repeat, bytearray_inplace_repeat);

/// `bytes(n)` / `bytearray(n)`: n zero bytes.
fn check_count_argument(args: &FuncArgs, vm: &VirtualMachine) -> PyResult<()> {
    if let Some(n) = args.args.first().and_then(|a| a.downcast_ref::<PyInt>()) {
        let bytes = match n.try_to_primitive::<i128>(vm) {
            Ok(v) => u128::try_from(v).unwrap_or(0),
            // Beyond i128 either way: only a positive one asks for memory.
            Err(_) if *n.as_bigint() < Default::default() => 0,
            Err(_) => u128::MAX,
        };
        check_fits(bytes, vm)?;
    }
    Ok(())
}

fn bytes_new(cls: PyTypeRef, args: FuncArgs, vm: &VirtualMachine) -> PyResult {
    check_count_argument(&args, vm)?;
    match originals().and_then(|o| o.bytes_new) {
        Some(original) => original(cls, args, vm),
        None => Err(vm.new_type_error("cannot create 'bytes' instances")),
    }
}

fn bytearray_init(zelf: PyObjectRef, args: FuncArgs, vm: &VirtualMachine) -> PyResult<()> {
    check_count_argument(&args, vm)?;
    match originals().and_then(|o| o.bytearray_init) {
        Some(original) => original(zelf, args, vm),
        None => Ok(()),
    }
}

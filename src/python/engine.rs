//! The interpreter a device thread keeps from one session to the next.
//!
//! Every boot and soft reset used to build a RustPython interpreter and throw it away: building
//! one is about a quarter of a boot (callgrind: 27 M instructions of ~100 M per session, mostly
//! `VirtualMachine::initialize` making its builtin modules), and freeing one cost as much again
//! (its objects are cyclic, so only the collector frees them, and each collection walked every
//! object the interpreter had, its builtins included).
//!
//! MicroPython's soft reset keeps its builtin modules (they are in ROM) and frees the heap. The
//! engine does the same with the interpreter: the first session on a thread builds one and
//! records its *base* — `sys.modules` and, for every module in it (`builtins` and `sys`
//! included), its namespace and the lists and dicts that hang from it (`sys.path`,
//! `sys.meta_path`…). Those objects are then frozen out of the collector's sight (CPython's
//! `gc.freeze`), so a collection costs what the session made, not what the engine is. When a
//! session ends, [`Engine::reset`] puts the base back binding for binding, closes the files the
//! session left open (the firmware's heap sweep writes them), empties every module the session
//! imported, and collects: the next session starts from the state a new interpreter had.
//!
//! The firmware's own modules (`_pyboot`, `machine`, `os` and what they import) are a second
//! layer on top ([`Engine::load_firmware`]): the first session imports them and the engine
//! records them the same way, and more deeply — their classes' attributes, and the `__dict__`
//! of every instance and function their namespaces and tables hold (a pin's mode, a monkeypatched
//! `machine.Pin.value`) — so a reset puts them back too. Each later session only runs their
//! per-boot half (`_pyboot._soft_init`: the firmware's `*_init0`, pins back to inputs, the RTC
//! started); importing them again was half of every boot. The layer belongs to one board and
//! REPL profile (`machine` reads the board's pins at import); another drops it.
//!
//! What a session cannot reach stays correct by construction: builtin types are immutable, the
//! importer refuses the engine's own modules to user code. The code objects of the firmware's
//! frozen modules are kept with the engine (`builtin_code`): they are immutable, and decoding
//! them was another 6 M instructions a session.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use rustpython_vm::builtins::{PyCode, PyDict, PyList, PyModule, PyStrInterned, PyType, PyTypeRef};
use rustpython_vm::types::PyTypeFlags;
use rustpython_vm::{AsObject, Interpreter, Py, PyObjectRef, PyRef, VirtualMachine};

use super::SERVICE_PERIOD;

thread_local! {
    /// The engine between sessions (at most one per thread: the device thread).
    static SPARE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// Code objects of the firmware's frozen modules, made by the thread's current engine.
    static CODE: RefCell<HashMap<&'static str, PyRef<PyCode>>> = RefCell::new(HashMap::new());
}

/// An interpreter and what it was before its first session.
pub struct Engine {
    interpreter: Interpreter,
    /// The interpreter as built, before any firmware module ran.
    base: Base,
    /// The interpreter with the firmware's own modules loaded, for one board and REPL profile:
    /// what every session after the first starts from (see [`Engine::load_firmware`]).
    firmware: RefCell<Option<Firmware>>,
    ticks: Ticks,
}

/// A recorded state of the interpreter: what a reset puts back.
struct Base {
    modules: Vec<BaseModule>,
    /// `sys.modules` as it was. It is among `sys`'s nested containers too, and is restored
    /// once more after everything else: a finaliser run by a value those restores drop may
    /// import something.
    sys_modules: Container,
    /// The firmware layer's classes, instances and functions, whose attributes a session may
    /// change (`machine.Pin.value = …`, a pin's mode): put back after the namespaces.
    objects: Vec<Container>,
}

/// The firmware layer of [`Engine`]: the base with `_pyboot`, `machine`, `os` and what they
/// import loaded, and which board and profile loaded them (`machine` reads the board's pins at
/// import, `_pyboot` its platform name).
struct Firmware {
    key: String,
    base: Base,
}

/// One module of the base: its namespace and the mutable containers that namespace names.
struct BaseModule {
    namespace: Container,
    nested: Vec<Container>,
}

/// A list, a dict or a class and the contents it must get back.
enum Container {
    List(PyRef<PyList>, Vec<PyObjectRef>),
    Dict(PyRef<PyDict>, SavedDict),
    Type(PyTypeRef, TypeAttributes),
}

/// A dict's recorded bindings, as a list to walk and as a dict to look keys up in.
struct SavedDict {
    items: Vec<(PyObjectRef, PyObjectRef)>,
    copy: PyRef<PyDict>,
}

/// A class's own attributes as recorded, in their order, and the addresses of their
/// (interned) names.
struct TypeAttributes {
    items: Vec<(&'static PyStrInterned, PyObjectRef)>,
    names: std::collections::HashSet<usize>,
}

impl TypeAttributes {
    fn of(typ: &PyType) -> TypeAttributes {
        // The class's own attributes (`get_attributes` merges its whole MRO, and copying that
        // for every class at every reset was a fifth of a scenario suite).
        let items: Vec<_> = typ
            .attributes
            .read()
            .iter()
            .map(|(name, value)| (*name, value.clone()))
            .collect();
        let names = items.iter().map(|(name, _)| name_key(name)).collect();
        TypeAttributes { items, names }
    }

    /// Whether `typ` has exactly these attributes, in this order: a walk under its read lock,
    /// nothing copied.
    fn unchanged(&self, typ: &PyType) -> bool {
        let now = typ.attributes.read();
        now.len() == self.items.len()
            && now
                .iter()
                .zip(&self.items)
                .all(|((n, v), (name, value))| name_key(n) == name_key(name) && v.is(value))
    }
}

/// An interned name's identity.
fn name_key(name: &'static PyStrInterned) -> usize {
    std::ptr::from_ref(name) as usize
}

impl Container {
    /// Records `obj` if it is exactly a list or a dict.
    fn record(obj: &PyObjectRef, vm: &VirtualMachine) -> Option<Container> {
        if let Some(list) = obj.downcast_ref_if_exact::<PyList>(vm) {
            let items = list.borrow_vec().to_vec();
            return Some(Container::List(list.to_owned(), items));
        }
        let dict = obj.downcast_ref_if_exact::<PyDict>(vm)?;
        let copy = rustpython_vm::PyPayload::into_ref(dict.copy(), &vm.ctx);
        let items = copy.clone().into_iter().collect();
        Some(Container::Dict(dict.to_owned(), SavedDict { items, copy }))
    }

    /// Puts the recorded contents back. A dict gets every recorded binding first and loses
    /// what it gained afterwards, so a finaliser that runs while a dropped value goes finds a
    /// whole namespace (`print` among the builtins). What the session left alone (most of the
    /// firmware layer) is only looked at, not written.
    fn restore(&self, vm: &VirtualMachine) {
        match self {
            Container::List(list, items) => {
                let same = {
                    let now = list.borrow_vec();
                    now.len() == items.len() && now.iter().zip(items).all(|(a, b)| a.is(b))
                };
                if !same {
                    // The old items go after the list's lock is released: their finalisers
                    // may look at the list.
                    let old = std::mem::replace(&mut *list.borrow_vec_mut(), items.clone());
                    drop(old);
                }
            }
            Container::Dict(dict, saved) => {
                for (key, value) in &saved.items {
                    let now = dict.get_item_opt(&**key, vm).ok().flatten();
                    if !now.is_some_and(|now| now.is(value)) {
                        let _ = dict.set_item(&**key, value.clone(), vm);
                    }
                }
                // Every recorded key is there now, so a longer dict has gained some.
                if dict.__len__() != saved.items.len() {
                    let gained: Vec<PyObjectRef> = dict
                        .keys_vec()
                        .into_iter()
                        .filter(|key| !saved.copy.contains_key(&**key, vm))
                        .collect();
                    for key in gained {
                        let _ = dict.del_item(&*key, vm);
                    }
                }
            }
            Container::Type(typ, saved) => {
                if saved.unchanged(typ) {
                    return;
                }
                // Through `setattr`, so the type's slots and method caches follow; the lock is
                // not held meanwhile.
                let current: Vec<(&'static PyStrInterned, PyObjectRef)> = typ
                    .attributes
                    .read()
                    .iter()
                    .map(|(name, value)| (*name, value.clone()))
                    .collect();
                for (name, value) in &saved.items {
                    let now = current.iter().find(|(n, _)| name_key(n) == name_key(name));
                    if !now.is_some_and(|(_, now)| now.is(value)) {
                        let _ = typ.as_object().set_attr(*name, value.clone(), vm);
                    }
                }
                for (name, _) in &current {
                    if !saved.names.contains(&name_key(name)) {
                        let _ = typ.as_object().del_attr(*name, vm);
                    }
                }
            }
        }
    }

    /// What a firmware object a session could change holds: a class's attributes, or an
    /// instance's or function's `__dict__`. Builtin types cannot change and are left out.
    fn record_object(obj: &PyObjectRef, vm: &VirtualMachine) -> Option<Container> {
        if let Some(typ) = obj.downcast_ref::<PyType>() {
            return typ
                .slots
                .flags
                .has_feature(PyTypeFlags::HEAPTYPE)
                .then(|| Container::Type(typ.to_owned(), TypeAttributes::of(typ)));
        }
        if obj.downcast_ref::<PyModule>().is_some() {
            return None;
        }
        Container::record(&obj.dict()?.into(), vm)
    }

    /// The values this container holds now.
    fn values(&self) -> Vec<PyObjectRef> {
        match self {
            Container::List(_, items) => items.clone(),
            Container::Dict(_, saved) => saved.items.iter().map(|(_, v)| v.clone()).collect(),
            Container::Type(_, attributes) => {
                attributes.items.iter().map(|(_, v)| v.clone()).collect()
            }
        }
    }
}

impl Base {
    /// Records the interpreter as it is now. `namespaces` are module namespaces that are not
    /// in `sys.modules` (the code globals of a module that `_pyboot.publish` replaced); with
    /// `deep`, the classes, instances and functions the namespaces and their containers name
    /// are recorded too.
    fn record(vm: &VirtualMachine, namespaces: Vec<PyObjectRef>, deep: bool) -> Base {
        let sys_modules = vm
            .sys_module
            .get_attr("modules", vm)
            .expect("an interpreter has sys.modules");
        let namespaces = module_list(&sys_modules)
            .into_iter()
            .map(|module| -> PyObjectRef { module.dict().into() })
            .chain(namespaces);
        // Each namespace, container and object once, however many names it has (`publish`
        // puts a module's public values in a second namespace).
        let mut seen = std::collections::HashSet::new();
        let mut seen_objects = std::collections::HashSet::new();
        let mut modules = Vec::new();
        let mut objects = Vec::new();
        for namespace in namespaces {
            if !seen.insert(namespace.get_id()) {
                continue;
            }
            let Some(recorded) = Container::record(&namespace, vm) else {
                continue;
            };
            let values = recorded.values();
            let nested: Vec<Container> = values
                .iter()
                .filter(|value| seen.insert(value.get_id()))
                .filter_map(|value| Container::record(value, vm))
                .collect();
            if deep {
                // The namespace's own objects, and those its lists and dicts hold
                // (`machine._BY_NAME`'s pins); a class's lists and dicts as well.
                let held = nested.iter().flat_map(Container::values);
                let candidates: Vec<PyObjectRef> = values.iter().cloned().chain(held).collect();
                for value in candidates {
                    if !seen_objects.insert(value.get_id()) {
                        continue;
                    }
                    let Some(object) = Container::record_object(&value, vm) else {
                        continue;
                    };
                    if let Container::Type(..) = object {
                        for attribute in object.values() {
                            if seen.insert(attribute.get_id())
                                && let Some(container) = Container::record(&attribute, vm)
                            {
                                objects.push(container);
                            }
                        }
                    }
                    objects.push(object);
                }
            }
            modules.push(BaseModule {
                namespace: recorded,
                nested,
            });
        }
        Base {
            modules,
            sys_modules: Container::record(&sys_modules, vm).expect("sys.modules is a dict"),
            objects,
        }
    }

    /// The recorded namespaces.
    fn namespaces(&self) -> Vec<&Py<PyDict>> {
        self.modules
            .iter()
            .filter_map(|m| match &m.namespace {
                Container::Dict(dict, _) => Some(&**dict),
                _ => None,
            })
            .collect()
    }

    /// Puts everything recorded back: namespaces, their containers, the objects, and
    /// `sys.modules` last.
    fn restore(&self, vm: &VirtualMachine) {
        for module in &self.modules {
            module.namespace.restore(vm);
            for container in &module.nested {
                container.restore(vm);
            }
        }
        for object in &self.objects {
            object.restore(vm);
        }
        self.sys_modules.restore(vm);
    }
}

/// The thread that pokes a running session every few milliseconds (see `bridge::service`).
/// It sleeps while no session runs, and ends when its interpreter is dropped.
struct Ticks {
    state: SharedTicks,
}

/// What a ticker and its session share.
type SharedTicks = Arc<(Mutex<TickState>, Condvar)>;

#[derive(Default)]
struct TickState {
    /// A session is running.
    on: bool,
    /// The session asked to be looked at again soon (`look_again_soon`).
    soon: bool,
}

/// How soon a session that could not take its pending work is poked again.
const RETRY_PERIOD: std::time::Duration = std::time::Duration::from_micros(100);

thread_local! {
    /// The ticker of the session running on this thread.
    static RUNNING_TICKS: RefCell<Option<SharedTicks>> =
        const { RefCell::new(None) };
}

/// Asks the running session's ticker for its next poke after `RETRY_PERIOD` rather than a
/// whole `SERVICE_PERIOD`: `bridge::service` found work it may only do at another instruction.
pub fn look_again_soon() {
    RUNNING_TICKS.with(|ticks| {
        if let Some(state) = &*ticks.borrow()
            && let Ok(mut s) = state.0.lock()
        {
            s.soon = true;
            state.1.notify_all();
        }
    });
}

impl Ticks {
    fn start(signals: rustpython_vm::signal::UserSignalSender) -> Ticks {
        let state: SharedTicks = Arc::new((Mutex::new(TickState::default()), Condvar::new()));
        let shared = state.clone();
        let spawned = std::thread::Builder::new()
            .name("python-ticks".into())
            .spawn(move || {
                let (lock, wake) = &*shared;
                loop {
                    // Dropping the engine drops its half of `state` too: then nobody can wake
                    // us, so wake once in a while to notice the interpreter is gone.
                    let Ok(guard) = lock.lock() else { return };
                    let Ok((guard, _)) =
                        wake.wait_timeout_while(guard, std::time::Duration::from_secs(1), |s| {
                            !s.on
                        })
                    else {
                        return;
                    };
                    // A period, cut short when the session asks to be looked at again soon.
                    let Ok((mut guard, _)) =
                        wake.wait_timeout_while(guard, SERVICE_PERIOD, |s| s.on && !s.soon)
                    else {
                        return;
                    };
                    let soon = std::mem::take(&mut guard.soon);
                    drop(guard);
                    if soon {
                        std::thread::sleep(RETRY_PERIOD);
                    }
                    let on = lock.lock().map(|s| s.on).unwrap_or(false);
                    if on && signals.send(Box::new(super::bridge::service)).is_err() {
                        return;
                    }
                    if Arc::strong_count(&shared) == 1 {
                        return;
                    }
                }
            });
        // Without the ticker only Ctrl-C in busy loops is lost; everything else still works.
        drop(spawned);
        Ticks { state }
    }

    fn set(&self, on: bool) {
        if let Ok(mut s) = self.state.0.lock() {
            s.on = on;
            s.soon = false;
        }
        self.state.1.notify_all();
        RUNNING_TICKS.with(|ticks| *ticks.borrow_mut() = on.then(|| self.state.clone()));
    }
}

impl Engine {
    /// The thread's spare engine, or a new one.
    pub fn take() -> Engine {
        SPARE
            .with(|spare| spare.borrow_mut().take())
            .unwrap_or_else(Engine::new)
    }

    fn new() -> Engine {
        // Code objects of an engine lost to a panic belong to nobody now.
        CODE.with(|code| code.borrow_mut().clear());
        let (interpreter, signals) = super::new_interpreter();
        let base = interpreter.enter(|vm| {
            let gc = rustpython_vm::gc_state::gc_state();
            // Building leaves some 50 collectable objects; collecting them took a tenth of a
            // cold start (2 ms), so they are frozen with the base instead.
            let base = Base::record(vm, Vec::new(), false);
            gc.freeze();
            base
        });
        Engine {
            interpreter,
            base,
            firmware: RefCell::new(None),
            ticks: Ticks::start(signals),
        }
    }

    /// Gives the session the firmware's own modules (`_pyboot`, `machine`, `os` and what they
    /// import) for the board and REPL profile named by `key`.
    ///
    /// The first session on an engine runs `load` (which imports them) and records the result
    /// as the engine's firmware layer, frozen like the base. Later sessions for the same key
    /// find them in place, already put back as they were by the last reset, and only run
    /// `_pyboot._soft_init()`: the per-boot half of their module code, as the firmware's
    /// `*_init0` functions are (pins back to inputs, the RTC started). Executing them again
    /// was half of every boot. A different board or profile drops the layer and loads anew.
    pub fn load_firmware(
        &self,
        vm: &VirtualMachine,
        key: &str,
        load: impl FnOnce(&VirtualMachine) -> Result<(), super::Flow>,
    ) -> Result<(), super::Flow> {
        let kept = self.firmware.borrow().as_ref().map(|f| f.key == key);
        match kept {
            Some(true) => {
                let soft_init = vm
                    .import("_pyboot", 0)
                    .and_then(|pyboot| vm.call_method(&pyboot, "_soft_init", ()));
                if soft_init.is_ok() {
                    return Ok(());
                }
                // A layer that cannot start again is rebuilt, not trusted.
                self.drop_firmware(vm);
            }
            Some(false) => self.drop_firmware(vm),
            None => {}
        }
        load(vm)?;
        let globals = vm
            .import("_pyboot", 0)
            .and_then(|pyboot| pyboot.get_attr("_globals", vm))
            .ok()
            .and_then(|g| g.downcast::<PyDict>().ok())
            .map(|g| g.into_iter().map(|(_, namespace)| namespace).collect())
            .unwrap_or_default();
        let base = Base::record(vm, globals, true);
        rustpython_vm::gc_state::gc_state().freeze();
        *self.firmware.borrow_mut() = Some(Firmware {
            key: key.to_owned(),
            base,
        });
        Ok(())
    }

    /// Forgets the firmware layer: the interpreter goes back to its base and the layer's
    /// objects are freed (they were frozen, so everything is collected once and frozen again).
    fn drop_firmware(&self, vm: &VirtualMachine) {
        let Some(firmware) = self.firmware.borrow_mut().take() else {
            return;
        };
        let layer = firmware.base.namespaces();
        let base = self.base.namespaces();
        let gone: Vec<&Py<PyDict>> = layer
            .into_iter()
            .filter(|ns| !base.iter().any(|b| b.is(*ns)))
            .collect();
        self.base.restore(vm);
        for namespace in gone {
            namespace.clear();
        }
        drop(firmware);
        let gc = rustpython_vm::gc_state::gc_state();
        gc.unfreeze();
        gc.collect_force(2);
        gc.freeze();
    }

    /// Runs one session in the engine's interpreter.
    pub fn run<R>(&self, session: impl FnOnce(&VirtualMachine) -> R) -> R {
        /// Stops the ticker however the session ends, an unwinding included.
        struct Off<'a>(&'a Ticks);
        impl Drop for Off<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        self.ticks.set(true);
        let _off = Off(&self.ticks);
        self.interpreter.enter(session)
    }

    /// Frees what the session made and puts the base back; the engine waits for the thread's
    /// next session.
    pub fn keep(self) {
        self.interpreter.enter(|vm| self.reset(vm));
        SPARE.with(|spare| *spare.borrow_mut() = Some(self));
    }

    fn reset(&self, vm: &VirtualMachine) {
        let Ok(modules) = vm.sys_module.get_attr("modules", vm) else {
            return;
        };
        let firmware = self.firmware.borrow();
        let active = firmware.as_ref().map_or(&self.base, |f| &f.base);
        let base = active.namespaces();
        let session: Vec<PyRef<PyModule>> = module_list(&modules)
            .into_iter()
            .filter(|m| !base.iter().any(|b| b.is(&m.dict())))
            .collect();
        let file = modules.get_item("_file", vm).ok();
        // The base first (builtins, sys, sys.modules), so what runs below runs in it and not in
        // whatever the session made of `len` or `sys.stdout`.
        active.restore(vm);
        // The firmware's heap sweep finalises every open file, so a file the session left open
        // (at the REPL, in a module's globals, in a cycle) is written now, while the modules it
        // needs are still whole.
        if let Some(file) = file {
            let _ = vm.call_method(&file, "_close_all", ());
        }
        for module in session {
            module.dict().clear();
        }
        // A module's functions hold its namespace and its classes their methods: cycles only
        // the collector frees. The base is frozen, so this walks only what the session made.
        rustpython_vm::gc_state::gc_state().collect_force(2);
    }

    /// Frees an engine whose session was unwound mid-instruction (code that swallowed a reset,
    /// `bridge::BreakSwallowed`): it is not reused, but its objects are collected like a retired
    /// engine's; a plain drop left every cyclic object behind, about 2 MiB a time. Should the
    /// clean-up itself panic, what is left is dropped as it is.
    pub fn discard(self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.retire()));
    }

    /// Ends the engine for good, freeing all of it (the thread is done with Python).
    fn retire(self) {
        CODE.with(|code| code.borrow_mut().clear());
        let Engine {
            interpreter,
            base,
            firmware,
            ticks,
        } = self;
        interpreter.enter(|vm| {
            drop(base);
            drop(firmware);
            let gc = rustpython_vm::gc_state::gc_state();
            gc.unfreeze();
            if let Ok(modules) = vm.sys_module.get_attr("modules", vm) {
                for module in module_list(&modules) {
                    module.dict().clear();
                }
                if let Some(dict) = modules.downcast_ref::<PyDict>() {
                    dict.clear();
                }
            }
            gc.collect_force(2);
        });
        drop(interpreter);
        drop(ticks);
    }
}

/// Builds the thread's spare engine ahead of its first session, with the code objects of the
/// firmware modules every boot loads (see `device::prewarm`).
pub fn prewarm() {
    let engine = Engine::take();
    engine.interpreter.enter(|vm| {
        for name in super::FIRMWARE_LAYER_MODULES {
            let _ = super::native::builtin_code(vm, name);
        }
    });
    SPARE.with(|spare| *spare.borrow_mut() = Some(engine));
}

/// Frees the thread's spare engine, if it has one. The device thread calls this as it ends.
pub fn retire_spare() {
    if let Some(engine) = SPARE.with(|spare| spare.borrow_mut().take()) {
        engine.retire();
    }
}

/// The code object of a frozen firmware module, decoded once per engine.
pub fn frozen_code(
    vm: &VirtualMachine,
    name: &'static str,
    decode: impl FnOnce() -> rustpython_vm::frozen::FrozenCodeObject<&'static [u8]>,
) -> PyRef<PyCode> {
    if let Some(code) = CODE.with(|code| code.borrow().get(name).cloned()) {
        return code;
    }
    let code = vm.ctx.new_code(decode());
    CODE.with(|cache| cache.borrow_mut().insert(name, code.clone()));
    code
}

/// The modules in `sys.modules`, in its order.
fn module_list(modules: &PyObjectRef) -> Vec<PyRef<PyModule>> {
    let Some(dict) = modules.downcast_ref::<PyDict>() else {
        return Vec::new();
    };
    dict.into_iter()
        .filter_map(|(_, module)| module.downcast::<PyModule>().ok())
        .collect()
}

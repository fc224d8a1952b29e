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
//! What a session cannot reach stays correct by construction: builtin types are immutable, the
//! firmware's modules (`machine`, `os`, `_pyboot`…) are imported anew by every session, and the
//! importer refuses the engine's own modules to user code. The code objects of the firmware's
//! frozen modules are kept with the engine (`builtin_code`): they are immutable, and decoding
//! them was another 6 M instructions a session.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use rustpython_vm::builtins::{PyCode, PyDict, PyList, PyModule};
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
    base: Vec<BaseModule>,
    /// `sys.modules` as it was. It is among `sys`'s nested containers too, and is restored
    /// once more after every namespace: a finaliser run by a value those restores drop may
    /// import something.
    modules: Container,
    ticks: Ticks,
}

/// One module of the base: its namespace and the mutable containers that namespace names.
struct BaseModule {
    namespace: Container,
    nested: Vec<Container>,
}

/// A list or dict and the contents it must get back.
enum Container {
    List(PyRef<PyList>, Vec<PyObjectRef>),
    Dict(PyRef<PyDict>, PyRef<PyDict>),
}

impl Container {
    /// Records `obj` if it is exactly a list or a dict.
    fn record(obj: &PyObjectRef, vm: &VirtualMachine) -> Option<Container> {
        if let Some(list) = obj.downcast_ref_if_exact::<PyList>(vm) {
            let items = list.borrow_vec().to_vec();
            return Some(Container::List(list.to_owned(), items));
        }
        let dict = obj.downcast_ref_if_exact::<PyDict>(vm)?;
        Some(Container::Dict(
            dict.to_owned(),
            rustpython_vm::PyPayload::into_ref(dict.copy(), &vm.ctx),
        ))
    }

    /// Puts the recorded contents back. A dict gets every recorded binding first and loses
    /// what it gained afterwards, so a finaliser that runs while a dropped value goes finds a
    /// whole namespace (`print` among the builtins).
    fn restore(&self, vm: &VirtualMachine) {
        match self {
            Container::List(list, items) => {
                // The old items go after the list's lock is released: their finalisers may
                // look at the list.
                let old = std::mem::replace(&mut *list.borrow_vec_mut(), items.clone());
                drop(old);
            }
            Container::Dict(dict, saved) => {
                for (key, value) in saved.clone() {
                    let _ = dict.set_item(&*key, value, vm);
                }
                let gained: Vec<PyObjectRef> = dict
                    .clone()
                    .into_iter()
                    .map(|(key, _)| key)
                    .filter(|key| !saved.contains_key(&**key, vm))
                    .collect();
                for key in gained {
                    let _ = dict.del_item(&*key, vm);
                }
            }
        }
    }
}

/// The thread that pokes a running session every few milliseconds (see `bridge::service`).
/// It sleeps while no session runs, and ends when its interpreter is dropped.
struct Ticks {
    running: Arc<(Mutex<bool>, Condvar)>,
}

impl Ticks {
    fn start(signals: rustpython_vm::signal::UserSignalSender) -> Ticks {
        let running = Arc::new((Mutex::new(false), Condvar::new()));
        let shared = running.clone();
        let spawned = std::thread::Builder::new()
            .name("python-ticks".into())
            .spawn(move || {
                loop {
                    {
                        let (lock, wake) = &*shared;
                        let Ok(guard) = lock.lock() else { return };
                        // Dropping the engine drops `running` too: then nobody can wake us,
                        // so wake once in a while to notice the interpreter is gone.
                        let Ok(_guard) = wake.wait_timeout_while(
                            guard,
                            std::time::Duration::from_secs(1),
                            |on| !*on,
                        ) else {
                            return;
                        };
                    }
                    std::thread::sleep(SERVICE_PERIOD);
                    let on = shared.0.lock().map(|on| *on).unwrap_or(false);
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
        Ticks { running }
    }

    fn set(&self, on: bool) {
        if let Ok(mut running) = self.running.0.lock() {
            *running = on;
        }
        self.running.1.notify_all();
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
        let (base, modules) = interpreter.enter(|vm| {
            let gc = rustpython_vm::gc_state::gc_state();
            // What building left for the collector goes before the base is frozen.
            gc.collect_force(2);
            let modules = vm
                .sys_module
                .get_attr("modules", vm)
                .expect("an interpreter has sys.modules");
            let base = module_list(&modules)
                .into_iter()
                .map(|module| {
                    let namespace = module.dict().into();
                    let nested = module
                        .dict()
                        .clone()
                        .into_iter()
                        .filter_map(|(_, value)| Container::record(&value, vm))
                        .collect();
                    BaseModule {
                        namespace: Container::record(&namespace, vm)
                            .expect("a module's namespace is a dict"),
                        nested,
                    }
                })
                .collect();
            let modules = Container::record(&modules, vm).expect("sys.modules is a dict");
            gc.freeze();
            (base, modules)
        });
        Engine {
            interpreter,
            base,
            modules,
            ticks: Ticks::start(signals),
        }
    }

    /// Runs one session in the engine's interpreter.
    pub fn run<R>(&self, session: impl FnOnce(&VirtualMachine) -> R) -> R {
        self.ticks.set(true);
        let result = self.interpreter.enter(session);
        self.ticks.set(false);
        result
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
        let base: Vec<&Py<PyDict>> = self
            .base
            .iter()
            .filter_map(|m| match &m.namespace {
                Container::Dict(dict, _) => Some(&**dict),
                Container::List(..) => None,
            })
            .collect();
        let session: Vec<PyRef<PyModule>> = module_list(&modules)
            .into_iter()
            .filter(|m| !base.iter().any(|b| b.is(&m.dict())))
            .collect();
        let file = modules.get_item("_file", vm).ok();
        // The base first (builtins, sys, sys.modules), so what runs below runs in it and not in
        // whatever the session made of `len` or `sys.stdout`.
        for module in &self.base {
            module.namespace.restore(vm);
            for container in &module.nested {
                container.restore(vm);
            }
        }
        self.modules.restore(vm);
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

    /// Ends the engine for good, freeing all of it (the thread is done with Python).
    fn retire(self) {
        CODE.with(|code| code.borrow_mut().clear());
        let Engine {
            interpreter,
            base,
            modules,
            ticks,
        } = self;
        interpreter.enter(|vm| {
            drop(base);
            drop(modules);
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

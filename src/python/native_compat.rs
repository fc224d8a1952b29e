//! MicroPython 1.11's behaviour where RustPython's builtin objects behave as CPython's, mended
//! from outside the engine (no RustPython code is copied or changed):
//!
//! * `str(OSError(5))` is `'[Errno 5] EIO'`: the firmware's `mp_obj_exception_print` names the
//!   errno when an exact `OSError` has one small-int argument the errno table (`uerrno.errorcode`) knows.
//! * `bytes.isspace()` / `bytearray.isspace()` count `\v` and `\f` as space, as MicroPython's
//!   `unichar_isspace` does (RustPython uses Rust's `is_ascii_whitespace`, which has no `\v`).
//! * No warning ever reaches the UART: the firmware is built without `MICROPY_WARNINGS`, so a
//!   program that makes RustPython's compiler warn (`'\d'` → `SyntaxWarning`) prints nothing.
//! * Source text has its CR and CRLF line ends turned into LF before it is compiled, as
//!   MicroPython's lexer does, so a CRLF file's triple-quoted strings hold `\n`, not `\r\n`.
//! * `round(True)` is `1`, an int (RustPython's `int.__round__` gives the bool back).
//!
//! Builtin types belong to RustPython's `Context`, one per thread (the engine is built without
//! `threading`) that outlives every interpreter on it, so the type mends are made once per
//! thread; the warnings filter is interpreter state and is set for every interpreter.

use std::borrow::Cow;
use std::cell::Cell;

use rustpython_vm::builtins::{PyBaseException, PyByteArray, PyBytes, PyInt, PyStrRef};
use rustpython_vm::{AsObject, Py, PyObjectRef, PyResult, VirtualMachine};

/// `_ucrypto`, the native half of `crypto` (kept in its own file).
#[path = "native_crypto.rs"]
pub mod crypto;

thread_local! {
    /// Whether this thread's builtin types carry the mends already.
    static TYPES_MENDED: Cell<bool> = const { Cell::new(false) };
}

/// Applies every mend to the interpreter `vm` belongs to (cheap: a few dictionary entries).
pub fn install(vm: &VirtualMachine) {
    silence_warnings(vm);
    if TYPES_MENDED.with(|done| done.replace(true)) {
        return;
    }
    mend_os_error_str(vm);
    for (class, name) in [
        (vm.ctx.types.bytes_type, "isspace"),
        (vm.ctx.types.bytearray_type, "isspace"),
    ] {
        let method = vm.new_method(name, class, bytes_isspace);
        class.set_attr(vm.ctx.intern_str(name), method.into());
    }
    let bool_type = vm.ctx.types.bool_type;
    let round = vm.new_method("__round__", bool_type, bool_round);
    bool_type.set_attr(vm.ctx.intern_str("__round__"), round.into());
}

/// `round(True)` is the int 1, as in MicroPython (and CPython): RustPython's `int.__round__`
/// hands a bool back unchanged.
fn bool_round(
    zelf: PyObjectRef,
    _ndigits: rustpython_vm::function::OptionalArg<PyObjectRef>,
    vm: &VirtualMachine,
) -> PyResult<PyObjectRef> {
    let value = zelf.try_to_bool(vm)?;
    Ok(vm.ctx.new_int(i32::from(value)).into())
}

/// Lets `__main__` go when a session ends, as the firmware's soft reset sweeps its heap: the
/// REPL's globals (and the files left open in them, which flush as they are dropped) would
/// otherwise live on in `sys.modules` until the interpreter is torn down, where nothing is
/// finalised.
pub fn release_main(vm: &VirtualMachine) {
    if let Ok(modules) = vm.sys_module.get_attr("modules", vm) {
        let _ = modules.del_item("__main__", vm);
    }
}

/// `source` with CR and CRLF line ends as LF (MicroPython's lexer, `next_char`).
pub fn normalize_newlines(source: &str) -> Cow<'_, str> {
    if source.contains('\r') {
        Cow::Owned(source.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(source)
    }
}

/// An "ignore every Warning" filter ahead of RustPython's defaults.
fn silence_warnings(vm: &VirtualMachine) {
    let ignore = vm.ctx.new_tuple(vec![
        vm.ctx.new_str("ignore").into(),
        vm.ctx.none(),
        vm.ctx.exceptions.warning.as_object().to_owned(),
        vm.ctx.none(),
        vm.ctx.new_int(0).into(),
    ]);
    vm.state
        .warnings
        .filters
        .borrow_vec_mut()
        .insert(0, ignore.into());
    vm.state.warnings.filters_mutated();
}

/// Puts the firmware's `OSError.__str__` in front of RustPython's, which it calls for every
/// case the firmware formats the CPython way too.
fn mend_os_error_str(vm: &VirtualMachine) {
    let class = vm.ctx.exceptions.os_error;
    let name = vm.ctx.intern_str("__str__");
    let Some(original) = class.get_attr(name) else {
        return;
    };
    let method = vm.new_method(
        "__str__",
        class,
        move |zelf: PyObjectRef, vm: &VirtualMachine| -> PyResult<PyStrRef> {
            if let Some(text) = firmware_errno_text(&zelf, vm) {
                return Ok(vm.ctx.new_str(text));
            }
            original
                .call((zelf,), vm)?
                .downcast()
                .map_err(|_| vm.new_type_error("__str__ returned non-string"))
        },
    );
    class.set_attr(name, method.into());
}

/// `[Errno 5] EIO` for an exact `OSError` whose only argument is an errno the firmware names.
fn firmware_errno_text(zelf: &PyObjectRef, vm: &VirtualMachine) -> Option<String> {
    if !zelf.class().is(vm.ctx.exceptions.os_error) {
        return None;
    }
    let exc: &Py<PyBaseException> = zelf.downcast_ref()?;
    let args = exc.args();
    let [arg] = args.as_slice() else {
        return None;
    };
    let number: i64 = arg.downcast_ref::<PyInt>()?.try_to_primitive(vm).ok()?;
    // The names are `uerrno.errorcode`'s (the firmware's `mp_errno_to_str` reads the same
    // table), so the list lives in one place.
    let names = vm
        .import("uerrno", 0)
        .ok()?
        .get_attr("errorcode", vm)
        .ok()?;
    let name = names.get_item(arg.as_object(), vm).ok()?;
    Some(format!("[Errno {number}] {}", name.str(vm).ok()?))
}

/// MicroPython's `isspace` on bytes: non-empty and every byte one of ` \t\n\v\f\r`.
fn bytes_isspace(zelf: PyObjectRef, vm: &VirtualMachine) -> PyResult<bool> {
    let is_space = |b: &u8| *b == b' ' || (b'\t'..=b'\r').contains(b);
    if let Some(b) = zelf.downcast_ref::<PyBytes>() {
        let bytes = b.as_bytes();
        return Ok(!bytes.is_empty() && bytes.iter().all(is_space));
    }
    if let Some(b) = zelf.downcast_ref::<PyByteArray>() {
        let bytes = b.borrow_buf();
        return Ok(!bytes.is_empty() && bytes.iter().all(is_space));
    }
    Err(vm.new_type_error("descriptor 'isspace' requires a bytes object"))
}

/// The line (1-based) of the first f-string in `source`, if any: MicroPython 1.11's parser has
/// none (they came in 1.17), so firmware 1.20 rejects such a program with `SyntaxError: invalid
/// syntax` where RustPython would run it. A small scan of Python's string and comment syntax,
/// not a parse: it only has to tell a string prefix with `f` from everything else.
pub fn first_fstring_line(source: &str) -> Option<usize> {
    let chars: Vec<char> = source.chars().collect();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\n' => line += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            quote @ ('\'' | '"') => {
                let prefix = string_prefix(&chars[..i]);
                if prefix.contains(['f', 'F']) {
                    return Some(line);
                }
                let triple = chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote);
                i += if triple { 3 } else { 1 };
                while i < chars.len() {
                    let c = chars[i];
                    if c == '\\' {
                        // An escaped character never ends the string (raw strings included).
                        if chars.get(i + 1) == Some(&'\n') {
                            line += 1;
                        }
                        i += 2;
                        continue;
                    }
                    if c == '\n' {
                        line += 1;
                        if !triple {
                            break;
                        }
                    }
                    if c == quote
                        && (!triple
                            || (chars.get(i + 1) == Some(&quote)
                                && chars.get(i + 2) == Some(&quote)))
                    {
                        i += if triple { 3 } else { 1 };
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The string prefix (`rb`, `f`, …) that ends `before`, or "" if the quote starts no prefixed
/// string (the letters before it are part of a longer name, as in `elif'x'`).
fn string_prefix(before: &[char]) -> String {
    let start = before
        .iter()
        .rposition(|c| !(c.is_alphanumeric() || *c == '_'))
        .map_or(0, |p| p + 1);
    let word: String = before[start..].iter().collect();
    let lower = word.to_ascii_lowercase();
    if ["r", "u", "b", "br", "rb", "f", "fr", "rf"].contains(&lower.as_str()) {
        word
    } else {
        String::new()
    }
}

/// The firmware's `SyntaxError` for an f-string at `line` of `filename`.
pub fn fstring_error(
    vm: &VirtualMachine,
    filename: &str,
    line: usize,
) -> rustpython_vm::builtins::PyBaseExceptionRef {
    let exc = vm.new_exception_msg(
        vm.ctx.exceptions.syntax_error.to_owned(),
        "invalid syntax".into(),
    );
    let obj = exc.as_object();
    let _ = obj.set_attr("msg", vm.ctx.new_str("invalid syntax"), vm);
    let _ = obj.set_attr("filename", vm.ctx.new_str(filename), vm);
    let _ = obj.set_attr("lineno", vm.ctx.new_int(line), vm);
    exc
}

/// What the firmware's compiler rejects and RustPython's accepts, checked before RustPython
/// compiles `source`: f-strings, in the `pycom` REPL profile (the `micropython` profile speaks
/// for MicroPython ≥ 1.23, which has them).
pub fn check_source(vm: &VirtualMachine, source: &str, filename: &str) -> PyResult<()> {
    let pycom = crate::python::bridge::current(vm)
        .is_ok_and(|b| b.hw.borrow().repl_profile == crate::device::hw::ReplProfile::Pycom);
    match first_fstring_line(source) {
        Some(line) if pycom => Err(fstring_error(vm, filename, line)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::first_fstring_line;

    #[test]
    fn finds_fstrings_and_nothing_that_only_looks_like_one() {
        assert_eq!(first_fstring_line("x = 1\nprint(f'{x}')\n"), Some(2));
        assert_eq!(first_fstring_line("s = rF\"a\"\n"), Some(1));
        assert_eq!(
            first_fstring_line("'''\nf'no'\n'''\nb = 2\nx = f\"{b}\""),
            Some(5)
        );
        assert_eq!(first_fstring_line("# f'comment'\nif'x': pass\n"), None);
        assert_eq!(first_fstring_line("elif'x' or rb'\\'' or 'f\\'x'"), None);
        assert_eq!(first_fstring_line("print('it''s', u'x', br'y')"), None);
    }
}

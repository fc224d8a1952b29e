# The device side of every interpreter: UART0 as stdin/stdout, imports from the device's
# filesystem and the firmware's built-in modules, MicroPython-style tracebacks.
# Run once each time an interpreter is built (power-on and every soft reset).
import sys
import builtins
import _dev


class _Uart0:
    """sys.stdout / sys.stderr: every write goes out of UART0, with \\n cooked to \\r\\n."""

    def write(self, s):
        if not isinstance(s, str):
            s = str(s, 'utf-8')
        _dev.write(s)
        return len(s)

    def flush(self):
        pass


class _Uart0Bytes:
    """sys.stdin.buffer / sys.stdout.buffer: UART0 as raw bytes (MICROPY_PY_SYS_STDIO_BUFFER),
    which host tools such as rshell use for binary file transfers."""

    def read(self, n=-1):
        return _dev.read_bytes(n)

    def readinto(self, buf, n=-1):
        n = len(buf) if n is None or n < 0 else min(n, len(buf))
        if n == 0:
            return 0
        data = _dev.read_bytes(n)
        buf[:len(data)] = data
        return len(data)

    def write(self, b, n=None):
        # MicroPython's stream write takes an optional length (mpremote's mount uses it).
        if n is not None:
            b = memoryview(b)[:n]
        return _dev.write_bytes(b)

    def flush(self):
        pass


class _Uart0In:
    """sys.stdin: reads UART0."""

    buffer = _Uart0Bytes()

    def read(self, n=-1):
        return _dev.read(n)

    def readinto(self, buf, n=-1):
        return self.buffer.readinto(buf, n)

    def readline(self):
        return _dev.readline('')


_Uart0.buffer = _Uart0Bytes()
sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = _Uart0()
sys.stdin = sys.__stdin__ = _Uart0In()


def input(prompt=''):
    return _dev.readline(str(prompt))


builtins.input = input

# RustPython's code generator panics on a few valid programs; compiling through _dev turns that
# into a SyntaxError instead of a crashed device.
for _name in ('compile', 'exec', 'eval'):
    setattr(_dev, '_builtin_' + _name, getattr(builtins, _name))
    setattr(builtins, _name, getattr(_dev, _name))
del _name

_HELP = """Welcome to MicroPython!
For online docs please visit http://docs.pycom.io

Control commands:
  CTRL-A        -- on a blank line, enter raw REPL mode
  CTRL-B        -- on a blank line, enter normal REPL mode
  CTRL-C        -- interrupt a running program
  CTRL-D        -- on a blank line, do a soft reset of the board
  CTRL-E        -- on a blank line, enter paste mode
  CTRL-F        -- on a blank line, do a hard reset of the board and enter safe boot

For further help on a specific object, type help(obj)
For a list of available modules, type help('modules')
"""


# help('modules'): the firmware's module table (py/objmodule.c with esp32/mpconfigport.h of
# 1.20.2: the core and extmod modules its flags enable, the port's modules, `array` registered
# by py/modarray.c), its weak links (`import json` finds ujson) and the frozen _boot/_main.
# uselect, ubinascii and uerrno are in the core table and the port's, so the firmware lists
# them twice. Radio modules are listed as on the module, though pycom-sim has none yet.
_MODULES = (
    '__main__ builtins micropython uio ucollections ustruct math cmath sys gc _thread uerrno '
    'uctypes uzlib ujson ure utimeq ubinascii uselect framebuf '
    'umachine uos network usocket uselect utime pycom uhashlib ucrypto ubinascii ussl uerrno '
    'uqueue array '
    'machine os socket select binascii struct re json time hashlib crypto ssl errno queue '
    '_boot _main').split()


def _help_modules():
    """`mp_help_print_modules`: sorted, column-first in 4 columns of 18."""
    names = sorted(_MODULES)
    rows = (len(names) + 3) // 4
    for i in range(rows):
        line = ''
        j = i
        while True:
            line += names[j]
            j += rows
            if j >= len(names):
                break
            gap = 18 - len(names[j - rows])
            while gap < 1:
                gap += 18
            line += ' ' * gap
        print(line)
    print('Plus any modules on the filesystem')


def help(obj=None):
    """The firmware's help(): the control keys, or the members of an object."""
    if obj is None:
        print(_HELP, end='')
        return
    if obj == 'modules':
        _help_modules()
        return
    print('object %r is of type %s' % (obj, type(obj).__name__))
    for name in dir(obj):
        if not name.startswith('__'):
            print('  %s -- %r' % (name, getattr(obj, name, None)))


builtins.help = help

sys.path[:] = ['', '/flash', '/flash/lib']
sys.platform = _dev.platform()


# The engine's own Python modules (src/python/lib/engine): the board has none of them, and a
# codec's frame in a traceback stands for the firmware's C.
_ENGINE_MODULES = ('codecs', 'encodings_ascii', 'encodings_utf_8')


def print_exception(e, file=None):
    """The firmware's `mp_obj_print_exception`: the frames, then `Type: message`."""
    w = (file if file is not None else sys.stdout).write
    tb = e.__traceback__
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    if isinstance(e, SyntaxError) and not frames and e.lineno is not None:
        # The parser's errors carry no block name, so the firmware's line has no ", in".
        frames.append((e.filename or '<stdin>', e.lineno, None))
    frames = [f for f in frames if not f[0].startswith('<frozen ') and f[0] not in _ENGINE_MODULES]
    if frames:
        w('Traceback (most recent call last):\n')
        for filename, line, name in frames:
            if name is None:
                w('  File "%s", line %d\n' % (filename, line))
            else:
                w('  File "%s", line %d, in %s\n' % (filename, line, name))
    name = type(e).__name__
    if isinstance(e, SyntaxError):
        # The firmware names no detail, except for indentation; pycom-sim's own compiler
        # fault keeps its explanation.
        if str(e).startswith('pycom-sim '):
            msg = str(e)
        elif not isinstance(e, IndentationError):
            msg = 'invalid syntax'
        elif e.msg == 'unexpected indentation':
            msg = 'unexpected indent'
        else:
            msg = e.msg
    elif type(e) is OSError and len(e.args) == 1 and isinstance(e.args[0], int):
        # The firmware's errno text: `OSError: [Errno 2] ENOENT`.
        msg = str(e)
    elif len(e.args) == 1:
        msg = str(e.args[0])
    elif e.args:
        msg = str(e.args)
    else:
        msg = ''
    name, msg = _firmware_words(e, name, msg)
    w('%s: %s\n' % (name, msg))


def _firmware_words(e, name, msg):
    """The most common errors in the firmware's (MicroPython 1.11) words, not the engine's."""
    if name == 'ModuleNotFoundError':
        # MicroPython has only ImportError: `ImportError: no module named 'foo'`.
        return 'ImportError', msg.replace('No module named', 'no module named', 1)
    if name == 'RecursionError':
        # MicroPython has no RecursionError: its stack check raises RuntimeError.
        return 'RuntimeError', 'maximum recursion depth exceeded'
    if isinstance(e, NameError) and msg.endswith(' is not defined'):
        return name, msg[:-len(' is not defined')] + " isn't defined"
    if isinstance(e, AttributeError) and msg.startswith("module '"):
        at = msg.find(' has no attribute ')
        if at > 0:
            return name, "'module' object" + msg[at:]
    return name, msg


sys.print_exception = print_exception


class _Loader:
    def __init__(self, source, filename, package):
        self.source = source
        self.filename = filename
        self.package = package

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__file__ = self.filename
        code = self.source
        if isinstance(code, str):
            code = compile(code, self.filename, 'exec')
        exec(code, module.__dict__)


class _Alias:
    """Loads a firmware module already loaded under its other name (`uos` after `os`)."""

    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass


class _Finder:
    """Finds modules in the firmware (machine, pycom, os, …) and in the device's sys.path."""

    def find_spec(self, name, path=None, target=None):
        for other in _dev.module_names(name):
            if other != name and other in sys.modules:
                import _frozen_importlib
                return _frozen_importlib.spec_from_loader(name, _Alias(sys.modules[other]))
        found = _dev.find_module(name, list(sys.path))
        mounted = sys.modules.get('_pymount')
        if found is None and getattr(mounted, 'mounts', None):
            # A module on a filesystem written in Python (os.mount of a VFS object).
            found = mounted.find_module(name, list(sys.path))
        if found is None:
            if name in _NOT_IN_FIRMWARE:
                raise ImportError("no module named '%s'" % name, name=name)
            return None
        source, filename, package = found
        import _frozen_importlib
        spec = _frozen_importlib.spec_from_loader(
            name, _Loader(source, filename, package), is_package=package)
        if package:
            spec.submodule_search_locations = [filename.rsplit('/', 1)[0]]
        return spec


class _NoModule:
    """Last in sys.meta_path: a module nobody found is MicroPython's ImportError (not CPython's
    ModuleNotFoundError), with its words: `no module named 'x'`, in str(e) and e.args too."""

    def find_spec(self, name, path=None, target=None):
        raise ImportError("no module named '%s'" % name, name=name)


# RustPython's own modules that firmware 1.20 does not have: `import itertools` fails there
# unless a file provides it, so it fails here too (our modules use them under other names).
_NOT_IN_FIRMWARE = ('itertools', 'atexit', 'marshal', 'zlib', '_ast', '__hello__', '__phello__',
                    '__hello_alias__', '__hello_only__', '__phello_alias__') + _ENGINE_MODULES
for _name in _NOT_IN_FIRMWARE:
    sys.modules.pop(_name, None)
del _name

sys.meta_path.insert(0, _Finder())
sys.meta_path.append(_NoModule())


# The code globals of the modules publish() replaced, by name: the engine keeps them with the
# modules from one session to the next (python/engine.rs).
_globals = {}

# What each kept firmware module does again at every soft reset instead of being imported again
# (the firmware's *_init0 functions): called in import order by _soft_init().
_soft_inits = []


def _soft_init():
    for init in _soft_inits:
        init()


def publish(name, namespace):
    """Puts a module of `namespace`'s public names in place of firmware module `name`, so that
    `dir(name)` lists what the docs list and no helper; the module's code keeps its globals."""
    _globals[name] = namespace
    public = type(sys)(name)
    for key, value in namespace.items():
        if not key.startswith('_') or key in ('__doc__', '__file__'):
            setattr(public, key, value)
    sys.modules[name] = public


# (publish must exist before these: they may import firmware modules that call it.)
import _sysext  # noqa: E402  (MicroPython's sys additions, RTC start)
_soft_inits.append(_sysext._init0)
import _file; builtins.open = _file.open  # noqa: E702 -- files on /flash and /sd

# os.dupterm(): [what dupterm() returns, the Python stream the console calls (python/dupterm.rs),
# or None when the terminal is a UART or nowhere].
dupterm = [None, None]

# Handlers of hardware events, registered by machine (Timer.Alarm, Pin.callback):
# (kind, id) -> callable taking the level (pins) or nothing (alarms).
handlers = {}


_WDT_ALARM = 1 << 41


def _dispatch(kind, ident, level):
    handler = handlers.get((kind, ident))
    if handler is not None:
        handler(level)
    elif kind == 'alarm' and ident == _WDT_ALARM:
        # A watchdog started before a soft reset bites even if nobody re-imported machine.
        _dev.hard_reset(2)
# Our own time/os replace RustPython's, which know only the host.
for _name in ('time', 'os'):
    sys.modules.pop(_name, None)
del _name


class DeviceStop(BaseException):
    """The host reset or powered off the device: unwind everything."""


class SafeBootReset(BaseException):
    """Ctrl-F: request a safe boot and reset."""


class HardReset(BaseException):
    """machine.reset() and friends: args[0] is the ROM reset kind (2 watchdog, 3 deep sleep).
    Raised by _dev.hard_reset, which also tells the device: code that catches it is reset all the
    same, as the chip would be."""

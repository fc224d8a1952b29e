# MicroPython's additions to `sys` (py/modsys.c of the firmware: MicroPython 1.11), applied once
# per interpreter by _pyboot. Also starts this boot's RTC (time.time() counts from here).
import sys
import _pycom


class _Namespace:
    def __init__(self, state):
        self.__dict__.update(state)


class _Implementation(tuple):
    """sys.implementation: (name='micropython', version=(1, 11, 0))."""

    def __new__(cls, **state):
        if state:
            # RustPython's FrozenImporter makes its loader state with
            # `type(sys.implementation)(filename=..., origname=...)`, as CPython does with its
            # SimpleNamespace: give it a namespace, or frozen modules (copyreg) cannot load.
            return _Namespace(state)
        return tuple.__new__(cls, ('micropython', (1, 11, 0)))

    @property
    def name(self):
        return self[0]

    @property
    def version(self):
        return self[1]

    def __repr__(self):
        return "(name='micropython', version=(1, 11, 0))"


sys.implementation = _Implementation()
sys.version = '3.4.0'
sys.maxsize = 2147483647
sys.byteorder = 'little'
sys.argv = []


def exit(*args):
    raise SystemExit(*args)


sys.exit = exit


def _init0():
    """This boot's half: the RTC starts (at every soft reset too)."""
    _pycom.boot()


_init0()
# RustPython's own `gc` must not answer `import gc`.
sys.modules.pop('gc', None)

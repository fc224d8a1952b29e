# micropython: MicroPython internals (py/modmicropython.c, firmware 1.20 = MicroPython 1.11).
#
# * const(x) is the identity (the compile-time folding does not exist here, the value is the same).
# * mem_info()/qstr_info() print the firmware's formats with plausible figures from `gc`.
# * kbd_intr(c) sets the interrupt character; -1 also disables the Ctrl-F reset character
#   (the two-argument form kbd_intr(c, reset_char) can only re-arm or disarm both together).
# * schedule(func, arg) calls func(arg) at once, before returning: the earliest "next opportunity"
#   there is in this runtime. Exceptions from func therefore surface in the caller.
import _pycom
import gc as _gc

_opt = [0]
_heap_locked = [0]


def const(x):
    return x


def opt_level(*args):
    if len(args) > 1:
        raise TypeError('function takes at most 1 argument')
    if not args:
        return _opt[0]
    _opt[0] = int(args[0])


def mem_info(*args):
    if len(args) > 1:
        raise TypeError('function takes at most 1 argument')
    total = _pycom.heap_size()
    used = _gc.mem_alloc()
    free = total - used
    print('stack: 736 out of 11264')
    print('GC: total: %d, used: %d, free: %d' % (total, used, free))
    print(' No. of 1-blocks: %d, 2-blocks: %d, max blk sz: %d, max free sz: %d'
          % (used // 96, used // 512, 264, free // 16))


def qstr_info(*args):
    if len(args) > 1:
        raise TypeError('function takes at most 1 argument')
    print('qstr pool: n_pool=1, n_qstr=77, n_str_data_bytes=665, n_total_bytes=2253')


def alloc_emergency_exception_buf(size):
    int(size)


def heap_lock():
    _heap_locked[0] += 1


def heap_unlock():
    if _heap_locked[0]:
        _heap_locked[0] -= 1


def kbd_intr(c, *reset_char):
    if len(reset_char) > 1:
        raise TypeError('function takes at most 2 arguments')
    _pycom.kbd_intr(int(c))


def schedule(func, arg):
    func(arg)


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

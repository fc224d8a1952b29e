# uselect (also `select`): extmod/moduselect.c — poll() objects and select() over streams.
#
# What can be polled, as on the module: UART0 (`sys.stdin`, `sys.stdin.buffer`, `machine.UART(0)`;
# readable when bytes are waiting), other objects with `any()` (readable when it is non-zero),
# and user streams with `ioctl(3, mask)` (MP_STREAM_POLL), which answer for themselves. Output is
# always writable. A wait polls every millisecond of device time (free in virtual time) until
# something is ready or the timeout (ms for poll, s for select; -1/None: no limit) is over.
import sys as _sys
import _dev
import _machine

POLLIN = 1
POLLOUT = 4
POLLERR = 8
POLLHUP = 16

_MP_STREAM_POLL = 3


def _ready(obj, mask):
    """The events of `mask` (plus ERR/HUP) `obj` has now."""
    if obj is _sys.stdin or obj is _sys.stdin.buffer:
        return POLLIN if mask & POLLIN and _machine.uart0_any() > 0 else 0
    if obj is _sys.stdout or obj is _sys.stdout.buffer:
        return mask & POLLOUT
    ioctl = getattr(obj, 'ioctl', None)
    if ioctl is not None:
        return ioctl(_MP_STREAM_POLL, mask) or 0
    any_ = getattr(obj, 'any', None)
    if any_ is not None:
        rd = any_() > 0
        return (POLLIN if rd and mask & POLLIN else 0) | (mask & POLLOUT)
    raise OSError('stream operation not supported')


def _wait(check, timeout_ms):
    """Calls check() until it returns something true or timeout_ms (None: never) is over."""
    waited = 0
    while True:
        found = check()
        if found or (timeout_ms is not None and waited >= timeout_ms):
            return found
        _dev.sleep_us(1000)
        waited += 1


class poll:
    def __init__(self):
        self._objs = {}

    def register(self, obj, eventmask=POLLIN | POLLOUT):
        _ready(obj, 0)
        self._objs[id(obj)] = [obj, eventmask]

    def unregister(self, obj):
        self._objs.pop(id(obj), None)

    def modify(self, obj, eventmask):
        entry = self._objs.get(id(obj))
        if entry is None:
            raise OSError(2)
        entry[1] = eventmask

    def _scan(self):
        out = []
        for obj, mask in self._objs.values():
            ev = _ready(obj, mask)
            if ev:
                out.append((obj, ev))
        return out

    def poll(self, timeout=-1):
        limit = None if timeout is None or timeout < 0 else timeout
        return _wait(self._scan, limit)

    def ipoll(self, timeout=-1, flags=0):
        return iter(self.poll(timeout))


def select(rlist, wlist, xlist, timeout=None):
    def check():
        r = [o for o in rlist if _ready(o, POLLIN)]
        w = [o for o in wlist if _ready(o, POLLOUT)]
        x = [o for o in xlist if _ready(o, POLLERR | POLLHUP) & (POLLERR | POLLHUP)]
        return (r, w, x) if r or w or x else None
    limit = None if timeout is None or timeout < 0 else int(timeout * 1000)
    return _wait(check, limit) or ([], [], [])


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

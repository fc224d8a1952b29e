# uqueue (also `queue`): esp32/mods/moduqueue.c — a FreeRTOS queue between threads: Queue(maxsize=1)
# with put(item, block=True, timeout=None), get(block=True, timeout=None), empty() and full().
# Timeouts are in milliseconds. There is one thread here, so a wait that only another thread
# could end ends at its timeout (virtual time makes that instant) or, without one, never: as on
# the module, a blocking get() on an empty queue waits until Ctrl-C.
import time as _time
import _pyboot


class Queue:
    def __init__(self, maxsize=1):
        self._max = maxsize
        self._items = []

    def _wait(self, ready, block, timeout):
        if not block:
            return ready()
        start = _time.ticks_ms()
        while not ready():
            if timeout is not None and _time.ticks_diff(_time.ticks_ms(), start) >= timeout:
                return False
            _time.sleep_ms(1)
        return True

    def put(self, item, block=True, timeout=None):
        if not self._wait(lambda: len(self._items) < self._max, block, timeout):
            raise OSError('Full')
        self._items.append(item)

    def get(self, block=True, timeout=None):
        if not self._wait(lambda: bool(self._items), block, timeout):
            raise OSError('Empty')
        return self._items.pop(0)

    def empty(self):
        return not self._items

    def full(self):
        return len(self._items) >= self._max

    # The firmware's exceptions for a full or empty queue are plain OSError.
    Full = OSError
    Empty = OSError


_pyboot.publish(__name__, globals())

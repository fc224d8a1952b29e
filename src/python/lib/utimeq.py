# utimeq: extmod/modutimeq.c — a fixed-size priority queue of (time, callback, args) ordered by
# time, compared as modutimeq.c's `time_less_than` does: 32-bit unsigned difference, wrapped into
# MicroPython's default ticks period of 2**30 (the firmware does not change it for utimeq).
# utimeq(n); push(time, callback, args); pop(list3) fills a 3-item list and returns None;
# peektime(); len(q); bool(q). Equal times pop in push order (the module's `id` tie-break).

_MASK = 0xFFFFFFFF
_MODULO = 1 << 30


def _before(a, b):
    """Item a comes before item b: (time, id, callback, args) tuples."""
    res = (b[0] - a[0]) & _MASK
    if res == 0:
        return a[1] < b[1]
    if res >= 0x80000000:  # negative as mp_int_t
        res = (res + _MODULO) & _MASK
    return 0 < res < _MODULO // 2


class utimeq:
    def __init__(self, n):
        self._n = n
        self._heap = []
        self._id = 0

    def push(self, time, callback, args):
        if len(self._heap) >= self._n:
            raise IndexError('queue overflow')
        item = (time, self._id, callback, args)
        self._id += 1
        h = self._heap
        h.append(item)
        i = len(h) - 1
        while i > 0:
            parent = (i - 1) // 2
            if _before(h[i], h[parent]):
                h[i], h[parent] = h[parent], h[i]
                i = parent
            else:
                break

    def pop(self, ret):
        h = self._heap
        if not h:
            raise IndexError('empty heap')
        if not isinstance(ret, list) or len(ret) < 3:
            raise TypeError('Not a list or length is less than 3!')
        top = h[0]
        last = h.pop()
        if h:
            h[0] = last
            i = 0
            n = len(h)
            while True:
                small = i
                for c in (2 * i + 1, 2 * i + 2):
                    if c < n and _before(h[c], h[small]):
                        small = c
                if small == i:
                    break
                h[i], h[small] = h[small], h[i]
                i = small
        ret[0], ret[1], ret[2] = top[0], top[2], top[3]

    def peektime(self):
        if not self._heap:
            raise IndexError('empty heap')
        return self._heap[0][0]

    def __len__(self):
        return len(self._heap)

    def __bool__(self):
        return bool(self._heap)

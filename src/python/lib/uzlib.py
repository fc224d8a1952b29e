# uzlib: extmod/moduzlib.c of MicroPython 1.11 over RustPython's native `zlib` (inflate only).
#
# * decompress(data, wbits=0, bufsize=0): a zlib stream, or raw deflate when wbits < 0; the
#   result is a bytearray, as 1.11's `mp_obj_new_bytearray_by_ref` makes it. Bad data raises
#   ValueError with uzlib's status code (-3, TINF_DATA_ERROR; the engine does not tell a bad
#   checksum apart, which uzlib reports as -4).
# * DecompIO(stream, wbits=0): a stream that inflates what it reads from `stream` (zlib header
#   for wbits 0..15, gzip for 16..31, raw deflate for negative wbits); read, readinto, readline.
import sys as _sys
import _pycom

_TINF_DATA_ERROR = -3


def _zlib():
    return _pycom.native_module('zlib')


def _engine(f, *args):
    """Calls a function of RustPython's zlib, which imports `zlib` by that name to raise its
    error; the firmware has no `zlib`, so the name is there only during the call."""
    _sys.modules['zlib'] = _zlib()
    try:
        return f(*args)
    finally:
        _sys.modules.pop('zlib', None)


def decompress(data, wbits=0, bufsize=0):
    try:
        return bytearray(_engine(_zlib().decompress, bytes(data), -15 if wbits < 0 else 15))
    except Exception:
        raise ValueError(_TINF_DATA_ERROR) from None


class DecompIO:
    def __init__(self, stream, wbits=0):
        if wbits >= 16:
            w = 31
        elif wbits >= 0:
            w = 15
        else:
            w = -15
        self._src = stream
        self._d = _zlib().decompressobj(w)
        self._eof = False
        # As uzlib does, the constructor reads and checks the header (zlib: 2 bytes, gzip: the
        # 10 fixed ones); they are handed on to the inflater.
        self._head = b''
        if wbits >= 0:
            head = self._read_exactly(10 if wbits >= 16 else 2)
            if wbits >= 16:
                ok = head[:3] == b'\x1f\x8b\x08'
            else:
                ok = head[0] & 0x0F == 8 and head[0] >> 4 <= 7 and (head[0] << 8 | head[1]) % 31 == 0
            if not ok:
                raise ValueError('compression header')
            self._head = head

    def _read_exactly(self, n):
        data = b''
        while len(data) < n:
            chunk = self._src.read(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _fill(self, want):
        out = b''
        while len(out) < want and not self._eof:
            chunk = self._head or self._d.unconsumed_tail or self._src.read(1)
            self._head = b''
            if not chunk:
                raise EOFError
            try:
                out += _engine(self._d.decompress, chunk, want - len(out))
            except Exception:
                raise OSError(22) from None
            if self._d.eof:
                self._eof = True
        return out

    def read(self, n=-1):
        if n is None or n < 0:
            out = b''
            while not self._eof:
                out += self._fill(256)
            return out
        return self._fill(n)

    def readinto(self, buf, n=-1):
        n = len(buf) if n is None or n < 0 else min(n, len(buf))
        data = self._fill(n)
        buf[:len(data)] = data
        return len(data)

    def readline(self, n=-1):
        out = b''
        while not self._eof and (n is None or n < 0 or len(out) < n):
            c = self._fill(1)
            out += c
            if c == b'\n':
                break
        return out

# uio: py/modio.c of MicroPython 1.11 as firmware 1.20 builds it (MICROPY_PY_IO_FILEIO on,
# IOBase and BufferedWriter off): open, FileIO, TextIOWrapper, StringIO, BytesIO. The file
# classes are the device filesystem's (`_file`); there is no `io` name (no weak link).
import builtins as _builtins
import _file
import _io


def _part(buf, args):
    """stream_write_method's optional arguments: write(buf, len) or write(buf, off, len)."""
    if len(args) > 2:
        raise TypeError('function expected at most 4 arguments, got %d' % (2 + len(args)))
    off, size = (0, args[0]) if len(args) == 1 else args
    off = min(int(off), len(buf))
    return buf[off:off + max(int(size), 0)]


class BytesIO(_io.BytesIO):
    """The firmware's BytesIO: a stream as a file is (write's length and offset arguments, and
    OSError(EINVAL) for a bad seek)."""

    def write(self, buf, *args):
        return _io.BytesIO.write(self, _part(buf, args) if args else buf)

    def seek(self, offset, whence=0):
        try:
            return _io.BytesIO.seek(self, offset, whence)
        except (ValueError, OverflowError):
            raise OSError(22) from None


class StringIO(_io.StringIO):
    """The firmware's StringIO (see BytesIO)."""

    def write(self, s, *args):
        return _io.StringIO.write(self, _part(s, args) if args else s)

    def seek(self, offset, whence=0):
        try:
            return _io.StringIO.seek(self, offset, whence)
        except (ValueError, OverflowError):
            raise OSError(22) from None


def _repr(self):
    return '<io.%s %x>' % (type(self).__name__, id(self) & 0xFFFFFFFF)


for _cls in (BytesIO, StringIO):
    _cls.__module__ = 'builtins'
    _cls.__repr__ = _repr
del _cls

open = _builtins.open
FileIO = _file.FileIO
TextIOWrapper = _file.TextIOWrapper
del _builtins

import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

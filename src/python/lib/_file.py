# open() and the file objects of the device's filesystem (MicroPython's vfs_fat_file.c).
#
# A file object keeps the file's bytes while it is open; flush() and close() write them back to
# the volume (the flash file or the SD directory), and so does a file object that is dropped
# without being closed. Modes: r w a x, each with + and b/t. Text files read and write UTF-8
# with no newline translation, as on the module.
import _fs
import _weakref

_EACCES = 13
_EINVAL = 22

# Files not closed yet, by id: at a soft reset the engine calls _close_all() so each is written,
# as the firmware's heap sweep finalises every open file (weak, so a dropped file still goes).
_open = {}


def _close_all():
    for ref in list(_open.values()):
        f = ref()
        if f is not None:
            try:
                f.close()
            except Exception:
                pass
    _open.clear()


class _File:
    def __init__(self, name, path, data, pos, readable, writable, mode):
        self.name = name
        self.mode = mode
        self._path = path
        self._buf = bytearray(data)
        self._pos = pos
        self._readable = readable
        self._writable = writable
        self._dirty = False
        self._closed = False
        _open[id(self)] = _weakref.ref(self)

    def __repr__(self):
        return '<io.%s %x>' % (type(self).__name__, id(self) & 0xFFFFFFFF)

    # -- state checks: FatFS says EINVAL for a closed file, EACCES for the wrong direction

    def _check(self):
        if self._closed:
            raise _fs.error(_EINVAL)

    def _can_read(self):
        self._check()
        if not self._readable:
            raise _fs.error(_EACCES)

    def _can_write(self):
        self._check()
        if not self._writable:
            raise _fs.error(_EACCES)

    # -- bytes

    def _take(self, n):
        buf = self._buf
        pos = self._pos
        end = len(buf) if n is None or n < 0 else min(len(buf), pos + n)
        if pos >= end:
            return b''
        self._pos = end
        return bytes(buf[pos:end])

    def _take_line(self, limit):
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            return b''
        end = buf.find(b'\n', pos)
        end = len(buf) if end < 0 else end + 1
        if limit is not None and limit >= 0:
            end = min(end, pos + limit)
        self._pos = end
        return bytes(buf[pos:end])

    def write(self, data):
        self._can_write()
        if isinstance(data, str):
            data = data.encode('utf-8')
        else:
            data = bytes(data)
        buf = self._buf
        pos = self._pos
        if pos > len(buf):
            buf.extend(bytes(pos - len(buf)))
        buf[pos:pos + len(data)] = data
        self._pos = pos + len(data)
        if data:
            self._dirty = True
        return len(data)

    def seek(self, offset, whence=0):
        self._check()
        if whence == 0:
            base = 0
        elif whence == 1:
            base = self._pos
        elif whence == 2:
            base = len(self._buf)
        else:
            raise _fs.error(_EINVAL)
        pos = base + offset
        if pos < 0:
            raise _fs.error(_EINVAL)
        self._pos = pos
        return pos

    def tell(self):
        self._check()
        return self._pos

    def flush(self):
        self._check()
        if self._dirty:
            _fs.write_file(self._path, self._buf)
            self._dirty = False

    def close(self):
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            _open.pop(id(self), None)

    @property
    def closed(self):
        return self._closed

    def readable(self):
        return self._readable

    def writable(self):
        return self._writable

    def seekable(self):
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # MicroPython's finaliser closes a file the program forgot; do the same.
        try:
            self.close()
        except Exception:
            pass

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines


class FileIO(_File):
    """A file opened in binary mode: bytes in, bytes out."""

    def read(self, size=-1):
        self._can_read()
        return self._take(size)

    def readinto(self, b, nbytes=None):
        self._can_read()
        n = len(b) if nbytes is None else min(nbytes, len(b))
        data = self._take(n)
        b[:len(data)] = data
        return len(data)

    def readline(self, size=-1):
        self._can_read()
        return self._take_line(size)


class TextIOWrapper(_File):
    """A file opened in text mode: str out (UTF-8), str or bytes in."""

    def read(self, size=-1):
        self._can_read()
        if size is None or size < 0:
            return self._take(-1).decode('utf-8', 'replace')
        buf = self._buf
        start = self._pos
        end = min(len(buf), start + size)
        while True:
            # Never stop inside a character.
            while end < len(buf) and buf[end] & 0xC0 == 0x80:
                end += 1
            text = bytes(buf[start:end]).decode('utf-8', 'replace')
            if len(text) >= size or end >= len(buf):
                break
            end = min(len(buf), end + size - len(text))
        self._pos = max(start, end)
        return text

    def readline(self, size=-1):
        self._can_read()
        return self._take_line(size).decode('utf-8', 'replace')


def open(file, mode='r', buffering=-1, encoding=None, errors=None, newline=None,
         closefd=True, opener=None):
    """open(): a file on /flash or a mounted /sd. OSError ENOENT for a missing file in 'r'
    mode; paths outside the mounted volumes are unreachable (ENODEV)."""
    if isinstance(file, (bytes, bytearray)):
        file = bytes(file).decode('utf-8')
    if not isinstance(file, str):
        raise TypeError("can't convert %s to str" % type(file).__name__)
    if not isinstance(mode, str):
        raise TypeError("can't convert %s to str" % type(mode).__name__)
    kind = None
    plus = False
    binary = False
    for c in mode:
        if c in 'rwxa':
            if kind is not None:
                raise ValueError('invalid mode: %r' % mode)
            kind = c
        elif c == '+':
            plus = True
        elif c == 'b':
            binary = True
        elif c == 't':
            binary = False
        else:
            raise ValueError('invalid mode: %r' % mode)
    if kind is None:
        raise ValueError('invalid mode: %r' % mode)
    import _pymount
    found = _pymount.find(file)
    if found:
        # A filesystem written in Python (os.mount of a VFS object) opens its own files.
        return found[0].open(found[1], mode)
    path, data = _fs.open(file, kind)
    readable = kind == 'r' or plus
    writable = kind != 'r' or plus
    pos = len(data) if kind == 'a' else 0
    cls = FileIO if binary else TextIOWrapper
    f = cls(file, path, data, pos, readable, writable, mode)
    # 'w' empties the file at close even if nothing was written: on LittleFS the truncation is
    # only committed then (a power cut before it leaves the old content), as lfs_file_open does.
    f._dirty = kind == 'w'
    return f

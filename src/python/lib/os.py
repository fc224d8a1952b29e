# os / uos: the device's filesystem (Pycom firmware 1.20, reference §11).
#
# `/` holds the mount points: `/flash` (the FAT volume in the module's flash) and, after
# `os.mount(machine.SD(), '/sd')`, `/sd` (the directory given with `pycom-sim run --sd DIR`).
# Errors are MicroPython's: `OSError: [Errno 2] ENOENT`, with `e.args[0] == 2`.
import _fs
import _pymount

sep = '/'


def dupterm(*args):
    """The REPL's terminal (one slot, as Pycom's firmware has): `dupterm()` returns the stream it
    is on (`UART(0)` after boot); `dupterm(stream)` moves it there (a `machine.UART`, or any
    object with `read(n)` and `write(buf)`); `dupterm(None)` takes the REPL off every line, so
    only a reset brings it back."""
    import _dev
    import _pyboot
    if len(args) > 1:
        raise TypeError('function takes at most 1 argument')
    if not args:
        return _pyboot.dupterm[0]
    stream = args[0]
    python_stream = None
    if stream is not None and not _is_uart(stream):
        for method in ('read', 'write'):
            if not callable(getattr(stream, method, None)):
                raise AttributeError("'%s' object has no attribute '%s'"
                                     % (type(stream).__name__, method))
        python_stream = stream
    _pyboot.dupterm[0] = stream
    _pyboot.dupterm[1] = python_stream
    _dev.console_on_uart0(_is_uart(stream) and stream._bus == 0)
    return None


def _is_uart(obj):
    import machine
    return isinstance(obj, machine.UART)


def listdir(path=None):
    found = _pymount.find(path)
    if found:
        return _pymount.listdir(found)
    names = _fs.listdir() if path is None else _fs.listdir(path)
    if _pymount.mounts and _pymount.absolute(path) == '/':
        names = names + _pymount.names()
    return names


def ilistdir(path=None):
    found = _pymount.find(path)
    if found:
        return iter(found[0].ilistdir(found[1]))
    return iter(_fs.ilistdir() if path is None else _fs.ilistdir(path))


def mkdir(path):
    found = _pymount.find(path)
    if found:
        return found[0].mkdir(found[1])
    _fs.mkdir(path)


def rmdir(path):
    found = _pymount.find(path)
    if found:
        return found[0].rmdir(found[1])
    _fs.rmdir(path)


def remove(path):
    found = _pymount.find(path)
    if found:
        return found[0].remove(found[1])
    _fs.remove(path)


unlink = remove


def rename(old_path, new_path):
    found = _pymount.find(old_path)
    if found:
        other = _pymount.find(new_path)
        if other is None or other[0] is not found[0]:
            raise OSError(18)  # EXDEV: across volumes
        return found[0].rename(found[1], other[1])
    _fs.rename(old_path, new_path)


def stat(path):
    found = _pymount.find(path)
    if found:
        return tuple(found[0].stat(found[1]))
    return _fs.stat(path)


def statvfs(path):
    found = _pymount.find(path)
    if found:
        return found[0].statvfs(found[1])
    return _fs.statvfs(path)


def getfree(path):
    return _fs.getfree(path)


def getcwd():
    return _fs.getcwd()


def chdir(path):
    found = _pymount.find(path)
    if found:
        return _pymount.chdir(found, path)
    _fs.chdir(path)


def sync():
    # Every file write reaches the flash when the file is flushed or closed.
    pass


def urandom(n):
    return _fs.urandom(n)


def _is_sd(obj):
    """machine.SD() objects carry `_pycom_sd = True`."""
    return getattr(obj, '_pycom_sd', False) is True


def mount(fsobj, mount_point, *, readonly=False):
    """Mounts machine.SD() (as /sd) or any object with MicroPython's VFS methods (ilistdir,
    stat, open, ...), as mpremote's `mount` does with a host directory."""
    if not _is_sd(fsobj):
        return _pymount.mount(fsobj, mount_point, readonly)
    _fs.mount_sd(mount_point)


def umount(mount_point):
    if _pymount.umount(mount_point):
        return
    if _is_sd(mount_point):
        if not _fs.sd_mounted():
            raise _fs.error(22)
        mount_point = '/sd'
    _fs.umount(mount_point)


def fsformat(path):
    _fs.fsformat(path)


def mkfs(path_or_device):
    """Formats a volume: `os.mkfs('/flash')` deletes every file on the flash (boot.py and
    main.py come back at the next boot or soft reset); `os.mkfs(sd)` empties the SD card."""
    if _is_sd(path_or_device):
        _fs.format_sd()
    else:
        _fs.fsformat(path_or_device)


class mkfat:
    """The FAT VFS type: `vfs = os.mkfat(machine.SD())` then `os.mount(vfs, '/sd')`, or
    `os.mkfat.mkfs(sd)` to format the card."""

    def __init__(self, bdev):
        _require_card(bdev)
        self._pycom_sd = True

    @staticmethod
    def mkfs(bdev):
        _require_card(bdev)
        _fs.format_sd()


def _require_card(bdev):
    if not _is_sd(bdev):
        raise _fs.error(19, 'pycom-sim has FAT volumes only on machine.SD()')


class _UnameResult(tuple):
    """The attrtuple `uname()` returns: a tuple whose items are also attributes."""

    def __repr__(self):
        return '(%s)' % ', '.join(
            '%s=%r' % (name, value) for name, value in zip(self._fields, self))


def uname():
    fields = _fs.uname()
    result = _UnameResult(value for _, value in fields)
    result._fields = tuple(name for name, _ in fields)
    for name, value in fields:
        setattr(result, name, value)
    return result


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

# vfs: the filesystem module of MicroPython >= 1.23, importable only in the `micropython` REPL
# profile (firmware 1.20 is MicroPython 1.11 and has none). mpremote's `df` lists mounts with
# `vfs.mount()` and sizes them with `os.statvfs`.
import os as _os
import _fs


class _Mounted:
    """What `vfs.mount()` lists for a mounted filesystem (its repr names the type)."""

    def __init__(self, kind):
        self._kind = kind

    def __repr__(self):
        return '<%s>' % self._kind

    __str__ = __repr__


def mount(*args, **kwargs):
    """With arguments, `os.mount`; without, the list of `(filesystem, mount point)` pairs."""
    if args or kwargs:
        return _os.mount(*args, **kwargs)
    mounted = [(_Mounted('VfsFat'), '/flash')]
    if _fs.sd_mounted():
        mounted.append((_Mounted('VfsFat'), '/sd'))
    return mounted


def umount(mount_point):
    return _os.umount(mount_point)


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

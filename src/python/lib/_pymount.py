# Filesystems written in Python, mounted with `os.mount(obj, '/point')` in the `micropython` REPL
# profile, as MicroPython's VFS takes any object with its protocol (extmod/vfs.c): mount(readonly,
# mkfs), umount(), ilistdir(path), stat(path), open(path, mode), chdir(path), getcwd(), mkdir,
# rmdir, remove, rename, statvfs. mpremote's `mount .` is one: it serves a host directory over the
# REPL's UART. The firmware's own volumes (/flash, /sd) stay in Rust (`_fs`); a path under a
# Python mount is answered by its object, given the path inside the mount ('/' for its root),
# as mp_vfs_lookup_path gives it.
import _fs

# mount point ('/remote') -> the object mounted there.
mounts = {}


def absolute(path):
    """`path` made absolute against the current directory, with '.' and '..' resolved."""
    if path is None:
        path = ''
    if not path.startswith('/'):
        path = _fs.getcwd().rstrip('/') + '/' + path
    parts = []
    for part in path.split('/'):
        if part in ('', '.'):
            continue
        if part == '..':
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return '/' + '/'.join(parts)


def find(path):
    """(object, path inside it) when `path` is under a Python mount, else None."""
    if not mounts:
        return None
    full = absolute(path)
    for point, obj in mounts.items():
        if full == point:
            return obj, '/'
        if full.startswith(point + '/'):
            return obj, full[len(point):]
    return None


def mount(obj, point, readonly=False):
    point = absolute(point)
    if point == '/' or point.count('/') != 1:
        raise OSError(1)  # EPERM: mount points are top-level names, as on the module
    name = point[1:]
    if point in mounts or name in _fs.listdir('/'):
        raise OSError(1)
    for method in ('ilistdir', 'stat', 'open'):
        if not callable(getattr(obj, method, None)):
            raise OSError(19)  # ENODEV: not a filesystem
    mounter = getattr(obj, 'mount', None)
    if mounter is not None:
        mounter(readonly, False)
    mounts[point] = obj


def umount(point):
    if not isinstance(point, str):
        for p, obj in mounts.items():
            if obj is point:
                point = p
                break
        else:
            return False
    point = absolute(point)
    obj = mounts.pop(point, None)
    if obj is None:
        return False
    if _fs.getcwd() == point or _fs.getcwd().startswith(point + '/'):
        _fs.set_cwd('/')
    unmounter = getattr(obj, 'umount', None)
    if unmounter is not None:
        unmounter()
    return True


def names():
    """The mount points' names, for listing '/'."""
    return [p[1:] for p in mounts]


def chdir(found, path):
    obj, inner = found
    changer = getattr(obj, 'chdir', None)
    if changer is not None:
        changer(inner)
    _fs.set_cwd(absolute(path))


def listdir(found):
    obj, inner = found
    return [entry[0] for entry in obj.ilistdir(inner)]


def find_module(name, path):
    """(source, filename, is_package) of module `name` in a Python mount on `path`, or None."""
    if not mounts:
        return None
    base = name.replace('.', '/')
    for entry in path:
        for rel, package in ((base + '.py', False), (base + '/__init__.py', True)):
            filename = absolute((entry.rstrip('/') + '/' if entry else '') + rel)
            found = find(filename)
            if found is None:
                continue
            obj, inner = found
            try:
                mode = obj.stat(inner)[0]
            except OSError:
                continue
            if mode & 0x4000:
                continue
            f = obj.open(inner, 'r')
            try:
                source = f.read()
            finally:
                f.close()
            return source, filename, package
    return None

# uio: py/modio.c of MicroPython 1.11 as firmware 1.20 builds it (MICROPY_PY_IO_FILEIO on,
# IOBase and BufferedWriter off): open, FileIO, TextIOWrapper, StringIO, BytesIO. The file
# classes are the device filesystem's (`_file`); there is no `io` name (no weak link).
import builtins as _builtins
import _file
from _io import BytesIO, StringIO  # noqa: F401

open = _builtins.open
FileIO = _file.FileIO
TextIOWrapper = _file.TextIOWrapper
del _builtins

import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

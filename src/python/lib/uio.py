# uio: py/modio.c. Files come from the device's VFS (`open` is the builtin one).
import builtins as _builtins
from _io import BytesIO, StringIO  # noqa: F401

open = _builtins.open
del _builtins

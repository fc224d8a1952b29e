# io: MicroPython >= 1.23's name for uio, with IOBase, the base class of streams written in
# Python. Importable only in the `micropython` REPL profile (firmware 1.20 is MicroPython 1.11,
# built without IOBase and without the `io` name); mpremote's `mount` subclasses io.IOBase for
# the files it serves from the host.
from uio import *  # noqa: F401,F403  (open, StringIO, BytesIO, ...)


class IOBase:
    """A base for streams written in Python; the stream methods are the subclass's own."""


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

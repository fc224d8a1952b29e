# ustruct (also `struct`): py/modstruct.c over RustPython's `_struct`.
from _struct import pack, unpack, calcsize, pack_into, unpack_from, error  # noqa: F401

del error

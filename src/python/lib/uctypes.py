# uctypes: MicroPython 1.11's extmod/moductypes.c, as firmware 1.20.2 builds it (ESP32: 32-bit
# pointers, little-endian NATIVE layout).
#
# The device's Python reaches no host memory, so an address here is not one of the host's:
# addressof() hands out a synthetic address (in the ESP32's PSRAM range) for the buffer object it
# is given and remembers the object; struct(), bytes_at() and bytearray_at() resolve an address
# back to that object, and an address inside no such buffer raises ValueError instead of reading
# anything. A `bytes` (or `str`) buffer cannot change in RustPython, so writes through a struct
# over one go to a copy that the struct reads back, not into the bytes object itself.
import ustruct as _ustruct

NATIVE = 2
LITTLE_ENDIAN = 0
BIG_ENDIAN = 1

_VAL_MASK = 0x07FFFFFF   # VALUE_MASK(VAL_TYPE_BITS)
_AGG_MASK = 0x1FFFFFFF   # VALUE_MASK(AGG_TYPE_BITS)
_STRUCT, _PTR, _ARRAY = 0, 1, 2
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _UINT64, _INT64 = range(8)
_BFUINT8, _BFINT32, _FLOAT32, _FLOAT64 = 8, 13, 14, 15
_CODES = 'BbHhIiQq------fd'
_PTR_SIZE = 4


def _type2int(kind, bits):
    """TYPE2SMALLINT: the kind in the top bits of a 31-bit small int, sign and all."""
    v = (kind << (32 - bits)) & 0xFFFFFFFF
    if v & 0x80000000:
        v -= 1 << 32
    return v >> 1


def _val_type(v):
    return (v >> 27) & 15


def _agg_type(v):
    return (v >> 29) & 3


VOID = UINT8 = _type2int(_UINT8, 4)
INT8 = _type2int(_INT8, 4)
UINT16 = USHORT = _type2int(_UINT16, 4)
INT16 = SHORT = _type2int(_INT16, 4)
UINT32 = UINT = ULONG = _type2int(_UINT32, 4)
INT32 = INT = LONG = _type2int(_INT32, 4)
UINT64 = ULONGLONG = _type2int(_UINT64, 4)
INT64 = LONGLONG = _type2int(_INT64, 4)
BFUINT8 = _type2int(8, 4)
BFINT8 = _type2int(9, 4)
BFUINT16 = _type2int(10, 4)
BFINT16 = _type2int(11, 4)
BFUINT32 = _type2int(12, 4)
BFINT32 = _type2int(13, 4)
FLOAT32 = _type2int(_FLOAT32, 4)
FLOAT64 = _type2int(_FLOAT64, 4)
BF_POS = 17
BF_LEN = 22
PTR = _type2int(_PTR, 2)
ARRAY = _type2int(_ARRAY, 2)

# The buffers addressof() has handed out:
# [base, length, object, writable copy or None, the heap block's tail bytes].
_buffers = []
_by_id = {}
_next = [0x3F800000]
_MAX_BUFFERS = 1024


def _syntax_error():
    raise TypeError('syntax error in uctypes descriptor')


def _raw(obj):
    """The bytes of a buffer object, as mp_get_buffer_raise reads them."""
    if isinstance(obj, str):
        return obj.encode()
    try:
        with memoryview(obj) as m:
            return m.tobytes()
    except TypeError:
        raise TypeError('object with buffer protocol required') from None


def addressof(obj):
    """The (synthetic) address of a buffer object's data."""
    if isinstance(obj, struct):
        return object.__getattribute__(obj, '_uc_addr')
    key = id(obj)
    entry = _by_id.get(key)
    if entry is not None and entry[2] is obj:
        return entry[0]
    data = _raw(obj)
    copy = None
    if isinstance(obj, (bytes, str)):
        copy = bytearray(data)
    else:
        try:
            with memoryview(obj) as m:
                if m.readonly:
                    copy = bytearray(data)
        except TypeError:
            copy = bytearray(data)
    base = _next[0]
    _next[0] = (base + max(len(data), 1) + 15) & ~7
    slack = ((max(len(data), 1) + 15) & ~15) - len(data)
    entry = [base, len(data), obj, copy, bytearray(slack)]
    if len(_buffers) >= _MAX_BUFFERS:
        old = _buffers.pop(0)
        _by_id.pop(id(old[2]), None)
    _buffers.append(entry)
    _by_id[key] = entry
    return base


def _find(addr, n):
    """The buffer holding [addr, addr + n) and the offset there. A buffer reaches to the end of
    its 16-byte heap block, as on the module, whose tail bytes a struct may touch."""
    for entry in _buffers:
        base, length = entry[0], entry[1]
        if base <= addr and addr + n <= base + ((max(length, 1) + 15) & ~15):
            return entry, addr - base
    raise ValueError('uctypes: address 0x%x (%d bytes) is not in a buffer from addressof()'
                     % (addr & 0xFFFFFFFF, n))


def _data(entry):
    if entry[3] is not None:
        return bytes(entry[3])
    with memoryview(entry[2]) as m:
        with m.cast('B') as b:
            return b.tobytes()


def _read(addr, n):
    if n <= 0:
        return b''
    entry, off = _find(addr, n)
    return (_data(entry) + entry[4])[off:off + n]


def _write(addr, data):
    if not data:
        return
    entry, off = _find(addr, len(data))
    length = entry[1]
    head = data[:max(0, length - off)]
    if head:
        if entry[3] is not None:
            entry[3][off:off + len(head)] = head
        else:
            with memoryview(entry[2]) as m:
                with m.cast('B') as b:
                    b[off:off + len(head)] = head
    tail = data[len(head):]
    if tail:
        at = max(0, off - length)
        entry[4][at:at + len(tail)] = tail


def _scalar_size(val_type):
    if val_type == _FLOAT32:
        return 4
    return 1 << ((val_type & 7) >> 1)


def _endian(layout):
    return '>' if layout != NATIVE and layout else '<'


def _get(val_type, addr, endian):
    code = _CODES[val_type]
    if code == '-':
        _syntax_error()
    size = _ustruct.calcsize(code)
    return _ustruct.unpack(endian + code, _read(addr, size))[0]


def _set(val_type, addr, endian, value):
    code = _CODES[val_type]
    if code == '-':
        _syntax_error()
    size = _ustruct.calcsize(code)
    if code in 'fd':
        if not isinstance(value, (int, float)):
            raise TypeError("can't convert %s to float" % type(value).__name__)
        data = _ustruct.pack(endian + code, float(value))
    else:
        if not isinstance(value, int):
            raise TypeError("can't convert %s to int" % type(value).__name__)
        value &= (1 << (8 * size)) - 1
        data = value.to_bytes(size, 'big' if endian == '>' else 'little')
    _write(addr, data)


def _agg_size(t, layout, biggest):
    agg = _agg_type(t[0])
    if agg == _STRUCT:
        return _size(t[1], layout, biggest)
    if agg == _PTR:
        biggest[0] = max(biggest[0], _PTR_SIZE)
        return _PTR_SIZE
    count = t[1]
    val_type = _val_type(count)
    count &= _VAL_MASK
    if len(t) == 2:
        item = 1 << (val_type >> 1)
        biggest[0] = max(biggest[0], item)
    else:
        item = _size(t[2], layout, biggest)
    return item * count


def _size(desc, layout, biggest):
    if not isinstance(desc, dict):
        if isinstance(desc, tuple):
            return _agg_size(desc, layout, biggest)
        if type(desc) is int:
            raise TypeError('Cannot unambiguously get sizeof scalar')
        _syntax_error()
    total = 0
    for v in desc.values():
        if type(v) is int:
            val_type = _val_type(v)
            offset = v & _VAL_MASK
            if _BFUINT8 <= val_type <= _BFINT32:
                offset &= (1 << 17) - 1
            s = _scalar_size(val_type)
            biggest[0] = max(biggest[0], s)
            total = max(total, offset + s)
        else:
            if not isinstance(v, tuple):
                _syntax_error()
            offset = v[0] & _AGG_MASK
            total = max(total, offset + _agg_size(v, layout, biggest))
    if layout == NATIVE and biggest[0]:
        total = (total + biggest[0] - 1) & ~(biggest[0] - 1)
    return total


def sizeof(obj, layout=None):
    """Size in bytes of a descriptor or of a struct."""
    if isinstance(obj, bytearray):
        return len(obj)
    if isinstance(obj, struct):
        if layout is not None:
            raise TypeError()
        return _size(object.__getattribute__(obj, '_uc_desc'), object.__getattribute__(
            obj, '_uc_layout'), [0])
    return _size(obj, NATIVE if layout is None else layout, [0])


class _ByRef(bytearray):
    """A bytearray over memory (mp_obj_new_bytearray_by_ref): what it holds is read when it is
    made; what is stored into it goes to the memory too."""

    def __init__(self, addr, data):
        bytearray.__init__(self, data)
        self._uc_addr = addr

    def __setitem__(self, index, value):
        bytearray.__setitem__(self, index, value)
        _write(self._uc_addr, bytes(self))


_ByRef.__name__ = _ByRef.__qualname__ = 'bytearray'
_ByRef.__module__ = 'builtins'


def bytes_at(addr, size):
    """A copy of `size` bytes at `addr`."""
    return _read(addr, size)


def bytearray_at(addr, size):
    """A bytearray over `size` bytes at `addr`."""
    return _ByRef(addr, _read(addr, size))


class struct:
    """struct(addr, descriptor, layout=NATIVE): fields of the memory at addr."""
    __slots__ = ('_uc_addr', '_uc_desc', '_uc_layout')

    def __init__(self, addr, desc, layout=NATIVE):
        if not isinstance(addr, int):
            raise TypeError("can't convert %s to int" % type(addr).__name__)
        object.__setattr__(self, '_uc_addr', addr & 0xFFFFFFFF)
        object.__setattr__(self, '_uc_desc', desc)
        object.__setattr__(self, '_uc_layout', int(layout))

    def __repr__(self):
        desc = object.__getattribute__(self, '_uc_desc')
        kind = 'unk'
        if isinstance(desc, dict):
            kind = 'STRUCT'
        elif isinstance(desc, tuple):
            kind = {_PTR: 'PTR', _ARRAY: 'ARRAY'}.get(_agg_type(desc[0]), 'unk')
        else:
            kind = 'ERROR'
        return '<struct %s %x>' % (kind, object.__getattribute__(self, '_uc_addr'))

    def _uc_field(self, name, value=None, store=False):
        desc = object.__getattribute__(self, '_uc_desc')
        addr = object.__getattribute__(self, '_uc_addr')
        layout = object.__getattribute__(self, '_uc_layout')
        if not isinstance(desc, dict):
            raise TypeError('struct: no fields')
        field = desc[name]
        if type(field) is int:
            val_type = _val_type(field)
            offset = field & _VAL_MASK
            if val_type <= _INT64 or val_type in (_FLOAT32, _FLOAT64):
                if store:
                    return _set(val_type, addr + offset, _endian(layout), value)
                return _get(val_type, addr + offset, _endian(layout))
            bit_offset = (offset >> 17) & 31
            bit_len = (offset >> 22) & 31
            offset &= (1 << 17) - 1
            size = _scalar_size(val_type)
            order = 'big' if _endian(layout) == '>' else 'little'
            raw = int.from_bytes(_read(addr + offset, size), order)
            if layout != NATIVE and val_type & 1 and raw >> (8 * size - 1):
                raw |= (0xFFFFFFFF << (8 * size)) & 0xFFFFFFFF
            mask = (1 << bit_len) - 1
            if not store:
                return (raw >> bit_offset) & mask
            if not isinstance(value, int):
                raise TypeError("can't convert %s to int" % type(value).__name__)
            raw = (raw & ~(mask << bit_offset)) | ((value & mask) << bit_offset)
            order = 'big' if layout == BIG_ENDIAN else 'little'
            _write(addr + offset, (raw & ((1 << (8 * size)) - 1)).to_bytes(size, order))
            return None
        if not isinstance(field, tuple) or store:
            _syntax_error()
        agg = _agg_type(field[0])
        offset = field[0] & _AGG_MASK
        if agg == _STRUCT:
            return struct(addr + offset, field[1], layout)
        if agg == _ARRAY and len(field) == 2 and _val_type(field[1]) == _UINT8:
            n = _agg_size(field, layout, [0])
            return _ByRef(addr + offset, _read(addr + offset, n))
        return struct(addr + offset, field, layout)

    def __getattr__(self, name):
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)
        return self._uc_field(name)

    def __setattr__(self, name, value):
        self._uc_field(name, value, True)

    def _uc_element(self, index, value=None, store=False):
        desc = object.__getattribute__(self, '_uc_desc')
        addr = object.__getattribute__(self, '_uc_addr')
        layout = object.__getattribute__(self, '_uc_layout')
        if not isinstance(desc, tuple):
            raise TypeError('struct: cannot index')
        agg = _agg_type(desc[0])
        index = int(index)
        if agg == _ARRAY:
            count = desc[1]
            val_type = _val_type(count)
            count &= _VAL_MASK
            if index >= count:
                raise IndexError('struct: index out of range')
            if len(desc) == 2:
                if layout == NATIVE:
                    code = _CODES[val_type]
                    if code == '-':
                        _syntax_error()
                    at = addr + _ustruct.calcsize(code) * index
                else:
                    at = addr + (1 << (val_type >> 1)) * index
                if store:
                    return _set(val_type, at, _endian(layout), value)
                return _get(val_type, at, _endian(layout))
            if store:
                raise TypeError("'struct' object doesn't support item assignment")
            size = _size(desc[2], layout, [0])
            return struct(addr + size * index, desc[2], layout)
        if agg == _PTR:
            target = int.from_bytes(_read(addr, _PTR_SIZE), 'little')
            if type(desc[1]) is int:
                val_type = _val_type(desc[1])
                code = _CODES[val_type]
                if code == '-':
                    _syntax_error()
                at = target + _ustruct.calcsize(code) * index
                if store:
                    return _set(val_type, at, '<', value)
                return _get(val_type, at, '<')
            if store:
                raise TypeError("'struct' object doesn't support item assignment")
            size = _size(desc[1], layout, [0])
            return struct(target + size * index, desc[1], layout)
        raise TypeError('struct: cannot index')

    def __getitem__(self, index):
        return self._uc_element(index)

    def __setitem__(self, index, value):
        self._uc_element(index, value, True)

    def __delitem__(self, index):
        raise TypeError("'struct' object doesn't support item deletion")

    def __int__(self):
        desc = object.__getattribute__(self, '_uc_desc')
        if isinstance(desc, tuple) and _agg_type(desc[0]) == _PTR:
            addr = object.__getattribute__(self, '_uc_addr')
            return int.from_bytes(_read(addr, _PTR_SIZE), 'little')
        raise TypeError("can't convert struct to int")

    def __hash__(self):
        raise TypeError("unsupported type for __hash__: 'struct'")

    def _uc_bytes(self):
        addr = object.__getattribute__(self, '_uc_addr')
        size = _size(object.__getattribute__(self, '_uc_desc'),
                     object.__getattribute__(self, '_uc_layout'), [0])
        return _read(addr, size)

    def __bytes__(self):
        return self._uc_bytes()

    def __iter__(self):
        # bytearray(s) reads the struct's memory (its buffer protocol on the module).
        return iter(self._uc_bytes())


struct.__module__ = 'builtins'

import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

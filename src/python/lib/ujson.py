# ujson (also `json`): MicroPython's JSON (extmod/modujson.c) over RustPython's `_json` scanner.
#
# dumps() writes compact MicroPython text: ", " and ": " separators, non-ASCII characters as
# they are, tuples as lists; loads() takes str or bytes and raises ValueError on bad input.
import _json


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = {}

    @staticmethod
    def parse_constant(name):
        raise ValueError('syntax error in JSON')


_scan = _json.make_scanner(_Context())
_WS = ' \t\n\r'


class JSONDecodeError(ValueError):
    """What RustPython's scanner raises; loads() turns it into MicroPython's ValueError."""

    def __init__(self, msg, doc=None, pos=0):
        ValueError.__init__(self, msg)


def loads(s):
    if isinstance(s, (bytes, bytearray, memoryview)):
        s = str(bytes(s), 'utf-8')
    if not isinstance(s, str):
        raise TypeError("object with buffer protocol required")
    i = 0
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    try:
        obj, end = _scan(s, i)
    except (StopIteration, ValueError):
        raise ValueError('syntax error in JSON') from None
    while end < n and s[end] in _WS:
        end += 1
    if end != n:
        raise ValueError('syntax error in JSON')
    return obj


def load(stream):
    return loads(stream.read())


def _encode(obj, out):
    if obj is None:
        out.append('null')
    elif obj is True:
        out.append('true')
    elif obj is False:
        out.append('false')
    elif isinstance(obj, str):
        out.append(_json.encode_basestring(obj))
    elif isinstance(obj, bytes):
        # The firmware prints a bytes object as the JSON string of its bytes (str_print with
        # PRINT_JSON).
        out.append(_json.encode_basestring(''.join(map(chr, obj))))
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(float.__repr__(obj))
    elif isinstance(obj, (list, tuple)):
        out.append('[')
        first = True
        for item in obj:
            if not first:
                out.append(', ')
            first = False
            _encode(item, out)
        out.append(']')
    elif isinstance(obj, dict):
        out.append('{')
        first = True
        for key, value in obj.items():
            if not first:
                out.append(', ')
            first = False
            _encode(key if isinstance(key, str) else str(key), out)
            out.append(': ')
            _encode(value, out)
        out.append('}')
    else:
        raise TypeError('%r is not JSON serializable' % (obj,))


def dumps(obj):
    out = []
    _encode(obj, out)
    return ''.join(out)


def dump(obj, stream):
    stream.write(dumps(obj))

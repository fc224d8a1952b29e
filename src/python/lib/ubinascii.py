# ubinascii (also `binascii`): extmod/modubinascii.c over RustPython's `binascii`. Firmware 1.20
# builds it without MICROPY_PY_UBINASCII_CRC32, so there is no crc32().
import _pycom

_b = _pycom.native_module('binascii')


def hexlify(data, sep=None):
    if sep is None:
        return _b.hexlify(data)
    if isinstance(sep, str):
        sep = sep.encode()
    h = _b.hexlify(data)
    return bytes(sep).join(h[i:i + 2] for i in range(0, len(h), 2))


def unhexlify(data):
    try:
        return _b.unhexlify(data)
    except Exception:
        if len(data) % 2:
            raise ValueError('odd-length string') from None
        raise ValueError('non-hex digit found') from None


def a2b_base64(data):
    try:
        return _b.a2b_base64(data)
    except Exception:
        raise ValueError('incorrect padding') from None


def b2a_base64(data):
    return _b.b2a_base64(data)

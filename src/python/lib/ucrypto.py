# ucrypto (also `crypto`): esp32/mods/moducrypto.c of firmware 1.20.2. The arguments are
# parsed and checked here, in the firmware's order and words; the ciphers are native
# (`_ucrypto`, python/native_crypto.rs): AES with mbedTLS's chaining, RSA with PKCS#1 v1.5.
import _fs
import _ucrypto


def _buffer(obj):
    """mp_get_buffer_raise: str and anything with the buffer protocol."""
    if isinstance(obj, str):
        return obj.encode()
    try:
        return bytes(memoryview(obj))
    except TypeError:
        raise TypeError('object with buffer protocol required') from None


def _int(obj):
    """mp_obj_get_int."""
    if isinstance(obj, int):
        return int(obj)
    raise TypeError("can't convert %s to int" % type(obj).__name__)


def _text(obj):
    """mp_obj_str_get_str: str or bytes, else the firmware's implicit-conversion error."""
    if isinstance(obj, str):
        return obj.encode()
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj)
    raise TypeError("can't convert '%s' object to str implicitly" % type(obj).__name__)


class AES:
    """crypto.AES(key, mode=AES.MODE_ECB, IV=None, counter=None, segment_size=8)."""
    MODE_ECB = 1
    MODE_CBC = 2
    MODE_CFB = 3
    MODE_CTR = 6
    SEGMENT_8 = 8
    SEGMENT_128 = 128

    def __new__(cls, key, mode=1, IV=None, counter=None, segment_size=-1):
        key = _buffer(key)
        if len(key) not in (16, 24, 32):
            raise ValueError('AES key must be either 16, 24, or 32 bytes long')
        mode = _int(mode)
        if mode not in (1, 2, 3, 6):
            raise ValueError('Unknown cipher feedback mode %d' % mode)
        iv = bytes(16)
        if mode not in (1, 6) and IV is not None:
            iv = _buffer(IV)
            if len(iv) != 16:
                raise ValueError('IV must be 16 bytes long')
        if mode == 6:
            iv = _buffer(counter)
            if len(iv) != 16:
                raise ValueError('Initial counter value must be 16 bytes long')
        elif counter is not None:
            raise ValueError("'counter' parameter only useful with CTR mode")
        segment_size = _int(segment_size)
        segment = 8 if segment_size == -1 else segment_size
        if mode == 3 and segment not in (8, 128):
            raise ValueError('segment_size must be 8 or 128')
        return _ucrypto.aes(key, mode, iv, segment)


def getrandbits(bits):
    """Random bytes, the bit count rounded up to whole 32-bit words (esp_random())."""
    words = (_int(bits) + 31) >> 5
    return _fs.urandom(4 * words)


def generate_rsa_signature(message, private_key, *, pers=None):
    """The PKCS#1 v1.5 signature of SHA-256(message) with a PEM RSA private key."""
    message = _text(message)
    private_key = _text(private_key)
    if pers is not None:
        _text(pers)
    return _ucrypto.rsa_sign(message, private_key)


def rsa_encrypt(message, key):
    """`message` encrypted with a PEM RSA public key (PKCS#1 v1.5)."""
    key = _text(key)
    return _ucrypto.rsa_encrypt(_buffer(message), key)


def rsa_decrypt(message, key):
    """`message` decrypted with a PEM RSA private key (PKCS#1 v1.5)."""
    key = _text(key)
    return _ucrypto.rsa_decrypt(_buffer(message), key)


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

# ucrypto (also `crypto`): esp32/mods/moducrypto.c. pycom-sim has getrandbits(bits): random bytes,
# the bit count rounded up to whole 32-bit words, as the firmware draws them from esp_random().
# AES, generate_rsa_signature, rsa_encrypt and rsa_decrypt (mbedTLS on the module) are not here
# yet: `from crypto import AES` fails with ImportError, so guarded code can tell (see
# docs/differences.md).
import _fs


def getrandbits(bits):
    words = (int(bits) + 31) >> 5
    return _fs.urandom(4 * words)


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

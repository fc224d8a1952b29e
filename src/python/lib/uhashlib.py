# uhashlib (also `hashlib`): esp32/mods/moduhashlib.c — md5, sha1, sha224, sha256, sha384, sha512
# with update() and digest() (digest() ends the hash, as the firmware's mbedTLS context does).
import _hashlib


class _Hash:
    _name = None

    def __init__(self, data=None):
        self._h = _hashlib.new(self._name)
        self._done = False
        if data is not None:
            self.update(data)

    def update(self, data):
        if self._done:
            raise OSError('hash already finalised')
        if isinstance(data, str):
            data = data.encode()
        self._h.update(data)

    def digest(self):
        self._done = True
        return self._h.digest()


def _kind(name):
    return type(name, (_Hash,), {'_name': name})


md5 = _kind('md5')
sha1 = _kind('sha1')
sha224 = _kind('sha224')
sha256 = _kind('sha256')
sha384 = _kind('sha384')
sha512 = _kind('sha512')
del _kind

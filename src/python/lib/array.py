# array: py/modarray.c (firmware 1.20 registers it as `array`, with no u-name) over RustPython's
# native `array`, whose buffer protocol struct, files and uctypes need. The native module's
# start-up registers its type with `collections.abc.MutableSequence`; the firmware has no
# `collections`, so a stand-in answers that one call and is removed again.
import sys as _sys
import _pycom


class _AbcStandIn:
    class MutableSequence:
        @staticmethod
        def register(cls):
            return cls


_saved = {k: _sys.modules.get(k) for k in ('collections', 'collections.abc')}
_stand_in = type(_sys)('collections')
_stand_in.abc = _AbcStandIn
_sys.modules['collections'] = _stand_in
_sys.modules['collections.abc'] = _AbcStandIn
try:
    array = _pycom.native_module('array').array
finally:
    for _k, _v in _saved.items():
        if _v is None:
            _sys.modules.pop(_k, None)
        else:
            _sys.modules[_k] = _v

_sys.modules['array'] = None  # replaced by publish() below
import _pyboot  # noqa: E402
_pyboot.publish('array', globals())

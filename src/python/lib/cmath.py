# cmath: py/modcmath.c as firmware 1.20 builds it (no log10: MICROPY_PY_MATH_SPECIAL_FUNCTIONS
# is off), over RustPython's native functions.
import _pycom

_m = _pycom.native_module('cmath')
for _name in 'e pi phase polar rect exp log sqrt cos sin'.split():
    globals()[_name] = getattr(_m, _name)

import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

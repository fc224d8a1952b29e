# math: py/modmath.c as firmware 1.20 builds it (no MICROPY_PY_MATH_SPECIAL_FUNCTIONS, no
# factorial), with RustPython's native functions behind the firmware's names: dir(math) is the
# module's, so code that works here does not call a function the module lacks.
import _pycom

_m = _pycom.native_module('math')
for _name in ('e pi sqrt pow exp log cos sin tan acos asin atan atan2 ceil copysign fabs floor '
              'fmod frexp ldexp modf isfinite isinf isnan trunc radians degrees').split():
    globals()[_name] = getattr(_m, _name)

import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

# math: py/modmath.c as firmware 1.20 builds it (no MICROPY_PY_MATH_SPECIAL_FUNCTIONS, no
# factorial), with RustPython's native functions behind the firmware's names: dir(math) is the
# module's, so code that works here does not call a function the module lacks.
import _pycom

_m = _pycom.native_module('math')
for _name in ('e pi sqrt pow exp log cos sin tan acos asin atan atan2 ceil copysign fabs floor '
              'fmod frexp ldexp modf isfinite isinf isnan trunc radians degrees').split():
    globals()[_name] = getattr(_m, _name)


def _domain(native):
    """`native` with the firmware's error (modmath.c's math_error, `ValueError: math domain
    error`) for every value it cannot take, where RustPython names the value or, for a result
    too large, raises OverflowError."""
    def checked(*args):
        try:
            return native(*args)
        except (ValueError, OverflowError):
            raise ValueError('math domain error') from None
    checked.__name__ = native.__name__
    return checked


for _name in ('sqrt', 'log', 'exp', 'pow', 'acos', 'asin', 'fmod', 'cos', 'sin', 'tan'):
    globals()[_name] = _domain(getattr(_m, _name))

import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

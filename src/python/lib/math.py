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


for _name in ('sqrt', 'exp', 'pow', 'acos', 'asin', 'fmod', 'cos', 'sin', 'tan'):
    globals()[_name] = _domain(getattr(_m, _name))

_log = _m.log


def log(x, *base):
    """log(x[, base]) as modmath.c's mp_math_log: a domain error for x or base <= 0, and
    ZeroDivisionError for base 1."""
    if len(base) > 1:
        raise TypeError('function expected at most 2 arguments, got %d' % (1 + len(base)))
    x = _float(x)
    if x <= 0.0:
        raise ValueError('math domain error')
    value = _log(x)
    if not base:
        return value
    b = _float(base[0])
    if b <= 0.0:
        raise ValueError('math domain error')
    if b == 1.0:
        raise ZeroDivisionError('divide by zero')
    return value / _log(b)


def _float(obj):
    """mp_obj_get_float."""
    if isinstance(obj, (int, float)):
        return float(obj)
    raise TypeError("can't convert %s to float" % type(obj).__name__)


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

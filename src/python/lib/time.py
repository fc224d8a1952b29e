# utime (also `time`): Pycom firmware 1.20, esp32/mods/modutime.c.
#
# * Sleeps wait device time (_dev.sleep_us): free in virtual time; Ctrl-C and resets end them.
# * ticks_ms/ticks_us are the firmware's uint32 counters, read from the RTC (gettimeofday, as
#   esp32/hal/esp32_mphal.c does): they count from the boot and jump when the RTC is set. They
#   wrap at 2**32 and ticks_diff is the signed 32-bit difference (Pycom's modutime.c; upstream
#   MicroPython's 2**30 period does not apply to this firmware). ticks_cpu is the microseconds
#   since power-on (esp_timer), also as a uint32.
# * time() is seconds on the RTC, which starts at 1970-01-01 00:00:00 at every boot (not after
#   deep sleep). localtime/gmtime/mktime use 8-tuples
#   (year, month, mday, hour, minute, second, weekday 0=Monday, yearday 1..366).
import _dev
import _pycom
from _calendar import days_from_civil as _days_from_civil, civil_from_days as _civil_from_days

_MASK = 0xFFFFFFFF


def sleep(seconds):
    _dev.sleep_us(int(1000 * seconds) * 1000)


def sleep_ms(ms):
    _dev.sleep_us(int(ms) * 1000)


def sleep_us(us):
    _dev.sleep_us(int(us))


def ticks_ms():
    return (_pycom.rtc_us() // 1000) & _MASK


def ticks_us():
    return _pycom.rtc_us() & _MASK


def ticks_cpu():
    return _dev.ticks_us() & _MASK


def ticks_diff(end, start):
    d = (int(end) - int(start)) & _MASK
    return d - 0x100000000 if d & 0x80000000 else d


def ticks_add(ticks, delta):
    return (int(ticks) + int(delta)) & _MASK


def time():
    return _pycom.rtc_us() // 1000000


def timezone(*args):
    if len(args) > 1:
        raise TypeError('function takes at most 1 argument')
    if not args or args[0] is None:
        return _pycom.timezone()
    _pycom.timezone(int(args[0]))


def _tuple(seconds):
    days, rem = divmod(int(seconds), 86400)
    y, m, d = _civil_from_days(days)
    yday = days - _days_from_civil(y, 1, 1) + 1
    wday = (days + 3) % 7  # 1970-01-01 was a Thursday (3 with Monday = 0)
    return (y, m, d, rem // 3600, rem % 3600 // 60, rem % 60, wday, yday)


def gmtime(secs=None):
    if secs is None:
        secs = time()
    return _tuple(secs)


def localtime(secs=None):
    if secs is None:
        secs = time()
    return _tuple(int(secs) + _pycom.timezone())


def mktime(t):
    t = tuple(t)
    if len(t) < 8 or len(t) > 9:
        raise TypeError('mktime needs a tuple of length 8 or 9 (%d given)' % len(t))
    year, month, mday, hour, minute, second = (int(v) for v in t[:6])
    # timeutils_mktime normalises out-of-range fields the same way.
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    days = _days_from_civil(year, month, 1) + mday - 1
    return days * 86400 + hour * 3600 + minute * 60 + second - _pycom.timezone()


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

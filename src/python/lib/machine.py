# machine: the board's hardware (Pycom firmware 1.20, reference §12; esp32/mods/mach*.c).
#
# Hardware events (pin edges, timer alarms) reach Python through _pyboot.handlers, which the
# runtime calls at safe points. As on the module, handlers run one after another on an
# "interrupt thread": an uncaught exception in one prints "Unhandled exception in callback
# handler" and the traceback, and no handler runs again until the next soft reset.
import _dev
import _machine
import _pyboot

# ----- reset and wake ----------------------------------------------------------------------

PWRON_RESET = 0
HARD_RESET = 1
WDT_RESET = 2
DEEPSLEEP_RESET = 3
SOFT_RESET = 4
BROWN_OUT_RESET = 5

PWRON_WAKE = 0
PIN_WAKE = 1
RTC_WAKE = 2
ULP_WAKE = 3

WAKEUP_ALL_LOW = 0
WAKEUP_ANY_HIGH = 1

_INVALID = 'invalid argument(s) value'
_NOT_AVAILABLE = 'resource not available'

_machine.soft_init()

_BOARD_ID, _BOARD_NAME, _LORA, _SIGFOX, _LTE, _PSRAM = _machine.board()


def reset():
    """Hard reset through the TIMG0 watchdog, as the firmware does (nothing is printed)."""
    _dev.hard_reset(2)


def reset_cause():
    return _dev.reset_cause()


def wake_reason():
    reason, gpios = _machine.wake_reason()
    if reason != PIN_WAKE:
        return (reason, None)
    return (reason, [_BY_GPIO[g] for g in gpios if g in _BY_GPIO])


def remaining_sleep_time():
    return _machine.remaining_sleep_time()


def deepsleep(*args):
    """Sleeps (device time) until the timer or a wake pin, then resets with DEEPSLEEP_RESET."""
    if len(args) > 1:
        raise TypeError('function takes at most 1 argument')
    ms = int(args[0]) if args else None
    _machine.deepsleep(ms)
    _dev.hard_reset(3)


def sleep(*args):
    """Light sleep: the code pauses, then goes on."""
    if len(args) > 2:
        raise TypeError('function takes at most 2 arguments')
    _machine.light_sleep(int(args[0]) if args else None)


def pin_sleep_wakeup(pins, mode, enable_pull=False):
    if mode not in (WAKEUP_ALL_LOW, WAKEUP_ANY_HIGH):
        raise ValueError('invalid wakeup mode %d' % mode)
    gpios = []
    for p in pins:
        pin = _find(p)
        if pin._name not in _RTC_PINS:
            raise ValueError('deepsleep wake up is not supported on the selected pin(s)')
        gpios.append(pin._gpio)
    _machine.pin_sleep_wakeup(gpios, mode)


def freq():
    return 160000000


def unique_id():
    return bytes(_machine.unique_id())


def rng():
    return _machine.rng()


def idle():
    _machine.idle()


def main(filename):
    """The file to run instead of main.py (stored; unset again at every soft reset)."""
    if not isinstance(filename, str):
        raise TypeError('expecting a string file name')
    _machine.set_main(filename)


def temperature():
    """The die temperature sensor's raw reading (degrees Fahrenheit, roughly)."""
    return 129


def info():
    p = print
    p('---------------------------------------------')
    p('System memory info (in bytes)')
    p('---------------------------------------------')
    p('MPTask stack water mark: 6432')
    p('ServersTask stack water mark: 3156')
    if _LORA:
        p('LoRaTask stack water mark: 3552')
    if _SIGFOX:
        p('SigfoxTask stack water mark: 2452')
    p('TimerTask stack water mark: 2120')
    p('IdleTask stack water mark: 608')
    p('System free heap: %d' % (4079540 if _PSRAM else 97956))
    p('---------------------------------------------')


def flash_encrypt():
    return 0


def secure_boot():
    return 0


class _Mem:
    """mem8/mem16/mem32 (extmod/machine_mem.c): reads give 0 and writes go nowhere, since the
    device's Python reaches no memory; the address checks, repr and errors are the firmware's."""

    def __init__(self, width):
        self._width = width

    def _addr(self, addr):
        if not isinstance(addr, int):
            raise TypeError("can't convert %s to int" % type(addr).__name__)
        addr &= 0xFFFFFFFF
        if addr & (self._width - 1):
            raise ValueError('address %08x is not aligned to %d bytes' % (addr, self._width))
        return addr

    def __getitem__(self, addr):
        self._addr(addr)
        return 0

    def __setitem__(self, addr, value):
        self._addr(addr)

    def __delitem__(self, addr):
        raise TypeError("'mem' object doesn't support item deletion")

    def __repr__(self):
        return '<%d-bit memory>' % (8 * self._width)


mem8 = _Mem(1)
mem16 = _Mem(2)
mem32 = _Mem(4)

# ----- interrupts --------------------------------------------------------------------------

_irq_enabled = True
_irq_dead = False
_deferred = []


def _run_handler(handler, arg):
    global _irq_dead
    try:
        handler(arg)
    except SystemExit:
        pass
    except Exception as e:
        print('Unhandled exception in callback handler')
        _pyboot.print_exception(e)
        _irq_dead = True
        # Nothing a timer does can be seen any more: stop them rather than let virtual time
        # race through alarms nobody will handle.
        for alarm in _active_alarms.values():
            _dev.alarm_cancel(alarm._id)


def _irq(handler, arg):
    """Runs a user handler as the firmware's interrupt thread does."""
    if _irq_dead:
        return
    if not _irq_enabled:
        _deferred.append((handler, arg))
        return
    _run_handler(handler, arg)


def disable_irq():
    global _irq_enabled
    state = 0 if _irq_enabled else 1
    _irq_enabled = False
    return state


def enable_irq(state=0):
    global _irq_enabled
    if state:
        return
    _irq_enabled = True
    while _deferred and _irq_enabled and not _irq_dead:
        handler, arg = _deferred.pop(0)
        _run_handler(handler, arg)


# ----- Pin ---------------------------------------------------------------------------------

# (module name, expansion-board name, gpio, input only) for every pin of the board.
_PIN_LIST = _dev.pin_list()
_RTC_PINS = frozenset(['P2', 'P3', 'P4', 'P6', 'P8', 'P9', 'P10'] +
                      ['P%d' % n for n in range(13, 24)])
_MISSING = object()


def _find(ident):
    if isinstance(ident, Pin):
        return ident
    if isinstance(ident, str):
        pin = _BY_EXP.get(ident)
        if pin is None:
            pin = _BY_NAME.get(ident)
        if pin is not None:
            return pin
    raise ValueError(_INVALID)


def _check_mode(mode):
    if not isinstance(mode, int) or mode not in (Pin.IN, Pin.OUT, Pin.OPEN_DRAIN):
        raise ValueError(_INVALID)
    return mode


def _check_pull(pull):
    if pull is None:
        return None
    if not isinstance(pull, int) or pull not in (Pin.PULL_UP, Pin.PULL_DOWN):
        raise ValueError(_INVALID)
    return pull


class Pin:
    IN = 1
    OUT = 2
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2
    IRQ_LOW_LEVEL = 4
    IRQ_HIGH_LEVEL = 5

    def __new__(cls, id, *args, **kwargs):
        return _find(id)

    def __init__(self, id, mode=_MISSING, pull=None, *, value=None, alt=None):
        self.init(mode, pull, value=value, alt=alt)

    def _setup(self, name, exp, gpio, input_only):
        self._name = name
        self._exp = exp
        self._gpio = gpio
        self._input_only = input_only
        self._mode = Pin.IN
        self._pull = None
        self._value = 0
        self._alt = -1
        self._hold = False
        self._trigger = 0

    def init(self, mode=_MISSING, pull=None, *, value=None, alt=None):
        mode = Pin.IN if mode is _MISSING else _check_mode(mode)
        pull = _check_pull(pull)
        if alt is None:
            alt = -1
        elif not isinstance(alt, int) or alt > 255:
            raise ValueError(_INVALID)
        self._mode = mode
        self._pull = pull
        self._alt = alt
        if value is not None:
            self._value = 1 if value else 0
        # Configuring a pin clears its interrupt (pin_config: irq_trigger = DISABLE).
        self._trigger = 0
        _dev.pin_irq(self._gpio, 0)
        self._apply()

    def _apply(self):
        if self._hold:
            return
        if self._mode == Pin.OUT:
            output = bool(self._value)
        elif self._mode == Pin.OPEN_DRAIN:
            output = False if self._value == 0 else None
        else:
            output = None
        _dev.pin_config(self._gpio, self._pull or 0, output)

    def value(self, *args):
        if len(args) > 1:
            raise TypeError('function takes at most 2 arguments')
        if not args:
            if self._mode == Pin.OUT:
                return self._value
            return _dev.pin_level(self._gpio)
        self._value = 1 if args[0] else 0
        self._apply()

    def __call__(self, *args):
        return self.value(*args)

    def toggle(self):
        self._value = 0 if self._value else 1
        self._apply()

    def id(self):
        return self._name

    def mode(self, *args):
        if not args:
            return self._mode
        self._mode = _check_mode(args[0])
        self._apply()

    def pull(self, *args):
        if not args:
            return self._pull
        self._pull = _check_pull(args[0])
        self._apply()

    def hold(self, *args):
        if not args:
            return self._hold
        if self._name not in _RTC_PINS:
            raise OSError('the hold functionality is only available for GPIO pins in the RTC domain')
        held = bool(args[0])
        if self._hold and not held:
            self._hold = False
            self._apply()
        self._hold = held

    def callback(self, trigger=0, handler=None, arg=None):
        key = ('pin', self._gpio)
        if trigger and handler is not None:
            target = self if arg is None else arg
            _pyboot.handlers[key] = lambda level: _irq(handler, target)
            self._trigger = trigger
            _dev.pin_irq(self._gpio, trigger)
        else:
            _pyboot.handlers.pop(key, None)
            self._trigger = 0
            _dev.pin_irq(self._gpio, 0)

    def __repr__(self):
        mode = {Pin.IN: 'IN', Pin.OUT: 'OUT'}.get(self._mode, 'OPEN_DRAIN')
        if self._pull is None:
            pull = 'None'
        else:
            pull = 'Pin.PULL_UP' if self._pull == Pin.PULL_UP else 'Pin.PULL_DOWN'
        return "Pin('%s', mode=Pin.%s, pull=%s, alt=%d)" % (self._name, mode, pull, self._alt)


_BY_NAME = {}
_BY_EXP = {}
_BY_GPIO = {}
for _name, _exp, _gpio, _input_only in _PIN_LIST:
    _pin = object.__new__(Pin)
    _pin._setup(_name, _exp, _gpio, _input_only)
    _BY_NAME[_name] = _pin
    _BY_EXP[_exp] = _pin
    _BY_GPIO[_gpio] = _pin

Pin.module = type('cpu', (), dict(_BY_NAME))
Pin.exp_board = type('board', (), dict(_BY_EXP))


def _pin_init0():
    """Every pin becomes an input with pull-down at boot and soft reset, except UART0 (P0/P1),
    the RGB LED (P2), the antenna switch (P12, revision-1 boards) and the LTE modem's pins."""
    keep = {'P0', 'P1', 'P2'}
    if _PSRAM:
        keep.add('P12')
    if _BOARD_ID == 'fipy':
        keep.update(('P17', 'P18', 'P19', 'P20'))
    elif _BOARD_ID == 'gpy':
        keep.update(('P5', 'P6', 'P7'))
    for name, pin in _BY_NAME.items():
        if name in keep:
            continue
        pin._mode = Pin.IN
        pin._pull = Pin.PULL_DOWN
        pin._value = 0
        pin._apply()


_pin_init0()
del _name, _exp, _gpio, _input_only, _pin


def _init0():
    """What a soft reset does again when machine stays loaded (python/engine.rs): the state
    soft_init clears, and every pin back to its boot mode."""
    _machine.soft_init()
    _pin_init0()


_pyboot._soft_inits.append(_init0)

# ----- Timer -------------------------------------------------------------------------------

_ALARM_BASE = 1 << 40
_next_alarm = [0]
_active_alarms = {}
_MAX_ALARMS = 16


class _Alarm:
    def __init__(self, handler, s=None, *, ms=0, us=0, arg=None, periodic=False):
        secs = 0.0 if s is None else float(s)
        ms = int(ms)
        us = int(us)
        if (secs != 0) + (ms != 0) + (us != 0) != 1:
            raise ValueError('please provide a single duration')
        if secs < 0 or ms < 0 or us < 0:
            raise ValueError('please provide a positive number')
        self._interval = int(secs * 1000000 + 0.5) + ms * 1000 + us
        self._periodic = bool(periodic)
        _next_alarm[0] += 1
        self._id = _ALARM_BASE + _next_alarm[0]
        self._handler = None
        self._arg = self
        self._set(handler, arg)

    def _set(self, handler, arg):
        self._handler = handler
        self._arg = self if arg is None else arg
        if handler is None:
            self.cancel()
        elif self._id not in _active_alarms:
            if len(_active_alarms) >= _MAX_ALARMS:
                raise MemoryError('maximum number of %d alarms already reached' % _MAX_ALARMS)
            _active_alarms[self._id] = self
            _pyboot.handlers[('alarm', self._id)] = self._fire
            if not _irq_dead:
                _dev.alarm_start(self._id, self._interval, self._periodic)

    def _fire(self, level):
        if not self._periodic:
            _active_alarms.pop(self._id, None)
            _pyboot.handlers.pop(('alarm', self._id), None)
        if self._handler is not None:
            _irq(self._handler, self._arg)

    def callback(self, handler, *, arg=None):
        self._set(handler, arg)

    def cancel(self):
        if _active_alarms.pop(self._id, None) is not None:
            _dev.alarm_cancel(self._id)
        _pyboot.handlers.pop(('alarm', self._id), None)

    def __repr__(self):
        return '<Alarm>'


_Alarm.__name__ = 'Alarm'


class _Chrono:
    def __init__(self):
        self._total = 0
        self._started = None

    def start(self):
        if self._started is None:
            self._started = _dev.ticks_us()

    def stop(self):
        if self._started is not None:
            self._total += _dev.ticks_us() - self._started
            self._started = None

    def reset(self):
        self._total = 0
        if self._started is not None:
            self._started = _dev.ticks_us()

    def _us(self):
        if self._started is None:
            return self._total
        return self._total + _dev.ticks_us() - self._started

    def read(self):
        return self._us() / 1000000

    def read_ms(self):
        return self._us() / 1000

    def read_us(self):
        return float(self._us())


_Chrono.__name__ = 'Chrono'


def _sleep_us(us):
    _dev.sleep_us(int(us))


class Timer:
    Alarm = _Alarm
    Chrono = _Chrono
    sleep_us = staticmethod(_sleep_us)

    def __init__(self, *args, **kwargs):
        raise TypeError("cannot create 'Timer' instances")


# ----- RTC ---------------------------------------------------------------------------------

try:
    from _pycom import rtc_us as _rtc_us, rtc_set_us as _rtc_set_us
except ImportError:
    _rtc_zero = [0]

    def _rtc_us():
        return _dev.ticks_us() + _rtc_zero[0]

    def _rtc_set_us(us):
        _rtc_zero[0] = us - _dev.ticks_us()


# The calendar is time's (one implementation for RTC and localtime).
from _calendar import days_from_civil as _days_from_civil, civil_from_days as _civil_from_days  # noqa: E402,E501


class RTC:
    INTERNAL_RC = 0
    XTAL_32KHZ = 1
    _synced = False

    def __new__(cls, id=0, datetime=None, source=None):
        if id != 0:
            raise OSError(_NOT_AVAILABLE)
        inst = _RTC_INSTANCE[0]
        if inst is None:
            inst = object.__new__(cls)
            _RTC_INSTANCE[0] = inst
        return inst

    def __init__(self, id=0, datetime=None, source=None):
        if datetime is not None:
            self.init(datetime)

    def init(self, datetime=None, source=None):
        if datetime is None:
            return
        items = tuple(datetime)
        if len(items) < 3 or len(items) > 8:
            raise ValueError(_INVALID)
        year, month, day = int(items[0]), int(items[1]), int(items[2])
        hour = int(items[3]) if len(items) > 3 else 0
        minute = int(items[4]) if len(items) > 4 else 0
        second = int(items[5]) if len(items) > 5 else 0
        usec = int(items[6]) if len(items) > 6 else 0
        secs = (_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second)
        _rtc_set_us(secs * 1000000 + usec)

    def now(self):
        us = _rtc_us()
        secs, usec = divmod(us, 1000000)
        days, rem = divmod(secs, 86400)
        year, month, day = _civil_from_days(days)
        return (year, month, day, rem // 3600, rem // 60 % 60, rem % 60, usec, None)

    def ntp_sync(self, server, update_period=3600, backup_server=None):
        """Starts SNTP: with no network nothing ever answers, so synced() stays False."""
        if update_period * 1000 < 15000:
            raise ValueError('update period cannot be shorter than 15 s')
        RTC._synced = False

    def synced(self):
        return RTC._synced

    def memory(self, *args):
        if not args:
            return bytes(_machine.rtc_memory())
        _machine.rtc_memory(args[0])


_RTC_INSTANCE = [None]

# ----- WDT ---------------------------------------------------------------------------------

_WDT_ALARM = 1 << 41


def _wdt_expired(level):
    _dev.hard_reset(2)


class WDT:
    """The TIMG0 watchdog: not fed within `timeout` ms, it resets the chip (WDT_RESET)."""

    def __new__(cls, id=0, timeout=None):
        if id != 0:
            raise OSError(_NOT_AVAILABLE)
        inst = _WDT_INSTANCE[0]
        if inst is None:
            inst = object.__new__(cls)
            inst._timeout = 1
            _WDT_INSTANCE[0] = inst
        return inst

    def __init__(self, id=0, timeout=None):
        if timeout is None:
            raise TypeError("'timeout' argument required")
        self.init(timeout)

    def init(self, timeout):
        self._timeout = max(int(timeout), 1)
        _pyboot.handlers[('alarm', _WDT_ALARM)] = _wdt_expired
        self.feed()

    def feed(self):
        _dev.alarm_start(_WDT_ALARM, self._timeout * 1000, False)


_WDT_INSTANCE = [None]
# The handler is this interpreter's; should the watchdog outlive a soft reset (as the hardware
# one does), it still bites.
_pyboot.handlers[('alarm', _WDT_ALARM)] = _wdt_expired

# ----- UART --------------------------------------------------------------------------------


class UART:
    EVEN = 2
    ODD = 3

    def __new__(cls, bus, *args, **kwargs):
        bus = int(bus)
        if bus < 0 or bus > (1 if _LTE else 2):
            raise OSError(_NOT_AVAILABLE)
        inst = _UARTS.get(bus)
        if inst is None:
            inst = object.__new__(cls)
            inst._bus = bus
            inst._baudrate = 0
            inst._bits = 8
            inst._parity = None
            inst._stop = 1
            _UARTS[bus] = inst
        return inst

    def __init__(self, bus, *args, **kwargs):
        self.init(*args, **kwargs)

    def init(self, baudrate=9600, bits=8, parity=None, stop=1, *, pins=None, timeout_chars=2,
             rx_buffer_size=512):
        if not isinstance(baudrate, int) or baudrate <= 0:
            raise ValueError(_INVALID)
        if bits not in (5, 6, 7, 8):
            raise ValueError('invalid bits size %d' % bits)
        if parity not in (None, UART.EVEN, UART.ODD):
            raise ValueError('invalid parity %d' % parity)
        if stop is None:
            stop = 1
        if stop not in (1, 1.5, 2):
            raise ValueError('invalid stop bits %f' % stop)
        if rx_buffer_size <= 128:
            raise ValueError('invalid RX buffer size, should be > 128 bytes')
        self._baudrate = baudrate
        self._bits = bits
        self._parity = parity
        self._stop = stop
        if self._bus == 0:
            _machine.uart0_enable(True)

    def deinit(self):
        self._baudrate = 0
        if self._bus == 0:
            _machine.uart0_enable(False)

    def _check(self):
        if self._baudrate <= 0:
            raise OSError('UART not Initialized!')

    def any(self):
        self._check()
        return _machine.uart0_any() if self._bus == 0 else 0

    def read(self, nbytes=-1):
        self._check()
        data = _machine.uart0_read(-1 if nbytes is None else nbytes, False) if self._bus == 0 else b''
        return bytes(data) if data else None

    def readline(self):
        self._check()
        data = _machine.uart0_read(-1, True) if self._bus == 0 else b''
        return bytes(data) if data else None

    def readinto(self, buf, nbytes=-1):
        self._check()
        n = len(buf) if nbytes is None or nbytes < 0 else min(nbytes, len(buf))
        data = _machine.uart0_read(n, False) if self._bus == 0 else b''
        if not data:
            return None
        buf[:len(data)] = data
        return len(data)

    def write(self, buf):
        self._check()
        if isinstance(buf, str):
            buf = buf.encode()
        if self._bus == 0:
            return _machine.uart0_write(buf)
        return len(buf)

    def sendbreak(self, bits=13):
        self._check()

    def wait_tx_done(self, timeout_ms):
        self._check()
        return True

    def __repr__(self):
        self._check()
        parity = 'None' if self._parity is None else (
            'UART.EVEN' if self._parity == UART.EVEN else 'UART.ODD')
        stop = '1.5' if self._stop == 1.5 else str(int(self._stop))
        return 'UART(%d, baudrate=%d, bits=%d, parity=%s, stop=%s)' % (
            self._bus, self._baudrate, self._bits, parity, stop)


_UARTS = {}

# ----- SD ----------------------------------------------------------------------------------


class SD:
    """The SD card (the host directory given with --sd); mount it with os.mount(sd, '/sd')."""
    _pycom_sd = True

    def __init__(self, id=0, *args, **kwargs):
        if id != 0:
            raise OSError(_NOT_AVAILABLE)

    def init(self, id=0):
        pass

    def deinit(self):
        pass


# ----- peripherals with nothing attached ---------------------------------------------------
# The simulated board has nothing on its buses: these exist so that code written for the module
# imports and runs; reads see idle lines and writes go nowhere.


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    _CHANNELS = {'P13': 0, 'P14': 1, 'P15': 2, 'P16': 3, 'P17': 7, 'P18': 6, 'P19': 4,
                 'P20': 5}
    _FULL_SCALE_MV = (1100, 1500, 2200, 3900)

    def __init__(self, id=0, *, bits=12):
        if id != 0:
            raise OSError(_NOT_AVAILABLE)
        if bits not in (9, 10, 11, 12):
            raise ValueError(_INVALID)
        self._bits = bits
        self._vref = 1100

    def init(self, *, bits=12):
        self._bits = bits

    def deinit(self):
        pass

    def vref(self, vref=None):
        if vref is None:
            return self._vref
        self._vref = int(vref)

    def vref_to_pin(self, pin):
        _find(pin)

    def channel(self, *, pin, attn=0):
        pin = _find(pin)
        if pin._name not in ADC._CHANNELS or attn not in (0, 1, 2, 3):
            raise ValueError(_INVALID)
        return _ADCChannel(self, pin, attn)


class _ADCChannel:
    def __init__(self, adc, pin, attn):
        self._adc = adc
        self._pin = pin
        self._attn = attn

    def init(self):
        pass

    def deinit(self):
        pass

    def value(self):
        """A pad pulled or driven high reads full scale, a low one zero."""
        return ((1 << self._adc._bits) - 1) if _dev.pin_level(self._pin._gpio) else 0

    def __call__(self):
        return self.value()

    def voltage(self):
        return self.value_to_voltage(self.value())

    def value_to_voltage(self, value):
        full = ADC._FULL_SCALE_MV[self._attn]
        return int(value * full // ((1 << self._adc._bits) - 1))

    def __repr__(self):
        return 'ADCChannel(%d, pin=%s)' % (ADC._CHANNELS[self._pin._name], self._pin._name)


_ADCChannel.__name__ = 'ADCChannel'


class DAC:
    def __init__(self, pin):
        pin = _find(pin)
        if pin._name not in ('P21', 'P22'):
            raise ValueError(_INVALID)
        self._pin = pin

    def init(self):
        pass

    def deinit(self):
        pass

    def write(self, value):
        if not 0 <= value <= 1:
            raise ValueError(_INVALID)

    def tone(self, frequency, amplitude):
        pass


class I2C:
    MASTER = 0

    def __init__(self, bus=0, mode=0, *, baudrate=100000, pins=None):
        self._bus = bus

    def init(self, mode=0, *, baudrate=100000, pins=None):
        pass

    def deinit(self):
        pass

    def scan(self):
        return []

    def _nack(self, *args, **kwargs):
        raise OSError('I2C bus error')

    readfrom = readfrom_into = writeto = readfrom_mem = readfrom_mem_into = writeto_mem = _nack


class SPI:
    MASTER = 0
    MSB = 0
    LSB = 1

    def __init__(self, id=0, mode=0, **kwargs):
        if id != 0:
            raise OSError(_NOT_AVAILABLE)

    def init(self, mode=0, **kwargs):
        pass

    def deinit(self):
        pass

    def write(self, data):
        return len(data)

    def read(self, nbytes, *, write=0):
        return bytes(nbytes)

    def readinto(self, buf, *, write=0):
        for i in range(len(buf)):
            buf[i] = 0
        return len(buf)

    def write_readinto(self, write_buf, read_buf):
        return self.readinto(read_buf)


class PWM:
    def __init__(self, timer, frequency):
        if not 0 <= timer <= 3:
            raise ValueError(_INVALID)
        self._frequency = frequency

    def channel(self, id, pin=None, *, duty_cycle=0.5):
        return _PWMChannel(id, pin, duty_cycle)


class _PWMChannel:
    def __init__(self, id, pin, duty_cycle):
        self._id = id
        self._pin = None if pin is None else _find(pin)
        self._duty = duty_cycle

    def duty_cycle(self, value):
        self._duty = value


_PWMChannel.__name__ = 'PWMChannel'


class CAN:
    NORMAL = 0
    SILENT = 1
    FORMAT_STD = 0
    FORMAT_EXT = 1
    FORMAT_BOTH = 2
    RX_FRAME = 1
    RX_FIFO_NOT_EMPTY = 2
    RX_FIFO_OVERRUN = 4
    FILTER_LIST = 0
    FILTER_RANGE = 1
    FILTER_MASK = 2

    def __init__(self, bus=0, mode=0, baudrate=500000, **kwargs):
        if bus != 0:
            raise OSError(_NOT_AVAILABLE)

    def init(self, *args, **kwargs):
        pass

    def deinit(self):
        pass

    def send(self, id, *, data=None, rtr=False, extended=False):
        pass

    def recv(self, timeout=0):
        return None

    def soft_filter(self, mode, filter_list):
        pass

    def callback(self, *, handler=None, trigger=None, arg=None):
        pass

    def events(self):
        return 0


class RMT:
    LOW = 0
    HIGH = 1

    def __init__(self, channel, **kwargs):
        self._channel = channel

    def init(self, **kwargs):
        pass

    def deinit(self):
        pass

    def pulses_get(self, pulses=None, timeout=None):
        return ()

    def pulses_send(self, duration, data=None, start_level=None, duration_zero=None,
                    duration_one=None):
        pass


class Touch:
    def __init__(self, pin=None):
        self._pin = None if pin is None else _find(pin)
        self._threshold = 0

    def read(self):
        """An untouched pad."""
        return 1200

    def config(self, value):
        pass

    def init_value(self, value=None):
        if value is None:
            return 1200

    def init(self):
        pass


# ----- the module users see ----------------------------------------------------------------
# Only the names the firmware's module has (dir(machine) lists what the docs list); the
# helpers above stay reachable from the functions that use them.

_pyboot.publish(__name__, globals())

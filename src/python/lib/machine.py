# machine: the board's hardware (Pycom firmware 1.20, reference §12).
import _dev
import _pyboot

PWRON_RESET = 0
HARD_RESET = 1
WDT_RESET = 2
DEEPSLEEP_RESET = 3
SOFT_RESET = 4
BROWN_OUT_RESET = 5


def reset():
    """Hard reset through the TIMG0 watchdog, as the firmware does."""
    raise _pyboot.HardReset(2)


def reset_cause():
    return _dev.reset_cause()


class UART:
    def __init__(self, bus, baudrate=115200, *args, **kwargs):
        self._bus = bus
        self.baudrate = baudrate

    def __repr__(self):
        return 'UART(%d, baudrate=%d, bits=8, parity=None, stop=1)' % (self._bus, self.baudrate)

# pycom: the Pycom-specific module (firmware 1.20, reference §15, esp32/mods/modpycom.c).
#
# Everything is built inside _build() so that dir(pycom) shows the firmware's names only.
# Simulator notes (what differs from the module, on purpose):
# * pulses_get(pin, timeout) waits `timeout` ms and returns [] (no RMT capture is modelled).
# * wifi_on_boot(on, apply_now=True) stores the flag but does not start or stop WiFi now.
# * get_free_heap() returns fixed, plausible figures (no C heap is modelled).
# * nvs_* keep their data in the nvs partition in pycom-sim's own format (native_pycom.rs).


def _build():
    import _pycom
    import _dev

    not_possible = 'the requested operation is not possible'
    failed = 'the requested operation failed'
    missing = object()
    state = {'rgb': 0}

    def _is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    # ----- LED ------------------------------------------------------------------------

    def heartbeat(*args):
        if len(args) > 1:
            raise TypeError('function takes at most 1 argument')
        if not args:
            return _pycom.heartbeat()
        _pycom.heartbeat(bool(args[0]))

    def rgbled(*args):
        if len(args) > 1:
            raise TypeError('function takes at most 1 argument')
        if _pycom.heartbeat():
            raise OSError(not_possible)
        if not args:
            return state['rgb']
        colour = args[0]
        if not _is_int(colour) and not isinstance(colour, bool):
            raise TypeError("can't convert %s to int" % type(colour).__name__)
        colour = int(colour) & 0xFFFFFFFF
        state['rgb'] = colour
        _pycom.show(colour & 0xFFFFFF)

    def heartbeat_on_boot(*args):
        if len(args) > 1:
            raise TypeError('function takes at most 1 argument')
        if not args:
            return _pycom.heartbeat_on_boot()
        _pycom.heartbeat_on_boot(bool(args[0]))

    # ----- NVS ------------------------------------------------------------------------

    def _key(key):
        if isinstance(key, (bytes, bytearray)):
            return str(key, 'utf-8')
        if not isinstance(key, str):
            raise TypeError("can't convert '%s' object to str implicitly" % type(key).__name__)
        return key

    def nvs_set(key, value):
        key = _key(key)
        if isinstance(value, (str, bytes)):
            data = value.encode() if isinstance(value, str) else bytes(value)
            # The firmware stores a C string: it ends at the first NUL.
            nul = data.find(b'\x00')
            if nul >= 0:
                data = data[:nul]
            if len(data) >= 1984:
                raise ValueError('value too long (max: 1984)')
            code = _pycom.nvs_write(key, 2, data)
        elif _is_int(value):
            code = _pycom.nvs_write(key, 1, (value & 0xFFFFFFFF).to_bytes(4, 'little'))
        else:
            raise ValueError('Value must be string, bytes or integer')
        if code == 1:
            raise OSError('No free space available')
        if code == 2:
            raise ValueError('Key is too long')

    def nvs_get(key, *default):
        if len(default) > 1:
            raise TypeError('function takes at most 2 arguments')
        found = _pycom.nvs_read(_key(key))
        if found is None:
            if default:
                return default[0]
            raise ValueError('No matching object for the provided key')
        kind, data = found
        if kind == 1:
            v = int.from_bytes(data, 'little')
            # mp_obj_new_int of a uint32_t on a 32-bit port: read back as signed.
            return v - (1 << 32) if v >= (1 << 31) else v
        return _pycom.lossy_str(data)

    def nvs_erase(key):
        if not _pycom.nvs_remove(_key(key)):
            raise KeyError('key not found')

    def nvs_erase_all():
        _pycom.nvs_clear()

    # ----- config block ---------------------------------------------------------------

    def _byte(offset):
        return _pycom.config_read(offset, 1)[0]

    def _flag(offset, bit, args, name='function'):
        if len(args) > 1:
            raise TypeError('function takes at most 1 argument')
        b = _byte(offset)
        if not args:
            return bool((b >> bit) & 1)
        new = (b & ~(1 << bit)) | (int(bool(args[0])) << bit)
        if new != b:
            _pycom.config_write(offset, bytes([new & 0xFF]))

    def _cstr(offset, size):
        raw = _pycom.config_read(offset, size)
        if raw[0] == 0xFF:
            return None
        end = raw.find(b'\x00')
        return str(raw if end < 0 else raw[:end], 'utf-8')

    def _set_cstr(offset, size, args):
        if len(args) > 1:
            raise TypeError('function takes at most 1 argument')
        if not args:
            return _cstr(offset, size)
        v = args[0]
        if v is None:
            _pycom.config_write(offset, b'\xff' * size)
        elif isinstance(v, str):
            data = v.encode()[:size - 1] + b'\x00'
            _pycom.config_write(offset, data + b'\x00' * (size - len(data)))

    def wifi_on_boot(*args):
        if len(args) > 2:
            raise TypeError('function takes at most 2 arguments')
        return _flag(53, 0, args[:1])

    def wifi_mode_on_boot(*args):
        if len(args) > 1:
            raise TypeError('function takes at most 1 argument')
        b = _byte(53)
        stored = (b >> 1) & 3
        if not args:
            return {0: 1, 1: 2, 2: 3}.get(stored, 0)
        mode = {0: 3, 1: 0, 2: 1, 3: 2}.get(int(args[0]))
        if mode is not None and mode != stored:
            _pycom.config_write(53, bytes([(b & ~0x06) | (mode << 1)]))

    def wifi_ssid_sta(*args):
        return _set_cstr(54, 33, args)

    def wifi_pwd_sta(*args):
        return _set_cstr(87, 65, args)

    def wifi_ssid_ap(*args):
        return _set_cstr(536, 33, args)

    def wifi_pwd_ap(*args):
        return _set_cstr(569, 65, args)

    def wdt_on_boot(*args):
        if len(args) > 1:
            raise TypeError('function takes at most 1 argument')
        if not args:
            return _byte(512) != 0
        new = 1 if args[0] else 0
        if new != _byte(512):
            _pycom.config_write(512, bytes([new]))

    def wdt_on_boot_timeout(*args):
        if len(args) > 1:
            raise TypeError('function takes at most 1 argument')
        if not args:
            return int.from_bytes(_pycom.config_read(516, 4), 'little')
        ms = int(args[0]) & 0xFFFFFFFF
        if ms < 5000:
            raise ValueError('WDT on boot timeout must be >= 5000 ms')
        _pycom.config_write(516, ms.to_bytes(4, 'little'))

    def lte_modem_en_on_boot(*args):
        if len(args) > 1:
            raise TypeError('function takes at most 1 argument')
        if not args:
            return _byte(520) != 0
        new = 1 if args[0] else 0
        if new != _byte(520):
            _pycom.config_write(520, bytes([new]))

    def get_free_heap():
        if _pycom.board_has('psram'):
            return (98304, 1498624)
        return (98304, 'NO_EXT_RAM')

    def pulses_get(pin, timeout):
        _dev.sleep_us(max(0, int(timeout)) * 1000)
        return []

    def _hex_nibble(c):
        if '0' <= c <= '9':
            return ord(c) - 48
        if 'a' <= c.lower() <= 'f':
            return ord(c.lower()) - 87
        return 16

    def create_128bit_le_uuid_from_string(s):
        if isinstance(s, (bytes, bytearray)):
            s = str(s, 'utf-8')
        if len(s) > 32:
            raise ValueError('Input string must not be longer than 32 characters!')
        s = s + '\x00' * (32 - len(s))
        out = bytearray(16)
        for j in range(16):
            hi, lo = s[2 * j], s[2 * j + 1]
            upper = _hex_nibble(hi) if hi != '\x00' else 0
            lower = _hex_nibble(lo) if lo != '\x00' else 0
            if upper == 16 or lower == 16:
                raise ValueError('UUID must only contain hexadecimal digits!')
            out[15 - j] = lower | (upper << 4)
        return out

    def sigfox_info(*, id=None, pac=None, public_key=None, private_key=None, force=False):
        fields = (
            ('id', id, 8, 4, 'ID must have length of 8!', 'ID'),
            ('pac', pac, 12, 8, 'PAC must have length of 16!', 'PAC'),
            ('public key', public_key, 36, 16, 'Public Key must have length of 32!',
             'Public Key'),
            ('private key', private_key, 20, 16, 'Private Key must have length of 32',
             'Private Key'),
        )
        if id is None and pac is None and public_key is None and private_key is None:
            for _, _, offset, size, _, _ in fields:
                if _pycom.config_read(offset, size) == b'\xff' * size:
                    return False
            return True
        for name, value, offset, size, length_msg, label in fields:
            if value is None:
                continue
            if not force and _pycom.config_read(offset, size) != b'\xff' * size:
                raise ValueError('Use force option to overwrite existing %s!' % name)
            text = str(value, 'utf-8') if isinstance(value, (bytes, bytearray)) else value
            if len(text) != 2 * size:
                raise ValueError(length_msg)
            data = bytearray(size)
            for j in range(size):
                upper, lower = _hex_nibble(text[2 * j]), _hex_nibble(text[2 * j + 1])
                if upper == 16 or lower == 16:
                    raise ValueError('%s must only contain hexadecimal digits!' % label)
                data[j] = lower | (upper << 4)
            _pycom.config_write(offset, bytes(data))
        return True

    # ----- OTA and the boot manager ---------------------------------------------------

    def ota_start():
        _pycom.ota_start()

    def ota_write(buf):
        _pycom.ota_write(buf)

    def ota_finish():
        kind = _pycom.ota_finish()
        if kind == 'full':
            print('Full Update Image detected. Restart the device to load the new firmware.')
        elif kind == 'delta':
            print('Differential Update Image detected. This feature is disabled in the build. '
                  'Enable DIFF_UPDATE_ENABLED in the build to use it.')
            raise OSError(failed)

    def ota_verify():
        return _pycom.ota_verify()

    def ota_slot():
        return _pycom.ota_slot()

    def diff_update_enabled():
        return False

    def _uint(v):
        if isinstance(v, bool):
            return int(v)
        if not isinstance(v, int):
            raise TypeError("can't convert %s to int" % type(v).__name__)
        return v

    def bootmgr(*args, boot_partition=255, fs_type=255, safeboot=255, reset=False):
        if args:
            raise TypeError('function does not take positional arguments')
        boot_partition = _uint(boot_partition) & 0xFF
        fs_type = _uint(fs_type) & 0xFF
        safeboot = _uint(safeboot) & 0xFF
        if boot_partition == 255 and fs_type == 255 and safeboot == 255:
            active, status, _prev, _size, safe = _pycom.boot_record()
            return (
                'Factory' if active == 0 else 'ota_0',
                'FAT' if _byte(533) == 0 else 'LittleFS',
                'SafeBoot: False' if safe == 0 else 'SafeBoot: True',
                {0: 'Status: Check', 1: 'Status: Ready', 2: 'Status: Patch'}.get(status),
            )
        # The firmware checks the partition, then safeboot, then the fs type, and writes only
        # when all three are acceptable.
        _pycom.bootmgr_update(boot_partition, safeboot, False)
        if fs_type != 255 and fs_type > 1:
            raise ValueError('Error invalid filesystem type!')
        # config_get_boot_fs_type(): an erased byte reads as LittleFS, so asking for LittleFS
        # on an erased config changes nothing (and resets nothing).
        current = 1 if _byte(533) == 0xFF else _byte(533)
        fs_changed = fs_type != 255 and current != fs_type
        if fs_changed:
            _pycom.config_write(533, bytes([fs_type]))
        switched, safe_changed = _pycom.bootmgr_update(boot_partition, safeboot, True)
        if switched:
            _dev.hard_reset(2)
        if (fs_changed or safe_changed) and reset:
            _dev.hard_reset(2)

    names = dict(locals())
    public = {}
    for name in ('heartbeat', 'rgbled', 'ota_start', 'ota_write', 'ota_finish', 'ota_verify',
                 'ota_slot', 'diff_update_enabled', 'pulses_get', 'nvs_set', 'nvs_get',
                 'nvs_erase', 'nvs_erase_all', 'wifi_on_boot', 'wdt_on_boot',
                 'wdt_on_boot_timeout', 'heartbeat_on_boot', 'lte_modem_en_on_boot',
                 'get_free_heap', 'wifi_ssid_sta', 'wifi_ssid_ap', 'wifi_pwd_sta', 'wifi_pwd_ap',
                 'wifi_mode_on_boot', 'create_128bit_le_uuid_from_string', 'bootmgr'):
        public[name] = names[name]
    if _pycom.board_has('sigfox'):
        public['sigfox_info'] = sigfox_info
    public.update(FACTORY=0, OTA_0=1, FAT=0, LittleFS=1)
    return public


globals().update(_build())
del _build

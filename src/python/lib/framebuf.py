# framebuf: MicroPython 1.11's extmod/modframebuf.c, which firmware 1.20.2 builds
# (MICROPY_PY_FRAMEBUF). A FrameBuffer draws into the buffer object it is given (a bytearray,
# array or memoryview), byte for byte as the module does, so a display driver's writes of that
# buffer carry the same pixels.
#
# text() draws with the 8x8 font MicroPython uses (font_petme128_8x8, MIT licence, (c) 2013-2014
# Damien P. George): 96 glyphs, ' ' to 127, 8 column bytes each, least significant bit at top.

MVLSB = MONO_VLSB = 0
RGB565 = 1
GS4_HMSB = 2
MONO_HLSB = 3
MONO_HMSB = 4
GS2_HMSB = 5
GS8 = 6

_FONT = bytes.fromhex(
    '00000000000000000000004f4f0000000007070000070700147f7f14147f7f14'
    '00242e6b6b3a1200006333180c66630000327f4d4d7772500000000406030100'
    '00001c3e63410000000041633e1c0000082a3e1c1c3e2a080008083e3e080800'
    '000080e0600000000008080808080800000000606000000000406030180c0602'
    '003e7f49457f3e000040447f7f40400000627351494f460000226349497f3600'
    '00181814167f7f1000276745457d3900003e7f49497b3200000303797d070300'
    '00367f49497f360000266f49497f3e000000002424000000000080e464000000'
    '00081c3663414100001414141414140000414163361c080000020351590f0600'
    '003e7f414d4f2e00007c7e0b0b7e7c00007f7f49497f3600003e7f4141632200'
    '007f7f41633e1c00007f7f4949414100007f7f0909010100003e7f41497b3a00'
    '007f7f08087f7f000000417f7f410000002060417f3f0100007f7f1c36634100'
    '007f7f4040404000007f7f060c067f7f007f7f0e1c7f7f00003e7f41417f3e00'
    '007f7f09090f0600001e3f21617f5e00007f7f19396f460000266f49497b3200'
    '0001017f7f010100003f7f40407f3f00001f3f60603f1f00007f7f3018307f7f'
    '0063771c1c77630000070f78780f0700006171594d47430000007f7f41410000'
    '0002060c18306040000041417f7f000000080c06060c0800c0c0c0c0c0c0c0c0'
    '000001030604000000207454547c7800007f7f44447c380000387c44446c2800'
    '00387c44447f7f0000387c54545c580000087e7f090302000098bca4a4fc7c00'
    '007f7f04047c78000000007d7d0000000040c08080fd7d00007f7f30386c4400'
    '0000417f7f400000007c7c1830187c7c007c7c04047c780000387c44447c3800'
    '00fcfc24243c180000183c2424fcfc00007c7c04040c080000485c5454742000'
    '04043f7f44642000003c7c40407c3c00001c3c60603c1c00001c7c3018307c1c'
    '00446c38386c4400009cbca0a0fc7c00004464745c4c44000008083e77414100'
    '000000ffff000000004141773e0808000002030103020301aa55aa55aa55aa55')


def _int(obj):
    """mp_obj_get_int."""
    if isinstance(obj, int):
        return int(obj)
    raise TypeError("can't convert %s to int" % type(obj).__name__)


def _writable(buf):
    """mp_get_buffer_raise(MP_BUFFER_WRITE): the bytes of a writable buffer."""
    try:
        view = memoryview(buf)
    except TypeError:
        raise TypeError('object with buffer protocol required') from None
    if view.readonly:
        raise TypeError('object with buffer protocol required')
    return view.cast('B') if view.format != 'B' or view.ndim != 1 else view


class _Padded:
    """A FrameBuffer's bytes and, past their end, the bytes after them (kept per FrameBuffer)."""

    def __init__(self, fb):
        self.buf = fb._buf
        self.tail = fb._tail

    def __getitem__(self, i):
        if 0 <= i < len(self.buf):
            return self.buf[i]
        return self.tail.get(i, 0)

    def __setitem__(self, i, v):
        if 0 <= i < len(self.buf):
            self.buf[i] = v
        else:
            self.tail[i] = v


class FrameBuffer:
    """FrameBuffer(buffer, width, height, format, stride=width)."""

    def __init__(self, buf, width, height, format, stride=None):
        self._buf_obj = buf
        self._buf = _writable(buf)
        self._tail = {}
        self.__w = _int(width) & 0xFFFF
        self.__h = _int(height) & 0xFFFF
        fmt = _int(format) & 0xFF
        stride = self.__w if stride is None else _int(stride) & 0xFFFF
        if fmt in (MONO_HLSB, MONO_HMSB):
            stride = (stride + 7) & ~7
        elif fmt == GS2_HMSB:
            stride = (stride + 3) & ~3
        elif fmt == GS4_HMSB:
            stride = (stride + 1) & ~1
        elif fmt not in (MVLSB, RGB565, GS8):
            raise ValueError('invalid format')
        self.__fmt = fmt
        self.__stride = stride & 0xFFFF

    def _set(self, x, y, col, b=None):
        if b is None:
            try:
                return self._set(x, y, col, self._buf)
            except IndexError:
                # Past the buffer's end: the module writes on into the heap block's tail.
                return self._set(x, y, col, _Padded(self))
        fmt = self.__fmt
        if fmt == MVLSB:
            i = (y >> 3) * self.__stride + x
            bit = 1 << (y & 7)
            b[i] = (b[i] | bit) if col & 0xFFFFFFFF else (b[i] & ~bit & 0xFF)
        elif fmt == RGB565:
            i = 2 * (x + y * self.__stride)
            b[i] = col & 0xFF
            b[i + 1] = (col >> 8) & 0xFF
        elif fmt == GS8:
            b[x + y * self.__stride] = col & 0xFF
        elif fmt == GS4_HMSB:
            i = (x + y * self.__stride) >> 1
            if x % 2:
                b[i] = (col & 0x0F) | (b[i] & 0xF0)
            else:
                b[i] = ((col << 4) & 0xF0) | (b[i] & 0x0F)
        elif fmt == GS2_HMSB:
            i = (x + y * self.__stride) >> 2
            shift = (x & 3) << 1
            b[i] = ((col & 3) << shift) | (b[i] & ~(3 << shift) & 0xFF)
        else:
            i = (x + y * self.__stride) >> 3
            off = (x & 7) if fmt == MONO_HMSB else 7 - (x & 7)
            bit = 1 << off
            b[i] = (b[i] | bit) if col & 0xFFFFFFFF else (b[i] & ~bit & 0xFF)

    def _get(self, x, y, b=None):
        if b is None:
            try:
                return self._get(x, y, self._buf)
            except IndexError:
                return self._get(x, y, _Padded(self))
        fmt = self.__fmt
        if fmt == MVLSB:
            return (b[(y >> 3) * self.__stride + x] >> (y & 7)) & 1
        if fmt == RGB565:
            i = 2 * (x + y * self.__stride)
            return b[i] | (b[i + 1] << 8)
        if fmt == GS8:
            return b[x + y * self.__stride]
        if fmt == GS4_HMSB:
            v = b[(x + y * self.__stride) >> 1]
            return v & 0x0F if x % 2 else v >> 4
        if fmt == GS2_HMSB:
            return (b[(x + y * self.__stride) >> 2] >> ((x & 3) << 1)) & 3
        off = (x & 7) if fmt == MONO_HMSB else 7 - (x & 7)
        return (b[(x + y * self.__stride) >> 3] >> off) & 1

    def _fill(self, x, y, w, h, col):
        if self.__fmt == GS8 and x + (y + h - 1) * self.__stride + w <= len(self._buf):
            row = bytes([col & 0xFF]) * w
            for yy in range(y, y + h):
                at = x + yy * self.__stride
                self._buf[at:at + w] = row
            return
        for yy in range(y, y + h):
            for xx in range(x, x + w):
                self._set(xx, yy, col)

    def _fill_rect(self, x, y, w, h, col):
        if h < 1 or w < 1 or x + w <= 0 or y + h <= 0 or y >= self.__h or x >= self.__w:
            return
        xend = min(self.__w, x + w)
        yend = min(self.__h, y + h)
        x = max(x, 0)
        y = max(y, 0)
        self._fill(x, y, xend - x, yend - y, col)

    def __bytes__(self):
        # bytes(fb) reads the buffer (its buffer protocol on the module).
        size = self.__stride * self.__h * (2 if self.__fmt == RGB565 else 1)
        return bytes(_Padded(self)[i] for i in range(size))

    def fill(self, c):
        self._fill(0, 0, self.__w, self.__h, _int(c))

    def fill_rect(self, x, y, w, h, c):
        self._fill_rect(_int(x), _int(y), _int(w), _int(h), _int(c))

    def pixel(self, x, y, *c):
        if len(c) > 1:
            raise TypeError('function expected at most 4 arguments, got %d' % (3 + len(c)))
        x = _int(x)
        y = _int(y)
        if 0 <= x < self.__w and 0 <= y < self.__h:
            if not c:
                return self._get(x, y)
            self._set(x, y, _int(c[0]))
        return None

    def hline(self, x, y, w, c):
        self._fill_rect(_int(x), _int(y), _int(w), 1, _int(c))

    def vline(self, x, y, h, c):
        self._fill_rect(_int(x), _int(y), 1, _int(h), _int(c))

    def rect(self, x, y, w, h, c):
        x, y, w, h, c = _int(x), _int(y), _int(w), _int(h), _int(c)
        self._fill_rect(x, y, w, 1, c)
        self._fill_rect(x, y + h - 1, w, 1, c)
        self._fill_rect(x, y, 1, h, c)
        self._fill_rect(x + w - 1, y, 1, h, c)

    def line(self, x1, y1, x2, y2, c):
        x1, y1, x2, y2, col = _int(x1), _int(y1), _int(x2), _int(y2), _int(c)
        width, height = self.__w, self.__h
        dx = x2 - x1
        if dx > 0:
            sx = 1
        else:
            dx, sx = -dx, -1
        dy = y2 - y1
        if dy > 0:
            sy = 1
        else:
            dy, sy = -dy, -1
        steep = dy > dx
        if steep:
            x1, y1 = y1, x1
            dx, dy = dy, dx
            sx, sy = sy, sx
        e = 2 * dy - dx
        for _ in range(dx):
            if steep:
                if 0 <= y1 < width and 0 <= x1 < height:
                    self._set(y1, x1, col)
            elif 0 <= x1 < width and 0 <= y1 < height:
                self._set(x1, y1, col)
            while e >= 0:
                y1 += sy
                e -= 2 * dx
            x1 += sx
            e += 2 * dy
        if 0 <= x2 < width and 0 <= y2 < height:
            self._set(x2, y2, col)

    def blit(self, fbuf, x, y, *key):
        if len(key) > 1:
            raise TypeError('function expected at most 5 arguments, got %d' % (4 + len(key)))
        if not isinstance(fbuf, FrameBuffer):
            raise TypeError('FrameBuffer required')
        x, y = _int(x), _int(y)
        key = _int(key[0]) & 0xFFFFFFFF if key else 0xFFFFFFFF
        sw, sh = fbuf.__w, fbuf.__h
        if x >= self.__w or y >= self.__h or -x >= sw or -y >= sh:
            return
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = max(0, -x), max(0, -y)
        x0end = min(self.__w, x + sw)
        y0end = min(self.__h, y + sh)
        while y0 < y0end:
            cx1 = x1
            for cx0 in range(x0, x0end):
                col = fbuf._get(cx1, y1)
                if col != key:
                    self._set(cx0, y0, col)
                cx1 += 1
            y1 += 1
            y0 += 1

    def scroll(self, xstep, ystep):
        xstep, ystep = _int(xstep), _int(ystep)
        if xstep < 0:
            sx, xend, dx = 0, self.__w + xstep, 1
        else:
            sx, xend, dx = self.__w - 1, xstep - 1, -1
        if ystep < 0:
            y, yend, dy = 0, self.__h + ystep, 1
        else:
            y, yend, dy = self.__h - 1, ystep - 1, -1
        while y != yend:
            x = sx
            while x != xend:
                self._set(x, y, self._get(x - xstep, y - ystep))
                x += dx
            y += dy

    def text(self, s, x, y, *c):
        if len(c) > 1:
            raise TypeError('function expected at most 5 arguments, got %d' % (4 + len(c)))
        if isinstance(s, str):
            s = s.encode()
        elif not isinstance(s, (bytes, bytearray)):
            raise TypeError("can't convert '%s' object to str implicitly" % type(s).__name__)
        x0, y0 = _int(x), _int(y)
        col = _int(c[0]) if c else 1
        for ch in s:
            if ch == 0:
                break
            if ch < 32 or ch > 127:
                ch = 127
            glyph = _FONT[(ch - 32) * 8:(ch - 32) * 8 + 8]
            for column in glyph:
                if 0 <= x0 < self.__w:
                    yy = y0
                    while column:
                        if column & 1 and 0 <= yy < self.__h:
                            self._set(x0, yy, col)
                        column >>= 1
                        yy += 1
                x0 += 1


def FrameBuffer1(buf, width, height, stride=None):
    """The old FrameBuffer1 class: a MONO_VLSB FrameBuffer."""
    fb = FrameBuffer(buf, width, height, MVLSB, stride)
    return fb


import _pyboot  # noqa: E402
_pyboot.publish(__name__, globals())

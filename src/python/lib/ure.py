# ure (also `re`): MicroPython's regular expressions (extmod/modure.c, re1.5) compiled here to
# RustPython's `_sre` engine.
#
# Syntax: literals, `.` (any character, newline included, as in re1.5), `[...]`/`[^...]` with
# ranges and \d \s \w inside, `^` `$` (start/end of the string), `*` `+` `?` and their lazy `?`
# forms, `{m}` `{m,}` `{m,n}`, `|`, `(...)` and `(?:...)`, escapes \d \D \s \S \w \W \b \B \n
# \r \t \f \v \0 and \\ \. etc. Classes are ASCII, as on the module. The module has compile(),
# match(), search() and DEBUG; compiled objects have match(), search() and split(). Firmware 1.20
# builds ure without MICROPY_PY_URE_SUB, so there is no sub() (and match objects there have only
# group(); here they are the engine's, with CPython's methods).
import _sre

DEBUG = 0x1000

_MAX = _sre.MAXREPEAT
# _sre opcodes, at/category codes (CPython 3.12 `re._constants`, MAGIC 20230612).
_SUCCESS, _ANY_ALL, _AT, _BRANCH, _CATEGORY = 1, 3, 6, 7, 8
_IN, _JUMP, _LITERAL, _MARK, _MAX_UNTIL, _MIN_UNTIL = 13, 15, 16, 17, 18, 19
_NEGATE, _RANGE, _REPEAT, _REPEAT_ONE, _MIN_REPEAT_ONE = 21, 22, 23, 24, 26
_AT_BEGINNING_STRING, _AT_BOUNDARY, _AT_NON_BOUNDARY, _AT_END_STRING = 2, 3, 4, 7
_CATS = {'d': 0, 'D': 1, 's': 2, 'S': 3, 'w': 4, 'W': 5}
_ESCAPES = {'n': 10, 'r': 13, 't': 9, 'f': 12, 'v': 11, '0': 0, 'a': 7}


def _error(msg='Error in regex'):
    return ValueError(msg)


class _Parser:
    """Parses the pattern into nodes:
    ('lit', code) ('any',) ('in', negate, items) ('at', code) ('group', n or None, alts)
    ('rep', min, max, greedy, node); a sequence is a list of nodes, alternatives a list of those.
    """

    def __init__(self, pattern):
        self.p = pattern
        self.i = 0
        self.groups = 0

    def peek(self):
        return self.p[self.i] if self.i < len(self.p) else None

    def take(self):
        c = self.peek()
        if c is None:
            raise _error()
        self.i += 1
        return c

    def parse(self):
        alts = self.alternatives()
        if self.i != len(self.p):
            raise _error()
        return alts

    def alternatives(self):
        alts = [self.sequence()]
        while self.peek() == '|':
            self.i += 1
            alts.append(self.sequence())
        return alts

    def sequence(self):
        seq = []
        while True:
            c = self.peek()
            if c is None or c in '|)':
                return seq
            atom = self.atom()
            seq.append(self.quantified(atom))

    def quantified(self, atom):
        c = self.peek()
        if c is None:
            return atom
        if c in '*+?':
            self.i += 1
            lo, hi = {'*': (0, _MAX), '+': (1, _MAX), '?': (0, 1)}[c]
        elif c == '{' and self._brace_ahead():
            lo, hi = self._braces()
        else:
            return atom
        if atom[0] == 'at':
            raise _error()
        greedy = True
        if self.peek() == '?':
            self.i += 1
            greedy = False
        return ('rep', lo, hi, greedy, atom)

    def _brace_ahead(self):
        j = self.p.find('}', self.i)
        if j < 0:
            return False
        body = self.p[self.i + 1:j]
        parts = body.split(',')
        return 1 <= len(parts) <= 2 and parts[0].isdigit() and all(
            x == '' or x.isdigit() for x in parts[1:])

    def _braces(self):
        j = self.p.find('}', self.i)
        parts = self.p[self.i + 1:j].split(',')
        self.i = j + 1
        lo = int(parts[0])
        if len(parts) == 1:
            hi = lo
        else:
            hi = int(parts[1]) if parts[1] else _MAX
        if hi < lo:
            raise _error()
        return lo, hi

    def atom(self):
        c = self.take()
        if c == '.':
            return ('any',)
        if c == '^':
            return ('at', _AT_BEGINNING_STRING)
        if c == '$':
            return ('at', _AT_END_STRING)
        if c == '(':
            group = None
            if self.p.startswith('?:', self.i):
                self.i += 2
            else:
                self.groups += 1
                group = self.groups
            alts = self.alternatives()
            if self.take() != ')':
                raise _error()
            return ('group', group, alts)
        if c == '[':
            return self.charclass()
        if c in '*+?{' and c != '{':
            raise _error()
        if c == '\\':
            return self.escape(False)
        return ('lit', ord(c))

    def escape(self, in_class):
        c = self.take()
        if c in _CATS:
            return ('in', False, [('cat', _CATS[c])]) if not in_class else ('cat', _CATS[c])
        if not in_class and c == 'b':
            return ('at', _AT_BOUNDARY)
        if not in_class and c == 'B':
            return ('at', _AT_NON_BOUNDARY)
        if c in _ESCAPES:
            return ('lit', _ESCAPES[c])
        if c.isdigit():
            raise _error()
        return ('lit', ord(c))

    def charclass(self):
        negate = False
        if self.peek() == '^':
            self.i += 1
            negate = True
        items = []
        first = True
        while True:
            c = self.take()
            if c == ']' and not first:
                break
            first = False
            if c == '\\':
                item = self.escape(True)
            else:
                item = ('lit', ord(c))
            if item[0] == 'lit' and self.peek() == '-' and self.p[self.i + 1:self.i + 2] not in (
                    ']', ''):
                self.i += 1
                d = self.take()
                hi = self.escape(True) if d == '\\' else ('lit', ord(d))
                if hi[0] != 'lit' or hi[1] < item[1]:
                    raise _error()
                items.append(('range', item[1], hi[1]))
            else:
                items.append(item)
        return ('in', negate, items)


def _simple(node):
    if node[0] in ('lit', 'any', 'in'):
        return True
    if node[0] == 'group' and node[1] is None and len(node[2]) == 1 and len(node[2][0]) == 1:
        return _simple(node[2][0][0])
    return False


def _emit_alts(code, alts):
    if len(alts) == 1:
        _emit_seq(code, alts[0])
        return
    code.append(_BRANCH)
    tails = []
    for seq in alts:
        skip = len(code)
        code.append(0)
        _emit_seq(code, seq)
        code.append(_JUMP)
        tails.append(len(code))
        code.append(0)
        code[skip] = len(code) - skip
    code.append(0)  # FAILURE: end of the branch list
    for t in tails:
        code[t] = len(code) - t


def _emit_seq(code, seq):
    for node in seq:
        _emit(code, node)


def _emit(code, node):
    kind = node[0]
    if kind == 'lit':
        code.extend((_LITERAL, node[1]))
    elif kind == 'any':
        code.append(_ANY_ALL)
    elif kind == 'at':
        code.extend((_AT, node[1]))
    elif kind == 'in':
        code.append(_IN)
        skip = len(code)
        code.append(0)
        if node[1]:
            code.append(_NEGATE)
        for item in node[2]:
            if item[0] == 'lit':
                code.extend((_LITERAL, item[1]))
            elif item[0] == 'range':
                code.extend((_RANGE, item[1], item[2]))
            else:
                code.extend((_CATEGORY, item[1]))
        code.append(0)  # FAILURE: end of the set
        code[skip] = len(code) - skip
    elif kind == 'group':
        if node[1] is not None:
            code.extend((_MARK, (node[1] - 1) * 2))
        _emit_alts(code, node[2])
        if node[1] is not None:
            code.extend((_MARK, (node[1] - 1) * 2 + 1))
    elif kind == 'rep':
        _, lo, hi, greedy, body = node
        if _simple(body):
            code.append(_REPEAT_ONE if greedy else _MIN_REPEAT_ONE)
            skip = len(code)
            code.extend((0, lo, hi))
            _emit(code, body)
            code.append(_SUCCESS)
            code[skip] = len(code) - skip
        else:
            code.append(_REPEAT)
            skip = len(code)
            code.extend((0, lo, hi))
            _emit(code, body)
            code[skip] = len(code) - skip
            code.append(_MAX_UNTIL if greedy else _MIN_UNTIL)


class _Regex:
    def __init__(self, pattern, flags=0):
        text = pattern
        if isinstance(pattern, (bytes, bytearray)):
            text = ''.join(chr(b) for b in bytes(pattern))
        parser = _Parser(text)
        alts = parser.parse()
        code = []
        _emit_alts(code, alts)
        code.append(_SUCCESS)
        groups = parser.groups
        self._p = _sre.compile(pattern, 32 if isinstance(pattern, str) else 0, code, groups, {},
                               (None,) * (groups + 1))
        if flags & DEBUG:
            print(code)

    def match(self, string, pos=0, endpos=None):
        if endpos is None:
            return self._p.match(string, pos)
        return self._p.match(string, pos, endpos)

    def search(self, string, pos=0, endpos=None):
        if endpos is None:
            return self._p.search(string, pos)
        return self._p.search(string, pos, endpos)

    def split(self, string, max_split=0):
        """modure.c's re_split: splits at each match until a match is empty (or none is left);
        a pattern with groups raises NotImplementedError after the first piece; max_split > 0
        limits the splits."""
        if not isinstance(max_split, int):
            raise TypeError("can't convert %s to int" % type(max_split).__name__)
        parts = []
        pos = 0
        while True:
            m = self._p.search(string, pos)
            if m is None or m.end() == m.start():
                break
            parts.append(string[pos:m.start()])
            if self._p.groups > 0:
                raise NotImplementedError('Splitting with sub-captures')
            pos = m.end()
            if max_split > 0:
                max_split -= 1
                if max_split == 0:
                    break
        parts.append(string[pos:])
        return parts

    def __repr__(self):
        return '<re %s>' % id(self)


def compile(pattern, flags=0):
    return _Regex(pattern, flags)


def match(pattern, string, flags=0):
    return _Regex(pattern, flags).match(string)


def search(pattern, string, flags=0):
    return _Regex(pattern, flags).search(string)


# ucollections: py/modcollections.c — deque and namedtuple (firmware 1.20 builds it without
# MICROPY_PY_COLLECTIONS_ORDEREDDICT, so there is no OrderedDict; and no `collections` name).
from _collections import deque  # noqa: F401


def namedtuple(name, fields):
    if isinstance(fields, str):
        # MicroPython splits a field string at whitespace only (no commas, no _fields,
        # _asdict or _replace: 1.11 builds none of them).
        fields = fields.split()
    fields = tuple(str(f) for f in fields)

    def __new__(cls, *args, **kwargs):
        if len(args) > len(fields):
            raise TypeError('function takes %d positional arguments but %d were given'
                            % (len(fields), len(args)))
        values = list(args)
        for f in fields[len(args):]:
            if f not in kwargs:
                raise TypeError("missing required argument '%s'" % f)
            values.append(kwargs.pop(f))
        if kwargs:
            raise TypeError("unexpected keyword argument '%s'" % next(iter(kwargs)))
        return tuple.__new__(cls, values)

    def __repr__(self):
        return '%s(%s)' % (name, ', '.join('%s=%r' % (f, v) for f, v in zip(fields, self)))

    ns = {
        '__new__': __new__, '__repr__': __repr__, '__slots__': (),
    }
    for i, f in enumerate(fields):
        ns[f] = property(lambda self, i=i: tuple.__getitem__(self, i))
    return type(name, (tuple,), ns)

# ucollections: py/modcollections.c — namedtuple, OrderedDict, deque.
from _collections import deque  # noqa: F401


class OrderedDict(dict):
    """Insertion-ordered dict (every dict here keeps order; this adds the OrderedDict API)."""

    def popitem(self, last=True):
        if not self:
            raise KeyError('popitem(): dictionary is empty')
        key = next(reversed(self)) if last else next(iter(self))
        return key, self.pop(key)

    def move_to_end(self, key, last=True):
        value = self.pop(key)
        if last:
            self[key] = value
        else:
            items = list(self.items())
            self.clear()
            self[key] = value
            self.update(items)

    def __repr__(self):
        return 'OrderedDict(%r)' % (dict(self),)


def namedtuple(name, fields):
    if isinstance(fields, str):
        fields = fields.replace(',', ' ').split()
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

    def _asdict(self):
        return OrderedDict(zip(fields, self))

    def _replace(self, **kwargs):
        return self.__class__(*(kwargs.pop(f, v) for f, v in zip(fields, self)))

    ns = {
        '__new__': __new__, '__repr__': __repr__, '__slots__': (), '_fields': fields,
        '_asdict': _asdict, '_replace': _replace,
    }
    for i, f in enumerate(fields):
        ns[f] = property(lambda self, i=i: tuple.__getitem__(self, i))
    return type(name, (tuple,), ns)

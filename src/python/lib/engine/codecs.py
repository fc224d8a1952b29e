# pycom-sim's `codecs`: only what the engine itself asks of one. RustPython imports `codecs`
# while it builds each interpreter and registers the ascii and UTF-8 codecs from it; its full
# module (stream readers and writers, incremental coders, `open`) was a tenth of a cold
# scenario's instructions, and MicroPython has no `codecs` at all (`_pyboot` hides this one too).
# Text is encoded and decoded by the native `_codecs` functions either way.
from _codecs import *  # noqa: F401,F403


class CodecInfo(tuple):
    """A codec search's answer: (encode, decode, stream reader, stream writer) as the tuple
    the engine's registry reads, the name and the incremental coders as attributes."""

    _is_text_encoding = True

    def __new__(cls, encode, decode, streamreader=None, streamwriter=None,
                incrementalencoder=None, incrementaldecoder=None, name=None,
                *, _is_text_encoding=None):
        info = tuple.__new__(cls, (encode, decode, streamreader, streamwriter))
        info.name = name
        info.encode = encode
        info.decode = decode
        info.streamreader = streamreader
        info.streamwriter = streamwriter
        info.incrementalencoder = incrementalencoder
        info.incrementaldecoder = incrementaldecoder
        if _is_text_encoding is not None:
            info._is_text_encoding = _is_text_encoding
        return info

    def __repr__(self):
        return '<codecs.CodecInfo object for encoding %s>' % self.name

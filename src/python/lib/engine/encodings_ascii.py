# The ascii codec the engine registers as it starts (see codecs.py beside this file).
import codecs


def getregentry():
    return codecs.CodecInfo(codecs.ascii_encode, codecs.ascii_decode, name='ascii')

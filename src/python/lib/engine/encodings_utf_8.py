# The UTF-8 codec the engine registers as it starts (see codecs.py beside this file).
import codecs


def decode(data, errors='strict'):
    return codecs.utf_8_decode(data, errors, True)


def getregentry():
    return codecs.CodecInfo(codecs.utf_8_encode, decode, name='utf-8')

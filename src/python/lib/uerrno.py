# uerrno (also `errno`): extmod/moduerrno.c with the firmware's list and newlib's numbers
# (the ESP32 C library), which differ from Linux for the socket errors.
EPERM = 1
ENOENT = 2
EIO = 5
EBADF = 9
EAGAIN = 11
ENOMEM = 12
EACCES = 13
EEXIST = 17
ENODEV = 19
EISDIR = 21
EINVAL = 22
EOPNOTSUPP = 95
ECONNRESET = 104
ENOBUFS = 105
ECONNREFUSED = 111
EADDRINUSE = 112
ECONNABORTED = 113
ENETDOWN = 115
ETIMEDOUT = 116
EHOSTUNREACH = 118
EINPROGRESS = 119
EALREADY = 120
EMSGSIZE = 122
ENOTCONN = 128

errorcode = {v: k for k, v in globals().items() if k[:1] == 'E' and isinstance(v, int)}

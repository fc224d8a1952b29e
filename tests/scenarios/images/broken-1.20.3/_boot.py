# The frozen start-up of a broken 1.20.3: it attaches the REPL to UART0 as every image does, then
# takes UART0 for a modem link by mistake (Ctrl-C off, reading for an answer that never comes),
# so boot.py, main.py and the REPL are never reached. The frozen _boot.py runs even in safe boot,
# so only an older image (window 2) gets past it.
import os
import sys
import micropython
from machine import UART
os.dupterm(UART(0, 115200))
print('1.20.3: waiting for the modem...')
micropython.kbd_intr(-1)
while True:
    sys.stdin.read(1)

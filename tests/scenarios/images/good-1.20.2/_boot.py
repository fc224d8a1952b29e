import os
from machine import UART
os.dupterm(UART(0, 115200))

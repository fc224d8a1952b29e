//! Boards as data: which GPIO is the safe-boot pin, which drives the WS2812, which chip id the
//! app images must carry. The machine's `main` reads these; nothing else differs per board.

/// One board the firmware is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// Name printed on the console.
    pub name: &'static str,
    /// GPIO number of the safe-boot input (Pycom's P12), read with the pull-down on.
    pub safe_boot_gpio: u8,
    /// GPIO number of the WS2812 data line.
    pub led_gpio: u8,
    /// `chip_id` an app image's extended header must hold (`esp_image_header_t`).
    pub chip_id: u16,
    /// Where the partition table is (the IDF bootloader's `CONFIG_PARTITION_TABLE_OFFSET`).
    pub partition_table: u32,
}

/// The Pycom modules (LoPy4, WiPy 3.0, …): ESP32, P12 = GPIO21, the LED on GPIO0. Built only with
/// Espressif's Xtensa toolchain (see README.md); the simulator boots this board.
pub const PYCOM_ESP32: Board = Board {
    name: "Pycom ESP32 module",
    safe_boot_gpio: 21,
    led_gpio: 0,
    chip_id: 0x0000,
    partition_table: 0x8000,
};

/// ESP32-C3-DevKitM-1 / DevKitC-02: the on-board WS2812 is on GPIO8; GPIO4 stands in for P12
/// (wire it to 3V3 through a switch; GPIO9, the BOOT button, is a strap pin and active low).
pub const ESP32C3_DEVKIT: Board = Board {
    name: "ESP32-C3-DevKit",
    safe_boot_gpio: 4,
    led_gpio: 8,
    chip_id: 0x0005,
    partition_table: 0x8000,
};

/// QEMU's riscv32 `virt` machine running a LoPy4's flash: the images are the ESP32's, P12 and
/// the LED are the test's script and log.
pub const QEMU_LOPY4: Board = Board {
    name: "QEMU riscv32 virt (LoPy4 flash)",
    safe_boot_gpio: 21,
    led_gpio: 0,
    chip_id: 0x0000,
    partition_table: 0x8000,
};

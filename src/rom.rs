//! The ESP32 mask ROM: the first thing that runs after any reset.
//!
//! It prints its banner and the reset reason on UART0, samples the strapping pins, and either
//! loads the second-stage bootloader from flash or — with GPIO0 (P2, expansion-board G23) low —
//! enters UART download mode and waits there until the next reset.

use crate::gpio::{Gpio, Pull};

/// Why the chip (re)started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetCause {
    /// Power applied.
    PowerOn,
    /// The reset (EN) button; the ROM reports it as a power-on reset.
    ResetButton,
    /// `machine.reset()`, Ctrl-F, a starved `machine.WDT`: the TIMG0 watchdog.
    Watchdog,
    /// Wake from `machine.deepsleep()`.
    DeepSleepWake,
    /// The firmware panicked and its panic handler restarted the CPU.
    Panic,
}

impl ResetCause {
    /// The ROM's `RESET_REASON` code and name.
    pub fn rom_reason(self) -> (u8, &'static str) {
        match self {
            ResetCause::PowerOn | ResetCause::ResetButton => (0x1, "POWERON_RESET"),
            ResetCause::Watchdog => (0x7, "TG0WDT_SYS_RESET"),
            ResetCause::DeepSleepWake => (0x5, "DEEPSLEEP_RESET"),
            ResetCause::Panic => (0xc, "SW_CPU_RESET"),
        }
    }
}

/// The first ROM line (revision 0/1 chips; two spaces after "Jun").
pub const ROM_BANNER: &str = "ets Jun  8 2016 00:22:57";

/// What the ESP32 pads are pulled to at reset, before any software runs (strapping defaults:
/// GPIO0, GPIO5 and MTDO up; GPIO2, GPIO4 and MTDI down). This is why an unconnected board reads
/// `boot:0x13` and a board with G23 grounded reads `boot:0x3`.
pub const RESET_PULLS: [(u8, Pull); 6] = [
    (0, Pull::Up),
    (2, Pull::Down),
    (4, Pull::Down),
    (5, Pull::Up),
    (12, Pull::Down),
    (15, Pull::Up),
];

/// The strapping byte the ROM prints as `boot:0x..`: bit0 GPIO5, bit1 MTDO (GPIO15), bit2 GPIO4,
/// bit3 GPIO2, bit4 GPIO0, bit5 MTDI (GPIO12).
pub fn strap_byte(gpio: &Gpio) -> u8 {
    [5u8, 15, 4, 2, 0, 12]
        .iter()
        .enumerate()
        .fold(0, |acc, (bit, &pin)| {
            acc | (u8::from(gpio.level(pin)) << bit)
        })
}

/// Whether the strapping selects UART download mode (GPIO0 low).
pub fn is_download_mode(strap: u8) -> bool {
    strap & 0x10 == 0
}

/// The ROM's name for the boot mode of a strapping byte.
pub fn boot_mode_name(strap: u8) -> String {
    if is_download_mode(strap) {
        let input = if strap & 0x02 != 0 { "REI" } else { "FEI" };
        let output = if strap & 0x01 != 0 { "REO" } else { "FEO" };
        format!("DOWNLOAD_BOOT(UART0/UART1/SDIO_{input}_{output}_V2)")
    } else {
        "SPI_FAST_FLASH_BOOT".to_string()
    }
}

/// Everything the ROM prints up to the point where it hands over (or waits for a download).
pub fn rom_text(cause: ResetCause, strap: u8) -> String {
    let (code, name) = cause.rom_reason();
    let mut out = format!(
        "{ROM_BANNER}\r\n\r\nrst:0x{code:x} ({name}),boot:0x{strap:x} ({})\r\n",
        boot_mode_name(strap)
    );
    if is_download_mode(strap) {
        out.push_str("waiting for download\r\n");
    } else {
        // The second-stage loader's segments as the ROM reports loading them (from a real
        // LoPy4 capture; they belong to the bootloader binary, not to the app).
        out.push_str(concat!(
            "configsip: 0, SPIWP:0xee\r\n",
            "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n",
            "mode:DIO, clock div:1\r\n",
            "load:0x3fff8020,len:8\r\n",
            "load:0x3fff8028,len:2140\r\n",
            "ho 0 tail 12 room 4\r\n",
            "load:0x4009fa00,len:19760\r\n",
            "entry 0x400a05bc\r\n",
        ));
    }
    out
}

//! pycom-boot on an ESP32-C3 devkit, through esp-hal: the safe-boot pin as a GPIO input with the
//! pull-down on, esp-hal's `Delay`, the SPI flash through esp-storage (otadata, and the slots the
//! image check reads), the devkit's WS2812 on RMT channel 0, and esp-println's console (UART0 or
//! USB-Serial-JTAG, whichever the host listens on).
//!
//! This is an app: Espressif's second-stage bootloader loads it from the factory partition (see
//! partitions.csv and README.md). It takes Pycom's boot decision with the boot core, writes the
//! record as the Pycom bootloader would, prints the decision — and does not jump: starting
//! another app image from an app needs the bootloader's image loader (README.md says what is and
//! is not done on silicon).
#![no_std]
#![no_main]

use core::cell::RefCell;
use core::fmt::Write;

use esp_backtrace as _;
use esp_hal::delay::Delay;
use esp_hal::gpio::{Input, InputConfig, Pull};
use esp_hal::main;
use esp_hal::rmt::Rmt;
use esp_hal::time::Rate;
use esp_hal_smartled::{RmtSmartLeds, WS2812_TIMING, buffer_size, color_order};
use esp_println::Printer;
use esp_storage::FlashStorage;
use pycom_boot::safeboot::LED_OFF;
use pycom_firmware::board::ESP32C3_DEVKIT;
use pycom_firmware::report::{write_decision, write_record_summary};
use pycom_firmware::run;
use pycom_firmware::status_led::StatusLed;
use smart_leds_trait::{RGB8, SmartLedsWrite};

esp_bootloader_esp_idf::esp_app_desc!();

/// The board this binary is for; the typed pins below must be the ones it names.
const BOARD: pycom_firmware::board::Board = ESP32C3_DEVKIT;
const _: () = assert!(
    BOARD.safe_boot_gpio == 4,
    "the safe-boot pin below is GPIO4"
);
const _: () = assert!(BOARD.led_gpio == 8, "the LED pin below is GPIO8");

/// The RMT clock the LED driver runs from.
const RMT_MHZ: u32 = 80;

/// `mperror_fatal_error`'s solid red.
const FATAL_RED: RGB8 = RGB8 {
    r: 0x50,
    g: 0,
    b: 0,
};

#[main]
fn main() -> ! {
    let p = esp_hal::init(esp_hal::Config::default());
    let mut console = Printer;
    let mut delay = Delay::new();
    let _ = writeln!(console, "pycom-boot on {}", BOARD.name);

    let mut safe_boot_pin = Input::new(p.GPIO4, InputConfig::default().with_pull(Pull::Down));
    let led = Rmt::new(p.RMT, Rate::from_mhz(RMT_MHZ))
        .ok()
        .and_then(|rmt| {
            RmtSmartLeds::<{ buffer_size::<RGB8>(1) }, _, RGB8, color_order::Grb>::new(
                WS2812_TIMING,
                rmt.channel0,
                p.GPIO8,
                Rate::from_mhz(RMT_MHZ),
            )
            .ok()
        });
    if led.is_none() {
        let _ = writeln!(
            console,
            "the LED driver could not be set up; booting without it"
        );
    }
    let mut led = StatusLed(led);
    let flash = RefCell::new(FlashStorage::new(p.FLASH));

    let partitions = match run::partitions(&BOARD, &flash) {
        Ok(partitions) => partitions,
        Err(e) => {
            let _ = writeln!(console, "fatal: no usable partition table: {e:?}");
            halt(&mut led, &mut delay)
        }
    };
    let result = run::boot_once(
        &BOARD,
        partitions,
        &flash,
        &mut safe_boot_pin,
        &mut delay,
        &mut led,
        &mut console,
    );
    match result {
        Ok(decision) => {
            let _ = write_decision(&mut console, 0, 0, &decision);
            let _ = write!(console, "otadata: ");
            let _ = write_record_summary(&mut console, &decision.record);
            let _ = writeln!(
                console,
                "\nhand-over: not done — the {} slot at {:#x} would start now",
                decision.slot.name(),
                decision.offset
            );
        }
        Err(e) => {
            let _ = writeln!(console, "fatal: {e:?}");
            halt(&mut led, &mut delay)
        }
    }
    let _ = led.write(core::iter::once(LED_OFF));
    loop {
        delay.delay_millis(1000);
    }
}

/// The firmware's fatal error: solid red, nothing more.
fn halt<L: SmartLedsWrite<Color = RGB8>>(led: &mut L, delay: &mut Delay) -> ! {
    let _ = led.write(core::iter::once(FATAL_RED));
    loop {
        delay.delay_millis(1000);
    }
}

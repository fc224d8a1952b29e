//! The fake-hardware layer itself: if these fail, no other test in this crate means anything.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::InputPin;
use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use pycom_boot::BootInfo;
use pycom_boot::otadata::{read_record, write_record};
use smart_leds_trait::{RGB8, SmartLedsWrite};
use support::{Clock, FlashError, MockDelay, MockLed, MockPin, NS_PER_MS, RamFlash};

#[test]
fn delay_advances_the_shared_clock_exactly() {
    let clock = Clock::new();
    let mut delay = MockDelay::new(&clock);
    delay.delay_ns(7);
    delay.delay_us(3);
    delay.delay_ms(100);
    assert_eq!(clock.now_ns(), 7 + 3_000 + 100 * NS_PER_MS);
    assert_eq!(clock.now_ms(), 100);
    assert_eq!(delay.calls, 3);
}

#[test]
fn pin_level_is_a_function_of_device_time() {
    let clock = Clock::new();
    let mut delay = MockDelay::new(&clock);
    let mut pin = MockPin::held_until(&clock, Some(2_200));
    assert!(pin.is_high().unwrap());
    delay.delay_ms(2_199);
    assert!(pin.is_high().unwrap());
    delay.delay_ms(1);
    assert!(pin.is_low().unwrap(), "low from the release instant on");
    let mut forever = MockPin::held_until(&clock, None);
    assert!(forever.is_high().unwrap());
    assert!(MockPin::low(&clock).is_low().unwrap());
    assert!(MockPin::broken(&clock).is_high().is_err());
    assert_eq!(pin.samples.len(), 3);
}

#[test]
fn led_records_device_ms_and_colour() {
    let clock = Clock::new();
    let mut delay = MockDelay::new(&clock);
    let mut led = MockLed::new(&clock);
    led.write(core::iter::once(RGB8::new(1, 2, 3))).unwrap();
    delay.delay_ms(250);
    led.write([RGB8::new(0, 0, 0)]).unwrap();
    assert_eq!(
        led.writes,
        vec![(0, RGB8::new(1, 2, 3)), (250, RGB8::new(0, 0, 0))]
    );
}

#[test]
fn flash_starts_erased_and_erase_works_on_whole_sectors() {
    let mut flash = RamFlash::erased(0x4000);
    assert_eq!(flash.capacity(), 0x4000);
    assert!(flash.bytes(0, 0x4000).iter().all(|&b| b == 0xFF));
    flash.write(0x1000, &[0; 16]).unwrap();
    assert_eq!(flash.erase(0x1000, 0x1800), Err(FlashError::NotAligned));
    assert_eq!(flash.erase(0x0800, 0x1000), Err(FlashError::NotAligned));
    assert_eq!(flash.erase(0x3000, 0x5000), Err(FlashError::OutOfBounds));
    flash.erase(0x1000, 0x3000).unwrap();
    assert!(flash.bytes(0x1000, 16).iter().all(|&b| b == 0xFF));
    assert_eq!(
        (flash.erases, flash.sectors_erased, flash.writes),
        (1, 2, 1)
    );
}

#[test]
fn flash_writes_can_only_clear_bits() {
    let mut flash = RamFlash::erased(0x1000);
    flash.write(0, &[0b1010_1010]).unwrap();
    flash.write(0, &[0b1000_1000]).unwrap(); // clearing more bits: fine
    assert_eq!(flash.bytes(0, 1), [0b1000_1000]);
    let err = flash.write(0, &[0b1100_1000]).unwrap_err(); // would set bit 6
    assert_eq!(err, FlashError::BitSet { offset: 0 });
    assert_eq!(err.kind(), NorFlashErrorKind::Other);
    assert_eq!(
        flash.bytes(0, 1),
        [0b1000_1000],
        "a failed write changes nothing"
    );
    assert_eq!(flash.writes, 2);
    let mut buf = [0u8; 2];
    flash.read(0, &mut buf).unwrap();
    assert_eq!(buf, [0b1000_1000, 0xFF]);
    assert_eq!(flash.read(0xFFF, &mut buf), Err(FlashError::OutOfBounds));
}

#[test]
fn rewriting_a_record_in_place_needs_the_erase() {
    // Programming a different record over an old one without erasing would set bits.
    let mut flash = RamFlash::erased(0x2000);
    let a = BootInfo::initial();
    let b = BootInfo {
        active_img: 1,
        ..BootInfo::initial()
    }
    .sealed();
    flash.write(0x1000, &a.encode()).unwrap();
    assert!(matches!(
        flash.write(0x1000, &b.encode()),
        Err(FlashError::BitSet { .. })
    ));
    // write_record erases the sector first, so it works
    let written = write_record(&mut flash, 0x1000, &b).unwrap();
    assert_eq!(written, b);
    assert_eq!(read_record(&mut flash, 0x1000).unwrap(), b);
    assert_eq!(flash.erases, 1);
}

#[test]
fn write_record_seals_the_crc_and_erases_exactly_the_otadata_sector() {
    let mut flash = RamFlash::erased(0x3000);
    flash.write(0x0FFF, &[0x00]).unwrap();
    flash.write(0x2000, &[0x00]).unwrap();
    let unsealed = BootInfo {
        crc: 0,
        ..BootInfo::initial()
    };
    let written = write_record(&mut flash, 0x1000, &unsealed).unwrap();
    assert!(written.is_valid());
    assert_eq!(flash.record(0x1000), BootInfo::initial());
    assert_eq!(flash.bytes(0x0FFF, 1), [0x00], "sector before untouched");
    assert_eq!(flash.bytes(0x2000, 1), [0x00], "sector after untouched");
    assert_eq!(flash.sectors_erased, 1);
}

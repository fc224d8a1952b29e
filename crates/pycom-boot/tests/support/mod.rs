//! A recording fake-hardware layer for the boot core, in the spirit of probe-rs's fake probe and
//! embassy's mock time driver.
//!
//! * [`Clock`]: device time in nanoseconds, shared (`Rc`) by every mock of one reset.
//! * [`MockDelay`]: `embedded_hal::delay::DelayNs`; the only thing that moves the clock.
//! * [`MockPin`]: P12 as `embedded_hal::digital::InputPin`; its level is a function of device time.
//! * [`MockLed`]: `smart_leds_trait::SmartLedsWrite<Color = RGB8>`; records `(device ms, colour)`.
//! * [`RamFlash`]: `embedded_storage::nor_flash::NorFlash` with real NOR semantics (erase → 0xFF in
//!   4 KiB sectors, programming may only clear bits) and erase/write counters.
//! * [`Verifier`]: the `esp_image_verify` stand-in; remembers which slots it was asked about.
//! * [`Device`]: a board whose flash survives resets; [`Device::reset`] runs `pycom_boot::boot`
//!   with fresh mocks (device time starts at 0 at every reset) and returns what was observed.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{self, ErrorType as PinErrorType, InputPin};
use embedded_storage::nor_flash::{
    ErrorType as FlashErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use pycom_boot::boot_info::RECORD_LEN;
use pycom_boot::{BootDecision, BootInfo, FlashLayout, SafeBootOutcome, Slot};
use smart_leds_trait::{RGB8, SmartLedsWrite};

pub const NS_PER_MS: u64 = 1_000_000;
pub const SECTOR: usize = 0x1000;

/// `BOOTMGR_SAFEBOOT_COLOR` 0x2C1200, written out here rather than taken from the crate.
pub const ORANGE: RGB8 = RGB8 {
    r: 0x2C,
    g: 0x12,
    b: 0x00,
};
/// `mperror_set_rgb_color(0)`.
pub const OFF: RGB8 = RGB8 { r: 0, g: 0, b: 0 };

/// Partition table of the 4 MB boards (`partitions_4MB.csv`, reference §5.2).
pub const LAYOUT_4MB: FlashLayout = FlashLayout {
    otadata: 0x1B_E000,
    factory: 0x1_0000,
    ota0: 0x1C_0000,
};
/// Partition table of the 8 MB boards (`partitions_8MB.csv`, reference §5.3).
pub const LAYOUT_8MB: FlashLayout = FlashLayout {
    otadata: 0x1F_F000,
    factory: 0x1_0000,
    ota0: 0x21_0000,
};

// ------------------------------------------------------------------------------------------------
// Clock and delay

/// Device time since reset, in nanoseconds.
#[derive(Debug, Clone, Default)]
pub struct Clock(Rc<Cell<u64>>);

impl Clock {
    pub fn new() -> Clock {
        Clock::default()
    }

    pub fn now_ns(&self) -> u64 {
        self.0.get()
    }

    /// Whole milliseconds since reset (every delay in the boot core is a whole number of ms).
    pub fn now_ms(&self) -> u64 {
        self.0.get() / NS_PER_MS
    }

    pub fn advance_ns(&self, ns: u64) {
        self.0
            .set(self.0.get().checked_add(ns).expect("device time overflow"));
    }
}

/// `DelayNs` that advances the shared clock by exactly what it is asked for.
#[derive(Debug)]
pub struct MockDelay {
    clock: Clock,
    /// Number of delay calls, whatever their unit.
    pub calls: usize,
}

impl MockDelay {
    pub fn new(clock: &Clock) -> MockDelay {
        MockDelay {
            clock: clock.clone(),
            calls: 0,
        }
    }
}

impl DelayNs for MockDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.calls += 1;
        self.clock.advance_ns(u64::from(ns));
    }

    fn delay_us(&mut self, us: u32) {
        self.calls += 1;
        self.clock.advance_ns(u64::from(us) * 1_000);
    }

    fn delay_ms(&mut self, ms: u32) {
        self.calls += 1;
        self.clock.advance_ns(u64::from(ms) * NS_PER_MS);
    }
}

// ------------------------------------------------------------------------------------------------
// P12

/// A pin read that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinFault;

impl digital::Error for PinFault {
    fn kind(&self) -> digital::ErrorKind {
        digital::ErrorKind::Other
    }
}

/// The safe-boot pin. `level(now_ns)` says whether it reads high at that device time.
pub struct MockPin {
    clock: Clock,
    level: Box<dyn Fn(u64) -> Result<bool, PinFault>>,
    /// Every sample taken: (device ns, level read).
    pub samples: Vec<(u64, Result<bool, PinFault>)>,
}

impl MockPin {
    pub fn from_fn(clock: &Clock, level: impl Fn(u64) -> Result<bool, PinFault> + 'static) -> Self {
        MockPin {
            clock: clock.clone(),
            level: Box::new(level),
            samples: Vec::new(),
        }
    }

    /// Pulled down, nothing connected: always low.
    pub fn low(clock: &Clock) -> Self {
        MockPin::from_fn(clock, |_| Ok(false))
    }

    /// Held high from reset until `release_ms` (low from that instant on); `None`: never released.
    pub fn held_until(clock: &Clock, release_ms: Option<u64>) -> Self {
        MockPin::held_until_ns(clock, release_ms.map(|ms| ms * NS_PER_MS))
    }

    /// As [`MockPin::held_until`], with the release time in nanoseconds.
    pub fn held_until_ns(clock: &Clock, release_ns: Option<u64>) -> Self {
        MockPin::from_fn(clock, move |now| Ok(release_ns.is_none_or(|r| now < r)))
    }

    /// A pin whose every read fails.
    pub fn broken(clock: &Clock) -> Self {
        MockPin::from_fn(clock, |_| Err(PinFault))
    }

    fn sample(&mut self) -> Result<bool, PinFault> {
        let now = self.clock.now_ns();
        let level = (self.level)(now);
        self.samples.push((now, level));
        level
    }
}

impl PinErrorType for MockPin {
    type Error = PinFault;
}

impl InputPin for MockPin {
    fn is_high(&mut self) -> Result<bool, PinFault> {
        self.sample()
    }

    fn is_low(&mut self) -> Result<bool, PinFault> {
        self.sample().map(|high| !high)
    }
}

/// How P12 behaves during one reset, for [`Device::reset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P12 {
    /// Not connected (the pull-down keeps it low).
    Low,
    /// Tied to 3V3 at reset and released at this device time (ms).
    ReleasedAt(u64),
    /// Tied to 3V3 for the whole boot.
    Held,
}

impl P12 {
    pub fn pin(self, clock: &Clock) -> MockPin {
        match self {
            P12::Low => MockPin::low(clock),
            P12::ReleasedAt(ms) => MockPin::held_until(clock, Some(ms)),
            P12::Held => MockPin::held_until(clock, None),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// RGB LED

/// The WS2812 status LED: one pixel, every colour written is recorded with the device time.
#[derive(Debug)]
pub struct MockLed {
    clock: Clock,
    /// (device ms, colour) for every pixel written.
    pub writes: Vec<(u64, RGB8)>,
}

impl MockLed {
    pub fn new(clock: &Clock) -> MockLed {
        MockLed {
            clock: clock.clone(),
            writes: Vec::new(),
        }
    }
}

impl SmartLedsWrite for MockLed {
    type Error = Infallible;
    type Color = RGB8;

    fn write<T, I>(&mut self, iterator: T) -> Result<(), Infallible>
    where
        T: IntoIterator<Item = I>,
        I: Into<RGB8>,
    {
        let now = self.clock.now_ms();
        for colour in iterator {
            self.writes.push((now, colour.into()));
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------------
// NOR flash

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashError {
    OutOfBounds,
    NotAligned,
    /// Programming would have to turn a 0 bit into a 1 at this address (erase first).
    BitSet {
        offset: u32,
    },
}

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            FlashError::NotAligned => NorFlashErrorKind::NotAligned,
            FlashError::BitSet { .. } => NorFlashErrorKind::Other,
        }
    }
}

/// A RAM-backed SPI NOR flash: erased cells read 0xFF, `erase` works on whole 4 KiB sectors,
/// `write` can only clear bits (an attempt to set one fails and leaves the flash untouched).
#[derive(Debug, Clone)]
pub struct RamFlash {
    data: Vec<u8>,
    /// Number of `erase` calls.
    pub erases: usize,
    /// Number of sectors erased over all calls.
    pub sectors_erased: usize,
    /// Number of `write` calls.
    pub writes: usize,
}

impl RamFlash {
    /// A fresh, fully erased chip of `size` bytes.
    pub fn erased(size: usize) -> RamFlash {
        assert_eq!(size % SECTOR, 0);
        RamFlash {
            data: vec![0xFF; size],
            erases: 0,
            sectors_erased: 0,
            writes: 0,
        }
    }

    pub fn bytes(&self, offset: u32, len: usize) -> &[u8] {
        &self.data[offset as usize..offset as usize + len]
    }

    /// The 40 bytes at `offset`, decoded without any validity check.
    pub fn record(&self, offset: u32) -> BootInfo {
        let bytes: [u8; RECORD_LEN] = self.bytes(offset, RECORD_LEN).try_into().unwrap();
        BootInfo::decode(&bytes)
    }

    /// Overwrites raw bytes as a programmer (esptool) would, without touching the counters.
    pub fn program(&mut self, offset: u32, bytes: &[u8]) {
        self.data[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
    }

    /// Puts `record` (as given, CRC not recomputed) into the otadata sector at `offset`, the rest
    /// of the sector 0xFF, without touching the counters.
    pub fn install_record(&mut self, offset: u32, record: &BootInfo) {
        let start = offset as usize;
        self.data[start..start + SECTOR].fill(0xFF);
        self.program(offset, &record.encode());
    }

    pub fn reset_counters(&mut self) {
        self.erases = 0;
        self.sectors_erased = 0;
        self.writes = 0;
    }
}

impl FlashErrorType for RamFlash {
    type Error = FlashError;
}

impl ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        let start = offset as usize;
        let end = start
            .checked_add(bytes.len())
            .ok_or(FlashError::OutOfBounds)?;
        let src = self.data.get(start..end).ok_or(FlashError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = SECTOR;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        let (from, to) = (from as usize, to as usize);
        if from > to || to > self.data.len() {
            return Err(FlashError::OutOfBounds);
        }
        if from % SECTOR != 0 || to % SECTOR != 0 {
            return Err(FlashError::NotAligned);
        }
        self.data[from..to].fill(0xFF);
        self.erases += 1;
        self.sectors_erased += (to - from) / SECTOR;
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let start = offset as usize;
        let end = start
            .checked_add(bytes.len())
            .ok_or(FlashError::OutOfBounds)?;
        let cells = self
            .data
            .get_mut(start..end)
            .ok_or(FlashError::OutOfBounds)?;
        if let Some(i) = cells
            .iter()
            .zip(bytes)
            .position(|(old, new)| new & !old != 0)
        {
            return Err(FlashError::BitSet {
                offset: offset + i as u32,
            });
        }
        for (cell, new) in cells.iter_mut().zip(bytes) {
            *cell &= new;
        }
        self.writes += 1;
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------------
// Image verification

/// `esp_image_verify` for the two slots; records every slot it was asked about.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    pub bad: Vec<Slot>,
    pub calls: Vec<Slot>,
}

impl Verifier {
    pub fn all_good() -> Verifier {
        Verifier::default()
    }

    pub fn bad(slot: Slot) -> Verifier {
        Verifier {
            bad: vec![slot],
            calls: Vec::new(),
        }
    }
}

impl pycom_boot::ImageVerifier for Verifier {
    fn verify(&mut self, slot: Slot) -> bool {
        self.calls.push(slot);
        !self.bad.contains(&slot)
    }
}

// ------------------------------------------------------------------------------------------------
// Whole-device helpers

/// What one call of `wait_for_safe_boot` did.
#[derive(Debug)]
pub struct SafeBootRun {
    pub outcome: SafeBootOutcome,
    pub led: Vec<(u64, RGB8)>,
    pub elapsed_ms: u64,
    pub elapsed_ns: u64,
    pub delay_calls: usize,
    pub pin_samples: Vec<(u64, Result<bool, PinFault>)>,
}

/// Runs `wait_for_safe_boot` alone from device time 0 with a pin built by `make_pin`.
pub fn run_safe_boot(make_pin: impl FnOnce(&Clock) -> MockPin) -> SafeBootRun {
    let clock = Clock::new();
    let mut pin = make_pin(&clock);
    let mut delay = MockDelay::new(&clock);
    let mut led = MockLed::new(&clock);
    let outcome = pycom_boot::wait_for_safe_boot(&mut pin, &mut delay, &mut led);
    SafeBootRun {
        outcome,
        led: led.writes,
        elapsed_ms: clock.now_ms(),
        elapsed_ns: clock.now_ns(),
        delay_calls: delay.calls,
        pin_samples: pin.samples,
    }
}

/// A board: its flash survives resets, everything else starts afresh at each one.
#[derive(Debug, Clone)]
pub struct Device {
    pub layout: FlashLayout,
    pub flash: RamFlash,
    /// Slots whose image fails `esp_image_verify`.
    pub bad_images: Vec<Slot>,
}

/// What one reset (one `pycom_boot::boot` call) did.
#[derive(Debug)]
pub struct BootRun {
    pub decision: BootDecision,
    pub led: Vec<(u64, RGB8)>,
    pub elapsed_ms: u64,
    pub console: String,
    pub pin_samples: usize,
    pub delay_calls: usize,
    pub verified: Vec<Slot>,
    pub erases: usize,
    pub writes: usize,
}

impl Device {
    /// A 4 MB board (WiPy 3, LoPy4, SiPy, GPy) with a blank chip.
    pub fn blank_4mb() -> Device {
        Device {
            layout: LAYOUT_4MB,
            flash: RamFlash::erased(4 * 1024 * 1024),
            bad_images: Vec::new(),
        }
    }

    /// An 8 MB board (FiPy, later LoPy4) with a blank chip.
    pub fn blank_8mb() -> Device {
        Device {
            layout: LAYOUT_8MB,
            flash: RamFlash::erased(8 * 1024 * 1024),
            bad_images: Vec::new(),
        }
    }

    /// A 4 MB board whose otadata holds `record` exactly as given.
    pub fn with_record(record: &BootInfo) -> Device {
        let mut device = Device::blank_4mb();
        device.flash.install_record(device.layout.otadata, record);
        device
    }

    /// The record in otadata as it stands (decoded raw, not validated).
    pub fn record(&self) -> BootInfo {
        self.flash.record(self.layout.otadata)
    }

    /// Writes a record as the app does (erase sector, program 40 bytes).
    pub fn app_writes(&mut self, record: &BootInfo) {
        pycom_boot::otadata::write_record(&mut self.flash, self.layout.otadata, record).unwrap();
    }

    /// Presses reset with P12 doing `p12`, and runs the boot decision.
    pub fn reset(&mut self, p12: P12) -> BootRun {
        self.reset_with_pin(|clock| p12.pin(clock))
    }

    pub fn reset_with_pin(&mut self, make_pin: impl FnOnce(&Clock) -> MockPin) -> BootRun {
        let clock = Clock::new();
        let mut pin = make_pin(&clock);
        let mut delay = MockDelay::new(&clock);
        let mut led = MockLed::new(&clock);
        let mut verifier = Verifier {
            bad: self.bad_images.clone(),
            calls: Vec::new(),
        };
        let mut console = String::new();
        self.flash.reset_counters();
        let decision = pycom_boot::boot(
            &self.layout,
            &mut self.flash,
            &mut pin,
            &mut delay,
            &mut led,
            &mut verifier,
            &mut console,
        )
        .expect("flash error during boot");
        BootRun {
            decision,
            led: led.writes,
            elapsed_ms: clock.now_ms(),
            console,
            pin_samples: pin.samples.len(),
            delay_calls: delay.calls,
            verified: verifier.calls,
            erases: self.flash.erases,
            writes: self.flash.writes,
        }
    }
}

/// A record with the given fields, signature 0xFF×16, CRC filled in.
pub fn record(active_img: u32, status: u32, prev_img: u32, size: u32, safeboot: u32) -> BootInfo {
    BootInfo {
        active_img,
        status,
        prev_img,
        size,
        safeboot,
        signature: [0xFF; 16],
        crc: 0,
    }
    .sealed()
}

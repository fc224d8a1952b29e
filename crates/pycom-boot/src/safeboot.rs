//! Hardware safe boot: P12 held high at reset (`bootmgr.c`, `wait_for_safe_boot`).
//!
//! The sequence, with the firmware's constants:
//! 1. Sample P12; if high wait 100 ms and sample again. Low at either sample → no safe boot,
//!    no delay beyond that and no LED activity.
//! 2. Window 1: while P12 is high and `500 * n < 3000`, toggle the LED and wait 500 ms.
//!    Released here → safe boot on the current image.
//! 3. Still high → the previous image. Window 2: the same with 3000 / 250 ms.
//!    Released here → safe boot on the previous image.
//! 4. Still high → the factory slot, then a forced 1500 ms at 100 ms whatever the pin does.
//! 5. LED off.
//!
//! The LED alternates between [`SAFEBOOT_COLOR`] and off; the toggle state starts "on" and
//! carries across the windows (a `static bool` in the firmware, a local here since the function
//! runs once per boot).

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::InputPin;
use smart_leds_trait::{RGB8, SmartLedsWrite};

use crate::boot_info::Slot;

/// `BOOTMGR_WAIT_SAFE_MODE_0_MS`: the debounce between the two first samples.
pub const DEBOUNCE_MS: u32 = 100;
/// Window 1 (`BOOTMGR_WAIT_SAFE_MODE_1_MS` / `_1_BLINK_MS`): slow blink, current image.
pub const WINDOW_1: Window = Window {
    length_ms: 3000,
    period_ms: 500,
    forced: false,
};
/// Window 2: faster blink; entered means the previous image.
pub const WINDOW_2: Window = Window {
    length_ms: 3000,
    period_ms: 250,
    forced: false,
};
/// Window 3: forced fast blink after the factory slot was chosen.
pub const WINDOW_3: Window = Window {
    length_ms: 1500,
    period_ms: 100,
    forced: true,
};
/// `BOOTMGR_SAFEBOOT_COLOR` 0x2C1200 (dim orange).
pub const SAFEBOOT_COLOR: RGB8 = RGB8 {
    r: 0x2C,
    g: 0x12,
    b: 0x00,
};
/// LED off.
pub const LED_OFF: RGB8 = RGB8 { r: 0, g: 0, b: 0 };

/// One blink window of `wait_while_blinking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub length_ms: u32,
    pub period_ms: u32,
    /// Forced windows run to their end whatever the pin does.
    pub forced: bool,
}

/// What the safe-boot check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SafeBootOutcome {
    /// P12 was not held (or released within the 100 ms debounce).
    None,
    /// Released in window 1: scripts skipped, the active image boots.
    Current,
    /// Released in window 2: scripts skipped, the previous image boots.
    Previous,
    /// Held through window 2: scripts skipped, the factory slot boots.
    Factory,
}

impl SafeBootOutcome {
    /// The lower-case name the simulator prints and scenarios match on.
    pub const fn name(self) -> &'static str {
        match self {
            SafeBootOutcome::None => "none",
            SafeBootOutcome::Current => "current",
            SafeBootOutcome::Previous => "previous",
            SafeBootOutcome::Factory => "factory",
        }
    }

    /// Whether P12 asked for a safe boot at all (the firmware's `SAFE_BOOT_HW` return).
    pub const fn is_safe_boot(self) -> bool {
        !matches!(self, SafeBootOutcome::None)
    }

    /// The slot to boot given the stored active and previous slots.
    pub const fn slot(self, active: Slot, previous: Slot) -> Slot {
        match self {
            SafeBootOutcome::None | SafeBootOutcome::Current => active,
            SafeBootOutcome::Previous => previous,
            SafeBootOutcome::Factory => Slot::Factory,
        }
    }
}

/// P12 is "held" when it reads high. A pin that cannot be read counts as released: a bootloader
/// must never refuse to boot because of a flaky input.
fn held<P: InputPin>(pin: &mut P) -> bool {
    pin.is_high().unwrap_or(false)
}

/// The LED is a status light; the firmware ignores errors driving it, and so do we.
fn show<L: SmartLedsWrite<Color = RGB8>>(led: &mut L, colour: RGB8) {
    let _ = led.write(core::iter::once(colour));
}

/// Blink state carried across the windows of one check.
struct Blinker {
    on_next: bool,
}

impl Blinker {
    /// `wait_while_blinking`: returns whether the pin is high after the loop.
    fn run<P, D, L>(&mut self, window: Window, pin: &mut P, delay: &mut D, led: &mut L) -> bool
    where
        P: InputPin,
        D: DelayNs,
        L: SmartLedsWrite<Color = RGB8>,
    {
        let mut count: u32 = 0;
        while (window.forced || held(pin))
            && window.period_ms.saturating_mul(count) < window.length_ms
        {
            show(
                led,
                if self.on_next {
                    SAFEBOOT_COLOR
                } else {
                    LED_OFF
                },
            );
            self.on_next = !self.on_next;
            delay.delay_ms(window.period_ms);
            count = count.saturating_add(1);
        }
        held(pin)
    }
}

/// Runs the hardware safe-boot check on `pin` (P12, configured by the caller as an input with the
/// pull-down the firmware enables), blinking `led` and waiting on `delay`.
pub fn wait_for_safe_boot<P, D, L>(pin: &mut P, delay: &mut D, led: &mut L) -> SafeBootOutcome
where
    P: InputPin,
    D: DelayNs,
    L: SmartLedsWrite<Color = RGB8>,
{
    if !held(pin) {
        return SafeBootOutcome::None;
    }
    delay.delay_ms(DEBOUNCE_MS);
    if !held(pin) {
        return SafeBootOutcome::None;
    }
    let mut blinker = Blinker { on_next: true };
    let outcome = if !blinker.run(WINDOW_1, pin, delay, led) {
        SafeBootOutcome::Current
    } else if !blinker.run(WINDOW_2, pin, delay, led) {
        SafeBootOutcome::Previous
    } else {
        blinker.run(WINDOW_3, pin, delay, led);
        SafeBootOutcome::Factory
    };
    show(led, LED_OFF);
    outcome
}

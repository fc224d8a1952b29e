//! The status LED when its driver may be missing: a board whose LED could not be set up still
//! boots, as the firmware ignores LED errors (the LED is a status light, never a reason to stop).

use smart_leds_trait::SmartLedsWrite;

/// An LED driver, or none.
pub struct StatusLed<L>(pub Option<L>);

impl<L: SmartLedsWrite> SmartLedsWrite for StatusLed<L> {
    type Error = L::Error;
    type Color = L::Color;

    fn write<T, I>(&mut self, iterator: T) -> Result<(), Self::Error>
    where
        T: IntoIterator<Item = I>,
        I: Into<Self::Color>,
    {
        match &mut self.0 {
            Some(led) => led.write(iterator),
            None => Ok(()),
        }
    }
}

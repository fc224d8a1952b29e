//! The WS2812 RGB LED on GPIO0 and the firmware's heartbeat.
//!
//! The LED receives 24-bit frames in GRB order, MSB first, as the firmware's RMT driver and the
//! bootloader's bit-banging send them; the colour it shows is decoded from the frame, so a driver
//! that got the byte order wrong would show the wrong colour here too.

use smart_leds_trait::RGB8;

/// `0x000050`: the heartbeat's dim blue.
pub const HEARTBEAT_COLOR: RGB8 = RGB8 {
    r: 0,
    g: 0,
    b: 0x50,
};
/// `0x500000`: the firmware's fatal-error red.
pub const ERROR_COLOR: RGB8 = RGB8 {
    r: 0x50,
    g: 0,
    b: 0,
};
/// Heartbeat on-time in ms (`mperror.c`).
pub const HEARTBEAT_ON_MS: u64 = 80;
/// Heartbeat off-time in ms.
pub const HEARTBEAT_OFF_MS: u64 = 3920;

/// Encodes a colour as the GRB wire frame.
pub fn grb_frame(colour: RGB8) -> [u8; 3] {
    [colour.g, colour.r, colour.b]
}

/// The LED itself: what colour it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ws2812 {
    colour: RGB8,
}

impl Ws2812 {
    pub fn colour(&self) -> RGB8 {
        self.colour
    }

    /// Latches a GRB frame; returns the new colour if it changed.
    pub fn latch(&mut self, frame: [u8; 3]) -> Option<RGB8> {
        let [g, r, b] = frame;
        let colour = RGB8 { r, g, b };
        (colour != self.colour).then(|| {
            self.colour = colour;
            colour
        })
    }

    /// Power loss: the LED goes dark.
    pub fn power_off(&mut self) -> Option<RGB8> {
        self.latch([0, 0, 0])
    }
}

/// `0xRRGGBB` text of a colour, as people write LED colours.
pub fn hex(colour: RGB8) -> String {
    format!("#{:02x}{:02x}{:02x}", colour.r, colour.g, colour.b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_grb_and_decodes_back() {
        let orange = RGB8 {
            r: 0x2C,
            g: 0x12,
            b: 0,
        };
        assert_eq!(grb_frame(orange), [0x12, 0x2C, 0x00]);
        let mut led = Ws2812::default();
        assert_eq!(led.latch(grb_frame(orange)), Some(orange));
        assert_eq!(
            led.latch(grb_frame(orange)),
            None,
            "same colour is no change"
        );
        assert_eq!(hex(led.colour()), "#2c1200");
    }
}

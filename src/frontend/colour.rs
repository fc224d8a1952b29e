//! The LED swatch in the terminal's best colour: 24-bit where the terminal says it has it
//! (`COLORTERM=truecolor`), else the 256-colour cube, else the 16 ANSI colours; none at all
//! with `NO_COLOR` (<https://no-color.org>) or a dumb terminal.
//!
//! The LED's values are PWM duty (the safe-boot orange is `#2c1200`, about a sixth of full
//! scale): drawn as they are they would be a brown smudge. A WS2812 at that duty still glows
//! clearly orange to the eye, so the swatch keeps the hue and raises the brightness until the
//! strongest channel is full; the hex beside it is the LED's exact value.

/// What the terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourMode {
    None,
    Ansi16,
    Ansi256,
    TrueColour,
}

impl ColourMode {
    /// From the environment, as terminal programs decide it.
    pub fn detect() -> ColourMode {
        let var = |n: &str| std::env::var(n).unwrap_or_default();
        ColourMode::from_env(&var("NO_COLOR"), &var("COLORTERM"), &var("TERM"))
    }

    pub fn from_env(no_color: &str, colorterm: &str, term: &str) -> ColourMode {
        if !no_color.is_empty() || term == "dumb" {
            ColourMode::None
        } else if matches!(colorterm, "truecolor" | "24bit") {
            ColourMode::TrueColour
        } else if term.contains("256color") {
            ColourMode::Ansi256
        } else {
            ColourMode::Ansi16
        }
    }
}

/// Parses `#rrggbb`.
pub fn parse_hex(hex: &str) -> Option<(u8, u8, u8)> {
    let h = hex.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let c = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
    Some((c(0)?, c(2)?, c(4)?))
}

/// The colour the swatch shows: the LED's hue at full brightness (black stays black).
pub fn glow((r, g, b): (u8, u8, u8)) -> (u8, u8, u8) {
    let max = r.max(g).max(b);
    if max == 0 {
        return (0, 0, 0);
    }
    let scale = |v: u8| ((u16::from(v) * 255 + u16::from(max) / 2) / u16::from(max)) as u8;
    (scale(r), scale(g), scale(b))
}

/// The SGR parameters for a background of `rgb` in `mode` (empty for `None`).
pub fn background(mode: ColourMode, rgb: (u8, u8, u8)) -> String {
    let (r, g, b) = rgb;
    match mode {
        ColourMode::None => String::new(),
        ColourMode::TrueColour => format!("48;2;{r};{g};{b}"),
        ColourMode::Ansi256 => {
            let q = |v: u8| (u16::from(v) * 5 + 127) / 255;
            format!("48;5;{}", 16 + 36 * q(r) + 6 * q(g) + q(b))
        }
        ColourMode::Ansi16 => {
            let index = nearest_16(rgb);
            if index < 8 {
                format!("{}", 40 + index)
            } else {
                format!("{}", 100 + index - 8)
            }
        }
    }
}

/// The xterm palette of the 16 ANSI colours.
const PALETTE_16: [(u8, u8, u8); 16] = [
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
];

fn nearest_16((r, g, b): (u8, u8, u8)) -> usize {
    let d = |(pr, pg, pb): (u8, u8, u8)| {
        let sq = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        sq(r, pr) + sq(g, pg) + sq(b, pb)
    };
    (0..16)
        .min_by_key(|&i| PALETTE_16.get(i).map_or(i32::MAX, |&p| d(p)))
        .unwrap_or(0)
}

/// The LED as the status line draws it: a swatch (when colour is on) and the exact hex.
pub fn swatch(mode: ColourMode, hex: &str) -> String {
    let rgb = parse_hex(hex).unwrap_or((0, 0, 0));
    let off = rgb == (0, 0, 0);
    match mode {
        ColourMode::None => format!("LED {}{hex}", if off { "( ) " } else { "(*) " }),
        _ if off => format!("LED \x1b[2m[  ]\x1b[22m {hex}"),
        _ => format!("LED \x1b[{}m    \x1b[0m {hex}", background(mode, glow(rgb))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_come_from_the_environment() {
        assert_eq!(
            ColourMode::from_env("1", "truecolor", "xterm-256color"),
            ColourMode::None
        );
        assert_eq!(
            ColourMode::from_env("", "truecolor", "xterm"),
            ColourMode::TrueColour
        );
        assert_eq!(
            ColourMode::from_env("", "", "xterm-256color"),
            ColourMode::Ansi256
        );
        assert_eq!(ColourMode::from_env("", "", "xterm"), ColourMode::Ansi16);
        assert_eq!(ColourMode::from_env("", "", "dumb"), ColourMode::None);
    }

    #[test]
    fn the_safe_boot_orange_glows_orange_in_every_mode() {
        let orange = glow(parse_hex("#2c1200").unwrap());
        assert_eq!(orange, (255, 104, 0));
        assert_eq!(background(ColourMode::TrueColour, orange), "48;2;255;104;0");
        assert_eq!(background(ColourMode::Ansi256, orange), "48;5;208");
        // Nearest of the 16: red or yellow, never black.
        assert!(matches!(
            background(ColourMode::Ansi16, orange).as_str(),
            "41" | "43" | "101" | "103"
        ));
        let blue = glow(parse_hex("#000050").unwrap());
        assert_eq!(blue, (0, 0, 255));
        assert!(!swatch(ColourMode::None, "#2c1200").contains('\x1b'));
    }
}

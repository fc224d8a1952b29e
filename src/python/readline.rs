//! The firmware's line editor (MicroPython's `readline` as Pycom builds it: history of 8 lines,
//! auto-indent, tab completion, VT100 cursor keys), as a state machine fed one UART byte at a
//! time. It knows nothing of the interpreter: completion asks a callback for names, and
//! everything it would echo goes into an output buffer, so the echo bytes are testable alone.

use std::collections::VecDeque;

/// `readline_hist[8]` in the firmware's root pointers.
pub const HISTORY_SIZE: usize = 8;

const CTRL_A: u8 = 0x01;
const CTRL_C: u8 = 0x03;
const CTRL_E: u8 = 0x05;
const ESC: u8 = 0x1B;

/// Lines entered since the interpreter started (the firmware clears them at every soft reset).
#[derive(Debug, Default, Clone)]
pub struct History {
    /// Newest first.
    lines: VecDeque<String>,
}

impl History {
    /// Remembers a line unless it is empty or repeats the newest one.
    pub fn push(&mut self, line: &str) {
        if line.is_empty() || self.lines.front().is_some_and(|l| l == line) {
            return;
        }
        self.lines.push_front(line.to_string());
        self.lines.truncate(HISTORY_SIZE);
    }

    /// The `n`th newest line.
    pub fn get(&self, n: usize) -> Option<&str> {
        self.lines.get(n).map(String::as_str)
    }
}

/// Tab completion's source of names: `(dotted path, prefix) -> names`.
pub type Names<'a> = &'a mut dyn FnMut(&[&str], &str) -> Vec<String>;

/// What a byte did to the line being edited.
#[derive(Debug, PartialEq, Eq)]
pub enum Key {
    /// Still editing.
    Editing,
    /// Enter: the finished line (without auto-indent's context, with its spaces).
    Line(String),
    /// Ctrl-A…Ctrl-E on an empty line, or Ctrl-C anywhere: handed to the caller.
    Control(u8),
}

/// Where an escape sequence has got to (`ESC [ A`, `ESC [ 3 ~`, `ESC O H`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Esc,
    Bracket,
    BracketDigit(u8),
    O,
}

/// One line being edited at a prompt.
#[derive(Debug)]
pub struct LineEditor {
    prompt: String,
    line: Vec<char>,
    cursor: usize,
    escape: Escape,
    /// Which history line is shown (None: the line being typed).
    shown: Option<usize>,
    /// Bytes of a UTF-8 character not complete yet.
    partial: Vec<u8>,
}

/// A cursor movement, a redraw from the cursor and a movement forward: how the firmware updates
/// the terminal after each key, with the fewest bytes.
#[derive(Default)]
struct Redraw {
    back: usize,
    from_cursor: bool,
    forward: usize,
}

impl LineEditor {
    /// Prints `prompt` and, on a continuation line, the indentation auto-indent chooses from the
    /// lines typed so far (`previous`, one string per line).
    pub fn start(prompt: &str, previous: &[String], out: &mut Vec<u8>) -> LineEditor {
        out.extend_from_slice(prompt.as_bytes());
        let indent = auto_indent(previous);
        out.extend(std::iter::repeat_n(b' ', indent));
        LineEditor {
            prompt: prompt.to_string(),
            line: vec![' '; indent],
            cursor: indent,
            escape: Escape::None,
            shown: None,
            partial: Vec::new(),
        }
    }

    /// The text typed so far.
    pub fn text(&self) -> String {
        self.line.iter().collect()
    }

    /// Feeds one byte. `names(path, prefix)` lists the names starting with `prefix` under a
    /// dotted path (`[]` for the prompt's globals, `["os"]` for `os.`); it is asked only when
    /// Tab is pressed.
    pub fn feed(&mut self, b: u8, history: &mut History, out: &mut Vec<u8>, names: Names) -> Key {
        let before = self.line.len();
        let mut redraw = Redraw::default();
        match self.escape {
            Escape::Esc => {
                self.escape = match b {
                    b'[' => Escape::Bracket,
                    b'O' => Escape::O,
                    _ => Escape::None,
                };
                return Key::Editing;
            }
            Escape::Bracket => {
                self.escape = Escape::None;
                match b {
                    b'0'..=b'9' => self.escape = Escape::BracketDigit(b),
                    b'A' => self.history_step(history, true, &mut redraw),
                    b'B' => self.history_step(history, false, &mut redraw),
                    b'C' if self.cursor < self.line.len() => redraw.forward = 1,
                    b'D' if self.cursor > 0 => redraw.back = 1,
                    b'H' => redraw.back = self.cursor,
                    b'F' => redraw.forward = self.line.len() - self.cursor,
                    _ => {}
                }
            }
            Escape::BracketDigit(d) => {
                self.escape = Escape::None;
                if b == b'~' {
                    match d {
                        b'1' | b'7' => redraw.back = self.cursor,
                        b'4' | b'8' => redraw.forward = self.line.len() - self.cursor,
                        b'3' if self.cursor < self.line.len() => {
                            self.line.remove(self.cursor);
                            redraw.from_cursor = true;
                        }
                        _ => {}
                    }
                }
            }
            Escape::O => {
                self.escape = Escape::None;
                match b {
                    b'H' => redraw.back = self.cursor,
                    b'F' => redraw.forward = self.line.len() - self.cursor,
                    _ => {}
                }
            }
            Escape::None => match b {
                CTRL_A..=CTRL_E if self.line.is_empty() => return Key::Control(b),
                CTRL_C => return Key::Control(b),
                b'\r' | b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    let text = self.text();
                    history.push(&text);
                    return Key::Line(text);
                }
                ESC => self.escape = Escape::Esc,
                0x08 | 0x7F if self.cursor > 0 => {
                    // Backspace over auto-indent's spaces removes a whole level.
                    let spaces = self.line[..self.cursor].iter().all(|&c| c == ' ');
                    let n = if spaces && self.cursor >= 4 { 4 } else { 1 };
                    self.line.drain(self.cursor - n..self.cursor);
                    redraw.back = n;
                    redraw.from_cursor = true;
                }
                b'\t' => self.complete(out, names, &mut redraw),
                0x20..=0x7E => self.insert(&[b as char], &mut redraw),
                0x80..=0xFF => {
                    self.partial.push(b);
                    match std::str::from_utf8(&self.partial) {
                        Ok(s) => {
                            let chars: Vec<char> = s.chars().collect();
                            self.partial.clear();
                            self.insert(&chars, &mut redraw);
                        }
                        Err(e) if e.error_len().is_some() || self.partial.len() >= 4 => {
                            self.partial.clear();
                        }
                        Err(_) => {}
                    }
                }
                _ => {}
            },
        }
        self.apply(redraw, before, out);
        Key::Editing
    }

    fn insert(&mut self, chars: &[char], redraw: &mut Redraw) {
        for (i, &c) in chars.iter().enumerate() {
            self.line.insert(self.cursor + i, c);
        }
        redraw.from_cursor = true;
        redraw.forward = chars.len();
    }

    /// Up (`older`) or down the history: the line is replaced by the history line.
    fn history_step(&mut self, history: &History, older: bool, redraw: &mut Redraw) {
        let next = match (self.shown, older) {
            (None, true) => Some(0),
            (Some(n), true) => Some(n + 1),
            (None, false) => return,
            (Some(0), false) => None,
            (Some(n), false) => Some(n - 1),
        };
        let text = match next {
            Some(n) => match history.get(n) {
                Some(t) => t.to_string(),
                None => return,
            },
            None => String::new(),
        };
        self.shown = next;
        redraw.back = self.cursor;
        self.line = text.chars().collect();
        redraw.from_cursor = true;
        redraw.forward = self.line.len();
    }

    /// Tab: completes the dotted name before the cursor, or lists the candidates.
    fn complete(&mut self, out: &mut Vec<u8>, names: Names, redraw: &mut Redraw) {
        let before: String = self.line[..self.cursor].iter().collect();
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        let mut parts: Vec<&str> = word.split('.').collect();
        let prefix = parts.pop().unwrap_or_default();
        let mut candidates: Vec<String> = names(&parts, prefix)
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .filter(|n| prefix.starts_with('_') || !n.starts_with("__"))
            .collect();
        candidates.sort();
        candidates.dedup();
        if candidates.is_empty() {
            // Only "import " is completed from nothing, at the start of the line.
            if start == 0 && parts.is_empty() && "import ".starts_with(prefix) && !prefix.is_empty()
            {
                let rest: Vec<char> = "import "[prefix.len()..].chars().collect();
                self.insert(&rest, redraw);
            }
            return;
        }
        let common = common_prefix(&candidates);
        if candidates.len() == 1 || common.len() > prefix.len() {
            let rest: Vec<char> = common[prefix.len()..].chars().collect();
            self.insert(&rest, redraw);
            return;
        }
        out.extend_from_slice(&list_in_columns(&candidates));
        out.extend_from_slice(self.prompt.as_bytes());
        out.extend_from_slice(before.as_bytes());
        redraw.from_cursor = true;
    }

    /// Moves the terminal's cursor and redraws as `redraw` says (`before`: the line's length
    /// before the key, to know whether old characters must be erased).
    fn apply(&mut self, redraw: Redraw, before: usize, out: &mut Vec<u8>) {
        if redraw.back > 0 {
            move_back(out, redraw.back);
            self.cursor -= redraw.back;
        }
        if redraw.from_cursor {
            if self.line.len() < before {
                out.extend_from_slice(b"\x1b[K");
            }
            let tail: String = self.line[self.cursor..].iter().collect();
            out.extend_from_slice(tail.as_bytes());
            move_back(out, self.line.len() - (self.cursor + redraw.forward));
            self.cursor += redraw.forward;
        } else if redraw.forward > 0 {
            let over: String = self.line[self.cursor..self.cursor + redraw.forward]
                .iter()
                .collect();
            out.extend_from_slice(over.as_bytes());
            self.cursor += redraw.forward;
        }
    }
}

/// Auto-indent: the previous line's indentation, one level more after a `:`, none when the last
/// two lines were blank (so Enter three times ends a block).
fn auto_indent(previous: &[String]) -> usize {
    let Some(last) = previous.last() else {
        return 0;
    };
    let blank = |l: &str| l.chars().all(|c| c == ' ');
    if let [.., second, _] = previous
        && blank(last)
        && blank(second)
    {
        return 0;
    }
    leading_levels(last) + if last.ends_with(':') { 4 } else { 0 }
}

/// Leading spaces of `line`, rounded down to whole 4-space levels.
fn leading_levels(line: &str) -> usize {
    line.chars().take_while(|&c| c == ' ').count() / 4 * 4
}

/// VT100 cursor left: backspaces for up to 4 columns, `ESC [ n D` beyond.
fn move_back(out: &mut Vec<u8>, n: usize) {
    if n == 0 {
        return;
    }
    if n <= 4 {
        out.extend(std::iter::repeat_n(b'\x08', n));
    } else {
        out.extend_from_slice(format!("\x1b[{n}D").as_bytes());
    }
}

fn common_prefix(words: &[String]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut len = first.len();
    for w in words {
        len = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(len);
    }
    first[..len].to_string()
}

/// The candidate list as the firmware prints it: 16-column slots, at most 64 columns a line,
/// starting on a new line and ending with one.
fn list_in_columns(words: &[String]) -> Vec<u8> {
    const SLOT: usize = 16;
    const MAX_LINE: usize = 4 * SLOT;
    let mut out = String::new();
    let mut line_len = MAX_LINE;
    for w in words {
        let mut gap = line_len.div_ceil(SLOT) * SLOT - line_len;
        if gap < 2 {
            gap += SLOT;
        }
        if line_len + gap + w.len() <= MAX_LINE {
            out.push_str(&" ".repeat(gap));
            out.push_str(w);
            line_len += gap + w.len();
        } else {
            out.push_str("\r\n");
            out.push_str(w);
            line_len = w.len();
        }
    }
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Types `keys` at a fresh `>>> ` prompt; returns what came back and the last key's result.
    fn type_keys(history: &mut History, previous: &[String], keys: &[u8]) -> (String, Key) {
        let mut out = Vec::new();
        let mut ed = LineEditor::start(">>> ", previous, &mut out);
        let mut names = |path: &[&str], _prefix: &str| -> Vec<String> {
            match path {
                [] => ["machine", "main_loop", "max_count", "x"]
                    .map(String::from)
                    .to_vec(),
                ["machine"] => ["Pin", "PWM", "reset", "reset_cause", "__name__"]
                    .map(String::from)
                    .to_vec(),
                _ => Vec::new(),
            }
        };
        let mut last = Key::Editing;
        for &b in keys {
            last = ed.feed(b, history, &mut out, &mut names);
        }
        (String::from_utf8_lossy(&out).into_owned(), last)
    }

    fn line(text: &str) -> Key {
        Key::Line(text.to_string())
    }

    #[test]
    fn typing_echoes_and_enter_returns_the_line() {
        let mut h = History::default();
        let (out, key) = type_keys(&mut h, &[], b"x = 1\r");
        assert_eq!(out, ">>> x = 1\r\n");
        assert_eq!(key, line("x = 1"));
    }

    #[test]
    fn backspace_erases_with_the_vt100_sequence() {
        let mut h = History::default();
        let (out, key) = type_keys(&mut h, &[], b"ab\x7f\x08c\r");
        assert_eq!(out, ">>> ab\x08\x1b[K\x08\x1b[Kc\r\n");
        assert_eq!(key, line("c"));
    }

    #[test]
    fn cursor_keys_edit_inside_the_line() {
        let mut h = History::default();
        // "ac", left, insert "b" (redraws "bc" and steps back over "c"), end, delete at start.
        let (out, key) = type_keys(&mut h, &[], b"ac\x1b[Db\x1b[F\x1b[H\x1b[3~\r");
        assert_eq!(out, ">>> ac\x08bc\x08c\x08\x08\x08\x1b[Kbc\x08\x08\r\n");
        assert_eq!(key, line("bc"));
    }

    #[test]
    fn up_and_down_walk_the_history_newest_first() {
        let mut h = History::default();
        for l in ["one", "two", "two", "three"] {
            h.push(l);
        }
        h.push("");
        let (out, key) = type_keys(&mut h, &[], b"\x1b[A\x1b[A\x1b[A\x1b[A\x1b[B\r");
        // three → two → one → (no older: unchanged) → two.
        assert_eq!(
            out,
            ">>> three\x1b[5D\x1b[Ktwo\x08\x08\x08one\x08\x08\x08two\r\n"
        );
        assert_eq!(key, line("two"));
        assert_eq!(h.get(0), Some("two"));
        assert_eq!(h.get(1), Some("three"));
    }

    #[test]
    fn history_keeps_eight_lines() {
        let mut h = History::default();
        for i in 0..10 {
            h.push(&i.to_string());
        }
        assert_eq!(h.get(0), Some("9"));
        assert_eq!(h.get(7), Some("2"));
        assert_eq!(h.get(8), None);
    }

    #[test]
    fn auto_indent_follows_colons_and_stops_after_two_blank_lines() {
        let prev = |ls: &[&str]| ls.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(auto_indent(&prev(&[])), 0);
        assert_eq!(auto_indent(&prev(&["for i in range(3):"])), 4);
        assert_eq!(auto_indent(&prev(&["for i in x:", "    if i:"])), 8);
        assert_eq!(auto_indent(&prev(&["for i in x:", "        break"])), 8);
        assert_eq!(auto_indent(&prev(&["for i in x:", "    f(i)", "    "])), 4);
        assert_eq!(
            auto_indent(&prev(&["for i in x:", "    f(i)", "    ", "    "])),
            0
        );
        assert_eq!(auto_indent(&prev(&["x = (1,"])), 0);
    }

    #[test]
    fn backspace_over_indentation_removes_a_level() {
        let mut h = History::default();
        let prev = vec!["if x:".to_string(), "    if y:".to_string()];
        let (out, key) = type_keys(&mut h, &prev, b"\x7fz\r");
        assert_eq!(out, ">>>         \x08\x08\x08\x08\x1b[Kz\r\n");
        assert_eq!(key, line("    z"));
    }

    #[test]
    fn control_keys_reach_the_caller_only_on_an_empty_line() {
        let mut h = History::default();
        assert_eq!(type_keys(&mut h, &[], b"\x04").1, Key::Control(0x04));
        assert_eq!(type_keys(&mut h, &[], b"x\x04").1, Key::Editing);
        assert_eq!(type_keys(&mut h, &[], b"x\x03").1, Key::Control(0x03));
    }

    #[test]
    fn tab_completes_a_unique_name_or_the_common_part() {
        let mut h = History::default();
        let (out, key) = type_keys(&mut h, &[], b"mac\t\r");
        assert_eq!(out, ">>> machine\r\n");
        assert_eq!(key, line("machine"));
        let (_, key) = type_keys(&mut h, &[], b"machine.res\t\r");
        assert_eq!(key, line("machine.reset"));
        let (_, key) = type_keys(&mut h, &[], b"imp\t\r");
        assert_eq!(key, line("import "));
        let (_, key) = type_keys(&mut h, &[], b"zz\t\r");
        assert_eq!(key, line("zz"));
    }

    #[test]
    fn tab_lists_candidates_in_columns_and_redraws_the_line() {
        let mut h = History::default();
        let (out, _) = type_keys(&mut h, &[], b"machine.P\t");
        let row = format!("PWM{}Pin", " ".repeat(13));
        assert_eq!(out, format!(">>> machine.P\r\n{row}\r\n>>> machine.P"));
        let (out, _) = type_keys(&mut h, &[], b"ma\t");
        // Each word starts on a 16-column slot.
        let row = format!(
            "machine{}main_loop{}max_count",
            " ".repeat(9),
            " ".repeat(7)
        );
        assert_eq!(out, format!(">>> ma\r\n{row}\r\n>>> ma"));
    }

    #[test]
    fn utf8_characters_are_one_column() {
        let mut h = History::default();
        let (out, key) = type_keys(&mut h, &[], "'é'\x7f\x7f\r".as_bytes());
        assert_eq!(out, ">>> 'é'\x08\x1b[K\x08\x1b[K\r\n");
        assert_eq!(key, line("'"));
    }
}

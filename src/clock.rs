//! The device clock: one time base for everything the device does, virtual or real.
//!
//! In virtual time the clock jumps over waits (a bootloader delay, a sleep, an idle REPL), so
//! 7.6 s of safe-boot blinking costs microseconds of wall time and every run is repeatable. In
//! real time waits take wall time, so a person watching the LED sees it blink at the right speed.
//! Either way, every timestamp anyone sees is device time, in microseconds since power-on.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// How device time relates to wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TimeMode {
    /// Device time jumps over every wait: deterministic and fast (tests, scenarios, CI).
    Virtual,
    /// Device time follows the wall clock (the interactive default).
    #[default]
    Real,
}

/// Device time in microseconds since the last power-on.
pub type Micros = u64;

/// Microseconds in a millisecond, for readable conversions.
pub const US_PER_MS: Micros = 1_000;

/// The device clock.
#[derive(Debug)]
pub struct Clock {
    mode: TimeMode,
    now: Micros,
    /// Wall-clock instant that corresponds to device time `now` (real mode, or computing).
    anchor: Instant,
    /// Code is computing: in virtual time the clock then follows the wall clock too, so a busy
    /// loop still sees time pass and its timers fire; only waits are jumped over.
    computing: bool,
    /// Computation takes no device time (scenarios): only waits move the clock, so the same
    /// scenario gives the same device times however loaded the host is. A busy loop polling
    /// `ticks_ms` then never sees time pass; scripted runs use sleeps and waits instead.
    free_compute: bool,
}

impl Clock {
    pub fn new(mode: TimeMode) -> Clock {
        Clock {
            mode,
            now: 0,
            anchor: Instant::now(),
            computing: false,
            free_compute: false,
        }
    }

    /// Makes computation take no device time (see [`Clock`]'s `free_compute`).
    pub fn set_free_compute(&mut self, free: bool) {
        self.now();
        self.anchor = Instant::now();
        self.free_compute = free;
    }

    /// Whether code is computing (see [`Clock`]'s `computing`).
    pub fn computing(&self) -> bool {
        self.computing
    }

    /// Marks the start or end of a stretch of computation (see [`Clock`]'s `computing`).
    pub fn set_computing(&mut self, computing: bool) {
        self.now();
        self.anchor = Instant::now();
        self.computing = computing;
    }

    pub fn mode(&self) -> TimeMode {
        self.mode
    }

    /// Current device time. In real mode this follows the wall clock between waits.
    pub fn now(&mut self) -> Micros {
        if self.mode == TimeMode::Real || (self.computing && !self.free_compute) {
            let wall = Instant::now();
            let elapsed = wall.saturating_duration_since(self.anchor).as_micros();
            self.now = self
                .now
                .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX));
            self.anchor = wall;
        }
        self.now
    }

    /// Wall-clock time left until device time `target` (zero in virtual mode or when past).
    pub fn wall_until(&mut self, target: Micros) -> Duration {
        match self.mode {
            TimeMode::Virtual => Duration::ZERO,
            TimeMode::Real => Duration::from_micros(target.saturating_sub(self.now())),
        }
    }

    /// Moves device time forward to `target` (never backwards). In real mode the caller has
    /// already waited the wall time; this only settles rounding so time never runs back.
    pub fn advance_to(&mut self, target: Micros) {
        let now = self.now();
        if target > now {
            self.now = target;
            self.anchor = Instant::now();
        }
    }

    /// Power-on: device time restarts at zero.
    pub fn restart(&mut self) {
        self.now = 0;
        self.anchor = Instant::now();
    }
}

/// Things that happen at a device time, in order of time and then of scheduling.
#[derive(Debug)]
pub struct Schedule<T> {
    heap: BinaryHeap<Reverse<(Micros, u64, Entry<T>)>>,
    seq: u64,
}

#[derive(Debug)]
struct Entry<T>(T);

impl<T> PartialEq for Entry<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> Default for Schedule<T> {
    fn default() -> Self {
        Schedule {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> Schedule<T> {
    pub fn push(&mut self, at: Micros, item: T) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, Entry(item))));
    }

    /// Due time of the earliest entry.
    pub fn next_due(&self) -> Option<Micros> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns the earliest entry if it is due at or before `until`.
    pub fn pop_due(&mut self, until: Micros) -> Option<(Micros, T)> {
        if self.next_due()? <= until {
            self.heap
                .pop()
                .map(|Reverse((at, _, Entry(item)))| (at, item))
        } else {
            None
        }
    }

    /// Whether any entry satisfies `pred` (used to ignore the heartbeat when judging idleness).
    pub fn any(&self, mut pred: impl FnMut(&T) -> bool) -> bool {
        self.heap
            .iter()
            .any(|Reverse((_, _, Entry(item)))| pred(item))
    }

    /// Drops every entry for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let entries = std::mem::take(&mut self.heap).into_vec();
        self.heap = entries
            .into_iter()
            .filter(|Reverse((_, _, Entry(item)))| keep(item))
            .collect();
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_orders_by_time_then_insertion() {
        let mut s = Schedule::default();
        s.push(500, "b");
        s.push(100, "a");
        s.push(500, "c");
        assert_eq!(s.pop_due(99), None);
        assert_eq!(s.pop_due(1000), Some((100, "a")));
        assert_eq!(s.pop_due(1000), Some((500, "b")));
        assert_eq!(s.pop_due(1000), Some((500, "c")));
        assert!(s.is_empty());
    }

    #[test]
    fn free_compute_keeps_wall_time_out_of_virtual_time() {
        let mut c = Clock::new(TimeMode::Virtual);
        c.set_free_compute(true);
        c.set_computing(true);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.now(), 0, "computation took no device time");
        c.set_free_compute(false);
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            c.now() >= 5_000,
            "without it computation follows the wall clock"
        );
    }

    #[test]
    fn virtual_clock_only_moves_when_told() {
        let mut c = Clock::new(TimeMode::Virtual);
        assert_eq!(c.now(), 0);
        c.advance_to(7_600_000);
        assert_eq!(c.now(), 7_600_000);
        c.advance_to(5);
        assert_eq!(c.now(), 7_600_000, "time never runs backwards");
        assert_eq!(c.wall_until(9_000_000), Duration::ZERO);
    }
}

//! The soak: a LoPy4 in virtual time for a long stretch of device time with everything busy at
//! once, to show that nothing is lost and memory does not grow.
//!
//! - `main.py` (via `/flash/lib/soak.py`) arms a 1 ms periodic `Timer.Alarm` and a Pin IRQ on
//!   P10 for both edges, each counting its calls;
//! - the host toggles P10 every 3 ms of device time (`Batch::at` with pin drives);
//! - every second the host types a query line with a payload, and the device prints its counts
//!   and the payload back (UART traffic both ways);
//! - every minute the reset button (hard reset, ROM and bootloader again), and 30 s later Ctrl-D
//!   (soft reset), so each boot runs half a minute.
//!
//! Between two queries 1 s apart in the same boot the alarm must have run exactly 1000 times and
//! the IRQ handler exactly once per toggle the host scheduled in between; every query must be
//! answered with its payload intact; every reset must be seen. RSS is read at the start (after the
//! first boot) and at the end.
//!
//! `scripts/soak` runs the full hour on a release build (`cargo run --release --example
//! bench_soak -- 60`); `tests/soak.rs` includes this file and runs three minutes of it.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use pycom_sim::board::Board;
use pycom_sim::clock::TimeMode;
use pycom_sim::device::{Action, DeviceConfig, DeviceHandle, FlashSource, Watch};
use pycom_sim::event::{Event, EventKind};
use pycom_sim::flash::{FlashFile, OpenOptions};
use pycom_sim::gpio::Drive;
use pycom_sim::image::default_image;

/// The device's side: counters in a module, so the REPL's `import soak` finds the same ones.
const SOAK_PY: &str = "\
from machine import Pin, Timer
n = [0, 0]
def _tick(a):
    n[0] += 1
def _edge(p):
    n[1] += 1
pin = Pin('P10', mode=Pin.IN, pull=None)
pin.callback(Pin.IRQ_RISING | Pin.IRQ_FALLING, _edge)
alarm = Timer.Alarm(_tick, ms=1, periodic=True)
def r(payload):
    print('S', n[0], n[1], payload)
";

/// Device time of the 3 ms pin toggles, the 1 ms alarm, and the queries' offset in each second
/// (never on the 1 ms grid, so no query shares a device time with a toggle or an alarm).
const TOGGLE_US: u64 = 3_000;
const ALARM_US: u64 = 1_000;
const QUERY_OFFSET_US: u64 = 500;
/// Seconds into each half-minute boot before the first query: the boot is long done by then.
const SETTLE_S: u64 = 2;

/// How much the RSS may grow from the first boot to the end, however long the soak: a soft
/// reset builds a new interpreter and the allocator keeps some freed pages, but a leak of even
/// one interpreter per reset (tens of MiB) over an hour's 120 resets goes far past it.
pub const RSS_GROWTH_BOUND_KIB: u64 = 64 * 1024;

/// What a soak run saw.
#[derive(Debug, Default, Clone)]
pub struct SoakReport {
    /// Device time covered.
    pub device_s: u64,
    pub wall: Duration,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    /// The highest RSS read (once per device minute).
    pub rss_peak_kib: u64,
    /// RSS at the end of each device minute: a leak shows as a slope.
    pub rss_by_minute_kib: Vec<u64>,
    pub alarms: u64,
    pub irqs: u64,
    pub toggles_scheduled: u64,
    pub queries: u64,
    pub answers: u64,
    pub hard_resets: u64,
    pub soft_resets: u64,
    /// Every way the run broke its invariants (empty: it held).
    pub problems: Vec<String>,
}

/// The process's resident set, from `/proc/self/status` (Linux).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// One answer the device printed: `S <alarms> <irqs> <payload>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    alarms: u64,
    irqs: u64,
    payload: u64,
}

/// Picks the answers out of UART text, keeping a partial line for the next chunk.
fn answers(pending: &mut String, text: &[u8], out: &mut Vec<Answer>) {
    pending.push_str(&String::from_utf8_lossy(text));
    while let Some(end) = pending.find("\r\n") {
        let line: String = pending.drain(..end + 2).collect();
        let mut words = line.trim_end().split(' ');
        if words.next() != Some("S") {
            continue;
        }
        let nums: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
        if let [alarms, irqs, payload] = nums[..] {
            out.push(Answer {
                alarms,
                irqs,
                payload,
            });
        }
    }
}

/// The payload of query `q`: a number whose digits change every query, so an answer that came
/// back garbled or for the wrong query is noticed.
fn payload(q: u64) -> u64 {
    q.wrapping_mul(2_654_435_761) % 1_000_000_007
}

/// Runs `minutes` of device time. `wall_limit` bounds the wall time (a wedged device fails
/// instead of hanging the caller).
pub fn soak(minutes: u64, wall_limit: Duration) -> SoakReport {
    let mut report = SoakReport::default();
    let started = Instant::now();
    let board = Board::builtin("lopy4").expect("lopy4");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("soak.flash");
    {
        let (mut flash, _) =
            FlashFile::open_or_create(&path, &board, &default_image(), OpenOptions::default())
                .expect("flash file");
        pycom_sim::fs::write_file(&mut flash, board.fs, "/lib/soak.py", SOAK_PY.as_bytes())
            .expect("soak.py");
        pycom_sim::fs::write_file(&mut flash, board.fs, "/main.py", b"import soak\n")
            .expect("main.py");
    }
    let handle = DeviceHandle::spawn(DeviceConfig {
        board,
        flash: FlashSource::File(path),
        reformat: false,
        time: TimeMode::Virtual,
        sd: None,
    })
    .expect("device");
    let p10 = handle.pin("P10").expect("P10");
    let events = handle.subscribe();
    let mut batch = handle.batch();
    // Computation takes no device time: every run gives the same device times.
    batch.free_compute().power_on().watch(Watch {
        until: None,
        deadline: Some(0),
    });
    batch.send();
    let mut pending = String::new();
    let mut got = Vec::new();
    let mut level = false;
    let mut next_toggle = TOGGLE_US;
    // (query device time, query number) of the current boot, in order.
    let mut asked: Vec<(u64, u64)> = Vec::new();
    let mut query = 0u64;

    let settle = |events: &Receiver<Event>,
                  pending: &mut String,
                  got: &mut Vec<Answer>,
                  report: &mut SoakReport|
     -> Result<(), String> {
        loop {
            let left = wall_limit.saturating_sub(started.elapsed());
            match events.recv_timeout(left) {
                Ok(Event {
                    kind: EventKind::Paused { .. },
                    ..
                }) => return Ok(()),
                Ok(Event {
                    kind: EventKind::Uart { text },
                    ..
                }) => {
                    if String::from_utf8_lossy(&text).contains("soft reboot") {
                        report.soft_resets += 1;
                    }
                    answers(pending, &text, got);
                }
                // The power-on at time 0 is not a reset the soak asked for.
                Ok(Event {
                    kind: EventKind::Reset { .. },
                    time_us,
                }) if time_us > 0 => report.hard_resets += 1,
                Ok(Event {
                    kind: EventKind::Fault { message },
                    ..
                }) => return Err(format!("fault: {message}")),
                Ok(Event {
                    kind: EventKind::Stopped,
                    ..
                }) => return Err("the device stopped".into()),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("over the wall-time limit of {wall_limit:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => return Err("the device is gone".into()),
            }
        }
    };
    if let Err(e) = settle(&events, &mut pending, &mut got, &mut report) {
        report.problems.push(e);
        return report;
    }

    let check_boot = |asked: &[(u64, u64)], got: &[Answer], report: &mut SoakReport| {
        report.queries += asked.len() as u64;
        report.answers += got.len() as u64;
        if got.len() != asked.len() {
            report.problems.push(format!(
                "{} queries at {:?} s, {} answers",
                asked.len(),
                asked.first().map(|a| a.0 / 1_000_000),
                got.len()
            ));
            return;
        }
        for (a, (_, q)) in got.iter().zip(asked) {
            if a.payload != payload(*q) {
                report.problems.push(format!(
                    "query {q}: payload {} came back as {}",
                    payload(*q),
                    a.payload
                ));
            }
        }
        for (pair, times) in got.windows(2).zip(asked.windows(2)) {
            let (t0, t1) = (times[0].0, times[1].0);
            let alarms = pair[1].alarms - pair[0].alarms;
            let want_alarms = (t1 - t0) / ALARM_US;
            // Toggles are at every multiple of TOGGLE_US; queries never are.
            let want_irqs = t1 / TOGGLE_US - t0 / TOGGLE_US;
            report.alarms += alarms;
            report.irqs += pair[1].irqs - pair[0].irqs;
            if alarms != want_alarms {
                report.problems.push(format!(
                    "{}..{} ms: {alarms} alarm callbacks, expected {want_alarms}",
                    t0 / 1000,
                    t1 / 1000
                ));
            }
            if pair[1].irqs - pair[0].irqs != want_irqs {
                report.problems.push(format!(
                    "{}..{} ms: {} pin IRQs, expected {want_irqs}",
                    t0 / 1000,
                    t1 / 1000,
                    pair[1].irqs - pair[0].irqs
                ));
            }
        }
    };

    let seconds = minutes * 60;
    for second in 0..seconds {
        let start = second * 1_000_000;
        let end = start + 1_000_000;
        let in_half = second % 30;
        let mut batch = handle.batch();
        if in_half == 0 && second > 0 {
            // A boot ends: its answers are checked, the next boot starts counting from zero.
            check_boot(&asked, &got, &mut report);
            asked.clear();
            got.clear();
            if second % 60 == 0 {
                batch.press_reset();
            } else {
                batch.write_uart(b"\x04");
            }
        }
        while next_toggle < end {
            level = !level;
            let drive = if level { Drive::High } else { Drive::Low };
            batch.at(
                Duration::from_micros(next_toggle),
                Action::Drive { gpio: p10, drive },
            );
            report.toggles_scheduled += 1;
            next_toggle += TOGGLE_US;
        }
        if in_half >= SETTLE_S {
            let at = start + QUERY_OFFSET_US;
            query += 1;
            let line = format!("import soak; soak.r({})\r", payload(query));
            batch.at(Duration::from_micros(at), Action::Uart(line.into_bytes()));
            asked.push((at, query));
        }
        batch.watch(Watch {
            until: None,
            deadline: Some(end),
        });
        batch.send();
        if let Err(e) = settle(&events, &mut pending, &mut got, &mut report) {
            report
                .problems
                .push(format!("at {second} s of device time: {e}"));
            return report;
        }
        if second == SETTLE_S {
            // The start: the first boot is up, its interpreter built, its first query answered.
            report.rss_start_kib = rss_kib();
        }
        if second % 60 == 59 {
            let rss = rss_kib();
            report.rss_peak_kib = report.rss_peak_kib.max(rss);
            report.rss_by_minute_kib.push(rss);
        }
    }
    check_boot(&asked, &got, &mut report);
    report.device_s = seconds;
    report.rss_end_kib = rss_kib();
    report.rss_peak_kib = report.rss_peak_kib.max(report.rss_end_kib);
    report.wall = started.elapsed();
    let hard = minutes.saturating_sub(1);
    if report.hard_resets != hard {
        report.problems.push(format!(
            "{} hard resets seen, {hard} pressed",
            report.hard_resets
        ));
    }
    if report.soft_resets != minutes {
        report.problems.push(format!(
            "{} soft reboots seen, {minutes} typed",
            report.soft_resets
        ));
    }
    if report.rss_end_kib > report.rss_start_kib + RSS_GROWTH_BOUND_KIB {
        report.problems.push(format!(
            "RSS grew from {} KiB to {} KiB, more than the {} KiB bound",
            report.rss_start_kib, report.rss_end_kib, RSS_GROWTH_BOUND_KIB
        ));
    }
    handle.shutdown();
    report
}

#[allow(dead_code)]
fn main() {
    let minutes: u64 = std::env::args()
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(60);
    let r = soak(minutes, Duration::from_secs(6 * 3600));
    println!(
        "soak: {} s of device time in {:.1} s wall ({:.0}x)",
        r.device_s,
        r.wall.as_secs_f64(),
        r.device_s as f64 / r.wall.as_secs_f64().max(1e-9)
    );
    println!(
        "alarm callbacks {} (1 ms), pin IRQs {} ({} toggles scheduled, every 3 ms), queries {} / answers {}, hard resets {}, soft resets {}",
        r.alarms, r.irqs, r.toggles_scheduled, r.queries, r.answers, r.hard_resets, r.soft_resets
    );
    println!(
        "RSS: start {} KiB, end {} KiB, peak {} KiB (growth {} KiB)",
        r.rss_start_kib,
        r.rss_end_kib,
        r.rss_peak_kib,
        r.rss_end_kib as i64 - r.rss_start_kib as i64
    );
    let minutes_shown: Vec<String> = r
        .rss_by_minute_kib
        .iter()
        .step_by(r.rss_by_minute_kib.len().div_ceil(12).max(1))
        .map(|k| format!("{:.0}", *k as f64 / 1024.0))
        .collect();
    println!("RSS by device minute (MiB): {}", minutes_shown.join(" "));
    println!(
        "SOAK_JSON {{\"device_s\":{},\"wall_s\":{:.2},\"rss_start_kib\":{},\"rss_end_kib\":{},\"rss_peak_kib\":{},\"alarms\":{},\"irqs\":{},\"toggles\":{},\"queries\":{},\"answers\":{},\"hard_resets\":{},\"soft_resets\":{},\"problems\":{}}}",
        r.device_s,
        r.wall.as_secs_f64(),
        r.rss_start_kib,
        r.rss_end_kib,
        r.rss_peak_kib,
        r.alarms,
        r.irqs,
        r.toggles_scheduled,
        r.queries,
        r.answers,
        r.hard_resets,
        r.soft_resets,
        r.problems.len()
    );
    if !r.problems.is_empty() {
        for p in r.problems.iter().take(20) {
            eprintln!("problem: {p}");
        }
        std::process::exit(1);
    }
}

//! Keystroke echo latency in real time: a byte written through `DeviceHandle` at the idle prompt
//! until its echo comes back on the event stream. The goal (never-wedges issue): median ≤ 1 ms,
//! p99 ≤ 5 ms, however far away the next heartbeat edge is. Run by `scripts/bench`.

use std::time::{Duration, Instant};

use pycom_sim::board::Board;
use pycom_sim::clock::TimeMode;
use pycom_sim::device::{DeviceConfig, DeviceHandle, FlashSource, collect_until};
use pycom_sim::event::EventKind;

fn main() -> Result<(), String> {
    let handle = DeviceHandle::spawn(DeviceConfig {
        board: Board::builtin("lopy4").map_err(|e| e.to_string())?,
        flash: FlashSource::Fresh,
        reformat: false,
        time: TimeMode::Real,
        sd: None,
    })
    .map_err(|e| e.to_string())?;
    let events = handle.subscribe();
    handle.power_on();
    collect_until(&events, |e| e.kind == EventKind::Idle);
    let keys = 500;
    let mut samples = Vec::with_capacity(keys);
    for i in 0..keys {
        // Letters, then a backspace every so often so the line stays short.
        let key = if i % 20 == 19 {
            0x08
        } else {
            b'a' + (i % 26) as u8
        };
        let start = Instant::now();
        handle.write_uart(&[key]);
        collect_until(&events, |e| matches!(e.kind, EventKind::Uart { .. }));
        samples.push(start.elapsed());
        // Spread the keys over several heartbeat periods, as typing does.
        std::thread::sleep(Duration::from_millis(10));
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "keystroke echo, real time ({keys} keys over {:.1} s): median {:.3} ms, p99 {:.3} ms, max {:.3} ms (goal: median <= 1 ms, p99 <= 5 ms)",
        keys as f64 * 0.010,
        at(0.5),
        at(0.99),
        at(1.0)
    );
    println!(
        "BENCH_JSON {{\"keys\":{keys},\"echo_median_ms\":{:.4},\"echo_p99_ms\":{:.4},\"echo_max_ms\":{:.4}}}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    handle.shutdown();
    Ok(())
}

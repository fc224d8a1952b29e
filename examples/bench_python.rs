//! Python workloads on the device, for `scripts/bench` to set against the machine's CPython 3
//! in the same run: each workload's function is pasted at the prompt (not timed), then the wall
//! time from typing `w()` to the device idling at the prompt again is taken, 5 times, median.
//!
//! Prints one `BENCH_JSON` line per workload with its source, so the bench runs exactly the same
//! code on CPython.

use std::time::{Duration, Instant};

use pycom_sim::board::Board;
use pycom_sim::clock::TimeMode;
use pycom_sim::device::{DeviceConfig, DeviceHandle, FlashSource, collect_until};
use pycom_sim::event::{EventKind, uart_text};

/// (name, source defining `w()`): small enough for the LoPy4's 2.5 MiB GC heap, each a kind of
/// work MicroPython programs do (calls, integer loops, strings, dicts, sorting, bytes).
const WORKLOADS: &[(&str, &str)] = &[
    (
        "fib(20), recursive calls",
        "def w():\n    def f(n):\n        return n if n < 2 else f(n - 1) + f(n - 2)\n    return f(20)\n",
    ),
    (
        "integer loop, 200k additions",
        "def w():\n    s = 0\n    for i in range(200000):\n        s += i * 3 % 7\n    return s\n",
    ),
    (
        "string building, 20k formats + join",
        "def w():\n    return len(','.join(['%d:%s' % (i, str(i * i)) for i in range(20000)]))\n",
    ),
    (
        "dict insert + lookup, 20k keys",
        "def w():\n    d = {}\n    for i in range(20000):\n        d['k%d' % i] = i\n    return sum(d['k%d' % i] for i in range(0, 20000, 3))\n",
    ),
    (
        "sort 20k pseudo-random ints",
        "def w():\n    x = 12345\n    a = []\n    for i in range(20000):\n        x = (x * 1103515245 + 12345) % 2147483648\n        a.append(x)\n    a.sort()\n    return a[0]\n",
    ),
    (
        "bytearray sieve of primes below 100k",
        "def w():\n    n = 100000\n    s = bytearray([1]) * n\n    s[0] = s[1] = 0\n    i = 2\n    while i * i < n:\n        if s[i]:\n            for j in range(i * i, n, i):\n                s[j] = 0\n        i += 1\n    return sum(s)\n",
    ),
];

fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn main() -> Result<(), String> {
    let handle = DeviceHandle::spawn(DeviceConfig {
        board: Board::builtin("lopy4").map_err(|e| e.to_string())?,
        flash: FlashSource::Fresh,
        reformat: false,
        time: TimeMode::Virtual,
        sd: None,
    })
    .map_err(|e| e.to_string())?;
    let events = handle.subscribe();
    handle.power_on();
    collect_until(&events, |e| e.kind == EventKind::Idle);
    for (name, source) in WORKLOADS {
        // Paste mode keeps the source's own indentation.
        let mut paste = b"\x05".to_vec();
        paste.extend_from_slice(source.replace('\n', "\r").as_bytes());
        paste.push(0x04);
        handle.write_uart(&paste);
        collect_until(&events, |e| e.kind == EventKind::Idle);
        let mut samples: Vec<Duration> = Vec::new();
        let mut answer = String::new();
        for _ in 0..5 {
            let start = Instant::now();
            handle.write_uart(b"w()\r");
            let log = collect_until(&events, |e| e.kind == EventKind::Idle);
            samples.push(start.elapsed());
            answer = uart_text(&log);
        }
        samples.sort();
        let median = samples[samples.len() / 2].as_secs_f64() * 1e3;
        // The REPL echoes `w()`, then prints the value: keep the value to compare with CPython.
        let value = answer
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with(">>>") && *l != "w()")
            .unwrap_or("")
            .to_string();
        println!("{name}: median {median:.1} ms on the device (5 runs), returned {value}");
        println!(
            "BENCH_JSON {{\"workload\":{},\"source\":{},\"device_ms\":{median:.3},\"value\":{}}}",
            json_str(name),
            json_str(source),
            json_str(&value)
        );
    }
    handle.shutdown();
    Ok(())
}

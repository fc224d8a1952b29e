//! Wall time of boot sequences in virtual time, measured in-process from `power_on` to the boot
//! decision (the flash file is created before the clock starts). Run by `scripts/bench`.

use std::time::{Duration, Instant};

use pycom_sim::board::Board;
use pycom_sim::clock::TimeMode;
use pycom_sim::device::{DeviceConfig, DeviceHandle, FlashSource, collect_until};
use pycom_sim::event::EventKind;
use pycom_sim::gpio::Drive;

/// A LoPy4 on a throwaway flash file, in virtual time, powered off.
fn fresh_lopy4() -> Result<DeviceHandle, String> {
    DeviceHandle::spawn(DeviceConfig {
        board: Board::builtin("lopy4").map_err(|e| e.to_string())?,
        flash: FlashSource::Fresh,
        reformat: false,
        time: TimeMode::Virtual,
        sd: None,
    })
    .map_err(|e| e.to_string())
}

fn measure(hold_p12: bool) -> Result<Duration, String> {
    let handle = fresh_lopy4()?;
    if hold_p12 {
        handle
            .drive("P12", Drive::High)
            .map_err(|e| e.to_string())?;
    }
    let events = handle.subscribe();
    let start = Instant::now();
    handle.power_on();
    let log = collect_until(&events, |e| matches!(e.kind, EventKind::Boot { .. }));
    let elapsed = start.elapsed();
    let device_ms = log.last().map_or(0, |e| e.time_ms());
    if hold_p12 && device_ms != 7600 {
        return Err(format!(
            "expected the boot decision at 7600 ms, got {device_ms}"
        ));
    }
    Ok(elapsed)
}

/// Power-on to the idle `>>> ` prompt, and Ctrl-D to the prompt again.
fn measure_prompt() -> Result<(Duration, Duration), String> {
    let handle = fresh_lopy4()?;
    let events = handle.subscribe();
    let start = Instant::now();
    handle.power_on();
    collect_until(&events, |e| e.kind == EventKind::Idle);
    let boot = start.elapsed();
    let start = Instant::now();
    handle.write_uart(b"\x04");
    collect_until(&events, |e| e.kind == EventKind::Idle);
    let soft = start.elapsed();
    Ok((boot, soft))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), String> {
    let runs = 21;
    // Figures for scripts/bench's table and target/bench.json, in ms.
    let mut json = Vec::new();
    for (name, key, hold) in [
        ("normal boot", "boot_decision_ms", false),
        (
            "P12 held (7.6 s of device time)",
            "p12_boot_decision_ms",
            true,
        ),
    ] {
        let samples = (0..runs)
            .map(|_| measure(hold))
            .collect::<Result<Vec<_>, _>>()?;
        let ms = median(samples).as_secs_f64() * 1e3;
        println!("{name}: median {ms:.3} ms wall from power-on to boot decision ({runs} runs)");
        json.push(format!("\"{key}\":{ms:.3}"));
    }
    let samples = (0..runs)
        .map(|_| measure_prompt())
        .collect::<Result<Vec<_>, _>>()?;
    let (boots, softs): (Vec<_>, Vec<_>) = samples.into_iter().unzip();
    let (boot, soft) = (
        median(boots).as_secs_f64() * 1e3,
        median(softs).as_secs_f64() * 1e3,
    );
    println!(
        "power-on to >>> (ROM, bootloader, _boot.py, boot.py, main.py): median {boot:.2} ms wall"
    );
    println!("soft reset (Ctrl-D) to >>>: median {soft:.2} ms wall");
    json.push(format!("\"prompt_ms\":{boot:.3}"));
    json.push(format!("\"soft_reset_ms\":{soft:.3}"));
    println!("BENCH_JSON {{\"runs\":{runs},{}}}", json.join(","));
    Ok(())
}

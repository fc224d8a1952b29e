//! `machine` on the virtual board, in virtual time, through `DeviceHandle`: pins, timer
//! alarms and pin IRQs with their device times, reset causes, the watchdog, deep sleep, UART0's
//! driver, and how the REPL and the start-up scripts end (Ctrl-C, tracebacks, soft reset).
//!
//! In virtual time a prompt with a timer pending does not wait for the test: the clock jumps to
//! the timer. Lines that must happen before an alarm fires are therefore typed as one line.

mod support;

use std::time::Duration;

use pycom_sim::device::{FlashSource, collect_until};
use pycom_sim::event::{Event, EventKind};
use pycom_sim::gpio::Drive;
use pycom_sim::rom::ResetCause;
use support::{Rig, pin_levels, uart};

/// The device time of the first UART chunk containing `needle`.
fn time_of(events: &[Event], needle: &str) -> u64 {
    events
        .iter()
        .find(|e| match &e.kind {
            EventKind::Uart { text } => String::from_utf8_lossy(text).contains(needle),
            _ => false,
        })
        .map(|e| e.time_us)
        .unwrap_or_else(|| panic!("no UART output containing {needle:?} in {:?}", uart(events)))
}

fn resets(events: &[Event]) -> Vec<(u64, ResetCause)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Reset { cause } => Some((e.time_us, *cause)),
            _ => None,
        })
        .collect()
}

#[test]
fn boot_py_and_main_py_with_a_timer_alarm_and_a_pin_irq_in_virtual_time() {
    let mut d = Rig::with_files(&[
        ("/boot.py", "print('boot.py: hello')\n"),
        (
            "/main.py",
            "from machine import Pin, Timer\n\
             count = [0]\n\
             def tick(alarm):\n\
             \x20   count[0] += 1\n\
             \x20   print('tick %d' % count[0])\n\
             \x20   if count[0] == 5:\n\
             \x20       alarm.cancel()\n\
             def edge(pin):\n\
             \x20   print('edge %s level %d' % (pin.id(), pin.value()))\n\
             Pin('P10', mode=Pin.IN).callback(Pin.IRQ_RISING, edge)\n\
             Timer.Alarm(tick, 1, periodic=True)\n\
             print('main.py: armed')\n",
        ),
    ]);
    d.handle
        .drive_at(Duration::from_secs(3), "P10", Drive::High)
        .expect("P10");
    // The falling edge at 4 s must not call a handler armed for rising edges only.
    d.handle
        .drive_at(Duration::from_secs(4), "P10", Drive::Low)
        .expect("P10");
    let events = d.boot_events();
    let text = uart(&events);

    let boot = text.find("boot.py: hello").expect("boot.py ran");
    let main = text.find("main.py: armed").expect("main.py ran");
    let prompt = text.find(">>> ").expect("the REPL started");
    assert!(boot < main && main < prompt, "{text}");

    let armed = time_of(&events, "main.py: armed");
    assert!(armed < 1_000_000, "main.py ran at {armed} µs");
    // The edge handler runs when the pin rises, at exactly 3 s of device time.
    assert!(text.contains("edge P10 level 1\r\n"), "{text}");
    assert_eq!(time_of(&events, "edge P10"), 3_000_000);
    assert_eq!(text.matches("edge").count(), 1, "{text}");
    // Five ticks, exactly one second apart, the first one second after the alarm was armed.
    let ticks: Vec<u64> = (1..=5)
        .map(|n| time_of(&events, &format!("tick {n}")))
        .collect();
    for pair in ticks.windows(2) {
        assert_eq!(pair[1] - pair[0], 1_000_000, "ticks at {ticks:?}");
    }
    assert!(
        (1_000_000..1_000_000 + armed + 1).contains(&ticks[0]),
        "first tick at {}, armed at {armed}",
        ticks[0]
    );
    assert!(!text.contains("tick 6"), "{text}");
    // The handler output came after the prompt: the REPL waited while the handlers ran.
    assert!(text.find("tick 1").expect("tick") > prompt);
    // Every tick's line is whole and in order.
    let order: Vec<usize> = (1..=5)
        .map(|n| text.find(&format!("tick {n}\r\n")).expect("tick line"))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    let edge_at = text.find("edge").expect("edge");
    assert!(order[1] < edge_at && edge_at < order[2], "{text}");
}

#[test]
fn reset_cause_after_power_on_reset_button_soft_reset_and_machine_reset() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&["import machine"]);
    assert_eq!(d.printed("machine.reset_cause()"), "0");
    assert_eq!(
        d.printed("machine.reset_cause() == machine.PWRON_RESET"),
        "True"
    );

    // The reset button: the ROM reports a power-on reset, and so does the firmware.
    d.handle.press_reset();
    let events = d.until_idle_after_reset();
    assert_eq!(resets(&events).len(), 1);
    assert!(uart(&events).contains("rst:0x1 (POWERON_RESET)"));
    d.run_lines(&["import machine"]);
    assert_eq!(d.printed("machine.reset_cause()"), "0");

    // Ctrl-D: soft reset.
    let text = d.soft_reset();
    assert!(text.contains("PYB: soft reboot\r\n"), "{text}");
    d.run_lines(&["import machine"]);
    assert_eq!(d.printed("machine.reset_cause()"), "4");
    assert_eq!(d.printed("machine.SOFT_RESET"), "4");

    // machine.reset(): the TIMG0 watchdog resets the chip; the ROM and bootloader run again.
    d.handle.write_uart(b"machine.reset()\r");
    let events = d.until_idle_after_reset();
    let text = uart(&events);
    assert_eq!(
        resets(&events)
            .into_iter()
            .map(|(_, c)| c)
            .collect::<Vec<_>>(),
        vec![ResetCause::Watchdog]
    );
    assert!(text.contains("rst:0x7 (TG0WDT_SYS_RESET)"), "{text}");
    let reset_at = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::Reset { .. }))
        .expect("reset");
    assert!(
        events[reset_at..]
            .iter()
            .any(|e| matches!(e.kind, EventKind::Boot { .. })),
        "the bootloader ran again"
    );
    d.run_lines(&["import machine"]);
    assert_eq!(d.printed("machine.reset_cause()"), "2");
    assert_eq!(
        d.printed("machine.reset_cause() == machine.WDT_RESET"),
        "True"
    );
}

#[test]
fn output_pin_levels_are_pin_events_and_value_reads_back_what_was_written() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&["from machine import Pin"]);
    let events = d.enter("p = Pin('P9', mode=Pin.OUT)");
    // P9 idles low after boot (input, pull-down); an output at 0 changes nothing.
    assert_eq!(pin_levels(&events), vec![]);
    assert_eq!(
        pin_levels(&d.enter("p.value(1)")),
        vec![("P9".to_string(), 1)]
    );
    assert_eq!(
        pin_levels(&d.enter("p.toggle()")),
        vec![("P9".to_string(), 0)]
    );
    assert_eq!(pin_levels(&d.enter("p(1)")), vec![("P9".to_string(), 1)]);
    assert_eq!(d.printed("p.value()"), "1");
    assert_eq!(d.printed("p"), "Pin('P9', mode=Pin.OUT, pull=None, alt=-1)");
    // The expansion-board name is the same pin object.
    assert_eq!(
        d.printed("Pin.exp_board.G16 is p, Pin.module.P9 is p"),
        "(True, True)"
    );

    // A wire to GND wins over the driver, but value() on an output still returns what was written.
    d.handle.drive("P9", Drive::Low).expect("P9");
    d.until_idle();
    assert_eq!(d.printed("p.value()"), "1");
    // The constructor always re-initialises the pin: the default mode is IN, read from the pad.
    assert_eq!(d.printed("Pin('G16') is p, p.value()"), "(True, 0)");
}

#[test]
fn an_input_only_pin_set_to_out_drives_nothing() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&["from machine import Pin"]);
    // Pycom's Pin accepts OUT on GPIO34-39 (P13-P18); the pad just cannot drive.
    let mut events = d.enter("p = Pin('P13', mode=Pin.OUT, value=1)");
    events.extend(d.enter("p.value(0); p.value(1)"));
    assert!(!uart(&events).contains("Traceback"), "{}", uart(&events));
    assert_eq!(pin_levels(&events), vec![]);
    assert_eq!(d.printed("p.value()"), "1");
    assert_eq!(d.printed("p.mode() == Pin.OUT"), "True");
    assert_eq!(d.printed("Pin('P13', mode=Pin.IN).value()"), "0");
}

#[test]
fn a_starved_wdt_resets_the_device_with_the_wdt_cause() {
    let mut d = Rig::with_files(&[(
        "/main.py",
        "import machine\n\
         from machine import WDT, Timer\n\
         if machine.reset_cause() == machine.WDT_RESET:\n\
         \x20   print('after the watchdog reset')\n\
         else:\n\
         \x20   wdt = WDT(timeout=1500)\n\
         \x20   print('wdt armed')\n\
         \x20   for i in range(3):\n\
         \x20       Timer.sleep_us(1000000)\n\
         \x20       wdt.feed()\n\
         \x20   print('fed 3 times')\n",
    )]);
    let events = d.boot_events();
    let armed = time_of(&events, "wdt armed");
    let fed = time_of(&events, "fed 3 times");
    assert!(fed >= armed + 3_000_000, "fed at {fed}, armed at {armed}");
    let rs = resets(&events);
    assert_eq!(rs.len(), 2, "power-on and one watchdog reset");
    let (reset, cause) = rs[1];
    assert_eq!(cause, ResetCause::Watchdog);
    // Fed every second three times, then starved: it bites 1.5 s after the last feed.
    assert!(
        (fed + 1_500_000 - 20_000..=fed + 1_500_000).contains(&reset),
        "reset at {reset}, last feed at about {fed}"
    );
    let text = uart(&events);
    assert!(text.contains("rst:0x7 (TG0WDT_SYS_RESET)"), "{text}");
    assert!(text.contains("after the watchdog reset"), "{text}");
    d.run_lines(&["import machine"]);
    assert_eq!(d.printed("machine.reset_cause()"), "2");
}

#[test]
fn deepsleep_sleeps_in_device_time_then_resets_with_deepsleep_reset() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&["import machine"]);
    assert_eq!(d.printed("machine.wake_reason()"), "(0, None)");
    d.handle.write_uart(b"machine.deepsleep(2000)\r");
    let events = d.until_idle_after_reset();
    let text = uart(&events);
    let reset_index = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::Reset { .. }))
        .expect("reset");
    // The end of the echoed line is the last thing sent before the chip slept.
    let asleep = events[..reset_index]
        .iter()
        .rev()
        .find(|e| matches!(e.kind, EventKind::Uart { .. }))
        .expect("echo")
        .time_us;
    let rs = resets(&events);
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].1, ResetCause::DeepSleepWake);
    assert!(
        (asleep + 2_000_000..asleep + 2_020_000).contains(&rs[0].0),
        "slept at {asleep}, woke at {}",
        rs[0].0
    );
    assert!(text.contains("rst:0x5 (DEEPSLEEP_RESET)"), "{text}");
    d.run_lines(&["import machine"]);
    assert_eq!(d.printed("machine.reset_cause()"), "3");
    assert_eq!(d.printed("machine.wake_reason()"), "(2, None)");
    assert_eq!(
        d.printed("machine.wake_reason()[0] == machine.RTC_WAKE"),
        "True"
    );
}

#[test]
fn deepsleep_woken_by_a_pin_reports_the_pin_and_the_time_left() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&[
        "import machine",
        "machine.pin_sleep_wakeup(['P10'], machine.WAKEUP_ANY_HIGH)",
        "machine.RTC().memory(b'kept')",
    ]);
    let now = d.enter("").last().expect("idle").time_us;
    d.handle
        .batch()
        .drive_at(Duration::from_micros(now + 3_000_000), "P10", Drive::High)
        .expect("P10")
        .write_uart(b"machine.deepsleep(10000)\r")
        .send();
    let events = d.until_idle_after_reset();
    let rs = resets(&events);
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].1, ResetCause::DeepSleepWake);
    // The pin rose at `now + 3 s`; the reset follows at once (microseconds of unwinding).
    assert!(
        (now + 3_000_000..now + 3_020_000).contains(&rs[0].0),
        "woke at {}, pin rose at {}",
        rs[0].0,
        now + 3_000_000
    );
    d.run_lines(&["import machine"]);
    assert_eq!(
        d.printed("machine.wake_reason()"),
        "(1, [Pin('P10', mode=Pin.IN, pull=Pin.PULL_DOWN, alt=-1)])"
    );
    let left: u64 = d
        .printed("machine.remaining_sleep_time()")
        .parse()
        .expect("ms");
    assert!((6_990..=7_000).contains(&left), "{left} ms left");
    // RTC memory survives deep sleep, not a reset.
    assert_eq!(d.printed("machine.RTC().memory()"), "b'kept'");
    d.press_reset();
    d.run_lines(&["import machine"]);
    assert_eq!(d.printed("machine.RTC().memory()"), "b''");
    assert_eq!(d.printed("machine.wake_reason()"), "(0, None)");
}

#[test]
fn uart0_deinit_cuts_the_repl_off_until_a_hard_reset() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&["from machine import UART"]);
    assert_eq!(
        d.printed("UART(0, 115200)"),
        "UART(0, baudrate=115200, bits=8, parity=None, stop=1)"
    );
    let text = d.type_line("UART(0).deinit()");
    // The echo of the line went out before the driver was removed; the prompt did not.
    assert_eq!(text, "UART(0).deinit()\r\n");
    // Typed input is lost: no echo, no answer, not even to Ctrl-C or Ctrl-D.
    assert_eq!(d.type_line("1 + 1"), "");
    assert_eq!(d.type_bytes(b"\x03\x04"), "");
    // The reset button brings the REPL back.
    let text = d.press_reset();
    assert!(
        text.contains("Type \"help()\" for more information.\r\n>>> "),
        "{text}"
    );
    assert_eq!(d.printed("1 + 1"), "2");
}

#[test]
fn ctrl_c_stops_a_busy_loop_in_main_py_and_the_repl_follows() {
    let mut d = Rig::with_files(&[(
        "/main.py",
        "n = 0\nwhile True:\n    n += 1\n    if n == 1000:\n        print('looping')\n",
    )]);
    d.handle.power_on();
    let mut text = String::new();
    collect_until(&d.events, |e| {
        if let EventKind::Uart { text: t } = &e.kind {
            text.push_str(&String::from_utf8_lossy(t));
        }
        text.contains("looping")
    });
    let text = d.type_bytes(b"\x03");
    // The loop announces itself from inside, so the break lands somewhere in it: on the `while`
    // line or in its body (the announcing `print` included).
    let interrupt = [2, 3, 4, 5]
        .iter()
        .find_map(|line| {
            text.find(&format!(
                "Traceback (most recent call last):\r\n  File \"main.py\", line {line}, in <module>\r\nKeyboardInterrupt: \r\n"
            ))
        })
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(text.ends_with(">>> "), "{text:?}");
    assert!(text[interrupt..].contains("Type \"help()\" for more information.\r\n>>> "));
    assert_eq!(d.printed("n > 0"), "True");
}

#[test]
fn a_traceback_in_main_py_is_printed_and_the_repl_still_starts() {
    let mut d = Rig::with_files(&[("/main.py", "a = 1\nb = 2\nprint(undefined_name)\n")]);
    let text = d.boot();
    let expected = "Traceback (most recent call last):\r\n  File \"main.py\", line 3, in <module>\r\nNameError: ";
    let at = text.find(expected).unwrap_or_else(|| panic!("{text:?}"));
    assert!(text[at..].contains("undefined_name"), "{text:?}");
    assert!(text[at..].contains("Type \"help()\" for more information.\r\n>>> "));
    assert_eq!(d.printed("a + b"), "3");
}

#[test]
fn globals_are_gone_after_a_soft_reset() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&["x = 1"]);
    assert_eq!(d.printed("x"), "1");
    assert!(d.soft_reset().contains("PYB: soft reboot"));
    let out = d.printed("x");
    assert!(
        out.starts_with("Traceback (most recent call last):\r\n"),
        "{out}"
    );
    assert!(out.contains("NameError: "), "{out}");
}

#[test]
fn pin_api_names_modes_pulls_and_errors() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&["from machine import Pin"]);
    // After boot every free pin is an input with pull-down (pin_init0).
    assert_eq!(
        d.printed("Pin.module.P10"),
        "Pin('P10', mode=Pin.IN, pull=Pin.PULL_DOWN, alt=-1)"
    );
    assert_eq!(
        d.printed("(Pin.IN, Pin.OUT, Pin.OPEN_DRAIN, Pin.PULL_UP, Pin.PULL_DOWN)"),
        "(1, 2, 7, 1, 2)"
    );
    assert_eq!(
        d.printed("(Pin.IRQ_RISING, Pin.IRQ_FALLING, Pin.IRQ_LOW_LEVEL, Pin.IRQ_HIGH_LEVEL)"),
        "(1, 2, 4, 5)"
    );
    d.run_lines(&["p = Pin('G17', Pin.IN, Pin.PULL_UP)"]);
    assert_eq!(
        d.printed("p.id(), p.mode(), p.pull(), p.value()"),
        "('P10', 1, 1, 1)"
    );
    d.run_lines(&["p.pull(None)"]);
    assert_eq!(d.printed("p.pull(), p()"), "(None, 0)");
    assert_eq!(d.printed("Pin(p) is p"), "True");
    for bad in [
        "Pin('P10', mode=3)",
        "Pin('P10', Pin.IN, pull=3)",
        "Pin('P42')",
        "p.mode(0)",
    ] {
        let out = d.printed(bad);
        assert!(
            out.ends_with("ValueError: invalid argument(s) value"),
            "{bad}: {out}"
        );
    }
    let out = d.printed("Pin('P11').hold(True)");
    assert!(
        out.ends_with(
            "OSError: the hold functionality is only available for GPIO pins in the RTC domain"
        ),
        "{out}"
    );
    assert_eq!(d.printed("Pin('P9').hold(True); Pin('P9').hold()"), "True");

    // Open drain: 0 pulls low, 1 lets the pull-up have the line.
    assert_eq!(
        pin_levels(&d.enter("od = Pin('P11', mode=Pin.OPEN_DRAIN, pull=Pin.PULL_UP, value=1)")),
        vec![("P11".to_string(), 1)]
    );
    assert_eq!(pin_levels(&d.enter("od(0)")), vec![("P11".to_string(), 0)]);
    assert_eq!(pin_levels(&d.enter("od(1)")), vec![("P11".to_string(), 1)]);
    assert_eq!(d.printed("od()"), "1");
}

#[test]
fn pin_callbacks_get_the_pin_or_their_arg_and_can_be_disarmed() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&[
        "from machine import Pin",
        "seen = []",
        "p = Pin('P10', Pin.IN)",
        "p.callback(Pin.IRQ_RISING | Pin.IRQ_FALLING, lambda a: seen.append(a))",
    ]);
    d.handle.drive("P10", Drive::High).expect("P10");
    d.until_idle();
    d.handle.drive("P10", Drive::Low).expect("P10");
    d.until_idle();
    assert_eq!(d.printed("len(seen), seen[0] is p"), "(2, True)");
    d.run_lines(&["p.callback(Pin.IRQ_FALLING, lambda a: seen.append(a), arg='down')"]);
    d.handle.drive("P10", Drive::High).expect("P10");
    d.until_idle();
    d.handle.drive("P10", Drive::Low).expect("P10");
    d.until_idle();
    assert_eq!(d.printed("seen[2:]"), "['down']");
    d.run_lines(&["p.callback(Pin.IRQ_FALLING, None)"]);
    d.handle.drive("P10", Drive::High).expect("P10");
    d.until_idle();
    d.handle.drive("P10", Drive::Low).expect("P10");
    d.until_idle();
    assert_eq!(d.printed("len(seen)"), "3");
}

#[test]
fn alarms_pass_themselves_or_their_arg_and_follow_the_firmware_rules() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&[
        "from machine import Timer",
        "got = []",
        "a = Timer.Alarm(lambda x: got.append(x), ms=500)",
    ]);
    // The prompt waits; the one-shot alarm fires once.
    d.run_lines(&["Timer.sleep_us(2000000)"]);
    assert_eq!(d.printed("len(got), got[0] is a"), "(1, True)");
    // (On one line: a periodic alarm left running at the prompt never lets the device idle.)
    d.run_lines(&[
        "b = Timer.Alarm(lambda x: got.append(x), us=250000, arg='hello', periodic=True); \
         Timer.sleep_us(1100000); b.cancel()",
        "Timer.sleep_us(1000000)",
    ]);
    assert_eq!(d.printed("got[1:]"), "['hello', 'hello', 'hello', 'hello']");
    // callback() on a finished one-shot starts it again; callback(None) stops it.
    d.run_lines(&[
        "a.callback(lambda x: got.append('again'))",
        "Timer.sleep_us(600000)",
        // (One line: at an idle prompt virtual time jumps straight to the alarm.)
        "c = Timer.Alarm(lambda x: got.append('never'), s=0.5); c.callback(None)",
        "Timer.sleep_us(1000000)",
    ]);
    assert_eq!(d.printed("got[-1], len(got)"), "('again', 6)");
    for (bad, msg) in [
        (
            "Timer.Alarm(print)",
            "ValueError: please provide a single duration",
        ),
        (
            "Timer.Alarm(print, 1, ms=5)",
            "ValueError: please provide a single duration",
        ),
        (
            "Timer.Alarm(print, -1)",
            "ValueError: please provide a positive number",
        ),
    ] {
        let out = d.printed(bad);
        assert!(out.ends_with(msg), "{bad}: {out}");
    }
    // A Chrono measures device time.
    d.run_lines(&[
        "ch = Timer.Chrono()",
        "ch.start()",
        "Timer.sleep_us(1500000)",
        "ch.stop()",
    ]);
    let ms: f64 = d.printed("ch.read_ms()").parse().expect("ms");
    assert!((1500.0..1600.0).contains(&ms), "{ms}");
}

#[test]
fn an_exception_in_a_handler_is_reported_and_stops_the_interrupt_thread() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&["from machine import Timer"]);
    assert_eq!(
        d.paste(&["def bad(a):", "    raise ValueError('oops')"]),
        ""
    );
    d.handle
        .write_uart(b"a = Timer.Alarm(bad, ms=100, periodic=True)\r");
    let text = uart(&collect_until(&d.events, |e| match &e.kind {
        EventKind::Uart { text } => String::from_utf8_lossy(text).contains("oops"),
        _ => false,
    }));
    assert!(
        text.contains("Unhandled exception in callback handler\r\n"),
        "{text}"
    );
    d.run_lines(&[
        "ok = []",
        "b = Timer.Alarm(lambda a: ok.append(1), ms=10)",
        "Timer.sleep_us(500000)",
    ]);
    // As on the module, no handler runs again until the next soft reset.
    assert_eq!(d.printed("ok"), "[]");
    d.run_lines(&["a.cancel()"]);
}

#[test]
fn disable_irq_holds_handlers_until_enable_irq() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&[
        "import machine",
        "got = []",
        "s = machine.disable_irq()",
        "a = machine.Timer.Alarm(lambda x: got.append(1), ms=100)",
        "machine.Timer.sleep_us(300000)",
    ]);
    assert_eq!(d.printed("got"), "[]");
    d.run_lines(&["machine.enable_irq(s)"]);
    assert_eq!(d.printed("got"), "[1]");
}

#[test]
fn rtc_starts_at_the_epoch_and_follows_device_time() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&["from machine import RTC, Timer", "rtc = RTC()"]);
    let now = d.printed("rtc.now()[:6]");
    assert_eq!(now, "(1970, 1, 1, 0, 0, 0)");
    d.run_lines(&[
        "rtc.init((2024, 2, 28, 23, 59, 58))",
        "Timer.sleep_us(3000000)",
    ]);
    assert_eq!(d.printed("rtc.now()[:6]"), "(2024, 2, 29, 0, 0, 1)");
    assert_eq!(d.printed("rtc.now()[7] is None"), "True");
    assert_eq!(
        d.printed("rtc.ntp_sync('pool.ntp.org'), rtc.synced()"),
        "(None, False)"
    );
}

#[test]
fn board_identity_functions() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&["import machine"]);
    let id = d.printed("machine.unique_id()");
    assert!(id.starts_with("b'$\\n\\xc4"), "{id}");
    assert_eq!(d.printed("len(machine.unique_id())"), "6");
    assert_eq!(d.printed("machine.freq()"), "160000000");
    assert_eq!(
        d.printed("all(0 <= machine.rng() < 2**24 for i in range(50))"),
        "True"
    );
    assert_eq!(d.printed("type(machine.temperature())"), "<class 'int'>");
    // idle() sleeps until something happens: here a timer alarm 2 s later.
    let waited: Vec<u64> = d
        .printed(
            "import time; fired = []; al = machine.Timer.Alarm(lambda a: fired.append(1), 2); \
             t = time.ticks_ms(); machine.idle(); print(time.ticks_diff(time.ticks_ms(), t), len(fired))",
        )
        .split(' ')
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert!((2000..2050).contains(&waited[0]), "idle() took {waited:?}");
    assert_eq!(waited[1], 1, "the alarm's handler ran");
    let info = d.printed("machine.info()");
    assert!(info.contains("System free heap: "), "{info}");
    let dir = d.printed("dir(machine)");
    for name in [
        "Pin",
        "UART",
        "SPI",
        "I2C",
        "PWM",
        "ADC",
        "DAC",
        "SD",
        "Timer",
        "RTC",
        "WDT",
        "CAN",
        "RMT",
        "Touch",
        "reset",
        "reset_cause",
        "wake_reason",
        "deepsleep",
        "idle",
        "main",
        "unique_id",
        "rng",
        "freq",
        "info",
        "temperature",
        "disable_irq",
        "enable_irq",
        "pin_sleep_wakeup",
        "remaining_sleep_time",
        "PWRON_RESET",
        "HARD_RESET",
        "WDT_RESET",
        "DEEPSLEEP_RESET",
        "SOFT_RESET",
        "BROWN_OUT_RESET",
        "PWRON_WAKE",
        "PIN_WAKE",
        "RTC_WAKE",
        "ULP_WAKE",
    ] {
        assert!(
            dir.contains(&format!("'{name}'")),
            "{name} missing from {dir}"
        );
    }
    assert!(
        !dir.split(", ")
            .any(|n| n.starts_with("'_") && !n.starts_with("'__")),
        "helpers leak into dir(machine): {dir}"
    );
    // The same MAC after a reset.
    d.press_reset();
    d.run_lines(&["import machine"]);
    assert_eq!(d.printed("machine.unique_id()"), id);
}

#[test]
fn a_boot_py_that_disables_the_uart_is_fixed_by_safe_boot() {
    // The safe-boot page's first example: "You disabled the WiFi/UART".
    let mut d = Rig::with_files(&[("/boot.py", "from machine import UART\nUART(0).deinit()\n")]);
    let text = d.boot();
    assert!(text.contains("rst:0x1 (POWERON_RESET)"), "{text}");
    assert!(!text.contains("Pycom MicroPython"), "{text}");
    assert_eq!(d.type_line("1 + 1"), "");
    // A reset does not help: boot.py runs again.
    let text = d.press_reset();
    assert!(!text.contains(">>> "), "{text}");
    // P12 high during reset: safe boot skips boot.py, and the REPL answers.
    d.handle.drive("P12", Drive::High).expect("P12");
    d.handle.press_reset();
    let events = d.until_idle_after_reset();
    assert!(
        events.iter().any(|e| matches!(
            e.kind,
            EventKind::Boot {
                skip_scripts: true,
                ..
            }
        )),
        "safe boot"
    );
    assert!(uart(&events).ends_with(">>> "));
    d.handle.drive("P12", Drive::Floating).expect("P12");
    d.until_idle();
    assert_eq!(d.printed("1 + 1"), "2");
}

#[test]
fn machine_reset_runs_the_bootloader_again_which_sees_p12_held() {
    let mut d = Rig::with_files(&[("/main.py", "print('main.py ran')\n")]);
    let text = d.boot();
    assert!(text.contains("main.py ran"), "{text}");
    // P12 to 3V3 before the reset, released 1 s later: the first window, scripts off.
    // One batch: the idle prompt must not jump to the scheduled release before the line lands.
    let now = d.log.last().map_or(0, |e| e.time_us);
    d.handle
        .batch()
        .drive("P12", Drive::High)
        .expect("P12")
        .drive_at(
            Duration::from_micros(now) + Duration::from_millis(1000),
            "P12",
            Drive::Floating,
        )
        .expect("P12")
        .write_uart(b"import machine; machine.reset()\r")
        .send();
    let events = d.until_idle_after_reset();
    let text = uart(&events);
    assert!(text.contains("rst:0x7 (TG0WDT_SYS_RESET)"), "{text}");
    let decisions = support::boot_decisions(&events);
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert!(decisions[0].skip_scripts, "{decisions:?}");
    assert!(!support::after_rom(&text).contains("main.py ran"), "{text}");
    assert!(text.ends_with(">>> "), "{text}");
}

#[test]
fn level_triggered_pin_callbacks_fire_on_entering_their_level() {
    let mut d = Rig::new(FlashSource::Fresh);
    d.boot();
    d.run_lines(&[
        "from machine import Pin",
        "seen = []",
        "lo = Pin('P10', Pin.IN, Pin.PULL_UP)",
        "hi = Pin('P11', Pin.IN, Pin.PULL_DOWN)",
        "lo.callback(Pin.IRQ_LOW_LEVEL, lambda p: seen.append(('low', p.value())))",
        "hi.callback(Pin.IRQ_HIGH_LEVEL, lambda p: seen.append(('high', p.value())))",
    ]);
    for (pin, drive) in [
        ("P10", Drive::Low),
        ("P11", Drive::High),
        ("P10", Drive::High),
        ("P11", Drive::Low),
    ] {
        d.handle.drive(pin, drive).expect("pin");
        d.until_idle();
    }
    assert_eq!(d.printed("seen"), "[('low', 0), ('high', 1)]");
}

#[test]
fn wdt_on_boot_arms_the_watchdog_at_every_hard_boot_until_it_is_turned_off() {
    let mut d = Rig::with_files(&[(
        "/main.py",
        "import machine, pycom\n\
         if machine.reset_cause() == machine.WDT_RESET:\n\
         \x20   print('bitten')\n\
         \x20   pycom.wdt_on_boot(False)\n",
    )]);
    d.boot();
    assert_eq!(
        d.printed("import pycom; pycom.wdt_on_boot(True); pycom.wdt_on_boot_timeout(6000); pycom.wdt_on_boot(), pycom.wdt_on_boot_timeout()"),
        "(True, 6000)"
    );
    d.handle.press_reset();
    // Nobody feeds it: 6 s after the firmware starts, the chip resets. The boot that turns it off
    // already runs with it armed, so it bites once more; the boot after that stays up.
    let events = d.until_idle_after_reset();
    let causes: Vec<_> = resets(&events).into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        causes,
        vec![
            ResetCause::ResetButton,
            ResetCause::Watchdog,
            ResetCause::Watchdog
        ]
    );
    let firmware: Vec<u64> = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Stage {
                    stage: pycom_sim::event::Stage::Firmware
                }
            )
        })
        .map(|e| e.time_us)
        .collect();
    let rs = resets(&events);
    for i in 0..2 {
        let bite = rs[i + 1].0 - firmware[i];
        assert!(
            (6_000_000..6_050_000).contains(&bite),
            "bite {i} came {bite} us after the firmware started"
        );
    }
    assert_eq!(uart(&events).matches("bitten").count(), 2);
    assert_eq!(d.printed("pycom.wdt_on_boot()"), "False");
}

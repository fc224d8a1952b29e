//! The virtual board through `DeviceHandle`, in virtual time: what a user sees on the UART, the
//! LED colours at device times, the slot that booted.

mod support;

use std::time::Duration;

use pycom_sim::device::{Action, FlashSource, collect_until};
use pycom_sim::event::{Event, EventKind, Stage};
use pycom_sim::gpio::Drive;
use support::{Rig, decision, install_ota, led_timeline, lopy4, uart};

const ORANGE: &str = "#2c1200";
const OFF: &str = "#000000";
const BLUE: &str = "#000050";

fn index_of(events: &[Event], pred: impl Fn(&EventKind) -> bool) -> Option<usize> {
    events.iter().position(|e| pred(&e.kind))
}

/// The orange blinking the bootloader shows for a P12 hold, as (ms, colour).
fn blink(from_ms: u64, to_ms: u64, step: u64, start_on: bool) -> Vec<(u64, String)> {
    let mut on = start_on;
    (from_ms..to_ms)
        .step_by(step as usize)
        .map(|t| {
            let c = if on { ORANGE } else { OFF };
            on = !on;
            (t, c.to_string())
        })
        .collect()
}

#[test]
fn normal_boot_prints_rom_lines_shows_no_bootloader_led_and_starts_the_heartbeat() {
    let rig = Rig::new(FlashSource::Fresh);
    // The heartbeat's edges to the millisecond: the host's time to run the start-up Python
    // must not count as device time (it did, and a loaded machine moved the first edge).
    rig.handle.free_compute();
    rig.handle.at(Duration::from_secs(10), Action::Stop);
    rig.handle.power_on();
    let log = collect_until(&rig.events, |_| false);
    let text = uart(&log);
    assert!(text.starts_with(
        "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
    ));
    assert!(text.contains("entry 0x400a05bc\r\n"));
    let (at, slot, version, safe_boot, skip, _) = decision(&log);
    assert_eq!(
        (
            at,
            slot.as_str(),
            version.as_str(),
            safe_boot.as_str(),
            skip
        ),
        (0, "factory", "1.20.2.r4", "none", false)
    );
    // No LED activity from the bootloader; the heartbeat from the firmware: 80 ms blue every 4 s.
    assert_eq!(
        led_timeline(&log),
        vec![
            (0, BLUE.into()),
            (80, OFF.into()),
            (4000, BLUE.into()),
            (4080, OFF.into()),
            (8000, BLUE.into()),
            (8080, OFF.into()),
        ]
    );
    let boot = index_of(&log, |k| matches!(k, EventKind::Boot { .. })).unwrap();
    let first_led = index_of(&log, |k| matches!(k, EventKind::Led { .. })).unwrap();
    assert!(
        first_led > boot,
        "the first LED change comes from the firmware"
    );
    assert_eq!(log.last().unwrap().kind, EventKind::Stopped);
    assert_eq!(log.last().unwrap().time_ms(), 10_000);
}

#[test]
fn p12_released_at_1s_safe_boots_the_current_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lopy4.flash");
    install_ota(&path, "1.20.2.r7", false);
    let mut rig = Rig::on(&path);
    rig.handle.drive("P12", Drive::High).unwrap();
    rig.handle
        .drive_at(Duration::from_millis(1000), "P12", Drive::Floating)
        .unwrap();
    let log = rig.boot_events();
    let (at, slot, version, safe_boot, skip, _) = decision(&log);
    assert_eq!(
        (
            at,
            slot.as_str(),
            version.as_str(),
            safe_boot.as_str(),
            skip
        ),
        (1100, "ota_0", "1.20.2.r7", "current", true)
    );
    let bootloader_leds: Vec<_> = led_timeline(&log)
        .into_iter()
        .filter(|(t, _)| *t < at)
        .collect();
    assert_eq!(bootloader_leds, blink(100, 1100, 500, true));
}

#[test]
fn p12_released_at_4s_boots_the_previous_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lopy4.flash");
    install_ota(&path, "1.20.2.r7", false);
    let mut rig = Rig::on(&path);
    rig.handle.drive("G28", Drive::High).unwrap(); // P12 by its expansion-board name
    rig.handle
        .drive_at(Duration::from_millis(4000), "P12", Drive::Floating)
        .unwrap();
    let log = rig.boot_events();
    let (at, slot, version, safe_boot, skip, _) = decision(&log);
    assert_eq!(
        (
            at,
            slot.as_str(),
            version.as_str(),
            safe_boot.as_str(),
            skip
        ),
        (4100, "factory", "1.20.2.r4", "previous", true)
    );
    let mut expected = blink(100, 3100, 500, true);
    expected.extend(blink(3100, 4100, 250, true));
    let bootloader_leds: Vec<_> = led_timeline(&log)
        .into_iter()
        .filter(|(t, _)| *t < at)
        .collect();
    assert_eq!(bootloader_leds, expected);
}

#[test]
fn p12_held_for_ever_picks_the_factory_slot_after_6s_then_blinks_fast_until_7_6s() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lopy4.flash");
    install_ota(&path, "1.20.2.r7", false);
    let mut rig = Rig::on(&path);
    rig.handle.drive("P12", Drive::High).unwrap();
    let log = rig.boot_events();
    let (at, slot, version, safe_boot, skip, _) = decision(&log);
    assert_eq!(
        (
            at,
            slot.as_str(),
            version.as_str(),
            safe_boot.as_str(),
            skip
        ),
        (7600, "factory", "1.20.2.r4", "factory", true)
    );
    let mut expected = blink(100, 3100, 500, true);
    expected.extend(blink(3100, 6100, 250, true));
    expected.extend(blink(6100, 7600, 100, true));
    expected.push((7600, OFF.into()));
    let bootloader_leds: Vec<_> = led_timeline(&log)
        .into_iter()
        .take_while(|(t, c)| *t < at || c == OFF)
        .collect();
    assert_eq!(bootloader_leds, expected);
}

#[test]
fn the_safe_boot_choice_is_not_persistent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lopy4.flash");
    install_ota(&path, "1.20.2.r7", false);
    let mut rig = Rig::on(&path);
    rig.handle.drive("P12", Drive::High).unwrap();
    rig.handle
        .drive_at(Duration::from_millis(4000), "P12", Drive::Floating)
        .unwrap();
    let first = rig.boot_events();
    assert_eq!(decision(&first).1, "factory");
    rig.handle.press_reset();
    let second = rig.until_idle_after_reset();
    let text = uart(&second);
    assert!(text.contains("rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)"));
    let (_, slot, version, safe_boot, skip, _) = decision(&second);
    assert_eq!(
        (slot.as_str(), version.as_str(), safe_boot.as_str(), skip),
        ("ota_0", "1.20.2.r7", "none", false)
    );
}

#[test]
fn g23_to_gnd_enters_download_mode_until_reset_with_g23_released() {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.handle.drive("G23", Drive::Low).unwrap();
    let log = rig.boot_events();
    assert_eq!(
        uart(&log),
        "ets Jun  8 2016 00:22:57\r\n\r\n\
         rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n\
         waiting for download\r\n"
    );
    assert!(log.iter().any(|e| e.kind
        == EventKind::Stage {
            stage: Stage::DownloadMode
        }));
    assert!(index_of(&log, |k| matches!(k, EventKind::Boot { .. })).is_none());
    assert!(led_timeline(&log).is_empty(), "the LED is not driven");

    // A reset with G23 still low stays in download mode.
    rig.handle.press_reset();
    let again = rig.until_idle_after_reset();
    assert!(uart(&again).contains("waiting for download"));

    // Released, then reset: a normal boot.
    rig.handle.drive("G23", Drive::Floating).unwrap();
    rig.handle.press_reset();
    let normal = rig.until_idle_after_reset();
    assert!(uart(&normal).contains("boot:0x13 (SPI_FAST_FLASH_BOOT)"));
    assert_eq!(decision(&normal).1, "factory");
}

#[test]
fn device_instances_in_turn_share_state_through_the_flash_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lopy4.flash");
    // First instance creates the file and boots the factory image.
    {
        let mut rig = Rig::on(&path);
        let log = rig.boot_events();
        assert_eq!(decision(&log).1, "factory");
        rig.shutdown();
    }
    // A broken OTA lands in ota_0; the second instance rolls back and says so.
    install_ota(&path, "1.20.2.r7", true);
    {
        let mut rig = Rig::on(&path);
        let log = rig.boot_events();
        assert!(uart(&log).contains(
            "Cannot load Firmware img in the active partition! .. Defaulting back to previous partition\r\n"
        ));
        let (_, slot, version, _, _, rolled_back) = decision(&log);
        assert_eq!(
            (slot.as_str(), version.as_str(), rolled_back),
            ("factory", "1.20.2.r4", true)
        );
        rig.shutdown();
    }
    // The third instance finds the record the second wrote: READY on factory, no message.
    {
        let mut rig = Rig::on(&path);
        let log = rig.boot_events();
        assert!(!uart(&log).contains("Cannot load"));
        let (_, slot, _, _, _, rolled_back) = decision(&log);
        assert_eq!((slot.as_str(), rolled_back), ("factory", false));
    }
}

#[test]
fn a_good_ota_image_is_verified_once_and_boots_from_ota_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lopy4.flash");
    install_ota(&path, "1.20.2.r7", false);
    let mut rig = Rig::on(&path);
    let log = rig.boot_events();
    let (_, slot, version, safe_boot, _, rolled_back) = decision(&log);
    assert_eq!(
        (
            slot.as_str(),
            version.as_str(),
            safe_boot.as_str(),
            rolled_back
        ),
        ("ota_0", "1.20.2.r7", "none", false)
    );
    rig.shutdown();
    let bytes = std::fs::read(&path).unwrap();
    let board = lopy4();
    let at = board.otadata_offset() as usize;
    let record = pycom_boot::BootInfo::decode(bytes[at..at + 40].try_into().unwrap());
    assert!(record.is_valid());
    assert_eq!(
        (record.active_img, record.status, record.prev_img),
        (1, 1, 0)
    );
}

#[test]
fn a_reset_during_the_blink_windows_restarts_the_boot_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lopy4.flash");
    let mut rig = Rig::on(&path);
    let first = rig.boot_events();
    assert_eq!(decision(&first).3, "none");
    rig.shutdown();
    let before = std::fs::read(&path).unwrap();

    let mut rig = Rig::on(&path);
    // P12 held, then the reset button pressed in window 1 (at 2 s) with P12 released at 1.9 s.
    rig.handle.drive("P12", Drive::High).unwrap();
    rig.handle
        .drive_at(Duration::from_millis(1900), "P12", Drive::Floating)
        .unwrap();
    rig.handle
        .at(Duration::from_millis(1950), Action::ResetButton);
    let log = rig.boot_events();
    let resets: Vec<u64> = log
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Reset { .. }))
        .map(Event::time_ms)
        .collect();
    assert_eq!(resets, vec![0, 1950]);
    let (at, _, _, safe_boot, skip, _) = decision(&log);
    assert_eq!((at, safe_boot.as_str(), skip), (1950, "none", false));
    rig.shutdown();
    assert!(
        before == std::fs::read(&path).unwrap(),
        "the interrupted boot wrote nothing"
    );
}

/// A batched reader (the scenario runner's) gets exactly the events an ordinary one gets, in
/// order, in batches of at most 256 that end where the device stops to wait: the prompt, a
/// pause.
#[test]
fn a_batched_reader_gets_every_event_in_batches_that_end_where_the_device_waits() {
    let mut rig = Rig::new(FlashSource::Fresh);
    let batches = rig.handle.subscribe_batched();
    let mut each = rig.boot_events();
    // Far more than one batch of LED changes without a wait in between.
    each.extend(
        rig.enter("import pycom; pycom.heartbeat(False); [pycom.rgbled(i) for i in range(700)]"),
    );
    rig.handle.watch(pycom_sim::device::Watch {
        until: None,
        deadline: Some(20_000_000),
    });
    each.extend(collect_until(&rig.events, |e| {
        matches!(e.kind, EventKind::Paused { .. })
    }));
    let mut got: Vec<Vec<Event>> = Vec::new();
    while got.iter().map(Vec::len).sum::<usize>() < each.len() {
        got.push(
            batches
                .recv_timeout(Duration::from_secs(30))
                .expect("the batches catch up"),
        );
    }
    assert_eq!(got.concat(), each, "the same events in the same order");
    assert!(got.iter().all(|b| !b.is_empty() && b.len() <= 256));
    assert!(
        got.iter().any(|b| b.len() == 256),
        "the loop's LED changes filled a batch before the prompt"
    );
    for batch in &got {
        let last = &batch.last().expect("not empty").kind;
        assert!(
            batch.len() == 256 || matches!(last, EventKind::Idle | EventKind::Paused { .. }),
            "a short batch ends where the device waits, not at {last:?}"
        );
    }
    assert!(matches!(
        got.last().and_then(|b| b.last()).map(|e| &e.kind),
        Some(EventKind::Paused { deadline: true })
    ));
    rig.shutdown();
}

#[test]
fn a_reset_is_counted_before_anyone_hears_of_it() {
    // A transport on another thread (FTP) ends its sessions at a chip reset; a client that has
    // seen the new boot on the UART must find the reset already counted there.
    let rig = Rig::new(FlashSource::Fresh);
    let remote = rig.handle.remote();
    assert_eq!(remote.resets(), 0, "a device not yet powered has not reset");
    rig.handle.free_compute();
    rig.handle.at(Duration::from_secs(1), Action::ResetButton);
    rig.handle.at(Duration::from_secs(2), Action::Stop);
    rig.handle.power_on();
    let mut heard = 0;
    let log = collect_until(&rig.events, |e| {
        if matches!(e.kind, EventKind::Reset { .. }) {
            heard += 1;
            assert!(
                remote.resets() >= heard,
                "reset {heard} heard before it was counted"
            );
        }
        false
    });
    assert_eq!(heard, 2, "{}", uart(&log));
    assert_eq!(remote.resets(), 2);
}

//! The soak's short form: three minutes of device time with the 1 ms alarm, P10 toggled every
//! 3 ms, a query every second, and a hard and a soft reset every minute (the soak itself is
//! `examples/bench_soak.rs`, included here; `scripts/soak` runs the full hour on a release build).

#[path = "../examples/bench_soak.rs"]
mod bench_soak;

use std::time::Duration;

#[test]
fn three_minutes_of_alarms_irqs_uart_and_resets_lose_nothing() {
    let minutes = 3;
    let r = bench_soak::soak(minutes, Duration::from_secs(240));
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert_eq!(r.device_s, minutes * 60);
    // Two boots a minute, each queried from its 2nd to its 29th second: 28 queries, 27 intervals.
    assert_eq!(r.queries, minutes * 2 * 28);
    assert_eq!(r.answers, r.queries);
    assert_eq!(r.alarms, minutes * 2 * 27 * 1000);
    // 27 s of 3 ms toggles per boot: 9000 edges, each one IRQ.
    assert_eq!(r.irqs, minutes * 2 * 9000);
    // At every multiple of 3 ms after 0, up to the end.
    assert_eq!(r.toggles_scheduled, minutes * 60 * 1000 / 3 - 1);
    assert_eq!((r.hard_resets, r.soft_resets), (minutes - 1, minutes));
    // The bound the soak states (`RSS_GROWTH_BOUND_KIB`) is checked by the soak itself (a
    // problem above); here the figures must at least be real readings.
    assert!(r.rss_start_kib > 0 && r.rss_end_kib > 0);
    assert!(r.rss_end_kib <= r.rss_start_kib + bench_soak::RSS_GROWTH_BOUND_KIB);
    // Five resets: each used to leave its interpreter behind (about 2.5 MiB, 12 MiB here); now
    // a reset frees its session, and the three minutes grow by under 1 MiB.
    assert!(
        r.rss_end_kib <= r.rss_start_kib + 8 * 1024,
        "RSS grew from {} to {} KiB over five resets",
        r.rss_start_kib,
        r.rss_end_kib
    );
    eprintln!(
        "soak: {} s of device time in {:.1} s wall; RSS {} -> {} KiB",
        r.device_s,
        r.wall.as_secs_f64(),
        r.rss_start_kib,
        r.rss_end_kib
    );
}

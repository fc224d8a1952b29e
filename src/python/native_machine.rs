//! `_machine`: the native half of `machine` beyond the pin and alarm calls of `_dev` — the
//! board's MAC and random numbers, sleeping (light, deep, idle), the wake reason a deep sleep
//! leaves for the next boot, RTC memory, UART0's driver, and `machine.main()`.
//!
//! State the chip keeps for one hard boot (the configured wake pins, `machine.main()`) or across
//! a deep sleep (the wake reason, RTC memory) lives in a thread-local tied to the running
//! [`Bridge`]: every hard boot builds a new bridge, so a new bridge means a new boot. A boot
//! whose reset cause is a deep-sleep wake inherits what the sleep left; any other boot starts
//! afresh, as RTC memory does when the chip loses power or is reset.

/// The alarm id `machine.WDT` runs on (`_WDT_ALARM` in machine.py); it survives soft resets.
pub const WDT_ALARM_ID: u64 = 1 << 41;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use crate::board::Board;
use crate::python::bridge::Bridge;

pub(crate) use machine::module_def;

/// `machine.PWRON_WAKE`: not woken from deep sleep.
pub const PWRON_WAKE: u8 = 0;
/// `machine.PIN_WAKE`: woken by the pins of `machine.pin_sleep_wakeup` (ext1).
pub const PIN_WAKE: u8 = 1;
/// `machine.RTC_WAKE`: woken by the deep-sleep timer.
pub const RTC_WAKE: u8 = 2;

/// `machine.WAKEUP_ALL_LOW` (ESP-IDF `ESP_EXT1_WAKEUP_ALL_LOW`).
pub const WAKEUP_ALL_LOW: u8 = 0;
/// `machine.WAKEUP_ANY_HIGH` (ESP-IDF `ESP_EXT1_WAKEUP_ANY_HIGH`).
pub const WAKEUP_ANY_HIGH: u8 = 1;

/// `MEM_USER_MAXLEN` of `machrtc.c`: bytes of RTC memory `RTC.memory()` may hold.
pub const RTC_MEMORY_MAX: usize = 2048;

/// The alarm id the deep-sleep timer uses on the device schedule (far from Python's ids).
const DEEP_SLEEP_ALARM: u64 = u64::MAX - 0x4D;

/// How a deep sleep ended, for `machine.wake_reason()` and `remaining_sleep_time()` of the
/// boot it causes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wake {
    pub reason: u8,
    /// GPIOs that woke the chip (pin wake only).
    pub gpios: Vec<u8>,
    /// Milliseconds of the requested sleep that were left (pin wake before the timer).
    pub remaining_ms: u64,
}

/// What one hard boot keeps (and what a deep sleep hands on to the next).
struct BootState {
    bridge: Weak<Bridge>,
    /// Why this boot happened (`machine.wake_reason()`).
    wake: Wake,
    /// Set by a deep sleep as it ends: the wake of the next boot.
    next_wake: Option<Wake>,
    /// `machine.pin_sleep_wakeup`: GPIOs and mode.
    wake_pins: Option<(Vec<u8>, u8)>,
    /// `RTC.memory()`: kept through deep sleep only.
    rtc_memory: Vec<u8>,
    /// `machine.main('x.py')`: unset at every soft reset.
    main_file: Option<String>,
    /// `machine.rng()` generator state.
    rng: u64,
}

thread_local! {
    static STATE: RefCell<Option<BootState>> = const { RefCell::new(None) };
}

/// Runs `f` on this hard boot's state, starting it if the bridge is new.
fn with_state<R>(bridge: &Rc<Bridge>, f: impl FnOnce(&mut BootState) -> R) -> R {
    STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let current = Rc::downgrade(bridge);
        let fresh = !slot
            .as_ref()
            .is_some_and(|s| Weak::ptr_eq(&s.bridge, &current));
        if fresh {
            let deep_sleep =
                bridge.session.borrow().reset_cause == crate::python::reset_cause::DEEPSLEEP_RESET;
            let old = slot.take();
            let (wake, rtc_memory) = match old {
                Some(old) if deep_sleep => (
                    old.next_wake.unwrap_or(Wake {
                        reason: RTC_WAKE,
                        ..Wake::default()
                    }),
                    old.rtc_memory,
                ),
                // The session says deep sleep but this thread saw no sleep (cannot happen on
                // one device): the timer is the likely waker.
                None if deep_sleep => (
                    Wake {
                        reason: RTC_WAKE,
                        ..Wake::default()
                    },
                    Vec::new(),
                ),
                _ => (Wake::default(), Vec::new()),
            };
            *slot = Some(BootState {
                bridge: current,
                wake,
                next_wake: None,
                wake_pins: None,
                rtc_memory,
                main_file: None,
                rng: seed(),
            });
        }
        match slot.as_mut() {
            Some(state) => f(state),
            // Unreachable: the slot was just filled.
            None => f(&mut BootState {
                bridge: Rc::downgrade(bridge),
                wake: Wake::default(),
                next_wake: None,
                wake_pins: None,
                rtc_memory: Vec::new(),
                main_file: None,
                rng: seed(),
            }),
        }
    })
}

/// A seed for `machine.rng()`: the hardware RNG is really random, so this is too.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x0050_5943_4F4D);
    h.finish() | 1
}

/// The board's factory MAC (`esp_efuse_mac_get_default`, what `machine.unique_id()` returns
/// and the base of the WLAN MACs): Espressif's OUI `24:0a:c4` and three bytes derived from the
/// board id, so every run of the same board has the same MAC.
pub fn board_mac(board: &Board) -> [u8; 6] {
    // FNV-1a, 32-bit: stable across Rust versions, unlike std's hasher.
    let mut h: u32 = 0x811C_9DC5;
    for b in board.id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let [_, a, b, c] = h.to_be_bytes();
    [0x24, 0x0A, 0xC4, a, b, c]
}

/// The file `machine.main()` named for this boot cycle, if any (the runtime would run it
/// instead of `main.py`).
pub fn main_file(bridge: &Rc<Bridge>) -> Option<String> {
    with_state(bridge, |s| s.main_file.clone())
}

#[rustpython_vm::pymodule(name = "_machine")]
mod machine {
    use rustpython_vm::builtins::{PyListRef, PyStrRef};
    use rustpython_vm::function::{ArgBytesLike, OptionalArg};
    use rustpython_vm::{PyObjectRef, PyResult, VirtualMachine};

    use super::{
        DEEP_SLEEP_ALARM, PIN_WAKE, RTC_MEMORY_MAX, RTC_WAKE, WAKEUP_ANY_HIGH, Wake, board_mac,
        with_state,
    };
    use crate::device::hw::{Callback, Hw};
    use crate::python::bridge::{break_exception, current, dispatch_callbacks};

    /// Called as `machine` is imported, i.e. once per interpreter (every boot and soft reset):
    /// starts this hard boot's state and unsets `machine.main()`.
    #[pyfunction]
    fn soft_init(vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        with_state(&bridge, |s| s.main_file = None);
        Ok(())
    }

    /// `(id, name, lora, sigfox, lte, psram)` of the board.
    #[pyfunction]
    fn board(vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let bridge = current(vm)?;
        let b = &bridge.board;
        Ok(vm
            .ctx
            .new_tuple(vec![
                vm.ctx.new_str(b.id.clone()).into(),
                vm.ctx.new_str(b.name.clone()).into(),
                vm.ctx.new_bool(b.lora).into(),
                vm.ctx.new_bool(b.sigfox).into(),
                vm.ctx.new_bool(b.lte).into(),
                vm.ctx.new_bool(b.psram).into(),
            ])
            .into())
    }

    /// `machine.unique_id()`: the 6-byte MAC.
    #[pyfunction]
    fn unique_id(vm: &VirtualMachine) -> PyResult<Vec<u8>> {
        Ok(board_mac(&current(vm)?.board).to_vec())
    }

    /// `machine.rng()`: a 24-bit random number.
    #[pyfunction]
    fn rng(vm: &VirtualMachine) -> PyResult<u32> {
        let bridge = current(vm)?;
        Ok(with_state(&bridge, |s| {
            // xorshift64*
            let mut x = s.rng;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            s.rng = x;
            let out = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            u32::try_from(out & 0x00FF_FFFF).unwrap_or(0)
        }))
    }

    /// `machine.main(name)`.
    #[pyfunction]
    fn set_main(name: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let name = name.to_string_lossy().into_owned();
        with_state(&bridge, |s| s.main_file = Some(name));
        Ok(())
    }

    /// The file set by `machine.main()`, or None.
    #[pyfunction]
    fn get_main(vm: &VirtualMachine) -> PyResult<Option<String>> {
        let bridge = current(vm)?;
        Ok(with_state(&bridge, |s| s.main_file.clone()))
    }

    /// `machine.wake_reason()` as `(reason, [gpio, …])`.
    #[pyfunction]
    fn wake_reason(vm: &VirtualMachine) -> PyResult<(u8, Vec<u8>)> {
        let bridge = current(vm)?;
        Ok(with_state(&bridge, |s| {
            (s.wake.reason, s.wake.gpios.clone())
        }))
    }

    /// `machine.remaining_sleep_time()` in ms.
    #[pyfunction]
    fn remaining_sleep_time(vm: &VirtualMachine) -> PyResult<u64> {
        let bridge = current(vm)?;
        Ok(with_state(&bridge, |s| s.wake.remaining_ms))
    }

    /// `machine.pin_sleep_wakeup(pins, mode)`: the GPIOs (already checked to be RTC pins) and
    /// the mode (0 all low, 1 any high). An empty list disables the pin wake.
    #[pyfunction]
    fn pin_sleep_wakeup(gpios: PyListRef, mode: u8, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let list: Vec<u8> = gpios
            .borrow_vec()
            .iter()
            .map(|o| o.try_to_value::<u8>(vm))
            .collect::<PyResult<_>>()?;
        with_state(&bridge, |s| {
            s.wake_pins = (!list.is_empty()).then_some((list, mode));
        });
        Ok(())
    }

    /// `RTC.memory([data])`: reads (no argument) or replaces RTC memory.
    #[pyfunction]
    fn rtc_memory(data: OptionalArg<ArgBytesLike>, vm: &VirtualMachine) -> PyResult<Vec<u8>> {
        let bridge = current(vm)?;
        match data {
            OptionalArg::Present(d) => {
                let bytes = d.borrow_buf().to_vec();
                if bytes.len() > RTC_MEMORY_MAX {
                    return Err(vm.new_value_error("buffer too long"));
                }
                with_state(&bridge, |s| s.rtc_memory = bytes);
                Ok(Vec::new())
            }
            OptionalArg::Missing => Ok(with_state(&bridge, |s| s.rtc_memory.clone())),
        }
    }

    /// The wake pins' condition: any of them high, or all of them low.
    fn pins_wake(hw: &Hw, pins: &Option<(Vec<u8>, u8)>) -> Option<Vec<u8>> {
        let (gpios, mode) = pins.as_ref()?;
        if *mode == WAKEUP_ANY_HIGH {
            let high: Vec<u8> = gpios
                .iter()
                .copied()
                .filter(|g| hw.gpio.level(*g))
                .collect();
            (!high.is_empty()).then_some(high)
        } else {
            gpios
                .iter()
                .all(|g| !hw.gpio.level(*g))
                .then(|| gpios.clone())
        }
    }

    /// `machine.deepsleep([ms])` up to the reset: the CPU stops (no Python runs, UART input is
    /// lost, the heartbeat stops) until the timer ends or a wake pin fires. Returns normally
    /// at the wake — the caller then raises `_pyboot.HardReset(3)` — or raises `DeviceStop` if
    /// the host resets or powers the device off meanwhile.
    #[pyfunction]
    fn deepsleep(ms: Option<i64>, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let pins = with_state(&bridge, |s| s.wake_pins.clone());
        let mut hw = bridge.hw.borrow_mut();
        hw.clear_python_hardware();
        hw.set_heartbeat(false);
        hw.show(smart_leds_trait::RGB8::default());
        hw.python_busy = false;
        hw.kbd_interrupt = false;
        hw.clock.set_computing(false);
        let start = hw.clock.now();
        let duration = ms.map(|ms| u64::try_from(ms.max(0)).unwrap_or(0).saturating_mul(1000));
        if let Some(us) = duration {
            hw.start_alarm(DEEP_SLEEP_ALARM, us, None);
        }
        let timer_fired = |hw: &Hw| hw.callbacks.contains(&Callback::Alarm(DEEP_SLEEP_ALARM));
        let wake = loop {
            hw.idle(|hw| timer_fired(hw) || pins_wake(hw, &pins).is_some());
            if hw.interrupted().is_some() {
                break None;
            }
            // The UART is off while the chip sleeps: nothing typed counts.
            hw.safe_boot_request = false;
            hw.kbd_interrupt = false;
            hw.uart_rx.clear();
            if let Some(gpios) = pins_wake(&hw, &pins) {
                let slept = hw.clock.now().saturating_sub(start);
                let remaining_ms = duration.map_or(0, |d| d.saturating_sub(slept) / 1000);
                break Some(Wake {
                    reason: PIN_WAKE,
                    gpios,
                    remaining_ms,
                });
            }
            if timer_fired(&hw) {
                break Some(Wake {
                    reason: RTC_WAKE,
                    ..Wake::default()
                });
            }
        };
        hw.cancel_alarm(DEEP_SLEEP_ALARM);
        hw.uart_rx.clear();
        hw.python_busy = true;
        hw.clock.set_computing(true);
        match wake {
            Some(w) => {
                drop(hw);
                with_state(&bridge, |s| s.next_wake = Some(w));
                Ok(())
            }
            None => match break_exception(vm, &mut hw) {
                Some(e) => Err(e),
                None => Ok(()),
            },
        }
    }

    /// `machine.sleep([ms])`: light sleep. The CPU pauses (handlers wait until it resumes);
    /// the timer or a wake pin resumes it; then the code goes on.
    #[pyfunction]
    fn light_sleep(ms: Option<i64>, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let pins = with_state(&bridge, |s| s.wake_pins.clone());
        {
            let mut hw = bridge.hw.borrow_mut();
            hw.python_busy = false;
            hw.clock.set_computing(false);
            let start = hw.clock.now();
            let target = ms.map(|ms| {
                start.saturating_add(u64::try_from(ms.max(0)).unwrap_or(0).saturating_mul(1000))
            });
            loop {
                match target {
                    Some(t) => hw.wait_until(t),
                    None => hw.idle(|hw| pins_wake(hw, &pins).is_some()),
                }
                if hw.interrupted().is_some()
                    || pins_wake(&hw, &pins).is_some()
                    || target.is_some_and(|t| hw.clock.now() >= t)
                {
                    break;
                }
                // Ctrl-F while the CPU sleeps is not seen.
                hw.safe_boot_request = false;
                hw.kbd_interrupt = false;
            }
            hw.python_busy = true;
            hw.clock.set_computing(true);
            if let Some(e) = break_exception(vm, &mut hw) {
                return Err(e);
            }
        }
        dispatch_callbacks(vm)
    }

    /// `machine.idle()`: waits for the next thing that could need the code — a handler to
    /// run, UART input, a break — instead of spinning. In virtual time this lets the clock jump
    /// to the next timer and lets the device report itself idle.
    #[pyfunction]
    fn idle(vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        {
            let mut hw = bridge.hw.borrow_mut();
            hw.clock.set_computing(false);
            hw.idle(|hw| !hw.callbacks.is_empty() || !hw.uart_rx.is_empty());
            hw.clock.set_computing(true);
            if let Some(e) = break_exception(vm, &mut hw) {
                return Err(e);
            }
        }
        dispatch_callbacks(vm)
    }

    /// Installs (true) or removes (false) the firmware's UART0 driver: without it the REPL's
    /// output is dropped and typed input is lost.
    #[pyfunction]
    fn uart0_enable(on: bool, vm: &VirtualMachine) -> PyResult<()> {
        current(vm)?.hw.borrow_mut().uart0_enabled = on;
        Ok(())
    }

    /// `UART(0).write(buf)`: raw bytes out.
    #[pyfunction]
    fn uart0_write(data: ArgBytesLike, vm: &VirtualMachine) -> PyResult<usize> {
        let bridge = current(vm)?;
        let bytes = data.borrow_buf().to_vec();
        bridge.hw.borrow_mut().uart0_driver_write(&bytes);
        Ok(bytes.len())
    }

    /// Bytes waiting in UART0's receive buffer.
    #[pyfunction]
    fn uart0_any(vm: &VirtualMachine) -> PyResult<usize> {
        let bridge = current(vm)?;
        let mut hw = bridge.hw.borrow_mut();
        hw.drain_commands();
        Ok(hw.uart_rx.len())
    }

    /// Takes up to `n` (all if negative) bytes from UART0's receive buffer, without waiting.
    /// With `line`, stops after the first `\n`.
    #[pyfunction]
    fn uart0_read(n: i64, line: bool, vm: &VirtualMachine) -> PyResult<Vec<u8>> {
        let bridge = current(vm)?;
        let mut hw = bridge.hw.borrow_mut();
        hw.drain_commands();
        let want = usize::try_from(n).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        while out.len() < want {
            let Some(b) = hw.uart_rx.pop_front() else {
                break;
            };
            out.push(b);
            if line && b == b'\n' {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_stable_and_espressif() {
        let board = Board::builtin("lopy4").expect("lopy4");
        let mac = board_mac(&board);
        assert_eq!(mac, board_mac(&board));
        assert_eq!(&mac[..3], &[0x24, 0x0A, 0xC4]);
        let fipy = Board::builtin("fipy").expect("fipy");
        assert_ne!(board_mac(&fipy), mac);
    }
}

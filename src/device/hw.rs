//! The device's hardware state on the device thread: clock, schedule, pins, LED, UART, and the
//! command queue from the handle. Everything that happens goes through here so that it is
//! stamped with device time and published as an event.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};

use smart_leds_trait::RGB8;

use crate::clock::{Clock, Micros, Schedule, TimeMode};
use crate::event::{Event, EventKind};
use crate::gpio::{Drive, Gpio, LevelChange};
use crate::led::{self, Ws2812};
use crate::rom::ResetCause;

/// Something the outside asked for, to happen at a device time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Connect a pin to 3V3, GND, or nothing.
    Drive { gpio: u8, drive: Drive },
    /// Press and release the reset (EN) button.
    ResetButton,
    /// Remove power and apply it again.
    PowerCycle,
    /// Bytes arriving on UART0's RX line now.
    Uart(Vec<u8>),
    /// Bytes typed ahead (a pipe, a script): held by the host and delivered a line at a time,
    /// each when the firmware next waits for input with its buffer empty (see [`Hw::idle`]), so
    /// the same input gives the same output whatever the host's timing.
    Type(Vec<u8>),
    /// A deliberate panic on the device thread: the test hook for the crash path.
    Panic,
    /// End the run (`--for`).
    Stop,
}

/// Messages from a `DeviceHandle` to the device thread.
#[derive(Debug)]
pub enum Command {
    PowerOn,
    PowerOff,
    Now(Action),
    At {
        at: Micros,
        action: Action,
    },
    /// The host will type input ahead ([`Action::Type`]): in virtual time an input wait with
    /// nothing typed waits for the host instead of jumping time, until [`Command::CloseInput`].
    OpenInput,
    /// The host has no more UART input (stdin ended).
    CloseInput,
    /// Sets the REPL profile the firmware runs with (from the next boot or soft reset).
    ReplProfile(ReplProfile),
    /// Several commands the device takes in one step: no device time passes between them, so
    /// a pin held and a line typed "at once" are seen at once however the threads run.
    Batch(Vec<Command>),
    /// Run until a condition holds, then stop (see [`Watch`]).
    Watch(Watch),
    /// Computation takes no device time from now on (see [`crate::clock::Clock`]).
    FreeCompute,
    /// A filesystem operation from a transport (see [`FsJob`]).
    Fs(FsJob),
    Shutdown,
}

/// A filesystem operation a transport (the FTP server) needs done on the device thread, where
/// the filesystem lives. It runs wherever the device takes its commands — between Python steps
/// (the service tick), and in every wait (sleep, input, the idle prompt) — so it is served
/// whatever the firmware is doing, and never waits for Python to finish. Its argument is the
/// running firmware's own state, opaque to the device (the Python runtime passes its bridge);
/// what it returns goes out of UART0, as the firmware's `printf`s do. While no firmware runs
/// (bootloader, download mode, power off) the job is dropped, and with it the transport's reply
/// channel, so the transport learns at once that nothing can serve it.
pub struct FsJob(pub Box<FsWork>);

/// The work inside an [`FsJob`]: given the firmware's state, returns what to print.
pub type FsWork = dyn FnOnce(&dyn std::any::Any) -> Vec<u8> + Send;

impl std::fmt::Debug for FsJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FsJob")
    }
}

/// Runs [`FsJob`]s: installed by the firmware while it runs (see [`Hw::set_fs_host`]).
pub type FsHost = Box<dyn FnMut(FsJob) -> Vec<u8>>;

/// A [`Watch`]'s condition: called on the device thread with every event it publishes.
pub type StopWhen = Box<dyn FnMut(&Event) -> bool + Send>;

/// A scenario's stop condition, checked on the device thread.
///
/// The device thread runs ahead of any host thread reading its events, so a host that sees
/// "`>>> ` printed" and then holds P12 would act at whatever device time the device has reached
/// by then. Instead the device itself stops at the first event `until` accepts, or when device
/// time reaches `deadline` (a step's timeout, on the device's own schedule), says
/// [`EventKind::Paused`] and takes commands without advancing time until the next `Watch`. The
/// next step's actions then land at exactly the device time the previous condition matched.
pub struct Watch {
    /// Stops the device when it returns true for an event just published.
    pub until: Option<StopWhen>,
    /// Device time (µs since power-on) to stop at if `until` has not matched; a time already
    /// past stops at once (a barrier: the commands before it have been applied).
    pub deadline: Option<Micros>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("until", &self.until.as_ref().map(|_| "condition"))
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// What the device thread must stop doing its current work for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// Start again from the ROM with this cause.
    Reset(ResetCause),
    PowerOff,
    /// The handle asked the device to end, or the `--for` limit was reached.
    Shutdown,
}

/// Timed work on the device's schedule.
#[derive(Debug)]
pub enum Timed {
    Action(Action),
    /// The firmware's heartbeat: LED on (true) or off (false).
    Heartbeat(bool),
    /// A `machine.Timer.Alarm` (by id) fires; periodic ones come back after `period`.
    Alarm {
        id: u64,
        period: Option<Micros>,
    },
    /// The armed [`Watch`]'s deadline.
    Deadline,
}

/// Work for Python handlers, queued by the hardware (timer and pin "interrupts") and run by the
/// runtime at the next safe point, as MicroPython schedules its callbacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    Alarm(u64),
    /// A pin IRQ: the pin and the level it changed to.
    Pin {
        gpio: u8,
        level: bool,
    },
}

/// `Pin.IRQ_RISING`.
pub const IRQ_RISING: u8 = 1;
/// `Pin.IRQ_FALLING`.
pub const IRQ_FALLING: u8 = 2;
/// `Pin.IRQ_LOW_LEVEL`.
pub const IRQ_LOW_LEVEL: u8 = 4;
/// `Pin.IRQ_HIGH_LEVEL`.
pub const IRQ_HIGH_LEVEL: u8 = 5;

/// Whether a level change to `level` fires an IRQ with `trigger`.
pub fn irq_fires(trigger: u8, level: bool) -> bool {
    match trigger {
        IRQ_LOW_LEVEL => !level,
        IRQ_HIGH_LEVEL => level,
        t => (level && t & IRQ_RISING != 0) || (!level && t & IRQ_FALLING != 0),
    }
}

/// Which REPL texts and protocol the firmware speaks (`--repl-profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReplProfile {
    /// Pycom's firmware 1.20: `PYB: soft reboot`, the Pycom banner, no raw-paste (hosts fall
    /// back to the slow paced raw REPL, as with a real module).
    #[default]
    Pycom,
    /// Upstream MicroPython's texts (`MPY: soft reboot`, `MicroPython …` banner) and raw-paste
    /// mode, which mpremote and Thonny use for fast transfers.
    Micropython,
}

/// Ctrl-F: the firmware's "reset into safe boot" character.
pub const CTRL_F: u8 = 0x06;

use super::ResetCount;
use super::stream::Subscribers;

pub struct Hw {
    pub clock: Clock,
    pub schedule: Schedule<Timed>,
    pub gpio: Gpio,
    pub led: Ws2812,
    pub uart_rx: VecDeque<u8>,
    /// Input typed ahead by the host, not yet on the line ([`Action::Type`]).
    typed: VecDeque<u8>,
    /// The host may still type ahead ([`Command::OpenInput`] until [`Command::CloseInput`]).
    typed_open: bool,
    pub powered: bool,
    pub heartbeat: bool,
    /// Python code is executing (not waiting at a prompt): the interrupt character then raises
    /// `KeyboardInterrupt` instead of reaching the input buffer, as MicroPython's UART ISR does.
    pub python_busy: bool,
    /// Device breaks (`DeviceStop`, `SafeBootReset`, `HardReset`) thrown into this
    /// interpreter's code. Code that catches one and goes on is torn down at the next look
    /// (`bridge::service`); `break_pokes` counts the looks since.
    pub breaks_thrown: u32,
    pub break_pokes: u32,
    /// The code asked for a hard reset (`machine.reset()`: 2, a deep-sleep wake: 3); the chip
    /// resets whatever the code does next (`_dev.hard_reset`).
    pub hard_reset_request: Option<i32>,
    /// The character that interrupts running code (Ctrl-C; `micropython.kbd_intr` changes it,
    /// `None` disables it).
    pub intr_char: Option<u8>,
    /// Ctrl-C arrived while code ran; the runtime raises `KeyboardInterrupt` at the next check.
    pub kbd_interrupt: bool,
    /// Ctrl-F arrived: the firmware requests a safe boot and resets (any time, any mode).
    pub safe_boot_request: bool,
    /// Handlers waiting to run.
    pub callbacks: VecDeque<Callback>,
    /// Pin IRQs armed by `Pin.callback`: GPIO → trigger.
    pub pin_irqs: std::collections::BTreeMap<u8, u8>,
    /// The firmware's UART0 driver is installed. `machine.UART(0).deinit()` removes it: the
    /// firmware's console output is dropped and typed input is lost, until `UART(0)` is made
    /// again (the frozen `_boot.py` does it at every boot) or the chip resets. The ROM and the
    /// bootloader print regardless.
    pub uart0_enabled: bool,
    /// The REPL's terminal is UART0: `os.dupterm()` holds `UART(0)`, as the frozen `_boot.py`
    /// sets it at every boot. While the terminal is elsewhere (`os.dupterm(None)` or another
    /// stream), console output skips UART0, and bytes typed there stay in the driver's buffer
    /// for `UART(0).read()`, with no Ctrl-C or Ctrl-F.
    pub console_on_uart0: bool,
    /// The REPL's texts and protocol.
    pub repl_profile: ReplProfile,
    interrupt: Option<Interrupt>,
    commands: Receiver<Command>,
    subscribers: Subscribers,
    /// Chip resets so far, shared with every [`super::Remote`] (see [`super::Remote::resets`]).
    resets: ResetCount,
    last_was_idle: bool,
    /// The armed stop condition, if any.
    watch: Option<Watch>,
    /// Stopped by a [`Watch`], taking commands until the next one arrives.
    paused: bool,
    /// A new `Watch` arrived while paused: go on.
    resume: bool,
    /// How many times the device has stopped, so a wait can tell it stopped meanwhile.
    pauses: u64,
    /// Who runs transports' filesystem jobs, while a firmware runs.
    fs_host: Option<FsHost>,
}

impl Hw {
    pub fn new(
        mode: TimeMode,
        gpio: Gpio,
        commands: Receiver<Command>,
        subscribers: Subscribers,
        resets: ResetCount,
    ) -> Hw {
        Hw {
            clock: Clock::new(mode),
            schedule: Schedule::default(),
            gpio,
            led: Ws2812::default(),
            uart_rx: VecDeque::new(),
            typed: VecDeque::new(),
            typed_open: false,
            powered: false,
            heartbeat: false,
            python_busy: false,
            breaks_thrown: 0,
            break_pokes: 0,
            hard_reset_request: None,
            intr_char: None,
            kbd_interrupt: false,
            safe_boot_request: false,
            callbacks: VecDeque::new(),
            pin_irqs: std::collections::BTreeMap::new(),
            uart0_enabled: true,
            console_on_uart0: true,
            repl_profile: ReplProfile::default(),
            interrupt: None,
            commands,
            subscribers,
            resets,
            last_was_idle: false,
            watch: None,
            paused: false,
            resume: false,
            pauses: 0,
            fs_host: None,
        }
    }

    /// Installs (or removes) who runs [`FsJob`]s. The host runs inside the command drain, with
    /// this `Hw` borrowed: it must not borrow the `Hw` again.
    pub fn set_fs_host(&mut self, host: Option<FsHost>) {
        self.fs_host = host;
    }

    /// Publishes an event at the current device time.
    pub fn emit(&mut self, kind: EventKind) {
        let idle = kind == EventKind::Idle;
        if idle && self.last_was_idle {
            return;
        }
        self.last_was_idle = idle;
        if matches!(kind, EventKind::Reset { .. }) {
            // Counted before anyone hears of it or sees the new boot's output.
            self.resets
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let event = Event {
            time_us: self.clock.now(),
            kind,
        };
        super::stream::deliver(&self.subscribers, &event);
        // The event is out first, so whoever waits for the stop has seen what caused it.
        let matched = !self.paused
            && self
                .watch
                .as_mut()
                .and_then(|w| w.until.as_mut())
                .is_some_and(|until| until(&event));
        if matched {
            self.pause(false);
        }
    }

    /// Arms a stop condition; inside a pause it also ends the pause.
    fn arm(&mut self, watch: Watch) {
        self.schedule.retain(|t| !matches!(t, Timed::Deadline));
        let now = self.clock.now();
        if watch.deadline.is_some_and(|d| d <= now) {
            self.watch = None;
            if self.paused {
                // Still stopped: say so again, so the host knows its commands were applied.
                self.emit(EventKind::Paused { deadline: true });
            } else {
                self.pause(true);
            }
            return;
        }
        if let Some(d) = watch.deadline {
            self.schedule.push(d, Timed::Deadline);
        }
        self.watch = Some(watch);
        self.resume = self.paused;
    }

    /// Stops the device where it is — mid-boot, mid-print, mid-wait — and applies commands,
    /// with device time standing still, until a new [`Watch`] (or a shutdown) arrives.
    fn pause(&mut self, deadline: bool) {
        self.watch = None;
        self.schedule.retain(|t| !matches!(t, Timed::Deadline));
        // The host's think time is not the device's: no wall time may leak in while stopped.
        let computing = self.clock.computing();
        self.clock.set_computing(false);
        self.paused = true;
        self.resume = false;
        self.pauses += 1;
        self.emit(EventKind::Paused { deadline });
        while !self.resume && self.interrupt != Some(Interrupt::Shutdown) {
            match self.commands.recv() {
                Ok(c) => self.handle(c),
                Err(_) => self.interrupt_with(Interrupt::Shutdown),
            }
        }
        self.paused = false;
        self.resume = false;
        self.clock.set_computing(computing);
    }

    /// The armed watch's deadline, if any.
    fn watch_deadline(&self) -> Option<Micros> {
        self.watch.as_ref().and_then(|w| w.deadline)
    }

    /// Sends bytes out of UART0.
    pub fn uart_write(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.emit(EventKind::Uart {
                text: bytes.to_vec(),
            });
        }
    }

    /// Console output of the Python runtime: out of UART0 while the terminal is there and the
    /// driver is installed.
    pub fn console_write(&mut self, bytes: &[u8]) {
        if self.console_on_uart0 {
            self.uart0_driver_write(bytes);
        }
    }

    /// Sends bytes out of UART0 through the firmware's driver (`UART(0).write`): nothing goes
    /// out while `machine.UART(0)` is deinitialised.
    pub fn uart0_driver_write(&mut self, bytes: &[u8]) {
        if self.uart0_enabled {
            self.uart_write(bytes);
        }
    }

    pub fn pin_changed(&mut self, change: Option<LevelChange>) {
        if let Some(c) = change {
            if self
                .pin_irqs
                .get(&c.gpio)
                .is_some_and(|&t| irq_fires(t, c.level))
            {
                self.callbacks.push_back(Callback::Pin {
                    gpio: c.gpio,
                    level: c.level,
                });
            }
            self.emit(EventKind::Pin {
                pin: c.pin,
                gpio: c.gpio,
                level: u8::from(c.level),
            });
        }
    }

    /// Latches a colour into the LED the way the data line carries it (GRB).
    pub fn show(&mut self, colour: RGB8) {
        if let Some(c) = self.led.latch(led::grb_frame(colour)) {
            self.emit(EventKind::Led { color: led::hex(c) });
        }
    }

    /// The pending interrupt, if any (left in place).
    pub fn interrupted(&self) -> Option<Interrupt> {
        self.interrupt
    }

    /// Takes the pending interrupt.
    pub fn take_interrupt(&mut self) -> Option<Interrupt> {
        self.interrupt.take()
    }

    fn interrupt_with(&mut self, why: Interrupt) {
        // A shutdown outranks a reset that is already waiting.
        if self.interrupt != Some(Interrupt::Shutdown) {
            self.interrupt = Some(why);
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Drive { gpio, drive } => {
                if let Some(p) = self.gpio.pin(gpio) {
                    let pin = p.def.name.clone();
                    self.emit(EventKind::Drive { pin, gpio, drive });
                }
                let change = self.gpio.set_drive(gpio, drive);
                self.pin_changed(change);
            }
            Action::ResetButton if self.powered => {
                self.interrupt_with(Interrupt::Reset(ResetCause::ResetButton));
            }
            Action::PowerCycle => self.interrupt_with(Interrupt::Reset(ResetCause::PowerOn)),
            Action::ResetButton => {}
            Action::Uart(bytes) => self.receive_uart(&bytes),
            Action::Type(bytes) => self.typed.extend(bytes),
            Action::Stop => self.interrupt_with(Interrupt::Shutdown),
            Action::Panic => panic!("pycom-sim test hook: a deliberate panic on the device thread"),
        }
    }

    /// UART0's receive path: the interrupt character while code runs, and the firmware's reset
    /// character Ctrl-F (armed once the firmware runs), never reach the input buffer.
    fn receive_uart(&mut self, bytes: &[u8]) {
        if !self.uart0_enabled {
            // No driver: the bytes arrive on a dead line (no Ctrl-C, no Ctrl-F either).
            return;
        }
        for &b in bytes {
            if !self.console_on_uart0 {
                self.uart_rx.push_back(b);
            } else if self.python_busy && Some(b) == self.intr_char {
                self.kbd_interrupt = true;
                // Like the firmware, what was typed before the interrupt is thrown away.
                self.uart_rx.clear();
            } else if b == CTRL_F
                && self.intr_char.is_some()
                && self.repl_profile == ReplProfile::Pycom
            {
                // Pycom's reset character; upstream MicroPython has none (rshell's ACK is 0x06).
                self.safe_boot_request = true;
            } else {
                self.uart_rx.push_back(b);
            }
        }
    }

    /// A chip reset: the UART's RX FIFO and the driver's buffer are empty again, as on the
    /// hardware. Input the host still holds (typed ahead) is not on the line yet and is kept.
    pub fn reset_uart(&mut self) {
        self.uart_rx.clear();
    }

    /// Puts the next line of typed-ahead input on the RX line: up to and including the first
    /// control character (a CR takes the LF after it along). Returns whether anything moved.
    /// A line at a time, so input after a reset (Ctrl-F, `machine.reset()`) reaches the new
    /// boot instead of the FIFO the reset empties, as when a person types it.
    fn deliver_typed(&mut self) -> bool {
        let take = match self.typed.iter().position(|&b| b < 0x20 || b == 0x7F) {
            Some(end) => {
                let crlf =
                    self.typed.get(end) == Some(&b'\r') && self.typed.get(end + 1) == Some(&b'\n');
                end + 1 + usize::from(crlf)
            }
            None => self.typed.len(),
        };
        let line: Vec<u8> = self.typed.drain(..take).collect();
        self.receive_uart(&line);
        !line.is_empty()
    }

    /// Whether code waiting on the clock must stop waiting: a reset, power cut, shutdown,
    /// Ctrl-C while running, or Ctrl-F.
    pub fn should_break(&self) -> bool {
        self.interrupt.is_some()
            || self.kbd_interrupt
            || self.safe_boot_request
            || (self.python_busy && !self.callbacks.is_empty())
    }

    /// Starts a timer alarm: first at `now + first`, then every `period` if periodic.
    pub fn start_alarm(&mut self, id: u64, first: Micros, period: Option<Micros>) {
        self.cancel_alarm(id);
        let at = self.clock.now().saturating_add(first);
        self.schedule.push(at, Timed::Alarm { id, period });
    }

    /// Cancels an alarm and drops its queued callback.
    pub fn cancel_alarm(&mut self, id: u64) {
        self.schedule
            .retain(|t| !matches!(t, Timed::Alarm { id: other, .. } if *other == id));
        self.callbacks.retain(|c| *c != Callback::Alarm(id));
    }

    /// Cancels every alarm and pin IRQ (soft reset, `machine.reset()`).
    pub fn clear_python_hardware(&mut self) {
        self.schedule.retain(|t| !matches!(t, Timed::Alarm { .. }));
        self.callbacks.clear();
        self.pin_irqs.clear();
    }

    /// A soft reset: timers and IRQs go with the interpreter, but a running watchdog does not
    /// stop (it is hardware; the next interpreter's `machine` takes its handler back).
    pub fn clear_python_hardware_keeping(&mut self, watchdog: u64) {
        self.schedule.retain(|t| {
            matches!(t, Timed::Alarm { id, .. } if *id == watchdog)
                || !matches!(t, Timed::Alarm { .. })
        });
        self.callbacks.retain(|c| *c == Callback::Alarm(watchdog));
        self.pin_irqs.clear();
    }

    fn handle(&mut self, command: Command) {
        // Whatever a command did, the device must say again when it is idle after it.
        self.last_was_idle = false;
        match command {
            Command::OpenInput => self.typed_open = true,
            Command::CloseInput => {
                self.typed_open = false;
                self.emit(EventKind::InputClosed);
            }
            Command::PowerOn if !self.powered => {
                self.interrupt_with(Interrupt::Reset(ResetCause::PowerOn));
            }
            Command::PowerOn => {}
            Command::PowerOff => self.interrupt_with(Interrupt::PowerOff),
            Command::Now(action) => self.apply(action),
            Command::At { at, action } => {
                let now = self.clock.now();
                if at <= now {
                    self.apply(action);
                } else {
                    self.schedule.push(at, Timed::Action(action));
                }
            }
            Command::ReplProfile(p) => self.repl_profile = p,
            Command::Batch(commands) => {
                for c in commands {
                    self.handle(c);
                }
            }
            Command::Watch(watch) => self.arm(watch),
            Command::FreeCompute => self.clock.set_free_compute(true),
            Command::Fs(job) => {
                if let Some(host) = self.fs_host.as_mut() {
                    let printed = host(job);
                    self.uart_write(&printed);
                }
            }
            Command::Shutdown => self.interrupt_with(Interrupt::Shutdown),
        }
    }

    /// Applies every command already queued.
    pub fn drain_commands(&mut self) {
        loop {
            match self.commands.try_recv() {
                Ok(c) => self.handle(c),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.interrupt_with(Interrupt::Shutdown);
                    return;
                }
            }
        }
    }

    /// Applies queued commands, or blocks for the next one if there are none.
    pub fn wait_for_command(&mut self) {
        self.drain_commands();
        if self.interrupt.is_none() {
            self.block_for_command(None);
        }
    }

    /// Blocks for the next command (virtual idle, or nothing scheduled in real time).
    fn block_for_command(&mut self, wall_timeout: Option<std::time::Duration>) {
        super::stream::flush(&self.subscribers);
        let received = match wall_timeout {
            None => self
                .commands
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => self.commands.recv_timeout(t),
        };
        match received {
            Ok(c) => self.handle(c),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => self.interrupt_with(Interrupt::Shutdown),
        }
    }

    fn run_timed(&mut self, item: Timed) {
        match item {
            Timed::Action(a) => self.apply(a),
            Timed::Heartbeat(on) if self.heartbeat => {
                self.show(if on {
                    led::HEARTBEAT_COLOR
                } else {
                    RGB8::default()
                });
                let (next_on, wait_ms) = if on {
                    (false, led::HEARTBEAT_ON_MS)
                } else {
                    (true, led::HEARTBEAT_OFF_MS)
                };
                let at = self.clock.now() + wait_ms * 1000;
                self.schedule.push(at, Timed::Heartbeat(next_on));
            }
            Timed::Heartbeat(_) => {}
            Timed::Deadline => self.pause(true),
            Timed::Alarm { id, period } => {
                self.callbacks.push_back(Callback::Alarm(id));
                if let Some(p) = period {
                    let at = self.clock.now().saturating_add(p.max(1));
                    self.schedule.push(at, Timed::Alarm { id, period });
                }
            }
        }
    }

    /// Runs everything scheduled up to `until`, moving the clock to each entry's time.
    fn run_due(&mut self, until: Micros) {
        while let Some((at, item)) = self.schedule.pop_due(until) {
            self.clock.advance_to(at);
            self.run_timed(item);
            if self.interrupt.is_some() {
                return;
            }
        }
    }

    /// Runs scheduled work that is due by `now` without waiting (while code computes).
    pub fn run_due_now(&mut self, now: Micros) {
        self.run_due(now);
    }

    /// Waits until device time `target`, running scheduled work and applying commands on the way.
    /// Returns early (with the clock where it stopped) when an interrupt arrives.
    pub fn wait_until(&mut self, target: Micros) {
        loop {
            self.drain_commands();
            if self.should_break() {
                return;
            }
            let now = self.clock.now();
            if now >= target {
                return;
            }
            let step = self.schedule.next_due().map_or(target, |d| d.min(target));
            let wall = self.clock.wall_until(step);
            if !wall.is_zero() {
                self.block_for_command(Some(wall));
                if self.clock.now() < step {
                    continue;
                }
            }
            self.clock.advance_to(step);
            self.run_due(step);
            if self.should_break() {
                return;
            }
        }
    }

    /// Waits `us` microseconds of device time.
    pub fn wait(&mut self, us: Micros) {
        let target = self.clock.now().saturating_add(us);
        self.wait_until(target);
    }

    /// Whether anything other than the heartbeat is scheduled.
    pub fn has_pending_work(&self) -> bool {
        self.schedule
            .any(|t| matches!(t, Timed::Action(_) | Timed::Alarm { .. }))
    }

    /// Waits for input with nothing to compute: until `ready` says there is something to do, or
    /// an interrupt. In virtual time the clock jumps straight to scheduled work; with nothing but
    /// the heartbeat left the device announces it is idle and blocks for a command.
    pub fn idle(&mut self, mut ready: impl FnMut(&Hw) -> bool) {
        // Waiting is not computing: in virtual time no wall time may leak into device time here.
        let computing = self.clock.computing();
        self.clock.set_computing(false);
        self.idle_inner(&mut ready);
        self.clock.set_computing(computing);
    }

    fn idle_inner(&mut self, ready: &mut impl FnMut(&Hw) -> bool) {
        // Real time: said once per wait, not again after every heartbeat edge.
        let mut announced = false;
        loop {
            self.drain_commands();
            if self.should_break() || ready(self) {
                return;
            }
            if self.deliver_typed() {
                continue;
            }
            match self.clock.mode() {
                // The host may still type: waiting for it keeps virtual time where it is, so
                // what it types lands at the same device time however late the host is.
                TimeMode::Virtual if self.typed_open => self.block_for_command(None),
                TimeMode::Virtual if self.has_pending_work() => {
                    if let Some(due) = self.schedule.next_due() {
                        self.wait_until(due);
                    }
                }
                TimeMode::Virtual => {
                    let pauses = self.pauses;
                    self.emit(EventKind::Idle);
                    if self.pauses != pauses {
                        // Stopped at the idle: see what the scenario did (typed, reset) first.
                        continue;
                    }
                    match self.watch_deadline() {
                        // A scenario step waits for a time: run on (heartbeat included) toward
                        // it one scheduled edge at a time, looking at `ready` after each, since
                        // a stop on the way may have typed input.
                        Some(due) => {
                            let step = self.schedule.next_due().map_or(due, |d| d.min(due));
                            self.clock.advance_to(step);
                            self.run_due(step);
                        }
                        None => self.block_for_command(None),
                    }
                }
                TimeMode::Real => {
                    if !announced && !self.has_pending_work() {
                        self.last_was_idle = false;
                        self.emit(EventKind::Idle);
                        announced = true;
                    }
                    match self.schedule.next_due() {
                        // Wait for the next scheduled work, but wake for any command: a byte
                        // typed now must be seen now, not at the next heartbeat edge.
                        Some(due) => {
                            let wall = self.clock.wall_until(due);
                            if wall.is_zero() {
                                self.clock.advance_to(due);
                                self.run_due(due);
                            } else {
                                self.block_for_command(Some(wall));
                            }
                        }
                        None => self.block_for_command(None),
                    }
                }
            }
        }
    }

    /// Starts or stops the firmware heartbeat (80 ms blue every 4 s).
    pub fn set_heartbeat(&mut self, on: bool) {
        self.heartbeat = on;
        self.schedule.retain(|t| !matches!(t, Timed::Heartbeat(_)));
        if on {
            self.run_timed(Timed::Heartbeat(true));
        }
    }
}

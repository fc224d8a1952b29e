//! The device: one thread that runs the whole module, and the one handle everything outside uses.
//!
//! The terminal, a pty, telnet, scenarios and tests all talk to the device through
//! [`DeviceHandle`] — pin drives, the reset button, power, UART bytes — and all read the same
//! [`Event`] stream. Nothing outside is special-cased inside.

mod boot_port;
mod crash;
pub(crate) mod hw;
pub(crate) mod run;
mod stream;
mod threads;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crash::panic_message;
pub use hw::{Action, FsJob, ReplProfile, StopWhen, Watch};
use hw::{Command, Hw};
use stream::Subscribers;

use crate::board::Board;
use crate::clock::{Micros, TimeMode};
use crate::event::{Event, EventKind};
use crate::flash::{FlashError, FlashFile, OpenOptions};
use crate::gpio::{Drive, Gpio, GpioError};
use crate::image;

/// Stack of the device thread: RustPython frames are large, and a debug build needs far more
/// than the default 2 MiB to reach the recursion limit (1000) safely.
const DEVICE_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Which flash file backs the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashSource {
    /// A file the user keeps (created on first use).
    File(PathBuf),
    /// A throwaway file, deleted when the device is dropped.
    Fresh,
    /// A chip in memory (a scenario's): nothing reaches the disk, and whoever holds another
    /// handle to the chip sees every change the device makes.
    Memory(crate::flash::MemoryChip),
}

/// How to build a device.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub board: Board,
    pub flash: FlashSource,
    /// Rebuild a flash file that cannot be used (wrong size, no partition table).
    pub reformat: bool,
    pub time: TimeMode,
    /// A host directory the device sees as its SD card (`machine.SD()`), if the user gave one.
    pub sd: Option<PathBuf>,
}

/// Why a device could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Flash(#[from] FlashError),
    #[error("could not create a temporary flash file: {0}")]
    Temp(std::io::Error),
    #[error("could not start the device thread: {0}")]
    Thread(std::io::Error),
}

/// Gets `count` device threads ready ahead of the devices about to come (a scenario run): each
/// builds its Python interpreter now, while the caller reads its files and prepares flash.
pub fn prewarm(count: usize) {
    threads::prewarm(
        count,
        &format!("{}pool", crash::DEVICE_THREAD_PREFIX),
        DEVICE_STACK_BYTES,
        crate::python::engine::prewarm,
    );
}

/// The one way to talk to a running device.
pub struct DeviceHandle {
    commands: Sender<Command>,
    subscribers: Subscribers,
    resets: ResetCount,
    thread: Option<threads::Finished>,
    board: Board,
    gpio: Gpio,
    /// Keeps a `--fresh` flash file alive until the device is gone.
    _fresh: Option<tempfile::TempDir>,
    flash_path: Option<PathBuf>,
}

impl DeviceHandle {
    /// Opens (or creates) the flash file and starts the device thread, powered off.
    pub fn spawn(config: DeviceConfig) -> Result<DeviceHandle, DeviceError> {
        let (flash, path, fresh) = match &config.flash {
            FlashSource::Memory(chip) => {
                (FlashFile::on_chip(chip.clone(), &config.board)?, None, None)
            }
            FlashSource::File(p) => (Self::open_flash(p, &config)?, Some(p.clone()), None),
            FlashSource::Fresh => {
                let dir = tempfile::Builder::new()
                    .prefix("pycom-sim-")
                    .tempdir()
                    .map_err(DeviceError::Temp)?;
                let p = dir.path().join(format!("{}.flash", config.board.id));
                (Self::open_flash(&p, &config)?, Some(p), Some(dir))
            }
        };
        crash::install_hook();
        let (tx, rx) = mpsc::channel();
        let subscribers: Subscribers = Arc::new(Mutex::new(Some(Vec::new())));
        let resets = ResetCount::default();
        let device_resets = resets.clone();
        let gpio = Gpio::new(&config.board);
        let device_gpio = gpio.clone();
        let device_subs = subscribers.clone();
        let board = config.board.clone();
        let time = config.time;
        let sd = config.sd.clone();
        let thread = threads::spawn(
            format!("{}{}", crash::DEVICE_THREAD_PREFIX, board.id),
            // Deep Python recursion must end in RecursionError, not a host stack overflow.
            DEVICE_STACK_BYTES,
            move || {
                // However the device ends, subscribers hear `stopped` and their streams close,
                // so nobody waits for a device that is gone.
                let _ended = EndOfStream(device_subs.clone());
                let device = run::Device {
                    hw: Rc::new(RefCell::new(Hw::new(
                        time,
                        device_gpio,
                        rx,
                        device_subs,
                        device_resets,
                    ))),
                    flash: Rc::new(RefCell::new(flash)),
                    board,
                    sd,
                    images: Default::default(),
                };
                device.run();
            },
        )
        .map_err(DeviceError::Thread)?;
        Ok(DeviceHandle {
            commands: tx,
            subscribers,
            resets,
            thread: Some(thread),
            board: config.board,
            gpio,
            _fresh: fresh,
            flash_path: path,
        })
    }

    /// Opens (or creates) the flash file at `path` for `config`'s board.
    fn open_flash(path: &std::path::Path, config: &DeviceConfig) -> Result<FlashFile, FlashError> {
        let (flash, _created) = FlashFile::open_or_create(
            path,
            &config.board,
            &image::default_image(),
            OpenOptions {
                reformat: config.reformat,
            },
        )?;
        Ok(flash)
    }

    /// The board this device is.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The flash file backing this device (none for a chip in memory).
    pub fn flash_path(&self) -> Option<&std::path::Path> {
        self.flash_path.as_deref()
    }

    /// A new receiver of every event from now on. Subscribe before `power_on` to see the boot.
    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        self.add_subscriber(stream::Subscriber::Each(tx));
        rx
    }

    /// Like [`subscribe`](Self::subscribe), but the events come in batches: those gathered
    /// until the device stops to wait (a pause, an idle wait, its end), 256 at most. For a
    /// reader that acts only when the device pauses (the scenario runner), this saves a
    /// wake-up per event.
    pub fn subscribe_batched(&self) -> Receiver<Vec<Event>> {
        let (to, rx) = mpsc::channel();
        self.add_subscriber(stream::Subscriber::Batched {
            to,
            gathered: Vec::new(),
        });
        rx
    }

    fn add_subscriber(&self, subscriber: stream::Subscriber) {
        // A device thread that has ended sends nothing more: the receiver ends at once.
        if let Some(subs) = stream::lock(&self.subscribers).as_mut() {
            subs.push(subscriber);
        }
    }

    fn send(&self, command: Command) {
        // A device thread that has ended has nothing left to tell; dropping the command is right.
        let _ = self.commands.send(command);
    }

    /// Resolves a pin name (`P12`, `G23`, `GPIO21`) on this board.
    pub fn pin(&self, name: &str) -> Result<u8, GpioError> {
        self.gpio.resolve(name)
    }

    pub fn power_on(&self) {
        self.send(Command::PowerOn);
    }

    pub fn power_off(&self) {
        self.send(Command::PowerOff);
    }

    pub fn press_reset(&self) {
        self.send(Command::Now(Action::ResetButton));
    }

    pub fn power_cycle(&self) {
        self.send(Command::Now(Action::PowerCycle));
    }

    /// Connects a pin to 3V3 (`High`), GND (`Low`) or nothing (`Floating`) now.
    pub fn drive(&self, pin: &str, drive: Drive) -> Result<(), GpioError> {
        let gpio = self.pin(pin)?;
        self.send(Command::Now(Action::Drive { gpio, drive }));
        Ok(())
    }

    /// Bytes arriving on UART0 now, wherever the device is (a terminal, a host tool).
    pub fn write_uart(&self, bytes: &[u8]) {
        self.send(Command::Now(Action::Uart(bytes.to_vec())));
    }

    /// Bytes typed ahead (a pipe, a script): the device takes them a line at a time, each when it
    /// next waits for input, so the output does not depend on when this call happens. Call
    /// [`DeviceHandle::open_input`] first to make that hold in virtual time too.
    pub fn type_uart(&self, bytes: &[u8]) {
        self.send(Command::Now(Action::Type(bytes.to_vec())));
    }

    /// Says the host will type ahead until [`DeviceHandle::close_input`]: in virtual time an
    /// input wait then waits for the host rather than jumping over time.
    pub fn open_input(&self) {
        self.send(Command::OpenInput);
    }

    /// The REPL profile: the firmware's own texts (default) or upstream MicroPython's with
    /// raw-paste. Takes effect at the next boot or soft reset; set it before `power_on`.
    pub fn set_repl_profile(&self, profile: ReplProfile) {
        self.send(Command::ReplProfile(profile));
    }

    /// Test hook: makes the device thread panic at its next look at its commands, to exercise
    /// the crash path (fault text, `rst:0xc`, reboot). Not for anything but tests.
    #[doc(hidden)]
    pub fn inject_panic(&self) {
        self.send(Command::Now(Action::Panic));
    }

    /// Does `action` at device time `at` (since the device was first powered on). Scheduling
    /// by device time keeps scripted runs deterministic.
    pub fn at(&self, at: Duration, action: Action) {
        self.send(Command::At {
            at: duration_us(at),
            action,
        });
    }

    /// Drives a pin at device time `at`.
    pub fn drive_at(&self, at: Duration, pin: &str, drive: Drive) -> Result<(), GpioError> {
        let gpio = self.pin(pin)?;
        self.at(at, Action::Drive { gpio, drive });
        Ok(())
    }

    /// Commands to send as one: the device applies them all before it moves on, so in virtual
    /// time nothing happens between them (a pin held, a release scheduled, a line typed).
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            handle: self,
            commands: Vec::new(),
        }
    }

    /// A cloneable, thread-safe sender for the parts of the handle other threads need (a stdin
    /// reader, a Ctrl-C handler).
    pub fn remote(&self) -> Remote {
        Remote {
            commands: self.commands.clone(),
            resets: self.resets.clone(),
        }
    }

    /// Makes computation take no device time from now on, so scripted runs give the same
    /// device times every run (see [`crate::clock::Clock`]'s `free_compute`).
    pub fn free_compute(&self) {
        self.send(Command::FreeCompute);
    }

    /// Arms a stop condition: the device runs until it holds, then stops with
    /// [`EventKind::Paused`] and waits, time standing still, for the next `watch` (see
    /// [`Watch`]). How scenarios act at exact device times.
    pub fn watch(&self, watch: Watch) {
        self.send(Command::Watch(watch));
    }

    /// Tells the device the host side of UART0 has no more input (stdin ended).
    pub fn close_input(&self) {
        self.send(Command::CloseInput);
    }

    /// Ends the device thread and waits for it (flash is synced).
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            t.wait();
        }
    }
}

impl Drop for DeviceHandle {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Commands gathered by [`DeviceHandle::batch`]; [`Batch::send`] delivers them as one.
pub struct Batch<'a> {
    handle: &'a DeviceHandle,
    commands: Vec<Command>,
}

impl Batch<'_> {
    /// Connects a pin to 3V3, GND or nothing, with the others.
    pub fn drive(&mut self, pin: &str, drive: Drive) -> Result<&mut Self, GpioError> {
        let gpio = self.handle.pin(pin)?;
        Ok(self.drive_gpio(gpio, drive))
    }

    /// Drives a pin at device time `at`.
    pub fn drive_at(
        &mut self,
        at: Duration,
        pin: &str,
        drive: Drive,
    ) -> Result<&mut Self, GpioError> {
        let gpio = self.handle.pin(pin)?;
        Ok(self.at(at, Action::Drive { gpio, drive }))
    }

    /// Does `action` at device time `at`.
    pub fn at(&mut self, at: Duration, action: Action) -> &mut Self {
        self.commands.push(Command::At {
            at: duration_us(at),
            action,
        });
        self
    }

    /// Presses the reset button, with the others.
    pub fn press_reset(&mut self) -> &mut Self {
        self.commands.push(Command::Now(Action::ResetButton));
        self
    }

    /// Bytes arriving on UART0.
    pub fn write_uart(&mut self, bytes: &[u8]) -> &mut Self {
        self.commands
            .push(Command::Now(Action::Uart(bytes.to_vec())));
        self
    }

    /// Powers the device on, with the others.
    pub fn power_on(&mut self) -> &mut Self {
        self.commands.push(Command::PowerOn);
        self
    }

    /// Removes power and applies it again, with the others.
    pub fn power_cycle(&mut self) -> &mut Self {
        self.commands.push(Command::Now(Action::PowerCycle));
        self
    }

    /// Drives a pin by GPIO number (already resolved), with the others.
    pub fn drive_gpio(&mut self, gpio: u8, drive: Drive) -> &mut Self {
        self.commands
            .push(Command::Now(Action::Drive { gpio, drive }));
        self
    }

    /// Makes computation take no device time (see [`DeviceHandle::free_compute`]).
    pub fn free_compute(&mut self) -> &mut Self {
        self.commands.push(Command::FreeCompute);
        self
    }

    /// Arms a stop condition (see [`DeviceHandle::watch`]); put it last, since the device goes
    /// on as soon as it has it.
    pub fn watch(&mut self, watch: Watch) -> &mut Self {
        self.commands.push(Command::Watch(watch));
        self
    }

    /// Sends the commands gathered so far, as one.
    pub fn send(&mut self) {
        let commands = std::mem::take(&mut self.commands);
        self.handle.send(Command::Batch(commands));
    }
}

/// Tells every subscriber the device has stopped, then drops their senders (their `recv` ends).
struct EndOfStream(Subscribers);

impl Drop for EndOfStream {
    fn drop(&mut self) {
        // A normal end has said `stopped` already; a thread that died has not.
        if std::thread::panicking() {
            let stopped = Event {
                time_us: 0,
                kind: EventKind::Stopped,
            };
            stream::deliver(&self.0, &stopped);
        }
        stream::flush(&self.0);
        stream::lock(&self.0).take();
    }
}

/// What another thread may do to the device.
#[derive(Debug, Clone)]
pub struct Remote {
    commands: Sender<Command>,
    resets: ResetCount,
}

/// How many times the chip has reset (a power-on included), counted by the device thread.
type ResetCount = Arc<std::sync::atomic::AtomicU64>;

impl Remote {
    /// Bytes arriving on UART0 now.
    pub fn write_uart(&self, bytes: &[u8]) {
        let _ = self
            .commands
            .send(Command::Now(Action::Uart(bytes.to_vec())));
    }

    /// Several actions the device applies as one step (see [`DeviceHandle::batch`]): a
    /// transport's reset line and strap pin changing together.
    pub fn act(&self, actions: Vec<Action>) {
        let _ = self.commands.send(Command::Batch(
            actions.into_iter().map(Command::Now).collect(),
        ));
    }

    /// Bytes typed ahead (see [`DeviceHandle::type_uart`]).
    pub fn type_uart(&self, bytes: &[u8]) {
        let _ = self
            .commands
            .send(Command::Now(Action::Type(bytes.to_vec())));
    }

    /// The host side of UART0 has no more input.
    pub fn close_input(&self) {
        let _ = self.commands.send(Command::CloseInput);
    }

    /// Runs a filesystem operation on the device thread (see [`FsJob`]).
    pub fn fs(&self, job: FsJob) {
        let _ = self.commands.send(Command::Fs(job));
    }

    /// Ask the device thread to end.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
    }

    /// Chip resets so far (a power-on included). The device thread counts one before any
    /// subscriber hears of it and before the new boot prints anything, so a client that has
    /// seen the new boot's output on one transport finds the reset counted on every other
    /// (an event stream read on another thread may not have got there yet).
    pub fn resets(&self) -> u64 {
        self.resets.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn duration_us(d: Duration) -> Micros {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Collects events until `stop` says so (inclusive) or the device ends. For tests and scripted
/// runs in virtual time, where the device reports `Idle` when nothing is left to do.
///
/// Panics after [`COLLECT_LIMIT`] events: a device that never settles (a reset loop runs
/// thousands of boots a second in virtual time) fails the test with its last output instead of
/// filling the machine's memory.
pub fn collect_until(events: &Receiver<Event>, mut stop: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = events.recv() {
        let done = stop(&e) || e.kind == EventKind::Stopped;
        out.push(e);
        if done {
            break;
        }
        if out.len() >= COLLECT_LIMIT {
            let texts: Vec<&[u8]> = out
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::Uart { text } => Some(text.as_slice()),
                    _ => None,
                })
                .collect();
            let tail = texts[texts.len().saturating_sub(40)..].concat();
            panic!(
                "the device did not settle within {COLLECT_LIMIT} events (at {} ms); its last \
                 output:\n{}",
                out.last().map_or(0, Event::time_ms),
                String::from_utf8_lossy(&tail)
            );
        }
    }
    out
}

/// How many events [`collect_until`] takes before it gives up on a device that never settles.
pub const COLLECT_LIMIT: usize = 1_000_000;

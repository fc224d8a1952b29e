//! The two ways an image reaches a board from the host, besides esptool:
//!
//! * `pycom-sim update fw.bin` — what Pycom's Firmware Updater does (reference
//!   pycom-firmware.md §13.2): in ROM download mode, write the image into the factory slot and
//!   otadata as `set_ota(False, size)` leaves it (factory, READY, PrevImg = factory), so "updates
//!   performed via the firmware update tool do not count": safe boot's window 2 finds no older
//!   image. It is a ROM-protocol client ([`crate::rom_loader::client`]) of a device booted
//!   in-process on the flash file, so it works only in download mode, as the real tool does;
//!   `--auto` holds G23 low and resets first, as a Pysense or Pytrack does for the tool.
//! * `pycom-sim ota fw.bin` — what `pycom.ota_start/ota_write/ota_finish` do (§13.1), on a stopped
//!   flash file: the other slot, verified, then otadata in CHECK so the next boot verifies it.
//!
//! Both refuse a bad image (truncated, corrupt, wrong chip, wrong board, too big for the slot)
//! before anything touches the flash, naming the file.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use clap::Args;
use pycom_boot::{BootInfo, Slot, otadata, updates};

use crate::board::Board;
use crate::clock::TimeMode;
use crate::device::{DeviceConfig, DeviceHandle, FlashSource, Watch};
use crate::event::{Event, EventKind, Stage};
use crate::flash::{FlashFile, OpenOptions, SECTOR_SIZE};
use crate::gpio::Drive;
use crate::image::{self, FirmwareImage};
use crate::rom_loader::client::{Client, Link};

/// `pycom-sim update`.
#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// The firmware image (`pycom-sim image build`).
    pub image: PathBuf,
    /// The board's flash file. Default: <data dir>/pycom-sim/<board>.flash.
    #[arg(long, value_name = "PATH")]
    pub flash: Option<PathBuf>,
    /// The board (see `pycom-sim boards`).
    #[arg(long, default_value = "lopy4")]
    pub board: String,
    /// Hold G23 to GND and reset into download mode first, as a Pysense/Pytrack does.
    #[arg(long, conflicts_with = "port")]
    pub auto: bool,
    /// Talk to a board on this serial port instead (a running `pycom-sim run --pty`, or a real
    /// module), which must already be in download mode.
    #[arg(long, value_name = "PATH", conflicts_with = "flash")]
    pub port: Option<PathBuf>,
}

/// `pycom-sim ota`.
#[derive(Debug, Clone, Args)]
pub struct OtaArgs {
    /// The firmware image (`pycom-sim image build`).
    pub image: PathBuf,
    /// The board's flash file. Default: <data dir>/pycom-sim/<board>.flash.
    #[arg(long, value_name = "PATH")]
    pub flash: Option<PathBuf>,
    /// The board (see `pycom-sim boards`).
    #[arg(long, default_value = "lopy4")]
    pub board: String,
}

/// Reads and checks an image file for `board`'s app slots: the whole file must be a valid
/// ESP32 app image for this chip and board and fit a slot. The error names the file and says
/// what to do.
pub fn load_image(path: &Path, board: &Board) -> Result<(Vec<u8>, FirmwareImage), String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
    let image = check_image(&bytes, board).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((bytes, image))
}

/// The checks of [`load_image`] on bytes already read.
pub fn check_image(bytes: &[u8], board: &Board) -> Result<FirmwareImage, String> {
    let slot = board.app_slot_size();
    if bytes.len() > slot as usize {
        return Err(format!(
            "{} bytes do not fit the {}'s app slots ({slot} bytes); build a smaller image",
            bytes.len(),
            board.name
        ));
    }
    let image = image::parse_image(bytes).map_err(|e| format!("not a usable image: {e}"))?;
    if !image.supports_board(&board.id) {
        return Err(format!(
            "the image is for {} and not for the {} ({}); build one with --boards {}",
            image.spec.boards.join(", "),
            board.name,
            board.id,
            board.id
        ));
    }
    Ok(image)
}

fn load_board(id: &str) -> Result<Board, String> {
    Board::builtin(id).map_err(|e| e.to_string())
}

/// The flash file to work on; it must exist (`pycom-sim run --flash PATH` makes one), since
/// updating a board that was never made would mean inventing its /flash files.
fn existing_flash(flash: Option<&Path>, board: &Board) -> Result<PathBuf, String> {
    let path = match flash {
        Some(p) => p.to_path_buf(),
        None => crate::flash::default_path(&board.id)?,
    };
    if !path.is_file() {
        return Err(format!(
            "no flash file at {}; `pycom-sim run --flash {}` creates one",
            path.display(),
            path.display()
        ));
    }
    Ok(path)
}

/// What `ota` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtaDelivered {
    pub slot: Slot,
    pub offset: u32,
    pub version: String,
    pub size: u32,
    pub record: BootInfo,
}

/// Delivers an image as `pycom.ota_start()`, `ota_write()` and `ota_finish()` do: into
/// `ota_slot()` (erasing only what it writes), read back and verified, then the record
/// `ota_finish` writes (PrevImg = running slot, the new slot active, Status CHECK), which the
/// next boot verifies and keeps or rolls back. Nothing is written if the image is bad.
///
/// This is the function a running device's monitor can call on the device thread with its own
/// flash (`pycom-sim ota` calls it on a stopped flash file).
pub fn deliver_ota(
    flash: &mut FlashFile,
    board: &Board,
    bytes: &[u8],
) -> Result<OtaDelivered, String> {
    let image = check_image(bytes, board)?;
    let otadata_at = board.otadata_offset();
    let stored = otadata::read_record(flash, otadata_at).map_err(|e| e.to_string())?;
    // An invalid record is what the bootloader re-initialises to the factory slot.
    let record = if stored.is_valid() {
        stored
    } else {
        BootInfo::initial()
    };
    let slot = updates::ota_slot(&record);
    let offset = match slot {
        Slot::Factory => board.factory_offset(),
        Slot::Ota0 => board.ota0_offset(),
    };
    let size = u32::try_from(bytes.len()).map_err(|_| "image too large".to_owned())?;
    let fail = |e: crate::flash::FlashError| format!("writing the {} slot: {e}", slot.name());
    flash
        .erase(
            offset,
            offset + size.div_ceil(SECTOR_SIZE).max(2) * SECTOR_SIZE,
        )
        .map_err(fail)?;
    flash.write(offset, bytes).map_err(fail)?;
    let mut back = vec![0; bytes.len()];
    flash.read(offset, &mut back).map_err(fail)?;
    if back != bytes || !image::verify_image(&back) {
        return Err(format!(
            "the image read back from the {} slot does not verify; otadata left as it was",
            slot.name()
        ));
    }
    let next = updates::after_ota_finish(&record, size);
    let written = otadata::write_record(flash, otadata_at, &next).map_err(|e| e.to_string())?;
    flash.sync().map_err(|e| e.to_string())?;
    Ok(OtaDelivered {
        slot,
        offset,
        version: image.spec.version,
        size,
        record: written,
    })
}

/// `pycom-sim ota`.
pub fn ota_command(args: &OtaArgs) -> Result<(), String> {
    let board = load_board(&args.board)?;
    let path = existing_flash(args.flash.as_deref(), &board)?;
    let (bytes, _) = load_image(&args.image, &board)?;
    let (mut flash, _) = FlashFile::open_or_create(
        &path,
        &board,
        &image::default_image(),
        OpenOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    let done = deliver_ota(&mut flash, &board, &bytes)
        .map_err(|e| format!("{}: {e}", args.image.display()))?;
    println!(
        "{}: {} ({} bytes) written to the {} slot at {:#x} and verified; otadata: active {}, \
         previous {}, CHECK. The next boot verifies it and runs it (or rolls back).",
        path.display(),
        done.version,
        done.size,
        done.slot.name(),
        done.offset,
        done.record.active_slot().name(),
        done.record.prev_slot().name(),
    );
    Ok(())
}

/// UART0 of an in-process device as the updater's serial line.
struct DeviceLink<'a> {
    handle: &'a DeviceHandle,
    events: &'a Receiver<Event>,
}

impl Link for DeviceLink<'_> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.handle.write_uart(bytes);
        Ok(())
    }

    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, String> {
        let deadline = std::time::Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let event = match self.events.recv_timeout(left) {
                Ok(e) => e,
                Err(_) if !out.is_empty() => return Ok(out),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Ok(out),
                Err(_) => return Err("the device stopped".to_owned()),
            };
            match event.kind {
                EventKind::Uart { text } => {
                    out.extend(text);
                    return Ok(out);
                }
                EventKind::Reset { .. } => return Err("the board reset meanwhile".to_owned()),
                EventKind::Stopped => return Err("the device stopped".to_owned()),
                _ => {}
            }
        }
    }
}

/// A serial port (a pty, a USB-serial adapter) in raw mode, at the ROM's 115200 baud.
struct SerialLink {
    file: std::fs::File,
}

impl SerialLink {
    fn open(path: &Path) -> Result<SerialLink, String> {
        use nix::sys::termios::{
            FlushArg, SetArg, cfmakeraw, cfsetspeed, tcflush, tcgetattr, tcsetattr,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("--port {}: cannot open it: {e}", path.display()))?;
        let mut t = tcgetattr(&file)
            .map_err(|e| format!("--port {}: not a serial port ({e})", path.display()))?;
        cfmakeraw(&mut t);
        // A pty ignores the rate; a real adapter must be at the ROM's.
        let _ = cfsetspeed(&mut t, nix::sys::termios::BaudRate::B115200);
        tcsetattr(&file, SetArg::TCSANOW, &t)
            .map_err(|e| format!("--port {}: cannot make it raw: {e}", path.display()))?;
        // What the board printed before (its banner) is not a reply.
        let _ = tcflush(&file, FlushArg::TCIFLUSH);
        Ok(SerialLink { file })
    }
}

impl Link for SerialLink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        use std::io::Write;
        self.file.write_all(bytes).map_err(|e| e.to_string())
    }

    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, String> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::io::Read;
        use std::os::fd::AsFd;
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(ms)).map_err(|e| e.to_string())?;
        if ready == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0; 4096];
        let n = self.file.read(&mut buf).map_err(|e| e.to_string())?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// `pycom-sim update --port PATH`: the updater against a board on a serial line, which must be
/// in download mode already (the port cannot reset it).
fn update_over_port(args: &UpdateArgs, port: &Path, board: &Board) -> Result<(), String> {
    let (bytes, image) = load_image(&args.image, board)?;
    let mut client = Client::new(SerialLink::open(port)?);
    let record = flash_with(&mut client, board, &bytes, &image).map_err(|e| {
        if e.contains("no answer") {
            format!(
                "{}: {e}: the board is not in download mode. Connect G23 to GND and reset it \
                 (`pycom-sim run --pty --ground G23`), then run the updater again.",
                port.display()
            )
        } else {
            format!("{}: {e}", port.display())
        }
    })?;
    println!(
        "{}: {} ({} bytes) written to the factory slot at {:#x} through the ROM loader and \
         verified; otadata: active {}, previous {}, READY. Release G23 and reset the board to \
         run it.",
        port.display(),
        image.spec.version,
        bytes.len(),
        board.factory_offset(),
        record.active_slot().name(),
        record.prev_slot().name(),
    );
    Ok(())
}

/// `pycom-sim update`.
pub fn update_command(args: &UpdateArgs) -> Result<(), String> {
    let board = load_board(&args.board)?;
    if let Some(port) = &args.port {
        return update_over_port(args, port, &board);
    }
    let path = existing_flash(args.flash.as_deref(), &board)?;
    let (bytes, image) = load_image(&args.image, &board)?;
    let handle = DeviceHandle::spawn(DeviceConfig {
        board: board.clone(),
        flash: FlashSource::File(path.clone()),
        reformat: false,
        time: TimeMode::Virtual,
        sd: None,
    })
    .map_err(|e| e.to_string())?;
    let events = handle.subscribe();
    if args.auto {
        eprintln!("pycom-sim update: holding G23 to GND and resetting into download mode");
        handle
            .drive(&board.strap_pin, Drive::Low)
            .map_err(|e| e.to_string())?;
    }
    // Stop the chip where the ROM hands over: a board that is not in download mode must not
    // run its bootloader or firmware (which could write its flash) on the updater's account.
    handle.watch(Watch {
        until: Some(Box::new(|e: &Event| {
            matches!(
                e.kind,
                EventKind::Stage {
                    stage: Stage::DownloadMode | Stage::Bootloader
                }
            )
        })),
        deadline: None,
    });
    handle.power_on();
    let mut stage = None;
    loop {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(Event {
                kind: EventKind::Stage { stage: s },
                ..
            }) => stage = Some(s),
            Ok(Event {
                kind: EventKind::Paused { .. },
                ..
            }) => break,
            Ok(_) => {}
            Err(_) => return Err("the board did not start".to_owned()),
        }
    }
    if stage != Some(Stage::DownloadMode) {
        handle.shutdown();
        return Err(format!(
            "{}: the board is not in download mode (G23 was not held to GND at reset, so the ROM \
             booted from flash), and the Firmware Updater only talks to the ROM loader. Pass --auto \
             to let the updater hold G23 to GND and reset as a Pysense or Pytrack does, or run the \
             board with G23 grounded (`pycom-sim run --flash {} --pty --ground G23`) and update \
             it through its pty with --port. Nothing was written.",
            path.display(),
            path.display()
        ));
    }
    handle.watch(Watch {
        until: None,
        deadline: None,
    });
    let result = flash_through_rom(&handle, &events, &board, &bytes, &image);
    if args.auto {
        // The Pysense lets go of G23 when it leaves programming mode.
        let _ = handle.drive(&board.strap_pin, Drive::Floating);
    }
    handle.shutdown();
    let record = result?;
    println!(
        "{}: {} ({} bytes) written to the factory slot at {:#x} through the ROM loader and \
         verified; otadata: active {}, previous {}, READY (firmware-updater updates do not count: \
         safe boot has no older image to go back to). Reset the board without G23 to run it.",
        path.display(),
        image.spec.version,
        bytes.len(),
        board.factory_offset(),
        record.active_slot().name(),
        record.prev_slot().name(),
    );
    Ok(())
}

fn flash_through_rom(
    handle: &DeviceHandle,
    events: &Receiver<Event>,
    board: &Board,
    bytes: &[u8],
    image: &FirmwareImage,
) -> Result<BootInfo, String> {
    flash_with(
        &mut Client::new(DeviceLink { handle, events }),
        board,
        bytes,
        image,
    )
}

/// The updater's conversation: sync, identify, attach, the image into factory, then otadata.
fn flash_with<L: Link>(
    client: &mut Client<L>,
    board: &Board,
    bytes: &[u8],
    image: &FirmwareImage,
) -> Result<BootInfo, String> {
    let rom = |e: crate::rom_loader::client::ClientError| format!("ROM loader: {e}");
    client.sync().map_err(rom)?;
    client.attach(board.flash_size).map_err(rom)?;
    eprintln!(
        "pycom-sim update: writing {} ({} bytes) at {:#x}",
        image.spec.version,
        bytes.len(),
        board.factory_offset()
    );
    let mut shown = 0;
    client
        .write_deflated(board.factory_offset(), bytes, |done, total| {
            let percent = done * 100 / total.max(1);
            if percent >= shown + 10 || done == total {
                shown = percent;
                eprintln!("pycom-sim update: {percent:3} %");
            }
        })
        .map_err(rom)?;
    let record = updates::after_firmware_updater(bytes.len() as u32);
    let mut sector = vec![0xFF; SECTOR_SIZE as usize];
    sector[..pycom_boot::boot_info::RECORD_LEN].copy_from_slice(&record.encode());
    client
        .write_plain(board.otadata_offset(), &sector)
        .map_err(rom)?;
    Ok(record)
}

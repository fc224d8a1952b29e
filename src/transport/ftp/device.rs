//! What the FTP server asks of the device, and how it is done there: each [`Op`] travels to the
//! device thread as an [`FsJob`] through the handle's command queue, runs on the firmware's own
//! filesystem (`python::vfs`, so `/flash` and `/sd` are exactly what Python sees, whatever the
//! volume's format), and its [`Answer`] comes back on a oneshot channel.
//!
//! Files are read and written whole, each in one job: the volume is never seen half-changed by
//! Python, and a file Python has open keeps the copy it read, as the firmware's FatFS file
//! objects do; whoever closes last wins, but the FAT stays sound.
//!
//! The firmware update (`STOR /flash/sys/appimg.bin`) is `updater_start` / `updater_write` /
//! `updater_finish` (`esp32/ftp/updater.c`), streamed into the other slot in chunks as the
//! firmware writes it, then verified before the boot record changes (see [`ota_end`]).

use std::time::Duration;

use pycom_boot::boot_info::{IMG_STATUS_CHECK, Slot};
use pycom_boot::updates;
use tokio::sync::oneshot;

use crate::board::Board;
use crate::device::{FsJob, Remote};
use crate::flash::{FlashFile, SECTOR_SIZE};
use crate::python::bridge::Bridge;
use crate::python::vfs;

/// One filesystem operation, on absolute device paths.
#[derive(Debug)]
pub enum Op {
    Stat(String),
    /// The entries of a directory, each with its stat.
    List(String),
    Read(String),
    /// Creates the file empty or truncates it (`f_open` with `FA_CREATE_ALWAYS`).
    Create(String),
    Write(String, Vec<u8>),
    Mkdir(String),
    /// `f_unlink`: a file or an empty directory.
    Remove(String),
    Rename(String, String),
    OtaBegin,
    OtaWrite(OtaProgress, Vec<u8>),
    OtaEnd(OtaProgress),
}

/// One directory entry as LIST shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    /// Seconds since 1970.
    pub mtime: u64,
}

/// What an [`Op`] gave back.
#[derive(Debug)]
pub enum Answer {
    Done,
    Stat(vfs::Stat),
    List(Vec<Entry>),
    Data(Vec<u8>),
    Ota(OtaProgress),
}

/// Why an operation failed, for the reply text.
pub type Failure = String;

/// How long an operation may take before the server gives up on the device (a device thread
/// that stopped taking commands; never the case while a firmware runs).
const DEVICE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `op` on the device thread and waits for its answer.
pub async fn call(remote: &Remote, op: Op) -> Result<Answer, Failure> {
    let (tx, rx) = oneshot::channel();
    remote.fs(FsJob(Box::new(move |firmware| {
        let Some(bridge) = firmware.downcast_ref::<Bridge>() else {
            return Vec::new();
        };
        // A bug here must not take the device down with it (the job runs inside the
        // firmware's command drain): it fails this one operation.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(bridge, op)));
        let (answer, printed) = ran.unwrap_or_else(|_| {
            (
                Err("the operation failed inside the simulator".to_string()),
                Vec::new(),
            )
        });
        let _ = tx.send(answer);
        printed
    })));
    match tokio::time::timeout(DEVICE_TIMEOUT, rx).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err(
            "the device is not running its firmware (resetting, in download \
                           mode or powered off); try again once it has booted"
                .to_string(),
        ),
        Err(_) => Err("the device did not answer in time".to_string()),
    }
}

/// Does `op` on the device thread. Returns the answer and what the firmware prints on UART0.
fn run(bridge: &Bridge, op: Op) -> (Result<Answer, Failure>, Vec<u8>) {
    let text = |e: vfs::VfsError| e.to_string();
    let answer = match op {
        Op::Stat(path) => vfs::stat(bridge, &path).map(Answer::Stat).map_err(text),
        Op::List(path) => list(bridge, &path).map(Answer::List).map_err(text),
        Op::Read(path) => vfs::read(bridge, &path).map(Answer::Data).map_err(text),
        Op::Create(path) => vfs::open(bridge, &path, vfs::OpenKind::Write)
            .map(|_| Answer::Done)
            .map_err(text),
        Op::Write(path, data) => vfs::write(bridge, &path, &data)
            .map(|()| Answer::Done)
            .map_err(text),
        Op::Mkdir(path) => vfs::mkdir(bridge, &path)
            .map(|()| Answer::Done)
            .map_err(text),
        Op::Remove(path) => vfs::stat(bridge, &path)
            .and_then(|st| vfs::remove(bridge, &path, st.is_dir))
            .map(|()| Answer::Done)
            .map_err(text),
        Op::Rename(from, to) => vfs::rename(bridge, &from, &to)
            .map(|()| Answer::Done)
            .map_err(text),
        Op::OtaBegin => with_flash(bridge, ota_begin).map(Answer::Ota),
        Op::OtaWrite(progress, data) => {
            with_flash(bridge, |f, _| ota_write(f, progress, &data)).map(Answer::Ota)
        }
        Op::OtaEnd(progress) => {
            return match with_flash(bridge, |f, b| ota_end(f, b, progress)) {
                Ok(printed) => (Ok(Answer::Done), printed.into_bytes()),
                Err(e) => (Err(e), Vec::new()),
            };
        }
    };
    (answer, Vec::new())
}

fn list(bridge: &Bridge, path: &str) -> Result<Vec<Entry>, vfs::VfsError> {
    let entries = vfs::list_dir(bridge, path)?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let full = super::protocol::child(path, &e.name);
            let mtime = vfs::stat(bridge, &full).map_or(vfs::FLASH_MTIME, |s| s.mtime);
            Entry {
                name: e.name,
                is_dir: e.is_dir,
                size: e.size,
                mtime,
            }
        })
        .collect())
}

/// The flash, unless something on the device thread holds it right now.
fn with_flash<R>(
    bridge: &Bridge,
    f: impl FnOnce(&mut FlashFile, &Board) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let mut flash = bridge
        .flash
        .try_borrow_mut()
        .map_err(|_| "the flash is busy; try again".to_string())?;
    f(&mut flash, &bridge.board)
}

/// An update being written: where it started, how far it got, what is erased ahead of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtaProgress {
    pub start: u32,
    pub written: u32,
    /// Everything below this address (from `start`) has been erased.
    pub erased_until: u32,
    /// The slot's size: an image may not be longer.
    pub capacity: u32,
}

fn slot_address(board: &Board, slot: Slot) -> u32 {
    match slot {
        Slot::Factory => board.factory_offset(),
        Slot::Ota0 => board.ota0_offset(),
    }
}

fn record(flash: &mut FlashFile, board: &Board) -> Result<pycom_boot::BootInfo, Failure> {
    pycom_boot::otadata::read_record(flash, board.otadata_offset())
        .map_err(|e| format!("cannot read the boot record: {e}"))
}

/// `updater_start`: the slot `ota_slot()` names, its first two sectors erased. The running
/// slot and the boot record are not touched.
pub fn ota_begin(flash: &mut FlashFile, board: &Board) -> Result<OtaProgress, Failure> {
    let r = record(flash, board)?;
    let start = slot_address(board, updates::ota_slot(&r));
    let erased_until = start + 2 * SECTOR_SIZE;
    flash
        .erase(start, erased_until)
        .map_err(|e| format!("cannot erase the update slot: {e}"))?;
    Ok(OtaProgress {
        start,
        written: 0,
        erased_until,
        capacity: board.app_slot_size(),
    })
}

/// `updater_write`: the next bytes of the image, erasing the sectors they reach first. Bytes
/// past the end of the slot are refused (the firmware would write into the next partition).
pub fn ota_write(
    flash: &mut FlashFile,
    mut p: OtaProgress,
    data: &[u8],
) -> Result<OtaProgress, Failure> {
    let len = u32::try_from(data.len()).map_err(|_| "chunk too large".to_string())?;
    let end = p.written.checked_add(len).filter(|&e| e <= p.capacity);
    let Some(end) = end else {
        return Err(format!(
            "the image is larger than the {} KiB update slot",
            p.capacity / 1024
        ));
    };
    let to = p.start + end;
    if to > p.erased_until {
        let until = to.div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
        flash
            .erase(p.erased_until, until)
            .map_err(|e| format!("cannot erase the update slot: {e}"))?;
        p.erased_until = until;
    }
    flash
        .write(p.start + p.written, data)
        .map_err(|e| format!("cannot write the update slot: {e}"))?;
    p.written = end;
    Ok(p)
}

/// `updater_finish`, checked first: the image read back from the slot must be one the
/// bootloader would boot on this board (header, checksum, SHA-256, chip, board list), or it is
/// refused and the boot record stays as it was, so the running firmware boots again. A good
/// image switches the record to it (CHECK, as `ota_finish`) and the firmware prints what its
/// `updater_finish` prints. An image already pending (CHECK) was overwritten in place; its
/// record is left as it is, as the firmware leaves it.
pub fn ota_end(flash: &mut FlashFile, board: &Board, p: OtaProgress) -> Result<String, Failure> {
    let mut bytes = vec![0u8; p.written as usize];
    flash
        .read(p.start, &mut bytes)
        .map_err(|e| format!("cannot read the update slot back: {e}"))?;
    if bytes.starts_with(b"BSDIFF40") {
        return Err(
            "Differential Update Image detected. This feature is disabled in the build. \
                    Enable DIFF_UPDATE_ENABLED in the build to use it."
                .to_string(),
        );
    }
    let image = crate::image::parse_image(&bytes)
        .map_err(|e| format!("not a firmware image this device boots: {e}"))?;
    if !image.supports_board(&board.id) {
        return Err(format!(
            "the image is for {}, not this {}",
            image.spec.boards.join(", "),
            board.id
        ));
    }
    let r = record(flash, board)?;
    if r.status != IMG_STATUS_CHECK {
        let next = updates::after_ota_finish(&r, p.written);
        pycom_boot::otadata::write_record(flash, board.otadata_offset(), &next)
            .map_err(|e| format!("cannot write the boot record: {e}"))?;
    }
    Ok("Full Update Image detected. Restart the device to load the new firmware.\r\n".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::Board;
    use crate::image::{self, ImageSpec};

    fn lopy4() -> (tempfile::TempDir, FlashFile, Board) {
        let board = Board::builtin("lopy4").expect("lopy4 board");
        let dir = tempfile::tempdir().unwrap();
        let (flash, _) = FlashFile::open_or_create(
            &dir.path().join("f.flash"),
            &board,
            &image::default_image(),
            crate::flash::OpenOptions::default(),
        )
        .unwrap();
        (dir, flash, board)
    }

    fn spec(version: &str) -> ImageSpec {
        ImageSpec {
            version: version.to_string(),
            ..image::default_spec()
        }
    }

    fn upload(flash: &mut FlashFile, board: &Board, bytes: &[u8]) -> Result<String, Failure> {
        let mut p = ota_begin(flash, board)?;
        for chunk in bytes.chunks(5000) {
            p = ota_write(flash, p, chunk)?;
        }
        ota_end(flash, board, p)
    }

    fn otadata(flash: &FlashFile, board: &Board) -> Vec<u8> {
        let mut b = vec![0u8; SECTOR_SIZE as usize];
        flash.read(board.otadata_offset(), &mut b).unwrap();
        b
    }

    #[test]
    fn a_good_image_lands_in_the_other_slot_and_is_pending() {
        let (_d, mut flash, board) = lopy4();
        let img = image::build_image(&spec("1.20.2.r9"));
        let factory = board.partition("factory").unwrap().clone();
        let mut factory_before = vec![0u8; factory.size as usize];
        flash.read(factory.offset, &mut factory_before).unwrap();
        let printed = upload(&mut flash, &board, &img).unwrap();
        assert!(printed.starts_with("Full Update Image detected."));
        let r = record(&mut flash, &board).unwrap();
        assert_eq!(r.status, IMG_STATUS_CHECK);
        assert_eq!(updates::ota_slot(&r), Slot::Ota0);
        let mut slot = vec![0u8; img.len()];
        flash.read(board.ota0_offset(), &mut slot).unwrap();
        assert_eq!(slot, img);
        let mut factory_after = vec![0u8; factory.size as usize];
        flash.read(factory.offset, &mut factory_after).unwrap();
        assert!(factory_after == factory_before, "the running slot changed");
    }

    #[test]
    fn bad_images_leave_the_record_alone() {
        let (_d, mut flash, board) = lopy4();
        let before = otadata(&flash, &board);
        let good = image::build_image(&spec("1.20.2.r9"));
        let mut corrupt = good.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0x55;
        let truncated = &good[..good.len() - 100];
        for (what, bytes) in [
            ("corrupt", corrupt.as_slice()),
            ("truncated", truncated),
            ("garbage", b"hello".as_slice()),
            ("delta", b"BSDIFF40rest".as_slice()),
        ] {
            assert!(
                upload(&mut flash, &board, bytes).is_err(),
                "{what} accepted"
            );
            assert_eq!(otadata(&flash, &board), before, "{what} changed otadata");
        }
        let huge = vec![0xE9u8; board.app_slot_size() as usize + 1];
        let err = upload(&mut flash, &board, &huge).unwrap_err();
        assert!(err.contains("larger than"), "{err}");
        assert_eq!(otadata(&flash, &board), before);
    }
}

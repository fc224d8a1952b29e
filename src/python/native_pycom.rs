//! `_pycom`: the native half of `pycom`, `time`, `micropython` and `gc` (the Python halves are in
//! `lib/`). It touches the device only through the bridge: the config block, the NVS partition,
//! the OTA slots and the boot record in flash, the LED, the clock, and the UART interrupt char.
//!
//! # What lives in flash, and how
//!
//! * **Config block** (`board.config`, 0x3FF000, §14): read byte-wise; every write reads the
//!   whole 4 KiB sector, changes the bytes, erases the sector and programs it back, as the
//!   firmware's `config_write` does. Other bytes are kept.
//! * **Boot record** (otadata, §6): through `pycom_boot::otadata::{read_record, write_record}`.
//! * **OTA** (§13.1): `ota_start` erases the first two sectors of `ota_slot()`; `ota_write`
//!   programs the bytes at the running offset after erasing every sector it is about to touch;
//!   `ota_finish` writes `pycom_boot::updates::after_ota_finish` — and nothing at all when the
//!   record is already in CHECK, as the firmware does.
//! * **NVS** (`pycom.nvs_*`, the `nvs` partition 0x9000/0x7000). The layout is pycom-sim's own,
//!   not ESP-IDF's page format:
//!
//!   | offset | size | field                                                  |
//!   |--------|------|--------------------------------------------------------|
//!   | 0      | 4    | magic `PYNV`                                           |
//!   | 4      | 2    | format version, 1 (LE)                                 |
//!   | 6      | 2    | number of entries (LE)                                 |
//!   | 8      | 4    | payload length in bytes (LE)                           |
//!   | 12     | 4    | CRC-32 (IEEE) of the payload (LE)                      |
//!   | 16     | …    | entries, back to back                                  |
//!
//!   Each entry is `kind: u8` (1 = u32, 2 = string), `key_len: u8`, `value_len: u16 LE`, the key
//!   bytes, then the value bytes (4 bytes LE for a u32; the string bytes without the NUL). Entries
//!   are kept in the order they were first written; as in ESP-IDF's NVS, a key may hold a u32 and
//!   a string at once (`nvs_get` prefers the u32). An erased area, a wrong magic or a bad CRC reads
//!   as an empty store. The store spans at most the first 6 sectors of the partition; a write
//!   erases and reprograms only the sectors whose contents change (NOR semantics: erase, then
//!   program). A power cut in the middle of a write can lose the store (it then reads as empty)
//!   but never yields a corrupt value. Capacity follows ESP-IDF's accounting: 6 usable pages of
//!   126 32-byte entries, one entry for the namespace, a u32 takes 1 entry and a string
//!   `1 + ceil((len + 1) / 32)`.
//!
//! State the firmware keeps in C statics for one hard boot (the OTA writer's position, the RTC's
//! zero, `utime.timezone`) lives in a thread-local tied to the running [`Bridge`]: a new hard boot
//! (a new bridge) starts it afresh, except that the RTC keeps running through deep sleep.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use rustpython_vm::builtins::PyModuleDef;

use crate::python::bridge::Bridge;

pub(crate) use pycom::module_def;

/// The modules of `rustpython-stdlib` the device may import: the pure-computation ones the
/// firmware's `math`, `cmath`, `ustruct`, `ubinascii`, `ujson`, `uhashlib`, `array` and `uzlib`
/// are built on.
/// Everything else in that crate stays unregistered.
const STDLIB_WHITELIST: &[&str] = &[
    "math", "cmath", "_struct", "binascii", "_json", "_hashlib", "_md5", "_sha1", "_sha256",
    "_sha512", "array", "zlib",
];

/// The whitelisted `rustpython-stdlib` module definitions, for the interpreter builder.
pub fn stdlib_defs(ctx: &rustpython_vm::Context) -> Vec<&'static PyModuleDef> {
    rustpython_stdlib::stdlib_module_defs(ctx)
        .into_iter()
        .filter(|d| STDLIB_WHITELIST.contains(&d.name.as_str()))
        .collect()
}

/// Byte of the config block with `heartbeat_on_boot` in bit 0.
pub const CONFIG_HEARTBEAT_BYTE: u32 = 152;
/// Config offset of `wdt_on_boot` (u8, 3 pad) and `wdt_on_boot_timeout` (u32 LE), §14.
pub const CONFIG_WDT_ON_BOOT: u32 = 512;

/// NVS store: magic, header size, the sectors it may span, ESP-IDF's entry budget.
const NVS_MAGIC: &[u8; 4] = b"PYNV";
const NVS_HEADER: usize = 16;
const NVS_VERSION: u16 = 1;
const NVS_MAX_SECTORS: u32 = 6;
const NVS_ENTRY_BUDGET: usize = 6 * 126 - 1;
/// `nvs_set` kinds.
const KIND_U32: u8 = 1;
const KIND_STR: u8 = 2;

const SECTOR: u32 = crate::flash::SECTOR_SIZE;

/// What one hard boot keeps in C statics.
struct BootState {
    bridge: Weak<Bridge>,
    /// RTC microseconds = device clock + this.
    rtc_offset_us: i128,
    /// `utime.timezone()` seconds.
    timezone: i64,
    ota: Ota,
}

/// The firmware's `updater_data` (plus the record's `size`).
#[derive(Debug, Clone, Copy, Default)]
struct Ota {
    /// `ota_start` ran and `ota_finish` has not yet closed it.
    open: bool,
    /// Where the image starts (`offset_start_upd`), 0 before any `ota_start`.
    start: u32,
    /// Where the next byte goes.
    offset: u32,
    /// Bytes written since `ota_start` (`boot_info.size`).
    size: u32,
    /// Everything below this address (from `start`) is erased or written.
    erased_until: u32,
}

thread_local! {
    static STATE: RefCell<Option<BootState>> = const { RefCell::new(None) };
}

/// Runs `f` on this hard boot's state, starting it if the bridge is new.
fn with_state<R>(bridge: &Rc<Bridge>, f: impl FnOnce(&mut BootState) -> R) -> R {
    STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let current = Rc::downgrade(bridge);
        let mut state = match slot.take() {
            Some(s) if Weak::ptr_eq(&s.bridge, &current) => s,
            old => {
                let now = i128::from(bridge.hw.borrow_mut().clock.now());
                let deep_sleep = bridge.session.borrow().reset_cause
                    == crate::python::reset_cause::DEEPSLEEP_RESET;
                // `rtc_init0` sets the RTC to 1970-01-01 at every boot but a deep-sleep wake.
                let rtc_offset_us = match old {
                    Some(old) if deep_sleep => old.rtc_offset_us,
                    _ => -now,
                };
                BootState {
                    bridge: current,
                    rtc_offset_us,
                    timezone: 0,
                    ota: Ota::default(),
                }
            }
        };
        let result = f(&mut state);
        *slot = Some(state);
        result
    })
}

/// One NVS item: kind, key, value.
type Entry = (u8, Vec<u8>, Vec<u8>);

/// Encodes the NVS entries (kind, key, value) as the store's bytes.
fn nvs_encode(entries: &[Entry]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (kind, key, value) in entries {
        payload.push(*kind);
        payload.push(u8::try_from(key.len()).unwrap_or(u8::MAX));
        payload.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_le_bytes());
        payload.extend_from_slice(key);
        payload.extend_from_slice(value);
    }
    let mut out = Vec::with_capacity(NVS_HEADER + payload.len());
    out.extend_from_slice(NVS_MAGIC);
    out.extend_from_slice(&NVS_VERSION.to_le_bytes());
    out.extend_from_slice(
        &u16::try_from(entries.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Decodes the store; anything unreadable is an empty store.
fn nvs_decode(bytes: &[u8]) -> Vec<Entry> {
    let word = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let half = |at: usize| -> Option<u16> {
        let b = bytes.get(at..at + 2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    };
    let parse = || -> Option<Vec<Entry>> {
        if bytes.get(0..4)? != NVS_MAGIC || half(4)? != NVS_VERSION {
            return None;
        }
        let count = usize::from(half(6)?);
        let len = usize::try_from(word(8)?).ok()?;
        let payload = bytes.get(NVS_HEADER..NVS_HEADER.checked_add(len)?)?;
        if crc32fast::hash(payload) != word(12)? {
            return None;
        }
        let mut entries = Vec::with_capacity(count);
        let mut at = 0usize;
        for _ in 0..count {
            let head = payload.get(at..at + 4)?;
            let kind = head[0];
            let key_len = usize::from(head[1]);
            let value_len = usize::from(u16::from_le_bytes([head[2], head[3]]));
            at += 4;
            let key = payload.get(at..at + key_len)?.to_vec();
            at += key_len;
            let value = payload.get(at..at + value_len)?.to_vec();
            at += value_len;
            entries.push((kind, key, value));
        }
        Some(entries)
    };
    parse().unwrap_or_default()
}

/// ESP-IDF entries (32 bytes each) an item takes.
fn nvs_entry_cost(kind: u8, value: &[u8]) -> usize {
    if kind == KIND_STR {
        1 + (value.len() + 1).div_ceil(32)
    } else {
        1
    }
}

#[rustpython_vm::pymodule(name = "_pycom")]
pub mod pycom {
    use rustpython_vm::builtins::{PyBaseExceptionRef, PyBytesRef, PyStrRef};
    use rustpython_vm::function::{ArgBytesLike, OptionalArg};
    use rustpython_vm::{PyObjectRef, PyResult, VirtualMachine};
    use smart_leds_trait::RGB8;

    use super::{
        CONFIG_HEARTBEAT_BYTE, KIND_STR, KIND_U32, NVS_ENTRY_BUDGET, NVS_MAX_SECTORS, SECTOR,
        nvs_decode, nvs_encode, nvs_entry_cost, with_state,
    };
    use crate::flash::{FlashError, FlashFile};
    use crate::python::bridge::{Bridge, current};
    use pycom_boot::boot_info::{IMG_STATUS_CHECK, Slot};
    use pycom_boot::updates;

    /// `mpexception_os_operation_failed`.
    const OPERATION_FAILED: &str = "the requested operation failed";

    fn os_error(vm: &VirtualMachine, msg: &str) -> PyBaseExceptionRef {
        vm.new_os_error(msg.to_string())
    }

    fn flash_failed(vm: &VirtualMachine, _e: FlashError) -> PyBaseExceptionRef {
        os_error(vm, OPERATION_FAILED)
    }

    // ----- config block -------------------------------------------------------------------

    /// `config_read(offset, length)`: bytes of the 1 KiB config block.
    #[pyfunction]
    fn config_read(offset: u32, length: u32, vm: &VirtualMachine) -> PyResult<Vec<u8>> {
        let bridge = current(vm)?;
        if offset.saturating_add(length) > 1024 {
            return Err(vm.new_value_error("outside the config block".to_string()));
        }
        bridge
            .config_bytes(offset, length as usize)
            .map_err(|e| flash_failed(vm, e))
    }

    /// `config_write(offset, data)`: rewrites the config sector with `data` at `offset`.
    #[pyfunction]
    fn config_write(offset: u32, data: ArgBytesLike, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let data = data.borrow_buf().to_vec();
        if (offset as usize).saturating_add(data.len()) > 1024 {
            return Err(vm.new_value_error("outside the config block".to_string()));
        }
        bridge
            .config_patch(offset, &data)
            .map_err(|e| flash_failed(vm, e))
    }

    /// `heartbeat_on_boot` as stored (an erased block says yes).
    #[pyfunction]
    fn heartbeat_on_boot(on: OptionalArg<bool>, vm: &VirtualMachine) -> PyResult<Option<bool>> {
        let bridge = current(vm)?;
        let byte = bridge
            .config_bytes(CONFIG_HEARTBEAT_BYTE, 1)
            .map_err(|e| flash_failed(vm, e))?
            .first()
            .copied()
            .unwrap_or(0xFF);
        match on {
            OptionalArg::Missing => Ok(Some(byte & 1 == 1)),
            OptionalArg::Present(on) => {
                let next = (byte & !1) | u8::from(on);
                bridge
                    .config_patch(CONFIG_HEARTBEAT_BYTE, &[next])
                    .map_err(|e| flash_failed(vm, e))?;
                Ok(None)
            }
        }
    }

    /// What the board has: `psram`, `lora`, `sigfox`, `lte`.
    #[pyfunction]
    fn board_has(feature: PyStrRef, vm: &VirtualMachine) -> PyResult<bool> {
        let bridge = current(vm)?;
        let b = &bridge.board;
        Ok(match feature.to_string_lossy().as_ref() {
            "psram" => b.psram,
            "lora" => b.lora,
            "sigfox" => b.sigfox,
            "lte" => b.lte,
            _ => false,
        })
    }

    // ----- LED ----------------------------------------------------------------------------

    /// `heartbeat()` → enabled; `heartbeat(on)`: start it (blue at once) or stop it (LED off).
    #[pyfunction]
    fn heartbeat(on: OptionalArg<bool>, vm: &VirtualMachine) -> PyResult<Option<bool>> {
        let bridge = current(vm)?;
        let mut hw = bridge.hw.borrow_mut();
        match on {
            OptionalArg::Missing => Ok(Some(hw.heartbeat)),
            OptionalArg::Present(on) => {
                hw.set_heartbeat(on);
                if !on {
                    hw.show(RGB8::default());
                }
                Ok(None)
            }
        }
    }

    /// Shows a 24-bit `0xRRGGBB` colour on the LED.
    #[pyfunction]
    fn show(colour: u32, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let [_, r, g, b] = colour.to_be_bytes();
        bridge.hw.borrow_mut().show(RGB8 { r, g, b });
        Ok(())
    }

    // ----- NVS ----------------------------------------------------------------------------

    type Entries = Vec<super::Entry>;

    fn nvs_region(bridge: &Bridge) -> (u32, u32) {
        bridge.board.partition("nvs").map_or((0x9000, 0x6000), |p| {
            (p.offset, p.size.min(NVS_MAX_SECTORS * SECTOR))
        })
    }

    fn nvs_load(bridge: &Bridge) -> Result<Entries, FlashError> {
        let (offset, size) = nvs_region(bridge);
        let mut bytes = vec![0u8; size as usize];
        bridge.flash.borrow().read(offset, &mut bytes)?;
        Ok(nvs_decode(&bytes))
    }

    /// Writes the store, erasing and programming only the sectors that change.
    fn nvs_store(bridge: &Bridge, entries: &Entries) -> Result<bool, FlashError> {
        let (offset, size) = nvs_region(bridge);
        let mut image = nvs_encode(entries);
        if image.len() > size as usize {
            return Ok(false);
        }
        image.resize(size as usize, 0xFF);
        let mut flash: std::cell::RefMut<'_, FlashFile> = bridge.flash.borrow_mut();
        for (i, new) in image.chunks(SECTOR as usize).enumerate() {
            let at = offset + (i as u32) * SECTOR;
            let mut old = vec![0u8; new.len()];
            flash.read(at, &mut old)?;
            if old != new {
                flash.erase(at, at + SECTOR)?;
                let used = new.iter().rposition(|&b| b != 0xFF).map_or(0, |p| p + 1);
                if used > 0 {
                    flash.write(at, &new[..used])?;
                }
            }
        }
        Ok(true)
    }

    /// `nvs_write(key, kind, value)`: 0 stored, 1 no space, 2 key too long.
    #[pyfunction]
    fn nvs_write(
        key: PyStrRef,
        kind: u8,
        value: ArgBytesLike,
        vm: &VirtualMachine,
    ) -> PyResult<u8> {
        let bridge = current(vm)?;
        let key = key.to_string_lossy().as_bytes().to_vec();
        if key.len() > 15 {
            return Ok(2);
        }
        let value = value.borrow_buf().to_vec();
        let mut entries = nvs_load(&bridge).map_err(|e| flash_failed(vm, e))?;
        match entries.iter_mut().find(|(k, n, _)| *k == kind && *n == key) {
            Some(entry) if entry.2 == value => return Ok(0),
            Some(entry) => entry.2 = value,
            None => entries.push((kind, key, value)),
        }
        let used: usize = entries.iter().map(|(k, _, v)| nvs_entry_cost(*k, v)).sum();
        if used > NVS_ENTRY_BUDGET {
            return Ok(1);
        }
        match nvs_store(&bridge, &entries).map_err(|e| flash_failed(vm, e))? {
            true => Ok(0),
            false => Ok(1),
        }
    }

    /// `nvs_read(key)` → `(kind, value bytes)` (u32 first, as `nvs_get` tries), or None.
    #[pyfunction]
    fn nvs_read(key: PyStrRef, vm: &VirtualMachine) -> PyResult<Option<(u8, Vec<u8>)>> {
        let bridge = current(vm)?;
        let key = key.to_string_lossy();
        let key = key.as_bytes();
        let entries = nvs_load(&bridge).map_err(|e| flash_failed(vm, e))?;
        let find = |kind: u8| {
            entries
                .iter()
                .find(|(k, n, _)| *k == kind && n.as_slice() == key)
                .map(|(k, _, v)| (*k, v.clone()))
        };
        Ok(find(KIND_U32).or_else(|| find(KIND_STR)))
    }

    /// `nvs_remove(key)`: erases the first item with this key; false if there is none.
    #[pyfunction]
    fn nvs_remove(key: PyStrRef, vm: &VirtualMachine) -> PyResult<bool> {
        let bridge = current(vm)?;
        let key = key.to_string_lossy();
        let key = key.as_bytes();
        let mut entries = nvs_load(&bridge).map_err(|e| flash_failed(vm, e))?;
        let Some(at) = entries.iter().position(|(_, n, _)| n.as_slice() == key) else {
            return Ok(false);
        };
        entries.remove(at);
        nvs_store(&bridge, &entries).map_err(|e| flash_failed(vm, e))?;
        Ok(true)
    }

    /// `nvs_clear()`: removes every item.
    #[pyfunction]
    fn nvs_clear(vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let entries = nvs_load(&bridge).map_err(|e| flash_failed(vm, e))?;
        if !entries.is_empty() {
            nvs_store(&bridge, &Vec::new()).map_err(|e| flash_failed(vm, e))?;
        }
        Ok(())
    }

    // ----- boot record, bootmgr, OTA -----------------------------------------------------

    fn slot_address(bridge: &Bridge, slot: Slot) -> u32 {
        match slot {
            Slot::Factory => bridge.board.factory_offset(),
            Slot::Ota0 => bridge.board.ota0_offset(),
        }
    }

    /// The record `pycom` read at boot as `(ActiveImg, Status, PrevImg, size, safeboot)`.
    #[pyfunction]
    fn boot_record(vm: &VirtualMachine) -> PyResult<(u32, u32, u32, u32, u32)> {
        let bridge = current(vm)?;
        let r = bridge
            .boot_record_at_boot()
            .map_err(|e| flash_failed(vm, e))?;
        Ok((r.active_img, r.status, r.prev_img, r.size, r.safeboot))
    }

    /// The boot-record half of `modpycom_bootmgr` (255 = not given): checks the request (the
    /// firmware's `ValueError`s) and, with `write`, stores it. Returns `(partition switched,
    /// safeboot changed)`; the caller resets.
    #[pyfunction]
    fn bootmgr_update(
        boot_partition: i64,
        safeboot: i64,
        write: bool,
        vm: &VirtualMachine,
    ) -> PyResult<(bool, bool)> {
        let bridge = current(vm)?;
        // `modpycom_bootmgr` edits its boot-time copy in place and writes that.
        let mut next = bridge
            .boot_record_at_boot()
            .map_err(|e| flash_failed(vm, e))?;
        // The firmware takes these as uint8_t.
        let partition = boot_partition & 0xFF;
        let safeboot = safeboot & 0xFF;
        let mut switched = false;
        let mut safe_changed = false;
        if partition != 255 {
            let slot = match partition {
                0 => Some(Slot::Factory),
                1 => Some(Slot::Ota0),
                _ => None,
            };
            match slot.map(|s| updates::bootmgr_switch(&next, s)) {
                Some(Ok(r)) => {
                    next = r;
                    switched = true;
                }
                _ => {
                    return Err(vm.new_value_error(
                        "Error invalid boot partition! or partition already active!".to_string(),
                    ));
                }
            }
        }
        if safeboot != 255 {
            // As the firmware: only 0/1, and only a change (`safeboot != boot_info.safeboot`).
            if safeboot > 1 || i64::from(next.safeboot) == safeboot {
                return Err(vm.new_value_error("Error safeboot must be True or False!".to_string()));
            }
            next = if safeboot == 1 {
                updates::request_software_safe_boot(&next)
            } else {
                updates::clear_safe_boot(&next)
            };
            safe_changed = true;
        }
        if write && (switched || safe_changed) {
            bridge.session.borrow_mut().boot_record = Some(next);
            bridge.store_boot_record(&next).map_err(|_| {
                vm.new_value_error("Error writing bootloader information!".to_string())
            })?;
        }
        Ok((switched, safe_changed))
    }

    /// `pycom.ota_slot()`: the address the next `ota_start()` writes to.
    #[pyfunction]
    fn ota_slot(vm: &VirtualMachine) -> PyResult<u32> {
        let bridge = current(vm)?;
        let r = bridge.boot_record().map_err(|e| flash_failed(vm, e))?;
        Ok(slot_address(&bridge, updates::ota_slot(&r)))
    }

    /// `pycom.ota_start()`: erase the first two sectors of the target slot.
    #[pyfunction]
    fn ota_start(vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let r = bridge.boot_record().map_err(|e| flash_failed(vm, e))?;
        let start = slot_address(&bridge, updates::ota_slot(&r));
        bridge
            .flash
            .borrow_mut()
            .erase(start, start + 2 * SECTOR)
            .map_err(|e| flash_failed(vm, e))?;
        with_state(&bridge, |s| {
            s.ota = super::Ota {
                open: true,
                start,
                offset: start,
                size: 0,
                erased_until: start + 2 * SECTOR,
            };
        });
        Ok(())
    }

    /// `pycom.ota_write(buf)`: programs the bytes at the running offset, erasing the sectors
    /// they reach first. Writing past the slot is refused.
    #[pyfunction]
    fn ota_write(data: ArgBytesLike, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let data = data.borrow_buf().to_vec();
        let ota = with_state(&bridge, |s| s.ota);
        if !ota.open {
            return Err(os_error(vm, OPERATION_FAILED));
        }
        let len = u32::try_from(data.len()).map_err(|_| os_error(vm, OPERATION_FAILED))?;
        let end = ota
            .offset
            .checked_add(len)
            .ok_or_else(|| os_error(vm, OPERATION_FAILED))?;
        if end > ota.start.saturating_add(bridge.board.app_slot_size()) {
            return Err(os_error(vm, OPERATION_FAILED));
        }
        let mut erased_until = ota.erased_until;
        {
            let mut flash = bridge.flash.borrow_mut();
            if end > erased_until {
                let to = end.div_ceil(SECTOR) * SECTOR;
                flash
                    .erase(erased_until, to)
                    .map_err(|e| flash_failed(vm, e))?;
                erased_until = to;
            }
            flash
                .write(ota.offset, &data)
                .map_err(|e| flash_failed(vm, e))?;
        }
        with_state(&bridge, |s| {
            s.ota.offset = end;
            s.ota.size = s.ota.size.saturating_add(len);
            s.ota.erased_until = erased_until;
        });
        Ok(())
    }

    /// `pycom.ota_finish()`: `"full"` (record switched to the new image, CHECK), `"delta"` (a
    /// BSDIFF40 patch, which this build cannot apply), or `"none"` (no `ota_start`, or an image
    /// already pending: nothing is written).
    #[pyfunction]
    fn ota_finish(vm: &VirtualMachine) -> PyResult<&'static str> {
        let bridge = current(vm)?;
        let ota = with_state(&bridge, |s| {
            let o = s.ota;
            s.ota.open = false;
            o
        });
        if !ota.open {
            return Ok("none");
        }
        let r = bridge.boot_record().map_err(|e| flash_failed(vm, e))?;
        if r.status == IMG_STATUS_CHECK {
            return Ok("none");
        }
        let mut magic = [0u8; 8];
        bridge
            .flash
            .borrow()
            .read(ota.start, &mut magic)
            .map_err(|e| flash_failed(vm, e))?;
        if &magic == b"BSDIFF40" {
            return Ok("delta");
        }
        let next = updates::after_ota_finish(&r, ota.size);
        bridge
            .store_boot_record(&next)
            .map_err(|e| flash_failed(vm, e))?;
        Ok("full")
    }

    /// `pycom.ota_verify()`: whether the last image written is one the bootloader accepts.
    #[pyfunction]
    fn ota_verify(vm: &VirtualMachine) -> PyResult<bool> {
        let bridge = current(vm)?;
        let ota = with_state(&bridge, |s| s.ota);
        if ota.start == 0 || ota.size == 0 {
            return Ok(false);
        }
        let mut bytes = vec![0u8; ota.size as usize];
        if bridge.flash.borrow().read(ota.start, &mut bytes).is_err() {
            return Ok(false);
        }
        Ok(crate::image::verify_image(&bytes))
    }

    // ----- clock, RTC, memory, keyboard ----------------------------------------------------

    /// RTC microseconds since 1970-01-01 (0 at power-on/reset; kept through deep sleep).
    #[pyfunction]
    fn rtc_us(vm: &VirtualMachine) -> PyResult<i64> {
        let bridge = current(vm)?;
        let now = i128::from(bridge.hw.borrow_mut().clock.now());
        let rtc = with_state(&bridge, |s| now + s.rtc_offset_us);
        Ok(i64::try_from(rtc.max(0)).unwrap_or(i64::MAX))
    }

    /// Sets the RTC (microseconds since 1970), for `machine.RTC`.
    #[pyfunction]
    fn rtc_set_us(us: i64, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let now = i128::from(bridge.hw.borrow_mut().clock.now());
        with_state(&bridge, |s| s.rtc_offset_us = i128::from(us) - now);
        Ok(())
    }

    /// `utime.timezone()` / `utime.timezone(secs)`.
    #[pyfunction]
    fn timezone(secs: OptionalArg<i64>, vm: &VirtualMachine) -> PyResult<i64> {
        let bridge = current(vm)?;
        Ok(with_state(&bridge, |s| {
            if let OptionalArg::Present(v) = secs {
                s.timezone = v;
            }
            s.timezone
        }))
    }

    /// Starts this hard boot's state (the RTC's zero) if it is not running yet; the prelude
    /// calls it as each interpreter starts.
    #[pyfunction]
    fn boot(vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        with_state(&bridge, |_| ());
        Ok(())
    }

    /// Bytes in the MicroPython GC heap: the board's `gc_heap` (what `gc.mem_free() +
    /// gc.mem_alloc()` add up to on the module).
    #[pyfunction]
    fn heap_size(vm: &VirtualMachine) -> PyResult<u32> {
        Ok(current(vm)?.board.gc_heap)
    }

    /// `micropython.kbd_intr(c)`: the interrupt character; -1 disables it and the Ctrl-F reset.
    #[pyfunction]
    fn kbd_intr(c: i64, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        bridge.hw.borrow_mut().intr_char = u8::try_from(c).ok();
        Ok(())
    }

    /// Bytes as a `str` the way `mp_obj_new_str` makes one from NVS data.
    #[pyfunction]
    fn lossy_str(data: PyBytesRef) -> String {
        String::from_utf8_lossy(data.as_bytes()).into_owned()
    }

    /// Loads a module compiled into the runtime by name, bypassing the device's importer (for
    /// shims whose native half has a name user files could shadow, e.g. `binascii`).
    #[pyfunction]
    fn native_module(name: PyStrRef, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let name = name.to_string_lossy().into_owned();
        let sys_modules = vm.sys_module.get_attr("modules", vm)?;
        let key = format!("_pycom.native.{name}");
        if let Ok(m) = sys_modules.get_item(key.as_str(), vm) {
            return Ok(m);
        }
        let imp = vm.import("_imp", 0)?;
        let bootstrap = vm.import("_frozen_importlib", 0)?;
        let spec = vm.call_method(
            &bootstrap,
            "spec_from_loader",
            (vm.ctx.new_str(name.as_str()), vm.ctx.none()),
        )?;
        // `create_builtin` answers with `sys.modules[name]` when there is one, which is the
        // firmware module being imported under that name (`math`, `array`): take it out of the
        // way while the native module is made.
        let shadow = sys_modules.get_item(name.as_str(), vm).ok();
        if shadow.is_some() {
            sys_modules.del_item(name.as_str(), vm)?;
        }
        let made = vm
            .call_method(&imp, "create_builtin", (spec,))
            .and_then(|m| {
                vm.call_method(&imp, "exec_builtin", (m.clone(),))
                    .map(|_| m)
            });
        // And `create_builtin` leaves the native module in `sys.modules[name]`, where a later
        // `import binascii` would find it instead of the firmware's: put back what was there.
        match shadow {
            Some(shadow) => sys_modules.set_item(name.as_str(), shadow, vm)?,
            None => {
                let _ = sys_modules.del_item(name.as_str(), vm);
            }
        }
        let module = made?;
        sys_modules.set_item(key.as_str(), module.clone(), vm)?;
        Ok(module)
    }
}

//! The decision on the console, one `key=value` line a person can read and the QEMU test parses.

use core::fmt::{self, Write};

use pycom_boot::boot_info::RECORD_LEN;
use pycom_boot::{BootDecision, BootInfo};

fn flag(b: bool) -> u8 {
    u8::from(b)
}

/// `decision <boot> at_us=… slot=ota_0 offset=0x210000 safe_boot=current …`
pub fn write_decision<W: Write>(
    out: &mut W,
    boot: usize,
    at_us: u64,
    d: &BootDecision,
) -> fmt::Result {
    writeln!(
        out,
        "decision {boot} at_us={at_us} slot={} offset={:#x} safe_boot={} software_request={} \
         skip_scripts={} record_initialised={} rolled_back={}",
        d.slot.name(),
        d.offset,
        d.safe_boot.name(),
        flag(d.software_request),
        flag(d.skip_scripts),
        flag(d.record_initialised),
        flag(d.rolled_back),
    )
}

/// The 40 record bytes as lower-case hex.
pub fn write_record_hex<W: Write>(out: &mut W, bytes: &[u8; RECORD_LEN]) -> fmt::Result {
    for b in bytes {
        write!(out, "{b:02x}")?;
    }
    Ok(())
}

/// The record in words a person reads on the devkit's console.
pub fn write_record_summary<W: Write>(out: &mut W, r: &BootInfo) -> fmt::Result {
    write!(
        out,
        "ActiveImg={} Status={} PrevImg={} size={} safeboot={} valid={}",
        r.active_img,
        r.status,
        r.prev_img,
        r.size,
        r.safeboot,
        flag(r.is_valid())
    )
}

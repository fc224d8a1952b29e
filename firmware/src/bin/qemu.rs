//! pycom-boot on QEMU's riscv32 `virt` machine: the same boot core the simulator runs, on an
//! emulated RISC-V CPU, with
//! - flash: a LoPy4 flash image the test loads into RAM ([`virt::FLASH_ADDR`]), NOR rules kept;
//! - P12: the case table's edges against the machine's own timer (CLINT `mtime`, 10 MHz);
//! - delay: the CLINT timer — sleep (`wfi`) until `mtimecmp`, so under `-icount sleep=off` the
//!   machine's clock jumps over the blink windows and 7.6 s of blinking take milliseconds;
//! - LED: a log of every colour written, printed after each boot;
//! - console: the ns16550a UART;
//! - exit: the SiFive test device (status 0 when every boot ran).
//!
//! Run it with `qemu-system-riscv32 -machine virt -bios none -icount shift=0,sleep=off -kernel …
//! -device loader,file=case.bin,addr=0x80800000,force-raw=on -device
//! loader,file=flash.bin,addr=0x81000000,force-raw=on` (tests/firmware_qemu.rs does).
#![no_std]
#![no_main]

use core::cell::RefCell;
use core::fmt::Write;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, InputPin};
use embedded_storage::nor_flash::ReadNorFlash;
use pycom_boot::boot_info::RECORD_LEN;
use pycom_boot::otadata::{OTADATA_SECTOR, read_record, write_record};
use pycom_boot::updates::request_software_safe_boot;
use pycom_firmware::board::QEMU_LOPY4;
use pycom_firmware::case::{self, AFTER_CTRL_F, Boot};
use pycom_firmware::ram_flash::RamFlash;
use pycom_firmware::report::{write_decision, write_record_hex};
use pycom_firmware::run;
use pycom_firmware::shared::SharedFlash;
use smart_leds_trait::{RGB8, SmartLedsWrite};

/// The virt machine's devices. Memory-mapped registers can only be reached through raw
/// pointers, so this module is the one place of the crate that uses `unsafe`; each block says
/// why it is sound.
#[allow(unsafe_code)]
mod virt {
    use core::ptr::{read_volatile, write_volatile};

    /// ns16550a UART0.
    const UART0: usize = 0x1000_0000;
    /// Line status register: bit 5 = transmit holding register empty.
    const UART_LSR: usize = UART0 + 5;
    /// SiFive test finisher.
    const TEST_DEVICE: usize = 0x0010_0000;
    /// CLINT `mtimecmp` of hart 0 and `mtime`.
    const MTIMECMP: usize = 0x0200_4000;
    const MTIME: usize = 0x0200_BFF8;
    /// CLINT ticks per microsecond (virt's timebase is 10 MHz).
    pub const TICKS_PER_US: u64 = 10;

    /// Where the test loads the case table, and its largest size.
    pub const CASE_ADDR: usize = 0x8080_0000;
    pub const CASE_MAX: usize = 0x1_0000;
    /// Where the test loads the flash image, and its largest size.
    pub const FLASH_ADDR: usize = 0x8100_0000;
    pub const FLASH_MAX: usize = 0x100_0000;

    pub fn putc(byte: u8) {
        // SAFETY: UART0 and its LSR are the virt machine's ns16550a registers (QEMU's
        // hw/riscv/virt.c memmap); byte reads and writes have no other effect than the UART's.
        unsafe {
            while read_volatile(UART_LSR as *const u8) & 0x20 == 0 {}
            write_volatile(UART0 as *mut u8, byte);
        }
    }

    /// The machine timer, in ticks.
    pub fn mtime() -> u64 {
        // SAFETY: `mtime` is the CLINT's 64-bit counter, read as two words; reading has no side
        // effect. The high word is read twice so a carry between the reads is seen.
        unsafe {
            loop {
                let hi = read_volatile((MTIME + 4) as *const u32);
                let lo = read_volatile(MTIME as *const u32);
                if read_volatile((MTIME + 4) as *const u32) == hi {
                    return (u64::from(hi) << 32) | u64::from(lo);
                }
            }
        }
    }

    /// Arms the timer interrupt line for `deadline` (ticks).
    pub fn set_deadline(deadline: u64) {
        // SAFETY: hart 0's `mtimecmp`, written high word first (all ones) so no spurious
        // deadline is ever set halfway through, as the privileged spec recommends.
        unsafe {
            write_volatile((MTIMECMP + 4) as *mut u32, u32::MAX);
            write_volatile(MTIMECMP as *mut u32, deadline as u32);
            write_volatile((MTIMECMP + 4) as *mut u32, (deadline >> 32) as u32);
        }
    }

    /// Lets the timer wake `wfi`. Global interrupts stay off (`mstatus.MIE` = 0): the hart wakes
    /// on the pending timer but never traps.
    pub fn enable_timer_wakeup() {
        // SAFETY: sets `mie.MTIE` only; with `mstatus.MIE` clear no handler runs.
        unsafe { riscv::register::mie::set_mtimer() }
    }

    pub fn wait_for_interrupt() {
        riscv::asm::wfi();
    }

    /// Ends QEMU with `code` as its exit status (0 = pass).
    pub fn exit(code: u16) -> ! {
        let value = if code == 0 {
            0x5555
        } else {
            (u32::from(code) << 16) | 0x3333
        };
        // SAFETY: the SiFive test device's only register; writing it stops the machine.
        unsafe { write_volatile(TEST_DEVICE as *mut u32, value) };
        loop {
            wait_for_interrupt();
        }
    }

    /// The case table the test loaded.
    pub fn case_bytes() -> &'static [u8] {
        // SAFETY: CASE_ADDR..+CASE_MAX is RAM outside every section of memory.x (which ends at
        // 0x80800000); nothing writes it after QEMU's loader did.
        unsafe { core::slice::from_raw_parts(CASE_ADDR as *const u8, CASE_MAX) }
    }

    /// The flash image the test loaded; call once (the one `&mut` to that RAM).
    pub fn take_flash(len: usize) -> &'static mut [u8] {
        // SAFETY: FLASH_ADDR..+FLASH_MAX is RAM outside memory.x's sections and outside the case
        // table; `main` calls this once, so this is the only reference to it.
        unsafe { core::slice::from_raw_parts_mut(FLASH_ADDR as *mut u8, len.min(FLASH_MAX)) }
    }
}

/// Microseconds on the machine timer.
fn now_us() -> u64 {
    virt::mtime() / virt::TICKS_PER_US
}

/// `DelayNs` on the CLINT: sleep until the deadline.
struct ClintDelay;

impl ClintDelay {
    fn wait_ticks(&mut self, ticks: u64) {
        let deadline = virt::mtime().saturating_add(ticks);
        virt::set_deadline(deadline);
        while virt::mtime() < deadline {
            virt::wait_for_interrupt();
        }
        virt::set_deadline(u64::MAX);
    }
}

impl DelayNs for ClintDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.wait_ticks(u64::from(ns.div_ceil(100)));
    }

    fn delay_us(&mut self, us: u32) {
        self.wait_ticks(u64::from(us) * virt::TICKS_PER_US);
    }

    fn delay_ms(&mut self, ms: u32) {
        self.wait_ticks(u64::from(ms) * 1000 * virt::TICKS_PER_US);
    }
}

/// P12 as the case table drives it, read against the machine timer.
struct ScriptPin<'a> {
    boot: &'a Boot,
    t0_us: u64,
}

impl ErrorType for ScriptPin<'_> {
    type Error = core::convert::Infallible;
}

impl InputPin for ScriptPin<'_> {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        Ok(self.boot.p12_high_at(now_us().saturating_sub(self.t0_us)))
    }

    fn is_low(&mut self) -> Result<bool, Self::Error> {
        self.is_high().map(|high| !high)
    }
}

/// Most LED writes one boot makes: 1 + 6 + 12 + 15 + 1 = 35 when P12 is held for ever.
const LED_LOG: usize = 64;

/// The WS2812 as a log: every colour the boot core writes, with its time since the reset.
struct LedLog {
    t0_us: u64,
    entries: [(u64, RGB8); LED_LOG],
    len: usize,
    dropped: usize,
}

impl SmartLedsWrite for LedLog {
    type Error = core::convert::Infallible;
    type Color = RGB8;

    fn write<T, I>(&mut self, iterator: T) -> Result<(), Self::Error>
    where
        T: IntoIterator<Item = I>,
        I: Into<Self::Color>,
    {
        let at = now_us().saturating_sub(self.t0_us);
        for colour in iterator {
            match self.entries.get_mut(self.len) {
                Some(slot) => {
                    *slot = (at, colour.into());
                    self.len += 1;
                }
                None => self.dropped += 1,
            }
        }
        Ok(())
    }
}

/// The UART as the ROM's `ets_printf` drives it: `\n` goes out as `\r\n`.
struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                virt::putc(b'\r');
            }
            virt::putc(byte);
        }
        Ok(())
    }
}

/// `otadata <boot> <40 bytes hex> rest_erased=<0|1>`: the record and whether the rest of its
/// sector is still erased.
fn print_otadata<F: ReadNorFlash>(out: &mut Console, tag: &str, flash: &mut F, at: u32) {
    let mut record = [0u8; RECORD_LEN];
    let mut rest_erased = true;
    let read_ok = flash.read(at, &mut record).is_ok();
    let mut chunk = [0u8; 64];
    let mut offset = RECORD_LEN as u32;
    while offset < OTADATA_SECTOR {
        let len = (OTADATA_SECTOR - offset).min(chunk.len() as u32) as usize;
        let Some(part) = chunk.get_mut(..len) else {
            break;
        };
        if flash.read(at + offset, part).is_err() || part.iter().any(|&b| b != 0xFF) {
            rest_erased = false;
        }
        offset += len as u32;
    }
    let _ = write!(out, "{tag} ");
    if read_ok {
        let _ = write_record_hex(out, &record);
    } else {
        let _ = write!(out, "unreadable");
    }
    let _ = writeln!(out, " rest_erased={}", u8::from(rest_erased));
}

#[riscv_rt::entry]
fn main() -> ! {
    let mut console = Console;
    let board = QEMU_LOPY4;
    let _ = writeln!(console, "pycom-boot on {}", board.name);
    let case = match case::parse(virt::case_bytes()) {
        Ok(case) => case,
        Err(e) => {
            let _ = writeln!(console, "fatal: the case table does not parse: {e:?}");
            virt::exit(3);
        }
    };
    let flash = RefCell::new(RamFlash::new(virt::take_flash(case.flash_len as usize)));
    virt::enable_timer_wakeup();
    let partitions = match run::partitions(&board, &flash) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(console, "fatal: no usable partition table: {e:?}");
            virt::exit(4);
        }
    };
    let layout = partitions.layout();
    for (n, boot) in case.boots().enumerate() {
        let t0_us = now_us();
        let _ = writeln!(console, "boot {n} start");
        let mut led = LedLog {
            t0_us,
            entries: [(0, RGB8::default()); LED_LOG],
            len: 0,
            dropped: 0,
        };
        let result = run::boot_once(
            &board,
            partitions,
            &flash,
            &mut ScriptPin { boot, t0_us },
            &mut ClintDelay,
            &mut led,
            &mut console,
        );
        let at_us = now_us().saturating_sub(t0_us);
        for (t, c) in led.entries.iter().take(led.len) {
            let _ = writeln!(console, "led {n} {t} {:02x}{:02x}{:02x}", c.r, c.g, c.b);
        }
        if led.dropped > 0 {
            let _ = writeln!(console, "led {n} dropped {}", led.dropped);
        }
        match result {
            Ok(decision) => {
                let _ = write_decision(&mut console, n, at_us, &decision);
            }
            Err(e) => {
                // The firmware's mperror_fatal_error: the boot cannot go on.
                let _ = writeln!(console, "fatal: boot {n}: {e:?}");
                virt::exit(5);
            }
        }
        print_otadata(
            &mut console,
            "otadata",
            &mut SharedFlash(&flash),
            layout.otadata,
        );
        if boot.after & AFTER_CTRL_F != 0 {
            // What the app does on Ctrl-F (pycom.bootmgr(safeboot=True)) before its reset.
            let mut chip = SharedFlash(&flash);
            let written = read_record(&mut chip, layout.otadata).and_then(|record| {
                write_record(
                    &mut chip,
                    layout.otadata,
                    &request_software_safe_boot(&record),
                )
            });
            if written.is_err() {
                let _ = writeln!(console, "fatal: boot {n}: Ctrl-F could not write otadata");
                virt::exit(5);
            }
            print_otadata(&mut console, "ctrl-f", &mut chip, layout.otadata);
        }
    }
    let _ = writeln!(console, "done");
    virt::exit(0)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    let _ = Console.write_str("panic\n");
    virt::exit(101)
}

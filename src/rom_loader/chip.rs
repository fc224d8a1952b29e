//! The registers esptool reads and writes through READ_REG / WRITE_REG: the chip magic, the
//! eFuse words that say which ESP32 this is and its MAC, the UART divider (crystal), the strap
//! register, and the SPI1 controller esptool drives by hand to send flash commands (RDID, SFDP,
//! status) — reference esp32-rom-loader.md §3–4.
//!
//! Registers nobody models read 0 and keep what was written, as esptool expects of the ROM.

use std::collections::BTreeMap;

use crate::board::Board;
use crate::flash::FlashFile;

/// `CHIP_DETECT_MAGIC_REG_ADDR` and the ESP32's value there.
pub const MAGIC_ADDR: u32 = 0x4000_1000;
pub const MAGIC_VALUE: u32 = 0x00F0_1D83;

const EFUSE_BASE: u32 = 0x3FF5_A000;
const UART0_CLKDIV: u32 = 0x3FF4_0014;
const GPIO_STRAP: u32 = 0x3FF4_4038;
const APB_CTL_DATE: u32 = 0x3FF6_607C;
const RTC_CALI_CFG1: u32 = 0x3FF5_F06C;

const SPI_BASE: u32 = 0x3FF4_2000;
const SPI_CMD: u32 = SPI_BASE;
const SPI_ADDR: u32 = SPI_BASE + 0x04;
const SPI_USR: u32 = SPI_BASE + 0x1C;
const SPI_USR1: u32 = SPI_BASE + 0x20;
const SPI_USR2: u32 = SPI_BASE + 0x24;
const SPI_MOSI_DLEN: u32 = SPI_BASE + 0x28;
const SPI_MISO_DLEN: u32 = SPI_BASE + 0x2C;
const SPI_W0: u32 = SPI_BASE + 0x80;
/// `SPI_USR`: starts a user command; reads back 0 once done.
const CMD_USR: u32 = 1 << 18;
const USR_ADDR: u32 = 1 << 30;
const USR_MISO: u32 = 1 << 28;
const USR_MOSI: u32 = 1 << 27;

/// The crystal the chip runs on (Pycom modules: 40 MHz).
const XTAL_HZ: u64 = 40_000_000;
/// The baud the ROM's autobaud locks to when esptool syncs.
pub const SYNC_BAUD: u32 = 115_200;

/// Who this chip is: the eFuse words and flash chip a given board answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// eFuse BLK0 read words 0–6.
    pub efuse: [u32; 7],
    /// `APB_CTL_DATE` (bit 31 is revision bit 2).
    pub apb_date: u32,
    /// JEDEC id as RDID returns it: manufacturer | type << 8 | capacity << 16.
    pub flash_id: u32,
}

impl Identity {
    /// A Pycom module of `board`: an ESP32-D0WDQ6, revision 1 on the 8 MB + PSRAM boards and
    /// revision 0 on the 4 MB ones (the firmware picks flash and PSRAM by revision, reference
    /// pycom-firmware.md §1.2), with the board's MAC and a Winbond flash of the board's size.
    pub fn for_board(board: &Board) -> Identity {
        let mac = crate::python::native_machine::board_mac(board);
        let w1 = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]);
        let w2 = u32::from(u16::from_be_bytes([mac[0], mac[1]])) | u32::from(mac_crc8(&mac)) << 16;
        let revision1 = board.flash_size > 0x40_0000;
        // w3 bit 15 = revision bit 0; package bits 0 (D0WDQ6); both cores, 240 MHz.
        let w3 = if revision1 { 0x0000_8000 } else { 0 };
        // w4: CK8M_FREQ 0x33 and an ADC Vref calibration (esptool's doc dump); w6 as there.
        let efuse = [0, w1, w2, w3, 0x0000_0333, 0, 0x0000_0004];
        let capacity = (board.flash_size.max(1)).ilog2() as u8;
        Identity {
            efuse,
            apb_date: 0x1604_2000,
            flash_id: 0xEF | 0x40 << 8 | u32::from(capacity) << 16,
        }
    }
}

/// The MAC's CRC-8 (polynomial 0x07 reflected, as the eFuse block stores it), so the words
/// read back as a real chip's do; esptool drops it, espefuse checks it.
fn mac_crc8(mac: &[u8; 6]) -> u8 {
    let mut crc: u8 = 0;
    for &b in mac {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8C
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// The register file of the chip in download mode.
#[derive(Debug, Clone)]
pub struct Chip {
    id: Identity,
    regs: BTreeMap<u32, u32>,
    /// Flash status registers 1–3 (RDSR 0x05 / 0x35 / 0x15, WRSR 0x01 / 0x31 / 0x11).
    flash_status: [u8; 3],
}

impl Chip {
    /// The chip as the ROM leaves it after reset with strapping byte `strap`.
    pub fn new(id: Identity, strap: u8) -> Chip {
        let mut regs = BTreeMap::new();
        regs.insert(GPIO_STRAP, u32::from(strap));
        regs.insert(UART0_CLKDIV, clkdiv(SYNC_BAUD));
        // RTC slow-clock calibration, so esptool's CHANGE_BAUDRATE correction is a real one.
        regs.insert(RTC_CALI_CFG1, 0x0003_EC00);
        Chip {
            id,
            regs,
            flash_status: [0; 3],
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.id
    }

    /// READ_REG.
    pub fn read(&self, addr: u32) -> u32 {
        if addr == MAGIC_ADDR {
            return MAGIC_VALUE;
        }
        if addr == APB_CTL_DATE {
            return self.id.apb_date;
        }
        if (EFUSE_BASE..EFUSE_BASE + 4 * 7).contains(&addr) && addr.is_multiple_of(4) {
            return self.id.efuse[((addr - EFUSE_BASE) / 4) as usize];
        }
        self.regs.get(&addr).copied().unwrap_or(0)
    }

    /// WRITE_REG: `(old & !mask) | (value & mask)`; a write of `SPI_USR` to SPI1's CMD runs the
    /// flash command set up in the other SPI registers, and the bit reads back clear.
    pub fn write(&mut self, addr: u32, value: u32, mask: u32, flash: &FlashFile) {
        if (EFUSE_BASE..EFUSE_BASE + 4 * 7).contains(&addr) {
            // eFuse read registers are read-only.
            return;
        }
        let old = self.read(addr);
        let new = (old & !mask) | (value & mask);
        if addr == SPI_CMD && new & CMD_USR != 0 {
            self.spi_command(flash);
            self.regs.insert(addr, new & !CMD_USR);
            return;
        }
        self.regs.insert(addr, new);
    }

    /// The ROM re-locks the UART divider to the new rate (CHANGE_BAUDRATE).
    pub fn set_baud(&mut self, baud: u32) {
        if baud > 0 {
            self.regs.insert(UART0_CLKDIV, clkdiv(baud));
        }
    }

    /// One SPI1 user command, as esptool's `run_spiflash_command` sets it up.
    fn spi_command(&mut self, flash: &FlashFile) {
        let usr = self.read(SPI_USR);
        let opcode = (self.read(SPI_USR2) & 0xFFFF) as u8;
        let addr = if usr & USR_ADDR != 0 {
            let len = (self.read(SPI_USR1) >> 26) + 1;
            self.read(SPI_ADDR)
                .checked_shr(32 - len.min(32))
                .unwrap_or(0)
        } else {
            0
        };
        let mosi = if usr & USR_MOSI != 0 {
            let bits = self.read(SPI_MOSI_DLEN) + 1;
            self.buffer(bits.div_ceil(8).min(64) as usize)
        } else {
            Vec::new()
        };
        let miso_len = if usr & USR_MISO != 0 {
            ((self.read(SPI_MISO_DLEN) + 1).div_ceil(8)).min(64) as usize
        } else {
            0
        };
        let reply = self.flash_op(opcode, addr, &mosi, miso_len, flash);
        if miso_len > 0 {
            let mut bytes = reply;
            bytes.resize(miso_len.next_multiple_of(4), 0);
            for (i, chunk) in bytes.chunks(4).enumerate() {
                let w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                self.regs.insert(SPI_W0 + 4 * i as u32, w);
            }
        }
    }

    /// The data buffer W0… as bytes (first byte = W0 bits 7:0).
    fn buffer(&self, len: usize) -> Vec<u8> {
        (0..len.div_ceil(4))
            .flat_map(|i| self.read(SPI_W0 + 4 * i as u32).to_le_bytes())
            .take(len)
            .collect()
    }

    /// What the flash chip answers to `opcode`.
    fn flash_op(
        &mut self,
        opcode: u8,
        addr: u32,
        mosi: &[u8],
        miso_len: usize,
        flash: &FlashFile,
    ) -> Vec<u8> {
        match opcode {
            0x9F => self.id.flash_id.to_le_bytes()[..3].to_vec(),
            0x5A => (0..miso_len)
                .map(|i| sfdp_byte(addr as usize + i, self.id.flash_id))
                .collect(),
            0x03 | 0x0B => {
                let mut buf = vec![0xFF; miso_len];
                if flash.read(addr, &mut buf).is_err() {
                    buf.fill(0xFF);
                }
                buf
            }
            0x05 => vec![self.flash_status[0]; miso_len],
            0x35 => vec![self.flash_status[1]; miso_len],
            0x15 => vec![self.flash_status[2]; miso_len],
            0x01 => {
                // WRSR: one byte sets SR1, two set SR1 and SR2 (the 16-bit form).
                for (i, &b) in mosi.iter().take(2).enumerate() {
                    self.flash_status[i] = b;
                }
                Vec::new()
            }
            0x31 => {
                if let Some(&b) = mosi.first() {
                    self.flash_status[1] = b;
                }
                Vec::new()
            }
            0x11 => {
                if let Some(&b) = mosi.first() {
                    self.flash_status[2] = b;
                }
                Vec::new()
            }
            // WREN, WRDI, reset-enable, reset, power-down, release, XMC wake-up: no state here
            // (every operation completes at once, so the write-enable latch is never seen).
            _ => vec![0; miso_len],
        }
    }
}

/// The UART divider the ROM's autobaud leaves for `baud` on a 40 MHz crystal: integer part in
/// bits 19:0, sixteenths in bits 23:20 (esptool estimates the crystal from it).
fn clkdiv(baud: u32) -> u32 {
    let sixteenths = (XTAL_HZ * 16) / u64::from(baud.max(1));
    let int = (sixteenths / 16) as u32 & 0xF_FFFF;
    let frac = (sixteenths % 16) as u32;
    int | frac << 20
}

/// A Winbond-style SFDP table: the "SFDP" signature, one basic parameter header, nothing else
/// (esptool only checks the signature and, for XMC parts, the byte at 0x10).
fn sfdp_byte(addr: usize, flash_id: u32) -> u8 {
    let header: [u8; 24] = [
        b'S',
        b'F',
        b'D',
        b'P',
        0x06,
        0x01,
        0x01,
        0xFF,
        0x00,
        0x06,
        0x01,
        0x10,
        0x80,
        0x00,
        0x00,
        0xFF,
        (flash_id & 0xFF) as u8,
        0x00,
        0x01,
        0x03,
        0xD0,
        0x00,
        0x00,
        0x01,
    ];
    header.get(addr).copied().unwrap_or(0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lopy4() -> Chip {
        let board = Board::builtin("lopy4").unwrap();
        Chip::new(Identity::for_board(&board), 0x03)
    }

    #[test]
    fn the_mac_is_the_boards_and_the_revision_follows_the_flash_size() {
        let board = Board::builtin("lopy4").unwrap();
        let mac = crate::python::native_machine::board_mac(&board);
        let chip = lopy4();
        let w1 = chip.read(EFUSE_BASE + 4);
        let w2 = chip.read(EFUSE_BASE + 8);
        // esptool: the bytes of w2 then w1, big-endian, last 6.
        let got = ((u64::from(w2) & 0xFFFF) << 32 | u64::from(w1)).to_be_bytes();
        assert_eq!(&got[2..], &mac);
        assert_eq!(
            chip.read(EFUSE_BASE + 12) & 0x8000,
            0x8000,
            "revision bit 0"
        );
        assert_eq!(chip.read(MAGIC_ADDR), MAGIC_VALUE);
        assert_eq!(chip.read(GPIO_STRAP), 0x03);
        let wipy2 = Identity::for_board(&Board::builtin("wipy2").unwrap());
        assert_eq!(wipy2.efuse[3] & 0x8000, 0, "4 MB boards are revision 0");
        assert_eq!(wipy2.flash_id, 0x0016_40EF);
        assert_eq!(chip.identity().flash_id, 0x0017_40EF);
    }

    #[test]
    fn the_uart_divider_gives_esptool_a_40_mhz_crystal() {
        // 115200 at 40 MHz: integer 347, fraction 3 (the reference's traced value).
        assert_eq!(clkdiv(115_200), 0x0030_015B);
        let est = 115_200.0 * f64::from(clkdiv(115_200) & 0xF_FFFF) / 1e6;
        assert!(est > 33.0 && est < 45.0, "{est}");
    }

    /// esptool's `run_spiflash_command` for RDID, register by register.
    #[test]
    fn rdid_through_the_spi_registers() {
        let flash = FlashFile::erased(0x80_0000);
        let mut chip = lopy4();
        let all = u32::MAX;
        chip.write(SPI_MISO_DLEN, 23, all, &flash);
        chip.write(SPI_USR, 0x9000_0000, all, &flash);
        chip.write(SPI_USR2, 0x7000_0000 | 0x9F, all, &flash);
        chip.write(SPI_W0, 0, all, &flash);
        chip.write(SPI_CMD, CMD_USR, all, &flash);
        assert_eq!(chip.read(SPI_CMD) & CMD_USR, 0, "done at once");
        assert_eq!(chip.read(SPI_W0), 0x0017_40EF);
        // RDSFDP at 0x10, 8 bits, 24-bit address and 8 dummy bits: not XMC's 0x20.
        chip.write(SPI_MISO_DLEN, 7, all, &flash);
        chip.write(SPI_USR1, 0x5C00_0007, all, &flash);
        chip.write(SPI_USR, 0xF000_0000, all, &flash);
        chip.write(SPI_USR2, 0x7000_0000 | 0x5A, all, &flash);
        chip.write(SPI_ADDR, 0x10 << 8, all, &flash);
        chip.write(SPI_CMD, CMD_USR, all, &flash);
        assert_ne!(chip.read(SPI_W0) & 0xFF, 0x20);
        // And at 0, 32 bits: the signature.
        chip.write(SPI_MISO_DLEN, 31, all, &flash);
        chip.write(SPI_ADDR, 0, all, &flash);
        chip.write(SPI_CMD, CMD_USR, all, &flash);
        assert_eq!(chip.read(SPI_W0), 0x5044_4653);
    }

    #[test]
    fn efuses_cannot_be_written_and_masks_apply() {
        let flash = FlashFile::erased(0x40_0000);
        let mut chip = lopy4();
        let mac_low = chip.read(EFUSE_BASE + 4);
        chip.write(EFUSE_BASE + 4, 0, u32::MAX, &flash);
        assert_eq!(chip.read(EFUSE_BASE + 4), mac_low);
        chip.write(0x3FF0_0000, 0xABCD_1234, 0x0000_FFFF, &flash);
        assert_eq!(chip.read(0x3FF0_0000), 0x1234);
    }
}

//! The firmware library on the host (`cargo test --target x86_64-unknown-linux-gnu`, as
//! scripts/firmware-check runs it): the devkit's partition table, the image check against an image
//! esptool made, the RAM flash's NOR rules, and case tables that do not parse.
// A test's failures are its panics; the crate's no-panic lints are for the firmware.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use pycom_firmware::case::{self, CaseError};
use pycom_firmware::image::{ImageError, verify_app_image};
use pycom_firmware::partitions::{Partition, read_partitions};
use pycom_firmware::ram_flash::{RamFlash, RamFlashError};

const MIB: usize = 1024 * 1024;

fn number(field: &str) -> u32 {
    let field = field.trim();
    match field.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).expect("hex"),
        None => field.parse().expect("number"),
    }
}

/// The binary table IDF's gen_esp32part.py makes from a CSV (entries only, no MD5 entry).
fn table_from_csv(csv: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in csv.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let kind = match f[1] {
            "app" => 0,
            "data" => 1,
            other => number(other),
        };
        let subtype = match (kind, f[2]) {
            (0, "factory") => 0x00,
            (0, "ota_0") => 0x10,
            (1, "phy") => 0x01,
            (1, "nvs") => 0x02,
            (_, other) => number(other),
        };
        out.extend_from_slice(&[0xAA, 0x50, kind as u8, subtype as u8]);
        out.extend_from_slice(&number(f[3]).to_le_bytes());
        out.extend_from_slice(&number(f[4]).to_le_bytes());
        let mut label = [0u8; 16];
        label[..f[0].len()].copy_from_slice(f[0].as_bytes());
        out.extend_from_slice(&label);
        out.extend_from_slice(&0u32.to_le_bytes());
    }
    out
}

fn erased(len: usize) -> Vec<u8> {
    vec![0xFF; len]
}

#[test]
fn the_devkit_partition_table_gives_factory_ota_0_and_otadata() {
    let csv = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("esp32c3/partitions.csv"),
    )
    .expect("esp32c3/partitions.csv");
    let mut chip = erased(4 * MIB);
    let table = table_from_csv(&csv);
    chip[0x8000..0x8000 + table.len()].copy_from_slice(&table);
    let parts = read_partitions(&mut RamFlash::new(&mut chip), 0x8000).expect("partitions");
    assert_eq!(
        (parts.factory, parts.ota0, parts.otadata),
        (
            Partition {
                offset: 0x10000,
                size: 0x180000
            },
            Partition {
                offset: 0x190000,
                size: 0x180000
            },
            Partition {
                offset: 0x310000,
                size: 0x1000
            },
        )
    );
    // Everything fits a 4 MB chip and the record has a sector of its own.
    assert!(parts.otadata.offset + parts.otadata.size <= 4 * MIB as u32);
    assert_eq!(parts.otadata.offset % 0x1000, 0);
}

#[test]
fn an_erased_chip_has_no_partitions() {
    let mut chip = erased(MIB);
    let err = read_partitions(&mut RamFlash::new(&mut chip), 0x8000).unwrap_err();
    assert_eq!(format!("{err:?}"), "Missing(\"factory\")");
}

/// The ESP32-C3 app image esptool made from this crate's own ELF (the script sets the path).
fn esptool_image() -> Vec<u8> {
    let path = std::env::var_os("PYCOM_FIRMWARE_C3_IMAGE")
        .expect("PYCOM_FIRMWARE_C3_IMAGE: run scripts/firmware-check, which makes the image");
    std::fs::read(path).expect("read the ESP32-C3 image")
}

fn slot_with(image: &[u8]) -> (Vec<u8>, Partition) {
    let slot = Partition {
        offset: 0x10000,
        size: 0x180000,
    };
    let mut chip = erased(2 * MIB);
    chip[0x10000..0x10000 + image.len()].copy_from_slice(image);
    (chip, slot)
}

#[test]
fn the_image_check_accepts_what_esptool_made_and_nothing_else() {
    let image = esptool_image();
    let (mut chip, slot) = slot_with(&image);
    let mut flash = RamFlash::new(&mut chip);
    assert_eq!(
        verify_app_image(&mut flash, slot, 5),
        Ok(()),
        "chip ESP32-C3"
    );
    assert_eq!(
        verify_app_image(&mut flash, slot, 0),
        Err(ImageError::WrongChip(5)),
        "an ESP32-C3 image is no ESP32 image"
    );
    // One bit flipped in the first segment's data: the checksum (and hash) no longer hold.
    let mut bad = image.clone();
    bad[24 + 8 + 16] ^= 0x01;
    let (mut chip, slot) = slot_with(&bad);
    assert_eq!(
        verify_app_image(&mut RamFlash::new(&mut chip), slot, 5),
        Err(ImageError::ChecksumMismatch)
    );
    // The appended SHA-256 damaged: only the hash fails.
    let mut bad = image.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    let (mut chip, slot) = slot_with(&bad);
    assert_eq!(
        verify_app_image(&mut RamFlash::new(&mut chip), slot, 5),
        Err(ImageError::HashMismatch)
    );
    // A slot too small for the image it holds.
    let (mut chip, _) = slot_with(&image);
    let small = Partition {
        offset: 0x10000,
        size: (image.len() / 2) as u32,
    };
    assert_eq!(
        verify_app_image(&mut RamFlash::new(&mut chip), small, 5),
        Err(ImageError::OutOfSlot)
    );
    // Erased and zeroed slots.
    let (mut chip, slot) = slot_with(&[]);
    assert_eq!(
        verify_app_image(&mut RamFlash::new(&mut chip), slot, 5),
        Err(ImageError::BadMagic(0xFF))
    );
    let (mut chip, slot) = slot_with(&[0xE9, 0]);
    assert_eq!(
        verify_app_image(&mut RamFlash::new(&mut chip), slot, 5),
        Err(ImageError::BadSegmentCount(0))
    );
}

#[test]
fn ram_flash_keeps_nor_rules() {
    let mut chip = erased(0x2000);
    let mut flash = RamFlash::new(&mut chip);
    flash.write(0, &[0x0F, 0xF0, 0x00, 0xFF]).expect("program");
    // Programming only clears bits: 0x0F then 0xF0 leaves 0x00.
    flash.write(0, &[0xF0, 0xF0, 0xFF, 0x0F]).expect("program");
    let mut out = [0u8; 4];
    flash.read(0, &mut out).expect("read");
    assert_eq!(out, [0x00, 0xF0, 0x00, 0x0F]);
    assert_eq!(flash.erase(0, 0x800), Err(RamFlashError::NotAligned));
    assert_eq!(flash.write(2, &[0; 4]), Err(RamFlashError::NotAligned));
    assert_eq!(flash.erase(0, 0x3000), Err(RamFlashError::OutOfBounds));
    assert_eq!(
        flash.read(0x1FFF, &mut out),
        Err(RamFlashError::OutOfBounds)
    );
    flash.erase(0, 0x1000).expect("erase");
    flash.read(0, &mut out).expect("read");
    assert_eq!(out, [0xFF; 4]);
}

#[test]
fn case_tables_that_do_not_parse_are_refused_whole() {
    let mut good = b"PYCASE1\n".to_vec();
    for w in [0x80_0000u32, 1, 1, 2, 0, 1, 1000, 0] {
        good.extend_from_slice(&w.to_le_bytes());
    }
    let parsed = case::parse(&good).expect("parses");
    let boot = parsed.boots().next().expect("one boot");
    assert_eq!(boot.after, case::AFTER_CTRL_F);
    // Held from 0 ms, released at 1000 ms: the level is the last edge at or before the time.
    assert!(boot.p12_high_at(0) && boot.p12_high_at(999_999));
    assert!(!boot.p12_high_at(1_000_000));
    for cut in 0..good.len() {
        assert!(case::parse(&good[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(case::parse(b"PYCASE2\n"), Err(CaseError::BadMagic));
    let mut many = good.clone();
    many[12] = 5;
    assert_eq!(case::parse(&many), Err(CaseError::TooMany));
}

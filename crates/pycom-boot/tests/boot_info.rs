//! `boot_info_t` (reference §6): the 40-byte layout, the CRC, and the validity rule.
//!
//! Every CRC below was computed independently with CPython 3.11's `zlib`, never with the crate;
//! the exact one-liner that produced it sits next to it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use proptest::prelude::*;
use pycom_boot::BootInfo;
use pycom_boot::boot_info::{
    CRC_COVERED_LEN, IMG_ACT_FACTORY, IMG_ACT_UPDATE1, IMG_STATUS_CHECK, IMG_STATUS_READY,
    RECORD_LEN, SAFE_BOOT_NONE, SAFE_BOOT_SW, firmware_crc32,
};
use support::record;

/// A record whose 40 bytes count 0x01, 0x02, … so that every field's position shows.
fn counting_record() -> BootInfo {
    let mut signature = [0u8; 16];
    for (i, b) in signature.iter_mut().enumerate() {
        *b = 0x15 + i as u8;
    }
    BootInfo {
        active_img: 0x0403_0201,
        status: 0x0807_0605,
        prev_img: 0x0C0B_0A09,
        size: 0x100F_0E0D,
        safeboot: 0x1413_1211,
        signature,
        crc: 0x590C_6F72,
    }
}

// ------------------------------------------------------------------------------------------------
// §6.1 layout

#[test]
fn record_is_40_bytes_and_crc_covers_the_first_36() {
    assert_eq!(RECORD_LEN, 40);
    assert_eq!(CRC_COVERED_LEN, 36);
}

#[test]
fn encode_puts_each_field_at_its_offset_little_endian() {
    let bytes = counting_record().encode();
    // offset 0  ActiveImg  u32 LE
    assert_eq!(bytes[0..4], [0x01, 0x02, 0x03, 0x04]);
    // offset 4  Status     u32 LE
    assert_eq!(bytes[4..8], [0x05, 0x06, 0x07, 0x08]);
    // offset 8  PrevImg    u32 LE
    assert_eq!(bytes[8..12], [0x09, 0x0A, 0x0B, 0x0C]);
    // offset 12 size       u32 LE
    assert_eq!(bytes[12..16], [0x0D, 0x0E, 0x0F, 0x10]);
    // offset 16 safeboot   u32 LE
    assert_eq!(bytes[16..20], [0x11, 0x12, 0x13, 0x14]);
    // offset 20 signature  u8[16], as is
    assert_eq!(
        bytes[20..36],
        [
            0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x22,
            0x23, 0x24
        ]
    );
    // offset 36 crc        u32 LE
    assert_eq!(bytes[36..40], [0x72, 0x6F, 0x0C, 0x59]);
}

#[test]
fn decode_reads_each_field_from_its_offset() {
    let mut bytes = [0u8; 40];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    let decoded = BootInfo::decode(&bytes);
    assert_eq!(decoded.active_img, 0x0403_0201);
    assert_eq!(decoded.status, 0x0807_0605);
    assert_eq!(decoded.prev_img, 0x0C0B_0A09);
    assert_eq!(decoded.size, 0x100F_0E0D);
    assert_eq!(decoded.safeboot, 0x1413_1211);
    assert_eq!(decoded.signature, counting_record().signature);
    assert_eq!(decoded.crc, 0x2827_2625);
}

#[test]
fn counting_record_crc_matches_zlib() {
    // python3 -c "import zlib,struct; d=struct.pack('<5I',0x04030201,0x08070605,0x0C0B0A09,0x100F0E0D,0x14131211)+bytes(range(0x15,0x25)); print(hex(zlib.crc32(d,0xFFFFFFFF)))"
    // -> 0x590c6f72
    let r = counting_record();
    assert_eq!(r.computed_crc(), 0x590C_6F72);
    assert!(r.is_valid());
    assert_eq!(r.covered_bytes()[..], r.encode()[..36]);
}

#[test]
fn initial_record_encodes_exactly_as_python_packs_it() {
    // python3 -c "import zlib,struct; d=struct.pack('<5I',0,1,0,0,0)+b'\xff'*16; print(struct.pack('<36sI',d,zlib.crc32(d,0xFFFFFFFF)).hex())"
    let expected = "0000000001000000000000000000000000000000\
                    ffffffffffffffffffffffffffffffff1a772ddd";
    let hex: String = BootInfo::initial()
        .encode()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, expected);
}

// ------------------------------------------------------------------------------------------------
// §6.2 CRC: crc32_le(UINT32_MAX, data, 36) == zlib.crc32(data36, 0xFFFFFFFF)
//                                          == zlib.crc32(b'\xff'*4 + data36)

#[test]
fn crc_vector_initial_record() {
    // factory / READY / PrevImg 0 / size 0 / safeboot 0 / signature 0xFF×16
    // python3 -c "import zlib,struct; d=struct.pack('<5I',0,1,0,0,0)+b'\xff'*16; print(hex(zlib.crc32(d,0xFFFFFFFF)))"
    // -> 0xdd2d771a
    // python3 -c "import zlib,struct; d=struct.pack('<5I',0,1,0,0,0)+b'\xff'*16; print(hex(zlib.crc32(b'\xff'*4+d)))"
    // -> 0xdd2d771a (the updater.py form gives the same value)
    let r = BootInfo::initial();
    assert_eq!(
        (r.active_img, r.status, r.prev_img, r.size, r.safeboot),
        (
            IMG_ACT_FACTORY,
            IMG_STATUS_READY,
            IMG_ACT_FACTORY,
            0,
            SAFE_BOOT_NONE
        )
    );
    assert_eq!(r.signature, [0xFF; 16]);
    assert_eq!(r.crc, 0xDD2D_771A);
    assert!(r.is_valid());
}

#[test]
fn crc_vector_ota_check_record() {
    // after ota_finish from the factory slot: ActiveImg 1 / CHECK / PrevImg 0 / size 1234567
    // python3 -c "import zlib,struct; d=struct.pack('<5I',1,0,0,1234567,0)+b'\xff'*16; print(hex(zlib.crc32(d,0xFFFFFFFF)))"
    // -> 0xa067389f
    // python3 -c "import zlib,struct; d=struct.pack('<5I',1,0,0,1234567,0)+b'\xff'*16; print(hex(zlib.crc32(b'\xff'*4+d)))"
    // -> 0xa067389f
    let r = record(
        IMG_ACT_UPDATE1,
        IMG_STATUS_CHECK,
        IMG_ACT_FACTORY,
        1_234_567,
        0,
    );
    assert_eq!(r.crc, 0xA067_389F);
    assert!(r.is_valid());
}

#[test]
fn crc_vector_software_safe_boot_record() {
    // factory / READY / PrevImg 0 / size 0 / safeboot 2 (SAFE_BOOT_SW)
    // python3 -c "import zlib,struct; d=struct.pack('<5I',0,1,0,0,2)+b'\xff'*16; print(hex(zlib.crc32(d,0xFFFFFFFF)))"
    // -> 0x17e30196
    // python3 -c "import zlib,struct; d=struct.pack('<5I',0,1,0,0,2)+b'\xff'*16; print(hex(zlib.crc32(b'\xff'*4+d)))"
    // -> 0x17e30196
    let r = record(
        IMG_ACT_FACTORY,
        IMG_STATUS_READY,
        IMG_ACT_FACTORY,
        0,
        SAFE_BOOT_SW,
    );
    assert_eq!(r.crc, 0x17E3_0196);
    assert!(r.is_valid());
}

#[test]
fn crc_vector_record_with_non_ff_signature() {
    // ota_0 / READY / PrevImg 0 / size 0x1A2B3C / safeboot 0 / signature 00 01 02 … 0F
    // python3 -c "import zlib,struct; d=struct.pack('<5I',1,1,0,0x1A2B3C,0)+bytes(range(16)); print(hex(zlib.crc32(d,0xFFFFFFFF)))"
    // -> 0xc9cb77f9
    // python3 -c "import zlib,struct; d=struct.pack('<5I',1,1,0,0x1A2B3C,0)+bytes(range(16)); print(hex(zlib.crc32(b'\xff'*4+d)))"
    // -> 0xc9cb77f9
    let mut signature = [0u8; 16];
    for (i, b) in signature.iter_mut().enumerate() {
        *b = i as u8;
    }
    let r = BootInfo {
        active_img: 1,
        status: 1,
        prev_img: 0,
        size: 0x1A_2B3C,
        safeboot: 0,
        signature,
        crc: 0,
    }
    .sealed();
    assert_eq!(r.crc, 0xC9CB_77F9);
    assert!(r.is_valid());
}

#[test]
fn crc_vector_firmware_updater_record() {
    // updater.py set_ota(False, 1441792): struct.pack('<5I16s', 0, 1, 0, image_size, 0, 0xFF×16)
    // python3 -c "import zlib,struct; d=struct.pack('<5I',0,1,0,1441792,0)+b'\xff'*16; print(hex(zlib.crc32(d,0xFFFFFFFF)))"
    // -> 0x62b67db
    // python3 -c "import zlib,struct; d=struct.pack('<5I',0,1,0,1441792,0)+b'\xff'*16; print(hex(zlib.crc32(b'\xff'*4+d)))"
    // -> 0x62b67db
    let r = record(0, 1, 0, 1_441_792, 0);
    assert_eq!(r.crc, 0x062B_67DB);
}

#[test]
fn firmware_crc32_is_zlib_continued_from_ffffffff() {
    // python3 -c "import zlib; print(hex(zlib.crc32(b'\xff'*36,0xFFFFFFFF)))"  -> 0x8cd04c73
    assert_eq!(firmware_crc32(&[0xFF; 36]), 0x8CD0_4C73);
    // Continuing from 0xFFFFFFFF is the same as a plain CRC-32 of four 0xFF bytes followed by the
    // data (updater.py's form): check it with the crate's own function on both sides too.
    let data = BootInfo::initial().covered_bytes();
    let mut prefixed = vec![0xFF; 4];
    prefixed.extend_from_slice(&data);
    assert_eq!(crc32fast::hash(&prefixed), firmware_crc32(&data));
    // and it is *not* the plain CRC-32 of the data
    assert_ne!(crc32fast::hash(&data), firmware_crc32(&data));
}

// ------------------------------------------------------------------------------------------------
// §6.2 validity: Status != 0xFFFFFFFF && crc == computed

#[test]
fn erased_record_is_invalid() {
    let erased = BootInfo::decode(&[0xFF; 40]);
    assert_eq!(erased.status, u32::MAX);
    assert!(!erased.is_valid());
}

#[test]
fn status_ffffffff_is_invalid_even_with_a_matching_crc() {
    let r = record(0, u32::MAX, 0, 0, 0);
    assert_eq!(r.crc, r.computed_crc());
    assert!(!r.is_valid());
}

#[test]
fn crc_mismatch_is_invalid() {
    let mut r = BootInfo::initial();
    r.crc ^= 1;
    assert!(!r.is_valid());
    let mut r = BootInfo::initial();
    r.prev_img = 1; // contents changed after sealing
    assert!(!r.is_valid());
    assert!(r.sealed().is_valid());
}

#[test]
fn a_zero_crc_is_not_special() {
    let mut r = BootInfo::initial();
    r.crc = 0;
    assert!(!r.is_valid());
}

// ------------------------------------------------------------------------------------------------
// properties

fn any_record() -> impl Strategy<Value = BootInfo> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<[u8; 16]>(),
        any::<u32>(),
    )
        .prop_map(
            |(active_img, status, prev_img, size, safeboot, signature, crc)| BootInfo {
                active_img,
                status,
                prev_img,
                size,
                safeboot,
                signature,
                crc,
            },
        )
}

proptest! {
    /// The boot core's table-free CRC is bit-identical to crc32fast (zlib's `crc32`) for any
    /// data continued from any previous CRC, so records written before the change still check.
    #[test]
    fn table_free_crc_equals_crc32fast_for_any_data_and_start(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        start in any::<u32>(),
    ) {
        let mut reference = crc32fast::Hasher::new_with_initial(start);
        reference.update(&data);
        prop_assert_eq!(pycom_boot::boot_info::crc32_le(start, &data), reference.finalize());
    }

    #[test]
    fn any_record_round_trips(r in any_record()) {
        prop_assert_eq!(BootInfo::decode(&r.encode()), r);
    }

    #[test]
    fn any_40_bytes_round_trip(bytes in any::<[u8; 32]>(), tail in any::<[u8; 8]>()) {
        let mut all = [0u8; 40];
        all[..32].copy_from_slice(&bytes);
        all[32..].copy_from_slice(&tail);
        prop_assert_eq!(BootInfo::decode(&all).encode(), all);
    }

    #[test]
    fn sealing_makes_any_record_valid_unless_status_is_erased(r in any_record()) {
        let sealed = r.sealed();
        prop_assert_eq!(sealed.is_valid(), r.status != u32::MAX);
    }

    #[test]
    fn flipping_any_single_bit_of_a_valid_record_invalidates_it(
        r in any_record().prop_filter("Status 0xFFFFFFFF is never valid", |r| r.status != u32::MAX),
    ) {
        let sealed = r.sealed();
        prop_assert!(sealed.is_valid());
        let bytes = sealed.encode();
        for bit in 0..(40 * 8) {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(
                !BootInfo::decode(&flipped).is_valid(),
                "bit {} of {:?} flipped and the record still checks out", bit, sealed
            );
        }
    }
}

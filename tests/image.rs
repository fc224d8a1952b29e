//! Firmware images: build, parse, verify, and the build/inspect commands.

use pycom_sim::image::{
    ALL_BOARDS, ImageError, ImageSpec, build_command, build_image, default_image, default_spec,
    image_extent, inspect_command, parse_image, validate_spec, validate_version, verify_image,
};

const BOOT_PY: &str = "import os\nfrom machine import UART\nos.dupterm(UART(0, 115200))\n";

fn custom_spec() -> ImageSpec {
    ImageSpec {
        version: "1.20.2.rc9".to_owned(),
        git_tag: "v1.11-1a257d8".to_owned(),
        build_date: "2020-06-10".to_owned(),
        boards: vec!["lopy4".to_owned(), "fipy".to_owned()],
        frozen: vec![
            ("_boot.py".to_owned(), BOOT_PY.to_owned()),
            ("_main.py".to_owned(), String::new()),
            ("lib/ünïcode.py".to_owned(), "print('héllo')\n".to_owned()),
        ],
    }
}

#[test]
fn build_then_parse_round_trips_every_field() {
    let spec = custom_spec();
    let bytes = build_image(&spec);
    let image = parse_image(&bytes).expect("fresh image parses");
    assert_eq!(image.spec, spec);
    assert_eq!(image.size, bytes.len());
    assert_eq!(image.sha256.as_slice(), &bytes[bytes.len() - 32..]);
    assert_eq!(image.project_name, "pycom-sim");
    assert_eq!(image.segments.len(), 3);
    assert_eq!(image.segments[0].memory_type(), "DROM");
    assert_eq!(image.segments[0].load_addr, 0x3F40_0020);
    assert!(image.segments.iter().all(|s| s.len % 4 == 0));
    assert!(image.supports_board("lopy4") && !image.supports_board("sipy"));
    assert_eq!(
        image.frozen_module("lib/ünïcode.py"),
        Some("print('héllo')\n")
    );
    assert_eq!(
        image.banner("LoPy4"),
        "Pycom MicroPython 1.20.2.rc9 [v1.11-1a257d8] on 2020-06-10; LoPy4 with ESP32"
    );
    assert_eq!(
        build_image(&image.spec),
        bytes,
        "the parsed spec rebuilds the same bytes"
    );
}

#[test]
fn header_and_footer_follow_the_esp32_layout() {
    let bytes = default_image();
    assert_eq!(bytes[0], 0xE9, "magic");
    assert_eq!(bytes[1], 3, "segment count");
    assert_eq!(bytes[2], 2, "DIO");
    assert_eq!(bytes[3], 0x2F, "4MB, 80m");
    assert_eq!(bytes[8], 0xEE, "wp pin");
    assert_eq!(&bytes[12..14], &[0, 0], "chip id ESP32");
    assert_eq!(bytes[23], 1, "hash appended");
    let checksum_at = bytes.len() - 33;
    assert_eq!(
        checksum_at % 16,
        15,
        "checksum is the last byte of a 16-byte block"
    );
    // esp_app_desc_t at the start of segment 0's data.
    assert_eq!(&bytes[0x20..0x24], &0xABCD_5432u32.to_le_bytes());
    assert_eq!(&bytes[0x30..0x39], b"1.20.2.r4");
}

#[test]
fn default_image_is_deterministic() {
    assert_eq!(default_image(), default_image());
    assert_eq!(default_image(), build_image(&default_spec()));
    let image = parse_image(&default_image()).expect("default image parses");
    assert_eq!(image.spec.version, "1.20.2.r4");
    assert_eq!(image.spec.git_tag, "v1.11-ffb0e1c");
    assert_eq!(image.spec.build_date, "2021-01-12");
    assert_eq!(image.spec.boards, ALL_BOARDS.map(String::from).to_vec());
}

#[test]
fn frozen_boot_py_carries_the_firmware_text() {
    let image = parse_image(&default_image()).expect("default image parses");
    assert_eq!(image.frozen_module("_boot.py"), Some(BOOT_PY));
    assert_eq!(
        image.frozen_module("_boot"),
        Some(BOOT_PY),
        "module name works too"
    );
    assert_eq!(image.frozen_module("_main.py"), Some(""));
    assert_eq!(image.frozen_module("main.py"), None);
}

#[test]
fn a_flipped_byte_in_any_segment_is_rejected_naming_the_check() {
    let good = default_image();
    let image = parse_image(&good).expect("default image parses");
    for seg in &image.segments {
        for at in [
            seg.data_offset,
            seg.data_offset + seg.len / 2,
            seg.data_offset + seg.len - 1,
        ] {
            let mut bad = good.clone();
            bad[at] ^= 0x01;
            assert!(!verify_image(&bad), "flip at {at:#x} accepted");
            let err = parse_image(&bad).expect_err("flipped byte must fail");
            assert!(matches!(err, ImageError::ChecksumMismatch { .. }), "{err}");
            let msg = err.to_string();
            assert!(msg.contains("checksum mismatch"), "{msg}");
            assert!(
                msg.contains(&format!("{:#x}", good.len() - 33)),
                "names the offset: {msg}"
            );
            assert!(msg.contains("rebuild"), "says what to do: {msg}");
        }
    }
}

#[test]
fn a_byte_flipped_where_the_checksum_cannot_see_it_fails_the_sha256() {
    let good = default_image();
    // Two flips of the same bit in one segment cancel in the XOR checksum, not in SHA-256.
    let mut bad = good.clone();
    bad[0x40] ^= 0x10;
    bad[0x44] ^= 0x10;
    let err = parse_image(&bad).expect_err("must fail");
    assert!(matches!(err, ImageError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains("SHA-256 mismatch"), "{err}");
    // A flipped stored hash byte fails the same check.
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xFF;
    assert!(matches!(
        parse_image(&bad),
        Err(ImageError::HashMismatch { .. })
    ));
}

#[test]
fn truncated_images_are_rejected_at_every_length() {
    let good = default_image();
    for len in [
        0,
        1,
        23,
        24,
        31,
        100,
        good.len() / 2,
        good.len() - 33,
        good.len() - 1,
    ] {
        let err = parse_image(&good[..len]).expect_err("truncated must fail");
        assert!(
            matches!(
                err,
                ImageError::Truncated { .. } | ImageError::SegmentOutOfBounds { .. }
            ),
            "len {len}: {err}"
        );
        assert!(!verify_image(&good[..len]));
    }
    let msg = parse_image(&good[..good.len() - 1])
        .expect_err("short")
        .to_string();
    assert!(msg.contains("SHA-256") && msg.contains("offset"), "{msg}");
}

#[test]
fn an_image_in_a_slot_sized_buffer_of_0xff_still_parses() {
    let good = default_image();
    let mut slot = good.clone();
    slot.resize(1720 * 1024, 0xFF);
    let image = parse_image(&slot).expect("slot-sized buffer parses");
    assert_eq!(image.size, good.len());
    assert!(verify_image(&slot));
    // Leftovers of an older, longer image after the hash are ignored as well.
    slot[good.len()..good.len() + 64].fill(0x5A);
    assert!(verify_image(&slot));
}

/// The boot reads a slot only as far as `image_extent` says; what it parses must be what the
/// whole slot would give, for good, erased, cut and lying images alike.
#[test]
fn parsing_a_slot_as_far_as_its_image_extends_gives_what_the_whole_slot_gives() {
    let good = default_image();
    let slot_len = 1720 * 1024;
    let mut in_slot = good.clone();
    in_slot.resize(slot_len, 0xFF);
    // The first segment's length made to run past the slot's end.
    let mut lying = in_slot.clone();
    lying[28..32].copy_from_slice(&(3u32 << 20).to_le_bytes());
    let mut slots = vec![
        ("good", in_slot.clone()),
        ("erased", vec![0xFF; slot_len]),
        ("lying segment length", lying),
        ("foreign", b"hello world".to_vec()),
    ];
    for len in [0, 1, 23, 24, 31, 100, good.len() / 2, good.len() - 1] {
        slots.push(("cut", good[..len].to_vec()));
    }
    let mut flipped = in_slot;
    flipped[good.len() / 2] ^= 1;
    slots.push(("flipped", flipped));
    for (what, slot) in &slots {
        let mut read = 0;
        let extent = image_extent(slot.len(), |at, buf| {
            read += buf.len();
            match slot.get(at..at + buf.len()) {
                Some(bytes) => {
                    buf.copy_from_slice(bytes);
                    true
                }
                None => false,
            }
        });
        assert!(extent <= slot.len(), "{what}");
        assert!(
            read <= 24 + 16 * 8,
            "{what}: the headers alone, read {read} bytes"
        );
        assert_eq!(
            format!("{:?}", parse_image(&slot[..extent])),
            format!("{:?}", parse_image(slot)),
            "{what} ({} bytes, extent {extent})",
            slot.len()
        );
    }
    assert_eq!(image_extent(slot_len, |_, _| false), slot_len);
    let erased = vec![0xFF; slot_len];
    let extent = image_extent(slot_len, |at, buf| {
        buf.copy_from_slice(&erased[at..at + buf.len()]);
        true
    });
    assert_eq!(extent, 24, "an erased slot is judged by its header");
    let extent = image_extent(slot_len, |at, buf| {
        buf.copy_from_slice(&good[at..at + buf.len()]);
        true
    });
    assert_eq!(
        extent,
        good.len(),
        "a good image is read to its hash and no further"
    );
}

#[test]
fn an_erased_slot_and_foreign_data_are_rejected_with_a_hint() {
    let erased = vec![0xFF; 4096];
    let err = parse_image(&erased).expect_err("erased");
    assert!(matches!(err, ImageError::BadMagic { found: 0xFF }));
    assert!(err.to_string().contains("erased"), "{err}");
    assert!(!verify_image(b"hello world"));
}

#[test]
fn versions_are_validated() {
    for ok in [
        "1.20.2.r4",
        "1.20.2.rc9",
        "1.18.0",
        "1.20.0.rc13",
        "1.20.1.b1",
    ] {
        assert!(validate_version(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "1.20",
        "1.20.2.",
        "1.20.2.x4",
        "v1.20.2",
        "1.20.2.r",
        "1.20.2 r4",
        "1.2.3.r4.5",
    ] {
        let err = validate_version(bad).expect_err(bad);
        assert!(
            err.to_string().contains("1.20.2.r4"),
            "gives an example: {err}"
        );
    }
    let mut spec = default_spec();
    spec.build_date = "2021-02-30".to_owned();
    assert!(validate_spec(&spec).is_err());
    let mut spec = default_spec();
    spec.boards.push("LoPy 4".to_owned());
    assert!(validate_spec(&spec).is_err());
    let mut spec = default_spec();
    spec.frozen.push(("../evil.py".to_owned(), String::new()));
    assert!(validate_spec(&spec).is_err());
}

#[test]
fn build_command_writes_an_image_and_inspect_describes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frozen = dir.path().join("frozen");
    std::fs::create_dir_all(frozen.join("lib")).expect("mkdir");
    std::fs::write(frozen.join("_boot.py"), BOOT_PY).expect("write");
    std::fs::write(frozen.join("lib").join("util.py"), "X = 1\n").expect("write");
    std::fs::write(frozen.join("notes.txt"), "not python").expect("write");
    let out = dir.path().join("fw.bin");

    let summary = build_command(
        "1.20.2.r6",
        Some("v1.11-c5a0a97"),
        Some("2021-10-28"),
        Some(vec!["wipy3".to_owned()]),
        Some(&frozen),
        &out,
    )
    .expect("build");
    assert!(
        summary.contains("1.20.2.r6") && summary.contains("lib/util.py"),
        "{summary}"
    );

    let image = parse_image(&std::fs::read(&out).expect("read")).expect("parse");
    assert_eq!(image.spec.version, "1.20.2.r6");
    assert_eq!(image.spec.boards, ["wipy3"]);
    let names: Vec<&str> = image.spec.frozen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["_boot.py", "lib/util.py"]);

    let text = inspect_command(&out).expect("inspect");
    for needle in [
        "1.20.2.r6",
        "v1.11-c5a0a97",
        "2021-10-28",
        "wipy3",
        "DROM",
        "IRAM",
        "_boot.py",
        "(valid)",
    ] {
        assert!(text.contains(needle), "inspect lacks {needle}:\n{text}");
    }

    // Rebuilding over a valid image is allowed and replaces it.
    let summary =
        build_command("1.18.0", None, None, None, None, &out).expect("rebuild over an image");
    assert!(summary.starts_with("replaced"), "{summary}");
    let image = parse_image(&std::fs::read(&out).expect("read")).expect("parse");
    assert_eq!(image.spec.version, "1.18.0");
    assert_eq!(
        image.frozen_module("_boot.py"),
        Some(BOOT_PY),
        "default frozen modules"
    );
}

#[test]
fn build_command_refuses_to_overwrite_a_file_that_is_not_an_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("main.py");
    let precious = b"# my program\nprint('do not lose me')\n".to_vec();
    std::fs::write(&out, &precious).expect("write");

    let err = build_command("1.20.2.r4", None, None, None, None, &out).expect_err("must refuse");
    assert!(matches!(err, ImageError::WouldOverwrite { .. }), "{err}");
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(
        std::fs::read(&out).expect("read"),
        precious,
        "file left byte-identical"
    );

    // A damaged image is not replaced either: it may be the only copy of something.
    let mut damaged = default_image();
    damaged[0x40] ^= 1;
    std::fs::write(&out, &damaged).expect("write");
    assert!(build_command("1.20.2.r4", None, None, None, None, &out).is_err());
    assert_eq!(std::fs::read(&out).expect("read"), damaged);

    // Only the output file itself was ever there: no temporary files left behind.
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
}

#[test]
fn build_command_rejects_bad_input_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("fw.bin");
    let err = build_command("1.20", None, None, None, None, &out).expect_err("bad version");
    assert!(matches!(err, ImageError::InvalidVersion { .. }), "{err}");
    let err = build_command("1.20.2.r4", None, Some("12/01/2021"), None, None, &out)
        .expect_err("bad date");
    assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
    let err = build_command(
        "1.20.2.r4",
        None,
        None,
        None,
        Some(&dir.path().join("nope")),
        &out,
    )
    .expect_err("missing frozen dir");
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(!out.exists());
}

#[test]
fn inspect_reports_a_damaged_image_as_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fw.bin");
    let mut bytes = default_image();
    bytes[0x30] ^= 1;
    std::fs::write(&path, &bytes).expect("write");
    let err = inspect_command(&path).expect_err("damaged");
    assert!(err.to_string().contains("checksum"), "{err}");
}

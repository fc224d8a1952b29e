//! Board files: every shipped board loads, its facts match the firmware reference, and a broken
//! file is rejected with a message that names the file, the key and the fix.

use pycom_sim::board::{Board, BoardError, list_text};

/// The built-in LoPy4 text, the base the "broken file" tests edit one line of.
fn lopy4_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/boards/lopy4.toml"))
        .expect("boards/lopy4.toml is readable")
}

/// Parses `text` as a user file named `my-board.toml` and returns the error's message.
fn error_of(text: &str) -> String {
    match Board::parse("myboard", "my-board.toml", text) {
        Ok(b) => panic!("expected an error, got board {}", b.id),
        Err(e) => e.to_string(),
    }
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "`{from}` must occur once");
    text.replacen(from, to, 1)
}

#[test]
fn every_builtin_board_loads() {
    let ids = Board::builtin_ids();
    assert_eq!(
        ids,
        ["wipy3", "lopy4", "sipy", "gpy", "fipy", "wipy2", "lopy"]
    );
    let boards = Board::all_builtin().expect("built-in boards are valid");
    assert_eq!(boards.len(), ids.len());
    for (board, id) in boards.iter().zip(&ids) {
        assert_eq!(&board.id, id);
        assert!(!board.description.is_empty());
        assert_eq!(board.safe_boot_pin, "P12");
        assert_eq!(board.strap_pin, "P2");
        assert_eq!(board.led_pin, "P2");
        assert_eq!(board.safe_boot_gpio(), 21);
        assert_eq!(board.strap_gpio(), 0);
        assert_eq!(board.led_gpio(), 0);
        assert_eq!(board.config.offset, 0x3FF000);
        assert_eq!(board.config.size, 0x1000);
        assert_eq!(board.factory_offset(), 0x10000);
        assert_eq!(board.partitions[2].name, "otadata");
    }
    assert!(ids.contains(&Board::default_id()));
    assert_eq!(Board::default_id(), "lopy4");
}

#[test]
fn banner_names_flash_and_radios_match_the_reference() {
    // (id, banner name, flash MiB, psram, lora, sigfox, lte, ap ssid)
    let expected = [
        ("wipy3", "WiPy", 8, true, false, false, false, "wipy-wlan"),
        ("lopy4", "LoPy4", 8, true, true, true, false, "lopy4-wlan"),
        ("sipy", "SiPy", 4, false, false, true, false, "sipy-wlan"),
        ("gpy", "GPy", 8, true, false, false, true, "gpy-wlan"),
        ("fipy", "FiPy", 8, true, true, true, true, "fipy-wlan"),
        ("wipy2", "WiPy", 4, false, false, false, false, "wipy-wlan"),
        ("lopy", "LoPy", 4, false, true, false, false, "lopy-wlan"),
    ];
    for (id, name, mib, psram, lora, sigfox, lte, ssid) in expected {
        let b = Board::builtin(id).expect("builtin loads");
        assert_eq!(b.name, name, "{id}");
        assert_eq!(b.flash_size, mib * 0x10_0000, "{id}");
        assert_eq!(
            (b.psram, b.lora, b.sigfox, b.lte),
            (psram, lora, sigfox, lte),
            "{id}"
        );
        assert_eq!(b.ap_ssid, ssid, "{id}");
    }
}

#[test]
fn lopy4_pins_and_layout() {
    let b = Board::builtin("lopy4").expect("lopy4 loads");
    let p12 = b.pin("P12").expect("P12");
    assert_eq!((p12.gpio, p12.exp_board.as_str()), (21, "G28"));
    assert_eq!(b.pin("G28"), Some(p12));
    assert_eq!(b.pin("g28"), Some(p12), "lookups are case-insensitive");
    assert_eq!(b.pin("p12"), Some(p12));
    assert_eq!(b.pin_by_gpio(21), Some(p12));

    let g23 = b.pin("G23").expect("G23");
    assert_eq!((g23.name.as_str(), g23.gpio), ("P2", 0));
    assert_eq!(b.pin_by_gpio(0).map(|p| p.name.as_str()), Some("P2"));

    for n in 13..=18 {
        let pin = b.pin(&format!("P{n}")).expect("pin exists");
        assert!(pin.input_only, "P{n} is input only");
        assert!((34..=39).contains(&pin.gpio));
    }
    let outputs = b.pins.iter().filter(|p| !p.input_only).count();
    assert_eq!(outputs, 24 - 6);
    assert_eq!(b.pins.len(), 24);
    assert!(b.pin("P24").is_none());
    assert!(
        b.pin("GPIO21").is_none(),
        "the firmware knows only P and G names"
    );

    assert_eq!(b.otadata_offset(), 0x1FF000);
    assert_eq!(b.factory_offset(), 0x10000);
    assert_eq!(b.ota0_offset(), 0x210000);
    assert_eq!(b.app_slot_size(), 0x1EF000);
    assert_eq!((b.fs.offset, b.fs.size), (0x400000, 0x400000));
    assert!(
        b.partition("fs").is_none(),
        "the 8 MB table has no fs entry"
    );
    let config = b.partition("config").expect("config partition");
    assert_eq!(
        (config.kind.as_str(), config.subtype.as_str()),
        ("data", "6")
    );
    let otadata = b.partition("otadata").expect("otadata");
    assert_eq!(
        (otadata.kind.as_str(), otadata.subtype.as_str()),
        ("data", "ota")
    );
}

#[test]
fn four_mb_boards_use_the_4mb_layout() {
    for id in ["sipy", "wipy2", "lopy"] {
        let b = Board::builtin(id).expect("loads");
        assert_eq!(b.flash_size, 0x400000, "{id}");
        assert_eq!(b.otadata_offset(), 0x1BE000, "{id}");
        assert_eq!(b.ota0_offset(), 0x1C0000, "{id}");
        assert_eq!(b.app_slot_size(), 0x1AE000, "{id}");
        assert_eq!((b.fs.offset, b.fs.size), (0x380000, 0x7F000), "{id}");
        let fs = b.partition("fs").expect("fs partition");
        assert_eq!(
            (fs.offset, fs.size, fs.subtype.as_str()),
            (0x380000, 0x7F000, "5")
        );
        let names: Vec<&str> = b.partitions.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "nvs", "factory", "otadata", "ota_0", "dummy", "fs", "config"
            ]
        );
    }
}

#[test]
fn only_gpy_has_p98_and_p99() {
    let gpy = Board::builtin("gpy").expect("gpy");
    assert_eq!(
        gpy.pin("P98").map(|p| (p.gpio, p.exp_board.as_str())),
        Some((23, "G98"))
    );
    assert_eq!(
        gpy.pin("G99").map(|p| (p.gpio, p.name.as_str())),
        Some((18, "P99"))
    );
    assert_eq!(gpy.pins.len(), 26);
    for b in Board::all_builtin().expect("builtins") {
        if b.id != "gpy" {
            assert!(b.pin("P98").is_none() && b.pin("P99").is_none(), "{}", b.id);
            assert_eq!(b.pins.len(), 24, "{}", b.id);
        }
    }
}

#[test]
fn builtin_ids_are_case_insensitive_and_unknown_ids_list_the_known_ones() {
    assert_eq!(Board::builtin("LoPy4").expect("loads").id, "lopy4");
    let err = Board::builtin("lopy5").expect_err("no such board");
    assert!(matches!(err, BoardError::UnknownBuiltin { .. }));
    let msg = err.to_string();
    assert!(msg.contains("lopy5"), "{msg}");
    for id in Board::builtin_ids() {
        assert!(msg.contains(id), "{msg} lists {id}");
    }
}

#[test]
fn typo_in_a_key_names_file_key_and_allowed_keys() {
    let text = replace_once(&lopy4_text(), "size = 0x800000", "sise = 0x800000");
    let msg = error_of(&text);
    assert!(msg.contains("my-board.toml"), "{msg}");
    assert!(msg.contains("sise"), "{msg}");
    assert!(msg.contains("[flash]"), "{msg}");
    assert!(
        msg.contains("`size`") && msg.contains("`fs`") && msg.contains("`config`"),
        "{msg}"
    );

    let text = replace_once(&lopy4_text(), "[board]\n", "flash_sise = 8\n[board]\n");
    let msg = error_of(&text);
    assert!(
        msg.contains("my-board.toml") && msg.contains("flash_sise"),
        "{msg}"
    );
    assert!(msg.contains("`board`") && msg.contains("`flash`"), "{msg}");

    let text = replace_once(&lopy4_text(), "gpio = 21\n", "gpio = 21\npull = \"up\"\n");
    let msg = error_of(&text);
    assert!(
        msg.contains("pull") && msg.contains("[[pin]]") && msg.contains("`exp_board`"),
        "{msg}"
    );
}

#[test]
fn bad_enum_values_list_the_allowed_ones() {
    let text = replace_once(
        &lopy4_text(),
        r#"radios = ["lora", "sigfox"]"#,
        r#"radios = ["lorawan"]"#,
    );
    let msg = error_of(&text);
    assert!(
        msg.contains("lorawan") && msg.contains("`lora`") && msg.contains("`lte`"),
        "{msg}"
    );

    let text = replace_once(
        &lopy4_text(),
        "type = \"app\"\nsubtype = \"factory\"",
        "type = \"application\"\nsubtype = \"factory\"",
    );
    let msg = error_of(&text);
    assert!(
        msg.contains("application") && msg.contains("`app`") && msg.contains("`data`"),
        "{msg}"
    );
}

#[test]
fn flash_size_must_be_4_or_8_mib() {
    let text = replace_once(&lopy4_text(), "size = 0x800000", "size = 0x300000");
    let msg = error_of(&text);
    assert!(
        msg.contains("my-board.toml") && msg.contains("flash.size"),
        "{msg}"
    );
    assert!(
        msg.contains("0x400000") && msg.contains("0x800000"),
        "{msg}"
    );
}

#[test]
fn overlapping_partitions_are_rejected() {
    let text = replace_once(&lopy4_text(), "offset = 0x210000", "offset = 0x1F0000");
    let msg = error_of(&text);
    assert!(
        msg.contains("my-board.toml") && msg.contains("ota_0"),
        "{msg}"
    );
    assert!(msg.contains("overlaps partition `factory`"), "{msg}");
}

#[test]
fn partitions_must_fit_and_align() {
    let text = replace_once(&lopy4_text(), "offset = 0x210000", "offset = 0x210800");
    let msg = error_of(&text);
    assert!(
        msg.contains("partition.\"ota_0\".offset") && msg.contains("4 KiB"),
        "{msg}"
    );

    let text = replace_once(&lopy4_text(), "offset = 0x210000", "offset = 0x211000");
    assert!(error_of(&text).contains("64 KiB"));

    // A 4 MB chip cannot hold the 8 MB layout.
    let text = replace_once(&lopy4_text(), "size = 0x800000", "size = 0x400000");
    let msg = error_of(&text);
    assert!(
        msg.contains("flash.fs") && msg.contains("past the end"),
        "{msg}"
    );
}

#[test]
fn required_partitions_must_exist() {
    let text = replace_once(&lopy4_text(), "name = \"otadata\"", "name = \"otadata2\"");
    let msg = error_of(&text);
    assert!(
        msg.contains("otadata") && msg.contains("add a [[partition]]"),
        "{msg}"
    );

    let text = replace_once(&lopy4_text(), "subtype = \"nvs\"", "subtype = \"nvram\"");
    let msg = error_of(&text);
    assert!(
        msg.contains("nvram") && msg.contains("subtype") && msg.contains("\"nvs\""),
        "{msg}"
    );
}

#[test]
fn unknown_safe_boot_pin_is_rejected() {
    let text = replace_once(
        &lopy4_text(),
        "safe_boot_pin = \"P12\"",
        "safe_boot_pin = \"P42\"",
    );
    let msg = error_of(&text);
    assert!(
        msg.contains("my-board.toml") && msg.contains("board.safe_boot_pin"),
        "{msg}"
    );
    assert!(msg.contains("P42") && msg.contains("fix"), "{msg}");

    // An expansion-board name is accepted and stored as the module name.
    let text = replace_once(
        &lopy4_text(),
        "safe_boot_pin = \"P12\"",
        "safe_boot_pin = \"G28\"",
    );
    let b = Board::parse("x", "x.toml", &text).expect("G28 names P12");
    assert_eq!(b.safe_boot_pin, "P12");
}

#[test]
fn pin_errors_name_the_pin() {
    let text = replace_once(&lopy4_text(), "gpio = 21\n", "gpio = 22\n");
    let msg = error_of(&text);
    assert!(msg.contains("GPIO22") && msg.contains("pin.\""), "{msg}");

    let text = replace_once(
        &lopy4_text(),
        "gpio = 21\n",
        "gpio = 21\ninput_only = true\n",
    );
    let msg = error_of(&text);
    assert!(
        msg.contains("pin.\"P12\".input_only") && msg.contains("remove"),
        "{msg}"
    );

    let text = replace_once(&lopy4_text(), "exp_board = \"G28\"", "exp_board = \"G23\"");
    assert!(error_of(&text).contains("G23"));

    let text = replace_once(&lopy4_text(), "gpio = 21\n", "gpio = 7\n");
    assert!(error_of(&text).contains("SPI flash"));
}

#[test]
fn fs_region_may_not_half_overlap_a_partition() {
    let text = replace_once(
        &lopy4_text(),
        "fs = { offset = 0x400000, size = 0x400000 }",
        "fs = { offset = 0x3F0000, size = 0x400000 }",
    );
    let msg = error_of(&text);
    assert!(
        msg.contains("flash.fs") && msg.contains("overlaps partition `ota_0`"),
        "{msg}"
    );
}

#[test]
fn load_file_uses_the_stem_and_names_unreadable_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("MyLoPy.toml");
    std::fs::write(&path, lopy4_text()).expect("write");
    let b = Board::load_file(&path).expect("loads");
    assert_eq!(b.id, "mylopy");
    assert_eq!(b.name, "LoPy4");

    let missing = dir.path().join("nope.toml");
    let msg = Board::load_file(&missing).expect_err("missing").to_string();
    assert!(msg.contains("nope.toml"), "{msg}");

    std::fs::write(
        &path,
        lopy4_text().replacen("size = 0x800000", "sise = 0x800000", 1),
    )
    .expect("write");
    let msg = Board::load_file(&path).expect_err("typo").to_string();
    assert!(msg.contains("MyLoPy.toml") && msg.contains("sise"), "{msg}");
}

#[test]
fn listing_marks_the_default_and_shows_every_board() {
    let text = list_text();
    for b in Board::all_builtin().expect("builtins") {
        assert!(text.contains(&b.summary_line()), "{text}");
    }
    let default_row = text
        .lines()
        .find(|l| l.starts_with('*') && l.contains("lopy4"))
        .expect("default row is marked");
    assert!(
        default_row.contains("LoPy4")
            && default_row.contains("8 MB")
            && default_row.contains("LoRa, Sigfox")
    );
    assert_eq!(text.lines().filter(|l| l.starts_with("* ")).count(), 1);
}

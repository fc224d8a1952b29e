//! The `pycom-sim` command as a user runs it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn pycom_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pycom-sim")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_virtual_run_boots_to_the_prompt_and_ends_when_the_device_is_idle() {
    let out = pycom_sim(&["run", "--fresh", "--time", "virtual"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"));
    assert!(text.ends_with(
        "Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; LoPy4 with ESP32\r\n\
         Type \"help()\" for more information.\r\n>>> "
    ));
}

#[test]
fn piped_input_is_typed_into_the_repl() {
    let out = run_typed(&["--fresh", "--time", "virtual"], b"print(6*7)\r");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with(">>> print(6*7)\r\n42\r\n>>> "),
        "{}",
        stdout(&out)
    );
}

/// Runs `pycom-sim run ARGS` with `input` piped to its stdin; returns its output once it has
/// ended (input consumed and the device idle, in virtual time).
fn run_typed(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .arg("run")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pycom-sim");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn sd_dir_is_the_card_that_machine_sd_mounts() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    std::fs::create_dir(&card).unwrap();
    std::fs::write(card.join("data.csv"), "1,2\n").unwrap();
    let out = run_typed(
        &[
            "--fresh",
            "--time",
            "virtual",
            "--sd",
            card.to_str().unwrap(),
        ],
        b"import os, machine; os.mount(machine.SD(), '/sd')\r\
          print(os.listdir('/sd'), open('/sd/data.csv').read())\r\
          open('/sd/log.txt', 'w').write('from the device')\r",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("\r\n['data.csv'] 1,2\r\n\r\n>>> "), "{text}");
    assert_eq!(
        std::fs::read_to_string(card.join("log.txt")).unwrap(),
        "from the device"
    );
}

#[test]
fn an_sd_dir_that_is_not_there_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-card");
    let with_sd = |dir: &Path| {
        pycom_sim(&[
            "run",
            "--fresh",
            "--time",
            "virtual",
            "--sd",
            dir.to_str().unwrap(),
        ])
    };
    let out = with_sd(&missing);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("--sd {}: ", missing.display())),
        "{err}"
    );
    assert!(err.contains("create the directory first"), "{err}");
    assert!(!missing.exists(), "nothing was created");
    let file = dir.path().join("card.img");
    std::fs::write(&file, b"not a dir").unwrap();
    let out = with_sd(&file);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&file).unwrap(), b"not a dir");
}

#[test]
fn events_json_has_one_object_per_line_with_device_time() {
    let out = pycom_sim(&[
        "run",
        "--fresh",
        "--time",
        "virtual",
        "--hold-for",
        "P12=2.2s",
        "--events",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let leds: Vec<(u64, String)> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one JSON object a line"))
        .filter(|v| v["kind"] == "led")
        // Up to the heartbeat's first pulse: its end comes 80 ms later only if booting the
        // firmware computed that long (a loaded machine), at whatever time the compute ended.
        .filter(|v| v["time_ms"].as_f64().unwrap() <= 2600.0)
        .map(|v| {
            (
                v["time_ms"].as_u64().unwrap(),
                v["color"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = [
        (100, "#2c1200"),
        (600, "#000000"),
        (1100, "#2c1200"),
        (1600, "#000000"),
        (2100, "#2c1200"),
        (2600, "#000000"),
        (2600, "#000050"),
    ]
    .iter()
    .map(|(t, c)| (*t, c.to_string()))
    .collect();
    assert_eq!(leds, expected);
    assert!(stdout(&out).contains(r#""safe_boot":"current""#));
}

#[test]
fn for_limits_a_run_in_device_time() {
    let out = pycom_sim(&[
        "run", "--fresh", "--time", "virtual", "--for", "9s", "--events", "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let last = stdout(&out).lines().last().unwrap().to_string();
    assert_eq!(last, r#"{"time_ms":9000,"kind":"stopped"}"#);
}

#[test]
fn boards_lists_every_board_and_the_default() {
    let out = pycom_sim(&["boards"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for id in ["wipy3", "lopy4", "sipy", "gpy", "fipy", "wipy2", "lopy"] {
        assert!(text.contains(id), "{id} missing from:\n{text}");
    }
    assert!(text.contains("default"));
}

fn sha(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

#[test]
fn a_truncated_flash_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.flash");
    std::fs::write(&path, vec![0x5Au8; 1 << 20]).unwrap();
    let before = sha(&path);
    let out = pycom_sim(&[
        "run",
        "--flash",
        path.to_str().unwrap(),
        "--time",
        "virtual",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("mine.flash"), "names the file: {err}");
    assert!(err.contains("--reformat"), "says the fix: {err}");
    assert_eq!(before, sha(&path), "the file is byte-identical");

    // With --reformat it is rebuilt and boots.
    let out = pycom_sim(&[
        "run",
        "--flash",
        path.to_str().unwrap(),
        "--time",
        "virtual",
        "--reformat",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 << 20);
}

#[test]
fn a_board_file_with_a_typo_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("boards/lopy4.toml"))
            .unwrap()
            .replace("[flash]\nsize", "[flash]\nsise");
    let path = dir.path().join("myboard.toml");
    std::fs::write(&path, text).unwrap();
    let out = pycom_sim(&[
        "run",
        "--board-file",
        path.to_str().unwrap(),
        "--fresh",
        "--time",
        "virtual",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("myboard.toml"), "{err}");
    assert!(err.contains("sise"), "{err}");
}

#[test]
fn bad_durations_and_pins_are_clear_errors() {
    let out = pycom_sim(&[
        "run",
        "--fresh",
        "--time",
        "virtual",
        "--hold-for",
        "P12=4.5",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no unit"), "{}", stderr(&out));
    let out = pycom_sim(&["run", "--fresh", "--time", "virtual", "--hold", "P99"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no pin named 'P99'"),
        "{}",
        stderr(&out)
    );
    let out = pycom_sim(&["run", "--fresh", "--board", "nopy"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("lopy4"),
        "lists the known boards: {}",
        stderr(&out)
    );
}

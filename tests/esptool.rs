//! esptool, Espressif's own tool, must read our images as valid ESP32 app images: the independent
//! proof that what the simulated bootloader accepts is what a real one would.
//!
//! Needs Python 3 and PyPI (through `scripts/python-venv`). Set `PYCOM_SIM_SKIP_ESPTOOL=1` to skip
//! on a machine without them; otherwise a failed install fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pycom_sim::image::{ImageSpec, build_image, default_image};

fn skip() -> bool {
    if std::env::var("PYCOM_SIM_SKIP_ESPTOOL").is_ok_and(|v| v == "1") {
        eprintln!("skipped: PYCOM_SIM_SKIP_ESPTOOL=1");
        return true;
    }
    false
}

/// The venv directory, set up once per test process (the tests run in parallel threads).
fn venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(setup_venv).clone()
}

/// Runs the venv script (idempotent) and returns the venv directory it prints last.
fn setup_venv() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python-venv");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed ({}), so esptool is not available. Its output:\n{}\n\
         Install Python 3 with venv and pip, or set PYCOM_SIM_SKIP_ESPTOOL=1 to skip this test.",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout.lines().last().unwrap_or_default().trim();
    assert!(!dir.is_empty(), "{} printed no venv path", script.display());
    PathBuf::from(dir)
}

/// `image_info` of `file`, through whichever esptool the venv has: 5.x installs an `esptool`
/// command with `image-info`; 4.x has `esptool.py` with `image_info` and needs `--version 2` for
/// the detailed report that includes the app description.
fn image_info(venv: &Path, file: &Path) -> String {
    let bin = venv.join("bin");
    let python = bin.join("python");
    let version = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('esptool'))",
        ])
        .output()
        .expect("run the venv's python");
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "esptool", "--chip", "esp32"]);
    if major >= 5 {
        cmd.arg("image-info");
    } else {
        cmd.args(["image_info", "--version", "2"]);
    }
    cmd.arg(file);
    let output = cmd.output().expect("run esptool");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "esptool {version} image_info exited with {}:\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("esptool {version}:\n{stdout}");
    stdout
}

fn assert_valid(info: &str, version: &str) {
    let lower = info.to_lowercase();
    let line = |key: &str| {
        lower
            .lines()
            .find(|l| l.starts_with(key))
            .map(str::to_owned)
    };
    let checksum = line("checksum:").expect("esptool printed a checksum line");
    assert!(
        checksum.ends_with("(valid)"),
        "checksum not valid: {checksum}"
    );
    let hash = line("validation hash:").expect("esptool printed a validation hash line");
    assert!(hash.ends_with("(valid)"), "SHA-256 not valid: {hash}");
    assert!(
        lower.contains("chip id: 0 (esp32)"),
        "not seen as ESP32:\n{info}"
    );
    assert!(
        lower.contains("drom") && lower.contains("iram"),
        "segment types:\n{info}"
    );
    if info.contains("App version:") {
        assert!(
            info.contains(&format!("App version: {version}")),
            "app version:\n{info}"
        );
        assert!(
            info.contains("Project name: pycom-sim"),
            "project name:\n{info}"
        );
    }
}

#[test]
fn esptool_accepts_the_default_image() {
    if skip() {
        return;
    }
    let venv = venv();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("default.bin");
    std::fs::write(&file, default_image()).expect("write image");
    let info = image_info(&venv, &file);
    assert_valid(&info, "1.20.2.r4");
    assert!(
        info.contains("App version: 1.20.2.r4"),
        "esptool 4.10+ prints the app version:\n{info}"
    );
}

#[test]
fn esptool_accepts_an_image_with_several_frozen_modules() {
    if skip() {
        return;
    }
    let venv = venv();
    let spec = ImageSpec {
        version: "1.20.2.rc10".to_owned(),
        git_tag: "v1.11-a159dee".to_owned(),
        build_date: "2020-06-26".to_owned(),
        boards: vec!["gpy".to_owned()],
        frozen: (0..5)
            .map(|i| (format!("m{i}.py"), "x = 1\n".repeat(i * 7 + 1)))
            .collect(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("custom.bin");
    std::fs::write(&file, build_image(&spec)).expect("write image");
    assert_valid(&image_info(&venv, &file), "1.20.2.rc10");
}

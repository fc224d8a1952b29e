//! Not a terminal: stdout stays exactly the UART bytes, `--status` adds plain lines on stderr.

use std::process::{Command, Stdio};

#[test]
fn piped_stdout_has_no_escape_byte_and_status_lines_go_to_stderr() {
    let out = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .args([
            "run",
            "--fresh",
            "--time",
            "virtual",
            "--hold-for",
            "P12=1.5s",
            "--status",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!out.stdout.contains(&0x1b), "an escape byte on stdout");
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(">>> "));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\x1b'), "{err}");
    for line in [
        "[0.000s] reset power-on",
        "[0.100s] led #2c1200",
        "[0.600s] led #000000",
        "[1.500s] drive P12/G28 open",
        "[1.600s] boot factory 1.20.2.r4 safe_boot=current scripts skipped",
        "[1.600s] stage firmware",
    ] {
        assert!(err.contains(line), "{line:?} missing from:\n{err}");
    }
    assert!(err.contains("stage REPL"), "{err}");
    // Without --status, stderr has only the start-up line.
    let plain = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .args(["run", "--fresh", "--time", "virtual"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&plain.stderr).lines().count(), 1);
    assert_eq!(plain.stdout, {
        let again = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
            .args(["run", "--fresh", "--time", "virtual", "--status"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        again.stdout
    });
}

#[test]
fn log_file_gets_the_simulators_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sim.log");
    let out = Command::new(env!("CARGO_BIN_EXE_pycom-sim"))
        .args(["run", "--fresh", "--time", "virtual", "--log"])
        .arg(&log)
        .env("RUST_LOG", "pycom_sim=debug")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!out.stdout.contains(&0x1b));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("DEBUG"), "{text}");
}

//! `pycom-sim scenario`: the page's scenarios in tests/scenarios pass, the same report comes out
//! every run (device times included), bad files say file:line:column, exit codes follow the
//! convention, the JUnit file parses, `--partition` shares are stable and cover every file,
//! and `pycom-sim fs` works on a stopped flash file.

use std::path::{Path, PathBuf};
use std::process::Command;

use pycom_sim::scenario::{self, FileResult, Outcome, Partition, RunLimits, report};

/// The binary, with its cache (scenario times) in the test's own directory, not the user's.
fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pycom-sim"));
    cmd.env("XDG_CACHE_HOME", env!("CARGO_TARGET_TMPDIR"));
    cmd
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p
}

fn run_one(path: &Path) -> FileResult {
    scenario::run_files(&[path.to_path_buf()], 1, RunLimits::default())
        .pop()
        .expect("one result")
}

fn ran(r: &FileResult) -> &scenario::ScenarioResult {
    match r {
        FileResult::Ran(s) => s,
        FileResult::Bad(e) => panic!("bad scenario: {e}"),
    }
}

/// Every file in tests/scenarios passes, and each says which sentence of the page it proves.
#[test]
fn the_page_row_by_row() {
    let files = scenario::collect(&[suite_dir()]).expect("suite");
    assert!(files.len() >= 12, "{files:?}");
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        assert!(
            text.starts_with("# Proves"),
            "{} says what it proves",
            f.display()
        );
    }
    let results = scenario::run_files(&files, 2, RunLimits::default());
    let summary = report::human(&results, false);
    assert_eq!(report::exit_code(&results), 0, "{summary}");
    // Device times the page fixes: the safe-boot windows, to the millisecond.
    let by_name = |stem: &str| {
        results
            .iter()
            .map(ran)
            .find(|s| s.path.file_stem().is_some_and(|n| n == stem))
            .unwrap_or_else(|| panic!("{stem} in the suite"))
    };
    let factory = by_name("safe_boot_factory");
    assert_eq!(factory.steps[0].device_us, 7_600_000, "{summary}");
    let window1 = by_name("safe_boot_window1");
    assert_eq!(window1.steps[0].device_us, 100_000, "LED orange at 100 ms");
}

/// Ctrl-C thrown again and again into a loop whose `except` clause catches it: every break is
/// taken (the count comes back each time), and the run ends while the loop still runs. A break
/// thrown in before an instruction that cannot raise (an except clause's PUSH_EXC_INFO) once
/// left a NULL on RustPython's value stack and killed the process with SIGSEGV (about one run
/// in 20 of a similar loop, on a loaded machine); breaks now wait for a call, a backward jump or
/// a function's start.
#[test]
fn breaks_thrown_again_and_again_into_a_loop_that_catches_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from(
        r#"name = "Ctrl-C caught over and over"
[files]
"/flash/main.py" = """
n = 0
while True:
    try:
        print('caught', n, 'times')
        while True:
            pass
    except KeyboardInterrupt:
        n += 1
"""
[[step]]
wait_uart = "caught 0 times"
"#,
    );
    const BREAKS: usize = 150;
    for k in 1..=BREAKS {
        text.push_str(&format!(
            "[[step]]\nwrite_uart = \"{{ctrl-c}}\"\n[[step]]\nwait_uart = \"caught {k} times\"\n"
        ));
    }
    let path = write(dir.path(), "breaks.toml", &text);
    let result = run_one(&path);
    let s = ran(&result);
    assert!(
        s.outcome.is_pass(),
        "{}",
        report::human(std::slice::from_ref(&result), false)
    );
    assert_eq!(s.steps.len(), 1 + 2 * BREAKS);
}

/// The same scenario, 50 runs, gives the identical report, device times included, with other
/// scenarios loading the host at the same time.
#[test]
fn the_same_scenario_gives_the_same_report_every_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "busy.toml",
        r##"
name = "typed input, timers and pins at exact device times"

[files]
"/flash/main.py" = """
from machine import Timer
import time
def tick(a):
    print('tick', time.ticks_ms())
Timer.Alarm(tick, ms=700, periodic=True)
x = sum(range(20000))
print('computed', x, time.ticks_ms())
"""

[[step]]
wait_uart = "computed"
[[step]]
wait_uart_regex = 'tick \d+\r\n'
[[step]]
delay = "1234ms"
[[step]]
wait_uart_regex = 'tick \d+\r\n'
[[step]]
write_line = "print(time.ticks_ms())"
[[step]]
wait_uart = ">>> "
[[step]]
hold_high = "P10"
for = "333ms"
[[step]]
wait_pin = { pin = "P10", level = 0 }
timeout = "1s"
[[step]]
eval = "print([x for x in range(5)])"
expect = "[0, 1, 2, 3, 4]"
[[step]]
delay = "5s"
[[step]]
expect_led = "off"
"##,
    );
    let first = run_one(&path);
    let first_text = report::human(std::slice::from_ref(&first), false);
    assert_eq!(ran(&first).outcome, Outcome::Pass, "{first_text}");
    assert!(
        first_text.contains(" 1934.000 ms  line 19  delay"),
        "{first_text}"
    );
    // Load the host while the runs go: the reports must not notice.
    let load = std::thread::spawn(|| {
        let files = scenario::collect(&[suite_dir()]).expect("suite");
        scenario::run_files(&files, 1, RunLimits::default())
    });
    for run in 1..50 {
        let again = report::human(&[run_one(&path)], false);
        assert_eq!(again, first_text, "run {run}");
    }
    load.join().expect("load thread");
}

#[test]
fn bad_files_say_where_and_what_was_expected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[step]]\nhold_hihg = \"P12\"\n",
            ":2:1:",
            "unknown field `hold_hihg`, expected one of",
        ),
        (
            "[[step]]\nhold_high = \"P12\"\nwait_uart = \">>> \"\n",
            ":3:13:",
            "this step has two actions, `hold_high` and `wait_uart`",
        ),
        (
            "[[step]]\nwait_uart = \">>> \"\n\n[[step]]\nhold_high = \"P99\"\n",
            ":5:13:",
            "no pin named 'P99' on the LoPy4",
        ),
        ("[[step]]\ndelay = \"5\"\n", ":2:9:", "'5' has no unit"),
        (
            "[[step]]\nexpect_led = \"orange\"\n",
            ":2:14:",
            "not a colour; write #rrggbb",
        ),
        (
            "[[step]]\nwait_uart = \">>> \"\ntimeout = 3\n",
            ":3:11:",
            "invalid type: integer `3`, expected a string",
        ),
        (
            "[[step]]\nname = \"nothing\"\n",
            ":1:1:",
            "this step has no action",
        ),
        (
            "[[step]]\nwait_uart_regex = \"(\"\n",
            ":2:19:",
            "not a regex",
        ),
        (
            "board = \"lopy9\"\n[[step]]\nreset = true\n",
            ":1:9:",
            "the boards are",
        ),
        (
            "ota = { image = \"missing.bin\" }\n[[step]]\nreset = true\n",
            ":1:17:",
            "cannot read image",
        ),
        (
            "factory = { version = \"1.20.2\", image = \"x.bin\" }\n[[step]]\nreset = true\n",
            ":1:11:",
            "factory takes one of version",
        ),
        (
            "[[step]]\nexpect_uart = \"x\"\nsince = \"boot\"\n",
            ":3:9:",
            "expected \"power-on\" or \"reset\"",
        ),
        (
            "[[step]]\nwait_uart = \"x\"\nsince = \"reset\"\n",
            ":3:9:",
            "`since` does not go with `wait_uart`",
        ),
    ];
    for (i, (text, at, says)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("bad{i}.toml"), text);
        let e = scenario::load(&path).expect_err(text);
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{}{at}", path.display())),
            "{text:?} → {shown}"
        );
        assert!(shown.contains(says), "{text:?} → {shown}");
    }
}

#[test]
fn exit_codes_pass_fail_bad_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = write(dir.path(), "pass.toml", "[[step]]\nwait_uart = \">>> \"\n");
    let fail = write(
        dir.path(),
        "fail.toml",
        "[[step]]\nwait_uart = \">>> \"\n[[step]]\neval = \"print(1)\"\nexpect = \"2\"\n",
    );
    let bad = write(dir.path(), "bad.toml", "[[step]]\nwait = 1\n");
    let timeout = write(
        dir.path(),
        "timeout.toml",
        "[[step]]\nwait_uart = \"never printed\"\ntimeout = \"2s\"\n",
    );
    let code = |p: &Path| {
        let out = bin().arg("scenario").arg(p).output().expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(code(&pass).0, Some(0));
    let (status, text) = code(&fail);
    assert_eq!(status, Some(1), "{text}");
    assert!(
        text.contains("\"print(1)\" printed \"1\", expected \"2\""),
        "{text}"
    );
    // On failure: the device's last lines, its LED and pins.
    assert!(text.contains("last UART lines:"), "{text}");
    assert!(text.contains("| >>> print(1)"), "{text}");
    assert!(text.contains("LED #000050"), "{text}");
    assert_eq!(code(&bad).0, Some(2));
    let (status, text) = code(&timeout);
    assert_eq!(status, Some(42), "{text}");
    assert!(
        text.contains("waited 2 s of device time for UART text \"never printed\""),
        "{text}"
    );
    // Several files: a bad one wins, then a failure, then a timeout.
    let out = bin()
        .args(["scenario", "--jobs", "2"])
        .args([&pass, &timeout, &fail])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
}

/// The JUnit file is what CI test reporters read: Python's own XML parser must accept it and
/// find the suites, cases, failures and timings in it.
#[test]
fn junit_report_parses_with_an_independent_xml_parser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = write(
        dir.path(),
        "pass.toml",
        "name = \"a & b <ok>\"\n[[step]]\nwait_uart = \">>> \"\n[[step]]\ndelay = \"1.5s\"\n",
    );
    let fail = write(
        dir.path(),
        "fail.toml",
        "[[step]]\nwait_uart = \">>> \"\n[[step]]\nexpect_led = \"#2c1200\"\n[[step]]\nreset = true\n",
    );
    let bad = write(dir.path(), "bad.toml", "oops = 1\n");
    let junit = dir.path().join("report.xml");
    let out = bin()
        .arg("scenario")
        .args([&pass, &fail, &bad])
        .arg("--junit")
        .arg(&junit)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let script = r#"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
print(root.tag, root.get('tests'), root.get('failures'), root.get('errors'))
for s in root.findall('testsuite'):
    print('suite', s.get('name'), s.get('tests'), s.get('failures'), s.get('skipped'), s.get('time'))
    for c in s.findall('testcase'):
        kind = [e.tag for e in c]
        print(' case', c.get('name'), c.get('time'), ','.join(kind))
"#;
    let parsed = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&junit)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&parsed.stdout);
    assert!(
        parsed.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&parsed.stderr),
        std::fs::read_to_string(&junit).unwrap_or_default()
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "testsuites 6 1 1", "{text}");
    assert_eq!(lines[1], "suite a & b <ok> 2 0 0 1.500000", "{text}");
    assert_eq!(
        lines[2], " case line 2: wait_uart = \">>> \" 0.000000 ",
        "{text}"
    );
    assert_eq!(
        lines[3], " case line 4: delay = \"1.5s\" 1.500000 ",
        "{text}"
    );
    assert_eq!(lines[4], "suite fail 3 1 1 0.000000", "{text}");
    assert_eq!(
        lines[6], " case line 3: expect_led = \"#2c1200\" 0.000000 failure,system-out",
        "{text}"
    );
    assert_eq!(
        lines[7], " case line 5: reset = true 0.000000 skipped",
        "{text}"
    );
    assert!(lines[8].starts_with("suite "), "{text}");
    assert_eq!(lines[9], " case scenario file 0 error", "{text}");
}

#[test]
fn json_report_has_every_step_with_its_device_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "s.toml",
        "hold_high = [\"P12\"]\n[[step]]\nwait_stage = \"firmware\"\n",
    );
    let out = bin()
        .args(["scenario", "--json"])
        .arg(&p)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["scenarios"][0]["outcome"], "pass");
    assert_eq!(v["scenarios"][0]["steps"][0]["device_us"], 7_600_000);
}

#[test]
fn partitions_are_stable_disjoint_and_cover_every_file() {
    let files: Vec<PathBuf> = (0..200)
        .map(|i| PathBuf::from(format!("tests/scenarios/s{i:03}.toml")))
        .collect();
    let n = 4;
    let mut seen = vec![0; files.len()];
    for k in 1..=n {
        let p: Partition = format!("{k}/{n}").parse().expect("partition");
        let share: Vec<usize> = (0..files.len()).filter(|&i| p.takes(&files[i])).collect();
        assert!(
            share.len() > 25 && share.len() < 75,
            "share {k}: {}",
            share.len()
        );
        for i in share {
            seen[i] += 1;
        }
    }
    assert!(
        seen.iter().all(|&c| c == 1),
        "each file in exactly one share"
    );
    // Stable: the same path lands in the same share on any machine and release.
    let p: Partition = "1/4".parse().expect("partition");
    let q: Partition = "1/4".parse().expect("partition");
    assert!(files.iter().all(|f| p.takes(f) == q.takes(f)));
    assert!("0/4".parse::<Partition>().is_err());
    assert!("5/4".parse::<Partition>().is_err());
    // The CLI takes the same share: partitions of the suite add up to the suite.
    let mut total = 0;
    for k in 1..=3 {
        let out = bin()
            .args(["scenario", "--json", "--partition", &format!("{k}/3")])
            .arg(suite_dir())
            .output()
            .expect("run");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        total += v["scenarios"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(
        total,
        scenario::collect(&[suite_dir()]).expect("suite").len()
    );
}

#[test]
fn fs_commands_work_on_a_stopped_flash_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = dir.path().join("lopy4.flash");
    // Never creates one.
    let out = bin()
        .args(["fs", "ls", "--flash"])
        .arg(&flash)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such flash file"));
    assert!(!flash.exists());
    // A flash file made by a run.
    let made = bin()
        .args(["run", "--time", "virtual", "--flash"])
        .arg(&flash)
        .output()
        .expect("run");
    assert!(made.status.success());
    let fs = |args: &[&str]| {
        let out = bin()
            .arg("fs")
            .args(args)
            .arg("--flash")
            .arg(&flash)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let host = dir.path().join("main.py");
    std::fs::write(&host, "print('from fs put')\n").expect("write");
    fs(&["mkdir", "/flash/data"]);
    fs(&["put", host.to_str().expect("utf-8"), "/flash/main.py"]);
    let listing = fs(&["ls"]);
    assert!(listing.contains("       21  main.py\n"), "{listing}");
    assert!(listing.contains("data/\n"), "{listing}");
    assert_eq!(fs(&["get", "/flash/main.py"]), "print('from fs put')\n");
    fs(&["rm", "/flash/data"]);
    assert!(!fs(&["ls", "/flash"]).contains("data/"));
    // The device runs what was put there.
    let out = bin()
        .args(["run", "--time", "virtual", "--flash"])
        .arg(&flash)
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("from fs put\r\n"));
}

/// Peers' users ask for these: waits in quick succession that do not hang, and a first step
/// that is not a wait.
#[test]
fn rapid_waits_and_a_first_step_that_is_an_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text =
        String::from("[files]\n\"/flash/main.py\" = \"for i in range(20): print('line', i)\\n\"\n");
    for i in 0..20 {
        text.push_str(&format!(
            "[[step]]\nwait_uart = \"line {i}\\r\\n\"\ntimeout = \"1ms\"\n"
        ));
    }
    let path = write(dir.path(), "rapid.toml", &text);
    let r = run_one(&path);
    assert_eq!(
        ran(&r).outcome,
        Outcome::Pass,
        "{}",
        report::human(std::slice::from_ref(&r), false)
    );
    assert_eq!(ran(&r).steps.len(), 20);

    let path = write(
        dir.path(),
        "first.toml",
        "[[step]]\nhold_high = \"P12\"\n[[step]]\nwait_stage = \"firmware\"\n\
         [[step]]\nexpect_boot = { safe_boot = \"factory\" }\n",
    );
    let r = run_one(&path);
    let s = ran(&r);
    assert_eq!(
        s.outcome,
        Outcome::Pass,
        "{}",
        report::human(std::slice::from_ref(&r), false)
    );
    assert_eq!(s.steps[1].device_us, 7_600_000);
}

/// A script that computes for ever takes no device time in a scenario: the wall-clock limit
/// ends it as a timeout that says so, instead of hanging the CI job.
#[test]
fn a_busy_loop_is_given_up_at_the_wall_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "busy.toml",
        "[files]\n\"/flash/main.py\" = \"print('spinning')\\nwhile True:\\n    pass\\n\"\n\
         [[step]]\nwait_uart = \"spinning\"\n[[step]]\nwait_uart = \">>> \"\n",
    );
    let out = bin()
        .args(["scenario", "--wall-limit", "1"])
        .arg(&path)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(42), "{text}");
    assert!(
        text.contains("device time stood still at 0.000 ms"),
        "{text}"
    );
}

#[test]
fn the_repl_profile_is_chosen_in_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "mpy.toml",
        "repl_profile = \"micropython\"\n[[step]]\nwait_uart = \">>> \"\n\
         [[step]]\nwrite_uart = \"{ctrl-d}\"\n[[step]]\nwait_uart = \"MPY: soft reboot\"\ntimeout = \"1s\"\n",
    );
    let r = run_one(&path);
    assert_eq!(
        ran(&r).outcome,
        Outcome::Pass,
        "{}",
        report::human(std::slice::from_ref(&r), false)
    );
    let bad = write(
        dir.path(),
        "bad.toml",
        "repl_profile = \"upy\"\n[[step]]\nreset = true\n",
    );
    let e = scenario::load(&bad).expect_err("bad profile");
    assert!(
        e.to_string().contains(":1:16: unknown REPL profile 'upy'"),
        "{e}"
    );
}

/// A scenario on a flash file prepared offline (`pycom-sim fs put`) runs a copy of it: the
/// device sees the files, and the original is byte for byte what it was.
#[test]
fn a_prepared_flash_file_is_copied_never_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = dir.path().join("ci.flash");
    let made = bin()
        .args(["run", "--time", "virtual", "--flash"])
        .arg(&flash)
        .output()
        .expect("run");
    assert!(made.status.success());
    let main = dir.path().join("main.py");
    std::fs::write(&main, "print('prepared offline')\n").expect("write");
    let put = bin()
        .args(["fs", "put"])
        .arg(&main)
        .args(["/flash/main.py", "--flash"])
        .arg(&flash)
        .output()
        .expect("fs put");
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let before = std::fs::read(&flash).expect("read flash");
    let path = write(
        dir.path(),
        "uses_flash.toml",
        "flash = \"ci.flash\"\n[[step]]\nwait_uart = \"prepared offline\"\ntimeout = \"1s\"\n\
         [[step]]\neval = \"import os; os.remove('/flash/main.py')\"\n\
         [[step]]\nexpect_file = { path = \"/flash/main.py\", absent = true }\n",
    );
    let r = run_one(&path);
    assert_eq!(
        ran(&r).outcome,
        Outcome::Pass,
        "{}",
        report::human(std::slice::from_ref(&r), false)
    );
    assert!(
        std::fs::read(&flash).expect("read flash") == before,
        "the original is unchanged"
    );
    // A flash file that is not there is a bad file, at the key.
    let missing = write(
        dir.path(),
        "missing.toml",
        "flash = \"nope.flash\"\n[[step]]\nreset = true\n",
    );
    let e = scenario::load(&missing).expect_err("missing flash");
    assert!(e.to_string().contains(":1:9: flash file"), "{e}");
}

#[test]
fn a_directory_without_scenarios_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = bin().arg("scenario").arg(dir.path()).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no scenario files (*.toml) in it"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The images the page's OTA scenario boots are what `pycom-sim image build` makes today from
/// the commands in tests/scenarios/images/README.md; and a file that is not an image is refused
/// when the scenario is read, naming the file.
#[test]
fn scenario_images_are_built_by_image_build() {
    let images = suite_dir().join("images");
    let readme = std::fs::read_to_string(images.join("README.md")).expect("README");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut built = 0;
    for line in readme
        .lines()
        .filter(|l| l.starts_with("pycom-sim image build"))
    {
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        let out_at = args.iter().position(|a| *a == "-o").expect("-o") + 1;
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join(args[out_at]);
        let fresh = dir.path().join(committed.file_name().expect("name"));
        let mut cmd = bin();
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        for (i, a) in args.iter().enumerate() {
            cmd.arg(if i == out_at {
                fresh.as_os_str()
            } else {
                a.as_ref()
            });
        }
        let out = cmd.output().expect("image build");
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            std::fs::read(&fresh).expect("built") == std::fs::read(&committed).expect("committed"),
            "{} differs from what `{line}` builds now; rebuild it with that command",
            committed.display()
        );
        built += 1;
    }
    assert_eq!(built, 2, "{readme}");

    let not_image = write(dir.path(), "notes.bin", "hello");
    let path = write(
        dir.path(),
        "s.toml",
        "ota = { image = \"notes.bin\" }\n[[step]]\nreset = true\n",
    );
    let e = scenario::load(&path).expect_err("not an image").to_string();
    assert!(
        e.contains(&format!("{} is not a firmware image", not_image.display())),
        "{e}"
    );
    assert!(e.contains("make one with `pycom-sim image build`"), "{e}");
}

/// `started_ms` of each file in a `--json` report, by file name.
fn start_order(json: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(json).expect("json report");
    let mut started: Vec<(f64, String)> = v["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| {
            let name = Path::new(s["path"].as_str().expect("path"))
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (s["started_ms"].as_f64().expect("started_ms"), name)
        })
        .collect();
    started.sort_by(|a, b| a.0.total_cmp(&b.0));
    started.into_iter().map(|(_, n)| n).collect()
}

#[test]
fn the_slowest_file_of_the_last_run_starts_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("cache dir");
    // Two files that never start Python (download mode) and one that computes for a while.
    let quick = "hold_low = [\"G23\"]\n[[step]]\nwait_stage = \"download_mode\"\n";
    write(dir.path(), "a_quick.toml", quick);
    write(dir.path(), "b_quick.toml", quick);
    write(
        dir.path(),
        "c_slow.toml",
        "[[step]]\nwait_uart = \">>> \"\n[[step]]\n\
         eval = \"print(sum(i * i for i in range(300000)) > 0)\"\nexpect = \"True\"\n",
    );
    let run = |extra: &[&str]| {
        let out = bin()
            .env("XDG_CACHE_HOME", cache.path())
            .args(["scenario", "--jobs", "1", "--json"])
            .args(extra)
            .arg(dir.path())
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        start_order(&out.stdout)
    };
    // Never timed: the order of the files.
    assert_eq!(run(&[]), ["a_quick.toml", "b_quick.toml", "c_slow.toml"]);
    let times = cache.path().join("pycom-sim/scenario-times.json");
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&times).expect("times kept")).expect("json");
    assert_eq!(kept.as_object().map(|m| m.len()), Some(3), "{kept}");
    // Timed: the slow one first, the rest by their times.
    assert_eq!(run(&[]).first().map(String::as_str), Some("c_slow.toml"));
    // A file never timed (new, or renamed) goes before every timed one.
    let new_file = write(dir.path(), "d_new.toml", quick);
    assert_eq!(
        run(&[]).get(..2),
        Some(&["d_new.toml".to_string(), "c_slow.toml".to_string()][..])
    );
    std::fs::remove_file(new_file).expect("remove");
    // --no-history: the files' order, and the times are left as they were.
    let before = std::fs::read(&times).expect("times");
    assert_eq!(
        run(&["--no-history"]),
        ["a_quick.toml", "b_quick.toml", "c_slow.toml"]
    );
    assert_eq!(std::fs::read(&times).expect("times"), before);
    // A cache file that is not ours is no history, and is replaced by one that is.
    std::fs::write(&times, b"not json").expect("spoil");
    assert_eq!(run(&[]), ["a_quick.toml", "b_quick.toml", "c_slow.toml"]);
    assert_eq!(run(&[]).first().map(String::as_str), Some("c_slow.toml"));
}

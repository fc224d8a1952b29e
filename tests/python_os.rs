//! `os`/`uos` and `open()` at the REPL of a virtual LoPy4 (virtual time), as a user sees them:
//! `/flash` with the firmware's default files, files that persist across resets, `os.mkfs`
//! wiping only the flash, an SD card that is a host directory and nothing more of the host.

mod support;

use std::path::Path;

use pycom_sim::device::FlashSource;
use support::Rig;

/// Brings the SD card's class to the prompt, as user code does.
const SD_CLASS: &str = "from machine import SD";

fn fresh() -> Rig {
    let mut rig = Rig::new(FlashSource::Fresh);
    rig.boot();
    assert_eq!(rig.line("import os"), ">>> ");
    rig
}

/// A device with an SD card backed by `sd`, `os` imported and the card mounted at `/sd`.
fn with_sd(flash: FlashSource, sd: &Path) -> Rig {
    let mut rig = Rig::spawn("lopy4", flash, Some(sd.to_path_buf()));
    rig.boot();
    assert_eq!(rig.line("import os"), ">>> ");
    mount_sd(&mut rig);
    rig
}

fn mount_sd(rig: &mut Rig) {
    assert_eq!(rig.line(SD_CLASS), ">>> ");
    assert_eq!(rig.line("os.mount(SD(), '/sd')"), ">>> ");
}

/// Runs a compound statement (through paste mode); returns its output without the next prompt.
fn block(rig: &mut Rig, lines: &[&str]) -> String {
    rig.paste(lines)
}

/// Runs `stmt` and prints `e.args` of the OSError it raises.
fn os_error_args(rig: &mut Rig, stmt: &str) -> String {
    let body = format!("    {stmt}");
    block(
        rig,
        &["try:", &body, "except OSError as e:", "    print(e.args)"],
    )
}

/// Runs `stmt` and prints the OSError it raises as `print(e)` shows it.
fn os_error_text(rig: &mut Rig, stmt: &str) -> String {
    let body = format!("    {stmt}");
    block(
        rig,
        &["try:", &body, "except OSError as e:", "    print(e)"],
    )
}

#[test]
fn flash_holds_the_default_files_and_root_lists_the_mounts() {
    let mut rig = fresh();
    assert_eq!(
        rig.eval("os.listdir('/flash')"),
        "['main.py', 'sys', 'lib', 'cert', 'boot.py']\r\n"
    );
    assert_eq!(rig.eval("os.listdir('/')"), "['flash']\r\n");
    assert_eq!(rig.eval("os.getcwd()"), "'/flash'\r\n");
    assert_eq!(
        rig.eval("os.listdir()"),
        "['main.py', 'sys', 'lib', 'cert', 'boot.py']\r\n"
    );
    assert_eq!(
        rig.eval("open('main.py').read()"),
        "'# main.py -- put your code here!\\r\\n'\r\n"
    );
    assert_eq!(
        rig.eval("list(os.ilistdir('/flash'))[:2]"),
        "[('main.py', 32768, 0, 34), ('sys', 16384, 0, 0)]\r\n"
    );
    assert_eq!(rig.eval("os.stat('/flash/lib')[0]"), "16384\r\n");
    assert_eq!(rig.eval("os.stat('/flash/boot.py')[6]"), "29\r\n");
    assert_eq!(rig.eval("os.sep"), "'/'\r\n");
}

#[test]
fn a_written_file_reads_back_and_survives_a_reset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = FlashSource::File(dir.path().join("lopy4.flash"));
    let mut rig = Rig::new(flash);
    rig.boot();
    assert_eq!(rig.eval("f = open('/flash/data.txt', 'w')"), "");
    assert_eq!(rig.eval("f.write('hello\\nworld\\n')"), "12\r\n");
    assert_eq!(rig.eval("f.close()"), "");
    assert_eq!(
        rig.eval("open('/flash/data.txt').read()"),
        "'hello\\nworld\\n'\r\n"
    );
    assert_eq!(
        rig.eval("open('data.txt').readlines()"),
        "['hello\\n', 'world\\n']\r\n"
    );
    assert_eq!(rig.eval("open('data.txt', 'rb').read(5)"), "b'hello'\r\n");
    // Append, context manager, iteration.
    assert_eq!(
        block(
            &mut rig,
            &[
                "with open('data.txt', 'a') as f:",
                "    print(f.write(b'!'))"
            ]
        ),
        "1\r\n"
    );
    assert_eq!(
        rig.eval("[l for l in open('data.txt')]"),
        "['hello\\n', 'world\\n', '!']\r\n"
    );
    // A file that is dropped without close() is written when it is collected.
    assert_eq!(
        rig.eval("open('/flash/dropped.txt', 'w').write('kept')"),
        "4\r\n"
    );

    let text = rig.press_reset();
    assert!(text.ends_with(">>> "), "{text}");
    assert_eq!(
        rig.eval("open('/flash/data.txt').read()"),
        "'hello\\nworld\\n!'\r\n"
    );
    assert_eq!(rig.eval("open('dropped.txt').read()"), "'kept'\r\n");
    assert_eq!(rig.eval("import os; os.stat('data.txt')[6]"), "13\r\n");
}

#[test]
fn seek_tell_and_read_write_modes() {
    let mut rig = fresh();
    assert_eq!(rig.eval("f = open('t.bin', 'w+b')"), "");
    assert_eq!(rig.eval("f.write(b'0123456789')"), "10\r\n");
    assert_eq!(rig.eval("f.seek(4)"), "4\r\n");
    assert_eq!(rig.eval("f.read(3)"), "b'456'\r\n");
    assert_eq!(rig.eval("f.tell()"), "7\r\n");
    assert_eq!(rig.eval("f.seek(-2, 2); f.read()"), "8\r\nb'89'\r\n");
    assert_eq!(
        rig.eval("f.seek(0); f.write(b'AB'); f.flush()"),
        "0\r\n2\r\n"
    );
    assert_eq!(rig.eval("open('t.bin', 'rb').read()"), "b'AB23456789'\r\n");
    assert_eq!(rig.eval("f.close()"), "");
    // 'x' refuses an existing file, 'r+' keeps the content.
    assert_eq!(os_error_args(&mut rig, "open('t.bin', 'x')"), "(17,)\r\n");
    assert_eq!(rig.eval("g = open('t.bin', 'r+')"), "");
    assert_eq!(rig.eval("g.write('xy'); g.close()"), "2\r\n");
    assert_eq!(rig.eval("open('t.bin').read()"), "'xy23456789'\r\n");
    // Text reads count characters, not bytes.
    assert_eq!(rig.eval("open('u.txt', 'w').write('h\\xe9llo')"), "6\r\n");
    assert_eq!(rig.eval("open('u.txt').read(2) == 'h\\xe9'"), "True\r\n");
    // Wrong direction and closed files.
    assert_eq!(
        os_error_args(&mut rig, "open('u.txt').write('no')"),
        "(13,)\r\n"
    );
    assert_eq!(
        os_error_args(&mut rig, "h = open('u.txt'); h.close(); h.read()"),
        "(22,)\r\n"
    );
}

#[test]
fn errors_carry_micropython_errno_numbers() {
    let mut rig = fresh();
    assert_eq!(
        os_error_args(&mut rig, "open('/flash/missing.txt')"),
        "(2,)\r\n"
    );
    assert_eq!(
        os_error_text(&mut rig, "os.stat('nope')"),
        "[Errno 2] ENOENT\r\n"
    );
    assert_eq!(
        block(
            &mut rig,
            &[
                "try:",
                "    os.stat('nope')",
                "except OSError as e:",
                "    print(e.errno, type(e).__name__)"
            ]
        ),
        "2 OSError\r\n"
    );
    assert_eq!(os_error_args(&mut rig, "os.mkdir('lib')"), "(17,)\r\n");
    assert_eq!(os_error_args(&mut rig, "os.remove('lib')"), "(21,)\r\n");
    assert_eq!(os_error_args(&mut rig, "os.rmdir('boot.py')"), "(20,)\r\n");
    assert_eq!(os_error_args(&mut rig, "os.mkdir('a/b')"), "(2,)\r\n");
    assert_eq!(os_error_args(&mut rig, "os.chdir('nope')"), "(2,)\r\n");
    assert_eq!(
        rig.eval("os.mkdir('full'); open('full/x', 'w').close()"),
        ""
    );
    assert_eq!(os_error_args(&mut rig, "os.rmdir('full')"), "(13,)\r\n");
    assert_eq!(rig.eval("os.remove('full/x'); os.rmdir('full')"), "");
    // A missing file at the prompt: an OSError traceback.
    let out = rig.line("open('nope.txt')");
    assert!(
        out.starts_with("Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\nOSError: "),
        "{out}"
    );
    // fsformat's own messages (reference §11.4).
    assert_eq!(
        os_error_text(&mut rig, "os.fsformat('/')"),
        "Cannot format root dir\r\n"
    );
    assert_eq!(
        os_error_text(&mut rig, "os.fsformat('flash')"),
        "flash is not an absolute or invalid path\r\n"
    );
}

#[test]
fn directories_rename_chdir_and_free_space() {
    let mut rig = fresh();
    assert_eq!(rig.eval("os.mkdir('/flash/data')"), "");
    assert_eq!(rig.eval("os.chdir('data')"), "");
    assert_eq!(rig.eval("os.getcwd()"), "'/flash/data'\r\n");
    assert_eq!(rig.eval("open('a.txt', 'w').write('A')"), "1\r\n");
    assert_eq!(rig.eval("os.rename('a.txt', 'b.txt')"), "");
    assert_eq!(rig.eval("os.listdir()"), "['b.txt']\r\n");
    assert_eq!(rig.eval("os.chdir('..'); os.getcwd()"), "'/flash'\r\n");
    assert_eq!(rig.eval("os.chdir('/'); os.listdir()"), "['flash']\r\n");
    assert_eq!(rig.eval("os.chdir('/flash')"), "");
    assert_eq!(rig.eval("os.remove('data/b.txt'); os.rmdir('data')"), "");
    assert_eq!(rig.eval("'data' in os.listdir()"), "False\r\n");
    let free: u64 = rig
        .eval("os.getfree('/flash')")
        .trim()
        .parse()
        .expect("getfree prints KiB");
    // The 8 MB board's 4 MiB FAT volume, nearly empty.
    assert!((3900..4096).contains(&free), "{free}");
    assert_eq!(rig.eval("len(os.statvfs('/flash'))"), "10\r\n");
    assert_eq!(rig.eval("len(os.urandom(16))"), "16\r\n");
    assert_eq!(rig.eval("os.sync()"), "");
}

#[test]
fn uname_names_the_booted_image_and_the_board() {
    let mut rig = fresh();
    assert_eq!(
        rig.eval("os.uname()"),
        "(sysname='LoPy4', nodename='LoPy4', release='1.20.2.r4', \
         version='v1.11-ffb0e1c on 2021-01-12', machine='LoPy4 with ESP32', \
         lorawan='1.0.2', sigfox='1.0.1')\r\n"
    );
    assert_eq!(rig.eval("os.uname().release"), "'1.20.2.r4'\r\n");
    assert_eq!(rig.eval("os.uname()[4]"), "'LoPy4 with ESP32'\r\n");
    assert_eq!(rig.eval("import uos; uos.uname().sysname"), "'LoPy4'\r\n");

    // A board without LoRa or Sigfox has only the five base fields.
    let mut wipy = Rig::spawn("wipy3", FlashSource::Fresh, None);
    wipy.boot();
    assert_eq!(
        wipy.eval("import os; os.uname()"),
        "(sysname='WiPy', nodename='WiPy', release='1.20.2.r4', \
         version='v1.11-ffb0e1c on 2021-01-12', machine='WiPy with ESP32')\r\n"
    );
}

#[test]
fn a_module_written_to_flash_lib_can_be_imported() {
    let mut rig = fresh();
    assert_eq!(
        rig.eval("f = open('/flash/lib/helper.py', 'w'); f.write('def hi():\\n    return 42\\n'); f.close()"),
        "24\r\n"
    );
    assert_eq!(rig.eval("import helper; helper.hi()"), "42\r\n");
}

#[test]
fn the_host_filesystem_is_unreachable() {
    let mut rig = fresh();
    for path in ["/etc/passwd", "/flash/../../etc/passwd", "../etc/passwd"] {
        let args = os_error_args(&mut rig, &format!("open('{path}')"));
        // Outside every mount point: ENODEV, as mp_vfs_lookup_path says.
        assert_eq!(args, "(19,)\r\n", "{path}");
    }
    assert_eq!(os_error_args(&mut rig, "os.listdir('/etc')"), "(19,)\r\n");
    assert_eq!(os_error_args(&mut rig, "open('/tmp/x', 'w')"), "(19,)\r\n");
    assert_eq!(os_error_args(&mut rig, "os.listdir('/sd')"), "(19,)\r\n");
}

#[test]
fn without_an_sd_directory_mounting_the_card_fails() {
    let mut rig = fresh();
    assert_eq!(rig.line(SD_CLASS), ">>> ");
    assert_eq!(
        os_error_text(&mut rig, "os.mount(SD(), '/sd')"),
        "[Errno 19] no SD card: start pycom-sim with --sd DIR\r\n"
    );
    assert_eq!(
        os_error_args(&mut rig, "os.mount(SD(), '/sd')").get(..4),
        Some("(19,")
    );
    assert_eq!(rig.eval("os.listdir('/')"), "['flash']\r\n");
}

#[test]
fn the_sd_card_is_the_host_directory() {
    let sd = tempfile::tempdir().expect("tempdir");
    std::fs::write(sd.path().join("from_host.txt"), b"host data").expect("write");
    std::fs::create_dir(sd.path().join("logs")).expect("mkdir");
    let mut rig = with_sd(FlashSource::Fresh, sd.path());
    assert_eq!(rig.eval("os.listdir('/')"), "['flash', 'sd']\r\n");
    assert_eq!(
        rig.eval("os.listdir('/sd')"),
        "['from_host.txt', 'logs']\r\n"
    );
    assert_eq!(
        rig.eval("open('/sd/from_host.txt').read()"),
        "'host data'\r\n"
    );
    assert_eq!(
        rig.eval("open('/sd/logs/dev.txt', 'w').write('from device')"),
        "11\r\n"
    );
    assert_eq!(
        std::fs::read_to_string(sd.path().join("logs/dev.txt")).expect("written on the host"),
        "from device"
    );
    assert_eq!(rig.eval("os.stat('/sd/logs')[0]"), "16384\r\n");
    assert_eq!(
        rig.eval("os.chdir('/sd/logs'); os.listdir()"),
        "['dev.txt']\r\n"
    );
    assert_eq!(rig.eval("os.rename('dev.txt', '../moved.txt')"), "");
    assert!(sd.path().join("moved.txt").is_file());
    assert_eq!(
        os_error_args(&mut rig, "os.rename('/sd/moved.txt', '/flash/x')"),
        "(18,)\r\n"
    );
    // Unmounting leaves the directory; a soft reset unmounts too.
    assert_eq!(rig.eval("os.umount('/sd'); os.getcwd()"), "'/'\r\n");
    assert_eq!(rig.eval("os.listdir('/')"), "['flash']\r\n");
    mount_sd(&mut rig);
    rig.soft_reset();
    assert_eq!(rig.eval("import os; os.listdir('/')"), "['flash']\r\n");
    assert_eq!(
        os_error_args(&mut rig, "open('/sd/moved.txt')"),
        "(19,)\r\n"
    );
}

#[test]
fn sd_paths_cannot_escape_the_sd_directory() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("secret.txt"), b"secret").expect("write");
    let base = tempfile::tempdir().expect("tempdir");
    let sd = base.path().join("card");
    std::fs::create_dir(&sd).expect("mkdir");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), sd.join("link.txt"))
            .expect("symlink");
        std::os::unix::fs::symlink(outside.path(), sd.join("out")).expect("symlink");
        std::os::unix::fs::symlink(outside.path().join("new.txt"), sd.join("dangling"))
            .expect("symlink");
    }
    let mut rig = with_sd(FlashSource::Fresh, &sd);
    for stmt in [
        "open('/sd/../../etc/passwd')",
        "open('/sd/../card/../x.txt', 'w')",
    ] {
        // `..` is resolved first and stops at `/`: these paths are under no mount point.
        assert_eq!(os_error_args(&mut rig, stmt), "(19,)\r\n", "{stmt}");
    }
    // `..` stops at the card's root.
    assert_eq!(
        rig.eval("os.chdir('/sd'); open('../sd/in.txt', 'w').write('ok')"),
        "2\r\n"
    );
    assert!(sd.join("in.txt").is_file());
    #[cfg(unix)]
    {
        for stmt in [
            "open('/sd/link.txt').read()",
            "open('/sd/link.txt', 'w').write('x')",
            "open('/sd/out/secret.txt').read()",
            "open('/sd/out/new.txt', 'w').write('x')",
            "os.listdir('/sd/out')",
            "os.mkdir('/sd/out/d')",
            "open('/sd/dangling', 'w').write('x')",
        ] {
            assert_eq!(os_error_args(&mut rig, stmt), "(13,)\r\n", "{stmt}");
        }
        // Removing a link removes the link, never its target.
        assert_eq!(rig.eval("os.remove('/sd/link.txt')"), "");
        assert!(!sd.join("link.txt").exists());
    }
    assert_eq!(
        std::fs::read(outside.path().join("secret.txt")).expect("still there"),
        b"secret"
    );
    let outside_names: Vec<_> = std::fs::read_dir(outside.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(outside_names, vec![std::ffi::OsString::from("secret.txt")]);
    let base_names: Vec<_> = std::fs::read_dir(base.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(base_names, vec![std::ffi::OsString::from("card")]);
}

#[test]
fn mkfs_flash_wipes_the_flash_and_the_defaults_return_at_soft_reset() {
    let sd = tempfile::tempdir().expect("tempdir");
    let mut rig = with_sd(FlashSource::Fresh, sd.path());
    assert_eq!(
        rig.eval("open('/flash/mine.py', 'w').write('x = 1')"),
        "5\r\n"
    );
    assert_eq!(rig.eval("open('/sd/keep.txt', 'w').write('card')"), "4\r\n");
    assert_eq!(rig.eval("os.mkfs('/flash')"), "");
    assert_eq!(rig.eval("os.listdir('/flash')"), "[]\r\n");
    assert_eq!(rig.eval("os.listdir('/sd')"), "['keep.txt']\r\n");
    let text = rig.soft_reset();
    assert!(text.contains("PYB: soft reboot\r\n"), "{text}");
    assert_eq!(
        rig.eval("import os; sorted(os.listdir('/flash'))"),
        "['boot.py', 'cert', 'lib', 'main.py', 'sys']\r\n"
    );
    assert_eq!(
        rig.eval("open('/flash/boot.py').read()"),
        "'# boot.py -- run on boot-up\\r\\n'\r\n"
    );
    assert_eq!(
        os_error_args(&mut rig, "open('/flash/mine.py')"),
        "(2,)\r\n"
    );
    assert_eq!(
        std::fs::read(sd.path().join("keep.txt")).expect("untouched"),
        b"card"
    );
}

#[test]
fn fsformat_sd_empties_only_the_sd_directory() {
    let base = tempfile::tempdir().expect("tempdir");
    let sd = base.path().join("card");
    std::fs::create_dir_all(sd.join("d/e")).expect("mkdir");
    std::fs::write(sd.join("d/e/f.txt"), b"f").expect("write");
    std::fs::write(base.path().join("beside.txt"), b"b").expect("write");
    let mut rig = with_sd(FlashSource::Fresh, &sd);
    assert_eq!(
        rig.eval("open('/flash/stays.txt', 'w').write('s')"),
        "1\r\n"
    );
    assert_eq!(rig.eval("os.fsformat('/sd')"), "");
    assert_eq!(rig.eval("os.listdir('/sd')"), "[]\r\n");
    assert!(sd.is_dir());
    assert_eq!(std::fs::read_dir(&sd).expect("read_dir").count(), 0);
    assert!(base.path().join("beside.txt").is_file());
    assert_eq!(rig.eval("open('/flash/stays.txt').read()"), "'s'\r\n");
    assert_eq!(rig.eval("os.umount('/sd')"), "");
    assert_eq!(os_error_args(&mut rig, "os.fsformat('/sd')"), "(19,)\r\n");
}

#[test]
fn an_unclosed_file_is_written_at_soft_reset_but_lost_at_the_reset_button() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = FlashSource::File(dir.path().join("lopy4.flash"));
    let mut rig = Rig::new(flash);
    rig.boot();
    assert_eq!(
        rig.eval("f = open('/flash/soft.txt', 'w'); f.write('soft')"),
        "4\r\n"
    );
    rig.soft_reset();
    assert_eq!(rig.eval("open('/flash/soft.txt').read()"), "'soft'\r\n");
    assert_eq!(
        rig.eval("g = open('/flash/hard.txt', 'w'); g.write('hard')"),
        "4\r\n"
    );
    rig.press_reset();
    // Created by open(), but the data never left the file object.
    assert_eq!(rig.eval("open('/flash/hard.txt').read()"), "''\r\n");
}

#[test]
fn a_module_at_the_root_of_flash_can_be_imported() {
    let mut rig = Rig::with_files(&[("/helper.py", "VALUE = 7\nprint('helper loaded')\n")]);
    rig.boot();
    assert_eq!(
        rig.eval("import helper; helper.VALUE, helper.__file__"),
        "helper loaded\r\n(7, 'helper.py')\r\n"
    );
}

#[test]
fn fsformat_flash_is_the_firmwares_name_for_mkfs() {
    let sd = tempfile::tempdir().expect("tempdir");
    let mut rig = with_sd(FlashSource::Fresh, sd.path());
    assert_eq!(rig.eval("open('/flash/mine.txt', 'w').write('m')"), "1\r\n");
    assert_eq!(rig.eval("open('/sd/card.txt', 'w').write('c')"), "1\r\n");
    assert_eq!(rig.eval("os.fsformat('/flash')"), "");
    assert_eq!(
        rig.eval("os.listdir('/flash'), os.listdir('/sd')"),
        "([], ['card.txt'])\r\n"
    );
    rig.press_reset();
    assert_eq!(
        rig.eval("import os; sorted(os.listdir('/flash'))"),
        "['boot.py', 'cert', 'lib', 'main.py', 'sys']\r\n"
    );
    assert_eq!(
        std::fs::read(sd.path().join("card.txt")).expect("kept"),
        b"c"
    );
}

#[test]
fn mkfat_makes_a_fat_volume_of_the_sd_card_to_mount_or_format() {
    let sd = tempfile::tempdir().expect("tempdir");
    std::fs::write(sd.path().join("old.txt"), b"old").expect("write");
    let mut rig = Rig::spawn("lopy4", FlashSource::Fresh, Some(sd.path().to_path_buf()));
    rig.boot();
    rig.run_lines(&["import os", "from machine import SD", "sd = SD()"]);
    assert_eq!(
        rig.eval("vfs = os.mkfat(sd); os.mount(vfs, '/sd'); os.listdir('/sd')"),
        "['old.txt']\r\n"
    );
    assert_eq!(
        rig.eval("os.umount('/sd'); os.mkfat.mkfs(sd); os.mount(sd, '/sd'); os.listdir('/sd')"),
        "[]\r\n"
    );
    assert_eq!(std::fs::read_dir(sd.path()).expect("read_dir").count(), 0);
    assert_eq!(
        os_error_args(&mut rig, "os.mkfat(42)"),
        "(19, 'pycom-sim has FAT volumes only on machine.SD()')\r\n"
    );
}

#[test]
fn dupterm_moves_the_repl_to_a_stream_and_back() {
    let mut rig = fresh();
    // The frozen _boot.py put the terminal on UART0.
    assert_eq!(
        rig.eval("u = os.dupterm(); u"),
        "UART(0, baudrate=115200, bits=8, parity=None, stop=1)\r\n"
    );
    rig.paste(&[
        "class Term:",
        "    def __init__(self, typed):",
        "        self.typed, self.out = typed, b''",
        "    def read(self, n):",
        "        got, self.typed = self.typed[:n], self.typed[n:]",
        "        return got",
        "    def write(self, b):",
        "        self.out += b",
        "        return len(b)",
    ]);
    // The REPL reads the stream, answers into it, and goes back to UART0 when told.
    rig.run_lines(&["t = Term(b'x = 6 * 7\\ros.dupterm(u)\\r')"]);
    assert_eq!(rig.type_line("os.dupterm(t)"), "os.dupterm(t)\r\n>>> ");
    assert_eq!(
        rig.eval("t.out"),
        "b'>>> x = 6 * 7\\r\\n>>> os.dupterm(u)\\r\\n'\r\n"
    );
    assert_eq!(rig.eval("x"), "42\r\n");
    // Something that is not a stream is refused.
    assert!(
        rig.eval("os.dupterm(42)")
            .ends_with("AttributeError: 'int' object has no attribute 'read'\r\n")
    );
    // A stream that fails gives the terminal back to UART0, with the reason.
    rig.paste(&[
        "class Bad:",
        "    def write(self, b): raise OSError(5)",
        "    def read(self, n): return b''",
    ]);
    let text = rig.type_line("os.dupterm(Bad())");
    assert!(
        text.contains("dupterm: Exception in write() method, the REPL is back on UART0: "),
        "{text}"
    );
    assert_eq!(rig.eval("print('and here')"), "and here\r\n");
}

#[test]
fn dupterm_none_takes_the_repl_off_uart0_until_a_reset() {
    let mut rig = fresh();
    // The page's "you disabled the UART": nothing answers any more, whatever is typed.
    assert_eq!(rig.type_line("os.dupterm(None)"), "os.dupterm(None)\r\n");
    assert_eq!(rig.type_line("print('anyone?')"), "");
    assert_eq!(rig.type_bytes(b"\x04"), "");
    let text = rig.press_reset();
    assert!(text.ends_with(">>> "), "{text}");
    assert_eq!(rig.eval("print('back')"), "back\r\n");
}

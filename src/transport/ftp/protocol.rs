//! The FTP server's words, with no I/O: command lines as the firmware parses them
//! (`ftp_pop_command`, `ftp_pop_param` in `esp32/ftp/ftp.c`), its replies, its path arithmetic
//! (`ftp_open_child`, `ftp_close_child`) and its listing lines. Kept pure so it can be fuzzed
//! and tested without sockets.

/// One command line from a client, as the firmware tells them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Feat,
    Syst,
    Cdup,
    Cwd(String),
    /// `PWD` and `XPWD`.
    Pwd,
    Size(String),
    Mdtm(String),
    Type,
    User(String),
    Pass(String),
    Pasv,
    /// `LIST`: the firmware lists the current directory whatever the argument says.
    List,
    Retr(String),
    Stor(String),
    Dele(String),
    Rmd(String),
    Mkd(String),
    Rnfr(String),
    Rnto(String),
    Noop,
    Quit,
    /// Anything else (`EPSV`, `PORT`, `NLST`, `MLSD`, …): `502`. Holds the command word.
    Unknown(String),
}

impl Request {
    /// USER, PASS and QUIT are the only commands answered before a login (others get `332`).
    pub fn allowed_before_login(&self) -> bool {
        matches!(self, Request::User(_) | Request::Pass(_) | Request::Quit)
    }
}

/// Parses one command line (its CR LF optional). Never fails: what the firmware would not
/// recognise is [`Request::Unknown`]. The command word is matched without regard to case; the
/// parameter runs to the end of the line (spaces included, as file names may have them),
/// except for USER and PASS, which stop at a space. A NUL ends the line, as in the C string the
/// firmware parses; bytes that are not UTF-8 are replaced.
pub fn parse_command(line: &[u8]) -> Request {
    let end = line
        .iter()
        .position(|&b| b == b'\r' || b == b'\n' || b == 0)
        .unwrap_or(line.len());
    let line = String::from_utf8_lossy(line.get(..end).unwrap_or_default());
    let (word, rest) = match line.split_once(' ') {
        Some((w, r)) => (w, r),
        None => (line.as_ref(), ""),
    };
    let param = rest.to_string();
    let word_param = || rest.split(' ').next().unwrap_or_default().to_string();
    match word.to_ascii_uppercase().as_str() {
        "FEAT" => Request::Feat,
        "SYST" => Request::Syst,
        "CDUP" => Request::Cdup,
        "CWD" => Request::Cwd(param),
        "PWD" | "XPWD" => Request::Pwd,
        "SIZE" => Request::Size(param),
        "MDTM" => Request::Mdtm(param),
        "TYPE" => Request::Type,
        "USER" => Request::User(word_param()),
        "PASS" => Request::Pass(word_param()),
        "PASV" => Request::Pasv,
        "LIST" => Request::List,
        "RETR" => Request::Retr(param),
        "STOR" => Request::Stor(param),
        "DELE" => Request::Dele(param),
        "RMD" => Request::Rmd(param),
        "MKD" => Request::Mkd(param),
        "RNFR" => Request::Rnfr(param),
        "RNTO" => Request::Rnto(param),
        "NOOP" => Request::Noop,
        "QUIT" => Request::Quit,
        other => Request::Unknown(other.chars().take(16).collect()),
    }
}

/// A reply line: `"<code> <text>\r\n"`; the firmware's text is usually empty (`"331 \r\n"`).
pub fn reply(code: u16, text: &str) -> Vec<u8> {
    // A reply is one line: nothing a client sent (a file name) may end it early.
    let text: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    format!("{code} {text}\r\n").into_bytes()
}

/// The greeting (`220`).
pub const GREETING: &str = "Micropython FTP Server";

/// The path the firmware takes as a firmware update instead of a file (`updater.c`).
pub const OTA_PATH: &str = "/flash/sys/appimg.bin";

/// `ftp_open_child`: `param` against the current directory `cwd` (an absolute `param` replaces
/// it), no trailing `/`. Unlike the firmware, `.` and `..` are resolved here (never above `/`),
/// so no path a client sends reaches the filesystem with them in it.
pub fn child(cwd: &str, param: &str) -> String {
    let joined = if param.starts_with('/') {
        param.to_string()
    } else {
        format!("{cwd}/{param}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `ftp_close_child` (CDUP): the parent of `cwd`; `/` stays `/`.
pub fn parent(cwd: &str) -> String {
    match cwd.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((head, _)) => head.to_string(),
    }
}

/// The firmware's month names, August included (`"Ago"`).
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Ago", "Sep", "Oct", "Nov", "Dec",
];

/// A time in seconds since 1970 as (year, month 1-12, day, hour, minute, second), UTC.
pub fn civil(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a proleptic Gregorian date, counting in 400-year eras that
    // start on 1 March (so the leap day is the last day of a year).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// More than this between the clock and a file's time shows the year instead of `HH:MM`.
const HALF_YEAR_SECS: i64 = 15_552_000;

/// The volume date of the root listing (`FTP_UNIX_TIME_20150101 - FTP_UNIX_TIME_20000101`
/// read as seconds since 1970: 1 Jan 1985, §16.3).
pub const VOLUME_MTIME: u64 = 1_420_070_400 - 946_684_800;

/// One listing line, as `ftp_print_eplf_item` / `ftp_print_eplf_drive` print it:
/// `drw-rw-r--   1 root  root         0 Jan  1 00:00 flash`. `now` is the device clock in
/// seconds since 1970 (its RTC starts at 1970 at every boot).
pub fn list_line(is_dir: bool, size: u64, mtime: u64, now: u64, name: &str) -> String {
    let (year, month, day, hour, minute, _) = civil(mtime);
    let kind = if is_dir { 'd' } else { '-' };
    let month = MONTHS
        .get(usize::try_from(month.saturating_sub(1)).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    let age = i64::try_from(now)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(mtime).unwrap_or(i64::MAX));
    // The firmware prints the size as a 32-bit number.
    let size = size & 0xFFFF_FFFF;
    let when = if age > HALF_YEAR_SECS {
        format!("{year:5}")
    } else {
        format!("{hour:02}:{minute:02}")
    };
    format!("{kind}rw-rw-r--   1 root  root {size:9} {month} {day:2} {when} {name}\r\n")
}

/// `MDTM`'s answer: `YYYYMMDDHHMMSS`.
pub fn mdtm(mtime: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(mtime);
    format!("{y}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// `PASV`'s answer text: `(a,b,c,d,p1,p2)`.
pub fn pasv_text(ip: std::net::Ipv4Addr, port: u16) -> String {
    let [a, b, c, d] = ip.octets();
    format!("({a},{b},{c},{d},{},{})", port >> 8, port & 0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_matched_without_case_and_keep_spaces_in_paths() {
        assert_eq!(
            parse_command(b"user micro\r\n"),
            Request::User("micro".into())
        );
        assert_eq!(
            parse_command(b"PASS python extra\r\n"),
            Request::Pass("python".into())
        );
        assert_eq!(
            parse_command(b"STOR my file.txt\r\n"),
            Request::Stor("my file.txt".into())
        );
        assert_eq!(parse_command(b"xpwd"), Request::Pwd);
        assert_eq!(parse_command(b"LIST -la\r\n"), Request::List);
        assert_eq!(parse_command(b"EPSV\r\n"), Request::Unknown("EPSV".into()));
        assert_eq!(parse_command(b""), Request::Unknown(String::new()));
        // A NUL ends the C string the firmware parses.
        assert_eq!(parse_command(b"CWD a\0b\r\n"), Request::Cwd("a".into()));
        assert_eq!(
            parse_command(&[b'R', b'E', b'T', b'R', b' ', 0xFF, b'x']),
            Request::Retr("\u{FFFD}x".into())
        );
        assert!(Request::Quit.allowed_before_login());
        assert!(!Request::List.allowed_before_login());
    }

    #[test]
    fn replies_are_one_line_each() {
        assert_eq!(reply(331, ""), b"331 \r\n");
        assert_eq!(reply(550, "a\r\nb"), b"550 ab\r\n");
    }

    #[test]
    fn paths_follow_the_current_directory_and_never_climb_above_root() {
        assert_eq!(child("/", "flash"), "/flash");
        assert_eq!(child("/flash", "lib/"), "/flash/lib");
        assert_eq!(child("/flash/lib", "/sd"), "/sd");
        assert_eq!(child("/flash", "../../.."), "/");
        assert_eq!(child("/flash", "./a/../b"), "/flash/b");
        assert_eq!(parent("/flash/lib"), "/flash");
        assert_eq!(parent("/flash"), "/");
        assert_eq!(parent("/"), "/");
    }

    #[test]
    fn listing_lines_are_the_firmwares() {
        assert_eq!(
            list_line(true, 0, VOLUME_MTIME, 5, "flash"),
            "drw-rw-r--   1 root  root         0 Jan  1 00:00 flash\r\n"
        );
        // FAT's 1980-01-01, an hour after a boot.
        assert_eq!(
            list_line(false, 1234, 315_532_800, 3600, "main.py"),
            "-rw-rw-r--   1 root  root      1234 Jan  1 00:00 main.py\r\n"
        );
        // A clock set to 2026 shows an older file's year; August is "Ago".
        let aug_2025 = 1_754_049_600; // 2025-08-01 12:00 UTC
        assert_eq!(
            list_line(false, 7, aug_2025, 1_780_000_000, "x"),
            "-rw-rw-r--   1 root  root         7 Ago  1  2025 x\r\n"
        );
        assert_eq!(mdtm(aug_2025), "20250801120000");
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(
            pasv_text(std::net::Ipv4Addr::new(127, 0, 0, 1), 2024),
            "(127,0,0,1,7,232)"
        );
    }
}

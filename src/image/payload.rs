//! What the segments of a pycom-sim image carry: the IDF app description, the Pycom descriptor and
//! the frozen-module archive. The formats are documented in the parent module.

use super::ImageError;

/// `ESP_APP_DESC_MAGIC_WORD`.
pub(crate) const APP_DESC_MAGIC: u32 = 0xABCD_5432;
/// `sizeof(esp_app_desc_t)`.
pub(crate) const APP_DESC_LEN: usize = 256;
/// What `project_name` says, so `esptool image_info` names the simulator as the image's maker.
pub(crate) const PROJECT_NAME: &str = "pycom-sim";
/// The ESP-IDF release Pycom 1.20 firmware was built with, for `idf_ver`.
pub(crate) const IDF_VERSION: &str = "v3.3.1";

pub(crate) const DESCRIPTOR_MAGIC: &[u8; 8] = b"PYCOMDSC";
pub(crate) const ARCHIVE_MAGIC: &[u8; 8] = b"PYFROZEN";
/// Layout version of both the descriptor and the archive; bumped on any incompatible change so an
/// older simulator says "too new" instead of misreading.
pub(crate) const FORMAT_VERSION: u16 = 1;

/// The fields of `esp_app_desc_t` that the simulator reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppDesc {
    pub version: String,
    pub project_name: String,
    pub idf_ver: String,
}

/// Copies `s` into a fixed NUL-padded C string field, keeping the last byte NUL as C expects.
fn put_cstr(out: &mut Vec<u8>, s: &str, width: usize) {
    let take = floor_char_boundary(s, width - 1);
    out.extend_from_slice(&s.as_bytes()[..take]);
    out.resize(out.len() + (width - take), 0);
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

/// `2021-01-12` → `Jan 12 2021`, the `__DATE__` form IDF stores; anything else is stored as given.
fn c_date(iso: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = iso.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return iso.to_owned();
    };
    match (m.parse::<usize>(), d.parse::<u8>()) {
        (Ok(m @ 1..=12), Ok(d)) => format!("{} {d:>2} {y}", MONTHS[m - 1]),
        _ => iso.to_owned(),
    }
}

/// `esp_app_desc_t`, 256 bytes. `time` is fixed at midnight because images must be reproducible
/// (no clock); `app_elf_sha256` has no ELF to hash, so it carries the caller's content hash.
pub(crate) fn app_desc(version: &str, build_date: &str, content_sha256: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(APP_DESC_LEN);
    out.extend_from_slice(&APP_DESC_MAGIC.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // secure_version
    out.extend_from_slice(&[0; 8]); // reserv1
    put_cstr(&mut out, version, 32);
    put_cstr(&mut out, PROJECT_NAME, 32);
    put_cstr(&mut out, "00:00:00", 16);
    put_cstr(&mut out, &c_date(build_date), 16);
    put_cstr(&mut out, IDF_VERSION, 32);
    out.extend_from_slice(content_sha256);
    out.resize(APP_DESC_LEN, 0); // eFuse/MMU fields (unset on IDF v3.3) and reserv2
    out
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Reads the app description at the start of the first segment; `base` is its file offset.
pub(crate) fn parse_app_desc(data: &[u8], base: usize) -> Result<AppDesc, ImageError> {
    let desc = data.get(..APP_DESC_LEN).ok_or_else(|| ImageError::AppDesc {
        offset: base,
        reason: format!(
            "the first segment is {} bytes, too short for the {APP_DESC_LEN}-byte esp_app_desc_t",
            data.len()
        ),
    })?;
    let magic = u32::from_le_bytes([desc[0], desc[1], desc[2], desc[3]]);
    if magic != APP_DESC_MAGIC {
        return Err(ImageError::AppDesc {
            offset: base,
            reason: format!("magic word is {magic:#010x}, expected {APP_DESC_MAGIC:#010x}"),
        });
    }
    Ok(AppDesc {
        version: cstr(&desc[16..48]),
        project_name: cstr(&desc[48..80]),
        idf_ver: cstr(&desc[112..144]),
    })
}

/// Appends a u16-length-prefixed UTF-8 string, cut (at a char boundary) if it cannot fit —
/// `validate_spec` refuses such strings long before they get here.
fn put_str16(out: &mut Vec<u8>, s: &str) {
    let take = floor_char_boundary(s, usize::from(u16::MAX));
    let len = u16::try_from(take).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..take]);
}

fn len_u16(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(u16::MAX).to_le_bytes()
}

/// The Pycom descriptor that follows the app description (format in the parent module).
pub(crate) fn descriptor(
    version: &str,
    git_tag: &str,
    build_date: &str,
    boards: &[String],
) -> Vec<u8> {
    let boards = &boards[..boards.len().min(usize::from(u16::MAX))];
    let mut out = Vec::new();
    out.extend_from_slice(DESCRIPTOR_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&len_u16(boards.len()));
    put_str16(&mut out, version);
    put_str16(&mut out, git_tag);
    put_str16(&mut out, build_date);
    for board in boards {
        put_str16(&mut out, board);
    }
    out
}

/// The frozen-module archive (format in the parent module).
pub(crate) fn archive(frozen: &[(String, String)]) -> Vec<u8> {
    let frozen = &frozen[..frozen.len().min(usize::from(u16::MAX))];
    let mut out = Vec::new();
    out.extend_from_slice(ARCHIVE_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&len_u16(frozen.len()));
    for (name, source) in frozen {
        let name_len = floor_char_boundary(name, usize::from(u16::MAX));
        let source_len = floor_char_boundary(source, u32::MAX as usize);
        out.extend_from_slice(&len_u16(name_len));
        out.extend_from_slice(&u32::try_from(source_len).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&name.as_bytes()[..name_len]);
        out.extend_from_slice(&source.as_bytes()[..source_len]);
    }
    out
}

/// A bounds-checked little-endian reader whose errors carry the absolute file offset.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], base: usize) -> Self {
        Reader { data, pos: 0, base }
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], (usize, String)> {
        let out = self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
            .ok_or_else(|| {
                (
                    self.offset(),
                    format!(
                        "{what} needs {n} bytes but the segment ends {} bytes later",
                        self.data.len().saturating_sub(self.pos)
                    ),
                )
            })?;
        self.pos += n;
        Ok(out)
    }

    fn u16(&mut self, what: &str) -> Result<u16, (usize, String)> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, (usize, String)> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn utf8(&mut self, n: usize, what: &str) -> Result<String, (usize, String)> {
        let at = self.offset();
        let b = self.bytes(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|e| (at, format!("{what} is not valid UTF-8: {e}")))
    }

    fn str16(&mut self, what: &str) -> Result<String, (usize, String)> {
        let n = self.u16(what)?;
        self.utf8(usize::from(n), what)
    }

    /// Magic and layout version, shared by descriptor and archive.
    fn preamble(&mut self, magic: &[u8; 8], what: &str) -> Result<(), (usize, String)> {
        let found = self.bytes(8, what)?;
        if found != magic {
            return Err((
                self.base,
                format!(
                    "expected the {what} magic {:?}, found {:?}",
                    String::from_utf8_lossy(magic),
                    String::from_utf8_lossy(found)
                ),
            ));
        }
        let at = self.offset();
        let version = self.u16("format version")?;
        if version != FORMAT_VERSION {
            return Err((
                at,
                format!(
                    "{what} format version {version} is not {FORMAT_VERSION}; \
                     the image was made by a different pycom-sim release"
                ),
            ));
        }
        Ok(())
    }
}

/// The descriptor fields: (version, git tag, build date, boards).
pub(crate) type Descriptor = (String, String, String, Vec<String>);

/// Reads the descriptor; `base` is the file offset of `data`.
pub(crate) fn parse_descriptor(data: &[u8], base: usize) -> Result<Descriptor, ImageError> {
    let mut r = Reader::new(data, base);
    let parsed = (|| {
        r.preamble(DESCRIPTOR_MAGIC, "Pycom descriptor")?;
        let count = r.u16("board count")?;
        let version = r.str16("version")?;
        let git_tag = r.str16("git tag")?;
        let date = r.str16("build date")?;
        let boards = (0..count)
            .map(|_| r.str16("board id"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((version, git_tag, date, boards))
    })();
    parsed.map_err(|(offset, reason)| ImageError::Descriptor { offset, reason })
}

/// Reads the frozen-module archive; `base` is the file offset of `data`.
pub(crate) fn parse_archive(data: &[u8], base: usize) -> Result<Vec<(String, String)>, ImageError> {
    let mut r = Reader::new(data, base);
    let parsed = (|| {
        r.preamble(ARCHIVE_MAGIC, "frozen-module archive")?;
        let count = r.u16("module count")?;
        let mut modules = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let name_len = r.u16("module name length")?;
            let source_len = r.u32("module source length")?;
            let name = r.utf8(usize::from(name_len), "module name")?;
            let source = r.utf8(source_len as usize, "module source")?;
            modules.push((name, source));
        }
        Ok(modules)
    })();
    parsed.map_err(|(offset, reason)| ImageError::Archive { offset, reason })
}

/// Whether a segment's data begins like an archive: how the parser finds the archive segment
/// without depending on segment order.
pub(crate) fn is_archive(data: &[u8]) -> bool {
    data.starts_with(ARCHIVE_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_desc_is_256_bytes_with_fields_where_esptool_reads_them() {
        let d = app_desc("1.20.2.r4", "2021-01-12", &[7; 32]);
        assert_eq!(d.len(), APP_DESC_LEN);
        assert_eq!(&d[..4], &APP_DESC_MAGIC.to_le_bytes());
        assert_eq!(cstr(&d[16..48]), "1.20.2.r4");
        assert_eq!(cstr(&d[48..80]), "pycom-sim");
        assert_eq!(cstr(&d[96..112]), "Jan 12 2021");
        assert_eq!(&d[144..176], &[7; 32]);
    }

    #[test]
    fn c_date_pads_single_digit_days_like_dunder_date() {
        assert_eq!(c_date("2020-06-02"), "Jun  2 2020");
        assert_eq!(c_date("nonsense"), "nonsense");
    }

    #[test]
    fn long_fields_are_cut_on_char_boundaries() {
        let mut out = Vec::new();
        put_cstr(&mut out, &"é".repeat(40), 32);
        assert_eq!(out.len(), 32);
        assert!(std::str::from_utf8(&out[..30]).is_ok());
    }

    #[test]
    fn archive_round_trips() {
        let modules = vec![
            ("a.py".to_owned(), "x = 1\n".to_owned()),
            ("b.py".to_owned(), String::new()),
        ];
        assert_eq!(parse_archive(&archive(&modules), 0).ok(), Some(modules));
    }
}

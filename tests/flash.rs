//! The flash file: factory-fresh layout, NOR semantics, refusing files it must not touch,
//! persistence, and the `/flash` FAT filesystem inside it.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use md5::{Digest, Md5};
use pycom_boot::BootInfo;
use pycom_sim::board::{Board, PartitionDef};
use pycom_sim::flash::{Created, FlashError, FlashFile, OpenOptions};
use pycom_sim::fs::{self, BOOT_PY, FsError, MAIN_PY};
use pycom_sim::partition::{PartitionEntry, PartitionError, PartitionTable, TABLE_OFFSET};

fn part(name: &str, kind: &str, subtype: &str, offset: u32, size: u32) -> PartitionDef {
    PartitionDef {
        name: name.to_owned(),
        kind: kind.to_owned(),
        subtype: subtype.to_owned(),
        offset,
        size,
    }
}

/// A 4 MB board (LoPy): reference §5.2, `partitions_4MB.csv`.
fn lopy() -> Board {
    let board = Board::builtin("lopy").expect("built-in lopy");
    let reference = [
        ("nvs", 0x9000, 0x7000),
        ("factory", 0x10000, 0x1AE000),
        ("otadata", 0x1BE000, 0x1000),
        ("ota_0", 0x1C0000, 0x1AE000),
        ("dummy", 0x36E000, 0x10000),
        ("fs", 0x380000, 0x7F000),
        ("config", 0x3FF000, 0x1000),
    ];
    check_layout(&board, 0x400000, &reference, (0x380000, 0x7F000));
    board
}

/// An 8 MB board (LoPy4): reference §5.3, `partitions_8MB.csv`, fs outside the table.
fn lopy4() -> Board {
    let board = Board::builtin("lopy4").expect("built-in lopy4");
    let reference = [
        ("nvs", 0x9000, 0x7000),
        ("factory", 0x10000, 0x1EF000),
        ("otadata", 0x1FF000, 0x1000),
        ("ota_0", 0x210000, 0x1EF000),
        ("config", 0x3FF000, 0x1000),
    ];
    check_layout(&board, 0x800000, &reference, (0x400000, 0x400000));
    board
}

/// The tests below are about the reference layouts; make sure the board files still are.
fn check_layout(board: &Board, size: u32, parts: &[(&str, u32, u32)], fs: (u32, u32)) {
    assert_eq!(board.flash_size, size);
    let got: Vec<(&str, u32, u32)> = board
        .partitions
        .iter()
        .map(|p| (p.name.as_str(), p.offset, p.size))
        .collect();
    assert_eq!(got, parts);
    assert_eq!((board.fs.offset, board.fs.size), fs);
    assert_eq!((board.config.offset, board.config.size), (0x3FF000, 0x1000));
}

/// A stand-in firmware image: starts with the ESP image magic, length not a sector multiple.
fn image() -> Vec<u8> {
    let mut img: Vec<u8> = (0..100_003u32).map(|i| (i * 7 + i / 251) as u8).collect();
    img[0] = 0xE9;
    img
}

fn open(path: &Path, board: &Board, reformat: bool) -> Result<(FlashFile, Created), FlashError> {
    FlashFile::open_or_create(path, board, &image(), OpenOptions { reformat })
}

fn slice(bytes: &[u8], offset: u32, len: usize) -> &[u8] {
    &bytes[offset as usize..offset as usize + len]
}

fn md5_of(path: &Path) -> Vec<u8> {
    Md5::digest(std::fs::read(path).expect("read flash file")).to_vec()
}

/// Checks everything a factory-fresh flash must hold, reading the file from disk.
fn check_fresh(path: &Path, board: &Board) {
    let bytes = std::fs::read(path).expect("read flash file");
    assert_eq!(bytes.len(), board.flash_size as usize, "file size");

    // Partition table: parses, MD5 entry right after the entries, padded with 0xFF.
    let table_bytes = slice(&bytes, TABLE_OFFSET, 0x1000);
    let table = PartitionTable::decode(table_bytes, TABLE_OFFSET).expect("table parses");
    let expected = PartitionTable::from_board(board).expect("board table");
    assert_eq!(table, expected);
    let n = board.partitions.len();
    for (i, def) in board.partitions.iter().enumerate() {
        let e = &table.entries[i];
        assert_eq!(
            (e.name.as_str(), e.offset, e.size),
            (def.name.as_str(), def.offset, def.size)
        );
        assert_eq!(&table_bytes[i * 32..i * 32 + 2], &[0xAA, 0x50]);
    }
    let md5_entry = &table_bytes[n * 32..n * 32 + 32];
    assert_eq!(&md5_entry[..2], &[0xEB, 0xEB]);
    assert!(md5_entry[2..16].iter().all(|&b| b == 0xFF));
    assert_eq!(&md5_entry[16..], &Md5::digest(&table_bytes[..n * 32])[..]);
    assert!(table_bytes[(n + 1) * 32..].iter().all(|&b| b == 0xFF));

    // otadata: a valid record pointing at the factory slot, sized to the image.
    let otadata = table.otadata().expect("otadata");
    let record: [u8; 40] = slice(&bytes, otadata.offset, 40)
        .try_into()
        .expect("40 bytes");
    let info = BootInfo::decode(&record);
    assert!(info.is_valid(), "{info:?}");
    assert_eq!(info.active_img, 0);
    assert_eq!(info.prev_img, 0);
    assert_eq!(info.status, 1);
    assert_eq!(info.safeboot, 0);
    assert_eq!(info.size as usize, image().len());
    assert!(
        slice(&bytes, otadata.offset + 40, 0x1000 - 40)
            .iter()
            .all(|&b| b == 0xFF)
    );

    // The image in the factory slot, nothing in ota_0.
    let img = image();
    assert_eq!(slice(&bytes, 0x10000, img.len()), &img[..]);
    assert_eq!(bytes[0x10000 + img.len()], 0xFF);
    let ota0 = table.ota_0().expect("ota_0");
    assert!(
        slice(&bytes, ota0.offset, 0x1000)
            .iter()
            .all(|&b| b == 0xFF)
    );

    // Config block: boot_fs_type = FAT, the rest erased.
    let config = slice(&bytes, board.config.offset, 0x1000);
    assert_eq!(config[533], 0);
    for (i, &b) in config.iter().enumerate() {
        if i != 533 {
            assert_eq!(b, 0xFF, "config byte {i}");
        }
    }

    // The fs region, mounted by fatfs straight from the file's bytes.
    let region = slice(&bytes, board.fs.offset, board.fs.size as usize).to_vec();
    let volume =
        fatfs::FileSystem::new(Cursor::new(region), fatfs::FsOptions::new()).expect("FAT mounts");
    assert!(matches!(
        volume.fat_type(),
        fatfs::FatType::Fat12 | fatfs::FatType::Fat16
    ));
    let root = volume.root_dir();
    let read = |name: &str| {
        let mut out = Vec::new();
        root.open_file(name)
            .expect("file exists")
            .read_to_end(&mut out)
            .expect("read");
        out
    };
    assert_eq!(read("boot.py"), BOOT_PY);
    assert_eq!(read("main.py"), MAIN_PY);
    for dir in ["sys", "lib", "cert"] {
        root.open_dir(dir).expect("dir exists");
    }
}

fn fresh(board: &Board) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/dirs/flash.bin");
    let (_, created) = open(&path, board, false).expect("create");
    assert_eq!(created, Created::New);
    (dir, path)
}

#[test]
fn new_4mb_flash_is_factory_fresh() {
    let board = lopy();
    let (_dir, path) = fresh(&board);
    check_fresh(&path, &board);
}

#[test]
fn new_8mb_flash_is_factory_fresh() {
    let board = lopy4();
    let (_dir, path) = fresh(&board);
    check_fresh(&path, &board);
}

#[test]
fn fs_helpers_see_the_default_files() {
    for board in [lopy(), lopy4()] {
        let mut flash = FlashFile::in_memory(&board, &image()).expect("in memory");
        let r = board.fs;
        assert_eq!(
            fs::read_file(&mut flash, r, "/boot.py").expect("boot.py"),
            BOOT_PY
        );
        assert_eq!(
            fs::read_file(&mut flash, r, "/main.py").expect("main.py"),
            MAIN_PY
        );
        let mut names: Vec<(String, bool)> = fs::list_dir(&mut flash, r, "/")
            .expect("list")
            .into_iter()
            .map(|e| (e.name, e.is_dir))
            .collect();
        names.sort();
        let expected: Vec<(String, bool)> = [
            ("boot.py", false),
            ("cert", true),
            ("lib", true),
            ("main.py", false),
            ("sys", true),
        ]
        .iter()
        .map(|(n, d)| ((*n).to_owned(), *d))
        .collect();
        assert_eq!(names, expected);
        assert!(fs::list_dir(&mut flash, r, "/lib").expect("lib").is_empty());
        let stats = fs::stats(&mut flash, r).expect("stats");
        assert!(stats.free_clusters > 0 && stats.free_clusters < stats.total_clusters);
    }
}

#[test]
fn in_memory_flash_matches_a_new_file() {
    let board = lopy();
    let (_dir, path) = fresh(&board);
    let flash = FlashFile::in_memory(&board, &image()).expect("in memory");
    assert!(std::fs::read(&path).expect("read") == flash.contents().expect("read flash"));
}

#[test]
fn partition_entry_bytes_match_gen_esp32part() {
    let table = PartitionTable::from_board(&lopy()).expect("table");
    let bytes = table.encode().expect("encode");
    assert_eq!(bytes.len(), 0xC00);
    // nvs,data,nvs,0x9000,0x7000 as struct.pack('<2sBBLL16sL', ...)
    let mut nvs = vec![
        0xAA, 0x50, 0x01, 0x02, 0x00, 0x90, 0x00, 0x00, 0x00, 0x70, 0x00, 0x00,
    ];
    nvs.extend_from_slice(b"nvs");
    nvs.extend_from_slice(&[0; 13 + 4]);
    assert_eq!(&bytes[..32], &nvs[..]);
    // ota_0 is app/0x10; the custom fs subtype 5 stays a number.
    assert_eq!(&bytes[3 * 32 + 2..3 * 32 + 4], &[0x00, 0x10]);
    assert_eq!(&bytes[5 * 32 + 2..5 * 32 + 4], &[0x01, 0x05]);
    assert_eq!(table.entries[3].subtype_name(), "ota_0");
    assert_eq!(table.entries[2].subtype_name(), "ota");
}

#[test]
fn partition_decode_errors_name_the_offset() {
    let table = PartitionTable::from_board(&lopy4()).expect("table");
    let good = table.encode().expect("encode");

    let mut renamed = good.clone();
    renamed[64 + 12] = b'O'; // otadata -> Otadata: the MD5 no longer matches
    assert_eq!(
        PartitionTable::decode(&renamed, TABLE_OFFSET),
        Err(PartitionError::Md5Mismatch {
            addr: 0x80A0,
            stored: hex(&good[0xB0..0xC0]),
            computed: hex(&Md5::digest(&renamed[..0xA0])),
        })
    );
    let mut no_magic = good.clone();
    no_magic[64] = 0x12;
    no_magic[65] = 0x34;
    let err = PartitionTable::decode(&no_magic, TABLE_OFFSET).expect_err("bad magic");
    assert!(
        matches!(err, PartitionError::BadMagic { addr: 0x8040, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("0x8040"), "{err}");

    let erased = vec![0xFF; 0xC00];
    assert_eq!(
        PartitionTable::decode(&erased, TABLE_OFFSET),
        Err(PartitionError::Empty { addr: 0x8000 })
    );
    // No MD5 entry at all is accepted, like gen_esp32part.
    let mut no_md5 = good[..5 * 32].to_vec();
    no_md5.resize(0xC00, 0xFF);
    assert_eq!(PartitionTable::decode(&no_md5, TABLE_OFFSET), Ok(table));

    let long = part("a_name_that_is_too_long", "data", "nvs", 0x9000, 0x1000);
    assert!(matches!(
        PartitionEntry::from_def(&long),
        Err(PartitionError::NameTooLong { .. })
    ));
    let odd = part("x", "data", "sparkly", 0x9000, 0x1000);
    assert!(matches!(
        PartitionEntry::from_def(&odd),
        Err(PartitionError::UnknownSubtype { .. })
    ));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn nor_semantics() {
    let board = lopy();
    let (_dir, path) = fresh(&board);
    let (mut flash, created) = open(&path, &board, false).expect("open");
    assert_eq!(created, Created::Existing);
    let addr = 0x36E000; // the unused "dummy" partition

    flash.write(addr, &[0xF0, 0x0F, 0x00]).expect("clear bits");
    flash.write(addr, &[0xA0, 0x05]).expect("clear more bits");
    let mut buf = [0u8; 4];
    flash.read(addr, &mut buf).expect("read");
    assert_eq!(buf, [0xA0, 0x05, 0x00, 0xFF]);

    // Setting a bit: refused, named, counted, nothing written (not even the bytes before it).
    let err = flash.write(addr, &[0x80, 0x07]).expect_err("0->1");
    assert!(
        matches!(err, FlashError::BitSet { addr: a } if a == addr + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("0x36e001"), "{err}");
    assert_eq!(flash.bit_set_violations(), 1);
    let on_disk = std::fs::read(&path).expect("read");
    assert_eq!(slice(&on_disk, addr, 4), &[0xA0, 0x05, 0x00, 0xFF]);
    flash.read(addr, &mut buf).expect("read");
    assert_eq!(buf, [0xA0, 0x05, 0x00, 0xFF]);

    // Through the embedded-storage traits too.
    let err = NorFlash::write(&mut flash, addr + 2, &[0x01]).expect_err("0->1 via trait");
    assert!(matches!(err, FlashError::BitSet { addr: a } if a == addr + 2));
    assert_eq!(flash.bit_set_violations(), 2);

    // Erase: whole sectors to 0xFF; misaligned ranges refused.
    assert!(matches!(
        flash.erase(addr + 1, addr + 0x1000),
        Err(FlashError::NotAligned { .. })
    ));
    assert!(matches!(
        flash.erase(addr, addr + 0x800),
        Err(FlashError::NotAligned { .. })
    ));
    NorFlash::erase(&mut flash, addr, addr + 0x1000).expect("erase");
    let on_disk = std::fs::read(&path).expect("read");
    assert!(slice(&on_disk, addr, 0x1000).iter().all(|&b| b == 0xFF));
    flash.write(addr, &[0x12]).expect("write after erase");

    // Bounds.
    assert!(matches!(
        flash.write(0x3FFFFF, &[0, 0]),
        Err(FlashError::OutOfBounds { .. })
    ));
    assert!(matches!(
        flash.erase(0x400000, 0x401000),
        Err(FlashError::OutOfBounds { .. })
    ));
    assert_eq!(ReadNorFlash::capacity(&flash), 0x400000);
    assert_eq!(<FlashFile as NorFlash>::ERASE_SIZE, 4096);
}

#[test]
fn writes_reach_the_file_immediately() {
    let board = lopy4();
    let (_dir, path) = fresh(&board);
    let (mut flash, _) = open(&path, &board, false).expect("open");
    flash.write(0x9000, b"hello").expect("write");
    assert_eq!(
        slice(&std::fs::read(&path).expect("read"), 0x9000, 5),
        b"hello"
    );
    flash.erase(0x9000, 0xA000).expect("erase");
    assert_eq!(
        slice(&std::fs::read(&path).expect("read"), 0x9000, 5),
        &[0xFF; 5]
    );

    // A filesystem helper has written everything by the time it returns.
    fs::write_file(&mut flash, board.fs, "/main.py", b"print('hi')\n").expect("write_file");
    let bytes = std::fs::read(&path).expect("read");
    let region = slice(&bytes, board.fs.offset, board.fs.size as usize).to_vec();
    let volume =
        fatfs::FileSystem::new(Cursor::new(region), fatfs::FsOptions::new()).expect("mount");
    let mut text = String::new();
    volume
        .root_dir()
        .open_file("main.py")
        .expect("main.py")
        .read_to_string(&mut text)
        .expect("read");
    assert_eq!(text, "print('hi')\n");

    // And the otadata record can be rewritten through the boot core's generic code.
    let mut info = pycom_boot::otadata::read_record(&mut flash, 0x1FF000).expect("read record");
    info.safeboot = 1;
    pycom_boot::otadata::write_record(&mut flash, 0x1FF000, &info).expect("write record");
    let bytes = std::fs::read(&path).expect("read");
    let record: [u8; 40] = slice(&bytes, 0x1FF000, 40).try_into().expect("40");
    let on_disk = BootInfo::decode(&record);
    assert!(on_disk.is_valid());
    assert_eq!(on_disk.safeboot, 1);
    assert_eq!(flash.bit_set_violations(), 0);
    flash.sync().expect("sync");
}

fn assert_refused(path: &Path, board: &Board, expect: &[&str]) -> FlashError {
    let before = md5_of(path);
    let err = open(path, board, false).expect_err("must refuse");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("--reformat"), "{message}");
    assert!(message.contains("--flash"), "{message}");
    for needle in expect {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    assert_eq!(md5_of(path), before, "refused file was modified");
    err
}

#[test]
fn truncated_file_is_refused_untouched() {
    let board = lopy4();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flash.bin");
    std::fs::write(&path, vec![0x5Au8; 1024 * 1024]).expect("write");
    let err = assert_refused(
        &path,
        &board,
        &["is 1048576 bytes but a LoPy4 has 8 MiB (8388608) of flash"],
    );
    assert!(matches!(
        err,
        FlashError::WrongSize {
            actual: 1048576,
            ..
        }
    ));
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), 1024 * 1024);

    // A 4 MB file is not an 8 MB board's either, and vice versa.
    let (_d4, path4) = fresh(&lopy());
    assert_refused(&path4, &board, &["is 4194304 bytes"]);
}

#[test]
fn garbage_partition_table_is_refused_untouched() {
    let board = lopy();
    let (_dir, path) = fresh(&board);
    let mut bytes = std::fs::read(&path).expect("read");
    for (i, b) in bytes[0x8000..0x9000].iter_mut().enumerate() {
        *b = (i * 31 % 256) as u8;
    }
    std::fs::write(&path, &bytes).expect("write");
    let err = assert_refused(
        &path,
        &board,
        &["has no readable partition table at 0x8000"],
    );
    assert!(matches!(err, FlashError::BadPartitionTable { .. }));

    // An erased table.
    bytes[0x8000..0x9000].fill(0xFF);
    std::fs::write(&path, &bytes).expect("write");
    assert_refused(
        &path,
        &board,
        &["has no readable partition table at 0x8000"],
    );

    // A well-formed table from another layout: boot entries differ.
    let mut other = board.clone();
    other.partitions[3].offset = 0x1D0000;
    other.partitions[3].size = 0x19E000;
    let table = PartitionTable::from_board(&other)
        .expect("table")
        .encode()
        .expect("encode");
    bytes[0x8000..0x8C00].copy_from_slice(&table);
    std::fs::write(&path, &bytes).expect("write");
    let err = assert_refused(&path, &board, &["ota_0", "0x1c0000"]);
    assert!(
        matches!(err, FlashError::PartitionMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn reformat_rebuilds_a_bad_file() {
    let board = lopy4();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flash.bin");
    std::fs::write(&path, b"not a flash file").expect("write");
    assert!(open(&path, &board, false).is_err());
    let (flash, created) = open(&path, &board, true).expect("reformat");
    assert_eq!(created, Created::Reformatted);
    drop(flash);
    check_fresh(&path, &board);

    // Reformat also wipes a good file's user data.
    let (mut flash, _) = open(&path, &board, false).expect("open");
    fs::write_file(&mut flash, board.fs, "/lib/mine.py", b"x = 1\n").expect("write");
    drop(flash);
    let (mut flash, created) = open(&path, &board, true).expect("reformat");
    assert_eq!(created, Created::Reformatted);
    assert!(matches!(
        fs::read_file(&mut flash, board.fs, "/lib/mine.py"),
        Err(FsError::NotFound { .. })
    ));
    // No temporary files left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("flash.bin")]);
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for reformat in [false, true] {
        let err = open(dir.path(), &lopy4(), reformat).expect_err("directory");
        assert!(matches!(err, FlashError::IsDirectory { .. }));
        let message = err.to_string();
        assert!(message.contains("is a directory"), "{message}");
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
    }
}

#[test]
fn state_persists_across_opens() {
    for board in [lopy(), lopy4()] {
        let (_dir, path) = fresh(&board);
        {
            let (mut flash, _) = open(&path, &board, false).expect("open");
            fs::mkdir(&mut flash, board.fs, "/lib/pkg").expect("mkdir");
            fs::write_file(&mut flash, board.fs, "/lib/pkg/mod.py", b"VALUE = 42\r\n").expect("w");
            flash.write(0x9000, &[0x00, 0x11]).expect("raw write");
        }
        let (mut flash, created) = open(&path, &board, false).expect("reopen");
        assert_eq!(created, Created::Existing);
        assert_eq!(
            fs::read_file(&mut flash, board.fs, "/lib/pkg/mod.py").expect("read"),
            b"VALUE = 42\r\n"
        );
        let mut buf = [0u8; 2];
        flash.read(0x9000, &mut buf).expect("read");
        assert_eq!(buf, [0x00, 0x11]);
        // Booting again changes nothing when the defaults are all there.
        let before = md5_of(&path);
        let report = fs::ensure_defaults(&mut flash, board.fs).expect("defaults");
        assert_eq!(report, fs::Defaults::default());
        assert_eq!(md5_of(&path), before);
    }
}

/// An existing file is read a sector at a time when first touched: reads spanning sector edges
/// see the file's bytes, and a write into a never-read sector is checked against what the file
/// holds there (not against a blank copy).
#[test]
fn an_existing_file_is_read_where_touched() {
    let board = lopy4();
    let (_dir, path) = fresh(&board);
    // Bytes written behind the simulator's back, across the 0x9000/0xA000 sector edge.
    let pattern: Vec<u8> = (0..64u8).map(|i| i ^ 0x5A).collect();
    {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open raw");
        file.write_all_at(&pattern, 0x9FE0).expect("raw write");
    }
    let (mut flash, _) = open(&path, &board, false).expect("open");
    let mut buf = vec![0u8; 64];
    flash.read(0x9FE0, &mut buf).expect("read");
    assert_eq!(buf, pattern);
    // 0xA000 holds pattern[32] = 0x7A in the file: turning it into 0xFF would set bits.
    let err = flash
        .write(0xA000, &[0xFF])
        .expect_err("0x7A -> 0xFF sets bits");
    assert!(matches!(err, FlashError::BitSet { addr: 0xA000 }), "{err}");
    flash
        .write(0xA000, &[pattern[32] & 0x0F])
        .expect("clearing bits is fine");
    // Erasing a never-read sector needs no read and leaves it blank.
    flash.erase(0xB000, 0xC000).expect("erase");
    let mut blank = [0u8; 16];
    flash.read(0xBFF0, &mut blank).expect("read erased");
    assert_eq!(blank, [0xFF; 16]);
    drop(flash);
    let on_disk = std::fs::read(&path).expect("read file");
    assert_eq!(on_disk[0xA000], pattern[32] & 0x0F);
    assert_eq!(&on_disk[0xB000..0xC000], &[0xFF; 0x1000][..]);
}

#[test]
fn ensure_defaults_restores_what_the_firmware_restores() {
    let board = lopy();
    let mut flash = FlashFile::in_memory(&board, &image()).expect("flash");
    let r = board.fs;
    fs::write_file(&mut flash, r, "/boot.py", b"# mine\n").expect("write");
    fs::remove(&mut flash, r, "/main.py").expect("remove");
    fs::rmdir(&mut flash, r, "/lib").expect("rmdir");
    let report = fs::ensure_defaults(&mut flash, r).expect("defaults");
    assert!(!report.formatted);
    assert_eq!(report.created, vec!["/main.py", "/lib"]);
    assert_eq!(
        fs::read_file(&mut flash, r, "/main.py").expect("main"),
        MAIN_PY
    );
    // An existing boot.py is left as the user wrote it.
    assert_eq!(
        fs::read_file(&mut flash, r, "/boot.py").expect("boot"),
        b"# mine\n"
    );

    // An erased region is formatted and populated.
    flash.erase(r.offset, r.offset + r.size).expect("erase");
    assert!(!fs::is_formatted(&mut flash, r).expect("check"));
    let report = fs::ensure_defaults(&mut flash, r).expect("defaults");
    assert!(report.formatted);
    assert_eq!(
        report.created,
        vec!["/main.py", "/sys", "/lib", "/cert", "/boot.py"]
    );
    assert_eq!(
        fs::read_file(&mut flash, r, "/boot.py").expect("boot"),
        BOOT_PY
    );
    assert_eq!(flash.bit_set_violations(), 0);
}

#[test]
fn fs_helpers_report_errors_by_path() {
    let board = lopy4();
    let mut flash = FlashFile::in_memory(&board, &image()).expect("flash");
    let r = board.fs;
    assert!(matches!(
        fs::read_file(&mut flash, r, "/nope.py"),
        Err(FsError::NotFound { path }) if path == "/nope.py"
    ));
    assert!(matches!(
        fs::read_file(&mut flash, r, "/lib"),
        Err(FsError::IsADirectory { .. })
    ));
    assert!(matches!(
        fs::mkdir(&mut flash, r, "/lib"),
        Err(FsError::AlreadyExists { .. })
    ));
    assert!(matches!(
        fs::remove(&mut flash, r, "/sys"),
        Err(FsError::IsADirectory { .. })
    ));
    assert!(matches!(
        fs::rmdir(&mut flash, r, "/main.py"),
        Err(FsError::NotADirectory { .. })
    ));
    assert!(matches!(
        fs::write_file(&mut flash, r, "/missing/x.py", b"1"),
        Err(FsError::NotFound { .. })
    ));
    assert!(matches!(
        fs::read_file(&mut flash, r, "main.py"),
        Err(FsError::InvalidPath { .. })
    ));
    fs::write_file(&mut flash, r, "/sys/a.txt", b"a").expect("write");
    assert!(matches!(
        fs::rmdir(&mut flash, r, "/sys"),
        Err(FsError::NotEmpty { .. })
    ));

    // Rename, append, overwrite with shorter content, paths with . and ..
    fs::rename(&mut flash, r, "/sys/a.txt", "/cert/b.txt").expect("rename");
    fs::append_file(&mut flash, r, "/cert/./b.txt", b"bc").expect("append");
    assert_eq!(
        fs::read_file(&mut flash, r, "/lib/../cert/b.txt").expect("read"),
        b"abc"
    );
    fs::write_file(&mut flash, r, "/cert/b.txt", b"z").expect("overwrite");
    assert_eq!(
        fs::read_file(&mut flash, r, "/cert/b.txt").expect("read"),
        b"z"
    );
    let entry = fs::stat(&mut flash, r, "/cert/b.txt")
        .expect("stat")
        .expect("exists");
    assert_eq!(
        (entry.name.as_str(), entry.is_dir, entry.size),
        ("b.txt", false, 1)
    );
    assert_eq!(fs::stat(&mut flash, r, "/sys/a.txt").expect("stat"), None);

    // A big file spanning many erase blocks round-trips.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    fs::write_file(&mut flash, r, "/lib/big.bin", &big).expect("big");
    assert_eq!(
        fs::read_file(&mut flash, r, "/lib/big.bin").expect("read"),
        big
    );
    fs::remove(&mut flash, r, "/lib/big.bin").expect("remove");
    assert_eq!(flash.bit_set_violations(), 0);
}

#[test]
fn image_too_large_for_the_factory_slot() {
    let board = lopy();
    let huge = vec![0u8; 0x1AE001];
    let err = FlashFile::in_memory(&board, &huge).expect_err("too large");
    assert!(matches!(err, FlashError::ImageTooLarge { .. }), "{err:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flash.bin");
    assert!(FlashFile::open_or_create(&path, &board, &huge, OpenOptions::default()).is_err());
    assert!(!path.exists(), "nothing written on failure");
}

#[test]
fn a_flash_file_in_use_is_refused() {
    let board = lopy();
    let (_dir, path) = fresh(&board);
    let (flash, _) = open(&path, &board, false).expect("first user");
    for reformat in [false, true] {
        let err = assert_refused_in_use(&path, &board, reformat);
        assert!(matches!(err, FlashError::InUse { .. }), "{err:?}");
    }
    drop(flash);
    open(&path, &board, false).expect("free again once the first user is gone");
}

fn assert_refused_in_use(path: &Path, board: &Board, reformat: bool) -> FlashError {
    let before = md5_of(path);
    let err = open(path, board, reformat).expect_err("in use");
    let message = err.to_string();
    assert!(message.contains("in use"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(md5_of(path), before);
    err
}

#[test]
fn the_change_count_of_a_range_moves_with_every_erase_or_program_inside_it_only() {
    // What the boot's cache of a slot's parsed image relies on (device::run::slot_image).
    let board = lopy();
    let (_dir, path) = fresh(&board);
    let (mut flash, _) = open(&path, &board, false).unwrap();
    let factory = board.partition("factory").unwrap().clone();
    let ota = board.partition("ota_0").unwrap().clone();
    let count = |f: &FlashFile| {
        (
            f.changes(factory.offset, factory.size),
            f.changes(ota.offset, ota.size),
        )
    };
    let start = count(&flash);
    flash.erase(ota.offset, ota.offset + 0x1000).unwrap();
    let after_erase = count(&flash);
    assert_eq!(after_erase.0, start.0, "the factory slot was not touched");
    assert_ne!(after_erase.1, start.1);
    // The last byte of the factory slot (erased: the image is shorter), programmed to 0xFE.
    let last = factory.offset + factory.size - 1;
    let mut byte = [0u8];
    flash.read(last, &mut byte).unwrap();
    assert_eq!(byte, [0xFF]);
    flash.write(last, &[0xFE]).unwrap();
    let after_write = count(&flash);
    assert_ne!(after_write.0, after_erase.0);
    assert_eq!(after_write.1, after_erase.1);
    // A refused program (a bit from 0 to 1) writes nothing, so counts nothing.
    assert!(matches!(
        flash.write(last, &[0xFF]),
        Err(FlashError::BitSet { .. })
    ));
    assert_eq!(count(&flash), after_write);
}

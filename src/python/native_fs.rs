//! `_fs`: the native half of `os`/`uos` and of `open()` (see `lib/os.py`, `lib/_file.py`).
//! Every path goes through [`crate::python::vfs`], so only `/flash` and a mounted `/sd` (inside
//! the `--sd` directory) are reachable.

pub(crate) use fsmod::module_def;

#[rustpython_vm::pymodule(name = "_fs")]
pub mod fsmod {
    use std::hash::{BuildHasher, Hasher};

    use rustpython_vm::builtins::{PyBaseExceptionRef, PyStrRef};
    use rustpython_vm::function::{ArgBytesLike, OptionalArg};
    use rustpython_vm::{AsObject, PyObjectRef, PyResult, VirtualMachine};

    use crate::python::bridge::current;
    use crate::python::vfs::{self, OpenKind, VfsError, errno};

    /// `st_mode` of a directory / a regular file (`MP_S_IFDIR`, `MP_S_IFREG`).
    const S_IFDIR: u32 = 0x4000;
    const S_IFREG: u32 = 0x8000;
    /// `FF_MAX_LFN`: the longest name FatFS takes (`statvfs` f_namemax).
    const NAME_MAX: u32 = 255;
    /// LoRaWAN stack version `os.uname()` reports on LoRa boards.
    const LORAWAN_VERSION: &str = "1.0.2";
    /// Sigfox library version `os.uname()` reports on Sigfox boards.
    const SIGFOX_VERSION: &str = "1.0.1";

    /// The `OSError` for a VFS error, as MicroPython raises it: `str(e)` is `[Errno 2] ENOENT`,
    /// `e.args == (2,)`, `e.errno == 2`; the type stays `OSError` (MicroPython has no
    /// `FileNotFoundError`). An errno with a message of ours has `args == (errno, message)`.
    pub(crate) fn os_error(vm: &VirtualMachine, e: &VfsError) -> PyBaseExceptionRef {
        let os_error = vm.ctx.exceptions.os_error.to_owned();
        let (n, strerror, args): (i32, PyObjectRef, _) = match e {
            // `mp_raise_OSError(errno)`: args is `(errno,)`; an errno outside the firmware's
            // uerrno list has no name and prints as the number.
            VfsError::Errno(n) => (
                *n,
                errno::name(*n).map_or_else(|| vm.ctx.none(), |name| vm.ctx.new_str(name).into()),
                vec![vm.ctx.new_int(*n).into()],
            ),
            VfsError::ErrnoMsg(n, msg) => (
                *n,
                vm.ctx.new_str(msg.as_str()).into(),
                vec![
                    vm.ctx.new_int(*n).into(),
                    vm.ctx.new_str(msg.as_str()).into(),
                ],
            ),
            VfsError::Message(msg) => return vm.new_os_error(msg.clone()),
        };
        let exc: PyBaseExceptionRef = vm
            .new_os_subtype_error(os_error, Some(n), strerror)
            .upcast();
        // errno and strerror stay set (so str(e) is `[Errno 2] ENOENT`); only args is trimmed
        // from RustPython's five-item form. Setting args on a fresh OSError cannot fail.
        let _ = exc.as_object().set_attr("args", vm.ctx.new_tuple(args), vm);
        exc
    }

    fn map<T>(vm: &VirtualMachine, r: Result<T, VfsError>) -> PyResult<T> {
        r.map_err(|e| os_error(vm, &e))
    }

    fn path_or_cwd(path: OptionalArg<PyStrRef>) -> String {
        match path {
            OptionalArg::Present(p) => p.to_string_lossy().into_owned(),
            OptionalArg::Missing => String::new(),
        }
    }

    /// `_fs.error(errno[, message])`: the exception object (the caller raises it).
    #[pyfunction]
    fn error(n: i32, msg: OptionalArg<PyStrRef>, vm: &VirtualMachine) -> PyBaseExceptionRef {
        let e = match msg {
            OptionalArg::Present(m) => VfsError::ErrnoMsg(n, m.to_string_lossy().into_owned()),
            OptionalArg::Missing => VfsError::Errno(n),
        };
        os_error(vm, &e)
    }

    /// `os.listdir([path])`: names, in directory order.
    #[pyfunction]
    fn listdir(path: OptionalArg<PyStrRef>, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let bridge = current(vm)?;
        let path = path_or_cwd(path);
        let entries = map(vm, vfs::list_dir(&bridge, &path))?;
        let names = entries
            .into_iter()
            .map(|e| vm.ctx.new_str(e.name).into())
            .collect();
        Ok(vm.ctx.new_list(names).into())
    }

    /// `os.ilistdir([path])` items: `(name, type, inode, size)` on a volume, `(name, type,
    /// inode)` for the mount points of `/`, as MicroPython's root VFS gives them.
    #[pyfunction]
    fn ilistdir(path: OptionalArg<PyStrRef>, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let bridge = current(vm)?;
        let path = path_or_cwd(path);
        let root = vfs::absolute(&bridge, &path) == "/";
        let entries = map(vm, vfs::list_dir(&bridge, &path))?;
        let items = entries
            .into_iter()
            .map(|e| {
                let kind = if e.is_dir { S_IFDIR } else { S_IFREG };
                let mut fields: Vec<PyObjectRef> = vec![
                    vm.ctx.new_str(e.name).into(),
                    vm.ctx.new_int(kind).into(),
                    vm.ctx.new_int(0).into(),
                ];
                if !root {
                    fields.push(vm.ctx.new_int(e.size).into());
                }
                vm.ctx.new_tuple(fields).into()
            })
            .collect();
        Ok(vm.ctx.new_list(items).into())
    }

    /// `os.stat(path)`: `(mode, ino, dev, nlink, uid, gid, size, atime, mtime, ctime)`.
    #[pyfunction]
    fn stat(path: PyStrRef, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let bridge = current(vm)?;
        let st = map(vm, vfs::stat(&bridge, &path.to_string_lossy()))?;
        let mode = if st.is_dir { S_IFDIR } else { S_IFREG };
        let mut fields: Vec<PyObjectRef> = vec![vm.ctx.new_int(mode).into()];
        fields.extend((0..5).map(|_| vm.ctx.new_int(0).into()));
        fields.push(vm.ctx.new_int(st.size).into());
        fields.extend((0..3).map(|_| vm.ctx.new_int(st.mtime).into()));
        Ok(vm.ctx.new_tuple(fields).into())
    }

    /// `os.statvfs(path)`: `(bsize, frsize, blocks, bfree, bavail, files, ffree, favail, flag,
    /// namemax)`.
    #[pyfunction]
    fn statvfs(path: PyStrRef, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let bridge = current(vm)?;
        let s = map(vm, vfs::statvfs(&bridge, &path.to_string_lossy()))?;
        let fields: Vec<PyObjectRef> = [
            s.block_size,
            s.block_size,
            s.blocks,
            s.free_blocks,
            s.free_blocks,
            0,
            0,
            0,
            0,
            u64::from(NAME_MAX),
        ]
        .into_iter()
        .map(|v| vm.ctx.new_int(v).into())
        .collect();
        Ok(vm.ctx.new_tuple(fields).into())
    }

    /// `os.getfree(path)`: free space in KiB.
    #[pyfunction]
    fn getfree(path: PyStrRef, vm: &VirtualMachine) -> PyResult<u64> {
        let bridge = current(vm)?;
        let s = map(vm, vfs::statvfs(&bridge, &path.to_string_lossy()))?;
        Ok(s.free_blocks.saturating_mul(s.block_size) / 1024)
    }

    #[pyfunction]
    fn mkdir(path: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        map(vm, vfs::mkdir(&bridge, &path.to_string_lossy()))
    }

    #[pyfunction]
    fn rmdir(path: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        map(vm, vfs::remove(&bridge, &path.to_string_lossy(), true))
    }

    #[pyfunction]
    fn remove(path: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        map(vm, vfs::remove(&bridge, &path.to_string_lossy(), false))
    }

    #[pyfunction]
    fn rename(from: PyStrRef, to: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        map(
            vm,
            vfs::rename(&bridge, &from.to_string_lossy(), &to.to_string_lossy()),
        )
    }

    #[pyfunction]
    fn getcwd(vm: &VirtualMachine) -> PyResult<String> {
        Ok(vfs::getcwd(&*current(vm)?))
    }

    #[pyfunction]
    fn chdir(path: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        map(vm, vfs::chdir(&bridge, &path.to_string_lossy()))
    }

    /// The current directory set to an absolute path inside a Python-mounted filesystem
    /// (`_pymount`), which checked it with the mounted object itself.
    #[pyfunction]
    fn set_cwd(path: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        current(vm)?.session.borrow_mut().cwd = path.to_string_lossy().into_owned();
        Ok(())
    }

    /// `open()`'s file side: `kind` is `r`, `w`, `x` or `a`. Returns `(absolute path, content)`.
    #[pyfunction]
    fn open(path: PyStrRef, kind: PyStrRef, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let bridge = current(vm)?;
        let kind = match kind.to_string_lossy().as_ref() {
            "r" => OpenKind::Read,
            "w" => OpenKind::Write,
            "x" => OpenKind::Exclusive,
            "a" => OpenKind::Append,
            other => return Err(vm.new_value_error(format!("invalid open kind {other:?}"))),
        };
        let (abs, data) = map(vm, vfs::open(&bridge, &path.to_string_lossy(), kind))?;
        Ok(vm
            .ctx
            .new_tuple(vec![
                vm.ctx.new_str(abs).into(),
                vm.ctx.new_bytes(data).into(),
            ])
            .into())
    }

    /// The whole content of a file.
    #[pyfunction]
    fn read_file(path: PyStrRef, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let bridge = current(vm)?;
        let data = map(vm, vfs::read(&bridge, &path.to_string_lossy()))?;
        Ok(vm.ctx.new_bytes(data).into())
    }

    /// Creates or replaces a file: what a file object's flush/close writes.
    #[pyfunction]
    fn write_file(path: PyStrRef, data: ArgBytesLike, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        let data = data.borrow_buf().to_vec();
        map(vm, vfs::write(&bridge, &path.to_string_lossy(), &data))
    }

    /// `os.fsformat(path)` / `os.mkfs(path)`.
    #[pyfunction]
    fn fsformat(path: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        map(vm, vfs::format(&bridge, &path.to_string_lossy()))
    }

    /// `os.mkfs(sd)`: formats the SD card, mounted or not.
    #[pyfunction]
    fn format_sd(vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        map(vm, vfs::format_sd(&bridge))
    }

    /// Whether the simulator has an SD card (for `machine.SD()`).
    #[pyfunction]
    fn sd_present(vm: &VirtualMachine) -> PyResult<bool> {
        Ok(vfs::sd_present(&*current(vm)?).is_ok())
    }

    /// Raises the OSError `machine.SD()` raises without a card (ENODEV, with how to add one).
    #[pyfunction]
    fn check_sd(vm: &VirtualMachine) -> PyResult<()> {
        map(vm, vfs::sd_present(&*current(vm)?))
    }

    #[pyfunction]
    fn mount_sd(point: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        map(vm, vfs::mount_sd(&bridge, &point.to_string_lossy()))
    }

    #[pyfunction]
    fn umount(point: PyStrRef, vm: &VirtualMachine) -> PyResult<()> {
        let bridge = current(vm)?;
        map(vm, vfs::umount(&bridge, &point.to_string_lossy()))
    }

    /// Whether `/sd` is mounted.
    #[pyfunction]
    fn sd_mounted(vm: &VirtualMachine) -> PyResult<bool> {
        Ok(vfs::sd_mounted(&*current(vm)?))
    }

    /// `os.uname()` fields as `[(name, value), …]` (reference §11.5): the board and the booted
    /// image, plus `lorawan`/`sigfox` on boards that have them.
    #[pyfunction]
    fn uname(vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let bridge = current(vm)?;
        let board = &bridge.board;
        let spec = &bridge.image.spec;
        let mut fields = vec![
            ("sysname", board.name.clone()),
            ("nodename", board.name.clone()),
            ("release", spec.version.clone()),
            (
                "version",
                format!("{} on {}", spec.git_tag, spec.build_date),
            ),
            ("machine", format!("{} with ESP32", board.name)),
        ];
        if board.lora {
            fields.push(("lorawan", LORAWAN_VERSION.to_string()));
        }
        if board.sigfox {
            fields.push(("sigfox", SIGFOX_VERSION.to_string()));
        }
        let items = fields
            .into_iter()
            .map(|(k, v)| {
                vm.ctx
                    .new_tuple(vec![vm.ctx.new_str(k).into(), vm.ctx.new_str(v).into()])
                    .into()
            })
            .collect();
        Ok(vm.ctx.new_list(items).into())
    }

    thread_local! {
        static RNG: (std::collections::hash_map::RandomState, std::cell::Cell<u64>) =
            (std::collections::hash_map::RandomState::new(), std::cell::Cell::new(0));
    }

    /// `os.urandom(n)`: `n` random bytes (the ESP32's hardware RNG; here the host's seeded
    /// hasher over a counter).
    #[pyfunction]
    fn urandom(n: isize, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let n = usize::try_from(n).map_err(|_| vm.new_value_error("negative length"))?;
        let mut out = Vec::with_capacity(n);
        RNG.with(|(state, counter)| {
            while out.len() < n {
                let mut h = state.build_hasher();
                let c = counter.get().wrapping_add(1);
                counter.set(c);
                h.write_u64(c);
                let word = h.finish().to_le_bytes();
                let take = (n - out.len()).min(word.len());
                out.extend_from_slice(&word[..take]);
            }
        });
        Ok(vm.ctx.new_bytes(out).into())
    }
}

//! UART0 as a pseudo-terminal: `/dev/pts/N`, raw from the start (a cooked pty would echo the
//! device's own output back to it as input), reopenable by clients as a serial port is.
//!
//! While no client has the pty open the device's output is dropped, as a USB-serial adapter
//! drops what nobody reads; a client that opens it later sees only what comes after.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

use crate::device::DeviceHandle;
use crate::event::EventKind;

/// How often a pty with no client looks again for one.
const NO_CLIENT_POLL: Duration = Duration::from_millis(20);

pub struct PtyTransport {
    path: PathBuf,
    link: Option<PathBuf>,
    stop: Arc<AtomicBool>,
}

impl PtyTransport {
    /// Opens the pty, makes it raw, links it if asked, and starts copying both ways.
    pub fn open(handle: &DeviceHandle, link: Option<&Path>) -> Result<PtyTransport, String> {
        let pair = nix::pty::openpty(None, None)
            .map_err(|e| format!("--pty: cannot open a pseudo-terminal: {e}"))?;
        let path = nix::unistd::ttyname(pair.slave.as_fd())
            .map_err(|e| format!("--pty: cannot name the pseudo-terminal: {e}"))?;
        make_raw(&pair.slave)?;
        // Our copy of the slave goes: a client's open and close is then what the master sees.
        drop(pair.slave);
        if let Some(link) = link {
            make_link(link, &path)?;
        }
        let master = File::from(pair.master);
        let reader = master
            .try_clone()
            .map_err(|e| format!("--pty: cannot share the pseudo-terminal: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let remote = handle.remote();
        let reading = stop.clone();
        std::thread::Builder::new()
            .name("pty-in".into())
            .spawn(move || copy_in(reader, &remote, &reading))
            .map_err(|e| format!("--pty: cannot start its thread: {e}"))?;
        let events = handle.subscribe();
        let writing = stop.clone();
        std::thread::Builder::new()
            .name("pty-out".into())
            .spawn(move || {
                let mut master = master;
                let mut out = Vec::new();
                while let Ok(event) = events.recv() {
                    // What else the device said meanwhile goes in the same write: a host tool's
                    // round trip (raw-paste credits, `OK`, the two EOTs) is a few small events,
                    // and each write to the master is a syscall and a wake-up of the pty's reader.
                    let mut stopped = false;
                    for event in std::iter::once(event).chain(events.try_iter()) {
                        match event.kind {
                            EventKind::Uart { text } => out.extend_from_slice(&text),
                            EventKind::Stopped => stopped = true,
                            _ => {}
                        }
                    }
                    if writing.load(Ordering::Relaxed) {
                        return;
                    }
                    if !out.is_empty() && client_connected(&master) {
                        // A client that stopped reading blocks only this thread.
                        let _ = master.write_all(&out);
                    }
                    out.clear();
                    if stopped {
                        return;
                    }
                }
            })
            .map_err(|e| format!("--pty: cannot start its thread: {e}"))?;
        Ok(PtyTransport {
            path,
            link: link.map(Path::to_path_buf),
            stop,
        })
    }

    /// The slave's path, `/dev/pts/N`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PtyTransport {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(link) = &self.link {
            // Only our own link: a file someone put there since is theirs.
            if std::fs::read_link(link).is_ok_and(|target| target == self.path) {
                let _ = std::fs::remove_file(link);
            }
        }
    }
}

fn make_raw(slave: &OwnedFd) -> Result<(), String> {
    let mut termios =
        tcgetattr(slave).map_err(|e| format!("--pty: cannot read the terminal settings: {e}"))?;
    cfmakeraw(&mut termios);
    tcsetattr(slave, SetArg::TCSAFLUSH, &termios)
        .map_err(|e| format!("--pty: cannot make the terminal raw: {e}"))
}

/// `--pty-link PATH`: a symlink to the pty. An old symlink there is replaced; anything else is
/// the user's and is left alone.
fn make_link(link: &Path, target: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::remove_file(link)
                .map_err(|e| format!("--pty-link {}: cannot replace it: {e}", link.display()))?;
        }
        Ok(_) => {
            return Err(format!(
                "--pty-link {}: a file is there and is not a symlink; remove it or pick another path",
                link.display()
            ));
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link)
        .map_err(|e| format!("--pty-link {}: {e}", link.display()))
}

/// Whether a client has the slave open: with none, the master reports a hang-up.
fn client_connected(master: &File) -> bool {
    let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => !fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP)),
        Err(_) => false,
    }
}

/// Client → UART0 until the transport closes. With no client the master reads fail (EIO on
/// Linux); it looks again for one every few milliseconds.
fn copy_in(mut master: File, remote: &crate::device::Remote, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(100u8)).unwrap_or(0);
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if ready == 0 {
            continue;
        }
        if !revents.contains(PollFlags::POLLIN) {
            // Hung up: nobody has the pty open.
            std::thread::sleep(NO_CLIENT_POLL);
            continue;
        }
        match master.read(&mut buf) {
            Ok(0) | Err(_) => std::thread::sleep(NO_CLIENT_POLL),
            Ok(n) => remote.write_uart(buf.get(..n).unwrap_or_default()),
        }
    }
}

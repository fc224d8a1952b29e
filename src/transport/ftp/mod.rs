//! Pycom's FTP server (§16.3, `esp32/ftp/ftp.c`): `/flash` and `/sd` to FileZilla, curl and
//! Python's ftplib, and firmware updates by uploading `/flash/sys/appimg.bin`.
//!
//! As on the module: the `220 Micropython FTP Server` greeting; the telnet login (`micro` /
//! `python` unless `--user/--password` say otherwise), `332` to anything but USER/PASS/QUIT
//! before it and `530` to a wrong one (the client may try again); passive mode only (a data port
//! per `PASV`, on the control connection's address; `EPSV`, `PORT` and the rest are `502`, and
//! curl and ftplib fall back to `PASV`); `/` lists `flash`, and `sd` once Python has mounted
//! the card; one client at a time — the module's listening socket has a backlog of one, so a
//! second client is connected but hears nothing until the first leaves, and any more are
//! dropped at once; 10 s data timeouts; a session ends after 300 s idle (`221`) or when the chip
//! resets (the module's WiFi goes down with it).
//!
//! The server runs on its own thread and tokio runtime and reaches the device only through
//! [`Remote::fs`] (each filesystem operation runs on the device thread, see [`device`]),
//! [`Remote::resets`] (the device's reset count, which ends sessions) and the event stream
//! (which wakes a session waiting for a command when the chip resets).

mod device;
pub mod protocol;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::telnet::Login;
use crate::device::{DeviceHandle, Remote};
use crate::event::EventKind;
use device::{Answer, Op, OtaProgress};
use protocol::{OTA_PATH, reply};
pub use protocol::{Request, parse_command};

/// The control connection's idle timeout (the servers' default, §16.1).
const IDLE: Duration = Duration::from_secs(300);
/// How long a data connection may take to come, or stay silent (`FTP_DATA_TIMEOUT_MS`).
const DATA_TIMEOUT: Duration = Duration::from_secs(10);
/// A command line longer than this is not one (the firmware's buffer holds 135 bytes).
const MAX_LINE: usize = 4096;
/// How much of an update travels to the device in one job: the firmware writes as it receives,
/// so a cut mid-upload leaves a partly written slot, never a changed boot record.
const OTA_CHUNK: usize = 64 * 1024;

/// The running FTP server; dropping it stops it.
pub struct FtpServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl FtpServer {
    /// Binds `addr` now (a port in use is an error before the run starts) and serves it on its
    /// own thread.
    pub fn start(
        handle: &DeviceHandle,
        addr: SocketAddr,
        login: Login,
    ) -> Result<FtpServer, String> {
        let (listener, bound) = super::bind_listener("--ftp", addr)?;
        // Chip resets, from the event stream: they wake the sessions, which end with them.
        // The value is the device's own count (`Remote::resets`), which may be ahead of it.
        let remote = handle.remote();
        let (resets_tx, resets) = watch::channel(remote.resets());
        let events = handle.subscribe();
        std::thread::Builder::new()
            .name("ftp-events".into())
            .spawn(move || {
                while let Ok(event) = events.recv() {
                    match event.kind {
                        EventKind::Reset { .. } => {
                            resets_tx.send_modify(|n| *n = (*n).max(remote.resets()));
                        }
                        EventKind::Stopped => return,
                        _ => {}
                    }
                }
            })
            .map_err(|e| format!("cannot start the FTP thread: {e}"))?;
        let (stop, stopped) = watch::channel(false);
        let ctx = Ctx {
            remote: handle.remote(),
            login,
            resets,
        };
        std::thread::Builder::new()
            .name("ftp".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(serve(listener, ctx, stopped));
            })
            .map_err(|e| format!("cannot start the FTP thread: {e}"))?;
        Ok(FtpServer { addr: bound, stop })
    }

    /// Where the server listens (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// What every session shares.
#[derive(Clone)]
struct Ctx {
    remote: Remote,
    login: Login,
    resets: watch::Receiver<u64>,
}

/// Accepts one client at a time, keeps one more waiting (the module's backlog), drops the rest.
async fn serve(listener: std::net::TcpListener, ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    let (ended_tx, mut ended) = mpsc::channel::<()>(1);
    // A connection belongs to the chip as it was when the connection was accepted (a client
    // kept waiting in the backlog across a reset loses its connection with the others).
    let start = |(stream, born): (TcpStream, u64)| {
        let ctx = ctx.clone();
        let ended_tx = ended_tx.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            Session::run(stream, ctx, born).await;
            let _ = ended_tx.send(()).await;
        });
    };
    let mut busy = false;
    let mut waiting: Option<(TcpStream, u64)> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            Some(()) = ended.recv() => {
                busy = false;
                if let Some(next) = waiting.take() {
                    busy = true;
                    start(next);
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let stream = (stream, ctx.remote.resets());
                if !busy {
                    busy = true;
                    start(stream);
                } else if waiting.is_none() {
                    waiting = Some(stream);
                } else {
                    drop(stream);
                }
            }
        }
    }
}

/// One logged-in (or logging-in) client.
struct Session {
    ctx: Ctx,
    /// The device's reset count when the client connected: a reset after that ends the
    /// session (see [`Session::chip_reset`]).
    born: u64,
    writer: OwnedWriteHalf,
    /// The address the client reached us on: passive data ports listen there.
    local_ip: IpAddr,
    cwd: String,
    user_ok: bool,
    logged_in: bool,
    rename_from: Option<String>,
    passive: Option<TcpListener>,
}

/// How a command went for the session.
enum Flow {
    Go,
    /// QUIT, or the client is gone.
    End,
}

impl Session {
    /// The chip has reset since the client connected (the module's WiFi went down with it).
    fn chip_reset(&self) -> bool {
        self.ctx.remote.resets() > self.born
    }

    async fn run(stream: TcpStream, ctx: Ctx, born: u64) {
        let local_ip = stream
            .local_addr()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
        let (reader, writer) = stream.into_split();
        let mut reader = BufReader::new(reader);
        // The watch only wakes a session waiting for a command; the count decides.
        let mut resets = ctx.resets.clone();
        let mut s = Session {
            ctx,
            born,
            writer,
            local_ip,
            cwd: "/".to_string(),
            user_ok: false,
            logged_in: false,
            rename_from: None,
            passive: None,
        };
        if !s.send(220, protocol::GREETING).await {
            return;
        }
        loop {
            // A reset that came with the next command wins (an unbiased select picks either,
            // and a loaded machine can deliver both at once): the chip's WiFi went down first.
            let line = tokio::select! {
                biased;
                _ = resets.wait_for(|&n| n > born) => return,
                line = tokio::time::timeout(IDLE, read_line(&mut reader)) => line,
            };
            // The event may still be on its way: the device's count says it all the same (a
            // client that saw the new boot's banner on the UART sends its next command at once).
            if s.chip_reset() {
                return;
            }
            let line = match line {
                Err(_) => {
                    // The firmware's idle timeout says goodbye.
                    s.send(221, "").await;
                    return;
                }
                Ok(Some(line)) => line,
                Ok(None) => return,
            };
            let request = match line {
                Line::Command(bytes) => parse_command(&bytes),
                Line::TooLong => Request::Unknown(String::new()),
            };
            if let Flow::End = s.handle(request).await {
                return;
            }
        }
    }

    /// Sends a reply; false if the client is gone.
    async fn send(&mut self, code: u16, text: &str) -> bool {
        self.writer.write_all(&reply(code, text)).await.is_ok()
    }

    async fn call(&self, op: Op) -> Result<Answer, String> {
        device::call(&self.ctx.remote, op).await
    }

    fn path(&self, param: &str) -> String {
        protocol::child(&self.cwd, param)
    }

    async fn handle(&mut self, request: Request) -> Flow {
        if !self.logged_in && !request.allowed_before_login() {
            return self.answer(332, "").await;
        }
        match request {
            Request::Feat => self.answer(211, "no-features").await,
            Request::Syst => self.answer(215, "UNIX Type: L8").await,
            Request::Cdup => {
                self.cwd = protocol::parent(&self.cwd);
                self.answer(250, "").await
            }
            Request::Cwd(p) => {
                let path = self.path(&p);
                let ok = path == "/"
                    || matches!(self.call(Op::Stat(path.clone())).await, Ok(Answer::Stat(st)) if st.is_dir);
                if ok {
                    self.cwd = path;
                    self.answer(250, "").await
                } else {
                    self.answer(550, "").await
                }
            }
            Request::Pwd => {
                let cwd = self.cwd.clone();
                self.answer(257, &cwd).await
            }
            Request::Size(p) => match self.call(Op::Stat(self.path(&p))).await {
                Ok(Answer::Stat(st)) => self.answer(213, &st.size.to_string()).await,
                other => self.refuse(550, other).await,
            },
            Request::Mdtm(p) => match self.call(Op::Stat(self.path(&p))).await {
                Ok(Answer::Stat(st)) => self.answer(213, &protocol::mdtm(st.mtime)).await,
                other => self.refuse(550, other).await,
            },
            Request::Type | Request::Noop => self.answer(200, "").await,
            Request::User(user) => {
                self.user_ok = user == self.ctx.login.user;
                self.logged_in = false;
                self.answer(331, "").await
            }
            Request::Pass(password) => {
                if self.user_ok && password == self.ctx.login.password {
                    self.logged_in = true;
                    self.answer(230, "").await
                } else {
                    self.answer(530, "").await
                }
            }
            Request::Pasv => self.pasv().await,
            Request::List => self.list().await,
            Request::Retr(p) => self.retr(self.path(&p)).await,
            Request::Stor(p) => self.stor(self.path(&p)).await,
            Request::Dele(p) | Request::Rmd(p) => {
                let result = self.call(Op::Remove(self.path(&p))).await;
                self.done(result).await
            }
            Request::Mkd(p) => {
                let result = self.call(Op::Mkdir(self.path(&p))).await;
                self.done(result).await
            }
            Request::Rnfr(p) => {
                let path = self.path(&p);
                match self.call(Op::Stat(path.clone())).await {
                    Ok(_) => {
                        self.rename_from = Some(path);
                        self.answer(350, "").await
                    }
                    Err(e) => self.answer(550, &e).await,
                }
            }
            Request::Rnto(p) => {
                let to = self.path(&p);
                match self.rename_from.take() {
                    Some(from) => {
                        let result = self.call(Op::Rename(from, to)).await;
                        self.done(result).await
                    }
                    None => self.answer(550, "RNFR first").await,
                }
            }
            Request::Quit => {
                self.send(221, "").await;
                Flow::End
            }
            Request::Unknown(_) => self.answer(502, "").await,
        }
    }

    async fn answer(&mut self, code: u16, text: &str) -> Flow {
        if self.send(code, text).await {
            Flow::Go
        } else {
            Flow::End
        }
    }

    /// `250` for a done operation, `550` with the reason for a failed one.
    async fn done(&mut self, result: Result<Answer, String>) -> Flow {
        match result {
            Ok(_) => self.answer(250, "").await,
            Err(e) => self.answer(550, &e).await,
        }
    }

    async fn refuse(&mut self, code: u16, result: Result<Answer, String>) -> Flow {
        let text = result.err().unwrap_or_default();
        self.answer(code, &text).await
    }

    async fn pasv(&mut self) -> Flow {
        // A new PASV replaces the old data port (some clients send several).
        self.passive = None;
        let ip = match self.local_ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::LOCALHOST),
        };
        match TcpListener::bind(SocketAddr::new(self.local_ip, 0)).await {
            Ok(listener) => {
                let port = listener.local_addr().map_or(0, |a| a.port());
                self.passive = Some(listener);
                self.answer(227, &protocol::pasv_text(ip, port)).await
            }
            Err(_) => self.answer(425, "").await,
        }
    }

    /// The client's data connection to the port the last PASV opened (one transfer each).
    async fn data_connection(&mut self) -> Option<TcpStream> {
        let listener = self.passive.take()?;
        match tokio::time::timeout(DATA_TIMEOUT, listener.accept()).await {
            Ok(Ok((stream, _))) => Some(stream),
            _ => None,
        }
    }

    /// `150`, the bytes over the data connection, then `226` (or `425`/`426`).
    async fn send_data(&mut self, bytes: &[u8]) -> Flow {
        if self.passive.is_none() {
            return self.answer(425, "use PASV first").await;
        }
        if let Flow::End = self.answer(150, "").await {
            return Flow::End;
        }
        let Some(mut data) = self.data_connection().await else {
            return self.answer(425, "").await;
        };
        let sent = data.write_all(bytes).await.is_ok() && data.shutdown().await.is_ok();
        drop(data);
        if sent {
            self.answer(226, "").await
        } else {
            self.answer(426, "").await
        }
    }

    async fn list(&mut self) -> Flow {
        let cwd = self.cwd.clone();
        let entries = match self.call(Op::List(cwd.clone())).await {
            Ok(Answer::List(entries)) => entries,
            other => return self.refuse(550, other).await,
        };
        // The device's RTC starts at 1970 at every boot, so every date shows as HH:MM.
        let now = 0;
        let mut text = String::new();
        for e in entries {
            let mtime = if cwd == "/" {
                protocol::VOLUME_MTIME
            } else {
                e.mtime
            };
            text.push_str(&protocol::list_line(e.is_dir, e.size, mtime, now, &e.name));
        }
        self.send_data(text.as_bytes()).await
    }

    async fn retr(&mut self, path: String) -> Flow {
        match self.call(Op::Read(path)).await {
            Ok(Answer::Data(bytes)) => self.send_data(&bytes).await,
            other => self.refuse(550, other).await,
        }
    }

    async fn stor(&mut self, path: String) -> Flow {
        if self.passive.is_none() {
            return self.answer(425, "use PASV first").await;
        }
        let ota = path == OTA_PATH;
        let mut progress = None;
        let opened = if ota {
            match self.call(Op::OtaBegin).await {
                Ok(Answer::Ota(p)) => {
                    progress = Some(p);
                    Ok(Answer::Done)
                }
                other => other,
            }
        } else {
            self.call(Op::Create(path.clone())).await
        };
        if let Err(e) = opened {
            return self.answer(550, &e).await;
        }
        if let Flow::End = self.answer(150, "").await {
            return Flow::End;
        }
        let Some(data) = self.data_connection().await else {
            return self.answer(425, "").await;
        };
        match progress {
            Some(p) => self.receive_update(data, p).await,
            None => self.receive_file(data, path).await,
        }
    }

    /// A file: everything the client sends until it closes (or vanishes: what arrived is kept,
    /// as the firmware closes the file it was writing), written in one go.
    async fn receive_file(&mut self, mut data: TcpStream, path: String) -> Flow {
        let mut content = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut timed_out = false;
        loop {
            match tokio::time::timeout(DATA_TIMEOUT, data.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => content.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(_) => {
                    timed_out = true;
                    break;
                }
            }
        }
        drop(data);
        // Received by a chip that has since reset: the module's connection died with it, and
        // nothing reaches the new boot's filesystem.
        if self.chip_reset() {
            return Flow::End;
        }
        let written = self.call(Op::Write(path, content)).await;
        match (written, timed_out) {
            (Err(e), _) => self.answer(451, &e).await,
            (Ok(_), true) => self.answer(426, "").await,
            (Ok(_), false) => self.answer(226, "").await,
        }
    }

    /// A firmware update: streamed into the slot, checked at the end. Refused (`451`, with the
    /// reason) when it does not fit, is cut short, or is not an image this board boots; the
    /// running firmware and the boot record are then untouched.
    async fn receive_update(&mut self, mut data: TcpStream, mut progress: OtaProgress) -> Flow {
        let mut pending = Vec::with_capacity(OTA_CHUNK);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let read = tokio::time::timeout(DATA_TIMEOUT, data.read(&mut buf)).await;
            let n = match read {
                Ok(Ok(0) | Err(_)) => 0,
                Ok(Ok(n)) => n,
                Err(_) => return self.answer(426, "").await,
            };
            pending.extend_from_slice(buf.get(..n).unwrap_or_default());
            if n == 0 || pending.len() >= OTA_CHUNK {
                let chunk = std::mem::take(&mut pending);
                if self.chip_reset() {
                    return Flow::End;
                }
                match self.call(Op::OtaWrite(progress, chunk)).await {
                    Ok(Answer::Ota(p)) => progress = p,
                    other => return self.refuse(451, other).await,
                }
            }
            if n == 0 {
                break;
            }
        }
        drop(data);
        if self.chip_reset() {
            return Flow::End;
        }
        match self.call(Op::OtaEnd(progress)).await {
            Ok(_) => self.answer(226, "").await,
            Err(e) => self.answer(451, &e).await,
        }
    }
}

/// One line from the control connection.
enum Line {
    Command(Vec<u8>),
    /// Longer than [`MAX_LINE`]; skipped to its end.
    TooLong,
}

/// Reads up to a LF (or the end of the connection, which ends a last line without one).
/// `None` once the client has gone.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> Option<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await.ok()?;
        if buf.is_empty() {
            return if line.is_empty() && !too_long {
                None
            } else if too_long {
                Some(Line::TooLong)
            } else {
                Some(Line::Command(line))
            };
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long {
            line.extend_from_slice(buf.get(..take).unwrap_or_default());
            if line.len() > MAX_LINE {
                too_long = true;
                line.clear();
            }
        }
        reader.consume(take);
        if done {
            return Some(if too_long {
                Line::TooLong
            } else {
                Line::Command(line)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_end_at_lf_and_overlong_ones_are_skipped() {
        let mut input: &[u8] = b"USER micro\r\nNOOP";
        let mut r = BufReader::new(&mut input);
        assert!(
            matches!(read_line(&mut r).await, Some(Line::Command(l)) if l == b"USER micro\r\n")
        );
        assert!(matches!(read_line(&mut r).await, Some(Line::Command(l)) if l == b"NOOP"));
        assert!(read_line(&mut r).await.is_none());
        let mut long = vec![b'A'; MAX_LINE * 2];
        long.extend_from_slice(b"\r\nQUIT\r\n");
        let mut input: &[u8] = &long;
        let mut r = BufReader::new(&mut input);
        assert!(matches!(read_line(&mut r).await, Some(Line::TooLong)));
        assert!(matches!(read_line(&mut r).await, Some(Line::Command(l)) if l == b"QUIT\r\n"));
    }
}

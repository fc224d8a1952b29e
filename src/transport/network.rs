//! The network transports on one small tokio runtime beside the device thread: raw TCP (any
//! number of clients, as a serial line shared by several listeners) and Pycom's telnet (one
//! client at a time, as on the module). The device's output reaches every connection through a
//! broadcast channel fed from one event subscription.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

use super::TransportConfig;
use super::telnet::{self, IacFilter, Login, LoginOutcome};
use crate::device::{DeviceHandle, Remote};
use crate::event::EventKind;

/// What the device sent, for every connection.
#[derive(Debug, Clone)]
enum Output {
    Uart(Arc<Vec<u8>>),
    /// The chip reset: a telnet session ends with it, as the module's WiFi restarts.
    ChipReset,
}

/// The telnet server's idle timeout (the module's default, §16.1).
const TELNET_IDLE: Duration = Duration::from_secs(300);

pub struct Servers {
    listening: Vec<(&'static str, SocketAddr)>,
    stop: Arc<AtomicBool>,
}

impl Servers {
    /// Binds every listener now (so a port in use is an error before the run starts), then
    /// serves them on a runtime thread.
    pub fn start(handle: &DeviceHandle, config: &TransportConfig) -> Result<Servers, String> {
        let mut listeners = Vec::new();
        for (what, flag, addr) in [
            ("raw TCP", "--tcp", config.tcp),
            ("telnet", "--telnet", config.telnet),
            ("RFC 2217", "--rfc2217", config.rfc2217),
        ] {
            if let Some(addr) = addr {
                let (listener, bound) = super::bind_listener(flag, addr)?;
                listeners.push((what, bound, listener));
            }
        }
        let listening = listeners.iter().map(|(w, a, _)| (*w, *a)).collect();
        let (out_tx, _) = broadcast::channel::<Output>(4096);
        let events = handle.subscribe();
        let feed = out_tx.clone();
        std::thread::Builder::new()
            .name("net-out".into())
            .spawn(move || {
                while let Ok(event) = events.recv() {
                    let item = match event.kind {
                        EventKind::Uart { text } => Output::Uart(Arc::new(text)),
                        EventKind::Reset { .. } => Output::ChipReset,
                        EventKind::Stopped => return,
                        _ => continue,
                    };
                    // No connection listening is fine: output nobody reads is gone.
                    let _ = feed.send(item);
                }
            })
            .map_err(|e| format!("cannot start the network thread: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let remote = handle.remote();
        let login = config.login.clone();
        let banner = config.telnet_banner.clone();
        let stopping = stop.clone();
        // The strap pin the auto-reset circuit pulls low (GPIO0: P2, G23).
        let strap = config
            .auto_reset
            .then(|| handle.pin("GPIO0").ok())
            .flatten();
        std::thread::Builder::new()
            .name("net".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(serve(
                    listeners, remote, out_tx, login, banner, strap, stopping,
                ));
            })
            .map_err(|e| format!("cannot start the network thread: {e}"))?;
        Ok(Servers { listening, stop })
    }

    /// What listens where (the real ports when 0 was asked for).
    pub fn listening(&self) -> &[(&'static str, SocketAddr)] {
        &self.listening
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn serve(
    listeners: Vec<(&'static str, SocketAddr, std::net::TcpListener)>,
    remote: Remote,
    out: broadcast::Sender<Output>,
    login: Login,
    banner: String,
    strap: Option<u8>,
    stop: Arc<AtomicBool>,
) {
    let telnet_busy = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (what, _, listener) in listeners {
        let Ok(listener) = TcpListener::from_std(listener) else {
            continue;
        };
        let remote = remote.clone();
        let out = out.clone();
        let login = login.clone();
        let banner = banner.clone();
        let busy = telnet_busy.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let remote = remote.clone();
                let rx = out.subscribe();
                if what == "telnet" {
                    // One client at a time: the module closes its listening socket meanwhile.
                    if busy.swap(true, Ordering::SeqCst) {
                        drop(stream);
                        continue;
                    }
                    let login = login.clone();
                    let banner = banner.clone();
                    let busy = busy.clone();
                    tokio::spawn(async move {
                        telnet_session(stream, remote, rx, &login, &banner).await;
                        busy.store(false, Ordering::SeqCst);
                    });
                } else if what == "RFC 2217" {
                    tokio::spawn(rfc2217_session(stream, remote, rx, strap));
                } else {
                    tokio::spawn(raw_session(stream, remote, rx));
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Raw TCP: bytes both ways until the client leaves.
async fn raw_session(stream: TcpStream, remote: Remote, mut rx: broadcast::Receiver<Output>) {
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => remote.write_uart(buf.get(..n).unwrap_or_default()),
            },
            out = rx.recv() => match out {
                Ok(Output::Uart(bytes)) => {
                    if writer.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Ok(Output::ChipReset) => {}
                // A client too slow to keep up loses output, as on an overrun serial line.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// How long a chip let out of reset with GPIO0 high waits for GPIO0 to follow (the devkit's RC
/// delay on EN, stretched): pyserial's RFC 2217 client waits for each line change's answer, so
/// esptool's "DTR on, then RTS off" reaches us tens of milliseconds apart, where on a board the
/// capacitor on EN covers the microseconds between them. Out of reset with GPIO0 low, the chip
/// starts at once (download mode).
const EN_RISE: Duration = Duration::from_millis(150);

/// RFC 2217: telnet framing with the COM-PORT option; settings echoed; DTR/RTS through the
/// auto-reset circuit when `strap` (GPIO0) is given.
async fn rfc2217_session(
    stream: TcpStream,
    remote: Remote,
    mut rx: broadcast::Receiver<Output>,
    strap: Option<u8>,
) {
    use super::rfc2217::{self, AutoReset, Incoming, Parser};
    use crate::device::Action;
    use crate::gpio::Drive;
    let (mut reader, mut writer) = stream.into_split();
    let mut parser = Parser::default();
    let mut lines = AutoReset::default();
    let mut io0_driven = false;
    // When EN was let go and the reset is still to come.
    let mut releasing: Option<tokio::time::Instant> = None;
    let mut buf = [0u8; 4096];
    loop {
        let rise = async {
            match releasing {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => {
                        // A tool that pulses RTS and closes the port at once (esptool's hard
                        // reset) has let EN go: the chip still comes out of reset.
                        if let (Some(gpio), Some(_)) = (strap, releasing) {
                            let drive = if lines.io0_low() { Drive::Low } else { Drive::Floating };
                            remote.act(vec![Action::Drive { gpio, drive }, Action::ResetButton]);
                        }
                        return;
                    }
                    Ok(n) => n,
                };
                let mut replies = Vec::new();
                for item in parser.feed(buf.get(..n).unwrap_or_default()) {
                    match item {
                        Incoming::Data(bytes) => remote.write_uart(&bytes),
                        Incoming::Negotiate { command, option } => {
                            if let Some(a) = rfc2217::answer_negotiation(command, option) {
                                replies.extend_from_slice(&a);
                            }
                        }
                        Incoming::Sub(body) => {
                            if let Some(a) = rfc2217::answer_sub(&body) {
                                replies.extend(a);
                            }
                            if let (Some(gpio), Some((line, on))) = (strap, rfc2217::modem_line(&body)) {
                                let was_in_reset = lines.en_low();
                                lines.set(line, on);
                                if lines.en_low() {
                                    releasing = None;
                                } else if (was_in_reset || releasing.is_some()) && lines.io0_low() {
                                    // Out of reset with GPIO0 low: download mode, now.
                                    releasing = Some(tokio::time::Instant::now());
                                } else if was_in_reset {
                                    releasing = Some(tokio::time::Instant::now() + EN_RISE);
                                } else if releasing.is_none() && lines.io0_low() != io0_driven {
                                    // GPIO0 alone moved, with the chip running.
                                    io0_driven = lines.io0_low();
                                    let drive = if io0_driven { Drive::Low } else { Drive::Floating };
                                    remote.act(vec![Action::Drive { gpio, drive }]);
                                }
                            }
                        }
                    }
                }
                if !replies.is_empty() && writer.write_all(&replies).await.is_err() {
                    return;
                }
            }
            () = rise => {
                releasing = None;
                if let Some(gpio) = strap {
                    io0_driven = lines.io0_low();
                    let drive = if io0_driven { Drive::Low } else { Drive::Floating };
                    // The strap as it stands when EN crosses the threshold, then the reset.
                    remote.act(vec![Action::Drive { gpio, drive }, Action::ResetButton]);
                }
            }
            out = rx.recv() => match out {
                Ok(Output::Uart(bytes)) => {
                    if writer.write_all(&rfc2217::escape(&bytes)).await.is_err() {
                        return;
                    }
                }
                Ok(Output::ChipReset) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// Telnet: the login, then the REPL both ways, until the client leaves, the chip resets, or the
/// connection is idle for 300 s.
async fn telnet_session(
    mut stream: TcpStream,
    remote: Remote,
    mut rx: broadcast::Receiver<Output>,
    login: &Login,
    banner: &str,
) {
    // The chip as the session found it: a reset after this ends it, whether its event has
    // come down `rx` yet or not (`rx` drops what came before the login, and can lag).
    let born = remote.resets();
    let reset_since = || remote.resets() > born;
    let mut filter = IacFilter::default();
    let rest = match telnet::login(&mut stream, login, banner, &mut filter).await {
        LoginOutcome::LoggedIn(rest) => rest,
        LoginOutcome::Refused => return,
    };
    // Output from before the login is not the session's.
    rx = rx.resubscribe();
    if reset_since() {
        return;
    }
    remote.write_uart(&telnet::fresh_prompt_input());
    if !rest.is_empty() {
        remote.write_uart(&rest);
    }
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = [0u8; 4096];
    let mut data = Vec::new();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Ok(Output::Uart(bytes)) => {
                    if writer.write_all(&telnet::escape_output(&bytes)).await.is_err() {
                        return;
                    }
                }
                Ok(Output::ChipReset) | Err(broadcast::error::RecvError::Closed) => return,
                // What was skipped may have held the reset.
                Err(broadcast::error::RecvError::Lagged(_)) if reset_since() => return,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
            read = tokio::time::timeout(TELNET_IDLE, reader.read(&mut buf)) => match read {
                Ok(Ok(n)) if n > 0 => {
                    data.clear();
                    filter.feed(buf.get(..n).unwrap_or_default(), &mut data);
                    // CR NUL and CR LF from the client are one Enter.
                    data.retain(|&b| b != 0);
                    // Not into the new boot: the reset ended the session, even if its event is
                    // still behind output in `rx` (unbiased, so a flood of output cannot keep
                    // a Ctrl-C from being read).
                    if reset_since() {
                        return;
                    }
                    if !data.is_empty() {
                        remote.write_uart(&data);
                    }
                }
                _ => return,
            },
        }
    }
}

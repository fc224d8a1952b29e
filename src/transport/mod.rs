//! The UART on the wire: the same UART0 bytes the terminal sees, offered to host tools as a
//! pseudo-terminal, a raw TCP socket and Pycom's telnet server. Each transport is a thin adapter
//! on [`DeviceHandle`]: it types what its client sends with `write_uart` and writes the `uart`
//! events of its own subscription back, so any number of them work together and beside the
//! terminal, as a module's UART and telnet do. The FTP server is the one transport of files,
//! not bytes: it asks the device for filesystem operations with `DeviceHandle`'s `fs`.

pub mod ftp;
mod network;
mod pty;
pub mod rfc2217;
pub mod telnet;

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::device::DeviceHandle;

/// Binds a transport's listener now, so a port in use is an error before the run starts (named
/// by its `flag`, with a free alternative), set non-blocking for the tokio runtime that serves it.
/// Returns it with the address it got (port 0 picks one).
fn bind_listener(
    flag: &str,
    addr: SocketAddr,
) -> Result<(std::net::TcpListener, SocketAddr), String> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "{flag} {addr}: the port is in use; pick another ({flag} {}) or stop what holds it",
                addr.port().wrapping_add(1)
            )
        } else {
            format!("{flag} {addr}: {e}")
        }
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("{flag} {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("{flag} {addr}: {e}"))?;
    Ok((listener, bound))
}

/// Which transports to open, from the command line.
#[derive(Debug, Clone, Default)]
pub struct TransportConfig {
    /// Offer UART0 as a pseudo-terminal.
    pub pty: bool,
    /// A stable symlink to the pty's `/dev/pts/N`.
    pub pty_link: Option<PathBuf>,
    /// Raw bytes over TCP (`socket://` in pyserial and mpremote).
    pub tcp: Option<SocketAddr>,
    /// Pycom's telnet server, with its login.
    pub telnet: Option<SocketAddr>,
    /// RFC 2217 (`rfc2217://`).
    pub rfc2217: Option<SocketAddr>,
    /// DTR/RTS on RFC 2217 drive EN and GPIO0 as a devkit's auto-reset circuit does.
    pub auto_reset: bool,
    /// Pycom's FTP server (`/flash`, `/sd`, firmware updates).
    pub ftp: Option<SocketAddr>,
    /// The telnet and FTP login (`micro`/`python` by default, as on the module).
    pub login: telnet::Login,
    /// The first line the telnet server sends: `MicroPython <tag> on <date>; <Board> with ESP32`.
    pub telnet_banner: String,
}

impl TransportConfig {
    /// Whether any transport is asked for (then a run does not end when its stdin does).
    pub fn any(&self) -> bool {
        self.pty
            || self.tcp.is_some()
            || self.telnet.is_some()
            || self.rfc2217.is_some()
            || self.ftp.is_some()
    }
}

/// The open transports; dropping this closes them (and removes the pty link).
pub struct Transports {
    _pty: Option<pty::PtyTransport>,
    _network: Option<network::Servers>,
    _ftp: Option<ftp::FtpServer>,
    /// What to tell the user: the pty path first, then each listening address.
    pub announcements: Vec<Announcement>,
}

/// Where a transport can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// The pty's path (and the link to it, if one was asked for).
    Pty {
        path: PathBuf,
        link: Option<PathBuf>,
    },
    /// A listening socket.
    Listening {
        what: &'static str,
        addr: SocketAddr,
    },
}

/// Opens every transport `config` asks for on `handle`'s UART0.
pub fn start(handle: &DeviceHandle, config: &TransportConfig) -> Result<Transports, String> {
    let mut announcements = Vec::new();
    let pty = if config.pty {
        let p = pty::PtyTransport::open(handle, config.pty_link.as_deref())?;
        announcements.push(Announcement::Pty {
            path: p.path().to_path_buf(),
            link: config.pty_link.clone(),
        });
        Some(p)
    } else {
        None
    };
    let network = if config.tcp.is_some() || config.telnet.is_some() || config.rfc2217.is_some() {
        let servers = network::Servers::start(handle, config)?;
        announcements.extend(
            servers
                .listening()
                .iter()
                .copied()
                .map(|(what, addr)| Announcement::Listening { what, addr }),
        );
        Some(servers)
    } else {
        None
    };
    let ftp = match config.ftp {
        Some(addr) => {
            let server = ftp::FtpServer::start(handle, addr, config.login.clone())?;
            announcements.push(Announcement::Listening {
                what: "FTP",
                addr: server.addr(),
            });
            Some(server)
        }
        None => None,
    };
    Ok(Transports {
        _pty: pty,
        _network: network,
        _ftp: ftp,
        announcements,
    })
}

/// Parses `[ADDR:]PORT`: a bare port listens on 127.0.0.1 (the device reaches nothing of the
/// host, and nothing outside reaches it, unless the user says so).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(port) = t.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    t.parse::<SocketAddr>().map_err(|_| {
        format!(
            "'{text}' is not [ADDR:]PORT; write a port (5555) or an address and port (0.0.0.0:5555)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_listens_on_loopback_only() {
        assert_eq!(
            parse_listen("5555").unwrap(),
            "127.0.0.1:5555".parse().unwrap()
        );
        assert_eq!(
            parse_listen("0.0.0.0:23").unwrap(),
            "0.0.0.0:23".parse().unwrap()
        );
        assert!(
            parse_listen("localhost")
                .unwrap_err()
                .contains("[ADDR:]PORT")
        );
    }
}

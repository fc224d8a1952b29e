//! Pycom's telnet server as the module runs it (§16.2): welcome line, `Login as: `, `Password: `,
//! three tries, the server's IAC option offers, then the REPL shared with UART0. Nothing a
//! client sends reaches the device before the login succeeded.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Telnet's "interpret as command" byte and the commands after it (RFC 854), shared with the
/// RFC 2217 server.
pub const IAC: u8 = 0xFF;
pub const WILL: u8 = 0xFB;
pub const WONT: u8 = 0xFC;
pub const DO: u8 = 0xFD;
pub const DONT: u8 = 0xFE;
pub const SB: u8 = 0xFA;
pub const SE: u8 = 0xF0;

/// WONT ECHO, WONT SGA, WILL LINEMODE: before `Login as: `.
pub const LOGIN_OPTIONS: [u8; 9] = [IAC, WONT, 1, IAC, WONT, 3, IAC, WILL, 0x22];
/// WILL ECHO (so the password is not shown), WONT SGA, WILL LINEMODE: before `Password: `.
pub const PASSWORD_OPTIONS: [u8; 9] = [IAC, WILL, 1, IAC, WONT, 3, IAC, WILL, 0x22];
/// WILL ECHO, WILL SGA, WONT LINEMODE: character mode for the REPL.
pub const REPL_OPTIONS: [u8; 9] = [IAC, WILL, 1, IAC, WILL, 3, IAC, WONT, 0x22];

/// How many wrong logins close the connection.
pub const TRIES: usize = 3;
/// User names and passwords are at most this long on the module.
const MAX_FIELD: usize = 32;

/// The telnet login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: String,
}

impl Default for Login {
    /// The module's default, `micro` / `python`.
    fn default() -> Login {
        Login {
            user: "micro".into(),
            password: "python".into(),
        }
    }
}

/// Strips telnet commands from what a client sent, keeping its data bytes (`IAC IAC` is one
/// 0xFF). Carries a command cut between two reads over to the next.
#[derive(Debug, Default)]
pub struct IacFilter {
    state: IacState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum IacState {
    #[default]
    Data,
    Command,
    Option,
    Sub,
    SubCommand,
}

impl IacFilter {
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            self.state = match (self.state, b) {
                (IacState::Data, IAC) => IacState::Command,
                (IacState::Data, b) => {
                    out.push(b);
                    IacState::Data
                }
                (IacState::Command, IAC) => {
                    out.push(IAC);
                    IacState::Data
                }
                (IacState::Command, WILL | WONT | DO | DONT) => IacState::Option,
                (IacState::Command, SB) => IacState::Sub,
                (IacState::Command, _) | (IacState::Option, _) => IacState::Data,
                (IacState::Sub, IAC) => IacState::SubCommand,
                (IacState::Sub, _) => IacState::Sub,
                (IacState::SubCommand, SE) => IacState::Data,
                (IacState::SubCommand, _) => IacState::Sub,
            };
        }
    }
}

/// Doubles 0xFF in device output, as telnet data must.
pub fn escape_output(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !bytes.contains(&IAC) {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + 4);
    for &b in bytes {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Reads one login field: up to `\r` (a `\n` or NUL after it is the same line end) or 32
/// characters. `None` if the client went away.
async fn read_field<R: AsyncRead + Unpin>(
    reader: &mut R,
    filter: &mut IacFilter,
    pending: &mut Vec<u8>,
) -> Option<String> {
    let mut field = Vec::new();
    loop {
        while !pending.is_empty() {
            let b = pending.remove(0);
            match b {
                // NUL, and the LF of the CR LF that ended the previous field.
                0 => {}
                b'\n' if field.is_empty() => {}
                b'\r' | b'\n' => {
                    if pending.first().is_some_and(|&n| n == b'\n' || n == 0) {
                        pending.remove(0);
                    }
                    return Some(String::from_utf8_lossy(&field).into_owned());
                }
                0x08 | 0x7F => {
                    field.pop();
                }
                b => {
                    field.push(b);
                    if field.len() >= MAX_FIELD {
                        return Some(String::from_utf8_lossy(&field).into_owned());
                    }
                }
            }
        }
        let mut buf = [0u8; 256];
        let n = reader.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        filter.feed(buf.get(..n).unwrap_or_default(), pending);
    }
}

/// How a login ended.
pub enum LoginOutcome {
    /// Logged in; the bytes already read past the password belong to the REPL.
    LoggedIn(Vec<u8>),
    /// Three wrong tries, or the client left.
    Refused,
}

/// Runs the login dialogue on a fresh connection.
pub async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    login: &Login,
    banner: &str,
    filter: &mut IacFilter,
) -> LoginOutcome {
    let mut pending = Vec::new();
    if stream
        .write_all(format!("{banner}\r\n").as_bytes())
        .await
        .is_err()
    {
        return LoginOutcome::Refused;
    }
    for _ in 0..TRIES {
        let mut prompt = LOGIN_OPTIONS.to_vec();
        prompt.extend_from_slice(b"Login as: ");
        if stream.write_all(&prompt).await.is_err() {
            return LoginOutcome::Refused;
        }
        let Some(user) = read_field(stream, filter, &mut pending).await else {
            return LoginOutcome::Refused;
        };
        let mut prompt = PASSWORD_OPTIONS.to_vec();
        prompt.extend_from_slice(b"Password: ");
        if stream.write_all(&prompt).await.is_err() {
            return LoginOutcome::Refused;
        }
        let Some(password) = read_field(stream, filter, &mut pending).await else {
            return LoginOutcome::Refused;
        };
        if user == login.user && password == login.password {
            let mut welcome = REPL_OPTIONS.to_vec();
            welcome.extend_from_slice(
                b"\r\nLogin succeeded!\r\nType \"help()\" for more information.\r\n",
            );
            if stream.write_all(&welcome).await.is_err() {
                return LoginOutcome::Refused;
            }
            return LoginOutcome::LoggedIn(pending);
        }
        if stream
            .write_all(b"\r\nInvalid credentials, try again.\r\n")
            .await
            .is_err()
        {
            return LoginOutcome::Refused;
        }
    }
    LoginOutcome::Refused
}

/// What the server puts into the REPL's input after a login: 128 backspaces and a CR, so the
/// REPL prints a fresh `>>> ` whatever was half-typed on UART0.
pub fn fresh_prompt_input() -> Vec<u8> {
    let mut bytes = vec![0x08; 128];
    bytes.push(b'\r');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telnet_commands_are_stripped_and_doubled_iac_is_data() {
        let mut f = IacFilter::default();
        let mut out = Vec::new();
        f.feed(
            &[
                b'a', IAC, DO, 1, b'b', IAC, IAC, b'c', IAC, SB, 24, 0, b'x', IAC, SE, b'd',
            ],
            &mut out,
        );
        assert_eq!(out, vec![b'a', b'b', IAC, b'c', b'd']);
        // A command cut between two reads.
        let mut out = Vec::new();
        f.feed(&[b'e', IAC], &mut out);
        f.feed(&[WILL, 3, b'f'], &mut out);
        assert_eq!(out, b"ef");
    }

    #[test]
    fn output_doubles_iac() {
        assert_eq!(escape_output(b"ok").as_ref(), b"ok");
        assert_eq!(escape_output(&[1, IAC, 2]).as_ref(), &[1, IAC, IAC, 2]);
    }
}

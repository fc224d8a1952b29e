//! The loader on the device thread: in download mode the ROM reads UART0, answers each request
//! and waits again, until a reset (EN, power, a transport's DTR/RTS) or a FLASH_END ends it.

use std::cell::RefCell;

use super::chip::Identity;
use super::loader::{Exit, Loader};
use super::protocol::{ParseError, Request, Response, error};
use super::slip;
use crate::board::Board;
use crate::device::hw::Hw;
use crate::event::EventKind;
use crate::flash::FlashFile;

/// How a download-mode session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A reset, power cut or shutdown is pending on `hw` (take it there).
    Interrupted,
    /// The host asked the ROM to run the app in flash: boot on from flash without a reset.
    RunUserCode,
    /// The chip resets: the host asked the ROM to reboot it, or made it jump into RAM code.
    Reboot,
}

/// Serves the ROM loader protocol on UART0 until something ends download mode. `strap` is the
/// strapping byte the ROM latched (esptool reads it back from `GPIO_STRAP`).
pub fn serve(hw: &RefCell<Hw>, flash: &RefCell<FlashFile>, board: &Board, strap: u8) -> End {
    let mut loader = Loader::new(Identity::for_board(board), strap);
    let mut decoder = slip::Decoder::default();
    loop {
        let bytes: Vec<u8> = {
            let mut hw = hw.borrow_mut();
            // Waiting for the host is idle time: in virtual time the clock does not run on.
            hw.idle(|h| !h.uart_rx.is_empty());
            if hw.interrupted().is_some() {
                return End::Interrupted;
            }
            hw.uart_rx.drain(..).collect()
        };
        for frame in decoder.feed(&bytes) {
            // A frame with a bad escape or no end in sight is dropped: the ROM's reader starts
            // over at the next 0xC0, and esptool, hearing nothing, sends again.
            let Ok(frame) = frame else { continue };
            let (replies, exit) = match Request::parse(&frame) {
                Ok(req) => loader.handle(&req, &mut flash.borrow_mut()),
                Err(ParseError::LengthMismatch { op }) => (
                    vec![Response::fail(op, loader.value(), error::INVALID_MESSAGE)],
                    Exit::Stay,
                ),
                // Too short to name a command, or not a request at all: nothing to answer.
                Err(ParseError::TooShort | ParseError::NotARequest) => (Vec::new(), Exit::Stay),
            };
            let mut hw = hw.borrow_mut();
            let wire: Vec<u8> = replies
                .iter()
                .flat_map(|r| slip::encode(&r.encode()))
                .collect();
            hw.uart_write(&wire);
            match exit {
                Exit::Stay => {}
                Exit::RunUserCode => return End::RunUserCode,
                Exit::Reboot => return End::Reboot,
                // A chip that jumps into code nobody can run crashes and resets; that way the
                // host hears the ROM's banner at once and gives up, instead of waiting for ever
                // for its stub's greeting.
                Exit::RunRam { entry } => {
                    hw.emit(EventKind::Fault {
                        message: format!(
                            "the ROM was asked to run code loaded into RAM at {entry:#010x} \
                             (esptool's flasher stub); pycom-sim has no Xtensa core to run it, so \
                             the chip resets: give esptool --no-stub"
                        ),
                    });
                    return End::Reboot;
                }
            }
        }
    }
}

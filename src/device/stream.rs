//! The event stream's readers. Most want each event as it happens (a frontend, a transport, a
//! test). A scenario runner reads events only to log them until the device pauses, and waking
//! it for every LED change and UART chunk cost a context switch each: 16 000 of them for 120
//! scenarios with `--jobs 2` on two cores (3 700 in batches, and about a tenth less CPU time).
//! A batched reader gets the events gathered since the last batch whenever the device stops
//! to wait (a pause, an idle wait for commands, its end), or once [`BATCH_LIMIT`] have
//! gathered, so a device that never stops still reports and never hoards.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::event::{Event, EventKind};

/// Events a batched reader gets at most in one batch.
pub const BATCH_LIMIT: usize = 256;

/// The readers of one device's events; `None` once the device thread has ended.
pub type Subscribers = Arc<Mutex<Option<Vec<Subscriber>>>>;

pub enum Subscriber {
    /// Every event on its own, as it happens.
    Each(Sender<Event>),
    /// Events gathered until the device waits.
    Batched {
        to: Sender<Vec<Event>>,
        gathered: Vec<Event>,
    },
}

impl Subscriber {
    /// Hands `event` over; false once the reader is gone.
    pub fn deliver(&mut self, event: &Event) -> bool {
        match self {
            Subscriber::Each(to) => to.send(event.clone()).is_ok(),
            Subscriber::Batched { gathered, .. } => {
                gathered.push(event.clone());
                // After a pause or the end the device waits or stops: nothing follows soon.
                let last = matches!(event.kind, EventKind::Paused { .. } | EventKind::Stopped);
                if last || gathered.len() >= BATCH_LIMIT {
                    self.flush()
                } else {
                    true
                }
            }
        }
    }

    /// Sends what a batched reader has gathered; false once the reader is gone.
    pub fn flush(&mut self) -> bool {
        match self {
            Subscriber::Each(_) => true,
            Subscriber::Batched { to, gathered } => {
                gathered.is_empty() || to.send(std::mem::take(gathered)).is_ok()
            }
        }
    }
}

/// The readers, also after a panic elsewhere held the lock: a dying device thread still tells
/// them it stopped.
pub fn lock(subscribers: &Subscribers) -> MutexGuard<'_, Option<Vec<Subscriber>>> {
    subscribers
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Delivers `event` to every reader, dropping those that are gone.
pub fn deliver(subscribers: &Subscribers, event: &Event) {
    if let Some(subs) = lock(subscribers).as_mut() {
        subs.retain_mut(|s| s.deliver(event));
    }
}

/// Sends every batched reader what it has gathered (the device is about to wait).
pub fn flush(subscribers: &Subscribers) {
    if let Some(subs) = lock(subscribers).as_mut() {
        subs.retain_mut(Subscriber::flush);
    }
}

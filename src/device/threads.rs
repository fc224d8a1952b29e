//! Device threads, kept for the next device.
//!
//! A device thread keeps its Python interpreter between sessions (`python::engine`), and an
//! interpreter cannot move to another thread. So a thread whose device has ended waits a
//! little for the next device instead of ending: a scenario suite or a test binary that starts
//! devices one after another builds one interpreter per thread, not one per device (building
//! one was about a third of a short scenario's time). A thread idle for [`IDLE_LIFETIME`]
//! frees its interpreter and ends.

use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// A device's run, and the sender whose drop tells [`Finished`] it has ended.
struct Job {
    run: Box<dyn FnOnce() + Send>,
    done: Sender<()>,
}

/// How long a thread without a device waits for the next one.
const IDLE_LIFETIME: Duration = Duration::from_secs(2);

/// Threads waiting for a device: an id and the way to hand it one.
static IDLE: Mutex<Vec<(u64, Sender<Job>)>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Ends when the job does (however it ends, a panic included), as joining its thread did.
/// (In a mutex only so a handle that holds one can be shared between threads.)
pub struct Finished(Mutex<Receiver<()>>);

impl Finished {
    fn new(done: Receiver<()>) -> Finished {
        Finished(Mutex::new(done))
    }

    pub fn wait(self) {
        // The sender goes only when the job and everything it captured are dropped.
        let done = self.0.into_inner().unwrap_or_else(|p| p.into_inner());
        let _ = done.recv();
    }
}

/// Runs `job` on an idle device thread, or on a new one named `name` with `stack` bytes of
/// stack (every device thread has the same).
pub fn spawn(
    name: String,
    stack: usize,
    job: impl FnOnce() + Send + 'static,
) -> std::io::Result<Finished> {
    let (done, finished) = mpsc::channel::<()>();
    let mut job = Job {
        run: Box::new(job),
        done,
    };
    loop {
        let Some((_, worker)) = idle().pop() else {
            break;
        };
        match worker.send(job) {
            Ok(()) => return Ok(Finished::new(finished)),
            // That thread ended after all: try the next.
            Err(mpsc::SendError(back)) => job = back,
        }
    }
    new_thread(name, stack, || {}, Some(job))?;
    Ok(Finished::new(finished))
}

/// Starts a device thread named `name` that runs `warm`, then `first` if there is one, then
/// serves its queue. Returns the thread's entry for [`IDLE`].
fn new_thread(
    name: String,
    stack: usize,
    warm: fn(),
    first: Option<Job>,
) -> std::io::Result<(u64, Sender<Job>)> {
    let (jobs_tx, jobs) = mpsc::channel::<Job>();
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Some(job) = first {
        jobs_tx
            .send(job)
            .expect("the receiver is still in this function");
    }
    let me = jobs_tx.clone();
    std::thread::Builder::new()
        .name(name)
        .stack_size(stack)
        .spawn(move || {
            warm();
            serve(id, me, jobs);
        })?;
    Ok((id, jobs_tx))
}

/// Starts threads (up to `count` in all with those already idle) that prepare themselves with
/// `warm` (build their Python engine) and then wait for a device like any idle thread. Called
/// where devices are about to come (a scenario run), so the first device's interpreter is
/// built while the caller still reads its files. Each counts as idle as soon as it is started:
/// a device handed to one runs once its preparation is done.
pub fn prewarm(count: usize, name: &str, stack: usize, warm: fn()) {
    let missing = count.saturating_sub(idle().len());
    for _ in 0..missing {
        // No thread: spawn will make one when a device comes.
        if let Ok(entry) = new_thread(name.to_owned(), stack, warm, None) {
            idle().push(entry);
        }
    }
}

fn idle() -> std::sync::MutexGuard<'static, Vec<(u64, Sender<Job>)>> {
    IDLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A device thread's life: devices one after another, until none comes for a while.
fn serve(id: u64, me: Sender<Job>, jobs: Receiver<Job>) {
    loop {
        match jobs.recv_timeout(IDLE_LIFETIME) {
            Ok(Job { run, done }) => {
                run();
                // Idle again before the device's owner hears it ended: an owner that starts
                // its next device at once (a scenario runner) gets this thread, not a new one
                // that would build another interpreter.
                idle().push((id, me.clone()));
                drop(done);
            }
            Err(RecvTimeoutError::Timeout) => {
                let mut waiting = idle();
                if let Some(at) = waiting.iter().position(|(i, _)| *i == id) {
                    waiting.swap_remove(at);
                    break;
                }
                // Someone took this thread just now: its job is on the way.
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    crate::python::engine::retire_spare();
}

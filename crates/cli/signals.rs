//! One handler for SIGINT, SIGTERM and SIGHUP for a whole apply or destroy, installed before
//! the lock is taken: every signal from then on is counted once, whether it arrives while
//! refreshing, at the prompt, or between two polls of the executor (a `ctrl_c()` future made
//! per loop pass missed the ones that came in between).
//!
//! What a signal means: before anything changed (opening, planning, the prompt) the run stops
//! at once, releases the lock and exits 128 + the signal's number. During the steps, a first
//! Ctrl-C starts no new step and lets the ones in flight finish; a second one, SIGTERM (a CI
//! job cancelled, `timeout`) or SIGHUP (the terminal closed) leaves at once: every finished
//! step is in the state, and what the steps in flight made is found again by its ownership
//! tags.

use std::future::Future;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

pub use livestack_engine::{Received, Signal};

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    count: u32,
    last: Option<Signal>,
}

/// The run's signals, counted since [`Signals::install`].
pub struct Signals {
    rx: watch::Receiver<Seen>,
    /// How many of them [`next`](Self::next) has returned.
    taken: u32,
}

impl Signals {
    /// Takes SIGINT, SIGTERM and SIGHUP over from their default (ending the process) for the
    /// rest of the process's life.
    pub fn install() -> std::io::Result<Signals> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let (tx, rx) = watch::channel(Seen::default());
        tokio::spawn(async move {
            loop {
                let s = tokio::select! {
                    Some(()) = int.recv() => Signal::Interrupt,
                    Some(()) = term.recv() => Signal::Terminate,
                    Some(()) = hup.recv() => Signal::Hangup,
                    else => return,
                };
                tx.send_modify(|seen| {
                    seen.count += 1;
                    seen.last = Some(s);
                });
            }
        });
        Ok(Signals { rx, taken: 0 })
    }

    /// The next signal not yet returned (at once if one came already).
    pub async fn next(&mut self) -> Received {
        loop {
            let seen = *self.rx.borrow_and_update();
            if let (true, Some(signal)) = (seen.count > self.taken, seen.last) {
                self.taken = seen.count;
                return Received {
                    signal,
                    count: seen.count,
                };
            }
            if self.rx.changed().await.is_err() {
                // The handler's task is gone (the runtime is shutting down): no more signals.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Runs `work` unless a signal comes first; then `work` is dropped (with what it holds,
    /// the lock included) and the error says the run stopped `while` doing what.
    pub async fn guard<T>(
        &mut self,
        what: &str,
        work: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        tokio::select! {
            biased;
            r = self.next() => Err(Interrupted {
                signal: r.signal,
                what: what.to_string(),
            }
            .into()),
            r = work => r,
        }
    }
}

/// A run stopped by a signal before it changed anything.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: Signal,
    /// "apply cancelled at the prompt", "destroy stopped while planning".
    pub what: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} by {}; nothing was changed and the lock is released",
            self.what,
            self.signal.name()
        )
    }
}

impl std::error::Error for Interrupted {}

impl livestack_engine::Interrupts for Signals {
    fn next(&mut self) -> impl std::future::Future<Output = Received> + Send {
        Signals::next(self)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn send(signal: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::getpid(), signal).expect("kill");
    }

    async fn next(signals: &mut Signals) -> Received {
        tokio::time::timeout(Duration::from_secs(30), signals.next())
            .await
            .expect("the signal is counted")
    }

    /// A `ctrl_c()` future made per loop pass missed the SIGINT that came between two polls.
    #[tokio::test]
    async fn a_signal_that_comes_while_nobody_waits_is_not_lost() {
        let mut signals = Signals::install().unwrap();
        send(rustix::process::Signal::INT);
        tokio::time::sleep(Duration::from_millis(200)).await; // nobody waits meanwhile
        let first = next(&mut signals).await;
        assert_eq!((first.signal, first.count), (Signal::Interrupt, 1));
        assert!(
            !first.leaves_now(),
            "a first Ctrl-C finishes the steps in flight"
        );

        send(rustix::process::Signal::INT);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let second = next(&mut signals).await;
        assert_eq!((second.signal, second.count), (Signal::Interrupt, 2));
        assert!(second.leaves_now(), "a second Ctrl-C leaves at once");
    }
}

//! What the engine tells its caller while it works (events, never prints), and what the
//! caller tells the engine (a request to stop).

use std::future::Future;
use std::time::Duration;

use livestack_plan::Step;

/// One thing that happened during an apply.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A step began.
    StepStarted(&'a Step),
    /// What a step in flight is doing now ("calling CreateChannel", "waiting for IDLE").
    Phase {
        step: usize,
        what: &'a str,
    },
    /// A step finished; the state holds its outcome.
    StepDone {
        step: usize,
        took: Duration,
    },
    StepFailed {
        step: usize,
    },
    /// A step in flight when the run left at once (a second Ctrl-C, SIGTERM).
    StepAbandoned {
        step: usize,
    },
    /// A sentence for the user about the whole run.
    Note(&'a str),
}

/// Receives the engine's events; called from the tasks that run the steps.
pub trait Observer: Send + Sync {
    fn event(&self, event: Event<'_>);
}

/// An observer that ignores everything (a test, a program that only wants the result).
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: Event<'_>) {}
}

/// What asked a run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Hangup,
}

impl Signal {
    /// The exit code of a process that this signal stopped (128 + its number).
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
            Signal::Hangup => 129,
        }
    }

    /// How messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }
}

/// A stop request, and how many have come so far in this run.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub signal: Signal,
    pub count: u32,
}

impl Received {
    /// A first Ctrl-C lets the steps in flight finish; a second one, SIGTERM or SIGHUP leave
    /// at once.
    pub fn leaves_now(self) -> bool {
        self.signal != Signal::Interrupt || self.count > 1
    }
}

/// Where stop requests come from (the CLI's signal handler; a test's channel).
pub trait Interrupts: Send {
    /// The next request; pending forever if none comes. A request made while nobody waited is
    /// returned by the next call, never lost.
    fn next(&mut self) -> impl Future<Output = Received> + Send;
}

/// Never asks to stop.
pub struct Uninterrupted;

impl Interrupts for Uninterrupted {
    fn next(&mut self) -> impl Future<Output = Received> + Send {
        std::future::pending()
    }
}

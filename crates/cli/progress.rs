//! What apply and destroy show on stderr while they run, and the logs (`-v`, `RUST_LOG`).
//!
//! On a terminal, a live line per step in flight (indicatif): the step, its resource, what it
//! is doing ("calling CreateChannel", "waiting for RUNNING") and for how long; a finished
//! step leaves the live area and is printed once above it as "done (3.2s)", "FAILED" or "left
//! unfinished". While the live area is up the terminal does not echo what is typed: indicatif
//! pads each line to the terminal's width, so an echoed `^C` (or any key) wraps to a new row,
//! the display redraws one row too low and leaves a frozen copy of its top line behind.
//! Elsewhere, one plain line when a step starts and one when it ends, a format that scripts
//! and tests parse: phases are not printed there, they are `info` logs (`-v`).
//!
//! Logs go to stderr too; while the live display is up they are written above it. They never
//! carry a secret: livestack logs addresses, operations and ids only, and the SDK targets that
//! dump whole requests and responses at `trace` (bodies hold stream keys and ingest passwords)
//! are capped at `debug`, whatever `RUST_LOG` says.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressState, ProgressStyle};
use livestack_plan::Step;
use tracing::{debug, info};
use tracing_subscriber::prelude::*;

/// Whether to colour what is written to `stream`: a terminal, and `NO_COLOR` unset or empty
/// (no-color.org).
pub fn color(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Installs the log subscriber: `RUST_LOG` when set, else by `-v` count: warnings of livestack
/// only (0), livestack at info (1), livestack and the AWS SDK at debug (2 or more).
pub fn init_logs(verbose: u8) {
    use tracing_subscriber::{filter, fmt, EnvFilter};

    let directives = match std::env::var("RUST_LOG") {
        Ok(s) if !s.trim().is_empty() => s,
        _ => match verbose {
            0 => "off,livestack=warn".to_string(),
            1 => "warn,livestack=info".to_string(),
            _ => "warn,livestack=debug,aws_config=debug,aws_runtime=debug,aws_sdk=debug,aws_smithy=debug,aws_sigv4=debug".to_string(),
        },
    };
    let layer = fmt::layer()
        .with_writer(|| LogWriter)
        .with_ansi(color(&std::io::stderr()))
        .with_timer(fmt::time::uptime());
    let _ = tracing_subscriber::registry()
        .with(EnvFilter::builder().parse_lossy(directives))
        .with(filter::filter_fn(|meta| !dumps_bodies(meta)))
        .with(layer)
        .try_init();
}

/// The `trace` events that print whole requests, responses and outputs: with RUST_LOG=trace,
/// aws_smithy_runtime's orchestrator printed the RTMP stream key of every DescribeChannel
/// answer (the typed outputs redact only what AWS's models mark sensitive).
fn dumps_bodies(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == tracing::Level::TRACE
        && [
            "aws_smithy_runtime",
            "aws_sigv4",
            "hyper",
            "h2",
            "axum",
            "livestack_sandbox",
        ]
        .iter()
        .any(|t| meta.target().starts_with(t))
}

/// The live display while it is up, for [`LogWriter`].
static LIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Writes `line` to stderr, above the live display when it is up. A stderr that is gone (the
/// terminal closed: SIGHUP) loses the line instead of panicking as `eprintln!` would.
fn say(line: &str) {
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match live {
        Some(m) => {
            let _ = m.println(line);
        }
        None => {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}

/// A warning line (a call being retried), above the live display when it is up.
pub fn warning(message: &str) {
    say(&format!("warning: {message}"));
}

/// stderr, around the live display when there is one.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let live = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match live {
            Some(m) => m.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// How the progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A live line per step (a terminal).
    Live { color: bool },
    /// A line when a step starts and one when it ends.
    Plain,
}

impl Display {
    /// Live when stderr is a terminal.
    pub fn for_stderr() -> Display {
        if std::io::stderr().is_terminal() {
            Display::Live {
                color: color(&std::io::stderr()),
            }
        } else {
            Display::Plain
        }
    }
}

/// The progress of one apply or destroy.
pub struct Progress {
    started: Instant,
    live: Option<(MultiProgress, Arc<Styles>)>,
    /// Held while the live display is up: restores the echo when dropped.
    _no_echo: Option<NoEcho>,
}

impl Progress {
    pub fn new(display: Display) -> Progress {
        let (live, no_echo) = match display {
            Display::Plain => (None, None),
            Display::Live { color } => {
                let multi = MultiProgress::new();
                *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(multi.clone());
                (
                    Some((multi, Arc::new(Styles::new(color)))),
                    NoEcho::on_stderr(),
                )
            }
        };
        Progress {
            started: Instant::now(),
            live,
            _no_echo: no_echo,
        }
    }

    /// Since the start of the run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Shows the step as started; report its phases and end through the handle.
    pub fn step_started(&self, st: &Step) -> StepProgress {
        let label = format!("{} {}: {}", st.id, st.address, st.op.as_str());
        let handle = StepProgress {
            started: self.started,
            bar: self.live.as_ref().map(|(multi, styles)| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(styles.running.clone());
                bar.set_prefix(label.clone());
                bar.enable_steady_tick(Duration::from_millis(100));
                Live {
                    multi: multi.clone(),
                    bar,
                    styles: styles.clone(),
                }
            }),
            label,
            ended: Arc::new(AtomicBool::new(false)),
        };
        debug!(target: "livestack::exec", "{}: started", handle.label);
        if handle.bar.is_none() {
            say(&format!(
                "[{:>6.1}s] {}...",
                self.elapsed().as_secs_f64(),
                handle.label
            ));
        }
        handle
    }

    /// A message between the step lines (above the live display on a terminal).
    pub fn note(&self, message: &str) {
        match &self.live {
            Some((multi, _)) => {
                let _ = multi.println(message);
            }
            None => say(message),
        }
    }

    /// Takes the live display down (what is left of it is cleared): the lines that follow
    /// are the run's last.
    pub fn close(&mut self) {
        if let Some((multi, _)) = self.live.take() {
            *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let _ = multi.clear();
        }
        self._no_echo = None;
    }

    /// The last line: every step done.
    pub fn finish(&mut self, steps: usize) {
        self.close();
        say(&format!(
            "Done: {} steps in {:.1}s.",
            steps,
            self.elapsed().as_secs_f64()
        ));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.close();
    }
}

/// One step's line: what it is doing now, and how it ended (said once).
#[derive(Clone)]
pub struct StepProgress {
    started: Instant,
    /// "3 medialive_channel.imday: create"
    label: String,
    bar: Option<Live>,
    /// Whether the end was said: once, whoever says it first.
    ended: Arc<AtomicBool>,
}

/// A step's live line.
#[derive(Clone)]
struct Live {
    multi: MultiProgress,
    bar: ProgressBar,
    styles: Arc<Styles>,
}

impl StepProgress {
    /// What the step is doing now ("calling CreateChannel", "waiting for IDLE"): on the live
    /// line, and an `info` log.
    pub fn phase(&self, phase: &str) {
        info!(target: "livestack::exec", "{}: {phase}", self.label);
        if let Some(live) = &self.bar {
            live.bar.set_message(phase.to_string());
        }
    }

    /// The step succeeded after `took`.
    pub fn done(&self, took: Duration) {
        debug!(target: "livestack::exec", "{}: done in {:.1}s", self.label, took.as_secs_f64());
        self.end(End::Done, &format!("done ({:.1}s)", took.as_secs_f64()));
    }

    /// The step failed (its error is reported by the caller).
    pub fn failed(&self) {
        debug!(target: "livestack::exec", "{}: failed", self.label);
        self.end(End::Failed, "FAILED");
    }

    /// The run left while the step was in flight: what it did is found again by the next run.
    pub fn abandoned(&self) {
        debug!(target: "livestack::exec", "{}: left unfinished", self.label);
        self.end(End::Failed, "left unfinished");
    }

    /// Prints the step's one last line: above the live area (which it leaves) on a terminal.
    fn end(&self, end: End, outcome: &str) {
        if self.ended.swap(true, Ordering::SeqCst) {
            return;
        }
        match &self.bar {
            Some(live) => {
                live.bar.finish_and_clear();
                live.multi.remove(&live.bar);
                let _ = live
                    .multi
                    .println(live.styles.ended(end, &self.label, outcome));
            }
            None => say(&format!(
                "[{:>6.1}s] {} {outcome}",
                self.started.elapsed().as_secs_f64(),
                self.label,
            )),
        }
    }
}

#[derive(Clone, Copy)]
enum End {
    Done,
    Failed,
}

/// Keeps the terminal from echoing what is typed while the live display is up (see the
/// module's doc), and restores it when dropped. Only for the terminal's foreground process:
/// a background one changing the terminal would be stopped (SIGTTOU).
struct NoEcho {
    saved: rustix::termios::Termios,
}

impl NoEcho {
    fn on_stderr() -> Option<NoEcho> {
        use rustix::termios::{tcgetattr, tcgetpgrp, tcsetattr, LocalModes, OptionalActions};
        let fd = std::io::stderr();
        if tcgetpgrp(&fd).ok()? != rustix::process::getpgrp() {
            return None;
        }
        let saved = tcgetattr(&fd).ok()?;
        let mut quiet = saved.clone();
        quiet
            .local_modes
            .remove(LocalModes::ECHO | LocalModes::ECHOCTL);
        tcsetattr(&fd, OptionalActions::Now, &quiet).ok()?;
        Some(NoEcho { saved })
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stderr(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

struct Styles {
    color: bool,
    running: ProgressStyle,
}

impl Styles {
    fn new(color: bool) -> Styles {
        // The elapsed time with a tenth of a second, as the plain lines have it.
        let secs = |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}s", s.elapsed().as_secs_f64());
        };
        let style = |colored: &str, plain: &str| {
            ProgressStyle::with_template(if color { colored } else { plain })
                .expect("a valid progress template")
                .with_key("secs", secs)
        };
        Styles {
            color,
            running: style(
                "{spinner:.cyan} {prefix}  {msg:.yellow}  {secs}",
                "{spinner} {prefix}  {msg}  {secs}",
            ),
        }
    }

    /// The line a finished step leaves: `✓ 3 medialive_channel.imday: create  done (1.2s)`.
    fn ended(&self, end: End, label: &str, outcome: &str) -> String {
        let (mark, colour) = match end {
            End::Done => ('\u{2713}', "\x1b[32m"),
            End::Failed => ('\u{2717}', "\x1b[1;31m"),
        };
        if self.color {
            format!("{mark} {label}  {colour}{outcome}\x1b[0m")
        } else {
            format!("{mark} {label}  {outcome}")
        }
    }
}

/// The engine's events shown as step lines.
pub struct Shown {
    progress: std::sync::Mutex<Progress>,
    lines: std::sync::Mutex<std::collections::BTreeMap<usize, StepProgress>>,
}

impl Shown {
    pub fn new(progress: Progress) -> Shown {
        Shown {
            progress: std::sync::Mutex::new(progress),
            lines: Default::default(),
        }
    }

    fn line(&self, step: usize) -> Option<StepProgress> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.get(&step).cloned()
    }

    /// The progress, to take the live display down or say the last line.
    pub fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl livestack_engine::Observer for Shown {
    fn event(&self, event: livestack_engine::Event<'_>) {
        use livestack_engine::Event;
        match event {
            Event::StepStarted(st) => {
                let line = self.progress().step_started(st);
                let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
                lines.insert(st.id, line);
            }
            Event::Phase { step, what } => {
                if let Some(l) = self.line(step) {
                    l.phase(what)
                }
            }
            Event::StepDone { step, took } => {
                if let Some(l) = self.line(step) {
                    l.done(took)
                }
            }
            Event::StepFailed { step } => {
                if let Some(l) = self.line(step) {
                    l.failed()
                }
            }
            Event::StepAbandoned { step } => {
                if let Some(l) = self.line(step) {
                    l.abandoned()
                }
            }
            Event::Note(message) => self.progress().note(message),
        }
    }
}

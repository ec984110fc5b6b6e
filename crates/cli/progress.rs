//! What apply and destroy show on stderr while they run, and the logs (`-v`, `RUST_LOG`).
//!
//! On a terminal, a live line per step (indicatif): the step, its resource, what it is doing
//! ("calling CreateChannel", "waiting for RUNNING") and for how long; a finished step's line
//! stays as "done (3.2s)" or "FAILED". Elsewhere, one plain line when a step starts and one
//! when it ends, a format that scripts and tests parse: phases are not printed there, they
//! are `info` logs (`-v`).
//!
//! Logs go to stderr too; while the live display is up they are written above it. They never
//! carry a secret: livestack logs addresses, operations and ids only, and the SDK targets that
//! dump whole requests and responses at `trace` (bodies hold stream keys and ingest passwords)
//! are capped at `debug`, whatever `RUST_LOG` says.

use std::io::{IsTerminal, Write};
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
}

impl Progress {
    pub fn new(display: Display) -> Progress {
        let live = match display {
            Display::Plain => None,
            Display::Live { color } => {
                let multi = MultiProgress::new();
                *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(multi.clone());
                Some((multi, Arc::new(Styles::new(color))))
            }
        };
        Progress {
            started: Instant::now(),
            live,
        }
    }

    /// Since the start of the run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Shows the step as started; report its phases and end through the handle.
    pub fn step_started(&self, st: &Step) -> StepProgress {
        let handle = StepProgress {
            started: self.started,
            label: format!("{} {}: {}", st.id, st.address, st.op.as_str()),
            bar: self.live.as_ref().map(|(multi, styles)| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(styles.running.clone());
                bar.set_prefix(format!("{} {}: {}", st.id, st.address, st.op.as_str()));
                bar.enable_steady_tick(Duration::from_millis(100));
                (bar, styles.clone())
            }),
        };
        debug!(target: "livestack::exec", "{}: started", handle.label);
        if handle.bar.is_none() {
            eprintln!(
                "[{:>6.1}s] {}...",
                self.elapsed().as_secs_f64(),
                handle.label
            );
        }
        handle
    }

    /// A message between the step lines (above the live display on a terminal).
    pub fn note(&self, message: &str) {
        match &self.live {
            Some((multi, _)) => {
                let _ = multi.println(message);
            }
            None => eprintln!("{message}"),
        }
    }

    /// The last line: every step done.
    pub fn finish(&self, steps: usize) {
        eprintln!(
            "Done: {} steps in {:.1}s.",
            steps,
            self.elapsed().as_secs_f64()
        );
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.live.is_some() {
            *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
}

/// One step's line: what it is doing now, and how it ended.
#[derive(Clone)]
pub struct StepProgress {
    started: Instant,
    /// "3 medialive_channel.imday: create"
    label: String,
    bar: Option<(ProgressBar, Arc<Styles>)>,
}

impl StepProgress {
    /// What the step is doing now ("calling CreateChannel", "waiting for IDLE"): on the live
    /// line, and an `info` log.
    pub fn phase(&self, phase: &str) {
        info!(target: "livestack::exec", "{}: {phase}", self.label);
        if let Some((bar, _)) = &self.bar {
            bar.set_message(phase.to_string());
        }
    }

    /// The step succeeded after `took`.
    pub fn done(&self, took: Duration) {
        debug!(target: "livestack::exec", "{}: done in {:.1}s", self.label, took.as_secs_f64());
        match &self.bar {
            Some((bar, styles)) => {
                bar.set_style(styles.done.clone());
                bar.finish_with_message(format!("done ({:.1}s)", took.as_secs_f64()));
            }
            None => eprintln!(
                "[{:>6.1}s] {} done ({:.1}s)",
                self.started.elapsed().as_secs_f64(),
                self.label,
                took.as_secs_f64()
            ),
        }
    }

    /// The step failed (its error is reported by the caller).
    pub fn failed(&self) {
        debug!(target: "livestack::exec", "{}: failed", self.label);
        match &self.bar {
            Some((bar, styles)) => {
                bar.set_style(styles.failed.clone());
                bar.finish_with_message("FAILED");
            }
            None => eprintln!(
                "[{:>6.1}s] {} FAILED",
                self.started.elapsed().as_secs_f64(),
                self.label
            ),
        }
    }
}

struct Styles {
    running: ProgressStyle,
    done: ProgressStyle,
    failed: ProgressStyle,
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
            running: style(
                "{spinner:.cyan} {prefix}  {msg:.yellow}  {secs}",
                "{spinner} {prefix}  {msg}  {secs}",
            ),
            done: style(
                "\u{2713} {prefix}  {msg:.green}",
                "\u{2713} {prefix}  {msg}",
            ),
            failed: style(
                "\u{2717} {prefix}  {msg:.red.bold}",
                "\u{2717} {prefix}  {msg}",
            ),
        }
    }
}

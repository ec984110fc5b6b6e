//! livestack-bench: the figures of issue 9, measured against an in-process sandbox on
//! 127.0.0.1 with injected latency (nothing contacts AWS), each printed with its bound and
//! their ratio, in one run. `cargo run -p livestack-bench --release -- [--only P2] [--quick]`.

mod measure;
mod script;
mod stacks;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use livestack_aws::Clients;
use livestack_engine::Engine;
use livestack_plan::Mode;
use livestack_sandbox::{RateLimit, Running};

use measure::{Applied, PARALLELISM};

/// Latency added to every AWS call the sandbox answers, in every figure.
const LATENCY: Duration = Duration::from_millis(50);
/// P1's sandbox speed (a 60 s channel start takes 15 s).
const P1_SPEED: f64 = 4.0;
/// The speed of the sandbox holding the copies (P2, P4, throttling).
const COPIES_SPEED: f64 = 200.0;
/// The throttling figure's quotas: this share of the rate the unthrottled plan sent each
/// family at, so that a client that kept its pace would see 30% of its calls refused.
const THROTTLE_SHARE: f64 = 0.7;

#[derive(Parser)]
#[command(
    about = "livestack's figures against an in-process sandbox (issue 9); nothing contacts AWS"
)]
struct Args {
    /// Copies of section 1 for P2's no-op plans, comma-separated; P4 and the throttling
    /// figure use the first [default: 200,500; with --quick 20,50]
    #[arg(long, value_delimiter = ',')]
    copies: Option<Vec<usize>>,
    /// Run one figure only
    #[arg(long, value_enum, ignore_case = true)]
    only: Option<Figure>,
    /// Small sizes (20 and 50 copies) for a quick look
    #[arg(long)]
    quick: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Figure {
    P1,
    P2,
    P4,
    Throttle,
}

/// One line of the table.
struct Row {
    figure: String,
    measured: String,
    bound: String,
    ratio: String,
    verdict: String,
}

impl Row {
    /// `ratio` against its target: at most `target`, or at least it when `at_least`.
    fn ratio(figure: String, measured: String, bound: String, ratio: f64, target: Target) -> Row {
        let pass = match target {
            Target::AtMost(t) => ratio <= t,
            Target::AtLeast(t) => ratio >= t,
        };
        Row {
            figure,
            measured,
            bound,
            ratio: format!("{ratio:.2}"),
            verdict: if pass { "PASS" } else { "MISS" }.into(),
        }
    }

    /// A time against the time it is bounded by.
    fn times(figure: String, took: Duration, bound: Duration, target: Target) -> Row {
        Row::ratio(figure, secs(took), secs(bound), ratio(took, bound), target)
    }

    fn info(figure: String, measured: String, ratio: String) -> Row {
        Row {
            figure,
            measured,
            bound: "-".into(),
            ratio,
            verdict: "info".into(),
        }
    }

    fn skipped(figure: String, why: String) -> Row {
        Row {
            figure,
            measured: "-".into(),
            bound: "-".into(),
            ratio: "-".into(),
            verdict: format!("SKIPPED: {why}"),
        }
    }
}

#[derive(Clone, Copy)]
enum Target {
    AtMost(f64),
    AtLeast(f64),
}

/// What the run prints: the table's rows, and notes that say how each figure came about.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    // Section 3's RTMP stream key, for livestack and the CLI script alike.
    if std::env::var_os("FACEBOOK_STREAM_KEY").is_none() {
        std::env::set_var("FACEBOOK_STREAM_KEY", "livestack-bench-stream-key");
    }
    let copies = args.copies.clone().unwrap_or_else(|| match args.quick {
        true => vec![20, 50],
        false => vec![200, 500],
    });
    anyhow::ensure!(
        !copies.is_empty() && copies.iter().all(|&n| n > 0),
        "--copies wants one or more positive numbers"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(run(&args, &copies))
}

async fn run(args: &Args, copies: &[usize]) -> Result<()> {
    let wanted = |f: Figure| args.only.is_none_or(|o| o == f);
    let started = Instant::now();
    println!("{}", header());
    let mut report = Report::default();
    // P4 first: its peak memory is measured from a process that has done little else.
    let mut world = None;
    if wanted(Figure::P4) || wanted(Figure::P2) || wanted(Figure::Throttle) {
        world = Some(World::build(copies[0], wanted(Figure::P4), &mut report).await?);
    }
    if wanted(Figure::P1) {
        p1(&mut report).await?;
    }
    if let Some(world) = &mut world {
        let mut unthrottled = None;
        if wanted(Figure::P2) {
            unthrottled = Some(p2(world, &mut report).await?);
        }
        if wanted(Figure::Throttle) {
            throttle(world, unthrottled, &mut report).await?;
        }
        if wanted(Figure::P2) {
            for &n in &copies[1..] {
                world.grow(n).await?;
                p2(world, &mut report).await?;
            }
        }
    }
    println!();
    print!("{}", table(&report.rows));
    println!();
    print!("{}", report.notes);
    println!("Whole run: {}.", secs(started.elapsed()));
    Ok(())
}

/// The build profile, the machine and its load: the figures depend on them.
fn header() -> String {
    let profile = match cfg!(debug_assertions) {
        true => "debug (dev profile, unoptimised)",
        false => "release",
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "livestack-bench: {profile} build, {cores} cores, load average {load}; sandbox in process \
         on 127.0.0.1, {} ms latency per call, refresh parallelism {PARALLELISM}; nothing contacts AWS",
        LATENCY.as_millis()
    )
}

/// Copies of section 1 that P1 also applies from empty, side by side: where a plan has
/// independent chains, which a sequential script runs one after the other.
const P1_COPIES: usize = 4;

/// P1: section 1 from empty, then section 1 -> 3, at speed 4; livestack against the plan's
/// critical path, and the same steps as a sequential AWS CLI script against livestack; then
/// the same for [`P1_COPIES`] copies of section 1 from empty.
async fn p1(report: &mut Report) -> Result<()> {
    eprintln!("P1: livestack, section 1 from empty then section 3, sandbox speed {P1_SPEED}...");
    let sandbox = measure::sandbox(P1_SPEED).await?;
    measure::faults(&sandbox, LATENCY, vec![])?;
    let dir = tempfile::tempdir().context("a state directory")?;
    let mut engine = measure::engine(
        &sandbox,
        stacks::parse("s3-loop.toml", stacks::SECTION_1)?,
        dir.path(),
    )
    .await?;
    let s1 = measure::apply(&mut engine).await?;
    engine.desired = stacks::parse("s3-loop-facebook.toml", stacks::SECTION_3)?;
    let s3 = measure::apply(&mut engine).await?;
    eprintln!("P1: livestack, {P1_COPIES} copies of section 1 from empty...");
    let copies_sandbox = measure::sandbox(P1_SPEED).await?;
    measure::faults(&copies_sandbox, LATENCY, vec![])?;
    let copies_dir = tempfile::tempdir().context("a state directory")?;
    let mut copies_engine = measure::engine(
        &copies_sandbox,
        stacks::copies(P1_COPIES)?,
        copies_dir.path(),
    )
    .await?;
    let copies = measure::apply(&mut copies_engine).await?;
    let copies_what = format!("{P1_COPIES} copies of section 1 from empty");
    let runs = [
        ("section 1 from empty", &s1),
        ("section 1 -> 3", &s3),
        (copies_what.as_str(), &copies),
    ];
    for (what, applied) in runs {
        let path = measure::critical_path(&applied.plan, P1_SPEED, LATENCY);
        report.rows.push(Row::times(
            format!("P1 {what}: steps / critical path (<= 1.15)"),
            applied.executing,
            path,
            Target::AtMost(1.15),
        ));
        if applied.plan.steps.len() <= 10 {
            steps_note(report, &format!("P1 {what}"), applied, P1_SPEED);
        }
    }

    let cli_figure = |what: &str| format!("P1 {what}: aws CLI script / livestack (>= 2)");
    let cli = match script::find() {
        Ok(cli) => cli,
        Err(why) => {
            for (what, _) in runs {
                report
                    .rows
                    .push(Row::skipped(cli_figure(what), why.clone()));
            }
            return Ok(());
        }
    };
    eprintln!("P1: the same steps as a sequential aws CLI script, on sandboxes of its own...");
    // Section 1 then 3 on one sandbox, the copies on another (they share section 1's role).
    let mut endpoints = Vec::new();
    let mut cli_sandboxes = Vec::new();
    for _ in 0..2 {
        let sb = measure::sandbox(P1_SPEED).await?;
        measure::faults(&sb, LATENCY, vec![])?;
        endpoints.push(sb.endpoint_url());
        cli_sandboxes.push(sb);
    }
    let plans = [
        (0, s1.plan.clone()),
        (0, s3.plan.clone()),
        (1, copies.plan.clone()),
    ];
    let times = tokio::task::spawn_blocking(move || -> Result<Vec<(Duration, usize)>> {
        let mut scripts: Vec<script::Script> = endpoints
            .into_iter()
            .map(|e| script::Script::new(cli.clone(), e))
            .collect();
        let t0 = Instant::now();
        scripts[0].idle()?;
        let mut times = vec![(t0.elapsed(), 1)];
        for (on, plan) in &plans {
            let script = &mut scripts[*on];
            let (t0, n0) = (Instant::now(), script.invocations);
            script.run(plan)?;
            times.push((t0.elapsed(), script.invocations - n0));
        }
        Ok(times)
    })
    .await
    .context("the CLI script's thread")?;
    match times {
        Ok(times) => {
            let _ = writeln!(
                report.notes,
                "P1: one aws process that makes one call (medialive list-channels) takes {} here.",
                secs(times[0].0)
            );
            for ((what, applied), (took, invocations)) in runs.iter().zip(&times[1..]) {
                report.rows.push(Row::times(
                    cli_figure(what),
                    *took,
                    applied.total(),
                    Target::AtLeast(2.0),
                ));
                let path = measure::critical_path(&applied.plan, P1_SPEED, LATENCY);
                let _ = writeln!(
                    report.notes,
                    "P1 {what}: the aws CLI script ran {invocations} aws processes in {}; livestack's apply took {} (refresh and plan {}, steps {}); the plan's critical path (what AWS's own durations take whoever calls) is {}, so no tool can be more than {:.2}x faster than this script.",
                    secs(*took),
                    secs(applied.total()),
                    secs(applied.planning),
                    secs(applied.executing),
                    secs(path),
                    ratio(*took, path),
                );
            }
        }
        Err(e) => {
            for (what, _) in runs {
                report
                    .rows
                    .push(Row::skipped(cli_figure(what), format!("{e:#}")));
            }
        }
    }
    Ok(())
}

/// Each step's time beside its floor (its call's latency and what the sandbox models), for a
/// small plan.
fn steps_note(report: &mut Report, what: &str, applied: &Applied, speed: f64) {
    let _ = writeln!(report.notes, "{what}, step by step (took / floor):");
    for step in &applied.plan.steps {
        let took = applied.took.get(&step.id).copied().unwrap_or_default();
        let _ = writeln!(
            report.notes,
            "  {:>2} {:<12} {:<40} {:>8} / {:>8}  after {:?}",
            step.id,
            step.op.as_str(),
            step.address.to_string(),
            secs(took),
            secs(measure::step_floor(step, speed, LATENCY)),
            step.after,
        );
    }
}

/// Each kind of step's count and time (mean, max) beside its floor, for a large plan.
fn ops_note(report: &mut Report, what: &str, applied: &Applied, speed: f64) {
    let mut by_op: std::collections::BTreeMap<String, (usize, Duration, Duration, Duration)> =
        Default::default();
    for step in &applied.plan.steps {
        let took = applied.took.get(&step.id).copied().unwrap_or_default();
        let key = format!("{} {}", step.op.as_str(), step.address.kind);
        let e = by_op.entry(key).or_default();
        e.0 += 1;
        e.1 += took;
        e.2 = e.2.max(took);
        e.3 = measure::step_floor(step, speed, LATENCY);
    }
    let _ = writeln!(
        report.notes,
        "{what}, by kind of step (count: mean, max / floor):"
    );
    for (key, (n, sum, max, floor)) in by_op {
        let _ = writeln!(
            report.notes,
            "  {key:<36} {n:>5}: {}, {} / {}",
            secs(sum / n as u32),
            secs(max),
            secs(floor)
        );
    }
}

/// A sandbox at speed 200 holding copies of section 1, applied through one engine.
struct World {
    sandbox: Running,
    engine: Engine<Clients>,
    copies: usize,
    _dir: tempfile::TempDir,
}

impl World {
    /// Applies `copies` copies from empty; as P4 (with the latency, timed, its bytes and
    /// memory counted) when `p4`, otherwise at no latency.
    async fn build(copies: usize, p4: bool, report: &mut Report) -> Result<World> {
        eprintln!(
            "applying {copies} copies of section 1 from empty, sandbox speed {COPIES_SPEED}{}...",
            if p4 { " (P4)" } else { "" }
        );
        let sandbox = measure::sandbox(COPIES_SPEED).await?;
        let latency = if p4 { LATENCY } else { Duration::ZERO };
        measure::faults(&sandbox, latency, vec![])?;
        let dir = tempfile::tempdir().context("a state directory")?;
        let mut engine = measure::engine(&sandbox, stacks::copies(copies)?, dir.path()).await?;
        let reset = measure::reset_peak_memory();
        let written = measure::write_bytes()?;
        let since = measure::last_call(&sandbox);
        let applied = measure::apply(&mut engine).await?;
        let calls = measure::calls_since(&sandbox, since);
        if p4 {
            let written = measure::write_bytes()? - written;
            let peak = measure::peak_memory()?;
            let path = measure::critical_path(&applied.plan, COPIES_SPEED, LATENCY);
            report.rows.push(Row::times(
                format!(
                    "P4 apply {copies} copies from empty: steps / critical path (<= 1.15, P1's)"
                ),
                applied.executing,
                path,
                Target::AtMost(1.15),
            ));
            // On this machine the steps cannot take less than the CPU time their calls need
            // (the SDK's signing and the in-process sandbox's answers), spread over every core.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let cpu_floor = applied.steps_cpu / cores as u32;
            report.rows.push(Row::info(
                format!("P4 apply {copies} copies: steps / max(critical path, CPU time / {cores} cores)"),
                secs(applied.executing),
                format!(
                    "{:.2} (CPU time / cores {})",
                    ratio(applied.executing, path.max(cpu_floor)),
                    secs(cpu_floor)
                ),
            ));
            let state = std::fs::metadata(engine.store.path())
                .with_context(|| format!("{}", engine.store))?
                .len();
            report.rows.push(Row::info(
                format!("P4 apply {copies} copies: bytes written to storage"),
                bytes(written),
                format!("{:.1} x final state", written as f64 / state as f64),
            ));
            let peak_note = match reset {
                Ok(()) => "peak RSS from just before the apply, sandbox included",
                Err(_) => "peak RSS of the whole process (could not reset it), sandbox included",
            };
            report.rows.push(Row::info(
                format!("P4 apply {copies} copies: peak memory (VmHWM)"),
                bytes(peak),
                "-".into(),
            ));
            let _ = writeln!(
                report.notes,
                "P4: {} steps, {} resources; refresh and plan {}, steps {}; final state file {}; bytes written = /proc/self/io write_bytes over the apply (pages dirtied: state file, its backup, the journal synced once per step); memory: {peak_note}.",
                applied.plan.steps.len(),
                engine.desired.resources.len(),
                secs(applied.planning),
                secs(applied.executing),
                bytes(state),
            );
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let _ = writeln!(
                report.notes,
                "P4: during the steps ({}) this process (engine, SDK, in-process sandbox) used {} of CPU, {:.0}% of {cores} cores, and the machine's CPU was {:.0}% busy: {}.",
                secs(applied.executing),
                secs(applied.steps_cpu),
                100.0 * ratio(applied.steps_cpu, applied.executing) / cores as f64,
                100.0 * applied.machine_busy,
                match applied.machine_busy >= 0.9 {
                    true => "the steps were bound by this machine's CPU (the SDK's signing and the sandbox's answers for every call), not by the plan's order or the modelled latency",
                    false => "the CPU was not the limit",
                }
            );
            let _ = writeln!(
                report.notes,
                "P4: {} calls; by operation: {}.",
                calls.total,
                by_operation(&calls)
            );
            ops_note(report, "P4", &applied, COPIES_SPEED);
        }
        Ok(World {
            sandbox,
            engine,
            copies,
            _dir: dir,
        })
    }

    /// Applies `copies` copies (the ones missing added) at no latency.
    async fn grow(&mut self, copies: usize) -> Result<()> {
        eprintln!(
            "applying {copies} copies of section 1 (from {}), no latency...",
            self.copies
        );
        measure::faults(&self.sandbox, Duration::ZERO, vec![])?;
        self.engine.desired = stacks::copies(copies)?;
        measure::apply(&mut self.engine).await?;
        self.copies = copies;
        Ok(())
    }

    /// Times a plan that must find nothing to do, with the latency and `rate_limits`, through
    /// clients of its own (a pace learned under one figure's limits does not carry into the
    /// next).
    async fn noop_plan(&self, rate_limits: Vec<RateLimit>) -> Result<(Duration, measure::Calls)> {
        let engine = Engine {
            desired: self.engine.desired.clone(),
            store: self.engine.store.clone(),
            state: self.engine.state.clone(),
            hasher: self.engine.hasher.clone(),
            cloud: measure::clients(&self.sandbox, &self.engine.hasher).await?,
            parallelism: self.engine.parallelism,
        };
        measure::faults(&self.sandbox, LATENCY, rate_limits)?;
        let since = measure::last_call(&self.sandbox);
        let t0 = Instant::now();
        let (plan, _) = engine.plan(Mode::Apply).await.context("planning")?;
        let took = t0.elapsed();
        let calls = measure::calls_since(&self.sandbox, since);
        measure::faults(&self.sandbox, Duration::ZERO, vec![])?;
        anyhow::ensure!(
            plan.steps.is_empty(),
            "the plan of {} copies after their apply has {} steps, not none",
            self.copies,
            plan.steps.len()
        );
        Ok((took, calls))
    }
}

/// P2: a no-op plan's calls and time at 50 ms a call. Returns them, for the throttling
/// figure.
async fn p2(world: &World, report: &mut Report) -> Result<(Duration, measure::Calls)> {
    let n = world.copies;
    eprintln!("P2: no-op plan of {n} copies...");
    let (took, calls) = world.noop_plan(vec![]).await?;
    let resources = world.engine.desired.resources.len();
    let allowed = resources + calls.list_pages;
    report.rows.push(Row::ratio(
        format!("P2 no-op plan {n} copies: calls / (resources + list pages) (<= 1)"),
        calls.total.to_string(),
        format!("{resources} + {}", calls.list_pages),
        calls.total as f64 / allowed as f64,
        Target::AtMost(1.0),
    ));
    let floor = LATENCY * calls.total as u32 / PARALLELISM as u32;
    report.rows.push(Row::times(
        format!("P2 no-op plan {n} copies: time / (calls x latency / {PARALLELISM}) (<= 1.2)"),
        took,
        floor,
        Target::AtMost(1.2),
    ));
    let _ = writeln!(
        report.notes,
        "P2 {n} copies ({resources} resources): {:.1} calls in flight on average (calls x latency / time); calls by operation: {}.",
        ratio(LATENCY * calls.total as u32, took),
        by_operation(&calls)
    );
    Ok((took, calls))
}

/// The no-op plan of the first size under the sandbox's rate model: with each family's quota
/// at 70% of the pace the unthrottled plan sent it at (30% throttling for a client that kept
/// its pace), and with AWS's published quotas; each time against the least the quotas allow.
async fn throttle(
    world: &World,
    unthrottled: Option<(Duration, measure::Calls)>,
    report: &mut Report,
) -> Result<()> {
    let n = world.copies;
    let (base, base_calls) = match unthrottled {
        Some(u) => u,
        None => {
            eprintln!("throttling: no-op plan of {n} copies, no throttling...");
            world.noop_plan(vec![]).await?
        }
    };
    let aws = RateLimit::aws();
    let runs = [
        (
            "30% throttling (quotas at 70% of the unthrottled pace)",
            measure::limits_at(&aws, &base_calls, base, THROTTLE_SHARE),
        ),
        ("AWS's published quotas", aws.clone()),
    ];
    for (what, limits) in runs {
        eprintln!("throttling: no-op plan of {n} copies, {what}...");
        let (took, calls) = world.noop_plan(limits.clone()).await?;
        let floor = measure::rate_floor(&limits, &calls).max(base);
        report.rows.push(Row::times(
            format!(
                "Throttling, {what}: no-op plan {n} copies, time / least the quotas allow (<= 1.2)"
            ),
            took,
            floor,
            Target::AtMost(1.2),
        ));
        let _ = writeln!(
            report.notes,
            "Throttling, {what}: {} calls, {} of them throttled and retried ({:.1}%); unthrottled the plan took {}; quotas: {}; by operation: {}.",
            calls.total,
            calls.throttled,
            100.0 * calls.throttled as f64 / calls.total as f64,
            secs(base),
            limits
                .iter()
                .map(|l| format!(
                    "{} {}{:.1}/s burst {}",
                    l.service,
                    match l.operations.is_empty() {
                        true => String::new(),
                        false => format!("{} ", l.operations.join("|")),
                    },
                    l.rate,
                    l.burst
                ))
                .collect::<Vec<_>>()
                .join(", "),
            by_operation(&calls)
        );
    }
    Ok(())
}

fn by_operation(calls: &measure::Calls) -> String {
    calls
        .by_operation
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn table(rows: &[Row]) -> String {
    let head = ["figure", "measured", "bound", "ratio", "PASS/MISS"];
    let cells: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| [&*r.figure, &*r.measured, &*r.bound, &*r.ratio, &*r.verdict])
        .collect();
    let mut width = head.map(str::len);
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.len());
        }
    }
    let mut out = String::new();
    for c in std::iter::once(head).chain(cells) {
        let line = format!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / (1 << 10) as f64),
        n => format!("{n} B"),
    }
}

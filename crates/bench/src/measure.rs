//! The engine against an in-process sandbox, and what is read off them: times, the plan's
//! critical path, the sandbox's request log, the process's I/O and memory counters.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use livestack_aws::{CallPolicy, Clients, Target};
use livestack_engine::{Again, Engine, Event, Observer, Uninterrupted};
use livestack_model::{Kind, ValidatedStack};
use livestack_plan::Hasher;
use livestack_plan::{Mode, Op, Plan, Step};
use livestack_sandbox::{Config, Faults, LoggedRequest, RateLimit, Running};
use livestack_state::State;

/// Reads in flight during refresh, as the CLI's default `--parallelism`.
pub const PARALLELISM: usize = 10;

/// A sandbox on 127.0.0.1 whose modelled AWS durations are divided by `speed`.
pub async fn sandbox(speed: f64) -> Result<Running> {
    livestack_sandbox::start(Config {
        port: 0,
        speed,
        data: None,
        ..Default::default()
    })
    .await
    .context("starting the sandbox")
}

/// Every call from now on takes `latency` more and is counted against `rate_limits` (the
/// sandbox's model of AWS's request quotas; none when empty).
pub fn faults(sandbox: &Running, latency: Duration, rate_limits: Vec<RateLimit>) -> Result<()> {
    sandbox
        .set_faults(Faults {
            latency_ms: latency.as_millis() as u64,
            rate_limits,
            ..Default::default()
        })
        .context("setting the sandbox's faults")
}

/// An engine for `desired` against `sandbox`, its state (new) in `dir`.
pub async fn engine(
    sandbox: &Running,
    desired: ValidatedStack,
    dir: &Path,
) -> Result<Engine<Clients>> {
    let state = State::new(&desired.name);
    let hasher = Hasher::new(b"livestack-bench");
    let cloud = clients(sandbox, &hasher).await?;
    Ok(Engine {
        desired,
        store: livestack_state::Store::File(dir.join(format!("{}.json", state.stack))),
        state,
        hasher,
        cloud,
        parallelism: PARALLELISM,
    })
}

/// Clients of `sandbox` (with a pace of their own) that hash secrets with `hasher`.
pub async fn clients(sandbox: &Running, hasher: &Hasher) -> Result<Clients> {
    let target = Target {
        region: Some("us-east-1".into()),
        endpoint_url: Some(sandbox.endpoint_url()),
        dummy_credentials: true,
        profile: None,
    };
    Ok(livestack_aws::connect_with(&target, &CallPolicy::default())
        .await
        .context("connecting to the sandbox")?
        .with_hasher(hasher.clone()))
}

/// What one apply took.
pub struct Applied {
    pub plan: Plan,
    /// The CPU time the process (engine, SDK and in-process sandbox) used during the steps.
    pub steps_cpu: Duration,
    /// The share of the whole machine's CPU that was busy during the steps (this process and
    /// anything else running), 0 to 1.
    pub machine_busy: f64,
    /// Refresh and plan.
    pub planning: Duration,
    /// The steps (`execute`).
    pub executing: Duration,
    /// Each step's own time, by step id.
    pub took: BTreeMap<usize, Duration>,
}

impl Applied {
    pub fn total(&self) -> Duration {
        self.planning + self.executing
    }
}

/// Plans and executes as `livestack apply --auto-approve` does.
pub async fn apply(engine: &mut Engine<Clients>) -> Result<Applied> {
    let t0 = Instant::now();
    let (plan, observed) = engine.plan(Mode::Apply).await.context("planning")?;
    let planning = t0.elapsed();
    let timings = Arc::new(Timings::default());
    let observer: Arc<dyn Observer> = timings.clone();
    let t1 = Instant::now();
    let cpu = cpu_time()?;
    let machine = machine_cpu()?;
    engine
        .execute(
            &plan,
            &observed,
            &observer,
            &mut Uninterrupted,
            &Again {
                apply: "livestack-bench",
                destroy: "livestack-bench",
            },
        )
        .await
        .context("applying")?;
    let executing = t1.elapsed();
    let steps_cpu = cpu_time()?.saturating_sub(cpu);
    let (busy, all) = machine_cpu()?;
    let machine_busy = (busy - machine.0) as f64 / ((all - machine.1) as f64).max(1.0);
    let took = std::mem::take(&mut *timings.took.lock().expect("not poisoned"));
    Ok(Applied {
        plan,
        steps_cpu,
        machine_busy,
        planning,
        executing,
        took,
    })
}

/// Each finished step's time.
#[derive(Default)]
struct Timings {
    took: Mutex<BTreeMap<usize, Duration>>,
}

impl Observer for Timings {
    fn event(&self, event: Event<'_>) {
        if let Event::StepDone { step, took } = event {
            self.took.lock().expect("not poisoned").insert(step, took);
        }
    }
}

/// The sandbox's modelled AWS duration of what a step waits for, in AWS seconds
/// (crates/sandbox/src/medialive.rs); every other step waits for nothing.
pub fn modelled_seconds(step: &Step) -> f64 {
    match (step.address.kind, step.op) {
        (Kind::MedialiveChannel, Op::Create | Op::Update | Op::UpdateClass | Op::Delete) => 4.0,
        (Kind::MedialiveChannel, Op::Start) => 60.0,
        (Kind::MedialiveChannel, Op::Stop) => 20.0,
        (Kind::MedialiveInput, Op::Delete) => 2.0,
        _ => 0.0,
    }
}

/// The least a step can take: its call's latency, then, when it waits, the modelled duration
/// at `speed` (the read that sees the end is sent before it and answered as it ends), but no
/// less than that read's own latency.
pub fn step_floor(step: &Step, speed: f64, latency: Duration) -> Duration {
    let modelled = Duration::from_secs_f64(modelled_seconds(step) / speed);
    if modelled.is_zero() {
        latency
    } else {
        latency + modelled.max(latency)
    }
}

/// The longest chain of the plan's `after` edges, each step costing [`step_floor`].
pub fn critical_path(plan: &Plan, speed: f64, latency: Duration) -> Duration {
    let by_id: BTreeMap<usize, &Step> = plan.steps.iter().map(|s| (s.id, s)).collect();
    let mut finish: BTreeMap<usize, Duration> = BTreeMap::new();
    fn end(
        id: usize,
        by_id: &BTreeMap<usize, &Step>,
        finish: &mut BTreeMap<usize, Duration>,
        speed: f64,
        latency: Duration,
    ) -> Duration {
        if let Some(d) = finish.get(&id) {
            return *d;
        }
        let Some(step) = by_id.get(&id) else {
            return Duration::ZERO;
        };
        let start = step
            .after
            .iter()
            .map(|a| end(*a, by_id, finish, speed, latency))
            .max()
            .unwrap_or_default();
        let d = start + step_floor(step, speed, latency);
        finish.insert(id, d);
        d
    }
    plan.steps
        .iter()
        .map(|s| end(s.id, &by_id, &mut finish, speed, latency))
        .max()
        .unwrap_or_default()
}

/// The calls the sandbox answered after the one numbered `since`.
pub struct Calls {
    pub total: usize,
    /// Listings of a whole kind: `List…`/`Describe…` calls the log ties to no one resource.
    /// The log cannot tell SSM's DescribeParameters of one name from a page of the listing
    /// by prefix, so all of them count here (in livestack's favour).
    pub list_pages: usize,
    /// Answered as throttled (by the rate model).
    pub throttled: usize,
    pub by_operation: BTreeMap<String, usize>,
    /// Every call, as logged.
    pub log: Vec<LoggedRequest>,
}

/// The number of the last call the sandbox answered.
pub fn last_call(sandbox: &Running) -> u64 {
    sandbox.requests().last().map_or(0, |r| r.seq)
}

pub fn calls_since(sandbox: &Running, since: u64) -> Calls {
    let mut calls = Calls {
        total: 0,
        list_pages: 0,
        throttled: 0,
        by_operation: BTreeMap::new(),
        log: Vec::new(),
    };
    for r in sandbox.requests().into_iter().filter(|r| r.seq > since) {
        calls.total += 1;
        let op = &r.operation;
        if r.resource.is_none() && (op.starts_with("List") || op.starts_with("Describe")) {
            calls.list_pages += 1;
        }
        if matches!(r.fault.as_deref(), Some("throttle" | "rate")) {
            calls.throttled += 1;
        }
        *calls
            .by_operation
            .entry(format!("{} {op}", r.service))
            .or_default() += 1;
        calls.log.push(r);
    }
    calls
}

/// The limit of `limits` a logged call counts against: the first that matches it.
fn limit_of(limits: &[RateLimit], call: &LoggedRequest) -> Option<usize> {
    limits
        .iter()
        .position(|l| l.matches(&call.service, &call.operation))
}

/// Each of `limits` at `share` of the rate `calls` (made in `took`) were sent at, with a
/// second's worth of burst: the quotas under which a client that keeps its pace sees that
/// share of its calls refused. Only the families that carry the load (50 calls or more) are
/// limited: a family of a handful of calls made in one burst has no steady pace to take a
/// share of.
pub fn limits_at(
    limits: &[RateLimit],
    calls: &Calls,
    took: Duration,
    share: f64,
) -> Vec<RateLimit> {
    let mut counts = vec![0usize; limits.len()];
    for call in &calls.log {
        if let Some(i) = limit_of(limits, call) {
            counts[i] += 1;
        }
    }
    limits
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n >= 50)
        .map(|(l, n)| {
            let rate = share * n as f64 / took.as_secs_f64();
            RateLimit {
                rate,
                burst: rate.ceil().max(1.0) as u32,
                ..l.clone()
            }
        })
        .collect()
}

/// The least time `limits` allow the calls of `calls` that went through: per limit, the calls
/// beyond its burst at its rate; the slowest limit decides.
pub fn rate_floor(limits: &[RateLimit], calls: &Calls) -> Duration {
    let mut counts = vec![0usize; limits.len()];
    for call in calls.log.iter().filter(|c| c.fault.is_none()) {
        if let Some(i) = limit_of(limits, call) {
            counts[i] += 1;
        }
    }
    limits
        .iter()
        .zip(counts)
        .map(|(l, n)| n.saturating_sub(l.burst as usize) as f64 / l.rate)
        .fold(Duration::ZERO, |a, s| a.max(Duration::from_secs_f64(s)))
}

/// `/proc/self/io`'s write_bytes: what this process had written to storage (counted as pages
/// are dirtied; the sandbox keeps its cloud in memory, so only state files count).
pub fn write_bytes() -> Result<u64> {
    proc_field("/proc/self/io", "write_bytes:")
}

/// The CPU time this process has used (user and system, all threads), from
/// `/proc/self/stat` (in clock ticks of 1/100 s, as Linux reports them to user space).
pub fn cpu_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // The fields after the command name (which may hold spaces) start at its closing `)`.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("no command name in /proc/self/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no field {} in /proc/self/stat", i + 3))
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// The whole machine's CPU time so far, busy and in all, in clock ticks (`/proc/stat`'s `cpu`
/// line: idle and iowait are not busy).
pub fn machine_cpu() -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    anyhow::ensure!(ticks.len() >= 5, "a short cpu line in /proc/stat");
    let all: u64 = ticks.iter().sum();
    Ok((all - ticks[3] - ticks[4], all))
}

/// `/proc/self/status`'s VmHWM (peak resident memory), in bytes.
pub fn peak_memory() -> Result<u64> {
    Ok(proc_field("/proc/self/status", "VmHWM:")? * 1024)
}

/// Resets VmHWM to the memory resident now, so that a later peak is that figure's own.
pub fn reset_peak_memory() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting /proc/self/clear_refs")
}

fn proc_field(file: &str, key: &str) -> Result<u64> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {key} in {file}"))
}

//! The executor: runs a plan's steps in graph order, independent ones concurrently, recording
//! every completed step in the state's journal and saving the state once at the end. Plus
//! saved plans and `outputs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use livestack_aws::{ChannelWait, Clients, SecretSource};
use livestack_model::{Address, Kind};
use livestack_plan::{
    lookup, Deposed, Hasher, Observed, ObservedResource, Op, Plan, PriorResource, Step,
};
use serde_json::{json, Value as Json};

use crate::progress::{self, Progress, StepProgress};
use crate::signals::{Received, Signal, Signals};
use crate::Session;

const WAIT: Duration = Duration::from_secs(15 * 60);

/// What a finished step leaves for the state.
enum Outcome {
    /// The resource as it now is (create, update): its id, what the cloud reports, and the spec
    /// applied with secrets hashed.
    Upserted(String, Box<ObservedResource>, Json),
    /// Deleted (the id that was).
    Deleted(String),
    /// A lifecycle step that changes nothing in the state.
    Done,
}

/// An apply or destroy that stopped before its last step: the error's first line (the cause
/// follows it), and the lines printed after the error (which channels it left off air).
#[derive(Debug)]
pub struct Unfinished {
    pub summary: String,
    /// The signal that stopped it, if one did (the exit code is 128 + its number).
    pub signal: Option<Signal>,
    pub trailer: Vec<String>,
}

impl std::fmt::Display for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for Unfinished {}

pub async fn execute(
    s: &mut Session,
    plan: &Plan,
    observed: &Observed,
    signals: &mut Signals,
) -> Result<()> {
    let mut progress = Progress::new(progress::Display::for_stderr());
    let mut shown: BTreeMap<usize, StepProgress> = BTreeMap::new();
    signals
        .guard("stopped before the first step", remember(s, plan, observed))
        .await?;
    let mut journal = livestack_state::Journal::begin(&s.state_path, &mut s.state)?;
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut launched: BTreeSet<usize> = BTreeSet::new();
    let mut failed: BTreeSet<usize> = BTreeSet::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut stopped_by: Option<Received> = None;
    let mut set = tokio::task::JoinSet::new();
    let by_id: BTreeMap<usize, &Step> = plan.steps.iter().map(|st| (st.id, st)).collect();
    loop {
        if failure.is_none() && stopped_by.is_none() {
            for st in &plan.steps {
                if launched.contains(&st.id) || !st.after.iter().all(|a| done.contains(a)) {
                    continue;
                }
                launched.insert(st.id);
                let prepared = prepare(s, st, observed);
                let clients = s.clients.clone();
                let hasher = s.state.hasher();
                let st = st.clone();
                let line = progress.step_started(&st);
                shown.insert(st.id, line.clone());
                set.spawn(livestack_aws::about(st.address.to_string(), async move {
                    let t0 = Instant::now();
                    let r = match prepared {
                        Ok(p) => run_step(&clients, &hasher, &st, p, &line).await,
                        Err(e) => Err(e),
                    };
                    (st.id, r, t0.elapsed())
                }));
            }
        }
        let joined = tokio::select! {
            biased;
            // One handler for the whole run (see `signals`): a first Ctrl-C starts no new
            // step and lets the ones in flight (an AWS call and its wait) finish and be
            // recorded; a second one, SIGTERM or SIGHUP leaves at once: every finished step
            // is already in the state's journal (the next start folds it in), and what the
            // steps in flight made is found again by its ownership tags.
            r = signals.next() => {
                stopped_by = Some(r);
                if r.leaves_now() {
                    progress.note(&format!(
                        "{}: leaving now, {} step(s) left unfinished; the state holds every finished step.",
                        r.signal.name(),
                        set.len()
                    ));
                    break;
                }
                progress.note(&format!(
                    "Interrupted: no new step will start; finishing the {} in flight (Ctrl-C again to leave now).",
                    set.len()
                ));
                continue;
            }
            joined = set.join_next() => joined,
        };
        let Some(joined) = joined else {
            break;
        };
        let (id, r, took) = match joined {
            Ok(j) => j,
            Err(e) => {
                // A step's task panicked: no new step; the rest are seen through.
                failure.get_or_insert(anyhow::anyhow!("a step's task failed: {e}"));
                continue;
            }
        };
        let st = by_id[&id];
        match r {
            Ok(outcome) => {
                let changed = record(s, st, outcome);
                done.insert(id);
                shown[&id].done(took);
                if let Err(e) = journal.append(&s.state.prior, changed) {
                    failure.get_or_insert(e.into());
                }
            }
            Err(e) => {
                let e = e.context(format!(
                    "step {} ({} {}) failed",
                    st.id,
                    st.op.as_str(),
                    st.address
                ));
                shown[&id].failed();
                failed.insert(id);
                failure.get_or_insert(e);
            }
        }
    }
    // Left at once: the steps still in flight are dropped with the set.
    for (id, line) in &shown {
        if !done.contains(id) {
            line.abandoned();
        }
    }
    drop(set);
    if failure.is_none() && stopped_by.is_none() && done.len() < plan.steps.len() {
        // A plan whose steps wait for each other never reports success.
        let stuck: Vec<String> = plan
            .steps
            .iter()
            .filter(|st| !done.contains(&st.id))
            .map(|st| format!("{} ({} {})", st.id, st.op.as_str(), st.address))
            .collect();
        failure = Some(anyhow::anyhow!(
            "steps {} could never start: they wait for each other",
            stuck.join(", ")
        ));
    }
    let saved = journal.close(&mut s.state);
    progress.close();
    if failure.is_none() && done.len() == plan.steps.len() {
        saved?;
        progress.finish(plan.steps.len());
        return Ok(());
    }
    let cause = match (failure, saved) {
        (Some(e), _) => e,
        (None, Err(e)) => e.into(),
        (None, Ok(())) => anyhow::anyhow!(
            "interrupted ({})",
            stopped_by.map_or("a signal", |r| r.signal.name())
        ),
    };
    Err(cause.context(Unfinished {
        summary: format!(
            "{} of {} steps done; the state is saved in {}: run the same command again to continue",
            done.len(),
            plan.steps.len(),
            s.state_path.display()
        ),
        signal: stopped_by.map(|r| r.signal),
        trailer: crate::off_air::lines(
            plan,
            &crate::off_air::SoFar {
                launched: &launched,
                done: &done,
                failed: &failed,
            },
            |st| {
                s.state
                    .prior
                    .resources
                    .get(&st.address)
                    .map(|r| r.id.clone())
                    .or_else(|| st.target_id.clone())
                    .unwrap_or_else(|| "unknown id".into())
            },
            &crate::off_air::Again {
                apply: &s.apply_command,
                destroy: &s.destroy_command,
            },
        ),
    }))
}

/// What a step needs, taken from the state when it starts (its dependencies are done).
struct Prepared {
    id: Option<String>,
    spec: Option<Json>,
    current: Option<ObservedResource>,
    token: String,
    stack: String,
    /// Its old addresses (`[[moved]]`), whose ownership tags are its own.
    old: Vec<Address>,
}

fn prepare(s: &Session, st: &Step, observed: &Observed) -> Result<Prepared> {
    let id = st.target_id.clone().or_else(|| {
        s.state
            .prior
            .resources
            .get(&st.address)
            .map(|r| r.id.clone())
    });
    let spec = st.spec.as_ref().map(|sp| resolve_refs(sp, s)).transpose()?;
    Ok(Prepared {
        id,
        spec,
        current: observed.resources.get(&st.address).cloned(),
        token: format!("{}-{}-{}", s.state.lineage, s.state.serial, st.id),
        stack: s.desired.name.clone(),
        old: crate::refresh::old_addresses(&s.desired, &st.address),
    })
}

/// Replaces `$ref`s by the outputs now in the state, and `output` secrets by where to read them.
fn resolve_refs(v: &Json, s: &Session) -> Result<Json> {
    Ok(match v {
        Json::Object(m) if m.contains_key("$ref") => {
            let a = m["$ref"]
                .as_str()
                .and_then(Address::parse)
                .context("malformed reference")?;
            let attr = m.get("attr").and_then(|x| x.as_str()).unwrap_or("");
            let r = s
                .state
                .prior
                .resources
                .get(&a)
                .with_context(|| format!("{a} is not created yet"))?;
            lookup(&r.outputs, attr)
                .cloned()
                .with_context(|| format!("{a} has no output {attr}"))?
        }
        Json::Object(m) if m.contains_key("$secret") => {
            let src = crate::refresh::source(&m["$secret"], &Observed::default(), &s.state.prior)?
                .with_context(|| {
                    "a secret's MediaPackage channel is not created yet".to_string()
                })?;
            json!({ "$secret_source": encode(&src) })
        }
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_refs(v, s)?)))
                .collect::<Result<_>>()?,
        ),
        Json::Array(a) => Json::Array(
            a.iter()
                .map(|v| resolve_refs(v, s))
                .collect::<Result<_>>()?,
        ),
        o => o.clone(),
    })
}

fn encode(s: &SecretSource) -> Json {
    match s {
        SecretSource::Env(n) => json!({ "env": n }),
        SecretSource::Ssm(n) => json!({ "ssm": n }),
        SecretSource::IngestPassword { channel_id, index } => {
            json!({ "ingest": channel_id, "index": index })
        }
    }
}

fn decode(v: &Json) -> SecretSource {
    if let Some(n) = v["env"].as_str() {
        SecretSource::Env(n.into())
    } else if let Some(n) = v["ssm"].as_str() {
        SecretSource::Ssm(n.into())
    } else {
        SecretSource::IngestPassword {
            channel_id: v["ingest"].as_str().unwrap_or_default().into(),
            index: v["index"].as_u64().unwrap_or(0) as usize,
        }
    }
}

/// (the spec with secret values, the spec with secrets hashed).
async fn resolve_secrets(v: &Json, clients: &Clients, hasher: &Hasher) -> Result<(Json, Json)> {
    let mut sources = Vec::new();
    find_sources(v, &mut sources);
    let mut values = BTreeMap::new();
    for src in sources {
        let key = serde_json::to_string(&src)?;
        if values.contains_key(&key) {
            continue;
        }
        let s = decode(&src);
        tracing::debug!(secret = %s.name(), "resolving secret");
        let value = clients
            .secret_value(&s)
            .await
            .with_context(|| format!("resolving secret {}", s.name()))?;
        values.insert(key, value);
    }
    Ok((
        substitute(v, &values, None),
        substitute(v, &values, Some(hasher)),
    ))
}

fn find_sources(v: &Json, out: &mut Vec<Json>) {
    match v {
        Json::Object(m) if m.contains_key("$secret_source") => {
            out.push(m["$secret_source"].clone())
        }
        Json::Object(m) => m.values().for_each(|v| find_sources(v, out)),
        Json::Array(a) => a.iter().for_each(|v| find_sources(v, out)),
        _ => {}
    }
}

fn substitute(v: &Json, values: &BTreeMap<String, String>, hasher: Option<&Hasher>) -> Json {
    match v {
        Json::Object(m) if m.contains_key("$secret_source") => {
            let key = serde_json::to_string(&m["$secret_source"]).unwrap_or_default();
            let value = values.get(&key).cloned().unwrap_or_default();
            match hasher {
                Some(h) => h.sensitive(&value),
                None => Json::String(value),
            }
        }
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), substitute(v, values, hasher)))
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(|v| substitute(v, values, hasher)).collect()),
        o => o.clone(),
    }
}

/// `line` shows what the step is doing: never a spec (the resolved ones hold secrets).
async fn run_step(
    c: &Clients,
    hasher: &Hasher,
    st: &Step,
    p: Prepared,
    line: &StepProgress,
) -> Result<Outcome> {
    let a = &st.address;
    let id = || p.id.clone().context("no cloud id for this step");
    match st.op {
        Op::Create => {
            let (plain, hashed) =
                resolve_secrets(p.spec.as_ref().context("create without spec")?, c, hasher).await?;
            line.phase(&call(st.op, a.kind));
            let (id, mut obs) = match c.create(a, &plain, &p.token).await {
                Ok(created) => created,
                Err(e) if e.is_already_exists() => {
                    line.phase("found it made already: checking its ownership tags");
                    take_over_own(c, hasher, a, &plain, (&p.stack, &p.old), e).await?
                }
                Err(e) => return Err(e.into()),
            };
            tracing::info!("{} {a}: create: created {id}", st.id);
            if a.kind == Kind::MedialiveChannel {
                wait_channel(c, line, &id, ChannelWait::Idle).await?;
                line.phase("reading the channel");
                if let Some(o) = c.read(a, &id, hasher).await? {
                    obs = o;
                }
            }
            Ok(Outcome::Upserted(id, Box::new(obs), hashed))
        }
        Op::Update | Op::UpdateTags => {
            let id = id()?;
            let (plain, hashed) =
                resolve_secrets(p.spec.as_ref().context("update without spec")?, c, hasher).await?;
            let current = match p.current {
                Some(cur) => cur,
                None => {
                    line.phase("reading the resource");
                    c.read(a, &id, hasher)
                        .await?
                        .with_context(|| format!("{a} ({id}) is gone"))?
                }
            };
            line.phase(&call(st.op, a.kind));
            // Tags are the one change a running channel takes.
            let obs = if st.op == Op::UpdateTags {
                c.update_tags(a, &id, &plain, &current).await?
            } else {
                c.update(a, &id, &plain, &current).await?
            };
            if a.kind == Kind::MedialiveChannel && st.op == Op::Update {
                wait_channel(c, line, &id, ChannelWait::Idle).await?;
            }
            Ok(Outcome::Upserted(id, Box::new(obs), hashed))
        }
        Op::Delete => {
            let id = id()?;
            if a.kind == Kind::MedialiveInput {
                line.phase("waiting until detached");
                c.wait_input_detached(&id, WAIT).await?;
            }
            line.phase(&call(st.op, a.kind));
            c.delete(a, &id).await?;
            if a.kind == Kind::MedialiveChannel {
                wait_channel(c, line, &id, ChannelWait::Deleted).await?;
            } else {
                line.phase("waiting until gone");
                c.wait_gone(a, &id, WAIT).await?;
            }
            Ok(Outcome::Deleted(id))
        }
        Op::Stop => {
            let id = id()?;
            line.phase(&call(st.op, a.kind));
            c.stop_channel(&id).await?;
            wait_channel(c, line, &id, ChannelWait::Idle).await?;
            Ok(Outcome::Done)
        }
        Op::Start => {
            let id = id()?;
            line.phase(&call(st.op, a.kind));
            c.start_channel(&id).await?;
            wait_channel(c, line, &id, ChannelWait::Running).await?;
            Ok(Outcome::Done)
        }
        Op::UpdateClass => {
            let id = id()?;
            let (plain, _) = resolve_secrets(
                p.spec.as_ref().context("update_class without spec")?,
                c,
                hasher,
            )
            .await?;
            let class = plain["ChannelClass"].as_str().context("no ChannelClass")?;
            // Only the destinations the channel has now (an update before this step may have
            // added some): new ones come with the update after it.
            line.phase("reading the channel");
            let now = c.read(a, &id, hasher).await?;
            let existing: BTreeSet<String> = now
                .as_ref()
                .or(p.current.as_ref())
                .and_then(|o| o.spec["Destinations"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|d| d["Id"].as_str().map(String::from))
                .collect();
            let dests: Vec<Json> = plain["Destinations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|d| d["Id"].as_str().is_some_and(|i| existing.contains(i)))
                .collect();
            line.phase(&call(st.op, a.kind));
            c.update_channel_class(&id, class, &Json::Array(dests))
                .await?;
            wait_channel(c, line, &id, ChannelWait::Idle).await?;
            Ok(Outcome::Done)
        }
    }
}

async fn wait_channel(
    c: &Clients,
    line: &StepProgress,
    id: &str,
    want: ChannelWait,
) -> Result<(), livestack_aws::Error> {
    line.phase(&format!("waiting for {want}"));
    c.wait_channel(id, want, WAIT).await
}

/// The phase of a step's main call, named after the AWS API.
fn call(op: Op, kind: Kind) -> String {
    let noun = match kind {
        Kind::IamRole => "Role",
        Kind::MediapackageChannel | Kind::MedialiveChannel => "Channel",
        Kind::MediapackageEndpoint => "OriginEndpoint",
        Kind::SsmParameter => "Parameter",
        Kind::MedialiveInputSecurityGroup => "InputSecurityGroup",
        Kind::MedialiveInput => "Input",
    };
    match (op, kind) {
        (Op::Create | Op::Update, Kind::SsmParameter) => "calling PutParameter".into(),
        (Op::Create, _) => format!("calling Create{noun}"),
        (Op::Update, _) => format!("calling Update{noun}"),
        (Op::Delete, _) => format!("calling Delete{noun}"),
        (Op::UpdateTags, _) => "updating tags".into(),
        (Op::Stop, _) => "calling StopChannel".into(),
        (Op::Start, _) => "calling StartChannel".into(),
        (Op::UpdateClass, _) => "calling UpdateChannelClass".into(),
    }
}

/// A create of a named resource met one of the same name. When its ownership tags say it is
/// this very resource (its create's answer was lost and the SDK's retry met it, or a crashed
/// apply made it), it is brought to the spec and kept; anybody else's is left alone.
async fn take_over_own(
    c: &Clients,
    hasher: &Hasher,
    a: &Address,
    spec: &Json,
    (stack, old): (&str, &[Address]),
    exists: livestack_aws::Error,
) -> Result<(String, ObservedResource)> {
    let name = crate::refresh::natural_id(a.kind, spec).context(exists.to_string())?;
    let Some(current) = c.read(a, &name, hasher).await? else {
        return Err(exists.into());
    };
    if !crate::refresh::owned_by(&current, stack, a, old) {
        bail!(
            "{exists}: it is not livestack's ({})",
            crate::refresh::not_owned_hint(a, &name, stack)
        );
    }
    tracing::info!(address = %a, id = %name, "create met our own resource; keeping it");
    let obs = c.update(a, &name, spec, &current).await?;
    Ok((name, obs))
}

/// Puts a step's outcome in the state; the addresses it changed (for the journal).
fn record<'a>(s: &mut Session, st: &'a Step, outcome: Outcome) -> &'a [Address] {
    let a = &st.address;
    match outcome {
        Outcome::Upserted(id, obs, applied) => {
            let resource = s.desired.get(a);
            if let Some(old) = s.state.prior.resources.get(a) {
                if old.id != id
                    && st.op == Op::Create
                    && !s
                        .state
                        .prior
                        .deposed
                        .iter()
                        .any(|d| &d.address == a && d.id == old.id)
                {
                    // Replaced: the old copy is deleted by a later step (or the next apply).
                    s.state.prior.deposed.push(Deposed {
                        address: a.clone(),
                        id: old.id.clone(),
                    });
                }
            }
            s.state.prior.resources.insert(
                a.clone(),
                PriorResource {
                    id,
                    arn: obs.arn.clone(),
                    applied,
                    outputs: obs.outputs,
                    depends_on: resource.map(|r| r.depends_on.clone()).unwrap_or_default(),
                    running: resource.and_then(|r| r.running),
                },
            );
        }
        Outcome::Deleted(id) => {
            s.state
                .prior
                .deposed
                .retain(|d| !(&d.address == a && d.id == id));
            if s.state.prior.resources.get(a).is_some_and(|r| r.id == id) {
                s.state.prior.resources.remove(a);
            }
        }
        Outcome::Done => return &[],
    }
    std::slice::from_ref(a)
}

/// Brings the state to what refresh found before anything runs, and saves it if that changed
/// it: renames what `[[moved]]` entries rename, forgets what is gone from the cloud, and
/// records what was found by ownership tags or name but missing from the state or known
/// there under a stale id (the plan's `adopted`: a lost state file, a create whose answer
/// never came, a state restored from its backup).
/// An adopted resource that no step will touch gets the stack's spec as its last-applied
/// spec (refresh found it equal); one a step will change gets it from that step.
pub async fn remember(s: &mut Session, plan: &Plan, observed: &Observed) -> Result<()> {
    let before = s.state.prior.clone();
    // Renamed by `[[moved]]` entries: the state follows the stack file.
    if !plan.moved.is_empty() {
        s.state.prior = livestack_plan::apply_moves(&s.desired, &s.state.prior)
            .0
            .into_owned();
    }
    let gone: Vec<Address> = s
        .state
        .prior
        .resources
        .keys()
        .filter(|a| !observed.resources.contains_key(*a))
        .cloned()
        .collect();
    for a in gone {
        s.state.prior.resources.remove(&a);
    }
    for a in &plan.adopted {
        let (Some(o), Some(r)) = (observed.resources.get(a), s.desired.get(a)) else {
            continue;
        };
        tracing::info!(address = %a, id = %o.id, "adopting into the state");
        s.state.prior.resources.insert(
            a.clone(),
            PriorResource {
                id: o.id.clone(),
                arn: o.arn.clone(),
                applied: Json::Null,
                outputs: o.outputs.clone(),
                depends_on: r.depends_on.clone(),
                running: r.running,
            },
        );
    }
    let hasher = s.state.hasher();
    for a in &plan.adopted {
        let Some(r) = s.desired.get(a) else { continue };
        if plan.steps.iter().any(|st| &st.address == a) {
            continue;
        }
        let spec = resolve_refs(&r.spec, s)?;
        let (_, hashed) = resolve_secrets(&spec, &s.clients, &hasher).await?;
        if let Some(p) = s.state.prior.resources.get_mut(a) {
            p.applied = hashed;
        }
    }
    if s.state.prior != before {
        livestack_state::save(&s.state_path, &mut s.state)?;
    }
    Ok(())
}

fn fingerprint(observed: &Observed) -> String {
    Hasher::new(b"livestack-fingerprint").hash(&serde_json::to_string(observed).unwrap_or_default())
}

pub fn save_plan(path: &Path, plan: &Plan, s: &Session, observed: &Observed) -> Result<()> {
    let saved = json!({
        "livestack_saved_plan": 1,
        "stack": s.desired.name,
        "stack_file": s.stack_path,
        "state_file": s.state_path,
        "target": s.target_label,
        "lineage": s.state.lineage,
        "serial": s.state.serial,
        "fingerprint": fingerprint(observed),
        "plan": plan,
    });
    std::fs::write(path, serde_json::to_string_pretty(&saved)? + "\n")
        .with_context(|| format!("{}: cannot write the plan", path.display()))
}

/// The stack and state files a saved plan was made from.
pub struct SavedPlanFiles {
    pub stack: std::path::PathBuf,
    pub state: std::path::PathBuf,
}

/// `Some` when `path` is a saved plan rather than a stack file (a TOML file never starts with
/// `{`).
pub fn saved_plan_files(path: &Path) -> Result<Option<SavedPlanFiles>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None); // the stack loader reports it
    };
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let saved: Json = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a saved livestack plan", path.display()))?;
    match (saved["stack_file"].as_str(), saved["state_file"].as_str()) {
        (Some(stack), Some(state)) if saved["livestack_saved_plan"] == 1 => {
            Ok(Some(SavedPlanFiles {
                stack: stack.into(),
                state: state.into(),
            }))
        }
        _ => bail!(
            "{}: not a saved livestack plan (make one with `livestack plan STACK --out FILE`)",
            path.display()
        ),
    }
}

/// The saved plan, if the state and the cloud are as they were when it was made.
pub fn check_saved_plan(
    path: &Path,
    fresh: &Plan,
    s: &Session,
    observed: &Observed,
) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the saved plan", path.display()))?;
    let saved: Json = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a saved livestack plan", path.display()))?;
    if saved["livestack_saved_plan"] != 1 || saved["stack"] != json!(s.desired.name) {
        bail!(
            "{}: not a saved plan of stack `{}`",
            path.display(),
            s.desired.name
        );
    }
    if saved["target"] != json!(s.target_label) {
        bail!(
            "{}: the plan was made against {}, this apply targets {}; give the same target options",
            path.display(),
            saved["target"].as_str().unwrap_or("an unknown target"),
            s.target_label
        );
    }
    if saved["lineage"] != json!(s.state.lineage) || saved["serial"] != json!(s.state.serial) {
        bail!("{}: stale plan: the state changed since it was made (serial {} now, {} then); run plan again", path.display(), s.state.serial, saved["serial"]);
    }
    if saved["fingerprint"] != json!(fingerprint(observed)) {
        bail!(
            "{}: stale plan: the cloud changed since it was made; run plan again",
            path.display()
        );
    }
    let plan: Plan = serde_json::from_value(saved["plan"].clone())
        .with_context(|| format!("{}: the saved plan is malformed", path.display()))?;
    if &plan != fresh {
        bail!(
            "{}: stale plan: the stack file changed since it was made; run plan again",
            path.display()
        );
    }
    Ok(plan)
}

/// `livestack outputs`.
pub async fn outputs(s: &Session, as_json: bool) -> Result<()> {
    let mut out = json!({ "inputs": [], "endpoints": [], "channels": [] });
    for (a, r) in &s.state.prior.resources {
        match a.kind {
            Kind::MedialiveInput => {
                for d in r.outputs["Destinations"].as_array().into_iter().flatten() {
                    let url = d["Url"].as_str().unwrap_or_default();
                    let (server, key) = match url.rsplit_once('/') {
                        Some((server, key)) => (format!("{server}/"), key.to_string()),
                        None => (url.to_string(), String::new()),
                    };
                    out["inputs"].as_array_mut().unwrap().push(json!({ "address": a.to_string(), "url": url, "obs_server": server, "obs_stream_key": key }));
                }
            }
            Kind::MediapackageEndpoint => {
                out["endpoints"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({ "address": a.to_string(), "playback_url": r.outputs["Url"] }));
            }
            Kind::MedialiveChannel => {
                let state = match s.clients.read(a, &r.id, &s.state.hasher()).await {
                    Ok(Some(o)) => o.status.unwrap_or_else(|| "UNKNOWN".into()),
                    Ok(None) => "GONE".into(),
                    Err(e) => format!("unknown ({e})"),
                };
                out["channels"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({ "address": a.to_string(), "id": r.id, "state": state }));
            }
            _ => {}
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if s.state.prior.resources.is_empty() {
        println!("Nothing applied yet for stack `{}`.", s.desired.name);
        return Ok(());
    }
    for i in out["inputs"].as_array().unwrap() {
        println!(
            "{}  OBS Server: {}  Stream key: {}",
            i["address"].as_str().unwrap(),
            i["obs_server"].as_str().unwrap(),
            i["obs_stream_key"].as_str().unwrap()
        );
    }
    for e in out["endpoints"].as_array().unwrap() {
        println!(
            "{}  playback URL: {}",
            e["address"].as_str().unwrap(),
            e["playback_url"].as_str().unwrap_or("?")
        );
    }
    for c in out["channels"].as_array().unwrap() {
        println!(
            "{}  channel {}: {}",
            c["address"].as_str().unwrap(),
            c["id"].as_str().unwrap(),
            c["state"].as_str().unwrap()
        );
    }
    Ok(())
}

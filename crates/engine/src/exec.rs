//! The executor: runs a plan's steps in graph order, independent ones concurrently, recording
//! every completed step in the state's journal and saving the state once at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use livestack_model::{Address, Kind};
use livestack_plan::{
    lookup, Deposed, Hasher, Observed, ObservedResource, Op, Plan, PriorResource, Step,
};
use serde_json::{json, Value as Json};

use crate::error::{Error, OrMissing};
use crate::events::{Event, Interrupts, Observer, Received};
use crate::{ChannelWait, Cloud, CloudError, Engine, SecretSource};

type Result<T, E = Error> = std::result::Result<T, E>;

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

/// A step's view of the run's observer: its phases, said about it.
struct Line<'a> {
    step: usize,
    observer: &'a dyn Observer,
}

impl Line<'_> {
    fn phase(&self, what: &str) {
        self.observer.event(Event::Phase {
            step: self.step,
            what,
        });
    }
}

/// Runs the plan: first [`remember`] (a stop request meanwhile ends the run with
/// [`Error::Stopped`], nothing changed), then every step whose predecessors are done, at once.
/// A first Ctrl-C starts no new step and lets the ones in flight finish and be recorded; a
/// second one, SIGTERM or SIGHUP leaves at once (every finished step is already in the state,
/// and what the steps in flight made is found again by its ownership tags). A run that does
/// not finish is an [`Error::Unfinished`] that names the channels it left off air.
pub(crate) async fn execute<C: Cloud>(
    s: &mut Engine<C>,
    plan: &Plan,
    observed: &Observed,
    observer: &Arc<dyn Observer>,
    interrupts: &mut impl Interrupts,
    again: &crate::Again<'_>,
) -> Result<()> {
    tokio::select! {
        biased;
        r = interrupts.next() => {
            return Err(Error::Stopped {
                signal: r.signal,
                what: "stopped before the first step".into(),
            })
        }
        r = remember(s, plan, observed) => r?,
    }
    let mut journal = s.store.begin_journal(&mut s.state)?;
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut launched: BTreeSet<usize> = BTreeSet::new();
    let mut failed: BTreeSet<usize> = BTreeSet::new();
    let mut failure: Option<Error> = None;
    let mut stopped_by: Option<Received> = None;
    let mut set = tokio::task::JoinSet::new();
    let by_id: BTreeMap<usize, &Step> = plan.steps.iter().map(|st| (st.id, st)).collect();
    // Each step's successors and how many of its predecessors are still to finish: a step
    // is launched when that count reaches zero (linear in the plan's size, not quadratic).
    let mut waiting: BTreeMap<usize, usize> = BTreeMap::new();
    let mut successors: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for st in &plan.steps {
        let mut after: Vec<usize> = st.after.clone();
        after.sort_unstable();
        after.dedup();
        waiting.insert(st.id, after.len());
        for a in after {
            successors.entry(a).or_default().push(st.id);
        }
    }
    let mut ready: Vec<usize> = plan
        .steps
        .iter()
        .filter(|st| waiting[&st.id] == 0)
        .map(|st| st.id)
        .collect();
    loop {
        if failure.is_none() && stopped_by.is_none() {
            for id in std::mem::take(&mut ready) {
                let Some(st) = by_id.get(&id) else { continue };
                if !launched.insert(id) {
                    continue;
                }
                let prepared = prepare(s, st, observed);
                let cloud = s.cloud.clone();
                let hasher = s.hasher.clone();
                let st = (*st).clone();
                observer.event(Event::StepStarted(&st));
                let observer = observer.clone();
                set.spawn(C::about(st.address.to_string(), async move {
                    let t0 = Instant::now();
                    let line = Line {
                        step: st.id,
                        observer: &*observer,
                    };
                    let r = match prepared {
                        Ok(p) => run_step(&cloud, &hasher, &st, p, &line).await,
                        Err(e) => Err(e),
                    };
                    (st.id, r, t0.elapsed())
                }));
            }
        }
        let joined = tokio::select! {
            biased;
            // A second stop request leaves at once: every finished step is already in the
            // state's journal (the next start folds it in), and what the steps in flight made
            // is found again by its ownership tags.
            r = interrupts.next() => {
                stopped_by = Some(r);
                if r.leaves_now() {
                    observer.event(Event::Note(&format!(
                        "{}: leaving now, {} step(s) left unfinished; the state holds every finished step.",
                        r.signal.name(),
                        set.len()
                    )));
                    break;
                }
                observer.event(Event::Note(&format!(
                    "Interrupted: no new step will start; finishing the {} in flight (Ctrl-C again to leave now).",
                    set.len()
                )));
                continue;
            }
            joined = set.join_next() => joined,
        };
        let Some(joined) = joined else {
            break;
        };
        // Every step finished by now is recorded with one journal line, one sync (group
        // commit): 200 channels started together are not 200 syncs one after the other.
        let mut finished = vec![joined];
        while let Some(more) = set.try_join_next() {
            finished.push(more);
        }
        let mut changed: Vec<Address> = Vec::new();
        let mut recorded: Vec<(usize, Duration)> = Vec::new();
        for joined in finished {
            let (id, r, took) = match joined {
                Ok(j) => j,
                Err(e) => {
                    // A step's task panicked: no new step; the rest are seen through.
                    failure.get_or_insert(Error::Task(e.to_string()));
                    continue;
                }
            };
            let st = by_id[&id];
            match r {
                Ok(outcome) => {
                    changed.extend_from_slice(record(s, st, outcome));
                    done.insert(id);
                    recorded.push((id, took));
                    for next in successors.get(&id).into_iter().flatten() {
                        let left = waiting.get_mut(next).expect("every step is counted");
                        *left -= 1;
                        if *left == 0 {
                            ready.push(*next);
                        }
                    }
                }
                Err(e) => {
                    let e = Error::Step {
                        id: st.id,
                        op: st.op.as_str(),
                        address: st.address.clone(),
                        source: Box::new(e),
                    };
                    observer.event(Event::StepFailed { step: id });
                    failed.insert(id);
                    failure.get_or_insert(e);
                }
            }
        }
        // Before any step that waits for these starts, and before they are said done.
        if let Err(e) = journal.append(&s.state.prior, &changed) {
            failure.get_or_insert(e.into());
        }
        for (step, took) in recorded {
            observer.event(Event::StepDone { step, took });
        }
    }
    // Left at once: the steps still in flight are dropped with the set.
    for id in &launched {
        if !done.contains(id) && !failed.contains(id) {
            observer.event(Event::StepAbandoned { step: *id });
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
        failure = Some(Error::StepCycle(stuck.join(", ")));
    }
    let saved = journal.close(&mut s.state);
    if failure.is_none() && done.len() == plan.steps.len() {
        saved?;
        return Ok(());
    }
    // Where the finished steps are recorded: the state, or, when its save failed too, what
    // that failure says (a state refused by its store is kept aside, and the error says where).
    let kept = match &saved {
        Ok(()) => format!(
            "the state is saved in {}: run the same command again to continue",
            s.store
        ),
        Err(e) if failure.is_some() => format!("the state could not be saved: {e}"),
        Err(_) => "the state could not be saved".to_string(),
    };
    let cause = match (failure, saved) {
        (Some(e), _) => e,
        (None, Err(e)) => e.into(),
        (None, Ok(())) => Error::Interrupted(stopped_by.map_or("a signal", |r| r.signal.name())),
    };
    Err(Error::Unfinished {
        summary: format!("{} of {} steps done; {kept}", done.len(), plan.steps.len()),
        signal: stopped_by.map(|r| r.signal),
        off_air: crate::off_air::lines(
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
            again,
        ),
        cause: Box::new(cause),
    })
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

fn prepare<C: Cloud>(s: &Engine<C>, st: &Step, observed: &Observed) -> Result<Prepared> {
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
        old: crate::old_addresses(&s.desired, &st.address),
    })
}

/// Replaces `$ref`s by the outputs now in the state, and `output` secrets by where to read them.
fn resolve_refs<C: Cloud>(v: &Json, s: &Engine<C>) -> Result<Json> {
    Ok(match v {
        Json::Object(m) if m.contains_key("$ref") => {
            let a = m["$ref"]
                .as_str()
                .and_then(Address::parse)
                .or_missing(|| "malformed reference".into())?;
            let attr = m.get("attr").and_then(|x| x.as_str()).unwrap_or("");
            let r = s
                .state
                .prior
                .resources
                .get(&a)
                .or_missing(|| format!("{a} is not created yet"))?;
            lookup(&r.outputs, attr)
                .cloned()
                .or_missing(|| format!("{a} has no output {attr}"))?
        }
        Json::Object(m) if m.contains_key("$secret") => {
            let src = crate::source(&m["$secret"], &Observed::default(), &s.state.prior)?
                .or_missing(|| "a secret's MediaPackage channel is not created yet".to_string())?;
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
async fn resolve_secrets<C: Cloud>(v: &Json, clients: &C, hasher: &Hasher) -> Result<(Json, Json)> {
    let mut sources = Vec::new();
    find_sources(v, &mut sources);
    let mut values = BTreeMap::new();
    for src in sources {
        let key = src.to_string();
        if values.contains_key(&key) {
            continue;
        }
        let s = decode(&src);
        tracing::debug!(secret = %s.name(), "resolving secret");
        let value = clients
            .secret_value(&s)
            .await
            .map_err(|e| Error::cloud(format!("resolving secret {}", s.name()), e))?;
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
            let key = m["$secret_source"].to_string();
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
async fn run_step<C: Cloud>(
    c: &C,
    hasher: &Hasher,
    st: &Step,
    p: Prepared,
    line: &Line<'_>,
) -> Result<Outcome> {
    let a = &st.address;
    let id = || {
        p.id.clone()
            .or_missing(|| "no cloud id for this step".into())
    };
    match st.op {
        Op::Create => {
            let (plain, hashed) = resolve_secrets(
                p.spec
                    .as_ref()
                    .or_missing(|| "create without spec".into())?,
                c,
                hasher,
            )
            .await?;
            line.phase(&call(st.op, a.kind));
            let (id, mut obs) = match c.create(a, &plain, &p.token).await {
                Ok(created) => created,
                Err(e) if e.is_already_exists() => {
                    line.phase("found it made already: checking its ownership tags");
                    take_over_own(c, hasher, a, &plain, (&p.stack, &p.old), e).await?
                }
                Err(e) => return Err(Error::call(e)),
            };
            tracing::info!("{} {a}: create: created {id}", st.id);
            if a.kind.info().run_state {
                wait_channel(c, line, &id, ChannelWait::Idle).await?;
                line.phase("reading the channel");
                if let Some(o) = c.read(a, &id, hasher).await.map_err(Error::call)? {
                    obs = o;
                }
            }
            Ok(Outcome::Upserted(id, Box::new(obs), hashed))
        }
        Op::Update | Op::UpdateTags => {
            let id = id()?;
            let (plain, hashed) = resolve_secrets(
                p.spec
                    .as_ref()
                    .or_missing(|| "update without spec".into())?,
                c,
                hasher,
            )
            .await?;
            let current = match p.current {
                Some(cur) => cur,
                None => {
                    line.phase("reading the resource");
                    c.read(a, &id, hasher)
                        .await
                        .map_err(Error::call)?
                        .or_missing(|| format!("{a} ({id}) is gone"))?
                }
            };
            line.phase(&call(st.op, a.kind));
            // Tags are the one change a running channel takes.
            let obs = if st.op == Op::UpdateTags {
                c.update_tags(a, &id, &plain, &current)
                    .await
                    .map_err(Error::call)?
            } else {
                c.update(a, &id, &plain, &current)
                    .await
                    .map_err(Error::call)?
            };
            if a.kind.info().run_state && st.op == Op::Update {
                wait_channel(c, line, &id, ChannelWait::Idle).await?;
            }
            Ok(Outcome::Upserted(id, Box::new(obs), hashed))
        }
        Op::Delete => {
            let id = id()?;
            if a.kind.info().detach_before_delete {
                line.phase("waiting until detached");
                c.wait_input_detached(&id, WAIT)
                    .await
                    .map_err(Error::call)?;
            }
            line.phase(&call(st.op, a.kind));
            c.delete(a, &id).await.map_err(Error::call)?;
            if a.kind.info().run_state {
                wait_channel(c, line, &id, ChannelWait::Deleted).await?;
            } else {
                line.phase("waiting until gone");
                c.wait_gone(a, &id, WAIT).await.map_err(Error::call)?;
            }
            Ok(Outcome::Deleted(id))
        }
        Op::Stop => {
            let id = id()?;
            line.phase(&call(st.op, a.kind));
            c.stop_channel(&id).await.map_err(Error::call)?;
            wait_channel(c, line, &id, ChannelWait::Idle).await?;
            Ok(Outcome::Done)
        }
        Op::Start => {
            let id = id()?;
            line.phase(&call(st.op, a.kind));
            c.start_channel(&id).await.map_err(Error::call)?;
            wait_channel(c, line, &id, ChannelWait::Running).await?;
            Ok(Outcome::Done)
        }
        Op::UpdateClass => {
            let id = id()?;
            let (plain, _) = resolve_secrets(
                p.spec
                    .as_ref()
                    .or_missing(|| "update_class without spec".into())?,
                c,
                hasher,
            )
            .await?;
            let class = plain["ChannelClass"]
                .as_str()
                .or_missing(|| "no ChannelClass".into())?;
            // Only the destinations the channel has now (an update before this step may have
            // added some): new ones come with the update after it.
            line.phase("reading the channel");
            let now = c.read(a, &id, hasher).await.map_err(Error::call)?;
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
                .await
                .map_err(Error::call)?;
            wait_channel(c, line, &id, ChannelWait::Idle).await?;
            Ok(Outcome::Done)
        }
    }
}

async fn wait_channel<C: Cloud>(c: &C, line: &Line<'_>, id: &str, want: ChannelWait) -> Result<()> {
    line.phase(&format!("waiting for {want}"));
    c.wait_channel(id, want, WAIT).await.map_err(Error::call)
}

/// The phase of a step's main call, named after the AWS API.
fn call(op: Op, kind: Kind) -> String {
    let info = kind.info();
    let noun = info.noun;
    match (op, info.put_call) {
        (Op::Create | Op::Update, Some(put)) => format!("calling {put}"),
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
async fn take_over_own<C: Cloud>(
    c: &C,
    hasher: &Hasher,
    a: &Address,
    spec: &Json,
    (stack, old): (&str, &[Address]),
    exists: C::Error,
) -> Result<(String, ObservedResource)> {
    let Some(name) = a.kind.info().natural_id(spec) else {
        return Err(Error::call(exists));
    };
    let Some(current) = c.read(a, &name, hasher).await.map_err(Error::call)? else {
        return Err(Error::call(exists));
    };
    if !crate::owned_by(&current, stack, a, old) {
        return Err(Error::NotOursToTake {
            exists: exists.to_string(),
            hint: crate::not_owned_hint(a, &name, stack),
        });
    }
    tracing::info!(address = %a, id = %name, "create met our own resource; keeping it");
    let obs = c
        .update(a, &name, spec, &current)
        .await
        .map_err(Error::call)?;
    Ok((name, obs))
}

/// Puts a step's outcome in the state; the addresses it changed (for the journal).
fn record<'a, C: Cloud>(s: &mut Engine<C>, st: &'a Step, outcome: Outcome) -> &'a [Address] {
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
pub(crate) async fn remember<C: Cloud>(
    s: &mut Engine<C>,
    plan: &Plan,
    observed: &Observed,
) -> Result<()> {
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
    let hasher = s.hasher.clone();
    for a in &plan.adopted {
        let Some(r) = s.desired.get(a) else { continue };
        if plan.steps.iter().any(|st| &st.address == a) {
            continue;
        }
        let spec = resolve_refs(&r.spec, s)?;
        let (_, hashed) = resolve_secrets(&spec, &s.cloud, &hasher).await?;
        if let Some(p) = s.state.prior.resources.get_mut(a) {
            p.applied = hashed;
        }
    }
    if s.state.prior != before {
        s.store.save(&mut s.state)?;
    }
    Ok(())
}

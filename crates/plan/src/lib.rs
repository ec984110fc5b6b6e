//! The planner: desired (the stack), prior (the state file) and observed (refresh) in, an
//! ordered [`Plan`] out. Pure: no I/O, not async, no aws-sdk types; same input, same plan.
//!
//! A plan is a list of per-resource [`Change`]s (what and why, field by field) and a list of
//! [`Step`]s (the calls to make, each with the steps it must wait for). Apply executes the steps
//! it is given and never re-derives them from the stack file.

mod cloud_target;
mod diff;
mod graph;
mod observed;
mod render;
mod secret;
mod target;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use livestack_model::{Address, Kind, Resource, ValidatedStack};
use petgraph::graphmap::DiGraphMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

pub use cloud_target::CloudTarget;
pub use diff::FieldChange;
pub use graph::{plan_graph, stack_graph, GraphFormat};
pub use observed::{Observed, ObservedResource};
pub use render::{plural, render_json, render_text, render_text_with, summary_line, TextOptions};
pub use secret::{secret_key, Hasher};
pub use target::{needed, partial_warning, restrict};

/// The JSON plan's format version.
pub const FORMAT_VERSION: u32 = 1;

/// What livestack last applied, as the state file keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    pub resources: BTreeMap<Address, PriorResource>,
    /// Resources replaced by a new one whose old copy is still to be deleted.
    #[serde(default)]
    pub deposed: Vec<Deposed>,
    /// Cloud ids let go of by `livestack state rm`: never adopted again by their ownership
    /// tags, never deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<Deposed>,
}

/// One resource in the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorResource {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The spec last applied, references resolved, secrets as `{"$sensitive": hash}`.
    pub applied: Json,
    #[serde(default)]
    pub outputs: Json,
    #[serde(default)]
    pub depends_on: Vec<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}

/// An old copy of a replaced resource, still to be deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deposed {
    pub address: Address,
    pub id: String,
}

/// Apply converges to the stack; destroy deletes everything the stack owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Apply,
    Destroy,
}

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
}

/// One call (and its wait) the executor makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Create, then wait until usable (a channel: IDLE).
    Create,
    /// Update in place with the whole desired spec, then wait (a channel: IDLE).
    Update,
    /// Only the tags (allowed on a running channel).
    UpdateTags,
    /// Delete (an input: wait DETACHED first), then wait until gone.
    Delete,
    /// StopChannel, wait IDLE.
    Stop,
    /// UpdateChannelClass, wait IDLE; the channel keeps its id and ARN.
    UpdateClass,
    /// StartChannel, wait RUNNING.
    Start,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::UpdateTags => "update_tags",
            Op::Delete => "delete",
            Op::Stop => "stop",
            Op::UpdateClass => "update_class",
            Op::Start => "start",
        }
    }
}

/// A step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// 1-based, in execution order.
    pub id: usize,
    pub address: Address,
    pub op: Op,
    /// Steps that must be done first.
    pub after: Vec<usize>,
    /// Steps of the same wave do not depend on each other and can run in parallel.
    pub wave: usize,
    /// The cloud id the step acts on (none for a create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// For create/update: the desired spec, placeholders unresolved (no secret in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Json>,
    /// For a delete of a replaced resource's old copy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deposed: bool,
    /// Takes a running channel's output off air (its stop, or a delete or overwrite of what
    /// it feeds or reads: a MediaPackage channel or endpoint, an ingest password).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupts: bool,
}

/// The change to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub kind: Kind,
    pub action: Action,
    /// The ops of its steps, in order (e.g. stop, update_class, update, start).
    pub ops: Vec<Op>,
    /// Why: the field that forces a replacement, the drift, the input that stops a channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Takes a running channel off air, or what viewers watch of one.
    pub interrupts: bool,
    /// The address the state knew it by, renamed by a `[[moved]]` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Address>,
    /// Part of the change corrects changes made out of band.
    pub drift: bool,
    /// Redacted: secrets as "(sensitive)", unknowns as "(known after apply)".
    pub before: Json,
    pub after: Json,
    pub fields: Vec<FieldChange>,
    pub steps: Vec<usize>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub interrupted: usize,
}

/// A plan: a value that apply executes as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    /// Where the plan goes, filled in by whoever planned against a cloud (`None` for a plan
    /// made from data alone): a saved plan applies there only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<CloudTarget>,
    pub mode: Mode,
    pub changes: Vec<Change>,
    pub steps: Vec<Step>,
    pub summary: Summary,
    /// Resources of the stack found in the cloud (by their ownership tags or unique name)
    /// that the state lacks: apply records them in the state, with no AWS call of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopted: Vec<Address>,
    /// Resources renamed by the stack's `[[moved]]` entries: apply renames them in the state,
    /// with no AWS call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<Move>,
    /// In the state, gone from the cloud and not wanted any more: apply drops them from the
    /// state, with no AWS call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forgotten: Vec<Address>,
    /// The `-target` addresses a partial plan was cut down to ([`restrict`]); empty for a
    /// whole plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// What the reader must know before relying on the plan (a partial plan says so).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A state entry renamed by a `[[moved]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub from: Address,
    pub to: Address,
}

/// The prior with the stack's `[[moved]]` entries applied: an entry at a `from` that the
/// stack no longer declares goes to its `to` (unless the state already has one there).
/// Refresh reads the cloud through these ids, and [`plan`] lists the moves.
pub fn apply_moves<'p>(
    desired: &ValidatedStack,
    prior: &'p Prior,
) -> (std::borrow::Cow<'p, Prior>, Vec<Move>) {
    let mut moves = Vec::new();
    if desired.moved.is_empty() {
        return (std::borrow::Cow::Borrowed(prior), moves);
    }
    let mut out = prior.clone();
    for from in prior.resources.keys() {
        if desired.get(from).is_some() {
            continue;
        }
        let Some(to) = desired.moved_to(from) else {
            continue;
        };
        if out.resources.contains_key(to) || desired.get(to).is_none() {
            continue;
        }
        let r = out.resources.remove(from).expect("a key of the prior");
        out.resources.insert(to.clone(), r);
        for d in out.deposed.iter_mut().filter(|d| &d.address == from) {
            d.address = to.clone();
        }
        moves.push(Move {
            from: from.clone(),
            to: to.clone(),
        });
    }
    (std::borrow::Cow::Owned(out), moves)
}

impl Plan {
    /// No step to run.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("dependency cycle between {}", .0.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" -> "))]
    Cycle(Vec<Address>),
    /// Steps that would wait for each other (a planner bug: reported, never run).
    #[error("the plan's steps wait for each other: {}; nothing was changed (please report this plan)", .0.join(", "))]
    StepCycle(Vec<String>),
    /// A `-target` address the stack does not declare.
    #[error("-target {target}: the stack declares no such resource{}", close_list(.close))]
    UnknownTarget { target: String, close: Vec<Address> },
    /// A targeted step must wait for a step of a resource left out of the targets.
    #[error("-target: {step} must wait for {waits_for}, which the targets leave out; add -target {address} or plan without -target")]
    TargetNeeds {
        step: String,
        waits_for: String,
        address: Address,
    },
}

fn close_list(close: &[Address]) -> String {
    if close.is_empty() {
        return String::new();
    }
    let names: Vec<String> = close.iter().map(|a| a.to_string()).collect();
    format!("; did you mean one of: {}", names.join(", "))
}

/// Makes the plan. `desired` is ignored in [`Mode::Destroy`].
pub fn plan(
    desired: &ValidatedStack,
    prior: &Prior,
    observed: &Observed,
    mode: Mode,
) -> Result<Plan, Error> {
    let empty = Vec::new();
    let wanted: &[Resource] = match mode {
        Mode::Apply => &desired.resources,
        Mode::Destroy => &empty,
    };
    let order = topo_order(wanted)?;
    let (moved_prior, moves) = apply_moves(desired, prior);
    let prior: &Prior = &moved_prior;
    let mut b = Builder {
        desired,
        moves: &moves,
        prior,
        observed,
        changes: BTreeMap::new(),
        steps: Vec::new(),
        next: Vec::new(),
        by_op: BTreeMap::new(),
        replaced: BTreeSet::new(),
        delete_first: BTreeSet::new(),
        interrupted: BTreeSet::new(),
    };

    // Creates, updates and replacements, in dependency order so references know whether their
    // target is being (re)created.
    for r in &order {
        b.converge(r);
    }
    // Channels stopped because an attached input changes.
    b.stop_channels_for_inputs(wanted);
    // Deletes: what the stack no longer has, and old copies of replaced resources.
    let wanted_set: HashSet<&Address> = wanted.iter().map(|r| &r.address).collect();
    let mut gone: BTreeSet<Address> = prior
        .resources
        .keys()
        .chain(observed.resources.keys())
        .filter(|a| !wanted_set.contains(a))
        .cloned()
        .collect();
    // Already gone from the cloud: only the state entry goes, with no step.
    let forgotten: Vec<Address> = gone
        .iter()
        .filter(|a| !observed.resources.contains_key(*a))
        .cloned()
        .collect();
    gone.retain(|a| observed.resources.contains_key(a));
    for a in &gone {
        b.delete(a);
    }
    for d in &prior.deposed {
        b.delete_deposed(d);
    }
    for (a, o) in &observed.extra {
        b.delete_extra(a, o);
    }
    b.endpoints_follow_their_channel(wanted);
    b.free_unique_names();
    // The stack's graph orders deletes in destroy mode too (the state may have lost it).
    b.order_deletes(&desired.resources);
    b.free_inputs();
    b.edit_inputs_apart_from_their_channels();
    b.mark_interruptions();
    let mut plan = b.finish(&desired.name, mode)?;
    // Found in the cloud but not under this id in the state (a lost state, or a stale id), or
    // recorded there with no spec applied yet (`livestack import`).
    plan.adopted = wanted
        .iter()
        .map(|r| &r.address)
        .filter(|a| {
            observed.resources.get(*a).is_some_and(|o| {
                // A null last-applied spec: recorded by `livestack import`, or by an
                // adoption whose apply did not finish; adopted still.
                prior
                    .resources
                    .get(*a)
                    .is_none_or(|p| p.id != o.id || p.applied.is_null())
            })
        })
        .cloned()
        .collect();
    plan.moved = moves;
    plan.forgotten = forgotten;
    Ok(plan)
}

/// The wanted resources in dependency order (declaration order among independent ones).
fn topo_order(wanted: &[Resource]) -> Result<Vec<&Resource>, Error> {
    let index: BTreeMap<&Address, usize> = wanted
        .iter()
        .enumerate()
        .map(|(i, r)| (&r.address, i))
        .collect();
    let mut g: DiGraphMap<usize, ()> = DiGraphMap::new();
    for i in 0..wanted.len() {
        g.add_node(i);
    }
    for (i, r) in wanted.iter().enumerate() {
        for d in &r.depends_on {
            if let Some(&j) = index.get(d) {
                g.add_edge(j, i, ());
            }
        }
    }
    // Kahn's algorithm, always taking the lowest index, for a stable order.
    let mut indeg: Vec<usize> = (0..wanted.len())
        .map(|i| {
            g.neighbors_directed(i, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BTreeSet<usize> = (0..wanted.len()).filter(|&i| indeg[i] == 0).collect();
    let mut out = Vec::new();
    while let Some(i) = ready.pop_first() {
        out.push(&wanted[i]);
        for j in g.neighbors_directed(i, petgraph::Direction::Outgoing) {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if out.len() < wanted.len() {
        let stuck: Vec<Address> = (0..wanted.len())
            .filter(|&i| indeg[i] > 0)
            .map(|i| wanted[i].address.clone())
            .collect();
        return Err(Error::Cycle(stuck));
    }
    Ok(out)
}

struct Builder<'a> {
    desired: &'a ValidatedStack,
    moves: &'a [Move],
    prior: &'a Prior,
    observed: &'a Observed,
    changes: BTreeMap<Address, Change>,
    steps: Vec<Step>,
    /// Step `a` in `next[b]` must wait for step `b` (indices into `steps`).
    next: Vec<Vec<usize>>,
    /// (address, op, the target id of an old copy): the step doing it.
    by_op: BTreeMap<(Address, Op, Option<String>), usize>,
    /// Addresses being created anew or replaced: their outputs are unknown until apply.
    replaced: BTreeSet<Address>,
    /// Replacements whose old copy is deleted before the new one is created.
    delete_first: BTreeSet<Address>,
    /// The running channels the plan takes off air (by a stop, or by what they feed).
    interrupted: BTreeSet<Address>,
}

impl Builder<'_> {
    fn step(
        &mut self,
        address: &Address,
        op: Op,
        target_id: Option<String>,
        spec: Option<Json>,
        deposed: bool,
    ) -> usize {
        let key = (
            address.clone(),
            op,
            if deposed { target_id.clone() } else { None },
        );
        if let Some(&i) = self.by_op.get(&key) {
            return i;
        }
        self.steps.push(Step {
            id: 0,
            address: address.clone(),
            op,
            after: Vec::new(),
            wave: 0,
            target_id,
            spec,
            deposed,
            interrupts: false,
        });
        let i = self.steps.len() - 1;
        self.by_op.insert(key, i);
        i
    }

    fn find(&self, address: &Address, op: Op) -> Option<usize> {
        self.by_op.get(&(address.clone(), op, None)).copied()
    }

    fn edge(&mut self, before: usize, after: usize) {
        if before != after {
            if self.next.len() <= before {
                self.next.resize(before + 1, Vec::new());
            }
            self.next[before].push(after);
        }
    }

    fn chain(&mut self, ids: &[usize]) {
        for w in ids.windows(2) {
            self.edge(w[0], w[1]);
        }
    }

    fn change(
        &self,
        a: &Address,
        action: Action,
        reason: Option<String>,
        before: Json,
        after: Json,
        fields: Vec<FieldChange>,
    ) -> Change {
        Change {
            address: a.clone(),
            kind: a.kind,
            action,
            ops: Vec::new(),
            reason,
            interrupts: false,
            moved_from: self
                .moves
                .iter()
                .find(|m| &m.to == a)
                .map(|m| m.from.clone()),
            drift: fields.iter().any(|f| f.drift),
            before: redacted(before),
            after: redacted(after),
            fields: fields
                .into_iter()
                .map(|mut f| {
                    redact_in_place(&mut f.before);
                    redact_in_place(&mut f.after);
                    f
                })
                .collect(),
            steps: Vec::new(),
        }
    }

    /// Resolves `$ref`s from observed/prior outputs (unknown when the target is being created
    /// or replaced) and `$secret`s to their observed hashes.
    fn resolve(&self, v: &Json) -> Json {
        // A copy, then its placeholders replaced: cloning keeps each object's hash table.
        let mut out = v.clone();
        self.resolve_in_place(&mut out);
        out
    }

    fn resolve_in_place(&self, v: &mut Json) {
        if diff::is_reference(v) {
            *v = self.resolve_reference(v);
            return;
        }
        match v {
            Json::Object(m) => m.values_mut().for_each(|v| self.resolve_in_place(v)),
            Json::Array(a) => a.iter_mut().for_each(|v| self.resolve_in_place(v)),
            _ => {}
        }
    }

    /// What a `$ref` or `$secret` placeholder stands for.
    fn resolve_reference(&self, v: &Json) -> Json {
        if let Some(target) = v.get("$ref") {
            let target = target.as_str().and_then(Address::parse);
            let attr = v.get("attr").and_then(|a| a.as_str()).unwrap_or("");
            let Some(target) = target else {
                return unknown();
            };
            if self.replaced.contains(&target) {
                return unknown();
            }
            let outputs = self
                .observed
                .resources
                .get(&target)
                .map(|o| &o.outputs)
                .or_else(|| self.prior.resources.get(&target).map(|p| &p.outputs));
            return outputs
                .and_then(|o| lookup(o, attr))
                .cloned()
                .unwrap_or_else(unknown);
        }
        let inner = &v["$secret"];
        let from_new = inner
            .get("output")
            .and_then(|a| a.as_str())
            .and_then(Address::parse)
            .is_some_and(|a| self.replaced.contains(&a));
        match self.observed.secrets.get(&secret_key(inner)) {
            Some(h) if !from_new => json!({ "$sensitive": h }),
            _ => json!({ "$sensitive": "(unknown)" }),
        }
    }

    /// The spec `r` is shown and compared as: resolved (see [`Builder::resolve`]), and keeping
    /// the old address in its ownership tag if it is only renamed by `[[moved]]`.
    fn resolved(&self, r: &Resource, obs: &ObservedResource) -> Json {
        let mut resolved = self.resolve(&r.spec);
        if let Some(old) = self.renamed_from(&r.address, obs) {
            if resolved["Tags"].is_object() {
                resolved["Tags"][livestack_model::ADDRESS_TAG] = json!(old);
            }
        }
        resolved
    }

    /// A resource renamed by `[[moved]]` keeps the ownership tag of its old address until
    /// something else changes it (a rename alone makes no AWS call): that old address.
    fn renamed_from<'o>(&self, a: &Address, obs: &'o ObservedResource) -> Option<&'o str> {
        if self.desired.moved.is_empty() {
            return None;
        }
        let old = obs.spec["Tags"][livestack_model::ADDRESS_TAG].as_str()?;
        Address::parse(old)
            .is_some_and(|o| &o != a && self.desired.moved_to(&o) == Some(a))
            .then_some(old)
    }

    fn converge(&mut self, r: &Resource) {
        let a = &r.address;
        let Some(obs) = self.observed.resources.get(a) else {
            // Create (also when the state has it but the cloud lost it).
            let resolved = self.resolve(&r.spec);
            self.replaced.insert(a.clone());
            let reason = self
                .prior
                .resources
                .contains_key(a)
                .then(|| "it is in the state but gone from the cloud".to_string());
            let mut ids = vec![self.step(a, Op::Create, None, Some(r.spec.clone()), false)];
            if r.running == Some(true) {
                ids.push(self.step(a, Op::Start, None, None, false));
            }
            self.after_dependencies(r, &ids);
            self.chain(&ids);
            let c = self.change(a, Action::Create, reason, Json::Null, resolved, vec![]);
            self.changes.insert(a.clone(), c);
            return;
        };
        // The resolved spec is copied only where it is shown or read; a rename compares it
        // whole, with its old ownership tag.
        let applied = self.prior.resources.get(a).map(|p| &p.applied);
        let mut fields = if self.renamed_from(a, obs).is_some() {
            diff::diff(&self.resolved(r, obs), &obs.spec, applied)
        } else {
            diff::diff_resolving(&r.spec, &obs.spec, applied, Some(&|v| self.resolve(v)))
        };
        let force = a.kind.info().forces_replacement;
        for f in &mut fields {
            let top = f.path.split(['.', '[', ' ']).next().unwrap_or("");
            f.forces_replacement = force.contains(&top);
        }
        let class_change = a.kind == Kind::MedialiveInput
            && input_class_changes(&self.resolved(r, obs), &obs.spec);
        let replace_reason = fields
            .iter()
            .find(|f| f.forces_replacement)
            .map(|f| format!("{} cannot change in place", f.path))
            .or_else(|| {
                class_change.then(|| {
                    "the input class (number of sources or destinations) cannot change in place"
                        .to_string()
                })
            });

        if let Some(reason) = replace_reason {
            self.replaced.insert(a.clone());
            let mut ids = vec![self.step(a, Op::Create, None, Some(r.spec.clone()), false)];
            if r.running == Some(true) {
                ids.push(self.step(a, Op::Start, None, None, false));
            }
            self.after_dependencies(r, &ids);
            self.chain(&ids);
            let del = self.step(a, Op::Delete, Some(obs.id.clone()), None, true);
            if keeps_identity(a.kind, &fields) {
                // The new copy takes the old one's unique name: delete first.
                self.edge(del, ids[0]);
                self.delete_first.insert(a.clone());
            } else {
                self.edge(ids[0], del);
            }
            let c = self.change(
                a,
                Action::Replace,
                Some(reason),
                obs.spec.clone(),
                self.resolved(r, obs),
                fields,
            );
            self.changes.insert(a.clone(), c);
            return;
        }

        if a.kind == Kind::MedialiveChannel {
            self.converge_channel(r, obs, fields);
            return;
        }
        if fields.is_empty() {
            // Nothing to show: no copy of what did not change.
            let c = self.change(a, Action::NoOp, None, Json::Null, Json::Null, fields);
            self.changes.insert(a.clone(), c);
            return;
        }
        let only_tags = fields
            .iter()
            .all(|f| f.path == "Tags" || f.path.starts_with("Tags."));
        let op = if only_tags {
            Op::UpdateTags
        } else {
            Op::Update
        };
        let s = self.step(a, op, Some(obs.id.clone()), Some(r.spec.clone()), false);
        self.after_dependencies(r, &[s]);
        let reason = fields
            .iter()
            .any(|f| f.drift)
            .then(|| "changed outside livestack".to_string());
        let c = self.change(
            a,
            Action::Update,
            reason,
            obs.spec.clone(),
            self.resolved(r, obs),
            fields,
        );
        self.changes.insert(a.clone(), c);
    }

    fn converge_channel(&mut self, r: &Resource, obs: &ObservedResource, fields: Vec<FieldChange>) {
        let a = &r.address;
        let state = obs.status.as_deref().unwrap_or("IDLE");
        let running_now = is_running(Some(state));
        let want_running = r.running.unwrap_or(true);
        let only_tags = fields
            .iter()
            .all(|f| f.path == "Tags" || f.path.starts_with("Tags."));
        let class_differs = fields.iter().any(|f| f.path == "ChannelClass");
        let resolved = class_differs.then(|| self.resolved(r, obs));
        let edit = !fields.is_empty() && !only_tags;
        // After UpdateChannelClass the channel holds the desired class and the destinations it
        // was given; an UpdateChannel is needed only if anything else still differs.
        let needs_update = edit
            && fields.iter().any(|f| {
                f.path != "ChannelClass"
                    && !(f.path.starts_with("Destinations")
                        && resolved
                            .as_ref()
                            .is_some_and(|v| destinations_only_trimmed(v, &obs.spec)))
            });
        let mut ids = Vec::new();
        let mut reason = None;
        if running_now && (edit || !want_running) {
            ids.push(self.step(a, Op::Stop, Some(obs.id.clone()), None, false));
        }
        // Up to STANDARD, the channel first takes its new inputs and settings as a
        // SINGLE_PIPELINE channel (which may read a STANDARD input, with one setting per
        // destination), then the class with both pipelines' destinations; down to
        // SINGLE_PIPELINE, the class first (dropping pipeline B), then the rest.
        let upgrade = resolved
            .as_ref()
            .is_some_and(|v| v["ChannelClass"] == "STANDARD");
        let class_step = |b: &mut Self| {
            b.step(
                a,
                Op::UpdateClass,
                Some(obs.id.clone()),
                Some(r.spec.clone()),
                false,
            )
        };
        if class_differs && !(upgrade && needs_update) {
            ids.push(class_step(self));
        }
        if needs_update {
            let spec = if upgrade {
                one_pipeline(&r.spec)
            } else {
                r.spec.clone()
            };
            ids.push(self.step(a, Op::Update, Some(obs.id.clone()), Some(spec), false));
            if upgrade {
                ids.push(class_step(self));
            }
        } else if only_tags && !fields.is_empty() {
            ids.push(self.step(
                a,
                Op::UpdateTags,
                Some(obs.id.clone()),
                Some(r.spec.clone()),
                false,
            ));
        }
        if want_running && (!running_now || ids.iter().any(|&i| self.steps[i].op == Op::Stop)) {
            ids.push(self.step(a, Op::Start, Some(obs.id.clone()), None, false));
        }
        if !want_running && running_now && !edit {
            reason = Some("running = false".to_string());
        } else if want_running && !running_now && !edit {
            reason = Some(format!(
                "the channel is {state}; the stack wants it running"
            ));
        } else if fields.iter().any(|f| f.drift) {
            reason = Some("changed outside livestack".to_string());
        }
        self.after_dependencies(r, &ids);
        self.chain(&ids);
        let action = if ids.is_empty() {
            Action::NoOp
        } else {
            Action::Update
        };
        let (before, after) = if action == Action::NoOp {
            (Json::Null, Json::Null)
        } else {
            let after = resolved.unwrap_or_else(|| self.resolved(r, obs));
            (obs.spec.clone(), after)
        };
        let mut c = self.change(a, action, reason, before, after, fields);
        c.interrupts = running_now && ids.iter().any(|&i| self.steps[i].op == Op::Stop);
        self.changes.insert(a.clone(), c);
    }

    /// Makes `ids[0]` wait for the create/update/start steps of what `r` depends on.
    /// A channel's stop waits only for its dependencies' creates (so the time off air
    /// starts when what it needs is ready); the step that uses them waits for their updates
    /// too (an input edited while attached must wait for the stop instead).
    fn after_dependencies(&mut self, r: &Resource, ids: &[usize]) {
        let Some(&first) = ids.first() else { return };
        let user = ids.iter().copied().find(|&i| self.steps[i].op != Op::Stop);
        for d in &r.depends_on {
            for op in [Op::Create, Op::Update, Op::UpdateClass, Op::UpdateTags] {
                if let Some(s) = self.find(d, op) {
                    if op == Op::Create && self.steps[first].op == Op::Stop {
                        self.edge(s, first);
                    }
                    if let Some(u) = user {
                        self.edge(s, u);
                    }
                }
            }
        }
    }

    /// An input edited (or replaced) while a channel that uses it runs: that channel stops first
    /// and starts again after.
    fn stop_channels_for_inputs(&mut self, wanted: &[Resource]) {
        let changed_inputs: Vec<Address> = self
            .changes
            .values()
            // A replaced input is re-pointed by the channel's own update (which stops it).
            .filter(|c| c.kind == Kind::MedialiveInput && c.action == Action::Update)
            .filter(|c| !c.ops_only_tags(&self.steps))
            .map(|c| c.address.clone())
            .collect();
        for input in changed_inputs {
            let Some(input_id) = self.observed.resources.get(&input).map(|o| o.id.clone()) else {
                continue;
            };
            for ch in wanted
                .iter()
                .filter(|r| r.address.kind == Kind::MedialiveChannel)
            {
                let Some(obs) = self.observed.resources.get(&ch.address) else {
                    continue;
                };
                let attached = obs.spec["InputAttachments"].as_array().is_some_and(|atts| {
                    atts.iter()
                        .any(|x| x["InputId"].as_str() == Some(input_id.as_str()))
                });
                let running = is_running(obs.status.as_deref());
                if !attached || !running {
                    continue;
                }
                let stop = self.step(&ch.address, Op::Stop, Some(obs.id.clone()), None, false);
                let input_step = self.find(&input, Op::Update);
                if let Some(s) = input_step {
                    self.edge(stop, s);
                    if ch.running.unwrap_or(true) {
                        let start =
                            self.step(&ch.address, Op::Start, Some(obs.id.clone()), None, false);
                        self.edge(s, start);
                        // Keep the channel's own steps between its stop and its start.
                        for op in [Op::UpdateClass, Op::Update] {
                            if let Some(x) = self.find(&ch.address, op) {
                                self.edge(stop, x);
                                self.edge(x, start);
                            }
                        }
                    }
                }
                if let Some(c) = self.changes.get_mut(&ch.address) {
                    c.interrupts = true;
                    if c.action == Action::NoOp {
                        c.action = Action::Update;
                    }
                    if c.reason.is_none() {
                        c.reason = Some(format!(
                            "{input} changes and is attached to this running channel"
                        ));
                    }
                }
            }
        }
    }

    fn delete(&mut self, a: &Address) {
        let obs = &self.observed.resources[a];
        let running = self.stop_and_delete(a, obs, false);
        let mut c = self.change(
            a,
            Action::Delete,
            None,
            obs.spec.clone(),
            Json::Null,
            vec![],
        );
        c.interrupts = running;
        self.changes.insert(a.clone(), c);
    }

    /// The steps deleting `o` (a running channel is stopped first); whether it was running.
    fn stop_and_delete(&mut self, a: &Address, o: &ObservedResource, copy: bool) -> bool {
        let mut ids = Vec::new();
        let running = is_running(o.status.as_deref());
        if a.kind == Kind::MedialiveChannel && running {
            ids.push(self.step(a, Op::Stop, Some(o.id.clone()), None, copy));
        }
        ids.push(self.step(a, Op::Delete, Some(o.id.clone()), None, copy));
        self.chain(&ids);
        running
    }

    fn delete_deposed(&mut self, d: &Deposed) {
        self.step(&d.address, Op::Delete, Some(d.id.clone()), None, true);
        self.note_old_copy(
            &d.address,
            format!("old copy {} of a replaced resource is deleted", d.id),
        );
    }

    /// A further copy of a wanted address (see [`Observed::extra`]): stopped if running, and
    /// deleted.
    fn delete_extra(&mut self, a: &Address, o: &ObservedResource) {
        self.stop_and_delete(a, o, true);
        self.note_old_copy(
            a,
            format!(
                "a second copy {} carries this address's ownership tags (left by an \
                 interrupted apply) and is deleted",
                o.id
            ),
        );
    }

    /// Says why an address has a delete of an old copy among its steps.
    fn note_old_copy(&mut self, a: &Address, why: String) {
        let c = self.changes.entry(a.clone()).or_insert_with(|| Change {
            address: a.clone(),
            kind: a.kind,
            action: Action::Delete,
            ops: Vec::new(),
            reason: None,
            interrupts: false,
            moved_from: None,
            drift: false,
            before: Json::Null,
            after: Json::Null,
            fields: vec![],
            steps: vec![],
        });
        c.reason = Some(match c.reason.take() {
            Some(r) => format!("{r}; {why}"),
            None => why,
        });
    }

    /// A delete waits for everything that used the deleted resource to let go of it: deletes
    /// and updates of its dependents (in the state's graph and the stack's).
    fn order_deletes(&mut self, wanted: &[Resource]) {
        let deletes: Vec<usize> = (0..self.steps.len())
            .filter(|&i| self.steps[i].op == Op::Delete)
            .collect();
        if deletes.is_empty() {
            return;
        }
        let mut users: BTreeMap<Address, BTreeSet<Address>> = BTreeMap::new();
        for (a, p) in &self.prior.resources {
            for d in &p.depends_on {
                users.entry(d.clone()).or_default().insert(a.clone());
            }
        }
        for r in wanted {
            for d in &r.depends_on {
                users
                    .entry(d.clone())
                    .or_default()
                    .insert(r.address.clone());
            }
        }
        // What the cloud says refers to what, by id: a channel to its attached inputs, an
        // input to its security groups, an endpoint to its MediaPackage channel.
        let mut by_id: BTreeMap<(Kind, &str), Vec<&Address>> = BTreeMap::new();
        for (a, o) in &self.observed.resources {
            by_id.entry((a.kind, o.id.as_str())).or_default().push(a);
            if let Some(arn) = o.arn.as_deref() {
                by_id.entry((a.kind, arn)).or_default().push(a);
            }
        }
        for (ua, uo) in &self.observed.resources {
            for (kind, id) in ua.kind.info().referenced_ids(&uo.spec) {
                for a in by_id.get(&(kind, id.as_str())).into_iter().flatten() {
                    users.entry((*a).clone()).or_default().insert(ua.clone());
                }
            }
        }
        for del in deletes {
            let a = self.steps[del].address.clone();
            // A delete-first replacement cannot wait for users to re-point to the new copy,
            // which it precedes; it waits only for users being deleted.
            let ops: &[Op] = if self.delete_first.contains(&a) {
                &[Op::Delete]
            } else {
                &[Op::Delete, Op::Update, Op::UpdateClass, Op::Stop]
            };
            for u in users.get(&a).cloned().unwrap_or_default() {
                // A parameter holding a copy of a password is no user AWS knows of: the copy
                // is replaced after the new channel exists.
                if self.delete_first.contains(&a) && u.kind == Kind::SsmParameter {
                    continue;
                }
                for &op in ops {
                    let theirs: Vec<usize> = self
                        .by_op
                        .range((u.clone(), op, None)..)
                        .take_while(|((ua, uop, _), _)| ua == &u && *uop == op)
                        .map(|(_, &s)| s)
                        .collect();
                    for s in theirs {
                        if s != del {
                            self.edge(s, del);
                        }
                    }
                }
            }
        }
    }

    /// A MediaPackage channel cannot be deleted while it has endpoints: an endpoint whose
    /// channel (as the cloud says) is deleted by this plan, and that the plan would otherwise
    /// keep, is replaced around it (deleted first, as its id is kept, and created again on the
    /// channel it now names).
    fn endpoints_follow_their_channel(&mut self, wanted: &[Resource]) {
        let deleted: BTreeSet<String> = self
            .steps
            .iter()
            .filter(|st| st.address.kind == Kind::MediapackageChannel && st.op == Op::Delete)
            .filter_map(|st| st.target_id.clone())
            .collect();
        if deleted.is_empty() {
            return;
        }
        for r in wanted
            .iter()
            .filter(|r| r.address.kind == Kind::MediapackageEndpoint)
        {
            let a = &r.address;
            let Some(obs) = self.observed.resources.get(a) else {
                continue;
            };
            let Some(channel) = obs.spec["ChannelId"].as_str().map(String::from) else {
                continue;
            };
            if !deleted.contains(&channel)
                || self
                    .by_op
                    .contains_key(&(a.clone(), Op::Delete, Some(obs.id.clone())))
            {
                continue;
            }
            // An update of the old copy gives way to the new copy's create.
            for op in [Op::Update, Op::UpdateTags] {
                if let Some(u) = self.by_op.remove(&(a.clone(), op, None)) {
                    self.steps[u].op = Op::Create;
                    self.steps[u].target_id = None;
                    self.by_op.insert((a.clone(), Op::Create, None), u);
                }
            }
            let create = self.step(a, Op::Create, None, Some(r.spec.clone()), false);
            let del = self.step(a, Op::Delete, Some(obs.id.clone()), None, true);
            self.edge(del, create);
            self.delete_first.insert(a.clone());
            self.after_dependencies(r, &[create]);
            let why = format!(
                "its MediaPackage channel `{channel}` is deleted by this plan: the endpoint goes \
                 first and is made again"
            );
            let after = redact(&self.resolve(&r.spec));
            if let Some(c) = self.changes.get_mut(a) {
                c.action = Action::Replace;
                c.before = redact(&obs.spec);
                c.after = after;
                c.reason = Some(match c.reason.take() {
                    Some(r) => format!("{r}; {why}"),
                    None => why,
                });
            }
        }
    }

    /// A create that takes a unique name (a role name, a MediaPackage id, a parameter name)
    /// still held by a resource at another address being deleted (a label renamed without a
    /// `[[moved]]` entry) waits for that delete.
    fn free_unique_names(&mut self) {
        let creates: Vec<(usize, Address, String)> = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, st)| st.op == Op::Create && !st.deposed)
            .filter_map(|(i, st)| {
                let name = st.address.kind.info().natural_id(st.spec.as_ref()?)?;
                Some((i, st.address.clone(), name))
            })
            .collect();
        let mut deletes: BTreeMap<(Kind, &str), Vec<(usize, Address)>> = BTreeMap::new();
        for (i, st) in self.steps.iter().enumerate() {
            if let (Op::Delete, Some(id)) = (st.op, st.target_id.as_deref()) {
                deletes
                    .entry((st.address.kind, id))
                    .or_default()
                    .push((i, st.address.clone()));
            }
        }
        let mut order: Vec<(usize, usize, Address, Address, String)> = Vec::new();
        for (create, a, name) in creates {
            for (del, old) in deletes.get(&(a.kind, name.as_str())).into_iter().flatten() {
                if old != &a {
                    order.push((*del, create, old.clone(), a.clone(), name.clone()));
                }
            }
        }
        for (del, create, old, a, name) in order {
            self.edge(del, create);
            self.delete_first.insert(old.clone());
            if let Some(c) = self.changes.get_mut(&a) {
                let why = format!(
                    "takes the name `{name}` from {old}, which is deleted first (to keep it \
                     instead, add [[moved]] from = \"{old}\", to = \"{a}\")"
                );
                c.reason = Some(match c.reason.take() {
                    Some(r) => format!("{r}; {why}"),
                    None => why,
                });
            }
        }
    }

    /// An input serves one channel: a channel that attaches an input another channel holds
    /// (as the cloud says) waits for that channel's delete or update to let go of it.
    fn free_inputs(&mut self) {
        let holders: Vec<(Address, String, &ObservedResource)> = self
            .observed
            .resources
            .iter()
            .map(|(a, o)| (a.clone(), String::new(), o))
            .chain(
                self.observed
                    .extra
                    .iter()
                    .map(|(a, o)| (a.clone(), o.id.clone(), o)),
            )
            .filter(|(a, _, _)| a.kind == Kind::MedialiveChannel)
            .collect();
        let attaching: Vec<(usize, Address, Vec<Address>)> = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, st)| {
                st.address.kind == Kind::MedialiveChannel
                    && !st.deposed
                    && matches!(st.op, Op::Create | Op::Update)
            })
            .map(|(i, st)| {
                let inputs = st
                    .spec
                    .as_ref()
                    .and_then(|sp| sp["InputAttachments"].as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|att| att["InputId"]["$ref"].as_str().and_then(Address::parse))
                    .collect();
                (i, st.address.clone(), inputs)
            })
            .collect();
        for (attach, x, inputs) in attaching {
            for input in inputs {
                if self.replaced.contains(&input) {
                    continue; // a new input: nobody holds it
                }
                let Some(input_id) = self.observed.resources.get(&input).map(|o| o.id.clone())
                else {
                    continue;
                };
                for (y, extra_id, yo) in &holders {
                    if y == &x && extra_id.is_empty() {
                        continue;
                    }
                    let holds = yo.spec["InputAttachments"].as_array().is_some_and(|atts| {
                        atts.iter()
                            .any(|at| at["InputId"].as_str() == Some(input_id.as_str()))
                    });
                    if !holds {
                        continue;
                    }
                    let copy = (!extra_id.is_empty()).then(|| extra_id.clone());
                    let letting_go: Vec<usize> = [Op::Delete, Op::Update]
                        .iter()
                        .filter_map(|&op| self.by_op.get(&(y.clone(), op, copy.clone())).copied())
                        .collect();
                    for s in letting_go {
                        if !self.reaches(attach, s) {
                            self.edge(s, attach);
                        }
                    }
                    if self
                        .changes
                        .get(&x)
                        .is_some_and(|c| c.action == Action::Create)
                    {
                        let why = format!(
                            "created after {y} lets go of {input} (an input serves one channel)"
                        );
                        if let Some(c) = self.changes.get_mut(&x) {
                            c.reason = Some(match c.reason.take() {
                                Some(r) => format!("{r}; {why}"),
                                None => why,
                            });
                        }
                    }
                }
            }
        }
    }

    /// Stops running channel `ch` before step `i` and starts it after (a wanted channel whose
    /// plan has no stop of its own).
    fn restart_around(&mut self, ch: &Address, i: usize) {
        let Some(id) = self.observed.resources.get(ch).map(|o| o.id.clone()) else {
            return;
        };
        if self.desired.get(ch).is_none() || self.find(ch, Op::Delete).is_some() {
            return;
        }
        let stop = self.step(ch, Op::Stop, Some(id.clone()), None, false);
        let start = self.step(ch, Op::Start, Some(id), None, false);
        let own: Vec<usize> = [Op::UpdateTags]
            .iter()
            .filter_map(|&op| self.find(ch, op))
            .collect();
        self.edge(stop, i);
        self.edge(i, start);
        for s in own {
            self.edge(stop, s);
            self.edge(s, start);
        }
        if let Some(c) = self.changes.get_mut(ch) {
            c.interrupts = true;
            if c.action == Action::NoOp {
                c.action = Action::Update;
            }
            let why = format!(
                "restarted to read the new ingest password in `{}`",
                self.steps[i].target_id.as_deref().unwrap_or("?")
            );
            c.reason = Some(match c.reason.take() {
                Some(r) => format!("{r}; {why}"),
                None => why,
            });
        }
    }

    /// MediaLive edits an attached input only while its channel is IDLE: an input update
    /// waits for the delete of a channel that holds it, and goes before an update of a
    /// channel that holds it (never while that channel is DELETING or UPDATING).
    fn edit_inputs_apart_from_their_channels(&mut self) {
        let updates: Vec<(usize, String)> = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, st)| st.address.kind == Kind::MedialiveInput && st.op == Op::Update)
            .filter_map(|(i, st)| Some((i, st.target_id.clone()?)))
            .collect();
        let channels: Vec<(Address, String, bool)> = self
            .observed
            .resources
            .iter()
            .map(|(a, o)| (a, o, false))
            .chain(self.observed.extra.iter().map(|(a, o)| (a, o, true)))
            .filter(|(a, _, _)| a.kind == Kind::MedialiveChannel)
            .map(|(a, o, extra)| {
                let inputs = o.spec["InputAttachments"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x["InputId"].as_str())
                    .collect::<Vec<_>>()
                    .join(",");
                (a.clone(), format!("{}|{inputs}", o.id), extra)
            })
            .collect();
        for (u, input_id) in updates {
            for (ch, ids, extra) in &channels {
                let (ch_id, inputs) = ids.split_once('|').unwrap_or_default();
                if !inputs.split(',').any(|x| x == input_id) {
                    continue;
                }
                let copy = extra.then(|| ch_id.to_string());
                let on = |b: &Self, op: Op| b.by_op.get(&(ch.clone(), op, copy.clone())).copied();
                if let Some(del) = on(self, Op::Delete) {
                    if !self.reaches(u, del) {
                        self.edge(del, u);
                    }
                    continue;
                }
                for op in [Op::UpdateClass, Op::Update] {
                    if let Some(x) = on(self, op) {
                        if !self.reaches(x, u) {
                            self.edge(u, x);
                        }
                    }
                }
            }
        }
    }

    /// Whether step `from` leads to step `to` through the edges so far.
    fn reaches(&self, from: usize, to: usize) -> bool {
        self.descendants(from).contains(&to)
    }

    /// `from` and every step that follows from it through the edges so far.
    fn descendants(&self, from: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from];
        while let Some(i) = todo.pop() {
            if seen.insert(i) {
                todo.extend(self.next.get(i).into_iter().flatten().copied());
            }
        }
        seen
    }

    /// Marks the steps that take away what a running channel's viewers get: its stop, a
    /// delete of a MediaPackage channel it feeds or of that channel's endpoints, a change or
    /// delete of an ingest password parameter it reads. Each such step (other than the stop)
    /// waits for the creates that do not follow from it, so the window off air is as short
    /// as the plan allows.
    fn mark_interruptions(&mut self) {
        self.mark_what_running_channels_lose();
        self.mark_stops();
    }

    /// The deletes and overwrites of what running channels use (see
    /// [`Builder::mark_interruptions`]).
    fn mark_what_running_channels_lose(&mut self) {
        let takes_away = |st: &Step| {
            st.target_id.is_some()
                && match st.address.kind {
                    Kind::MediapackageChannel | Kind::MediapackageEndpoint => st.op == Op::Delete,
                    Kind::SsmParameter => matches!(st.op, Op::Delete | Op::Update),
                    _ => false,
                }
        };
        if !self.steps.iter().any(takes_away) {
            return;
        }
        let mut fed_mp: BTreeSet<String> = BTreeSet::new();
        let mut params: BTreeSet<String> = BTreeSet::new();
        let mut fed_by: BTreeMap<String, BTreeSet<Address>> = BTreeMap::new();
        // Each MediaPackage channel by its ingest URLs.
        let mut ingest: BTreeMap<&str, &str> = BTreeMap::new();
        for (a, o) in &self.observed.resources {
            if a.kind != Kind::MediapackageChannel {
                continue;
            }
            for e in o.outputs["HlsIngest"]["IngestEndpoints"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(u) = e["Url"].as_str() {
                    ingest.insert(u.trim_end_matches('/'), o.id.as_str());
                }
            }
        }
        for (ca, co) in &self.observed.resources {
            if ca.kind != Kind::MedialiveChannel || !is_running(co.status.as_deref()) {
                continue;
            }
            for (kind, id) in ca.kind.info().referenced_ids(&co.spec) {
                match kind {
                    Kind::MediapackageChannel => {
                        fed_by.entry(id.clone()).or_default().insert(ca.clone());
                        fed_mp.insert(id);
                    }
                    Kind::SsmParameter => {
                        fed_by.entry(id.clone()).or_default().insert(ca.clone());
                        params.insert(id);
                    }
                    _ => {}
                }
            }
            // HLS over WebDAV to MediaPackage: the destination URLs are its ingest URLs.
            let urls = co.spec["Destinations"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|d| d["Settings"].as_array().into_iter().flatten())
                .filter_map(|st| st["Url"].as_str());
            for url in urls {
                if let Some(mp) = ingest.get(url.trim_end_matches('/')) {
                    fed_by.entry(mp.to_string()).or_default().insert(ca.clone());
                    fed_mp.insert(mp.to_string());
                }
            }
        }
        let fed_endpoints: BTreeMap<String, String> = self
            .observed
            .resources
            .iter()
            .filter(|(a, _)| a.kind == Kind::MediapackageEndpoint)
            .filter_map(|(_, o)| {
                let ch = o.spec["ChannelId"].as_str()?;
                fed_mp.contains(ch).then(|| (o.id.clone(), ch.to_string()))
            })
            .collect();
        // (step, the running channels it takes something from, what it takes)
        let mut candidates: Vec<(usize, BTreeSet<Address>, String)> = Vec::new();
        for (i, st) in self.steps.iter().enumerate() {
            let Some(id) = st.target_id.as_deref() else {
                continue;
            };
            let (fed, what) = match (st.address.kind, st.op) {
                (Kind::MediapackageChannel, Op::Delete) if fed_mp.contains(id) => (
                    fed_by.get(id),
                    format!("deleting MediaPackage channel `{id}` takes the output of"),
                ),
                (Kind::MediapackageEndpoint, Op::Delete) if fed_endpoints.contains_key(id) => (
                    fed_by.get(&fed_endpoints[id]),
                    format!("deleting endpoint `{id}` takes away the playback of"),
                ),
                (Kind::SsmParameter, Op::Delete) if params.contains(id) => (
                    fed_by.get(id),
                    format!("deleting `{id}` takes away the ingest password read by"),
                ),
                (Kind::SsmParameter, Op::Update)
                    if params.contains(id)
                        && self
                            .changes
                            .get(&st.address)
                            .is_some_and(|c| c.fields.iter().any(|f| f.path == "Value")) =>
                {
                    (
                        fed_by.get(id),
                        format!("overwriting the ingest password in `{id}` breaks the ingest of"),
                    )
                }
                _ => (None, String::new()),
            };
            if let Some(fed) = fed {
                candidates.push((i, fed.clone(), what));
            }
        }
        for (i, channels, what) in candidates {
            let mut off_air = Vec::new();
            for ch in channels {
                // MediaLive reads an ingest password when the channel starts: a channel that
                // keeps running after its password is overwritten is restarted around the
                // overwrite.
                let overwrite = self.steps[i].op == Op::Update;
                if overwrite && self.find(&ch, Op::Stop).is_none() {
                    self.restart_around(&ch, i);
                }
                // A channel that this plan stops anyway: the step runs between its stop and
                // its next step, and takes nothing more away.
                let Some(stop) = self.find(&ch, Op::Stop) else {
                    off_air.push(ch);
                    continue;
                };
                let next = [Op::UpdateClass, Op::Update, Op::Start, Op::Delete]
                    .into_iter()
                    .find_map(|op| self.find(&ch, op));
                if self.reaches(i, stop) {
                    off_air.push(ch);
                } else {
                    self.edge(stop, i);
                    if let Some(n) = next.filter(|&n| n != i && !self.reaches(n, i)) {
                        if self.find(&ch, Op::Delete) != Some(n) {
                            self.edge(i, n);
                        }
                    }
                }
            }
            if off_air.is_empty() {
                continue;
            }
            let a = self.steps[i].address.clone();
            self.steps[i].interrupts = true;
            let names: Vec<String> = off_air.iter().map(|c| c.to_string()).collect();
            let why = format!("{what} running channel {}", names.join(", "));
            self.interrupted.extend(off_air);
            if let Some(c) = self.changes.get_mut(&a) {
                c.interrupts = true;
                c.reason = Some(match c.reason.take() {
                    Some(r) => format!("{r}; {why}"),
                    None => why,
                });
            }
            // Everything that can be made ready first is made ready first.
            let after_i = self.descendants(i);
            let creates: Vec<usize> = (0..self.steps.len())
                .filter(|&j| self.steps[j].op == Op::Create && !self.steps[j].interrupts)
                .filter(|j| !after_i.contains(j))
                .collect();
            for c in creates {
                self.edge(c, i);
            }
        }
    }

    /// The stops of running channels (and of extra copies) take them off air.
    fn mark_stops(&mut self) {
        let stopped: Vec<(usize, Address)> = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, st)| st.op == Op::Stop)
            .filter(|(_, st)| {
                st.deposed
                    || self
                        .observed
                        .resources
                        .get(&st.address)
                        .is_some_and(|o| is_running(o.status.as_deref()))
            })
            .map(|(i, st)| (i, st.address.clone()))
            .collect();
        for (i, a) in stopped {
            self.steps[i].interrupts = true;
            self.interrupted.insert(a);
        }
    }

    fn finish(mut self, stack: &str, mode: Mode) -> Result<Plan, Error> {
        // Number the steps in a topological order: by wave, then kind order, then address.
        let n = self.steps.len();
        let mut preds: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        for (b, a) in self
            .next
            .iter()
            .enumerate()
            .flat_map(|(b, ns)| ns.iter().map(move |&a| (b, a)))
        {
            preds[a].insert(b);
        }
        let mut wave = vec![usize::MAX; n];
        let mut done = 0;
        while done < n {
            let mut progressed = false;
            for i in 0..n {
                if wave[i] != usize::MAX {
                    continue;
                }
                if preds[i].iter().all(|&p| wave[p] != usize::MAX) {
                    wave[i] = preds[i].iter().map(|&p| wave[p] + 1).max().unwrap_or(0);
                    done += 1;
                    progressed = true;
                }
            }
            if !progressed {
                // Steps that wait for each other: a planner bug, never a plan to run.
                let stuck: Vec<String> = (0..n)
                    .filter(|&i| wave[i] == usize::MAX)
                    .map(|i| format!("{} {}", self.steps[i].op.as_str(), self.steps[i].address))
                    .collect();
                return Err(Error::StepCycle(stuck));
            }
        }
        let mut order: Vec<usize> = (0..n).collect();
        let rank = |s: &Step| {
            let k = s.address.kind as usize;
            if s.op == Op::Delete {
                (1, 100 - k)
            } else {
                (0, k)
            }
        };
        order.sort_by(|&x, &y| {
            let (sx, sy) = (&self.steps[x], &self.steps[y]);
            (wave[x], rank(sx), &sx.address, sx.op, sx.deposed).cmp(&(
                wave[y],
                rank(sy),
                &sy.address,
                sy.op,
                sy.deposed,
            ))
        });
        let mut new_id = vec![0; n];
        for (pos, &i) in order.iter().enumerate() {
            new_id[i] = pos + 1;
        }
        let mut steps: Vec<Step> = order
            .iter()
            .map(|&i| {
                let mut s = std::mem::replace(
                    &mut self.steps[i],
                    Step {
                        id: 0,
                        address: Address::new(Kind::IamRole, "taken"),
                        op: Op::Create,
                        after: Vec::new(),
                        wave: 0,
                        target_id: None,
                        spec: None,
                        deposed: false,
                        interrupts: false,
                    },
                );
                s.id = new_id[i];
                s.wave = wave[i];
                s.after = preds[i].iter().map(|&p| new_id[p]).collect();
                s.after.sort();
                s
            })
            .collect();
        steps.sort_by_key(|s| s.id);
        for s in &steps {
            if let Some(c) = self.changes.get_mut(&s.address) {
                c.steps.push(s.id);
                c.ops.push(s.op);
            }
        }
        let mut changes: Vec<Change> = self.changes.into_values().collect();
        let mut summary = order_and_count(&mut changes);
        summary.interrupted = self.interrupted.len();
        Ok(Plan {
            format_version: FORMAT_VERSION,
            stack: stack.to_string(),
            target: None,
            mode,
            changes,
            steps,
            summary,
            adopted: Vec::new(),
            moved: Vec::new(),
            forgotten: Vec::new(),
            targets: Vec::new(),
            warnings: Vec::new(),
        })
    }
}

/// Lists the changes in the order their first step runs (no-ops last) and counts them for
/// the summary (`interrupted` left at 0).
fn order_and_count(changes: &mut [Change]) -> Summary {
    changes.sort_by_key(|c| {
        (
            c.steps.first().copied().unwrap_or(usize::MAX),
            c.address.clone(),
        )
    });
    let mut summary = Summary::default();
    for c in changes.iter() {
        match c.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Replace => summary.replace += 1,
            Action::Delete => summary.delete += 1,
            // An old copy of a resource that stays.
            Action::NoOp if !c.steps.is_empty() => summary.delete += 1,
            Action::NoOp => {}
        }
    }
    summary
}

impl Change {
    fn ops_only_tags(&self, steps: &[Step]) -> bool {
        let mine: Vec<&Step> = steps.iter().filter(|s| s.address == self.address).collect();
        !mine.is_empty() && mine.iter().all(|s| s.op == Op::UpdateTags)
    }
}

fn unknown() -> Json {
    json!({ "$unknown": "known after apply" })
}

/// `a.b.0.c` inside `v`.
pub fn lookup<'v>(v: &'v Json, path: &str) -> Option<&'v Json> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.')
        .try_fold(v, |cur, seg| match seg.parse::<usize>() {
            Ok(i) => cur.get(i),
            Err(_) => cur.get(seg),
        })
}

/// A channel spec with one setting per destination (pipeline A's), as a SINGLE_PIPELINE
/// channel takes it.
fn one_pipeline(spec: &Json) -> Json {
    let mut out = spec.clone();
    for d in out["Destinations"].as_array_mut().into_iter().flatten() {
        if let Some(settings) = d.get_mut("Settings").and_then(Json::as_array_mut) {
            settings.truncate(1);
        }
    }
    out
}

/// A channel state in which it is on air.
pub fn is_running(status: Option<&str>) -> bool {
    matches!(status, Some("RUNNING" | "STARTING" | "RECOVERING"))
}

/// Whether a replacement keeps the resource's unique name (so the old copy must go first).
fn keeps_identity(kind: Kind, fields: &[FieldChange]) -> bool {
    kind.info()
        .identity
        .is_some_and(|identity| !fields.iter().any(|f| f.path == identity))
}

/// An input's class follows its number of sources (or destinations): 2 = STANDARD.
fn input_class_changes(desired: &Json, observed: &Json) -> bool {
    let count = |v: &Json| {
        v["Sources"]
            .as_array()
            .map(|a| a.len())
            .filter(|n| *n > 0)
            .or_else(|| v["Destinations"].as_array().map(|a| a.len()))
            .unwrap_or(0)
    };
    let (d, o) = (count(desired), count(observed));
    d > 0 && o > 0 && (d >= 2) != (o >= 2)
}

/// Whether the observed destinations, trimmed or extended to the desired pipeline count, equal
/// the desired ones for every destination id both have, with no id added or removed.
fn destinations_only_trimmed(desired: &Json, observed: &Json) -> bool {
    let (Some(d), Some(o)) = (
        desired["Destinations"].as_array(),
        observed["Destinations"].as_array(),
    ) else {
        return false;
    };
    if d.len() != o.len() {
        return false;
    }
    d.iter().all(|dd| {
        o.iter().any(|oo| {
            oo["Id"] == dd["Id"] && {
                let ds = dd["Settings"].as_array().cloned().unwrap_or_default();
                let os = oo["Settings"].as_array().cloned().unwrap_or_default();
                ds.iter().zip(os.iter()).all(|(x, y)| diff::same(x, y))
            }
        })
    })
}

/// `v` with its secrets and unknowns replaced in place (see [`redact`]).
fn redacted(mut v: Json) -> Json {
    redact_in_place(&mut v);
    v
}

fn redact_in_place(v: &mut Json) {
    let shown = match v {
        Json::Object(m) if m.contains_key("$sensitive") || m.contains_key("$secret") => {
            "(sensitive)"
        }
        Json::Object(m) if m.contains_key("$unknown") => "(known after apply)",
        Json::Object(m) => return m.values_mut().for_each(redact_in_place),
        Json::Array(a) => return a.iter_mut().for_each(redact_in_place),
        _ => return,
    };
    *v = json!(shown);
}

/// Replaces secrets and unknowns with what people may see.
pub fn redact(v: &Json) -> Json {
    match v {
        Json::Object(m) if m.contains_key("$sensitive") || m.contains_key("$secret") => {
            json!("(sensitive)")
        }
        Json::Object(m) if m.contains_key("$unknown") => json!("(known after apply)"),
        Json::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), redact(v))).collect()),
        Json::Array(a) => Json::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

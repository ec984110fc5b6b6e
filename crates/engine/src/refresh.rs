//! Refresh: read every resource of the state and of the stack from the cloud, concurrently and
//! bounded, adopt resources found by ownership tags, and hash the secrets the stack uses.

use std::collections::BTreeMap;
use std::sync::Arc;

use livestack_model::{Address, Kind, ValidatedStack};
use livestack_plan::{secret_key, Mode, Observed, ObservedResource};
use serde_json::Value as Json;
use tokio::sync::Semaphore;

use crate::error::{Error, OrMissing};
use crate::{Cloud, Engine, SecretSource};

type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) async fn refresh<C: Cloud>(s: &Engine<C>, mode: Mode) -> Result<Observed> {
    let stack = &s.desired.name;
    // The state's ids, under the addresses `[[moved]]` entries give them.
    let (prior, _) = livestack_plan::apply_moves(&s.desired, &s.state.prior);
    let ids: Vec<(Address, String)> = prior
        .resources
        .iter()
        .map(|(a, r)| (a.clone(), r.id.clone()))
        .collect();
    // Everything that carries the stack's ownership tags is listed while the state's ids are
    // read (see below for what it is for); the ids the state knows need no tag reads there.
    tracing::debug!(stack = %stack, "refresh: reading the state's resources, finding resources by ownership tags");
    let tagged = format!("resources tagged livestack:stack={stack}");
    let known_ids: std::collections::BTreeSet<String> =
        ids.iter().map(|(_, id)| id.clone()).collect();
    let (read, found) = tokio::join!(
        read_all(s, ids, Absent::ReadAlone),
        C::about(tagged, s.cloud.discover(stack, &known_ids))
    );
    let mut observed = Observed::default();
    let mut rehomed = Vec::new();
    for (a, o) in read? {
        let Some(o) = o else { continue };
        // Known to the state under an address the stack no longer has, while its tags name
        // one the stack wants: a state older than the resource's tags (a backup restored
        // after a rename) is wrong about it. It is the tags' address's (adopted there), and
        // the state's entry is forgotten, never deleted. (The other way round, a tag older
        // than the state after `state mv`, the state's address is the stack's and wins.)
        if let Some(tagged) = owner(&o, stack) {
            if tagged != a && s.desired.get(&a).is_none() && s.desired.get(&tagged).is_some() {
                tracing::info!(address = %tagged, id = %o.id, state = %a,
                    "refresh: the state's address is gone from the stack; the tags' address takes it");
                rehomed.push((tagged, o));
                continue;
            }
        }
        observed.resources.insert(a, o);
    }
    for (tagged, o) in rehomed {
        observed.resources.entry(tagged).or_insert(o);
    }
    // What carries the stack's ownership tags: what the state lacks (a lost state file, a
    // create whose answer never came) or knows under a stale id is adopted before anything is
    // created; a second copy of one address is an extra, deleted by the plan.
    let found = found.map_err(|e| Error::Discover {
        source: Box::new(e),
    })?;
    let mut to_read: Vec<(Address, String)> = Vec::new();
    // A resource known to the state under one address is never seen under another (its tag
    // may still name an address it had before `state mv`).
    let known: std::collections::BTreeSet<(Kind, String)> = observed
        .resources
        .iter()
        .map(|(a, o)| (a.kind, o.id.clone()))
        .collect();
    for (tagged, id) in found {
        if known.contains(&(tagged.kind, id.clone())) {
            continue;
        }
        if prior.released.iter().any(|r| r.id == id) {
            continue; // let go of by `state rm`
        }
        let a = s.desired.moved_to(&tagged).cloned().unwrap_or(tagged);
        tracing::debug!(address = %a, id = %id, "refresh: found by tags");
        to_read.push((a, id));
    }
    let mut candidates: BTreeMap<Address, Vec<ObservedResource>> = BTreeMap::new();
    for (a, o) in read_all(s, to_read, Absent::ReadAlone).await? {
        if let Some(o) = o {
            candidates.entry(a).or_default().push(o);
        }
    }
    for (a, mut copies) in candidates {
        // The copy kept: one on air first, then the oldest id.
        copies.sort_by_key(|o| {
            (
                !livestack_plan::is_running(o.status.as_deref()),
                o.id.clone(),
            )
        });
        let mut copies = copies.into_iter();
        if !observed.resources.contains_key(&a) {
            if let Some(first) = copies.next() {
                observed.resources.insert(a.clone(), first);
            }
        }
        observed.extra.extend(copies.map(|o| (a.clone(), o)));
    }
    // What has a unique name and was not found by tags (IAM roles are not listed): looked up
    // by name, and taken only if its tags say it is this stack's.
    let mut probes = Vec::new();
    if mode == Mode::Apply {
        for r in &s.desired.resources {
            if observed.resources.contains_key(&r.address) {
                continue;
            }
            if let Some(n) = r.address.kind.info().natural_id(&r.spec) {
                probes.push((r.address.clone(), n));
            }
        }
    } else {
        // Destroy: what no list finds by its tags (roles) is found by name too.
        for r in &s.desired.resources {
            if !r.address.kind.info().discovered_by_tags
                && !observed.resources.contains_key(&r.address)
            {
                if let Some(n) = r.address.kind.info().natural_id(&r.spec) {
                    probes.push((r.address.clone(), n));
                }
            }
        }
    }
    for (a, o) in read_all(s, probes, Absent::Gone).await? {
        let Some(o) = o else { continue };
        if prior.released.iter().any(|r| r.id == o.id) {
            return Err(Error::Released {
                address: a,
                id: o.id,
            });
        }
        match owner(&o, stack) {
            Some(tagged) if tagged == a || s.desired.moved_to(&tagged) == Some(&a) => {
                observed.resources.insert(a, o);
            }
            Some(tagged) => {
                // This stack's, under another address: a label renamed without `[[moved]]`.
                if observed
                    .resources
                    .get(&tagged)
                    .is_some_and(|x| x.id == o.id)
                {
                    // Known under its old address, which the plan deletes before this one
                    // takes the name.
                    continue;
                }
                if s.desired.get(&tagged).is_some() {
                    return Err(Error::ClaimedTwice {
                        address: a,
                        id: o.id,
                        other: tagged,
                    });
                }
                tracing::info!(address = %a, id = %o.id, old = %tagged,
                    "refresh: found under its old address; adopting it");
                observed.resources.insert(a, o);
            }
            None if mode == Mode::Destroy => {} // not ours to delete
            None => {
                return Err(Error::NotOwned {
                    hint: not_owned_hint(&a, &o.id, stack),
                    address: a,
                    id: o.id,
                })
            }
        }
    }
    if mode == Mode::Apply {
        observed.secrets = secrets(s, &observed).await?;
    }
    tracing::info!(
        found = observed.resources.len(),
        extra = observed.extra.len(),
        secrets = observed.secrets.len(),
        "refresh done"
    );
    Ok(observed)
}

/// What a bulk read that does not show a resource means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Absent {
    /// Nothing yet: the resource is read alone (one too new to be listed is not gone). For
    /// what the state or the ownership tags say exists.
    ReadAlone,
    /// It does not exist. For the by-name probes of what the stack would create: a create
    /// that meets a resource a list did not show yet is refused by AWS ("already exists") and
    /// handled there (taken over if its tags say it is this stack's, refused otherwise).
    Gone,
}

/// Reads each (address, id): in bulk where the cloud can (two or more of a kind), the rest
/// one by one, and what a bulk read did not show as `absent` says; concurrently and bounded.
/// A resource DELETING is gone.
async fn read_all<C: Cloud>(
    s: &Engine<C>,
    ids: Vec<(Address, String)>,
    absent: Absent,
) -> Result<Vec<(Address, Option<ObservedResource>)>> {
    /// A read finished: a kind's bulk read, or one resource's.
    enum Read<E> {
        Bulk(Kind, Result<Option<Vec<ObservedResource>>, E>),
        One(usize, Result<Option<ObservedResource>, E>),
    }
    let hasher = s.hasher.clone();
    let mut per_kind: BTreeMap<Kind, Vec<(usize, String)>> = BTreeMap::new();
    for (i, (a, id)) in ids.iter().enumerate() {
        per_kind.entry(a.kind).or_default().push((i, id.clone()));
    }
    let sem = Arc::new(Semaphore::new(s.parallelism.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let read_one = |set: &mut tokio::task::JoinSet<Read<C::Error>>, i: usize| {
        let (a, id) = ids[i].clone();
        let (cloud, hasher, sem) = (s.cloud.clone(), hasher.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            tracing::debug!(address = %a, id = %id, "refresh: reading");
            Read::One(
                i,
                C::about(a.to_string(), cloud.read(&a, &id, &hasher)).await,
            )
        });
    };
    // Every kind at once: in bulk where there are two or more to read of a kind the cloud
    // lists whole, one by one otherwise and for what a bulk read did not show.
    for (kind, of_kind) in &per_kind {
        if of_kind.len() < 2 || !kind.info().read_in_bulk {
            for &(i, _) in of_kind {
                read_one(&mut set, i);
            }
            continue;
        }
        let wanted: Vec<String> = of_kind.iter().map(|(_, id)| id.clone()).collect();
        let (cloud, hasher, sem, kind) = (s.cloud.clone(), hasher.clone(), sem.clone(), *kind);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let r = C::about(
                format!("{kind} resources"),
                cloud.read_many(kind, &wanted, &hasher),
            )
            .await;
            Read::Bulk(kind, r)
        });
    }
    let mut out: Vec<Option<ObservedResource>> = vec![None; ids.len()];
    while let Some(joined) = set.join_next().await {
        match joined.map_err(|e| Error::Task(e.to_string()))? {
            Read::One(i, r) => {
                out[i] = r.map_err(|e| Error::Read {
                    address: ids[i].0.clone(),
                    source: Box::new(e),
                })?;
            }
            Read::Bulk(kind, r) => {
                let found = r.map_err(|e| Error::List {
                    kind: kind.as_str(),
                    source: Box::new(e),
                })?;
                // No bulk read for this kind: every one is read alone.
                let listed = found.is_some();
                let mut found: BTreeMap<String, ObservedResource> = found
                    .into_iter()
                    .flatten()
                    .map(|o| (o.id.clone(), o))
                    .collect();
                tracing::debug!(kind = %kind, found = found.len(), "refresh: read in bulk");
                for (i, id) in &per_kind[&kind] {
                    match found.remove(id) {
                        Some(o) => out[*i] = Some(o),
                        None if listed && absent == Absent::Gone => {}
                        None => read_one(&mut set, *i),
                    }
                }
            }
        }
    }
    Ok(ids
        .into_iter()
        .zip(out)
        .map(|((a, _), o)| (a, o.filter(|o| o.status.as_deref() != Some("DELETING"))))
        .collect())
}

/// The address a resource's ownership tags give it, if they name this stack.
fn owner(o: &ObservedResource, stack: &str) -> Option<Address> {
    let tags = &o.spec["Tags"];
    if tags[livestack_model::STACK_TAG] != stack {
        return None;
    }
    tags[livestack_model::ADDRESS_TAG]
        .as_str()
        .and_then(Address::parse)
}

/// Whether the resource carries this stack's ownership tags for this address, or for one of
/// its old addresses (`[[moved]]` entries leading to it).
pub fn owned_by(o: &ObservedResource, stack: &str, a: &Address, old: &[Address]) -> bool {
    owner(o, stack).is_some_and(|t| &t == a || old.contains(&t))
}

/// The old addresses `[[moved]]` entries rename to `a`.
pub fn old_addresses(desired: &ValidatedStack, a: &Address) -> Vec<Address> {
    desired
        .moved
        .iter()
        .filter(|m| desired.moved_to(&m.from) == Some(a))
        .map(|m| m.from.clone())
        .collect()
}

/// What to do about a resource of the stack's name that is not the stack's.
pub fn not_owned_hint(a: &Address, id: &str, stack: &str) -> String {
    format!(
        "no tags {}={stack} and {}={a}: rename it in the stack, delete `{id}`, or add those \
         two tags to it to let this stack manage it",
        livestack_model::STACK_TAG,
        livestack_model::ADDRESS_TAG
    )
}

/// The keyed hashes of every `$secret` the stack uses that can be resolved now.
async fn secrets<C: Cloud>(s: &Engine<C>, observed: &Observed) -> Result<BTreeMap<String, String>> {
    let mut found = Vec::new();
    for r in &s.desired.resources {
        collect(&r.spec, &r.address, &mut found);
    }
    let hasher = s.hasher.clone();
    let mut wanted: Vec<(Json, Address, SecretSource)> = Vec::new();
    for (inner, owner) in found {
        // Only what exists now: a MediaPackage channel gone from the cloud is made again,
        // with new passwords, by this plan.
        let Some(source) = source(&inner, observed, &livestack_plan::Prior::default())? else {
            continue;
        };
        if wanted.iter().any(|(i, _, _)| i == &inner) {
            continue;
        }
        tracing::debug!(owner = %owner, secret = %source.name(), "refresh: hashing secret");
        wanted.push((inner, owner, source));
    }
    let sources: Vec<SecretSource> = wanted.iter().map(|(_, _, s)| s.clone()).collect();
    let values = s.cloud.secret_values(&sources).await;
    let mut out = BTreeMap::new();
    for ((inner, owner, source), value) in wanted.into_iter().zip(values) {
        let value = value.map_err(|e| Error::Secret {
            owner: owner.to_string(),
            name: source.name(),
            source: Box::new(e),
        })?;
        out.insert(secret_key(&inner), hasher.hash(&value));
    }
    Ok(out)
}

fn collect(v: &Json, owner: &Address, out: &mut Vec<(Json, Address)>) {
    match v {
        Json::Object(m) if m.contains_key("$secret") => {
            out.push((m["$secret"].clone(), owner.clone()))
        }
        Json::Object(m) => m.values().for_each(|v| collect(v, owner, out)),
        Json::Array(a) => a.iter().for_each(|v| collect(v, owner, out)),
        _ => {}
    }
}

/// Where a `$secret`'s value comes from; None when it cannot be known yet (its MediaPackage
/// channel does not exist).
pub fn source(
    inner: &Json,
    observed: &Observed,
    prior: &livestack_plan::Prior,
) -> Result<Option<SecretSource>> {
    if let Some(e) = inner.get("env").and_then(|v| v.as_str()) {
        return Ok(Some(SecretSource::Env(e.to_string())));
    }
    if let Some(p) = inner.get("ssm").and_then(|v| v.as_str()) {
        return Ok(Some(SecretSource::Ssm(p.to_string())));
    }
    let owner = inner
        .get("output")
        .and_then(|v| v.as_str())
        .and_then(Address::parse)
        .or_missing(|| "malformed secret reference".into())?;
    let attr = inner.get("attr").and_then(|v| v.as_str()).unwrap_or("");
    let index = attr
        .split('.')
        .find_map(|p| p.parse::<usize>().ok())
        .unwrap_or(0);
    let id = observed
        .resources
        .get(&owner)
        .map(|o| o.id.clone())
        .or_else(|| prior.resources.get(&owner).map(|p| p.id.clone()));
    Ok(id.map(|channel_id| SecretSource::IngestPassword { channel_id, index }))
}

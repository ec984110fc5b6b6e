//! Refresh: read every resource of the state and of the stack from the cloud, concurrently and
//! bounded, adopt resources found by ownership tags, and hash the secrets the stack uses.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use livestack_aws::SecretSource;
use livestack_model::{Address, Kind};
use livestack_plan::{secret_key, Mode, Observed};
use serde_json::Value as Json;
use tokio::sync::Semaphore;

use crate::Session;

/// Calls in flight at once.
const CONCURRENCY: usize = 8;

pub async fn refresh(s: &Session, mode: Mode) -> Result<Observed> {
    // Where to look: the state's ids; for the rest of the stack, natural names or tags.
    let mut ids: BTreeMap<Address, String> = s
        .state
        .prior
        .resources
        .iter()
        .map(|(a, r)| (a.clone(), r.id.clone()))
        .collect();
    let missing: Vec<&livestack_model::Resource> = s
        .desired
        .resources
        .iter()
        .filter(|r| !ids.contains_key(&r.address))
        .collect();
    // Looked up by their unique name only: taken over only if their tags say they are ours.
    let mut by_name = std::collections::BTreeSet::new();
    if !missing.is_empty() || mode == Mode::Destroy {
        tracing::debug!(stack = %s.desired.name, "refresh: finding resources by ownership tags");
        let tagged = format!("resources tagged livestack:stack={}", s.desired.name);
        let found = livestack_aws::about(tagged, s.clients.discover(&s.desired.name))
            .await
            .context("refresh: finding resources by ownership tags")?;
        for (a, id) in found {
            tracing::debug!(address = %a, id = %id, "refresh: found by tags");
            ids.entry(a).or_insert(id);
        }
        for r in &missing {
            if ids.contains_key(&r.address) {
                continue;
            }
            if let Some(n) = natural_id(r.address.kind, &r.spec) {
                by_name.insert(r.address.clone());
                ids.insert(r.address.clone(), n);
            }
        }
    }
    let sem = Arc::new(Semaphore::new(CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (a, id) in ids {
        let clients = s.clients.clone();
        let hasher = s.state.hasher();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            tracing::debug!(address = %a, id = %id, "refresh: reading");
            let r = livestack_aws::about(a.to_string(), clients.read(&a, &id, &hasher)).await;
            (a, r)
        });
    }
    let mut observed = Observed::default();
    while let Some(joined) = set.join_next().await {
        let (a, r) = joined.context("refresh task failed")?;
        if let Some(o) = r.with_context(|| format!("refresh: reading {a}"))? {
            if by_name.contains(&a) && !owned_by(&o, &s.desired.name, &a) {
                if mode == Mode::Destroy {
                    continue; // not ours to delete
                }
                bail!(
                    "refresh: {a}: `{}` already exists and is not livestack's ({})",
                    o.id,
                    not_owned_hint(&a, &o.id, &s.desired.name)
                );
            }
            observed.resources.insert(a, o);
        }
    }
    if mode == Mode::Apply {
        observed.secrets = secrets(s, &observed).await?;
    }
    tracing::info!(
        found = observed.resources.len(),
        secrets = observed.secrets.len(),
        "refresh done"
    );
    Ok(observed)
}

/// The unique name a kind's resources are created under (and can be found by), if it has one.
pub fn natural_id(kind: Kind, spec: &Json) -> Option<String> {
    let member = match kind {
        Kind::IamRole => "RoleName",
        Kind::MediapackageChannel | Kind::MediapackageEndpoint => "Id",
        Kind::SsmParameter => "Name",
        _ => return None,
    };
    spec[member].as_str().map(String::from)
}

/// Whether the resource carries this stack's ownership tags for this address.
pub fn owned_by(o: &livestack_plan::ObservedResource, stack: &str, a: &Address) -> bool {
    let tags = &o.spec["Tags"];
    tags[livestack_model::STACK_TAG] == stack && tags[livestack_model::ADDRESS_TAG] == a.to_string()
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
async fn secrets(s: &Session, observed: &Observed) -> Result<BTreeMap<String, String>> {
    let mut found = Vec::new();
    for r in &s.desired.resources {
        collect(&r.spec, &r.address, &mut found);
    }
    let hasher = s.state.hasher();
    let mut out = BTreeMap::new();
    for (inner, owner) in found {
        let Some(source) = source(&inner, observed, &s.state.prior)? else {
            continue;
        };
        tracing::debug!(owner = %owner, secret = %source.name(), "refresh: hashing secret");
        let value = s
            .clients
            .secret_value(&source)
            .await
            .with_context(|| format!("{owner}: resolving secret {}", source.name()))?;
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
        .context("malformed secret reference")?;
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

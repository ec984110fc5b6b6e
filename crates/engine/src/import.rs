//! `livestack import`: what already exists in an account (built in the console or by a
//! script), read through the [`Cloud`] trait ([`read_account`], which never writes to the
//! cloud) and written as a stack file ([`stack_file`], pure: no I/O) with the state entries
//! that record the ids found, so that the next plan adopts them and only adds livestack's
//! ownership tags.
//!
//! What the stack file says is what the model would send: every member import writes is read
//! from the cloud, and what the model cannot express (a channel's encoder settings) goes to a
//! JSON file beside the stack (`encoder_settings = { file = ... }`). Secrets are never written:
//! an RTMP stream key becomes `stream_key = { env = "NAME" }`, and MediaPackage ingest
//! passwords stay livestack's derived SSM parameters.

mod keys;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use livestack_model::{destination_id, Address, Kind};
use livestack_plan::{Hasher, ObservedResource, PriorResource};
use serde_json::{json, Value as Json};

use crate::error::Error;
use crate::Cloud;

type Result<T, E = Error> = std::result::Result<T, E>;

/// What `livestack import` reads: every resource found, by kind and id.
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// In the order found; one per (kind, id).
    pub resources: Vec<(Kind, ObservedResource)>,
    /// One line per resource left out because another stack owns it (its livestack tags).
    pub owned_elsewhere: Vec<String>,
}

impl Account {
    fn of(&self, kind: Kind) -> impl Iterator<Item = &ObservedResource> {
        self.resources
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, o)| o)
    }
}

/// The stack that owns `o` by its tags, if it is not `stack`.
fn other_owner(o: &ObservedResource, stack: &str) -> Option<String> {
    let owner = o.spec["Tags"]["livestack:stack"].as_str()?;
    (owner != stack).then(|| owner.to_string())
}

/// Reads the channels `select` names (by name or id; every channel with `all`) and what they
/// use: their inputs and the inputs' security groups, the role they assume, the MediaPackage
/// channels they send to with those channels' endpoints, and the SSM parameters their HLS
/// destinations read. Only reads.
pub async fn read_account<C: Cloud>(
    cloud: &C,
    hasher: &Hasher,
    stack: &str,
    select: &[String],
    all: bool,
) -> Result<Account> {
    let list = |kind: Kind| async move {
        cloud
            .list_all(kind, hasher)
            .await
            .map_err(|e| Error::List {
                kind: kind.as_str(),
                source: Box::new(e),
            })
            .map(Option::unwrap_or_default)
    };
    // A stack of this name already in the account (its ownership tags): the imported file
    // would be planned as that stack, and the plan would delete what the file does not
    // declare (its derived SSM parameters under other labels, say). Refused.
    let managed = cloud
        .discover(stack, &BTreeSet::new())
        .await
        .map_err(|e| Error::Discover {
            source: Box::new(e),
        })?;
    if !managed.is_empty() {
        let mut found: Vec<String> = managed
            .iter()
            .take(3)
            .map(|(a, id)| format!("{a} is {id}"))
            .collect();
        if managed.len() > 3 {
            found.push(format!("and {} more", managed.len() - 3));
        }
        return Err(Error::StackInUse {
            stack: stack.to_string(),
            found: found.join(", "),
        });
    }
    let mut account = Account::default();
    let channels = list(Kind::MedialiveChannel).await?;
    let mut chosen = Vec::new();
    for want in select {
        let found: Vec<&ObservedResource> = channels
            .iter()
            .filter(|c| &c.id == want || c.spec["Name"].as_str() == Some(want))
            .collect();
        match found.as_slice() {
            [] => {
                return Err(Error::Missing(format!(
                    "import: no MediaLive channel named or with id `{want}`"
                )))
            }
            [one] => chosen.push((*one).clone()),
            _ => {
                return Err(Error::Missing(format!(
                "import: several MediaLive channels are named `{want}`: give the id of one ({})",
                found
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
            }
        }
    }
    if all {
        for c in &channels {
            if !chosen.iter().any(|x| x.id == c.id) {
                chosen.push(c.clone());
            }
        }
    }
    let mut seen: BTreeSet<(Kind, String)> = BTreeSet::new();
    let mut take = |account: &mut Account, kind: Kind, o: ObservedResource| -> bool {
        if !seen.insert((kind, o.id.clone())) {
            return false;
        }
        if let Some(owner) = other_owner(&o, stack) {
            account.owned_elsewhere.push(format!(
                "{kind} {} is owned by stack `{owner}` (its livestack tags); not imported",
                o.id
            ));
            return false;
        }
        account.resources.push((kind, o));
        true
    };
    let read = |kind: Kind, id: String| async move {
        let address = Address::new(kind, id.clone());
        cloud
            .read(&address, &id, hasher)
            .await
            .map_err(|e| Error::Read {
                address,
                source: Box::new(e),
            })
    };
    let mut mp_wanted = BTreeSet::new();
    let mut ingest_urls = Vec::new();
    for ch in chosen {
        if !take(&mut account, Kind::MedialiveChannel, ch.clone()) {
            continue;
        }
        for (kind, id) in Kind::MedialiveChannel.info().referenced_ids(&ch.spec) {
            match kind {
                Kind::IamRole => {
                    let name = id.rsplit('/').next().unwrap_or(&id).to_string();
                    if let Some(o) = read(kind, name).await? {
                        take(&mut account, kind, o);
                    }
                }
                Kind::MediapackageChannel => {
                    mp_wanted.insert(id);
                }
                _ => {
                    if let Some(o) = read(kind, id).await? {
                        if take(&mut account, kind, o.clone()) && kind == Kind::MedialiveInput {
                            for (k, sg) in Kind::MedialiveInput.info().referenced_ids(&o.spec) {
                                if let Some(o) = read(k, sg).await? {
                                    take(&mut account, k, o);
                                }
                            }
                        }
                    }
                }
            }
        }
        for d in ch.spec["Destinations"].as_array().into_iter().flatten() {
            for s in d["Settings"].as_array().into_iter().flatten() {
                if let Some(u) = s["Url"].as_str() {
                    ingest_urls.push(u.to_string());
                }
            }
        }
    }
    // The MediaPackage channels a destination sends to, by id or by ingest URL.
    let mp_channels = list(Kind::MediapackageChannel).await?;
    for mp in mp_channels {
        let urls = ingest_endpoints(&mp);
        if mp_wanted.contains(&mp.id) || urls.iter().any(|(u, _)| ingest_urls.contains(u)) {
            take(&mut account, Kind::MediapackageChannel, mp);
        }
    }
    let mps: BTreeSet<String> = account
        .of(Kind::MediapackageChannel)
        .map(|o| o.id.clone())
        .collect();
    // livestack's derived ingest password parameters of each (both, whatever the class).
    for mp in &mps {
        for i in 1..=2 {
            let name = format!("/livestack/{stack}/{}/ingest-{i}", label_of(mp));
            if !seen_param(&account, &name) {
                if let Some(o) = read(Kind::SsmParameter, name).await? {
                    take(&mut account, Kind::SsmParameter, o);
                }
            }
        }
    }
    if !mps.is_empty() {
        for e in list(Kind::MediapackageEndpoint).await? {
            if e.spec["ChannelId"]
                .as_str()
                .is_some_and(|c| mps.contains(c))
            {
                take(&mut account, Kind::MediapackageEndpoint, e);
            }
        }
    }
    Ok(account)
}

fn seen_param(account: &Account, name: &str) -> bool {
    account.of(Kind::SsmParameter).any(|o| o.id == name)
}

/// A MediaPackage channel's ingest endpoints: (URL, username).
fn ingest_endpoints(mp: &ObservedResource) -> Vec<(String, String)> {
    mp.outputs["HlsIngest"]["IngestEndpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["Url"].as_str().unwrap_or_default().to_string(),
                e["Username"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A stack file made from an [`Account`].
#[derive(Debug, Clone, Default)]
pub struct StackFile {
    /// The stack file's text.
    pub toml: String,
    /// Files written beside it: (name relative to the stack file, contents).
    pub files: Vec<(String, String)>,
    /// The state entries that record the ids found (`applied` null: the next plan lists them
    /// as adopted and records what it applies).
    pub entries: Vec<(Address, PriorResource)>,
    /// What the user should know: a stream key to set, a member the model would change.
    pub notes: Vec<String>,
}

/// A label from a cloud name: letters, digits, `-` and `_`, others as `-`.
fn label_of(name: &str) -> String {
    let l: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if l.is_empty() {
        "imported".into()
    } else {
        l
    }
}

/// A TOML string (JSON's escapes are TOML's).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn q_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<String> = items.into_iter().map(q).collect();
    format!("[{}]", v.join(", "))
}

/// A JSON document as a TOML string: a multi-line literal when it can be one.
fn q_json(v: &Json) -> String {
    let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
    if pretty.contains("'''") {
        q(&serde_json::to_string(v).unwrap_or_default())
    } else {
        format!("'''\n{pretty}\n'''")
    }
}

/// `tags = { ... }` of a resource's own tags (livestack's and the stack's are added by it).
fn tags_line(o: &ObservedResource, out: &mut String) {
    let Some(tags) = o.spec["Tags"].as_object() else {
        return;
    };
    let own: Vec<String> = tags
        .iter()
        .filter(|(k, _)| !k.starts_with("livestack:"))
        .filter_map(|(k, v)| Some(format!("{} = {}", q(k), q(v.as_str()?))))
        .collect();
    if !own.is_empty() {
        let _ = writeln!(out, "tags = {{ {} }}", own.join(", "));
    }
}

/// An environment variable's name for a stream key: `<CHANNEL>_<GROUP>_STREAM_KEY`.
fn env_name(channel: &str, group: &str) -> String {
    format!("{channel}_{group}_STREAM_KEY")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// How [`render`] writes what can be written more than one way.
#[derive(Debug, Clone, Default)]
struct Choice {
    /// Roles written as `preset = "medialive-access"`, by id.
    preset: BTreeSet<String>,
    /// Channels whose encoder settings are written as output group keys, by id.
    modelled: BTreeMap<String, keys::EncoderKeys>,
    /// Input attachments written with their settings' keys: (channel id, index) -> keys.
    attachments: BTreeMap<(String, usize), Vec<String>>,
    /// Resources not imported, with why: (kind, id) -> reason.
    left_out: BTreeMap<(Kind, String), String>,
    /// Lowering only: a channel not modelled is written without its encoder settings file.
    probe: bool,
}

/// Writes `account` as stack `stack`. A channel's encoder settings are written as output group
/// keys (`ladder = "1080p"`, a custom `[ladder.<name>]`, the video and audio choices) when
/// the model gives them back exactly, else they go to `<file_stem>-<channel label>.encoder.json`
/// beside the stack file; a role is `preset = "medialive-access"` when it is the preset's.
/// Exactness is checked, not assumed: the file is lowered with `livestack_model` and each
/// resource's spec compared with what was read; what differs is written the other way, left
/// out with a comment, or noted.
pub fn stack_file(
    account: &Account,
    stack: &str,
    region: Option<&str>,
    file_stem: &str,
) -> StackFile {
    let mut choice = Choice::default();
    for o in account.of(Kind::IamRole) {
        choice.preset.insert(o.id.clone());
    }
    for o in account.of(Kind::MedialiveChannel) {
        let s = &o.spec;
        let destinations: Vec<&Json> = s["Destinations"].as_array().into_iter().flatten().collect();
        // HLS to anything but MediaPackage: the model has no such destination.
        let elsewhere: Vec<String> = destinations
            .iter()
            .filter(|d| {
                d["MediaPackageSettings"].as_array().is_none_or(|m| m.is_empty())
            })
            .filter_map(|d| {
                let url = d["Settings"][0]["Url"].as_str().unwrap_or_default();
                let rtmp = url.starts_with("rtmp://") || url.starts_with("rtmps://");
                let mp = account
                    .of(Kind::MediapackageChannel)
                    .any(|mp| ingest_endpoints(mp).iter().any(|(u, _)| u == url));
                (!rtmp && !mp).then(|| {
                    format!(
                        "destination `{}` sends to {url}, which is no MediaPackage channel's ingest endpoint (livestack's HLS groups send to MediaPackage only)",
                        d["Id"].as_str().unwrap_or_default()
                    )
                })
            })
            .collect();
        if !elsewhere.is_empty() {
            choice
                .left_out
                .insert((Kind::MedialiveChannel, o.id.clone()), elsewhere.join("; "));
            continue;
        }
        if let Some(k) = keys::encoder_keys(&s["EncoderSettings"]) {
            let fits = k.groups.len() == destinations.len()
                && destinations
                    .iter()
                    .all(|d| d["Id"].as_str().is_some_and(|id| k.groups.contains_key(id)));
            if fits {
                choice.modelled.insert(o.id.clone(), k);
            }
        }
        let attachments = s["InputAttachments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let name_of = |input: &str| {
            attachments
                .iter()
                .find(|a| a["InputId"] == input)
                .and_then(|a| a["InputAttachmentName"].as_str().map(String::from))
        };
        // An attachment is written whole or the channel is not imported: the next update
        // sends the attachments as the file says them, and a setting left out would be lost.
        let mut unsaid = Vec::new();
        for (i, a) in attachments.iter().enumerate() {
            match keys::attachment_keys(a, name_of) {
                Some(k) => {
                    choice.attachments.insert((o.id.clone(), i), k);
                }
                None => unsaid.push(attachment_unsaid(a)),
            }
        }
        if !unsaid.is_empty() {
            choice
                .left_out
                .insert((Kind::MedialiveChannel, o.id.clone()), unsaid.join("; "));
        }
    }
    let path = Path::new(file_stem).with_extension("toml");
    let mut leftover = Vec::new();
    for _ in 0..8 {
        let probe = render(
            account,
            stack,
            region,
            file_stem,
            &Choice {
                probe: true,
                ..choice.clone()
            },
        );
        let lowered = match livestack_model::parse(&path, &probe.toml) {
            Ok(l) => l,
            // A file that does not lower: the encoder settings keys (captions naming what the
            // attachments do not say, say) go to the settings file first; then the
            // attachments' keys are suspected, the preset last.
            Err(_) if !choice.modelled.is_empty() => {
                choice.modelled.clear();
                continue;
            }
            Err(_) if refuse_attachments(account, stack, region, file_stem, &mut choice) => {
                continue;
            }
            Err(_) if !choice.preset.is_empty() => {
                choice.preset.clear();
                continue;
            }
            Err(_) => break,
        };
        let mut changed = false;
        leftover.clear();
        for (address, entry) in &probe.entries {
            let (Some(r), Some((_, o))) = (
                lowered.get(address),
                account
                    .resources
                    .iter()
                    .find(|(k, o)| *k == address.kind && o.id == entry.id),
            ) else {
                continue;
            };
            let mut diffs = keys::differences(&r.spec, &o.spec);
            let id = &entry.id;
            match address.kind {
                Kind::IamRole if !diffs.is_empty() && choice.preset.remove(id) => {
                    changed = true;
                    continue;
                }
                Kind::MedialiveChannel => {
                    let modelled = choice.modelled.contains_key(id);
                    if diffs.iter().any(|p| p.starts_with("EncoderSettings")) && modelled {
                        choice.modelled.remove(id);
                        changed = true;
                    }
                    if !modelled {
                        diffs.retain(|p| !p.starts_with("EncoderSettings"));
                    }
                    // An attachment the file does not give back exactly: the channel is not
                    // imported (its next update would send the attachment as the file says).
                    let attachments: Vec<&String> = diffs
                        .iter()
                        .filter(|p| p.starts_with("InputAttachments["))
                        .collect();
                    if !attachments.is_empty() {
                        choice.left_out.insert(
                            (address.kind, id.clone()),
                            format!(
                                "the model's keys cannot say its input attachments as they are ({})",
                                attachments
                                    .iter()
                                    .map(|p| p.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                        choice.attachments.retain(|(c, _), _| c != id);
                        changed = true;
                        continue;
                    }
                }
                Kind::MediapackageEndpoint
                    if diffs.iter().any(|p| p.starts_with("CmafPackage")) =>
                {
                    choice.left_out.insert(
                        (address.kind, id.clone()),
                        format!(
                            "the model cannot express its CMAF package as it is ({})",
                            diffs.join(", ")
                        ),
                    );
                    changed = true;
                    continue;
                }
                _ => {}
            }
            if !diffs.is_empty() {
                leftover.push(format!(
                    "{address}: the model would change {} (a bug of import: please report it)",
                    diffs.join(", ")
                ));
            }
        }
        if !changed {
            break;
        }
    }
    let mut f = render(account, stack, region, file_stem, &choice);
    f.notes.extend(leftover);
    f
}

/// When the file does not lower because of the input attachments' keys (failover the model
/// cannot pair, say): leaves out each channel whose keys alone make it fail (rather than write
/// its attachments without them) and says whether it left out any.
fn refuse_attachments(
    account: &Account,
    stack: &str,
    region: Option<&str>,
    file_stem: &str,
    choice: &mut Choice,
) -> bool {
    let path = Path::new(file_stem).with_extension("toml");
    let lowers = |choice: &Choice, keep: Option<&str>| {
        let mut c = Choice {
            probe: true,
            ..choice.clone()
        };
        for ((id, _), k) in c.attachments.iter_mut() {
            if keep != Some(id.as_str()) {
                k.clear();
            }
        }
        livestack_model::parse(&path, &render(account, stack, region, file_stem, &c).toml).is_ok()
    };
    // Not the attachments' doing.
    if !lowers(choice, None) {
        return false;
    }
    let with_keys: BTreeSet<String> = choice
        .attachments
        .iter()
        .filter(|(_, k)| !k.is_empty())
        .map(|((id, _), _)| id.clone())
        .collect();
    let mut refused = false;
    for id in with_keys {
        if !lowers(choice, Some(&id)) {
            choice.attachments.retain(|(c, _), _| *c != id);
            choice.left_out.insert(
                (Kind::MedialiveChannel, id),
                "its input attachments' settings do not validate as the model's keys".into(),
            );
            refused = true;
        }
    }
    refused
}

/// Why an input attachment cannot be written as the model's keys: the members they do not say.
fn attachment_unsaid(a: &Json) -> String {
    let mut members: Vec<String> = a["InputSettings"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| *k != "SourceEndBehavior" && !keys::input_default(k, v))
        .map(|(k, _)| format!("InputSettings.{k}"))
        .collect();
    if a["AutomaticInputFailoverSettings"].is_object() {
        members.push("AutomaticInputFailoverSettings".into());
    }
    format!(
        "input attachment `{}`: the model's keys cannot say its {} as they are (an update of the channel would send the attachment without them)",
        a["InputAttachmentName"]
            .as_str()
            .or(a["InputId"].as_str())
            .unwrap_or_default(),
        if members.is_empty() {
            "settings".to_string()
        } else {
            members.join(", ")
        }
    )
}

/// The stack file of `account` as `choice` says.
fn render(
    account: &Account,
    stack: &str,
    region: Option<&str>,
    file_stem: &str,
    choice: &Choice,
) -> StackFile {
    let mut f = StackFile::default();
    let mut labels: BTreeMap<(Kind, String), String> = BTreeMap::new();
    let mut used: BTreeSet<Address> = BTreeSet::new();
    for (kind, o) in &account.resources {
        if *kind == Kind::SsmParameter {
            continue;
        }
        let name = match *kind {
            Kind::IamRole => o.spec["RoleName"].as_str(),
            Kind::MedialiveChannel | Kind::MedialiveInput => o.spec["Name"].as_str(),
            _ => None,
        };
        let base = match (*kind, name) {
            (Kind::MedialiveInputSecurityGroup, _) => format!("sg-{}", o.id),
            (_, Some(n)) => label_of(n),
            (_, None) => label_of(&o.id),
        };
        let mut label = base.clone();
        let mut n = 2;
        while !used.insert(Address::new(*kind, label.clone())) {
            label = format!("{base}-{n}");
            n += 1;
        }
        labels.insert((*kind, o.id.clone()), label);
    }
    let addr = |kind: Kind, id: &str| -> Option<String> {
        labels
            .get(&(kind, id.to_string()))
            .map(|l| format!("{kind}.{l}"))
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Imported by `livestack import` from what the account holds; `livestack plan` adopts\n# these resources and adds livestack's ownership tags (a tags-only change).\n"
    );
    let _ = writeln!(t, "[stack]\nname = {}", q(stack));
    if let Some(r) = region {
        let _ = writeln!(t, "region = {}", q(r));
    }
    let record = |f: &mut StackFile,
                  kind: Kind,
                  o: &ObservedResource,
                  deps: Vec<Address>,
                  running: Option<bool>| {
        if let Some(l) = labels.get(&(kind, o.id.clone())) {
            f.entries.push((
                Address::new(kind, l.clone()),
                PriorResource {
                    id: o.id.clone(),
                    arn: o.arn.clone(),
                    applied: Json::Null,
                    outputs: o.outputs.clone(),
                    depends_on: deps,
                    running,
                },
            ));
        }
    };
    // Roles.
    for o in account.of(Kind::IamRole) {
        let l = &labels[&(Kind::IamRole, o.id.clone())];
        let _ = writeln!(t, "\n[iam_role.{l}]");
        let _ = writeln!(
            t,
            "name = {}",
            q(o.spec["RoleName"].as_str().unwrap_or(&o.id))
        );
        if let Some(d) = o.spec["Description"].as_str() {
            let _ = writeln!(t, "description = {}", q(d));
        }
        if choice.preset.contains(&o.id) {
            let _ = writeln!(
                t,
                "# Its trust and policies are the preset's: MediaLive's access role.\npreset = \"medialive-access\""
            );
            tags_line(o, &mut t);
            record(&mut f, Kind::IamRole, o, vec![], None);
            continue;
        }
        let _ = writeln!(
            t,
            "assume_role_policy = {}",
            q_json(&o.spec["AssumeRolePolicyDocument"])
        );
        if let Some(m) = o.spec["ManagedPolicyArns"]
            .as_array()
            .filter(|m| !m.is_empty())
        {
            let _ = writeln!(
                t,
                "managed_policies = {}",
                q_list(m.iter().filter_map(Json::as_str))
            );
        }
        tags_line(o, &mut t);
        if let Some(p) = o.spec["InlinePolicies"]
            .as_object()
            .filter(|p| !p.is_empty())
        {
            let _ = writeln!(t, "\n[iam_role.{l}.inline_policies]");
            for (name, doc) in p {
                let _ = writeln!(t, "{} = {}", q(name), q_json(doc));
            }
        }
        record(&mut f, Kind::IamRole, o, vec![], None);
    }
    // MediaPackage channels, their endpoints and the derived ingest password parameters.
    let mut derived_params: BTreeMap<String, (Address, String)> = BTreeMap::new();
    for o in account.of(Kind::MediapackageChannel) {
        let l = labels[&(Kind::MediapackageChannel, o.id.clone())].clone();
        let _ = writeln!(t, "\n[mediapackage_channel.{l}]\nid = {}", q(&o.id));
        if let Some(d) = o.spec["Description"].as_str() {
            let _ = writeln!(t, "description = {}", q(d));
        }
        tags_line(o, &mut t);
        record(&mut f, Kind::MediapackageChannel, o, vec![], None);
        for i in 0..2 {
            let name = format!("/livestack/{stack}/{l}/ingest-{}", i + 1);
            let a = Address::new(Kind::SsmParameter, format!("{l}-ingest-{}", i + 1));
            derived_params.insert(name, (a, o.id.clone()));
        }
    }
    for o in account.of(Kind::MediapackageEndpoint) {
        let l = &labels[&(Kind::MediapackageEndpoint, o.id.clone())];
        if let Some(why) = choice
            .left_out
            .get(&(Kind::MediapackageEndpoint, o.id.clone()))
        {
            let _ = writeln!(
                t,
                "\n# MediaPackage endpoint {} is not imported: {why}. It stays as it is in the\n# account; livestack does not manage it.",
                o.id
            );
            f.notes.push(format!(
                "mediapackage_endpoint {}: not imported: {why}",
                o.id
            ));
            continue;
        }
        let s = &o.spec;
        let _ = writeln!(t, "\n[mediapackage_endpoint.{l}]\nid = {}", q(&o.id));
        let ch = s["ChannelId"].as_str().unwrap_or_default();
        let mp = addr(Kind::MediapackageChannel, ch);
        if let Some(mp) = &mp {
            let _ = writeln!(t, "channel = {}", q(mp));
        }
        if let Some(d) = s["Description"].as_str() {
            let _ = writeln!(t, "description = {}", q(d));
        }
        let packages = [
            ("HlsPackage", "hls"),
            ("DashPackage", "dash"),
            ("CmafPackage", "cmaf"),
            ("MssPackage", "mss"),
        ];
        if let Some((member, p)) = packages
            .iter()
            .find(|(m, _)| s.get(*m).is_some_and(Json::is_object))
        {
            let pkg = &s[*member];
            let _ = writeln!(t, "packaging = {}", q(p));
            if let Some(v) = pkg["SegmentDurationSeconds"].as_i64() {
                let _ = writeln!(t, "segment_seconds = {v}");
            }
            let window = match *p {
                "hls" => &pkg["PlaylistWindowSeconds"],
                "cmaf" => &pkg["HlsManifests"][0]["PlaylistWindowSeconds"],
                _ => &pkg["ManifestWindowSeconds"],
            };
            if let Some(v) = window.as_i64() {
                let _ = writeln!(t, "playlist_window_seconds = {v}");
            }
            let markers = match *p {
                "cmaf" => &pkg["HlsManifests"][0]["AdMarkers"],
                _ => &pkg["AdMarkers"],
            };
            if let Some(m) = markers.as_str().filter(|m| *m != "NONE") {
                let _ = writeln!(t, "ad_markers = {}", q(&m.to_ascii_lowercase()));
            }
        }
        if let Some(m) = s["ManifestName"].as_str().filter(|m| *m != "index") {
            let _ = writeln!(t, "manifest_name = {}", q(m));
        }
        for (member, key) in [
            ("StartoverWindowSeconds", "startover_window_seconds"),
            ("TimeDelaySeconds", "time_delay_seconds"),
        ] {
            if let Some(v) = s[member].as_i64().filter(|v| *v != 0) {
                let _ = writeln!(t, "{key} = {v}");
            }
        }
        if let Some(w) = s["Whitelist"].as_array().filter(|w| !w.is_empty()) {
            let _ = writeln!(
                t,
                "whitelist = {}",
                q_list(w.iter().filter_map(Json::as_str))
            );
        }
        if s["Origination"].as_str() == Some("DENY") {
            let _ = writeln!(t, "origination = \"deny\"");
        }
        tags_line(o, &mut t);
        let deps = mp
            .map(|_| {
                vec![Address::new(
                    Kind::MediapackageChannel,
                    labels[&(Kind::MediapackageChannel, ch.to_string())].clone(),
                )]
            })
            .unwrap_or_default();
        record(&mut f, Kind::MediapackageEndpoint, o, deps, None);
    }
    for o in account.of(Kind::SsmParameter) {
        match derived_params.get(&o.id) {
            Some((a, mp)) => {
                let mp_label = labels[&(Kind::MediapackageChannel, mp.clone())].clone();
                f.entries.push((
                    a.clone(),
                    PriorResource {
                        id: o.id.clone(),
                        arn: o.arn.clone(),
                        applied: Json::Null,
                        outputs: o.outputs.clone(),
                        depends_on: vec![Address::new(Kind::MediapackageChannel, mp_label)],
                        running: None,
                    },
                ));
            }
            None => f.notes.push(format!(
                "SSM parameter {} is not one livestack derives: not imported (a channel that reads it names it in `password_parameters`)",
                o.id
            )),
        }
    }
    // Input security groups and inputs.
    for o in account.of(Kind::MedialiveInputSecurityGroup) {
        let l = &labels[&(Kind::MedialiveInputSecurityGroup, o.id.clone())];
        let cidrs: Vec<&str> = o.spec["WhitelistRules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["Cidr"].as_str())
            .collect();
        let _ = writeln!(
            t,
            "\n# Input security group {}.\n[medialive_input_security_group.{l}]\nwhitelist = {}",
            o.id,
            q_list(cidrs)
        );
        tags_line(o, &mut t);
        record(&mut f, Kind::MedialiveInputSecurityGroup, o, vec![], None);
    }
    // An input serves one channel: the inputs of a channel not imported stay with it (an
    // edit of one would reach a running channel livestack does not manage).
    let held_by_left_out = |input: &str| {
        account.of(Kind::MedialiveChannel).find(|c| {
            choice
                .left_out
                .contains_key(&(Kind::MedialiveChannel, c.id.clone()))
                && c.spec["InputAttachments"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a["InputId"] == input)
        })
    };
    for o in account.of(Kind::MedialiveInput) {
        let l = &labels[&(Kind::MedialiveInput, o.id.clone())];
        let s = &o.spec;
        if let Some(ch) = held_by_left_out(&o.id) {
            let _ = writeln!(
                t,
                "\n# Input {} is not imported: channel {}, which is not imported, uses it.",
                o.id, ch.id
            );
            f.notes.push(format!(
                "medialive_input {}: not imported: channel {} uses it",
                o.id, ch.id
            ));
            continue;
        }
        let _ = writeln!(t, "\n# Input {}.\n[medialive_input.{l}]", o.id);
        if let Some(n) = s["Name"].as_str() {
            let _ = writeln!(t, "name = {}", q(n));
        }
        let ty = s["Type"].as_str().unwrap_or_default().to_ascii_lowercase();
        let _ = writeln!(t, "type = {}", q(&ty));
        let sources: Vec<&str> = s["Sources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["Url"].as_str())
            .collect();
        if !sources.is_empty() {
            let _ = writeln!(t, "sources = {}", q_list(sources));
        }
        if ty == "rtmp_push" {
            let dests: Vec<&str> = s["Destinations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x["StreamName"].as_str())
                .collect();
            let _ = writeln!(t, "destinations = {}", q_list(dests));
        }
        let mut deps = Vec::new();
        let sgs: Vec<String> = s["InputSecurityGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .filter_map(|id| {
                let a = addr(Kind::MedialiveInputSecurityGroup, id)?;
                deps.push(Address::new(
                    Kind::MedialiveInputSecurityGroup,
                    labels[&(Kind::MedialiveInputSecurityGroup, id.to_string())].clone(),
                ));
                Some(a)
            })
            .collect();
        if !sgs.is_empty() {
            let _ = writeln!(
                t,
                "security_groups = {}",
                q_list(sgs.iter().map(String::as_str))
            );
        }
        tags_line(o, &mut t);
        record(&mut f, Kind::MedialiveInput, o, deps, None);
    }
    // Channels.
    let mut ladders: BTreeMap<String, String> = BTreeMap::new();
    for o in account.of(Kind::MedialiveChannel) {
        let l = labels[&(Kind::MedialiveChannel, o.id.clone())].clone();
        let s = &o.spec;
        if let Some(why) = choice.left_out.get(&(Kind::MedialiveChannel, o.id.clone())) {
            let _ = writeln!(
                t,
                "\n# Channel {} ({}) is not imported: {why}. It stays as it is in the account;\n# livestack does not manage it.",
                o.id,
                s["Name"].as_str().unwrap_or_default()
            );
            f.notes
                .push(format!("medialive_channel {}: not imported: {why}", o.id));
            continue;
        }
        let modelled = choice.modelled.get(&o.id);
        let mut deps = Vec::new();
        let _ = writeln!(t, "\n# Channel {}.\n[medialive_channel.{l}]", o.id);
        if let Some(n) = s["Name"].as_str() {
            let _ = writeln!(t, "name = {}", q(n));
        }
        let class = s["ChannelClass"].as_str().unwrap_or("STANDARD");
        let standard = class == "STANDARD";
        let _ = writeln!(t, "class = {}", q(&class.to_ascii_lowercase()));
        let role_name = s["RoleArn"]
            .as_str()
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or_default();
        match addr(Kind::IamRole, role_name) {
            Some(r) => {
                let _ = writeln!(t, "role = {}", q(&r));
                deps.push(Address::new(
                    Kind::IamRole,
                    labels[&(Kind::IamRole, role_name.to_string())].clone(),
                ));
            }
            None => f.notes.push(format!(
                "medialive_channel.{l}: its role `{role_name}` could not be read; give `role`"
            )),
        }
        let running = livestack_plan::is_running(o.status.as_deref());
        let _ = writeln!(t, "running = {running}");
        if let Some(lv) = s["LogLevel"].as_str().filter(|l| *l != "DISABLED") {
            let _ = writeln!(t, "log_level = {}", q(&lv.to_ascii_lowercase()));
        }
        let spec = &s["InputSpecification"];
        if spec.is_object() {
            let codec = spec["Codec"].as_str().unwrap_or("AVC").to_ascii_lowercase();
            let res = spec["Resolution"]
                .as_str()
                .unwrap_or("HD")
                .to_ascii_lowercase();
            let rate: String = spec["MaximumBitrate"]
                .as_str()
                .unwrap_or("MAX_20_MBPS")
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let _ = writeln!(
                t,
                "input_specification = {{ codec = {}, resolution = {}, maximum_bitrate_mbps = {} }}",
                q(&codec),
                q(&res),
                rate
            );
        }
        // Input attachments.
        let mut inputs = Vec::new();
        for (i, a) in s["InputAttachments"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let id = a["InputId"].as_str().unwrap_or_default();
            let Some(input) = addr(Kind::MedialiveInput, id) else {
                f.notes.push(format!(
                    "medialive_channel.{l}: input {id} was not imported"
                ));
                continue;
            };
            deps.push(Address::new(
                Kind::MedialiveInput,
                labels[&(Kind::MedialiveInput, id.to_string())].clone(),
            ));
            let mut e = vec![format!("input = {}", q(&input))];
            if let Some(n) = a["InputAttachmentName"].as_str() {
                e.push(format!("name = {}", q(n)));
            }
            if let Some(b) = a["InputSettings"]["SourceEndBehavior"].as_str() {
                e.push(format!(
                    "source_end_behavior = {}",
                    q(&b.to_ascii_lowercase())
                ));
            }
            if let Some(k) = choice.attachments.get(&(o.id.clone(), i)) {
                e.extend(k.iter().cloned());
            }
            inputs.push(format!("{{ {} }}", e.join(", ")));
        }
        let _ = writeln!(t, "inputs = [{}]", inputs.join(", "));
        let encoder_file = format!("{file_stem}-{l}.encoder.json");
        match modelled {
            Some(m) => {
                if let Some(il) = &m.input_loss {
                    let _ = writeln!(t, "input_loss = {il}");
                }
            }
            None if choice.probe => {}
            None => {
                let _ = writeln!(
                    t,
                    "# The encoder settings as the channel has them (MediaLive's JSON, in the file beside):\n# the model's keys cannot say them exactly.\nencoder_settings = {{ file = {} }}",
                    q(&encoder_file)
                );
            }
        }
        tags_line(o, &mut t);
        // Output groups: one per destination.
        for d in s["Destinations"].as_array().into_iter().flatten() {
            let id = d["Id"].as_str().unwrap_or_default();
            let group = modelled.and_then(|m| m.groups.get(id));
            let _ = writeln!(t, "\n[[medialive_channel.{l}.output_groups]]");
            let name = group.map_or(id, |g| g.name.as_str());
            let _ = writeln!(t, "name = {}", q(name));
            // The console's destination ids (`destination1`) are kept as they are.
            if destination_id(name) != id {
                let _ = writeln!(t, "destination_id = {}", q(id));
            }
            // The encoder keys go after the destination's, before `continue`s below.
            let mut group_lines = String::new();
            for line in group.map(|g| g.lines.as_slice()).unwrap_or_default() {
                let line = match (
                    line.strip_suffix(keys::CUSTOM),
                    group.and_then(|g| g.custom.as_ref()),
                ) {
                    (Some(head), Some(rungs)) => {
                        let name = ladders
                            .entry(rungs.clone())
                            .or_insert_with(|| format!("{l}-{}", destination_id(id)))
                            .clone();
                        format!("{head}{}", q(&name))
                    }
                    _ => line.clone(),
                };
                let _ = writeln!(group_lines, "{line}");
            }
            if let Some(mps) = d["MediaPackageSettings"]
                .as_array()
                .filter(|m| !m.is_empty())
            {
                let ch = mps[0]["ChannelId"].as_str().unwrap_or_default();
                let _ = writeln!(t, "type = \"mediapackage\"");
                match addr(Kind::MediapackageChannel, ch) {
                    Some(mp) => {
                        let _ = writeln!(t, "destination = {}", q(&mp));
                        deps.push(Address::new(
                            Kind::MediapackageChannel,
                            labels[&(Kind::MediapackageChannel, ch.to_string())].clone(),
                        ));
                    }
                    None => f.notes.push(format!(
                        "medialive_channel.{l}: MediaPackage channel {ch} was not imported"
                    )),
                }
                t.push_str(&group_lines);
                continue;
            }
            let settings: Vec<&Json> = d["Settings"].as_array().into_iter().flatten().collect();
            let first = settings
                .first()
                .and_then(|x| x["Url"].as_str())
                .unwrap_or_default();
            if first.starts_with("rtmp://") || first.starts_with("rtmps://") {
                let var = env_name(&l, id);
                let _ = writeln!(t, "type = \"rtmp\"\nurl = {}", q(first));
                if standard {
                    if let Some(b) = settings.get(1).and_then(|x| x["Url"].as_str()) {
                        let _ = writeln!(t, "backup_url = {}", q(b));
                    }
                }
                let _ = writeln!(
                    t,
                    "# The stream key is never written here: set {var} before `livestack plan`/`apply`.\nstream_key = {{ env = {} }}",
                    q(&var)
                );
                f.notes.push(format!("medialive_channel.{l}: output group `{id}`: set {var} to its stream key before planning"));
                t.push_str(&group_lines);
                continue;
            }
            // HLS to MediaPackage's ingest endpoints.
            let mp = account.of(Kind::MediapackageChannel).find(|mp| {
                let urls = ingest_endpoints(mp);
                urls.iter().any(|(u, _)| u == first)
            });
            // Channels sending elsewhere are left out by `stack_file`.
            if let Some(mp) = mp {
                let ml = labels[&(Kind::MediapackageChannel, mp.id.clone())].clone();
                let _ = writeln!(
                    t,
                    "type = \"hls\"\ndestination = {}",
                    q(&format!("mediapackage_channel.{ml}"))
                );
                deps.push(Address::new(Kind::MediapackageChannel, ml.clone()));
                let params: Vec<&str> = settings
                    .iter()
                    .map(|x| x["PasswordParam"].as_str().unwrap_or_default())
                    .collect();
                let derived = params
                    .iter()
                    .enumerate()
                    .all(|(i, p)| *p == format!("/livestack/{stack}/{ml}/ingest-{}", i + 1));
                if derived {
                    for i in 0..params.len() {
                        deps.push(Address::new(
                            Kind::SsmParameter,
                            format!("{ml}-ingest-{}", i + 1),
                        ));
                    }
                } else {
                    // The console's own parameters: read by name, left as they are.
                    let names: Vec<String> = params.iter().map(|p| q(p)).collect();
                    let _ = writeln!(t, "password_parameters = [{}]", names.join(", "));
                    f.notes.push(format!(
                        "medialive_channel.{l}: destination `{id}` reads its passwords from {}: kept as they are (`password_parameters`); livestack neither writes nor owns them",
                        params.join(", ")
                    ));
                }
            }
            t.push_str(&group_lines);
        }
        if modelled.is_none() && !choice.probe {
            let enc =
                serde_json::to_string_pretty(&json!({ "EncoderSettings": s["EncoderSettings"] }))
                    .unwrap_or_default();
            f.files.push((encoder_file, enc + "\n"));
        }
        deps.sort();
        deps.dedup();
        record(&mut f, Kind::MedialiveChannel, o, deps, Some(running));
    }
    // Custom ladders, each defined once, used by name.
    let mut defined: Vec<(&String, &String)> = ladders.iter().map(|(r, n)| (n, r)).collect();
    defined.sort();
    for (name, rungs) in defined {
        let _ = writeln!(
            t,
            "\n# A ladder of the channels' own (no built-in ladder has these renditions).\n[ladder.{name}]\nrenditions = {rungs}"
        );
    }
    f.toml = t;
    f
}

#[cfg(test)]
mod tests;

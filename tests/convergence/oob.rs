//! Out-of-band changes: what another tool (the console, the AWS CLI, a colleague's script)
//! does to the cloud or to the state between two applies. Cloud changes go through the
//! sandbox's AWS API: livestack's own `Clients` where it has the call, a plain HTTP request in
//! the service's wire protocol where it does not (as the AWS CLI would send it); so do the
//! changes to a state kept in S3 (DeleteObject, PutObject of a truncated body or of an earlier
//! version, as `aws s3api` would).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

use livestack_aws::ChannelWait;
use livestack_model::{Address, Kind, ADDRESS_TAG, STACK_TAG};
use livestack_sandbox::s3::Version;
use serde_json::Value as Json;

use crate::harness::World;
use crate::run::{StateAt, BUCKET, KEY};
use crate::stack::STACK;

/// One change made behind livestack's back; the numbers pick among what exists.
#[derive(Clone, Debug)]
pub enum Oob {
    /// Deletes a resource of the stack (what uses it first, as AWS insists): any one, or one
    /// of kind `only`.
    Delete {
        which: u8,
        only: Option<Kind>,
    },
    StopChannel {
        which: u8,
    },
    StartChannel {
        which: u8,
    },
    /// Points an input's sources elsewhere (its channel stopped first when running).
    EditInput {
        which: u8,
    },
    /// Replaces a security group's CIDRs.
    EditSecurityGroup {
        which: u8,
    },
    /// RotateIngestEndpointCredentials: a new ingest password on MediaPackage.
    RotateIngestPassword {
        which: u8,
        endpoint: u8,
    },
    /// DeleteRolePolicy of the role's inline policy.
    RemoveRolePolicy,
    DeleteSsmParameter {
        which: u8,
    },
    /// Deletes the state file, or the S3 object (a delete marker in a versioned bucket).
    DeleteState,
    /// Truncates the state (the file, or a PutObject of half the object); the user then
    /// follows livestack's advice (restore the backup).
    CorruptState,
    /// Puts the state's backup back (a stale state): the `.bak` file or object, or in a
    /// versioned bucket the latest earlier version.
    RestoreBackup,
}

/// Kinds whose out-of-band delete the bounded run does not make yet, each waiting on an
/// engine fix (see /work/convergence-findings.md and the `#[ignore]`d test in
/// regressions.rs): remove a kind from here once its fix is on main.
pub const DISABLED_DELETES: &[Kind] = &[];

/// A live resource of the stack in the sandbox's cloud.
#[derive(Clone, Debug)]
pub struct Owned {
    pub kind: Kind,
    /// The `livestack:address` tag.
    pub address: String,
    pub id: String,
    /// A channel's state.
    pub state: Option<String>,
    pub raw: Json,
}

fn tag<'a>(tags: &'a Json, key: &str) -> Option<&'a str> {
    match tags {
        Json::Object(m) => m.get(key).and_then(Json::as_str),
        // IAM keeps tags as [key, value] pairs.
        Json::Array(pairs) => pairs
            .iter()
            .find(|p| p[0] == key)
            .and_then(|p| p[1].as_str()),
        _ => None,
    }
}

/// Every live resource of the cloud that carries the stack's ownership tag.
pub fn owned(cloud: &Json) -> Vec<Owned> {
    let places = [
        (Kind::IamRole, &cloud["iam"]["roles"]),
        (
            Kind::MediapackageChannel,
            &cloud["mediapackage"]["channels"],
        ),
        (
            Kind::MediapackageEndpoint,
            &cloud["mediapackage"]["origin_endpoints"],
        ),
        (Kind::SsmParameter, &cloud["ssm"]["parameters"]),
        (
            Kind::MedialiveInputSecurityGroup,
            &cloud["medialive"]["input_security_groups"],
        ),
        (Kind::MedialiveInput, &cloud["medialive"]["inputs"]),
        (Kind::MedialiveChannel, &cloud["medialive"]["channels"]),
    ];
    let mut out = Vec::new();
    for (kind, map) in places {
        let from = out.len();
        for (id, r) in map.as_object().into_iter().flatten() {
            let state = r["state"].as_str().map(String::from);
            if matches!(state.as_deref(), Some("DELETED" | "DELETING")) {
                continue;
            }
            if tag(&r["tags"], STACK_TAG) != Some(STACK) {
                continue;
            }
            // The key of the stack's secret hashes: the stack's, but no resource of its file.
            if kind == Kind::SsmParameter && *id == format!("/livestack/{STACK}/hash-key") {
                continue;
            }
            out.push(Owned {
                kind,
                address: tag(&r["tags"], ADDRESS_TAG).unwrap_or("").to_string(),
                id: id.clone(),
                state,
                raw: r.clone(),
            });
        }
        // By address, not by the cloud's ids (random for MediaLive's): a seed picks the same
        // resource on every run.
        out[from..].sort_by(|a, b| (&a.address, &a.id).cmp(&(&b.address, &b.id)));
    }
    out
}

fn of_kind(cloud: &Json, kind: Kind) -> Vec<Owned> {
    owned(cloud)
        .into_iter()
        .filter(|o| o.kind == kind)
        .collect()
}

fn pick(v: &[Owned], n: u8) -> Option<&Owned> {
    (!v.is_empty()).then(|| &v[n as usize % v.len()])
}

const WAIT: Duration = Duration::from_secs(60);

/// Makes the change to the cloud, or to the state where `at` says it is; returns what was
/// done, for the failure report.
pub fn apply(w: &World, at: StateAt, oob: &Oob) -> String {
    let cloud = w.cloud();
    if let StateAt::S3 { versioned, .. } = at {
        match oob {
            Oob::DeleteState => {
                return match s3_current(w, KEY) {
                    Some(_) => {
                        s3_call(w, "DELETE", KEY, "");
                        "deleted the state object".into()
                    }
                    None => "no state object to delete".into(),
                };
            }
            Oob::CorruptState => {
                let Some(bytes) = s3_current(w, KEY) else {
                    return "no state object to corrupt".into();
                };
                let text = String::from_utf8(bytes).expect("a UTF-8 state");
                s3_call(w, "PUT", KEY, &text[..text.len() / 2]);
                return "truncated the state object".into();
            }
            Oob::RestoreBackup => return s3_restore(w, versioned, false),
            _ => {}
        }
    }
    let state = w.state_path();
    let bak = state.with_extension("json.bak");
    match *oob {
        Oob::Delete { which, only } => {
            let candidates: Vec<Owned> = owned(&cloud)
                .into_iter()
                .filter(|o| only.is_none_or(|k| k == o.kind))
                .collect();
            match pick(&candidates, which) {
                Some(o)
                    if only.is_none()
                        && DISABLED_DELETES.contains(&o.kind)
                        && !crate::stack::enable_all() =>
                {
                    format!("no delete of {} (its kind is disabled)", o.address)
                }
                Some(o) => {
                    let o = o.clone();
                    delete_cascading(w, &cloud, &o);
                    format!("deleted {} {} (and what used it)", o.address, o.id)
                }
                None => "nothing to delete".into(),
            }
        }
        Oob::StopChannel { which } => match pick(&of_kind(&cloud, Kind::MedialiveChannel), which) {
            Some(o) if o.state.as_deref() == Some("RUNNING") => {
                set_running(w, &o.id, false);
                format!("stopped {} {}", o.address, o.id)
            }
            _ => "no running channel to stop".into(),
        },
        Oob::StartChannel { which } => {
            match pick(&of_kind(&cloud, Kind::MedialiveChannel), which) {
                Some(o) if o.state.as_deref() == Some("IDLE") => {
                    set_running(w, &o.id, true);
                    format!("started {} {}", o.address, o.id)
                }
                _ => "no idle channel to start".into(),
            }
        }
        Oob::EditInput { which } => {
            let inputs = of_kind(&cloud, Kind::MedialiveInput);
            let Some(o) = pick(&inputs, which).cloned() else {
                return "no input to edit".into();
            };
            let c = w.clients();
            let hasher = livestack_plan::Hasher::new(b"out-of-band");
            let addr = Address::parse(&o.address).expect("tagged address");
            // MediaLive refuses to edit an input attached to a running channel: stop it first.
            if let Some(ch) = user_of_input(&cloud, &o.id) {
                if ch.state.as_deref() == Some("RUNNING") {
                    set_running(w, &ch.id, false);
                }
            }
            w.block_on(async {
                let current = c.read(&addr, &o.id, &hasher).await.unwrap().expect("input");
                let mut spec = current.spec.clone();
                if let Some(sources) = spec["Sources"].as_array_mut().filter(|s| !s.is_empty()) {
                    for s in sources.iter_mut() {
                        s["Url"] = "https://elsewhere.example.com/other.m3u8".into();
                    }
                } else if let Some(ds) = spec["Destinations"].as_array_mut() {
                    for (n, d) in ds.iter_mut().enumerate() {
                        *d = serde_json::json!({ "StreamName": format!("other/{n}") });
                    }
                }
                c.update(&addr, &o.id, &spec, &current)
                    .await
                    .expect("UpdateInput");
            });
            format!("edited input {} {}", o.address, o.id)
        }
        Oob::EditSecurityGroup { which } => {
            let sgs = of_kind(&cloud, Kind::MedialiveInputSecurityGroup);
            let Some(o) = pick(&sgs, which).cloned() else {
                return "no security group to edit".into();
            };
            let c = w.clients();
            let hasher = livestack_plan::Hasher::new(b"out-of-band");
            let addr = Address::parse(&o.address).expect("tagged address");
            w.block_on(async {
                let current = c.read(&addr, &o.id, &hasher).await.unwrap().expect("sg");
                let mut spec = current.spec.clone();
                spec["WhitelistRules"] = serde_json::json!([{ "Cidr": "10.9.8.0/24" }]);
                c.update(&addr, &o.id, &spec, &current)
                    .await
                    .expect("UpdateInputSecurityGroup");
            });
            format!("edited security group {} {}", o.address, o.id)
        }
        Oob::RotateIngestPassword { which, endpoint } => {
            let mps = of_kind(&cloud, Kind::MediapackageChannel);
            let Some(o) = pick(&mps, which) else {
                return "no MediaPackage channel".into();
            };
            let eps = o.raw["ingest_endpoints"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let Some(ep) = eps.get(endpoint as usize % eps.len().max(1)) else {
                return "no ingest endpoint".into();
            };
            let eid = ep["id"].as_str().expect("ingest endpoint id");
            let (status, body) = http(
                w,
                "PUT",
                &format!("/channels/{}/ingest_endpoints/{eid}/credentials", o.id),
                &[("content-type", "application/json")],
                "",
            );
            assert_eq!(status, 200, "RotateIngestEndpointCredentials: {body}");
            format!("rotated ingest password {eid} of {}", o.id)
        }
        Oob::RemoveRolePolicy => {
            let roles = of_kind(&cloud, Kind::IamRole);
            let Some(o) = roles.first() else {
                return "no role".into();
            };
            let Some(policy) = o.raw["inline_policies"]
                .as_object()
                .and_then(|m| m.keys().next().cloned())
            else {
                return "no inline policy on the role".into();
            };
            let form = format!(
                "Action=DeleteRolePolicy&Version=2010-05-08&RoleName={}&PolicyName={policy}",
                o.id
            );
            let (status, body) = http(
                w,
                "POST",
                "/",
                &[("content-type", "application/x-www-form-urlencoded")],
                &form,
            );
            assert_eq!(status, 200, "DeleteRolePolicy: {body}");
            format!("removed policy {policy} of role {}", o.id)
        }
        Oob::DeleteSsmParameter { which } => {
            match pick(&of_kind(&cloud, Kind::SsmParameter), which).cloned() {
                Some(o) => {
                    delete_cascading(w, &cloud, &o);
                    format!("deleted SSM parameter {}", o.id)
                }
                None => "no SSM parameter".into(),
            }
        }
        Oob::DeleteState => match std::fs::remove_file(&state) {
            Ok(()) => "deleted the state file".into(),
            Err(_) => "no state file to delete".into(),
        },
        Oob::CorruptState => {
            if !state.exists() {
                return "no state file to corrupt".into();
            }
            let text = std::fs::read_to_string(&state).expect("state");
            std::fs::write(&state, &text[..text.len() / 2]).expect("truncate the state");
            "truncated the state file".into()
        }
        Oob::RestoreBackup => match std::fs::copy(&bak, &state) {
            Ok(_) => "restored the state's .bak".into(),
            Err(_) => "no .bak to restore".into(),
        },
    }
}

/// StartChannel or StopChannel, and the wait for RUNNING or IDLE.
fn set_running(w: &World, id: &str, running: bool) {
    let c = w.clients();
    w.block_on(async {
        if running {
            c.start_channel(id).await.expect("StartChannel");
            c.wait_channel(id, ChannelWait::Running, WAIT)
                .await
                .expect("started");
        } else {
            c.stop_channel(id).await.expect("StopChannel");
            c.wait_channel(id, ChannelWait::Idle, WAIT)
                .await
                .expect("stopped");
        }
    });
}

/// The channel an input is attached to.
fn user_of_input(cloud: &Json, input_id: &str) -> Option<Owned> {
    live_channels(cloud).into_iter().find(|ch| {
        ch.raw["input_attachments"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["inputId"] == input_id || a["InputId"] == input_id)
    })
}

/// Every live MediaLive channel, the stack's or not.
fn live_channels(cloud: &Json) -> Vec<Owned> {
    cloud["medialive"]["channels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| !matches!(r["state"].as_str(), Some("DELETED" | "DELETING")))
        .map(|(id, r)| Owned {
            kind: Kind::MedialiveChannel,
            address: tag(&r["tags"], ADDRESS_TAG).unwrap_or("").to_string(),
            id: id.clone(),
            state: r["state"].as_str().map(String::from),
            raw: r.clone(),
        })
        .collect()
}

/// Deletes `o` as an operator would with the console: what AWS refuses to delete while in
/// use goes after its users (a running channel is stopped, an input's channel deleted, a
/// security group's inputs, a MediaPackage channel's endpoints).
fn delete_cascading(w: &World, cloud: &Json, o: &Owned) {
    let c = w.clients();
    let addr = Address::parse(&o.address).unwrap_or_else(|| Address::new(o.kind, "x"));
    match o.kind {
        Kind::MedialiveChannel => {
            let state = w
                .block_on(c.read(&addr, &o.id, &livestack_plan::Hasher::new(b"oob")))
                .unwrap()
                .and_then(|r| r.status);
            if matches!(state.as_deref(), Some("RUNNING" | "STARTING")) {
                set_running(w, &o.id, false);
            }
            w.block_on(async {
                c.delete(&addr, &o.id).await.expect("DeleteChannel");
                c.wait_channel(&o.id, ChannelWait::Deleted, WAIT)
                    .await
                    .expect("deleted");
            });
            return;
        }
        Kind::MedialiveInput => {
            if let Some(ch) = user_of_input(cloud, &o.id) {
                delete_cascading(w, cloud, &ch);
            }
        }
        Kind::MedialiveInputSecurityGroup => {
            for input in of_kind(cloud, Kind::MedialiveInput) {
                let uses = input.raw["security_groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|g| g == o.id.as_str());
                if uses {
                    delete_cascading(w, cloud, &input);
                }
            }
        }
        Kind::MediapackageChannel => {
            for ep in of_kind(cloud, Kind::MediapackageEndpoint) {
                if ep.raw["channel_id"] == o.id.as_str() {
                    delete_cascading(w, cloud, &ep);
                }
            }
        }
        _ => {}
    }
    w.block_on(async {
        c.delete(&addr, &o.id).await.expect("delete");
        c.wait_gone(&addr, &o.id, WAIT).await.expect("gone");
    });
}

/// One HTTP/1.1 request to the sandbox in a service's own wire protocol (unsigned: the
/// sandbox checks no signature): (status, body).
fn http(
    w: &World,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(w.sandbox.addr()).expect("connect to the sandbox");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
        w.sandbox.addr(),
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("answer");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// An S3 request to the sandbox, as the AWS CLI would send it (signed for `s3`; the
/// sandbox checks no signature): `path` is a key of the state's bucket, or empty for the
/// bucket itself. Panics unless S3 answers 2xx.
fn s3_call(w: &World, method: &str, key: &str, body: &str) {
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDCONV/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
    let path = match key {
        "" => format!("/{BUCKET}"),
        k => format!("/{BUCKET}/{k}"),
    };
    let (status, answer) = http(w, method, &path, &[("authorization", auth)], body);
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {answer}"
    );
}

/// CreateBucket of the state's bucket, without versioning.
pub fn s3_create_bucket(w: &World) {
    s3_call(w, "PUT", "", "");
}

/// The objects of the state's bucket: each key's versions, oldest first (the last is the
/// current one; it may be a delete marker).
pub fn s3_objects(w: &World) -> BTreeMap<String, Vec<Version>> {
    let mut cloud = w.sandbox.cloud();
    cloud
        .s3
        .buckets
        .remove(BUCKET)
        .map(|b| b.objects)
        .unwrap_or_default()
}

/// The current version of `key`'s body; `None` when there is none or it is a delete marker.
pub fn s3_current(w: &World, key: &str) -> Option<Vec<u8>> {
    let last = s3_objects(w).remove(key)?.pop()?;
    (!last.delete_marker).then_some(last.body)
}

/// Puts the state's backup back over it: in a versioned bucket the latest version before
/// the last one written that is JSON and differs from the current one, else the `KEY.bak`
/// object. `or_delete`: without a backup, delete the state (what a user does with a corrupt
/// state and nothing to restore).
pub fn s3_restore(w: &World, versioned: bool, or_delete: bool) -> String {
    let current = s3_current(w, KEY);
    let backup = if versioned {
        let mut bodies: Vec<Vec<u8>> = s3_objects(w)
            .remove(KEY)
            .unwrap_or_default()
            .into_iter()
            .filter(|v| !v.delete_marker)
            .map(|v| v.body)
            .collect();
        bodies.pop();
        bodies
            .into_iter()
            .rev()
            .find(|b| Some(b) != current.as_ref() && serde_json::from_slice::<Json>(b).is_ok())
    } else {
        s3_current(w, &format!("{KEY}.bak"))
    };
    let what = if versioned {
        "an earlier version of the state object"
    } else {
        "the state's .bak object"
    };
    match backup {
        Some(b) => {
            s3_call(w, "PUT", KEY, &String::from_utf8(b).expect("a UTF-8 state"));
            format!("put back {what}")
        }
        None if or_delete => {
            s3_call(w, "DELETE", KEY, "");
            format!("deleted the state object (no {what})")
        }
        None => format!("no {what} to restore"),
    }
}

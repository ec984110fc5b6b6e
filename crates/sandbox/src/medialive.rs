//! AWS Elemental MediaLive, restJson1 under `/prod`: channels (create, describe, list,
//! update, delete, start, stop, update class), inputs (create, describe, list, update,
//! delete), input security groups (create, describe, list, update, delete) and tags.
//!
//! JSON members are the service model's, lowerCamel. Channel states move by lazy timed
//! transitions: each resource stores its target state and due time, and every call settles
//! what is due at `ctx.now_ms`, so there is no background task and a restart keeps the state.
//! An input's ATTACHED/DETACHED state and `attachedChannels`, and a security group's
//! IDLE/IN_USE state and `inputs`, are derived from the channels and inputs on every answer,
//! so they cannot drift.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::wire::{Ctx, Req, Resp};
use crate::Cloud;

/// The MediaLive part of the cloud.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaLive {
    channels: BTreeMap<String, Channel>,
    inputs: BTreeMap<String, Input>,
    input_security_groups: BTreeMap<String, InputSecurityGroup>,
    /// Create idempotency: `channel:REQUESTID` / `input:REQUESTID` -> the id created.
    request_ids: BTreeMap<String, String>,
    /// What reads derive from the resources, kept between calls so that a read costs
    /// O(log n) instead of a scan of every channel; `None` when a change made it stale.
    #[serde(skip)]
    derived: Option<Derived>,
    /// When the next timed transition or expiry is due; `None` when unknown (after a change),
    /// so the next call settles everything.
    #[serde(skip)]
    next_due_ms: Option<u64>,
}

/// Indexes rebuilt after a change, on the next read.
#[derive(Debug, Clone, Default)]
struct Derived {
    /// Input id -> the channels (not DELETED) attaching it, in id order.
    attached: HashMap<String, Vec<String>>,
    /// Security group id -> the inputs (not DELETED) using it, in id order.
    group_inputs: HashMap<String, Vec<String>>,
}

/// A MediaLive channel as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Channel {
    id: String,
    arn: String,
    name: Option<String>,
    channel_class: String,
    state: String,
    pending: Option<Pending>,
    /// When the channel became DELETED, to forget it after a while.
    deleted_ms: Option<u64>,
    destinations: Vec<Value>,
    /// Stored verbatim as sent.
    encoder_settings: Value,
    input_attachments: Vec<Value>,
    input_specification: Option<Value>,
    log_level: String,
    role_arn: Option<String>,
    tags: BTreeMap<String, String>,
    /// One fake public IP per pipeline.
    egress_ips: Vec<String>,
    /// `cdiInputSpecification`, `maintenance`, `vpc`: returned as given.
    extra: Map<String, Value>,
}

/// A MediaLive input as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Input {
    id: String,
    arn: String,
    name: Option<String>,
    #[serde(rename = "type")]
    input_type: String,
    input_class: String,
    /// DETACHED, DELETING or DELETED; ATTACHED is derived from the channels.
    state: String,
    pending: Option<Pending>,
    deleted_ms: Option<u64>,
    sources: Vec<Value>,
    destinations: Vec<InputDestination>,
    media_connect_flows: Vec<Value>,
    input_devices: Vec<Value>,
    security_groups: Vec<String>,
    role_arn: Option<String>,
    tags: BTreeMap<String, String>,
    /// `vpc`, `srtSettings`, `multicastSettings`, `inputNetworkLocation`: returned as given.
    extra: Map<String, Value>,
}

/// A push input's endpoint: its fake public IP is fixed for the input's life.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputDestination {
    stream_name: Option<String>,
    ip: String,
}

/// A MediaLive input security group as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputSecurityGroup {
    id: String,
    arn: String,
    cidrs: Vec<String>,
    tags: BTreeMap<String, String>,
}

/// A timed transition in progress: the resource reaches `state` at `due_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    state: String,
    due_ms: u64,
}

/// Answers one MediaLive call.
pub fn handle(cloud: &mut Cloud, ctx: &mut Ctx, req: &Req) -> Resp {
    if settle(&mut cloud.medialive, ctx) {
        cloud.medialive.derived = None;
    }
    let Some(op) = operation_name(&req.method, &req.path) else {
        return Resp::rest_error(
            404,
            "unknown",
            "NotFoundException",
            &format!("No MediaLive operation at {} {}", req.method, req.path),
        );
    };
    let body = match parse_body(req) {
        Ok(body) => body,
        Err(message) => return bad_request(op, &message),
    };
    let segments = req.segments();
    let id = segments.get(2).copied().unwrap_or_default();
    let arn = req
        .path
        .strip_prefix("/prod/tags/")
        .unwrap_or_default()
        .to_string();
    let reads_only = crate::wire::reads_only(op);
    if reads_only {
        cloud.medialive.derive();
    } else {
        // A change is made with the indexes unset (as they would go stale during it) and
        // leaves them, and the next due time, to be worked out again.
        cloud.medialive.derived = None;
    }
    let answer = match op {
        "CreateChannel" => create_channel(cloud, ctx, &body),
        "DescribeChannel" => describe_channel(&cloud.medialive, id),
        "ListChannels" => list_channels(&cloud.medialive, req),
        "UpdateChannel" => update_channel(cloud, ctx, id, &body),
        "DeleteChannel" => delete_channel(&mut cloud.medialive, ctx, id),
        "StartChannel" => start_channel(&mut cloud.medialive, ctx, id),
        "StopChannel" => stop_channel(&mut cloud.medialive, ctx, id),
        "UpdateChannelClass" => update_channel_class(cloud, ctx, id, &body),
        "CreateInput" => create_input(&mut cloud.medialive, ctx, &body),
        "DescribeInput" => describe_input(&cloud.medialive, id),
        "ListInputs" => list_inputs(&cloud.medialive, req),
        "UpdateInput" => update_input(&mut cloud.medialive, ctx, id, &body),
        "DeleteInput" => delete_input(&mut cloud.medialive, ctx, id),
        "CreateInputSecurityGroup" => create_security_group(&mut cloud.medialive, ctx, &body),
        "DescribeInputSecurityGroup" => describe_security_group(&cloud.medialive, id),
        "ListInputSecurityGroups" => list_security_groups(&cloud.medialive, req),
        "UpdateInputSecurityGroup" => update_security_group(&mut cloud.medialive, id, &body),
        "DeleteInputSecurityGroup" => delete_security_group(&mut cloud.medialive, id),
        "CreateTags" => create_tags(&mut cloud.medialive, &arn, &body),
        "DeleteTags" => delete_tags(&mut cloud.medialive, &arn, req),
        "ListTagsForResource" => list_tags(&cloud.medialive, &arn),
        _ => unreachable!("operation_name only names served operations"),
    };
    if !reads_only {
        cloud.medialive.derived = None;
        cloud.medialive.next_due_ms = None;
    }
    match answer {
        Ok(resp) | Err(resp) => resp,
    }
}

/// The operation a MediaLive request names, from its method and (decoded) path.
pub(crate) fn operation_name(method: &str, path: &str) -> Option<&'static str> {
    if path.starts_with("/prod/tags/") && path.len() > "/prod/tags/".len() {
        return match method {
            "POST" => Some("CreateTags"),
            "DELETE" => Some("DeleteTags"),
            "GET" => Some("ListTagsForResource"),
            _ => None,
        };
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let op = match (method, segments.as_slice()) {
        ("POST", ["prod", "channels"]) => "CreateChannel",
        ("GET", ["prod", "channels"]) => "ListChannels",
        ("GET", ["prod", "channels", _]) => "DescribeChannel",
        ("PUT", ["prod", "channels", _]) => "UpdateChannel",
        ("DELETE", ["prod", "channels", _]) => "DeleteChannel",
        ("POST", ["prod", "channels", _, "start"]) => "StartChannel",
        ("POST", ["prod", "channels", _, "stop"]) => "StopChannel",
        ("PUT", ["prod", "channels", _, "channelClass"]) => "UpdateChannelClass",
        ("POST", ["prod", "inputs"]) => "CreateInput",
        ("GET", ["prod", "inputs"]) => "ListInputs",
        ("GET", ["prod", "inputs", _]) => "DescribeInput",
        ("PUT", ["prod", "inputs", _]) => "UpdateInput",
        ("DELETE", ["prod", "inputs", _]) => "DeleteInput",
        ("POST", ["prod", "inputSecurityGroups"]) => "CreateInputSecurityGroup",
        ("GET", ["prod", "inputSecurityGroups"]) => "ListInputSecurityGroups",
        ("GET", ["prod", "inputSecurityGroups", _]) => "DescribeInputSecurityGroup",
        ("PUT", ["prod", "inputSecurityGroups", _]) => "UpdateInputSecurityGroup",
        ("DELETE", ["prod", "inputSecurityGroups", _]) => "DeleteInputSecurityGroup",
        _ => return None,
    };
    Some(op)
}

// --- modelled AWS behaviour -------------------------------------------------------------

/// Modelled durations in seconds of AWS time (each divided by the speed factor).
const CREATE_SECONDS: f64 = 4.0;
const START_SECONDS: f64 = 60.0;
const STOP_SECONDS: f64 = 20.0;
const UPDATE_SECONDS: f64 = 4.0;
const DELETE_SECONDS: f64 = 4.0;
const INPUT_DELETE_SECONDS: f64 = 2.0;
/// How long a DELETED channel or input still answers Describe.
const DELETED_RETENTION_SECONDS: f64 = 3600.0;

/// The operations whose model lists UnprocessableEntityException.
const OPERATIONS_WITH_422: [&str; 3] = ["CreateChannel", "UpdateChannel", "UpdateChannelClass"];

const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 1000;
const MAX_WHITELIST_RULES: usize = 10;

const STANDARD: &str = "STANDARD";
const SINGLE_PIPELINE: &str = "SINGLE_PIPELINE";
const IDLE: &str = "IDLE";
const RUNNING: &str = "RUNNING";
const STARTING: &str = "STARTING";
const DELETING: &str = "DELETING";
const DELETED: &str = "DELETED";

const LOG_LEVELS: [&str; 5] = ["ERROR", "WARNING", "INFO", "DEBUG", "DISABLED"];
const INPUT_TYPES: [&str; 16] = [
    "UDP_PUSH",
    "RTP_PUSH",
    "RTMP_PUSH",
    "RTMP_PULL",
    "URL_PULL",
    "MP4_FILE",
    "MEDIACONNECT",
    "INPUT_DEVICE",
    "AWS_CDI",
    "TS_FILE",
    "SRT_CALLER",
    "MULTICAST",
    "SMPTE_2110_RECEIVER_GROUP",
    "SDI",
    "MEDIACONNECT_ROUTER",
    "SRT_LISTENER",
];
const PUSH_TYPES: [&str; 3] = ["RTMP_PUSH", "RTP_PUSH", "UDP_PUSH"];
const PULL_TYPES: [&str; 4] = ["URL_PULL", "RTMP_PULL", "MP4_FILE", "TS_FILE"];
const CHANNEL_EXTRA: [&str; 3] = ["cdiInputSpecification", "maintenance", "vpc"];
const CHANNEL_EXTRA_UPDATABLE: [&str; 2] = ["cdiInputSpecification", "maintenance"];
const INPUT_EXTRA: [&str; 4] = [
    "vpc",
    "srtSettings",
    "multicastSettings",
    "inputNetworkLocation",
];
const INPUT_EXTRA_UPDATABLE: [&str; 2] = ["srtSettings", "multicastSettings"];

fn pipelines(class: &str) -> usize {
    if class == SINGLE_PIPELINE {
        1
    } else {
        2
    }
}

/// Which member of an input of this type holds its one or two endpoints, if any.
fn endpoints_member(input_type: &str) -> Option<&'static str> {
    if PUSH_TYPES.contains(&input_type) {
        Some("destinations")
    } else if PULL_TYPES.contains(&input_type) {
        Some("sources")
    } else if input_type == "MEDIACONNECT" {
        Some("mediaConnectFlows")
    } else if input_type == "INPUT_DEVICE" {
        Some("inputDevices")
    } else {
        None
    }
}

/// Applies every transition that is due and forgets long-deleted resources; answers whether
/// anything changed. Nothing is looked at before the next due time.
///
/// What settles is a function of the stored due times and the clock, so a restart from a data
/// file written before it settled shows the same states: a read that settles is therefore not
/// a change the data file must record (the next written change records it).
fn settle(ml: &mut MediaLive, ctx: &Ctx) -> bool {
    let now = ctx.now_ms;
    if ml.next_due_ms.is_some_and(|due| now < due) {
        return false;
    }
    let retention = ctx.scaled_ms(DELETED_RETENTION_SECONDS);
    let mut changed = false;
    for ch in ml.channels.values_mut() {
        changed |= advance(&mut ch.state, &mut ch.pending, &mut ch.deleted_ms, now);
    }
    for input in ml.inputs.values_mut() {
        changed |= advance(
            &mut input.state,
            &mut input.pending,
            &mut input.deleted_ms,
            now,
        );
    }
    let expired = |deleted_ms: Option<u64>| deleted_ms.is_some_and(|t| t + retention <= now);
    let before = ml.channels.len() + ml.inputs.len() + ml.request_ids.len();
    ml.channels.retain(|_, ch| !expired(ch.deleted_ms));
    ml.inputs.retain(|_, input| !expired(input.deleted_ms));
    let (channels, inputs) = (&ml.channels, &ml.inputs);
    ml.request_ids.retain(|key, id| match key.split_once(':') {
        Some(("channel", _)) => channels.contains_key(id),
        Some(("input", _)) => inputs.contains_key(id),
        _ => false,
    });
    changed |= before != ml.channels.len() + ml.inputs.len() + ml.request_ids.len();
    let due = |pending: &Option<Pending>, deleted_ms: Option<u64>| {
        let pending = pending.as_ref().map(|p| p.due_ms);
        pending.into_iter().chain(deleted_ms.map(|t| t + retention))
    };
    let channel_dues = ml
        .channels
        .values()
        .flat_map(|c| due(&c.pending, c.deleted_ms));
    let input_dues = ml
        .inputs
        .values()
        .flat_map(|i| due(&i.pending, i.deleted_ms));
    ml.next_due_ms = Some(channel_dues.chain(input_dues).min().unwrap_or(u64::MAX));
    changed
}

fn advance(
    state: &mut String,
    pending: &mut Option<Pending>,
    deleted_ms: &mut Option<u64>,
    now: u64,
) -> bool {
    let Some(p) = pending.take_if(|p| p.due_ms <= now) else {
        return false;
    };
    *state = p.state;
    if *state == DELETED {
        *deleted_ms = Some(p.due_ms);
    }
    true
}

impl MediaLive {
    /// Builds the indexes reads use, unless they are up to date.
    fn derive(&mut self) {
        if self.derived.is_some() {
            return;
        }
        let mut d = Derived::default();
        for ch in self.channels.values().filter(|ch| ch.state != DELETED) {
            for a in &ch.input_attachments {
                if let Some(input) = a.get("inputId").and_then(Value::as_str) {
                    let channels = d.attached.entry(input.to_string()).or_default();
                    if channels.last() != Some(&ch.id) {
                        channels.push(ch.id.clone());
                    }
                }
            }
        }
        for input in self.inputs.values().filter(|i| i.state != DELETED) {
            for group in &input.security_groups {
                let inputs = d.group_inputs.entry(group.clone()).or_default();
                if inputs.last() != Some(&input.id) {
                    inputs.push(input.id.clone());
                }
            }
        }
        self.derived = Some(d);
    }
}

fn transition(ctx: &Ctx, state: &str, aws_seconds: f64) -> Pending {
    Pending {
        state: state.into(),
        due_ms: ctx.now_ms + ctx.scaled_ms(aws_seconds),
    }
}

// --- channels -------------------------------------------------------------------------------

fn create_channel(
    cloud: &mut Cloud,
    ctx: &mut Ctx,
    body: &Map<String, Value>,
) -> Result<Resp, Resp> {
    const OP: &str = "CreateChannel";
    let request_id = string_member(OP, "create channel", body, "requestId")?;
    if let Some(rid) = request_id {
        let known = cloud.medialive.request_ids.get(&format!("channel:{rid}"));
        if let Some(ch) = known.and_then(|id| cloud.medialive.channels.get(id)) {
            let value = channel_json(ch, false);
            return Ok(Resp::json(201, OP, &json!({ "channel": value })).with_resource(&ch.id));
        }
    }
    let id = new_id(ctx, &cloud.medialive.channels);
    let class = string_member(OP, "create channel", body, "channelClass")?.unwrap_or(STANDARD);
    let mut extra = Map::new();
    for key in CHANNEL_EXTRA {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            extra.insert(key.into(), v.clone());
        }
    }
    let mut ch = Channel {
        arn: format!(
            "arn:aws:medialive:{}:{}:channel:{id}",
            ctx.region, ctx.account
        ),
        id: id.clone(),
        name: string_member(OP, "create channel", body, "name")?.map(str::to_string),
        channel_class: class.to_string(),
        state: "CREATING".into(),
        pending: Some(transition(ctx, IDLE, CREATE_SECONDS)),
        deleted_ms: None,
        destinations: list_member(OP, "create channel", body, "destinations")?.unwrap_or_default(),
        encoder_settings: body.get("encoderSettings").cloned().unwrap_or(Value::Null),
        input_attachments: list_member(OP, "create channel", body, "inputAttachments")?
            .unwrap_or_default(),
        input_specification: body
            .get("inputSpecification")
            .filter(|v| !v.is_null())
            .cloned(),
        log_level: string_member(OP, "create channel", body, "logLevel")?
            .unwrap_or("DISABLED")
            .to_string(),
        role_arn: string_member(OP, "create channel", body, "roleArn")?.map(str::to_string),
        tags: tags_member(OP, "create channel", body)?.unwrap_or_default(),
        egress_ips: Vec::new(),
        extra,
    };
    let problems = validate_channel(cloud, ctx, &ch);
    if !problems.is_empty() {
        return Err(reject(OP, "create channel", problems));
    }
    ch.egress_ips = egress_ips(ctx, &[], pipelines(&ch.channel_class));
    let ml = &mut cloud.medialive;
    if let Some(rid) = request_id {
        ml.request_ids.insert(format!("channel:{rid}"), id.clone());
    }
    let value = channel_json(&ch, false);
    ml.channels.insert(id.clone(), ch);
    Ok(Resp::json(201, OP, &json!({ "channel": value })).with_resource(id))
}

fn describe_channel(ml: &MediaLive, id: &str) -> Result<Resp, Resp> {
    const OP: &str = "DescribeChannel";
    // A DELETED channel still answers, as on AWS.
    let ch = ml
        .channels
        .get(id)
        .ok_or_else(|| not_found(OP, "Channel", id))?;
    Ok(Resp::json(200, OP, &channel_json(ch, false)).with_resource(id))
}

fn list_channels(ml: &MediaLive, req: &Req) -> Result<Resp, Resp> {
    const OP: &str = "ListChannels";
    let live: Vec<(&String, &Channel)> = ml
        .channels
        .iter()
        .filter(|(_, ch)| ch.state != DELETED)
        .collect();
    let (page, next) = paginate(OP, req, live)?;
    let items: Vec<Value> = page.into_iter().map(|ch| channel_json(ch, true)).collect();
    Ok(Resp::json(200, OP, &list_body("channels", items, next)))
}

fn update_channel(
    cloud: &mut Cloud,
    ctx: &mut Ctx,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Resp, Resp> {
    const OP: &str = "UpdateChannel";
    const VERB: &str = "update channel";
    let current = live_channel(&cloud.medialive, OP, id)?;
    if current.state != IDLE {
        return Err(conflict(
            OP,
            &format!(
                "Channel {id} is {}; it can be updated only when IDLE (stop it first)",
                current.state
            ),
        ));
    }
    let mut ch = current.clone();
    if let Some(name) = string_member(OP, VERB, body, "name")? {
        ch.name = Some(name.into());
    }
    if let Some(destinations) = list_member(OP, VERB, body, "destinations")? {
        ch.destinations = destinations;
    }
    if let Some(encoder) = body.get("encoderSettings").filter(|v| !v.is_null()) {
        ch.encoder_settings = encoder.clone();
    }
    if let Some(attachments) = list_member(OP, VERB, body, "inputAttachments")? {
        ch.input_attachments = attachments;
    }
    if let Some(spec) = body.get("inputSpecification").filter(|v| !v.is_null()) {
        ch.input_specification = Some(spec.clone());
    }
    if let Some(level) = string_member(OP, VERB, body, "logLevel")? {
        ch.log_level = level.into();
    }
    // The service model: "If you do not specify this on an update call but the role was
    // previously set that role will be removed."
    ch.role_arn = string_member(OP, VERB, body, "roleArn")?.map(str::to_string);
    for key in CHANNEL_EXTRA_UPDATABLE {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            ch.extra.insert(key.into(), v.clone());
        }
    }
    let problems = validate_channel(cloud, ctx, &ch);
    if !problems.is_empty() {
        return Err(reject(OP, VERB, problems));
    }
    ch.state = "UPDATING".into();
    ch.pending = Some(transition(ctx, IDLE, UPDATE_SECONDS));
    let ml = &mut cloud.medialive;
    let value = channel_json(&ch, false);
    ml.channels.insert(id.into(), ch);
    Ok(Resp::json(200, OP, &json!({ "channel": value })).with_resource(id))
}

fn delete_channel(ml: &mut MediaLive, ctx: &Ctx, id: &str) -> Result<Resp, Resp> {
    const OP: &str = "DeleteChannel";
    let state = live_channel(ml, OP, id)?.state.clone();
    if state != IDLE {
        return Err(conflict(
            OP,
            &format!("Channel {id} is {state}; it can be deleted only when IDLE (stop it first)"),
        ));
    }
    let ch = ml.channels.get_mut(id).expect("checked above");
    ch.state = DELETING.into();
    ch.pending = Some(transition(ctx, DELETED, DELETE_SECONDS));
    let value = channel_json(&ml.channels[id], false);
    Ok(Resp::json(200, OP, &value).with_resource(id))
}

fn start_channel(ml: &mut MediaLive, ctx: &Ctx, id: &str) -> Result<Resp, Resp> {
    const OP: &str = "StartChannel";
    let state = live_channel(ml, OP, id)?.state.clone();
    if state != IDLE {
        return Err(conflict(
            OP,
            &format!("Channel {id} is {state}; only an IDLE channel can be started"),
        ));
    }
    let ch = ml.channels.get_mut(id).expect("checked above");
    ch.state = STARTING.into();
    ch.pending = Some(transition(ctx, RUNNING, START_SECONDS));
    let value = channel_json(&ml.channels[id], false);
    Ok(Resp::json(200, OP, &value).with_resource(id))
}

fn stop_channel(ml: &mut MediaLive, ctx: &Ctx, id: &str) -> Result<Resp, Resp> {
    const OP: &str = "StopChannel";
    let state = live_channel(ml, OP, id)?.state.clone();
    if state != RUNNING && state != STARTING {
        return Err(conflict(
            OP,
            &format!("Channel {id} is {state}; only a RUNNING or STARTING channel can be stopped"),
        ));
    }
    let ch = ml.channels.get_mut(id).expect("checked above");
    ch.state = "STOPPING".into();
    ch.pending = Some(transition(ctx, IDLE, STOP_SECONDS));
    let value = channel_json(&ml.channels[id], false);
    Ok(Resp::json(200, OP, &value).with_resource(id))
}

fn update_channel_class(
    cloud: &mut Cloud,
    ctx: &mut Ctx,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Resp, Resp> {
    const OP: &str = "UpdateChannelClass";
    const VERB: &str = "update channel class";
    let current = live_channel(&cloud.medialive, OP, id)?;
    if current.state != IDLE {
        return Err(conflict(
            OP,
            &format!(
                "Channel {id} is {}; its class can be changed only when IDLE (stop it first)",
                current.state
            ),
        ));
    }
    let class = match string_member(OP, VERB, body, "channelClass")? {
        Some(class @ (STANDARD | SINGLE_PIPELINE)) => class,
        Some(other) => {
            return Err(reject(
                OP,
                VERB,
                vec![invalid(
                    "channelClass",
                    format!("must be STANDARD or SINGLE_PIPELINE, got {other}"),
                )],
            ))
        }
        None => {
            return Err(reject(
                OP,
                VERB,
                vec![invalid("channelClass", "is required")],
            ))
        }
    };
    let mut ch = current.clone();
    if let Some(destinations) = list_member(OP, VERB, body, "destinations")? {
        ch.destinations = destinations;
    }
    if class == SINGLE_PIPELINE {
        // MediaLive drops pipeline 1: the second setting of every destination goes.
        for dest in &mut ch.destinations {
            for key in ["settings", "srtSettings"] {
                if let Some(Value::Array(list)) = dest.get_mut(key) {
                    list.truncate(1);
                }
            }
        }
    }
    ch.channel_class = class.into();
    let problems = validate_channel(cloud, ctx, &ch);
    if !problems.is_empty() {
        return Err(reject(OP, VERB, problems));
    }
    ch.egress_ips = egress_ips(ctx, &ch.egress_ips, pipelines(class));
    ch.state = "UPDATING".into();
    ch.pending = Some(transition(ctx, IDLE, UPDATE_SECONDS));
    let ml = &mut cloud.medialive;
    let value = channel_json(&ch, false);
    ml.channels.insert(id.into(), ch);
    Ok(Resp::json(200, OP, &json!({ "channel": value })).with_resource(id))
}

/// A channel that exists and is not DELETED.
fn live_channel<'a>(ml: &'a MediaLive, op: &str, id: &str) -> Result<&'a Channel, Resp> {
    ml.channels
        .get(id)
        .filter(|ch| ch.state != DELETED)
        .ok_or_else(|| not_found(op, "Channel", id))
}

/// Keeps the pipelines' IPs that exist and adds or drops to match the class.
fn egress_ips(ctx: &mut Ctx, existing: &[String], count: usize) -> Vec<String> {
    let mut ips: Vec<String> = existing.iter().take(count).cloned().collect();
    while ips.len() < count {
        let ip = fake_ip(ctx, "198.51.100");
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips
}

fn validate_channel(cloud: &Cloud, ctx: &Ctx, ch: &Channel) -> Vec<Invalid> {
    let ml = &cloud.medialive;
    let mut problems = Vec::new();
    let class = ch.channel_class.as_str();
    if class != STANDARD && class != SINGLE_PIPELINE {
        problems.push(invalid(
            "channelClass",
            format!("must be STANDARD or SINGLE_PIPELINE, got {class}"),
        ));
    }
    if !LOG_LEVELS.contains(&ch.log_level.as_str()) {
        problems.push(invalid(
            "logLevel",
            format!(
                "must be one of {}, got {}",
                LOG_LEVELS.join(", "),
                ch.log_level
            ),
        ));
    }

    match &ch.encoder_settings {
        Value::Object(encoder) => {
            for key in ["audioDescriptions", "outputGroups", "videoDescriptions"] {
                if !encoder.get(key).is_some_and(Value::is_array) {
                    problems.push(invalid(&format!("encoderSettings.{key}"), "is required"));
                }
            }
            match encoder.get("timecodeConfig") {
                Some(Value::Object(tc)) if tc.get("source").is_some_and(Value::is_string) => {}
                Some(Value::Object(_)) => problems.push(invalid(
                    "encoderSettings.timecodeConfig.source",
                    "is required",
                )),
                _ => problems.push(invalid("encoderSettings.timecodeConfig", "is required")),
            }
        }
        Value::Null => problems.push(invalid("encoderSettings", "is required")),
        _ => problems.push(invalid("encoderSettings", "must be an object")),
    }

    let wanted = pipelines(class);
    for (i, dest) in ch.destinations.iter().enumerate() {
        let Some(dest) = dest.as_object() else {
            problems.push(invalid(&format!("destinations[{i}]"), "must be an object"));
            continue;
        };
        let dest_id = dest.get("id").and_then(Value::as_str).unwrap_or_default();
        if dest_id.is_empty() {
            problems.push(invalid(&format!("destinations[{i}].id"), "is required"));
        }
        let count = |key: &str| dest.get(key).and_then(Value::as_array).map(Vec::len);
        let media_package = count("mediaPackageSettings").unwrap_or(0);
        if media_package > 0 {
            // One entry serves both pipelines.
            if media_package > 1 {
                problems.push(invalid(
                    &format!("destinations[{i}].mediaPackageSettings"),
                    "takes one entry, which serves every pipeline",
                ));
            }
            let settings = dest.get("mediaPackageSettings").and_then(Value::as_array);
            for (j, mp) in settings.into_iter().flatten().enumerate() {
                let path = format!("destinations[{i}].mediaPackageSettings[{j}].channelId");
                match mp.get("channelId").and_then(Value::as_str) {
                    Some(mp_id) if !mediapackage_channel_visible(cloud, ctx, mp_id) => problems
                        .push(invalid(
                            &path,
                            format!("MediaPackage channel {mp_id} does not exist"),
                        )),
                    Some(_) => {}
                    // MediaPackage v2 destinations name a channel group instead.
                    None if mp.get("channelGroup").is_some() => {}
                    None => problems.push(invalid(&path, "is required")),
                }
            }
            continue;
        }
        if dest.get("multiplexSettings").is_some_and(|v| !v.is_null()) {
            continue;
        }
        let settings = count("srtSettings")
            .filter(|n| *n > 0)
            .or(count("settings"))
            .unwrap_or(0);
        if settings != wanted {
            problems.push(invalid(
                &format!("destinations[{i}].settings"),
                format!(
                    "a {class} channel needs {wanted} setting{} (one per pipeline) in destination \"{dest_id}\", got {settings}",
                    if wanted == 1 { "" } else { "s" }
                ),
            ));
        }
    }

    for (i, attachment) in ch.input_attachments.iter().enumerate() {
        let path = format!("inputAttachments[{i}].inputId");
        let Some(input_id) = attachment.get("inputId").and_then(Value::as_str) else {
            problems.push(invalid(&path, "is required"));
            continue;
        };
        let Some(input) = ml
            .inputs
            .get(input_id)
            .filter(|input| input.state != DELETING && input.state != DELETED)
        else {
            problems.push(invalid(&path, format!("input {input_id} does not exist")));
            continue;
        };
        if class == STANDARD && input.input_class == SINGLE_PIPELINE {
            problems.push(invalid(
                &path,
                format!(
                    "a STANDARD channel needs STANDARD-class inputs; input {input_id} is SINGLE_PIPELINE"
                ),
            ));
        }
        let others: Vec<String> = attached_channels(ml, input_id)
            .into_iter()
            .filter(|other| *other != ch.id)
            .collect();
        if !others.is_empty() {
            problems.push(invalid(
                &path,
                format!(
                    "input {input_id} is already attached to channel {}",
                    others.join(", ")
                ),
            ));
        }
    }
    problems
}

/// Whether MediaLive may use a MediaPackage channel id (it must exist, and a new one stays
/// invisible for `consistency_ms`).
fn mediapackage_channel_visible(cloud: &Cloud, ctx: &Ctx, id: &str) -> bool {
    cloud
        .mediapackage
        .channel_visible_to_medialive(id, ctx.now_ms, ctx.consistency_ms)
}

fn channel_json(ch: &Channel, summary: bool) -> Value {
    let running = ch.state == RUNNING;
    let mut m = Map::new();
    m.insert("arn".into(), json!(ch.arn));
    m.insert("channelClass".into(), json!(ch.channel_class));
    m.insert("destinations".into(), json!(ch.destinations));
    m.insert(
        "egressEndpoints".into(),
        Value::Array(
            ch.egress_ips
                .iter()
                .map(|ip| json!({ "sourceIp": ip }))
                .collect(),
        ),
    );
    if !summary {
        m.insert("encoderSettings".into(), ch.encoder_settings.clone());
    }
    m.insert("id".into(), json!(ch.id));
    m.insert("inputAttachments".into(), json!(ch.input_attachments));
    if let Some(spec) = &ch.input_specification {
        m.insert("inputSpecification".into(), spec.clone());
    }
    m.insert("logLevel".into(), json!(ch.log_level));
    if let Some(name) = &ch.name {
        m.insert("name".into(), json!(name));
    }
    if !summary && running {
        let active = ch
            .input_attachments
            .first()
            .and_then(|a| a.get("inputAttachmentName"))
            .cloned();
        let details: Vec<Value> = (0..pipelines(&ch.channel_class))
            .map(|p| {
                let mut d = Map::new();
                d.insert("pipelineId".into(), json!(p.to_string()));
                if let Some(active) = &active {
                    d.insert("activeInputAttachmentName".into(), active.clone());
                }
                Value::Object(d)
            })
            .collect();
        m.insert("pipelineDetails".into(), Value::Array(details));
    }
    let running_count = if running {
        pipelines(&ch.channel_class)
    } else {
        0
    };
    m.insert("pipelinesRunningCount".into(), json!(running_count));
    if let Some(role) = &ch.role_arn {
        m.insert("roleArn".into(), json!(role));
    }
    m.insert("state".into(), json!(ch.state));
    m.insert("tags".into(), json!(ch.tags));
    for (k, v) in &ch.extra {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

// --- inputs ---------------------------------------------------------------------------------

fn create_input(
    ml: &mut MediaLive,
    ctx: &mut Ctx,
    body: &Map<String, Value>,
) -> Result<Resp, Resp> {
    const OP: &str = "CreateInput";
    const VERB: &str = "create input";
    let request_id = string_member(OP, VERB, body, "requestId")?;
    if let Some(rid) = request_id {
        let known = ml.request_ids.get(&format!("input:{rid}"));
        if let Some(input) = known.and_then(|id| ml.inputs.get(id)) {
            let value = input_json(ml, input);
            return Ok(Resp::json(201, OP, &json!({ "input": value })).with_resource(&input.id));
        }
    }
    let input_type = match string_member(OP, VERB, body, "type")? {
        Some(t) if INPUT_TYPES.contains(&t) => t,
        Some(t) => {
            return Err(reject(
                OP,
                VERB,
                vec![invalid("type", format!("unknown input type {t}"))],
            ))
        }
        None => return Err(reject(OP, VERB, vec![invalid("type", "is required")])),
    };
    let mut problems = Vec::new();
    let endpoints = match endpoints_member(input_type) {
        Some(member) => {
            let n = list_member(OP, VERB, body, member)?
                .map(|l| l.len())
                .unwrap_or(0);
            if !(1..=2).contains(&n) {
                problems.push(invalid(
                    member,
                    format!("a {input_type} input needs 1 or 2 {member} (2 for a STANDARD-class input), got {n}"),
                ));
            }
            n
        }
        None => 2,
    };
    let security_groups: Vec<String> =
        string_list_member(OP, VERB, body, "inputSecurityGroups")?.unwrap_or_default();
    let vpc = body.get("vpc").filter(|v| !v.is_null());
    problems.extend(check_input_security_groups(
        ml,
        input_type,
        &security_groups,
        vpc.is_some(),
    ));
    let destination_requests = list_member(OP, VERB, body, "destinations")?.unwrap_or_default();
    if PUSH_TYPES.contains(&input_type) {
        problems.extend(check_stream_names(input_type, &destination_requests));
    }
    if !problems.is_empty() {
        return Err(reject(OP, VERB, problems));
    }

    let id = new_id(ctx, &ml.inputs);
    let destinations = if PUSH_TYPES.contains(&input_type) {
        push_destinations(ctx, &destination_requests, &[])
    } else {
        Vec::new()
    };
    let mut extra = Map::new();
    for key in INPUT_EXTRA {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            extra.insert(key.into(), v.clone());
        }
    }
    let input = Input {
        arn: format!(
            "arn:aws:medialive:{}:{}:input:{id}",
            ctx.region, ctx.account
        ),
        id: id.clone(),
        name: string_member(OP, VERB, body, "name")?.map(str::to_string),
        input_type: input_type.into(),
        input_class: if endpoints == 1 {
            SINGLE_PIPELINE
        } else {
            STANDARD
        }
        .into(),
        state: "DETACHED".into(),
        pending: None,
        deleted_ms: None,
        sources: list_member(OP, VERB, body, "sources")?.unwrap_or_default(),
        destinations,
        media_connect_flows: list_member(OP, VERB, body, "mediaConnectFlows")?.unwrap_or_default(),
        input_devices: list_member(OP, VERB, body, "inputDevices")?.unwrap_or_default(),
        security_groups,
        role_arn: string_member(OP, VERB, body, "roleArn")?.map(str::to_string),
        tags: tags_member(OP, VERB, body)?.unwrap_or_default(),
        extra,
    };
    if let Some(rid) = request_id {
        ml.request_ids.insert(format!("input:{rid}"), id.clone());
    }
    let value = input_json(ml, &input);
    ml.inputs.insert(id.clone(), input);
    Ok(Resp::json(201, OP, &json!({ "input": value })).with_resource(id))
}

fn describe_input(ml: &MediaLive, id: &str) -> Result<Resp, Resp> {
    const OP: &str = "DescribeInput";
    // A DELETED input still answers, as on AWS.
    let input = ml
        .inputs
        .get(id)
        .ok_or_else(|| not_found(OP, "Input", id))?;
    Ok(Resp::json(200, OP, &input_json(ml, input)).with_resource(id))
}

fn list_inputs(ml: &MediaLive, req: &Req) -> Result<Resp, Resp> {
    const OP: &str = "ListInputs";
    let live: Vec<(&String, &Input)> = ml
        .inputs
        .iter()
        .filter(|(_, input)| input.state != DELETED)
        .collect();
    let (page, next) = paginate(OP, req, live)?;
    let items: Vec<Value> = page
        .into_iter()
        .map(|input| input_json(ml, input))
        .collect();
    Ok(Resp::json(200, OP, &list_body("inputs", items, next)))
}

fn update_input(
    ml: &mut MediaLive,
    ctx: &mut Ctx,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Resp, Resp> {
    const OP: &str = "UpdateInput";
    const VERB: &str = "update input";
    let current = live_input(ml, OP, id)?;
    if current.state == DELETING {
        return Err(conflict(OP, &format!("Input {id} is being deleted")));
    }
    let busy: Vec<String> = attached_channels(ml, id)
        .into_iter()
        .filter(|ch| ml.channels[ch].state != IDLE)
        .collect();
    if !busy.is_empty() {
        return Err(conflict(
            OP,
            &format!(
                "Input {id} is attached to channel {} which is not IDLE; an attached input can be edited only while its channel is IDLE",
                busy.join(", ")
            ),
        ));
    }
    let mut input = current.clone();
    let input_type = input.input_type.clone();
    let mut problems = Vec::new();
    if let Some(t) = string_member(OP, VERB, body, "type")? {
        if t != input_type {
            problems.push(invalid(
                "type",
                format!("the type of input {id} is {input_type} and cannot change to {t}; create a new input instead"),
            ));
        }
    }
    if let Some(member) = endpoints_member(&input_type) {
        if let Some(list) = list_member(OP, VERB, body, member)? {
            let n = list.len();
            let wanted = pipelines(&input.input_class);
            if n != wanted {
                problems.push(invalid(
                    member,
                    format!(
                        "input {id} is {} and needs {wanted} {member}, got {n}; the class of an input cannot change",
                        input.input_class
                    ),
                ));
            }
        }
    }
    if let Some(groups) = string_list_member(OP, VERB, body, "inputSecurityGroups")? {
        input.security_groups = groups;
    }
    problems.extend(check_input_security_groups(
        ml,
        &input_type,
        &input.security_groups,
        input.extra.contains_key("vpc"),
    ));
    let destination_requests = list_member(OP, VERB, body, "destinations")?;
    if let Some(requests) = &destination_requests {
        if PUSH_TYPES.contains(&input_type.as_str()) {
            problems.extend(check_stream_names(&input_type, requests));
        }
    }
    if !problems.is_empty() {
        return Err(reject(OP, VERB, problems));
    }
    if let Some(name) = string_member(OP, VERB, body, "name")? {
        input.name = Some(name.into());
    }
    if let Some(role) = string_member(OP, VERB, body, "roleArn")? {
        input.role_arn = Some(role.into());
    }
    if let Some(sources) = list_member(OP, VERB, body, "sources")? {
        input.sources = sources;
    }
    if let Some(flows) = list_member(OP, VERB, body, "mediaConnectFlows")? {
        input.media_connect_flows = flows;
    }
    if let Some(devices) = list_member(OP, VERB, body, "inputDevices")? {
        input.input_devices = devices;
    }
    if let Some(requests) = destination_requests {
        if PUSH_TYPES.contains(&input_type.as_str()) {
            input.destinations = push_destinations(ctx, &requests, &input.destinations);
        }
    }
    for key in INPUT_EXTRA_UPDATABLE {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            input.extra.insert(key.into(), v.clone());
        }
    }
    let value = input_json(ml, &input);
    ml.inputs.insert(id.into(), input);
    Ok(Resp::json(200, OP, &json!({ "input": value })).with_resource(id))
}

fn delete_input(ml: &mut MediaLive, ctx: &Ctx, id: &str) -> Result<Resp, Resp> {
    const OP: &str = "DeleteInput";
    let input = live_input(ml, OP, id)?;
    if input.state == DELETING {
        return Err(conflict(
            OP,
            &format!("Input {id} is already being deleted"),
        ));
    }
    let channels = attached_channels(ml, id);
    if !channels.is_empty() {
        return Err(conflict(
            OP,
            &format!(
                "Input {id} is attached to channel {}; delete the channel or detach the input first",
                channels.join(", ")
            ),
        ));
    }
    let input = ml.inputs.get_mut(id).expect("checked above");
    input.state = DELETING.into();
    input.pending = Some(transition(ctx, DELETED, INPUT_DELETE_SECONDS));
    Ok(Resp::json(200, OP, &json!({})).with_resource(id))
}

/// An input that exists and is not DELETED.
fn live_input<'a>(ml: &'a MediaLive, op: &str, id: &str) -> Result<&'a Input, Resp> {
    ml.inputs
        .get(id)
        .filter(|input| input.state != DELETED)
        .ok_or_else(|| not_found(op, "Input", id))
}

/// The channels (not DELETED) whose attachments name this input.
fn attached_channels(ml: &MediaLive, input_id: &str) -> Vec<String> {
    if let Some(d) = &ml.derived {
        return d.attached.get(input_id).cloned().unwrap_or_default();
    }
    ml.channels
        .values()
        .filter(|ch| ch.state != DELETED)
        .filter(|ch| {
            ch.input_attachments
                .iter()
                .any(|a| a.get("inputId").and_then(Value::as_str) == Some(input_id))
        })
        .map(|ch| ch.id.clone())
        .collect()
}

fn check_input_security_groups(
    ml: &MediaLive,
    input_type: &str,
    groups: &[String],
    in_vpc: bool,
) -> Vec<Invalid> {
    let mut problems = Vec::new();
    if PUSH_TYPES.contains(&input_type) && !in_vpc && groups.is_empty() {
        problems.push(invalid(
            "inputSecurityGroups",
            format!("a {input_type} input needs an input security group"),
        ));
    }
    for (i, group) in groups.iter().enumerate() {
        if !ml.input_security_groups.contains_key(group) {
            problems.push(invalid(
                &format!("inputSecurityGroups[{i}]"),
                format!("input security group {group} does not exist"),
            ));
        }
    }
    problems
}

fn check_stream_names(input_type: &str, requests: &[Value]) -> Vec<Invalid> {
    let mut problems = Vec::new();
    if input_type != "RTMP_PUSH" {
        return problems;
    }
    for (i, request) in requests.iter().enumerate() {
        let name = request
            .get("streamName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let well_formed = matches!(name.split_once('/'), Some((app, instance))
            if !app.is_empty() && !instance.is_empty() && !instance.contains('/'));
        if !well_formed {
            problems.push(invalid(
                &format!("destinations[{i}].streamName"),
                format!("must be \"application/instance\", got \"{name}\""),
            ));
        }
    }
    problems
}

/// Push endpoints: the IP of each position is kept from `existing`, new ones are drawn.
fn push_destinations(
    ctx: &mut Ctx,
    requests: &[Value],
    existing: &[InputDestination],
) -> Vec<InputDestination> {
    let mut out: Vec<InputDestination> = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let ip = match existing.get(i) {
            Some(d) => d.ip.clone(),
            None => loop {
                let ip = fake_ip(ctx, "203.0.113");
                if !out.iter().chain(existing).any(|d| d.ip == ip) {
                    break ip;
                }
            },
        };
        out.push(InputDestination {
            stream_name: request
                .get("streamName")
                .and_then(Value::as_str)
                .map(str::to_string),
            ip,
        });
    }
    out
}

fn input_json(ml: &MediaLive, input: &Input) -> Value {
    let attached = attached_channels(ml, &input.id);
    let state = match input.state.as_str() {
        DELETING | DELETED => input.state.as_str(),
        _ if !attached.is_empty() => "ATTACHED",
        _ => "DETACHED",
    };
    let (scheme, port) = match input.input_type.as_str() {
        "RTMP_PUSH" => ("rtmp", "1935"),
        "RTP_PUSH" => ("rtp", "5000"),
        _ => ("udp", "5000"),
    };
    let destinations: Vec<Value> = input
        .destinations
        .iter()
        .map(|d| {
            let url = match &d.stream_name {
                Some(stream) if scheme == "rtmp" => format!("rtmp://{}:{port}/{stream}", d.ip),
                _ => format!("{scheme}://{}:{port}", d.ip),
            };
            json!({ "ip": d.ip, "port": port, "url": url })
        })
        .collect();
    let mut m = Map::new();
    m.insert("arn".into(), json!(input.arn));
    m.insert("attachedChannels".into(), json!(attached));
    m.insert("destinations".into(), Value::Array(destinations));
    m.insert("id".into(), json!(input.id));
    m.insert("inputClass".into(), json!(input.input_class));
    m.insert("inputDevices".into(), json!(input.input_devices));
    m.insert("inputPartnerIds".into(), json!([]));
    m.insert("inputSourceType".into(), json!("STATIC"));
    m.insert("mediaConnectFlows".into(), json!(input.media_connect_flows));
    if let Some(name) = &input.name {
        m.insert("name".into(), json!(name));
    }
    if let Some(role) = &input.role_arn {
        m.insert("roleArn".into(), json!(role));
    }
    m.insert("securityGroups".into(), json!(input.security_groups));
    m.insert("sources".into(), json!(input.sources));
    m.insert("state".into(), json!(state));
    m.insert("tags".into(), json!(input.tags));
    m.insert("type".into(), json!(input.input_type));
    for (k, v) in &input.extra {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

// --- input security groups --------------------------------------------------------------

fn create_security_group(
    ml: &mut MediaLive,
    ctx: &mut Ctx,
    body: &Map<String, Value>,
) -> Result<Resp, Resp> {
    const OP: &str = "CreateInputSecurityGroup";
    const VERB: &str = "create input security group";
    let cidrs = whitelist(OP, VERB, body)?.unwrap_or_default();
    let id = new_id(ctx, &ml.input_security_groups);
    let group = InputSecurityGroup {
        arn: format!(
            "arn:aws:medialive:{}:{}:inputSecurityGroup:{id}",
            ctx.region, ctx.account
        ),
        id: id.clone(),
        cidrs,
        tags: tags_member(OP, VERB, body)?.unwrap_or_default(),
    };
    let value = security_group_json(ml, &group);
    ml.input_security_groups.insert(id.clone(), group);
    Ok(Resp::json(200, OP, &json!({ "securityGroup": value })).with_resource(id))
}

fn describe_security_group(ml: &MediaLive, id: &str) -> Result<Resp, Resp> {
    const OP: &str = "DescribeInputSecurityGroup";
    let group = security_group(ml, OP, id)?;
    Ok(Resp::json(200, OP, &security_group_json(ml, group)).with_resource(id))
}

fn list_security_groups(ml: &MediaLive, req: &Req) -> Result<Resp, Resp> {
    const OP: &str = "ListInputSecurityGroups";
    let all: Vec<(&String, &InputSecurityGroup)> = ml.input_security_groups.iter().collect();
    let (page, next) = paginate(OP, req, all)?;
    let items: Vec<Value> = page
        .into_iter()
        .map(|g| security_group_json(ml, g))
        .collect();
    Ok(Resp::json(
        200,
        OP,
        &list_body("inputSecurityGroups", items, next),
    ))
}

fn update_security_group(
    ml: &mut MediaLive,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Resp, Resp> {
    const OP: &str = "UpdateInputSecurityGroup";
    const VERB: &str = "update input security group";
    security_group(ml, OP, id)?;
    let cidrs = whitelist(OP, VERB, body)?;
    let tags = tags_member(OP, VERB, body)?;
    let group = ml.input_security_groups.get_mut(id).expect("checked above");
    if let Some(cidrs) = cidrs {
        group.cidrs = cidrs;
    }
    if let Some(tags) = tags {
        group.tags = tags;
    }
    let value = security_group_json(ml, &ml.input_security_groups[id]);
    Ok(Resp::json(200, OP, &json!({ "securityGroup": value })).with_resource(id))
}

fn delete_security_group(ml: &mut MediaLive, id: &str) -> Result<Resp, Resp> {
    const OP: &str = "DeleteInputSecurityGroup";
    security_group(ml, OP, id)?;
    let inputs = security_group_inputs(ml, id);
    if !inputs.is_empty() {
        return Err(conflict(
            OP,
            &format!(
                "Input security group {id} is in use by input {}; delete those inputs first",
                inputs.join(", ")
            ),
        ));
    }
    ml.input_security_groups.remove(id);
    Ok(Resp::json(200, OP, &json!({})).with_resource(id))
}

fn security_group<'a>(
    ml: &'a MediaLive,
    op: &str,
    id: &str,
) -> Result<&'a InputSecurityGroup, Resp> {
    ml.input_security_groups
        .get(id)
        .ok_or_else(|| not_found(op, "Input security group", id))
}

/// The inputs (not yet DELETED) that use this group.
fn security_group_inputs(ml: &MediaLive, group_id: &str) -> Vec<String> {
    if let Some(d) = &ml.derived {
        return d.group_inputs.get(group_id).cloned().unwrap_or_default();
    }
    ml.inputs
        .values()
        .filter(|input| input.state != DELETED)
        .filter(|input| input.security_groups.iter().any(|g| g == group_id))
        .map(|input| input.id.clone())
        .collect()
}

fn security_group_json(ml: &MediaLive, group: &InputSecurityGroup) -> Value {
    let inputs = security_group_inputs(ml, &group.id);
    let state = if inputs.is_empty() { IDLE } else { "IN_USE" };
    let rules: Vec<Value> = group.cidrs.iter().map(|c| json!({ "cidr": c })).collect();
    json!({
        "arn": group.arn,
        "id": group.id,
        "inputs": inputs,
        "state": state,
        "tags": group.tags,
        "whitelistRules": rules,
    })
}

/// `whitelistRules: [{cidr}]`, each an IPv4 CIDR, at most ten.
fn whitelist(op: &str, verb: &str, body: &Map<String, Value>) -> Result<Option<Vec<String>>, Resp> {
    let Some(rules) = list_member(op, verb, body, "whitelistRules")? else {
        return Ok(None);
    };
    let mut problems = Vec::new();
    if rules.len() > MAX_WHITELIST_RULES {
        problems.push(invalid(
            "whitelistRules",
            format!(
                "at most {MAX_WHITELIST_RULES} rules are allowed, got {}",
                rules.len()
            ),
        ));
    }
    let mut cidrs = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let cidr = rule.get("cidr").and_then(Value::as_str).unwrap_or_default();
        if is_ipv4_cidr(cidr) {
            cidrs.push(cidr.to_string());
        } else {
            problems.push(invalid(
                &format!("whitelistRules[{i}].cidr"),
                format!("must be an IPv4 CIDR such as 10.0.0.0/16, got \"{cidr}\""),
            ));
        }
    }
    if problems.is_empty() {
        Ok(Some(cidrs))
    } else {
        Err(reject(op, verb, problems))
    }
}

fn is_ipv4_cidr(s: &str) -> bool {
    match s.split_once('/') {
        Some((ip, bits)) => {
            ip.parse::<Ipv4Addr>().is_ok()
                && !bits.is_empty()
                && bits.chars().all(|c| c.is_ascii_digit())
                && bits.parse::<u8>().is_ok_and(|b| b <= 32)
        }
        None => false,
    }
}

// --- tags -----------------------------------------------------------------------------------

/// Whose tags an ARN names.
enum TagOwner {
    Channel(String),
    Input(String),
    Group(String),
}

fn tag_owner(ml: &MediaLive, arn: &str) -> Option<TagOwner> {
    // Every ARN ends in its resource's id (`...:channel:1234567`).
    let id = arn.rsplit(':').next().unwrap_or_default();
    if let Some(ch) = ml
        .channels
        .get(id)
        .filter(|ch| ch.arn == arn && ch.state != DELETED)
    {
        return Some(TagOwner::Channel(ch.id.clone()));
    }
    if let Some(input) = ml
        .inputs
        .get(id)
        .filter(|i| i.arn == arn && i.state != DELETED)
    {
        return Some(TagOwner::Input(input.id.clone()));
    }
    ml.input_security_groups
        .get(id)
        .filter(|g| g.arn == arn)
        .map(|g| TagOwner::Group(g.id.clone()))
}

fn tags_mut<'a>(
    ml: &'a mut MediaLive,
    op: &str,
    arn: &str,
) -> Result<&'a mut BTreeMap<String, String>, Resp> {
    let tags = match tag_owner(ml, arn) {
        Some(TagOwner::Channel(id)) => ml.channels.get_mut(&id).map(|ch| &mut ch.tags),
        Some(TagOwner::Input(id)) => ml.inputs.get_mut(&id).map(|i| &mut i.tags),
        Some(TagOwner::Group(id)) => ml.input_security_groups.get_mut(&id).map(|g| &mut g.tags),
        None => None,
    };
    tags.ok_or_else(|| not_found(op, "Resource", arn))
}

fn create_tags(ml: &mut MediaLive, arn: &str, body: &Map<String, Value>) -> Result<Resp, Resp> {
    const OP: &str = "CreateTags";
    let new = tags_member(OP, "create tags", body)?.unwrap_or_default();
    tags_mut(ml, OP, arn)?.extend(new);
    Ok(no_content(OP).with_resource(arn))
}

fn delete_tags(ml: &mut MediaLive, arn: &str, req: &Req) -> Result<Resp, Resp> {
    const OP: &str = "DeleteTags";
    let tags = tags_mut(ml, OP, arn)?;
    for (key, value) in &req.query {
        if key == "tagKeys" {
            tags.remove(value);
        }
    }
    Ok(no_content(OP).with_resource(arn))
}

fn list_tags(ml: &MediaLive, arn: &str) -> Result<Resp, Resp> {
    const OP: &str = "ListTagsForResource";
    let tags = match tag_owner(ml, arn) {
        Some(TagOwner::Channel(id)) => &ml.channels[&id].tags,
        Some(TagOwner::Input(id)) => &ml.inputs[&id].tags,
        Some(TagOwner::Group(id)) => &ml.input_security_groups[&id].tags,
        None => return Err(not_found(OP, "Resource", arn)),
    };
    Ok(Resp::json(200, OP, &json!({ "tags": tags })).with_resource(arn))
}

// --- helpers --------------------------------------------------------------------------------

/// One entry of a 422's `validationErrors`.
#[derive(Debug, Clone)]
struct Invalid {
    path: String,
    message: String,
}

fn invalid(path: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        path: path.into(),
        message: message.into(),
    }
}

fn not_found(op: &str, what: &str, id: &str) -> Resp {
    Resp::rest_error(
        404,
        op,
        "NotFoundException",
        &format!("{what} {id} not found"),
    )
}

fn conflict(op: &str, message: &str) -> Resp {
    Resp::rest_error(409, op, "ConflictException", message)
}

fn bad_request(op: &str, message: &str) -> Resp {
    Resp::rest_error(400, op, "BadRequestException", message)
}

/// Refuses an invalid request the way the operation's model allows: CreateChannel,
/// UpdateChannel and UpdateChannelClass answer 422 UnprocessableEntityException with
/// `validationErrors`; the input and security group operations model no 422, only 400
/// BadRequestException with a message. The message repeats the problems either way, as the
/// CLI shows only the message.
fn reject(op: &str, verb: &str, problems: Vec<Invalid>) -> Resp {
    let details: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect();
    let message = format!("Failed to {verb}: {}", details.join("; "));
    if !OPERATIONS_WITH_422.contains(&op) {
        return bad_request(op, &message);
    }
    let errors: Vec<Value> = problems
        .iter()
        .map(|p| json!({ "elementPath": p.path, "errorMessage": p.message }))
        .collect();
    let mut resp = Resp::json(
        422,
        op,
        &json!({ "message": message, "validationErrors": errors }),
    );
    resp.headers.push((
        "x-amzn-errortype".into(),
        "UnprocessableEntityException".into(),
    ));
    resp
}

fn no_content(op: &str) -> Resp {
    Resp {
        status: 204,
        headers: Vec::new(),
        body: Vec::new(),
        operation: op.into(),
        resource: None,
    }
}

fn parse_body(req: &Req) -> Result<Map<String, Value>, String> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("The request body must be a JSON object".into()),
        Err(e) => Err(format!("The request body is not valid JSON: {e}")),
    }
}

fn string_member<'a>(
    op: &str,
    verb: &str,
    body: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, Resp> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(reject(op, verb, vec![invalid(key, "must be a string")])),
    }
}

fn list_member(
    op: &str,
    verb: &str,
    body: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<Value>>, Resp> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list.clone())),
        Some(_) => Err(reject(op, verb, vec![invalid(key, "must be a list")])),
    }
}

fn string_list_member(
    op: &str,
    verb: &str,
    body: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, Resp> {
    let Some(list) = list_member(op, verb, body, key)? else {
        return Ok(None);
    };
    list.iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<Vec<String>>>()
        .map(Some)
        .ok_or_else(|| reject(op, verb, vec![invalid(key, "must be a list of strings")]))
}

fn tags_member(
    op: &str,
    verb: &str,
    body: &Map<String, Value>,
) -> Result<Option<BTreeMap<String, String>>, Resp> {
    match body.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect::<Option<BTreeMap<String, String>>>()
            .map(Some)
            .ok_or_else(|| {
                reject(
                    op,
                    verb,
                    vec![invalid("tags", "tag values must be strings")],
                )
            }),
        Some(_) => Err(reject(
            op,
            verb,
            vec![invalid("tags", "must be a map of strings")],
        )),
    }
}

/// A page of `items` (in id order) after `nextToken`, at most `maxResults` long.
fn paginate<'a, T>(
    op: &str,
    req: &Req,
    items: Vec<(&'a String, &'a T)>,
) -> Result<(Vec<&'a T>, Option<String>), Resp> {
    let size = match req.query_param("maxResults") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                return Err(bad_request(
                    op,
                    &format!("maxResults must be between 1 and {MAX_PAGE_SIZE}, got {raw}"),
                ))
            }
        },
    };
    let after = match req.query_param("nextToken").filter(|t| !t.is_empty()) {
        None => None,
        Some(token) => match token.strip_prefix("page-from-") {
            Some(id) => Some(id.to_string()),
            None => return Err(bad_request(op, &format!("Invalid nextToken {token}"))),
        },
    };
    let mut rest = items
        .into_iter()
        .filter(|(id, _)| after.as_deref().is_none_or(|from| id.as_str() >= from));
    let page: Vec<&T> = rest.by_ref().take(size).map(|(_, item)| item).collect();
    let next = rest.next().map(|(id, _)| format!("page-from-{id}"));
    Ok((page, next))
}

fn list_body(key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert(key.into(), Value::Array(items));
    if let Some(next) = next {
        m.insert("nextToken".into(), json!(next));
    }
    Value::Object(m)
}

/// A fresh 7-digit id, as MediaLive's are.
fn new_id<T>(ctx: &mut Ctx, taken: &BTreeMap<String, T>) -> String {
    loop {
        let id = ctx.numeric_id(7);
        if !taken.contains_key(&id) {
            return id;
        }
    }
}

/// An address in a documentation range (RFC 5737), so it is clearly not a real one.
fn fake_ip(ctx: &mut Ctx, net: &str) -> String {
    format!("{net}.{}", ctx.rng.random_range(1..255))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_follow_the_model_paths() {
        assert_eq!(
            operation_name("POST", "/prod/channels"),
            Some("CreateChannel")
        );
        assert_eq!(
            operation_name("PUT", "/prod/channels/1/channelClass"),
            Some("UpdateChannelClass")
        );
        assert_eq!(
            operation_name("DELETE", "/prod/inputs/1"),
            Some("DeleteInput")
        );
        assert_eq!(
            operation_name("GET", "/prod/tags/arn:aws:medialive:us-east-1:1:channel:1"),
            Some("ListTagsForResource")
        );
        assert_eq!(operation_name("PATCH", "/prod/channels"), None);
        assert_eq!(operation_name("GET", "/prod/tags/"), None);
    }

    #[test]
    fn cidr_check_accepts_ipv4_cidrs_only() {
        assert!(is_ipv4_cidr("0.0.0.0/0"));
        assert!(is_ipv4_cidr("10.1.2.0/24"));
        assert!(!is_ipv4_cidr("10.1.2.0"));
        assert!(!is_ipv4_cidr("10.1.2.0/33"));
        assert!(!is_ipv4_cidr("10.1.2/8"));
        assert!(!is_ipv4_cidr("::/0"));
        assert!(!is_ipv4_cidr("10.0.0.0/+8"));
    }
}

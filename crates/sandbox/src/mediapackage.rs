//! AWS Elemental MediaPackage (v1, API version 2017-10-12) over restJson1: channels with
//! HLS ingest endpoints, origin endpoints and tags.
//!
//! Served: CreateChannel, DescribeChannel, ListChannels, UpdateChannel, DeleteChannel,
//! RotateIngestEndpointCredentials, RotateChannelCredentials (deprecated in AWS, kept because
//! it is one line), CreateOriginEndpoint, DescribeOriginEndpoint, ListOriginEndpoints,
//! UpdateOriginEndpoint, DeleteOriginEndpoint, TagResource, UntagResource,
//! ListTagsForResource. Members are camelCase; errors carry `x-amzn-errortype` and a
//! `{"message": ..}` body.
//!
//! Rules enforced, as AWS does:
//! - Channel and endpoint ids are unique per region, `[A-Za-z0-9_-]{1,256}`; a duplicate is
//!   422 UnprocessableEntityException.
//! - A channel that still has origin endpoints is not deleted: 422
//!   UnprocessableEntityException. (The issue asks for a "409 Conflict"; MediaPackage v1 has
//!   no 409 and no ConflictException in its model or API reference, whose DeleteChannel lists
//!   202/403/404/422/429/500/503, so a 409 would reach the SDK as an unmodelled error. 422 is
//!   the typed error the SDK and the CLI know.)
//! - UpdateOriginEndpoint replaces the whole endpoint: every member not given is reset to its
//!   default, exactly like a create (id, channelId, url host/path, arn, tags and createdAt stay).
//! - Endpoints answer with the server defaults of their package filled in (members the client
//!   never sent), e.g. HLS segmentDurationSeconds 6, playlistWindowSeconds 60, adMarkers NONE.
//! - timeDelaySeconds is 5..=86400 and must be shorter than startoverWindowSeconds when both
//!   are set [MP-UG endpoints-hls-new].
//! - Eventual consistency: a channel younger than `ctx.consistency_ms` is "not found" (404) to
//!   CreateOriginEndpoint, and [`MediaPackage::channel_visible_to_medialive`] tells MediaLive the
//!   same. With `consistency_ms == 0` (the default) everything is visible at once.
//!
//! # Deviations from AWS
//! - The error type for a duplicate id and for deleting a channel with endpoints is AWS's
//!   (422 UnprocessableEntityException); the messages are ours (UNVERIFIED wording).
//! - "Not found" because of eventual consistency is a 404 NotFoundException, like an unknown
//!   channel (UNVERIFIED: AWS's exact answer in that window is not documented), and is
//!   deterministic: always inside the window, never after it.
//! - Default values of package members are our reading of what AWS answers (UNVERIFIED in the
//!   model, which documents few defaults); encryption, authorization and SPEKE settings are
//!   stored and echoed, not checked.
//! - UpdateChannel without `description` clears it (treated as a replace, like endpoints).
//! - Harvest jobs, ConfigureLogs, access logs (always `{}`), quotas (30 channels, 10 endpoints
//!   per channel) are not modelled. Tags on an unknown ARN answer 404 NotFoundException.
//! - nextToken is an opaque hex string (the last id returned), valid across calls.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::wire::{Ctx, Req, Resp};

/// MediaPackage's part of the cloud: channels and origin endpoints by id.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaPackage {
    pub channels: BTreeMap<String, Channel>,
    pub origin_endpoints: BTreeMap<String, OriginEndpoint>,
}

/// A MediaPackage v1 channel.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Channel {
    pub id: String,
    pub arn: String,
    pub description: Option<String>,
    pub created_at_ms: u64,
    /// Always two: pipeline 0 of MediaLive sends to the first, pipeline 1 to the second.
    pub ingest_endpoints: Vec<IngestEndpoint>,
    pub tags: BTreeMap<String, String>,
}

/// One HLS ingest endpoint of a channel (WebDAV URL plus basic-auth credentials).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestEndpoint {
    pub id: String,
    pub url: String,
    pub username: String,
    pub password: String,
}

/// A MediaPackage v1 origin endpoint, with its package as answered (defaults filled in).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OriginEndpoint {
    pub id: String,
    pub arn: String,
    pub channel_id: String,
    pub created_at_ms: u64,
    /// `https://HOST/out/v1/HEX`: the manifest name and extension are appended.
    pub url_base: String,
    pub description: Option<String>,
    pub manifest_name: String,
    pub origination: String,
    pub startover_window_seconds: Option<i64>,
    pub time_delay_seconds: Option<i64>,
    pub whitelist: Vec<String>,
    pub authorization: Option<Value>,
    /// "hlsPackage", "dashPackage", "cmafPackage" or "mssPackage".
    pub package_kind: String,
    pub package: Value,
    pub tags: BTreeMap<String, String>,
}

impl MediaPackage {
    /// Whether MediaLive may see channel `id` yet: it exists and was created at least
    /// `consistency_ms` ago (AWS's eventual consistency between the two services).
    pub fn channel_visible_to_medialive(&self, id: &str, now_ms: u64, consistency_ms: u64) -> bool {
        self.channels
            .get(id)
            .is_some_and(|c| now_ms.saturating_sub(c.created_at_ms) >= consistency_ms)
    }
}

/// Answers one MediaPackage request (any path not under `/prod/` or `/_sandbox/`).
pub fn handle(cloud: &mut crate::Cloud, ctx: &mut Ctx, req: &Req) -> Resp {
    let mp = &mut cloud.mediapackage;
    let method = req.method.as_str();
    if let Some(arn) = req.path.strip_prefix("/tags/") {
        let (op, status) = match method {
            "GET" => ("ListTagsForResource", 200),
            "POST" => ("TagResource", 204),
            "DELETE" => ("UntagResource", 204),
            _ => return unknown(req),
        };
        let result = body_json(req).and_then(|body| tags(mp, op, arn, &body, req));
        return finish(op, status, Some(arn.to_string()), result);
    }
    let segs = req.segments();
    // A malformed body is answered by the operation it was meant for, so the log names it.
    let parsed = body_json(req);
    let body_id = parsed
        .as_ref()
        .ok()
        .and_then(|b| b.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let body = || parsed.as_ref().map_err(Fail::clone);
    match (method, segs.as_slice()) {
        ("POST", ["channels"]) => {
            let r = body().and_then(|b| create_channel(mp, ctx, b));
            finish("CreateChannel", 200, body_id, r)
        }
        ("GET", ["channels"]) => finish("ListChannels", 200, None, list_channels(mp, req)),
        ("GET", ["channels", id]) => {
            let r = channel(mp, id).map(channel_json);
            finish("DescribeChannel", 200, Some(id.to_string()), r)
        }
        ("PUT", ["channels", id]) => {
            let r = body().and_then(|b| update_channel(mp, id, b));
            finish("UpdateChannel", 200, Some(id.to_string()), r)
        }
        ("DELETE", ["channels", id]) => {
            let r = delete_channel(mp, id);
            finish("DeleteChannel", 202, Some(id.to_string()), r)
        }
        ("PUT", ["channels", id, "credentials"]) => {
            let r = rotate_credentials(mp, ctx, id, None);
            finish("RotateChannelCredentials", 200, Some(id.to_string()), r)
        }
        ("PUT", ["channels", id, "ingest_endpoints", endpoint, "credentials"]) => {
            let r = rotate_credentials(mp, ctx, id, Some(endpoint));
            finish(
                "RotateIngestEndpointCredentials",
                200,
                Some(id.to_string()),
                r,
            )
        }
        ("POST", ["origin_endpoints"]) => {
            let r = body().and_then(|b| create_origin_endpoint(mp, ctx, b));
            finish("CreateOriginEndpoint", 200, body_id, r)
        }
        ("GET", ["origin_endpoints"]) => finish(
            "ListOriginEndpoints",
            200,
            None,
            list_origin_endpoints(mp, req),
        ),
        ("GET", ["origin_endpoints", id]) => {
            let r = origin_endpoint(mp, id).map(origin_endpoint_json);
            finish("DescribeOriginEndpoint", 200, Some(id.to_string()), r)
        }
        ("PUT", ["origin_endpoints", id]) => {
            let r = body().and_then(|b| update_origin_endpoint(mp, id, b));
            finish("UpdateOriginEndpoint", 200, Some(id.to_string()), r)
        }
        ("DELETE", ["origin_endpoints", id]) => {
            let r = match mp.origin_endpoints.remove(*id) {
                Some(_) => Ok(json!({})),
                None => Err(not_found("origin endpoint", id)),
            };
            finish("DeleteOriginEndpoint", 202, Some(id.to_string()), r)
        }
        _ => unknown(req),
    }
}

/// An error answer before it becomes a [`Resp`].
#[derive(Debug, Clone)]
struct Fail {
    status: u16,
    kind: &'static str,
    message: String,
}

fn unprocessable(message: impl Into<String>) -> Fail {
    Fail {
        status: 422,
        kind: "UnprocessableEntityException",
        message: message.into(),
    }
}

fn not_found(what: &str, id: &str) -> Fail {
    Fail {
        status: 404,
        kind: "NotFoundException",
        message: format!("{what} {id} not found"),
    }
}

fn finish(op: &str, status: u16, resource: Option<String>, result: Result<Value, Fail>) -> Resp {
    let mut resp = match result {
        Ok(_) if status == 204 => Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            operation: op.into(),
            resource: None,
        },
        Ok(body) => Resp::json(status, op, &body),
        Err(f) => Resp::rest_error(f.status, op, f.kind, &f.message),
    };
    resp.resource = resource;
    resp
}

fn unknown(req: &Req) -> Resp {
    Resp::rest_error(
        404,
        "Unknown",
        "NotFoundException",
        &format!("no MediaPackage operation for {} {}", req.method, req.path),
    )
}

fn body_json(req: &Req) -> Result<Value, Fail> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(unprocessable("the request body must be a JSON object")),
        Err(e) => Err(unprocessable(format!(
            "could not parse the request body: {e}"
        ))),
    }
}

fn str_member(body: &Value, name: &str) -> Result<Option<String>, Fail> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(unprocessable(format!("{name} must be a string"))),
    }
}

fn int_member(body: &Value, name: &str) -> Result<Option<i64>, Fail> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| unprocessable(format!("{name} must be an integer"))),
    }
}

fn tags_member(body: &Value, name: &str) -> Result<BTreeMap<String, String>, Fail> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(unprocessable(format!("tag {k} must have a string value"))),
            })
            .collect(),
        Some(_) => Err(unprocessable(format!("{name} must be a map of strings"))),
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn required_id(body: &Value, name: &str) -> Result<String, Fail> {
    let id = str_member(body, name)?.ok_or_else(|| unprocessable(format!("{name} is required")))?;
    if !valid_id(&id) {
        return Err(unprocessable(format!(
            "{name} {id:?} is invalid: it can have numbers, letters, underscores and dashes"
        )));
    }
    Ok(id)
}

fn channel<'a>(mp: &'a MediaPackage, id: &str) -> Result<&'a Channel, Fail> {
    mp.channels.get(id).ok_or_else(|| not_found("channel", id))
}

fn origin_endpoint<'a>(mp: &'a MediaPackage, id: &str) -> Result<&'a OriginEndpoint, Fail> {
    mp.origin_endpoints
        .get(id)
        .ok_or_else(|| not_found("origin endpoint", id))
}

/// ISO 8601 with an explicit offset, as MediaPackage v1 writes `createdAt`.
fn created_at(ms: u64) -> String {
    let z = crate::iam::iso8601(ms);
    format!("{}+00:00", z.trim_end_matches('Z'))
}

fn host(ctx: &mut Ctx) -> String {
    format!(
        "https://{}.mediapackage.{}.amazonaws.com",
        ctx.hex(16),
        ctx.region
    )
}

fn channel_json(c: &Channel) -> Value {
    let mut o = Map::new();
    o.insert("arn".into(), json!(c.arn));
    o.insert("createdAt".into(), json!(created_at(c.created_at_ms)));
    if let Some(d) = &c.description {
        o.insert("description".into(), json!(d));
    }
    o.insert("egressAccessLogs".into(), json!({}));
    let endpoints: Vec<Value> = c
        .ingest_endpoints
        .iter()
        .map(|e| json!({"id": e.id, "password": e.password, "url": e.url, "username": e.username}))
        .collect();
    o.insert("hlsIngest".into(), json!({ "ingestEndpoints": endpoints }));
    o.insert("id".into(), json!(c.id));
    o.insert("ingressAccessLogs".into(), json!({}));
    o.insert("tags".into(), json!(c.tags));
    Value::Object(o)
}

fn create_channel(mp: &mut MediaPackage, ctx: &mut Ctx, body: &Value) -> Result<Value, Fail> {
    let id = required_id(body, "id")?;
    let description = str_member(body, "description")?;
    let tags = tags_member(body, "tags")?;
    if mp.channels.contains_key(&id) {
        return Err(unprocessable(format!(
            "channel with id {id} already exists"
        )));
    }
    let internal = ctx.hex(32);
    let mut ingest_endpoints = Vec::new();
    for _ in 0..2 {
        let endpoint_id = ctx.hex(32);
        let url = format!("{}/in/v2/{internal}/{endpoint_id}/channel", host(ctx));
        ingest_endpoints.push(IngestEndpoint {
            id: endpoint_id,
            url,
            username: ctx.hex(32),
            password: ctx.hex(32),
        });
    }
    let c = Channel {
        arn: format!(
            "arn:aws:mediapackage:{}:{}:channels/{internal}",
            ctx.region, ctx.account
        ),
        id: id.clone(),
        description,
        created_at_ms: ctx.now_ms,
        ingest_endpoints,
        tags,
    };
    let answer = channel_json(&c);
    mp.channels.insert(id, c);
    Ok(answer)
}

fn update_channel(mp: &mut MediaPackage, id: &str, body: &Value) -> Result<Value, Fail> {
    let description = str_member(body, "description")?;
    let c = mp
        .channels
        .get_mut(id)
        .ok_or_else(|| not_found("channel", id))?;
    c.description = description;
    Ok(channel_json(c))
}

fn delete_channel(mp: &mut MediaPackage, id: &str) -> Result<Value, Fail> {
    channel(mp, id)?;
    let endpoints: Vec<&str> = mp
        .origin_endpoints
        .values()
        .filter(|e| e.channel_id == id)
        .map(|e| e.id.as_str())
        .collect();
    if !endpoints.is_empty() {
        return Err(unprocessable(format!(
            "channel {id} still has origin endpoints ({}): delete them before the channel",
            endpoints.join(", ")
        )));
    }
    mp.channels.remove(id);
    Ok(json!({}))
}

/// A new password for one ingest endpoint (`endpoint` given) or, for the deprecated
/// RotateChannelCredentials, a new username and password for the first one.
fn rotate_credentials(
    mp: &mut MediaPackage,
    ctx: &mut Ctx,
    id: &str,
    endpoint: Option<&str>,
) -> Result<Value, Fail> {
    let c = mp
        .channels
        .get_mut(id)
        .ok_or_else(|| not_found("channel", id))?;
    match endpoint {
        Some(eid) => {
            let e = c
                .ingest_endpoints
                .iter_mut()
                .find(|e| e.id == eid)
                .ok_or_else(|| not_found("ingest endpoint", eid))?;
            e.password = ctx.hex(32);
        }
        None => {
            if let Some(e) = c.ingest_endpoints.first_mut() {
                e.username = ctx.hex(32);
                e.password = ctx.hex(32);
            }
        }
    }
    Ok(channel_json(c))
}

/// One page of `items` (sorted by id) after the token, as `(page, nextToken)`.
fn page<'a, T>(
    map: &'a BTreeMap<String, T>,
    req: &Req,
    keep: impl Fn(&T) -> bool,
) -> Result<(Vec<&'a T>, Option<String>), Fail> {
    let max = match req.query_param("maxResults") {
        None => 50,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(unprocessable("maxResults must be between 1 and 1000")),
        },
    };
    let start = match req.query_param("nextToken") {
        None | Some("") => Bound::Unbounded,
        Some(t) => Bound::Excluded(
            unhex(t).ok_or_else(|| unprocessable(format!("invalid nextToken {t:?}")))?,
        ),
    };
    let mut items: Vec<(&String, &T)> = map
        .range::<String, _>((start, Bound::Unbounded))
        .filter(|(_, v)| keep(v))
        .take(max + 1)
        .collect();
    let next = if items.len() > max {
        items.truncate(max);
        items.last().map(|(k, _)| hex_encode(k))
    } else {
        None
    };
    Ok((items.into_iter().map(|(_, v)| v).collect(), next))
}

fn hex_encode(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn list_channels(mp: &MediaPackage, req: &Req) -> Result<Value, Fail> {
    let (items, next) = page(&mp.channels, req, |_| true)?;
    let mut o = Map::new();
    o.insert(
        "channels".into(),
        Value::Array(items.into_iter().map(channel_json).collect()),
    );
    if let Some(t) = next {
        o.insert("nextToken".into(), json!(t));
    }
    Ok(Value::Object(o))
}

fn list_origin_endpoints(mp: &MediaPackage, req: &Req) -> Result<Value, Fail> {
    let channel_id = req.query_param("channelId").filter(|s| !s.is_empty());
    let (items, next) = page(&mp.origin_endpoints, req, |e| {
        channel_id.is_none_or(|c| e.channel_id == c)
    })?;
    let mut o = Map::new();
    if let Some(t) = next {
        o.insert("nextToken".into(), json!(t));
    }
    o.insert(
        "originEndpoints".into(),
        Value::Array(items.into_iter().map(origin_endpoint_json).collect()),
    );
    Ok(Value::Object(o))
}

const PACKAGE_KINDS: [&str; 4] = ["cmafPackage", "dashPackage", "hlsPackage", "mssPackage"];

fn manifest_url(url_base: &str, kind: &str, manifest_name: &str) -> String {
    match kind {
        "dashPackage" => format!("{url_base}/{manifest_name}.mpd"),
        "mssPackage" => format!("{url_base}/{manifest_name}.ism/Manifest"),
        _ => format!("{url_base}/{manifest_name}.m3u8"),
    }
}

fn origin_endpoint_json(e: &OriginEndpoint) -> Value {
    let mut o = Map::new();
    o.insert("arn".into(), json!(e.arn));
    if let Some(a) = &e.authorization {
        o.insert("authorization".into(), a.clone());
    }
    o.insert("channelId".into(), json!(e.channel_id));
    o.insert("createdAt".into(), json!(created_at(e.created_at_ms)));
    if let Some(d) = &e.description {
        o.insert("description".into(), json!(d));
    }
    o.insert(e.package_kind.clone(), e.package.clone());
    o.insert("id".into(), json!(e.id));
    o.insert("manifestName".into(), json!(e.manifest_name));
    o.insert("origination".into(), json!(e.origination));
    o.insert(
        "startoverWindowSeconds".into(),
        json!(e.startover_window_seconds.unwrap_or(0)),
    );
    o.insert("tags".into(), json!(e.tags));
    o.insert(
        "timeDelaySeconds".into(),
        json!(e.time_delay_seconds.unwrap_or(0)),
    );
    o.insert(
        "url".into(),
        json!(manifest_url(&e.url_base, &e.package_kind, &e.manifest_name)),
    );
    o.insert("whitelist".into(), json!(e.whitelist));
    Value::Object(o)
}

/// The members of an endpoint that CreateOriginEndpoint and UpdateOriginEndpoint both set
/// (everything but id, channelId and tags), read from a request body with AWS's defaults.
struct EndpointSpec {
    description: Option<String>,
    manifest_name: String,
    origination: String,
    startover_window_seconds: Option<i64>,
    time_delay_seconds: Option<i64>,
    whitelist: Vec<String>,
    authorization: Option<Value>,
    package_kind: String,
    /// The package as given; defaults are filled once the URL is known.
    package: Value,
}

fn endpoint_spec(body: &Value) -> Result<EndpointSpec, Fail> {
    let given: Vec<&str> = PACKAGE_KINDS
        .into_iter()
        .filter(|k| body.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    let kind = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err(unprocessable(
                "one of hlsPackage, dashPackage, cmafPackage or mssPackage is required",
            ))
        }
        _ => {
            return Err(unprocessable(format!(
                "only one package may be given, got {}",
                given.join(", ")
            )))
        }
    };
    let package = body[kind].clone();
    if !package.is_object() {
        return Err(unprocessable(format!("{kind} must be an object")));
    }
    let manifest_name = str_member(body, "manifestName")?.unwrap_or_else(|| "index".into());
    if !valid_id(&manifest_name) {
        return Err(unprocessable(format!(
            "manifestName {manifest_name:?} is invalid"
        )));
    }
    let origination = str_member(body, "origination")?.unwrap_or_else(|| "ALLOW".into());
    check_enum("origination", &origination, &["ALLOW", "DENY"])?;
    let startover = int_member(body, "startoverWindowSeconds")?.filter(|s| *s != 0);
    let delay = int_member(body, "timeDelaySeconds")?.filter(|s| *s != 0);
    if let Some(s) = startover {
        if !(0..=1_209_600).contains(&s) {
            return Err(unprocessable(
                "startoverWindowSeconds must be between 0 and 1209600",
            ));
        }
    }
    if let Some(d) = delay {
        if !(5..=86_400).contains(&d) {
            return Err(unprocessable(
                "timeDelaySeconds must be between 5 and 86400",
            ));
        }
        if startover.is_some_and(|s| d >= s) {
            return Err(unprocessable(
                "timeDelaySeconds must be less than startoverWindowSeconds",
            ));
        }
    }
    let whitelist = match body.get("whitelist") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| unprocessable("whitelist must be a list of CIDR strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(unprocessable("whitelist must be a list of CIDR strings")),
    };
    let authorization = match body.get("authorization") {
        None | Some(Value::Null) => None,
        Some(a) => {
            for m in ["cdnIdentifierSecret", "secretsRoleArn"] {
                if a.get(m).and_then(Value::as_str).is_none() {
                    return Err(unprocessable(format!("authorization.{m} is required")));
                }
            }
            Some(a.clone())
        }
    };
    Ok(EndpointSpec {
        description: str_member(body, "description")?,
        manifest_name,
        origination,
        startover_window_seconds: startover,
        time_delay_seconds: delay,
        whitelist,
        authorization,
        package_kind: kind.into(),
        package,
    })
}

fn check_enum(name: &str, value: &str, allowed: &[&str]) -> Result<(), Fail> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(unprocessable(format!(
            "{name} {value:?} is not one of {}",
            allowed.join(", ")
        )))
    }
}

const AD_MARKERS: [&str; 4] = ["NONE", "SCTE35_ENHANCED", "PASSTHROUGH", "DATERANGE"];
const PLAYLIST_TYPES: [&str; 3] = ["NONE", "EVENT", "VOD"];
const ADS_ON_DELIVERY: [&str; 4] = ["NONE", "RESTRICTED", "UNRESTRICTED", "BOTH"];
const STREAM_ORDERS: [&str; 3] = [
    "ORIGINAL",
    "VIDEO_BITRATE_ASCENDING",
    "VIDEO_BITRATE_DESCENDING",
];

fn default_ad_triggers() -> Value {
    json!([
        "SPLICE_INSERT",
        "PROVIDER_ADVERTISEMENT",
        "DISTRIBUTOR_ADVERTISEMENT",
        "PROVIDER_PLACEMENT_OPPORTUNITY",
        "DISTRIBUTOR_PLACEMENT_OPPORTUNITY"
    ])
}

fn default_stream_selection() -> Value {
    json!({
        "maxVideoBitsPerSecond": 2147483647,
        "minVideoBitsPerSecond": 0,
        "streamOrder": "ORIGINAL"
    })
}

/// `given` laid over `defaults` (one level deep; members outside the defaults and `extra`
/// are not in the shape and are dropped, as AWS's deserializer ignores them), then enum and
/// integer members checked.
fn overlay(defaults: Value, given: &Value, what: &str, extra: &[&str]) -> Result<Value, Fail> {
    let mut out = match defaults {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Some(g) = given.as_object() {
        for (k, v) in g {
            if v.is_null() || !(out.contains_key(k) || extra.contains(&k.as_str())) {
                continue;
            }
            if k == "streamSelection" {
                let merged = overlay(default_stream_selection(), v, "streamSelection", &[])?;
                out.insert(k.clone(), merged);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, v) in &out {
        let enums: Option<&[&str]> = match k.as_str() {
            "adMarkers" => Some(&AD_MARKERS),
            "playlistType" => Some(&PLAYLIST_TYPES),
            "adsOnDeliveryRestrictions" => Some(&ADS_ON_DELIVERY),
            "streamOrder" => Some(&STREAM_ORDERS),
            "manifestLayout" => Some(&["FULL", "COMPACT", "DRM_TOP_LEVEL_COMPACT"]),
            "profile" => Some(&["NONE", "HBBTV_1_5", "HYBRIDCAST", "DVB_DASH_2014"]),
            "segmentTemplateFormat" => Some(&[
                "NUMBER_WITH_TIMELINE",
                "TIME_WITH_TIMELINE",
                "NUMBER_WITH_DURATION",
            ]),
            "utcTiming" => Some(&["NONE", "HTTP-HEAD", "HTTP-ISO", "HTTP-XSDATE"]),
            _ => None,
        };
        if let Some(allowed) = enums {
            let s = v
                .as_str()
                .ok_or_else(|| unprocessable(format!("{what}.{k} must be a string")))?;
            check_enum(&format!("{what}.{k}"), s, allowed)?;
        }
        let integer = k.ends_with("Seconds") || k.ends_with("BitsPerSecond");
        if integer && v.as_i64().is_none_or(|n| n < 0) {
            return Err(unprocessable(format!(
                "{what}.{k} must be a non-negative integer"
            )));
        }
        if (k.starts_with("include") || k == "useAudioRenditionGroup") && !v.is_boolean() {
            return Err(unprocessable(format!("{what}.{k} must be a boolean")));
        }
    }
    Ok(Value::Object(out))
}

/// The package as AWS answers it: what was given, with the server defaults for the rest.
fn package_with_defaults(
    kind: &str,
    given: &Value,
    url_base: &str,
    manifest_name: &str,
) -> Result<Value, Fail> {
    match kind {
        "hlsPackage" => overlay(
            json!({
                "adMarkers": "NONE",
                "adTriggers": default_ad_triggers(),
                "adsOnDeliveryRestrictions": "RESTRICTED",
                "includeDvbSubtitles": false,
                "includeIframeOnlyStream": false,
                "playlistType": "NONE",
                "playlistWindowSeconds": 60,
                "programDateTimeIntervalSeconds": 0,
                "segmentDurationSeconds": 6,
                "streamSelection": default_stream_selection(),
                "useAudioRenditionGroup": false
            }),
            given,
            kind,
            &["encryption"],
        ),
        "dashPackage" => overlay(
            json!({
                "adTriggers": default_ad_triggers(),
                "adsOnDeliveryRestrictions": "RESTRICTED",
                "includeIframeOnlyStream": false,
                "manifestLayout": "FULL",
                "manifestWindowSeconds": 60,
                "minBufferTimeSeconds": 30,
                "minUpdatePeriodSeconds": 15,
                "periodTriggers": [],
                "profile": "NONE",
                "segmentDurationSeconds": 2,
                "segmentTemplateFormat": "NUMBER_WITH_TIMELINE",
                "streamSelection": default_stream_selection(),
                "suggestedPresentationDelaySeconds": 25,
                "utcTiming": "NONE"
            }),
            given,
            kind,
            &["encryption", "utcTimingUri"],
        ),
        "mssPackage" => overlay(
            json!({
                "manifestWindowSeconds": 60,
                "segmentDurationSeconds": 2,
                "streamSelection": default_stream_selection()
            }),
            given,
            kind,
            &["encryption"],
        ),
        _ => {
            let manifests = match given.get("hlsManifests") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(_) => return Err(unprocessable("cmafPackage.hlsManifests must be a list")),
            };
            let mut seen = Vec::new();
            let mut out = Vec::new();
            for m in &manifests {
                let id = required_id(m, "id").map_err(|f| {
                    unprocessable(format!("cmafPackage.hlsManifests: {}", f.message))
                })?;
                if seen.contains(&id) {
                    return Err(unprocessable(format!(
                        "cmafPackage.hlsManifests: duplicate id {id}"
                    )));
                }
                seen.push(id);
                let name = str_member(m, "manifestName")?.unwrap_or_else(|| manifest_name.into());
                let mut filled = overlay(
                    json!({
                        "adMarkers": "NONE",
                        "adTriggers": default_ad_triggers(),
                        "adsOnDeliveryRestrictions": "RESTRICTED",
                        "includeIframeOnlyStream": false,
                        "manifestName": name,
                        "playlistType": "NONE",
                        "playlistWindowSeconds": 60,
                        "programDateTimeIntervalSeconds": 0
                    }),
                    m,
                    "cmafPackage.hlsManifests",
                    &["id"],
                )?;
                filled["url"] = json!(format!("{url_base}/{name}.m3u8"));
                out.push(filled);
            }
            let mut rest = given.clone();
            if let Some(o) = rest.as_object_mut() {
                o.remove("hlsManifests");
            }
            let mut pkg = overlay(
                json!({
                    "segmentDurationSeconds": 6,
                    "streamSelection": default_stream_selection()
                }),
                &rest,
                kind,
                &["encryption", "segmentPrefix"],
            )?;
            pkg["hlsManifests"] = Value::Array(out);
            Ok(pkg)
        }
    }
}

fn create_origin_endpoint(
    mp: &mut MediaPackage,
    ctx: &mut Ctx,
    body: &Value,
) -> Result<Value, Fail> {
    let id = required_id(body, "id")?;
    let channel_id =
        str_member(body, "channelId")?.ok_or_else(|| unprocessable("channelId is required"))?;
    let tags = tags_member(body, "tags")?;
    let spec = endpoint_spec(body)?;
    if !mp.channel_visible_to_medialive(&channel_id, ctx.now_ms, ctx.consistency_ms) {
        return Err(not_found("channel", &channel_id));
    }
    if mp.origin_endpoints.contains_key(&id) {
        return Err(unprocessable(format!(
            "origin endpoint with id {id} already exists"
        )));
    }
    let url_base = format!("{}/out/v1/{}", host(ctx), ctx.hex(32));
    let package = package_with_defaults(
        &spec.package_kind,
        &spec.package,
        &url_base,
        &spec.manifest_name,
    )?;
    let arn_hex = ctx.hex(32);
    let e = OriginEndpoint {
        arn: format!(
            "arn:aws:mediapackage:{}:{}:origin_endpoints/{arn_hex}",
            ctx.region, ctx.account
        ),
        id: id.clone(),
        channel_id,
        created_at_ms: ctx.now_ms,
        url_base,
        description: spec.description,
        manifest_name: spec.manifest_name,
        origination: spec.origination,
        startover_window_seconds: spec.startover_window_seconds,
        time_delay_seconds: spec.time_delay_seconds,
        whitelist: spec.whitelist,
        authorization: spec.authorization,
        package_kind: spec.package_kind,
        package,
        tags,
    };
    let answer = origin_endpoint_json(&e);
    mp.origin_endpoints.insert(id, e);
    Ok(answer)
}

fn update_origin_endpoint(mp: &mut MediaPackage, id: &str, body: &Value) -> Result<Value, Fail> {
    let spec = endpoint_spec(body)?;
    let e = mp
        .origin_endpoints
        .get_mut(id)
        .ok_or_else(|| not_found("origin endpoint", id))?;
    let package = package_with_defaults(
        &spec.package_kind,
        &spec.package,
        &e.url_base,
        &spec.manifest_name,
    )?;
    e.description = spec.description;
    e.manifest_name = spec.manifest_name;
    e.origination = spec.origination;
    e.startover_window_seconds = spec.startover_window_seconds;
    e.time_delay_seconds = spec.time_delay_seconds;
    e.whitelist = spec.whitelist;
    e.authorization = spec.authorization;
    e.package_kind = spec.package_kind;
    e.package = package;
    Ok(origin_endpoint_json(e))
}

fn tags(
    mp: &mut MediaPackage,
    op: &str,
    arn: &str,
    body: &Value,
    req: &Req,
) -> Result<Value, Fail> {
    let tags = if let Some(c) = mp.channels.values_mut().find(|c| c.arn == arn) {
        &mut c.tags
    } else if let Some(e) = mp.origin_endpoints.values_mut().find(|e| e.arn == arn) {
        &mut e.tags
    } else {
        return Err(not_found("resource", arn));
    };
    match op {
        "TagResource" => {
            let given = tags_member(body, "tags")?;
            if given.is_empty() {
                return Err(unprocessable("tags is required"));
            }
            tags.extend(given);
        }
        "UntagResource" => {
            let keys: Vec<&str> = req
                .query
                .iter()
                .filter(|(k, _)| k == "tagKeys")
                .map(|(_, v)| v.as_str())
                .collect();
            if keys.is_empty() {
                return Err(unprocessable("tagKeys is required"));
            }
            for k in keys {
                tags.remove(k);
            }
        }
        _ => {}
    }
    Ok(json!({ "tags": tags }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    struct World {
        cloud: crate::Cloud,
        rng: rand::rngs::StdRng,
        now_ms: u64,
        consistency_ms: u64,
    }

    impl World {
        fn new() -> World {
            World {
                cloud: crate::Cloud::default(),
                rng: rand::rngs::StdRng::seed_from_u64(7),
                now_ms: 1_700_000_000_000,
                consistency_ms: 0,
            }
        }
        fn call(&mut self, method: &str, path_and_query: &str, body: Value) -> (u16, Value, Resp) {
            let (path, query) = match path_and_query.split_once('?') {
                Some((p, q)) => (p, q),
                None => (path_and_query, ""),
            };
            let req = Req {
                method: method.into(),
                path: path.into(),
                query: query
                    .split('&')
                    .filter(|s| !s.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        (k.to_string(), v.to_string())
                    })
                    .collect(),
                headers: vec![("content-type".into(), "application/json".into())],
                body: if body.is_null() {
                    Vec::new()
                } else {
                    serde_json::to_vec(&body).unwrap()
                },
            };
            let mut ctx = Ctx {
                now_ms: self.now_ms,
                speed: 1.0,
                account: "123456789012",
                region: "us-east-1",
                rng: &mut self.rng,
                consistency_ms: self.consistency_ms,
            };
            let resp = handle(&mut self.cloud, &mut ctx, &req);
            let v = if resp.body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&resp.body).unwrap()
            };
            (resp.status, v, resp)
        }
        fn channel(&mut self, id: &str) -> Value {
            let (s, v, _) = self.call("POST", "/channels", json!({ "id": id }));
            assert_eq!(s, 200, "{v}");
            v
        }
        fn hls_endpoint(&mut self, id: &str, channel: &str) -> Value {
            let (s, v, _) = self.call(
                "POST",
                "/origin_endpoints",
                json!({"id": id, "channelId": channel, "hlsPackage": {}}),
            );
            assert_eq!(s, 200, "{v}");
            v
        }
    }

    fn error_type(resp: &Resp) -> &str {
        resp.headers
            .iter()
            .find(|(k, _)| k == "x-amzn-errortype")
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    #[test]
    fn create_channel_answers_two_ingest_endpoints_with_credentials() {
        let mut w = World::new();
        let (s, v, resp) = w.call(
            "POST",
            "/channels",
            json!({"id": "live", "description": "d", "tags": {"team": "a"}}),
        );
        assert_eq!(s, 200);
        assert_eq!(resp.operation, "CreateChannel");
        assert_eq!(resp.resource.as_deref(), Some("live"));
        let arn = v["arn"].as_str().unwrap();
        let hex = arn
            .strip_prefix("arn:aws:mediapackage:us-east-1:123456789012:channels/")
            .unwrap();
        assert_eq!(hex.len(), 32);
        let eps = v["hlsIngest"]["ingestEndpoints"].as_array().unwrap();
        assert_eq!(eps.len(), 2);
        for e in eps {
            let url = e["url"].as_str().unwrap();
            assert!(url.starts_with("https://"), "{url}");
            assert!(url.contains(".mediapackage.us-east-1.amazonaws.com/in/v2/"));
            assert!(url.ends_with(&format!("/{}/channel", e["id"].as_str().unwrap())));
            assert_eq!(e["username"].as_str().unwrap().len(), 32);
            assert_eq!(e["password"].as_str().unwrap().len(), 32);
        }
        assert_ne!(eps[0]["url"], eps[1]["url"]);
        assert_ne!(eps[0]["password"], eps[1]["password"]);
        assert_eq!(v["tags"], json!({"team": "a"}));
        assert_eq!(v["createdAt"], json!("2023-11-14T22:13:20+00:00"));
    }

    #[test]
    fn duplicate_channel_id_is_unprocessable() {
        let mut w = World::new();
        w.channel("a");
        let (s, _, resp) = w.call("POST", "/channels", json!({"id": "a"}));
        assert_eq!(s, 422);
        assert_eq!(error_type(&resp), "UnprocessableEntityException");
    }

    #[test]
    fn unknown_channel_is_404_with_message() {
        let mut w = World::new();
        let (s, v, resp) = w.call("GET", "/channels/nope", Value::Null);
        assert_eq!(s, 404);
        assert_eq!(error_type(&resp), "NotFoundException");
        assert!(v["message"].as_str().unwrap().contains("nope"));
        assert_eq!(resp.operation, "DescribeChannel");
    }

    #[test]
    fn channel_with_endpoints_is_not_deleted() {
        let mut w = World::new();
        w.channel("c");
        w.hls_endpoint("e", "c");
        let (s, _, resp) = w.call("DELETE", "/channels/c", Value::Null);
        assert_eq!(s, 422);
        assert_eq!(error_type(&resp), "UnprocessableEntityException");
        let (s, _, _) = w.call("DELETE", "/origin_endpoints/e", Value::Null);
        assert_eq!(s, 202);
        let (s, _, _) = w.call("DELETE", "/channels/c", Value::Null);
        assert_eq!(s, 202);
        let (s, _, _) = w.call("DELETE", "/channels/c", Value::Null);
        assert_eq!(s, 404);
    }

    #[test]
    fn rotate_changes_one_password_only() {
        let mut w = World::new();
        let before = w.channel("c");
        let e0 = before["hlsIngest"]["ingestEndpoints"][0].clone();
        let e1 = before["hlsIngest"]["ingestEndpoints"][1].clone();
        let path = format!(
            "/channels/c/ingest_endpoints/{}/credentials",
            e1["id"].as_str().unwrap()
        );
        let (s, after, _) = w.call("PUT", &path, Value::Null);
        assert_eq!(s, 200);
        let a0 = &after["hlsIngest"]["ingestEndpoints"][0];
        let a1 = &after["hlsIngest"]["ingestEndpoints"][1];
        assert_eq!(a0, &e0);
        assert_ne!(a1["password"], e1["password"]);
        assert_eq!(a1["username"], e1["username"]);
        assert_eq!(a1["url"], e1["url"]);
        let (s, _, _) = w.call(
            "PUT",
            "/channels/c/ingest_endpoints/bad/credentials",
            Value::Null,
        );
        assert_eq!(s, 404);
    }

    #[test]
    fn endpoint_answers_defaults_and_url_per_package() {
        let mut w = World::new();
        w.channel("c");
        let v = w.hls_endpoint("hls", "c");
        let url = v["url"].as_str().unwrap();
        assert!(url.contains(".mediapackage.us-east-1.amazonaws.com/out/v1/"));
        assert!(url.ends_with("/index.m3u8"));
        assert_eq!(v["manifestName"], "index");
        assert_eq!(v["origination"], "ALLOW");
        let p = &v["hlsPackage"];
        assert_eq!(p["segmentDurationSeconds"], 6);
        assert_eq!(p["playlistWindowSeconds"], 60);
        assert_eq!(p["adMarkers"], "NONE");
        assert_eq!(p["streamSelection"]["streamOrder"], "ORIGINAL");
        for (kind, suffix) in [
            ("dashPackage", "/live.mpd"),
            ("mssPackage", "/live.ism/Manifest"),
            ("cmafPackage", "/live.m3u8"),
        ] {
            let (s, v, _) = w.call(
                "POST",
                "/origin_endpoints",
                json!({"id": kind, "channelId": "c", "manifestName": "live", kind: {
                    "hlsManifests": [{"id": "m1"}]
                }}),
            );
            assert_eq!(s, 200, "{v}");
            assert!(v["url"].as_str().unwrap().ends_with(suffix), "{v}");
            // hlsManifests is a CMAF member only: other packages drop it, as AWS does.
            assert_eq!(v[kind].get("hlsManifests").is_some(), kind == "cmafPackage");
        }
        let (_, v, _) = w.call("GET", "/origin_endpoints/cmafPackage", Value::Null);
        let m = &v["cmafPackage"]["hlsManifests"][0];
        assert_eq!(m["manifestName"], "live");
        assert!(m["url"].as_str().unwrap().ends_with("/live.m3u8"));
        assert_eq!(v["cmafPackage"]["segmentDurationSeconds"], 6);
    }

    #[test]
    fn endpoint_needs_exactly_one_package_and_an_existing_channel() {
        let mut w = World::new();
        w.channel("c");
        let (s, _, _) = w.call(
            "POST",
            "/origin_endpoints",
            json!({"id": "e", "channelId": "c"}),
        );
        assert_eq!(s, 422);
        let (s, _, _) = w.call(
            "POST",
            "/origin_endpoints",
            json!({"id": "e", "channelId": "c", "hlsPackage": {}, "dashPackage": {}}),
        );
        assert_eq!(s, 422);
        let (s, _, resp) = w.call(
            "POST",
            "/origin_endpoints",
            json!({"id": "e", "channelId": "nope", "hlsPackage": {}}),
        );
        assert_eq!(s, 404);
        assert_eq!(error_type(&resp), "NotFoundException");
        let (s, _, _) = w.call(
            "POST",
            "/origin_endpoints",
            json!({"id": "e", "channelId": "c", "hlsPackage": {"playlistType": "LIVE"}}),
        );
        assert_eq!(s, 422);
        let (s, _, _) = w.call(
            "POST",
            "/origin_endpoints",
            json!({"id": "e", "channelId": "c", "hlsPackage": {},
                   "startoverWindowSeconds": 60, "timeDelaySeconds": 120}),
        );
        assert_eq!(s, 422);
        w.hls_endpoint("e", "c");
        let (s, _, _) = w.call(
            "POST",
            "/origin_endpoints",
            json!({"id": "e", "channelId": "c", "hlsPackage": {}}),
        );
        assert_eq!(s, 422);
    }

    #[test]
    fn update_endpoint_resets_members_not_given() {
        let mut w = World::new();
        w.channel("c");
        let (s, created, _) = w.call(
            "POST",
            "/origin_endpoints",
            json!({"id": "e", "channelId": "c", "description": "x", "manifestName": "m",
                   "timeDelaySeconds": 30, "whitelist": ["10.0.0.0/8"], "tags": {"k": "v"},
                   "hlsPackage": {"segmentDurationSeconds": 2, "playlistWindowSeconds": 120}}),
        );
        assert_eq!(s, 200);
        assert_eq!(created["hlsPackage"]["segmentDurationSeconds"], 2);
        let (s, v, _) = w.call(
            "PUT",
            "/origin_endpoints/e",
            json!({"hlsPackage": {"playlistWindowSeconds": 30}}),
        );
        assert_eq!(s, 200);
        assert_eq!(v["hlsPackage"]["segmentDurationSeconds"], 6);
        assert_eq!(v["hlsPackage"]["playlistWindowSeconds"], 30);
        assert_eq!(v["manifestName"], "index");
        assert_eq!(v["timeDelaySeconds"], 0);
        assert_eq!(v["whitelist"], json!([]));
        assert!(v.get("description").is_none());
        assert_eq!(v["tags"], json!({"k": "v"}));
        assert_eq!(v["arn"], created["arn"]);
        assert_eq!(v["channelId"], "c");
        assert!(v["url"].as_str().unwrap().ends_with("/index.m3u8"));
        let base = |u: &Value| u.as_str().unwrap().rsplit_once('/').unwrap().0.to_string();
        assert_eq!(base(&v["url"]), base(&created["url"]));
        let (s, _, _) = w.call("PUT", "/origin_endpoints/zz", json!({"hlsPackage": {}}));
        assert_eq!(s, 404);
    }

    #[test]
    fn list_paginates_and_filters_by_channel() {
        let mut w = World::new();
        for c in ["a", "b", "c"] {
            w.channel(c);
        }
        let (_, p1, _) = w.call("GET", "/channels?maxResults=2", Value::Null);
        assert_eq!(p1["channels"].as_array().unwrap().len(), 2);
        let token = p1["nextToken"].as_str().unwrap().to_string();
        let (_, p2, _) = w.call(
            "GET",
            &format!("/channels?maxResults=2&nextToken={token}"),
            Value::Null,
        );
        assert_eq!(p2["channels"][0]["id"], "c");
        assert!(p2.get("nextToken").is_none());
        let (s, _, _) = w.call("GET", "/channels?nextToken=zz", Value::Null);
        assert_eq!(s, 422);
        w.hls_endpoint("e1", "a");
        w.hls_endpoint("e2", "b");
        w.hls_endpoint("e3", "a");
        let (_, v, _) = w.call("GET", "/origin_endpoints?channelId=a", Value::Null);
        let ids: Vec<&str> = v["originEndpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["e1", "e3"]);
        let (_, v, _) = w.call("GET", "/origin_endpoints", Value::Null);
        assert_eq!(v["originEndpoints"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn update_channel_sets_description() {
        let mut w = World::new();
        w.channel("c");
        let (s, v, _) = w.call("PUT", "/channels/c", json!({"description": "new"}));
        assert_eq!(s, 200);
        assert_eq!(v["description"], "new");
        let (_, v, _) = w.call("GET", "/channels/c", Value::Null);
        assert_eq!(v["description"], "new");
    }

    #[test]
    fn tags_on_channel_and_endpoint_arns() {
        let mut w = World::new();
        let c = w.channel("c");
        let arn = c["arn"].as_str().unwrap().to_string();
        let (s, v, resp) = w.call(
            "POST",
            &format!("/tags/{arn}"),
            json!({"tags": {"a": "1", "b": "2"}}),
        );
        assert_eq!(s, 204);
        assert!(v.is_null());
        assert_eq!(resp.operation, "TagResource");
        let (_, v, _) = w.call("GET", &format!("/tags/{arn}"), Value::Null);
        assert_eq!(v["tags"], json!({"a": "1", "b": "2"}));
        let (s, _, _) = w.call("DELETE", &format!("/tags/{arn}?tagKeys=a"), Value::Null);
        assert_eq!(s, 204);
        let (_, v, _) = w.call("GET", "/channels/c", Value::Null);
        assert_eq!(v["tags"], json!({"b": "2"}));
        let e = w.hls_endpoint("e", "c");
        let earn = e["arn"].as_str().unwrap().to_string();
        w.call(
            "POST",
            &format!("/tags/{earn}"),
            json!({"tags": {"x": "y"}}),
        );
        let (_, v, _) = w.call("GET", "/origin_endpoints/e", Value::Null);
        assert_eq!(v["tags"], json!({"x": "y"}));
        let (s, _, _) = w.call(
            "GET",
            "/tags/arn:aws:mediapackage:us-east-1:1:channels/x",
            Value::Null,
        );
        assert_eq!(s, 404);
    }

    #[test]
    fn young_channel_is_invisible_until_consistency_window_passes() {
        let mut w = World::new();
        w.consistency_ms = 500;
        w.channel("c");
        let (s, _, _) = w.call(
            "POST",
            "/origin_endpoints",
            json!({"id": "e", "channelId": "c", "hlsPackage": {}}),
        );
        assert_eq!(s, 404);
        let created = w.now_ms;
        assert!(!w
            .cloud
            .mediapackage
            .channel_visible_to_medialive("c", created + 499, 500));
        assert!(w
            .cloud
            .mediapackage
            .channel_visible_to_medialive("c", created + 500, 500));
        assert!(!w
            .cloud
            .mediapackage
            .channel_visible_to_medialive("x", created + 500, 0));
        w.now_ms += 500;
        w.hls_endpoint("e", "c");
    }

    #[test]
    fn malformed_body_is_answered_by_its_operation() {
        let mut w = World::new();
        let req = Req {
            method: "POST".into(),
            path: "/channels".into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: b"{not json".to_vec(),
        };
        let mut ctx = Ctx {
            now_ms: w.now_ms,
            speed: 1.0,
            account: "123456789012",
            region: "us-east-1",
            rng: &mut w.rng,
            consistency_ms: 0,
        };
        let resp = handle(&mut w.cloud, &mut ctx, &req);
        assert_eq!(resp.status, 422);
        assert_eq!(resp.operation, "CreateChannel");
        assert_eq!(error_type(&resp), "UnprocessableEntityException");
    }

    #[test]
    fn state_survives_a_json_round_trip() {
        let mut w = World::new();
        w.channel("c");
        w.hls_endpoint("e", "c");
        let text = serde_json::to_string(&w.cloud.mediapackage).unwrap();
        let back: MediaPackage = serde_json::from_str(&text).unwrap();
        assert_eq!(back.channels["c"].ingest_endpoints.len(), 2);
        assert_eq!(back.origin_endpoints["e"].package_kind, "hlsPackage");
    }
}

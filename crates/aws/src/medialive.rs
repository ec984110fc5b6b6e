//! MediaLive: channels, inputs, input security groups.

use std::time::Duration;

use aws_sdk_medialive::operation::create_channel::CreateChannelError;
use aws_sdk_medialive::operation::update_channel::UpdateChannelError;
use aws_sdk_medialive::operation::update_channel_class::UpdateChannelClassError;
use aws_sdk_medialive::types::{ChannelClass, InputType, InputWhitelistRuleCidr, LogLevel};
use aws_sdk_medialive::Client;
use livestack_model::{Address, Kind};
use livestack_plan::{Hasher, ObservedResource};
use serde_json::{json, Map, Value as Json};

use crate::error::{self, Error};
use crate::raw::{self, Capture};
use crate::{str_member, tags, ChannelWait};

/// The members of a channel spec (see `livestack_model`).
const CHANNEL_MEMBERS: &[&str] = &[
    "Name",
    "ChannelClass",
    "RoleArn",
    "LogLevel",
    "InputSpecification",
    "InputAttachments",
    "Destinations",
    "EncoderSettings",
    "Tags",
];
/// Channel members sent through the typed builders; the rest travels raw.
const CHANNEL_TYPED: &[&str] = &["Name", "ChannelClass", "RoleArn", "LogLevel", "Tags"];
const INPUT_TYPED: &[&str] = &["Name", "Type", "InputSecurityGroups", "Tags"];

/// The `path: message` lines of a 422's `validationErrors`.
macro_rules! validation {
    ($err:expr, $ty:ident) => {{
        match $err.as_service_error() {
            Some($ty::UnprocessableEntityException(u)) => u
                .validation_errors()
                .iter()
                .map(|v| {
                    format!(
                        "{}: {}",
                        v.element_path().unwrap_or_default(),
                        v.error_message().unwrap_or_default()
                    )
                })
                .collect::<Vec<String>>(),
            _ => Vec::new(),
        }
    }};
}

fn channel_res(id: &str) -> String {
    format!("medialive channel {id}")
}

fn input_res(id: &str) -> String {
    format!("medialive input {id}")
}

// ---- channels ----

pub(crate) async fn read_channel(
    c: &Client,
    res: &str,
    id: &str,
    h: Option<&Hasher>,
) -> Result<Option<ObservedResource>, Error> {
    let cap = Capture::default();
    let sent = c
        .describe_channel()
        .channel_id(id)
        .customize()
        .interceptor(cap.clone())
        .send()
        .await;
    match sent {
        Ok(_) => {
            let raw = cap.json();
            crate::read_answer("DescribeChannel", res, &raw, observe_channel(&raw, h))
        }
        Err(e) => none_if_not_found(error::sdk("DescribeChannel", res, e, &[])),
    }
}

pub(crate) async fn create_channel(
    c: &Client,
    res: &str,
    spec: &Json,
    token: &str,
    h: Option<&Hasher>,
) -> Result<ObservedResource, Error> {
    let secrets = stream_names(spec.get("Destinations"));
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let cap = Capture::default();
    crate::until_visible(|| async {
        c.create_channel()
            .set_name(str_member(spec, "Name"))
            .set_channel_class(
                str_member(spec, "ChannelClass").map(|s| ChannelClass::from(s.as_str())),
            )
            .set_role_arn(str_member(spec, "RoleArn"))
            .set_log_level(str_member(spec, "LogLevel").map(|s| LogLevel::from(s.as_str())))
            .request_id(token)
            .set_tags(Some(tags::of(spec)))
            .customize()
            .interceptor(cap.clone())
            .mutate_request(raw::patch(raw::rest_members(spec, CHANNEL_TYPED)))
            .send()
            .await
            .map_err(|e| {
                let details = validation!(e, CreateChannelError);
                error::with_details(
                    error::sdk("CreateChannel", res, e, &secrets),
                    &details,
                    &secrets,
                )
            })
    })
    .await?;
    let answer = cap.json();
    observe_channel(&answer["channel"], h)
        .ok_or_else(|| unexpected("CreateChannel", res, "no channel in the answer"))
}

pub(crate) async fn update_channel(
    c: &Client,
    res: &str,
    id: &str,
    spec: &Json,
    current: &ObservedResource,
    h: Option<&Hasher>,
) -> Result<ObservedResource, Error> {
    let secrets = stream_names(spec.get("Destinations"));
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let cap = Capture::default();
    // UpdateChannel has no ChannelClass (UpdateChannelClass) and no Tags (CreateTags/DeleteTags).
    crate::until_visible(|| async {
        c.update_channel()
            .channel_id(id)
            .set_name(str_member(spec, "Name"))
            .set_role_arn(str_member(spec, "RoleArn"))
            .set_log_level(str_member(spec, "LogLevel").map(|s| LogLevel::from(s.as_str())))
            .customize()
            .interceptor(cap.clone())
            .mutate_request(raw::patch(raw::rest_members(spec, CHANNEL_TYPED)))
            .send()
            .await
            .map_err(|e| {
                let details = validation!(e, UpdateChannelError);
                error::with_details(
                    error::sdk("UpdateChannel", res, e, &secrets),
                    &details,
                    &secrets,
                )
            })
    })
    .await?;
    let answer = cap.json();
    let mut observed = observe_channel(&answer["channel"], h)
        .ok_or_else(|| unexpected("UpdateChannel", res, "no channel in the answer"))?;
    let arn = observed.arn.clone().or_else(|| current.arn.clone());
    reconcile_tags(c, res, arn.as_deref(), &current.spec, spec).await?;
    observed.spec["Tags"] =
        tags::to_json(tags::of(spec).iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(observed)
}

pub(crate) async fn delete_channel(c: &Client, res: &str, id: &str) -> Result<(), Error> {
    c.delete_channel()
        .channel_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::sdk("DeleteChannel", res, e, &[]))
}

pub(crate) async fn start_channel(c: &Client, id: &str) -> Result<(), Error> {
    c.start_channel()
        .channel_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::sdk("StartChannel", &channel_res(id), e, &[]))
}

pub(crate) async fn stop_channel(c: &Client, id: &str) -> Result<(), Error> {
    c.stop_channel()
        .channel_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::sdk("StopChannel", &channel_res(id), e, &[]))
}

pub(crate) async fn update_channel_class(
    c: &Client,
    id: &str,
    class: &str,
    destinations: &Json,
) -> Result<(), Error> {
    let secrets = stream_names(Some(destinations));
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let mut members = Map::new();
    members.insert("destinations".into(), crate::case::to_camel(destinations));
    c.update_channel_class()
        .channel_id(id)
        .channel_class(ChannelClass::from(class))
        .customize()
        .mutate_request(raw::patch(members))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let details = validation!(e, UpdateChannelClassError);
            let err = error::sdk("UpdateChannelClass", &channel_res(id), e, &secrets);
            error::with_details(err, &details, &secrets)
        })
}

/// A channel answer (DescribeChannel's body, or the `channel` of a create/update answer) as
/// an observed resource; `None` for a DELETED channel.
fn observe_channel(raw: &Json, h: Option<&Hasher>) -> Option<ObservedResource> {
    let id = raw.get("id")?.as_str()?.to_string();
    let state = raw.get("state").and_then(Json::as_str).map(String::from);
    if state.as_deref() == Some("DELETED") {
        return None;
    }
    let arn = raw.get("arn").and_then(Json::as_str).map(String::from);
    let mut spec = raw::spec_of(raw, CHANNEL_MEMBERS);
    if let Some(dests) = spec.get_mut("Destinations").and_then(Json::as_array_mut) {
        for d in dests {
            let settings = d.get_mut("Settings").and_then(Json::as_array_mut);
            for s in settings.into_iter().flatten() {
                let Some(obj) = s.as_object_mut() else {
                    continue;
                };
                match (obj.get("StreamName").and_then(Json::as_str), h) {
                    (Some(""), _) | (None, _) => {}
                    (Some(key), Some(h)) => {
                        let hashed = h.sensitive(key);
                        obj.insert("StreamName".into(), hashed);
                    }
                    (Some(_), None) => {
                        obj.remove("StreamName");
                    }
                }
            }
        }
    }
    Some(ObservedResource {
        outputs: json!({ "Id": id, "Arn": arn, "State": state }),
        id,
        arn,
        spec,
        status: state,
    })
}

/// The RTMP stream keys in a channel's Destinations (to cut out of error messages).
fn stream_names(destinations: Option<&Json>) -> Vec<String> {
    let mut out = Vec::new();
    for d in destinations.and_then(Json::as_array).into_iter().flatten() {
        for s in d
            .get("Settings")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = s.get("StreamName").and_then(Json::as_str) {
                if !k.is_empty() {
                    out.push(k.to_string());
                }
            }
        }
    }
    out
}

/// A channel's class: `None` when it is not found.
pub(crate) async fn channel_class(c: &Client, id: &str) -> Result<Option<String>, Error> {
    match c.describe_channel().channel_id(id).send().await {
        Ok(o) => Ok(o.channel_class().map(|s| s.as_str().to_string())),
        Err(e) => none_if_not_found(error::sdk("DescribeChannel", &channel_res(id), e, &[])),
    }
}

/// A channel's state: `None` when it is not found.
pub(crate) async fn channel_state(c: &Client, id: &str) -> Result<Option<String>, Error> {
    match c.describe_channel().channel_id(id).send().await {
        Ok(o) => Ok(Some(
            o.state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        )),
        Err(e) => none_if_not_found(error::sdk("DescribeChannel", &channel_res(id), e, &[])),
    }
}

/// Waits until the channel is `want`, polling DescribeChannel on [`crate::Poll`]'s schedule
/// (a tenth of the time waited so far, 50 ms to 5 s): a transition is seen within about a
/// tenth of its length, where the SDK's waiters (3 to 5 s, then growing up to two minutes)
/// would overshoot a 60 s start by up to a minute. CREATE_FAILED and UPDATE_FAILED, or a
/// channel going away while it is waited for, are errors.
pub(crate) async fn wait_channel(
    c: &Client,
    id: &str,
    want: ChannelWait,
    timeout: Duration,
) -> Result<(), Error> {
    let res = channel_res(id);
    let failed = |state: &str| Error::FailedState {
        resource: res.clone(),
        state: state.to_string(),
        want: want.to_string(),
    };
    let mut poll = crate::Poll::new(timeout);
    loop {
        let state = channel_state(c, id).await?;
        let state = match (want, state) {
            (ChannelWait::Deleted, None) => return Ok(()),
            (_, None) => return Err(failed("not found")),
            (_, Some(s)) => s,
        };
        match (want, state.as_str()) {
            (ChannelWait::Idle, "IDLE")
            | (ChannelWait::Running, "RUNNING")
            | (ChannelWait::Deleted, "DELETED") => return Ok(()),
            (_, "CREATE_FAILED" | "UPDATE_FAILED") => return Err(failed(&state)),
            (ChannelWait::Idle | ChannelWait::Running, "DELETING" | "DELETED") => {
                return Err(failed(&state))
            }
            _ => {}
        }
        if !poll.sleep().await {
            return Err(Error::Timeout {
                resource: res.clone(),
                want: want.to_string(),
                after: timeout,
            });
        }
    }
}

// ---- inputs ----

pub(crate) async fn read_input(
    c: &Client,
    res: &str,
    id: &str,
) -> Result<Option<ObservedResource>, Error> {
    let cap = Capture::default();
    let sent = c
        .describe_input()
        .input_id(id)
        .customize()
        .interceptor(cap.clone())
        .send()
        .await;
    match sent {
        Ok(_) => {
            let raw = cap.json();
            crate::read_answer("DescribeInput", res, &raw, observe_input(&raw))
        }
        Err(e) => none_if_not_found(error::sdk("DescribeInput", res, e, &[])),
    }
}

pub(crate) async fn create_input(
    c: &Client,
    res: &str,
    spec: &Json,
    token: &str,
) -> Result<ObservedResource, Error> {
    let cap = Capture::default();
    c.create_input()
        .set_name(str_member(spec, "Name"))
        .set_type(str_member(spec, "Type").map(|s| InputType::from(s.as_str())))
        .set_input_security_groups(strings(spec, "InputSecurityGroups"))
        .request_id(token)
        .set_tags(Some(tags::of(spec)))
        .customize()
        .interceptor(cap.clone())
        .mutate_request(raw::patch(raw::rest_members(spec, INPUT_TYPED)))
        .send()
        .await
        .map_err(|e| error::sdk("CreateInput", res, e, &[]))?;
    observe_input(&cap.json()["input"])
        .ok_or_else(|| unexpected("CreateInput", res, "no input in the answer"))
}

pub(crate) async fn update_input(
    c: &Client,
    res: &str,
    id: &str,
    spec: &Json,
    current: &ObservedResource,
) -> Result<ObservedResource, Error> {
    let cap = Capture::default();
    c.update_input()
        .input_id(id)
        .set_name(str_member(spec, "Name"))
        .set_input_security_groups(strings(spec, "InputSecurityGroups"))
        .customize()
        .interceptor(cap.clone())
        .mutate_request(raw::patch(raw::rest_members(spec, INPUT_TYPED)))
        .send()
        .await
        .map_err(|e| error::sdk("UpdateInput", res, e, &[]))?;
    let mut observed = observe_input(&cap.json()["input"])
        .ok_or_else(|| unexpected("UpdateInput", res, "no input in the answer"))?;
    let arn = observed.arn.clone().or_else(|| current.arn.clone());
    reconcile_tags(c, res, arn.as_deref(), &current.spec, spec).await?;
    observed.spec["Tags"] =
        tags::to_json(tags::of(spec).iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(observed)
}

pub(crate) async fn delete_input(c: &Client, res: &str, id: &str) -> Result<(), Error> {
    c.delete_input()
        .input_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::sdk("DeleteInput", res, e, &[]))
}

fn observe_input(raw: &Json) -> Option<ObservedResource> {
    let id = raw.get("id")?.as_str()?.to_string();
    let state = raw.get("state").and_then(Json::as_str).map(String::from);
    if state.as_deref() == Some("DELETED") {
        return None;
    }
    let arn = raw.get("arn").and_then(Json::as_str).map(String::from);
    let p = raw::pascal_object(raw);
    let mut spec = Map::new();
    for m in ["Name", "Type", "Sources"] {
        if let Some(v) = p.get(m) {
            spec.insert(m.into(), v.clone());
        }
    }
    // DescribeInput answers `destinations[{url, ip, port}]`: the StreamName the spec gives is
    // the URL's path (`rtmp://IP:1935/app/instance` -> `app/instance`).
    let mut out_dests = Vec::new();
    if let Some(dests) = p.get("Destinations").and_then(Json::as_array) {
        let mut with_names = Vec::new();
        for d in dests {
            let mut d = d.clone();
            let url = d.get("Url").and_then(Json::as_str).map(String::from);
            if d.get("StreamName").is_none() {
                if let Some(name) = url.as_deref().and_then(stream_name_of_url) {
                    d["StreamName"] = json!(name);
                }
            }
            out_dests.push(json!({ "StreamName": d.get("StreamName"), "Url": url }));
            with_names.push(d);
        }
        spec.insert("Destinations".into(), Json::Array(with_names));
    }
    // DescribeInput calls them `securityGroups`; CreateInput `inputSecurityGroups`.
    if let Some(v) = p
        .get("InputSecurityGroups")
        .or_else(|| p.get("SecurityGroups"))
    {
        spec.insert("InputSecurityGroups".into(), v.clone());
    }
    spec.insert("Tags".into(), tags::from_raw(raw.get("tags")));
    Some(ObservedResource {
        outputs: json!({
            "Id": id,
            "Arn": arn,
            "InputClass": p.get("InputClass"),
            "Destinations": out_dests,
        }),
        id,
        arn,
        spec: Json::Object(spec),
        status: state,
    })
}

/// `rtmp://203.0.113.1:1935/imday/a` -> `imday/a`.
fn stream_name_of_url(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    (!path.is_empty()).then(|| path.to_string())
}

pub(crate) async fn wait_input_detached(
    c: &Client,
    id: &str,
    timeout: Duration,
) -> Result<(), Error> {
    let res = input_res(id);
    let mut poll = crate::Poll::new(timeout);
    loop {
        let state = match c.describe_input().input_id(id).send().await {
            Ok(o) => o
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            Err(e) => {
                let e = error::sdk("DescribeInput", &res, e, &[]);
                return if e.is_not_found() { Ok(()) } else { Err(e) };
            }
        };
        if matches!(state.as_str(), "DETACHED" | "DELETED" | "DELETING") {
            return Ok(());
        }
        if !poll.sleep().await {
            return Err(Error::Timeout {
                resource: res.clone(),
                want: "DETACHED".into(),
                after: timeout,
            });
        }
    }
}

// ---- input security groups ----

pub(crate) async fn read_sg(
    c: &Client,
    res: &str,
    id: &str,
) -> Result<Option<ObservedResource>, Error> {
    let cap = Capture::default();
    let sent = c
        .describe_input_security_group()
        .input_security_group_id(id)
        .customize()
        .interceptor(cap.clone())
        .send()
        .await;
    match sent {
        Ok(_) => {
            let raw = cap.json();
            crate::read_answer("DescribeInputSecurityGroup", res, &raw, observe_sg(&raw))
        }
        Err(e) => none_if_not_found(error::sdk("DescribeInputSecurityGroup", res, e, &[])),
    }
}

pub(crate) async fn create_sg(
    c: &Client,
    res: &str,
    spec: &Json,
) -> Result<ObservedResource, Error> {
    let cap = Capture::default();
    // No idempotency token: the caller retries (see `Clients::create_sg`), not the SDK.
    let no_retries = aws_sdk_medialive::config::Builder::default()
        .retry_config(aws_sdk_medialive::config::retry::RetryConfig::disabled());
    c.create_input_security_group()
        .set_whitelist_rules(Some(whitelist(spec)))
        .set_tags(Some(tags::of(spec)))
        .customize()
        .config_override(no_retries)
        .interceptor(cap.clone())
        .send()
        .await
        .map_err(|e| error::sdk("CreateInputSecurityGroup", res, e, &[]))?;
    observe_sg(&cap.json()["securityGroup"]).ok_or_else(|| {
        unexpected(
            "CreateInputSecurityGroup",
            res,
            "no security group in the answer",
        )
    })
}

pub(crate) async fn update_sg(
    c: &Client,
    res: &str,
    id: &str,
    spec: &Json,
    current: &ObservedResource,
) -> Result<ObservedResource, Error> {
    let cap = Capture::default();
    c.update_input_security_group()
        .input_security_group_id(id)
        .set_whitelist_rules(Some(whitelist(spec)))
        .customize()
        .interceptor(cap.clone())
        .send()
        .await
        .map_err(|e| error::sdk("UpdateInputSecurityGroup", res, e, &[]))?;
    let mut observed = observe_sg(&cap.json()["securityGroup"]).ok_or_else(|| {
        unexpected(
            "UpdateInputSecurityGroup",
            res,
            "no security group in the answer",
        )
    })?;
    let arn = observed.arn.clone().or_else(|| current.arn.clone());
    reconcile_tags(c, res, arn.as_deref(), &current.spec, spec).await?;
    observed.spec["Tags"] =
        tags::to_json(tags::of(spec).iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(observed)
}

pub(crate) async fn delete_sg(c: &Client, res: &str, id: &str) -> Result<(), Error> {
    c.delete_input_security_group()
        .input_security_group_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::sdk("DeleteInputSecurityGroup", res, e, &[]))
}

fn whitelist(spec: &Json) -> Vec<InputWhitelistRuleCidr> {
    spec.get("WhitelistRules")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("Cidr").and_then(Json::as_str))
        .map(|cidr| InputWhitelistRuleCidr::builder().cidr(cidr).build())
        .collect()
}

fn observe_sg(raw: &Json) -> Option<ObservedResource> {
    let id = raw.get("id")?.as_str()?.to_string();
    let state = raw.get("state").and_then(Json::as_str).map(String::from);
    if state.as_deref() == Some("DELETED") {
        return None;
    }
    let arn = raw.get("arn").and_then(Json::as_str).map(String::from);
    Some(ObservedResource {
        spec: raw::spec_of(raw, &["WhitelistRules", "Tags"]),
        outputs: json!({ "Id": id, "Arn": arn }),
        id,
        arn,
        status: state,
    })
}

// ---- shared ----

/// CreateTags / DeleteTags for the difference between `current`'s and `desired`'s Tags.
pub(crate) async fn reconcile_tags(
    c: &Client,
    res: &str,
    arn: Option<&str>,
    current: &Json,
    desired: &Json,
) -> Result<(), Error> {
    let diff = tags::Diff::new(current, desired);
    if diff.set.is_empty() && diff.remove.is_empty() {
        return Ok(());
    }
    let arn = arn.ok_or_else(|| unexpected("CreateTags", res, "the resource has no ARN"))?;
    if !diff.set.is_empty() {
        c.create_tags()
            .resource_arn(arn)
            .set_tags(Some(diff.set_map()))
            .send()
            .await
            .map_err(|e| error::sdk("CreateTags", res, e, &[]))?;
    }
    if !diff.remove.is_empty() {
        c.delete_tags()
            .resource_arn(arn)
            .set_tag_keys(Some(diff.remove.clone()))
            .send()
            .await
            .map_err(|e| error::sdk("DeleteTags", res, e, &[]))?;
    }
    Ok(())
}

pub(crate) async fn discover(c: &Client, stack: &str) -> Result<Vec<(Address, String)>, Error> {
    let mut out = Vec::new();
    let channels = c
        .list_channels()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| error::sdk("ListChannels", "medialive channels", e, &[]))?;
    for ch in channels {
        if ch.state().is_some_and(|s| s.as_str() == "DELETED") {
            continue;
        }
        if let (Some(a), Some(id)) = (
            tags::owned(ch.tags(), stack, Kind::MedialiveChannel),
            ch.id(),
        ) {
            out.push((a, id.to_string()));
        }
    }
    let inputs = c
        .list_inputs()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| error::sdk("ListInputs", "medialive inputs", e, &[]))?;
    for i in inputs {
        if i.state().is_some_and(|s| s.as_str() == "DELETED") {
            continue;
        }
        if let (Some(a), Some(id)) = (tags::owned(i.tags(), stack, Kind::MedialiveInput), i.id()) {
            out.push((a, id.to_string()));
        }
    }
    out.extend(discover_sgs(c, stack).await?);
    Ok(out)
}

/// The input security groups carrying `stack`'s ownership tags.
pub(crate) async fn discover_sgs(c: &Client, stack: &str) -> Result<Vec<(Address, String)>, Error> {
    let mut out = Vec::new();
    let groups = c
        .list_input_security_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| {
            error::sdk(
                "ListInputSecurityGroups",
                "medialive input security groups",
                e,
                &[],
            )
        })?;
    for g in groups {
        if g.state().is_some_and(|s| s.as_str() == "DELETED") {
            continue;
        }
        let kind = Kind::MedialiveInputSecurityGroup;
        if let (Some(a), Some(id)) = (tags::owned(g.tags(), stack, kind), g.id()) {
            out.push((a, id.to_string()));
        }
    }
    Ok(out)
}

fn strings(spec: &Json, name: &str) -> Option<Vec<String>> {
    spec.get(name)?.as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    })
}

fn none_if_not_found<T>(e: Error) -> Result<Option<T>, Error> {
    if e.is_not_found() {
        Ok(None)
    } else {
        Err(e)
    }
}

fn unexpected(operation: &'static str, res: &str, reason: &str) -> Error {
    Error::Unexpected {
        operation,
        resource: res.to_string(),
        reason: reason.to_string(),
    }
}

// ---- lists (refresh's bulk reads) ----

/// The largest page MediaLive's List operations return (their `maxResults` maximum).
const LIST_PAGE: i32 = 1000;

/// Every input, as [`read_input`] reads each (DELETED ones left out).
pub(crate) async fn list_inputs(c: &Client) -> Result<Vec<ObservedResource>, Error> {
    let pages = crate::Pages {
        operation: "ListInputs",
        resource: "medialive inputs",
        member: "inputs",
    };
    pages
        .collect(observe_input, |token, cap| async move {
            c.list_inputs()
                .max_results(LIST_PAGE)
                .set_next_token(token)
                .customize()
                .interceptor(cap)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::sdk(pages.operation, pages.resource, e, &[]))
        })
        .await
}

/// Every input security group, as [`read_sg`] reads each.
pub(crate) async fn list_sgs(c: &Client) -> Result<Vec<ObservedResource>, Error> {
    let pages = crate::Pages {
        operation: "ListInputSecurityGroups",
        resource: "medialive input security groups",
        member: "inputSecurityGroups",
    };
    pages
        .collect(observe_sg, |token, cap| async move {
            c.list_input_security_groups()
                .max_results(LIST_PAGE)
                .set_next_token(token)
                .customize()
                .interceptor(cap)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::sdk(pages.operation, pages.resource, e, &[]))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_come_from_push_urls() {
        assert_eq!(
            stream_name_of_url("rtmp://10.0.0.1:1935/imday/a").as_deref(),
            Some("imday/a")
        );
        assert_eq!(stream_name_of_url("rtmp://10.0.0.1:1935/"), None);
        assert_eq!(stream_name_of_url("nonsense"), None);
    }

    #[test]
    fn channel_answers_hash_stream_keys() {
        let raw = json!({
            "id": "1234", "arn": "arn:aws:medialive:us-east-1:1:channel:1234", "state": "IDLE",
            "name": "imday", "channelClass": "SINGLE_PIPELINE", "pipelinesRunningCount": 0,
            "destinations": [{ "id": "facebook", "settings": [{ "url": "rtmps://x/rtmp/", "streamName": "FB-KEY" }],
                               "mediaPackageSettings": [] }],
            "encoderSettings": { "timecodeConfig": { "source": "SYSTEMCLOCK" } },
            "tags": { "livestack:stack": "imday" }
        });
        let h = Hasher::new(b"k");
        let o = observe_channel(&raw, Some(&h)).unwrap();
        assert_eq!(
            o.spec["Destinations"][0]["Settings"][0]["StreamName"],
            h.sensitive("FB-KEY")
        );
        assert_eq!(
            o.spec["EncoderSettings"],
            json!({ "TimecodeConfig": { "Source": "SYSTEMCLOCK" } })
        );
        assert_eq!(o.spec["Tags"], json!({ "livestack:stack": "imday" }));
        assert!(o.spec.get("PipelinesRunningCount").is_none());
        assert_eq!(
            o.outputs,
            json!({ "Id": "1234", "Arn": "arn:aws:medialive:us-east-1:1:channel:1234", "State": "IDLE" })
        );
        assert_eq!(o.status.as_deref(), Some("IDLE"));
        let text = format!("{o:?}");
        assert!(!text.contains("FB-KEY"), "{text}");
        let unhashed = observe_channel(&raw, None).unwrap();
        assert!(!format!("{unhashed:?}").contains("FB-KEY"));
        let deleted = json!({ "id": "1", "state": "DELETED" });
        assert!(observe_channel(&deleted, Some(&h)).is_none());
    }

    #[test]
    fn input_answers_give_stream_names_and_security_groups() {
        let raw = json!({
            "id": "77", "arn": "arn:x", "state": "DETACHED", "name": "live-camera", "type": "RTMP_PUSH",
            "inputClass": "STANDARD", "sources": [], "securityGroups": ["5"],
            "destinations": [{ "url": "rtmp://1.2.3.4:1935/imday/a", "ip": "1.2.3.4", "port": "1935" }],
            "tags": {}
        });
        let o = observe_input(&raw).unwrap();
        assert_eq!(o.spec["Destinations"][0]["StreamName"], "imday/a");
        assert_eq!(o.spec["InputSecurityGroups"], json!(["5"]));
        assert_eq!(
            o.outputs["Destinations"],
            json!([{ "StreamName": "imday/a", "Url": "rtmp://1.2.3.4:1935/imday/a" }])
        );
        assert_eq!(o.outputs["InputClass"], "STANDARD");
    }
}

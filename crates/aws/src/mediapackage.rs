//! MediaPackage v1: channels and origin endpoints.

use aws_sdk_mediapackage::types::Origination;
use aws_sdk_mediapackage::Client;
use livestack_model::{Address, Kind};
use livestack_plan::ObservedResource;
use serde_json::{json, Value as Json};

use crate::error::{self, Error};
use crate::raw::{self, Capture};
use crate::{str_member, tags};

const ENDPOINT_MEMBERS: &[&str] = &[
    "Id",
    "ChannelId",
    "Description",
    "ManifestName",
    "StartoverWindowSeconds",
    "TimeDelaySeconds",
    "Whitelist",
    "Origination",
    "HlsPackage",
    "DashPackage",
    "CmafPackage",
    "MssPackage",
    "Authorization",
    "Tags",
];
/// Endpoint members sent through the typed builders; the packages travel raw.
const ENDPOINT_TYPED: &[&str] = &[
    "Id",
    "ChannelId",
    "Description",
    "ManifestName",
    "StartoverWindowSeconds",
    "TimeDelaySeconds",
    "Whitelist",
    "Origination",
    "Tags",
];

// ---- channels ----

pub(crate) async fn read_channel(
    c: &Client,
    res: &str,
    id: &str,
) -> Result<Option<ObservedResource>, Error> {
    let cap = Capture::default();
    let sent = c
        .describe_channel()
        .id(id)
        .customize()
        .interceptor(cap.clone())
        .send()
        .await;
    match sent {
        Ok(_) => {
            let raw = cap.json();
            crate::read_answer("DescribeChannel", res, &raw, observe_channel(&raw))
        }
        Err(e) => none_if_not_found(error::sdk("DescribeChannel", res, e, &[])),
    }
}

pub(crate) async fn create_channel(
    c: &Client,
    res: &str,
    spec: &Json,
) -> Result<ObservedResource, Error> {
    let cap = Capture::default();
    c.create_channel()
        .set_id(str_member(spec, "Id"))
        .set_description(str_member(spec, "Description"))
        .set_tags(Some(tags::of(spec)))
        .customize()
        .interceptor(cap.clone())
        .send()
        .await
        .map_err(|e| error::sdk("CreateChannel", res, e, &[]))?;
    observe_channel(&cap.json()).ok_or_else(|| unexpected("CreateChannel", res))
}

pub(crate) async fn update_channel(
    c: &Client,
    res: &str,
    id: &str,
    spec: &Json,
    current: &ObservedResource,
) -> Result<ObservedResource, Error> {
    let cap = Capture::default();
    c.update_channel()
        .id(id)
        .set_description(str_member(spec, "Description").or_else(|| Some(String::new())))
        .customize()
        .interceptor(cap.clone())
        .send()
        .await
        .map_err(|e| error::sdk("UpdateChannel", res, e, &[]))?;
    let mut observed =
        observe_channel(&cap.json()).ok_or_else(|| unexpected("UpdateChannel", res))?;
    let arn = observed.arn.clone().or_else(|| current.arn.clone());
    reconcile_tags(c, res, arn.as_deref(), &current.spec, spec).await?;
    observed.spec["Tags"] = desired_tags(spec);
    Ok(observed)
}

pub(crate) async fn delete_channel(c: &Client, res: &str, id: &str) -> Result<(), Error> {
    c.delete_channel()
        .id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::sdk("DeleteChannel", res, e, &[]))
}

/// A channel answer: the ingest endpoints' ids, URLs and usernames in the outputs, their
/// passwords nowhere.
fn observe_channel(raw: &Json) -> Option<ObservedResource> {
    let id = raw.get("id")?.as_str()?.to_string();
    let arn = raw.get("arn").and_then(Json::as_str).map(String::from);
    let endpoints: Vec<Json> = raw
        .pointer("/hlsIngest/ingestEndpoints")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|e| json!({ "Id": e.get("id"), "Url": e.get("url"), "Username": e.get("username") }))
        .collect();
    Some(ObservedResource {
        spec: raw::spec_of(raw, &["Id", "Description", "Tags"]),
        outputs: json!({ "Arn": arn, "HlsIngest": { "IngestEndpoints": endpoints } }),
        id,
        arn,
        status: None,
    })
}

/// The password of ingest endpoint `index` of channel `channel_id`.
pub(crate) async fn ingest_password(
    c: &Client,
    channel_id: &str,
    index: usize,
) -> Result<String, Error> {
    let res = format!("mediapackage channel {channel_id}");
    let out = c
        .describe_channel()
        .id(channel_id)
        .send()
        .await
        .map_err(|e| error::sdk("DescribeChannel", &res, e, &[]))?;
    let endpoints = out
        .hls_ingest()
        .map(|h| h.ingest_endpoints())
        .unwrap_or_default();
    endpoints
        .get(index)
        .and_then(|e| e.password())
        .map(String::from)
        .ok_or_else(|| Error::Secret {
            name: format!("ingest password {} of {res}", index + 1),
            reason: format!(
                "the channel has {} ingest endpoint(s) with a password",
                endpoints.len()
            ),
        })
}

/// The ingest passwords of every channel, by channel id, from ListChannels (which returns
/// them as DescribeChannel does): one call a page for what [`ingest_password`] reads a call
/// each.
pub(crate) async fn all_ingest_passwords(
    c: &Client,
) -> Result<std::collections::BTreeMap<String, Vec<Option<String>>>, Error> {
    let channels = c
        .list_channels()
        .max_results(LIST_PAGE)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| error::sdk("ListChannels", "mediapackage channels", e, &[]))?;
    Ok(channels
        .into_iter()
        .filter_map(|ch| {
            let passwords = ch
                .hls_ingest()
                .map(|h| h.ingest_endpoints())
                .unwrap_or_default()
                .iter()
                .map(|e| e.password().map(String::from))
                .collect();
            Some((ch.id()?.to_string(), passwords))
        })
        .collect())
}

// ---- origin endpoints ----

pub(crate) async fn read_endpoint(
    c: &Client,
    res: &str,
    id: &str,
) -> Result<Option<ObservedResource>, Error> {
    let cap = Capture::default();
    let sent = c
        .describe_origin_endpoint()
        .id(id)
        .customize()
        .interceptor(cap.clone())
        .send()
        .await;
    match sent {
        Ok(_) => {
            let raw = cap.json();
            crate::read_answer("DescribeOriginEndpoint", res, &raw, observe_endpoint(&raw))
        }
        Err(e) => none_if_not_found(error::sdk("DescribeOriginEndpoint", res, e, &[])),
    }
}

pub(crate) async fn create_endpoint(
    c: &Client,
    res: &str,
    spec: &Json,
) -> Result<ObservedResource, Error> {
    let cap = Capture::default();
    // Right after its channel's create, the channel may not be found yet: tried again.
    crate::until_visible(|| async {
        c.create_origin_endpoint()
            .set_id(str_member(spec, "Id"))
            .set_channel_id(str_member(spec, "ChannelId"))
            .set_description(str_member(spec, "Description"))
            .set_manifest_name(str_member(spec, "ManifestName"))
            .set_startover_window_seconds(int(spec, "StartoverWindowSeconds"))
            .set_time_delay_seconds(int(spec, "TimeDelaySeconds"))
            .set_whitelist(strings(spec, "Whitelist"))
            .set_origination(str_member(spec, "Origination").map(|s| Origination::from(s.as_str())))
            .set_tags(Some(tags::of(spec)))
            .customize()
            .interceptor(cap.clone())
            .mutate_request(raw::patch(raw::rest_members(spec, ENDPOINT_TYPED)))
            .send()
            .await
            .map_err(|e| error::sdk("CreateOriginEndpoint", res, e, &[]))
    })
    .await?;
    observe_endpoint(&cap.json()).ok_or_else(|| unexpected("CreateOriginEndpoint", res))
}

/// UpdateOriginEndpoint resets what it is not given: the whole spec is sent.
pub(crate) async fn update_endpoint(
    c: &Client,
    res: &str,
    id: &str,
    spec: &Json,
    current: &ObservedResource,
) -> Result<ObservedResource, Error> {
    let cap = Capture::default();
    c.update_origin_endpoint()
        .id(id)
        .set_description(str_member(spec, "Description"))
        .set_manifest_name(str_member(spec, "ManifestName"))
        .set_startover_window_seconds(int(spec, "StartoverWindowSeconds"))
        .set_time_delay_seconds(int(spec, "TimeDelaySeconds"))
        .set_whitelist(strings(spec, "Whitelist"))
        .set_origination(str_member(spec, "Origination").map(|s| Origination::from(s.as_str())))
        .customize()
        .interceptor(cap.clone())
        .mutate_request(raw::patch(raw::rest_members(spec, ENDPOINT_TYPED)))
        .send()
        .await
        .map_err(|e| error::sdk("UpdateOriginEndpoint", res, e, &[]))?;
    let mut observed =
        observe_endpoint(&cap.json()).ok_or_else(|| unexpected("UpdateOriginEndpoint", res))?;
    let arn = observed.arn.clone().or_else(|| current.arn.clone());
    reconcile_tags(c, res, arn.as_deref(), &current.spec, spec).await?;
    observed.spec["Tags"] = desired_tags(spec);
    Ok(observed)
}

pub(crate) async fn delete_endpoint(c: &Client, res: &str, id: &str) -> Result<(), Error> {
    c.delete_origin_endpoint()
        .id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::sdk("DeleteOriginEndpoint", res, e, &[]))
}

fn observe_endpoint(raw: &Json) -> Option<ObservedResource> {
    let id = raw.get("id")?.as_str()?.to_string();
    let arn = raw.get("arn").and_then(Json::as_str).map(String::from);
    Some(ObservedResource {
        spec: raw::spec_of(raw, ENDPOINT_MEMBERS),
        outputs: json!({ "Arn": arn, "Url": raw.get("url") }),
        id,
        arn,
        status: None,
    })
}

// ---- shared ----

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
    let arn = arn.ok_or_else(|| Error::Unexpected {
        operation: "TagResource",
        resource: res.into(),
        reason: "the resource has no ARN".into(),
    })?;
    if !diff.set.is_empty() {
        c.tag_resource()
            .resource_arn(arn)
            .set_tags(Some(diff.set_map()))
            .send()
            .await
            .map_err(|e| error::sdk("TagResource", res, e, &[]))?;
    }
    if !diff.remove.is_empty() {
        c.untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(diff.remove.clone()))
            .send()
            .await
            .map_err(|e| error::sdk("UntagResource", res, e, &[]))?;
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
        .map_err(|e| error::sdk("ListChannels", "mediapackage channels", e, &[]))?;
    for ch in channels {
        if let (Some(a), Some(id)) = (
            tags::owned(ch.tags(), stack, Kind::MediapackageChannel),
            ch.id(),
        ) {
            out.push((a, id.to_string()));
        }
    }
    let endpoints = c
        .list_origin_endpoints()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| {
            error::sdk(
                "ListOriginEndpoints",
                "mediapackage origin endpoints",
                e,
                &[],
            )
        })?;
    for e in endpoints {
        if let (Some(a), Some(id)) = (
            tags::owned(e.tags(), stack, Kind::MediapackageEndpoint),
            e.id(),
        ) {
            out.push((a, id.to_string()));
        }
    }
    Ok(out)
}

fn desired_tags(spec: &Json) -> Json {
    let t = tags::of(spec);
    tags::to_json(t.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn int(spec: &Json, name: &str) -> Option<i32> {
    spec.get(name)?.as_i64().and_then(|v| i32::try_from(v).ok())
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

fn unexpected(operation: &'static str, res: &str) -> Error {
    Error::Unexpected {
        operation,
        resource: res.to_string(),
        reason: "no id in the answer".into(),
    }
}

// ---- lists (refresh's bulk reads) ----

/// The largest page MediaPackage's List operations return.
const LIST_PAGE: i32 = 1000;

/// Every MediaPackage channel, as [`read_channel`] reads each.
pub(crate) async fn list_channels(c: &Client) -> Result<Vec<ObservedResource>, Error> {
    let pages = crate::Pages {
        operation: "ListChannels",
        resource: "mediapackage channels",
        member: "channels",
    };
    pages
        .collect(observe_channel, |token, cap| async move {
            c.list_channels()
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

/// Every origin endpoint, as [`read_endpoint`] reads each.
pub(crate) async fn list_endpoints(c: &Client) -> Result<Vec<ObservedResource>, Error> {
    let pages = crate::Pages {
        operation: "ListOriginEndpoints",
        resource: "mediapackage endpoints",
        member: "originEndpoints",
    };
    pages
        .collect(observe_endpoint, |token, cap| async move {
            c.list_origin_endpoints()
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
    fn channel_outputs_never_hold_passwords() {
        let raw = json!({
            "id": "imday-mp-channel", "arn": "arn:mp", "description": "d",
            "hlsIngest": { "ingestEndpoints": [
                { "id": "e1", "url": "https://a/in/v2/1/channel", "username": "u1", "password": "SECRET-ONE" },
                { "id": "e2", "url": "https://b/in/v2/2/channel", "username": "u2", "password": "SECRET-TWO" }
            ] },
            "tags": { "livestack:address": "mediapackage_channel.imday-mp" }
        });
        let o = observe_channel(&raw).unwrap();
        let text = serde_json::to_string(&o).unwrap();
        assert!(!text.contains("SECRET"), "{text}");
        assert_eq!(
            o.outputs["HlsIngest"]["IngestEndpoints"][1]["Url"],
            "https://b/in/v2/2/channel"
        );
        assert_eq!(
            o.spec,
            json!({ "Id": "imday-mp-channel", "Description": "d", "Tags": { "livestack:address": "mediapackage_channel.imday-mp" } })
        );
    }

    #[test]
    fn endpoint_packages_come_back_pascal() {
        let raw = json!({
            "id": "hls", "channelId": "ch", "arn": "arn:e", "url": "https://x/out/v1/index.m3u8",
            "manifestName": "index", "origination": "ALLOW", "startoverWindowSeconds": 0,
            "hlsPackage": { "segmentDurationSeconds": 6, "playlistWindowSeconds": 60, "adMarkers": "NONE" },
            "tags": {}
        });
        let o = observe_endpoint(&raw).unwrap();
        assert_eq!(o.spec["HlsPackage"]["SegmentDurationSeconds"], 6);
        assert_eq!(o.spec["HlsPackage"]["AdMarkers"], "NONE");
        assert_eq!(
            o.outputs,
            json!({ "Arn": "arn:e", "Url": "https://x/out/v1/index.m3u8" })
        );
    }
}

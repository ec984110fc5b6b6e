//! MediaPackage v1: what its kinds (`kinds::mediapackage_*`) share: tags
//! (TagResource/UntagResource), discovery by ownership tags, the List page size; and the
//! channels' ingest passwords, the secrets a stack reads from it.

use aws_sdk_mediapackage::Client;
use livestack_model::{Address, Kind};
use serde_json::Value as Json;

use crate::error::{self, Error};
use crate::tags;

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

pub(crate) fn unexpected(operation: &'static str, res: &str) -> Error {
    Error::Unexpected {
        operation,
        resource: res.to_string(),
        reason: "no id in the answer".into(),
    }
}

/// The largest page MediaPackage's List operations return.
pub(crate) const LIST_PAGE: i32 = 1000;

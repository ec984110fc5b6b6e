//! MediaLive: what its kinds (`kinds::medialive_*`) share: tags (CreateTags/DeleteTags),
//! discovery by ownership tags, the List page size.

use aws_sdk_medialive::Client;
use livestack_model::{Address, Kind};
use serde_json::Value as Json;

use crate::error::{self, Error};
use crate::tags;

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

/// Every channel not DELETED, as ListChannels summarizes it.
async fn channel_summaries(
    c: &Client,
) -> Result<Vec<aws_sdk_medialive::types::ChannelSummary>, Error> {
    let channels: Vec<aws_sdk_medialive::types::ChannelSummary> = c
        .list_channels()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| error::sdk("ListChannels", "medialive channels", e, &[]))?;
    Ok(channels
        .into_iter()
        .filter(|ch| ch.state().is_none_or(|s| s.as_str() != "DELETED"))
        .collect())
}

/// The ids of every channel not DELETED.
pub(crate) async fn channel_ids(c: &Client) -> Result<Vec<String>, Error> {
    Ok(channel_summaries(c)
        .await?
        .iter()
        .filter_map(|ch| ch.id().map(String::from))
        .collect())
}

pub(crate) async fn discover(c: &Client, stack: &str) -> Result<Vec<(Address, String)>, Error> {
    let mut out = Vec::new();
    for ch in channel_summaries(c).await? {
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

pub(crate) fn unexpected(operation: &'static str, res: &str, reason: &str) -> Error {
    Error::Unexpected {
        operation,
        resource: res.to_string(),
        reason: reason.to_string(),
    }
}

/// The largest page MediaLive's List operations return (their `maxResults` maximum).
pub(crate) const LIST_PAGE: i32 = 1000;

//! SSM: what its kind (`kinds::ssm_parameter`) shares with the rest: tags and name filters,
//! discovery by ownership tags under `/livestack/<stack>/`, and parameter values, the secrets
//! a stack reads from it.

use aws_sdk_ssm::types::{ParameterStringFilter, ResourceTypeForTagging};
use aws_sdk_ssm::Client;
use livestack_model::{Address, Kind};
use serde_json::Value as Json;

use crate::error::{self, Error};
use crate::tags;

/// The decrypted value of parameter `name`.
pub(crate) async fn value(c: &Client, name: &str) -> Result<String, Error> {
    let res = format!("ssm parameter {name}");
    let out = c
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| error::sdk("GetParameter", &res, e, &[]))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(String::from)
        .ok_or_else(|| Error::Secret {
            name: format!("ssm {name}"),
            reason: "the parameter has no value".into(),
        })
}

/// Parameters under `/livestack/<stack>/` tagged as the stack's; the tags of those in `known`
/// (read already) are not asked for again, and they are left out.
pub(crate) async fn discover(
    c: &Client,
    stack: &str,
    known: &std::collections::BTreeSet<String>,
) -> Result<Vec<(Address, String)>, Error> {
    let res = "ssm parameters";
    let prefix = format!("/livestack/{stack}/");
    let pages = c
        .describe_parameters()
        .max_results(DESCRIBE_BATCH as i32)
        .parameter_filters(name_filter("BeginsWith", &prefix)?)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| error::sdk("DescribeParameters", res, e, &[]))?;
    let mut out = Vec::new();
    for page in pages {
        for p in page.parameters() {
            let Some(name) = p.name() else { continue };
            // The stack's hash key is not a resource of the stack file.
            if !name.starts_with(&prefix)
                || known.contains(name)
                || name == crate::hash_key_parameter(stack)
            {
                continue;
            }
            let tags = list_tags(c, res, name).await?;
            let map = tags
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(a) = tags::owned(Some(&map), stack, Kind::SsmParameter) {
                out.push((a, name.to_string()));
            }
        }
    }
    Ok(out)
}

/// The decrypted values of `names` that exist, in GetParameters calls of ten.
pub(crate) async fn values(
    c: &Client,
    names: &[String],
) -> Result<std::collections::BTreeMap<String, String>, Error> {
    let mut out = std::collections::BTreeMap::new();
    for chunk in names.chunks(GET_BATCH) {
        let got = c
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| error::sdk("GetParameters", "ssm parameters", e, &[]))?;
        for p in got.parameters() {
            if let (Some(n), Some(v)) = (p.name(), p.value()) {
                out.insert(n.to_string(), v.to_string());
            }
        }
    }
    Ok(out)
}

/// GetParameters takes at most 10 names a call; a DescribeParameters filter 50 values.
pub(crate) const GET_BATCH: usize = 10;
pub(crate) const DESCRIBE_BATCH: usize = 50;

pub(crate) async fn list_tags(c: &Client, res: &str, name: &str) -> Result<Json, Error> {
    let out = c
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .map_err(|e| error::sdk("ListTagsForResource", res, e, &[]))?;
    Ok(tags::to_json(
        out.tag_list().iter().map(|t| (t.key(), t.value())),
    ))
}

pub(crate) fn name_filter(option: &str, value: &str) -> Result<ParameterStringFilter, Error> {
    ParameterStringFilter::builder()
        .key("Name")
        .option(option)
        .values(value)
        .build()
        .map_err(|e| Error::Unexpected {
            operation: "DescribeParameters",
            resource: value.to_string(),
            reason: e.to_string(),
        })
}

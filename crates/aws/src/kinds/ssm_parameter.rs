//! `ssm_parameter`: PutParameter (create without Overwrite, update with it), GetParameter
//! with DescribeParameters and ListTagsForResource (and GetParameters in tens for a bulk
//! read), DeleteParameter. Its value is hashed as soon as it is read.

use aws_sdk_ssm::types::{
    Parameter, ParameterMetadata, ParameterStringFilter, ParameterType, ResourceTypeForTagging, Tag,
};
use aws_sdk_ssm::Client;
use livestack_plan::{Hasher, ObservedResource};
use serde_json::{json, Map, Value as Json};

use super::{Calls, Found, Listed, Made, Retag};
use crate::error::{self, Error};
use crate::ssm::{list_tags, name_filter, DESCRIBE_BATCH, GET_BATCH};
use crate::{str_member, tags, Clients};

pub(crate) struct SsmParameter;

impl Calls for SsmParameter {
    /// The parameter as SSM has it: its value decrypted and at once hashed.
    async fn read(&self, c: &Clients, res: &str, name: &str, hasher: &Hasher) -> Found {
        let (c, h) = (&c.ssm, Some(hasher));
        let got = match c
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let e = error::sdk("GetParameter", res, e, &[]);
                return if e.is_not_found() { Ok(None) } else { Err(e) };
            }
        };
        let Some(p) = got.parameter() else {
            return Err(Error::Unexpected {
                operation: "GetParameter",
                resource: res.to_string(),
                reason: "HTTP 200 without a parameter".into(),
            });
        };
        let (mut spec, mut arn) = from_value(name, p, h);
        let filter = name_filter("Equals", name)?;
        let meta = c
            .describe_parameters()
            .max_results(DESCRIBE_BATCH as i32)
            .parameter_filters(filter)
            .send()
            .await
            .map_err(|e| error::sdk("DescribeParameters", res, e, &[]))?;
        if let Some(m) = meta.parameters().iter().find(|m| m.name() == Some(name)) {
            add_metadata(&mut spec, &mut arn, m);
        }
        let tags = list_tags(c, res, name).await?;
        Ok(Some(observed(name.to_string(), spec, arn, tags)))
    }

    async fn read_many(&self, c: &Clients, ids: &[String], h: &Hasher) -> Listed {
        read_many(&c.ssm, ids, Some(h)).await.map(Some)
    }

    async fn create(&self, c: &Clients, res: &str, spec: &Json, _token: &str) -> Made {
        let (c, h) = (&c.ssm, c.hasher.as_ref());
        let name = required(res, spec, "Name")?;
        let value = required(res, spec, "Value")?;
        let tag_list = tags::of(spec)
            .into_iter()
            .map(|(k, v)| tag(res, k, v))
            .collect::<Result<Vec<_>, _>>()?;
        c.put_parameter()
            .name(&name)
            .value(&value)
            .r#type(param_type(spec))
            .set_description(str_member(spec, "Description"))
            .overwrite(false)
            .set_tags((!tag_list.is_empty()).then_some(tag_list))
            .send()
            .await
            .map_err(|e| error::sdk("PutParameter", res, e, &[&value]))?;
        Ok(observed_from_spec(&name, spec, &value, h))
    }

    async fn update(
        &self,
        c: &Clients,
        res: &str,
        name: &str,
        spec: &Json,
        current: &ObservedResource,
    ) -> Made {
        let (c, h) = (&c.ssm, c.hasher.as_ref());
        let value = required(res, spec, "Value")?;
        // Tags cannot go with Overwrite: they are reconciled below.
        c.put_parameter()
            .name(name)
            .value(&value)
            .r#type(param_type(spec))
            .description(str_member(spec, "Description").unwrap_or_default())
            .overwrite(true)
            .send()
            .await
            .map_err(|e| error::sdk("PutParameter", res, e, &[&value]))?;
        reconcile_tags(c, res, name, &current.spec, spec).await?;
        let mut observed = observed_from_spec(name, spec, &value, h);
        observed.arn = current.arn.clone();
        Ok(observed)
    }

    async fn reconcile_tags(&self, c: &Clients, res: &str, t: Retag<'_>) -> Result<(), Error> {
        reconcile_tags(&c.ssm, res, t.id, t.current, t.desired).await
    }

    async fn delete(&self, c: &Clients, res: &str, name: &str) -> Result<(), Error> {
        let c = &c.ssm;
        c.delete_parameter()
            .name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::sdk("DeleteParameter", res, e, &[]))
    }
}

/// What GetParameter(s) tells of a parameter: its spec so far (the value hashed at once) and
/// its ARN.
fn from_value(
    name: &str,
    p: &Parameter,
    h: Option<&Hasher>,
) -> (Map<String, Json>, Option<String>) {
    let mut spec = Map::new();
    spec.insert("Name".into(), json!(name));
    if let Some(t) = p.r#type() {
        spec.insert("Type".into(), json!(t.as_str()));
    }
    if let (Some(v), Some(h)) = (p.value(), h) {
        spec.insert("Value".into(), h.sensitive(v));
    }
    (spec, p.arn().map(String::from))
}

/// What DescribeParameters adds: the description, and the ARN when the value's answer had
/// none.
fn add_metadata(spec: &mut Map<String, Json>, arn: &mut Option<String>, m: &ParameterMetadata) {
    if let Some(d) = m.description() {
        spec.insert("Description".into(), json!(d));
    }
    if arn.is_none() {
        *arn = m.arn().map(String::from);
    }
}

/// The parameter as read, once its tags are known.
fn observed(
    name: String,
    mut spec: Map<String, Json>,
    arn: Option<String>,
    tags: Json,
) -> ObservedResource {
    spec.insert("Tags".into(), tags);
    ObservedResource {
        outputs: json!({ "Name": name }),
        id: name,
        arn,
        spec: Json::Object(spec),
        status: None,
    }
}

/// AddTagsToResource / RemoveTagsFromResource for the difference of the two specs' Tags.
pub(crate) async fn reconcile_tags(
    c: &Client,
    res: &str,
    name: &str,
    current: &Json,
    desired: &Json,
) -> Result<(), Error> {
    let diff = tags::Diff::new(current, desired);
    if !diff.set.is_empty() {
        let list = diff
            .set
            .iter()
            .map(|(k, v)| tag(res, k.clone(), v.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        c.add_tags_to_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .set_tags(Some(list))
            .send()
            .await
            .map_err(|e| error::sdk("AddTagsToResource", res, e, &[]))?;
    }
    if !diff.remove.is_empty() {
        c.remove_tags_from_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .set_tag_keys(Some(diff.remove.clone()))
            .send()
            .await
            .map_err(|e| error::sdk("RemoveTagsFromResource", res, e, &[]))?;
    }
    Ok(())
}

/// Calls in flight at once in [`read_many`].
const IN_FLIGHT: usize = 10;

/// The parameters of `names` that exist, each as [`read`] reads it, in
/// `names/10` GetParameters, `names/50` DescribeParameters and one ListTagsForResource each
/// (SSM lists no tags), ten calls in flight. Names SSM does not know are left out.
pub(crate) async fn read_many(
    c: &Client,
    names: &[String],
    h: Option<&Hasher>,
) -> Result<Vec<ObservedResource>, Error> {
    let res = "ssm parameters";
    let task_failed = |operation: &'static str, e: tokio::task::JoinError| Error::Unexpected {
        operation,
        resource: res.into(),
        reason: format!("the task failed: {e}"),
    };
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    // GetParameters, ten names a call, the calls side by side.
    let mut gets = tokio::task::JoinSet::new();
    for chunk in names.chunks(GET_BATCH) {
        let (c, sem, chunk) = (c.clone(), sem.clone(), chunk.to_vec());
        gets.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            c.get_parameters()
                .set_names(Some(chunk))
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| error::sdk("GetParameters", res, e, &[]))
        });
    }
    let mut found: std::collections::BTreeMap<String, (Map<String, Json>, Option<String>)> =
        Default::default();
    while let Some(joined) = gets.join_next().await {
        let got = joined.map_err(|e| task_failed("GetParameters", e))??;
        for p in got.parameters() {
            let Some(name) = p.name() else {
                return Err(Error::Unexpected {
                    operation: "GetParameters",
                    resource: res.into(),
                    reason: "a parameter without its name".into(),
                });
            };
            found.insert(name.to_string(), from_value(name, p, h));
        }
    }
    let present: Vec<String> = found.keys().cloned().collect();
    // Descriptions, fifty names a call; and the tags, one call a parameter; all side by side.
    let mut described = tokio::task::JoinSet::new();
    for chunk in present.chunks(DESCRIBE_BATCH) {
        let filter = ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .set_values(Some(chunk.to_vec()))
            .build()
            .map_err(|e| Error::Unexpected {
                operation: "DescribeParameters",
                resource: res.into(),
                reason: e.to_string(),
            })?;
        let (c, sem) = (c.clone(), sem.clone());
        described.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            c.describe_parameters()
                .max_results(DESCRIBE_BATCH as i32)
                .parameter_filters(filter)
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(|e| error::sdk("DescribeParameters", res, e, &[]))
        });
    }
    let mut tagged = tokio::task::JoinSet::new();
    for name in present {
        let (c, sem) = (c.clone(), sem.clone());
        tagged.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let res = format!("ssm parameter {name}");
            let tags = crate::about(res.clone(), list_tags(&c, &res, &name)).await;
            (name, tags)
        });
    }
    while let Some(joined) = described.join_next().await {
        let pages = joined.map_err(|e| task_failed("DescribeParameters", e))??;
        for m in pages.iter().flat_map(|p| p.parameters()) {
            let Some((spec, arn)) = m.name().and_then(|n| found.get_mut(n)) else {
                continue;
            };
            add_metadata(spec, arn, m);
        }
    }
    let mut out = Vec::new();
    while let Some(joined) = tagged.join_next().await {
        let (name, tags) = joined.map_err(|e| task_failed("ListTagsForResource", e))?;
        let (spec, arn) = found.remove(&name).expect("read above");
        out.push(observed(name, spec, arn, tags?));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn observed_from_spec(
    name: &str,
    spec: &Json,
    value: &str,
    h: Option<&Hasher>,
) -> ObservedResource {
    let mut s = spec.clone();
    if let Some(obj) = s.as_object_mut() {
        match h {
            Some(h) => {
                obj.insert("Value".into(), h.sensitive(value));
            }
            None => {
                obj.remove("Value");
            }
        }
        obj.insert("Type".into(), json!(param_type(spec).as_str()));
    }
    ObservedResource {
        id: name.to_string(),
        arn: None,
        spec: s,
        outputs: json!({ "Name": name }),
        status: None,
    }
}

fn param_type(spec: &Json) -> ParameterType {
    ParameterType::from(
        str_member(spec, "Type")
            .as_deref()
            .unwrap_or("SecureString"),
    )
}

fn tag(res: &str, key: String, value: String) -> Result<Tag, Error> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| Error::InvalidSpec {
            resource: res.into(),
            reason: e.to_string(),
        })
}

fn required(res: &str, spec: &Json, name: &str) -> Result<String, Error> {
    str_member(spec, name).ok_or_else(|| Error::InvalidSpec {
        resource: res.into(),
        reason: format!("`{name}` must be a string"),
    })
}

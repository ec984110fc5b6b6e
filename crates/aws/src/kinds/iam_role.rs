//! `iam_role`: trust policy, inline policies, managed policy attachments, tags (CreateRole,
//! GetRole and the policy reads, UpdateAssumeRolePolicy/UpdateRole/PutRolePolicy/
//! AttachRolePolicy, TagRole/UntagRole, DeleteRole after its policies).

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;
use livestack_plan::{Hasher, ObservedResource};
use serde_json::{json, Map, Value as Json};

use super::{Calls, Found, Made, Retag};
use crate::error::{self, Error};
use crate::{str_member, tags, Clients};

pub(crate) struct IamRole;

impl Calls for IamRole {
    async fn read(&self, c: &Clients, res: &str, name: &str, _h: &Hasher) -> Found {
        let c = &c.iam;
        let got = match c.get_role().role_name(name).send().await {
            Ok(o) => o,
            Err(e) => {
                let e = error::sdk("GetRole", res, e, &[]);
                return if e.is_not_found() { Ok(None) } else { Err(e) };
            }
        };
        let Some(role) = got.role() else {
            return Err(Error::Unexpected {
                operation: "GetRole",
                resource: res.to_string(),
                reason: "HTTP 200 without a role".into(),
            });
        };
        let arn = role.arn().to_string();
        let mut spec = Map::new();
        spec.insert("RoleName".into(), json!(role.role_name()));
        spec.insert("Path".into(), json!(role.path()));
        if let Some(d) = role.description() {
            spec.insert("Description".into(), json!(d));
        }
        if let Some(doc) = role.assume_role_policy_document() {
            spec.insert(
                "AssumeRolePolicyDocument".into(),
                policy_json(res, "GetRole", doc)?,
            );
        }
        let mut inline = Map::new();
        for policy in inline_names(c, res, name).await? {
            let out = c
                .get_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
                .map_err(|e| error::sdk("GetRolePolicy", res, e, &[]))?;
            inline.insert(
                policy,
                policy_json(res, "GetRolePolicy", out.policy_document())?,
            );
        }
        spec.insert("InlinePolicies".into(), Json::Object(inline));
        spec.insert(
            "ManagedPolicyArns".into(),
            json!(managed_arns(c, res, name).await?),
        );
        let pages = c
            .list_role_tags()
            .role_name(name)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| error::sdk("ListRoleTags", res, e, &[]))?;
        let all: Vec<(String, String)> = pages
            .iter()
            .flat_map(|p| p.tags())
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        spec.insert(
            "Tags".into(),
            tags::to_json(all.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        Ok(Some(ObservedResource {
            id: name.to_string(),
            outputs: json!({ "Arn": arn }),
            arn: Some(arn),
            spec: Json::Object(spec),
            status: None,
        }))
    }

    async fn create(&self, c: &Clients, res: &str, spec: &Json, _token: &str) -> Made {
        let c = &c.iam;
        let name = str_member(spec, "RoleName")
            .ok_or_else(|| invalid(res, "`RoleName` must be a string"))?;
        let trust = document(res, spec.get("AssumeRolePolicyDocument"))?;
        let tag_list = tags::of(spec)
            .into_iter()
            .map(|(k, v)| tag(res, k, v))
            .collect::<Result<Vec<_>, _>>()?;
        let out = c
            .create_role()
            .role_name(&name)
            .set_path(str_member(spec, "Path"))
            .assume_role_policy_document(trust)
            .set_description(str_member(spec, "Description"))
            .set_tags((!tag_list.is_empty()).then_some(tag_list))
            .send()
            .await
            .map_err(|e| error::sdk("CreateRole", res, e, &[]))?;
        let arn = out.role().map(|r| r.arn().to_string());
        for (policy, doc) in inline_of(spec) {
            put_inline(c, res, &name, &policy, &doc).await?;
        }
        for arn in managed_of(spec) {
            c.attach_role_policy()
                .role_name(&name)
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| error::sdk("AttachRolePolicy", res, e, &[]))?;
        }
        Ok(observed_from_spec(&name, arn, spec))
    }

    async fn update(
        &self,
        c: &Clients,
        res: &str,
        name: &str,
        spec: &Json,
        current: &ObservedResource,
    ) -> Made {
        let c = &c.iam;
        let cur = &current.spec;
        if cur.get("AssumeRolePolicyDocument") != spec.get("AssumeRolePolicyDocument") {
            c.update_assume_role_policy()
                .role_name(name)
                .policy_document(document(res, spec.get("AssumeRolePolicyDocument"))?)
                .send()
                .await
                .map_err(|e| error::sdk("UpdateAssumeRolePolicy", res, e, &[]))?;
        }
        if cur.get("Description") != spec.get("Description") {
            c.update_role()
                .role_name(name)
                .description(str_member(spec, "Description").unwrap_or_default())
                .send()
                .await
                .map_err(|e| error::sdk("UpdateRole", res, e, &[]))?;
        }
        let (have, want) = (inline_of(cur), inline_of(spec));
        for (policy, doc) in &want {
            if have.get(policy) != Some(doc) {
                put_inline(c, res, name, policy, doc).await?;
            }
        }
        for policy in have.keys().filter(|p| !want.contains_key(*p)) {
            c.delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::sdk("DeleteRolePolicy", res, e, &[]))
                .or_else(already_done)?;
        }
        let (have, want) = (managed_of(cur), managed_of(spec));
        for arn in want.iter().filter(|a| !have.contains(a)) {
            c.attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| error::sdk("AttachRolePolicy", res, e, &[]))?;
        }
        for arn in have.iter().filter(|a| !want.contains(a)) {
            c.detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::sdk("DetachRolePolicy", res, e, &[]))
                .or_else(already_done)?;
        }
        reconcile_tags(c, res, name, cur, spec).await?;
        Ok(observed_from_spec(name, current.arn.clone(), spec))
    }

    async fn reconcile_tags(&self, c: &Clients, res: &str, t: Retag<'_>) -> Result<(), Error> {
        reconcile_tags(&c.iam, res, t.id, t.current, t.desired).await
    }

    async fn delete(&self, c: &Clients, res: &str, name: &str) -> Result<(), Error> {
        let c = &c.iam;
        for policy in inline_names(c, res, name).await? {
            c.delete_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::sdk("DeleteRolePolicy", res, e, &[]))
                .or_else(already_done)?;
        }
        for arn in managed_arns(c, res, name).await? {
            c.detach_role_policy()
                .role_name(name)
                .policy_arn(&arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::sdk("DetachRolePolicy", res, e, &[]))
                .or_else(already_done)?;
        }
        c.delete_role()
            .role_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::sdk("DeleteRole", res, e, &[]))
    }
}

/// TagRole / UntagRole for the difference of the two specs' Tags.
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
        c.tag_role()
            .role_name(name)
            .set_tags(Some(list))
            .send()
            .await
            .map_err(|e| error::sdk("TagRole", res, e, &[]))?;
    }
    if !diff.remove.is_empty() {
        c.untag_role()
            .role_name(name)
            .set_tag_keys(Some(diff.remove.clone()))
            .send()
            .await
            .map_err(|e| error::sdk("UntagRole", res, e, &[]))?;
    }
    Ok(())
}

/// Inline policies deleted and managed ones detached, then DeleteRole.
/// A removal that finds nothing to remove is done: the SDK's retry of a call whose answer was
/// lost meets NoSuchEntity.
fn already_done(e: Error) -> Result<(), Error> {
    if e.is_not_found() {
        Ok(())
    } else {
        Err(e)
    }
}

async fn inline_names(c: &Client, res: &str, name: &str) -> Result<Vec<String>, Error> {
    let pages = c
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| error::sdk("ListRolePolicies", res, e, &[]))?;
    Ok(pages
        .iter()
        .flat_map(|p| p.policy_names().iter().cloned())
        .collect())
}

async fn managed_arns(c: &Client, res: &str, name: &str) -> Result<Vec<String>, Error> {
    let pages = c
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| error::sdk("ListAttachedRolePolicies", res, e, &[]))?;
    let mut arns: Vec<String> = pages
        .iter()
        .flat_map(|p| p.attached_policies())
        .filter_map(|p| p.policy_arn().map(String::from))
        .collect();
    arns.sort();
    arns.dedup();
    Ok(arns)
}

async fn put_inline(
    c: &Client,
    res: &str,
    role: &str,
    policy: &str,
    doc: &Json,
) -> Result<(), Error> {
    c.put_role_policy()
        .role_name(role)
        .policy_name(policy)
        .policy_document(document(res, Some(doc))?)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::sdk("PutRolePolicy", res, e, &[]))
}

fn observed_from_spec(name: &str, arn: Option<String>, spec: &Json) -> ObservedResource {
    let mut s = spec.clone();
    if let Some(obj) = s.as_object_mut() {
        obj.insert("ManagedPolicyArns".into(), json!(managed_of(spec)));
    }
    ObservedResource {
        id: name.to_string(),
        outputs: json!({ "Arn": arn }),
        arn,
        spec: s,
        status: None,
    }
}

fn inline_of(spec: &Json) -> BTreeMap<String, Json> {
    spec.get("InlinePolicies")
        .and_then(Json::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn managed_of(spec: &Json) -> Vec<String> {
    let mut v: Vec<String> = spec
        .get("ManagedPolicyArns")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A policy document member as the JSON text IAM takes.
fn document(res: &str, doc: Option<&Json>) -> Result<String, Error> {
    match doc {
        Some(Json::String(s)) => Ok(s.clone()),
        Some(v @ Json::Object(_)) => Ok(serde_json::to_string(v).expect("json serializes")),
        _ => Err(invalid(res, "a policy document must be a JSON object")),
    }
}

/// IAM answers policy documents URL-encoded (RFC 3986); parsed to a JSON object.
fn policy_json(res: &str, operation: &'static str, text: &str) -> Result<Json, Error> {
    serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&percent_decode(text)))
        .map_err(|e| Error::Unexpected {
            operation,
            resource: res.into(),
            reason: format!("a policy document that is not JSON: {e}"),
        })
}

/// `%XX` sequences decoded (a malformed one is kept as it is); `+` is left alone, as IAM
/// encodes a space as `%20`.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn tag(res: &str, key: String, value: String) -> Result<Tag, Error> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| invalid(res, &e.to_string()))
}

fn invalid(res: &str, reason: &str) -> Error {
    Error::InvalidSpec {
        resource: res.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_policies_are_decoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22medialive.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
        let v = policy_json("iam_role.x", "GetRole", encoded).unwrap();
        assert_eq!(
            v["Statement"][0]["Principal"]["Service"],
            "medialive.amazonaws.com"
        );
        // Already plain JSON (some endpoints answer it so): taken as it is.
        let v = policy_json("iam_role.x", "GetRole", r#"{"a":"50%"}"#).unwrap();
        assert_eq!(v["a"], "50%");
        assert_eq!(percent_decode("a%20b+c%2"), "a b+c%2");
        assert_eq!(percent_decode("%zz%"), "%zz%");
    }

    #[test]
    fn managed_arns_sorted() {
        let spec = json!({ "ManagedPolicyArns": ["b", "a", "b"] });
        assert_eq!(managed_of(&spec), ["a", "b"]);
    }
}

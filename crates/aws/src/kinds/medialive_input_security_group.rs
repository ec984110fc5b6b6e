//! `medialive_input_security_group`: CreateInputSecurityGroup (no token: sent without the
//! SDK's retries and looked for by its tags after a 5xx), DescribeInputSecurityGroup,
//! ListInputSecurityGroups, UpdateInputSecurityGroup, DeleteInputSecurityGroup.

use std::time::Duration;

use aws_sdk_medialive::types::InputWhitelistRuleCidr;
use aws_sdk_medialive::Client;
use livestack_plan::{Hasher, ObservedResource};
use serde_json::{json, Value as Json};

use super::{described, only, Calls, Found, Listed, Made, Retag};
use crate::error::{self, Error};
use crate::medialive::{self, reconcile_tags, unexpected, LIST_PAGE};
use crate::raw::{self, Capture};
use crate::{tags, Backoff, Clients, LOST_ANSWER_WAIT};

pub(crate) struct MedialiveInputSecurityGroup;

impl Calls for MedialiveInputSecurityGroup {
    async fn read(&self, c: &Clients, res: &str, id: &str, _h: &Hasher) -> Found {
        read_sg(&c.ml, res, id).await
    }

    async fn read_many(&self, c: &Clients, ids: &[String], _h: &Hasher) -> Listed {
        Ok(only(ids, list_sgs(&c.ml).await?))
    }

    /// CreateInputSecurityGroup takes no idempotency token: the SDK's retry after an answer
    /// that never came would make a second group. So it is sent without the SDK's retries;
    /// after a throttle (refused, not carried out) it is sent again, after a 5xx or no answer
    /// the group is first looked for by its ownership tags among the ones that were not there
    /// before.
    async fn create(&self, c: &Clients, res: &str, spec: &Json, _token: &str) -> Made {
        let c = &c.ml;
        let t = tags::of(spec);
        let owner = (
            t.get(livestack_model::STACK_TAG).cloned(),
            t.get(livestack_model::ADDRESS_TAG).cloned(),
        );
        let ours = || async {
            let (Some(stack), Some(address)) = &owner else {
                return Ok(Vec::new());
            };
            Ok::<_, Error>(
                medialive::discover_sgs(c, stack)
                    .await?
                    .into_iter()
                    .filter(|(a, _)| a.to_string() == *address)
                    .map(|(_, id)| id)
                    .collect::<Vec<String>>(),
            )
        };
        let before = ours().await?;
        let deadline = tokio::time::Instant::now() + LOST_ANSWER_WAIT;
        let mut backoff = Backoff::new(Duration::from_secs(5));
        let mut attempts = 0;
        loop {
            attempts += 1;
            let e = match create_sg(c, res, spec).await {
                Ok(o) => return Ok(o),
                Err(e) => e,
            };
            let retry = attempts < 8 && (e.is_throttling() || e.may_have_been_carried_out());
            if !retry || !backoff.sleep(deadline).await {
                return Err(e);
            }
            if e.may_have_been_carried_out() {
                if let Some(id) = ours().await?.into_iter().find(|id| !before.contains(id)) {
                    if let Some(o) = read_sg(c, res, &id).await? {
                        return Ok(o);
                    }
                }
            }
        }
    }

    async fn update(
        &self,
        clients: &Clients,
        res: &str,
        id: &str,
        spec: &Json,
        current: &ObservedResource,
    ) -> Made {
        let c = &clients.ml;
        let cap = Capture::default();
        c.update_input_security_group()
            .input_security_group_id(id)
            .set_whitelist_rules(Some(whitelist(spec)))
            .customize()
            .interceptor(cap.clone())
            .send()
            .await
            .map_err(|e| error::sdk("UpdateInputSecurityGroup", res, e, &[]))?;
        let observed = observe_sg(&cap.json()["securityGroup"]).ok_or_else(|| {
            unexpected(
                "UpdateInputSecurityGroup",
                res,
                "no security group in the answer",
            )
        })?;
        self.retag(clients, res, id, observed, current, spec).await
    }

    async fn reconcile_tags(&self, c: &Clients, res: &str, t: Retag<'_>) -> Result<(), Error> {
        reconcile_tags(&c.ml, res, t.arn, t.current, t.desired).await
    }

    async fn delete(&self, c: &Clients, res: &str, id: &str) -> Result<(), Error> {
        let c = &c.ml;
        c.delete_input_security_group()
            .input_security_group_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::sdk("DeleteInputSecurityGroup", res, e, &[]))
    }
}

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
    described("DescribeInputSecurityGroup", res, sent, &cap, observe_sg)
}

pub(crate) async fn create_sg(
    c: &Client,
    res: &str,
    spec: &Json,
) -> Result<ObservedResource, Error> {
    let cap = Capture::default();
    // No idempotency token: the caller retries (see `create`), not the SDK.
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

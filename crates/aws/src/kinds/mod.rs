//! The calls of each resource kind, one module each: how it is read (alone and in bulk),
//! created, updated, tagged and deleted, and what it waits for. [`dispatch!`] is the one
//! place a [`Kind`] is mapped to its module; the service modules (`medialive`,
//! `mediapackage`, `ssm`) keep what their kinds share (tag calls, discovery by tags,
//! secrets). Adding a kind is a module here, an impl of [`Calls`] and a line of
//! [`dispatch!`].

pub(crate) mod iam_role;
pub(crate) mod medialive_channel;
pub(crate) mod medialive_input;
pub(crate) mod medialive_input_security_group;
pub(crate) mod mediapackage_channel;
pub(crate) mod mediapackage_endpoint;
pub(crate) mod ssm_parameter;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use livestack_plan::{Hasher, ObservedResource};
use serde_json::Value as Json;

use crate::error;
use crate::raw::Capture;
use crate::{Clients, Error};

/// A read's answer: the resource, or `None` when it does not exist.
pub(crate) type Found = Result<Option<ObservedResource>, Error>;
/// A bulk read's answer: `None` for a kind read one by one.
pub(crate) type Listed = Result<Option<Vec<ObservedResource>>, Error>;
/// What a create or an update leaves: the resource as the cloud answered.
pub(crate) type Made = Result<ObservedResource, Error>;

/// One kind's calls. `res` names the resource in errors (its address); specs in are fully
/// resolved (see [`Clients::create`]).
pub(crate) trait Calls {
    /// The resource as the cloud has it; `None` when it does not exist.
    async fn read(&self, c: &Clients, res: &str, id: &str, h: &Hasher) -> Found;

    /// Those of `ids` that exist, each as [`read`](Self::read) shows it, in as few calls as
    /// the kind allows; `None` for a kind read one by one (`KindInfo::read_in_bulk`).
    async fn read_many(&self, c: &Clients, ids: &[String], h: &Hasher) -> Listed {
        let _ = (c, ids, h);
        Ok(None)
    }

    /// Every resource of the kind in the account, each as [`read`](Self::read) shows it
    /// (`livestack import`); `None` for a kind that is not listed (found through what refers
    /// to it instead).
    async fn list_all(&self, c: &Clients, h: &Hasher) -> Listed {
        let _ = (c, h);
        Ok(None)
    }

    /// Creates it; `token` is the idempotency token where the kind takes one.
    async fn create(&self, c: &Clients, res: &str, spec: &Json, token: &str) -> Made;

    /// Brings it to `spec`, tags reconciled against `current`'s.
    async fn update(
        &self,
        c: &Clients,
        res: &str,
        id: &str,
        spec: &Json,
        current: &ObservedResource,
    ) -> Made;

    /// Brings its tags from `t.current`'s to `t.desired`'s and changes nothing else.
    async fn reconcile_tags(&self, c: &Clients, res: &str, t: Retag<'_>) -> Result<(), Error>;

    /// An update's answer with its tags brought from `current`'s to `spec`'s (the Update
    /// calls of MediaLive and MediaPackage take no tags).
    async fn retag(
        &self,
        c: &Clients,
        res: &str,
        id: &str,
        mut updated: ObservedResource,
        current: &ObservedResource,
        spec: &Json,
    ) -> Made {
        let arn = updated.arn.clone().or_else(|| current.arn.clone());
        let t = Retag {
            id,
            arn: arn.as_deref(),
            current: &current.spec,
            desired: spec,
        };
        self.reconcile_tags(c, res, t).await?;
        updated.spec["Tags"] = crate::tags::desired(spec);
        Ok(updated)
    }

    /// The delete call alone (not found and "on its way out" are the caller's to judge).
    async fn delete(&self, c: &Clients, res: &str, id: &str) -> Result<(), Error>;
}

/// A change of a resource's tags: its id, its ARN where it has one, its current spec (whose
/// Tags it has) and the desired one.
#[derive(Clone, Copy)]
pub(crate) struct Retag<'a> {
    pub(crate) id: &'a str,
    pub(crate) arn: Option<&'a str>,
    pub(crate) current: &'a Json,
    pub(crate) desired: &'a Json,
}

/// Evaluates `$body` with `$calls` bound to the [`Calls`] of `$kind`'s module.
macro_rules! dispatch {
    ($kind:expr, $calls:ident => $body:expr) => {{
        use livestack_model::Kind;
        use $crate::kinds::*;
        match $kind {
            Kind::IamRole => {
                let $calls = iam_role::IamRole;
                $body
            }
            Kind::MediapackageChannel => {
                let $calls = mediapackage_channel::MediapackageChannel;
                $body
            }
            Kind::MediapackageEndpoint => {
                let $calls = mediapackage_endpoint::MediapackageEndpoint;
                $body
            }
            Kind::SsmParameter => {
                let $calls = ssm_parameter::SsmParameter;
                $body
            }
            Kind::MedialiveInputSecurityGroup => {
                let $calls = medialive_input_security_group::MedialiveInputSecurityGroup;
                $body
            }
            Kind::MedialiveInput => {
                let $calls = medialive_input::MedialiveInput;
                $body
            }
            Kind::MedialiveChannel => {
                let $calls = medialive_channel::MedialiveChannel;
                $body
            }
        }
    }};
}
pub(crate) use dispatch;

/// The resources of a List call's `all` that `ids` asks for.
fn only(ids: &[String], all: Vec<ObservedResource>) -> Option<Vec<ObservedResource>> {
    let wanted: std::collections::BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    Some(
        all.into_iter()
            .filter(|o| wanted.contains(o.id.as_str()))
            .collect(),
    )
}

/// What a Describe call whose answer `cap` captured says: the resource `observe` finds in the
/// answer (see [`crate::read_answer`]), or `None` for a 404.
fn described<T, E>(
    operation: &'static str,
    res: &str,
    sent: Result<T, SdkError<E, HttpResponse>>,
    cap: &Capture,
    observe: impl FnOnce(&Json) -> Option<ObservedResource>,
) -> Found
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match sent {
        Ok(_) => {
            let raw = cap.json();
            crate::read_answer(operation, res, &raw, observe(&raw))
        }
        Err(e) => none_if_not_found(error::sdk(operation, res, e, &[])),
    }
}

/// A read's error, or `None` when it says the resource is not found.
fn none_if_not_found<T>(e: Error) -> Result<Option<T>, Error> {
    if e.is_not_found() {
        Ok(None)
    } else {
        Err(e)
    }
}

/// A member of a spec as a list of strings.
fn strings(spec: &Json, name: &str) -> Option<Vec<String>> {
    spec.get(name)?.as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    })
}

//! livestack's only door to AWS: reads, creates, updates, deletes and waits on the resources
//! livestack manages, through the official aws-sdk-* clients. No other crate names an
//! `aws_sdk_*` type.
//!
//! Specs in and out are the JSON shapes documented in `livestack_model` (PascalCase members).
//! Requests to MediaLive and MediaPackage carry their deep members (EncoderSettings and
//! friends) as raw JSON next to the typed builders (the `raw` module says why); IAM and SSM use the
//! typed builders only.
//!
//! Each resource kind's calls (read, bulk read, create, update, tags, delete, and what it
//! waits for) are in its own module, `kinds/<kind>.rs`, behind the `kinds::Calls` trait; the
//! [`Clients`] methods dispatch a kind in one place (`kinds::dispatch!`). The service modules
//! (`medialive`, `mediapackage`, `ssm`) keep what their kinds share: tag calls, discovery by
//! ownership tags, secrets.
//!
//! Secrets: observed specs hold `{"$sensitive": hash}` in place of an RTMP stream key or an SSM
//! parameter's value; MediaPackage ingest passwords are never in outputs; errors cut out every
//! secret the failed call carried.

mod calls;
mod case;
mod cloud;
mod error;
mod kinds;
mod medialive;
mod mediapackage;
mod pace;
mod raw;
mod s3state;
mod ssm;
mod tags;

use std::time::Duration;

use livestack_model::{Address, Kind};
use livestack_plan::{Hasher, ObservedResource};
use serde_json::Value as Json;

pub use calls::{about, CallPolicy, OnRetry, Retry, DEFAULT_BUDGET};
pub use case::{to_camel, to_pascal};
pub use error::{short_cause, Cause, Error};
pub use pace::{Family, Pacer};
pub use s3state::{parse_s3_url, S3Objects};

/// Where livestack talks to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The region; `None` takes it from the standard chain (AWS_REGION, the profile).
    pub region: Option<String>,
    /// One endpoint for all four services (the sandbox, a proxy). `AWS_ENDPOINT_URL` is
    /// honoured by the standard chain when this is `None`.
    pub endpoint_url: Option<String>,
    /// Use fixed dummy credentials instead of the standard chain (for the sandbox); the region
    /// defaults to us-east-1 then.
    pub dummy_credentials: bool,
    /// The profile of the AWS configuration to use; `None` is the standard chain's
    /// (`AWS_PROFILE`, else `default`). Ignored with dummy credentials.
    pub profile: Option<String>,
}

/// Who the calls are made as, from STS GetCallerIdentity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The 12-digit account id.
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

impl CallerIdentity {
    /// The world id of a livestack sandbox (its UserId is `AROASANDBOX:<world>`); `None` for
    /// anything else.
    pub fn sandbox_world(&self) -> Option<&str> {
        self.user_id
            .strip_prefix("AROASANDBOX:")
            .filter(|w| !w.is_empty())
    }
}

/// The SSM parameter that keeps the key of a stack's secret hashes.
pub fn hash_key_parameter(stack: &str) -> String {
    format!("/livestack/{stack}/hash-key")
}

/// The SDK configuration of `target`: its region, endpoint and credentials.
pub(crate) async fn sdk_config(
    target: &Target,
    retry: aws_config::retry::RetryConfig,
    timeouts: aws_config::timeout::TimeoutConfig,
) -> Result<aws_config::SdkConfig, Error> {
    use aws_config::{BehaviorVersion, Region};
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(region) = &target.region {
        loader = loader.region(Region::new(region.clone()));
    } else if target.dummy_credentials {
        loader = loader.region(
            aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-east-1"),
        );
    }
    if let Some(url) = &target.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(p) = target
        .profile
        .as_ref()
        .filter(|_| !target.dummy_credentials)
    {
        loader = loader.profile_name(p);
    }
    if target.dummy_credentials {
        loader = loader.credentials_provider(aws_sdk_medialive::config::Credentials::new(
            "AKIDSANDBOX",
            "sandbox-secret",
            None,
            None,
            "livestack-dummy",
        ));
    }
    let conf = loader.load().await;
    if conf.region().is_none() {
        return Err(Error::Config {
            reason: "no region: set `region` in the stack file, --region, or AWS_REGION".into(),
        });
    }
    Ok(conf)
}

/// The four service clients, built once by [`connect`].
#[derive(Debug, Clone)]
pub struct Clients {
    ml: aws_sdk_medialive::Client,
    mp: aws_sdk_mediapackage::Client,
    iam: aws_sdk_iam::Client,
    ssm: aws_sdk_ssm::Client,
    sts: aws_sdk_sts::Client,
    /// The profile the credentials come from, when they come from one.
    profile: Option<String>,
    hasher: Option<Hasher>,
    /// The pace of each API family, shared by the four clients.
    pacer: std::sync::Arc<Pacer>,
}

pub use livestack_engine::{ChannelWait, SecretSource};

/// [`connect_with`] the default [`CallPolicy`].
pub async fn connect(target: &Target) -> Result<Clients, Error> {
    connect_with(target, &CallPolicy::default()).await
}

/// Builds the clients from aws-config's standard chain (environment, profiles, SSO), with
/// `target`'s region and endpoint over it, at most 8 attempts a call, within `policy`'s time (a
/// server that stops answering fails the call within its budget), each retry told to `policy`'s
/// observer.
///
/// Throttles are paced, not slept through: every request waits for its API family's slot in
/// one [`Pacer`] shared by the four clients (see `pace`), so the SDK's own backoff is kept
/// short (the standard mode's jitter, at most 1 s against the sandbox, 5 s against AWS) and its
/// adaptive mode, whose rate limiter parks a call for 10-20 s after a throttle, is not used.
pub async fn connect_with(target: &Target, policy: &CallPolicy) -> Result<Clients, Error> {
    use aws_config::retry::RetryConfig;

    let retry = RetryConfig::standard()
        .with_max_attempts(8)
        .with_max_backoff(if target.dummy_credentials {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        });
    // A hung connection fails the attempt (and is retried) instead of hanging the apply, and
    // the call gives up when its budget is spent. The attempt's limit is applied by the pacing
    // HTTP client once the attempt is let through (`pace::PacedClient`), so that waiting for a
    // slot is not mistaken for a server that does not answer.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(policy.connect_timeout())
        .operation_timeout(policy.budget)
        .build();
    let conf = sdk_config(target, retry, timeouts).await?;
    let http = pace::default_http_client()?;
    let pacer = std::sync::Arc::new(Pacer::default());
    let partition = |service: &str| {
        target
            .endpoint_url
            .as_ref()
            .map(|url| format!("livestack-{service}-{url}"))
    };
    macro_rules! client {
        ($sdk:ident, $service:literal) => {{
            let mut b = $sdk::config::Builder::from(&conf)
                .interceptor(calls::ReportRetries {
                    policy: policy.clone(),
                })
                .interceptor(pace::LearnPace {
                    pacer: pacer.clone(),
                })
                .http_client(pace::PacedClient::new(
                    http.clone(),
                    pacer.clone(),
                    $service,
                    policy.attempt_timeout(),
                ));
            if let Some(p) = partition($service) {
                b = b.retry_partition($sdk::config::retry::RetryPartition::new(p));
            }
            $sdk::Client::from_conf(b.build())
        }};
    }
    // Who the caller is: one call a run, not paced, tried three times (an endpoint that is
    // not there is said at once, not after the eight attempts a resource's call gets).
    let sts = {
        let mut b = aws_sdk_sts::config::Builder::from(&conf)
            .interceptor(calls::ReportRetries {
                policy: policy.clone(),
            })
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_max_backoff(Duration::from_secs(1)),
            )
            // Not paced, so the attempt's limit is the SDK's own here.
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(policy.connect_timeout())
                    .operation_attempt_timeout(policy.attempt_timeout())
                    .operation_timeout(policy.budget)
                    .build(),
            );
        if let Some(p) = partition("sts") {
            b = b.retry_partition(aws_sdk_sts::config::retry::RetryPartition::new(p));
        }
        aws_sdk_sts::Client::from_conf(b.build())
    };
    let profile = match (&target.profile, target.dummy_credentials) {
        (_, true) => None,
        (Some(p), false) => Some(p.clone()),
        // The standard chain: credentials in the environment come before any profile.
        (None, false) if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() => None,
        (None, false) => Some(
            std::env::var("AWS_PROFILE")
                .ok()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "default".into()),
        ),
    };
    Ok(Clients {
        sts,
        profile,
        ml: client!(aws_sdk_medialive, "medialive"),
        mp: client!(aws_sdk_mediapackage, "mediapackage"),
        iam: client!(aws_sdk_iam, "iam"),
        ssm: client!(aws_sdk_ssm, "ssm"),
        hasher: None,
        pacer,
    })
}

impl Clients {
    /// Makes [`create`](Self::create) and [`update`](Self::update) hash the secrets in the
    /// specs they return (without it those members are left out of their answers).
    pub fn with_hasher(mut self, hasher: Hasher) -> Clients {
        self.hasher = Some(hasher);
        self
    }

    /// The key of the stack's secret hashes, from its SSM SecureString parameter
    /// ([`hash_key_parameter`]); `None` when there is none yet.
    pub async fn hash_key(&self, stack: &str) -> Result<Option<String>, Error> {
        match ssm::value(&self.ssm, &hash_key_parameter(stack)).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Keeps `key` as the stack's hash key: a SecureString parameter, tagged with the stack
    /// (not with an address: it is not a resource of the stack file). `overwrite` replaces a
    /// key there.
    pub async fn put_hash_key(&self, stack: &str, key: &str, overwrite: bool) -> Result<(), Error> {
        let name = hash_key_parameter(stack);
        let res = format!("ssm parameter {name}");
        let mut req = self
            .ssm
            .put_parameter()
            .name(&name)
            .value(key)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .description("livestack: the key of this stack's secret hashes (never printed)")
            .overwrite(overwrite);
        if !overwrite {
            let tag = aws_sdk_ssm::types::Tag::builder()
                .key(livestack_model::STACK_TAG)
                .value(stack)
                .build()
                .map_err(|e| Error::InvalidSpec {
                    resource: res.clone(),
                    reason: e.to_string(),
                })?;
            req = req.tags(tag);
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| error::sdk("PutParameter", &res, e, &[key]))
    }

    /// Deletes the stack's hash key (its last resource destroyed); gone already is done.
    pub async fn delete_hash_key(&self, stack: &str) -> Result<(), Error> {
        let name = hash_key_parameter(stack);
        match self.ssm.delete_parameter().name(&name).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = error::sdk("DeleteParameter", &format!("ssm parameter {name}"), e, &[]);
                if e.is_not_found() {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The pace of each API family that was throttled, in calls a second.
    pub fn paces(&self) -> Vec<(Family, f64)> {
        self.pacer.paces()
    }

    /// The region the clients sign for.
    pub fn region(&self) -> Option<String> {
        self.ml.config().region().map(|r| r.to_string())
    }

    /// The profile of the AWS configuration the credentials come from: the one asked for,
    /// else `AWS_PROFILE` or `default` when the environment holds no credentials; `None` with
    /// credentials from the environment or dummy ones.
    pub fn profile(&self) -> Option<String> {
        self.profile.clone()
    }

    /// Who the calls are made as (STS GetCallerIdentity): the first call of a run, so a
    /// missing credential or an endpoint that does not answer is met here.
    pub async fn caller_identity(&self) -> Result<CallerIdentity, Error> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| error::sdk("GetCallerIdentity", "the caller identity", e, &[]))?;
        let unexpected = |member: &str| Error::Unexpected {
            operation: "GetCallerIdentity",
            resource: "the caller identity".into(),
            reason: format!("no {member} in the answer"),
        };
        Ok(CallerIdentity {
            account: out.account.ok_or_else(|| unexpected("Account"))?,
            arn: out.arn.unwrap_or_default(),
            user_id: out.user_id.unwrap_or_default(),
        })
    }

    /// The resource as the cloud has it; `None` when it does not exist (404, or a channel,
    /// input or security group in state DELETED).
    pub async fn read(
        &self,
        address: &Address,
        id: &str,
        hasher: &Hasher,
    ) -> Result<Option<ObservedResource>, Error> {
        let res = address.to_string();
        kinds::dispatch!(address.kind, k => k.read(self, &res, id, hasher).await)
    }

    /// The resources of `ids` (all of one `kind`) that exist, each as [`read`](Self::read)
    /// shows it, in as few calls as the kind allows: inputs, security groups, MediaPackage
    /// channels and endpoints from their List call (pages of 1,000), parameters from batched
    /// GetParameters and DescribeParameters plus their tags; `None` for the kinds read one by
    /// one (a channel's list lacks its EncoderSettings; roles are few). An id left out may not
    /// exist, or be too new to be listed: read it to know.
    pub async fn read_many(
        &self,
        kind: Kind,
        ids: &[String],
        hasher: &Hasher,
    ) -> Result<Option<Vec<ObservedResource>>, Error> {
        kinds::dispatch!(kind, k => k.read_many(self, ids, hasher).await)
    }

    /// Every resource of `kind` in the account (MediaLive channels, MediaPackage endpoints),
    /// each as [`read`](Self::read) shows it; `None` for a kind not listed whole. For
    /// `livestack import`, which reads what no stack owns yet.
    pub async fn list_all(
        &self,
        kind: Kind,
        hasher: &Hasher,
    ) -> Result<Option<Vec<ObservedResource>>, Error> {
        kinds::dispatch!(kind, k => k.list_all(self, hasher).await)
    }

    /// Every resource tagged `livestack:stack=<stack>`: its `livestack:address` tag and its
    /// id. IAM roles are not listed (listing every role of an account is slow): probe them by
    /// name with [`read`](Self::read). Ids in `known` (read already, tags and all) may be
    /// left out: their tags are not asked for again where no list gives them.
    pub async fn discover(
        &self,
        stack: &str,
        known: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<(Address, String)>, Error> {
        // The three services side by side.
        let (ml, mp, ssm) = tokio::join!(
            medialive::discover(&self.ml, stack),
            mediapackage::discover(&self.mp, stack),
            ssm::discover(&self.ssm, stack, known),
        );
        let mut out = Vec::new();
        out.extend(ml?);
        out.extend(mp?);
        out.extend(ssm?);
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Creates the resource from a fully resolved spec (no `$ref`, secrets as plain strings).
    /// `token` is the idempotency token (MediaLive's RequestId): the same token for a retried
    /// create returns the first create's resource. Only MediaLive channels and inputs take
    /// one; roles, MediaPackage resources and parameters are named by the spec (a second
    /// create is an "already exists" error, see [`Error::is_already_exists`]), and a security
    /// group has neither (one whose answer was lost is found again by [`discover`](Self::discover)).
    /// Returns the new id and what AWS answered.
    pub async fn create(
        &self,
        address: &Address,
        spec: &Json,
        token: &str,
    ) -> Result<(String, ObservedResource), Error> {
        let res = address.to_string();
        check_spec(&res, spec)?;
        let observed =
            kinds::dispatch!(address.kind, k => k.create(self, &res, spec, token).await)?;
        Ok((observed.id.clone(), observed))
    }

    /// Brings the resource to `spec`, sending the whole desired spec (UpdateChannel and
    /// UpdateOriginEndpoint reset what they are not given) and reconciling tags against
    /// `current`'s. A channel's class is changed by [`update_channel_class`](Self::update_channel_class), not here.
    pub async fn update(
        &self,
        address: &Address,
        id: &str,
        spec: &Json,
        current: &ObservedResource,
    ) -> Result<ObservedResource, Error> {
        let res = address.to_string();
        check_spec(&res, spec)?;
        kinds::dispatch!(address.kind, k => k.update(self, &res, id, spec, current).await)
    }

    /// Only the tags: brings `current`'s Tags to `desired`'s (CreateTags/DeleteTags,
    /// TagResource/UntagResource, AddTagsToResource/RemoveTagsFromResource, TagRole/UntagRole)
    /// and changes nothing else. The one change a running channel takes without a stop.
    /// Returns `current` with the new Tags.
    pub async fn update_tags(
        &self,
        address: &Address,
        id: &str,
        desired: &Json,
        current: &ObservedResource,
    ) -> Result<ObservedResource, Error> {
        let res = address.to_string();
        let arn = current
            .arn
            .clone()
            .or_else(|| str_member(&current.outputs, "Arn"));
        let t = kinds::Retag {
            id,
            arn: arn.as_deref(),
            current: &current.spec,
            desired,
        };
        kinds::dispatch!(address.kind, k => k.reconcile_tags(self, &res, t).await)?;
        let mut observed = current.clone();
        observed.spec["Tags"] = tags::desired(desired);
        Ok(observed)
    }

    /// Deletes the resource; one already gone is success. A role's inline policies are deleted
    /// and its managed policies detached first. Waits for nothing: see
    /// [`wait_channel`](Self::wait_channel) and [`wait_gone`](Self::wait_gone).
    pub async fn delete(&self, address: &Address, id: &str) -> Result<(), Error> {
        let res = address.to_string();
        let result = kinds::dispatch!(address.kind, k => k.delete(self, &res, id).await);
        match result {
            Err(e) if e.is_not_found() => Ok(()),
            // The SDK's retry of a delete whose answer was lost meets the resource on its way
            // out.
            Err(e) if e.is_conflict() && self.on_its_way_out(address, id).await => Ok(()),
            other => other,
        }
    }

    /// Whether a MediaLive resource is DELETING or gone.
    async fn on_its_way_out(&self, address: &Address, id: &str) -> bool {
        let hasher = Hasher::new(b"livestack-state-check");
        match self.read(address, id, &hasher).await {
            Ok(None) => true,
            Ok(Some(o)) => o.status.as_deref() == Some("DELETING"),
            Err(_) => false,
        }
    }

    /// StartChannel (does not wait). A channel already STARTING or RUNNING is success: the
    /// SDK's retry of a start whose answer was lost meets it so.
    pub async fn start_channel(&self, id: &str) -> Result<(), Error> {
        kinds::medialive_channel::start(&self.ml, id).await
    }

    /// StopChannel (does not wait). A channel already STOPPING or IDLE is success.
    pub async fn stop_channel(&self, id: &str) -> Result<(), Error> {
        kinds::medialive_channel::stop(&self.ml, id).await
    }

    /// UpdateChannelClass: `class` is STANDARD or SINGLE_PIPELINE, `destinations` the
    /// channel's Destinations (PascalCase, secrets resolved) with one setting per pipeline of
    /// the new class. Does not wait. A conflict with a channel UPDATING (the SDK's retry of a
    /// call whose answer was lost) waits for IDLE: done if the class is now `class`, else sent
    /// again.
    pub async fn update_channel_class(
        &self,
        id: &str,
        class: &str,
        destinations: &Json,
    ) -> Result<(), Error> {
        kinds::medialive_channel::change_class(&self.ml, id, class, destinations).await
    }

    /// Waits until the channel is `want`, polling on [`Poll`]'s schedule (not the SDK's
    /// waiters, whose pauses grow to two minutes). CREATE_FAILED and UPDATE_FAILED are errors.
    pub async fn wait_channel(
        &self,
        id: &str,
        want: ChannelWait,
        timeout: Duration,
    ) -> Result<(), Error> {
        kinds::medialive_channel::wait_channel(&self.ml, id, want, timeout).await
    }

    /// Waits until the input is DETACHED (an input gone counts as detached).
    pub async fn wait_input_detached(&self, id: &str, timeout: Duration) -> Result<(), Error> {
        kinds::medialive_input::wait_input_detached(&self.ml, id, timeout).await
    }

    /// Polls [`read`](Self::read) on [`Poll`]'s schedule until the resource is gone.
    pub async fn wait_gone(
        &self,
        address: &Address,
        id: &str,
        timeout: Duration,
    ) -> Result<(), Error> {
        let hasher = Hasher::new(b"livestack-wait-gone");
        let mut poll = Poll::new(timeout);
        loop {
            if self.read(address, id, &hasher).await?.is_none() {
                return Ok(());
            }
            if !poll.sleep().await {
                return Err(Error::Timeout {
                    resource: address.to_string(),
                    want: "gone".into(),
                    after: timeout,
                });
            }
        }
    }

    /// The value of a secret. The value is never part of an error.
    pub async fn secret_value(&self, source: &SecretSource) -> Result<String, Error> {
        match source {
            SecretSource::Env(name) => std::env::var(name).map_err(|e| Error::Secret {
                name: source.name(),
                reason: match e {
                    std::env::VarError::NotPresent => "the variable is not set".into(),
                    std::env::VarError::NotUnicode(_) => "the value is not UTF-8".into(),
                },
            }),
            SecretSource::Ssm(name) => ssm::value(&self.ssm, name).await,
            SecretSource::IngestPassword { channel_id, index } => {
                mediapackage::ingest_password(&self.mp, channel_id, *index).await
            }
        }
    }
}

impl Clients {
    /// The values of `sources`, in order, in as few calls as they allow: the ingest passwords
    /// of two or more MediaPackage channels from one ListChannels, two or more SSM parameters
    /// from GetParameters calls of ten. What a bulk call did not give (or a bulk call that
    /// failed) is read one by one, so that each error is the one [`secret_value`](Self::secret_value) gives.
    pub async fn secret_values(&self, sources: &[SecretSource]) -> Vec<Result<String, Error>> {
        let channels: std::collections::BTreeSet<&str> = sources
            .iter()
            .filter_map(|s| match s {
                SecretSource::IngestPassword { channel_id, .. } => Some(channel_id.as_str()),
                _ => None,
            })
            .collect();
        let params: Vec<String> = sources
            .iter()
            .filter_map(|s| match s {
                SecretSource::Ssm(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        let passwords = match channels.len() {
            0 | 1 => Default::default(),
            _ => mediapackage::all_ingest_passwords(&self.mp)
                .await
                .unwrap_or_default(),
        };
        let values = match params.len() {
            0 | 1 => Default::default(),
            _ => ssm::values(&self.ssm, &params).await.unwrap_or_default(),
        };
        let mut out = Vec::with_capacity(sources.len());
        for s in sources {
            let known = match s {
                SecretSource::IngestPassword { channel_id, index } => passwords
                    .get(channel_id)
                    .and_then(|p| p.get(*index).cloned().flatten()),
                SecretSource::Ssm(n) => values.get(n).cloned(),
                SecretSource::Env(_) => None,
            };
            out.push(match known {
                Some(v) => Ok(v),
                None => self.secret_value(s).await,
            });
        }
        out
    }
}

/// A spec must be an object and fully resolved.
fn check_spec(res: &str, spec: &Json) -> Result<(), Error> {
    if !spec.is_object() {
        return Err(Error::InvalidSpec {
            resource: res.into(),
            reason: "the spec is not a JSON object".into(),
        });
    }
    if let Some(p) = placeholder(spec) {
        return Err(Error::InvalidSpec {
            resource: res.into(),
            reason: format!("unresolved `{p}` placeholder"),
        });
    }
    Ok(())
}

fn placeholder(v: &Json) -> Option<&'static str> {
    match v {
        Json::Object(m) => {
            for p in ["$ref", "$secret", "$sensitive"] {
                if m.contains_key(p) {
                    return Some(p);
                }
            }
            m.values().find_map(placeholder)
        }
        Json::Array(a) => a.iter().find_map(placeholder),
        _ => None,
    }
}

/// What a read's 200 answer says: the resource, or `None` when its state is DELETED. An
/// answer without the resource's id (an empty or unreadable body) is an error naming the call:
/// only a 404 or a DELETED state mean gone, never an answer that makes no sense.
pub(crate) fn read_answer(
    operation: &'static str,
    res: &str,
    raw: &Json,
    observed: Option<ObservedResource>,
) -> Result<Option<ObservedResource>, Error> {
    if observed.is_some() || raw.get("state").and_then(Json::as_str) == Some("DELETED") {
        return Ok(observed);
    }
    let reason = match raw.as_object() {
        Some(m) if m.is_empty() => "HTTP 200 with an empty or unreadable body".to_string(),
        _ => "HTTP 200 without the resource's `id`".to_string(),
    };
    Err(Error::Unexpected {
        operation,
        resource: res.to_string(),
        reason,
    })
}

/// A paginated List call whose pages hold whole resources in `member`.
#[derive(Clone, Copy)]
pub(crate) struct Pages {
    pub(crate) operation: &'static str,
    pub(crate) resource: &'static str,
    pub(crate) member: &'static str,
}

impl Pages {
    /// Every page's resources, each as its Describe would show it (DELETED ones left out):
    /// `send` sends one page's call after `token` with `capture` as its interceptor. An element
    /// without an id, or a `member` that is not a list, is an answer that makes no sense: an
    /// error, never skipped.
    pub(crate) async fn collect<F, Fut>(
        self,
        observe: impl Fn(&Json) -> Option<ObservedResource>,
        send: F,
    ) -> Result<Vec<ObservedResource>, Error>
    where
        F: Fn(Option<String>, raw::Capture) -> Fut,
        Fut: std::future::Future<Output = Result<(), Error>>,
    {
        let unexpected = |reason: String| Error::Unexpected {
            operation: self.operation,
            resource: self.resource.to_string(),
            reason,
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let cap = raw::Capture::default();
            send(token.take(), cap.clone()).await?;
            let page = cap.json();
            match page.get(self.member) {
                None | Some(Json::Null) => {}
                Some(Json::Array(items)) => {
                    for item in items {
                        if item.get("state").and_then(Json::as_str) == Some("DELETED") {
                            continue;
                        }
                        out.push(
                            observe(item)
                                .ok_or_else(|| unexpected("an element without its `id`".into()))?,
                        );
                    }
                }
                Some(_) => return Err(unexpected(format!("`{}` is not a list", self.member))),
            }
            match page["nextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }
}

/// A member of a spec as a string.
fn str_member(spec: &Json, name: &str) -> Option<String> {
    spec.get(name).and_then(Json::as_str).map(String::from)
}

/// How long a call whose answer was lost is given to settle before it is sent again.
const LOST_ANSWER_WAIT: Duration = Duration::from_secs(120);

/// How long a call that meets eventual consistency (see [`Error::is_not_visible_yet`]) is
/// tried again before its error is returned.
const CONSISTENCY_WINDOW: Duration = Duration::from_secs(30);

/// Runs `call` again, with backoff, while it fails with an eventual-consistency error, for
/// at most [`CONSISTENCY_WINDOW`]. Only for calls that changed nothing when they failed so.
async fn until_visible<T, F, Fut>(mut call: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let deadline = tokio::time::Instant::now() + CONSISTENCY_WINDOW;
    let mut backoff = Backoff::new(Duration::from_secs(5));
    loop {
        match call().await {
            Err(e) if e.is_not_visible_yet() && backoff.sleep(deadline).await => continue,
            other => return other,
        }
    }
}

/// The pauses of a wait for a state: a tenth of the time waited so far, at least 50 ms and at
/// most 5 s, so that the end of a transition is seen within about a tenth of its length (or
/// 5 s), whether it takes a second (the sandbox, a channel's create) or minutes (a start on
/// AWS), in some 30 polls for a 60 s start.
pub(crate) struct Poll {
    started: tokio::time::Instant,
    deadline: tokio::time::Instant,
}

impl Poll {
    pub(crate) fn new(timeout: Duration) -> Poll {
        let started = tokio::time::Instant::now();
        Poll {
            started,
            deadline: started + timeout,
        }
    }

    /// Sleeps the next pause, cut at the deadline; false when the deadline has passed.
    pub(crate) async fn sleep(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if now >= self.deadline {
            return false;
        }
        let pause = ((now - self.started) / 10).clamp(POLL_MIN, POLL_MAX);
        tokio::time::sleep(pause.min(self.deadline - now)).await;
        true
    }
}

const POLL_MIN: Duration = Duration::from_millis(50);
const POLL_MAX: Duration = Duration::from_secs(5);

/// Pauses between own polls: 50 ms doubling up to `cap`.
struct Backoff {
    delay: Duration,
    cap: Duration,
}

impl Backoff {
    fn new(cap: Duration) -> Backoff {
        Backoff {
            delay: Duration::from_millis(50),
            cap,
        }
    }

    /// Sleeps the next pause, cut at `deadline`; false when the deadline has passed.
    async fn sleep(&mut self, deadline: tokio::time::Instant) -> bool {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(self.delay.min(deadline - now)).await;
        self.delay = (self.delay * 2).min(self.cap);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unresolved_placeholders_are_refused() {
        let spec = json!({ "RoleArn": { "$ref": "iam_role.x", "attr": "Arn" } });
        let e = check_spec("medialive_channel.x", &spec).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid spec for medialive_channel.x: unresolved `$ref` placeholder"
        );
        let spec = json!({ "Destinations": [{ "Settings": [{ "StreamName": { "$secret": { "env": "K" } } }] }] });
        assert!(check_spec("x", &spec).is_err());
        assert!(check_spec("x", &json!({ "Name": "a" })).is_ok());
    }

    #[test]
    fn secret_sources_debug_without_values() {
        let s = SecretSource::IngestPassword {
            channel_id: "mp".into(),
            index: 1,
        };
        assert_eq!(
            format!("{s:?}"),
            "ingest password 2 of mediapackage channel mp"
        );
    }
}

//! The cloud as the engine sees it: what it reads, creates, changes, deletes and waits for.
//! `livestack_aws::Clients` implements [`Cloud`] with the aws-sdk clients; a test or another
//! program may bring its own.

use std::future::Future;
use std::time::Duration;

use livestack_model::{Address, Kind};
use livestack_plan::{Hasher, ObservedResource};
use serde_json::Value as Json;

/// What the engine needs to know of a cloud's error: its message and cause chain (through
/// `std::error::Error`), and whether it says the resource already exists.
pub trait CloudError: std::error::Error + Send + Sync + 'static {
    /// A create met a resource of the same name (the engine then checks its ownership tags).
    fn is_already_exists(&self) -> bool;
}

/// Where a secret value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of this process.
    Env(String),
    /// An SSM parameter, read with decryption.
    Ssm(String),
    /// The password of ingest endpoint `index` (0 or 1) of a MediaPackage channel.
    IngestPassword { channel_id: String, index: usize },
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl SecretSource {
    /// How messages name it (never its value).
    pub fn name(&self) -> String {
        match self {
            SecretSource::Env(n) => format!("env {n}"),
            SecretSource::Ssm(n) => format!("ssm {n}"),
            SecretSource::IngestPassword { channel_id, index } => {
                format!(
                    "ingest password {} of mediapackage channel {channel_id}",
                    index + 1
                )
            }
        }
    }
}

/// The channel state a [`Cloud::wait_channel`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelWait {
    /// IDLE: after a create, a stop, an update or a class change.
    Idle,
    /// RUNNING: after a start.
    Running,
    /// DELETED (or no longer found): after a delete.
    Deleted,
}

impl std::fmt::Display for ChannelWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChannelWait::Idle => "IDLE",
            ChannelWait::Running => "RUNNING",
            ChannelWait::Deleted => "DELETED",
        })
    }
}

/// A cloud the engine reconciles against. Every call names the resource it is about by its
/// address, so that an implementation can say so in its errors and retry reports.
///
/// Specs in and out are the PascalCase JSON shapes of `livestack_model`; observed specs carry
/// secrets as `{"$sensitive": hash}` made with the given hasher, never their values.
pub trait Cloud: Clone + Send + Sync + 'static {
    type Error: CloudError;

    /// Runs `work` with the cloud's calls (their retry reports, their logs) said to be about
    /// `resource`.
    fn about<F: Future + Send>(
        resource: String,
        work: F,
    ) -> impl Future<Output = F::Output> + Send {
        let _ = resource;
        work
    }

    /// The resource as the cloud has it; `None` when it does not exist.
    fn read(
        &self,
        address: &Address,
        id: &str,
        hasher: &Hasher,
    ) -> impl Future<Output = Result<Option<ObservedResource>, Self::Error>> + Send;

    /// The resources of `ids` (all of one `kind`) that exist, in as few calls as the cloud
    /// can (a List call that returns them whole, a batched Get), each exactly as
    /// [`read`](Self::read) would return it; `None` when the kind has no bulk read. An id left
    /// out is not known to be gone (it may be too new to be listed): the engine reads it.
    fn read_many(
        &self,
        kind: Kind,
        ids: &[String],
        hasher: &Hasher,
    ) -> impl Future<Output = Result<Option<Vec<ObservedResource>>, Self::Error>> + Send {
        let _ = (kind, ids, hasher);
        async { Ok(None) }
    }

    /// Every resource of `kind` in the account, whoever owns it, each as
    /// [`read`](Self::read) would return it; `None` for a kind the cloud does not list whole
    /// (`livestack import` finds those through what refers to them).
    fn list_all(
        &self,
        kind: Kind,
        hasher: &Hasher,
    ) -> impl Future<Output = Result<Option<Vec<ObservedResource>>, Self::Error>> + Send {
        let _ = (kind, hasher);
        async { Ok(None) }
    }

    /// Every resource tagged as `stack`'s: its address tag and its id. Those whose id is in
    /// `known` (read already, tags and all) may be left out, so that no tag is read twice.
    fn discover(
        &self,
        stack: &str,
        known: &std::collections::BTreeSet<String>,
    ) -> impl Future<Output = Result<Vec<(Address, String)>, Self::Error>> + Send;

    /// Creates it from a fully resolved spec; `token` makes a retried create idempotent where
    /// the kind takes one. Returns the new id and what the cloud answered.
    fn create(
        &self,
        address: &Address,
        spec: &Json,
        token: &str,
    ) -> impl Future<Output = Result<(String, ObservedResource), Self::Error>> + Send;

    /// Brings it to `spec` (tags reconciled against `current`'s).
    fn update(
        &self,
        address: &Address,
        id: &str,
        spec: &Json,
        current: &ObservedResource,
    ) -> impl Future<Output = Result<ObservedResource, Self::Error>> + Send;

    /// Brings only its tags to `desired`'s.
    fn update_tags(
        &self,
        address: &Address,
        id: &str,
        desired: &Json,
        current: &ObservedResource,
    ) -> impl Future<Output = Result<ObservedResource, Self::Error>> + Send;

    /// Deletes it; one already gone is success. Waits for nothing.
    fn delete(
        &self,
        address: &Address,
        id: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn start_channel(&self, id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn stop_channel(&self, id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Changes a channel's class, with `destinations` for the new class's pipelines.
    fn update_channel_class(
        &self,
        id: &str,
        class: &str,
        destinations: &Json,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn wait_channel(
        &self,
        id: &str,
        want: ChannelWait,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn wait_input_detached(
        &self,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn wait_gone(
        &self,
        address: &Address,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The value of a secret; never part of an error.
    fn secret_value(
        &self,
        source: &SecretSource,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;

    /// The values of `sources`, in order, in as few calls as the cloud allows (SSM's
    /// GetParameters takes ten names a call; one list gives every MediaPackage channel's
    /// ingest passwords). By default one [`secret_value`](Self::secret_value) each.
    fn secret_values(
        &self,
        sources: &[SecretSource],
    ) -> impl Future<Output = Vec<Result<String, Self::Error>>> + Send {
        let sources = sources.to_vec();
        let this = self.clone();
        async move {
            let mut out = Vec::with_capacity(sources.len());
            for s in &sources {
                out.push(this.secret_value(s).await);
            }
            out
        }
    }
}

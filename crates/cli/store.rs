//! Where a stack's state is kept: `--state`, else `[stack] state`, else `state/<stack>.json`;
//! a path, or `s3://bucket/key` reached with the run's own AWS target.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use livestack_model::ValidatedStack;
use livestack_state::{Remote, Store};

/// The state as the stack file names it (`[stack] state`), else `state/<stack>.json`.
pub fn configured(desired: &ValidatedStack) -> PathBuf {
    desired
        .state
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::default_state_path(desired))
}

/// The state of this run: `--state` wins over the stack file.
pub fn location(flag: Option<&Path>, desired: &ValidatedStack) -> PathBuf {
    flag.map(Path::to_path_buf)
        .unwrap_or_else(|| configured(desired))
}

/// The `s3://` URL `at` is, if it is one.
pub fn s3_url(at: &Path) -> Option<&str> {
    at.to_str().filter(|s| s.starts_with("s3://"))
}

/// Where the embedded sandbox keeps its cloud: beside a state file, else in `state/`.
pub fn sandbox_data(at: &Path, desired: &ValidatedStack) -> PathBuf {
    let name = format!("{}.sandbox.json", desired.name);
    match s3_url(at) {
        Some(_) => Path::new("state").join(name),
        None => at.with_file_name(name),
    }
}

/// The store at `at`; a bucket is reached through `target` (the embedded sandbox, when
/// running, keeps the bucket itself).
pub async fn open(
    at: &Path,
    desired: &ValidatedStack,
    target: &livestack_aws::Target,
    sandbox: Option<&livestack_sandbox::Running>,
) -> Result<Store> {
    let Some(url) = s3_url(at) else {
        return Ok(Store::File(at.to_path_buf()));
    };
    let (bucket, key) =
        livestack_aws::parse_s3_url(url).map_err(|why| anyhow::anyhow!("--state {why}"))?;
    if let Some(s) = sandbox {
        s.ensure_bucket(&bucket)
            .await
            .with_context(|| format!("creating the bucket {bucket} in the embedded sandbox"))?;
    }
    let kms = desired.state_kms_key.clone();
    let target = target.clone();
    let b = bucket.clone();
    let objects =
        tokio::task::spawn_blocking(move || livestack_aws::S3Objects::connect(&target, &b, kms))
            .await
            .context("the S3 client's start")?
            .with_context(|| format!("the state {url}"))?;
    Ok(Store::Remote(Arc::new(Remote::new(
        Arc::new(objects),
        &key,
    ))))
}

/// A store opened for a command that makes no other AWS call, with what keeps it reachable.
pub struct Plain {
    pub store: Store,
    /// Where the state is, as given or configured.
    pub at: PathBuf,
    /// The embedded sandbox keeping the bucket (`--sandbox`), while the command runs.
    _sandbox: Option<livestack_sandbox::Running>,
    /// Its data file, locked while a command that writes runs.
    data_lock: Option<livestack_state::Lock>,
}

impl Plain {
    /// The lock of the state (see [`lock_within`] for the embedded sandbox's bucket).
    pub fn lock(&self, operation: &str) -> Result<livestack_state::Lock, anyhow::Error> {
        match self.data_lock {
            Some(_) => lock_within(&self.store, operation),
            None => Ok(self.store.lock(operation)?),
        }
    }
}

/// The store for commands that call no other AWS API (`state`, `show`, `force-unlock`): a
/// bucket is reached as `args` say (the embedded sandbox, a sandbox's URL, an endpoint),
/// else with the AWS configuration (`AWS_ENDPOINT_URL` honoured) in the stack's region.
/// `writes`: the command changes the state (the embedded sandbox's data file is locked).
pub async fn open_plain(
    args: &crate::StateArgs,
    desired: &ValidatedStack,
    writes: bool,
) -> Result<Plain> {
    let at = location(args.state.as_deref(), desired);
    if s3_url(&at).is_none() {
        return Ok(Plain {
            store: Store::File(at.clone()),
            at,
            _sandbox: None,
            data_lock: None,
        });
    }
    crate::check_region(args.region.as_deref())?;
    let region = args.region.clone().or_else(|| desired.region.clone());
    let mut data_lock = None;
    let (target, sandbox) = if args.sandbox {
        let data = sandbox_data(&at, desired);
        if writes {
            data_lock = Some(livestack_state::Lock::acquire(&data, "state").map_err(|e| {
                crate::lock_error(e, &desired.path, &data, &configured(desired), &[])
            })?);
        }
        let running = livestack_sandbox::start(livestack_sandbox::Config {
            port: 0,
            data: Some(data.clone()),
            region: region.clone().unwrap_or_else(|| "us-east-1".into()),
            ..Default::default()
        })
        .await
        .with_context(|| format!("starting the embedded sandbox of {}", data.display()))?;
        let target = livestack_aws::Target {
            region,
            endpoint_url: Some(running.endpoint_url()),
            dummy_credentials: true,
            profile: None,
        };
        (target, Some(running))
    } else {
        let target = livestack_aws::Target {
            region,
            endpoint_url: args
                .sandbox_url
                .clone()
                .or_else(|| args.endpoint_url.clone()),
            dummy_credentials: args.sandbox_url.is_some(),
            profile: None,
        };
        (target, None)
    };
    let store = open(&at, desired, &target, sandbox.as_ref()).await?;
    Ok(Plain {
        store,
        at,
        _sandbox: sandbox,
        data_lock,
    })
}

/// The lock of a state whose bucket only this process reaches (the embedded sandbox's, its
/// data file locked): a lock object found there was left by a killed run, and is replaced.
pub fn lock_within(at: &Store, operation: &str) -> Result<livestack_state::Lock> {
    match at.lock(operation) {
        Err(e) if e.lock_id().is_some() => {
            let id = e.lock_id().unwrap_or_default().to_string();
            at.force_unlock(&id)?;
            crate::progress::warning(&format!(
                "{}: removed the lock {id} a killed run left in the embedded sandbox's bucket",
                at.lock_name()
            ));
            Ok(at.lock(operation)?)
        }
        other => Ok(other?),
    }
}

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

/// The store for commands that call no other AWS API (`state`, `show`, `force-unlock`): a
/// bucket is reached with the AWS configuration (`AWS_ENDPOINT_URL` honoured) in the stack's
/// region.
pub async fn open_plain(at: &Path, desired: &ValidatedStack) -> Result<Store> {
    let target = livestack_aws::Target {
        region: desired.region.clone(),
        endpoint_url: None,
        dummy_credentials: false,
        profile: None,
    };
    open(at, desired, &target, None).await
}

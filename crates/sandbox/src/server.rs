//! The HTTP server: one loopback endpoint for all four services (as `--endpoint-url` gives
//! every service the same URL), the admin endpoints under `/_sandbox/`, seeded faults, the
//! request log and the data file.
//!
//! Dispatch: a request signed for S3 or STS (the service in its SigV4 credential scope, from
//! the `Authorization` header or a presigned `X-Amz-Credential`: [`crate::wire::scope_service`])
//! goes to S3 (restXml, path-style `/bucket/key`) or STS (awsQuery); a header `x-amz-target: AmazonSSM.*` goes to SSM (awsJson1_1); a POST
//! whose form body has `Action=` goes to IAM (awsQuery); a path under `/prod/` goes to
//! MediaLive; anything else to MediaPackage (restJson1).
//!
//! Admin endpoints (never faulted, not logged): `GET /_sandbox/requests` (the request log),
//! `POST /_sandbox/reset` (empty cloud and log), `PUT /_sandbox/faults` (replace the faults),
//! `GET /_sandbox/cloud` (the cloud as JSON), `GET /_sandbox/identity` (the world id, account
//! and region: who STS GetCallerIdentity says this sandbox is), and the holds a test drives a moment with:
//! `PUT /_sandbox/hold` with `{"operation": "StartChannel", "service": "medialive"}`
//! (`service` optional) makes every such call wait, not yet carried out, until
//! `DELETE /_sandbox/hold/OPERATION` (or `DELETE /_sandbox/hold` for all) releases it;
//! `GET /_sandbox/hold` lists the holds and how many calls each is holding now. A held call
//! whose client goes away is dropped, never carried out. [`Running::hold`],
//! [`Running::release`] and [`Running::wait_held`] do the same from Rust.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::rate::{Buckets, RateLimit};
use crate::wire::{reads_only, Ctx, Req, Resp};
use crate::Cloud;

/// How a sandbox runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks any free port.
    pub port: u16,
    /// The data file the cloud is loaded from and written to after every change (a call
    /// that changes the cloud is answered once the file holds the change); `None` keeps the
    /// cloud in memory only.
    pub data: Option<PathBuf>,
    /// Divides every modelled AWS duration (20.0: a 60 s channel start takes 3 s).
    pub speed: f64,
    /// Faults injected into AWS calls.
    pub faults: Faults,
    /// The account id in ARNs.
    pub account: String,
    /// The region in ARNs and URLs.
    pub region: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: 0,
            data: None,
            speed: 20.0,
            faults: Faults::default(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
        }
    }
}

/// Faults injected into AWS calls. Each call's fault is drawn from a hash of (seed, service,
/// operation, resource, how many times that same call was made before since the faults were
/// set), so a logical call meets the same faults whatever order concurrent calls arrive in.
/// Replaceable at runtime with `PUT /_sandbox/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Seeds the fault pattern (and the ids and passwords the services generate).
    pub seed: u64,
    /// Added to every AWS call.
    pub latency_ms: u64,
    /// Fraction of AWS calls answered 429 (throttling), 0.0 to 1.0.
    pub throttle_rate: f64,
    /// Fraction of AWS calls answered 500 (internal error), 0.0 to 1.0.
    pub error_rate: f64,
    /// Fraction of AWS calls carried out and then answered 500, as when the answer of a
    /// call that succeeded is lost on the way back: what idempotency tokens are for.
    pub lost_response_rate: f64,
    /// How long a new MediaPackage channel stays invisible to MediaLive.
    pub consistency_ms: u64,
    /// AWS's per-account request rates: token buckets per (service, operation family); empty
    /// (the default) is no limit. In JSON, a list of `{"service", "operations", "rate",
    /// "burst"}` or `"aws"` for [`RateLimit::aws`], AWS's own figures.
    #[serde(
        deserialize_with = "crate::rate::deserialize_limits",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub rate_limits: Vec<RateLimit>,
}

/// One AWS call in the request log (`GET /_sandbox/requests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// 1, 2, 3, ... in the order the answers were given.
    pub seq: u64,
    /// Milliseconds since the Unix epoch when the call was answered.
    pub time_ms: u64,
    /// "medialive", "mediapackage", "ssm", "iam" or "s3".
    pub service: String,
    /// The AWS operation, e.g. "CreateChannel" ("unknown" when it cannot be told).
    pub operation: String,
    pub method: String,
    pub path: String,
    /// The id of the resource the call was about, when there is one.
    pub resource: Option<String>,
    pub status: u16,
    /// The fault injected into this call: "throttle", "error" or "lost_response"; "rate"
    /// when the rate model's bucket for it was empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// 1 for the first time this call (service, operation, resource) was made since the faults
    /// were set, 2 for the next (a retry, or a later poll), ...: with the seed, what its
    /// fault was drawn from. 0 for a call the rate model throttled: no fault was drawn for it,
    /// so the seeded pattern does not depend on timing.
    #[serde(default)]
    pub attempt: u64,
}

/// A sandbox serving in a tokio task; stop it with [`Running::shutdown`]. Dropped without
/// a shutdown, it serves until its tokio runtime ends.
pub struct Running {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Writes the data file when woken (with a data file only).
    writer: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The loopback address the sandbox listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `--endpoint-url` or an SDK's `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request log so far (the same as `GET /_sandbox/requests`).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.app.lock().log.clone()
    }

    /// The simulated cloud as it is now (the same as `GET /_sandbox/cloud`).
    pub fn cloud(&self) -> Cloud {
        self.app.lock().cloud.clone()
    }

    /// Makes sure S3 bucket `name` exists, creating it (versioning Enabled, in the sandbox's
    /// region) when missing, so that a state kept at `s3://name/...` works with no setup.
    /// Returns once the data file holds the new bucket; an invalid bucket name is an error.
    pub async fn ensure_bucket(&self, name: &str) -> Result<(), Error> {
        let wait_for = {
            let mut inner = self.app.lock();
            let created =
                crate::s3::ensure_bucket(&mut inner.cloud.s3, name, &self.app.region, now_ms())
                    .map_err(Error::InvalidConfig)?;
            if created {
                self.app.changed(&mut inner)
            } else {
                None
            }
        };
        if let Some(n) = wait_for {
            self.app.written(n).await;
        }
        Ok(())
    }

    /// Who this sandbox world is (the same as `GET /_sandbox/identity`).
    pub fn identity(&self) -> crate::Identity {
        self.app.lock().cloud.identity.clone()
    }

    /// Replaces the faults (the same as `PUT /_sandbox/faults`).
    pub fn set_faults(&self, faults: Faults) -> Result<(), Error> {
        replace_faults(&self.app, faults).map_err(Error::InvalidConfig)
    }

    /// From now on, every call of `operation` (of `service` when given: "medialive",
    /// "mediapackage", "ssm", "iam" or "s3") waits, not yet carried out, until
    /// [`Running::release`] (the same as `PUT /_sandbox/hold`).
    pub fn hold(&self, service: Option<&str>, operation: &str) {
        add_hold(&self.app, service, operation);
    }

    /// Lets the calls of `operation` held so far go on, and holds no more of them (the same
    /// as `DELETE /_sandbox/hold/OPERATION`).
    pub fn release(&self, operation: &str) {
        release_holds(&self.app, Some(operation));
    }

    /// How many calls of `operation` are being held now.
    pub fn held(&self, operation: &str) -> usize {
        held_count(&self.app.holds.borrow(), operation)
    }

    /// Waits until exactly `count` calls of `operation` are being held: 1 once the call a
    /// test waits for has arrived, 0 once a held call's client went away.
    pub async fn wait_held(&self, operation: &str, count: usize) {
        let mut rx = self.app.holds.subscribe();
        let _ = rx
            .wait_for(|holds| held_count(holds, operation) == count)
            .await;
    }

    /// Stops accepting connections, lets the calls in flight finish, and returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("sandbox: server error while stopping: {e}"),
            Err(e) => eprintln!("sandbox: server task failed: {e}"),
        }
        // Every change was written before its call was answered; this catches a change whose
        // call was cut off by the shutdown.
        write_pending(&self.app).await;
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
    }
}

/// Why a sandbox could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid sandbox configuration: {0}")]
    InvalidConfig(String),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the sandbox data file {}", path.display())]
    ReadData {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox data file {} is not valid sandbox data (left untouched)", path.display())]
    CorruptData {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the sandbox data file {}", path.display())]
    WriteData {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox server failed")]
    Serve(#[source] std::io::Error),
    #[error("cannot wait for ctrl-c")]
    Signal(#[source] std::io::Error),
}

/// Starts a sandbox on 127.0.0.1 serving in a tokio task. With `config.data`, the cloud is
/// loaded from that file first (a missing file is an empty cloud).
pub async fn start(config: Config) -> Result<Running, Error> {
    check_config(&config)?;
    let mut cloud = match &config.data {
        Some(path) => load(path)?,
        None => Cloud::default(),
    };
    if cloud.identity.world.is_empty() {
        // A new world (or one written before worlds had an identity): its identity is on
        // disk before anyone can ask for it, so a restart answers the same.
        cloud.identity = crate::Identity::random();
        if let Some(path) = &config.data {
            let bytes = serde_json::to_vec_pretty(&cloud).expect("the cloud serializes");
            write_atomically(path, &bytes).map_err(|source| Error::WriteData {
                path: path.clone(),
                source,
            })?;
        }
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    let app = Arc::new(App::new(config, cloud));
    let writer = app.data.is_some().then(|| {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                app.wake_writer.notified().await;
                write_pending(&app).await;
            }
        })
    });
    let router = axum::Router::new()
        .fallback(handle_http)
        .with_state(app.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Running {
        addr,
        app,
        stop: Some(stop),
        task,
        writer,
    })
}

/// Runs a sandbox in the foreground until Ctrl-C, printing its endpoint URL and an
/// `aws --endpoint-url` example.
pub async fn serve(config: Config) -> Result<(), Error> {
    let data = config.data.clone();
    let speed = config.speed;
    let running = start(config).await?;
    let url = running.endpoint_url();
    let world = running.identity().world;
    println!("livestack sandbox listening on {url} (speed {speed}x, world {world})");
    match &data {
        Some(path) => println!("cloud persisted to {}", path.display()),
        None => println!("cloud kept in memory only (use a data file to keep it)"),
    }
    println!("try: AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url {url} medialive list-channels");
    println!("press Ctrl-C to stop");
    let waited = tokio::signal::ctrl_c().await;
    running.shutdown().await;
    waited.map_err(Error::Signal)
}

// ---------------------------------------------------------------------------------------

/// Largest request body accepted (encoder settings are a few tens of KB).
const MAX_BODY: usize = 16 * 1024 * 1024;

struct App {
    inner: Mutex<Inner>,
    /// The operations held (`PUT /_sandbox/hold`) and the calls each is holding now.
    holds: tokio::sync::watch::Sender<Vec<Hold>>,
    speed: f64,
    account: String,
    region: String,
    data: Option<PathBuf>,
    /// Wakes the data file's writer.
    wake_writer: tokio::sync::Notify,
    /// The last change the data file holds (or failed to take, said on stderr).
    written: tokio::sync::watch::Sender<u64>,
    /// One write at a time (the writer task and the last one at shutdown).
    writing: tokio::sync::Mutex<()>,
}

struct Inner {
    cloud: Cloud,
    log: Vec<LoggedRequest>,
    faults: Faults,
    /// How many times each call (service, operation, resource) was made since the faults
    /// were set: the attempt number its fault is drawn with.
    attempts: std::collections::HashMap<String, u64>,
    /// The randomness handlers get (ids, passwords).
    id_rng: StdRng,
    /// Changes made to the cloud since the start: a call that changed it waits until the
    /// data file holds its change.
    changes: u64,
    /// The rate model's buckets, full again whenever the faults are replaced.
    buckets: Buckets,
}

impl App {
    fn new(config: Config, cloud: Cloud) -> App {
        let inner = Inner {
            attempts: Default::default(),
            id_rng: id_rng(config.faults.seed, cloud.next_id),
            cloud,
            log: Vec::new(),
            faults: config.faults,
            changes: 0,
            buckets: Buckets::default(),
        };
        App {
            inner: Mutex::new(inner),
            holds: tokio::sync::watch::Sender::new(Vec::new()),
            speed: config.speed,
            account: config.account,
            region: config.region,
            data: config.data,
            wake_writer: tokio::sync::Notify::new(),
            written: tokio::sync::watch::Sender::new(0),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts a change to the cloud (under the lock) and answers what to wait for before the
    /// call that made it is answered: the data file holding it. `None` without a data file.
    fn changed(&self, inner: &mut Inner) -> Option<u64> {
        self.data.as_ref()?;
        inner.changes += 1;
        Some(inner.changes)
    }

    /// Waits until the data file holds change `n` (or its write failed, said on stderr).
    async fn written(&self, n: u64) {
        self.wake_writer.notify_one();
        let mut rx = self.written.subscribe();
        let _ = rx.wait_for(|&w| w >= n).await;
    }

    /// Locks the state; a handler that panicked leaves it usable.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The id randomness continues from `next_id`, so a restarted sandbox does not hand out the
/// ids of the previous run again.
fn id_rng(seed: u64, next_id: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ next_id.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn check_config(config: &Config) -> Result<(), Error> {
    if !(config.speed.is_finite() && config.speed > 0.0) {
        return Err(Error::InvalidConfig(format!(
            "speed must be a positive number, got {}",
            config.speed
        )));
    }
    check_faults(&config.faults).map_err(Error::InvalidConfig)
}

/// Checks and installs new faults, counting attempts from 1 again.
fn replace_faults(app: &App, faults: Faults) -> Result<(), String> {
    check_faults(&faults)?;
    let mut inner = app.lock();
    inner.attempts.clear();
    inner.buckets = Buckets::default();
    inner.faults = faults;
    Ok(())
}

/// The fault a call meets: drawn from a hash of the seed, the call's key and its attempt
/// number, so it does not depend on which other calls came before it.
fn draw_fault(faults: &Faults, key: &str, attempt: u64) -> Option<Fault> {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ splitmix64(faults.seed);
    for b in key.bytes().chain(attempt.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let draw = (splitmix64(h) >> 11) as f64 / (1u64 << 53) as f64;
    let f = faults;
    if draw < f.throttle_rate {
        Some(Fault::Throttle)
    } else if draw < f.throttle_rate + f.error_rate {
        Some(Fault::Error)
    } else if draw < f.throttle_rate + f.error_rate + f.lost_response_rate {
        Some(Fault::LostResponse)
    } else {
        None
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What makes two calls "the same call" for fault drawing: the service, the operation and
/// the resource it names (its path, and for a create the name it gives; the name parameter
/// of SSM and IAM calls).
fn call_key(service: Service, operation: &str, req: &Req) -> String {
    let named = |v: &serde_json::Value| -> String {
        ["Name", "name", "Id", "id", "ResourceId", "Names"]
            .iter()
            .find_map(|k| v.get(*k).map(|n| n.to_string()))
            .unwrap_or_default()
    };
    let resource = match service {
        Service::Iam => std::str::from_utf8(&req.body)
            .unwrap_or("")
            .split('&')
            .filter(|p| {
                ["RoleName=", "PolicyName=", "PolicyArn="]
                    .iter()
                    .any(|k| p.starts_with(k))
            })
            .collect::<Vec<_>>()
            .join("&"),
        Service::Ssm => serde_json::from_slice(&req.body)
            .map(|v| named(&v))
            .unwrap_or_default(),
        Service::S3 => format!("{} {}", req.method, req.path),
        Service::MediaLive | Service::MediaPackage => {
            let body = if req.method == "POST" {
                serde_json::from_slice(&req.body)
                    .map(|v| named(&v))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            format!("{} {}{body}", req.method, req.path)
        }
        Service::Sts => String::new(),
    };
    format!("{} {operation} {resource}", service.name())
}

/// An operation held by `PUT /_sandbox/hold`.
#[derive(Debug, Clone, Serialize)]
struct Hold {
    service: Option<String>,
    operation: String,
    /// The calls waiting on it now.
    holding: usize,
}

fn add_hold(app: &App, service: Option<&str>, operation: &str) {
    app.holds.send_modify(|holds| {
        if !holds
            .iter()
            .any(|h| h.operation == operation && h.service.as_deref() == service)
        {
            holds.push(Hold {
                service: service.map(str::to_string),
                operation: operation.to_string(),
                holding: 0,
            });
        }
    });
}

/// Releases the holds of `operation`, or all of them.
fn release_holds(app: &App, operation: Option<&str>) {
    app.holds
        .send_modify(|holds| holds.retain(|h| operation.is_some_and(|op| h.operation != op)));
}

fn held_count(holds: &[Hold], operation: &str) -> usize {
    holds
        .iter()
        .filter(|h| h.operation == operation)
        .map(|h| h.holding)
        .sum()
}

fn hold_index(holds: &[Hold], service: Service, operation: &str) -> Option<usize> {
    holds.iter().position(|h| {
        h.operation == operation && h.service.as_deref().is_none_or(|s| s == service.name())
    })
}

/// Waits while a hold on this call's operation lasts. Dropped (the client went away), it
/// counts itself out, and the call is never carried out.
async fn wait_while_held(app: &App, service: Service, operation: &str) {
    if hold_index(&app.holds.borrow(), service, operation).is_none() {
        return;
    }
    struct Counted<'a>(&'a App, Service, &'a str);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0
                .holds
                .send_if_modified(|holds| match hold_index(holds, self.1, self.2) {
                    Some(i) => {
                        holds[i].holding -= 1;
                        true
                    }
                    None => false,
                });
        }
    }
    let mut counted = false;
    app.holds
        .send_if_modified(|holds| match hold_index(holds, service, operation) {
            Some(i) => {
                holds[i].holding += 1;
                counted = true;
                true
            }
            None => false,
        });
    if !counted {
        return;
    }
    let _guard = Counted(app, service, operation);
    let mut rx = app.holds.subscribe();
    let _ = rx
        .wait_for(|holds| hold_index(holds, service, operation).is_none())
        .await;
}

fn check_faults(faults: &Faults) -> Result<(), String> {
    crate::rate::check(&faults.rate_limits)?;
    for (name, rate) in [
        ("throttle_rate", faults.throttle_rate),
        ("error_rate", faults.error_rate),
        ("lost_response_rate", faults.lost_response_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("{name} must be between 0 and 1, got {rate}"));
        }
    }
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// --- persistence --------------------------------------------------------------------------

fn load(path: &Path) -> Result<Cloud, Error> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Cloud::default()),
        Err(source) => {
            return Err(Error::ReadData {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes).map_err(|source| Error::CorruptData {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the file atomically: a temp file in the same directory, fsync, rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sandbox.json".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes the data file when changes were made since the last write: advances `next_id`,
/// copies the cloud under the lock, and serialises and writes it off the lock and off the
/// async threads. Changes made meanwhile are written together by the next round (group
/// commit), so a burst of N changes costs far fewer than N writes.
async fn write_pending(app: &App) {
    let Some(path) = &app.data else { return };
    let _one_at_a_time = app.writing.lock().await;
    let (upto, cloud) = {
        let mut inner = app.lock();
        if inner.changes == *app.written.borrow() {
            return;
        }
        inner.cloud.next_id += 1;
        (inner.changes, inner.cloud.clone())
    };
    let target = path.clone();
    let written = tokio::task::spawn_blocking(move || {
        let bytes = serde_json::to_vec_pretty(&cloud).map_err(std::io::Error::other)?;
        write_atomically(&target, &bytes)
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!(
            "sandbox: cannot write the data file {}: {e}",
            path.display()
        ),
        Err(e) => eprintln!("sandbox: the data file's writer failed: {e}"),
    }
    app.written.send_replace(upto);
}

// --- HTTP -------------------------------------------------------------------------------

/// The four services behind the one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    MediaLive,
    MediaPackage,
    Ssm,
    Iam,
    S3,
    Sts,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::MediaLive => "medialive",
            Service::MediaPackage => "mediapackage",
            Service::Ssm => "ssm",
            Service::Iam => "iam",
            Service::S3 => "s3",
            Service::Sts => "sts",
        }
    }
}

fn route(req: &Req) -> Service {
    // S3's paths (`/bucket/key`) look like MediaPackage's, STS's forms like IAM's: the
    // signature's scope tells them apart.
    match crate::wire::scope_service(req) {
        Some("s3") => return Service::S3,
        Some("sts") => return Service::Sts,
        _ => {}
    }
    if req
        .header("x-amz-target")
        .is_some_and(|t| t.starts_with("AmazonSSM."))
    {
        Service::Ssm
    } else if req.method == "POST" && form_action(&req.body).is_some() {
        Service::Iam
    } else if req.path == "/prod" || req.path.starts_with("/prod/") {
        Service::MediaLive
    } else {
        Service::MediaPackage
    }
}

/// The `Action` of an awsQuery form body.
fn form_action(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(|v| percent_decode(v, true))
}

async fn handle_http(State(app): State<Arc<App>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or unreadable",
            )
        }
    };
    let raw_path = parts.uri.path();
    let req = Req {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: percent_decode(raw_path, false),
        query: parts.uri.query().map(parse_query).unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    if req.path == "/_sandbox" || req.path.starts_with("/_sandbox/") {
        return admin(&app, &req).await;
    }
    let service = route(&req);
    let operation = operation_name(service, &req);
    wait_while_held(&app, service, &operation).await;

    let (fault, attempt, latency_ms) = {
        let mut inner = app.lock();
        let inner = &mut *inner;
        let latency_ms = inner.faults.latency_ms;
        let now = tokio::time::Instant::now();
        if !inner
            .buckets
            .take(&inner.faults.rate_limits, service.name(), &operation, now)
        {
            (Some(Fault::Rate), 0, latency_ms)
        } else {
            let key = call_key(service, &operation, &req);
            let attempt = {
                let n = inner.attempts.entry(key.clone()).or_insert(0);
                *n += 1;
                *n
            };
            (
                draw_fault(&inner.faults, &key, attempt),
                attempt,
                latency_ms,
            )
        }
    };
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }

    // The lock is held in this block only: no guard may live across an await.
    let (resp, seq, wait_for) = {
        let mut inner = app.lock();
        let now = now_ms();
        let resp = match fault {
            Some(Fault::Rate) => fault_response(service, Fault::Throttle, &req),
            Some(fault @ (Fault::Throttle | Fault::Error)) => fault_response(service, fault, &req),
            Some(Fault::LostResponse) | None => {
                let inner = &mut *inner;
                let consistency_ms = inner.faults.consistency_ms;
                let mut ctx = Ctx {
                    now_ms: now,
                    speed: app.speed,
                    account: &app.account,
                    region: &app.region,
                    rng: &mut inner.id_rng,
                    consistency_ms,
                };
                let cloud = &mut inner.cloud;
                let handled = std::panic::catch_unwind(AssertUnwindSafe(|| match service {
                    Service::MediaLive => crate::medialive::handle(cloud, &mut ctx, &req),
                    Service::MediaPackage => crate::mediapackage::handle(cloud, &mut ctx, &req),
                    Service::Ssm => crate::ssm::handle(cloud, &mut ctx, &req),
                    Service::Iam => crate::iam::handle(cloud, &mut ctx, &req),
                    Service::S3 => crate::s3::handle(cloud, &mut ctx, &req),
                    Service::Sts => crate::sts::handle(cloud, &mut ctx, &req),
                }));
                // A handler bug answers 500 (logged by the panic hook) instead of killing the
                // connection.
                handled.unwrap_or_else(|_| fault_response(service, Fault::Error, &req))
            }
        };
        // A call carried out that may have changed the cloud is answered once the data file
        // holds the change; a read is not (what it settles is recomputed from the stored due
        // times, see medialive::settle), nor is an unknown operation (it changes nothing).
        let carried_out = matches!(fault, None | Some(Fault::LostResponse));
        let changes = carried_out && !reads_only(&operation) && operation != "unknown";
        let wait_for = if changes {
            app.changed(&mut inner)
        } else {
            None
        };
        let resp = match fault {
            Some(Fault::LostResponse) => fault_response(service, Fault::Error, &req),
            _ => resp,
        };
        let seq = inner.log.len() as u64 + 1;
        inner.log.push(LoggedRequest {
            seq,
            time_ms: now,
            service: service.name().into(),
            operation: resp.operation.clone(),
            method: req.method.clone(),
            path: req.path.clone(),
            resource: resp.resource.clone(),
            status: resp.status,
            fault: fault.map(|f| f.name().to_string()),
            attempt,
        });
        (resp, seq, wait_for)
    };
    if let Some(n) = wait_for {
        app.written(n).await;
    }
    to_response(resp, seq)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Throttle,
    Error,
    /// Carried out, then answered as [`Fault::Error`].
    LostResponse,
    /// The rate model's bucket was empty: answered as [`Fault::Throttle`].
    Rate,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::Error => "error",
            Fault::LostResponse => "lost_response",
            Fault::Rate => "rate",
        }
    }
}

/// A throttle or internal error in the protocol's own shape, so the SDKs and the CLI
/// classify it as retryable.
fn fault_response(service: Service, fault: Fault, req: &Req) -> Resp {
    let operation = operation_name(service, req);
    match (service, fault) {
        (Service::S3, _) => {
            crate::s3::fault_response(matches!(fault, Fault::Throttle | Fault::Rate), req)
        }
        (Service::MediaLive | Service::MediaPackage, Fault::Throttle | Fault::Rate) => {
            Resp::rest_error(
                429,
                &operation,
                "TooManyRequestsException",
                "Too Many Requests",
            )
        }
        (Service::MediaLive | Service::MediaPackage, Fault::Error | Fault::LostResponse) => {
            Resp::rest_error(
                500,
                &operation,
                "InternalServerErrorException",
                "Internal Server Error",
            )
        }
        (Service::Ssm, _) => {
            let (status, kind, message) = match fault {
                Fault::Throttle | Fault::Rate => (429, "ThrottlingException", "Rate exceeded"),
                Fault::Error | Fault::LostResponse => {
                    (500, "InternalServerError", "An internal error occurred")
                }
            };
            let mut r = Resp::json(
                status,
                &operation,
                &serde_json::json!({ "__type": kind, "message": message }),
            );
            r.headers = vec![("content-type".into(), "application/x-amz-json-1.1".into())];
            r
        }
        (Service::Iam | Service::Sts, _) => {
            let xmlns = match service {
                Service::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
                _ => "https://iam.amazonaws.com/doc/2010-05-08/",
            };
            let (status, kind, code, message) = match fault {
                Fault::Throttle | Fault::Rate => (429, "Sender", "Throttling", "Rate exceeded"),
                Fault::Error | Fault::LostResponse => (
                    500,
                    "Receiver",
                    "ServiceFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                ),
            };
            let body = format!(
                "<ErrorResponse xmlns=\"{xmlns}\">\
                 <Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
            );
            Resp {
                status,
                headers: vec![("content-type".into(), "text/xml".into())],
                body: body.into_bytes(),
                operation,
                resource: None,
            }
        }
    }
}

/// The AWS operation a request names, for the log of a faulted call.
fn operation_name(service: Service, req: &Req) -> String {
    let found = match service {
        Service::Ssm => req
            .header("x-amz-target")
            .and_then(|t| t.strip_prefix("AmazonSSM."))
            .map(str::to_string),
        Service::Iam | Service::Sts => form_action(&req.body),
        Service::MediaLive => {
            crate::medialive::operation_name(&req.method, &req.path).map(str::to_string)
        }
        Service::MediaPackage => mediapackage_operation(&req.method, &req.segments()),
        Service::S3 => crate::s3::operation_name(req).map(str::to_string),
    };
    found.unwrap_or_else(|| "unknown".into())
}

fn mediapackage_operation(method: &str, seg: &[&str]) -> Option<String> {
    let op = match (method, seg) {
        ("POST", ["channels"]) => "CreateChannel",
        ("GET", ["channels"]) => "ListChannels",
        ("GET", ["channels", _]) => "DescribeChannel",
        ("PUT", ["channels", _]) => "UpdateChannel",
        ("DELETE", ["channels", _]) => "DeleteChannel",
        ("PUT", ["channels", _, "credentials"]) => "RotateChannelCredentials",
        ("PUT", ["channels", _, "ingest_endpoints", _, "credentials"]) => {
            "RotateIngestEndpointCredentials"
        }
        ("POST", ["origin_endpoints"]) => "CreateOriginEndpoint",
        ("GET", ["origin_endpoints"]) => "ListOriginEndpoints",
        ("GET", ["origin_endpoints", _]) => "DescribeOriginEndpoint",
        ("PUT", ["origin_endpoints", _]) => "UpdateOriginEndpoint",
        ("DELETE", ["origin_endpoints", _]) => "DeleteOriginEndpoint",
        ("GET", ["tags", ..]) => "ListTagsForResource",
        ("POST", ["tags", ..]) => "TagResource",
        ("DELETE", ["tags", ..]) => "UntagResource",
        _ => return None,
    };
    Some(op.into())
}

fn to_response(resp: Resp, seq: u64) -> Response {
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (k, v) in &resp.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    let request_id = format!("00000000-0000-4000-8000-{seq:012}");
    for name in ["x-amzn-requestid", "x-amz-request-id"] {
        if !headers.contains_key(name) {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(&request_id).expect("ascii"),
            );
        }
    }
    out
}

fn plain(status: StatusCode, message: &str) -> Response {
    let mut out = Response::new(Body::from(format!("{message}\n")));
    *out.status_mut() = status;
    out.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    out
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut out = Response::new(Body::from(
        serde_json::to_vec_pretty(value).expect("json value serializes"),
    ));
    *out.status_mut() = status;
    out.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

// --- admin ----------------------------------------------------------------------------------

async fn admin(app: &App, req: &Req) -> Response {
    match (req.method.as_str(), req.path.trim_end_matches('/')) {
        ("GET", "/_sandbox/requests") => {
            let log = app.lock().log.clone();
            json_response(
                StatusCode::OK,
                &serde_json::to_value(log).expect("log serializes"),
            )
        }
        ("POST", "/_sandbox/reset") => {
            let wait_for = {
                let mut inner = app.lock();
                // The same world, emptied: its identity stays.
                inner.cloud = Cloud {
                    identity: inner.cloud.identity.clone(),
                    ..Cloud::default()
                };
                inner.log.clear();
                inner.attempts.clear();
                inner.buckets = Buckets::default();
                let seed = inner.faults.seed;
                inner.id_rng = id_rng(seed, 0);
                app.changed(&mut inner)
            };
            if let Some(n) = wait_for {
                app.written(n).await;
            }
            json_response(StatusCode::OK, &serde_json::json!({}))
        }
        ("PUT", "/_sandbox/faults") => {
            let faults: Faults = match serde_json::from_slice(&req.body) {
                Ok(f) => f,
                Err(e) => {
                    return plain(
                        StatusCode::BAD_REQUEST,
                        &format!("invalid faults JSON: {e}"),
                    )
                }
            };
            if let Err(e) = replace_faults(app, faults.clone()) {
                return plain(StatusCode::BAD_REQUEST, &e);
            }
            json_response(
                StatusCode::OK,
                &serde_json::to_value(faults).expect("faults serialize"),
            )
        }
        ("GET", "/_sandbox/faults") => {
            let faults = app.lock().faults.clone();
            json_response(
                StatusCode::OK,
                &serde_json::to_value(faults).expect("faults serialize"),
            )
        }
        ("PUT", "/_sandbox/hold") => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct HoldRequest {
                operation: String,
                service: Option<String>,
            }
            match serde_json::from_slice::<HoldRequest>(&req.body) {
                Ok(h) => {
                    add_hold(app, h.service.as_deref(), &h.operation);
                    json_response(StatusCode::OK, &holds_json(app))
                }
                Err(e) => plain(StatusCode::BAD_REQUEST, &format!("invalid hold JSON: {e}")),
            }
        }
        ("GET", "/_sandbox/hold") => json_response(StatusCode::OK, &holds_json(app)),
        ("DELETE", "/_sandbox/hold") => {
            release_holds(app, None);
            json_response(StatusCode::OK, &holds_json(app))
        }
        ("DELETE", path) if path.starts_with("/_sandbox/hold/") => {
            release_holds(app, Some(&path["/_sandbox/hold/".len()..]));
            json_response(StatusCode::OK, &holds_json(app))
        }
        ("GET", "/_sandbox/identity") => {
            let world = app.lock().cloud.identity.world.clone();
            json_response(
                StatusCode::OK,
                &serde_json::json!({
                    "world": world,
                    "account": app.account,
                    "region": app.region,
                }),
            )
        }
        ("GET", "/_sandbox/cloud") => {
            let cloud = serde_json::to_value(&app.lock().cloud).expect("cloud serializes");
            json_response(StatusCode::OK, &cloud)
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            "unknown sandbox admin endpoint; try GET /_sandbox/requests, POST /_sandbox/reset, \
             PUT /_sandbox/faults, GET /_sandbox/cloud, GET /_sandbox/identity, \
             PUT|GET|DELETE /_sandbox/hold",
        ),
    }
}

fn holds_json(app: &App) -> serde_json::Value {
    serde_json::to_value(&*app.holds.borrow()).expect("holds serialize")
}

// --- decoding ---------------------------------------------------------------------------

/// Decodes %XX escapes (and `+` as a space in query strings and forms); invalid escapes are
/// kept as they are.
fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decode_handles_escapes_plus_and_broken_escapes() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Amedialive", false),
            "arn:aws:medialive"
        );
        assert_eq!(percent_decode("a+b", true), "a b");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
        assert_eq!(percent_decode("%41", false), "A");
    }

    #[test]
    fn query_keeps_repeated_keys_in_order() {
        assert_eq!(
            parse_query("tagKeys=a&tagKeys=b%20c&x"),
            vec![
                ("tagKeys".to_string(), "a".to_string()),
                ("tagKeys".to_string(), "b c".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn dispatch_follows_credential_scope_target_form_and_path() {
        let req = |method: &str, path: &str, headers: Vec<(&str, &str)>, body: &str| Req {
            method: method.into(),
            path: path.into(),
            query: vec![],
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        };
        let ssm = req(
            "POST",
            "/",
            vec![("x-amz-target", "AmazonSSM.GetParameter")],
            "{}",
        );
        assert_eq!(route(&ssm), Service::Ssm);
        assert_eq!(operation_name(Service::Ssm, &ssm), "GetParameter");
        let iam = req("POST", "/", vec![], "Action=GetRole&Version=2010-05-08");
        assert_eq!(route(&iam), Service::Iam);
        assert_eq!(operation_name(Service::Iam, &iam), "GetRole");
        let ml = req("GET", "/prod/channels/123", vec![], "");
        assert_eq!(route(&ml), Service::MediaLive);
        assert_eq!(operation_name(Service::MediaLive, &ml), "DescribeChannel");
        let mp = req("POST", "/channels", vec![], "{\"id\":\"x\"}");
        assert_eq!(route(&mp), Service::MediaPackage);
        assert_eq!(operation_name(Service::MediaPackage, &mp), "CreateChannel");
        let signed_for = |service: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/{service}/aws4_request, \
                 SignedHeaders=host, Signature=0"
            )
        };
        let form = "Action=GetCallerIdentity&Version=2011-06-15";
        let sts = req(
            "POST",
            "/",
            vec![("authorization", &signed_for("sts"))],
            form,
        );
        assert_eq!(route(&sts), Service::Sts);
        assert_eq!(operation_name(Service::Sts, &sts), "GetCallerIdentity");
        let iam = req(
            "POST",
            "/",
            vec![("authorization", &signed_for("iam"))],
            form,
        );
        assert_eq!(
            route(&iam),
            Service::Iam,
            "a form signed for iam stays IAM's"
        );
        let odd = req("PATCH", "/nothing", vec![], "");
        assert_eq!(operation_name(Service::MediaPackage, &odd), "unknown");
        // S3's paths look like MediaPackage's: the credential scope decides.
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
        let s3 = req("PUT", "/channels/key", vec![("authorization", auth)], "x");
        assert_eq!(route(&s3), Service::S3);
        assert_eq!(operation_name(Service::S3, &s3), "PutObject");
        let mut presigned = req("GET", "/channels", vec![], "");
        presigned.query = vec![(
            "X-Amz-Credential".into(),
            "AKID/20261201/us-east-1/s3/aws4_request".into(),
        )];
        assert_eq!(route(&presigned), Service::S3);
        let mp_signed = req(
            "GET",
            "/channels",
            vec![(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/mediapackage/aws4_request",
            )],
            "",
        );
        assert_eq!(route(&mp_signed), Service::MediaPackage);
        for broken in [
            "AWS4-HMAC-SHA256 Credential=",
            "Bearer x",
            "Credential=a/s3",
        ] {
            let r = req("GET", "/channels", vec![("authorization", broken)], "");
            assert_eq!(route(&r), Service::MediaPackage, "{broken}");
        }
    }
}

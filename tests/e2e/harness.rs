//! One test's world: a sandbox serving over HTTP on loopback (started in this test process),
//! a scratch directory for the state file, and the real `livestack` binary run against the
//! sandbox with `--sandbox-url`, as a user would.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use livestack_sandbox::{Faults, LoggedRequest, Running};
use serde_json::Value as Json;

/// The sandbox's speed factor in these tests: a channel starts in 0.3 s.
pub const SPEED: f64 = 200.0;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// What a run of the binary showed the user.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub struct World {
    pub dir: PathBuf,
    pub sandbox: Running,
    /// Extra environment for every run (e.g. FACEBOOK_STREAM_KEY).
    pub env: Vec<(String, String)>,
    /// The faults the sandbox started with (their seed is printed when a test fails).
    faults: Faults,
}

/// How long a test waits for something that must happen before it calls the run hung.
const GUARD: Duration = Duration::from_secs(180);

impl Drop for World {
    /// A failing test with faults prints their seed and every fault it met: the same seed
    /// meets the same faults again, whatever order concurrent calls arrive in.
    fn drop(&mut self) {
        let f = &self.faults;
        if !std::thread::panicking() || f.throttle_rate + f.error_rate + f.lost_response_rate == 0.0
        {
            return;
        }
        let met: Vec<String> = self
            .requests()
            .iter()
            .filter_map(|r| {
                r.fault.as_ref().map(|fault| {
                    format!(
                        "  #{} {} {} {} attempt {}: {fault}",
                        r.seq, r.service, r.operation, r.path, r.attempt
                    )
                })
            })
            .collect();
        eprintln!(
            "faults seed {} (throttle {}, error {}, lost response {}); the faults met:\n{}",
            f.seed,
            f.throttle_rate,
            f.error_rate,
            f.lost_response_rate,
            met.join("\n")
        );
    }
}

impl World {
    /// A fresh sandbox and an empty scratch directory named after the test.
    pub fn new(name: &str) -> World {
        World::with_faults(name, Faults::default())
    }

    pub fn with_faults(name: &str, faults: Faults) -> World {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let sandbox = runtime()
            .block_on(livestack_sandbox::start(livestack_sandbox::Config {
                port: 0,
                speed: SPEED,
                faults: faults.clone(),
                ..Default::default()
            }))
            .expect("sandbox starts");
        World {
            dir,
            sandbox,
            env: Vec::new(),
            faults,
        }
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// `livestack <args> --state <dir>/state.json --sandbox-url <sandbox>` for the
    /// subcommands that take a target; other argument lists are passed as they are.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = self.bare_command(args);
        if matches!(
            args.first(),
            Some(&("plan" | "apply" | "destroy" | "outputs"))
        ) {
            c.arg("--state").arg(self.state_path());
            c.arg("--sandbox-url").arg(self.sandbox.endpoint_url());
        }
        c
    }

    /// `livestack <args>` exactly as given (no target, no state option), with the same
    /// environment as [`World::command`].
    pub fn bare_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_livestack"));
        c.args(args);
        // Nothing from the machine's AWS setup may leak in.
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.env("AWS_CONFIG_FILE", self.dir.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.join("no-aws-credentials"),
            )
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs the binary to its end; one that runs for more than 3 minutes is killed and the
    /// test fails (a hang must not hold CI for the executor's 15-minute waits).
    pub fn run(&self, args: &[&str]) -> Run {
        self.start(args).finish()
    }

    /// Starts the binary; its output lines can be waited for while it runs.
    pub fn start(&self, args: &[&str]) -> Live {
        Live::start(self.command(args), args)
    }

    /// [`World::bare_command`] run to its end (with the same guard as [`World::run`]).
    pub fn run_bare(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.bare_command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Live::start(c, args).finish()
    }

    /// Waits until exactly `count` calls of `operation` are held by the sandbox (see
    /// `Running::hold`).
    #[track_caller]
    pub fn wait_held(&self, operation: &str, count: usize) {
        let waited = self.block_on(async {
            tokio::time::timeout(GUARD, self.sandbox.wait_held(operation, count)).await
        });
        assert!(
            waited.is_ok(),
            "{count} held {operation} call(s) never seen in 180 s: {:#?}",
            self.requests()
        );
    }

    /// Waits until the state file holds exactly the resources `addresses`.
    #[track_caller]
    pub fn wait_state_holds(&self, addresses: &[&str]) {
        let mut want: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
        want.sort();
        let t0 = Instant::now();
        loop {
            let saved = self
                .folded_state()
                .map(|(s, _)| state_addresses(&s))
                .unwrap_or_default();
            if saved == want {
                return;
            }
            assert!(
                t0.elapsed() < GUARD,
                "the state never held {want:?} (it holds {saved:?})"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the binary without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("livestack starts")
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.sandbox.requests()
    }

    /// The operations logged after the first `since` requests that changed something
    /// (everything but Describe/Get/List), with their resource and status.
    /// S3 is left out: it keeps a remote state (and its lock), not the stack's resources.
    pub fn mutations_since(&self, since: usize) -> Vec<(String, String, u16)> {
        self.requests()
            .into_iter()
            .skip(since)
            .filter(|r| !is_read(&r.operation) && r.service != "s3")
            .map(|r| (r.operation, r.resource.unwrap_or_default(), r.status))
            .collect()
    }

    /// The operations of [`World::mutations_since`], in the order they were logged.
    pub fn operations_since(&self, since: usize) -> Vec<String> {
        self.mutations_since(since)
            .into_iter()
            .map(|(op, _, _)| op)
            .collect()
    }

    pub fn cloud(&self) -> Json {
        serde_json::to_value(self.sandbox.cloud()).expect("cloud serializes")
    }

    /// What the sandbox holds, per kind: the live resources' names (MediaLive channels and
    /// inputs in state DELETED are gone).
    pub fn inventory(&self) -> Inventory {
        let c = self.cloud();
        let names = |m: &Json, key: &str| -> Vec<String> {
            let mut v: Vec<String> = m
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, r)| r["state"] != "DELETED" && r["state"] != "DELETING")
                .map(|(id, r)| r[key].as_str().unwrap_or(id).to_string())
                .collect();
            v.sort();
            v
        };
        Inventory {
            roles: names(&c["iam"]["roles"], "name"),
            mp_channels: names(&c["mediapackage"]["channels"], "id"),
            mp_endpoints: names(&c["mediapackage"]["origin_endpoints"], "id"),
            ssm_parameters: names(&c["ssm"]["parameters"], "name"),
            inputs: names(&c["medialive"]["inputs"], "name"),
            security_groups: names(&c["medialive"]["input_security_groups"], "id"),
            channels: names(&c["medialive"]["channels"], "name"),
        }
    }

    /// The ingest passwords the sandbox generated for section 1's MediaPackage channel
    /// (`imday-mp-channel`): secrets that nothing livestack shows may hold.
    pub fn ingest_passwords(&self) -> Vec<String> {
        let passwords: Vec<String> = self.cloud()["mediapackage"]["channels"]["imday-mp-channel"]
            ["ingest_endpoints"]
            .as_array()
            .expect("the MediaPackage channel's ingest endpoints")
            .iter()
            .map(|e| e["password"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(passwords.len(), 2);
        passwords
    }

    /// The key of the stack's secret hashes as the sandbox keeps it (its SSM SecureString
    /// parameter), if there is one.
    pub fn hash_key(&self, stack: &str) -> Option<(String, String)> {
        let p = &self.cloud()["ssm"]["parameters"][format!("/livestack/{stack}/hash-key")];
        Some((
            p["value"].as_str()?.to_string(),
            p["kind"].as_str()?.to_string(),
        ))
    }

    /// The only live MediaLive channel: (id, the stored channel).
    pub fn channel(&self) -> (String, Json) {
        let c = self.cloud();
        let live: Vec<(String, Json)> = c["medialive"]["channels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, ch)| ch["state"] != "DELETED" && ch["state"] != "DELETING")
            .map(|(id, ch)| (id.clone(), ch.clone()))
            .collect();
        assert_eq!(live.len(), 1, "one live channel wanted: {live:?}");
        live.into_iter().next().expect("one channel")
    }

    /// The state as `livestack state show` sees it (the state file, with the journal of an
    /// apply in progress or cut short folded in), and the raw text of the state file and its
    /// journal.
    #[track_caller]
    pub fn state(&self) -> (Json, String) {
        assert!(self.state_path().exists(), "state file exists");
        self.folded_state().expect("the state file loads")
    }

    /// [`World::state`]; `None` while there is no state file or it cannot be read.
    fn folded_state(&self) -> Option<(Json, String)> {
        let path = self.state_path();
        let mut text = std::fs::read_to_string(&path).ok()?;
        let raw: Json = serde_json::from_str(&text).ok()?;
        let state = livestack_state::load(&path, raw["stack"].as_str()?).ok()??;
        if let Ok(journal) = std::fs::read_to_string(livestack_state::journal_path(&path)) {
            text.push_str(&journal);
        }
        Some((serde_json::to_value(state).ok()?, text))
    }

    /// Runs a future on the tests' runtime (out-of-band changes through the SDK).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        runtime().block_on(f)
    }

    /// The livestack AWS clients pointed at this sandbox: the "someone else" who changes the
    /// cloud behind livestack's back.
    pub fn clients(&self) -> livestack_aws::Clients {
        self.block_on(livestack_aws::connect(&livestack_aws::Target {
            region: Some("us-east-1".into()),
            endpoint_url: Some(self.sandbox.endpoint_url()),
            dummy_credentials: true,
            profile: None,
        }))
        .expect("clients")
    }
}

/// The addresses of a state file's resources, sorted.
pub fn state_addresses(state: &Json) -> Vec<String> {
    let mut v: Vec<String> = state["resources"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// A run of the binary in progress.
pub struct Live {
    args: Vec<String>,
    pub child: Child,
    lines: Receiver<String>,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Live {
    /// Starts `command` with its stdout and stderr read line by line as they come.
    pub fn start(mut command: Command, args: &[&str]) -> Live {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("livestack starts");
        let (tx, lines) = std::sync::mpsc::channel();
        let read = |stream: Box<dyn Read + Send>, tx: std::sync::mpsc::Sender<String>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    text.push_str(&line);
                    text.push('\n');
                    let _ = tx.send(line);
                }
                text
            })
        };
        let stdout = read(Box::new(child.stdout.take().expect("piped")), tx.clone());
        let stderr = read(Box::new(child.stderr.take().expect("piped")), tx);
        Live {
            args: args.iter().map(|a| a.to_string()).collect(),
            child,
            lines,
            stdout,
            stderr,
        }
    }

    /// Waits for an output line (stdout or stderr) that `is_it` accepts; panics if the run
    /// ends first or shows none within 180 s.
    #[track_caller]
    pub fn wait_line(&self, what: &str, is_it: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        let mut seen = Vec::new();
        loop {
            let left = GUARD.saturating_sub(t0.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) if is_it(&line) => return line,
                Ok(line) => seen.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no line {what} in 180 s; output so far:\n{}",
                        seen.join("\n")
                    )
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "livestack {:?} ended without a line {what}; output:\n{}",
                    self.args,
                    seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the run to end (killed, and the test failed, after 180 s).
    pub fn finish(mut self) -> Run {
        let t0 = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("livestack runs") {
                break Some(status);
            }
            if t0.elapsed() > GUARD {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let run = Run {
            code: status.and_then(|s| s.code()).unwrap_or(-1),
            stdout: self.stdout.join().expect("stdout read"),
            stderr: self.stderr.join().expect("stderr read"),
        };
        assert!(
            status.is_some(),
            "livestack {:?} hung; killed after 180 s\n{}",
            self.args,
            run.all()
        );
        run
    }
}

fn is_read(op: &str) -> bool {
    ["Describe", "Get", "List"]
        .iter()
        .any(|p| op.starts_with(p))
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub roles: Vec<String>,
    pub mp_channels: Vec<String>,
    pub mp_endpoints: Vec<String>,
    pub ssm_parameters: Vec<String>,
    pub inputs: Vec<String>,
    pub security_groups: Vec<String>,
    pub channels: Vec<String>,
}

impl Inventory {
    pub fn is_empty(&self) -> bool {
        *self == Inventory::default()
    }
}

/// The inventory of the workshop's section 1 (and 3): one of each.
pub fn section_1_inventory() -> Inventory {
    Inventory {
        roles: vec!["MediaLiveAccessRole".into()],
        mp_channels: vec!["imday-mp-channel".into()],
        mp_endpoints: vec!["imday-mp-hlsendpoint".into()],
        // The key of the stack's secret hashes, kept by its first apply.
        ssm_parameters: vec![
            "/livestack/imday/hash-key".into(),
            "/livestack/imday/imday-mp/ingest-1".into(),
            "/livestack/imday/imday-mp/ingest-2".into(),
        ],
        inputs: vec!["imday-hls-input".into()],
        security_groups: vec![],
        channels: vec!["imday".into()],
    }
}

/// The calls section 1 -> 3 makes, in this order: the channel's stop, class change, update
/// and start.
pub const SECTION_3_CALLS: [&str; 4] = [
    "StopChannel",
    "UpdateChannelClass",
    "UpdateChannel",
    "StartChannel",
];

/// `livestack plan STACK --json` against the world's sandbox, parsed.
pub fn plan_json(w: &World, stack: &str) -> Json {
    let out = w.run(&["plan", stack, "--json"]).expect(0);
    serde_json::from_str(&out.stdout).expect("plan --json")
}

/// The change of `address` in a `plan --json`.
#[track_caller]
pub fn change<'a>(plan: &'a Json, address: &str) -> &'a Json {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no change for {address}: {plan}"))
}

/// Asserts that `text` (what the user saw) shows every one of `needles`.
#[track_caller]
pub fn assert_shows(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "`{n}` is not shown in:\n{text}");
    }
}

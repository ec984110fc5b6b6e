//! Runs one sequence (a first stack, then steps of out-of-band changes and edits, then a
//! destroy) with the real binary against its own sandbox, checking the properties after each
//! step. A violated property is an `Err` carrying the history and the failing output.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use livestack_model::{Address, Kind, ValidatedStack};
use serde_json::Value as Json;

use crate::harness::{Live, Run, World};
use crate::oob::{self, owned, Oob};
use crate::stack::{Edit, Stack, KEY_ENVS};

/// Where a history keeps its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StateAt {
    /// `state.json` in the scratch directory (`--state`).
    #[default]
    File,
    /// [`STATE_URL`] in the sandbox's S3, named by `--state` or by the stack file's
    /// `[stack] state`; in a bucket with versioning (S3 keeps every version) or without
    /// (livestack keeps the previous state in `KEY.bak`).
    S3 {
        versioned: bool,
        in_stack_file: bool,
    },
}

/// The bucket, key and URL of an S3 history's state.
pub const BUCKET: &str = "conv-state";
pub const KEY: &str = "live/conv.json";
pub const STATE_URL: &str = "s3://conv-state/live/conv.json";

/// A generated history.
#[derive(Clone, Debug)]
pub struct Sequence {
    pub state: StateAt,
    /// Edits from the empty stack to the first one applied.
    pub initial: Vec<Edit>,
    pub steps: Vec<Step>,
    pub before_destroy: Vec<Oob>,
}

/// Between two applies: changes behind livestack's back, then edits to the stack file.
#[derive(Clone, Debug)]
pub struct Step {
    pub oob: Vec<Oob>,
    pub edits: Vec<Edit>,
}

/// What a passing sequence did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Figures {
    pub applies: usize,
    /// Out-of-band changes made (not counting those that found nothing to change).
    pub oob: usize,
    /// StopChannel/DeleteChannel calls on running channels, each announced by the plan.
    pub announced_interruptions: usize,
}

/// What a sequence does, spelled out: before each apply, the out-of-band changes, then the
/// stack file applied. Regression tests are written in this form.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub state: StateAt,
    pub applies: Vec<(Vec<Oob>, String)>,
    /// Out-of-band changes between the last apply and the destroy.
    pub before_destroy: Vec<Oob>,
}

/// The script of a generated sequence.
pub fn script(seq: &Sequence) -> Script {
    let mut s = Stack::default();
    // What others refer to first, so that groups can send to MediaPackage channels.
    let mut initial = seq.initial.clone();
    initial.sort_by_key(Edit::rank);
    initial.iter().for_each(|e| s.edit(e));
    let mut applies = vec![(Vec::new(), s.render())];
    for step in &seq.steps {
        step.edits.iter().for_each(|e| s.edit(e));
        applies.push((step.oob.clone(), s.render()));
    }
    Script {
        state: seq.state,
        applies,
        before_destroy: seq.before_destroy.clone(),
    }
}

struct Ctx<'w> {
    w: &'w World,
    at: StateAt,
    /// What happened so far, for the report.
    history: String,
    /// Every secret value the run has seen: stream keys, ingest passwords.
    secrets: BTreeSet<String>,
    figures: Figures,
    /// Runs of the binary so far (seeds each run's faults).
    runs: u64,
}

/// Runs the script in a fresh sandbox; `name` names its scratch directory.
pub fn run(script: &Script, name: &str) -> Result<Figures, String> {
    let mut w = World::new(name);
    let mut secrets = BTreeSet::new();
    for (i, k) in KEY_ENVS.iter().enumerate() {
        let v = format!("sk-{name}-{i}-c0ffee");
        secrets.insert(v.clone());
        w.env.push((k.to_string(), v));
    }
    match script.state {
        StateAt::File => {}
        StateAt::S3 {
            versioned: true, ..
        } => w
            .block_on(w.sandbox.ensure_bucket(BUCKET))
            .expect("the state's bucket is created"),
        StateAt::S3 {
            versioned: false, ..
        } => oob::s3_create_bucket(&w),
    }
    let mut cx = Ctx {
        w: &w,
        at: script.state,
        history: String::new(),
        secrets,
        figures: Figures::default(),
        runs: 0,
    };
    let result = cx.script(script);
    let figures = cx.figures;
    let history = std::mem::take(&mut cx.history);
    match result {
        Ok(()) => Ok(figures),
        Err(e) => Err(format!("{history}\n=== FAILED: {e}")),
    }
}

impl Ctx<'_> {
    fn script(&mut self, script: &Script) -> Result<(), String> {
        for (i, (oob, text)) in script.applies.iter().enumerate() {
            self.out_of_band(oob)?;
            self.apply_step(i, text)?;
        }
        self.out_of_band(&script.before_destroy)?;
        self.destroy()
    }

    fn out_of_band(&mut self, changes: &[Oob]) -> Result<(), String> {
        for o in changes {
            let done = oob::apply(self.w, self.at, o);
            let _ = writeln!(self.history, "--- out of band: {done}");
            if !done.starts_with("no ") && !done.starts_with("nothing") {
                self.figures.oob += 1;
            }
            if std::env::var_os("LIVESTACK_VERBOSE").is_some() {
                eprintln!("convergence: out of band: {done}");
            }
            if matches!(o, Oob::CorruptState) && done.starts_with("truncated") {
                self.corrupt_state_is_refused()?;
            }
        }
        Ok(())
    }

    /// Runs the binary; with `LIVESTACK_FAULT_RATE=R` the sandbox throttles, fails and loses
    /// the answers of that fraction of livestack's calls each (never of the out-of-band
    /// changes), with a new fault pattern per run.
    fn run(&mut self, args: &[&str]) -> Run {
        let rate: f64 = std::env::var("LIVESTACK_FAULT_RATE")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0.0);
        if rate > 0.0 {
            self.runs += 1;
            let faults = livestack_sandbox::Faults {
                seed: self.runs,
                throttle_rate: rate,
                error_rate: rate,
                lost_response_rate: rate,
                ..Default::default()
            };
            self.w.sandbox.set_faults(faults).expect("faults");
        }
        let r = Live::start(self.command(args), args).finish();
        if rate > 0.0 {
            self.w
                .sandbox
                .set_faults(Default::default())
                .expect("no faults");
        }
        self.note_secrets();
        r
    }

    /// `livestack ARGS` with the history's state: a file as [`World::command`] gives it, or
    /// the S3 object (`--state s3://...` unless the stack file names it) with the sandbox
    /// as the target (`--sandbox-url`) of plan, apply and destroy; `state` subcommands reach
    /// the bucket with the AWS configuration a user of the sandbox has (`AWS_ENDPOINT_URL`,
    /// dummy credentials).
    fn command(&self, args: &[&str]) -> std::process::Command {
        let StateAt::S3 { in_stack_file, .. } = self.at else {
            return self.w.command(args);
        };
        let mut c = self.w.bare_command(args);
        if !matches!(
            args.first(),
            Some(&("plan" | "apply" | "destroy" | "outputs" | "state"))
        ) {
            return c;
        }
        if !in_stack_file {
            c.arg("--state").arg(STATE_URL);
        }
        if args.first() == Some(&"state") {
            c.env("AWS_ENDPOINT_URL", self.w.sandbox.endpoint_url())
                .env("AWS_ACCESS_KEY_ID", "AKIDCONV")
                .env("AWS_SECRET_ACCESS_KEY", "conv-secret")
                .env("AWS_REGION", "us-east-1");
        } else {
            c.arg("--sandbox-url").arg(self.w.sandbox.endpoint_url());
        }
        c
    }

    /// The stack file as written: an S3 history that names its state in the stack file gets
    /// `state = "s3://..."` in its `[stack]` table.
    fn stack_text(&self, text: &str) -> String {
        match self.at {
            StateAt::S3 {
                in_stack_file: true,
                ..
            } => {
                let region = "region = \"us-east-1\"\n";
                let line = format!("{region}state = \"{STATE_URL}\"\n");
                text.replacen(region, &line, 1)
            }
            _ => text.to_string(),
        }
    }

    /// The state's text as stored now (the file, or the S3 object's current version).
    fn state_text(&self) -> Option<String> {
        match self.at {
            StateAt::File => std::fs::read_to_string(self.w.state_path()).ok(),
            StateAt::S3 { .. } => {
                oob::s3_current(self.w, KEY).map(|b| String::from_utf8_lossy(&b).into_owned())
            }
        }
    }

    /// The ingest passwords in the cloud now, remembered for the secret checks.
    fn note_secrets(&mut self) {
        let cloud = self.w.cloud();
        for ch in cloud["mediapackage"]["channels"]
            .as_object()
            .into_iter()
            .flatten()
        {
            for ep in ch.1["ingest_endpoints"].as_array().into_iter().flatten() {
                if let Some(p) = ep["password"].as_str().filter(|p| !p.is_empty()) {
                    self.secrets.insert(p.to_string());
                }
            }
        }
    }

    fn check_no_secret(&self, what: &str, text: &str) -> Result<(), String> {
        match self.secrets.iter().find(|s| text.contains(s.as_str())) {
            Some(_) => Err(format!("a secret value appears in {what}:\n{text}")),
            None => Ok(()),
        }
    }

    fn check_run(&self, what: &str, r: &Run, code: i32) -> Result<(), String> {
        self.check_no_secret(what, &r.all())?;
        if r.code != code {
            return Err(format!(
                "`{what}` exited {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
                r.code, r.stdout, r.stderr
            ));
        }
        Ok(())
    }

    /// A truncated state is refused by plan with a pointer at the backup (the `.bak`, or in
    /// a versioned bucket the object's earlier versions), changing nothing; the user then
    /// restores the backup (or, without one, removes the state).
    fn corrupt_state_is_refused(&mut self) -> Result<(), String> {
        let before = self.w.requests().len();
        let r = self.run(&["plan", "stack.toml"]);
        self.check_run("plan with a corrupt state", &r, 1)?;
        let advice = match self.at {
            StateAt::S3 {
                versioned: true, ..
            } => "version",
            _ => ".bak",
        };
        if !r.stderr.contains(advice) {
            return Err(format!(
                "the corrupt-state error does not point at the backup ({advice}):\n{}",
                r.stderr
            ));
        }
        if !self.w.mutations_since(before).is_empty() {
            return Err("plan with a corrupt state changed the cloud".into());
        }
        if let StateAt::S3 { versioned, .. } = self.at {
            let _ = writeln!(
                self.history,
                "--- the user {} as advised",
                oob::s3_restore(self.w, versioned, true)
            );
            return Ok(());
        }
        let state = self.w.state_path();
        let bak = state.with_extension("json.bak");
        if std::fs::copy(&bak, &state).is_err() {
            std::fs::remove_file(&state).expect("remove the corrupt state");
        }
        let _ = writeln!(self.history, "--- the user restored the .bak as advised");
        Ok(())
    }

    fn apply_step(&mut self, n: usize, text: &str) -> Result<(), String> {
        let text = &self.stack_text(text);
        let _ = writeln!(self.history, "=== stack {n}:\n{text}");
        let path = self.w.dir.join("stack.toml");
        std::fs::write(&path, text).expect("write the stack file");
        let file = "stack.toml";

        let v = self.run(&["validate", file]);
        self.check_run("validate", &v, 0)?;
        let stack = livestack_model::parse(&path, text).map_err(|e| e.to_string())?;
        // What `validate` accepts, the editors' schema accepts too (`livestack schema`).
        let json =
            serde_json::to_value(toml::from_str::<toml::Value>(text).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let refused: Vec<String> = schema()
            .iter_errors(&json)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        if !refused.is_empty() {
            return Err(format!(
                "the schema refuses a stack validate accepts: {refused:?}"
            ));
        }

        // Each running channel by id, with the address the plan knows it by: the state's
        // (a `[[moved]]` rename leaves the old address in the tag), else its tag's.
        let in_state = state_addresses(self.state_text().as_deref());
        let running_before: BTreeMap<String, String> = owned(&self.w.cloud())
            .into_iter()
            .filter(|o| o.kind == Kind::MedialiveChannel)
            .filter(|o| o.state.as_deref() == Some("RUNNING"))
            .map(|o| {
                let address = in_state.get(&o.id).cloned().unwrap_or(o.address);
                (o.id, address)
            })
            .collect();

        let p = self.run(&["plan", file, "--json"]);
        self.check_run("plan --json", &p, 0)?;
        let plan: Json = serde_json::from_str(&p.stdout)
            .map_err(|e| format!("plan --json is not JSON ({e}):\n{}", p.stdout))?;
        let interrupted: BTreeSet<String> = plan["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["interrupts"] == true)
            .filter_map(|c| c["address"].as_str().map(String::from))
            .collect();

        let since = self.w.requests().len();
        let a = self.run(&["apply", file, "--auto-approve"]);
        self.check_run("apply --auto-approve", &a, 0)?;
        self.figures.applies += 1;
        let _ = writeln!(self.history, "--- apply:\n{}", a.stdout);

        // No channel the plan did not say it interrupts was stopped or deleted.
        for r in self.w.requests().into_iter().skip(since) {
            if !matches!(r.operation.as_str(), "StopChannel" | "DeleteChannel") {
                continue;
            }
            let Some(addr) = r.resource.as_ref().and_then(|id| running_before.get(id)) else {
                continue;
            };
            let announced = interrupted.contains(addr)
                || current_address(&stack, addr).is_some_and(|to| interrupted.contains(&to));
            self.figures.announced_interruptions += usize::from(announced);
            if !announced {
                return Err(format!(
                    "{} on running channel {addr} ({}) that the plan did not say it interrupts\n--- plan\n{}\n--- apply\n{}",
                    r.operation,
                    r.resource.unwrap_or_default(),
                    p.stdout,
                    a.all()
                ));
            }
        }

        let again = self.run(&["plan", file, "--detailed-exitcode"]);
        self.check_run("plan --detailed-exitcode after the apply", &again, 0)?;

        self.check_cloud(&stack)?;
        check_references(&self.w.cloud())?;
        self.check_state_files()
    }

    /// One resource per address, nothing the stack does not declare, channels in the run
    /// state the stack asks for.
    fn check_cloud(&self, stack: &ValidatedStack) -> Result<(), String> {
        let cloud = self.w.cloud();
        let live = owned(&cloud);
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for o in &live {
            if let Some(other) = seen.insert(&o.address, &o.id) {
                return Err(format!(
                    "two cloud resources carry livestack:address {}: {other} and {}",
                    o.address, o.id
                ));
            }
        }
        let declared: BTreeSet<String> = stack
            .resources
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        for o in &live {
            let renamed = current_address(stack, &o.address).is_some_and(|a| declared.contains(&a));
            if !declared.contains(&o.address) && !renamed {
                return Err(format!(
                    "{} ({}) is left in the cloud though the stack no longer declares it",
                    o.address, o.id
                ));
            }
        }
        for ch in stack
            .resources
            .iter()
            .filter(|r| r.address.kind == Kind::MedialiveChannel)
        {
            let addr = ch.address.to_string();
            let want = if ch.running == Some(false) {
                "IDLE"
            } else {
                "RUNNING"
            };
            // Its tag may still name an old address `[[moved]]` renamed to it.
            let state = live
                .iter()
                .find(|o| {
                    o.address == addr || current_address(stack, &o.address).as_ref() == Some(&addr)
                })
                .and_then(|o| o.state.clone());
            if state.as_deref() != Some(want) {
                return Err(format!(
                    "{addr} is {state:?} after the apply, wanted {want}"
                ));
            }
        }
        Ok(())
    }

    /// No secret in the state or its backup: the file and its `.bak`; in S3, every version
    /// of every object of the bucket (a secret written once stays in a versioned bucket's
    /// history) and what `livestack state pull` prints, which must read a state that exists;
    /// and no object left but the state and its `.bak` (no lock, no journal).
    fn check_state_files(&mut self) -> Result<(), String> {
        if let StateAt::S3 { .. } = self.at {
            let objects = oob::s3_objects(self.w);
            for (key, versions) in &objects {
                for (n, v) in versions.iter().enumerate() {
                    let text = String::from_utf8_lossy(&v.body);
                    self.check_no_secret(&format!("s3://{BUCKET}/{key} (version {n})"), &text)?;
                }
            }
            // A run that ended well leaves no lock and no journal object behind.
            let left: Vec<&String> = objects
                .iter()
                .filter(|(_, v)| v.last().is_some_and(|v| !v.delete_marker))
                .map(|(k, _)| k)
                .filter(|k| **k != KEY && **k != format!("{KEY}.bak"))
                .collect();
            if !left.is_empty() {
                return Err(format!("left in the state's bucket: {left:?}"));
            }
            let exists = oob::s3_current(self.w, KEY).is_some();
            let pulled = self.run(&["state", "pull", "stack.toml"]);
            self.check_run("state pull", &pulled, if exists { 0 } else { 1 })?;
            if exists {
                serde_json::from_str::<Json>(&pulled.stdout)
                    .map_err(|e| format!("state pull printed no JSON ({e}):\n{}", pulled.stdout))?;
            }
            return Ok(());
        }
        let state = self.w.state_path();
        for p in [state.clone(), state.with_extension("json.bak")] {
            if let Ok(text) = std::fs::read_to_string(&p) {
                self.check_no_secret(&p.display().to_string(), &text)?;
            }
        }
        Ok(())
    }

    fn destroy(&mut self) -> Result<(), String> {
        let existing = owned(&self.w.cloud()).len();
        let d = self.run(&["destroy", "stack.toml", "--auto-approve"]);
        self.check_run("destroy --auto-approve", &d, 0)?;
        // The plan counts what exists, not what the state remembers.
        let counted = d
            .stdout
            .split(" to delete")
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|n| n.parse::<usize>().ok());
        if d.stdout.contains(" to delete") && counted != Some(existing) {
            return Err(format!(
                "destroy counts {counted:?} deletes for {existing} resources of the stack in the cloud\n--- destroy\n{}",
                d.all()
            ));
        }
        let left: Vec<String> = owned(&self.w.cloud())
            .into_iter()
            .map(|o| format!("{} ({})", o.address, o.id))
            .collect();
        if !left.is_empty() {
            return Err(format!(
                "left after destroy: {left:?}\n--- destroy\n{}",
                d.all()
            ));
        }
        self.check_state_files()
    }
}

/// id -> address of every resource a readable state holds (empty without one).
fn state_addresses(text: Option<&str>) -> BTreeMap<String, String> {
    let state: Json = text
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    state["resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(address, r)| Some((r["id"].as_str()?.to_string(), address.clone())))
        .collect()
}

/// Where a `[[moved]]` entry took the resource whose ownership tag says `tag` (such a
/// resource keeps its old address tag until its next update, as the README says).
fn current_address(stack: &ValidatedStack, tag: &str) -> Option<String> {
    let from = Address::parse(tag)?;
    stack.moved_to(&from).map(|a| a.to_string())
}

/// What the stack's resources point at exists and matches: a channel's HLS destinations are
/// ingest endpoints of a live MediaPackage channel with their username, and the SSM
/// parameter each names holds that endpoint's current password; a MediaPackage destination's
/// channel exists; an endpoint's channel and an input's security groups exist.
fn check_references(cloud: &Json) -> Result<(), String> {
    let live = owned(cloud);
    let mut ingest: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for ch in cloud["mediapackage"]["channels"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for ep in ch.1["ingest_endpoints"].as_array().into_iter().flatten() {
            let s = |k: &str| ep[k].as_str().unwrap_or("");
            ingest.insert(s("url"), (s("username"), s("password")));
        }
    }
    let mp_channels = &cloud["mediapackage"]["channels"];
    let params = &cloud["ssm"]["parameters"];
    for o in &live {
        match o.kind {
            Kind::MedialiveChannel => {
                for d in o.raw["destinations"].as_array().into_iter().flatten() {
                    for m in d["mediaPackageSettings"].as_array().into_iter().flatten() {
                        let id = m["channelId"].as_str().unwrap_or("");
                        if mp_channels.get(id).is_none() {
                            return Err(format!(
                                "{} sends to MediaPackage channel {id}, which does not exist",
                                o.address
                            ));
                        }
                    }
                    for st in d["settings"].as_array().into_iter().flatten() {
                        let Some(param) = st["passwordParam"].as_str() else {
                            continue;
                        };
                        let url = st["url"].as_str().unwrap_or("");
                        let Some((user, password)) = ingest.get(url) else {
                            return Err(format!(
                                "{} sends HLS to {url}, no ingest endpoint of a live MediaPackage channel",
                                o.address
                            ));
                        };
                        if st["username"].as_str() != Some(*user) {
                            return Err(format!(
                                "{} sends to {url} as another user than the endpoint's",
                                o.address
                            ));
                        }
                        if params[param]["value"].as_str() != Some(*password) {
                            return Err(format!(
                                "{}: SSM parameter {param} does not hold the current ingest password of {url} (missing or stale)",
                                o.address
                            ));
                        }
                    }
                }
            }
            Kind::MediapackageEndpoint => {
                let id = o.raw["channel_id"].as_str().unwrap_or("");
                if mp_channels.get(id).is_none() {
                    return Err(format!("{}: its channel {id} does not exist", o.address));
                }
            }
            Kind::MedialiveInput => {
                let groups = &cloud["medialive"]["input_security_groups"];
                for g in o.raw["security_groups"].as_array().into_iter().flatten() {
                    if groups.get(g.as_str().unwrap_or("")).is_none() {
                        return Err(format!(
                            "{}: its security group {g} does not exist",
                            o.address
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The stack file's JSON Schema, compiled once for the whole suite.
fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        jsonschema::draft202012::new(&livestack_model::schema()).expect("a valid JSON Schema")
    })
}

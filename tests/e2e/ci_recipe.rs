//! The CI recipe, `examples/ci/github-actions.yml`, run as GitHub runs it, against the
//! sandbox, so that the file users copy cannot rot. Each job gets a workspace of its own; its
//! `run:` scripts go to `bash --noprofile --norc -eo pipefail` (the recipe's `shell: bash`)
//! with the environment a runner gives (GITHUB_*, GITHUB_OUTPUT/ENV/PATH files, the
//! workflow's, job's and step's `env:`), the target given as a user gives it (AWS_ENDPOINT_URL
//! on the runner, credentials and region from the OIDC step). What only GitHub does is stood
//! in for here: checkout (the commit's stack file copied), configure-aws-credentials (dummy
//! keys exported as the action exports them), upload/download-artifact (a folder per run), the
//! install step (the built binary put on PATH), a reviewer's approval of an `environment`, and
//! `gh` (a stub that records the comments it is given and answers which pull request a commit
//! merged and which run planned it). The state is the recipe's own `s3://` one, in the
//! sandbox's bucket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use yaml_rust2::{Yaml, YamlLoader};

use crate::harness::{assert_shows, example, section_1_inventory, Live, World, SECTION_3_CALLS};

const RECIPE: &str = "examples/ci/github-actions.yml";
const STREAM_KEY: &str = "ci-recipe-stream-key";

fn recipe() -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(RECIPE);
    let text = std::fs::read_to_string(&path).expect("the CI recipe");
    let mut docs = YamlLoader::load_from_str(&text).expect("the CI recipe is YAML");
    assert_eq!(docs.len(), 1, "{RECIPE}: one YAML document");
    docs.remove(0)
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The entries of a mapping as (key, value) strings (`env:`, `with:`, `outputs:`).
fn pairs(y: &Yaml) -> Vec<(String, String)> {
    y.as_hash()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let k = text(k).expect("a string key");
            let v = text(v).unwrap_or_else(|| panic!("{RECIPE}: `{k}` is not a scalar"));
            (k, v)
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Succeeded,
    Failed {
        step: String,
        code: i32,
    },
    Skipped,
    /// For a reviewer of this environment.
    Waiting(String),
}

#[derive(Debug)]
struct JobRun {
    outcome: Outcome,
    outputs: BTreeMap<String, String>,
    /// What its steps printed.
    log: String,
}

#[derive(Debug)]
struct WorkflowRun {
    id: u64,
    event: &'static str,
    sha: String,
    pr: Option<u64>,
    jobs: BTreeMap<String, JobRun>,
}

impl WorkflowRun {
    /// Each job's outputs so far: the `needs` context.
    fn outputs(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.jobs
            .iter()
            .map(|(k, j)| (k.clone(), j.outputs.clone()))
            .collect()
    }

    #[track_caller]
    fn job(&self, name: &str) -> &JobRun {
        self.jobs
            .get(name)
            .unwrap_or_else(|| panic!("no job {name} in {self:#?}"))
    }

    #[track_caller]
    fn expect(&self, name: &str, outcome: Outcome) -> &JobRun {
        let job = self.job(name);
        assert_eq!(job.outcome, outcome, "job {name}:\n{}", job.log);
        job
    }
}

/// The values `${{ }}` and `if:` read.
struct Cx<'a> {
    event: &'a str,
    pr: Option<u64>,
    steps: &'a BTreeMap<String, BTreeMap<String, String>>,
    needs: &'a BTreeMap<String, BTreeMap<String, String>>,
}

impl<'a> Cx<'a> {
    fn of(
        run: &'a WorkflowRun,
        steps: &'a BTreeMap<String, BTreeMap<String, String>>,
        needs: &'a BTreeMap<String, BTreeMap<String, String>>,
    ) -> Cx<'a> {
        Cx {
            event: run.event,
            pr: run.pr,
            steps,
            needs,
        }
    }

    fn value(&self, expr: &str) -> String {
        let e = expr.trim();
        let outputs = |m: &BTreeMap<String, BTreeMap<String, String>>, rest: &str| {
            let (id, name) = rest
                .split_once(".outputs.")
                .unwrap_or_else(|| panic!("{RECIPE}: `{e}` is not an output"));
            m.get(id)
                .and_then(|o| o.get(name))
                .cloned()
                .unwrap_or_default()
        };
        match e {
            "github.event_name" => self.event.to_string(),
            "github.token" => "ghs_ci-recipe-token".to_string(),
            "github.event.pull_request.number" => {
                self.pr.expect("a pull request number").to_string()
            }
            "secrets.FACEBOOK_STREAM_KEY" => STREAM_KEY.to_string(),
            "vars.LIVESTACK_ROLE_ARN" => "arn:aws:iam::123456789012:role/livestack-ci".into(),
            _ if e.starts_with("steps.") => outputs(self.steps, &e["steps.".len()..]),
            _ if e.starts_with("needs.") => outputs(self.needs, &e["needs.".len()..]),
            _ => panic!("{RECIPE}: `{e}` is not stood in for by this test"),
        }
    }

    /// `s` with each `${{ expr }}` replaced by its value.
    fn interpolate(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${{") {
            let end = rest[i..].find("}}").expect("a closed ${{") + i;
            out.push_str(&rest[..i]);
            out.push_str(&self.value(&rest[i + 3..end]));
            rest = &rest[end + 2..];
        }
        out + rest
    }

    /// An `if:`: comparisons of a value with a quoted literal, joined by `&&`.
    fn condition(&self, expr: &str) -> bool {
        let e = expr.trim();
        let e = e
            .strip_prefix("${{")
            .and_then(|e| e.strip_suffix("}}"))
            .unwrap_or(e);
        e.split("&&").all(|c| {
            let (l, r, equal) = match (c.split_once("=="), c.split_once("!=")) {
                (Some((l, r)), _) => (l, r, true),
                (_, Some((l, r))) => (l, r, false),
                _ => panic!("{RECIPE}: condition `{c}` is not stood in for by this test"),
            };
            let r = r.trim();
            let lit = r
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .unwrap_or_else(|| panic!("{RECIPE}: `{r}`: a quoted literal"));
            (self.value(l) == lit) == equal
        })
    }
}

/// A repository holding the stack file, with the recipe as its workflow, run against the
/// world's sandbox.
struct Repo<'w> {
    w: &'w World,
    workflow: Yaml,
    root: PathBuf,
    runs: u64,
    /// The stack file of each commit.
    commits: BTreeMap<String, PathBuf>,
    /// Each pull request's head commit.
    heads: BTreeMap<u64, String>,
}

impl<'w> Repo<'w> {
    fn new(w: &'w World) -> Repo<'w> {
        let root = w.dir.join("ci");
        for d in [
            "github/comments",
            "github/pulls",
            "github/runs",
            "stubs",
            "tools",
            "home",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let gh = root.join("stubs/gh");
        std::fs::write(
            &gh,
            GH_STUB.replace("@GITHUB@", &root.join("github").display().to_string()),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_livestack"),
            root.join("tools/livestack"),
        )
        .unwrap();
        std::fs::set_permissions(&gh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        // The bucket the recipe's state names, made beforehand as its README asks.
        let workflow = recipe();
        let state = text(&workflow["env"]["LIVESTACK_STATE"]).expect("env LIVESTACK_STATE");
        let bucket = state
            .trim_start_matches("s3://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        w.block_on(w.sandbox.ensure_bucket(&bucket)).unwrap();
        Repo {
            w,
            workflow,
            root,
            runs: 0,
            commits: BTreeMap::new(),
            heads: BTreeMap::new(),
        }
    }

    /// The recipe's state, `s3://...` (in the sandbox's bucket of that name).
    fn state(&self) -> String {
        let state = text(&self.workflow["env"]["LIVESTACK_STATE"]).expect("env LIVESTACK_STATE");
        assert!(
            state.starts_with("s3://"),
            "{RECIPE}: the state is kept in S3"
        );
        state
    }

    fn commit(&mut self, stack: &Path) -> String {
        let sha = format!("{:040x}", 0xc0ffee_u64 + self.commits.len() as u64);
        self.commits.insert(sha.clone(), stack.to_path_buf());
        sha
    }

    /// Pull request `number` proposing `stack` as the stack file: the workflow's run.
    fn pull_request(&mut self, number: u64, stack: &Path) -> WorkflowRun {
        let head = self.commit(stack);
        self.heads.insert(number, head.clone());
        let run = self.run("pull_request", head.clone(), Some(number));
        if run
            .jobs
            .values()
            .all(|j| !matches!(j.outcome, Outcome::Failed { .. }))
        {
            std::fs::write(
                self.root.join("github/runs").join(&head),
                run.id.to_string(),
            )
            .unwrap();
        }
        run
    }

    /// Pull request `number` merged into main: the push's run.
    fn merge(&mut self, number: u64) -> WorkflowRun {
        let head = self.heads[&number].clone();
        let merged = self.commit(&self.commits[&head].clone());
        std::fs::write(self.root.join("github/pulls").join(&merged), &head).unwrap();
        self.run("push", merged, None)
    }

    /// `stack` pushed to main without a pull request.
    fn push(&mut self, stack: &Path) -> WorkflowRun {
        let sha = self.commit(stack);
        self.run("push", sha, None)
    }

    /// The comments posted, each with its pull request's number, in order.
    fn comments(&self) -> Vec<(u64, String)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.root.join("github/comments"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let name = f.file_stem().unwrap().to_str().unwrap();
                let pr = name.split_once("-pr").unwrap().1.parse().unwrap();
                (pr, std::fs::read_to_string(f).unwrap())
            })
            .collect()
    }

    /// The `gh` command lines run so far.
    fn gh_calls(&self) -> String {
        std::fs::read_to_string(self.root.join("github/calls")).unwrap_or_default()
    }

    fn run(&mut self, event: &'static str, sha: String, pr: Option<u64>) -> WorkflowRun {
        self.runs += 1;
        let mut run = WorkflowRun {
            id: self.runs,
            event,
            sha,
            pr,
            jobs: BTreeMap::new(),
        };
        let names: Vec<String> = self.workflow["jobs"]
            .as_hash()
            .expect("jobs")
            .keys()
            .map(|k| text(k).unwrap())
            .collect();
        for name in names {
            let job = self.job_run(&run, &name, false);
            run.jobs.insert(name, job);
        }
        run
    }

    /// A reviewer of its environment approves the job `name`, waiting in `run`.
    fn approve<'r>(&self, run: &'r mut WorkflowRun, name: &str) -> &'r JobRun {
        assert!(matches!(run.job(name).outcome, Outcome::Waiting(_)));
        let job = self.job_run(run, name, true);
        run.jobs.insert(name.to_string(), job);
        run.job(name)
    }

    /// The job `name` run in `run` whatever its `if:` says.
    fn run_anyway(&self, run: &WorkflowRun, name: &str) -> JobRun {
        let job = &self.workflow["jobs"][name];
        self.steps(run, name, job)
    }

    fn job_run(&self, run: &WorkflowRun, name: &str, approved: bool) -> JobRun {
        let job = &self.workflow["jobs"][name];
        let skipped = JobRun {
            outcome: Outcome::Skipped,
            outputs: BTreeMap::new(),
            log: String::new(),
        };
        let needed: Vec<String> = match &job["needs"] {
            Yaml::BadValue => vec![],
            Yaml::Array(a) => a.iter().map(|n| text(n).unwrap()).collect(),
            n => vec![text(n).unwrap()],
        };
        for n in &needed {
            let done = run.jobs.get(n).unwrap_or_else(|| {
                panic!("{RECIPE}: job {name} needs {n}, which is not a job above it")
            });
            if done.outcome != Outcome::Succeeded {
                return skipped;
            }
        }
        let needs = run.outputs();
        let no_steps = BTreeMap::new();
        let cx = Cx::of(run, &no_steps, &needs);
        if let Some(cond) = text(&job["if"]) {
            if !cx.condition(&cond) {
                return skipped;
            }
        }
        if let Some(env) = text(&job["environment"]) {
            if !approved {
                return JobRun {
                    outcome: Outcome::Waiting(env),
                    ..skipped
                };
            }
        }
        self.steps(run, name, job)
    }

    /// `livestack ARGS --state STATE` run by someone at their laptop against the same cloud
    /// and state, with `stack` as `stacks/imday.toml`.
    fn livestack(&self, args: &[&str], stack: &Path) -> crate::harness::Run {
        let ws = self.root.join("laptop");
        std::fs::create_dir_all(ws.join("stacks")).unwrap();
        std::fs::copy(stack, ws.join("stacks/imday.toml")).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_livestack"));
        c.args(args)
            .arg("--state")
            .arg(self.state())
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .env("HOME", self.root.join("home"))
            .env("AWS_ENDPOINT_URL", self.w.sandbox.endpoint_url())
            .env("AWS_ACCESS_KEY_ID", "ASIALAPTOP")
            .env("AWS_SECRET_ACCESS_KEY", "laptop-secret")
            .env("AWS_REGION", "us-east-1")
            .env("FACEBOOK_STREAM_KEY", STREAM_KEY)
            .current_dir(&ws)
            .stdin(Stdio::null());
        Live::start(c, args).finish()
    }

    /// The steps of job `name` in `run`, in a workspace of their own.
    fn steps(&self, run: &WorkflowRun, name: &str, job: &Yaml) -> JobRun {
        let wf = &self.workflow;
        assert_eq!(
            text(&wf["defaults"]["run"]["shell"]).as_deref(),
            Some("bash"),
            "{RECIPE}: `defaults: run: shell: bash` (bash -eo pipefail) is what this test runs"
        );
        let dir = self.root.join(format!("run-{}", run.id));
        let ws = dir.join(name);
        let files = dir.join(format!("{name}.files"));
        let _ = std::fs::remove_dir_all(&ws);
        let _ = std::fs::remove_dir_all(&files);
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(&files).unwrap();
        let (github_env, github_path) = (files.join("env"), files.join("path"));
        std::fs::write(&github_env, "").unwrap();
        std::fs::write(&github_path, "").unwrap();
        let needs = run.outputs();
        let permission = |p: &str| {
            text(&job["permissions"][p])
                .or_else(|| text(&wf["permissions"][p]))
                .unwrap_or_default()
        };
        let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut log = String::new();
        let steps = job["steps"].as_vec().expect("a job's steps");
        for (i, step) in steps.iter().enumerate() {
            let cx = Cx::of(run, &outputs, &needs);
            if let Some(c) = text(&step["if"]) {
                if !cx.condition(&c) {
                    continue;
                }
            }
            let label = text(&step["name"])
                .or_else(|| text(&step["uses"]))
                .or_else(|| text(&step["run"]))
                .expect("a step runs or uses");
            let with: BTreeMap<String, String> = pairs(&step["with"])
                .into_iter()
                .map(|(k, v)| (k, cx.interpolate(&v)))
                .collect();
            let arg = |k: &str| with.get(k).cloned().unwrap_or_default();
            let artifacts =
                |run_id: &str| self.root.join("artifacts").join(run_id).join(arg("name"));
            let result: Result<(), i32> = if let Some(action) = text(&step["uses"]) {
                match action.split_once('@').map(|a| a.0) {
                    Some("actions/checkout") => {
                        let stack = text(&wf["env"]["STACK"]).expect("env STACK");
                        let to = ws.join(stack);
                        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                        std::fs::copy(&self.commits[&run.sha], to).unwrap();
                        Ok(())
                    }
                    Some("aws-actions/configure-aws-credentials") => {
                        assert!(
                            !arg("role-to-assume").is_empty(),
                            "{name}: OIDC wants a role"
                        );
                        assert_eq!(
                            permission("id-token"),
                            "write",
                            "{name}: OIDC wants id-token: write"
                        );
                        let region = arg("aws-region");
                        assert!(!region.is_empty(), "{name}: aws-region");
                        // What the action exports for the steps after it.
                        let exported = format!(
                            "AWS_ACCESS_KEY_ID=ASIACIRECIPE\nAWS_SECRET_ACCESS_KEY=ci-recipe-secret\n\
                             AWS_SESSION_TOKEN=ci-recipe-session\nAWS_REGION={region}\nAWS_DEFAULT_REGION={region}\n"
                        );
                        append(&github_env, &exported);
                        Ok(())
                    }
                    Some("actions/upload-artifact") => {
                        let to = artifacts(&run.id.to_string());
                        std::fs::create_dir_all(&to).unwrap();
                        arg("path")
                            .lines()
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .try_for_each(|p| {
                                std::fs::copy(ws.join(p), to.join(p))
                                    .map(drop)
                                    .map_err(|_| {
                                        log.push_str(&format!(
                                            "No files were found with the provided path: {p}\n"
                                        ));
                                        1
                                    })
                            })
                    }
                    Some("actions/download-artifact") => {
                        let run_id = match arg("run-id") {
                            id if id.is_empty() => run.id.to_string(),
                            id => {
                                assert!(
                                    !arg("github-token").is_empty(),
                                    "{name}: another run's artifact wants a token"
                                );
                                assert_eq!(
                                    permission("actions"),
                                    "read",
                                    "{name}: another run's artifact wants actions: read"
                                );
                                id
                            }
                        };
                        match std::fs::read_dir(artifacts(&run_id)) {
                            Ok(entries) => {
                                for e in entries {
                                    let e = e.unwrap();
                                    std::fs::copy(e.path(), ws.join(e.file_name())).unwrap();
                                }
                                Ok(())
                            }
                            Err(_) => {
                                log.push_str(&format!(
                                    "Artifact not found for name: {} (run {run_id:?})\n",
                                    arg("name")
                                ));
                                Err(1)
                            }
                        }
                    }
                    _ => panic!("{RECIPE}: action {action} is not stood in for by this test"),
                }
            } else if text(&step["id"]).as_deref() == Some("install") {
                let script = text(&step["run"]).unwrap();
                assert!(
                    script.contains("cargo install") && script.contains("livestack"),
                    "{script}"
                );
                append(
                    &github_path,
                    &format!("{}\n", self.root.join("tools").display()),
                );
                Ok(())
            } else {
                let script = text(&step["run"]).expect("a step runs or uses");
                assert!(
                    !script.contains("${{"),
                    "{RECIPE}: `${{{{ }}}}` in a script is a script injection: pass it in `env:`\n{script}"
                );
                let output = files.join(format!("output-{i}"));
                std::fs::write(&output, "").unwrap();
                let file = files.join(format!("step-{i}.sh"));
                std::fs::write(&file, &script).unwrap();
                let mut c = Command::new("/bin/bash");
                c.args(["--noprofile", "--norc", "-eo", "pipefail"])
                    .arg(&file)
                    .env_clear()
                    .current_dir(&ws)
                    .stdin(Stdio::null());
                let mut path: Vec<String> = std::fs::read_to_string(&github_path)
                    .unwrap()
                    .lines()
                    .rev()
                    .map(String::from)
                    .collect();
                path.push(self.root.join("stubs").display().to_string());
                path.push(SYSTEM_PATH.into());
                let dirs = |p: &Path| p.display().to_string();
                c.env("PATH", path.join(":"))
                    .env("HOME", dirs(&self.root.join("home")))
                    .env("CI", "true")
                    .env("GITHUB_ACTIONS", "true")
                    .env("GITHUB_EVENT_NAME", run.event)
                    .env("GITHUB_SHA", &run.sha)
                    .env("GITHUB_REPOSITORY", "acme/streaming-stacks")
                    .env("GITHUB_RUN_ID", run.id.to_string())
                    .env("GITHUB_JOB", name)
                    .env("GITHUB_WORKSPACE", dirs(&ws))
                    .env("GITHUB_OUTPUT", dirs(&output))
                    .env("GITHUB_ENV", dirs(&github_env))
                    .env("GITHUB_PATH", dirs(&github_path))
                    .env("RUNNER_TEMP", dirs(&files))
                    // The runner's machine points the AWS SDKs at the sandbox.
                    .env("AWS_ENDPOINT_URL", self.w.sandbox.endpoint_url());
                for (k, v) in pairs(&wf["env"]).into_iter().chain(pairs(&job["env"])) {
                    c.env(k, cx.interpolate(&v));
                }
                for (k, v) in key_values(&std::fs::read_to_string(&github_env).unwrap()) {
                    c.env(k, v);
                }
                for (k, v) in pairs(&step["env"]) {
                    c.env(k, cx.interpolate(&v));
                }
                let ran = Live::start(c, &[name, &label]).finish();
                log.push_str(&format!("--- {label}\n{}{}", ran.stdout, ran.stderr));
                if let Some(id) = text(&step["id"]) {
                    let set = key_values(&std::fs::read_to_string(&output).unwrap());
                    outputs.insert(id, set.into_iter().collect());
                }
                match ran.code {
                    0 => Ok(()),
                    code => Err(code),
                }
            };
            if let Err(code) = result {
                return JobRun {
                    outcome: Outcome::Failed { step: label, code },
                    outputs: BTreeMap::new(),
                    log,
                };
            }
        }
        let cx = Cx::of(run, &outputs, &needs);
        JobRun {
            outcome: Outcome::Succeeded,
            outputs: pairs(&job["outputs"])
                .into_iter()
                .map(|(k, v)| (k, cx.interpolate(&v)))
                .collect(),
            log,
        }
    }
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The `name=value` lines of a GITHUB_OUTPUT or GITHUB_ENV file.
fn key_values(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            assert!(
                !l.contains("<<"),
                "multi-line values are not stood in for: {l}"
            );
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not name=value: {l}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

const GH_STUB: &str = r#"#!/usr/bin/env bash
# gh, stood in for by tests/e2e/ci_recipe.rs
set -e
github='@GITHUB@'
printf '%s\n' "$*" >> "$github/calls"
case "$1 $2" in
  "pr comment")
    pr=$3
    while [ $# -gt 0 ]; do
      if [ "$1" = --body-file ]; then
        n=$(ls "$github/comments" | wc -l)
        cp "$2" "$github/comments/$(printf %03d "$n")-pr$pr.md"
        exit 0
      fi
      shift
    done
    echo "gh stub: pr comment without --body-file" >&2
    exit 1 ;;
  "api "*)
    sha=${2#repos/*/commits/}
    cat "$github/pulls/${sha%/pulls}" 2>/dev/null || true ;;
  "run list")
    while [ $# -gt 0 ]; do
      if [ "$1" = --commit ]; then cat "$github/runs/$2" 2>/dev/null || true; fi
      shift
    done ;;
  *)
    echo "gh stub: \`gh $*\` is not stood in for" >&2
    exit 1 ;;
esac
"#;

/// A stack file in the scratch directory: `example` edited by `edit`.
fn stack_file(
    w: &World,
    name: &str,
    example_name: &str,
    edit: impl Fn(String) -> String,
) -> PathBuf {
    let path = w.dir.join(name);
    let text = std::fs::read_to_string(example(example_name)).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn retagged(text: String) -> String {
    let edited = text.replace(
        "tags = { workshop = \"imday\" }",
        "tags = { workshop = \"imday\", team = \"live\" }",
    );
    assert_ne!(edited, text);
    edited
}

#[test]
fn a_pull_request_posts_its_plan_and_its_merge_applies_that_plan_unless_stale() {
    let w = World::new("ci-recipe-merge");
    let mut repo = Repo::new(&w);

    // A stack file livestack cannot read: the plan job fails, nothing is posted or kept.
    let broken = stack_file(&w, "broken.toml", "s3-loop.toml", |t| {
        t.replace(
            "channel = \"mediapackage_channel.imday-mp\"",
            "channel = \"mediapackage_channel.nowhere\"",
        )
    });
    let run = repo.pull_request(7, &broken);
    let job = run.job("plan");
    assert!(
        matches!(&job.outcome, Outcome::Failed { step, code: 1 } if step == "Plan"),
        "{job:#?}"
    );
    assert_shows(&job.log, &["mediapackage_channel.nowhere"]);
    assert!(repo.comments().is_empty());

    // Section 1 from empty: changes (plan's exit code 2), the job passes and posts the plan.
    let s1 = example("s3-loop.toml");
    let pr1 = repo.pull_request(1, &s1);
    pr1.expect("plan", Outcome::Succeeded);
    for job in ["route", "apply", "apply-on-air"] {
        pr1.expect(job, Outcome::Skipped);
    }
    let comments = repo.comments();
    assert_eq!(comments.len(), 1, "{comments:?}");
    let (pr, body) = &comments[0];
    assert_eq!(*pr, 1);
    assert_shows(
        body,
        &[
            "#### `livestack plan stacks/imday.toml`",
            "+ medialive_channel.imday  will be created",
            "Plan: 7 to create, 0 to update, 0 to replace, 0 to delete; 0 running channels interrupted.",
        ],
    );
    assert!(!body.contains("off air"), "{body}");
    assert!(w.inventory().is_empty(), "a plan changes nothing");

    // A second pull request planned from the same (empty) state before the first merges.
    let retag = stack_file(&w, "retag.toml", "s3-loop.toml", retagged);
    repo.pull_request(2, &retag)
        .expect("plan", Outcome::Succeeded);

    // The merge of #1 applies the plan its run saved.
    let before = w.requests().len();
    let m1 = repo.merge(1);
    m1.expect("plan", Outcome::Skipped);
    let route = m1.expect("route", Outcome::Succeeded);
    assert_eq!(route.outputs["run"], pr1.id.to_string());
    assert_eq!(route.outputs["interrupts"], "false");
    let apply = m1.expect("apply", Outcome::Succeeded);
    m1.expect("apply-on-air", Outcome::Skipped);
    assert_shows(&apply.log, &["Done: 8 steps"]);
    let mut made = w.operations_since(before);
    made.retain(|op| op.starts_with("Create") || op == "PutParameter" || op == "StartChannel");
    made.sort();
    assert_eq!(
        made,
        [
            "CreateChannel", // MediaPackage
            "CreateChannel", // MediaLive
            "CreateInput",
            "CreateOriginEndpoint",
            "CreateRole",
            "PutParameter", // the stack's hash key
            "PutParameter",
            "PutParameter",
            "StartChannel",
        ]
    );
    assert_eq!(w.inventory(), section_1_inventory());
    let asked = repo.gh_calls();
    let head = &repo.heads[&1];
    assert_shows(
        &asked,
        &[
            &format!("api repos/acme/streaming-stacks/commits/{}/pulls", m1.sha),
            &format!("run list --workflow livestack.yml --event pull_request --status success --commit {head}"),
        ],
    );

    // Planned again, the stack has nothing to do: exit code 0.
    let again = repo.livestack(&["plan", "stacks/imday.toml", "--detailed-exitcode"], &s1);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_shows(&again.stdout, &["No changes"]);

    // #2 was planned before #1 changed the state: its merge is refused, nothing changed.
    let before = w.requests().len();
    let m2 = repo.merge(2);
    let apply = m2.expect(
        "apply",
        Outcome::Failed {
            step: "livestack apply plan.bin --no-interrupt --auto-approve".into(),
            code: 1,
        },
    );
    assert_shows(
        &apply.log,
        &["plan.bin: stale plan: the state changed since it was made"],
    );
    assert!(w.mutations_since(before).is_empty(), "nothing was changed");

    // A push that no pull request planned is not applied.
    let direct = repo.push(&retag);
    let route = direct.job("route");
    assert!(
        matches!(&route.outcome, Outcome::Failed { code: 1, .. }),
        "{route:#?}"
    );
    assert_shows(
        &route.log,
        &[&format!("head: no pull request merged {}", direct.sha)],
    );
    direct.expect("apply", Outcome::Skipped);
    direct.expect("apply-on-air", Outcome::Skipped);
    assert!(w.mutations_since(before).is_empty(), "nothing was changed");
}

#[test]
fn a_merge_that_takes_a_running_channel_off_air_waits_for_approval() {
    let w = World::new("ci-recipe-on-air");
    let mut repo = Repo::new(&w);
    repo.pull_request(1, &example("s3-loop.toml"))
        .expect("plan", Outcome::Succeeded);
    repo.merge(1).expect("apply", Outcome::Succeeded);

    // Section 3: the running channel is stopped, changed and started again.
    let s3 = example("s3-loop-facebook.toml");
    repo.pull_request(2, &s3).expect("plan", Outcome::Succeeded);
    let (pr, body) = repo.comments().pop().unwrap();
    assert_eq!(pr, 2);
    assert_shows(
        &body,
        &[
            "**Takes a running channel off air:** applied only once approved in `on-air`.",
            "[interrupts the live channel]",
            "1 running channel interrupted.",
        ],
    );
    assert!(
        !body.contains(STREAM_KEY),
        "the stream key is posted:\n{body}"
    );

    // The merge routes it to the job a reviewer of `on-air` approves; nothing changes before.
    let before = w.requests().len();
    let mut m2 = repo.merge(2);
    assert_eq!(m2.job("route").outputs["interrupts"], "true");
    m2.expect("apply", Outcome::Skipped);
    m2.expect("apply-on-air", Outcome::Waiting("on-air".into()));
    assert!(w.mutations_since(before).is_empty());

    // Had the routing let it through, the apply with --no-interrupt would refuse it.
    let unrouted = repo.run_anyway(&m2, "apply");
    assert_eq!(
        unrouted.outcome,
        Outcome::Failed {
            step: "livestack apply plan.bin --no-interrupt --auto-approve".into(),
            code: 1
        },
        "{}",
        unrouted.log
    );
    assert_shows(
        &unrouted.log,
        &["error: --no-interrupt: the plan takes running channel(s) or what viewers watch of them off air (medialive_channel.imday); nothing was changed"],
    );
    assert!(w.mutations_since(before).is_empty());

    // Approved, the saved plan is applied as reviewed.
    let approved = repo.approve(&mut m2, "apply-on-air");
    assert_eq!(approved.outcome, Outcome::Succeeded, "{}", approved.log);
    let ops = w.operations_since(before);
    assert_eq!(ops, SECTION_3_CALLS);
    let again = repo.livestack(&["plan", "stacks/imday.toml", "--detailed-exitcode"], &s3);
    assert_eq!(again.code, 0, "{}", again.all());
}

#[test]
fn the_recipe_applies_one_at_a_time_and_reaches_aws_through_oidc() {
    let wf = recipe();
    let jobs = wf["jobs"].as_hash().unwrap();
    let applying: Vec<&Yaml> = jobs
        .values()
        .filter(|j| {
            j["steps"]
                .as_vec()
                .unwrap()
                .iter()
                .any(|s| text(&s["run"]).is_some_and(|r| r.contains("livestack apply")))
        })
        .collect();
    assert_eq!(applying.len(), 2, "an apply, and one after approval");
    for j in &applying {
        assert_eq!(
            text(&j["concurrency"]["group"]).as_deref(),
            Some("livestack-apply-imday"),
            "every apply of the stack in one concurrency group"
        );
        assert_eq!(j["concurrency"]["cancel-in-progress"], Yaml::Boolean(false));
    }
    assert_eq!(
        applying
            .iter()
            .filter(|j| text(&j["environment"]).as_deref() == Some("on-air"))
            .count(),
        1
    );
    let text_all =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(RECIPE)).unwrap();
    assert!(
        !text_all.contains("aws-access-key-id"),
        "no stored AWS keys: OIDC"
    );
}

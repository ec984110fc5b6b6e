//! The `livestack` binary: the only place that knows terminals, clap and anyhow.

mod progress;
mod saved;
mod signals;
mod store;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use livestack_model::ValidatedStack;
use livestack_plan::{plural, Mode, Plan};
use livestack_state::State;

/// Declarative reconciler for AWS Elemental MediaLive and MediaPackage live-streaming stacks.
#[derive(Parser)]
#[command(name = "livestack", version, about)]
struct Cli {
    /// More logs on stderr: -v livestack's steps and calls, -vv the AWS SDK's too (RUST_LOG
    /// overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check stack files; every problem is reported with file:line:column.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show what apply would change.
    Plan {
        #[command(flatten)]
        target: TargetArgs,
        /// Print the versioned JSON plan instead of text.
        #[arg(long)]
        json: bool,
        /// Save the plan for `livestack apply FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 0 when nothing changes, 2 when something does (1 is an error).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Show new and removed objects whole, not one line of their key members.
        #[arg(long)]
        full: bool,
        /// The plan `destroy` would run, without destroying anything (with -target: the
        /// targets and what depends on them).
        #[arg(long)]
        destroy: bool,
        #[command(flatten)]
        only: Only,
    },
    /// Converge the cloud to the stack (or apply a saved plan).
    Apply {
        #[command(flatten)]
        target: TargetArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Refuse any plan that stops a running channel.
        #[arg(long)]
        no_interrupt: bool,
        /// A plan saved by `plan --out` to apply instead of planning again (the same as
        /// giving the saved plan in place of the stack file).
        #[arg(long, value_name = "FILE")]
        plan_file: Option<PathBuf>,
        #[command(flatten)]
        only: Only,
    },
    /// Delete everything the stack owns, in the order AWS requires (with -target: the targets
    /// and what depends on them).
    Destroy {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        auto_approve: bool,
        #[command(flatten)]
        only: Only,
    },
    /// What the workshop makes you copy by hand: OBS server and key, playback URLs, channel states.
    Outputs {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        json: bool,
    },
    /// The stack's dependency graph, or with --plan the plan's steps by wave (DOT or Mermaid).
    Graph {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, default_value = "dot", value_parser = ["dot", "mermaid"])]
        format: String,
        /// The steps of the plan against the cloud (refreshed), grouped by wave.
        #[arg(long)]
        plan: bool,
        /// With --plan: the steps of the destroy plan.
        #[arg(long)]
        destroy: bool,
        #[command(flatten)]
        only: Only,
    },
    /// A plan saved by `plan --out` as `plan` printed it, or what the state holds for a stack
    /// file, with its outputs (no AWS call).
    Show {
        /// A saved plan or a stack file (told apart by their content).
        file: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Print the JSON Schema of stack files, for editors (taplo, Even Better TOML).
    Schema,
    /// Write a stack file for channels that already exist (built in the console or by a
    /// script), with what they use, and the state recording their ids; never writes to the
    /// cloud.
    Import(ImportArgs),
    /// Inspect the state file.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Remove a stale lock left by a process that died.
    ForceUnlock {
        stack: PathBuf,
        id: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// The local MediaLive / MediaPackage / SSM / IAM endpoint.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
}

#[derive(Subcommand)]
enum StateCommand {
    /// Every resource in the state.
    List {
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// One resource in the state.
    Show {
        stack: PathBuf,
        address: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Rename a resource in the state (a label renamed in the stack file); no AWS call. A
    /// `[[moved]]` entry in the stack file does the same at the next apply.
    Mv {
        stack: PathBuf,
        from: String,
        to: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Print the state as it stands (a journal left by an apply folded in), or write it to a
    /// file: to move a state from S3 to a file.
    Pull {
        stack: PathBuf,
        #[command(flatten)]
        state: StateArgs,
        /// Write it to FILE (mode 0600) instead of printing it.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Make a state file the stack's state (to move a state from a file to S3), under its
    /// lock; refused over a state of another lineage or a newer serial unless --force.
    Push {
        stack: PathBuf,
        /// The state file to push.
        file: PathBuf,
        #[command(flatten)]
        state: StateArgs,
        /// Replace a state of another lineage or a newer serial.
        #[arg(long)]
        force: bool,
    },
    /// Let go of a resource: it leaves the state and is never adopted or deleted by this
    /// stack again; the cloud resource is untouched. No AWS call.
    Rm {
        stack: PathBuf,
        address: String,
        #[command(flatten)]
        state: StateArgs,
    },
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Serve the sandbox in the foreground on 127.0.0.1.
    Serve {
        #[arg(long, default_value_t = 4566)]
        port: u16,
        /// Persist the simulated cloud to this file.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Divide every AWS duration by this (20: a channel starts in about 3 s).
        #[arg(long, default_value_t = 20.0)]
        speed: f64,
    },
}

/// Where a state is and, for one kept in S3, how its bucket is reached (the commands that make
/// no other AWS call: `state`, `show`, `force-unlock`).
#[derive(Args, Clone, Default)]
struct StateArgs {
    /// Where the state is kept: a file, or s3://BUCKET/KEY (default `[stack] state`, else
    /// state/<stack>.json).
    #[arg(long, value_name = "PATH|s3://BUCKET/KEY")]
    state: Option<PathBuf>,
    /// A state in S3 kept by the embedded sandbox (its cloud in state/<stack>.sandbox.json).
    #[arg(long)]
    sandbox: bool,
    /// A state in S3 kept by a sandbox serving at URL, with dummy credentials.
    #[arg(long, value_name = "URL", conflicts_with_all = ["sandbox", "endpoint_url"])]
    sandbox_url: Option<String>,
    /// Send the S3 calls to this endpoint (also AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL", conflicts_with = "sandbox")]
    endpoint_url: Option<String>,
    /// The bucket's region (default: the stack file's, then the AWS configuration's).
    #[arg(long)]
    region: Option<String>,
}

impl StateArgs {
    /// The options that reach the bucket, as a command line gives them.
    fn reach_words(&self) -> Vec<String> {
        reach_words(
            self.sandbox,
            self.sandbox_url.as_deref(),
            self.endpoint_url.as_deref(),
            self.region.as_deref(),
        )
    }
}

/// `--sandbox`, `--sandbox-url URL`, `--endpoint-url URL`, `--region R` as given.
fn reach_words(
    sandbox: bool,
    sandbox_url: Option<&str>,
    endpoint_url: Option<&str>,
    region: Option<&str>,
) -> Vec<String> {
    let mut words = Vec::new();
    if sandbox {
        words.push("--sandbox".to_string());
    }
    for (flag, value) in [
        ("--sandbox-url", sandbox_url),
        ("--endpoint-url", endpoint_url),
        ("--region", region),
    ] {
        if let Some(v) = value {
            words.extend([flag.to_string(), v.to_string()]);
        }
    }
    words
}

/// `-target`: a partial plan.
#[derive(Args, Clone)]
struct Only {
    /// Plan only this resource and what it needs (repeatable; also `-target ADDRESS`): the
    /// plan is partial. For a destroy: this resource and what depends on it.
    #[arg(long = "target", value_name = "ADDRESS")]
    targets: Vec<String>,
}

/// Terraform's spelling `-target ADDRESS` / `-target=ADDRESS`, read as `--target`.
fn terraform_args() -> impl Iterator<Item = std::ffi::OsString> {
    std::env::args_os().map(|a| match a.to_str() {
        Some("-target") => "--target".into(),
        Some(s) if s.starts_with("-target=") => format!("-{s}").into(),
        _ => a,
    })
}

#[derive(Args)]
struct ImportArgs {
    /// A MediaLive channel to import, by name or id (repeatable).
    #[arg(long = "channel", value_name = "NAME|ID")]
    channels: Vec<String>,
    /// Import every MediaLive channel of the region.
    #[arg(long)]
    all: bool,
    /// The stack file to write (default <stack>.toml); encoder settings go beside it.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// The stack's name (default: the stack file's name without .toml, else `imported`).
    #[arg(long, value_name = "NAME")]
    stack: Option<String>,
    /// Print the stack file and the files beside it instead of writing them (no state either).
    #[arg(long)]
    dry_run: bool,
    /// The state file to write (default state/<stack>.json).
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    /// Read the embedded sandbox (its cloud in state/<stack>.sandbox.json).
    #[arg(long)]
    sandbox: bool,
    /// Read a sandbox already serving at URL, with dummy credentials.
    #[arg(long, value_name = "URL", conflicts_with_all = ["sandbox", "endpoint_url"])]
    sandbox_url: Option<String>,
    /// Send every AWS call to this endpoint (also AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL", conflicts_with = "sandbox")]
    endpoint_url: Option<String>,
    /// The region to read (default: the AWS configuration's); written in the stack file.
    #[arg(long)]
    region: Option<String>,
    /// Give up on an AWS call after this many seconds, its retries included.
    #[arg(long, value_name = "SECONDS", env = "LIVESTACK_CALL_TIMEOUT",
          default_value_t = livestack_aws::DEFAULT_BUDGET.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    call_timeout: u64,
}

#[derive(Args, Clone)]
struct TargetArgs {
    /// The stack file.
    stack: PathBuf,
    /// Where the state is kept: a file, or s3://BUCKET/KEY with its lock beside it (default
    /// `[stack] state`, else state/<stack>.json).
    #[arg(long, value_name = "PATH|s3://BUCKET/KEY")]
    state: Option<PathBuf>,
    /// Run against the embedded sandbox (no AWS account needed).
    #[arg(long)]
    sandbox: bool,
    /// Speed factor of the embedded sandbox.
    #[arg(long, default_value_t = 20.0, hide = true)]
    sandbox_speed: f64,
    /// Run against a sandbox already serving at URL (`livestack sandbox serve`), with dummy
    /// credentials.
    #[arg(long, value_name = "URL", conflicts_with_all = ["sandbox", "endpoint_url"])]
    sandbox_url: Option<String>,
    /// Send every AWS call to this endpoint (also AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL", conflicts_with = "sandbox")]
    endpoint_url: Option<String>,
    /// The region (default: the stack file's, then the AWS configuration's).
    #[arg(long)]
    region: Option<String>,
    /// Give up on an AWS call after this many seconds, its retries included (each attempt
    /// gets a quarter of it, at most 30 s); every retry is shown.
    #[arg(long, value_name = "SECONDS", env = "LIVESTACK_CALL_TIMEOUT",
          default_value_t = livestack_aws::DEFAULT_BUDGET.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    call_timeout: u64,
    /// Reads in flight at once while refreshing (as Terraform's -parallelism).
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=256))]
    parallelism: u64,
    /// The AWS configuration's profile a saved plan was made with (`apply FILE.plan`), used
    /// when neither AWS_PROFILE nor credentials are in the environment.
    #[arg(skip)]
    profile: Option<String>,
    /// The embedded sandbox's data file a saved plan was made with.
    #[arg(skip)]
    sandbox_data: Option<PathBuf>,
}

impl TargetArgs {
    /// The options that reach the target (never credentials), as a saved plan records them.
    fn reach(&self, session: &Session) -> saved::Reach {
        saved::Reach {
            sandbox_data: session.sandbox_data.clone(),
            sandbox_url: self.sandbox_url.clone(),
            // `--endpoint-url`, or AWS_ENDPOINT_URL, which the apply may not have set (a
            // sandbox reached as an endpoint too).
            endpoint_url: match &session.target {
                livestack_plan::CloudTarget::Aws { endpoint_url, .. } => endpoint_url.clone(),
                livestack_plan::CloudTarget::Sandbox { url, .. }
                    if self.sandbox_url.is_none() && session.sandbox_data.is_none() =>
                {
                    url.clone()
                }
                livestack_plan::CloudTarget::Sandbox { .. } => None,
            },
            region: session.cloud.region(),
            profile: session.cloud.profile(),
        }
    }

    /// Takes from a saved plan's options what the command line does not say: where the calls
    /// go (unless `--sandbox`, `--sandbox-url` or `--endpoint-url` says it), the region and
    /// the profile. What the command line says wins, and the target it reaches is checked
    /// against the plan's.
    fn fill_from(&mut self, reach: &saved::Reach) {
        if !self.sandbox && self.sandbox_url.is_none() && self.endpoint_url.is_none() {
            self.sandbox = reach.sandbox_data.is_some();
            self.sandbox_data = reach.sandbox_data.clone();
            self.sandbox_url = reach.sandbox_url.clone();
            self.endpoint_url = reach.endpoint_url.clone();
        }
        if self.region.is_none() {
            self.region = reach.region.clone();
        }
        self.profile = reach.profile.clone();
    }

    /// `livestack SUBCOMMAND STACK` with the options that name the same state and target, as
    /// messages suggest it.
    fn command(&self, subcommand: &str, state_path: &Path, default_state: &Path) -> String {
        let mut words = vec![
            "livestack".to_string(),
            subcommand.to_string(),
            self.stack.display().to_string(),
        ];
        if state_path != default_state {
            words.extend(["--state".into(), state_path.display().to_string()]);
        }
        words.extend(self.reach_words());
        shell_line(&words)
    }

    /// The options that reach the target, as a command line gives them.
    fn reach_words(&self) -> Vec<String> {
        reach_words(
            self.sandbox,
            self.sandbox_url.as_deref(),
            self.endpoint_url.as_deref(),
            self.region.as_deref(),
        )
    }
}

/// The words as one shell command line, quoted where a shell would split or expand them.
fn shell_line(words: &[String]) -> String {
    let plain = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    };
    words
        .iter()
        .map(|w| {
            if plain(w) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A lock error with the command that removes the lock, given as the user would type it.
fn lock_error(
    e: livestack_state::Error,
    stack: &Path,
    state_path: &Path,
    default_state: &Path,
    reach: &[String],
) -> anyhow::Error {
    let Some(id) = e.lock_id() else {
        return e.into();
    };
    let mut words = vec![
        "livestack".to_string(),
        "force-unlock".to_string(),
        stack.display().to_string(),
        id.to_string(),
    ];
    if state_path != default_state {
        words.extend(["--state".into(), state_path.display().to_string()]);
    }
    // A bucket is reached as this run reached it.
    if store::s3_url(state_path).is_some() {
        words.extend(reach.iter().cloned());
    }
    let command = shell_line(&words);
    match e {
        livestack_state::Error::UnreadableLock { .. } => anyhow::anyhow!(
            "{e}; unless another livestack is starting on this stack right now, remove it with `{command}`"
        ),
        _ => anyhow::anyhow!(
            "{e}; wait for it to finish, or if that process died run `{command}`"
        ),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(terraform_args());
    progress::init_logs(cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => report(&e),
    };
    // Not waiting for anything still blocked (a prompt's read of stdin).
    rt.shutdown_background();
    ExitCode::from(code)
}

/// Prints the error (one line), then what an unfinished apply left off air; the exit code.
fn report(e: &anyhow::Error) -> u8 {
    use std::io::Write;
    // Never a panic for a closed terminal (SIGHUP): what cannot be written is lost.
    let mut err = std::io::stderr().lock();
    let msg = format!("{e:#}");
    for line in msg.lines() {
        let _ = writeln!(err, "error: {line}");
    }
    match e.downcast_ref::<livestack_engine::Error>() {
        Some(livestack_engine::Error::Unfinished {
            signal, off_air, ..
        }) => {
            for line in off_air {
                let _ = writeln!(err, "{line}");
            }
            return signal.map_or(1, signals::Signal::exit_code);
        }
        Some(livestack_engine::Error::Stopped { signal, .. }) => return signal.exit_code(),
        _ => {}
    }
    match e.downcast_ref::<signals::Interrupted>() {
        Some(i) => i.signal.exit_code(),
        None => 1,
    }
}

async fn run(cli: Cli) -> Result<u8> {
    let color = progress::color(&std::io::stdout());
    match cli.command {
        Command::Import(args) => import(args).await,
        Command::Validate { files } => {
            let mut failed = false;
            for f in files {
                match livestack_model::load(&f) {
                    Ok(s) => println!("{}: ok ({} resources)", f.display(), s.resources.len()),
                    Err(e) => {
                        failed = true;
                        eprintln!("{e}");
                    }
                }
            }
            Ok(u8::from(failed))
        }
        Command::Plan {
            target,
            json,
            out,
            detailed_exitcode,
            full,
            destroy,
            only,
        } => {
            let mut session = Session::open(&target, "plan").await?;
            let mode = if destroy { Mode::Destroy } else { Mode::Apply };
            let (plan, observed) = session.plan_targets(mode, &only.targets).await?;
            if json {
                println!("{}", livestack_plan::render_json(&plan));
            } else {
                let options = livestack_plan::TextOptions { color, full };
                print!("{}", livestack_plan::render_text_with(&plan, options));
            }
            if let Some(out) = out {
                let reach = target.reach(&session);
                saved::save_plan(&out, &plan, &session, &reach, &observed, full)?;
                eprintln!(
                    "saved the plan to {}; apply it with `livestack apply {}`",
                    out.display(),
                    out.display()
                );
            }
            Ok(if detailed_exitcode && !plan.is_empty() {
                2
            } else {
                0
            })
        }
        Command::Apply {
            mut target,
            auto_approve,
            no_interrupt,
            mut plan_file,
            only,
        } => {
            // `livestack apply FILE.plan`: the saved plan names its stack and state files.
            if plan_file.is_none() {
                if let Some(saved) = saved::saved_plan_files(&target.stack)? {
                    plan_file = Some(std::mem::replace(&mut target.stack, saved.stack));
                    target.state.get_or_insert(saved.state);
                    target.fill_from(&saved.reach);
                }
            } else if let Some(f) = &plan_file {
                if let Some(saved) = saved::saved_plan_files(f)? {
                    target.fill_from(&saved.reach);
                }
            }
            // A saved plan is checked against a plan of its mode (`plan --destroy --out`) and
            // targets (`plan -target --out`).
            let (mode, targets) = match &plan_file {
                Some(f) if only.targets.is_empty() => saved::saved_intent(f)?,
                Some(_) => bail!("-target: a saved plan carries its own targets; give none"),
                None => (Mode::Apply, only.targets),
            };
            let operation = match mode {
                Mode::Apply => "apply",
                Mode::Destroy => "destroy",
            };
            let (mut signals, mut session, plan, observed) =
                open_and_plan(&target, operation, mode, &targets).await?;
            let plan = match plan_file {
                Some(f) => saved::check_saved_plan(&f, &plan, &session, &observed)?,
                None => plan,
            };
            print!("{}", livestack_plan::render_text(&plan, color));
            if plan.is_empty() {
                signals
                    .guard("apply stopped while planning", async {
                        // The hash key kept (and out of a state that still holds it) before
                        // anything records a hash, changes or not: adopted resources do.
                        keep_hash_key(&mut session).await?;
                        Ok(session.engine.remember(&plan, &observed).await?)
                    })
                    .await?;
                return Ok(0);
            }
            if no_interrupt && plan.summary.interrupted > 0 {
                let chans: Vec<String> = plan
                    .changes
                    .iter()
                    .filter(|c| c.interrupts)
                    .map(|c| c.address.to_string())
                    .collect();
                bail!(
                    "--no-interrupt: the plan takes running channel(s) or what viewers watch of \
                     them off air ({}); nothing was changed",
                    chans.join(", ")
                );
            }
            confirm(auto_approve, operation, &mut signals).await?;
            run_steps(&mut session, &plan, &observed, &mut signals).await?;
            Ok(0)
        }
        Command::Destroy {
            target,
            auto_approve,
            only,
        } => {
            let (mut signals, mut session, plan, observed) =
                open_and_plan(&target, "destroy", Mode::Destroy, &only.targets).await?;
            print!("{}", livestack_plan::render_text(&plan, color));
            if plan.is_empty() {
                // Nothing of the stack is left (deleted outside livestack): its hash key goes.
                if only.targets.is_empty()
                    && session.state.prior.resources.is_empty()
                    && session.key_stored
                {
                    let stack = session.desired.name.clone();
                    session.cloud.delete_hash_key(&stack).await?;
                }
                return Ok(0);
            }
            confirm(auto_approve, "destroy", &mut signals).await?;
            run_steps(&mut session, &plan, &observed, &mut signals).await?;
            Ok(0)
        }
        Command::Graph {
            target,
            format,
            plan,
            destroy,
            only,
        } => {
            let format = match format.as_str() {
                "mermaid" => livestack_plan::GraphFormat::Mermaid,
                _ => livestack_plan::GraphFormat::Dot,
            };
            if !only.targets.is_empty() && !plan {
                bail!("graph: -target draws a plan's steps: add --plan");
            }
            if destroy && !plan {
                bail!("graph: --destroy draws the destroy plan's steps: add --plan");
            }
            if plan {
                let mut session = Session::open(&target, "plan").await?;
                let mode = if destroy { Mode::Destroy } else { Mode::Apply };
                let (plan, _) = session.plan_targets(mode, &only.targets).await?;
                for w in &plan.warnings {
                    progress::warning(w);
                }
                print!("{}", livestack_plan::plan_graph(&plan, format));
            } else {
                let stack = livestack_model::load(&target.stack)?;
                print!("{}", livestack_plan::stack_graph(&stack, format));
            }
            Ok(0)
        }
        Command::Outputs { target, json } => {
            let session = Session::open(&target, "outputs").await?;
            saved::outputs(&session, json).await?;
            Ok(0)
        }
        Command::Show { file, json, state } => {
            saved::show(&file, json, &state, color).await?;
            Ok(0)
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&livestack_model::schema())?
            );
            Ok(0)
        }
        Command::State {
            command:
                StateCommand::Mv {
                    stack,
                    from,
                    to,
                    state,
                },
        } => {
            state_edit(&stack, state, "state mv", |st| {
                let from = parse_address(&from)?;
                let to = parse_address(&to)?;
                if from.kind != to.kind {
                    bail!("cannot move {from} to {to}: a move keeps the resource's kind");
                }
                if st.prior.resources.contains_key(&to) {
                    bail!("{to} is in the state already; `livestack state rm` it first");
                }
                let r = st
                    .prior
                    .resources
                    .remove(&from)
                    .with_context(|| format!("{from} is not in the state"))?;
                for d in st.prior.deposed.iter_mut().filter(|d| d.address == from) {
                    d.address = to.clone();
                }
                let id = r.id.clone();
                st.prior.resources.insert(to.clone(), r);
                Ok(format!(
                    "moved {from} (id {id}) to {to} in the state; the next apply updates its \
                     livestack:address tag (a tags-only call)"
                ))
            })
            .await
        }
        Command::State {
            command:
                StateCommand::Rm {
                    stack,
                    address,
                    state,
                },
        } => {
            state_edit(&stack, state, "state rm", |st| {
                let a = parse_address(&address)?;
                let r = st
                    .prior
                    .resources
                    .remove(&a)
                    .with_context(|| format!("{a} is not in the state"))?;
                st.prior.released.push(livestack_plan::Deposed {
                    address: a.clone(),
                    id: r.id.clone(),
                });
                Ok(format!(
                "removed {a} (id {}) from the state; the cloud resource is untouched, and this \
                 stack will neither adopt nor delete it again",
                r.id
            ))
            })
            .await
        }
        Command::State { command } => {
            let (stack, state, address) = match command {
                StateCommand::List { stack, state } => (stack, state, None),
                StateCommand::Show {
                    stack,
                    address,
                    state,
                } => (stack, state, Some(address)),
                StateCommand::Pull { stack, state, out } => {
                    return state_pull(&stack, state, out).await
                }
                StateCommand::Push {
                    stack,
                    file,
                    state,
                    force,
                } => return state_push(&stack, &file, state, force).await,
                StateCommand::Mv { .. } | StateCommand::Rm { .. } => {
                    unreachable!("handled above")
                }
            };
            let desired = livestack_model::load(&stack)?;
            let opened = store::open_plain(&state, &desired, false).await?;
            let at = &opened.store;
            let st = at
                .load(&desired.name)?
                .with_context(|| format!("{at}: no state yet"))?;
            match address {
                None => {
                    for (a, r) in &st.prior.resources {
                        println!("{a}\t{}", r.id);
                    }
                }
                Some(a) => {
                    let addr = parse_address(&a)?;
                    let r = st
                        .prior
                        .resources
                        .get(&addr)
                        .with_context(|| format!("{a} is not in {at}"))?;
                    println!("{}", serde_json::to_string_pretty(r)?);
                }
            }
            Ok(0)
        }
        Command::ForceUnlock { stack, id, state } => {
            let desired = livestack_model::load(&stack)?;
            let opened = store::open_plain(&state, &desired, true).await?;
            let at = &opened.store;
            match at.force_unlock(&id)? {
                livestack_state::Released::Lock(info) => println!(
                    "released the lock {} held by {}@{} (pid {}) for {}",
                    info.id, info.holder, info.host, info.pid, info.operation
                ),
                livestack_state::Released::Unreadable => {
                    println!("removed the unreadable lock file {}", at.lock_name())
                }
            }
            Ok(0)
        }
        Command::Sandbox {
            command: SandboxCommand::Serve { port, data, speed },
        } => {
            livestack_sandbox::serve(livestack_sandbox::Config {
                port,
                data,
                speed,
                ..Default::default()
            })
            .await?;
            Ok(0)
        }
    }
}

fn parse_address(a: &str) -> Result<livestack_model::Address> {
    livestack_model::Address::parse(a)
        .with_context(|| format!("`{a}` is not an address such as medialive_channel.imday"))
}

/// Edits the state by hand under its lock: `edit` changes it and says what it did.
async fn state_edit(
    stack: &Path,
    state: StateArgs,
    operation: &str,
    edit: impl FnOnce(&mut State) -> Result<String>,
) -> Result<u8> {
    // Signals are taken over for the few calls the edit makes, so that none ends the process
    // between taking the lock and releasing it.
    let _signals = signals::Signals::install().context("installing signal handlers")?;
    let desired = livestack_model::load(stack)?;
    let default_state = store::configured(&desired);
    let opened = store::open_plain(&state, &desired, true).await?;
    let (at, path) = (&opened.store, &opened.at);
    let lock = opened.lock(operation).map_err(|e| match e.downcast() {
        Ok(e) => lock_error(e, stack, path, &default_state, &state.reach_words()),
        Err(e) => e,
    })?;
    let mut st = lock
        .load(&desired.name)?
        .with_context(|| format!("{at}: no state yet"))?;
    let said = edit(&mut st)?;
    at.save(&mut st)?;
    println!("{said}");
    Ok(0)
}

/// `state pull`: the state as it stands (a journal folded in), to stdout or a file (0600).
async fn state_pull(stack: &Path, state: StateArgs, out: Option<PathBuf>) -> Result<u8> {
    let desired = livestack_model::load(stack)?;
    let opened = store::open_plain(&state, &desired, false).await?;
    let at = &opened.store;
    let st = at
        .load(&desired.name)?
        .with_context(|| format!("{at}: no state yet"))?;
    match out {
        None => println!("{}", serde_json::to_string_pretty(&st)?),
        Some(file) => {
            livestack_state::Store::File(file.clone()).write(&st)?;
            eprintln!(
                "wrote {} (serial {}, {} resources) from {at}",
                file.display(),
                st.serial,
                st.prior.resources.len()
            );
        }
    }
    Ok(0)
}

/// `state push`: a state file becomes the stack's state, under its lock, unless it would
/// replace a state of another lineage or a newer one (`--force` says so knowingly).
async fn state_push(stack: &Path, file: &Path, state: StateArgs, force: bool) -> Result<u8> {
    let _signals = signals::Signals::install().context("installing signal handlers")?;
    let desired = livestack_model::load(stack)?;
    let default_state = store::configured(&desired);
    let mut pushed = livestack_state::load(file, &desired.name)?
        .with_context(|| format!("{}: no such state file", file.display()))?;
    if pushed.hash_key.is_some() {
        bail!(
            "{}: this state still holds the key of its secret hashes, which a shared state must \
             not: apply it where it is first (the key moves to the stack's SSM parameter), then \
             push it; nothing was written",
            file.display()
        );
    }
    let opened = store::open_plain(&state, &desired, true).await?;
    let (at, path) = (&opened.store, &opened.at);
    let lock = opened.lock("state push").map_err(|e| match e.downcast() {
        Ok(e) => lock_error(e, stack, path, &default_state, &state.reach_words()),
        Err(e) => e,
    })?;
    if let Some(there) = lock.load(&desired.name)? {
        if there.lineage != pushed.lineage && !force {
            bail!(
                "{at} holds another state (lineage {}, serial {}) than {} (lineage {}, serial {}); nothing was written: pull it first, or push with --force to replace it",
                there.lineage,
                there.serial,
                file.display(),
                pushed.lineage,
                pushed.serial
            );
        }
        if there.serial > pushed.serial && !force {
            bail!(
                "{at} is newer (serial {}) than {} (serial {}); nothing was written: pull it first, or push with --force to replace it",
                there.serial,
                file.display(),
                pushed.serial
            );
        }
        if there == pushed {
            println!(
                "{at} already holds this state (serial {}); nothing to push",
                there.serial
            );
            return Ok(0);
        }
        // Whoever read the state there sees that it changed.
        pushed.serial = pushed.serial.max(there.serial) + 1;
    }
    at.write(&pushed)?;
    drop(lock);
    println!(
        "pushed {} to {at} (lineage {}, serial {}, {} resources)",
        file.display(),
        pushed.lineage,
        pushed.serial,
        pushed.prior.resources.len()
    );
    Ok(0)
}

/// For apply and destroy: installs the one signal handler of the run, then opens the session
/// (taking the lock) and plans; a signal meanwhile stops the run, the lock released.
async fn open_and_plan(
    target: &TargetArgs,
    operation: &str,
    mode: Mode,
    targets: &[String],
) -> Result<(signals::Signals, Session, Plan, livestack_plan::Observed)> {
    let mut signals = signals::Signals::install().context("installing signal handlers")?;
    let stopped = format!("{operation} stopped while planning");
    let mut session = signals
        .guard(&stopped, Session::open(target, operation))
        .await?;
    let (plan, observed) = signals
        .guard(&stopped, session.plan_targets(mode, targets))
        .await?;
    Ok((signals, session, plan, observed))
}

/// The key of the stack's secret hashes and what to keep of it before applying: the key
/// stored for the stack; else the one an older state holds (to move out of the state); else a
/// new one, unless the state records hashes that only a lost key could compare.
fn hash_key(
    state: &State,
    stored: Option<String>,
    at: &livestack_state::Store,
) -> Result<(String, Option<(String, bool)>)> {
    Ok(match (stored, &state.hash_key) {
        (Some(k), None) => (k, None),
        (Some(k), Some(old)) if &k == old => (k, None),
        // The state's hashes were made with the key it holds.
        (Some(_), Some(old)) => (old.clone(), Some((old.clone(), true))),
        (None, Some(old)) => (old.clone(), Some((old.clone(), false))),
        (None, None) if state.holds_hashes() => bail!(
            "{at}: the secrets it records cannot be compared: the key of their hashes (SSM \
             parameter {}) is gone; restore that parameter, or `livestack state rm` the \
             resources that hold secrets and apply again to adopt them",
            livestack_aws::hash_key_parameter(&state.stack)
        ),
        (None, None) => {
            let k = livestack_state::new_hash_key();
            (k.clone(), Some((k, false)))
        }
    })
}

/// Before the first step: the hash key kept in the stack's SSM parameter, and out of the
/// state (saved at once when it held it).
async fn keep_hash_key(session: &mut Session) -> Result<()> {
    let put = session.keep_key.take();
    if let Some((key, overwrite)) = &put {
        let stack = session.desired.name.clone();
        session
            .cloud
            .put_hash_key(&stack, key, *overwrite)
            .await
            .context("keeping the key of the stack's secret hashes")?;
    }
    // The state's copy goes once the parameter holds the key (put now, or there already).
    if session.state.hash_key.is_some() && (put.is_some() || session.key_stored) {
        session.state.hash_key = None;
        let engine = &mut session.engine;
        // Twice: the backup (`.bak`) of the first write is the state that held the key.
        engine.store.save(&mut engine.state)?;
        engine.store.save(&mut engine.state)?;
    }
    Ok(())
}

/// Runs the plan's steps with their progress on stderr.
async fn run_steps(
    session: &mut Session,
    plan: &Plan,
    observed: &livestack_plan::Observed,
    signals: &mut signals::Signals,
) -> Result<()> {
    keep_hash_key(session).await?;
    let shown = std::sync::Arc::new(progress::Shown::new(progress::Progress::new(
        progress::Display::for_stderr(),
    )));
    let observer: std::sync::Arc<dyn livestack_engine::Observer> = shown.clone();
    let again = livestack_engine::Again {
        apply: &session.apply_command,
        destroy: &session.destroy_command,
    };
    let r = session
        .engine
        .execute(plan, observed, &observer, signals, &again)
        .await;
    match r {
        Ok(()) => {
            shown.progress().finish(plan.steps.len());
            // The stack gone whole: its hash key goes too.
            if plan.mode == Mode::Destroy
                && plan.targets.is_empty()
                && session.state.prior.resources.is_empty()
                && session.key_stored
            {
                let stack = session.desired.name.clone();
                session.cloud.delete_hash_key(&stack).await?;
            }
            Ok(())
        }
        Err(e) => {
            shown.progress().close();
            Err(e.into())
        }
    }
}

/// Asks for "yes" on the terminal. Reading stdin blocks, so it is read on a thread of its own
/// while the signals are watched: Ctrl-C or SIGTERM at the prompt cancels (the caller's lock
/// is released as the error goes up).
async fn confirm(auto_approve: bool, what: &str, signals: &mut signals::Signals) -> Result<()> {
    if auto_approve {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to {what} without confirmation: not a terminal; pass --auto-approve");
    }
    // The plan printed above the question names its target in its header.
    let question = match what {
        "destroy" => "Do you want to destroy these resources?",
        _ => "Do you want to apply these changes?",
    };
    eprint!("{question} Only 'yes' is accepted: ");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    let cancelled = format!("{what} cancelled at the prompt");
    let answer = signals.guard(&cancelled, async {
        Ok(rx.await.context("reading the answer")??)
    });
    let line = match answer.await {
        Ok(line) => line,
        Err(e) => {
            eprintln!(); // the prompt's line ends where the terminal echoed ^C
            return Err(e);
        }
    };
    if line.trim() != "yes" {
        bail!("{what} cancelled; nothing was changed");
    }
    Ok(())
}

/// `--region` must be one of AWS's region names: refused in one line before anything is
/// locked or read.
fn check_region(region: Option<&str>) -> Result<()> {
    if let Some(r) = region {
        if let Some(why) = livestack_model::region_problem(r) {
            bail!("--region `{r}`: {why}; an AWS region such as us-east-1, eu-west-1");
        }
    }
    Ok(())
}

/// `livestack import`: reads the account (never writes to it), writes the stack file, the
/// encoder settings beside it and the state recording the ids found.
async fn import(a: ImportArgs) -> Result<u8> {
    check_region(a.region.as_deref())?;
    if a.channels.is_empty() && !a.all {
        bail!("import: name the channels to import with --channel NAME|ID (repeatable), or give --all");
    }
    let stack = match (&a.stack, &a.out) {
        (Some(s), _) => s.clone(),
        (None, Some(o)) => o
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "imported".into()),
        (None, None) => "imported".into(),
    };
    if stack.is_empty()
        || stack.len() > 64
        || !stack
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("import: `{stack}` is no stack name (letters, digits, `-`, `_`; at most 64): give --stack NAME");
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{stack}.toml")));
    let state_path = a
        .state
        .clone()
        .unwrap_or_else(|| Path::new("state").join(format!("{stack}.json")));
    if let Some(url) = store::s3_url(&state_path) {
        bail!("import: --state {url}: import writes a state file; move it to S3 afterwards with `livestack state push STACK FILE --state {url}`");
    }
    if !a.dry_run {
        if out.exists() {
            bail!(
                "import: {} exists; give another -o FILE (import never overwrites a stack file)",
                out.display()
            );
        }
        if livestack_state::load(&state_path, &stack)?
            .is_some_and(|s| !s.prior.resources.is_empty())
        {
            bail!("import: the state {} already holds resources; import into a new stack (--stack NAME) or another --state", state_path.display());
        }
    }
    let mut sandbox = None;
    let sandbox_data = a
        .sandbox
        .then(|| state_path.with_file_name(format!("{stack}.sandbox.json")));
    let target = if let Some(data) = &sandbox_data {
        let running = livestack_sandbox::start(livestack_sandbox::Config {
            port: 0,
            data: Some(data.clone()),
            region: a.region.clone().unwrap_or_else(|| "us-east-1".into()),
            ..Default::default()
        })
        .await
        .context("starting the embedded sandbox")?;
        let url = running.endpoint_url();
        sandbox = Some(running);
        livestack_aws::Target {
            region: a.region.clone(),
            endpoint_url: Some(url),
            dummy_credentials: true,
            profile: None,
        }
    } else {
        livestack_aws::Target {
            region: a.region.clone(),
            endpoint_url: a.sandbox_url.clone().or(a.endpoint_url.clone()),
            dummy_credentials: a.sandbox_url.is_some(),
            profile: None,
        }
    };
    let mut state = State::new(&stack);
    // What import reads records no secret hash: a key of its own, never kept.
    let hasher = livestack_plan::Hasher::new(livestack_state::new_hash_key().as_bytes());
    let reach = Where {
        sandbox_data: sandbox_data.as_deref(),
        sandbox_url: a.sandbox_url.as_deref(),
        endpoint_url: a.endpoint_url.as_deref(),
    };
    let (clients, cloud_target) = reach
        .connect(&target, a.call_timeout, hasher.clone())
        .await?;
    let region = a.region.clone().or_else(|| clients.region());
    let account =
        livestack_engine::import::read_account(&clients, &hasher, &stack, &a.channels, a.all)
            .await?;
    drop(sandbox);
    for line in &account.owned_elsewhere {
        eprintln!("import: {line}");
    }
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| stack.clone());
    let file = livestack_engine::import::stack_file(&account, &stack, region.as_deref(), &stem);
    if a.dry_run {
        print!("{}", file.toml);
        for (name, text) in &file.files {
            println!("\n# --- {name}");
            print!("{text}");
        }
    } else {
        let dir = out.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        for (name, text) in &file.files {
            let p = dir.map_or_else(|| PathBuf::from(name), |d| d.join(name));
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        }
        std::fs::write(&out, &file.toml).with_context(|| format!("writing {}", out.display()))?;
        // The file must be one livestack reads; nothing is recorded otherwise.
        livestack_model::load(&out).map_err(|e| {
            anyhow::anyhow!(
                "import: the stack file written does not validate (a bug of import):\n{e}"
            )
        })?;
        let lock = livestack_state::Lock::acquire(&state_path, "import")?;
        let mut state_now = lock.load(&stack)?.unwrap_or(state);
        if !state_now.prior.resources.is_empty() {
            bail!(
                "import: the state {} already holds resources",
                state_path.display()
            );
        }
        state_now.target = Some(cloud_target);
        for (address, entry) in &file.entries {
            state_now
                .prior
                .resources
                .insert(address.clone(), entry.clone());
        }
        state = state_now;
        livestack_state::save(&state_path, &mut state)?;
        drop(lock);
    }
    for n in &file.notes {
        eprintln!("note: {n}");
    }
    if !a.dry_run {
        let beside = match file.files.len() {
            0 => String::new(),
            n => format!(" ({n} encoder settings file(s) beside it)"),
        };
        eprintln!(
            "imported {} resources into {}{beside}; {} records their ids: `livestack plan {}` adopts them and adds livestack's ownership tags",
            file.entries.len(),
            out.display(),
            state_path.display(),
            out.display()
        );
    }
    Ok(0)
}

/// Where the options send the calls, before the cloud has said who it is.
struct Where<'a> {
    /// The embedded sandbox's data file (`--sandbox`).
    sandbox_data: Option<&'a Path>,
    sandbox_url: Option<&'a str>,
    endpoint_url: Option<&'a str>,
}

impl Where<'_> {
    /// In words, with the region and the profile the clients use: for an error met before the
    /// cloud answered.
    fn words(&self, clients: &livestack_aws::Clients) -> String {
        let place = match (self.sandbox_data, self.sandbox_url, self.endpoint_url) {
            (Some(d), _, _) => format!("the embedded sandbox of {}", d.display()),
            (_, Some(url), _) => format!("the sandbox at {url}"),
            (_, _, Some(url)) => format!("AWS at the endpoint {url}"),
            _ => "AWS".to_string(),
        };
        let details: Vec<String> = clients
            .region()
            .into_iter()
            .chain(clients.profile().map(|p| format!("profile {p}")))
            .collect();
        match details.is_empty() {
            true => place,
            false => format!("{place} ({})", details.join(", ")),
        }
    }

    /// The clients for `target` (each call given `call_timeout` seconds, every retry shown as
    /// a warning) and who answers there.
    async fn connect(
        &self,
        target: &livestack_aws::Target,
        call_timeout: u64,
        hasher: livestack_plan::Hasher,
    ) -> Result<(livestack_aws::Clients, livestack_plan::CloudTarget)> {
        let policy = livestack_aws::CallPolicy {
            budget: std::time::Duration::from_secs(call_timeout),
            on_retry: Some(std::sync::Arc::new(|r: &livestack_aws::Retry| {
                progress::warning(&r.to_string())
            })),
        };
        let clients = livestack_aws::connect_with(target, &policy)
            .await?
            .with_hasher(hasher);
        let cloud_target = self.target(&clients).await?;
        Ok((clients, cloud_target))
    }

    /// Who answers at the other end (STS GetCallerIdentity): the AWS account and region, or
    /// the sandbox world. A missing credential or an endpoint that does not answer is one line
    /// naming where the options pointed and the cause.
    async fn target(
        &self,
        clients: &livestack_aws::Clients,
    ) -> Result<livestack_plan::CloudTarget> {
        let region = clients.region().unwrap_or_default();
        let me = match clients.caller_identity().await {
            Ok(me) => me,
            Err(e) => bail!(
                "cannot reach {}: {}",
                self.words(clients),
                livestack_aws::short_cause(&e)
            ),
        };
        // A sandbox reached as an endpoint (`--endpoint-url`, AWS_ENDPOINT_URL) is one world
        // among others too: bound to its world, not to the account every sandbox answers.
        if let Some(world) = me.sandbox_world() {
            return Ok(livestack_plan::CloudTarget::Sandbox {
                world: world.to_string(),
                account: me.account.clone(),
                region,
                url: self
                    .sandbox_url
                    .or(self.endpoint_url)
                    .map(String::from)
                    .or_else(|| {
                        std::env::var("AWS_ENDPOINT_URL")
                            .ok()
                            .filter(|u| !u.is_empty())
                    }),
                data_file: self.sandbox_data.map(|d| d.display().to_string()),
            });
        }
        if self.sandbox_data.is_some() || self.sandbox_url.is_some() {
            bail!(
                "{} answered as {} (STS GetCallerIdentity), not as a livestack sandbox; \
                 use --endpoint-url for an AWS endpoint",
                self.words(clients),
                me.arn
            );
        }
        Ok(livestack_plan::CloudTarget::Aws {
            account: me.account,
            region,
            profile: clients.profile(),
            endpoint_url: self.endpoint_url.map(String::from).or_else(|| {
                std::env::var("AWS_ENDPOINT_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
            }),
        })
    }
}

fn default_state_path(stack: &ValidatedStack) -> PathBuf {
    Path::new("state").join(format!("{}.json", stack.name))
}

/// A stack, its state (locked for the whole plan+apply) and the cloud it talks to.
pub struct Session {
    pub stack_path: PathBuf,
    /// `livestack apply STACK` with the options of this run, for messages.
    pub apply_command: String,
    /// The same for `destroy`.
    pub destroy_command: String,
    /// Where the calls go: the account and region, or the sandbox world, that answered.
    pub target: livestack_plan::CloudTarget,
    /// Whether the state file existed when the run began.
    state_existed: bool,
    /// The embedded sandbox's data file (`--sandbox`).
    pub sandbox_data: Option<PathBuf>,
    /// The stack, its state and the clients, as the engine reconciles them.
    pub engine: livestack_engine::Engine<livestack_aws::Clients>,
    /// The hash key to keep in the stack's SSM parameter before anything is applied (a new
    /// key, or one a state written before the key moved out of it held), and whether it
    /// replaces one there.
    keep_key: Option<(String, bool)>,
    /// Whether the stack's hash key parameter was there when the plan was made.
    pub key_stored: bool,
    /// Held for the whole plan+apply; released on drop.
    _lock: Option<livestack_state::Lock>,
    /// The embedded sandbox's data file, locked when it keeps a bucket's state.
    _data_lock: Option<livestack_state::Lock>,
    _sandbox: Option<livestack_sandbox::Running>,
}

impl std::ops::Deref for Session {
    type Target = livestack_engine::Engine<livestack_aws::Clients>;

    fn deref(&self) -> &Self::Target {
        &self.engine
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.engine
    }
}

impl Session {
    async fn open(t: &TargetArgs, operation: &str) -> Result<Session> {
        check_region(t.region.as_deref())?;
        let desired = livestack_model::load(&t.stack)?;
        let default_state = store::configured(&desired);
        let state_path = store::location(t.state.as_deref(), &desired);
        let take_lock = |at: &livestack_state::Store| -> Result<Option<livestack_state::Lock>> {
            Ok(match operation {
                "apply" | "destroy" => Some(at.lock(operation).map_err(|e| {
                    lock_error(e, &t.stack, &state_path, &default_state, &t.reach_words())
                })?),
                _ => None,
            })
        };
        // A state file is locked before anything starts (the embedded sandbox's cloud is kept
        // beside it); a bucket is reached through the target first.
        let mut file_lock = None;
        if store::s3_url(&state_path).is_none() {
            file_lock = take_lock(&livestack_state::Store::File(state_path.clone()))?;
        }
        let region = t.region.clone().or_else(|| desired.region.clone());
        let sandbox_data = t.sandbox.then(|| {
            t.sandbox_data
                .clone()
                .unwrap_or_else(|| store::sandbox_data(&state_path, &desired))
        });
        // The embedded sandbox keeping a bucket's state in its data file: two runs would each
        // hold a copy of the bucket, so the data file is locked as a state file would be.
        let mut data_lock = None;
        if let (Some(data), Some(_), "apply" | "destroy") =
            (&sandbox_data, store::s3_url(&state_path), operation)
        {
            let lock = livestack_state::Lock::acquire(data, operation)
                .map_err(|e| lock_error(e, &t.stack, data, &default_state, &[]))?;
            data_lock = Some(lock);
        }
        let (target, sandbox) = if let Some(data) = &sandbox_data {
            let running = livestack_sandbox::start(livestack_sandbox::Config {
                port: 0,
                data: Some(data.clone()),
                speed: t.sandbox_speed,
                region: region.clone().unwrap_or_else(|| "us-east-1".into()),
                ..Default::default()
            })
            .await
            .with_context(|| format!("starting the embedded sandbox of {}", data.display()))?;
            (
                livestack_aws::Target {
                    region,
                    endpoint_url: Some(running.endpoint_url()),
                    dummy_credentials: true,
                    profile: None,
                },
                Some(running),
            )
        } else if let Some(url) = &t.sandbox_url {
            (
                livestack_aws::Target {
                    region,
                    endpoint_url: Some(url.clone()),
                    dummy_credentials: true,
                    profile: None,
                },
                None,
            )
        } else {
            (
                livestack_aws::Target {
                    region,
                    endpoint_url: t.endpoint_url.clone(),
                    dummy_credentials: false,
                    profile: t.profile.clone().filter(|_| {
                        std::env::var_os("AWS_PROFILE").is_none()
                            && std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
                    }),
                },
                None,
            )
        };
        // The stack's hash key is read with the refresh (`plan_targets`); until then, a key
        // of this run's own (`outputs` compares no secret).
        let hasher = livestack_plan::Hasher::new(livestack_state::new_hash_key().as_bytes());
        let (clients, cloud_target) = Where {
            sandbox_data: sandbox_data.as_deref(),
            sandbox_url: t.sandbox_url.as_deref(),
            endpoint_url: t.endpoint_url.as_deref(),
        }
        .connect(&target, t.call_timeout, hasher.clone())
        .await?;
        let at = store::open(&state_path, &desired, &target, sandbox.as_ref()).await?;
        let lock = match (file_lock, &data_lock) {
            (Some(l), _) => Some(l),
            // Under the data file's lock, nobody else reaches this sandbox's bucket: a lock
            // object found there is a killed run's.
            (None, Some(_)) => Some(store::lock_within(&at, operation)?),
            (None, None) => take_lock(&at)?,
        };
        // Under the lock, a journal an apply cut short left is folded in for good.
        let loaded = match &lock {
            Some(l) => l.load(&desired.name)?,
            None => at.load(&desired.name)?,
        };
        let state_existed = loaded.is_some();
        let mut state = loaded.unwrap_or_else(|| State::new(&desired.name));
        // A state belongs to the cloud it was first written against: refused here, before
        // anything of the stack is read or written there.
        match &state.target {
            Some(recorded) if !recorded.same_cloud(&cloud_target) => bail!(
                "{at}: the state belongs to {recorded}, but this run targets {cloud_target}; give \
                 the options that reach its target, or another --state"
            ),
            Some(_) => {}
            // Recorded at the state's first write (or the next one of a state written before
            // states recorded their target).
            None => state.target = Some(cloud_target.clone()),
        }
        Ok(Session {
            apply_command: t.command("apply", &state_path, &default_state),
            destroy_command: t.command("destroy", &state_path, &default_state),
            target: cloud_target,
            state_existed,
            sandbox_data,
            stack_path: t.stack.clone(),
            keep_key: None,
            key_stored: false,
            engine: livestack_engine::Engine {
                desired,
                store: at,
                state,
                hasher,
                cloud: clients,
                parallelism: t.parallelism as usize,
            },
            _lock: lock,
            _data_lock: data_lock,
            _sandbox: sandbox,
        })
    }

    /// Refresh and plan, bound to this run's target: the stack's hash key read first (after the
    /// targets are checked: an unknown one is refused before any call); without a state, it says
    /// where the state was looked for and what it adopts from the cloud.
    async fn plan_targets(
        &mut self,
        mode: Mode,
        targets: &[String],
    ) -> Result<(Plan, livestack_plan::Observed)> {
        if !targets.is_empty() {
            livestack_plan::needed(&self.desired, targets)?;
        }
        // Only a stack that has secrets (or a state that recorded some) needs the key: one
        // without asks SSM for nothing.
        let has_secrets = self
            .desired
            .resources
            .iter()
            .any(|r| serde_json::to_string(&r.spec).is_ok_and(|t| t.contains("\"$secret\"")));
        if has_secrets || self.state.holds_hashes() || self.state.hash_key.is_some() {
            let stored = self
                .cloud
                .hash_key(&self.desired.name)
                .await
                .context("refresh: reading the key of the stack's secret hashes")?;
            self.key_stored = stored.is_some();
            let key = match mode {
                Mode::Apply => {
                    let (key, keep) = hash_key(&self.state, stored, &self.store)?;
                    self.keep_key = keep;
                    Some(key)
                }
                // A destroy compares no secret: any key there is as good, none is no error.
                Mode::Destroy => stored.or_else(|| self.state.hash_key.clone()),
            };
            if let Some(key) = key {
                let hasher = livestack_plan::Hasher::new(key.as_bytes());
                self.engine.cloud = self.engine.cloud.clone().with_hasher(hasher.clone());
                self.engine.hasher = hasher;
            }
        }
        let (mut plan, observed) = self.engine.plan_targets(mode, targets).await?;
        plan.target = Some(self.target.clone());
        if !self.state_existed {
            let found = match mode {
                Mode::Apply => plan.adopted.len(),
                Mode::Destroy => plan.changes.len(),
            };
            if found > 0 {
                let what = match mode {
                    Mode::Apply => "apply adopts them into that state (no AWS call)",
                    Mode::Destroy => "destroy deletes them",
                };
                plan.warnings.push(format!(
                    "no state at {}: {} of stack \"{}\" found in {} by their ownership tags; {what}",
                    self.store,
                    plural(found, "resource"),
                    self.desired.name,
                    self.target,
                ));
            }
        }
        Ok((plan, observed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_in_messages_are_quoted_as_a_shell_needs() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            shell_line(&words(&[
                "livestack",
                "apply",
                "stacks/s3-loop.toml",
                "--state",
                "st/x.json"
            ])),
            "livestack apply stacks/s3-loop.toml --state st/x.json"
        );
        assert_eq!(
            shell_line(&words(&["livestack", "apply", "my stack.toml", "it's", ""])),
            r#"livestack apply 'my stack.toml' 'it'\''s' ''"#
        );
    }
}

//! What users run instead of livestack: the plan's steps as a sequential script of `aws`
//! CLI calls, each wait done with the CLI's own waiter (`aws medialive wait ...`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use livestack_model::Kind;
use livestack_plan::{lookup, Op, Plan, Step};
use serde_json::{json, Map, Value as Json};

/// The AWS CLI: `$LIVESTACK_AWS_CLI`, else `aws` on PATH, else the one `.ci/run` installs in
/// the workspace's `target/ci-venv`. `Err` says why there is none.
pub fn find() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("LIVESTACK_AWS_CLI") {
        let p = PathBuf::from(p);
        return match p.is_file() {
            true => Ok(p),
            false => Err(format!("LIVESTACK_AWS_CLI={} is not a file", p.display())),
        };
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("aws"))
            .find(|p| p.is_file())
    });
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ci-venv/bin/aws");
    on_path
        .or_else(|| venv.is_file().then_some(venv))
        .ok_or_else(|| {
            "no AWS CLI: set LIVESTACK_AWS_CLI, put `aws` on PATH or run .ci/run".to_string()
        })
}

/// A script run against one endpoint: the outputs of what it created, by address, as the
/// CLI printed them, for the references of later steps.
pub struct Script {
    cli: PathBuf,
    endpoint: String,
    outputs: BTreeMap<String, Json>,
    /// `aws` processes run so far.
    pub invocations: usize,
}

impl Script {
    pub fn new(cli: PathBuf, endpoint: String) -> Script {
        Script {
            cli,
            endpoint,
            outputs: BTreeMap::new(),
            invocations: 0,
        }
    }

    /// Runs the plan's steps one after the other, in the plan's order.
    pub fn run(&mut self, plan: &Plan) -> Result<()> {
        let mut steps: Vec<&Step> = plan.steps.iter().collect();
        steps.sort_by_key(|s| s.id);
        for step in steps {
            self.step(step)
                .with_context(|| format!("{} {}", step.op.as_str(), step.address))?;
        }
        Ok(())
    }

    fn step(&mut self, step: &Step) -> Result<()> {
        let address = step.address.to_string();
        let spec = match &step.spec {
            Some(spec) => self.resolve(spec)?,
            None => Json::Null,
        };
        match (step.address.kind, step.op) {
            (Kind::IamRole, Op::Create) => {
                let role = &spec["RoleName"];
                let out = self.call(
                    &["iam", "create-role"],
                    json!({
                        "RoleName": role,
                        "Path": spec["Path"],
                        "AssumeRolePolicyDocument": spec["AssumeRolePolicyDocument"].to_string(),
                        "Tags": tag_list(&spec["Tags"]),
                    }),
                )?;
                for (name, doc) in spec["InlinePolicies"].as_object().into_iter().flatten() {
                    let policy = json!({ "RoleName": role, "PolicyName": name, "PolicyDocument": doc.to_string() });
                    self.call(&["iam", "put-role-policy"], policy)?;
                }
                for arn in spec["ManagedPolicyArns"].as_array().into_iter().flatten() {
                    let attach = json!({ "RoleName": role, "PolicyArn": arn });
                    self.call(&["iam", "attach-role-policy"], attach)?;
                }
                self.outputs.insert(address, out["Role"].clone());
            }
            (Kind::MediapackageChannel, Op::Create) => {
                let out = self.call(&["mediapackage", "create-channel"], spec)?;
                self.outputs.insert(address, out);
            }
            (Kind::MediapackageEndpoint, Op::Create) => {
                let out = self.call(&["mediapackage", "create-origin-endpoint"], spec)?;
                self.outputs.insert(address, out);
            }
            (Kind::SsmParameter, Op::Create) => {
                let mut spec = spec;
                spec["Tags"] = tag_list(&spec["Tags"]);
                self.call(&["ssm", "put-parameter"], spec.clone())?;
                self.outputs.insert(address, spec);
            }
            (Kind::MedialiveInput, Op::Create) => {
                let out = self.call(&["medialive", "create-input"], spec)?;
                self.outputs.insert(address, out["Input"].clone());
            }
            (Kind::MedialiveChannel, Op::Create) => {
                let out = self.call(&["medialive", "create-channel"], spec)?;
                self.outputs.insert(address.clone(), out["Channel"].clone());
                self.wait("channel-created", &self.id(&address)?)?;
            }
            (Kind::MedialiveChannel, Op::Start) => {
                let id = self.id(&address)?;
                self.call(&["medialive", "start-channel"], json!({ "ChannelId": id }))?;
                self.wait("channel-running", &id)?;
            }
            (Kind::MedialiveChannel, Op::Stop) => {
                let id = self.id(&address)?;
                self.call(&["medialive", "stop-channel"], json!({ "ChannelId": id }))?;
                self.wait("channel-stopped", &id)?;
            }
            (Kind::MedialiveChannel, Op::UpdateClass) => {
                let id = self.id(&address)?;
                let class = json!({
                    "ChannelId": id,
                    "ChannelClass": spec["ChannelClass"],
                    "Destinations": spec["Destinations"],
                });
                self.call(&["medialive", "update-channel-class"], class)?;
                // UPDATING -> IDLE: the CLI has no waiter of its own for it; channel-stopped
                // waits for IDLE and keeps polling through UPDATING.
                self.wait("channel-stopped", &id)?;
            }
            (Kind::MedialiveChannel, Op::Update) => {
                let id = self.id(&address)?;
                let mut update = spec;
                let members = update.as_object_mut().context("a spec is an object")?;
                members.remove("ChannelClass");
                members.remove("Tags");
                members.insert("ChannelId".into(), json!(id));
                self.call(&["medialive", "update-channel"], update)?;
                self.wait("channel-stopped", &id)?;
            }
            (kind, op) => bail!("the script has no {} of a {kind:?}", op.as_str()),
        }
        Ok(())
    }

    /// One call that changes nothing (`aws medialive list-channels`): what an aws process
    /// costs here.
    pub fn idle(&mut self) -> Result<()> {
        self.aws(&["medialive", "list-channels"], &[])?;
        Ok(())
    }

    /// The id the create of `address` printed.
    fn id(&self, address: &str) -> Result<String> {
        self.outputs
            .get(address)
            .and_then(|o| o["Id"].as_str())
            .map(str::to_string)
            .with_context(|| format!("the script created no {address}"))
    }

    /// `spec` with its `$ref`s and `$secret`s replaced by what the script's creates printed
    /// (and the environment, for secrets given by variable).
    fn resolve(&self, spec: &Json) -> Result<Json> {
        Ok(match spec {
            Json::Object(m) if m.contains_key("$ref") || m.contains_key("$secret") => {
                let r = m.get("$secret").unwrap_or(spec);
                if let Some(var) = r["env"].as_str() {
                    let v = std::env::var(var).with_context(|| format!("{var} is not set"))?;
                    return Ok(json!(v));
                }
                let from = r["$ref"].as_str().or(r["output"].as_str()).unwrap_or("");
                let attr = r["attr"].as_str().unwrap_or("");
                let out = self
                    .outputs
                    .get(from)
                    .with_context(|| format!("the script created no {from}"))?;
                lookup(out, attr)
                    .cloned()
                    .with_context(|| format!("{from} printed no {attr}"))?
            }
            Json::Object(m) => Json::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                    .collect::<Result<Map<_, _>>>()?,
            ),
            Json::Array(a) => {
                Json::Array(a.iter().map(|v| self.resolve(v)).collect::<Result<_>>()?)
            }
            other => other.clone(),
        })
    }

    /// `aws SERVICE COMMAND --cli-input-json INPUT`; what it printed, as JSON.
    fn call(&mut self, command: &[&str], input: Json) -> Result<Json> {
        self.aws(command, &["--cli-input-json", &input.to_string()])
    }

    /// `aws medialive wait WAITER --channel-id ID`, the CLI's waiter with its own polling.
    fn wait(&mut self, waiter: &str, channel: &str) -> Result<()> {
        self.aws(&["medialive", "wait", waiter], &["--channel-id", channel])?;
        Ok(())
    }

    fn aws(&mut self, command: &[&str], args: &[&str]) -> Result<Json> {
        self.invocations += 1;
        let out = Command::new(&self.cli)
            .args(command)
            .args(args)
            .args(["--endpoint-url", &self.endpoint, "--region", "us-east-1"])
            .args(["--output", "json"])
            // Dummy credentials, and none of the user's own configuration.
            .env("AWS_ACCESS_KEY_ID", "AKIDSANDBOX")
            .env("AWS_SECRET_ACCESS_KEY", "sandbox-secret")
            .env("AWS_CONFIG_FILE", "/nonexistent/livestack-bench/config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/livestack-bench/credentials",
            )
            .env("AWS_PAGER", "")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .with_context(|| format!("running {}", self.cli.display()))?;
        if !out.status.success() {
            bail!(
                "aws {} failed: {}",
                command.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        if stdout.trim().is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_str(&stdout)
            .with_context(|| format!("aws {} printed no JSON", command.join(" ")))
    }
}

/// `{"k": "v"}` as IAM and SSM take tags: `[{"Key": "k", "Value": "v"}]`.
fn tag_list(tags: &Json) -> Json {
    let list: Vec<Json> = tags
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    Json::Array(list)
}

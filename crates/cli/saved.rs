//! Saved plans (`plan --out`, `apply FILE.plan`) and `livestack outputs`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use livestack_model::Kind;
use livestack_plan::{Hasher, Mode, Observed, Plan};
use serde_json::{json, Value as Json};

use crate::Session;

fn fingerprint(observed: &Observed) -> String {
    Hasher::new(b"livestack-fingerprint").hash(&serde_json::to_string(observed).unwrap_or_default())
}

pub fn save_plan(path: &Path, plan: &Plan, s: &Session, observed: &Observed) -> Result<()> {
    let saved = json!({
        "livestack_saved_plan": 1,
        "stack": s.desired.name,
        "stack_file": s.stack_path,
        "state_file": s.state_path,
        "target": s.target_label,
        "lineage": s.state.lineage,
        "serial": s.state.serial,
        "fingerprint": fingerprint(observed),
        "plan": plan,
    });
    std::fs::write(path, serde_json::to_string_pretty(&saved)? + "\n")
        .with_context(|| format!("{}: cannot write the plan", path.display()))
}

/// The stack and state files a saved plan was made from.
pub struct SavedPlanFiles {
    pub stack: std::path::PathBuf,
    pub state: std::path::PathBuf,
}

/// `Some` when `path` is a saved plan rather than a stack file (a TOML file never starts with
/// `{`).
pub fn saved_plan_files(path: &Path) -> Result<Option<SavedPlanFiles>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None); // the stack loader reports it
    };
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let saved: Json = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a saved livestack plan", path.display()))?;
    match (saved["stack_file"].as_str(), saved["state_file"].as_str()) {
        (Some(stack), Some(state)) if saved["livestack_saved_plan"] == 1 => {
            Ok(Some(SavedPlanFiles {
                stack: stack.into(),
                state: state.into(),
            }))
        }
        _ => bail!(
            "{}: not a saved livestack plan (make one with `livestack plan STACK --out FILE`)",
            path.display()
        ),
    }
}

/// The mode (a destroy plan from `plan --destroy --out`) and the `-target` addresses (none for
/// a whole plan) a saved plan was made with.
pub fn saved_intent(path: &Path) -> Result<(Mode, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the saved plan", path.display()))?;
    let saved: Json = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a saved livestack plan", path.display()))?;
    let mode = serde_json::from_value(saved["plan"]["mode"].clone()).unwrap_or(Mode::Apply);
    let targets = saved["plan"]["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    Ok((mode, targets))
}

/// The saved plan, if the state and the cloud are as they were when it was made.
pub fn check_saved_plan(
    path: &Path,
    fresh: &Plan,
    s: &Session,
    observed: &Observed,
) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the saved plan", path.display()))?;
    let saved: Json = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a saved livestack plan", path.display()))?;
    if saved["livestack_saved_plan"] != 1 || saved["stack"] != json!(s.desired.name) {
        bail!(
            "{}: not a saved plan of stack `{}`",
            path.display(),
            s.desired.name
        );
    }
    if saved["target"] != json!(s.target_label) {
        bail!(
            "{}: the plan was made against {}, this apply targets {}; give the same target options",
            path.display(),
            saved["target"].as_str().unwrap_or("an unknown target"),
            s.target_label
        );
    }
    if saved["lineage"] != json!(s.state.lineage) || saved["serial"] != json!(s.state.serial) {
        bail!("{}: stale plan: the state changed since it was made (serial {} now, {} then); run plan again", path.display(), s.state.serial, saved["serial"]);
    }
    if saved["fingerprint"] != json!(fingerprint(observed)) {
        bail!(
            "{}: stale plan: the cloud changed since it was made; run plan again",
            path.display()
        );
    }
    let plan: Plan = serde_json::from_value(saved["plan"].clone())
        .with_context(|| format!("{}: the saved plan is malformed", path.display()))?;
    if &plan != fresh {
        bail!(
            "{}: stale plan: the stack file changed since it was made; run plan again",
            path.display()
        );
    }
    Ok(plan)
}

/// `livestack outputs`.
pub async fn outputs(s: &Session, as_json: bool) -> Result<()> {
    let mut out = json!({ "inputs": [], "endpoints": [], "channels": [] });
    for (a, r) in &s.state.prior.resources {
        match a.kind {
            Kind::MedialiveInput => {
                for d in r.outputs["Destinations"].as_array().into_iter().flatten() {
                    let url = d["Url"].as_str().unwrap_or_default();
                    let (server, key) = match url.rsplit_once('/') {
                        Some((server, key)) => (format!("{server}/"), key.to_string()),
                        None => (url.to_string(), String::new()),
                    };
                    out["inputs"].as_array_mut().unwrap().push(json!({ "address": a.to_string(), "url": url, "obs_server": server, "obs_stream_key": key }));
                }
            }
            Kind::MediapackageEndpoint => {
                out["endpoints"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({ "address": a.to_string(), "playback_url": r.outputs["Url"] }));
            }
            Kind::MedialiveChannel => {
                let state = match s.cloud.read(a, &r.id, &s.state.hasher()).await {
                    Ok(Some(o)) => o.status.unwrap_or_else(|| "UNKNOWN".into()),
                    Ok(None) => "GONE".into(),
                    Err(e) => format!("unknown ({e})"),
                };
                out["channels"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({ "address": a.to_string(), "id": r.id, "state": state }));
            }
            _ => {}
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if s.state.prior.resources.is_empty() {
        println!("Nothing applied yet for stack `{}`.", s.desired.name);
        return Ok(());
    }
    for i in out["inputs"].as_array().unwrap() {
        println!(
            "{}  OBS Server: {}  Stream key: {}",
            i["address"].as_str().unwrap(),
            i["obs_server"].as_str().unwrap(),
            i["obs_stream_key"].as_str().unwrap()
        );
    }
    for e in out["endpoints"].as_array().unwrap() {
        println!(
            "{}  playback URL: {}",
            e["address"].as_str().unwrap(),
            e["playback_url"].as_str().unwrap_or("?")
        );
    }
    for c in out["channels"].as_array().unwrap() {
        println!(
            "{}  channel {}: {}",
            c["address"].as_str().unwrap(),
            c["id"].as_str().unwrap(),
            c["state"].as_str().unwrap()
        );
    }
    Ok(())
}

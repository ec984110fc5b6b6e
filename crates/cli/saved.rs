//! Saved plans (`plan --out`, `apply FILE.plan`), `livestack show` and `livestack outputs`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use livestack_plan::{Hasher, Mode, Observed, Plan};
use serde_json::{json, Value as Json};

use crate::Session;

/// `blind`: without the hashes of secrets, for a plan made before the stack's hash key was
/// kept (each run draws one of its own then, so the same secret hashes differently).
fn fingerprint(observed: &Observed, blind: bool) -> String {
    let mut v = serde_json::to_value(observed).unwrap_or_default();
    if blind {
        blind_secrets(&mut v);
        // The hashes of the secrets the stack uses, by placeholder.
        if let Some(m) = v.get_mut("secrets").and_then(|m| m.as_object_mut()) {
            m.values_mut().for_each(|h| *h = serde_json::Value::Null);
        }
    }
    Hasher::new(b"livestack-fingerprint").hash(&v.to_string())
}

/// Every `{"$sensitive": hash}` made `{"$sensitive": null}`.
fn blind_secrets(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(h) = m.get_mut("$sensitive") {
                *h = serde_json::Value::Null;
            }
            m.values_mut().for_each(blind_secrets);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(blind_secrets),
        _ => {}
    }
}

/// The format of saved plans this build writes and reads: 2 binds a plan to its target
/// (`target`, `reach`); format 1 plans (before) are refused, to be made again.
const SAVED_FORMAT: u64 = 2;

/// The options that reach a plan's target, as `plan --out` saw them; never credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reach {
    /// The embedded sandbox's data file (`--sandbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_data: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// The region the calls were signed for (whichever option or setting gave it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The AWS configuration's profile the credentials came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// Saves the plan with what `apply FILE` checks before it runs it (its target and the options
/// that reach it among them), and how `plan` showed it (`full`) for `livestack show FILE`.
/// Private to its owner (0600), as the state is.
pub fn save_plan(
    path: &Path,
    plan: &Plan,
    s: &Session,
    reach: &Reach,
    observed: &Observed,
    full: bool,
) -> Result<()> {
    let saved = json!({
        "livestack_saved_plan": SAVED_FORMAT,
        "stack": s.desired.name,
        "stack_file": s.stack_path,
        "state_file": s.store.to_string(),
        "target": s.target,
        "reach": reach,
        "lineage": s.state.lineage,
        "serial": s.state.serial,
        "fingerprint": fingerprint(observed, !s.key_stored),
        "secrets_blind": !s.key_stored,
        "full": full,
        "plan": plan,
    });
    let text = serde_json::to_string_pretty(&saved)? + "\n";
    livestack_state::write_private(path, text.as_bytes())
        .with_context(|| format!("{}: cannot write the plan", path.display()))
}

/// The stack and state files a saved plan was made from, and the options that reach its
/// target.
pub struct SavedPlanFiles {
    pub stack: std::path::PathBuf,
    pub state: std::path::PathBuf,
    pub reach: Reach,
}

/// Whether a file's text is a saved plan rather than a stack file: a saved plan is JSON (a
/// TOML file never starts with `{`) and names its format; a damaged one still names it.
fn is_saved_plan(text: &str) -> bool {
    text.trim_start().starts_with('{') || text.contains("\"livestack_saved_plan\"")
}

/// The saved plan in `path`, `None` when it is not one (a stack file: its loader reports what
/// is wrong with it); an error naming the file when it is a damaged plan or another JSON file.
fn read_saved_plan(path: &Path) -> Result<Option<Json>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None); // the stack loader reports it
    };
    let text = String::from_utf8_lossy(&bytes);
    if !is_saved_plan(&text) {
        return Ok(None);
    }
    let saved: Json = match serde_json::from_str(&text) {
        Ok(saved) => saved,
        Err(e) => bail!(
            "{}: corrupt saved plan ({e}); make it again with `livestack plan STACK --out FILE`",
            path.display()
        ),
    };
    match &saved["livestack_saved_plan"] {
        Json::Null => bail!(
            "{}: not a saved livestack plan (make one with `livestack plan STACK --out FILE`)",
            path.display()
        ),
        v if *v == json!(SAVED_FORMAT) => Ok(Some(saved)),
        v if v.as_u64().is_some_and(|v| v < SAVED_FORMAT) => bail!(
            "{}: a saved plan of format {v}, made before plans named their target; make it \
             again with `livestack plan STACK --out FILE`",
            path.display()
        ),
        v => bail!(
            "{}: a saved plan of format {v}, newer than this livestack reads ({SAVED_FORMAT})",
            path.display()
        ),
    }
}

/// `Some` when `path` is a saved plan rather than a stack file.
pub fn saved_plan_files(path: &Path) -> Result<Option<SavedPlanFiles>> {
    let Some(saved) = read_saved_plan(path)? else {
        return Ok(None);
    };
    match (saved["stack_file"].as_str(), saved["state_file"].as_str()) {
        (Some(stack), Some(state)) => Ok(Some(SavedPlanFiles {
            stack: stack.into(),
            state: state.into(),
            reach: serde_json::from_value(saved["reach"].clone()).with_context(|| {
                format!(
                    "{}: corrupt saved plan (its `reach`); make it again with `livestack plan \
                     STACK --out FILE`",
                    path.display()
                )
            })?,
        })),
        _ => bail!(
            "{}: corrupt saved plan (no stack or state file named); make it again with \
             `livestack plan STACK --out FILE`",
            path.display()
        ),
    }
}

/// The mode (a destroy plan from `plan --destroy --out`) and the `-target` addresses (none for
/// a whole plan) a saved plan was made with.
pub fn saved_intent(path: &Path) -> Result<(Mode, Vec<String>)> {
    let Some(saved) = read_saved_plan(path)? else {
        bail!("{}: not a saved livestack plan", path.display());
    };
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
    if saved["livestack_saved_plan"] != SAVED_FORMAT || saved["stack"] != json!(s.desired.name) {
        bail!(
            "{}: not a saved plan of stack `{}`",
            path.display(),
            s.desired.name
        );
    }
    let made_for: livestack_plan::CloudTarget = serde_json::from_value(saved["target"].clone())
        .with_context(|| format!("{}: corrupt saved plan (its target)", path.display()))?;
    if !made_for.same_cloud(&s.target) {
        bail!(
            "{}: the plan was made for {made_for}, but this apply targets {}; apply it without \
             target options (it keeps its own), or make the plan again",
            path.display(),
            s.target
        );
    }
    // A plan made before the state's first write matches a state still unwritten (whose
    // lineage is drawn anew by every run).
    let unwritten = saved["serial"] == 0 && s.state.serial == 0;
    if !unwritten
        && (saved["lineage"] != json!(s.state.lineage) || saved["serial"] != json!(s.state.serial))
    {
        bail!("{}: stale plan: the state changed since it was made (serial {} now, {} then); run plan again", path.display(), s.state.serial, saved["serial"]);
    }
    let blind = saved["secrets_blind"].as_bool().unwrap_or(false);
    if saved["fingerprint"] != json!(fingerprint(observed, blind)) {
        bail!(
            "{}: stale plan: the cloud changed since it was made; run plan again",
            path.display()
        );
    }
    let mut plan: Plan = serde_json::from_value(saved["plan"].clone())
        .with_context(|| format!("{}: the saved plan is malformed", path.display()))?;
    // The same cloud, maybe reached another way (another URL, profile): named as it is now.
    plan.target = fresh.target.clone();
    if &plan != fresh {
        bail!(
            "{}: stale plan: the stack file changed since it was made; run plan again",
            path.display()
        );
    }
    Ok(plan)
}

/// `livestack outputs`: the state's outputs, each channel's state read from the cloud.
pub async fn outputs(s: &Session, as_json: bool) -> Result<()> {
    let prior = &s.state.prior;
    let mut out = livestack_state::show::outputs(prior);
    for c in out["channels"].as_array_mut().into_iter().flatten() {
        let Some((a, r)) = prior
            .resources
            .iter()
            .find(|(a, _)| c["address"] == json!(a.to_string()))
        else {
            continue;
        };
        c["state"] = json!(match s.cloud.read(a, &r.id, &s.hasher).await {
            Ok(Some(o)) => o.status.unwrap_or_else(|| "UNKNOWN".into()),
            Ok(None) => "GONE".into(),
            Err(e) => format!("unknown ({e})"),
        });
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if prior.resources.is_empty() {
        println!("Nothing applied yet for stack `{}`.", s.desired.name);
    } else {
        print!("{}", livestack_state::show::render_outputs(&out, ""));
    }
    Ok(())
}

/// `livestack show FILE`: a saved plan as `plan` printed it, or what the state holds for a
/// stack file (no AWS call either way). Which one is decided by the file's content.
pub async fn show(file: &Path, as_json: bool, state: &crate::StateArgs, color: bool) -> Result<()> {
    if let Some(saved) = read_saved_plan(file)? {
        if state.state.is_some() {
            bail!(
                "{}: a saved plan is shown as it was made; --state is for a stack file",
                file.display()
            );
        }
        let plan: Plan = match serde_json::from_value(saved["plan"].clone()) {
            Ok(plan) => plan,
            Err(e) => bail!(
                "{}: corrupt saved plan (its plan: {e}); make it again with `livestack plan \
                 STACK --out FILE`",
                file.display()
            ),
        };
        if as_json {
            println!("{}", livestack_plan::render_json(&plan));
        } else {
            let full = saved["full"].as_bool().unwrap_or(false);
            let options = livestack_plan::TextOptions { color, full };
            print!("{}", livestack_plan::render_text_with(&plan, options));
        }
        return Ok(());
    }
    let desired = match livestack_model::load(file) {
        Ok(d) => d,
        // A `.plan` file that is not JSON: say what it should have been.
        Err(e) if file.is_file() && file.extension().is_none_or(|x| x != "toml") => bail!(
            "{}: neither a saved plan (`livestack plan STACK --out FILE`) nor a stack file: {e}",
            file.display()
        ),
        Err(e) => return Err(e.into()),
    };
    let opened = crate::store::open_plain(state, &desired, false).await?;
    let at = &opened.store;
    let path = at.path();
    let Some(st) = at.load(&desired.name)? else {
        if as_json {
            println!("null");
        } else {
            println!(
                "No state for stack \"{}\" ({} does not exist): nothing applied yet.",
                desired.name,
                path.display()
            );
        }
        return Ok(());
    };
    if as_json {
        let shown = livestack_state::show::render_json(&st, &path);
        println!("{}", serde_json::to_string_pretty(&shown)?);
    } else {
        print!("{}", livestack_state::show::render_text(&st, &path));
    }
    Ok(())
}

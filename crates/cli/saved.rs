//! Saved plans (`plan --out`, `apply FILE.plan`), `livestack show` and `livestack outputs`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use livestack_plan::{Hasher, Mode, Observed, Plan};
use serde_json::{json, Value as Json};

use crate::Session;

fn fingerprint(observed: &Observed) -> String {
    Hasher::new(b"livestack-fingerprint").hash(&serde_json::to_string(observed).unwrap_or_default())
}

/// Saves the plan with what `apply FILE` checks before it runs it, and how `plan` showed it
/// (`full`) for `livestack show FILE`.
pub fn save_plan(
    path: &Path,
    plan: &Plan,
    s: &Session,
    observed: &Observed,
    full: bool,
) -> Result<()> {
    let saved = json!({
        "livestack_saved_plan": 1,
        "stack": s.desired.name,
        "stack_file": s.stack_path,
        "state_file": s.store.to_string(),
        "target": s.target_label,
        "lineage": s.state.lineage,
        "serial": s.state.serial,
        "fingerprint": fingerprint(observed),
        "full": full,
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
        v if *v == json!(1) => Ok(Some(saved)),
        v => bail!(
            "{}: a saved plan of format {v}, newer than this livestack reads (1)",
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
    // Serial 0 is a state never written: its lineage was drawn for that run alone, so a plan
    // made before any state existed stays good for as long as none does.
    let same_state = match saved["serial"].as_u64() {
        Some(0) => s.state.serial == 0,
        _ => saved["lineage"] == json!(s.state.lineage) && saved["serial"] == json!(s.state.serial),
    };
    if !same_state {
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
pub async fn show(file: &Path, as_json: bool, state: Option<PathBuf>, color: bool) -> Result<()> {
    if let Some(saved) = read_saved_plan(file)? {
        if state.is_some() {
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
    let at = crate::store::open_plain(
        &crate::store::location(state.as_deref(), &desired),
        &desired,
    )
    .await?;
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

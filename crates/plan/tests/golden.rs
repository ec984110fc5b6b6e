//! Data-driven golden tests: one folder per case under `tests/cases/`, one harness.
//!
//! A case's `case.toml` names the stack to plan (`stack`), optionally a stack that was applied
//! before (`applied`: its state and cloud are simulated as livestack would have left them),
//! out-of-band changes to that cloud (`[[drift]]`), a lost state (`lost_state`), and the mode.
//! `targets` cuts the plan down as `-target` does; `[target]` is where the plan goes (its header).
//! The expected plan is in `expected.txt` and `expected.json`; refresh them with
//! `UPDATE_EXPECT=1 cargo test -p livestack-plan --test golden` and review the diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use expect_test::expect_file;
use livestack_model::{Address, Kind, ValidatedStack};
use livestack_plan::{
    lookup, plan, render_json, render_text, secret_key, Hasher, Mode, Observed, ObservedResource,
    Prior, PriorResource,
};
use serde_json::{json, Value as Json};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    stack: String,
    applied: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    lost_state: bool,
    #[serde(default)]
    drift: Vec<Drift>,
    /// `-target` addresses: the plan is cut down to them and what they need; a refusal is
    /// expected as `error: ...` in `expected.txt` (and no `expected.json`).
    #[serde(default)]
    targets: Vec<String>,
    /// Where the plan goes (`[target]` in `case.toml`, as the binary fills it in after
    /// STS GetCallerIdentity): its header line and the JSON's `target`.
    #[serde(default)]
    target: Option<livestack_plan::CloudTarget>,
}

/// An out-of-band change: set `path` (dotted; `status` for the lifecycle state) of the
/// resource's observed copy to `value`, or remove the resource with `gone = true`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Drift {
    address: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    value: Option<toml::Value>,
    #[serde(default)]
    gone: bool,
}

fn hasher() -> Hasher {
    Hasher::new(b"golden-test-key")
}

/// The value a secret has in these tests.
fn secret_value(inner: &Json) -> String {
    format!("secret-for-{}", secret_key(inner))
}

/// The cloud and state livestack leaves after applying `stack` from nothing, with the
/// members AWS adds on its own (server defaults) in the observed copies.
fn simulate(stack: &ValidatedStack) -> (Prior, Observed) {
    let mut prior = Prior::default();
    let mut observed = Observed::default();
    let mut next = 1_000_001u64;
    // Resources are declared with derived ones after what they derive from; references are
    // resolved in a dependency order.
    let mut pending: Vec<_> = stack.resources.iter().collect();
    while !pending.is_empty() {
        let i = pending
            .iter()
            .position(|r| {
                r.depends_on
                    .iter()
                    .all(|d| observed.resources.contains_key(d))
            })
            .expect("acyclic");
        let r = pending.remove(i);
        let spec = resolve(&r.spec, &observed);
        let (id, outputs, status) = outputs(&r.address, &spec, &mut next);
        let mut seen = spec.clone();
        add_server_defaults(r.address.kind, &mut seen);
        observed.resources.insert(
            r.address.clone(),
            ObservedResource {
                id: id.clone(),
                arn: outputs
                    .get("Arn")
                    .and_then(|a| a.as_str())
                    .map(String::from),
                spec: seen,
                outputs: outputs.clone(),
                status,
            },
        );
        prior.resources.insert(
            r.address.clone(),
            PriorResource {
                id,
                arn: outputs
                    .get("Arn")
                    .and_then(|a| a.as_str())
                    .map(String::from),
                applied: spec,
                outputs,
                depends_on: r.depends_on.clone(),
                running: r.running,
            },
        );
    }
    (prior, observed)
}

fn resolve(v: &Json, observed: &Observed) -> Json {
    match v {
        Json::Object(m) if m.contains_key("$ref") => {
            let a = Address::parse(m["$ref"].as_str().unwrap()).unwrap();
            lookup(&observed.resources[&a].outputs, m["attr"].as_str().unwrap())
                .cloned()
                .unwrap_or(Json::Null)
        }
        Json::Object(m) if m.contains_key("$secret") => {
            hasher().sensitive(&secret_value(&m["$secret"]))
        }
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve(v, observed)))
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(|v| resolve(v, observed)).collect()),
        o => o.clone(),
    }
}

fn outputs(a: &Address, spec: &Json, next: &mut u64) -> (String, Json, Option<String>) {
    let mut num = || {
        *next += 1;
        next.to_string()
    };
    match a.kind {
        Kind::IamRole => {
            let name = spec["RoleName"].as_str().unwrap().to_string();
            (
                name.clone(),
                json!({ "Arn": format!("arn:aws:iam::123456789012:role/{name}") }),
                None,
            )
        }
        Kind::MediapackageChannel => {
            let id = spec["Id"].as_str().unwrap().to_string();
            let eps: Vec<Json> = (1..=2)
                .map(|i| {
                    json!({
                        "Id": format!("{id}-ep{i}"),
                        "Url": format!("https://mp.example/in/v2/{id}/{i}/channel"),
                        "Username": format!("user{i}-{id}")
                    })
                })
                .collect();
            (
                id.clone(),
                json!({ "Arn": format!("arn:aws:mediapackage:us-east-1:123456789012:channels/{id}"), "HlsIngest": { "IngestEndpoints": eps } }),
                None,
            )
        }
        Kind::MediapackageEndpoint => {
            let id = spec["Id"].as_str().unwrap().to_string();
            (
                id.clone(),
                json!({ "Arn": format!("arn:aws:mediapackage:us-east-1:123456789012:origin_endpoints/{id}"), "Url": format!("https://mp.example/out/v1/{id}/index.m3u8") }),
                None,
            )
        }
        Kind::SsmParameter => {
            let name = spec["Name"].as_str().unwrap().to_string();
            (name.clone(), json!({ "Name": name }), None)
        }
        Kind::MedialiveInputSecurityGroup => {
            let id = num();
            (
                id.clone(),
                json!({ "Id": id, "Arn": format!("arn:aws:medialive:us-east-1:123456789012:inputSecurityGroup:{id}") }),
                Some("IN_USE".into()),
            )
        }
        Kind::MedialiveInput => {
            let id = num();
            let dests: Vec<Json> = spec["Destinations"].as_array().cloned().unwrap_or_default().iter().enumerate()
                .map(|(i, d)| json!({ "StreamName": d["StreamName"], "Url": format!("rtmp://198.51.100.{}:1935/{}", i + 10, d["StreamName"].as_str().unwrap()) }))
                .collect();
            let class = if spec["Sources"]
                .as_array()
                .map(|s| s.len())
                .unwrap_or(dests.len())
                >= 2
            {
                "STANDARD"
            } else {
                "SINGLE_PIPELINE"
            };
            (
                id.clone(),
                json!({ "Id": id, "Arn": format!("arn:aws:medialive:us-east-1:123456789012:input:{id}"), "InputClass": class, "Destinations": dests }),
                Some("ATTACHED".into()),
            )
        }
        Kind::MedialiveChannel => {
            let id = num();
            (
                id.clone(),
                json!({ "Id": id, "Arn": format!("arn:aws:medialive:us-east-1:123456789012:channel:{id}"), "State": "RUNNING" }),
                Some("RUNNING".into()),
            )
        }
    }
}

/// Members AWS answers with that nobody wrote.
fn add_server_defaults(kind: Kind, spec: &mut Json) {
    match kind {
        Kind::MediapackageEndpoint => {
            if let Some(p) = spec.get_mut("HlsPackage") {
                p["AdMarkers"] = json!("NONE");
                p["PlaylistType"] = json!("NONE");
                p["IncludeIframeOnlyStream"] = json!(false);
            }
        }
        Kind::MedialiveChannel => {
            for att in spec["InputAttachments"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                att["InputSettings"]["DeblockFilter"] = json!("DISABLED");
                att["InputSettings"]["InputFilter"] = json!("AUTO");
            }
            spec["EncoderSettings"]["GlobalConfiguration"] =
                json!({ "OutputTimingSource": "INPUT_CLOCK" });
        }
        _ => {}
    }
}

fn load(dir: &Path, rel: &str) -> Result<ValidatedStack, String> {
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // Name the file as the user would see it, independent of where the tests run.
    let shown = PathBuf::from(
        rel.trim_start_matches("../")
            .trim_start_matches("examples/")
            .to_string(),
    );
    let shown = if rel.contains("examples/") {
        PathBuf::from("examples").join(shown)
    } else {
        shown
    };
    livestack_model::parse(&shown, &text).map_err(|e| format!("{}: {e}", path.display()))
}

fn to_json(v: &toml::Value) -> Json {
    serde_json::to_value(v).unwrap()
}

/// Sets the member at the dotted `path`; every segment must already exist (a typo is an
/// error, not a new member).
fn set_path(v: &mut Json, path: &str, value: Json) -> Result<(), String> {
    let mut cur = v;
    for seg in path.split('.') {
        let next = match (seg.parse::<usize>(), cur) {
            (Ok(n), Json::Array(a)) => a.get_mut(n),
            (_, Json::Object(m)) => m.get_mut(seg),
            _ => None,
        };
        cur = next.ok_or_else(|| format!("drift path {path:?}: no member {seg:?}"))?;
    }
    *cur = value;
    Ok(())
}

fn run(dir: &Path) -> Result<(), String> {
    let case_file = dir.join("case.toml");
    let text =
        std::fs::read_to_string(&case_file).map_err(|e| format!("{}: {e}", case_file.display()))?;
    let case: Case = toml::from_str(&text).map_err(|e| format!("case.toml: {e}"))?;
    let mode = match case.mode.as_deref() {
        None | Some("apply") => Mode::Apply,
        Some("destroy") => Mode::Destroy,
        Some(other) => return Err(format!("unknown mode {other:?} (apply or destroy)")),
    };
    let stack = load(dir, &case.stack)?;
    let (mut prior, mut observed) = match &case.applied {
        Some(a) => simulate(&load(dir, a)?),
        None => (Prior::default(), Observed::default()),
    };
    for d in &case.drift {
        let a = Address::parse(&d.address)
            .ok_or_else(|| format!("drift address {:?} is not an address", d.address))?;
        if d.gone {
            observed.resources.remove(&a);
            continue;
        }
        let o = observed
            .resources
            .get_mut(&a)
            .ok_or_else(|| format!("drift address {a}: not in the observed cloud"))?;
        let path = d.path.as_deref().ok_or("a drift without path")?;
        let value = to_json(d.value.as_ref().ok_or("a drift without value")?);
        if path == "status" {
            o.status = value.as_str().map(String::from);
        } else {
            set_path(&mut o.spec, path, value).map_err(|e| format!("{a}: {e}"))?;
        }
    }
    if case.lost_state {
        prior = Prior::default();
    }
    // The secrets the stack uses, as refresh would hash them.
    let mut secrets = BTreeMap::new();
    collect_secrets(&stack, &mut secrets);
    observed.secrets = secrets;
    let p = plan(&stack, &prior, &observed, mode).map_err(|e| format!("no plan: {e}"))?;
    let p = match case.targets.as_slice() {
        [] => p,
        t => match livestack_plan::restrict(p, &stack, t) {
            Ok(p) => p,
            Err(e) => {
                expect_file![dir.join("expected.txt")].assert_eq(&format!("error: {e}\n"));
                return match dir.join("expected.json").exists() {
                    true => Err("a refused plan has no expected.json".into()),
                    false => Ok(()),
                };
            }
        },
    };
    let p = livestack_plan::Plan {
        target: case.target.clone(),
        ..p
    };
    expect_file![dir.join("expected.txt")].assert_eq(&render_text(&p, false));
    expect_file![dir.join("expected.json")].assert_eq(&(render_json(&p) + "\n"));
    Ok(())
}

fn collect_secrets(stack: &ValidatedStack, out: &mut BTreeMap<String, String>) {
    fn walk(v: &Json, out: &mut BTreeMap<String, String>) {
        match v {
            Json::Object(m) if m.contains_key("$secret") => {
                out.insert(
                    secret_key(&m["$secret"]),
                    hasher().hash(&secret_value(&m["$secret"])),
                );
            }
            Json::Object(m) => m.values().for_each(|v| walk(v, out)),
            Json::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    stack.resources.iter().for_each(|r| walk(&r.spec, out));
}

/// Every case, each on its own: a failing case does not hide the others; the test fails
/// once, naming all that failed.
#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 10,
        "expected the golden cases under {}",
        root.display()
    );
    let mut failed = Vec::new();
    for d in &dirs {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        eprintln!("case {name}");
        // A mismatch panics (expect-test prints its diff); catch it to go on.
        match std::panic::catch_unwind(|| run(d)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed.push(format!("{name}: {e}")),
            Err(_) => failed.push(format!(
                "{name}: the plan differs from the expected files (diff above)"
            )),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} golden cases failed:\n  {}",
        failed.len(),
        dirs.len(),
        failed.join("\n  ")
    );
}

/// The harness itself: what would make a case quietly test nothing is an error.
mod harness_errors {
    use super::*;

    fn case_dir(name: &str, case_toml: Option<&str>) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("golden-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(text) = case_toml {
            let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
            let text = text.replace("EXAMPLES", examples.to_str().unwrap());
            std::fs::write(dir.join("case.toml"), text).unwrap();
        }
        dir
    }

    #[test]
    fn an_unknown_mode_is_an_error() {
        let dir = case_dir(
            "unknown-mode",
            Some("stack = \"EXAMPLES/s3-loop.toml\"\nmode = \"destory\"\n"),
        );
        assert_eq!(
            run(&dir).unwrap_err(),
            "unknown mode \"destory\" (apply or destroy)"
        );
    }

    #[test]
    fn a_case_folder_without_case_toml_is_an_error() {
        let dir = case_dir("no-case-toml", None);
        let e = run(&dir).unwrap_err();
        assert!(e.contains("case.toml") && e.contains("No such file"), "{e}");
    }

    #[test]
    fn a_drift_path_that_does_not_exist_is_an_error() {
        let dir = case_dir(
            "drift-typo",
            Some(concat!(
                "stack = \"EXAMPLES/s3-loop.toml\"\n",
                "applied = \"EXAMPLES/s3-loop.toml\"\n",
                "[[drift]]\n",
                "address = \"medialive_input.imday-hls\"\n",
                "path = \"Sorces.0.Url\"\n",
                "value = \"https://example.com/x.m3u8\"\n",
            )),
        );
        assert_eq!(
            run(&dir).unwrap_err(),
            "medialive_input.imday-hls: drift path \"Sorces.0.Url\": no member \"Sorces\""
        );
    }
}

/// `livestack graph` of the workshop's sections 1 and 3 (the stack's graph) and of their plans
/// (section 1 from nothing, section 1 -> 3, section 1's destroy -target of its input), in DOT
/// and Mermaid, against `tests/graphs/`; the
/// DOT parses as DOT, with a node per resource or step and an edge per dependency.
#[test]
fn golden_graphs() {
    use livestack_plan::{plan_graph, stack_graph, GraphFormat};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = "../../examples";
    let section1 = load(root, &format!("{examples}/s3-loop.toml")).unwrap();
    let section3 = load(root, &format!("{examples}/s3-loop-facebook.toml")).unwrap();
    let planned = |stack: &ValidatedStack, applied: Option<&ValidatedStack>| {
        let (prior, mut observed) = applied.map(simulate).unwrap_or_default();
        let mut secrets = BTreeMap::new();
        collect_secrets(stack, &mut secrets);
        observed.secrets = secrets;
        plan(stack, &prior, &observed, Mode::Apply).unwrap()
    };
    let plan1 = planned(&section1, None);
    let plan3 = planned(&section3, Some(&section1));
    // `graph --plan --destroy -target medialive_input.imday-hls` on section 1 applied.
    let destroy_input = {
        let (prior, observed) = simulate(&section1);
        let p = plan(&section1, &prior, &observed, Mode::Destroy).unwrap();
        livestack_plan::restrict(p, &section1, &["medialive_input.imday-hls".into()]).unwrap()
    };
    let edges = |s: &ValidatedStack| {
        s.resources
            .iter()
            .map(|r| r.depends_on.len())
            .sum::<usize>()
    };
    let plan_edges = |p: &livestack_plan::Plan| p.steps.iter().map(|s| s.after.len()).sum();
    let cases = [
        (
            "section1",
            stack_graph(&section1, GraphFormat::Dot),
            stack_graph(&section1, GraphFormat::Mermaid),
            section1.resources.len(),
            edges(&section1),
        ),
        (
            "section3",
            stack_graph(&section3, GraphFormat::Dot),
            stack_graph(&section3, GraphFormat::Mermaid),
            section3.resources.len(),
            edges(&section3),
        ),
        (
            "section1-plan",
            plan_graph(&plan1, GraphFormat::Dot),
            plan_graph(&plan1, GraphFormat::Mermaid),
            plan1.steps.len(),
            plan_edges(&plan1),
        ),
        (
            "section1-destroy-target-input-plan",
            plan_graph(&destroy_input, GraphFormat::Dot),
            plan_graph(&destroy_input, GraphFormat::Mermaid),
            destroy_input.steps.len(),
            plan_edges(&destroy_input),
        ),
        (
            "section1-to-section3-plan",
            plan_graph(&plan3, GraphFormat::Dot),
            plan_graph(&plan3, GraphFormat::Mermaid),
            plan3.steps.len(),
            plan_edges(&plan3),
        ),
    ];
    for (name, dot, mermaid, nodes, edges) in cases {
        let dir = root.join("tests/graphs");
        expect_file![dir.join(format!("{name}.dot"))].assert_eq(&dot);
        expect_file![dir.join(format!("{name}.mmd"))].assert_eq(&mermaid);
        let (n, e) = dot_counts(&dot).unwrap_or_else(|err| panic!("{name}.dot: {err}"));
        assert_eq!((n, e), (nodes, edges), "{name}.dot: nodes and edges");
        let m_edges = mermaid.lines().filter(|l| l.contains(" --> ")).count();
        assert_eq!(m_edges, edges, "{name}.mmd: edges");
        if name == "section1" {
            let readme = std::fs::read_to_string(root.join("../../README.md")).unwrap();
            assert!(
                readme.contains(&format!("```mermaid\n{mermaid}```\n")),
                "README.md's section 1 graph is not `livestack graph examples/s3-loop.toml \
                 --format mermaid`:\n{mermaid}"
            );
        }
    }
}

/// The nodes and edges of a DOT graph, as a DOT parser reads it.
fn dot_counts(dot: &str) -> Result<(usize, usize), String> {
    use graphviz_rust::dot_structures::{Graph, Stmt, Subgraph};
    fn walk(stmts: &[Stmt], n: &mut usize, e: &mut usize) {
        for s in stmts {
            match s {
                Stmt::Node(_) => *n += 1,
                Stmt::Edge(_) => *e += 1,
                Stmt::Subgraph(Subgraph { stmts, .. }) => walk(stmts, n, e),
                _ => {}
            }
        }
    }
    let (mut n, mut e) = (0, 0);
    match graphviz_rust::parse(dot)? {
        Graph::DiGraph { stmts, .. } => walk(&stmts, &mut n, &mut e),
        Graph::Graph { .. } => return Err("an undirected graph".into()),
    }
    Ok((n, e))
}

/// The picture of workshop section 1's graph in the README (`examples/s3-loop.graph.svg`,
/// rendered with `livestack graph examples/s3-loop.toml | dot -Tsvg`) shows the stack as it is:
/// a node per resource, labelled with its address, and an arrow per dependency. Re-render it
/// when this fails (Graphviz is not needed to run the tests, only to make the picture).
#[test]
fn the_readme_picture_of_section_1_shows_its_resources_and_dependencies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let section1 = load(root, "../../examples/s3-loop.toml").unwrap();
    let svg = std::fs::read_to_string(root.join("../../examples/s3-loop.graph.svg")).unwrap();
    let nodes = svg.matches("class=\"node\"").count();
    let edges = svg.matches("class=\"edge\"").count();
    assert_eq!(nodes, section1.resources.len(), "nodes in the picture");
    let dependencies: usize = section1.resources.iter().map(|r| r.depends_on.len()).sum();
    assert_eq!(edges, dependencies, "arrows in the picture");
    for r in &section1.resources {
        assert!(
            // SVG writes `-` as `&#45;`.
            svg.contains(&format!(
                ">{}</text>",
                r.address.to_string().replace('-', "&#45;")
            )),
            "{} is not in the picture",
            r.address
        );
    }
    let readme = std::fs::read_to_string(root.join("../../README.md")).unwrap();
    assert!(
        readme.contains("(examples/s3-loop.graph.svg)"),
        "the README shows it"
    );
}

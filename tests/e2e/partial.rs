//! Plans that change less than the stack asks: `plan --destroy` (what `destroy` would do,
//! nothing destroyed) and `-target` (one resource and what it needs), and `graph`.

use crate::harness::{assert_shows, section_1_inventory, state_addresses, Inventory, World};
use crate::safety::s1;

#[test]
fn plan_destroy_shows_the_destroy_plan_and_destroys_nothing() {
    let w = World::new("plan-destroy");
    let s1 = s1();
    // Nothing to destroy yet: exit 0 even with --detailed-exitcode.
    let empty = w
        .run(&["plan", &s1, "--destroy", "--detailed-exitcode"])
        .expect(0);
    assert_shows(&empty.stdout, &["livestack destroy plan", "No changes"]);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    assert_eq!(w.inventory(), section_1_inventory());
    let before = w.requests().len();

    let text = w.run(&["plan", &s1, "--destroy"]).expect(0);
    assert_shows(
        &text.stdout,
        &[
            "livestack destroy plan for stack \"imday\"",
            "- medialive_channel.imday  will be deleted",
            "stop          medialive_channel.imday",
            "0 to create, 0 to update, 0 to replace, 7 to delete; 1 running channel interrupted.",
        ],
    );
    w.run(&["plan", &s1, "--destroy", "--detailed-exitcode"])
        .expect(2);
    let json = w.run(&["plan", &s1, "--destroy", "--json"]).expect(0);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("plan --json");
    assert_eq!(plan["mode"], "destroy");
    assert_eq!(plan["summary"]["delete"], 7);
    let saved = w.dir.join("destroy.plan");
    w.run(&["plan", &s1, "--destroy", "--out", saved.to_str().unwrap()])
        .expect(0);

    // Nothing was destroyed: no call but reads, the same cloud, the same state.
    assert_eq!(w.mutations_since(before), vec![]);
    assert_eq!(w.inventory(), section_1_inventory());
    assert_eq!(state_addresses(&w.state().0).len(), 7);

    // The saved destroy plan is applied as a destroy.
    let applied = w
        .run(&["apply", saved.to_str().unwrap(), "--auto-approve"])
        .expect(0);
    assert_shows(&applied.stdout, &["livestack destroy plan"]);
    assert!(w.inventory().is_empty(), "{:?}", w.inventory());
    w.run(&["plan", &s1, "--destroy", "--detailed-exitcode"])
        .expect(0);
}

#[test]
fn apply_target_creates_only_the_target_and_what_it_needs() {
    let w = World::new("apply-target");
    let s1 = s1();
    let warning =
        "Warning: the plan is partial: only mediapackage_endpoint.imday-hls and what it needs";

    // An address the stack does not declare: refused, with the close ones, before any call.
    let before = w.requests().len();
    let refused = w
        .run(&["plan", &s1, "-target", "medialive_channel.imdy"])
        .expect(1);
    assert_shows(
        &refused.stderr,
        &["-target medialive_channel.imdy: the stack declares no such resource; did you mean one of: medialive_channel.imday"],
    );
    let asked: Vec<String> = w.requests()[before..]
        .iter()
        .map(|r| r.operation.clone())
        .collect();
    assert_eq!(
        asked,
        ["GetCallerIdentity"],
        "refused before reading the cloud (who answers was asked, as by every run)"
    );

    let plan = w
        .run(&["plan", &s1, "-target", "mediapackage_endpoint.imday-hls"])
        .expect(0);
    assert_shows(
        &plan.stdout,
        &[
            warning,
            "run a plan without -target before relying on it",
            "Plan: 2 to create, 0 to update, 0 to replace, 0 to delete",
        ],
    );
    let json = w
        .run(&[
            "plan",
            &s1,
            "--json",
            "--target=mediapackage_endpoint.imday-hls",
        ])
        .expect(0);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("plan --json");
    assert_eq!(
        json["targets"],
        serde_json::json!(["mediapackage_endpoint.imday-hls"])
    );
    assert!(json["warnings"][0]
        .as_str()
        .unwrap()
        .starts_with("the plan is partial"));

    let applied = w
        .run(&[
            "apply",
            &s1,
            "-target=mediapackage_endpoint.imday-hls",
            "--auto-approve",
        ])
        .expect(0);
    assert_shows(&applied.stdout, &[warning]);
    assert_eq!(
        w.inventory(),
        Inventory {
            mp_channels: vec!["imday-mp-channel".into()],
            mp_endpoints: vec!["imday-mp-hlsendpoint".into()],
            // The stack's hash key, kept by its first apply.
            ssm_parameters: vec!["/livestack/imday/hash-key".into()],
            ..Inventory::default()
        }
    );
    assert_eq!(
        state_addresses(&w.state().0),
        [
            "mediapackage_channel.imday-mp",
            "mediapackage_endpoint.imday-hls"
        ]
    );

    // A saved plan made with -target records it, and is applied as it was made.
    let saved = w.dir.join("input.plan");
    w.run(&[
        "plan",
        &s1,
        "-target",
        "medialive_input.imday-hls",
        "--out",
        saved.to_str().unwrap(),
    ])
    .expect(0);
    w.run(&["apply", saved.to_str().unwrap(), "--auto-approve"])
        .expect(0);
    assert_eq!(w.inventory().inputs, ["imday-hls-input"]);
    assert!(w.inventory().channels.is_empty());

    // A whole apply creates the rest; then nothing is left to do.
    let rest = w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    assert!(!rest.stdout.contains("partial"), "{}", rest.stdout);
    assert_shows(&rest.stdout, &["Plan: 4 to create"]);
    assert_eq!(w.inventory(), section_1_inventory());
    w.run(&["plan", &s1, "--detailed-exitcode"]).expect(0);
}

#[test]
fn graph_prints_the_stack_and_the_plan() {
    let w = World::new("graph");
    let s1 = s1();
    // The stack's graph needs no cloud.
    let dot = w.run_bare(&["graph", &s1], &[]).expect(0);
    assert_shows(
        &dot.stdout,
        &[
            "digraph \"stack imday\" {",
            "[label=\"medialive_channel.imday\"]",
        ],
    );
    let plan = w
        .run_bare(
            &[
                "graph",
                &s1,
                "--plan",
                "--format",
                "mermaid",
                "--sandbox-url",
                &w.sandbox.endpoint_url(),
                "--state",
                w.state_path().to_str().unwrap(),
            ],
            &[],
        )
        .expect(0);
    assert_shows(
        &plan.stdout,
        &[
            "flowchart LR",
            "subgraph g0[\"wave 1\"]",
            "[\"8 start medialive_channel.imday\"]",
        ],
    );
    assert!(w.inventory().is_empty(), "graph --plan changes nothing");
}

/// `destroy -target medialive_input.imday-hls`, as Terraform's: the input and what depends on
/// it (the channel, stopped first) are destroyed, with the partial-plan warning; MediaPackage,
/// the parameters and the role stay. `graph --plan --destroy -target` draws those steps, and
/// `graph -target` without `--plan` is refused in one line.
#[test]
fn destroy_target_destroys_the_target_and_what_depends_on_it() {
    let w = World::new("destroy-target");
    let s1 = s1();
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let url = w.sandbox.endpoint_url();
    let state = w.state_path();
    let state = state.to_str().unwrap();
    let target = ["--sandbox-url", &url, "--state", state];
    let mut graph = vec![
        "graph",
        &s1,
        "--plan",
        "--destroy",
        "-target",
        "medialive_input.imday-hls",
        "--format",
        "mermaid",
    ];
    graph.extend(target);
    let before = w.requests().len();
    let g = w.run_bare(&graph, &[]).expect(0);
    assert_shows(
        &g.stdout,
        &[
            "%% destroy plan imday",
            "[\"1 stop medialive_channel.imday [off air]\"]",
            "[\"3 delete medialive_input.imday-hls\"]",
        ],
    );
    assert!(!g.stdout.contains("mediapackage"), "{}", g.stdout);
    assert_shows(&g.stderr, &["the plan is partial"]);
    assert_eq!(w.mutations_since(before), vec![]);
    let refused = w
        .run_bare(&["graph", &s1, "-target", "medialive_input.imday-hls"], &[])
        .expect(1);
    assert_shows(
        &refused.stderr,
        &["graph: -target draws a plan's steps: add --plan"],
    );
    // One line, as -target's: not clap's usage.
    let refused = w.run_bare(&["graph", &s1, "--destroy"], &[]).expect(1);
    assert_eq!(
        refused.stderr.trim(),
        "error: graph: --destroy draws the destroy plan's steps: add --plan",
        "{}",
        refused.stderr
    );

    let run = w
        .run(&[
            "destroy",
            &s1,
            "-target",
            "medialive_input.imday-hls",
            "--auto-approve",
        ])
        .expect(0);
    assert_shows(
        &run.stdout,
        &[
            "Warning: the plan is partial: only medialive_input.imday-hls and what depends on it are destroyed (-target)",
            "0 to create, 0 to update, 0 to replace, 2 to delete; 1 running channel interrupted.",
        ],
    );
    let left = w.inventory();
    assert!(
        left.channels.is_empty() && left.inputs.is_empty(),
        "{left:?}"
    );
    let all = section_1_inventory();
    assert_eq!(
        (
            left.roles,
            left.mp_channels,
            left.mp_endpoints,
            left.ssm_parameters
        ),
        (
            all.roles,
            all.mp_channels,
            all.mp_endpoints,
            all.ssm_parameters
        )
    );
    assert_eq!(state_addresses(&w.state().0).len(), 5);
    // The rest is still the stack's: a plan recreates what was destroyed.
    let again = w.run(&["plan", &s1]).expect(0);
    assert_shows(&again.stdout, &["Plan: 2 to create"]);

    // The same as a saved `plan --destroy -target`, applied.
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let saved = w.dir.join("destroy-input.plan");
    let saved = saved.to_str().unwrap();
    let planned = w
        .run(&[
            "plan",
            &s1,
            "--destroy",
            "-target",
            "medialive_input.imday-hls",
            "--out",
            saved,
        ])
        .expect(0);
    assert_shows(
        &planned.stdout,
        &["and what depends on it are destroyed (-target)"],
    );
    w.run(&["apply", saved, "--auto-approve"]).expect(0);
    let left = w.inventory();
    assert!(
        left.channels.is_empty() && left.inputs.is_empty(),
        "{left:?}"
    );
    assert_eq!(left.mp_endpoints, section_1_inventory().mp_endpoints);
}

//! A state kept in S3 (the sandbox's), shared by livestack processes that share no disk:
//! each run here has a working directory of its own, as two engineers' laptops or a laptop and
//! a CI runner would.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{example, section_1_inventory, Live, Run, World};

const BUCKET: &str = "livestack-team";
const STATE: &str = "s3://livestack-team/live/imday.json";

/// A working directory of its own for one "machine".
fn machine(w: &World, name: &str) -> PathBuf {
    let d = w.dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `livestack ARGS` run in `cwd`, with the AWS configuration of a user of the sandbox (its
/// endpoint and dummy credentials in the environment, as `AWS_ENDPOINT_URL` gives them),
/// whatever the subcommand.
fn livestack(w: &World, cwd: &Path, args: &[&str]) -> Command {
    let mut c = w.bare_command(args);
    c.current_dir(cwd)
        .env("AWS_ENDPOINT_URL", w.sandbox.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", "AKIDTEAM")
        .env("AWS_SECRET_ACCESS_KEY", "team-secret")
        .env("AWS_REGION", "us-east-1");
    c
}

fn run(w: &World, cwd: &Path, args: &[&str]) -> Run {
    Live::start(livestack(w, cwd, args), args).finish()
}

fn start(w: &World, cwd: &Path, args: &[&str]) -> Live {
    Live::start(livestack(w, cwd, args), args)
}

/// A world whose sandbox has the team's bucket.
fn world(name: &str) -> World {
    let w = World::new(name);
    w.block_on(w.sandbox.ensure_bucket(BUCKET))
        .expect("the bucket is created");
    w
}

fn s1() -> String {
    example("s3-loop.toml").display().to_string()
}

/// The lock id a refusal names (`lock id ID`).
fn lock_id(refusal: &str) -> String {
    let at = refusal
        .find("lock id ")
        .expect("the refusal names the lock id")
        + 8;
    refusal[at..]
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .next()
        .unwrap()
        .to_string()
}

/// The objects of the team's bucket (latest versions), by key.
fn objects(w: &World) -> Vec<String> {
    let cloud = w.cloud();
    let mut keys: Vec<String> = cloud["s3"]["buckets"][BUCKET]["objects"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, versions)| {
            versions
                .as_array()
                .and_then(|v| v.last())
                .is_some_and(|v| v["delete_marker"] != true)
        })
        .map(|(k, _)| k.clone())
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_second_apply_on_another_machine_is_refused_naming_the_first() {
    let w = world("remote-two-machines");
    let (a, b) = (machine(&w, "a"), machine(&w, "b"));
    w.sandbox.hold(None, "CreateChannel");
    let first = start(
        &w,
        &a,
        &["apply", &s1(), "--state", STATE, "--auto-approve"],
    );
    w.wait_held("CreateChannel", 1);
    let refused = run(
        &w,
        &b,
        &["apply", &s1(), "--state", STATE, "--auto-approve"],
    )
    .expect(1);
    let said = refused.stderr.clone();
    assert!(
        said.contains(&format!("{STATE}: the stack is locked by")),
        "{said}"
    );
    assert!(said.contains("apply started"), "{said}");
    assert!(said.contains("livestack force-unlock"), "{said}");
    assert!(
        !said.contains("\n ") && said.lines().count() == 1,
        "one line: {said}"
    );
    w.sandbox.release("CreateChannel");
    first.finish().expect(0);
    // The other machine sees the state the first wrote: nothing to do.
    run(
        &w,
        &b,
        &["plan", &s1(), "--state", STATE, "--detailed-exitcode"],
    )
    .expect(0);
    assert_eq!(w.inventory(), section_1_inventory());
    // Nothing of the state is on either machine's disk.
    for m in [&a, &b] {
        assert!(!m.join("state").exists(), "{}", m.display());
    }
    let keys = objects(&w);
    assert_eq!(
        keys,
        vec!["live/imday.json".to_string()],
        "no lock, no journal left"
    );
}

#[test]
fn kill_9_mid_apply_then_force_unlock_and_reapply_converges_without_duplicates() {
    let w = world("remote-kill-9");
    let (a, b) = (machine(&w, "a"), machine(&w, "b"));
    w.sandbox.hold(None, "StartChannel");
    let mut first = livestack(
        &w,
        &a,
        &["apply", &s1(), "--state", STATE, "--auto-approve"],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    w.wait_held("StartChannel", 1);
    // What the steps made so far is journaled in the bucket.
    assert!(
        objects(&w)
            .iter()
            .any(|k| k.starts_with("live/imday.json.journal/")),
        "{:?}",
        objects(&w)
    );
    first.kill().unwrap(); // SIGKILL: no lock released, no state saved
    first.wait().unwrap();
    w.sandbox.release("StartChannel");
    let refused = run(
        &w,
        &b,
        &["apply", &s1(), "--state", STATE, "--auto-approve"],
    )
    .expect(1);
    let id = lock_id(&refused.stderr);
    let unlocked = run(&w, &b, &["force-unlock", &s1(), &id, "--state", STATE]).expect(0);
    assert!(
        unlocked.stdout.contains(&format!("released the lock {id}")),
        "{unlocked:?}"
    );
    run(
        &w,
        &b,
        &["apply", &s1(), "--state", STATE, "--auto-approve"],
    )
    .expect(0);
    run(
        &w,
        &b,
        &["plan", &s1(), "--state", STATE, "--detailed-exitcode"],
    )
    .expect(0);
    assert_eq!(w.inventory(), section_1_inventory(), "no duplicate");
    assert_eq!(objects(&w), vec!["live/imday.json".to_string()]);
}

#[test]
fn a_write_racing_another_is_refused_and_nothing_is_lost() {
    let w = world("remote-race");
    let (a, b) = (machine(&w, "a"), machine(&w, "b"));
    w.sandbox.hold(None, "StartChannel");
    let first = start(
        &w,
        &a,
        &["apply", &s1(), "--state", STATE, "--auto-approve"],
    );
    w.wait_held("StartChannel", 1);
    // Someone forces the lock while the apply runs and edits the state.
    let refused = run(
        &w,
        &b,
        &["apply", &s1(), "--state", STATE, "--auto-approve"],
    )
    .expect(1);
    run(
        &w,
        &b,
        &[
            "force-unlock",
            &s1(),
            &lock_id(&refused.stderr),
            "--state",
            STATE,
        ],
    )
    .expect(0);
    run(
        &w,
        &b,
        &["state", "rm", &s1(), "iam_role.medialive", "--state", STATE],
    )
    .expect(0);
    w.sandbox.release("StartChannel");
    let out = first.finish().expect(1);
    // Its lock gone, the first run writes nothing more: neither a journal entry nor its
    // state over the one written since.
    assert!(
        out.stderr
            .contains("this run's lock was removed while it ran (force-unlock)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("imday.errored.json"), "{}", out.stderr);
    // Nothing lost: the other write stands, this run's state is kept on its machine.
    let there = run(&w, &b, &["state", "list", &s1(), "--state", STATE]).expect(0);
    assert!(
        !there.stdout.contains("iam_role.medialive"),
        "{}",
        there.stdout
    );
    let kept = std::fs::read_to_string(a.join("imday.errored.json")).unwrap();
    assert!(kept.contains("medialive_channel.imday"), "{kept}");
    // Pushing the kept state (knowingly) and applying converges.
    run(
        &w,
        &a,
        &[
            "state",
            "push",
            &s1(),
            "imday.errored.json",
            "--state",
            STATE,
            "--force",
        ],
    )
    .expect(0);
    run(
        &w,
        &a,
        &["apply", &s1(), "--state", STATE, "--auto-approve"],
    )
    .expect(0);
    run(
        &w,
        &a,
        &["plan", &s1(), "--state", STATE, "--detailed-exitcode"],
    )
    .expect(0);
    assert_eq!(w.inventory(), section_1_inventory());
}

#[test]
fn a_state_moves_from_a_file_to_s3_and_back() {
    let w = world("remote-push-pull");
    let m = machine(&w, "laptop");
    // Applied with a state file first.
    run(
        &w,
        &m,
        &[
            "apply",
            &s1(),
            "--state",
            "state/imday.json",
            "--auto-approve",
        ],
    )
    .expect(0);
    let pushed = run(
        &w,
        &m,
        &["state", "push", &s1(), "state/imday.json", "--state", STATE],
    )
    .expect(0);
    assert!(pushed.stdout.contains(&format!("to {STATE}")), "{pushed:?}");
    // From another machine, with only the bucket: nothing to do.
    let other = machine(&w, "ci");
    run(
        &w,
        &other,
        &["plan", &s1(), "--state", STATE, "--detailed-exitcode"],
    )
    .expect(0);
    // A second push of another lineage is refused, and nothing is written.
    let fresh = m.join("other.json");
    std::fs::write(
        &fresh,
        r#"{"format_version":1,"lineage":"0000","serial":9,"stack":"imday","resources":{}}"#,
    )
    .unwrap();
    let refused = run(
        &w,
        &m,
        &["state", "push", &s1(), "other.json", "--state", STATE],
    )
    .expect(1);
    assert!(
        refused.stderr.contains("holds another state (lineage"),
        "{}",
        refused.stderr
    );
    // A state that still holds the key of its hashes never goes to a shared place.
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("state/imday.json")).unwrap())
            .unwrap();
    old["hash_key"] = "0123".into();
    std::fs::write(m.join("old.json"), old.to_string()).unwrap();
    let refused = run(
        &w,
        &m,
        &["state", "push", &s1(), "old.json", "--state", STATE],
    )
    .expect(1);
    assert!(
        refused.stderr.contains("still holds the key"),
        "{}",
        refused.stderr
    );
    // And back to a file.
    run(
        &w,
        &other,
        &["state", "pull", &s1(), "--state", STATE, "-o", "back.json"],
    )
    .expect(0);
    let back: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(other.join("back.json")).unwrap()).unwrap();
    let local: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("state/imday.json")).unwrap())
            .unwrap();
    assert_eq!(back["lineage"], local["lineage"]);
    assert_eq!(back["resources"], local["resources"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(other.join("back.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    run(
        &w,
        &other,
        &["plan", &s1(), "--state", "back.json", "--detailed-exitcode"],
    )
    .expect(0);
}

#[test]
fn the_embedded_sandbox_keeps_the_bucket_a_stack_names_and_encrypts_with_its_kms_key() {
    let w = World::new("remote-embedded");
    let m = machine(&w, "laptop");
    let text = std::fs::read_to_string(example("s3-loop.toml"))
        .unwrap()
        .replace(
        "[stack]\n",
        "[stack]\nstate = \"s3://demo-state/imday.json\"\nstate_kms_key = \"alias/livestack\"\n",
    );
    assert!(
        text.contains("state = \"s3://"),
        "the example has a [stack] table"
    );
    std::fs::write(m.join("stack.toml"), text).unwrap();
    let mut c = w.bare_command(&["apply", "stack.toml", "--sandbox", "--auto-approve"]);
    c.current_dir(&m);
    Live::start(c, &["apply"]).finish().expect(0);
    // Nothing but the embedded sandbox's own cloud on disk; the state is in its bucket.
    assert!(m.join("state/imday.sandbox.json").exists());
    assert!(!m.join("state/imday.json").exists());
    let cloud: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("state/imday.sandbox.json")).unwrap())
            .unwrap();
    let versions = &cloud["s3"]["buckets"]["demo-state"]["objects"]["imday.json"];
    let last = versions
        .as_array()
        .and_then(|v| v.last())
        .expect("the state object");
    assert_eq!(last["sse"], "aws:kms", "{last}");
    assert_eq!(last["kms_key_id"], "alias/livestack", "{last}");
    let mut c = w.bare_command(&["plan", "stack.toml", "--sandbox", "--detailed-exitcode"]);
    c.current_dir(&m);
    Live::start(c, &["plan"]).finish().expect(0);
}

#[test]
fn sigterm_mid_apply_releases_the_s3_lock_and_keeps_every_finished_step() {
    let w = world("remote-sigterm");
    let a = machine(&w, "a");
    w.sandbox.hold(None, "StartChannel");
    let apply = start(
        &w,
        &a,
        &["apply", &s1(), "--state", STATE, "--auto-approve"],
    );
    w.wait_held("StartChannel", 1);
    assert!(objects(&w).contains(&"live/imday.json.lock".to_string()));
    let sent = Command::new("kill")
        .args(["-TERM", &apply.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = apply.finish().expect(143);
    assert!(out.stderr.contains("SIGTERM"), "{}", out.stderr);
    w.sandbox.release("StartChannel");
    // The lock is gone and the journal folded into the state object: the steps that
    // finished are recorded, nothing is left beside the state.
    assert_eq!(objects(&w), vec!["live/imday.json".to_string()]);
    let listed = run(&w, &a, &["state", "list", &s1(), "--state", STATE]).expect(0);
    assert!(
        listed.stdout.contains("medialive_channel.imday"),
        "{}",
        listed.stdout
    );
    run(
        &w,
        &a,
        &["apply", &s1(), "--state", STATE, "--auto-approve"],
    )
    .expect(0);
    run(
        &w,
        &a,
        &["plan", &s1(), "--state", STATE, "--detailed-exitcode"],
    )
    .expect(0);
    assert_eq!(w.inventory(), section_1_inventory());
}

#[test]
fn a_killed_embedded_sandbox_run_on_an_s3_state_is_unlocked_with_the_command_it_names() {
    let w = World::new("remote-embedded-kill");
    let m = machine(&w, "laptop");
    let text = std::fs::read_to_string(example("s3-loop.toml"))
        .unwrap()
        .replace(
            "[stack]\n",
            "[stack]\nstate = \"s3://demo-state/imday.json\"\n",
        );
    std::fs::write(m.join("stack.toml"), text).unwrap();
    let embedded = |args: &[&str]| {
        let mut c = w.bare_command(args);
        c.current_dir(&m);
        Live::start(c, args)
    };
    embedded(&["apply", "stack.toml", "--sandbox", "--auto-approve"])
        .finish()
        .expect(0);
    let listed = embedded(&["state", "list", "stack.toml", "--sandbox"])
        .finish()
        .expect(0);
    assert!(
        listed.stdout.contains("medialive_channel.imday"),
        "{listed:?}"
    );
    // A destroy killed while the channel stops (the sandbox at AWS's own pace).
    let mut destroy = embedded(&[
        "destroy",
        "stack.toml",
        "--sandbox",
        "--sandbox-speed",
        "1",
        "--auto-approve",
    ]);
    destroy.wait_line("the channel's stop starting", |l| l.contains("stop..."));
    // Its lock object is in the sandbox's bucket (the data file) before it is killed.
    let data = m.join("state/imday.sandbox.json");
    let t0 = std::time::Instant::now();
    while !std::fs::read_to_string(&data)
        .unwrap_or_default()
        .contains("imday.json.lock")
    {
        assert!(
            t0.elapsed().as_secs() < 60,
            "the lock object never reached the data file"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    destroy.child.kill().unwrap();
    let _ = destroy.child.wait();
    let refused = embedded(&["apply", "stack.toml", "--sandbox", "--auto-approve"])
        .finish()
        .expect(1);
    let said = refused.stderr.trim();
    let command = said
        .split('`')
        .nth(1)
        .expect("the refusal names the command that removes the lock");
    assert!(
        command.starts_with("livestack force-unlock stack.toml "),
        "{said}"
    );
    let words: Vec<&str> = command.split(' ').skip(1).collect();
    embedded(&words).finish().expect(0);
    let applied = embedded(&["apply", "stack.toml", "--sandbox", "--auto-approve"])
        .finish()
        .expect(0);
    assert!(
        applied
            .stderr
            .contains("a killed run left in the embedded sandbox's bucket"),
        "{}",
        applied.stderr
    );
    embedded(&["plan", "stack.toml", "--sandbox", "--detailed-exitcode"])
        .finish()
        .expect(0);
}

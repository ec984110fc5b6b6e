//! How a run ends when it does not end well: a garbled lock, Ctrl-C at the prompt, SIGTERM
//! between a channel's stop and its start, Ctrl-C on a terminal, a server that stops
//! answering; and what a run whose every step finished says.

use std::path::PathBuf;
use std::process::Command;

use livestack_sandbox::Faults;

use crate::harness::{assert_shows, section_1_inventory, Live, Run, World};
use crate::pty::Pty;
use crate::safety::{resource_id, s1, s3, ALL_BUT_THE_CHANNEL};

fn lock_path(w: &World) -> PathBuf {
    w.state_path().with_extension("json.lock")
}

/// `kill -SIGNAL pid`; the process must still be there.
fn signal(name: &str, pid: u32) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name} {pid}");
}

/// The operations the sandbox answered since the first `since` requests.
fn ops_since(w: &World, since: usize) -> Vec<String> {
    w.mutations_since(since)
        .into_iter()
        .map(|(op, _, _)| op)
        .collect()
}

#[test]
fn garbled_lock_file_names_the_command_that_removes_it() {
    let w = World::new("garbled-lock");
    let s1 = s1();
    // What a kill between creating the lock file and writing it leaves: nothing, or half.
    for garbled in ["", "{\"id\": \"4f"] {
        std::fs::write(lock_path(&w), garbled).unwrap();
        let before = w.requests().len();
        let refused = w.run(&["apply", &s1, "--auto-approve"]).expect(1);
        assert_eq!(
            refused.stderr.lines().count(),
            1,
            "one line: {}",
            refused.stderr
        );
        assert_shows(
            &refused.stderr,
            &[
                "unreadable",
                lock_path(&w).to_str().unwrap(),
                &format!("`livestack force-unlock {s1} unreadable-"),
            ],
        );
        assert!(w.mutations_since(before).is_empty(), "nothing was changed");

        // The command, as printed, removes it.
        let command = refused.stderr.split('`').nth(1).unwrap().to_string();
        let words: Vec<&str> = command.split(' ').collect();
        assert_eq!(words[0], "livestack", "{command}");
        let removed = w.run(&words[1..]).expect(0);
        assert_shows(&removed.stdout, &["removed the unreadable lock file"]);
        assert!(!lock_path(&w).exists());
    }
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    assert!(!lock_path(&w).exists());
    assert_eq!(w.inventory(), section_1_inventory());
}

#[test]
fn ctrl_c_at_the_prompt_releases_the_lock() {
    let w = World::new("prompt-ctrl-c");
    let s1 = s1();
    // Ctrl-C typed at the terminal, and SIGTERM (a CI job cancelled).
    for (name, code) in [("Ctrl-C", 130), ("SIGTERM", 143), ("SIGHUP", 129)] {
        let before = w.requests().len();
        let mut pty = Pty::spawn(w.command(&["apply", &s1]), 50, 120);
        pty.wait_for("Only 'yes' is accepted: ");
        assert!(lock_path(&w).exists(), "the lock is held at the prompt");
        match name {
            "Ctrl-C" => pty.type_keys(b"\x03"),
            other => signal(other.trim_start_matches("SIG"), pty.id()),
        }
        let (exit, screen) = pty.finish();
        assert_eq!(exit, code, "{name}:\n{screen}");
        let last = screen.lines().rfind(|l| !l.trim().is_empty()).unwrap();
        assert_eq!(
            last.trim_end(),
            format!(
                "error: apply cancelled at the prompt by {name}; nothing was changed and the lock is released"
            ),
            "{screen}"
        );
        assert!(!lock_path(&w).exists(), "{name}: the lock is released");
        assert!(w.mutations_since(before).is_empty(), "nothing was changed");
    }
    // And the stack is not locked for the next apply.
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
}

#[test]
fn destroy_asks_about_resources_and_no_answer_changes_nothing() {
    let w = World::new("destroy-question");
    let s1 = s1();
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let before = w.requests().len();
    let mut pty = Pty::spawn(w.command(&["destroy", &s1]), 50, 120);
    pty.wait_for("Do you want to destroy these resources? Only 'yes' is accepted: ");
    pty.type_keys(b"no\r");
    let (exit, screen) = pty.finish();
    assert_eq!(exit, 1, "{screen}");
    let last = screen.lines().rfind(|l| !l.trim().is_empty()).unwrap();
    assert_eq!(
        last.trim_end(),
        "error: destroy cancelled; nothing was changed",
        "{screen}"
    );
    assert!(!lock_path(&w).exists());
    assert!(w.mutations_since(before).is_empty(), "nothing was changed");
    assert_eq!(w.inventory(), section_1_inventory());
}

/// Section 1 applied, then section 3 (stop, update_class, update, start) applied with the
/// sandbox holding the class change: the stop is done, the channel is off air, and
/// `interrupt` is done to that apply while the class change waits. Returns the channel's id
/// and how the apply ended, after checking that it ended before the channel's start and
/// released the lock.
fn section_3_stopped_midway(w: &World, interrupt: impl FnOnce(&Live)) -> (String, Run) {
    let (s1, s3) = (s1(), s3());
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let channel = resource_id(w, "medialive_channel.imday");
    let before = w.requests().len();
    w.sandbox.hold(Some("medialive"), "UpdateChannelClass");
    let apply = w.start(&["apply", &s3, "--auto-approve"]);
    w.wait_held("UpdateChannelClass", 1);
    interrupt(&apply);
    w.sandbox.release("UpdateChannelClass");
    let out = apply.finish();
    assert!(
        !ops_since(w, before).contains(&"StartChannel".to_string()),
        "the apply ended before the channel's start: {}",
        out.stderr
    );
    assert!(!lock_path(w).exists(), "the lock is released");
    assert_ne!(w.channel().1["state"], "RUNNING");
    (channel, out)
}

/// The last lines name the channel off air and the command that starts it again; that
/// command puts it back on air.
fn assert_off_air_then_restored(w: &World, channel: &str, stderr: &str) {
    let s3 = s3();
    let lines: Vec<&str> = stderr.lines().collect();
    let apply_command = format!(
        "livestack apply {s3} --state {} --sandbox-url {}",
        w.state_path().display(),
        w.sandbox.endpoint_url()
    );
    assert_eq!(
        lines[lines.len() - 2..],
        [
            format!(
                "Off air: medialive_channel.imday (channel {channel}) was stopped and not started again."
            ),
            format!("`{apply_command}` starts them again."),
        ],
        "the last lines name the channel off air:\n{stderr}"
    );
    w.sandbox.set_faults(Faults::default()).unwrap();
    w.run(&["apply", &s3, "--auto-approve"]).expect(0);
    let (id, ch) = w.channel();
    assert_eq!(
        (id.as_str(), ch["state"].as_str()),
        (channel, Some("RUNNING"))
    );
    w.run(&["plan", &s3, "--detailed-exitcode"]).expect(0);
}

#[test]
fn sigterm_during_apply_releases_the_lock_and_names_channels_off_air() {
    let mut w = World::new("sigterm-off-air");
    w.env
        .push(("FACEBOOK_STREAM_KEY".into(), "sigterm-key-123".into()));
    let (channel, out) = section_3_stopped_midway(&w, |apply| {
        signal("TERM", apply.child.id());
        apply.wait_line("saying it leaves now", |l| {
            l == "SIGTERM: leaving now, 1 step(s) left unfinished; the state holds every finished step."
        });
    });
    let stderr = out.expect(143).stderr;
    assert_shows(&stderr, &["SIGTERM", "left unfinished"]);
    // One end line per step started, in plain mode too.
    let lines: Vec<&str> = stderr.lines().collect();
    for started in lines.iter().filter_map(|l| l.strip_suffix("...")) {
        let label = started.split_once("] ").unwrap().1;
        let ends = lines
            .iter()
            .filter(|l| l.contains(&format!("] {label} ")))
            .count();
        assert_eq!(ends, 1, "`{label}` ends once:\n{stderr}");
    }
    assert_off_air_then_restored(&w, &channel, &stderr);
}

#[test]
fn failed_step_between_stop_and_start_names_channels_off_air() {
    let mut w = World::new("failed-off-air");
    w.env
        .push(("FACEBOOK_STREAM_KEY".into(), "failed-key-123".into()));
    // Every call fails from the class change on: a step fails after its retries.
    let (channel, out) = section_3_stopped_midway(&w, |_| {
        w.sandbox
            .set_faults(Faults {
                error_rate: 1.0,
                ..Default::default()
            })
            .unwrap()
    });
    let stderr = out.expect(1).stderr;
    assert_shows(&stderr, &["FAILED", "run the same command again"]);
    assert_off_air_then_restored(&w, &channel, &stderr);
}

#[test]
fn finished_run_never_says_run_again() {
    let w = World::new("finished-run");
    let s1 = s1();
    // Ctrl-C while the last step (the channel's start) is in flight, held by the sandbox:
    // it finishes, and with it the whole plan.
    w.sandbox.hold(Some("medialive"), "StartChannel");
    let apply = w.start(&["apply", &s1, "--auto-approve"]);
    w.wait_held("StartChannel", 1);
    signal("INT", apply.child.id());
    apply.wait_line("saying it was interrupted", |l| {
        l == "Interrupted: no new step will start; finishing the 1 in flight (Ctrl-C again to leave now)."
    });
    w.sandbox.release("StartChannel");
    let stderr = apply.finish().expect(0).stderr;
    assert_shows(&stderr, &["Interrupted", "Done: 8 steps"]);
    for said in [
        "run again",
        "run the same command again",
        "error",
        "Off air",
    ] {
        assert!(!stderr.contains(said), "`{said}` in:\n{stderr}");
    }
    assert!(!lock_path(&w).exists());
    assert_eq!(w.channel().1["state"], "RUNNING");
}

#[test]
fn ctrl_c_on_a_terminal_leaves_one_line_per_step_and_no_frozen_spinner() {
    let w = World::new("tty-ctrl-c");
    let s1 = s1();
    // The channel's create is held: the apply is in the middle, with six steps shown done.
    w.sandbox.hold(Some("medialive"), "CreateChannel");
    let mut pty = Pty::spawn(w.command(&["apply", &s1, "--auto-approve"]), 200, 100);
    let echoes = pty.echoes();
    w.wait_held("CreateChannel", 1);
    w.wait_state_holds(&ALL_BUT_THE_CHANNEL);
    // Ctrl-C typed twice: the terminal echoes ^C each time unless told not to.
    pty.type_keys(b"\x03");
    pty.wait_for("Interrupted");
    pty.type_keys(b"\x03");
    let (exit, screen) = pty.finish();
    assert_eq!(exit, 130, "{screen}");
    assert_eq!(pty.echoes(), echoes, "the terminal's echo is as it was");

    let spinner = |l: &str| l.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c));
    assert!(
        !screen.lines().any(spinner),
        "a spinner line is left on the screen:\n{screen}"
    );
    // Every step shown ends on exactly one line: `✓ 3 address: op  done (1.2s)`, or ✗.
    let mut ended: Vec<&str> = screen
        .lines()
        .filter(|l| l.starts_with('\u{2713}') || l.starts_with('\u{2717}'))
        .map(|l| l.split("  ").next().unwrap())
        .collect();
    assert!(ended.len() >= 2, "{screen}");
    let all = ended.len();
    ended.sort();
    ended.dedup();
    assert_eq!(
        ended.len(),
        all,
        "a step is shown more than once:\n{screen}"
    );
    assert_eq!(
        screen.matches("Interrupted:").count(),
        1,
        "the note is shown once:\n{screen}"
    );
    assert!(!lock_path(&w).exists());
    w.sandbox.release("CreateChannel");
}

#[test]
fn unanswering_endpoint_gives_up_in_bounded_time_and_shows_retries() {
    let w = World::new("unanswering");
    let s1 = s1();
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    // The server takes the refresh's calls and answers none: each is held until its client
    // gives up (the caller identity, asked first, is answered).
    for operation in [
        "DescribeChannel",
        "ListInputs",
        "ListInputSecurityGroups",
        "ListChannels",
        "ListOriginEndpoints",
        "GetRole",
        "GetParameters",
        "DescribeParameters",
    ] {
        w.sandbox.hold(None, operation);
    }
    let plan = w.run(&["plan", &s1, "--call-timeout", "3"]).expect(1);
    let lines: Vec<&str> = plan.stderr.lines().collect();
    // Each attempt gets a quarter of the budget; the retries are shown as they happen.
    let retries: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    // The first read of the refresh (which one comes first is the engine's business).
    assert!(
        retries.iter().any(|l| {
            let (about, rest) = l["warning: ".len()..].split_once(": ").unwrap_or_default();
            !about.is_empty()
                && rest.split(' ').next().is_some_and(|call| {
                    call.starts_with(|c: char| c.is_ascii_uppercase())
                        && rest[call.len()..].starts_with(
                            " attempt 1 failed (no answer within 1s); retrying, attempt 2 of 8",
                        )
                })
        }),
        "{}",
        plan.stderr
    );
    // Then one error line naming the resource, the call and the cause, last.
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{}", plan.stderr);
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("error: refresh: reading "),
        "{}",
        plan.stderr
    );
    assert_shows(last, &[" failed: ", "timed out", "occurred after 3s"]);

    // A server that answers nothing at all: the first call, who is there, gives up within
    // the budget too, its retries shown, and the error names the target.
    w.sandbox
        .set_faults(Faults {
            latency_ms: 600_000,
            ..Default::default()
        })
        .unwrap();
    let started = std::time::Instant::now();
    let plan = w.run(&["plan", &s1, "--call-timeout", "3"]).expect(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let lines: Vec<&str> = plan.stderr.lines().collect();
    assert!(
        lines.contains(
            &"warning: STS: GetCallerIdentity attempt 1 failed (no answer within 1s); retrying, attempt 2 of 3"
        ),
        "{}",
        plan.stderr
    );
    let url = w.sandbox.endpoint_url();
    let last = lines.last().unwrap();
    assert!(
        last.starts_with(&format!(
            "error: cannot reach the sandbox at {url} (us-east-1): GetCallerIdentity: "
        )),
        "{}",
        plan.stderr
    );
    assert_shows(last, &["timed out", "occurred after 3s"]);
}

//! The convergence suite (issue 8, section 1): generated stacks, edits between them and
//! out-of-band changes, run with the real binary against the sandbox over HTTP. After every
//! apply: it succeeded, a second plan is empty, no two cloud resources carry one address,
//! nothing undeclared is left, no channel was stopped that the plan did not say it
//! interrupts, channels are in the run state the stack asks for, no secret is in any output,
//! the state or its backup; after the destroy nothing of the stack is left. Each history
//! draws where its state lives: a file, or the sandbox's S3 (see `run::StateAt`).
//!
//! Seeded: `LIVESTACK_SEED` (printed; a fixed default) draws the sequences;
//! `LIVESTACK_SOAK=N` runs N of them (default 40); `LIVESTACK_ONLY=I` runs only the I-th;
//! `LIVESTACK_JOBS` sandboxes at a time (default 3); `LIVESTACK_ENABLE_ALL=1` also makes the
//! edits and deletes disabled while their engine bugs are open; `LIVESTACK_VERBOSE=1` prints
//! each out-of-band change; `LIVESTACK_SHRINK_RUNS` bounds shrinking (default 40 runs);
//! `LIVESTACK_STEPS` is the most steps after the first apply (default 3);
//! `LIVESTACK_FAULT_RATE=R` throttles, fails and loses answers of livestack's calls at rate R. A failure is shrunk (proptest) to a
//! minimal sequence, printed with its stacks and the failing step's output; keep it in
//! `regressions.rs` as a test named after what broke.

#[allow(dead_code)]
#[path = "../e2e/harness.rs"]
mod harness;
mod oob;
mod regressions;
mod run;
mod stack;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::oob::Oob;
use crate::run::{Sequence, StateAt, Step};
use crate::stack::Edit;

const DEFAULT_SEED: u64 = 0x1157_5ac4;
const DEFAULT_SEQUENCES: usize = 40;
/// How many failing candidates shrinking tries at most (each is a whole sequence run).
const SHRINK_RUNS: u32 = 40;

fn add_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => any::<bool>().prop_map(|described| Edit::AddMpChannel { described }),
        2 => (any::<u8>(), 0..4u8, any::<bool>())
            .prop_map(|(channel, packaging, tuned)| Edit::AddEndpoint { channel, packaging, tuned }),
        1 => any::<u8>().prop_map(|cidr| Edit::AddSecurityGroup { cidr }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(push, two)| Edit::AddInput { push, two }),
        3 => (any::<bool>(), any::<bool>(), any::<u8>(), any::<u8>(), proptest::option::of(any::<u8>())).prop_map(
            |(standard, running, group, ladder, dest)| Edit::AddChannel { standard, running, group, ladder, dest }
        ),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => add_edit(),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(kind, which)| Edit::Remove { kind, which }),
        3 => (any::<u8>(), any::<u8>(), any::<bool>())
            .prop_map(|(kind, which, moved)| Edit::Rename { kind, which, moved }),
        4 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(kind, which, field, value)| Edit::Change { kind, which, field, value }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(which, to)| Edit::MoveEndpoint { which, to }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(which, to)| Edit::SwapChannelInput { which, to }),
        2 => any::<u8>().prop_map(|which| Edit::ToggleClass { which }),
        2 => any::<u8>().prop_map(|which| Edit::ToggleRunning { which }),
        2 => (any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(which, group, value)| Edit::DestinationId { which, group, value }),
    ]
}

fn out_of_band() -> impl Strategy<Value = Oob> {
    prop_oneof![
        5 => any::<u8>().prop_map(|which| Oob::Delete { which, only: None }),
        2 => any::<u8>().prop_map(|which| Oob::StopChannel { which }),
        1 => any::<u8>().prop_map(|which| Oob::StartChannel { which }),
        1 => any::<u8>().prop_map(|which| Oob::EditInput { which }),
        1 => any::<u8>().prop_map(|which| Oob::EditSecurityGroup { which }),
        2 => (any::<u8>(), any::<u8>())
            .prop_map(|(which, endpoint)| Oob::RotateIngestPassword { which, endpoint }),
        1 => Just(Oob::RemoveRolePolicy),
        1 => any::<u8>().prop_map(|which| Oob::DeleteSsmParameter { which }),
        1 => Just(Oob::DeleteState),
        1 => Just(Oob::CorruptState),
        1 => Just(Oob::RestoreBackup),
    ]
}

/// Where the history keeps its state: a file, or the sandbox's S3 (shrinks to the file).
fn state_at() -> impl Strategy<Value = StateAt> {
    prop_oneof![
        1 => Just(StateAt::File),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(versioned, in_stack_file)| StateAt::S3 {
            versioned,
            in_stack_file,
        }),
    ]
}

/// Sequences of 1 to `max_steps` steps after the first apply.
fn sequence(max_steps: usize) -> impl Strategy<Value = Sequence> {
    let step = (vec(out_of_band(), 0..=2), vec(edit(), 0..=2))
        .prop_map(|(oob, edits)| Step { oob, edits });
    (
        state_at(),
        vec(add_edit(), 1..=6),
        vec(step, 1..=max_steps),
        vec(out_of_band(), 0..=1),
    )
        .prop_map(|(state, initial, steps, before_destroy)| Sequence {
            state,
            initial,
            steps,
            before_destroy,
        })
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// Prints a failing sequence: the seed, its index, the edits, then the stacks, the
/// out-of-band changes and the output up to the failure.
fn report(seed: u64, index: usize, seq: &Sequence, failure: &str) -> String {
    format!(
        "convergence failure: LIVESTACK_SEED={seed} LIVESTACK_ONLY={index}\n\
         minimal sequence: {seq:?}\n{failure}"
    )
}

/// A failure in one line: what broke and the binary's error line.
fn signature(failure: &str) -> String {
    let what = failure
        .lines()
        .find_map(|l| l.strip_prefix("=== FAILED: "))
        .unwrap_or("?");
    let error = failure.lines().find(|l| l.contains("error:")).unwrap_or("");
    format!("{what} {error}")
}

#[test]
fn generated_histories_converge() {
    let seed = env_num("LIVESTACK_SEED", DEFAULT_SEED);
    let count = env_num("LIVESTACK_SOAK", DEFAULT_SEQUENCES as u64) as usize;
    let only = std::env::var("LIVESTACK_ONLY")
        .ok()
        .map(|_| env_num("LIVESTACK_ONLY", 0) as usize);
    let jobs = env_num("LIVESTACK_JOBS", 3).max(1) as usize;
    eprintln!("convergence: LIVESTACK_SEED={seed}, {count} sequences, {jobs} at a time");

    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = sequence(env_num("LIVESTACK_STEPS", 3).max(1) as usize);
    let mut trees: Vec<_> = (0..count)
        .map(|_| strategy.new_tree(&mut runner).expect("a sequence"))
        .collect();
    let todo: Vec<(usize, Sequence)> = trees
        .iter()
        .enumerate()
        .filter(|(i, _)| only.is_none_or(|o| o == *i))
        .map(|(i, t)| (i, t.current()))
        .collect();

    let t0 = std::time::Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((i, seq)) = todo.get(k) else { break };
                let r = run::run(&run::script(seq), &format!("conv-{seed}-{i}"));
                results.lock().unwrap().push((*i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let (mut applies, mut oob, mut stops) = (0, 0, 0);
    for (_, r) in &results {
        if let Ok(f) = r {
            applies += f.applies;
            oob += f.oob;
            stops += f.announced_interruptions;
        }
    }
    let failed: Vec<usize> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(i, _)| *i)
        .collect();
    eprintln!(
        "convergence: {} sequences, {} passed ({applies} applies, {oob} out-of-band changes, {stops} announced interruptions), {} failed {failed:?}, in {:.1} s",
        results.len(),
        results.len() - failed.len(),
        failed.len(),
        t0.elapsed().as_secs_f64()
    );
    for (i, r) in &results {
        if let Err(e) = r {
            eprintln!("convergence: sequence {i} failed: {}", signature(e));
        }
    }
    let Some(&first) = failed.first() else {
        return;
    };
    let mut failure = results
        .into_iter()
        .find(|(i, _)| *i == first)
        .and_then(|(_, r)| r.err())
        .expect("a failure");
    // Shrink the first failure: proptest's simplify/complicate walk, one run per candidate.
    let tree = &mut trees[first];
    let mut minimal = tree.current();
    let mut tries = 0;
    if tree.simplify() {
        while tries < env_num("LIVESTACK_SHRINK_RUNS", SHRINK_RUNS as u64) {
            tries += 1;
            let candidate = tree.current();
            match run::run(
                &run::script(&candidate),
                &format!("conv-{seed}-{first}-shrink"),
            ) {
                Err(e) => {
                    minimal = candidate;
                    failure = e;
                    if !tree.simplify() {
                        break;
                    }
                }
                Ok(_) => {
                    if !tree.complicate() {
                        break;
                    }
                }
            }
        }
    }
    eprintln!("convergence: shrunk in {tries} runs");
    panic!("{}", report(seed, first, &minimal, &failure));
}

//! What a run that stopped early says last: the channels it stopped and did not start again
//! (a failed step, a signal between a channel's stop and its start), with their ids and the
//! command that brings them back.

use std::collections::BTreeSet;

use livestack_model::Address;
use livestack_plan::{Mode, Op, Plan, Step};

/// How far a run got: the steps it started, finished, and saw fail.
pub struct SoFar<'a> {
    pub launched: &'a BTreeSet<usize>,
    pub done: &'a BTreeSet<usize>,
    pub failed: &'a BTreeSet<usize>,
}

/// The commands that take it from there, as the user would type them.
pub struct Again<'a> {
    pub apply: &'a str,
    pub destroy: &'a str,
}

/// One line per channel the run stopped and left off air (`id_of` gives its channel id), then
/// the command that starts them again; a reassurance when it stopped channels and brought
/// them all back; nothing when it stopped none.
pub fn lines(
    plan: &Plan,
    run: &SoFar,
    id_of: impl Fn(&Step) -> String,
    again: &Again,
) -> Vec<String> {
    let step_of = |a: &Address, op: Op| {
        plan.steps
            .iter()
            .find(|x| &x.address == a && x.op == op)
            .map(|x| x.id)
    };
    let mut stopped = 0;
    let mut lines = Vec::new();
    for st in plan.steps.iter().filter(|st| st.op == Op::Stop) {
        if !run.launched.contains(&st.id) {
            continue;
        }
        stopped += 1;
        let a = &st.address;
        if step_of(a, Op::Delete).is_some_and(|d| run.done.contains(&d)) {
            continue; // deleted, as the plan said
        }
        let how = match step_of(a, Op::Start) {
            Some(start) if run.done.contains(&start) => continue,
            Some(start) if run.launched.contains(&start) => {
                "was stopped and its start was sent but not seen through to RUNNING"
            }
            _ if run.done.contains(&st.id) => "was stopped and not started again",
            _ if run.failed.contains(&st.id) => "may be off air: its stop failed",
            _ => "is stopping (its stop was sent)",
        };
        lines.push(format!("Off air: {a} (channel {}) {how}.", id_of(st)));
    }
    if lines.is_empty() {
        if stopped > 0 {
            lines.push("No channel is left off air: every channel this run stopped was started again or deleted.".into());
        }
        return lines;
    }
    lines.push(match plan.mode {
        Mode::Destroy => format!(
            "`{}` deletes them; `{}` starts them again.",
            again.destroy, again.apply
        ),
        Mode::Apply => format!("`{}` starts them again.", again.apply),
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGAIN: Again = Again {
        apply: "livestack apply s.toml",
        destroy: "livestack destroy s.toml",
    };

    /// Steps 1.. of `ops` on medialive_channel.imday, each after the one before.
    fn plan(mode: Mode, ops: &[Op]) -> Plan {
        let address = Address::parse("medialive_channel.imday").unwrap();
        Plan {
            format_version: livestack_plan::FORMAT_VERSION,
            stack: "imday".into(),
            target: None,
            mode,
            changes: Vec::new(),
            steps: ops
                .iter()
                .enumerate()
                .map(|(i, op)| Step {
                    id: i + 1,
                    address: address.clone(),
                    op: *op,
                    after: (1..=i).collect(),
                    wave: i + 1,
                    target_id: Some("1234".into()),
                    spec: None,
                    deposed: false,
                    interrupts: *op == Op::Stop,
                })
                .collect(),
            summary: Default::default(),
            adopted: Vec::new(),
            moved: Vec::new(),
            forgotten: Vec::new(),
            targets: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn said(plan: &Plan, launched: &[usize], done: &[usize], failed: &[usize]) -> Vec<String> {
        let set = |ids: &[usize]| ids.iter().copied().collect::<BTreeSet<usize>>();
        let (launched, done, failed) = (set(launched), set(done), set(failed));
        let run = SoFar {
            launched: &launched,
            done: &done,
            failed: &failed,
        };
        lines(plan, &run, |st| st.target_id.clone().unwrap(), &AGAIN)
    }

    const SECTION_3: [Op; 4] = [Op::Stop, Op::UpdateClass, Op::Update, Op::Start];

    #[test]
    fn a_channel_stopped_and_not_started_is_named_with_the_command_that_starts_it() {
        let p = plan(Mode::Apply, &SECTION_3);
        assert_eq!(
            said(&p, &[1, 2], &[1], &[2]),
            [
                "Off air: medialive_channel.imday (channel 1234) was stopped and not started again.",
                "`livestack apply s.toml` starts them again."
            ]
        );
        assert!(said(&p, &[1, 2, 3, 4], &[1, 2, 3], &[],)[0].contains("its start was sent"));
        assert!(said(&p, &[1], &[], &[1])[0].contains("its stop failed"));
        assert!(said(&p, &[1], &[], &[])[0].contains("is stopping"));
    }

    #[test]
    fn nothing_is_said_of_channels_never_stopped_and_all_clear_when_started_again() {
        let p = plan(Mode::Apply, &SECTION_3);
        assert!(said(&p, &[], &[], &[]).is_empty());
        assert_eq!(
            said(&p, &[1, 2, 3, 4], &[1, 2, 3, 4], &[]),
            ["No channel is left off air: every channel this run stopped was started again or deleted."]
        );
        let no_stop = plan(Mode::Apply, &[Op::Create, Op::Start]);
        assert!(said(&no_stop, &[1], &[], &[1]).is_empty());
    }

    #[test]
    fn a_destroy_stopped_between_stop_and_delete_names_both_ways_out() {
        let p = plan(Mode::Destroy, &[Op::Stop, Op::Delete]);
        assert_eq!(
            said(&p, &[1], &[1], &[]),
            [
                "Off air: medialive_channel.imday (channel 1234) was stopped and not started again.",
                "`livestack destroy s.toml` deletes them; `livestack apply s.toml` starts them again."
            ]
        );
        assert_eq!(
            said(&p, &[1, 2], &[1, 2], &[]).len(),
            1,
            "deleted: all clear"
        );
    }
}

//! `-target`: a plan cut down to some resources and what they need (as Terraform's).
//!
//! The whole plan is made first, so that every rule spanning resources still orders the
//! steps; then only the steps of the targets and of what they depend on (transitively) are
//! kept. A kept step that must wait for a step left out (a channel to stop or detach first, a
//! unique name to free) is refused rather than run out of order: the error names what to add.
//! A destroy plan is cut the other way, as Terraform's `destroy -target`: the targets and
//! what depends on them (what uses a target is deleted before it), with every step those
//! deletes wait for.

use std::collections::{BTreeMap, BTreeSet};

use livestack_model::{Address, ValidatedStack};

use crate::{Error, Mode, Plan};

/// The addresses `targets` name (`kind.label`) with everything they depend on, transitively.
/// An address the stack does not declare is an error listing the stack's addresses closest
/// to it.
pub fn needed(desired: &ValidatedStack, targets: &[String]) -> Result<BTreeSet<Address>, Error> {
    let mut out = BTreeSet::new();
    let mut todo = Vec::new();
    for t in targets {
        match Address::parse(t).and_then(|a| desired.get(&a)) {
            Some(r) => todo.push(&r.address),
            None => {
                return Err(Error::UnknownTarget {
                    target: t.clone(),
                    close: close_to(desired, t),
                })
            }
        }
    }
    while let Some(a) = todo.pop() {
        if !out.insert(a.clone()) {
            continue;
        }
        if let Some(r) = desired.get(a) {
            todo.extend(r.depends_on.iter().filter(|d| !out.contains(*d)));
        }
    }
    Ok(out)
}

/// The stack's addresses that look like `wanted`: the closest by edit distance (or sharing
/// its label, or containing what was typed), at most 8; all of a small stack's when none is
/// close.
fn close_to(desired: &ValidatedStack, wanted: &str) -> Vec<Address> {
    let label = wanted.rsplit('.').next().unwrap_or(wanted);
    let mut scored: Vec<(usize, &Address)> = desired
        .resources
        .iter()
        .map(|r| {
            let a = r.address.to_string();
            let d = distance(&a, wanted);
            let related = r.address.label == label
                || (!wanted.is_empty() && a.contains(wanted))
                || d <= 3.max(wanted.chars().count() / 3);
            (if related { d } else { usize::MAX }, &r.address)
        })
        .collect();
    scored.sort();
    let any_close = scored.first().is_some_and(|(d, _)| *d != usize::MAX);
    scored
        .into_iter()
        .filter(|(d, _)| !any_close || *d != usize::MAX)
        .take(8)
        .map(|(_, a)| a.clone())
        .collect()
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The warning a partial plan carries; `mode` says which way it was cut.
pub fn partial_warning(targets: &[String], mode: Mode) -> String {
    if mode == Mode::Destroy {
        return format!(
            "the plan is partial: only {} and what {} on {} are destroyed (-target); the rest \
             of the stack is left as it is",
            targets.join(", "),
            if targets.len() == 1 {
                "depends"
            } else {
                "depend"
            },
            if targets.len() == 1 { "it" } else { "them" }
        );
    }
    format!(
        "the plan is partial: only {} and what {} (-target); other changes the stack asks for \
         are left out, so run a plan without -target before relying on it",
        targets.join(", "),
        if targets.len() == 1 {
            "it needs"
        } else {
            "they need"
        }
    )
}

/// The addresses `targets` name with everything that depends on them, transitively (what a
/// destroy of the targets deletes first). An unknown address is refused as by [`needed`].
pub fn dependents(
    desired: &ValidatedStack,
    targets: &[String],
) -> Result<BTreeSet<Address>, Error> {
    let mut out = BTreeSet::new();
    for t in targets {
        match Address::parse(t).and_then(|a| desired.get(&a)) {
            Some(r) => {
                out.insert(r.address.clone());
            }
            None => {
                return Err(Error::UnknownTarget {
                    target: t.clone(),
                    close: close_to(desired, t),
                })
            }
        }
    }
    loop {
        let more: Vec<Address> = desired
            .resources
            .iter()
            .filter(|r| !out.contains(&r.address))
            .filter(|r| r.depends_on.iter().any(|d| out.contains(d)))
            .map(|r| r.address.clone())
            .collect();
        if more.is_empty() {
            return Ok(out);
        }
        out.extend(more);
    }
}

/// The part of `plan` that concerns `targets` and what they need (see [`needed`]): their
/// steps, renumbered and put in waves again, their changes, adoptions and renames; the plan
/// records the targets and carries the partial-plan warning. A kept step that waits for a
/// step left out is an [`Error::TargetNeeds`]. A destroy plan keeps the targets, what depends
/// on them ([`dependents`]) and every step their steps wait for (a channel's stop, the delete
/// of what still uses a target): nothing is refused.
pub fn restrict(plan: Plan, desired: &ValidatedStack, targets: &[String]) -> Result<Plan, Error> {
    let mut targets = targets.to_vec();
    targets.sort();
    targets.dedup();
    let mut plan = plan;
    let keep = if plan.mode == Mode::Destroy {
        let mut keep = dependents(desired, &targets)?;
        let by_id: BTreeMap<usize, &crate::Step> = plan.steps.iter().map(|s| (s.id, s)).collect();
        // Every step of a kept resource, and the resources of what those steps wait for.
        loop {
            let more: BTreeSet<Address> = plan
                .steps
                .iter()
                .filter(|s| keep.contains(&s.address))
                .flat_map(|s| s.after.iter().map(|p| &by_id[p].address))
                .filter(|a| !keep.contains(*a))
                .cloned()
                .collect();
            if more.is_empty() {
                break keep;
            }
            keep.extend(more);
        }
    } else {
        needed(desired, &targets)?
    };
    let by_id: BTreeMap<usize, &crate::Step> = plan.steps.iter().map(|s| (s.id, s)).collect();
    for s in plan.steps.iter().filter(|s| keep.contains(&s.address)) {
        if let Some(other) = s
            .after
            .iter()
            .filter_map(|id| by_id.get(id))
            .find(|o| !keep.contains(&o.address))
        {
            return Err(Error::TargetNeeds {
                step: format!("{} {}", s.op.as_str(), s.address),
                waits_for: format!("{} {}", other.op.as_str(), other.address),
                address: other.address.clone(),
            });
        }
    }
    let interrupted = plan.summary.interrupted;
    // Steps are numbered by wave, so a step's predecessors come before it.
    let mut kept: Vec<crate::Step> = plan
        .steps
        .drain(..)
        .filter(|s| keep.contains(&s.address))
        .collect();
    let mut wave: BTreeMap<usize, usize> = BTreeMap::new();
    for s in &kept {
        let w = s.after.iter().map(|p| wave[p] + 1).max().unwrap_or(0);
        wave.insert(s.id, w);
    }
    kept.sort_by_key(|s| (wave[&s.id], s.id));
    let new_id: BTreeMap<usize, usize> = kept
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id, i + 1))
        .collect();
    for s in &mut kept {
        s.wave = wave[&s.id];
        s.id = new_id[&s.id];
        s.after = s.after.iter().map(|p| new_id[p]).collect();
        s.after.sort();
    }
    plan.steps = kept;
    plan.changes.retain(|c| keep.contains(&c.address));
    for c in &mut plan.changes {
        c.steps = c.steps.iter().map(|id| new_id[id]).collect();
    }
    let mut summary = crate::order_and_count(&mut plan.changes);
    // Which channels a kept step takes off air is not recorded per step: the whole plan's
    // count stands when any kept step interrupts (never a silent 0 for --no-interrupt).
    summary.interrupted = if plan.steps.iter().any(|s| s.interrupts) {
        interrupted
    } else {
        0
    };
    plan.summary = summary;
    plan.adopted.retain(|a| keep.contains(a));
    plan.moved.retain(|m| keep.contains(&m.to));
    // Gone from the cloud and not in the stack: not among the targets.
    plan.forgotten.clear();
    plan.warnings.push(partial_warning(&targets, plan.mode));
    plan.targets = targets;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }
}

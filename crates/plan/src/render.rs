//! The plan for people (Terraform-like text) and for machines (versioned JSON).

use std::fmt::Write;

use serde_json::Value as Json;

use crate::{Action, Change, Mode, Plan};

const SHORT: usize = 72;

/// The plan as text; `color` adds ANSI colours (for terminals only).
pub fn render_text(plan: &Plan, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let verb = match plan.mode {
        Mode::Apply => "apply",
        Mode::Destroy => "destroy",
    };
    let _ = writeln!(out, "livestack {verb} plan for stack \"{}\"", plan.stack);
    if !plan.adopted.is_empty() {
        let _ = writeln!(
            out,
            "\nFound in the cloud by their ownership tags, missing from the state (apply records \
             them; no AWS call):"
        );
        for a in &plan.adopted {
            let _ = writeln!(out, "  = {a}");
        }
    }
    if !plan.moved.is_empty() {
        let _ = writeln!(
            out,
            "\nRenamed by [[moved]] entries (apply renames them in the state; no AWS call):"
        );
        for m in &plan.moved {
            let _ = writeln!(out, "  > {} -> {}", m.from, m.to);
        }
    }
    if !plan.forgotten.is_empty() {
        let _ = writeln!(
            out,
            "\nIn the state but already gone from the cloud (apply drops them from the state; no \
             AWS call):"
        );
        for a in &plan.forgotten {
            let _ = writeln!(out, "  x {a}");
        }
    }
    if plan.is_empty() {
        let _ = writeln!(out, "\nNo changes: the cloud matches the stack.");
        let _ = writeln!(out, "\n{}", summary_line(plan));
        return out;
    }
    out.push('\n');
    for c in plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || !c.steps.is_empty())
    {
        let (marker, code, what) = match c.action {
            Action::Create => ("+", "32", "will be created".to_string()),
            Action::Update => ("~", "33", "will be updated in place".to_string()),
            Action::Replace => ("-/+", "35", "must be replaced".to_string()),
            Action::Delete => ("-", "31", "will be deleted".to_string()),
            Action::NoOp => ("-", "31", "stays; an old copy will be deleted".to_string()),
        };
        let _ = write!(
            out,
            "  {} {}  {what}",
            paint(code, marker),
            paint("1", &c.address.to_string())
        );
        if c.interrupts {
            let _ = write!(out, "  {}", paint("1;31", "[interrupts the live channel]"));
        }
        out.push('\n');
        if let Some(from) = &c.moved_from {
            let _ = writeln!(out, "      # renamed from {from} ([[moved]])");
        }
        if let Some(r) = &c.reason {
            let _ = writeln!(out, "      # {r}");
        }
        match c.action {
            Action::Create => render_members(&mut out, &c.after),
            Action::Update | Action::Replace => render_fields(&mut out, c, &paint),
            _ => {}
        }
        let steps: Vec<String> = c
            .steps
            .iter()
            .zip(&c.ops)
            .map(|(id, op)| format!("{id} {}", op.as_str()))
            .collect();
        let _ = writeln!(out, "      steps: {}", steps.join(", "));
        out.push('\n');
    }
    let _ = writeln!(out, "Steps (steps of one wave can run in parallel):");
    let mut wave = usize::MAX;
    for s in &plan.steps {
        if s.wave != wave {
            wave = s.wave;
            let _ = writeln!(out, "  wave {}:", wave + 1);
        }
        let after = if s.after.is_empty() {
            String::new()
        } else {
            format!(
                "  (after {})",
                s.after
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut old = if s.deposed {
            format!(" (old copy {})", s.target_id.as_deref().unwrap_or("?"))
        } else {
            String::new()
        };
        if s.interrupts {
            old.push_str("  [off air]");
        }
        let _ = writeln!(
            out,
            "    {:>3}  {:<12}  {}{old}{after}",
            s.id,
            s.op.as_str(),
            s.address
        );
    }
    let _ = writeln!(out, "\n{}", summary_line(plan));
    out
}

/// "N to create, N to update, N to replace, N to delete; N running channel(s) interrupted."
pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete; {} running channel(s) interrupted.",
        s.create, s.update, s.replace, s.delete, s.interrupted
    )
}

/// The versioned JSON plan.
pub fn render_json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).expect("a plan serializes")
}

fn compact(v: &Json) -> String {
    serde_json::to_string(v).expect("json serializes")
}

fn short(v: &Json) -> String {
    let s = compact(v);
    if s.chars().count() <= SHORT {
        return s;
    }
    match v {
        Json::Array(a) => format!("[{} items]", a.len()),
        Json::Object(o) => format!("{{{}}}", o.keys().cloned().collect::<Vec<_>>().join(", ")),
        _ => s,
    }
}

fn render_members(out: &mut String, after: &Json) {
    if let Json::Object(m) = after {
        let width = m.keys().map(|k| k.len()).max().unwrap_or(0);
        for (k, v) in m {
            let _ = writeln!(out, "      {k:<width$} = {}", short(v));
        }
    }
}

fn render_fields(out: &mut String, c: &Change, paint: &dyn Fn(&str, &str) -> String) {
    for f in &c.fields {
        let (marker, code) = match (&f.before, &f.after) {
            (Json::Null, _) => ("+", "32"),
            (_, Json::Null) => ("-", "31"),
            _ => ("~", "33"),
        };
        let mut notes = Vec::new();
        if f.forces_replacement {
            notes.push("forces replacement");
        }
        if f.drift {
            notes.push("changed outside livestack");
        }
        let note = if notes.is_empty() {
            String::new()
        } else {
            format!("  # {}", notes.join("; "))
        };
        let (b, a) = (compact(&f.before), compact(&f.after));
        if b.len() <= SHORT && a.len() <= SHORT {
            let _ = writeln!(
                out,
                "      {} {}: {b} -> {a}{note}",
                paint(code, marker),
                f.path
            );
            continue;
        }
        let _ = writeln!(out, "      {} {}:{note}", paint(code, marker), f.path);
        let before = pretty(&f.before);
        let after = pretty(&f.after);
        let diff = similar::TextDiff::from_lines(&before, &after);
        for group in diff.grouped_ops(3) {
            let _ = writeln!(out, "          @@");
            for op in group {
                for change in diff.iter_changes(&op) {
                    let (sign, code) = match change.tag() {
                        similar::ChangeTag::Delete => ("-", "31"),
                        similar::ChangeTag::Insert => ("+", "32"),
                        similar::ChangeTag::Equal => (" ", "0"),
                    };
                    let line = format!("{sign} {}", change.value().trim_end_matches('\n'));
                    let _ = writeln!(
                        out,
                        "          {}",
                        if sign == " " {
                            line
                        } else {
                            paint(code, &line)
                        }
                    );
                }
            }
        }
    }
}

fn pretty(v: &Json) -> String {
    if v.is_null() {
        return String::new();
    }
    let mut s = serde_json::to_string_pretty(v).expect("json serializes");
    s.push('\n');
    s
}

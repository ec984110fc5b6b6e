//! `livestack graph`: the stack's dependency graph, or a plan's steps by wave, as Graphviz DOT
//! or a Mermaid `flowchart` (which GitHub renders in markdown).
//!
//! Arrows go in the order things happen: `A -> B` means B must happen after A (the stack: B
//! depends on A; a plan: step B waits for step A).

use std::fmt::Write;

use livestack_model::ValidatedStack;

use crate::Plan;

/// The text formats of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// A Mermaid `flowchart`, for a ```` ```mermaid ```` block.
    Mermaid,
}

/// A graph to draw: labelled nodes, optionally grouped, and edges between them.
struct Graph {
    title: String,
    /// Labels; a node's index is its id.
    nodes: Vec<String>,
    /// Named groups of nodes (a plan's waves); nodes in none are drawn at the top level.
    groups: Vec<(String, Vec<usize>)>,
    /// (before, after).
    edges: Vec<(usize, usize)>,
}

impl Graph {
    /// The nodes in no group, in order.
    fn ungrouped(&self) -> Vec<usize> {
        let mut grouped = vec![false; self.nodes.len()];
        for &i in self.groups.iter().flat_map(|(_, m)| m) {
            grouped[i] = true;
        }
        (0..self.nodes.len()).filter(|&i| !grouped[i]).collect()
    }
}

/// The stack's resources, each labelled with its address, with an edge from each resource it
/// depends on (its references and `depends_on`) to it.
pub fn stack_graph(stack: &ValidatedStack, format: GraphFormat) -> String {
    let index = |a| stack.resources.iter().position(|r| &r.address == a);
    let g = Graph {
        title: format!("stack {}", stack.name),
        nodes: stack
            .resources
            .iter()
            .map(|r| r.address.to_string())
            .collect(),
        groups: Vec::new(),
        edges: stack
            .resources
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.depends_on.iter().filter_map(index).map(move |d| (d, i)))
            .collect(),
    };
    draw(&g, format)
}

/// The plan's steps (`id op address`, `[off air]` when they interrupt a running channel),
/// grouped by wave, with an edge from each step a step waits for to it.
pub fn plan_graph(plan: &Plan, format: GraphFormat) -> String {
    let verb = match plan.mode {
        crate::Mode::Apply => "apply",
        crate::Mode::Destroy => "destroy",
    };
    let index = |id: usize| plan.steps.iter().position(|s| s.id == id);
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, s) in plan.steps.iter().enumerate() {
        let name = format!("wave {}", s.wave + 1);
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, members)) => members.push(i),
            None => groups.push((name, vec![i])),
        }
    }
    let g = Graph {
        title: format!("{verb} plan {}", plan.stack),
        nodes: plan
            .steps
            .iter()
            .map(|s| {
                let mut l = format!("{} {} {}", s.id, s.op.as_str(), s.address);
                if s.deposed {
                    l.push_str(" (old copy)");
                }
                if s.interrupts {
                    l.push_str(" [off air]");
                }
                l
            })
            .collect(),
        groups,
        edges: plan
            .steps
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.after
                    .iter()
                    .filter_map(move |&a| index(a))
                    .map(move |a| (a, i))
            })
            .collect(),
    };
    draw(&g, format)
}

fn draw(g: &Graph, format: GraphFormat) -> String {
    match format {
        GraphFormat::Dot => dot(g),
        GraphFormat::Mermaid => mermaid(g),
    }
}

/// A DOT double-quoted string: `"` and `\` escaped (a lone `\` would start a label escape
/// such as `\n`), line breaks as `\n`.
fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn dot(g: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", dot_quote(&g.title));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  fontname=\"Helvetica\";");
    let _ = writeln!(out, "  node [shape=box, fontname=\"Helvetica\"];");
    let node = |out: &mut String, indent: &str, i: usize| {
        let _ = writeln!(out, "{indent}n{i} [label={}];", dot_quote(&g.nodes[i]));
    };
    for i in g.ungrouped() {
        node(&mut out, "  ", i);
    }
    for (k, (name, members)) in g.groups.iter().enumerate() {
        // `cluster_` makes Graphviz draw the group as a box.
        let _ = writeln!(out, "  subgraph cluster_{k} {{");
        let _ = writeln!(out, "    label={};", dot_quote(name));
        for &i in members {
            node(&mut out, "    ", i);
        }
        let _ = writeln!(out, "  }}");
    }
    for (a, b) in &g.edges {
        let _ = writeln!(out, "  n{a} -> n{b};");
    }
    out.push_str("}\n");
    out
}

/// A Mermaid label in `["..."]`: the characters Mermaid or GitHub's HTML would read are
/// written as Mermaid's entity codes (`#quot;`, `#35;`...).
fn mermaid_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn mermaid(g: &Graph) -> String {
    let mut out = String::new();
    // The title as a comment: a flowchart's front matter is not rendered everywhere.
    let _ = writeln!(out, "%% {}", g.title.replace('\n', " "));
    let _ = writeln!(out, "flowchart LR");
    for i in g.ungrouped() {
        let _ = writeln!(out, "  n{i}[{}]", mermaid_quote(&g.nodes[i]));
    }
    for (k, (name, members)) in g.groups.iter().enumerate() {
        let _ = writeln!(out, "  subgraph g{k}[{}]", mermaid_quote(name));
        for &i in members {
            let _ = writeln!(out, "    n{i}[{}]", mermaid_quote(&g.nodes[i]));
        }
        let _ = writeln!(out, "  end");
    }
    for (a, b) in &g.edges {
        let _ = writeln!(out, "  n{a} --> n{b}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_quoted_for_each_format() {
        let g = Graph {
            title: "a \"b\" \\ c".into(),
            nodes: vec!["x \"y\" #1 <b> & \\n".into(), "plain".into()],
            groups: vec![("wave 1".into(), vec![1])],
            edges: vec![(0, 1)],
        };
        assert_eq!(
            dot(&g),
            "digraph \"a \\\"b\\\" \\\\ c\" {\n  rankdir=LR;\n  fontname=\"Helvetica\";\n  node [shape=box, fontname=\"Helvetica\"];\n  \
             n0 [label=\"x \\\"y\\\" #1 <b> & \\\\n\"];\n  subgraph cluster_0 {\n    label=\"wave 1\";\n    \
             n1 [label=\"plain\"];\n  }\n  n0 -> n1;\n}\n"
        );
        assert_eq!(
            mermaid(&g),
            "%% a \"b\" \\ c\nflowchart LR\n  n0[\"x #quot;y#quot; #35;1 #lt;b#gt; #amp; \\n\"]\n  \
             subgraph g0[\"wave 1\"]\n    n1[\"plain\"]\n  end\n  n0 --> n1\n"
        );
    }
}

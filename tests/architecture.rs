//! Architecture invariants, checked from the Cargo.toml files and from the sources: the pure
//! core stays pure, only `aws` names the SDK, the engine reconciles and prints nothing, the
//! binary reconciles nothing, a resource kind's tables live in its `kinds/` modules. Adding a crate to a list below is enough to hold it to the same
//! rule.

use std::path::{Path, PathBuf};

/// Crates whose sources must name no `aws_sdk_*` crate (the root binary is `crates/cli`).
const NO_SDK: &[&str] = &["cli", "model", "plan", "state", "engine", "sandbox"];

/// Crates that do no I/O and are not async: no `tokio`, `reqwest`, network or file system.
const PURE: &[&str] = &["model", "plan"];

/// The functions of a pure crate allowed to read files: `model` reads the stack file
/// (`load`) and the `encoder_settings` JSON file it names (`encoder_file`), nothing else.
const MAY_READ_FILES: &[(&str, &str)] = &[("model", "load"), ("model", "encoder_file")];

/// Crates that know the resource kinds: none holds a per-kind table (a `match` with an arm
/// for every kind) outside its `src/kinds/` modules (`model`'s tables and lowerings, `aws`'s
/// calls and their one dispatch point).
const KINDS_IN_ONE_PLACE: &[&str] = &["cli", "model", "plan", "state", "engine", "aws", "bench"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn deps_of(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).unwrap();
    // Only the [dependencies] table (dev-dependencies may use anything).
    let start = text
        .find("\n[dependencies]")
        .map(|i| i + "\n[dependencies]".len())
        .unwrap_or(text.len());
    let rest = &text[start..];
    let end = rest.find("\n[").unwrap_or(rest.len());
    rest[..end].to_string()
}

fn deps(krate: &str) -> String {
    if krate == "cli" {
        // The root package is the binary.
        return deps_of(&root().join("Cargo.toml"));
    }
    deps_of(&root().join("crates").join(krate).join("Cargo.toml"))
}

/// The crate's own sources (not its `tests/`, `benches/` or `examples/`, which use
/// dev-dependencies), each with its text.
fn sources(krate: &str) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                if !matches!(
                    p.file_name().and_then(|n| n.to_str()),
                    Some("tests" | "target" | "benches" | "examples")
                ) {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("crates").join(krate), &mut out);
    assert!(!out.is_empty(), "no sources found for crates/{krate}");
    out
}

/// Every line of `text` that shows `needle`, as "path:line: text".
fn lines_with(path: &Path, text: &str, needle: impl Fn(&str) -> bool) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let code = l.trim_start();
            !code.starts_with("//") && needle(l)
        })
        .map(|(i, l)| format!("{}:{}: {}", path.display(), i + 1, l.trim()))
        .collect()
}

/// The byte range of the body of `fn name(` in `text` (braces counted; the sources keep
/// them balanced inside strings too).
fn fn_body(text: &str, name: &str) -> Option<std::ops::Range<usize>> {
    let start = text.find(&format!("fn {name}("))?;
    let open = start + text[start..].find('{')?;
    Some(start..block_end(text, open)? + 1)
}

/// The offset of the `}` that closes the `{` at `open`.
fn block_end(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

#[test]
fn pure_crates_name_no_aws_sdk_tokio_or_io_crate_in_cargo_toml() {
    for krate in PURE {
        let d = deps(krate);
        for forbidden in [
            "aws-sdk",
            "aws-config",
            "aws-smithy",
            "tokio",
            "axum",
            "hyper",
            "reqwest",
        ] {
            assert!(
                !d.contains(forbidden),
                "crates/{krate} must not depend on {forbidden}:\n{d}"
            );
        }
    }
}

#[test]
fn only_the_aws_crate_names_the_sdk() {
    for krate in NO_SDK {
        let d = deps(krate);
        assert!(
            !d.contains("aws-sdk"),
            "crates/{krate} must not depend on an aws-sdk crate:\n{d}"
        );
        let named: Vec<String> = sources(krate)
            .iter()
            .flat_map(|(p, t)| lines_with(p, t, |l| l.contains("aws_sdk_")))
            .collect();
        assert!(
            named.is_empty(),
            "crates/{krate} must not name an aws_sdk crate (only crates/aws does):\n{}",
            named.join("\n")
        );
    }
}

#[test]
fn pure_crates_use_no_network_async_runtime_or_http_client() {
    // std::net's address types are plain values (model parses CIDRs with Ipv4Addr); its
    // sockets are I/O.
    let io = |l: &str| {
        [
            "tokio",
            "reqwest",
            "hyper",
            "TcpStream",
            "TcpListener",
            "UdpSocket",
            "ToSocketAddrs",
        ]
        .iter()
        .any(|w| l.contains(w))
            || l.split("std::net::").skip(1).any(|rest| {
                !["Ipv4Addr", "Ipv6Addr", "IpAddr"]
                    .iter()
                    .any(|t| rest.starts_with(t))
            })
            || (l.contains("use std::{") && l.contains("net"))
    };
    for krate in PURE {
        let found: Vec<String> = sources(krate)
            .iter()
            .flat_map(|(p, t)| lines_with(p, t, io))
            .collect();
        assert!(
            found.is_empty(),
            "crates/{krate} must do no network I/O and not be async:\n{}",
            found.join("\n")
        );
    }
}

/// The lines (1-based, with their text) of `text` that use the file system outside the
/// bodies of the functions `allowed`.
fn fs_outside(text: &str, allowed: &[&str]) -> Vec<(usize, String)> {
    let ranges: Vec<std::ops::Range<usize>> =
        allowed.iter().filter_map(|f| fn_body(text, f)).collect();
    let mut found = Vec::new();
    let mut at = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let uses_fs = line.contains("std::fs")
            || line.contains("fs::")
            || (line.contains("use std::{") && line.contains("fs"));
        if uses_fs
            && !line.trim_start().starts_with("//")
            && !ranges.iter().any(|r| r.contains(&at))
        {
            found.push((i + 1, line.trim().to_string()));
        }
        at += line.len();
    }
    found
}

#[test]
fn pure_crates_touch_the_file_system_only_in_their_loaders() {
    for krate in PURE {
        let allowed: Vec<&str> = MAY_READ_FILES
            .iter()
            .filter(|(k, _)| k == krate)
            .map(|(_, f)| *f)
            .collect();
        let found: Vec<String> = sources(krate)
            .iter()
            .flat_map(|(path, text)| {
                fs_outside(text, &allowed)
                    .into_iter()
                    .map(move |(n, l)| format!("{}:{n}: {l}", path.display()))
            })
            .collect();
        assert!(
            found.is_empty(),
            "crates/{krate} may read files only in {allowed:?}:\n{}",
            found.join("\n")
        );
    }
    // The loaders are where this test thinks they are (a rename must not void the check).
    for (krate, f) in MAY_READ_FILES {
        assert!(
            sources(krate).iter().any(|(_, t)| fn_body(t, f).is_some()),
            "crates/{krate} has no fn {f}: update MAY_READ_FILES"
        );
    }
}

#[test]
fn the_file_system_check_finds_a_read_outside_the_loader() {
    let text = "pub fn load(p: &Path) -> String {\n    let s = format!(\"{}\", 1);\n    std::fs::read_to_string(p).unwrap()\n}\n\nfn sneaky() {\n    let _ = std::fs::read(\"x\");\n}\n";
    assert_eq!(
        fs_outside(text, &["load"]),
        [(7, "let _ = std::fs::read(\"x\");".to_string())]
    );
    assert_eq!(fs_outside(text, &["load", "sneaky"]), []);
}

#[test]
fn the_sandbox_depends_on_no_livestack_crate() {
    let d = deps("sandbox");
    assert!(
        !d.contains("livestack-"),
        "crates/sandbox must stand alone:\n{d}"
    );
}

#[test]
fn anyhow_only_in_the_binary() {
    for krate in ["model", "plan", "state", "engine", "aws", "sandbox"] {
        assert!(
            !deps(krate).contains("anyhow"),
            "crates/{krate} must use its own error enum, not anyhow"
        );
    }
}

#[test]
fn the_engine_reaches_the_cloud_only_through_its_trait_and_prints_nothing() {
    let d = deps("engine");
    for forbidden in [
        "aws-",
        "livestack-aws",
        "livestack-sandbox",
        "clap",
        "indicatif",
    ] {
        assert!(
            !d.contains(forbidden),
            "crates/engine must not depend on {forbidden}:\n{d}"
        );
    }
    // Progress reaches the caller as events; the engine writes to no terminal.
    let prints = |l: &str| {
        [
            "println!",
            "eprintln!",
            "print!(",
            "eprint!(",
            "std::io::stdout",
            "std::io::stderr",
        ]
        .iter()
        .any(|w| l.contains(w))
    };
    let found: Vec<String> = sources("engine")
        .iter()
        .flat_map(|(p, t)| lines_with(p, t, prints))
        .collect();
    assert!(
        found.is_empty(),
        "crates/engine must not print (send an Event):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_binary_reconciles_nothing() {
    // Refresh, planning, the steps and their cloud calls are the engine's: the binary parses
    // arguments, asks, shows, and reads the cloud only for `outputs`.
    let reconciles = |l: &str| {
        [
            "livestack_plan::plan(",
            ".create(",
            ".update(",
            ".update_tags(",
            ".delete(",
            ".start_channel(",
            ".stop_channel(",
            ".update_channel_class(",
            ".discover(",
            ".wait_channel(",
            "impl livestack_engine::Cloud",
        ]
        .iter()
        .any(|w| l.contains(w))
    };
    let found: Vec<String> = sources("cli")
        .iter()
        .flat_map(|(p, t)| lines_with(p, t, reconciles))
        .collect();
    assert!(
        found.is_empty(),
        "crates/cli must leave reconciliation to crates/engine:\n{}",
        found.join("\n")
    );
}

/// The `match` expressions of `text` with an arm for every resource kind, each as
/// (line number, the line that opens it).
fn per_kind_matches(text: &str) -> Vec<(usize, String)> {
    let variants: Vec<String> = livestack_model::Kind::ALL
        .iter()
        .map(|k| format!("Kind::{k:?}"))
        .collect();
    // Comments cut out, lengths kept so that offsets still point at the text's lines.
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => format!("{}{}\n", &l[..i], " ".repeat(l.len() - i)),
            None => format!("{l}\n"),
        })
        .collect();
    let mut out = Vec::new();
    for (at, _) in code.match_indices("match ") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(open) = code[at..].find('{').map(|i| at + i) else {
            continue;
        };
        let end = block_end(&code, open).unwrap_or(code.len());
        let body = &code[open..end];
        let arm_for = |v: &String| {
            body.match_indices(v.as_str()).any(|(i, _)| {
                // `Kind::Medialive` must not count as `Kind::MedialiveChannel`'s prefix.
                !body[i + v.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            })
        };
        if variants.iter().all(arm_for) {
            let line = code[..at].matches('\n').count() + 1;
            out.push((
                line,
                text.lines().nth(line - 1).unwrap_or("").trim().to_string(),
            ));
        }
    }
    out
}

fn per_kind_tables_outside_kind_modules(krate: &str) -> Vec<String> {
    sources(krate)
        .iter()
        .filter(|(p, _)| !p.components().any(|c| c.as_os_str() == "kinds"))
        .flat_map(|(p, t)| {
            per_kind_matches(t)
                .into_iter()
                .map(move |(n, l)| format!("{}:{n}: {l}", p.display()))
        })
        .collect()
}

#[test]
fn a_resource_kind_is_matched_only_in_its_kind_modules() {
    let found: Vec<String> = KINDS_IN_ONE_PLACE
        .iter()
        .flat_map(|k| per_kind_tables_outside_kind_modules(k))
        .collect();
    assert!(
        found.is_empty(),
        "a table with an arm per resource kind belongs in the kind's module \
         (crates/model/src/kinds/ for what the planner, engine and model read via Kind::info, \
         crates/aws/src/kinds/ for its calls):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_per_kind_table_check_finds_a_match_over_every_kind() {
    let table = "fn noun(kind: Kind) -> &'static str {
    match kind {
        Kind::IamRole => \"Role\",
        Kind::MediapackageChannel | Kind::MedialiveChannel => \"Channel\",
        Kind::MediapackageEndpoint => \"OriginEndpoint\",
        Kind::SsmParameter => \"Parameter\", // match Kind::Nothing
        Kind::MedialiveInputSecurityGroup => \"InputSecurityGroup\",
        Kind::MedialiveInput => \"Input\",
    }
}";
    assert_eq!(per_kind_matches(table), [(2, "match kind {".to_string())]);
    // A match over some kinds is logic about those kinds, not a table.
    let some = "match kind { Kind::MedialiveChannel => 1, Kind::MedialiveInput => 2, _ => 0 }";
    assert!(per_kind_matches(some).is_empty());
}

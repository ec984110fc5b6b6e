//! The README's "Stack file reference" documents every key the model accepts, and only those:
//! its tables are read (the format is described at the top of that section) and compared with
//! [`livestack_model::reference`], which lists the very constants the lowering checks each
//! table against. And every such check uses a listed constant, so no key is accepted unlisted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use livestack_model::{reference, Kind};

const SECTION: &str = "## Stack file reference";
const COLUMNS: usize = 5;

/// The README's reference: table path -> its keys; or the problems with its format.
fn readme_reference(text: &str) -> Result<BTreeMap<String, BTreeSet<String>>, Vec<String>> {
    let mut problems = Vec::new();
    let Some(start) = text.lines().position(|l| l.trim_end() == SECTION) else {
        return Err(vec![format!("README.md has no `{SECTION}` section")]);
    };
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(start + 1) {
        let at = format!("README.md:{}", i + 1);
        if line.starts_with("## ") {
            break;
        }
        if let Some(heading) = line.strip_prefix("### ") {
            current = heading
                .split(',')
                .map(|p| p.trim().trim_matches('`').to_string())
                .collect();
            for p in &current {
                if p.is_empty() || p.contains(' ') {
                    problems.push(format!("{at}: `{heading}` is not a list of table paths"));
                } else if tables.insert(p.clone(), BTreeSet::new()).is_some() {
                    problems.push(format!("{at}: table `{p}` is documented twice"));
                }
            }
            continue;
        }
        let Some(row) = line.trim().strip_prefix('|') else {
            continue;
        };
        let cells: Vec<&str> = row
            .trim_end_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        // The header and the separator row.
        if cells[0] == "Key" || cells[0].starts_with("---") {
            continue;
        }
        if current.is_empty() {
            problems.push(format!("{at}: a table row before any `### ` table heading"));
            continue;
        }
        let key = cells[0]
            .strip_prefix('`')
            .and_then(|k| k.strip_suffix('`'))
            .filter(|k| !k.is_empty() && !k.contains('`'));
        let Some(key) = key else {
            problems.push(format!(
                "{at}: the first cell `{}` is not a key in backticks",
                cells[0]
            ));
            continue;
        };
        if cells.len() != COLUMNS || cells.iter().any(|c| c.is_empty()) {
            problems.push(format!(
                "{at}: `{key}`: a row has {COLUMNS} non-empty cells (key, type, required, \
                 default, AWS member), this one {} (no `|` inside a cell)",
                cells.len()
            ));
        }
        for p in &current {
            let keys = tables.get_mut(p).expect("inserted at its heading");
            if !keys.insert(key.to_string()) {
                problems.push(format!("{at}: `{p}`: key `{key}` is documented twice"));
            }
        }
    }
    if problems.is_empty() {
        Ok(tables)
    } else {
        Err(problems)
    }
}

/// Every difference between the model's tables and the README's, one line each.
fn differences(readme: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    let model = reference();
    for t in &model {
        let Some(documented) = readme.get(t.path) else {
            out.push(format!(
                "table `{}` (keys {}) is in the model but not in README.md's reference",
                t.path,
                t.keys.join(", ")
            ));
            continue;
        };
        for k in t.keys {
            if !documented.contains(*k) {
                out.push(format!(
                    "`{}`: key `{k}` is accepted by the model but missing from README.md's reference",
                    t.path
                ));
            }
        }
        for k in documented {
            if !t.keys.contains(&k.as_str()) {
                out.push(format!(
                    "`{}`: key `{k}` is in README.md's reference but the model does not accept it",
                    t.path
                ));
            }
        }
    }
    for p in readme.keys() {
        if !model.iter().any(|t| t.path == p) {
            out.push(format!(
                "table `{p}` is in README.md's reference but the model has no such table"
            ));
        }
    }
    out
}

#[test]
fn the_readme_documents_every_key_the_model_accepts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let readme = readme_reference(&text).unwrap_or_else(|p| panic!("\n{}\n", p.join("\n")));
    let diffs = differences(&readme);
    assert!(
        diffs.is_empty(),
        "README.md's `{SECTION}` and the model disagree (add a row per key, see the format at \
         the top of that section):\n{}\n",
        diffs.join("\n")
    );
}

#[test]
fn a_missing_or_unknown_key_is_named() {
    let text = "## Stack file reference\n\n### `stack`\n\n\
        | Key | Type | Required | Default | AWS member |\n|---|---|---|---|---|\n\
        | `name` | string | yes | — | tag |\n| `colour` | string | no | — | none |\n\n## Next\n";
    let readme = readme_reference(text).unwrap();
    let diffs = differences(&readme);
    assert!(diffs.contains(
        &"`stack`: key `region` is accepted by the model but missing from README.md's reference"
            .to_string()
    ));
    assert!(diffs.contains(
        &"`stack`: key `colour` is in README.md's reference but the model does not accept it"
            .to_string()
    ));
    assert!(diffs
        .iter()
        .any(|d| d.starts_with("table `medialive_channel.<label>` (keys name, class,")));
    // A row that lost a column is a format error, located.
    let short = "## Stack file reference\n### `stack`\n| `name` | string | yes |\n";
    let err = readme_reference(short).unwrap_err();
    assert!(
        err[0].starts_with("README.md:3: `name`: a row has 5"),
        "{err:?}"
    );
}

#[test]
fn the_reference_names_each_table_once_and_the_top_level_keys() {
    let model = reference();
    let paths: BTreeSet<&str> = model.iter().map(|t| t.path).collect();
    assert_eq!(paths.len(), model.len(), "a table path is listed twice");
    // The top level holds `stack`, `ladder`, `moved` and each kind users write: the first
    // segment of the tables' paths.
    let top: BTreeSet<&str> = model
        .iter()
        .map(|t| t.path.split(['.', '[']).next().unwrap())
        .collect();
    let mut expected: BTreeSet<&str> = Kind::ALL
        .into_iter()
        .filter(|k| k.user_written())
        .map(Kind::as_str)
        .collect();
    expected.extend(["stack", "ladder", "moved"]);
    assert_eq!(top, expected);
    for k in Kind::ALL.into_iter().filter(|k| k.user_written()) {
        let own = format!("{k}.<label>");
        assert_eq!(
            k.info().tables.first().map(|t| t.path),
            Some(own.as_str()),
            "{k}: its `[{k}.<label>]` table comes first"
        );
    }
}

/// Each `finish(...)` in the model (the check that reports unknown keys) is given a named
/// constant that [`reference`] lists (as `keys: NAME` in a `TableKeys`), never an inline list.
#[test]
fn every_key_check_uses_a_listed_constant() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let shown = p.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
            (
                shown.display().to_string(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    let listed: BTreeSet<&str> = texts
        .iter()
        .flat_map(|(_, t)| t.split("keys: ").skip(1))
        .map(|rest| {
            rest.split(|c: char| c != '_' && !c.is_ascii_alphanumeric())
                .next()
                .unwrap()
        })
        .collect();
    let mut bad = Vec::new();
    for (file, text) in &texts {
        for (at, _) in text.match_indices(".finish(") {
            let line = text[..at].lines().count();
            // The list: what comes before the `diags` argument.
            let rest = &text[at + ".finish(".len()..];
            let arg = rest[..rest.find("diags").unwrap_or(rest.len())]
                .trim_end()
                .trim_end_matches("&mut")
                .trim_end()
                .trim_end_matches(',')
                .trim();
            // The top level: checked against `stack`, `moved` and the kinds' names, which
            // the test above compares with the reference's paths.
            if file.ends_with("lower.rs") && arg == "&kinds" {
                continue;
            }
            let named = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c == '_' || c.is_ascii_uppercase() || c.is_ascii_digit());
            if !named || !listed.contains(arg) {
                bad.push(format!(
                    "{file}:{line}: `finish({arg}, ..)`: give it a named constant listed in a \
                     `TableKeys` of `KindInfo::tables` (or of `reference()` in lower.rs)"
                ));
            }
        }
    }
    assert!(bad.is_empty(), "\n{}\n", bad.join("\n"));
}

//! The stack file's JSON Schema (`livestack schema`), checked with a real JSON Schema validator:
//! the examples (as taplo reads a TOML file: its JSON form) are valid, what `validate` refuses
//! for its shape is invalid, and every table and key of the model is in it.

use std::path::Path;

use serde_json::Value as Json;

fn as_json(toml_text: &str) -> Json {
    let v: toml::Value = toml::from_str(toml_text).expect("TOML");
    serde_json::to_value(v).expect("JSON")
}

fn validator() -> jsonschema::Validator {
    let schema = livestack_model::schema();
    jsonschema::draft202012::new(&schema).expect("the schema is a valid JSON Schema")
}

fn errors(v: &jsonschema::Validator, stack: &Json) -> Vec<String> {
    v.iter_errors(stack)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn the_examples_are_valid_against_the_schema() {
    let v = validator();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        livestack_model::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        let errs = errors(&v, &as_json(&text));
        assert!(errs.is_empty(), "{}: {errs:#?}", path.display());
        seen += 1;
    }
    assert!(seen >= 4, "the four examples");
}

#[test]
fn shapes_validate_refuses_are_refused_by_the_schema_too() {
    let v = validator();
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/s3-loop.toml"),
    )
    .unwrap();
    let cases = [
        // An unknown key (a typo).
        (
            "[medialive_channel.imday]",
            "[medialive_channel.imday]\nclas = \"standard\"",
        ),
        // An enum value in the wrong case.
        ("class = \"standard\"", "class = \"STANDARD\""),
        // A wrong type.
        ("running = true", "running = \"yes\""),
        // An unknown kind.
        (
            "[stack]",
            "[medialive_multiplex.m]\nname = \"m\"\n\n[stack]",
        ),
    ];
    for (from, to) in cases {
        assert!(base.contains(from), "{from}");
        let text = base.replacen(from, to, 1);
        assert!(
            livestack_model::parse(Path::new("case.toml"), &text).is_err(),
            "validate accepts {to}"
        );
        assert!(
            !errors(&v, &as_json(&text)).is_empty(),
            "the schema accepts {to}"
        );
    }
}

#[test]
fn every_table_and_key_of_the_model_is_in_the_schema_with_a_description() {
    let schema = livestack_model::schema();
    let mut missing = Vec::new();
    // Walks the schema to the table at a reference path such as
    // `medialive_channel.<label>.inputs[].failover`.
    for t in livestack_model::reference() {
        let mut node = &schema;
        for part in t.path.split('.') {
            let (name, array) = match part.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (part, false),
            };
            if name == "<label>" || name == "<name>" {
                node = &node["additionalProperties"];
                continue;
            }
            node = &node["properties"][name];
            if array {
                node = &node["items"];
            }
        }
        for key in t.keys {
            let k = &node["properties"][*key];
            if k.is_null() || k["description"].as_str().is_none_or(str::is_empty) {
                missing.push(format!("{}: {key}", t.path));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

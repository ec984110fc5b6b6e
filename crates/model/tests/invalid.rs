//! Each file under `tests/invalid/` must fail validation with the located messages in its
//! `.expected` file (refresh with `UPDATE_EXPECT=1`), and the examples must pass.

use std::path::Path;

use expect_test::expect_file;

#[test]
fn invalid_stack_files_report_every_problem_located() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let shown = Path::new("tests/invalid").join(f.file_name().unwrap());
        let err = livestack_model::parse(&shown, &text).expect_err("invalid stack accepted");
        expect_file![f.with_extension("expected")].assert_eq(&format!("{err}\n"));
    }
}

#[test]
fn the_examples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for name in [
        "s3-loop.toml",
        "laptop-rtmp.toml",
        "s3-loop-facebook.toml",
        "european-broadcast.toml",
    ] {
        let stack = livestack_model::load(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!stack.resources.is_empty());
    }
}

#[test]
fn section_three_is_section_one_single_pipeline_with_facebook() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let one = livestack_model::load(&dir.join("s3-loop.toml")).unwrap();
    let three = livestack_model::load(&dir.join("s3-loop-facebook.toml")).unwrap();
    let addr = |s: &livestack_model::ValidatedStack| {
        s.resources
            .iter()
            .map(|r| r.address.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(addr(&one), addr(&three));
    let ch = livestack_model::Address::parse("medialive_channel.imday").unwrap();
    assert_eq!(one.get(&ch).unwrap().spec["ChannelClass"], "STANDARD");
    assert_eq!(
        three.get(&ch).unwrap().spec["ChannelClass"],
        "SINGLE_PIPELINE"
    );
    let groups = &three.get(&ch).unwrap().spec["EncoderSettings"]["OutputGroups"];
    assert_eq!(groups[1]["Name"], "facebook");
    // The stream key is a placeholder, never a value.
    let dests = serde_json::to_string(&three.get(&ch).unwrap().spec["Destinations"]).unwrap();
    assert!(dests.contains(r#"{"$secret":{"env":"FACEBOOK_STREAM_KEY"}}"#));
}

#[test]
fn moved_entries_follow_chains_to_a_declared_resource() {
    let text = r#"
[stack]
name = "chain"

[mediapackage_channel.c]
id = "c"

[[moved]]
from = "mediapackage_channel.a"
to = "mediapackage_channel.b"

[[moved]]
from = "mediapackage_channel.b"
to = "mediapackage_channel.c"
"#;
    let stack =
        livestack_model::parse(Path::new("chain.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    let a = livestack_model::Address::parse("mediapackage_channel.a").unwrap();
    let c = livestack_model::Address::parse("mediapackage_channel.c").unwrap();
    assert_eq!(stack.moved_to(&a), Some(&c));
    assert_eq!(stack.moved_to(&c), None);
    assert_eq!(stack.moved[0].location.line, 9);
}

#[test]
fn a_file_that_is_not_utf8_text_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let utf16 = dir.path().join("utf16.toml");
    let mut bytes = vec![0xFF, 0xFE];
    for u in "[stack]\nname = \"x\"\n".encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    std::fs::write(&utf16, bytes).unwrap();
    let e = livestack_model::load(&utf16).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: not a stack file: it is UTF-16 text; save it as UTF-8 (TOML files are UTF-8)",
            utf16.display()
        )
    );
    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(&latin1, b"[stack]\nname = \"caf\xe9\"\n").unwrap();
    let e = livestack_model::load(&latin1).unwrap_err().to_string();
    assert!(
        e.ends_with("not a stack file: invalid UTF-8 at byte 19; TOML files are UTF-8"),
        "{e}"
    );
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, b"\x7fELF\x00\x00\xff").unwrap();
    let e = livestack_model::load(&binary).unwrap_err().to_string();
    assert!(e.contains("it looks binary"), "{e}");
    let missing = dir.path().join("missing.toml");
    let e = livestack_model::load(&missing).unwrap_err().to_string();
    assert!(e.contains("cannot read stack file: No such file"), "{e}");
}

#[test]
fn more_than_fifty_tags_are_refused_where_they_are_written() {
    let tags: Vec<String> = (0..49).map(|i| format!("t{i} = \"v\"")).collect();
    let text = format!(
        "[stack]\nname = \"tags\"\ntags = {{ {} }}\n\n[mediapackage_channel.mp]\nid = \"mp\"\n",
        tags.join(", ")
    );
    let e = livestack_model::parse(Path::new("tags.toml"), &text)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "tags.toml:5:23: error: mediapackage_channel.mp carries 51 tags (the stack's, its own and livestack's two); AWS allows 50 (hint: remove tags from [stack] tags or from the resource)"
    );
}

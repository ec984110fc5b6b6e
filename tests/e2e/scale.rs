//! Many copies of section 1 in one stack: a no-op plan reads each resource at most once, in
//! bulk where AWS lists a kind whole, and never reads a secret one call at a time.

use std::collections::BTreeMap;

use crate::harness::World;

const COPIES: usize = 8;

/// `COPIES` copies of section 1 behind one role: 6 resources a copy (a MediaPackage channel,
/// its endpoint, an input, a channel, the two SSM parameters that keep the ingest passwords).
fn copies_text() -> String {
    let mut t = String::from(
        "[stack]\nname = \"many\"\nregion = \"us-east-1\"\n\n[iam_role.medialive]\nname = \"ManyRole\"\npreset = \"medialive-access\"\n",
    );
    for i in 0..COPIES {
        t.push_str(&format!(
            r#"
[mediapackage_channel.mp-{i}]
id = "many-mp-{i}"

[mediapackage_endpoint.hls-{i}]
id = "many-hls-{i}"
channel = "mediapackage_channel.mp-{i}"
packaging = "hls"

[medialive_input.in-{i}]
name = "many-in-{i}"
type = "url_pull"
sources = ["https://example.com/{i}/a.m3u8", "https://example.com/{i}/b.m3u8"]

[medialive_channel.ch-{i}]
name = "many-ch-{i}"
class = "standard"
role = "iam_role.medialive"
inputs = [{{ input = "medialive_input.in-{i}", source_end_behavior = "loop" }}]
output_groups = [{{ name = "hls", type = "hls", destination = "mediapackage_channel.mp-{i}", ladder = "720p" }}]
"#
        ));
    }
    t
}

#[test]
fn a_no_op_plan_reads_each_resource_at_most_once_and_lists_in_bulk() {
    let w = World::new("scale-reads");
    let stack = w.dir.join("many.toml");
    std::fs::write(&stack, copies_text()).unwrap();
    let stack = stack.to_str().unwrap().to_string();
    w.run(&["apply", &stack, "--auto-approve"]).expect(0);
    let resources = w.state().0["resources"].as_object().unwrap().len();
    assert_eq!(resources, 1 + 6 * COPIES);

    let before = w.requests().len();
    w.run(&["plan", &stack, "--detailed-exitcode"]).expect(0);
    let mut calls: BTreeMap<String, usize> = BTreeMap::new();
    for r in w.requests().into_iter().skip(before) {
        *calls
            .entry(format!("{} {}", r.service, r.operation))
            .or_default() += 1;
    }
    let n = |call: &str| calls.get(call).copied().unwrap_or(0);
    let total: usize = calls.values().sum();
    // One DescribeChannel per MediaLive channel (its list lacks EncoderSettings), one tag
    // read per parameter (SSM lists no tags); every other kind from its List call.
    assert_eq!(n("medialive DescribeChannel"), COPIES, "{calls:#?}");
    assert_eq!(n("ssm ListTagsForResource"), 2 * COPIES, "{calls:#?}");
    for one_by_one in [
        "medialive DescribeInput",
        "mediapackage DescribeChannel",
        "mediapackage DescribeOriginEndpoint",
    ] {
        assert_eq!(n(one_by_one), 0, "{one_by_one}: {calls:#?}");
    }
    // One GetParameter: the stack's hash key (no parameter of the stack is read alone).
    assert_eq!(n("ssm GetParameter"), 1, "{calls:#?}");
    // At most one call per resource, plus the list pages and the role's few reads.
    assert!(
        total <= resources + 16,
        "{total} calls for {resources} resources: {calls:#?}"
    );
}

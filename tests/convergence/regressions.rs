//! Minimal failing sequences the generator found, kept as named tests: each is a script
//! (out-of-band changes, then the stack file applied) run with the suite's checks.

use livestack_model::Kind;

use crate::oob::Oob;
use crate::run::{run, Script, StateAt};

/// The `[stack]` table and the role every stack here has.
const HEAD: &str = r#"[stack]
name = "conv"
region = "us-east-1"

[iam_role.medialive]
name = "conv-role"
preset = "medialive-access"
"#;

/// A stack with one channel `label` reading one url_pull input with `sources` sources.
fn one_channel(label: &str, class: &str, running: bool, sources: &[&str]) -> String {
    format!(
        r#"{HEAD}
[medialive_input.in-a]
name = "in-a"
type = "url_pull"
sources = {sources:?}

[medialive_channel.{label}]
name = "main"
class = "{class}"
role = "iam_role.medialive"
running = {running}

[[medialive_channel.{label}.inputs]]
input = "medialive_input.in-a"
source_end_behavior = "loop"

[[medialive_channel.{label}.output_groups]]
name = "rtmp0"
type = "rtmp"
url = "rtmp://live.example.com/app"
backup_url = "rtmp://backup.example.com/app"
stream_key = {{ env = "CONV_KEY_A" }}
video = {{ width = 1280, height = 720, codec = "h264", bitrate = 3000000 }}
"#
    )
}

/// A single-pipeline channel sending HLS to MediaPackage channel `mp-a` (endpoint `ep-a`).
fn hls_stack() -> String {
    hls_stack_at("mp-a")
}

/// [`hls_stack`] with the MediaPackage channel (id `mp-a`) declared at label `mp`.
fn hls_stack_at(mp: &str) -> String {
    format!(
        r#"{}
[medialive_input.in-a]
name = "in-a"
type = "url_pull"
sources = ["https://example.com/vod/a.m3u8"]

[medialive_channel.main]
name = "main"
class = "single_pipeline"
role = "iam_role.medialive"

[[medialive_channel.main.inputs]]
input = "medialive_input.in-a"

[[medialive_channel.main.output_groups]]
name = "hls"
type = "hls"
destination = "mediapackage_channel.{mp}"
ladder = "720p"
"#,
        mp_with_endpoint(mp)
    )
}

const A: &str = "https://example.com/vod/a.m3u8";
const B: &str = "https://example.com/vod/b.m3u8";

/// Applies each stack after its out-of-band changes, then destroys, with the suite's checks.
#[track_caller]
fn converges(applies: Vec<(Vec<Oob>, String)>, name: &str) {
    converges_then_destroy(applies, vec![], name);
}

#[track_caller]
fn converges_then_destroy(applies: Vec<(Vec<Oob>, String)>, before_destroy: Vec<Oob>, name: &str) {
    let script = Script {
        applies,
        before_destroy,
        ..Script::default()
    };
    if let Err(e) = run(&script, name) {
        panic!("{e}");
    }
}

/// Findings #1: the plan renames nothing, so `main` is deleted and `news` created in one
/// wave; CreateChannel fails with "input ... is already attached to channel ...".
#[test]
fn renaming_a_channel_label_releases_its_input_before_the_new_channel_is_created() {
    converges(
        vec![
            (vec![], one_channel("main", "standard", false, &[A, B])),
            (vec![], one_channel("news", "standard", false, &[A, B])),
        ],
        "regression-rename-channel",
    );
}

/// Findings #2: SINGLE_PIPELINE -> STANDARD with the input replaced by a two-source one:
/// update_class runs before the update that attaches the new input, and MediaLive refuses
/// a STANDARD channel with a SINGLE_PIPELINE input.
#[test]
fn a_class_change_to_standard_attaches_the_new_standard_input_before_update_class() {
    converges(
        vec![
            (vec![], one_channel("main", "single_pipeline", true, &[A])),
            (vec![], one_channel("main", "standard", true, &[A, B])),
        ],
        "regression-class-up-with-new-input",
    );
}

/// Findings #3: running = false and the input's source changed in one edit: the plan's
/// stop and input update wait on each other (a cycle), and apply exits 0 having done
/// nothing; the next plan shows the same changes again.
#[test]
fn stopping_a_channel_while_its_input_changes_does_not_make_a_step_cycle() {
    converges(
        vec![
            (vec![], one_channel("main", "single_pipeline", true, &[A])),
            (vec![], one_channel("main", "single_pipeline", false, &[B])),
        ],
        "regression-stop-and-input-edit",
    );
}

/// Soak (seed 777, sequence 29): the channel removed from the stack and its input edited in
/// one apply; the input's UpdateInput ran while the channel was DELETING and MediaLive
/// refused it (an attached input is edited only while its channel is IDLE).
#[test]
fn an_input_edited_while_its_channel_is_deleted_waits_for_the_delete() {
    let input_only = format!(
        "{HEAD}\n[medialive_input.in-a]\nname = \"in-a\"\ntype = \"url_pull\"\nsources = {:?}\n",
        [B]
    );
    converges(
        vec![
            (vec![], one_channel("main", "single_pipeline", false, &[A])),
            (vec![], input_only),
        ],
        "regression-input-edit-channel-delete",
    );
}

/// Out-of-band changes the engine already copes with stay covered by name.
#[test]
fn a_channel_stopped_out_of_band_is_started_again() {
    converges(
        vec![
            (vec![], one_channel("main", "single_pipeline", true, &[A])),
            (
                vec![Oob::StopChannel { which: 0 }],
                one_channel("main", "single_pipeline", true, &[A]),
            ),
        ],
        "regression-oob-stop",
    );
}

/// Findings #4: the MediaPackage channel deleted out of band (its endpoint first, as AWS
/// insists): plan fails for good resolving the SSM parameter's ingest password from the
/// missing channel, instead of planning to create it, its endpoint and parameters again.
#[test]
fn a_mediapackage_channel_deleted_out_of_band_is_created_again_with_its_parameters() {
    let stack = hls_stack();
    converges(
        vec![
            (vec![], stack.clone()),
            (
                vec![Oob::Delete {
                    which: 0,
                    only: Some(Kind::MediapackageChannel),
                }],
                stack.to_string(),
            ),
        ],
        "regression-oob-mp-delete",
    );
}

/// The ingest password rotated on MediaPackage (RotateIngestEndpointCredentials) reaches
/// the SSM parameter the channel reads.
#[test]
fn a_rotated_ingest_password_reaches_the_ssm_parameter() {
    converges(
        vec![
            (vec![], hls_stack()),
            (
                vec![Oob::RotateIngestPassword {
                    which: 0,
                    endpoint: 0,
                }],
                hls_stack(),
            ),
        ],
        "regression-oob-rotate",
    );
}

/// Findings #5: a MediaPackage channel's label renamed (no `moved`) while a channel sends HLS
/// to it: the new copy reuses the id, so the old one is deleted first, after its SSM
/// parameters, after the channel's update, which waits on the new copy: a cycle; apply
/// exits 0 having done nothing and the next plan shows it all again.
#[test]
fn renaming_a_mediapackage_channel_label_that_a_channel_sends_to_does_not_make_a_step_cycle() {
    converges(
        vec![
            (vec![], hls_stack_at("mp-a")),
            (vec![], hls_stack_at("mp-b")),
        ],
        "regression-rename-mp-channel",
    );
}

/// A state restored from its `.bak` that names a channel deleted since, while the channel
/// created in its place (with the stack's tags) is live: adopted, not created twice.
#[test]
fn a_restored_backup_naming_a_deleted_channel_adopts_the_live_one() {
    let stack = one_channel("main", "single_pipeline", false, &[A]);
    converges(
        vec![
            (vec![], stack.clone()),
            (
                vec![Oob::Delete {
                    which: 0,
                    only: Some(Kind::MedialiveChannel),
                }],
                stack.clone(),
            ),
            (vec![Oob::RestoreBackup], stack),
        ],
        "regression-stale-backup",
    );
}

/// Two channels: `first` reads input in-a, `second` (when given) reads in-b.
fn two_channels(first: &str, second: Option<&str>, moved: Option<(&str, &str)>) -> String {
    let mut s = one_channel(first, "single_pipeline", true, &[A]);
    s.push_str("\n[medialive_input.in-b]\nname = \"in-b\"\ntype = \"url_pull\"\n");
    s.push_str(&format!("sources = [\"{B}\"]\n"));
    if let Some(label) = second {
        let other = one_channel(label, "single_pipeline", true, &[B]);
        let at = other
            .find(&format!("[medialive_channel.{label}]"))
            .expect("channel");
        s.push('\n');
        s.push_str(
            &other[at..]
                .replace("in-a", "in-b")
                .replace("name = \"main\"", "name = \"second\""),
        );
    }
    if let Some((from, to)) = moved {
        s.push_str(&format!(
            "\n[[moved]]\nfrom = \"medialive_channel.{from}\"\nto = \"medialive_channel.{to}\"\n"
        ));
    }
    s
}

/// A label freed by a `[[moved]]` rename and then given to a new resource (the entry dropped,
/// as the model requires): the renamed channel must not still carry the label's address.
#[test]
fn a_label_freed_by_moved_and_reused_is_not_carried_by_two_resources() {
    converges(
        vec![
            (vec![], two_channels("main", None, None)),
            (vec![], two_channels("news", None, Some(("main", "news")))),
            (vec![], two_channels("news", Some("main"), None)),
        ],
        "regression-moved-label-reused",
    );
}

/// A `[[moved]]` rename, then the state lost: the renamed channel is adopted at its new
/// address, not deleted and created again.
#[test]
fn a_moved_channel_is_adopted_at_its_new_address_after_the_state_is_lost() {
    converges(
        vec![
            (vec![], two_channels("main", None, None)),
            (vec![], two_channels("news", None, Some(("main", "news")))),
            (
                vec![Oob::DeleteState],
                two_channels("news", None, Some(("main", "news"))),
            ),
        ],
        "regression-moved-state-lost",
    );
}

/// destroy without a state file: what the stack owns is found by its ownership tags.
#[test]
fn destroy_without_a_state_deletes_what_carries_the_stacks_tags() {
    converges_then_destroy(
        vec![(vec![], hls_stack())],
        vec![Oob::DeleteState],
        "regression-destroy-lost-state",
    );
}

/// destroy after part of the stack was deleted out of band deletes the rest.
#[test]
fn destroy_after_an_out_of_band_delete_deletes_the_rest() {
    converges_then_destroy(
        vec![(vec![], hls_stack())],
        vec![Oob::Delete {
            which: 0,
            only: Some(Kind::MediapackageChannel),
        }],
        "regression-destroy-after-oob-delete",
    );
}

/// MediaPackage channel (id `mp-a`) at label `mp` with one HLS endpoint, nothing else.
fn mp_with_endpoint(mp: &str) -> String {
    format!(
        r#"{HEAD}
[mediapackage_channel.{mp}]
id = "mp-a"

[mediapackage_endpoint.ep-a]
id = "ep-a"
channel = "mediapackage_channel.{mp}"
packaging = "hls"
"#
    )
}

/// Findings #6: a MediaPackage channel's label renamed (no `moved`) while it has an
/// endpoint: the plan deletes the old channel first (the new copy reuses its id) but leaves
/// the endpoint alone (its ChannelId is unchanged), and MediaPackage refuses to delete a
/// channel that has endpoints.
#[test]
fn renaming_a_mediapackage_channel_label_replaces_its_endpoints_around_it() {
    converges(
        vec![
            (vec![], mp_with_endpoint("mp-a")),
            (vec![], mp_with_endpoint("mp-b")),
        ],
        "regression-rename-mp-with-endpoint",
    );
}

/// The role and one MediaPackage channel `label` with id `mp-1`.
fn one_mp_channel(label: &str) -> String {
    format!(
        "[stack]\nname = \"conv\"\nregion = \"us-east-1\"\n\n[iam_role.medialive]\nname = \"conv-role\"\npreset = \"medialive-access\"\n\n[mediapackage_channel.{label}]\nid = \"mp-1\"\n"
    )
}

/// Seed 3030, sequence 38: a MediaPackage channel's label renamed without `[[moved]]` (the
/// channel deleted and made again under the same id and the new label's tags), then the
/// state restored from its `.bak`, which still names the old label: the live channel was
/// adopted under the new label and deleted under the old one.
#[test]
fn a_restored_backup_naming_a_renamed_label_leaves_the_resource_to_its_new_label() {
    converges(
        vec![
            (vec![], one_mp_channel("mp-a")),
            (vec![], one_mp_channel("mp-b")),
            (vec![Oob::RestoreBackup], one_mp_channel("mp-b")),
        ],
        "regression-backup-before-rename",
    );
}

/// LIVESTACK BUG found by the suite's S3 histories (seed 290937540, sequences 9 and 11): a
/// truncated state object in a versioned bucket was refused with "restore it from
/// s3://.../conv.json.bak", an object livestack never writes to a versioned bucket
/// (`crates/state/src/store.rs`, `remote_folded`, reused the file's advice); it now points
/// at the object's earlier versions, and at the `.bak` object only without versioning. The
/// user then puts the previous version (or the `.bak`) back and the next apply converges.
#[test]
fn a_corrupt_state_object_points_at_the_backup_its_bucket_keeps() {
    for (state, name) in [
        (
            StateAt::S3 {
                versioned: true,
                in_stack_file: false,
            },
            "regression-s3-corrupt-versioned",
        ),
        (
            StateAt::S3 {
                versioned: false,
                in_stack_file: true,
            },
            "regression-s3-corrupt-bak",
        ),
    ] {
        let script = Script {
            state,
            applies: vec![
                (vec![], hls_stack()),
                (vec![Oob::CorruptState], hls_stack()),
            ],
            before_destroy: vec![Oob::RestoreBackup],
        };
        if let Err(e) = run(&script, name) {
            panic!("{state:?}: {e}");
        }
    }
}

//! Minimal failing sequences the generator found, kept as named tests: each is a script
//! (out-of-band changes, then the stack file applied) run with the suite's checks.

use livestack_model::Kind;

use crate::oob::Oob;
use crate::run::{run, Script};

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
    format!(
        r#"{HEAD}
[mediapackage_channel.mp-a]
id = "mp-a"

[mediapackage_endpoint.ep-a]
id = "ep-a"
channel = "mediapackage_channel.mp-a"
packaging = "hls"

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
destination = "mediapackage_channel.mp-a"
ladder = "720p"
"#
    )
}

const A: &str = "https://example.com/vod/a.m3u8";
const B: &str = "https://example.com/vod/b.m3u8";

#[track_caller]
fn converges(script: Script, name: &str) {
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

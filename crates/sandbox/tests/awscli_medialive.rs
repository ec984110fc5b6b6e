//! Conformance with a client nobody here wrote: the AWS CLI (botocore's own MediaLive model)
//! drives the sandbox through create, describe, list, update, start, stop, re-class and
//! delete, and the answers and error codes are checked.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use livestack_sandbox::{start, Config};
use serde_json::{json, Value};

/// The CLI runs as a blocking child process, so the sandbox needs a second worker thread.
/// Speed 200: a channel starts in 0.3 s, and a deleted channel stays DELETED for 18 s,
/// long enough for the (slow) CLI to see it.
async fn sandbox() -> livestack_sandbox::Running {
    start(Config {
        speed: 200.0,
        ..Config::default()
    })
    .await
    .expect("sandbox starts")
}

struct Cli {
    path: PathBuf,
    endpoint: String,
}

impl Cli {
    /// A successful `aws medialive ...`, as JSON.
    fn ok(&self, args: &[&str]) -> Value {
        let out = common::aws(&self.path, &self.endpoint, &with_service(args));
        assert!(out.ok, "aws medialive {args:?} failed: {}", out.stderr);
        out.json()
    }

    /// A failing `aws medialive ...`; returns stderr, which names the error code.
    fn fails(&self, args: &[&str]) -> String {
        let out = common::aws(&self.path, &self.endpoint, &with_service(args));
        assert!(
            !out.ok,
            "aws medialive {args:?} should have failed: {}",
            out.stdout
        );
        out.stderr
    }

    /// Polls describe-channel until the state is reached (bounded).
    fn wait_channel(&self, id: &str, state: &str) -> Value {
        self.wait(&["describe-channel", "--channel-id", id], state)
    }

    fn wait_input(&self, id: &str, state: &str) -> Value {
        self.wait(&["describe-input", "--input-id", id], state)
    }

    /// Polls until the state is reached (the deadline guards against a hang, it bounds no
    /// duration). DELETED is waited for only after a delete that succeeded, so "not found"
    /// then counts as reached: the sandbox forgets a DELETED resource an hour of AWS time
    /// later (18 s at speed 200), which one CLI call on a loaded machine can outlast.
    fn wait(&self, args: &[&str], state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let out = common::aws(&self.path, &self.endpoint, &with_service(args));
            if !out.ok && state == "DELETED" && out.stderr.contains("NotFoundException") {
                return Value::Null;
            }
            assert!(out.ok, "aws medialive {args:?} failed: {}", out.stderr);
            let out = out.json();
            if out["State"] == state {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "{args:?} stuck in {}, waiting for {state}",
                out["State"]
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn with_service<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["medialive"];
    all.extend_from_slice(args);
    all
}

/// A CreateChannel request in the CLI's (botocore's) PascalCase member names.
fn channel_request(input: &str, settings: usize) -> String {
    let settings: Vec<Value> = (1..=settings)
        .map(|p| {
            json!({
                "Url": format!("https://mediapackage.example/in/v2/abc/abc/channel{}", if p == 1 { "" } else { "_2" }),
                "Username": format!("user{p}"),
                "PasswordParam": format!("/livestack/demo/ingest{p}"),
            })
        })
        .collect();
    json!({
        "Name": "demo",
        "ChannelClass": "STANDARD",
        "RoleArn": "arn:aws:iam::123456789012:role/MediaLiveAccessRole",
        "InputAttachments": [{ "InputId": input, "InputAttachmentName": "studio" }],
        "Destinations": [{ "Id": "hls-out", "Settings": settings }],
        "Tags": { "stack": "demo" },
        "EncoderSettings": {
            "TimecodeConfig": { "Source": "SYSTEMCLOCK" },
            "AudioDescriptions": [{
                "Name": "audio_aac",
                "AudioSelectorName": "default",
                "CodecSettings": { "AacSettings": { "Bitrate": 128000, "SampleRate": 48000 } }
            }],
            "VideoDescriptions": [{
                "Name": "video_720p",
                "Width": 1280,
                "Height": 720,
                "CodecSettings": { "H264Settings": {
                    "Bitrate": 3000000,
                    "RateControlMode": "CBR",
                    "FramerateControl": "SPECIFIED",
                    "FramerateNumerator": 30,
                    "FramerateDenominator": 1
                } }
            }],
            "OutputGroups": [{
                "Name": "hls",
                "OutputGroupSettings": { "HlsGroupSettings": {
                    "Destination": { "DestinationRefId": "hls-out" },
                    "HlsCdnSettings": { "HlsWebdavSettings": { "HttpTransferMode": "NON_CHUNKED" } },
                    "SegmentLength": 6
                } },
                "Outputs": [{
                    "OutputName": "720p",
                    "VideoDescriptionName": "video_720p",
                    "AudioDescriptionNames": ["audio_aac"],
                    "OutputSettings": { "HlsOutputSettings": {
                        "NameModifier": "_720p",
                        "HlsSettings": { "StandardHlsSettings": { "M3u8Settings": {} } }
                    } }
                }]
            }]
        }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_drives_medialive_through_its_lifecycle() {
    let Some(path) = common::aws_cli() else {
        return;
    };
    let sandbox = sandbox().await;
    let cli = Cli {
        path,
        endpoint: sandbox.endpoint_url(),
    };

    // Security group and RTMP push input.
    let group = cli.ok(&[
        "create-input-security-group",
        "--whitelist-rules",
        "Cidr=10.0.0.0/16",
    ]);
    let group_id = group["SecurityGroup"]["Id"].as_str().unwrap().to_string();
    assert_eq!(group["SecurityGroup"]["State"], "IDLE");
    assert_eq!(
        group["SecurityGroup"]["WhitelistRules"][0]["Cidr"],
        "10.0.0.0/16"
    );
    let stderr = cli.fails(&[
        "create-input",
        "--name",
        "nogroup",
        "--type",
        "RTMP_PUSH",
        "--destinations",
        "StreamName=live/a",
    ]);
    assert!(stderr.contains("BadRequestException"), "{stderr}");

    let input = cli.ok(&[
        "create-input",
        "--name",
        "studio",
        "--type",
        "RTMP_PUSH",
        "--destinations",
        "StreamName=live/a",
        "StreamName=live/b",
        "--input-security-groups",
        &group_id,
    ]);
    let input = &input["Input"];
    let input_id = input["Id"].as_str().unwrap().to_string();
    assert_eq!(input["InputClass"], "STANDARD");
    assert_eq!(input["Type"], "RTMP_PUSH");
    let url = input["Destinations"][0]["Url"].as_str().unwrap();
    assert!(
        url.starts_with("rtmp://") && url.ends_with(":1935/live/a"),
        "{url}"
    );
    let described = cli.ok(&["describe-input", "--input-id", &input_id]);
    assert_eq!(described["State"], "DETACHED");
    assert_eq!(
        described["Arn"],
        format!("arn:aws:medialive:us-east-1:123456789012:input:{input_id}")
    );
    let listed = cli.ok(&["list-inputs"]);
    assert_eq!(listed["Inputs"].as_array().unwrap().len(), 1);
    let renamed = cli.ok(&[
        "update-input",
        "--input-id",
        &input_id,
        "--name",
        "studio-a",
    ]);
    assert_eq!(renamed["Input"]["Name"], "studio-a");
    assert_eq!(renamed["Input"]["Destinations"][0]["Url"], url);

    // A STANDARD channel with one setting per destination is refused with a 422.
    let stderr = cli.fails(&[
        "create-channel",
        "--cli-input-json",
        &channel_request(&input_id, 1),
    ]);
    assert!(stderr.contains("UnprocessableEntityException"), "{stderr}");
    assert!(stderr.contains("destinations[0].settings"), "{stderr}");

    let created = cli.ok(&[
        "create-channel",
        "--cli-input-json",
        &channel_request(&input_id, 2),
    ]);
    let channel = &created["Channel"];
    let channel_id = channel["Id"].as_str().unwrap().to_string();
    assert_eq!(channel["State"], "CREATING");
    assert_eq!(channel["ChannelClass"], "STANDARD");
    assert_eq!(channel["LogLevel"], "DISABLED");
    assert_eq!(channel["Tags"]["stack"], "demo");
    assert_eq!(
        channel["EncoderSettings"]["OutputGroups"][0]["OutputGroupSettings"]["HlsGroupSettings"]
            ["HlsCdnSettings"]["HlsWebdavSettings"]["HttpTransferMode"],
        "NON_CHUNKED"
    );
    let arn = channel["Arn"].as_str().unwrap().to_string();
    assert_eq!(
        arn,
        format!("arn:aws:medialive:us-east-1:123456789012:channel:{channel_id}")
    );
    cli.wait_channel(&channel_id, "IDLE");
    let listed = cli.ok(&["list-channels"]);
    assert_eq!(listed["Channels"].as_array().unwrap().len(), 1);
    assert_eq!(listed["Channels"][0]["Id"], channel_id.as_str());
    let attached = cli.ok(&["describe-input", "--input-id", &input_id]);
    assert_eq!(attached["State"], "ATTACHED");
    assert_eq!(attached["AttachedChannels"], json!([channel_id]));
    let stderr = cli.fails(&["delete-input", "--input-id", &input_id]);
    assert!(stderr.contains("ConflictException"), "{stderr}");

    // Start; a running channel refuses edits; stop.
    let started = cli.ok(&["start-channel", "--channel-id", &channel_id]);
    assert_eq!(started["State"], "STARTING");
    let running = cli.wait_channel(&channel_id, "RUNNING");
    assert_eq!(running["PipelinesRunningCount"], 2);
    let stderr = cli.fails(&["update-channel", "--channel-id", &channel_id, "--name", "x"]);
    assert!(stderr.contains("ConflictException"), "{stderr}");
    let stderr = cli.fails(&["delete-channel", "--channel-id", &channel_id]);
    assert!(stderr.contains("ConflictException"), "{stderr}");
    let stopped = cli.ok(&["stop-channel", "--channel-id", &channel_id]);
    assert_eq!(stopped["State"], "STOPPING");
    cli.wait_channel(&channel_id, "IDLE");

    // UpdateChannel replaces what it is given: the left-out role is removed.
    let updated = cli.ok(&[
        "update-channel",
        "--channel-id",
        &channel_id,
        "--name",
        "renamed",
    ]);
    assert_eq!(updated["Channel"]["Name"], "renamed");
    assert_eq!(updated["Channel"]["State"], "UPDATING");
    assert!(updated["Channel"].get("RoleArn").is_none(), "{updated}");
    cli.wait_channel(&channel_id, "IDLE");

    // Down to SINGLE_PIPELINE: same id and ARN, one setting per destination left.
    let reclassed = cli.ok(&[
        "update-channel-class",
        "--channel-id",
        &channel_id,
        "--channel-class",
        "SINGLE_PIPELINE",
    ]);
    let reclassed = &reclassed["Channel"];
    assert_eq!(reclassed["Id"], channel_id.as_str());
    assert_eq!(reclassed["Arn"], arn.as_str());
    assert_eq!(reclassed["ChannelClass"], "SINGLE_PIPELINE");
    assert_eq!(
        reclassed["Destinations"][0]["Settings"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    cli.wait_channel(&channel_id, "IDLE");
    let stderr = cli.fails(&[
        "update-channel-class",
        "--channel-id",
        &channel_id,
        "--channel-class",
        "STANDARD",
    ]);
    assert!(stderr.contains("UnprocessableEntityException"), "{stderr}");

    // Tags.
    let _ = cli.ok(&[
        "create-tags",
        "--resource-arn",
        &arn,
        "--tags",
        "owner=ops,tmp=x",
    ]);
    let _ = cli.ok(&["delete-tags", "--resource-arn", &arn, "--tag-keys", "tmp"]);
    let tags = cli.ok(&["list-tags-for-resource", "--resource-arn", &arn]);
    assert_eq!(tags["Tags"], json!({ "owner": "ops", "stack": "demo" }));

    // Unknown ids.
    let stderr = cli.fails(&["describe-channel", "--channel-id", "1234567"]);
    assert!(stderr.contains("NotFoundException"), "{stderr}");
    let stderr = cli.fails(&["describe-input", "--input-id", "1234567"]);
    assert!(stderr.contains("NotFoundException"), "{stderr}");

    // Security groups: in use, updatable, paginated by the CLI.
    let _ = cli.ok(&[
        "create-input-security-group",
        "--whitelist-rules",
        "Cidr=192.0.2.0/24",
    ]);
    let groups = cli.ok(&["list-input-security-groups", "--page-size", "1"]);
    assert_eq!(groups["InputSecurityGroups"].as_array().unwrap().len(), 2);
    let updated = cli.ok(&[
        "update-input-security-group",
        "--input-security-group-id",
        &group_id,
        "--whitelist-rules",
        "Cidr=10.1.0.0/16",
        "Cidr=10.2.0.0/16",
    ]);
    assert_eq!(updated["SecurityGroup"]["State"], "IN_USE");
    assert_eq!(updated["SecurityGroup"]["Inputs"], json!([input_id]));
    assert_eq!(
        updated["SecurityGroup"]["WhitelistRules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let stderr = cli.fails(&[
        "delete-input-security-group",
        "--input-security-group-id",
        &group_id,
    ]);
    assert!(stderr.contains("ConflictException"), "{stderr}");

    // Tear down in AWS's order.
    let deleting = cli.ok(&["delete-channel", "--channel-id", &channel_id]);
    assert_eq!(deleting["State"], "DELETING");
    cli.wait_channel(&channel_id, "DELETED");
    assert!(cli.ok(&["list-channels"])["Channels"]
        .as_array()
        .unwrap()
        .is_empty());
    cli.wait_input(&input_id, "DETACHED");
    let _ = cli.ok(&["delete-input", "--input-id", &input_id]);
    cli.wait_input(&input_id, "DELETED");
    let _ = cli.ok(&[
        "delete-input-security-group",
        "--input-security-group-id",
        &group_id,
    ]);
    let stderr = cli.fails(&[
        "describe-input-security-group",
        "--input-security-group-id",
        &group_id,
    ]);
    assert!(stderr.contains("NotFoundException"), "{stderr}");

    let log = sandbox.requests();
    assert!(log.iter().all(|r| r.service == "medialive"));
    assert!(log
        .iter()
        .any(|r| r.operation == "UpdateChannelClass" && r.status == 200));
    sandbox.shutdown().await;
}

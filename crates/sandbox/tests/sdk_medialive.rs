//! The real aws-sdk-medialive client against the sandbox over HTTP: every MediaLive
//! operation the sandbox serves, every rule it enforces, plus faults, persistence, the
//! request log and reset.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_medialive::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_medialive::operation::create_channel::CreateChannelError;
use aws_sdk_medialive::operation::update_channel::UpdateChannelError;
use aws_sdk_medialive::operation::update_channel_class::UpdateChannelClassError;
use aws_sdk_medialive::types::{
    AacSettings, AudioCodecSettings, AudioDescription, ChannelClass, ChannelState, EncoderSettings,
    H264FramerateControl, H264GopSizeUnits, H264RateControlMode, H264Settings, HlsCdnSettings,
    HlsGroupSettings, HlsOutputSettings, HlsSettings, HlsWebdavHttpTransferMode, HlsWebdavSettings,
    InputAttachment, InputClass, InputDestinationRequest, InputSecurityGroupState,
    InputSourceRequest, InputState, InputType, InputWhitelistRuleCidr, M3u8Settings,
    MediaPackageOutputDestinationSettings, Output, OutputDestination, OutputDestinationSettings,
    OutputGroup, OutputGroupSettings, OutputLocationRef, OutputSettings, StandardHlsSettings,
    TimecodeConfig, TimecodeConfigSource, VideoCodecSettings, VideoDescription,
};
use aws_sdk_medialive::Client;
use livestack_sandbox::{start, Config, Faults, RateLimit, Running};

// --- helpers ------------------------------------------------------------------------------

/// The MediaLive role's trust policy.
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"medialive.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

async fn client(sandbox: &Running) -> Client {
    Client::new(&common::sdk_config(&sandbox.endpoint_url()).await)
}

/// A client that retries three times with a 1 ms backoff, for the fault tests.
async fn quick_retry_client(sandbox: &Running) -> Client {
    let config = common::sdk_config(&sandbox.endpoint_url()).await;
    let conf = aws_sdk_medialive::config::Builder::from(&config)
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5)),
        )
        .build();
    Client::from_conf(conf)
}

/// The error code of a failed call; panics when the call succeeded.
fn code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
) -> String {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("error without a code: {e:?}"))
            .to_string(),
    }
}

/// A real-looking HLS (WebDAV, as to MediaPackage v1) encoder configuration.
fn hls_encoder_settings() -> EncoderSettings {
    let video = VideoDescription::builder()
        .name("video_720p")
        .width(1280)
        .height(720)
        .codec_settings(
            VideoCodecSettings::builder()
                .h264_settings(
                    H264Settings::builder()
                        .bitrate(3_000_000)
                        .rate_control_mode(H264RateControlMode::Cbr)
                        .framerate_control(H264FramerateControl::Specified)
                        .framerate_numerator(30)
                        .framerate_denominator(1)
                        .gop_size(2.0)
                        .gop_size_units(H264GopSizeUnits::Seconds)
                        .build(),
                )
                .build(),
        )
        .build();
    let audio = AudioDescription::builder()
        .name("audio_aac")
        .audio_selector_name("default")
        .codec_settings(
            AudioCodecSettings::builder()
                .aac_settings(
                    AacSettings::builder()
                        .bitrate(128_000.0)
                        .sample_rate(48_000.0)
                        .build(),
                )
                .build(),
        )
        .build();
    let group = OutputGroup::builder()
        .name("hls")
        .output_group_settings(
            OutputGroupSettings::builder()
                .hls_group_settings(
                    HlsGroupSettings::builder()
                        .destination(
                            OutputLocationRef::builder()
                                .destination_ref_id("hls-out")
                                .build(),
                        )
                        .hls_cdn_settings(
                            HlsCdnSettings::builder()
                                .hls_webdav_settings(
                                    HlsWebdavSettings::builder()
                                        .http_transfer_mode(HlsWebdavHttpTransferMode::NonChunked)
                                        .build(),
                                )
                                .build(),
                        )
                        .segment_length(6)
                        .build(),
                )
                .build(),
        )
        .outputs(
            Output::builder()
                .output_name("720p")
                .video_description_name("video_720p")
                .audio_description_names("audio_aac")
                .output_settings(
                    OutputSettings::builder()
                        .hls_output_settings(
                            HlsOutputSettings::builder()
                                .name_modifier("_720p")
                                .hls_settings(
                                    HlsSettings::builder()
                                        .standard_hls_settings(
                                            StandardHlsSettings::builder()
                                                .m3u8_settings(M3u8Settings::builder().build())
                                                .build(),
                                        )
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .build();
    EncoderSettings::builder()
        .timecode_config(
            TimecodeConfig::builder()
                .source(TimecodeConfigSource::Systemclock)
                .build(),
        )
        .audio_descriptions(audio)
        .video_descriptions(video)
        .output_groups(group)
        .build()
}

/// The HLS destination with `n` settings (one per pipeline).
fn hls_destination(n: usize) -> OutputDestination {
    let mut dest = OutputDestination::builder().id("hls-out");
    for p in 1..=n {
        dest = dest.settings(
            OutputDestinationSettings::builder()
                .url(format!(
                    "https://mediapackage.example/in/v2/abc/abc/channel{}",
                    if p == 1 { "" } else { "_2" }
                ))
                .username(format!("user{p}"))
                .password_param(format!("/livestack/demo/ingest{p}"))
                .build(),
        );
    }
    dest.build()
}

async fn create_security_group(ml: &Client) -> String {
    let out = ml
        .create_input_security_group()
        .whitelist_rules(InputWhitelistRuleCidr::builder().cidr("0.0.0.0/0").build())
        .send()
        .await
        .expect("create input security group");
    out.security_group().unwrap().id().unwrap().to_string()
}

/// An RTMP_PUSH input with one stream per pipeline (2 = STANDARD class).
async fn create_rtmp_input(ml: &Client, group: &str, pipelines: usize) -> String {
    let mut req = ml
        .create_input()
        .name("studio")
        .r#type(InputType::RtmpPush)
        .input_security_groups(group);
    for p in 0..pipelines {
        req = req.destinations(
            InputDestinationRequest::builder()
                .stream_name(format!("live/studio{p}"))
                .build(),
        );
    }
    let out = req.send().await.expect("create input");
    out.input().unwrap().id().unwrap().to_string()
}

async fn create_channel(ml: &Client, input: &str) -> String {
    let out = ml
        .create_channel()
        .name("demo")
        .channel_class(ChannelClass::Standard)
        .destinations(hls_destination(2))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(input))
        .role_arn("arn:aws:iam::123456789012:role/MediaLiveAccessRole")
        .send()
        .await
        .expect("create channel");
    out.channel().unwrap().id().unwrap().to_string()
}

fn attachment(input: &str) -> InputAttachment {
    InputAttachment::builder()
        .input_id(input)
        .input_attachment_name("studio")
        .build()
}

/// Polls DescribeChannel until the state is reached (a guard against a hang, not a bound on
/// how fast).
async fn wait_channel(ml: &Client, id: &str, state: ChannelState) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = ml.describe_channel().channel_id(id).send().await.unwrap();
        if out.state() == Some(&state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "channel {id} stuck in {:?}, waiting for {state:?}",
            out.state()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_input(ml: &Client, id: &str, state: InputState) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = ml.describe_input().input_id(id).send().await.unwrap();
        if out.state() == Some(&state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "input {id} stuck in {:?}, waiting for {state:?}",
            out.state()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `(elementPath, errorMessage)` pairs of a 422.
fn validation_errors<T: std::fmt::Debug, E: std::fmt::Debug + ProvideErrorMetadata>(
    result: Result<T, SdkError<E>>,
    unprocessable: impl Fn(&E) -> Option<&aws_sdk_medialive::types::error::UnprocessableEntityException>,
) -> Vec<(String, String)> {
    let err = result.expect_err("expected a 422");
    let service = err.as_service_error().expect("a service error");
    assert_eq!(
        service.code(),
        Some("UnprocessableEntityException"),
        "{err:?}"
    );
    let e = unprocessable(service).expect("typed UnprocessableEntityException");
    e.validation_errors()
        .iter()
        .map(|v| {
            (
                v.element_path().unwrap_or_default().to_string(),
                v.error_message().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The typed 422 inside an operation's error, for [`validation_errors`]:
/// `unprocessable!(CreateChannelError)`.
macro_rules! unprocessable {
    ($error:ident) => {
        |e| match e {
            $error::UnprocessableEntityException(u) => Some(u),
            _ => None,
        }
    };
}

// --- channels -------------------------------------------------------------------------------

#[tokio::test]
async fn channel_goes_creating_idle_starting_running_stopping_idle() {
    let sandbox = common::sandbox().await;
    assert!(sandbox.addr().ip().is_loopback(), "{}", sandbox.addr());
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;

    let created = ml
        .create_channel()
        .name("demo")
        .channel_class(ChannelClass::Standard)
        .destinations(hls_destination(2))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(&input))
        .role_arn("arn:aws:iam::123456789012:role/MediaLiveAccessRole")
        .tags("env", "test")
        .send()
        .await
        .unwrap();
    let ch = created.channel().unwrap();
    let id = ch.id().unwrap().to_string();
    assert_eq!(id.len(), 7, "MediaLive ids are 7 digits: {id}");
    assert!(id.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(
        ch.arn(),
        Some(format!("arn:aws:medialive:us-east-1:123456789012:channel:{id}").as_str())
    );
    assert_eq!(ch.state(), Some(&ChannelState::Creating));
    assert_eq!(ch.channel_class(), Some(&ChannelClass::Standard));
    assert_eq!(ch.encoder_settings(), Some(&hls_encoder_settings()));
    assert_eq!(ch.destinations(), &[hls_destination(2)]);
    assert_eq!(ch.input_attachments(), &[attachment(&input)]);
    assert_eq!(ch.log_level().map(|l| l.as_str()), Some("DISABLED"));
    assert_eq!(ch.egress_endpoints().len(), 2);
    assert_eq!(ch.pipelines_running_count(), Some(0));
    assert_eq!(
        ch.tags().unwrap().get("env").map(String::as_str),
        Some("test")
    );
    assert_eq!(
        ch.role_arn(),
        Some("arn:aws:iam::123456789012:role/MediaLiveAccessRole")
    );

    let attached = ml.describe_input().input_id(&input).send().await.unwrap();
    assert_eq!(attached.state(), Some(&InputState::Attached));
    assert_eq!(attached.attached_channels(), std::slice::from_ref(&id));

    wait_channel(&ml, &id, ChannelState::Idle).await;
    let started = ml.start_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(started.state(), Some(&ChannelState::Starting));
    assert_eq!(started.pipelines_running_count(), Some(0));
    wait_channel(&ml, &id, ChannelState::Running).await;
    let running = ml.describe_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(running.pipelines_running_count(), Some(2));
    assert_eq!(running.pipeline_details().len(), 2);

    let stopped = ml.stop_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(stopped.state(), Some(&ChannelState::Stopping));
    wait_channel(&ml, &id, ChannelState::Idle).await;
    let idle = ml.describe_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(idle.pipelines_running_count(), Some(0));
    sandbox.shutdown().await;
}

/// How long (real time) the channel took to reach `state` from `since`, polling.
async fn time_to(ml: &Client, id: &str, state: ChannelState, since: Instant) -> Duration {
    wait_channel(ml, id, state).await;
    since.elapsed()
}

/// Asserts a transition took at least the AWS duration divided by the speed (a lower bound
/// cannot race the clock: the sandbox never moves early; 2 ms for its whole-ms clock). No
/// upper bound: a loaded machine may poll late; that the transition does end is what
/// `wait_channel` checks.
fn assert_scaled(what: &str, took: Duration, aws_seconds: f64, speed: f64) {
    let expected = Duration::from_secs_f64(aws_seconds / speed);
    assert!(
        took + Duration::from_millis(2) >= expected,
        "{what} took {took:?}, less than {aws_seconds} s / {speed} = {expected:?}"
    );
}

#[tokio::test]
async fn transitions_take_aws_time_divided_by_speed() {
    // Create 4 s, start 60 s, stop 20 s, update 4 s, delete 4 s of AWS time.
    let speed = 100.0;
    let sandbox = start(Config {
        speed,
        ..Config::default()
    })
    .await
    .unwrap();
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;

    let began = Instant::now();
    let id = create_channel(&ml, &input).await;
    let took = time_to(&ml, &id, ChannelState::Idle, began).await;
    assert_scaled("CREATING -> IDLE", took, 4.0, speed);

    let began = Instant::now();
    let started = ml.start_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(started.state(), Some(&ChannelState::Starting));
    let took = time_to(&ml, &id, ChannelState::Running, began).await;
    assert_scaled("STARTING -> RUNNING", took, 60.0, speed);

    let began = Instant::now();
    ml.stop_channel().channel_id(&id).send().await.unwrap();
    let took = time_to(&ml, &id, ChannelState::Idle, began).await;
    assert_scaled("STOPPING -> IDLE", took, 20.0, speed);

    let began = Instant::now();
    ml.update_channel()
        .channel_id(&id)
        .name("renamed")
        .send()
        .await
        .unwrap();
    let took = time_to(&ml, &id, ChannelState::Idle, began).await;
    assert_scaled("UPDATING -> IDLE", took, 4.0, speed);

    let began = Instant::now();
    ml.update_channel_class()
        .channel_id(&id)
        .channel_class(ChannelClass::SinglePipeline)
        .send()
        .await
        .unwrap();
    let took = time_to(&ml, &id, ChannelState::Idle, began).await;
    assert_scaled("UPDATING (class) -> IDLE", took, 4.0, speed);

    let began = Instant::now();
    ml.delete_channel().channel_id(&id).send().await.unwrap();
    let took = time_to(&ml, &id, ChannelState::Deleted, began).await;
    assert_scaled("DELETING -> DELETED", took, 4.0, speed);
    sandbox.shutdown().await;

    // The default speed (20x) makes a channel start in about 3 s.
    assert_eq!(Config::default().speed, 20.0);
    let sandbox = start(Config::default()).await.unwrap();
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;
    let id = create_channel(&ml, &input).await;
    wait_channel(&ml, &id, ChannelState::Idle).await;
    let began = Instant::now();
    ml.start_channel().channel_id(&id).send().await.unwrap();
    let took = time_to(&ml, &id, ChannelState::Running, began).await;
    assert_scaled("a start at the default speed", took, 60.0, 20.0);
    sandbox.shutdown().await;
}

/// Tries each call that needs an IDLE channel (start, a valid full update, a re-class to
/// SINGLE_PIPELINE, delete); the error code of each, in that order.
async fn edits_needing_idle(ml: &Client, id: &str, input: &str) -> [String; 4] {
    let start = ml.start_channel().channel_id(id).send().await;
    let update = ml
        .update_channel()
        .channel_id(id)
        .name("renamed")
        .destinations(hls_destination(2))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(input))
        .send()
        .await;
    let reclass = ml
        .update_channel_class()
        .channel_id(id)
        .channel_class(ChannelClass::SinglePipeline)
        .send()
        .await;
    let delete = ml.delete_channel().channel_id(id).send().await;
    [code(start), code(update), code(reclass), code(delete)]
}

#[tokio::test]
async fn a_channel_not_idle_cannot_be_started_updated_reclassed_or_deleted() {
    // So slow that CREATING lasts 400 s: no race with the clock.
    let slow = start(Config {
        speed: 0.01,
        ..Config::default()
    })
    .await
    .unwrap();
    let ml = client(&slow).await;
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;
    let id = create_channel(&ml, &input).await;
    let creating = ml.describe_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(creating.state(), Some(&ChannelState::Creating));
    assert_eq!(
        edits_needing_idle(&ml, &id, &input).await,
        ["ConflictException"; 4],
        "start, update, re-class and delete a CREATING channel"
    );
    let still = ml.describe_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(still.name(), Some("demo"));
    assert_eq!(still.channel_class(), Some(&ChannelClass::Standard));
    slow.shutdown().await;

    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;
    let id = create_channel(&ml, &input).await;
    wait_channel(&ml, &id, ChannelState::Idle).await;
    assert_eq!(
        code(ml.stop_channel().channel_id(&id).send().await),
        "ConflictException",
        "stopping an IDLE channel"
    );
    ml.start_channel().channel_id(&id).send().await.unwrap();
    // STARTING or RUNNING by now: neither may be started again.
    assert_eq!(
        code(ml.start_channel().channel_id(&id).send().await),
        "ConflictException"
    );
    wait_channel(&ml, &id, ChannelState::Running).await;
    assert_eq!(
        edits_needing_idle(&ml, &id, &input).await,
        ["ConflictException"; 4],
        "start, update, re-class and delete a RUNNING channel"
    );
    // Only the tags change on a running channel.
    let arn = format!("arn:aws:medialive:us-east-1:123456789012:channel:{id}");
    ml.create_tags()
        .resource_arn(&arn)
        .tags("live", "yes")
        .send()
        .await
        .unwrap();
    let running = ml.describe_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(running.state(), Some(&ChannelState::Running));
    assert_eq!(running.name(), Some("demo"));
    assert_eq!(running.channel_class(), Some(&ChannelClass::Standard));
    assert_eq!(running.tags().unwrap()["live"], "yes");
    // A security group stays editable while a running channel's input uses it.
    let edited = ml
        .update_input_security_group()
        .input_security_group_id(&group)
        .whitelist_rules(
            InputWhitelistRuleCidr::builder()
                .cidr("192.0.2.0/24")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let edited = edited.security_group().unwrap();
    assert_eq!(edited.state(), Some(&InputSecurityGroupState::InUse));
    assert_eq!(edited.whitelist_rules()[0].cidr(), Some("192.0.2.0/24"));

    ml.stop_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(
        code(ml.stop_channel().channel_id(&id).send().await),
        "ConflictException",
        "stopping a STOPPING (or already IDLE) channel"
    );
    wait_channel(&ml, &id, ChannelState::Idle).await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn update_channel_replaces_what_it_is_given_and_a_left_out_role_is_removed() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let first = create_rtmp_input(&ml, &group, 2).await;
    let second = create_rtmp_input(&ml, &group, 2).await;
    let id = create_channel(&ml, &first).await;
    wait_channel(&ml, &id, ChannelState::Idle).await;

    let updated = ml
        .update_channel()
        .channel_id(&id)
        .name("renamed")
        .destinations(hls_destination(2))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(&second))
        .send()
        .await
        .unwrap();
    let ch = updated.channel().unwrap();
    assert_eq!(ch.state(), Some(&ChannelState::Updating));
    assert_eq!(ch.name(), Some("renamed"));
    assert_eq!(ch.role_arn(), None, "a roleArn left out is removed");
    assert_eq!(ch.input_attachments(), &[attachment(&second)]);
    assert_eq!(ch.id(), Some(id.as_str()));
    wait_channel(&ml, &id, ChannelState::Idle).await;

    // A name-only update keeps the members it is not given (but the role, which the model
    // says is removed when left out).
    let renamed = ml
        .update_channel()
        .channel_id(&id)
        .name("renamed-again")
        .send()
        .await
        .unwrap();
    let ch = renamed.channel().unwrap();
    assert_eq!(ch.name(), Some("renamed-again"));
    assert_eq!(ch.destinations(), &[hls_destination(2)]);
    assert_eq!(ch.encoder_settings(), Some(&hls_encoder_settings()));
    assert_eq!(ch.input_attachments(), &[attachment(&second)]);
    wait_channel(&ml, &id, ChannelState::Idle).await;

    // The input the channel no longer references is DETACHED, the new one ATTACHED.
    let old = ml.describe_input().input_id(&first).send().await.unwrap();
    assert_eq!(old.state(), Some(&InputState::Detached));
    assert!(old.attached_channels().is_empty());
    let new = ml.describe_input().input_id(&second).send().await.unwrap();
    assert_eq!(new.state(), Some(&InputState::Attached));
    assert_eq!(new.attached_channels(), std::slice::from_ref(&id));

    // A destination with one setting on a STANDARD channel is rejected by the update too.
    let bad = ml
        .update_channel()
        .channel_id(&id)
        .destinations(hls_destination(1))
        .send()
        .await;
    let errors = validation_errors(bad, unprocessable!(UpdateChannelError));
    assert_eq!(errors[0].0, "destinations[0].settings", "{errors:?}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn update_channel_class_down_drops_second_settings_and_up_needs_two() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;
    let id = create_channel(&ml, &input).await;
    let arn = format!("arn:aws:medialive:us-east-1:123456789012:channel:{id}");
    wait_channel(&ml, &id, ChannelState::Idle).await;

    let down = ml
        .update_channel_class()
        .channel_id(&id)
        .channel_class(ChannelClass::SinglePipeline)
        .send()
        .await
        .unwrap();
    let ch = down.channel().unwrap();
    assert_eq!(ch.id(), Some(id.as_str()), "the class change keeps the id");
    assert_eq!(ch.arn(), Some(arn.as_str()), "and the ARN");
    assert_eq!(ch.state(), Some(&ChannelState::Updating));
    assert_eq!(ch.channel_class(), Some(&ChannelClass::SinglePipeline));
    assert_eq!(
        ch.destinations(),
        &[hls_destination(1)],
        "pipeline 1's setting is dropped, pipeline 0's kept"
    );
    assert_eq!(ch.egress_endpoints().len(), 1);
    wait_channel(&ml, &id, ChannelState::Idle).await;
    ml.start_channel().channel_id(&id).send().await.unwrap();
    wait_channel(&ml, &id, ChannelState::Running).await;
    let running = ml.describe_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(running.pipelines_running_count(), Some(1));
    ml.stop_channel().channel_id(&id).send().await.unwrap();
    wait_channel(&ml, &id, ChannelState::Idle).await;

    // Up to STANDARD without two settings per destination: 422.
    let up = ml
        .update_channel_class()
        .channel_id(&id)
        .channel_class(ChannelClass::Standard)
        .send()
        .await;
    let errors = validation_errors(up, unprocessable!(UpdateChannelClassError));
    assert_eq!(
        errors.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        ["destinations[0].settings"]
    );
    let up = ml
        .update_channel_class()
        .channel_id(&id)
        .channel_class(ChannelClass::Standard)
        .destinations(hls_destination(2))
        .send()
        .await
        .unwrap();
    assert_eq!(up.channel().unwrap().destinations(), &[hls_destination(2)]);
    assert_eq!(up.channel().unwrap().egress_endpoints().len(), 2);
    wait_channel(&ml, &id, ChannelState::Idle).await;
    let again = ml.describe_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(again.channel_class(), Some(&ChannelClass::Standard));

    let missing_class = ml.update_channel_class().channel_id(&id).send().await;
    assert_eq!(code(missing_class), "UnprocessableEntityException");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn deleted_channel_describes_as_deleted_is_unlisted_and_detaches_its_input() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;
    let id = create_channel(&ml, &input).await;
    wait_channel(&ml, &id, ChannelState::Idle).await;

    assert_eq!(
        code(ml.delete_input().input_id(&input).send().await),
        "ConflictException",
        "an attached input cannot be deleted"
    );
    let deleting = ml.delete_channel().channel_id(&id).send().await.unwrap();
    assert_eq!(deleting.state(), Some(&ChannelState::Deleting));
    assert_eq!(deleting.id(), Some(id.as_str()));
    wait_channel(&ml, &id, ChannelState::Deleted).await;
    let listed = ml.list_channels().send().await.unwrap();
    assert!(listed.channels().is_empty(), "{listed:?}");
    assert_eq!(
        code(ml.start_channel().channel_id(&id).send().await),
        "NotFoundException"
    );

    wait_input(&ml, &input, InputState::Detached).await;
    let group_state = ml
        .describe_input_security_group()
        .input_security_group_id(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(group_state.state(), Some(&InputSecurityGroupState::InUse));
    assert_eq!(
        code(
            ml.delete_input_security_group()
                .input_security_group_id(&group)
                .send()
                .await
        ),
        "ConflictException",
        "a group used by an input cannot be deleted"
    );
    ml.delete_input().input_id(&input).send().await.unwrap();
    wait_input(&ml, &input, InputState::Deleted).await;
    assert!(ml.list_inputs().send().await.unwrap().inputs().is_empty());
    let idle_group = ml
        .describe_input_security_group()
        .input_security_group_id(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(idle_group.state(), Some(&InputSecurityGroupState::Idle));
    assert!(idle_group.inputs().is_empty());
    ml.delete_input_security_group()
        .input_security_group_id(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            ml.describe_input_security_group()
                .input_security_group_id(&group)
                .send()
                .await
        ),
        "NotFoundException"
    );
    sandbox.shutdown().await;
}

// --- validation -----------------------------------------------------------------------------

#[tokio::test]
async fn standard_channel_needs_two_settings_per_destination_except_mediapackage() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;

    let one_setting = ml
        .create_channel()
        .channel_class(ChannelClass::Standard)
        .destinations(hls_destination(1))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(&input))
        .send()
        .await;
    let errors = validation_errors(one_setting, unprocessable!(CreateChannelError));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "destinations[0].settings");
    assert!(errors[0].1.contains("2 settings"), "{errors:?}");

    // A SINGLE_PIPELINE channel takes exactly one.
    let single = ml
        .create_channel()
        .channel_class(ChannelClass::SinglePipeline)
        .destinations(hls_destination(2))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(&input))
        .send()
        .await;
    assert_eq!(
        validation_errors(single, unprocessable!(CreateChannelError))[0].0,
        "destinations[0].settings"
    );
    assert!(ml
        .list_channels()
        .send()
        .await
        .unwrap()
        .channels()
        .is_empty());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn mediapackage_destination_needs_a_visible_mediapackage_channel() {
    let sandbox = common::sandbox_with(Faults {
        consistency_ms: 600_000,
        ..Faults::default()
    })
    .await;
    let config = common::sdk_config(&sandbox.endpoint_url()).await;
    let ml = Client::new(&config);
    let mp = aws_sdk_mediapackage::Client::new(&config);
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;
    let to_mediapackage = |channel: &str| {
        OutputDestination::builder()
            .id("mp-out")
            .media_package_settings(
                MediaPackageOutputDestinationSettings::builder()
                    .channel_id(channel)
                    .build(),
            )
            .build()
    };

    let missing = ml
        .create_channel()
        .destinations(to_mediapackage("nope"))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(&input))
        .send()
        .await;
    let errors = validation_errors(missing, unprocessable!(CreateChannelError));
    assert_eq!(
        errors[0].0,
        "destinations[0].mediaPackageSettings[0].channelId"
    );

    mp.create_channel().id("demo-mp").send().await.unwrap();
    let too_soon = ml
        .create_channel()
        .destinations(to_mediapackage("demo-mp"))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(&input))
        .send()
        .await;
    assert_eq!(
        validation_errors(too_soon, unprocessable!(CreateChannelError))[0].0,
        "destinations[0].mediaPackageSettings[0].channelId",
        "a MediaPackage channel created seconds before is not yet visible to MediaLive"
    );

    common::put_faults(&sandbox.endpoint_url(), r#"{"consistency_ms": 0}"#).await;
    // One MediaPackage entry serves both pipelines of a STANDARD channel.
    let created = ml
        .create_channel()
        .channel_class(ChannelClass::Standard)
        .destinations(to_mediapackage("demo-mp"))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(&input))
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.channel().unwrap().destinations(),
        &[to_mediapackage("demo-mp")]
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn standard_channel_rejects_a_single_pipeline_input() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let single = ml
        .create_input()
        .r#type(InputType::UrlPull)
        .sources(
            InputSourceRequest::builder()
                .url("https://origin.example/live/a.m3u8")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let single = single.input().unwrap();
    assert_eq!(single.input_class(), Some(&InputClass::SinglePipeline));
    let single_id = single.id().unwrap().to_string();
    let standard = ml
        .create_input()
        .r#type(InputType::UrlPull)
        .sources(
            InputSourceRequest::builder()
                .url("https://origin.example/live/a.m3u8")
                .build(),
        )
        .sources(
            InputSourceRequest::builder()
                .url("https://origin.example/live/b.m3u8")
                .username("viewer")
                .password_param("/origin/password")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let standard = standard.input().unwrap();
    assert_eq!(standard.input_class(), Some(&InputClass::Standard));
    assert_eq!(standard.sources().len(), 2);
    assert_eq!(
        standard.sources()[1].password_param(),
        Some("/origin/password")
    );
    assert!(standard.destinations().is_empty());

    let rejected = ml
        .create_channel()
        .channel_class(ChannelClass::Standard)
        .destinations(hls_destination(2))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(&single_id))
        .send()
        .await;
    let errors = validation_errors(rejected, unprocessable!(CreateChannelError));
    assert_eq!(errors[0].0, "inputAttachments[0].inputId");
    assert!(errors[0].1.contains("SINGLE_PIPELINE"), "{errors:?}");

    // A SINGLE_PIPELINE channel may use it, but cannot become STANDARD with it.
    let single_channel = ml
        .create_channel()
        .channel_class(ChannelClass::SinglePipeline)
        .destinations(hls_destination(1))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment(&single_id))
        .send()
        .await
        .unwrap();
    let single_channel = single_channel.channel().unwrap().id().unwrap().to_string();
    wait_channel(&ml, &single_channel, ChannelState::Idle).await;
    let up = ml
        .update_channel_class()
        .channel_id(&single_channel)
        .channel_class(ChannelClass::Standard)
        .destinations(hls_destination(2))
        .send()
        .await;
    let errors = validation_errors(up, unprocessable!(UpdateChannelClassError));
    assert_eq!(errors[0].0, "inputAttachments[0].inputId", "{errors:?}");
    // An unknown input is rejected.
    let unknown = ml
        .create_channel()
        .channel_class(ChannelClass::SinglePipeline)
        .destinations(hls_destination(1))
        .encoder_settings(hls_encoder_settings())
        .input_attachments(attachment("9999999"))
        .send()
        .await;
    assert_eq!(
        validation_errors(unknown, unprocessable!(CreateChannelError))[0].0,
        "inputAttachments[0].inputId"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn missing_required_members_are_422_with_validation_errors() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let no_encoder = ml
        .create_channel()
        .name("bare")
        .destinations(hls_destination(2))
        .send()
        .await;
    assert_eq!(
        validation_errors(no_encoder, unprocessable!(CreateChannelError)),
        [("encoderSettings".to_string(), "is required".to_string())]
    );

    let partial = EncoderSettings::builder()
        .video_descriptions(VideoDescription::builder().name("v").build())
        .timecode_config(TimecodeConfig::builder().build())
        .build();
    let partial = ml
        .create_channel()
        .destinations(hls_destination(2))
        .encoder_settings(partial)
        .send()
        .await;
    let paths: Vec<String> = validation_errors(partial, unprocessable!(CreateChannelError))
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    assert_eq!(
        paths,
        [
            "encoderSettings.audioDescriptions",
            "encoderSettings.outputGroups",
            "encoderSettings.timecodeConfig.source",
        ]
    );
    sandbox.shutdown().await;
}

// --- inputs and security groups ---------------------------------------------------------

#[tokio::test]
async fn rtmp_push_input_gets_fixed_rtmp_urls_and_needs_a_security_group() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let no_group = ml
        .create_input()
        .r#type(InputType::RtmpPush)
        .destinations(
            InputDestinationRequest::builder()
                .stream_name("live/a")
                .build(),
        )
        .send()
        .await;
    // CreateInput models no 422: its validation errors are 400 BadRequestException.
    let err = no_group.expect_err("RTMP_PUSH without a security group");
    let e = err.into_service_error();
    assert!(e.is_bad_request_exception(), "{e:?}");
    assert!(
        e.message().unwrap().contains("inputSecurityGroups"),
        "{e:?}"
    );

    let group = create_security_group(&ml).await;
    let created = ml
        .create_input()
        .name("studio")
        .r#type(InputType::RtmpPush)
        .input_security_groups(&group)
        .destinations(
            InputDestinationRequest::builder()
                .stream_name("live/a")
                .build(),
        )
        .destinations(
            InputDestinationRequest::builder()
                .stream_name("live/b")
                .build(),
        )
        .tags("team", "video")
        .send()
        .await
        .unwrap();
    let input = created.input().unwrap();
    let id = input.id().unwrap().to_string();
    assert_eq!(id.len(), 7);
    assert_eq!(
        input.arn(),
        Some(format!("arn:aws:medialive:us-east-1:123456789012:input:{id}").as_str())
    );
    assert_eq!(input.r#type(), Some(&InputType::RtmpPush));
    assert_eq!(input.input_class(), Some(&InputClass::Standard));
    assert_eq!(input.state(), Some(&InputState::Detached));
    assert_eq!(input.security_groups(), std::slice::from_ref(&group));
    let dests = input.destinations();
    assert_eq!(dests.len(), 2);
    let (ip_a, ip_b) = (dests[0].ip().unwrap(), dests[1].ip().unwrap());
    assert_ne!(ip_a, ip_b);
    assert_eq!(dests[0].port(), Some("1935"));
    assert_eq!(
        dests[0].url(),
        Some(format!("rtmp://{ip_a}:1935/live/a").as_str())
    );
    assert_eq!(
        dests[1].url(),
        Some(format!("rtmp://{ip_b}:1935/live/b").as_str())
    );

    // Stream names must be application/instance.
    let bad_name = ml
        .create_input()
        .r#type(InputType::RtmpPush)
        .input_security_groups(&group)
        .destinations(
            InputDestinationRequest::builder()
                .stream_name("noslash")
                .build(),
        )
        .send()
        .await;
    assert_eq!(code(bad_name), "BadRequestException");

    // An update keeps each destination's IP.
    let updated = ml
        .update_input()
        .input_id(&id)
        .name("studio-2")
        .destinations(
            InputDestinationRequest::builder()
                .stream_name("live/c")
                .build(),
        )
        .destinations(
            InputDestinationRequest::builder()
                .stream_name("live/d")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let input = updated.input().unwrap();
    assert_eq!(input.name(), Some("studio-2"));
    assert_eq!(
        input.destinations()[0].url(),
        Some(format!("rtmp://{ip_a}:1935/live/c").as_str())
    );
    let described = ml.describe_input().input_id(&id).send().await.unwrap();
    assert_eq!(described.destinations()[1].ip(), Some(ip_b));
    assert_eq!(
        described.tags().unwrap().get("team").map(String::as_str),
        Some("video")
    );

    let group_now = ml
        .describe_input_security_group()
        .input_security_group_id(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(group_now.state(), Some(&InputSecurityGroupState::InUse));
    assert_eq!(group_now.inputs(), std::slice::from_ref(&id));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn update_input_cannot_change_its_type_or_class_or_drop_its_group() {
    let sandbox = common::sandbox().await;
    let url = sandbox.endpoint_url();
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let id = create_rtmp_input(&ml, &group, 2).await;

    // The SDK has no `type` on UpdateInput; a raw request can still try.
    let (status, body) = common::http(
        &url,
        "PUT",
        &format!("/prod/inputs/{id}"),
        r#"{"type": "URL_PULL", "sources": [{"url": "https://a"}, {"url": "https://b"}]}"#,
    )
    .await;
    assert_eq!(
        status, 400,
        "UpdateInput models BadRequestException, not 422: {body}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("type: "),
        "{body}"
    );

    let one_destination = ml
        .update_input()
        .input_id(&id)
        .destinations(
            InputDestinationRequest::builder()
                .stream_name("live/x")
                .build(),
        )
        .send()
        .await;
    assert_eq!(code(one_destination), "BadRequestException");
    let no_group = ml
        .update_input()
        .input_id(&id)
        .set_input_security_groups(Some(vec![]))
        .send()
        .await;
    assert_eq!(code(no_group), "BadRequestException");

    // An attached input is edited only while its channel is IDLE.
    let channel = create_channel(&ml, &id).await;
    wait_channel(&ml, &channel, ChannelState::Idle).await;
    ml.update_input()
        .input_id(&id)
        .name("edited-while-idle")
        .send()
        .await
        .unwrap();
    ml.start_channel()
        .channel_id(&channel)
        .send()
        .await
        .unwrap();
    let while_running = ml
        .update_input()
        .input_id(&id)
        .name("edited-while-running")
        .send()
        .await;
    assert_eq!(code(while_running), "ConflictException");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn security_group_rules_are_ipv4_cidrs_at_most_ten_and_editable() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let mut eleven = ml.create_input_security_group();
    for i in 0..11 {
        eleven = eleven.whitelist_rules(
            InputWhitelistRuleCidr::builder()
                .cidr(format!("10.0.{i}.0/24"))
                .build(),
        );
    }
    assert_eq!(code(eleven.send().await), "BadRequestException");
    let bad_cidr = ml
        .create_input_security_group()
        .whitelist_rules(InputWhitelistRuleCidr::builder().cidr("10.0.0.0").build())
        .send()
        .await;
    assert_eq!(code(bad_cidr), "BadRequestException");

    let created = ml
        .create_input_security_group()
        .whitelist_rules(
            InputWhitelistRuleCidr::builder()
                .cidr("10.0.0.0/16")
                .build(),
        )
        .tags("owner", "ops")
        .send()
        .await
        .unwrap();
    let group = created.security_group().unwrap();
    let id = group.id().unwrap().to_string();
    assert_eq!(id.len(), 7);
    assert_eq!(
        group.arn(),
        Some(format!("arn:aws:medialive:us-east-1:123456789012:inputSecurityGroup:{id}").as_str())
    );
    assert_eq!(group.state(), Some(&InputSecurityGroupState::Idle));
    assert_eq!(group.whitelist_rules()[0].cidr(), Some("10.0.0.0/16"));

    let updated = ml
        .update_input_security_group()
        .input_security_group_id(&id)
        .whitelist_rules(
            InputWhitelistRuleCidr::builder()
                .cidr("192.0.2.0/24")
                .build(),
        )
        .whitelist_rules(
            InputWhitelistRuleCidr::builder()
                .cidr("198.51.100.7/32")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let cidrs: Vec<&str> = updated
        .security_group()
        .unwrap()
        .whitelist_rules()
        .iter()
        .filter_map(|r| r.cidr())
        .collect();
    assert_eq!(cidrs, ["192.0.2.0/24", "198.51.100.7/32"]);
    let listed = ml.list_input_security_groups().send().await.unwrap();
    assert_eq!(listed.input_security_groups().len(), 1);
    assert_eq!(listed.input_security_groups()[0].whitelist_rules().len(), 2);
    sandbox.shutdown().await;
}

// --- lists, tags, idempotency, 404 ------------------------------------------------------

#[tokio::test]
async fn lists_paginate_with_max_results_and_next_token() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    for _ in 0..4 {
        create_security_group(&ml).await;
    }
    let mut inputs = Vec::new();
    for _ in 0..5 {
        inputs.push(create_rtmp_input(&ml, &group, 2).await);
    }
    let mut channels = Vec::new();
    for input in &inputs[..3] {
        channels.push(create_channel(&ml, input).await);
    }

    let first = ml.list_channels().max_results(2).send().await.unwrap();
    assert_eq!(first.channels().len(), 2);
    let token = first.next_token().expect("a second page").to_string();
    let second = ml
        .list_channels()
        .max_results(2)
        .next_token(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.channels().len(), 1);
    assert_eq!(second.next_token(), None);
    let mut seen: Vec<String> = first
        .channels()
        .iter()
        .chain(second.channels())
        .map(|c| c.id().unwrap().to_string())
        .collect();
    seen.sort();
    channels.sort();
    assert_eq!(seen, channels);
    // The summary carries no encoder settings but the rest.
    assert_eq!(first.channels()[0].destinations(), &[hls_destination(2)]);

    let all_inputs: Vec<_> = ml
        .list_inputs()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all_inputs.len(), 5);
    let all_groups: Vec<_> = ml
        .list_input_security_groups()
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all_groups.len(), 5);

    assert_eq!(
        code(ml.list_channels().next_token("garbage").send().await),
        "BadRequestException"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn tags_are_created_listed_and_deleted_on_channels_inputs_and_groups() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;
    let channel = create_channel(&ml, &input).await;
    for arn in [
        format!("arn:aws:medialive:us-east-1:123456789012:channel:{channel}"),
        format!("arn:aws:medialive:us-east-1:123456789012:input:{input}"),
        format!("arn:aws:medialive:us-east-1:123456789012:inputSecurityGroup:{group}"),
    ] {
        ml.create_tags()
            .resource_arn(&arn)
            .tags("stack", "demo")
            .tags("owner", "ops")
            .tags("tmp", "x")
            .send()
            .await
            .unwrap();
        ml.delete_tags()
            .resource_arn(&arn)
            .tag_keys("tmp")
            .tag_keys("owner")
            .send()
            .await
            .unwrap();
        let tags = ml
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .unwrap();
        let tags = tags.tags().unwrap();
        assert_eq!(tags.len(), 1, "{arn}: {tags:?}");
        assert_eq!(tags.get("stack").map(String::as_str), Some("demo"));
    }
    let described = ml
        .describe_channel()
        .channel_id(&channel)
        .send()
        .await
        .unwrap();
    assert_eq!(described.tags().unwrap().len(), 1);
    assert_eq!(
        code(
            ml.list_tags_for_resource()
                .resource_arn("arn:aws:medialive:us-east-1:123456789012:channel:1111111")
                .send()
                .await
        ),
        "NotFoundException"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn arns_carry_the_configured_region_and_account() {
    let sandbox = start(Config {
        speed: 2000.0,
        region: "eu-west-1".into(),
        account: "210987654321".into(),
        ..Config::default()
    })
    .await
    .unwrap();
    let config = common::sdk_config(&sandbox.endpoint_url()).await;
    let ml = Client::new(&config);
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;
    let channel = create_channel(&ml, &input).await;
    let described = ml
        .describe_channel()
        .channel_id(&channel)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.arn(),
        Some(format!("arn:aws:medialive:eu-west-1:210987654321:channel:{channel}").as_str())
    );
    let described = ml.describe_input().input_id(&input).send().await.unwrap();
    assert_eq!(
        described.arn(),
        Some(format!("arn:aws:medialive:eu-west-1:210987654321:input:{input}").as_str())
    );
    let described = ml
        .describe_input_security_group()
        .input_security_group_id(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.arn(),
        Some(
            format!("arn:aws:medialive:eu-west-1:210987654321:inputSecurityGroup:{group}").as_str()
        )
    );

    let mp = aws_sdk_mediapackage::Client::new(&config);
    let created = mp.create_channel().id("arn-check").send().await.unwrap();
    assert!(
        created
            .arn()
            .unwrap()
            .starts_with("arn:aws:mediapackage:eu-west-1:210987654321:channels/"),
        "{created:?}"
    );
    let ingest = &created.hls_ingest().unwrap().ingest_endpoints()[0];
    assert!(
        ingest
            .url()
            .unwrap()
            .contains(".mediapackage.eu-west-1.amazonaws.com/"),
        "{ingest:?}"
    );
    let ssm = aws_sdk_ssm::Client::new(&config);
    ssm.put_parameter()
        .name("/arn/check")
        .value("x")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let got = ssm.get_parameter().name("/arn/check").send().await.unwrap();
    assert_eq!(
        got.parameter().unwrap().arn(),
        Some("arn:aws:ssm:eu-west-1:210987654321:parameter/arn/check")
    );
    let iam = aws_sdk_iam::Client::new(&config);
    let role = iam
        .create_role()
        .role_name("ArnCheck")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    // IAM is global: its ARNs carry the account only.
    assert_eq!(
        role.role().unwrap().arn(),
        "arn:aws:iam::210987654321:role/ArnCheck"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn request_id_makes_creates_idempotent() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let mut input_ids = Vec::new();
    for _ in 0..2 {
        let out = ml
            .create_input()
            .request_id("input-token-1")
            .r#type(InputType::RtmpPush)
            .input_security_groups(&group)
            .destinations(
                InputDestinationRequest::builder()
                    .stream_name("live/a")
                    .build(),
            )
            .destinations(
                InputDestinationRequest::builder()
                    .stream_name("live/b")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        input_ids.push(out.input().unwrap().id().unwrap().to_string());
    }
    assert_eq!(input_ids[0], input_ids[1]);
    let mut channel_ids = Vec::new();
    for _ in 0..2 {
        let out = ml
            .create_channel()
            .request_id("channel-token-1")
            .destinations(hls_destination(2))
            .encoder_settings(hls_encoder_settings())
            .input_attachments(attachment(&input_ids[0]))
            .send()
            .await
            .unwrap();
        channel_ids.push(out.channel().unwrap().id().unwrap().to_string());
    }
    assert_eq!(channel_ids[0], channel_ids[1]);
    assert_eq!(ml.list_channels().send().await.unwrap().channels().len(), 1);
    assert_eq!(ml.list_inputs().send().await.unwrap().inputs().len(), 1);
    // Without a request id (the SDK makes a fresh token) a second channel is made.
    let other_input = create_rtmp_input(&ml, &group, 2).await;
    create_channel(&ml, &other_input).await;
    assert_eq!(ml.list_channels().send().await.unwrap().channels().len(), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let sandbox = common::sandbox().await;
    let ml = client(&sandbox).await;
    let id = "1234567";
    assert_eq!(
        code(ml.describe_channel().channel_id(id).send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(ml.update_channel().channel_id(id).name("x").send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(ml.delete_channel().channel_id(id).send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(ml.start_channel().channel_id(id).send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(ml.stop_channel().channel_id(id).send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(
            ml.update_channel_class()
                .channel_id(id)
                .channel_class(ChannelClass::Standard)
                .send()
                .await
        ),
        "NotFoundException"
    );
    assert_eq!(
        code(ml.describe_input().input_id(id).send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(ml.update_input().input_id(id).name("x").send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(ml.delete_input().input_id(id).send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(
            ml.describe_input_security_group()
                .input_security_group_id(id)
                .send()
                .await
        ),
        "NotFoundException"
    );
    assert_eq!(
        code(
            ml.update_input_security_group()
                .input_security_group_id(id)
                .send()
                .await
        ),
        "NotFoundException"
    );
    assert_eq!(
        code(
            ml.delete_input_security_group()
                .input_security_group_id(id)
                .send()
                .await
        ),
        "NotFoundException"
    );
    // The typed error carries the message.
    let err = ml
        .describe_channel()
        .channel_id(id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");
    assert!(err.message().unwrap().contains(id));

    // On the wire: 404, the error type in `x-amzn-errortype`, a JSON body with `message`.
    for path in [
        format!("/prod/channels/{id}"),
        format!("/prod/inputs/{id}"),
        format!("/prod/inputSecurityGroups/{id}"),
    ] {
        let (status, headers, body) =
            common::http_with_headers(&sandbox.endpoint_url(), "GET", &path, "").await;
        assert_eq!(status, 404, "{path}: {body}");
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            header("x-amzn-errortype"),
            Some("NotFoundException"),
            "{path}"
        );
        assert!(
            header("content-type").is_some_and(|t| t.starts_with("application/json")),
            "{path}: {headers:?}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(body["message"].as_str().unwrap().contains(id), "{body}");
    }
    sandbox.shutdown().await;
}

// --- faults -------------------------------------------------------------------------------

#[tokio::test]
async fn throttling_everything_exhausts_the_sdk_retries_with_too_many_requests() {
    let sandbox = common::sandbox_with(Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let ml = quick_retry_client(&sandbox).await;
    let err = ml
        .list_channels()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_too_many_requests_exception(), "{err:?}");
    let log = common::request_log(&sandbox.endpoint_url()).await;
    assert_eq!(log.len(), 3, "the SDK retried a throttle: {log:?}");
    for entry in &log {
        assert_eq!(entry["status"], 429);
        assert_eq!(entry["operation"], "ListChannels");
        assert_eq!(entry["service"], "medialive");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn internal_errors_are_retried_then_reported() {
    let sandbox = common::sandbox_with(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let ml = quick_retry_client(&sandbox).await;
    let err = ml
        .describe_channel()
        .channel_id("1234567")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_internal_server_error_exception(), "{err:?}");
    let log = common::request_log(&sandbox.endpoint_url()).await;
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|e| e["status"] == 500));
    assert_eq!(log[0]["operation"], "DescribeChannel");
    sandbox.shutdown().await;
}

/// The status of every call the SDK made for the same ten operations.
async fn fault_pattern(seed: u64) -> Vec<u64> {
    let sandbox = common::sandbox_with(Faults {
        seed,
        throttle_rate: 0.3,
        error_rate: 0.2,
        ..Faults::default()
    })
    .await;
    let ml = quick_retry_client(&sandbox).await;
    for _ in 0..10 {
        let _ = ml.list_inputs().send().await;
    }
    let log = common::request_log(&sandbox.endpoint_url()).await;
    sandbox.shutdown().await;
    log.iter().map(|e| e["status"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn the_fault_pattern_is_the_same_for_the_same_seed() {
    let first = fault_pattern(42).await;
    assert_eq!(first, fault_pattern(42).await);
    assert!(first.contains(&429) && first.contains(&200), "{first:?}");
    assert_ne!(
        first,
        fault_pattern(7).await,
        "another seed, another pattern"
    );
}

#[tokio::test]
async fn fault_rates_are_the_fractions_of_calls_answered_429_and_500() {
    // Seeded, so the counts are the same on every run; the bounds say "about the rate".
    let sandbox = common::sandbox_with(Faults {
        seed: 11,
        throttle_rate: 0.2,
        error_rate: 0.1,
        ..Faults::default()
    })
    .await;
    let url = sandbox.endpoint_url();
    for _ in 0..300 {
        common::http(&url, "GET", "/prod/channels", "").await;
    }
    let log = common::request_log(&url).await;
    assert_eq!(log.len(), 300);
    let count = |status: u64| log.iter().filter(|e| e["status"] == status).count();
    let (throttled, failed, ok) = (count(429), count(500), count(200));
    assert_eq!(throttled + failed + ok, 300);
    assert!((40..=80).contains(&throttled), "429s: {throttled} of 300");
    assert!((15..=45).contains(&failed), "500s: {failed} of 300");

    // No faults: every call answered.
    common::put_faults(&url, "{}").await;
    for _ in 0..20 {
        let (status, _) = common::http(&url, "GET", "/prod/channels", "").await;
        assert_eq!(status, 200);
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_lost_response_is_carried_out_then_answered_500() {
    let sandbox = common::sandbox_with(Faults {
        lost_response_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let url = sandbox.endpoint_url();
    let body = r#"{"whitelistRules":[{"cidr":"10.0.0.0/8"}]}"#;
    let (status, _) = common::http(&url, "POST", "/prod/inputSecurityGroups", body).await;
    assert_eq!(status, 500, "the answer is an error");
    let log = common::request_log(&url).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["operation"], "CreateInputSecurityGroup");
    assert_eq!(log[0]["status"], 500);

    // ... yet the group was made, as when AWS's answer is lost on the way back.
    common::put_faults(&url, "{}").await;
    let (status, listed) = common::http(&url, "GET", "/prod/inputSecurityGroups", "").await;
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        listed["inputSecurityGroups"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn latency_is_added_to_every_call_and_faults_change_at_runtime() {
    // 1 s of latency: far more than three throttled calls take once it is removed.
    let sandbox = common::sandbox_with(Faults {
        latency_ms: 1000,
        ..Faults::default()
    })
    .await;
    let ml = client(&sandbox).await;
    ml.list_channels().send().await.unwrap(); // warm the connection
    let began = Instant::now();
    ml.list_channels().send().await.unwrap();
    assert!(
        began.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        began.elapsed()
    );

    common::put_faults(
        &sandbox.endpoint_url(),
        r#"{"latency_ms": 0, "throttle_rate": 1.0}"#,
    )
    .await;
    let quick = quick_retry_client(&sandbox).await;
    assert_eq!(
        code(quick.list_channels().send().await),
        "TooManyRequestsException"
    );
    // The latency was replaced too (what it takes now is the machine's, not a bound).
    let (_, now) = common::http(&sandbox.endpoint_url(), "GET", "/_sandbox/faults", "").await;
    let now: serde_json::Value = serde_json::from_str(&now).unwrap();
    assert_eq!(
        (now["latency_ms"].as_u64(), now["throttle_rate"].as_f64()),
        (Some(0), Some(1.0))
    );
    let (status, _) = common::http(
        &sandbox.endpoint_url(),
        "PUT",
        "/_sandbox/faults",
        r#"{"throttle_rate": 2.0}"#,
    )
    .await;
    assert_eq!(status, 400, "a rate above 1 is refused");
    sandbox.shutdown().await;
}

/// The (path, attempt, fault) of every call in the log, sorted: what each logical call met.
fn faults_met(log: &[serde_json::Value]) -> Vec<(String, u64, String)> {
    let mut v: Vec<(String, u64, String)> = log
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["attempt"].as_u64().unwrap(),
                e["fault"].as_str().unwrap_or("none").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_same_call_meets_the_same_fault_whatever_order_calls_arrive_in() {
    let faults = Faults {
        seed: 5,
        throttle_rate: 0.3,
        error_rate: 0.2,
        lost_response_rate: 0.1,
        ..Faults::default()
    };
    let a = "/prod/channels/1111111";
    let b = "/prod/inputs/2222222";
    let mut met = Vec::new();
    for order in [[a, a, b, b, a, b], [b, a, b, a, b, a]] {
        let sandbox = common::sandbox_with(faults.clone()).await;
        let url = sandbox.endpoint_url();
        for path in order {
            common::http(&url, "GET", path, "").await;
        }
        let log = common::request_log(&url).await;
        // The log names each call's attempt and the fault it met.
        let attempts: Vec<u64> = log
            .iter()
            .filter(|e| e["path"] == a)
            .map(|e| e["attempt"].as_u64().unwrap())
            .collect();
        assert_eq!(attempts, [1, 2, 3]);
        for e in &log {
            let status = e["status"].as_u64().unwrap();
            match e["fault"].as_str() {
                Some("throttle") => assert_eq!(status, 429, "{e}"),
                Some("error" | "lost_response") => assert_eq!(status, 500, "{e}"),
                None => assert_eq!(status, 404, "{e}"),
                Some(other) => panic!("unknown fault {other}: {e}"),
            }
        }
        met.push(faults_met(&log));
        sandbox.shutdown().await;
    }
    assert_eq!(met[0], met[1], "the same calls met the same faults");
    assert!(
        met[0].iter().any(|(_, _, f)| f != "none") && met[0].iter().any(|(_, _, f)| f == "none"),
        "some calls faulted, some not: {:?}",
        met[0]
    );
}

/// [`Running::wait_held`], failing the test instead of hanging it.
async fn wait_held(sandbox: &Running, operation: &str, count: usize) {
    tokio::time::timeout(Duration::from_secs(60), sandbox.wait_held(operation, count))
        .await
        .unwrap_or_else(|_| panic!("never {count} held {operation} call(s)"));
}

#[tokio::test]
async fn a_held_operation_waits_until_released_and_a_dropped_one_is_never_carried_out() {
    let sandbox = common::sandbox().await;
    let url = sandbox.endpoint_url();
    let body = r#"{"whitelistRules":[{"cidr":"10.0.0.0/8"}]}"#;
    let groups = |url: String| async move {
        let (_, listed) = common::http(&url, "GET", "/prod/inputSecurityGroups", "").await;
        let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
        listed["inputSecurityGroups"].as_array().unwrap().len()
    };

    // Held over HTTP: the call waits, not carried out, until released.
    let (status, _) = common::http(
        &url,
        "PUT",
        "/_sandbox/hold",
        r#"{"operation": "CreateInputSecurityGroup", "service": "medialive"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let held = tokio::spawn({
        let url = url.clone();
        async move { common::http(&url, "POST", "/prod/inputSecurityGroups", body).await }
    });
    wait_held(&sandbox, "CreateInputSecurityGroup", 1).await;
    let (_, holds) = common::http(&url, "GET", "/_sandbox/hold", "").await;
    let holds: serde_json::Value = serde_json::from_str(&holds).unwrap();
    assert_eq!(holds[0]["holding"], 1, "{holds}");
    assert_eq!(groups(url.clone()).await, 0, "not carried out while held");
    let (status, _) = common::http(
        &url,
        "DELETE",
        "/_sandbox/hold/CreateInputSecurityGroup",
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(held.await.unwrap().0, 200);
    assert_eq!(groups(url.clone()).await, 1);

    // Held from Rust, and its client goes away: dropped, never carried out.
    sandbox.hold(Some("medialive"), "CreateInputSecurityGroup");
    let mut stream = tokio::net::TcpStream::connect(sandbox.addr())
        .await
        .unwrap();
    let request = format!(
        "POST /prod/inputSecurityGroups HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    wait_held(&sandbox, "CreateInputSecurityGroup", 1).await;
    drop(stream);
    wait_held(&sandbox, "CreateInputSecurityGroup", 0).await;
    sandbox.release("CreateInputSecurityGroup");
    assert_eq!(
        groups(url.clone()).await,
        1,
        "the dropped call was not carried out"
    );

    // Another service's operation of the same name is not held.
    sandbox.hold(Some("mediapackage"), "CreateInputSecurityGroup");
    let (status, _) = common::http(&url, "POST", "/prod/inputSecurityGroups", body).await;
    assert_eq!(status, 200);
    assert_eq!(sandbox.held("CreateInputSecurityGroup"), 0);
    sandbox.shutdown().await;
}

// --- persistence, log, reset ------------------------------------------------------------

fn temp_data_file(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "livestack-sandbox-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("cloud.json")
}

#[tokio::test]
async fn the_data_file_survives_a_restart() {
    let data = temp_data_file("restart");
    let config = Config {
        data: Some(data.clone()),
        speed: 2000.0,
        ..Config::default()
    };
    let first = start(config.clone()).await.unwrap();
    let ml = client(&first).await;
    // The first id this run hands out, then forgotten: a restarted sandbox must not hand it
    // out again.
    let forgotten = create_security_group(&ml).await;
    ml.delete_input_security_group()
        .input_security_group_id(&forgotten)
        .send()
        .await
        .unwrap();
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;
    let channel = create_channel(&ml, &input).await;
    wait_channel(&ml, &channel, ChannelState::Idle).await;
    ml.start_channel()
        .channel_id(&channel)
        .send()
        .await
        .unwrap();
    let sdk = common::sdk_config(&first.endpoint_url()).await;
    let mp = aws_sdk_mediapackage::Client::new(&sdk);
    let mp_channel = mp.create_channel().id("kept").send().await.unwrap();
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    ssm.put_parameter()
        .name("/kept/secret")
        .value("s3cret")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.create_role()
        .role_name("KeptRole")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    // Written after every change, not at shutdown: a killed sandbox keeps its cloud.
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&data).unwrap()).expect("valid JSON");
    assert_eq!(
        written["medialive"]["channels"][&channel]["state"], "STARTING",
        "{written}"
    );
    first.shutdown().await;
    assert!(data.is_file());
    let leftovers: Vec<_> = std::fs::read_dir(data.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temp files left: {leftovers:?}");

    let second = start(config).await.unwrap();
    let ml = client(&second).await;
    // The start begun before the restart completes after it: the transition was stored.
    wait_channel(&ml, &channel, ChannelState::Running).await;
    let described = ml.describe_input().input_id(&input).send().await.unwrap();
    assert_eq!(described.state(), Some(&InputState::Attached));
    let new_group = create_security_group(&ml).await;
    assert_ne!(
        new_group, forgotten,
        "ids are not handed out twice across restarts"
    );
    let sdk = common::sdk_config(&second.endpoint_url()).await;
    let kept = aws_sdk_mediapackage::Client::new(&sdk)
        .describe_channel()
        .id("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.arn(), mp_channel.arn());
    assert_eq!(
        kept.hls_ingest(),
        mp_channel.hls_ingest(),
        "same ingest credentials"
    );
    let secret = aws_sdk_ssm::Client::new(&sdk)
        .get_parameter()
        .name("/kept/secret")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(secret.parameter().unwrap().value(), Some("s3cret"));
    aws_sdk_iam::Client::new(&sdk)
        .get_role()
        .role_name("KeptRole")
        .send()
        .await
        .unwrap();
    second.shutdown().await;
    std::fs::remove_dir_all(data.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn a_corrupt_data_file_is_an_error_and_left_untouched() {
    let data = temp_data_file("corrupt");
    std::fs::write(&data, "{ this is not json").unwrap();
    let result = start(Config {
        data: Some(data.clone()),
        ..Config::default()
    })
    .await;
    let err = match result {
        Ok(_) => panic!("a corrupt data file must not start"),
        Err(e) => e,
    };
    assert!(
        matches!(err, livestack_sandbox::Error::CorruptData { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("cloud.json"), "{message}");
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(
        std::fs::read_to_string(&data).unwrap(),
        "{ this is not json"
    );
    std::fs::remove_dir_all(data.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn the_request_log_records_every_call_and_reset_empties_cloud_and_log() {
    let sandbox = common::sandbox().await;
    let url = sandbox.endpoint_url();
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let _ = ml.describe_channel().channel_id("7654321").send().await;
    let log = common::request_log(&url).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["seq"], 1);
    assert_eq!(log[0]["service"], "medialive");
    assert_eq!(log[0]["operation"], "CreateInputSecurityGroup");
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["path"], "/prod/inputSecurityGroups");
    assert_eq!(log[0]["resource"], group.as_str());
    assert_eq!(log[0]["status"], 200);
    assert!(log[0]["time_ms"].as_u64().unwrap() > 0);
    assert_eq!(log[1]["operation"], "DescribeChannel");
    assert_eq!(log[1]["status"], 404);
    assert_eq!(sandbox.requests().len(), 2);

    let (status, cloud) = common::http(&url, "GET", "/_sandbox/cloud", "").await;
    assert_eq!(status, 200);
    assert!(cloud.contains(&group), "{cloud}");

    let (status, _) = common::http(&url, "POST", "/_sandbox/reset", "").await;
    assert_eq!(status, 200);
    assert!(common::request_log(&url).await.is_empty());
    assert!(ml
        .list_input_security_groups()
        .send()
        .await
        .unwrap()
        .input_security_groups()
        .is_empty());
    // The admin calls themselves are not logged.
    assert_eq!(common::request_log(&url).await.len(), 1);
    let (status, _) = common::http(&url, "GET", "/_sandbox/nothing", "").await;
    assert_eq!(status, 404);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_rate_model_throttles_exactly_the_calls_beyond_the_burst() {
    let list_limit = |rate: f64, burst: u32| RateLimit {
        service: "medialive".into(),
        operations: vec!["List*".into()],
        rate,
        burst,
    };
    // Rate 0: the bucket never refills, so the count cannot race the clock.
    let sandbox = common::sandbox_with(Faults {
        rate_limits: vec![list_limit(0.0, 3)],
        ..Faults::default()
    })
    .await;
    let ml = quick_retry_client(&sandbox).await;
    for _ in 0..3 {
        ml.list_channels().send().await.unwrap();
    }
    for _ in 0..2 {
        assert_eq!(
            code(ml.list_inputs().send().await),
            "TooManyRequestsException"
        );
    }
    // Operations the table does not name are not limited.
    for _ in 0..5 {
        create_security_group(&ml).await;
    }
    let rated: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.fault.as_deref() == Some("rate"))
        .collect();
    assert_eq!(
        rated.len(),
        6,
        "two calls of three attempts each: {rated:?}"
    );
    assert!(
        rated
            .iter()
            .all(|r| r.status == 429 && r.operation == "ListInputs" && r.attempt == 0),
        "{rated:?}"
    );
    // New faults fill the buckets; at 50 a second, 100 ms refills one token (a lower bound:
    // it cannot race the clock).
    sandbox
        .set_faults(Faults {
            rate_limits: vec![list_limit(50.0, 1)],
            ..Faults::default()
        })
        .unwrap();
    ml.list_channels().send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    ml.list_channels().send().await.unwrap();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn reads_never_write_the_data_file_and_a_change_is_written_before_its_answer() {
    let data = temp_data_file("reads");
    let config = Config {
        data: Some(data.clone()),
        speed: 2000.0,
        ..Config::default()
    };
    let sandbox = start(config).await.unwrap();
    let ml = client(&sandbox).await;
    let group = create_security_group(&ml).await;
    let input = create_rtmp_input(&ml, &group, 2).await;
    let channel = create_channel(&ml, &input).await;
    std::fs::remove_file(&data).unwrap();
    // Reads, including those that settle the channel's creation, write nothing.
    wait_channel(&ml, &channel, ChannelState::Idle).await;
    ml.describe_input().input_id(&input).send().await.unwrap();
    ml.list_channels().send().await.unwrap();
    ml.list_tags_for_resource()
        .resource_arn(format!(
            "arn:aws:medialive:us-east-1:123456789012:channel:{channel}"
        ))
        .send()
        .await
        .unwrap();
    assert!(!data.exists(), "a read wrote the data file");
    // Concurrent changes: each is in the file when its call is answered.
    let creates: Vec<_> = (0..8)
        .map(|_| {
            let ml = ml.clone();
            tokio::spawn(async move { create_security_group(&ml).await })
        })
        .collect();
    let mut made = Vec::new();
    for c in creates {
        made.push(c.await.unwrap());
    }
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&data).unwrap()).expect("valid JSON");
    for id in &made {
        assert!(
            written["medialive"]["input_security_groups"]
                .get(id)
                .is_some(),
            "{id} missing from {written}"
        );
    }
    assert_eq!(written["medialive"]["channels"][&channel]["state"], "IDLE");
    sandbox.shutdown().await;
}

//! The real aws-sdk-mediapackage, -ssm and -iam clients over HTTP against the sandbox:
//! every operation livestack uses, and the rules the sandbox enforces for these services.

mod common;

use std::time::Duration;

use aws_sdk_iam::Client as Iam;
use aws_sdk_mediapackage::types::{
    CmafPackageCreateOrUpdateParameters, DashPackage, HlsManifestCreateOrUpdateParameters,
    HlsPackage, MssPackage, Origination, PlaylistType,
};
use aws_sdk_mediapackage::Client as MediaPackage;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType, ResourceTypeForTagging};
use aws_sdk_ssm::Client as Ssm;
use livestack_sandbox::Faults;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"medialive.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const READ_SSM: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:GetParameter","ssm:GetParameters"],"Resource":"arn:aws:ssm:*:*:parameter/live/*"}]}"#;
const SSM_READ_ONLY: &str = "arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess";

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn mediapackage_channels_over_the_sdk() {
    let sandbox = common::sandbox().await;
    let mp = MediaPackage::new(&common::sdk_config(&sandbox.endpoint_url()).await);

    let created = mp
        .create_channel()
        .id("live")
        .description("main feed")
        .tags("team", "video")
        .send()
        .await
        .unwrap();
    assert_eq!(created.id(), Some("live"));
    assert!(created
        .arn()
        .unwrap()
        .starts_with("arn:aws:mediapackage:us-east-1:"));
    assert!(created.created_at().is_some());
    let endpoints = created.hls_ingest().unwrap().ingest_endpoints();
    assert_eq!(endpoints.len(), 2);
    for e in endpoints {
        let url = e.url().unwrap();
        assert!(
            url.starts_with("https://") && url.ends_with("/channel"),
            "{url}"
        );
        assert!(url.contains(".mediapackage.us-east-1.amazonaws.com/in/v2/"));
        assert_eq!(e.username().unwrap().len(), 32);
        assert_eq!(e.password().unwrap().len(), 32);
    }
    assert_ne!(endpoints[0].id(), endpoints[1].id());
    assert_eq!(created.tags().unwrap()["team"], "video");

    let dup = mp.create_channel().id("live").send().await.unwrap_err();
    assert!(dup.into_service_error().is_unprocessable_entity_exception());

    let described = mp.describe_channel().id("live").send().await.unwrap();
    assert_eq!(described.description(), Some("main feed"));
    assert_eq!(described.arn(), created.arn());

    let updated = mp
        .update_channel()
        .id("live")
        .description("renamed")
        .send()
        .await
        .unwrap();
    assert_eq!(updated.description(), Some("renamed"));

    // Rotating one endpoint's credentials changes that password only.
    let second = endpoints[1].id().unwrap();
    let rotated = mp
        .rotate_ingest_endpoint_credentials()
        .id("live")
        .ingest_endpoint_id(second)
        .send()
        .await
        .unwrap();
    let after = rotated.hls_ingest().unwrap().ingest_endpoints();
    assert_eq!(after[0].password(), endpoints[0].password());
    assert_ne!(after[1].password(), endpoints[1].password());
    assert_eq!(after[1].username(), endpoints[1].username());
    assert_eq!(after[1].url(), endpoints[1].url());
    let bad = mp
        .rotate_ingest_endpoint_credentials()
        .id("live")
        .ingest_endpoint_id("nope")
        .send()
        .await
        .unwrap_err();
    assert!(bad.into_service_error().is_not_found_exception());

    // Pagination: three channels, two per page.
    for id in ["b-chan", "c-chan"] {
        mp.create_channel().id(id).send().await.unwrap();
    }
    let first = mp.list_channels().max_results(2).send().await.unwrap();
    assert_eq!(first.channels().len(), 2);
    let token = first.next_token().expect("a second page").to_string();
    let rest = mp
        .list_channels()
        .max_results(2)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.channels().len(), 1);
    assert!(rest.next_token().is_none());
    let all: Vec<_> = mp
        .list_channels()
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all.len(), 3);

    // Tags by ARN.
    let arn = created.arn().unwrap();
    mp.tag_resource()
        .resource_arn(arn)
        .tags("env", "prod")
        .send()
        .await
        .unwrap();
    mp.untag_resource()
        .resource_arn(arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = mp
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags["env"], "prod");

    mp.delete_channel().id("b-chan").send().await.unwrap();
    let gone = mp.describe_channel().id("b-chan").send().await.unwrap_err();
    let gone = gone.into_service_error();
    assert!(gone.is_not_found_exception(), "{gone:?}");
    assert!(gone.meta().message().unwrap().contains("b-chan"));
    let again = mp.delete_channel().id("b-chan").send().await.unwrap_err();
    assert!(again.into_service_error().is_not_found_exception());
    // On the wire: 404, `x-amzn-errortype`, a JSON body with `message`.
    for path in ["/channels/b-chan", "/origin_endpoints/b-chan"] {
        let (status, headers, body) =
            common::http_with_headers(&sandbox.endpoint_url(), "GET", path, "").await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "x-amzn-errortype" && v == "NotFoundException"),
            "{path}: {headers:?}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("b-chan"),
            "{body}"
        );
    }

    sandbox.shutdown().await;
}

#[tokio::test]
async fn mediapackage_origin_endpoints_over_the_sdk() {
    let sandbox = common::sandbox().await;
    let mp = MediaPackage::new(&common::sdk_config(&sandbox.endpoint_url()).await);
    mp.create_channel().id("ch").send().await.unwrap();
    mp.create_channel().id("other").send().await.unwrap();

    let hls = mp
        .create_origin_endpoint()
        .id("ch-hls")
        .channel_id("ch")
        .description("hls out")
        .time_delay_seconds(30)
        .startover_window_seconds(300)
        .whitelist("10.0.0.0/8")
        .tags("k", "v")
        .hls_package(
            HlsPackage::builder()
                .segment_duration_seconds(2)
                .playlist_type(PlaylistType::Event)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let url = hls.url().unwrap();
    assert!(
        url.contains(".mediapackage.us-east-1.amazonaws.com/out/v1/"),
        "{url}"
    );
    assert!(url.ends_with("/index.m3u8"));
    assert_eq!(hls.manifest_name(), Some("index"));
    assert_eq!(hls.origination(), Some(&Origination::Allow));
    let pkg = hls.hls_package().unwrap();
    // Given members are kept, the rest are the server's defaults.
    assert_eq!(pkg.segment_duration_seconds(), Some(2));
    assert_eq!(pkg.playlist_type(), Some(&PlaylistType::Event));
    assert_eq!(pkg.playlist_window_seconds(), Some(60));
    assert_eq!(pkg.ad_markers().map(|a| a.as_str()), Some("NONE"));
    assert_eq!(pkg.include_iframe_only_stream(), Some(false));
    assert_eq!(
        pkg.stream_selection()
            .unwrap()
            .stream_order()
            .map(|o| o.as_str()),
        Some("ORIGINAL")
    );

    let dash = mp
        .create_origin_endpoint()
        .id("ch-dash")
        .channel_id("ch")
        .manifest_name("live")
        .dash_package(DashPackage::builder().build())
        .send()
        .await
        .unwrap();
    assert!(dash.url().unwrap().ends_with("/live.mpd"));
    assert_eq!(
        dash.dash_package().unwrap().segment_duration_seconds(),
        Some(2)
    );
    let mss = mp
        .create_origin_endpoint()
        .id("other-mss")
        .channel_id("other")
        .mss_package(MssPackage::builder().build())
        .send()
        .await
        .unwrap();
    assert!(mss.url().unwrap().ends_with("/index.ism/Manifest"));
    let cmaf = mp
        .create_origin_endpoint()
        .id("ch-cmaf")
        .channel_id("ch")
        .cmaf_package(
            CmafPackageCreateOrUpdateParameters::builder()
                .hls_manifests(
                    HlsManifestCreateOrUpdateParameters::builder()
                        .id("main")
                        .manifest_name("main")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let manifests = cmaf.cmaf_package().unwrap().hls_manifests();
    assert!(manifests[0].url().unwrap().ends_with("/main.m3u8"));

    // Unknown channel, and a delay longer than the startover window.
    let err = mp
        .create_origin_endpoint()
        .id("x")
        .channel_id("missing")
        .hls_package(HlsPackage::builder().build())
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_found_exception());
    let err = mp
        .create_origin_endpoint()
        .id("x")
        .channel_id("ch")
        .time_delay_seconds(600)
        .startover_window_seconds(60)
        .hls_package(HlsPackage::builder().build())
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_unprocessable_entity_exception());

    // Endpoint ids are unique: a second create with the same id (even on another channel)
    // is refused with MediaPackage's 422.
    let dup = mp
        .create_origin_endpoint()
        .id("ch-hls")
        .channel_id("other")
        .hls_package(HlsPackage::builder().build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(dup.is_unprocessable_entity_exception(), "{dup:?}");

    let described = mp
        .describe_origin_endpoint()
        .id("ch-hls")
        .send()
        .await
        .unwrap();
    assert_eq!(described.time_delay_seconds(), Some(30));
    assert_eq!(described.channel_id(), Some("ch"));
    assert_eq!(described.whitelist(), ["10.0.0.0/8"]);

    // Update is a whole replace: what is not sent goes back to its default.
    let updated = mp
        .update_origin_endpoint()
        .id("ch-hls")
        .hls_package(HlsPackage::builder().playlist_window_seconds(120).build())
        .send()
        .await
        .unwrap();
    assert_eq!(updated.time_delay_seconds(), Some(0));
    assert_eq!(updated.startover_window_seconds(), Some(0));
    assert!(updated.whitelist().is_empty());
    assert_eq!(updated.description(), None);
    let pkg = updated.hls_package().unwrap();
    assert_eq!(pkg.playlist_window_seconds(), Some(120));
    assert_eq!(pkg.segment_duration_seconds(), Some(6));
    assert_eq!(pkg.playlist_type(), Some(&PlaylistType::None));
    assert_eq!(updated.url(), hls.url());
    assert_eq!(updated.arn(), hls.arn());
    assert_eq!(updated.tags().unwrap()["k"], "v");
    let err = mp
        .update_origin_endpoint()
        .id("missing")
        .hls_package(HlsPackage::builder().build())
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_found_exception());

    // Listing filters by channel and pages.
    let of_ch = mp
        .list_origin_endpoints()
        .channel_id("ch")
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = of_ch
        .origin_endpoints()
        .iter()
        .filter_map(|e| e.id())
        .collect();
    assert_eq!(ids, ["ch-cmaf", "ch-dash", "ch-hls"]);
    let page = mp
        .list_origin_endpoints()
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.origin_endpoints().len(), 2);
    assert!(page.next_token().is_some());

    // Endpoint tags by ARN.
    let earn = hls.arn().unwrap();
    mp.tag_resource()
        .resource_arn(earn)
        .tags("extra", "1")
        .send()
        .await
        .unwrap();
    let tags = mp
        .list_tags_for_resource()
        .resource_arn(earn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap().len(), 2);

    // A channel with endpoints is not deleted; once they are gone, it is.
    let refused = mp.delete_channel().id("ch").send().await.unwrap_err();
    let refused = refused.into_service_error();
    assert!(refused.is_unprocessable_entity_exception(), "{refused:?}");
    for id in ["ch-hls", "ch-dash", "ch-cmaf"] {
        mp.delete_origin_endpoint().id(id).send().await.unwrap();
    }
    let err = mp
        .describe_origin_endpoint()
        .id("ch-hls")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_found_exception());
    let err = mp
        .delete_origin_endpoint()
        .id("ch-hls")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_found_exception());
    mp.delete_channel().id("ch").send().await.unwrap();

    sandbox.shutdown().await;
}

#[tokio::test]
async fn mediapackage_new_channel_is_eventually_consistent() {
    // A window of 10 minutes: "too early" cannot race the clock.
    let sandbox = common::sandbox_with(Faults {
        consistency_ms: 600_000,
        ..Faults::default()
    })
    .await;
    let mp = MediaPackage::new(&common::sdk_config(&sandbox.endpoint_url()).await);
    mp.create_channel().id("fresh").send().await.unwrap();
    let early = mp
        .create_origin_endpoint()
        .id("fresh-hls")
        .channel_id("fresh")
        .hls_package(HlsPackage::builder().build())
        .send()
        .await
        .unwrap_err();
    assert!(early.into_service_error().is_not_found_exception());
    // The channel itself is there to describe; only the cross-resource lookup lags.
    mp.describe_channel().id("fresh").send().await.unwrap();
    // A window of 200 ms, waited out (a lower bound: it cannot race either).
    common::put_faults(&sandbox.endpoint_url(), r#"{"consistency_ms": 200}"#).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    mp.create_origin_endpoint()
        .id("fresh-hls")
        .channel_id("fresh")
        .hls_package(HlsPackage::builder().build())
        .send()
        .await
        .unwrap();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn ssm_parameters_over_the_sdk() {
    let sandbox = common::sandbox().await;
    let ssm = Ssm::new(&common::sdk_config(&sandbox.endpoint_url()).await);

    let put = ssm
        .put_parameter()
        .name("/live/ingest/password")
        .value("s3cret")
        .r#type(ParameterType::SecureString)
        .description("ingest password")
        .tags(
            aws_sdk_ssm::types::Tag::builder()
                .key("stack")
                .value("demo")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.version(), 1);
    assert_eq!(put.tier().map(|t| t.as_str()), Some("Standard"));

    let again = ssm
        .put_parameter()
        .name("/live/ingest/password")
        .value("other")
        .send()
        .await
        .unwrap_err();
    assert!(again.into_service_error().is_parameter_already_exists());
    let over = ssm
        .put_parameter()
        .name("/live/ingest/password")
        .value("rotated")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(over.version(), 2);

    let hidden = ssm
        .get_parameter()
        .name("/live/ingest/password")
        .send()
        .await
        .unwrap();
    let hidden = hidden.parameter().unwrap();
    assert_ne!(hidden.value(), Some("rotated"));
    assert_eq!(hidden.r#type(), Some(&ParameterType::SecureString));
    let clear = ssm
        .get_parameter()
        .name("/live/ingest/password")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let clear = clear.parameter().unwrap();
    assert_eq!(clear.value(), Some("rotated"));
    assert_eq!(clear.version(), 2);
    assert!(clear.last_modified_date().is_some());
    assert_eq!(
        clear.arn(),
        Some("arn:aws:ssm:us-east-1:123456789012:parameter/live/ingest/password")
    );

    for (name, value) in [("/live/a", "1"), ("/live/b", "2"), ("/other/c", "3")] {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .send()
            .await
            .unwrap();
    }
    let many = ssm
        .get_parameters()
        .names("/live/a")
        .names("/missing")
        .send()
        .await
        .unwrap();
    assert_eq!(many.parameters()[0].value(), Some("1"));
    assert_eq!(many.invalid_parameters(), ["/missing"]);

    let begins = ParameterStringFilter::builder()
        .key("Name")
        .option("BeginsWith")
        .values("/live/")
        .build()
        .unwrap();
    let found = ssm
        .describe_parameters()
        .parameter_filters(begins.clone())
        .send()
        .await
        .unwrap();
    let names: Vec<_> = found.parameters().iter().filter_map(|p| p.name()).collect();
    assert_eq!(names, ["/live/a", "/live/b", "/live/ingest/password"]);
    let secure = &found.parameters()[2];
    assert_eq!(secure.key_id(), Some("alias/aws/ssm"));
    assert_eq!(secure.description(), Some("ingest password"));
    assert_eq!(secure.version(), 2);
    let equals = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values("/other/c")
        .build()
        .unwrap();
    let found = ssm
        .describe_parameters()
        .parameter_filters(equals)
        .send()
        .await
        .unwrap();
    assert_eq!(found.parameters().len(), 1);
    let pages: Vec<_> = ssm
        .describe_parameters()
        .parameter_filters(begins)
        .max_results(1)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let paged: usize = pages.iter().map(|p| p.parameters().len()).sum();
    assert_eq!(paged, 3);

    // Tags.
    ssm.add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/live/ingest/password")
        .tags(
            aws_sdk_ssm::types::Tag::builder()
                .key("owner")
                .value("ops")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    ssm.remove_tags_from_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/live/ingest/password")
        .tag_keys("stack")
        .send()
        .await
        .unwrap();
    let tags = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/live/ingest/password")
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = tags
        .tag_list()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(tags, [("owner", "ops")]);
    let err = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/nope")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_resource_id());

    ssm.delete_parameter()
        .name("/live/ingest/password")
        .send()
        .await
        .unwrap();
    let err = ssm
        .get_parameter()
        .name("/live/ingest/password")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_parameter_not_found());
    let err = ssm
        .delete_parameter()
        .name("/live/ingest/password")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_parameter_not_found());

    sandbox.shutdown().await;
}

#[tokio::test]
async fn iam_roles_over_the_sdk() {
    let sandbox = common::sandbox().await;
    let iam = Iam::new(&common::sdk_config(&sandbox.endpoint_url()).await);

    let created = iam
        .create_role()
        .role_name("MediaLiveAccessRole")
        .assume_role_policy_document(TRUST)
        .description("lets MediaLive read SSM & write logs")
        .path("/livestack/")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("stack")
                .value("demo")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let role = created.role().unwrap();
    assert_eq!(
        role.arn(),
        "arn:aws:iam::123456789012:role/livestack/MediaLiveAccessRole"
    );
    assert!(role.role_id().starts_with("AROA"), "{}", role.role_id());
    assert_eq!(role.role_id().len(), 21);
    assert_eq!(role.path(), "/livestack/");
    assert_eq!(
        decode(role.assume_role_policy_document().unwrap()),
        TRUST,
        "the SDK hands back the URL-encoded document, as from AWS"
    );
    assert_eq!(role.tags()[0].key(), "stack");

    let dup = iam
        .create_role()
        .role_name("medialiveaccessrole")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap_err();
    assert!(dup
        .into_service_error()
        .is_entity_already_exists_exception());

    let got = iam
        .get_role()
        .role_name("MediaLiveAccessRole")
        .send()
        .await
        .unwrap();
    let got = got.role().unwrap();
    assert_eq!(
        got.description(),
        Some("lets MediaLive read SSM & write logs")
    );
    assert_eq!(got.max_session_duration(), Some(3600));
    assert_eq!(got.create_date(), role.create_date());

    iam.update_role()
        .role_name("MediaLiveAccessRole")
        .description("edited")
        .send()
        .await
        .unwrap();
    let got = iam
        .get_role()
        .role_name("MediaLiveAccessRole")
        .send()
        .await
        .unwrap();
    assert_eq!(got.role().unwrap().description(), Some("edited"));
    let err = iam
        .update_role()
        .role_name("ghost")
        .description("x")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_no_such_entity_exception());

    let trust2 = TRUST.replace("medialive.amazonaws.com", "mediapackage.amazonaws.com");
    iam.update_assume_role_policy()
        .role_name("MediaLiveAccessRole")
        .policy_document(&trust2)
        .send()
        .await
        .unwrap();
    let got = iam
        .get_role()
        .role_name("MediaLiveAccessRole")
        .send()
        .await
        .unwrap();
    assert_eq!(
        decode(got.role().unwrap().assume_role_policy_document().unwrap()),
        trust2
    );
    let bad = iam
        .update_assume_role_policy()
        .role_name("MediaLiveAccessRole")
        .policy_document("not json")
        .send()
        .await
        .unwrap_err();
    assert!(bad
        .into_service_error()
        .is_malformed_policy_document_exception());

    // Inline policies.
    iam.put_role_policy()
        .role_name("MediaLiveAccessRole")
        .policy_name("read-ssm")
        .policy_document(READ_SSM)
        .send()
        .await
        .unwrap();
    let policy = iam
        .get_role_policy()
        .role_name("MediaLiveAccessRole")
        .policy_name("read-ssm")
        .send()
        .await
        .unwrap();
    assert_eq!(decode(policy.policy_document()), READ_SSM);
    let names = iam
        .list_role_policies()
        .role_name("MediaLiveAccessRole")
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["read-ssm"]);
    assert!(!names.is_truncated());

    // Managed policies.
    iam.attach_role_policy()
        .role_name("MediaLiveAccessRole")
        .policy_arn(SSM_READ_ONLY)
        .send()
        .await
        .unwrap();
    let attached = iam
        .list_attached_role_policies()
        .role_name("MediaLiveAccessRole")
        .send()
        .await
        .unwrap();
    let attached = attached.attached_policies();
    assert_eq!(attached.len(), 1);
    assert_eq!(attached[0].policy_name(), Some("AmazonSSMReadOnlyAccess"));
    assert_eq!(attached[0].policy_arn(), Some(SSM_READ_ONLY));

    // A role with policies cannot be deleted.
    let conflict = iam
        .delete_role()
        .role_name("MediaLiveAccessRole")
        .send()
        .await
        .unwrap_err();
    let conflict = conflict.into_service_error();
    assert!(conflict.is_delete_conflict_exception(), "{conflict:?}");

    // Tags.
    iam.tag_role()
        .role_name("MediaLiveAccessRole")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("env")
                .value("test")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    iam.untag_role()
        .role_name("MediaLiveAccessRole")
        .tag_keys("stack")
        .send()
        .await
        .unwrap();
    let tags = iam
        .list_role_tags()
        .role_name("MediaLiveAccessRole")
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("env", "test")]);

    // Clean up in AWS's order, then the role is gone.
    iam.delete_role_policy()
        .role_name("MediaLiveAccessRole")
        .policy_name("read-ssm")
        .send()
        .await
        .unwrap();
    let still = iam
        .delete_role()
        .role_name("MediaLiveAccessRole")
        .send()
        .await
        .unwrap_err();
    assert!(still.into_service_error().is_delete_conflict_exception());
    iam.detach_role_policy()
        .role_name("MediaLiveAccessRole")
        .policy_arn(SSM_READ_ONLY)
        .send()
        .await
        .unwrap();
    iam.delete_role()
        .role_name("MediaLiveAccessRole")
        .send()
        .await
        .unwrap();
    let gone = iam
        .get_role()
        .role_name("MediaLiveAccessRole")
        .send()
        .await
        .unwrap_err();
    let gone = gone.into_service_error();
    assert!(gone.is_no_such_entity_exception(), "{gone:?}");
    assert!(gone
        .meta()
        .message()
        .unwrap()
        .contains("MediaLiveAccessRole"));
    let err = iam
        .get_role_policy()
        .role_name("MediaLiveAccessRole")
        .policy_name("read-ssm")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_no_such_entity_exception());

    sandbox.shutdown().await;
}

#[tokio::test]
async fn request_log_names_operations_and_resources() {
    let sandbox = common::sandbox().await;
    let config = common::sdk_config(&sandbox.endpoint_url()).await;
    MediaPackage::new(&config)
        .create_channel()
        .id("logged")
        .send()
        .await
        .unwrap();
    Ssm::new(&config)
        .get_parameter()
        .name("/absent")
        .send()
        .await
        .unwrap_err();
    Iam::new(&config)
        .get_role()
        .role_name("absent-role")
        .send()
        .await
        .unwrap_err();
    let log: Vec<(String, Option<String>, u16)> = sandbox
        .requests()
        .into_iter()
        .map(|r| (r.operation, r.resource, r.status))
        .collect();
    let expected = [
        ("CreateChannel", "logged", 200),
        ("GetParameter", "/absent", 400),
        ("GetRole", "absent-role", 404),
    ];
    for (op, resource, status) in expected {
        assert!(
            log.contains(&(op.to_string(), Some(resource.to_string()), status)),
            "{op} {resource} {status} missing from {log:?}"
        );
    }
    sandbox.shutdown().await;
}

/// A client config that retries three times with a 1 ms backoff.
async fn quick_retry_config(endpoint: &str) -> aws_config::SdkConfig {
    let config = common::sdk_config(endpoint).await;
    config
        .into_builder()
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5)),
        )
        .build()
}

#[tokio::test]
async fn faults_come_in_each_protocols_own_error_shape_and_are_retried() {
    for (rate, status) in [("throttle_rate", 429u16), ("error_rate", 500)] {
        let sandbox = common::sandbox().await;
        let url = sandbox.endpoint_url();
        common::put_faults(&url, &format!(r#"{{"{rate}": 1.0}}"#)).await;
        let config = quick_retry_config(&url).await;

        let mp = MediaPackage::new(&config)
            .describe_channel()
            .id("x")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        let ssm = Ssm::new(&config)
            .get_parameter()
            .name("/x")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        let iam = Iam::new(&config)
            .get_role()
            .role_name("x")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        use aws_sdk_iam::error::ProvideErrorMetadata;
        let codes = [mp.code(), ssm.code(), iam.code()];
        if status == 429 {
            assert!(mp.is_too_many_requests_exception(), "{mp:?}");
            assert_eq!(
                codes,
                [
                    Some("TooManyRequestsException"),
                    Some("ThrottlingException"),
                    Some("Throttling")
                ]
            );
        } else {
            assert!(mp.is_internal_server_error_exception(), "{mp:?}");
            assert!(ssm.is_internal_server_error(), "{ssm:?}");
            assert_eq!(
                codes,
                [
                    Some("InternalServerErrorException"),
                    Some("InternalServerError"),
                    Some("ServiceFailure")
                ]
            );
        }
        // Each SDK took the fault for a retryable one: three attempts per call.
        let log: Vec<(String, u16)> = sandbox
            .requests()
            .into_iter()
            .map(|r| (r.operation, r.status))
            .collect();
        let expected: Vec<(String, u16)> = ["DescribeChannel", "GetParameter", "GetRole"]
            .iter()
            .flat_map(|op| std::iter::repeat_n((op.to_string(), status), 3))
            .collect();
        assert_eq!(log, expected, "{rate}");
        sandbox.shutdown().await;
    }
}

#[tokio::test]
async fn the_rate_model_answers_each_protocols_own_throttle() {
    let sandbox = common::sandbox().await;
    let url = sandbox.endpoint_url();
    // "aws" names AWS's table: MediaLive's 5 a second, bursts of 30, first.
    common::put_faults(&url, r#"{"rate_limits": "aws"}"#).await;
    let (_, faults) = common::http(&url, "GET", "/_sandbox/faults", "").await;
    let faults: serde_json::Value = serde_json::from_str(&faults).unwrap();
    assert_eq!(
        faults["rate_limits"][0],
        serde_json::json!({"service": "medialive", "rate": 5.0, "burst": 30})
    );
    let (status, _) =
        common::http(&url, "PUT", "/_sandbox/faults", r#"{"rate_limits": "gcp"}"#).await;
    assert_eq!(status, 400);
    // One call a service, never refilled: the second call of each is throttled, in its
    // protocol's shape, through every retry.
    common::put_faults(
        &url,
        r#"{"rate_limits": [{"service": "mediapackage", "rate": 0, "burst": 1},
                            {"service": "ssm", "rate": 0, "burst": 1},
                            {"service": "iam", "rate": 0, "burst": 1}]}"#,
    )
    .await;
    let config = quick_retry_config(&url).await;
    let (mp, ssm, iam) = (
        MediaPackage::new(&config),
        Ssm::new(&config),
        Iam::new(&config),
    );
    mp.list_channels().send().await.unwrap();
    ssm.describe_parameters().send().await.unwrap();
    let missing = iam.get_role().role_name("x").send().await.unwrap_err();
    assert!(missing.into_service_error().is_no_such_entity_exception());
    let code = |failed: Option<String>| failed.unwrap_or_else(|| "succeeded".into());
    let throttled = [
        code(error_code(mp.list_channels().send().await)),
        code(error_code(ssm.describe_parameters().send().await)),
        code(error_code(iam.get_role().role_name("x").send().await)),
    ];
    assert_eq!(
        throttled,
        [
            "TooManyRequestsException",
            "ThrottlingException",
            "Throttling"
        ]
    );
    let rated = sandbox
        .requests()
        .iter()
        .filter(|r| r.fault.as_deref() == Some("rate"))
        .count();
    assert_eq!(rated, 9, "three calls of three attempts each");
    sandbox.shutdown().await;
}

/// The error code of a failed call, `None` when it succeeded.
fn error_code<T, E: aws_sdk_iam::error::ProvideErrorMetadata>(
    result: Result<T, E>,
) -> Option<String> {
    result.err().and_then(|e| e.code().map(str::to_string))
}

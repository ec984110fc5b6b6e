//! The sandbox's S3 through the real aws-sdk-s3 (path-style, dummy credentials): the
//! conditional writes livestack's remote state and lock rely on, bodies sent aws-chunked with
//! a trailing checksum (the SDK's default for a streamed body), checksum-validated reads,
//! versions, listings, errors on the wire, faults, holds and the data file.

mod common;

use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode, ServerSideEncryption,
    VersioningConfiguration,
};
use aws_sdk_s3::Client;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use livestack_sandbox::{start, Config, Faults};

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDSANDBOX/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

async fn client(endpoint: &str) -> Client {
    let config = common::sdk_config(endpoint).await;
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// A client whose retries are quick, for fault tests.
async fn quick_client(endpoint: &str) -> Client {
    let config = common::sdk_config(endpoint).await;
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1))
                    .with_max_backoff(Duration::from_millis(5)),
            )
            .build(),
    )
}

async fn versioned_bucket(s3: &Client, name: &str) {
    s3.create_bucket().bucket(name).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// A body the SDK streams (aws-chunked with a trailing checksum), as a file is.
async fn streamed(bytes: &[u8]) -> (ByteStream, tempfile::TempPath) {
    let path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    std::fs::write(&path, bytes).unwrap();
    (ByteStream::from_path(&path).await.unwrap(), path)
}

/// A plain put of `bytes` (sent whole, its checksum in a header).
async fn put_bytes(
    s3: &Client,
    bucket: &str,
    key: &str,
    bytes: &'static [u8],
) -> aws_sdk_s3::operation::put_object::PutObjectOutput {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(bytes))
        .send()
        .await
        .unwrap()
}

/// CRC-32 (IEEE), bit by bit: a reference independent of the sandbox's table.
fn crc32_reference(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn md5_etag(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    let d = Md5::digest(bytes);
    format!(
        "\"{}\"",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn code<E: ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<none>").to_string()
}

#[tokio::test]
async fn conditional_writes_guard_a_state_object_and_its_lock() {
    let sandbox = common::sandbox().await;
    let s3 = client(&sandbox.endpoint_url()).await;
    versioned_bucket(&s3, "team-state").await;

    // The lock: created only when absent.
    let (body, _f) = streamed(b"{\"holder\":\"ana\"}").await;
    let put = s3
        .put_object()
        .bucket("team-state")
        .key("imday.json.lock")
        .if_none_match("*")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.e_tag(),
        Some(md5_etag(b"{\"holder\":\"ana\"}").as_str())
    );
    assert!(put.version_id().is_some_and(|v| v.len() == 32));
    let (body, _f) = streamed(b"{\"holder\":\"bo\"}").await;
    let err = s3
        .put_object()
        .bucket("team-state")
        .key("imday.json.lock")
        .if_none_match("*")
        .body(body)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 412);

    // The aws-chunked body was decoded: the stored bytes are the lock's, not the framing.
    let cloud = sandbox.cloud();
    let stored = &cloud.s3.buckets["team-state"].objects["imday.json.lock"];
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body, b"{\"holder\":\"ana\"}");
    assert!(stored[0].checksum.is_some());

    // The state: written with If-Match of what was read; a stale ETag is refused.
    let v1 = put_bytes(&s3, "team-state", "imday.json", b"{\"serial\":1}").await;
    let v2 = s3
        .put_object()
        .bucket("team-state")
        .key("imday.json")
        .if_match(v1.e_tag().unwrap())
        .body(ByteStream::from_static(b"{\"serial\":2}"))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.e_tag(), Some(md5_etag(b"{\"serial\":2}").as_str()));
    let err = s3
        .put_object()
        .bucket("team-state")
        .key("imday.json")
        .if_match(v1.e_tag().unwrap())
        .body(ByteStream::from_static(b"{\"serial\":3}"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");
    let err = s3
        .put_object()
        .bucket("team-state")
        .key("nobody.json")
        .if_match(v1.e_tag().unwrap())
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchKey");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 404);

    // The read, checksum-validated by the SDK, and an older version by id.
    let got = s3
        .get_object()
        .bucket("team-state")
        .key("imday.json")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert!(got.checksum_crc32().is_some(), "{got:?}");
    assert_eq!(got.e_tag(), v2.e_tag());
    assert_eq!(got.version_id(), v2.version_id());
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&bytes[..], b"{\"serial\":2}");
    let old = s3
        .get_object()
        .bucket("team-state")
        .key("imday.json")
        .version_id(v1.version_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        &old.body.collect().await.unwrap().into_bytes()[..],
        b"{\"serial\":1}"
    );
    let err = s3
        .get_object()
        .bucket("team-state")
        .key("imday.json")
        .if_match("\"0123\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");

    // The lock released: a conditional delete, then a delete marker.
    let err = s3
        .delete_object()
        .bucket("team-state")
        .key("imday.json.lock")
        .if_match("\"0123\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");
    let deleted = s3
        .delete_object()
        .bucket("team-state")
        .key("imday.json.lock")
        .if_match(put.e_tag().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    let err = s3
        .get_object()
        .bucket("team-state")
        .key("imday.json.lock")
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_no_such_key(), "{err:?}");
    let err = s3
        .head_object()
        .bucket("team-state")
        .key("imday.json.lock")
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_not_found(), "{err:?}");
    // Taken again after the release.
    s3.put_object()
        .bucket("team-state")
        .key("imday.json.lock")
        .if_none_match("*")
        .body(ByteStream::from_static(b"{\"holder\":\"bo\"}"))
        .send()
        .await
        .unwrap();

    let versions = s3
        .list_object_versions()
        .bucket("team-state")
        .prefix("imday.json.lock")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 2);
    assert_eq!(versions.delete_markers().len(), 1);
    assert_eq!(versions.versions()[0].is_latest(), Some(true));
    assert_eq!(versions.delete_markers()[0].is_latest(), Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_if_none_match_puts_exactly_one_wins() {
    let sandbox = common::sandbox().await;
    let s3 = client(&sandbox.endpoint_url()).await;
    versioned_bucket(&s3, "race").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            s3.put_object()
                .bucket("race")
                .key("stack.json.lock")
                .if_none_match("*")
                .body(ByteStream::from(format!("holder {i}").into_bytes()))
                .send()
                .await
                .map_err(|e| code(&e))
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(code) => assert_eq!(code, "PreconditionFailed"),
        }
    }
    assert_eq!(won, 1);
    let versions = s3
        .list_object_versions()
        .bucket("race")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1);
}

#[tokio::test]
async fn checksums_are_kept_verified_and_returned_for_the_sdk_to_validate() {
    let sandbox = common::sandbox().await;
    let s3 = client(&sandbox.endpoint_url()).await;
    s3.create_bucket().bucket("sums").send().await.unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for (key, algorithm) in [
        ("crc32", None),
        ("crc32c", Some(ChecksumAlgorithm::Crc32C)),
        ("crc64", Some(ChecksumAlgorithm::Crc64Nvme)),
        ("sha256", Some(ChecksumAlgorithm::Sha256)),
    ] {
        let (body, _f) = streamed(&big).await;
        s3.put_object()
            .bucket("sums")
            .key(key)
            .set_checksum_algorithm(algorithm)
            .body(body)
            .send()
            .await
            .unwrap();
        let got = s3
            .get_object()
            .bucket("sums")
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let any = [
            got.checksum_crc32(),
            got.checksum_crc32_c(),
            got.checksum_crc64_nvme(),
            got.checksum_sha256(),
        ];
        assert_eq!(any.iter().flatten().count(), 1, "{key}: {got:?}");
        // The SDK checks the body against the returned checksum as it reads it.
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(bytes.len(), big.len(), "{key}");
        assert_eq!(&bytes[..], &big[..], "{key}");
        let head = s3
            .head_object()
            .bucket("sums")
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(big.len() as i64), "{key}");
    }

    // A checksum that does not match the body is refused.
    let endpoint = sandbox.endpoint_url();
    let (status, _, body) = common::http_request(
        &endpoint,
        "PUT",
        "/sums/bad",
        &[
            ("authorization", AUTH),
            ("x-amz-checksum-crc32", "AAAAAA=="),
        ],
        "hello",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>BadDigest</Code>"), "{body}");
    // A range is a 206 of those bytes, without the whole object's checksum.
    let part = s3
        .get_object()
        .bucket("sums")
        .key("crc32")
        .range("bytes=10-19")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(part.content_range(), Some("bytes 10-19/200000"));
    assert_eq!(part.checksum_crc32(), None);
    assert_eq!(
        &part.body.collect().await.unwrap().into_bytes()[..],
        &big[10..20]
    );
    let err = s3
        .get_object()
        .bucket("sums")
        .key("crc32")
        .range("bytes=200000-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRange");
    // A HEAD answers the object's length once, with no body; a matching If-None-Match 304.
    let (status, headers, body) = common::http_request(
        &endpoint,
        "HEAD",
        "/sums/crc32",
        &[("authorization", AUTH)],
        "",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let lengths: Vec<_> = headers
        .iter()
        .filter(|(k, _)| k == "content-length")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(lengths, [big.len().to_string()]);
    let etag = headers.iter().find(|(k, _)| k == "etag").unwrap().1.clone();
    let (status, headers, body) = common::http_request(
        &endpoint,
        "GET",
        "/sums/crc32",
        &[("authorization", AUTH), ("if-none-match", &etag)],
        "",
    )
    .await;
    assert_eq!((status, body.as_str()), (304, ""));
    assert!(headers.iter().any(|(k, v)| k == "etag" && *v == etag));
    // What botocore and the SDKs send over HTTPS: unsigned chunks and a trailing checksum.
    let unsigned = [
        ("authorization", AUTH),
        ("content-encoding", "aws-chunked"),
        ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        ("x-amz-decoded-content-length", "10"),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
    ];
    let (status, _, body) = common::http_request(
        &endpoint,
        "PUT",
        "/sums/trailer",
        &unsigned,
        "5\r\nhello\r\n5\r\nhello\r\n0\r\nx-amz-checksum-crc32:w3GyeA==\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>BadDigest</Code>"), "{body}");
    let crc = B64.encode(crc32_reference(b"hellohello").to_be_bytes());
    let (status, _, body) = common::http_request(
        &endpoint,
        "PUT",
        "/sums/trailer",
        &unsigned,
        &format!("5\r\nhello\r\n5\r\nhello\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let got = s3
        .get_object()
        .bucket("sums")
        .key("trailer")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_crc32(), Some(crc.as_str()));
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"hellohello"
    );
    // An aws-chunked body whose decoded length is not the announced one.
    let (status, _, body) = common::http_request(
        &endpoint,
        "PUT",
        "/sums/short",
        &[
            ("authorization", AUTH),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "9"),
        ],
        "5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>IncompleteBody</Code>"), "{body}");
}

#[tokio::test]
async fn kms_encryption_is_stored_and_echoed() {
    let sandbox = common::sandbox().await;
    let s3 = client(&sandbox.endpoint_url()).await;
    s3.create_bucket().bucket("kms").send().await.unwrap();
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let put = s3
        .put_object()
        .bucket("kms")
        .key("state.json")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(key)
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(put.ssekms_key_id(), Some(key));
    assert_eq!(
        put.version_id(),
        None,
        "an unversioned bucket gives no version id"
    );
    let head = s3
        .head_object()
        .bucket("kms")
        .key("state.json")
        .send()
        .await
        .unwrap();
    assert_eq!(head.ssekms_key_id(), Some(key));
    let got = s3
        .get_object()
        .bucket("kms")
        .key("state.json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    let plain = put_bytes(&s3, "kms", "plain", b"x").await;
    assert_eq!(
        plain.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
}

#[tokio::test]
async fn listings_paginate_by_prefix_and_versions_list_newest_first() {
    let sandbox = common::sandbox().await;
    let s3 = client(&sandbox.endpoint_url()).await;
    versioned_bucket(&s3, "lists").await;
    for key in ["a/1", "a/2", "a/3", "a/4", "a/5", "b/1", "a b+c/é"] {
        put_bytes(&s3, "lists", key, b"v1").await;
    }
    let page = s3
        .list_objects_v2()
        .bucket("lists")
        .prefix("a/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.key_count(), Some(2));
    assert_eq!(page.is_truncated(), Some(true));
    let keys: Vec<_> = page.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["a/1", "a/2"]);
    let mut all = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket("lists")
        .prefix("a")
        .max_keys(2)
        .into_paginator()
        .send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        n += 1;
        all.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    assert_eq!(n, 3);
    assert_eq!(all, ["a b+c/é", "a/1", "a/2", "a/3", "a/4", "a/5"]);
    let folded = s3
        .list_objects_v2()
        .bucket("lists")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = folded
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["a b+c/", "a/", "b/"]);
    assert_eq!(folded.key_count(), Some(3));

    put_bytes(&s3, "lists", "a/1", b"v2").await;
    s3.delete_object()
        .bucket("lists")
        .key("a/2")
        .send()
        .await
        .unwrap();
    let listed = s3
        .list_objects_v2()
        .bucket("lists")
        .prefix("a/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(4), "a/2 is deleted");
    let versions = s3
        .list_object_versions()
        .bucket("lists")
        .prefix("a/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.is_truncated(), Some(true));
    let v: Vec<_> = versions
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.is_latest().unwrap(), v.size().unwrap()))
        .collect();
    assert_eq!(v, [("a/1", true, 2), ("a/1", false, 2)]);
    let rest = s3
        .list_object_versions()
        .bucket("lists")
        .prefix("a/")
        .key_marker(versions.next_key_marker().unwrap())
        .version_id_marker(versions.next_version_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.is_truncated(), Some(false));
    assert_eq!(rest.delete_markers().len(), 1);
    assert_eq!(rest.delete_markers()[0].key(), Some("a/2"));
    assert_eq!(rest.versions().len(), 4, "a/2's old version, a/3, a/4, a/5");
}

#[tokio::test]
async fn buckets_are_created_once_emptied_before_deletion_and_missing_ones_are_404() {
    let sandbox = common::sandbox().await;
    let s3 = client(&sandbox.endpoint_url()).await;
    let err = s3.head_bucket().bucket("nope").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_not_found(), "{err:?}");
    let err = s3
        .get_object()
        .bucket("nope")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchBucket");

    s3.create_bucket()
        .bucket("eu-state")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let again = s3
        .create_bucket()
        .bucket("eu-state")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        again
            .as_service_error()
            .unwrap()
            .is_bucket_already_owned_by_you(),
        "{again:?}"
    );
    let head = s3.head_bucket().bucket("eu-state").send().await.unwrap();
    assert_eq!(head.bucket_region(), Some("eu-west-1"));
    // us-east-1 keeps AWS's legacy answer to a re-create: 200.
    s3.create_bucket().bucket("us-state").send().await.unwrap();
    s3.create_bucket().bucket("us-state").send().await.unwrap();
    let err = s3
        .create_bucket()
        .bucket("Bad_Name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidBucketName");

    put_bytes(&s3, "eu-state", "k", b"x").await;
    let err = s3
        .delete_bucket()
        .bucket("eu-state")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BucketNotEmpty");
    s3.delete_object()
        .bucket("eu-state")
        .key("k")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket("eu-state").send().await.unwrap();
    let buckets = s3.list_buckets().send().await.unwrap();
    let names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["us-state"]);
}

#[tokio::test]
async fn errors_are_s3_xml_and_the_log_names_s3_operations() {
    let sandbox = common::sandbox().await;
    let url = sandbox.endpoint_url();
    let s3 = client(&url).await;
    s3.create_bucket().bucket("wire").send().await.unwrap();

    let (status, headers, body) = common::http_request(
        &url,
        "GET",
        "/wire/missing.json",
        &[("authorization", AUTH)],
        "",
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{body}"
    );
    assert!(
        body.contains("<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>missing.json</Key><RequestId>"),
        "{body}"
    );
    let request_id = headers
        .iter()
        .find(|(k, _)| k == "x-amz-request-id")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        body.contains(&format!("<RequestId>{request_id}</RequestId>")),
        "{body}"
    );

    // A presigned-style credential routes to S3 too; a HEAD error has no body.
    let (status, _, body) = common::http_request(
        &url,
        "HEAD",
        "/nope?X-Amz-Credential=AKID%2F20261201%2Fus-east-1%2Fs3%2Faws4_request",
        &[],
        "",
    )
    .await;
    assert_eq!((status, body.as_str()), (404, ""));
    // Something the sandbox does not serve answers 501 in S3's shape.
    let (status, _, body) =
        common::http_request(&url, "GET", "/wire?acl", &[("authorization", AUTH)], "").await;
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("<Code>NotImplemented</Code>"), "{body}");
    // Malformed XML and bad arguments are the client's fault, never a panic.
    for (method, path, body_text, code) in [
        ("PUT", "/wire?versioning", "<nope", "MalformedXML"),
        ("PUT", "/wire?versioning", "<VersioningConfiguration><Status>On</Status></VersioningConfiguration>", "MalformedXML"),
        ("PUT", "/other", "<CreateBucketConfiguration><LocationConstraint>mars</LocationConstraint></CreateBucketConfiguration>", "InvalidLocationConstraint"),
        ("GET", "/wire?list-type=2&max-keys=-1", "", "InvalidArgument"),
        ("GET", "/wire?list-type=2&continuation-token=%%%", "", "InvalidArgument"),
        ("GET", "/wire?list-type=2&encoding-type=zip", "", "InvalidArgument"),
    ] {
        let (status, _, answer) =
            common::http_request(&url, method, path, &[("authorization", AUTH)], body_text).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert!(answer.contains(&format!("<Code>{code}</Code>")), "{method} {path}: {answer}");
    }

    let log = sandbox.requests();
    let s3_ops: Vec<_> = log
        .iter()
        .filter(|r| r.service == "s3")
        .map(|r| r.operation.as_str())
        .collect();
    assert_eq!(
        &s3_ops[..4],
        ["CreateBucket", "GetObject", "HeadBucket", "unknown"]
    );
    assert_eq!(log[1].resource.as_deref(), Some("wire/missing.json"));
    assert_eq!(log[1].status, 404);
}

#[tokio::test]
async fn faults_and_holds_apply_to_s3_calls_by_operation() {
    let sandbox = common::sandbox().await;
    let url = sandbox.endpoint_url();
    let s3 = quick_client(&url).await;
    s3.create_bucket().bucket("held").send().await.unwrap();

    // A held PutObject is not carried out until released.
    sandbox.hold(Some("s3"), "PutObject");
    let put = {
        let s3 = s3.clone();
        tokio::spawn(async move {
            s3.put_object()
                .bucket("held")
                .key("k")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        })
    };
    sandbox.wait_held("PutObject", 1).await;
    assert!(sandbox.cloud().s3.buckets["held"].objects.is_empty());
    sandbox.release("PutObject");
    put.await.unwrap().unwrap();
    assert_eq!(sandbox.cloud().s3.buckets["held"].objects.len(), 1);

    // Throttles are 503 SlowDown, internal errors 500 InternalError, retried by the SDK.
    for (faults, expected) in [
        (
            Faults {
                throttle_rate: 1.0,
                ..Faults::default()
            },
            "SlowDown",
        ),
        (
            Faults {
                error_rate: 1.0,
                ..Faults::default()
            },
            "InternalError",
        ),
    ] {
        sandbox.set_faults(faults).unwrap();
        let err = s3
            .get_object()
            .bucket("held")
            .key("k")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), expected);
        let attempts: Vec<_> = sandbox
            .requests()
            .into_iter()
            .filter(|r| r.operation == "GetObject" && r.fault.is_some())
            .collect();
        assert!(attempts.len() >= 3, "{attempts:?}");
        assert_eq!(attempts.last().unwrap().service, "s3");
    }
}

#[tokio::test]
async fn buckets_and_objects_persist_in_the_data_file_and_ensure_bucket_needs_no_setup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cloud.json");
    let config = Config {
        port: 0,
        data: Some(data.clone()),
        speed: 2000.0,
        ..Config::default()
    };
    let sandbox = start(config.clone()).await.unwrap();
    sandbox.ensure_bucket("livestack-sandbox").await.unwrap();
    sandbox.ensure_bucket("livestack-sandbox").await.unwrap();
    assert!(sandbox.ensure_bucket("Not A Bucket").await.is_err());
    let s3 = client(&sandbox.endpoint_url()).await;
    let versioning = s3
        .get_bucket_versioning()
        .bucket("livestack-sandbox")
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    let (body, _f) = streamed(b"state bytes").await;
    let put = s3
        .put_object()
        .bucket("livestack-sandbox")
        .key("state/imday.json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, cloud) = common::http(&sandbox.endpoint_url(), "GET", "/_sandbox/cloud", "").await;
    assert_eq!(status, 200);
    let cloud: serde_json::Value = serde_json::from_str(&cloud).unwrap();
    assert!(
        cloud["s3"]["buckets"]["livestack-sandbox"]["objects"]["state/imday.json"].is_array(),
        "{cloud}"
    );
    sandbox.shutdown().await;

    let restarted = start(config).await.unwrap();
    let s3 = client(&restarted.endpoint_url()).await;
    let got = s3
        .get_object()
        .bucket("livestack-sandbox")
        .key("state/imday.json")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag(), put.e_tag());
    assert_eq!(got.version_id(), put.version_id());
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"state bytes"
    );
    restarted.shutdown().await;
}

//! Conformance with a client nobody here wrote: `aws s3api` (botocore's own S3 model, its
//! flexible checksums and its path-style addressing of an IP endpoint) drives the sandbox's
//! S3 through buckets, versioning, conditional writes, reads, listings and deletes.
//!
//! Without `aws` installed a local run says so and passes; under CI (`CI` set) it fails (see
//! `awscli_mediapackage_ssm_iam.rs`, which checks that behaviour of `common::aws_cli`).

mod common;

use std::path::Path;

use common::{fails, ok};
use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// `s3api OP --bucket cli-state --key KEY MORE...`.
fn on<'a>(op: &'a str, key: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    [
        &["s3api", op, "--bucket", "cli-state", "--key", key][..],
        more,
    ]
    .concat()
}

fn keys(listing: &Value, member: &str) -> Vec<String> {
    listing[member]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| o["Key"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awscli_drives_s3() {
    let Some(cli) = common::aws_cli() else { return };
    let sandbox = common::sandbox().await;
    let url = sandbox.endpoint_url();
    let (c, u) = (&cli, url.as_str());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Buckets.
    ok(c, u, &["s3api", "create-bucket", "--bucket", "cli-state"]);
    // us-east-1's legacy answer to a re-create of your own bucket is a 200.
    ok(c, u, &["s3api", "create-bucket", "--bucket", "cli-state"]);
    let eu = [
        "s3api",
        "create-bucket",
        "--bucket",
        "cli-eu",
        "--create-bucket-configuration",
        "LocationConstraint=eu-west-1",
    ];
    ok(c, u, &eu);
    fails(c, u, &eu, "BucketAlreadyOwnedByYou");
    fails(
        c,
        u,
        &["s3api", "create-bucket", "--bucket", "Bad_Name"],
        "InvalidBucketName",
    );
    ok(c, u, &["s3api", "head-bucket", "--bucket", "cli-eu"]);
    fails(
        c,
        u,
        &["s3api", "head-bucket", "--bucket", "missing"],
        "404",
    );
    let location = ok(
        c,
        u,
        &["s3api", "get-bucket-location", "--bucket", "cli-eu"],
    );
    assert_eq!(location["LocationConstraint"], "eu-west-1");

    // Versioning.
    let before = ok(
        c,
        u,
        &["s3api", "get-bucket-versioning", "--bucket", "cli-state"],
    );
    assert!(before.get("Status").is_none(), "{before}");
    ok(
        c,
        u,
        &[
            "s3api",
            "put-bucket-versioning",
            "--bucket",
            "cli-state",
            "--versioning-configuration",
            "Status=Enabled",
        ],
    );
    let after = ok(
        c,
        u,
        &["s3api", "get-bucket-versioning", "--bucket", "cli-state"],
    );
    assert_eq!(after["Status"], "Enabled");

    // Conditional writes: create-only twice, then If-Match with a stale and a fresh ETag.
    let v1_file = write(d, "v1.json", "{\"serial\":1}");
    let lock = on(
        "put-object",
        "stack.json",
        &["--body", &v1_file, "--if-none-match", "*"],
    );
    let v1 = ok(c, u, &lock);
    assert_eq!(v1["ETag"], format!("\"{}\"", md5_hex(b"{\"serial\":1}")));
    let v1_version = v1["VersionId"].as_str().unwrap().to_string();
    fails(c, u, &lock, "PreconditionFailed");
    let v2_file = write(d, "v2.json", "{\"serial\":2}");
    let v1_etag = v1["ETag"].as_str().unwrap().to_string();
    let kms = [
        "--server-side-encryption",
        "aws:kms",
        "--ssekms-key-id",
        "alias/livestack",
    ];
    let v2 = ok(
        c,
        u,
        &on(
            "put-object",
            "stack.json",
            &[&["--body", &v2_file, "--if-match", &v1_etag][..], &kms].concat(),
        ),
    );
    assert_eq!(v2["ServerSideEncryption"], "aws:kms");
    assert_eq!(v2["SSEKMSKeyId"], "alias/livestack");
    let stale = ["--body", &v1_file, "--if-match", &v1_etag];
    fails(
        c,
        u,
        &on("put-object", "stack.json", &stale),
        "PreconditionFailed",
    );

    // Reads: the current version, an older one, metadata and the checksum.
    let out_file = d.join("out.json");
    let out = out_file.to_string_lossy().into_owned();
    let got = ok(c, u, &on("get-object", "stack.json", &[&out]));
    assert_eq!(got["ETag"], v2["ETag"]);
    assert_eq!(got["SSEKMSKeyId"], "alias/livestack");
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "{\"serial\":2}"
    );
    let old = ["--version-id", &v1_version, &out];
    ok(c, u, &on("get-object", "stack.json", &old));
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "{\"serial\":1}"
    );
    let stale_read = ["--if-match", &v1_etag, &out];
    fails(
        c,
        u,
        &on("get-object", "stack.json", &stale_read),
        "PreconditionFailed",
    );
    let head = ok(
        c,
        u,
        &on("head-object", "stack.json", &["--checksum-mode", "ENABLED"]),
    );
    assert_eq!(head["ContentLength"], 12);
    assert_eq!(head["ETag"], v2["ETag"]);
    assert!(
        head.as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("Checksum")),
        "{head}"
    );
    fails(c, u, &on("head-object", "nothing", &[]), "404");
    fails(c, u, &on("get-object", "nothing", &[&out]), "NoSuchKey");

    // Listings: a prefix, pages of two by hand and by the CLI's own paginator.
    let small = write(d, "small", "x");
    for key in [
        "logs/1",
        "logs/2",
        "logs/3",
        "logs/4",
        "logs/5",
        "odd key+/é",
    ] {
        ok(c, u, &on("put-object", key, &["--body", &small]));
    }
    let list = |more: &[&str]| {
        let args = [
            &["s3api", "list-objects-v2", "--bucket", "cli-state"][..],
            more,
        ]
        .concat();
        ok(c, u, &args)
    };
    let page = list(&["--prefix", "logs/", "--max-keys", "2", "--no-paginate"]);
    assert_eq!(page["KeyCount"], 2);
    assert_eq!(page["IsTruncated"], true);
    assert_eq!(keys(&page, "Contents"), ["logs/1", "logs/2"]);
    let token = page["NextContinuationToken"].as_str().unwrap();
    let next = list(&[
        "--prefix",
        "logs/",
        "--max-keys",
        "2",
        "--continuation-token",
        token,
        "--no-paginate",
    ]);
    assert_eq!(keys(&next, "Contents"), ["logs/3", "logs/4"]);
    let all = list(&["--page-size", "2"]);
    assert_eq!(
        keys(&all, "Contents"),
        [
            "logs/1",
            "logs/2",
            "logs/3",
            "logs/4",
            "logs/5",
            "odd key+/é",
            "stack.json"
        ]
    );
    let folded = list(&["--delimiter", "/"]);
    assert_eq!(
        folded["CommonPrefixes"],
        serde_json::json!([{"Prefix": "logs/"}, {"Prefix": "odd key+/"}])
    );
    assert_eq!(keys(&folded, "Contents"), ["stack.json"]);

    // Versions, a delete marker, a conditional delete.
    let versions_of = |key: &str| {
        let args = [
            "s3api",
            "list-object-versions",
            "--bucket",
            "cli-state",
            "--prefix",
            key,
        ];
        ok(c, u, &args)
    };
    let versions = versions_of("stack.json");
    let listed: Vec<_> = versions["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["VersionId"].as_str().unwrap(), v["IsLatest"] == true))
        .collect();
    assert_eq!(
        listed,
        [
            (v2["VersionId"].as_str().unwrap(), true),
            (v1_version.as_str(), false)
        ]
    );
    let stale_delete = ["--if-match", v1_etag.as_str()];
    fails(
        c,
        u,
        &on("delete-object", "stack.json", &stale_delete),
        "PreconditionFailed",
    );
    let deleted = ok(c, u, &on("delete-object", "stack.json", &[]));
    assert_eq!(deleted["DeleteMarker"], true);
    let marker = deleted["VersionId"].as_str().unwrap().to_string();
    fails(c, u, &on("get-object", "stack.json", &[&out]), "NoSuchKey");
    let versions = versions_of("stack.json");
    assert_eq!(versions["DeleteMarkers"][0]["VersionId"], marker.as_str());
    assert_eq!(versions["DeleteMarkers"][0]["IsLatest"], true);
    assert_eq!(versions["Versions"].as_array().unwrap().len(), 2);
    // The lock can be taken again once its key only has a delete marker.
    ok(c, u, &lock);

    // The high-level commands ride on the same operations.
    let copied = d.join("copied");
    for args in [
        vec!["s3", "cp", &v2_file, "s3://cli-state/cp/state.json"],
        vec![
            "s3",
            "cp",
            "s3://cli-state/cp/state.json",
            copied.to_str().unwrap(),
        ],
    ] {
        let out = common::aws_in_runtime(c, u, &args);
        assert!(out.ok, "aws {args:?}: {}", out.stderr);
    }
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), "{\"serial\":2}");
    // Above 8 MiB `aws s3 cp` downloads in ranged GETs.
    let big: Vec<u8> = (0..10_000_000u32).map(|i| (i % 253) as u8).collect();
    let big_file = d.join("big");
    std::fs::write(&big_file, &big).unwrap();
    let big_path = big_file.to_str().unwrap();
    ok(c, u, &on("put-object", "big", &["--body", big_path]));
    let big_copy = d.join("big-copy");
    let args = ["s3", "cp", "s3://cli-state/big", big_copy.to_str().unwrap()];
    let out = common::aws_in_runtime(c, u, &args);
    assert!(out.ok, "aws {args:?}: {}", out.stderr);
    assert!(
        std::fs::read(&big_copy).unwrap() == big,
        "the ranged download differs"
    );
    let ranged = sandbox
        .requests()
        .iter()
        .filter(|r| r.operation == "GetObject" && r.resource.as_deref() == Some("cli-state/big"))
        .count();
    assert!(ranged >= 2, "{ranged} GetObject calls");
    let ls = common::aws_in_runtime(c, u, &["s3", "ls", "s3://cli-state/"]);
    assert!(ls.ok, "{}", ls.stderr);
    for line in ["PRE cp/", "PRE logs/", "PRE odd key+/", "stack.json"] {
        assert!(ls.stdout.contains(line), "{line} not in: {}", ls.stdout);
    }

    // A bucket with objects is not deleted; an emptied one is.
    fails(
        c,
        u,
        &["s3api", "delete-bucket", "--bucket", "cli-state"],
        "BucketNotEmpty",
    );
    ok(c, u, &["s3api", "delete-bucket", "--bucket", "cli-eu"]);
    fails(c, u, &["s3api", "head-bucket", "--bucket", "cli-eu"], "404");

    let log = sandbox.requests();
    assert!(log.iter().all(|r| r.service == "s3"), "{log:?}");
    assert!(log
        .iter()
        .any(|r| r.operation == "PutObject" && r.status == 412));
    assert!(log.iter().any(|r| r.operation == "ListObjectVersions"));
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

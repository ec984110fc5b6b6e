//! Conformance with a client nobody here wrote: the AWS CLI (botocore's own service models)
//! drives the sandbox's MediaPackage, SSM and IAM through create, describe, list, update and
//! delete, and sees AWS's answers and error codes.
//!
//! Without `aws` installed a local run says so and passes; under CI (`CI` set) it fails.

mod common;

use common::{fails, ok};
use serde_json::Value;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"medialive.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const READ_SSM: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"*"}]}"#;
const SSM_READ_ONLY: &str = "arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess";

/// Runs this test binary's `awscli_drives_ssm` alone, with no AWS CLI to be found, `CI` set
/// or not; its exit status and everything it printed.
fn run_without_cli(ci: bool) -> (bool, String) {
    let empty = std::env::temp_dir().join(format!("livestack-no-aws-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "awscli_drives_ssm", "--nocapture"])
        .env_remove("LIVESTACK_AWS_CLI")
        .env("PATH", &empty);
    if ci {
        cmd.env("CI", "true");
    } else {
        cmd.env_remove("CI");
    }
    let out = cmd.output().expect("the test binary runs");
    let _ = std::fs::remove_dir(&empty);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

#[test]
fn without_the_cli_the_conformance_test_fails_under_ci_and_says_it_skipped_locally() {
    let (passed, printed) = run_without_cli(true);
    assert!(!passed, "under CI a missing AWS CLI must fail: {printed}");
    assert!(
        printed.contains("the AWS CLI is required under CI"),
        "{printed}"
    );
    assert!(printed.contains("1 failed"), "{printed}");

    let (passed, printed) = run_without_cli(false);
    assert!(passed, "locally a missing AWS CLI skips: {printed}");
    assert!(
        printed.contains("SKIPPED: the AWS CLI (`aws`) is not installed"),
        "{printed}"
    );
    assert!(printed.contains("1 passed"), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awscli_drives_mediapackage() {
    let Some(cli) = common::aws_cli() else { return };
    let sandbox = common::sandbox().await;
    let url = sandbox.endpoint_url();
    let (c, u) = (&cli, url.as_str());

    let ch = ok(
        c,
        u,
        &[
            "mediapackage",
            "create-channel",
            "--id",
            "cli-chan",
            "--description",
            "from the cli",
            "--tags",
            "team=video",
        ],
    );
    assert_eq!(ch["Id"], "cli-chan");
    let arn = ch["Arn"].as_str().unwrap().to_string();
    let ingest = ch["HlsIngest"]["IngestEndpoints"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(ingest.len(), 2);
    assert!(ingest[0]["Url"].as_str().unwrap().ends_with("/channel"));
    assert_eq!(ch["Tags"]["team"], "video");
    fails(
        c,
        u,
        &["mediapackage", "create-channel", "--id", "cli-chan"],
        "UnprocessableEntityException",
    );

    let described = ok(
        c,
        u,
        &["mediapackage", "describe-channel", "--id", "cli-chan"],
    );
    assert_eq!(described["Description"], "from the cli");
    let updated = ok(
        c,
        u,
        &[
            "mediapackage",
            "update-channel",
            "--id",
            "cli-chan",
            "--description",
            "edited",
        ],
    );
    assert_eq!(updated["Description"], "edited");

    let second = ingest[1]["Id"].as_str().unwrap();
    let rotated = ok(
        c,
        u,
        &[
            "mediapackage",
            "rotate-ingest-endpoint-credentials",
            "--id",
            "cli-chan",
            "--ingest-endpoint-id",
            second,
        ],
    );
    let after = &rotated["HlsIngest"]["IngestEndpoints"];
    assert_eq!(after[0]["Password"], ingest[0]["Password"]);
    assert_ne!(after[1]["Password"], ingest[1]["Password"]);

    let ep = ok(
        c,
        u,
        &[
            "mediapackage",
            "create-origin-endpoint",
            "--id",
            "cli-hls",
            "--channel-id",
            "cli-chan",
            "--time-delay-seconds",
            "10",
            "--hls-package",
            "SegmentDurationSeconds=2",
        ],
    );
    assert!(ep["Url"].as_str().unwrap().ends_with("/index.m3u8"));
    assert_eq!(ep["HlsPackage"]["SegmentDurationSeconds"], 2);
    assert_eq!(ep["HlsPackage"]["PlaylistWindowSeconds"], 60);
    assert_eq!(ep["TimeDelaySeconds"], 10);
    fails(
        c,
        u,
        &[
            "mediapackage",
            "create-origin-endpoint",
            "--id",
            "cli-x",
            "--channel-id",
            "no-such-channel",
            "--hls-package",
            "SegmentDurationSeconds=2",
        ],
        "NotFoundException",
    );

    let listed = ok(
        c,
        u,
        &[
            "mediapackage",
            "list-origin-endpoints",
            "--channel-id",
            "cli-chan",
        ],
    );
    assert_eq!(listed["OriginEndpoints"][0]["Id"], "cli-hls");
    let none = ok(
        c,
        u,
        &[
            "mediapackage",
            "list-origin-endpoints",
            "--channel-id",
            "other",
        ],
    );
    assert_eq!(none["OriginEndpoints"], serde_json::json!([]));

    // UpdateOriginEndpoint replaces the whole endpoint.
    let replaced = ok(
        c,
        u,
        &[
            "mediapackage",
            "update-origin-endpoint",
            "--id",
            "cli-hls",
            "--hls-package",
            "PlaylistWindowSeconds=120",
        ],
    );
    assert_eq!(replaced["HlsPackage"]["SegmentDurationSeconds"], 6);
    assert_eq!(replaced["HlsPackage"]["PlaylistWindowSeconds"], 120);
    assert_eq!(replaced["TimeDelaySeconds"], 0);

    ok(
        c,
        u,
        &[
            "mediapackage",
            "tag-resource",
            "--resource-arn",
            &arn,
            "--tags",
            "env=prod",
        ],
    );
    ok(
        c,
        u,
        &[
            "mediapackage",
            "untag-resource",
            "--resource-arn",
            &arn,
            "--tag-keys",
            "team",
        ],
    );
    let tags = ok(
        c,
        u,
        &[
            "mediapackage",
            "list-tags-for-resource",
            "--resource-arn",
            &arn,
        ],
    );
    assert_eq!(tags["Tags"], serde_json::json!({"env": "prod"}));

    fails(
        c,
        u,
        &["mediapackage", "delete-channel", "--id", "cli-chan"],
        "UnprocessableEntityException",
    );
    ok(
        c,
        u,
        &["mediapackage", "delete-origin-endpoint", "--id", "cli-hls"],
    );
    fails(
        c,
        u,
        &[
            "mediapackage",
            "describe-origin-endpoint",
            "--id",
            "cli-hls",
        ],
        "NotFoundException",
    );
    ok(
        c,
        u,
        &["mediapackage", "delete-channel", "--id", "cli-chan"],
    );
    let channels = ok(c, u, &["mediapackage", "list-channels"]);
    assert_eq!(channels["Channels"], serde_json::json!([]));
    fails(
        c,
        u,
        &["mediapackage", "describe-channel", "--id", "cli-chan"],
        "NotFoundException",
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awscli_drives_ssm() {
    let Some(cli) = common::aws_cli() else { return };
    let sandbox = common::sandbox().await;
    let url = sandbox.endpoint_url();
    let (c, u) = (&cli, url.as_str());

    let put = ok(
        c,
        u,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/cli/password",
            "--value",
            "s3cret",
            "--type",
            "SecureString",
            "--tags",
            "Key=stack,Value=demo",
        ],
    );
    assert_eq!(put["Version"], 1);
    fails(
        c,
        u,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/cli/password",
            "--value",
            "x",
        ],
        "ParameterAlreadyExists",
    );
    let put = ok(
        c,
        u,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/cli/password",
            "--value",
            "rotated",
            "--overwrite",
        ],
    );
    assert_eq!(put["Version"], 2);
    ok(
        c,
        u,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/cli/plain",
            "--value",
            "hello",
            "--type",
            "String",
        ],
    );

    let hidden = ok(c, u, &["ssm", "get-parameter", "--name", "/cli/password"]);
    assert_ne!(hidden["Parameter"]["Value"], "rotated");
    let clear = ok(
        c,
        u,
        &[
            "ssm",
            "get-parameter",
            "--name",
            "/cli/password",
            "--with-decryption",
        ],
    );
    assert_eq!(clear["Parameter"]["Value"], "rotated");
    assert_eq!(clear["Parameter"]["Version"], 2);
    let both = ok(
        c,
        u,
        &[
            "ssm",
            "get-parameters",
            "--names",
            "/cli/plain",
            "/cli/missing",
        ],
    );
    assert_eq!(both["Parameters"][0]["Value"], "hello");
    assert_eq!(
        both["InvalidParameters"],
        serde_json::json!(["/cli/missing"])
    );

    let described = ok(
        c,
        u,
        &[
            "ssm",
            "describe-parameters",
            "--parameter-filters",
            "Key=Name,Option=BeginsWith,Values=/cli/",
        ],
    );
    let names: Vec<&str> = described["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["/cli/password", "/cli/plain"]);
    fails(
        c,
        u,
        &[
            "ssm",
            "describe-parameters",
            "--parameter-filters",
            "Key=Name,Option=Recursive,Values=/cli",
        ],
        "InvalidFilterOption",
    );

    ok(
        c,
        u,
        &[
            "ssm",
            "add-tags-to-resource",
            "--resource-type",
            "Parameter",
            "--resource-id",
            "/cli/password",
            "--tags",
            "Key=owner,Value=ops",
        ],
    );
    ok(
        c,
        u,
        &[
            "ssm",
            "remove-tags-from-resource",
            "--resource-type",
            "Parameter",
            "--resource-id",
            "/cli/password",
            "--tag-keys",
            "stack",
        ],
    );
    let tags = ok(
        c,
        u,
        &[
            "ssm",
            "list-tags-for-resource",
            "--resource-type",
            "Parameter",
            "--resource-id",
            "/cli/password",
        ],
    );
    assert_eq!(
        tags["TagList"],
        serde_json::json!([{"Key": "owner", "Value": "ops"}])
    );

    ok(
        c,
        u,
        &["ssm", "delete-parameter", "--name", "/cli/password"],
    );
    fails(
        c,
        u,
        &["ssm", "get-parameter", "--name", "/cli/password"],
        "ParameterNotFound",
    );
    fails(
        c,
        u,
        &["ssm", "delete-parameter", "--name", "/cli/password"],
        "ParameterNotFound",
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awscli_drives_iam() {
    let Some(cli) = common::aws_cli() else { return };
    let sandbox = common::sandbox().await;
    let url = sandbox.endpoint_url();
    let (c, u) = (&cli, url.as_str());
    let trust: Value = serde_json::from_str(TRUST).unwrap();

    let created = ok(
        c,
        u,
        &[
            "iam",
            "create-role",
            "--role-name",
            "CliRole",
            "--assume-role-policy-document",
            TRUST,
            "--description",
            "made by <aws> & co",
            "--tags",
            "Key=stack,Value=demo",
        ],
    );
    let role = &created["Role"];
    assert_eq!(role["Arn"], "arn:aws:iam::123456789012:role/CliRole");
    assert!(role["RoleId"].as_str().unwrap().starts_with("AROA"));
    // botocore decodes the URL-encoded document back into JSON, as it does for AWS.
    assert_eq!(role["AssumeRolePolicyDocument"], trust);
    fails(
        c,
        u,
        &[
            "iam",
            "create-role",
            "--role-name",
            "CliRole",
            "--assume-role-policy-document",
            TRUST,
        ],
        "EntityAlreadyExists",
    );

    let got = ok(c, u, &["iam", "get-role", "--role-name", "CliRole"]);
    assert_eq!(got["Role"]["Description"], "made by <aws> & co");
    assert_eq!(got["Role"]["CreateDate"], role["CreateDate"]);

    ok(
        c,
        u,
        &[
            "iam",
            "update-role",
            "--role-name",
            "CliRole",
            "--description",
            "edited",
        ],
    );
    let trust2 = TRUST.replace("medialive", "mediapackage");
    ok(
        c,
        u,
        &[
            "iam",
            "update-assume-role-policy",
            "--role-name",
            "CliRole",
            "--policy-document",
            &trust2,
        ],
    );
    let got = ok(c, u, &["iam", "get-role", "--role-name", "CliRole"]);
    assert_eq!(
        got["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "mediapackage.amazonaws.com"
    );
    assert_eq!(got["Role"]["Description"], "edited");

    ok(
        c,
        u,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "CliRole",
            "--policy-name",
            "read-ssm",
            "--policy-document",
            READ_SSM,
        ],
    );
    let policy = ok(
        c,
        u,
        &[
            "iam",
            "get-role-policy",
            "--role-name",
            "CliRole",
            "--policy-name",
            "read-ssm",
        ],
    );
    assert_eq!(
        policy["PolicyDocument"],
        serde_json::from_str::<Value>(READ_SSM).unwrap()
    );
    let names = ok(
        c,
        u,
        &["iam", "list-role-policies", "--role-name", "CliRole"],
    );
    assert_eq!(names["PolicyNames"], serde_json::json!(["read-ssm"]));

    ok(
        c,
        u,
        &[
            "iam",
            "attach-role-policy",
            "--role-name",
            "CliRole",
            "--policy-arn",
            SSM_READ_ONLY,
        ],
    );
    let attached = ok(
        c,
        u,
        &[
            "iam",
            "list-attached-role-policies",
            "--role-name",
            "CliRole",
        ],
    );
    assert_eq!(
        attached["AttachedPolicies"],
        serde_json::json!([{"PolicyName": "AmazonSSMReadOnlyAccess", "PolicyArn": SSM_READ_ONLY}])
    );
    fails(
        c,
        u,
        &["iam", "delete-role", "--role-name", "CliRole"],
        "DeleteConflict",
    );

    ok(
        c,
        u,
        &[
            "iam",
            "tag-role",
            "--role-name",
            "CliRole",
            "--tags",
            "Key=env,Value=test",
        ],
    );
    ok(
        c,
        u,
        &[
            "iam",
            "untag-role",
            "--role-name",
            "CliRole",
            "--tag-keys",
            "stack",
        ],
    );
    let tags = ok(c, u, &["iam", "list-role-tags", "--role-name", "CliRole"]);
    assert_eq!(
        tags["Tags"],
        serde_json::json!([{"Key": "env", "Value": "test"}])
    );

    ok(
        c,
        u,
        &[
            "iam",
            "delete-role-policy",
            "--role-name",
            "CliRole",
            "--policy-name",
            "read-ssm",
        ],
    );
    ok(
        c,
        u,
        &[
            "iam",
            "detach-role-policy",
            "--role-name",
            "CliRole",
            "--policy-arn",
            SSM_READ_ONLY,
        ],
    );
    ok(c, u, &["iam", "delete-role", "--role-name", "CliRole"]);
    fails(
        c,
        u,
        &["iam", "get-role", "--role-name", "CliRole"],
        "NoSuchEntity",
    );
    sandbox.shutdown().await;
}

/// `aws sts get-caller-identity` (a form signed for `sts`, told from IAM's forms by its
/// credential scope) names the sandbox's account and its world; the world is the data file's,
/// the same after a restart and a reset, and another sandbox is another world.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awscli_names_the_sandbox_world() {
    let Some(cli) = common::aws_cli() else { return };
    let dir = std::env::temp_dir().join(format!("livestack-sts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("cloud.json");
    let config = || livestack_sandbox::Config {
        data: Some(data.clone()),
        ..Default::default()
    };
    let sb = livestack_sandbox::start(config()).await.unwrap();
    let url = sb.endpoint_url();
    let world = sb.identity().world;
    assert_eq!(world.len(), 16, "{world}");
    assert!(data.exists(), "a new world's identity is written at once");
    let me = ok(&cli, &url, &["sts", "get-caller-identity"]);
    assert_eq!(me["Account"], "123456789012", "{me}");
    assert_eq!(
        me["Arn"],
        format!("arn:aws:sts::123456789012:assumed-role/livestack-sandbox/{world}")
    );
    assert_eq!(me["UserId"], format!("AROASANDBOX:{world}"));
    let log = common::request_log(&url).await;
    let last = log.last().unwrap();
    assert_eq!(
        (&last["service"], &last["operation"]),
        (&"sts".into(), &"GetCallerIdentity".into())
    );
    fails(&cli, &url, &["sts", "get-session-token"], "InvalidAction");
    // IAM's forms still reach IAM.
    fails(
        &cli,
        &url,
        &["iam", "get-role", "--role-name", "nobody"],
        "NoSuchEntity",
    );
    let (status, body) = common::http(&url, "GET", "/_sandbox/identity", "").await;
    assert_eq!(status, 200, "{body}");
    let shown: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&shown["world"], &shown["account"], &shown["region"]),
        (
            &world.clone().into(),
            &"123456789012".into(),
            &"us-east-1".into()
        )
    );
    let (status, _) = common::http(&url, "POST", "/_sandbox/reset", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        sb.identity().world,
        world,
        "a reset empties the world, it stays itself"
    );
    sb.shutdown().await;

    let again = livestack_sandbox::start(config()).await.unwrap();
    let me = ok(&cli, &again.endpoint_url(), &["sts", "get-caller-identity"]);
    assert_eq!(
        me["UserId"],
        format!("AROASANDBOX:{world}"),
        "the data file's world"
    );
    again.shutdown().await;

    let other = common::sandbox().await;
    let them = ok(&cli, &other.endpoint_url(), &["sts", "get-caller-identity"]);
    assert_ne!(
        them["UserId"], me["UserId"],
        "another sandbox is another world"
    );
    other.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

//! Amazon S3 (API version 2006-03-01) over restXml, path-style (`/bucket/key` on the one
//! endpoint): the subset livestack's remote state needs.
//!
//! Served: CreateBucket, HeadBucket, DeleteBucket, ListBuckets, GetBucketLocation,
//! PutBucketVersioning, GetBucketVersioning, PutObject, GetObject, HeadObject, DeleteObject,
//! ListObjectsV2, ListObjectVersions. Anything else addressed to S3 answers 501
//! NotImplemented.
//!
//! Answers are XML (`<?xml ..?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
//! and errors `<Error><Code>..</Code><Message>..</Message>(<Key>|<BucketName>|<Condition>..)
//! <RequestId>..</RequestId><HostId>..</HostId></Error>` with S3's status codes (NoSuchBucket
//! and NoSuchKey 404, PreconditionFailed 412, BucketNotEmpty 409, ...); an error to a HEAD
//! has no body, as on AWS.
//!
//! Rules enforced, as AWS does:
//! - Bucket names: 3 to 63 characters of `a-z0-9.-`, starting and ending with a letter or a
//!   digit, no `..`, not an IP address (InvalidBucketName). A second CreateBucket of a bucket
//!   you own is 409 BucketAlreadyOwnedByYou, except for a bucket in us-east-1, which answers
//!   200 (AWS's documented legacy behaviour). `LocationConstraint` is refused where AWS
//!   refuses it (`us-east-1` named explicitly, or another region than a regional endpoint's).
//! - Conditional writes: `If-None-Match: *` fails with 412 PreconditionFailed when the key
//!   has a current version that is not a delete marker; `If-Match: "etag"` fails with 412
//!   when the current version's ETag differs and with 404 NoSuchKey when there is no current
//!   version (or it is a delete marker), as the S3 User Guide's "conditional write behavior"
//!   says. DeleteObject takes `If-Match` too (`*` matches any ETag). GetObject and HeadObject
//!   take `If-Match` (412) and `If-None-Match` (304), and one `Range: bytes=` range (206 with
//!   Content-Range, 416 InvalidRange past the end; no checksum returned for a part).
//! - Versioning: a bucket is unversioned until PutBucketVersioning; with it Enabled every put
//!   makes a new version and a delete without versionId adds a delete marker; Suspended
//!   writes the `null` version. ListObjectVersions lists each key's versions newest first.
//! - Bodies: `Content-Encoding: aws-chunked` (or a `STREAMING-*` `x-amz-content-sha256`)
//!   bodies are decoded, chunk signatures ignored, the trailer's checksum kept;
//!   `x-amz-decoded-content-length` must match. A CRC32, CRC32C or CRC64NVME checksum (header
//!   or trailer) and a Content-MD5 are verified (400 BadDigest); SHA-1 and SHA-256 checksums
//!   are stored and returned unchecked. A put without a checksum gets a CRC64NVME, as S3 has
//!   computed for every new object since 2025. GetObject and HeadObject return the checksum
//!   (`x-amz-checksum-*`, `x-amz-checksum-type: FULL_OBJECT`) when asked with
//!   `x-amz-checksum-mode: ENABLED`.
//! - `x-amz-expected-bucket-owner` other than the sandbox's account: 403 AccessDenied.
//! - Encryption: every object is encrypted (AES256 unless the put asks for `aws:kms` or
//!   `aws:kms:dsse`); the KMS key id given is stored and echoed on PUT, GET and HEAD (none
//!   given: the account's `aws/s3` key, a fixed ARN).
//! - Listings: ListObjectsV2 with prefix, delimiter, max-keys (at most 1000), start-after,
//!   continuation-token (opaque), KeyCount, IsTruncated and `encoding-type=url`;
//!   ListObjectVersions with prefix, delimiter, key-marker, version-id-marker and max-keys.
//!
//! # Deviations from AWS
//! - ETags are the MD5 of the bytes for every object, SSE-KMS ones included (AWS's SSE-KMS
//!   ETags are not an MD5; clients must treat an ETag as opaque anyway).
//! - Calls are carried out one at a time, so two racing conditional writes never meet the
//!   409 ConditionalRequestConflict AWS can answer: one wins, the other gets 412.
//! - An unknown version id is 404 NoSuchVersion whatever its form (AWS answers 400
//!   InvalidArgument to a malformed one). DeleteObject `If-Match` on a missing key answers 404
//!   NoSuchKey (the user guide says 404 Not Found; the code is UNVERIFIED). If-Modified-Since
//!   and If-Unmodified-Since on reads, ACLs, policies, tags, multipart uploads (so `aws s3
//!   cp` of a file above its 8 MiB threshold), CopyObject and DeleteObjects are not
//!   modelled; an object is at most the sandbox's 16 MiB request body. KMS key ids are echoed as given
//!   (AWS answers the key's ARN for an alias).

use std::collections::BTreeMap;
use std::ops::Bound;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::wire::{xml_escape as esc, Ctx, Req, Resp, Utc};

/// S3's part of the cloud: buckets by name.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct S3 {
    pub buckets: BTreeMap<String, Bucket>,
}

/// A bucket and its objects.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Bucket {
    pub region: String,
    pub created_ms: u64,
    /// `Enabled` or `Suspended`; `None` for a bucket never versioned.
    pub versioning: Option<String>,
    /// Each key's versions, oldest first: the last is the current one (it may be a delete
    /// marker). A key without versions is removed.
    pub objects: BTreeMap<String, Vec<Version>>,
}

/// One version of an object, or a delete marker.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Version {
    /// `null` for a version written while the bucket was unversioned or suspended.
    pub version_id: String,
    pub delete_marker: bool,
    pub last_modified_ms: u64,
    /// The object's bytes (base64 in the data file).
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
    /// Quoted, as S3 writes it: `"md5-hex"`.
    pub etag: String,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// `x-amz-meta-*` headers, names lower-cased without the prefix.
    pub metadata: BTreeMap<String, String>,
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub sse: String,
    pub kms_key_id: Option<String>,
    pub checksum: Option<Checksum>,
}

/// A full-object checksum: its algorithm (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`)
/// and its base64 value.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    pub algorithm: String,
    pub value: String,
}

/// Makes sure `name` exists, created with versioning Enabled in `region` when missing.
/// `Ok(true)` when it was created; `Err` names what is wrong with the name.
pub fn ensure_bucket(s3: &mut S3, name: &str, region: &str, now_ms: u64) -> Result<bool, String> {
    if !valid_bucket_name(name) {
        return Err(format!("`{name}` is not a valid S3 bucket name"));
    }
    if s3.buckets.contains_key(name) {
        return Ok(false);
    }
    s3.buckets.insert(
        name.to_string(),
        Bucket {
            region: region.to_string(),
            created_ms: now_ms,
            versioning: Some("Enabled".into()),
            objects: BTreeMap::new(),
        },
    );
    Ok(true)
}

/// The S3 operation a request names, `None` for what the sandbox does not serve.
pub(crate) fn operation_name(req: &Req) -> Option<&'static str> {
    let (bucket, key) = split_path(&req.path);
    let has = |q: &str| req.query.iter().any(|(k, _)| k == q);
    if req
        .query
        .iter()
        .any(|(k, _)| UNSERVED_SUBRESOURCES.contains(&k.as_str()))
    {
        return None;
    }
    let op = match (req.method.as_str(), bucket.is_empty(), key.is_empty()) {
        ("GET", true, _) => "ListBuckets",
        (_, true, _) => return None,
        ("PUT", false, true) if has("versioning") => "PutBucketVersioning",
        ("PUT", false, true) => "CreateBucket",
        ("GET", false, true) if has("versioning") => "GetBucketVersioning",
        ("GET", false, true) if has("location") => "GetBucketLocation",
        ("GET", false, true) if has("versions") => "ListObjectVersions",
        ("GET", false, true) if req.query_param("list-type") == Some("2") => "ListObjectsV2",
        ("HEAD", false, true) => "HeadBucket",
        ("DELETE", false, true) => "DeleteBucket",
        ("PUT", false, false) if req.header("x-amz-copy-source").is_none() => "PutObject",
        ("GET", false, false) => "GetObject",
        ("HEAD", false, false) => "HeadObject",
        ("DELETE", false, false) => "DeleteObject",
        _ => return None,
    };
    Some(op)
}

/// Answers one S3 request.
pub fn handle(cloud: &mut crate::Cloud, ctx: &mut Ctx, req: &Req) -> Resp {
    let request_id = ctx.hex(16).to_ascii_uppercase();
    let host_id = B64.encode(ctx.hex(48).as_bytes());
    let operation = operation_name(req);
    let (bucket, key) = split_path(&req.path);
    let s3 = &mut cloud.s3;
    let foreign_owner = req
        .header("x-amz-expected-bucket-owner")
        .is_some_and(|owner| owner.trim() != ctx.account);
    let result = match operation {
        _ if foreign_owner => Err(fail(403, "AccessDenied", "Access Denied")),
        Some("ListBuckets") => Ok(list_buckets(s3, ctx)),
        Some("CreateBucket") => create_bucket(s3, ctx, req, bucket),
        Some("HeadBucket") => head_bucket(s3, bucket),
        Some("DeleteBucket") => delete_bucket(s3, bucket),
        Some("GetBucketLocation") => get_bucket_location(s3, bucket),
        Some("PutBucketVersioning") => put_bucket_versioning(s3, req, bucket),
        Some("GetBucketVersioning") => get_bucket_versioning(s3, bucket),
        Some("PutObject") => put_object(s3, ctx, req, bucket, key),
        Some("GetObject") => get_object(s3, req, bucket, key, false),
        Some("HeadObject") => get_object(s3, req, bucket, key, true),
        Some("DeleteObject") => delete_object(s3, ctx, req, bucket, key),
        Some("ListObjectsV2") => list_objects_v2(s3, ctx, req, bucket),
        Some("ListObjectVersions") => list_object_versions(s3, ctx, req, bucket),
        _ => Err(fail(
            501,
            "NotImplemented",
            "A header or query you provided implies functionality that is not implemented",
        )),
    };
    let head = req.method == "HEAD";
    let (status, mut headers, body) = match result {
        Ok(ok) => (ok.status, ok.headers, ok.body),
        Err(f) => {
            let body = if head {
                Vec::new()
            } else {
                let mut x = format!(
                    "{XML_DECL}<Error><Code>{}</Code><Message>{}</Message>",
                    f.code,
                    esc(&f.message)
                );
                for (name, value) in &f.extra {
                    x.push_str(&el(name, value));
                }
                x.push_str(&format!(
                    "<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
                ));
                x.into_bytes()
            };
            let mut headers = f.headers;
            if !body.is_empty() {
                headers.push(("content-type".into(), "application/xml".into()));
            }
            (f.status, headers, body)
        }
    };
    headers.push(("x-amz-request-id".into(), request_id));
    headers.push(("x-amz-id-2".into(), host_id));
    let resource = match (bucket.is_empty(), key.is_empty()) {
        (true, _) => None,
        (false, true) => Some(bucket.to_string()),
        (false, false) => Some(format!("{bucket}/{key}")),
    };
    Resp {
        status,
        headers,
        body,
        operation: operation.unwrap_or("unknown").to_string(),
        resource,
    }
}

/// A throttle (503 SlowDown) or internal error (500 InternalError) in S3's shape, for the
/// server's faults; no body to a HEAD.
pub(crate) fn fault_response(throttle: bool, req: &Req) -> Resp {
    let (status, code, message) = if throttle {
        (503, "SlowDown", "Please reduce your request rate.")
    } else {
        (
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    };
    let body = if req.method == "HEAD" {
        Vec::new()
    } else {
        format!(
            "{XML_DECL}<Error><Code>{code}</Code><Message>{message}</Message>\
             <RequestId>0000000000000000</RequestId><HostId>sandbox</HostId></Error>"
        )
        .into_bytes()
    };
    Resp {
        status,
        headers: vec![("content-type".into(), "application/xml".into())],
        body,
        operation: operation_name(req).unwrap_or("unknown").to_string(),
        resource: None,
    }
}

// ---------------------------------------------------------------------------------------

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// The largest page a listing answers.
const MAX_KEYS: usize = 1000;
/// Query parameters naming a subresource the sandbox does not serve.
const UNSERVED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "attributes",
    "cors",
    "delete",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "partNumber",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "website",
];

/// Header names (lower-cased) and values.
type Headers = Vec<(String, String)>;

/// A successful answer.
struct Ok200 {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn ok_xml(xml: String) -> Ok200 {
    Ok200 {
        status: 200,
        headers: vec![("content-type".into(), "application/xml".into())],
        body: format!("{XML_DECL}{xml}").into_bytes(),
    }
}

fn ok_empty(status: u16, headers: Vec<(String, String)>) -> Ok200 {
    Ok200 {
        status,
        headers,
        body: Vec::new(),
    }
}

#[derive(Debug)]
struct Fail {
    status: u16,
    code: &'static str,
    message: String,
    /// Further elements of the error body (`Key`, `BucketName`, `Condition`, ...).
    extra: Vec<(&'static str, String)>,
    headers: Vec<(String, String)>,
}

fn fail(status: u16, code: &'static str, message: impl Into<String>) -> Fail {
    Fail {
        status,
        code,
        message: message.into(),
        extra: Vec::new(),
        headers: Vec::new(),
    }
}

impl Fail {
    fn with(mut self, name: &'static str, value: impl Into<String>) -> Fail {
        self.extra.push((name, value.into()));
        self
    }
    fn header(mut self, name: &str, value: impl Into<String>) -> Fail {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

fn no_such_bucket(bucket: &str) -> Fail {
    fail(404, "NoSuchBucket", "The specified bucket does not exist").with("BucketName", bucket)
}

fn no_such_key(key: &str) -> Fail {
    fail(404, "NoSuchKey", "The specified key does not exist.").with("Key", key)
}

fn precondition_failed(condition: &str) -> Fail {
    fail(
        412,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
    )
    .with("Condition", condition)
}

fn invalid_argument(message: &str, name: &str, value: &str) -> Fail {
    fail(400, "InvalidArgument", message)
        .with("ArgumentName", name)
        .with("ArgumentValue", value)
}

fn malformed_xml() -> Fail {
    fail(
        400,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

/// `/bucket/key/with/slashes` -> ("bucket", "key/with/slashes"); "" for what is absent.
fn split_path(path: &str) -> (&str, &str) {
    let rest = path.strip_prefix('/').unwrap_or(path);
    rest.split_once('/').unwrap_or((rest, ""))
}

fn bucket_of<'a>(s3: &'a mut S3, name: &str) -> Result<&'a mut Bucket, Fail> {
    s3.buckets.get_mut(name).ok_or_else(|| no_such_bucket(name))
}

fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&b.len())
        && b.iter().all(|&c| edge(c) || c == b'.' || c == b'-')
        && edge(b[0])
        && edge(b[b.len() - 1])
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// A region name as AWS writes them (`eu-west-1`, `us-gov-west-1`), or the legacy `EU`.
fn looks_like_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    s == "EU"
        || (parts.len() >= 3
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_lowercase()))
            && parts[parts.len() - 1].bytes().all(|c| c.is_ascii_digit())
            && !parts[parts.len() - 1].is_empty())
}

// --- buckets -------------------------------------------------------------------------------

fn list_buckets(s3: &S3, ctx: &Ctx) -> Ok200 {
    let mut x = format!(
        "<ListAllMyBucketsResult xmlns=\"{XMLNS}\">{}<Buckets>",
        owner(ctx)
    );
    for (name, b) in &s3.buckets {
        x.push_str(&format!(
            "<Bucket>{}{}{}</Bucket>",
            el("Name", name),
            el("CreationDate", &iso_ms(b.created_ms)),
            el("BucketRegion", &b.region)
        ));
    }
    x.push_str("</Buckets></ListAllMyBucketsResult>");
    ok_xml(x)
}

fn create_bucket(s3: &mut S3, ctx: &Ctx, req: &Req, name: &str) -> Result<Ok200, Fail> {
    if !valid_bucket_name(name) {
        return Err(fail(
            400,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        )
        .with("BucketName", name));
    }
    let constraint = if req.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let body = std::str::from_utf8(&req.body).map_err(|_| malformed_xml())?;
        let root = xml_element(body, "CreateBucketConfiguration").ok_or_else(malformed_xml)?;
        match xml_element(root, "LocationConstraint") {
            Some(lc) if !lc.trim().is_empty() => Some(xml_unescape(lc.trim())),
            _ => None,
        }
    };
    let endpoint = ctx.region;
    let region = match constraint.as_deref() {
        Some(lc) if !looks_like_region(lc) || (endpoint == "us-east-1" && lc == "us-east-1") => {
            return Err(fail(
                400,
                "InvalidLocationConstraint",
                "The specified location-constraint is not valid",
            )
            .with("LocationConstraint", lc));
        }
        Some(lc) if endpoint != "us-east-1" && lc != endpoint => {
            return Err(fail(
                400,
                "IllegalLocationConstraintException",
                format!(
                    "The {lc} location constraint is incompatible for the region specific endpoint this request was sent to."
                ),
            ));
        }
        None if endpoint != "us-east-1" => {
            return Err(fail(
                400,
                "IllegalLocationConstraintException",
                "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.",
            ));
        }
        Some(lc) => lc.to_string(),
        None => endpoint.to_string(),
    };
    if let Some(existing) = s3.buckets.get(name) {
        if existing.region == "us-east-1" {
            // AWS's legacy behaviour in us-east-1: a re-create of your own bucket is a 200.
            return Ok(ok_empty(200, vec![("location".into(), format!("/{name}"))]));
        }
        return Err(fail(
            409,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        )
        .with("BucketName", name));
    }
    s3.buckets.insert(
        name.to_string(),
        Bucket {
            region,
            created_ms: ctx.now_ms,
            versioning: None,
            objects: BTreeMap::new(),
        },
    );
    Ok(ok_empty(200, vec![("location".into(), format!("/{name}"))]))
}

fn head_bucket(s3: &mut S3, name: &str) -> Result<Ok200, Fail> {
    let b = bucket_of(s3, name)?;
    Ok(ok_empty(
        200,
        vec![
            ("x-amz-bucket-region".into(), b.region.clone()),
            ("x-amz-access-point-alias".into(), "false".into()),
        ],
    ))
}

fn delete_bucket(s3: &mut S3, name: &str) -> Result<Ok200, Fail> {
    let b = bucket_of(s3, name)?;
    if !b.objects.is_empty() {
        let message = if b.versioning.is_some() {
            "The bucket you tried to delete is not empty. You must delete all versions in the bucket."
        } else {
            "The bucket you tried to delete is not empty"
        };
        return Err(fail(409, "BucketNotEmpty", message).with("BucketName", name));
    }
    s3.buckets.remove(name);
    Ok(ok_empty(204, Vec::new()))
}

fn get_bucket_location(s3: &mut S3, name: &str) -> Result<Ok200, Fail> {
    let b = bucket_of(s3, name)?;
    Ok(ok_xml(if b.region == "us-east-1" {
        format!("<LocationConstraint xmlns=\"{XMLNS}\"/>")
    } else {
        format!(
            "<LocationConstraint xmlns=\"{XMLNS}\">{}</LocationConstraint>",
            esc(&b.region)
        )
    }))
}

fn put_bucket_versioning(s3: &mut S3, req: &Req, name: &str) -> Result<Ok200, Fail> {
    let b = bucket_of(s3, name)?;
    let body = std::str::from_utf8(&req.body).map_err(|_| malformed_xml())?;
    let config = xml_element(body, "VersioningConfiguration").ok_or_else(malformed_xml)?;
    match xml_element(config, "Status").map(str::trim) {
        Some(status @ ("Enabled" | "Suspended")) => b.versioning = Some(status.to_string()),
        Some(_) => return Err(malformed_xml()),
        // A configuration without Status (MfaDelete only) leaves the state as it is.
        None => {}
    }
    Ok(ok_empty(200, Vec::new()))
}

fn get_bucket_versioning(s3: &mut S3, name: &str) -> Result<Ok200, Fail> {
    let b = bucket_of(s3, name)?;
    Ok(ok_xml(match &b.versioning {
        Some(status) => format!(
            "<VersioningConfiguration xmlns=\"{XMLNS}\">{}</VersioningConfiguration>",
            el("Status", status)
        ),
        None => format!("<VersioningConfiguration xmlns=\"{XMLNS}\"/>"),
    }))
}

// --- objects -------------------------------------------------------------------------------

fn put_object(
    s3: &mut S3,
    ctx: &mut Ctx,
    req: &Req,
    bucket: &str,
    key: &str,
) -> Result<Ok200, Fail> {
    let region = ctx.region.to_string();
    let b = bucket_of(s3, bucket)?;
    if key.len() > 1024 {
        return Err(fail(400, "KeyTooLongError", "Your key is too long")
            .with("Size", key.len().to_string()));
    }
    let chunked = req
        .header("content-encoding")
        .is_some_and(|e| e.split(',').any(|p| p.trim() == "aws-chunked"))
        || req
            .header("x-amz-content-sha256")
            .is_some_and(|v| v.starts_with("STREAMING-"));
    let (body, trailers) = if chunked {
        let decoded = decode_aws_chunked(&req.body)?;
        if let Some(expected) = req.header("x-amz-decoded-content-length") {
            if expected.trim().parse::<usize>().ok() != Some(decoded.0.len()) {
                return Err(fail(
                    400,
                    "IncompleteBody",
                    "You did not provide the number of bytes specified by the Content-Length HTTP header",
                ));
            }
        }
        decoded
    } else {
        (req.body.clone(), Vec::new())
    };
    let md5 = Md5::digest(&body);
    if let Some(given) = req.header("content-md5") {
        let given = B64
            .decode(given.trim())
            .ok()
            .filter(|d| d.len() == 16)
            .ok_or_else(|| {
                fail(
                    400,
                    "InvalidDigest",
                    "The Content-MD5 you specified was invalid.",
                )
            })?;
        if given[..] != md5[..] {
            return Err(fail(
                400,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    let checksum = request_checksum(req, &trailers, &body)?;

    // Preconditions, on the current version (a delete marker is no object).
    let current = b
        .objects
        .get(key)
        .and_then(|v| v.last())
        .filter(|v| !v.delete_marker);
    if let Some(v) = req.header("if-none-match") {
        if v.trim() != "*" {
            return Err(fail(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
            )
            .with("Header", "If-None-Match"));
        }
        if current.is_some() {
            return Err(precondition_failed("If-None-Match"));
        }
    }
    if let Some(wanted) = req.header("if-match") {
        match current {
            None => return Err(no_such_key(key)),
            Some(cur) if !etag_matches(wanted, &cur.etag) => {
                return Err(precondition_failed("If-Match"))
            }
            Some(_) => {}
        }
    }

    let (sse, kms_key_id) = encryption(req, &region, ctx.account)?;
    let content_encoding = req.header("content-encoding").and_then(|e| {
        let kept: Vec<&str> = e
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && *p != "aws-chunked")
            .collect();
        (!kept.is_empty()).then(|| kept.join(","))
    });
    let metadata = req
        .headers
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("x-amz-meta-")
                .map(|n| (n.to_string(), v.clone()))
        })
        .collect();
    let enabled = b.versioning.as_deref() == Some("Enabled");
    let version_id = if enabled {
        version_id(ctx)
    } else {
        "null".to_string()
    };
    let etag = format!("\"{}\"", hex(&md5));
    let version = Version {
        version_id: version_id.clone(),
        delete_marker: false,
        last_modified_ms: ctx.now_ms,
        body,
        etag: etag.clone(),
        content_type: Some(
            req.header("content-type")
                .unwrap_or("binary/octet-stream")
                .to_string(),
        ),
        content_encoding,
        metadata,
        sse,
        kms_key_id,
        checksum,
    };
    let mut headers = vec![("etag".to_string(), etag)];
    headers.extend(encryption_headers(&version));
    if let Some(c) = &version.checksum {
        headers.push((checksum_header(&c.algorithm), c.value.clone()));
        headers.push(("x-amz-checksum-type".into(), "FULL_OBJECT".into()));
    }
    if enabled {
        headers.push(("x-amz-version-id".into(), version_id));
    }
    push_version(b, key, version);
    Ok(ok_empty(200, headers))
}

/// Adds a version (or a delete marker) as the key's current one; a `null` version replaces
/// the key's previous `null` version, as S3 keeps one.
fn push_version(b: &mut Bucket, key: &str, version: Version) {
    let versions = b.objects.entry(key.to_string()).or_default();
    if version.version_id == "null" {
        versions.retain(|v| v.version_id != "null");
    }
    versions.push(version);
}

fn get_object(s3: &mut S3, req: &Req, bucket: &str, key: &str, head: bool) -> Result<Ok200, Fail> {
    let b = bucket_of(s3, bucket)?;
    let versioned = b.versioning.is_some();
    let versions = b.objects.get(key).map(Vec::as_slice).unwrap_or_default();
    let v = match req.query_param("versionId") {
        Some(id) => {
            let v = versions
                .iter()
                .find(|v| v.version_id == id)
                .ok_or_else(|| {
                    fail(
                        404,
                        "NoSuchVersion",
                        "The specified version does not exist.",
                    )
                    .with("Key", key)
                    .with("VersionId", id)
                })?;
            if v.delete_marker {
                return Err(fail(
                    405,
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                )
                .with("Method", &req.method)
                .with("ResourceType", "DeleteMarker")
                .header("x-amz-delete-marker", "true")
                .header("x-amz-version-id", &v.version_id)
                .header("last-modified", http_date(v.last_modified_ms)));
            }
            v
        }
        None => match versions.last() {
            None => return Err(no_such_key(key)),
            Some(v) if v.delete_marker => {
                return Err(no_such_key(key)
                    .header("x-amz-delete-marker", "true")
                    .header("x-amz-version-id", &v.version_id));
            }
            Some(v) => v,
        },
    };
    if let Some(wanted) = req.header("if-match") {
        if !etag_matches(wanted, &v.etag) {
            return Err(precondition_failed("If-Match"));
        }
    }
    let mut headers = vec![
        ("etag".to_string(), v.etag.clone()),
        ("last-modified".into(), http_date(v.last_modified_ms)),
    ];
    if versioned {
        headers.push(("x-amz-version-id".into(), v.version_id.clone()));
    }
    if let Some(wanted) = req.header("if-none-match") {
        if etag_matches(wanted, &v.etag) {
            return Ok(ok_empty(304, headers));
        }
    }
    headers.push(("accept-ranges".into(), "bytes".into()));
    headers.push((
        "content-type".into(),
        v.content_type
            .clone()
            .unwrap_or_else(|| "binary/octet-stream".into()),
    ));
    if let Some(e) = &v.content_encoding {
        headers.push(("content-encoding".into(), e.clone()));
    }
    for (k, value) in &v.metadata {
        headers.push((format!("x-amz-meta-{k}"), value.clone()));
    }
    headers.extend(encryption_headers(v));
    let len = v.body.len();
    let range = match req.header("range") {
        Some(r) => byte_range(r, len)?,
        None => None,
    };
    let checksum_mode = req
        .header("x-amz-checksum-mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"));
    // A part of the object has no full-object checksum to check.
    if let (true, None, Some(c)) = (checksum_mode, range, &v.checksum) {
        headers.push((checksum_header(&c.algorithm), c.value.clone()));
        headers.push(("x-amz-checksum-type".into(), "FULL_OBJECT".into()));
    }
    let (status, bytes) = match range {
        Some((first, last)) => {
            headers.push((
                "content-range".into(),
                format!("bytes {first}-{last}/{len}"),
            ));
            (206, &v.body[first..=last])
        }
        None => (200, &v.body[..]),
    };
    if head {
        headers.push(("content-length".into(), bytes.len().to_string()));
        Ok(ok_empty(status, headers))
    } else {
        Ok(Ok200 {
            status,
            headers,
            body: bytes.to_vec(),
        })
    }
}

/// The inclusive byte range a `Range: bytes=..` header asks of an object of `len` bytes:
/// `None` for a header S3 ignores (not `bytes=`, several ranges, not numbers), 416
/// InvalidRange for a range that starts past the end.
fn byte_range(header: &str, len: usize) -> Result<Option<(usize, usize)>, Fail> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<usize>().ok();
    let invalid = || {
        fail(
            416,
            "InvalidRange",
            "The requested range is not satisfiable",
        )
        .with("RangeRequested", header)
        .with("ActualObjectSize", len.to_string())
    };
    let range = match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => {
            let Some(n) = parse(b) else {
                return Ok(None);
            };
            if n == 0 || len == 0 {
                return Err(invalid());
            }
            (len - n.min(len), len - 1)
        }
        (false, _) => {
            let Some(first) = parse(a) else {
                return Ok(None);
            };
            let last = if b.is_empty() {
                usize::MAX
            } else {
                match parse(b) {
                    Some(last) if last >= first => last,
                    _ => return Ok(None),
                }
            };
            if first >= len {
                return Err(invalid());
            }
            (first, last.min(len - 1))
        }
        (true, true) => return Ok(None),
    };
    Ok(Some(range))
}

fn delete_object(
    s3: &mut S3,
    ctx: &mut Ctx,
    req: &Req,
    bucket: &str,
    key: &str,
) -> Result<Ok200, Fail> {
    let b = bucket_of(s3, bucket)?;
    if let Some(wanted) = req.header("if-match") {
        let current = b
            .objects
            .get(key)
            .and_then(|v| v.last())
            .filter(|v| !v.delete_marker);
        match current {
            None => return Err(no_such_key(key)),
            Some(cur) if !etag_matches(wanted, &cur.etag) => {
                return Err(precondition_failed("If-Match"))
            }
            Some(_) => {}
        }
    }
    let mut headers = Vec::new();
    if let Some(id) = req.query_param("versionId") {
        // Removes that version for good (a delete marker included); absent, nothing happens.
        if let Some(versions) = b.objects.get_mut(key) {
            if let Some(i) = versions.iter().position(|v| v.version_id == id) {
                let removed = versions.remove(i);
                if removed.delete_marker {
                    headers.push(("x-amz-delete-marker".into(), "true".into()));
                }
            }
            if versions.is_empty() {
                b.objects.remove(key);
            }
        }
        headers.push(("x-amz-version-id".into(), id.to_string()));
        return Ok(ok_empty(204, headers));
    }
    match b.versioning.as_deref() {
        None => {
            b.objects.remove(key);
        }
        Some(status) => {
            let id = if status == "Enabled" {
                version_id(ctx)
            } else {
                "null".to_string()
            };
            let marker = Version {
                version_id: id.clone(),
                delete_marker: true,
                last_modified_ms: ctx.now_ms,
                ..Version::default()
            };
            push_version(b, key, marker);
            headers.push(("x-amz-delete-marker".into(), "true".into()));
            headers.push(("x-amz-version-id".into(), id));
        }
    }
    Ok(ok_empty(204, headers))
}

// --- listings ------------------------------------------------------------------------------

/// One entry of a listing page: an object (or version) key, or a common prefix.
enum Entry<'a> {
    Key(&'a str, &'a [Version]),
    Prefix(String),
}

/// The keys of `b` from `start` (exclusive) on, under `prefix`, with the keys under a common
/// prefix (`delimiter`) folded into one entry; `skip_prefix` is a common prefix a previous
/// page ended on, whose keys are not listed again. Lazy: a page reads only what it answers.
fn entries<'a>(
    b: &'a Bucket,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    start: Option<&'a str>,
    skip_prefix: Option<String>,
    live_only: bool,
) -> impl Iterator<Item = Entry<'a>> + 'a {
    let lower = match start {
        Some(s) if s >= prefix => Bound::Excluded(s.to_string()),
        _ => Bound::Included(prefix.to_string()),
    };
    let mut last_prefix = skip_prefix;
    b.objects
        .range::<String, _>((lower, Bound::Unbounded))
        .take_while(move |(k, _)| k.starts_with(prefix))
        .filter(move |(_, v)| !live_only || v.last().is_some_and(|v| !v.delete_marker))
        .filter_map(move |(k, v)| {
            if let Some(p) = &last_prefix {
                if k.starts_with(p.as_str()) {
                    return None;
                }
            }
            let folded = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                k[prefix.len()..]
                    .find(d)
                    .map(|i| k[..prefix.len() + i + d.len()].to_string())
            });
            match folded {
                Some(p) => {
                    last_prefix = Some(p.clone());
                    Some(Entry::Prefix(p))
                }
                None => Some(Entry::Key(k.as_str(), v.as_slice())),
            }
        })
}

fn max_keys(req: &Req) -> Result<usize, Fail> {
    match req.query_param("max-keys") {
        None => Ok(MAX_KEYS),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as usize).min(MAX_KEYS))
            .ok_or_else(|| {
                invalid_argument(
                    "Provided max-keys not an integer or within integer range",
                    "max-keys",
                    v,
                )
            }),
    }
}

/// Whether names are answered URL-encoded (`encoding-type=url`, which the AWS CLI always
/// asks for).
fn url_encoding(req: &Req) -> Result<bool, Fail> {
    match req.query_param("encoding-type") {
        None => Ok(false),
        Some(e) if e.eq_ignore_ascii_case("url") => Ok(true),
        Some(e) => Err(invalid_argument(
            "Invalid Encoding Method specified in Request",
            "encoding-type",
            e,
        )),
    }
}

/// What both listings take: max-keys, encoding-type, prefix and delimiter.
struct Listing<'a> {
    max: usize,
    url: bool,
    prefix: &'a str,
    delimiter: Option<&'a str>,
}

impl<'a> Listing<'a> {
    fn of(req: &'a Req) -> Result<Listing<'a>, Fail> {
        Ok(Listing {
            max: max_keys(req)?,
            url: url_encoding(req)?,
            prefix: req.query_param("prefix").unwrap_or(""),
            delimiter: req.query_param("delimiter"),
        })
    }

    /// A name as the listing answers it (URL-encoded when asked).
    fn enc(&self, s: &str) -> String {
        if self.url {
            url_encode(s)
        } else {
            s.to_string()
        }
    }
}

fn list_objects_v2(s3: &mut S3, ctx: &Ctx, req: &Req, bucket: &str) -> Result<Ok200, Fail> {
    let b = bucket_of(s3, bucket)?;
    let l = Listing::of(req)?;
    let (max, url, prefix, delimiter) = (l.max, l.url, l.prefix, l.delimiter);
    let enc = |s: &str| l.enc(s);
    let token = req.query_param("continuation-token");
    let start_after = req.query_param("start-after");
    let fetch_owner = req.query_param("fetch-owner") == Some("true");
    // The token names the last entry answered: `k:KEY` or `p:COMMON-PREFIX`.
    let (start, skip_prefix) = match token {
        Some(t) => {
            let decoded = B64
                .decode(t)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| {
                    invalid_argument(
                        "The continuation token provided is incorrect",
                        "continuation-token",
                        t,
                    )
                })?;
            match decoded.split_at_checked(2) {
                Some(("k:", k)) => (Some(k.to_string()), None),
                Some(("p:", p)) => (Some(p.to_string()), Some(p.to_string())),
                _ => {
                    return Err(invalid_argument(
                        "The continuation token provided is incorrect",
                        "continuation-token",
                        t,
                    ))
                }
            }
        }
        None => (start_after.map(str::to_string), None),
    };
    let mut it = entries(b, prefix, delimiter, start.as_deref(), skip_prefix, true).peekable();
    let mut contents = String::new();
    let mut count = 0;
    let mut last = None;
    while count < max {
        let Some(entry) = it.next() else { break };
        count += 1;
        match entry {
            Entry::Key(k, versions) => {
                let v = versions.last().expect("listed keys have a version");
                contents.push_str("<Contents>");
                contents.push_str(&el("Key", &enc(k)));
                contents.push_str(&object_summary(v));
                if fetch_owner {
                    contents.push_str(&owner(ctx));
                }
                contents.push_str("</Contents>");
                last = Some(format!("k:{k}"));
            }
            Entry::Prefix(p) => {
                contents.push_str(&format!(
                    "<CommonPrefixes>{}</CommonPrefixes>",
                    el("Prefix", &enc(&p))
                ));
                last = Some(format!("p:{p}"));
            }
        }
    }
    let truncated = count == max && max > 0 && it.peek().is_some();
    let mut x = format!("<ListBucketResult xmlns=\"{XMLNS}\">");
    x.push_str(&el("Name", bucket));
    x.push_str(&el("Prefix", &enc(prefix)));
    if let Some(d) = delimiter {
        x.push_str(&el("Delimiter", &enc(d)));
    }
    x.push_str(&el("MaxKeys", &max.to_string()));
    x.push_str(&el("KeyCount", &count.to_string()));
    x.push_str(&el("IsTruncated", &truncated.to_string()));
    if let Some(t) = token {
        x.push_str(&el("ContinuationToken", t));
    }
    if let (true, Some(last)) = (truncated, last) {
        x.push_str(&el("NextContinuationToken", &B64.encode(last)));
    }
    if let Some(s) = start_after {
        x.push_str(&el("StartAfter", &enc(s)));
    }
    if url {
        x.push_str(&el("EncodingType", "url"));
    }
    x.push_str(&contents);
    x.push_str("</ListBucketResult>");
    Ok(ok_xml(x))
}

fn list_object_versions(s3: &mut S3, ctx: &Ctx, req: &Req, bucket: &str) -> Result<Ok200, Fail> {
    let b = bucket_of(s3, bucket)?;
    let l = Listing::of(req)?;
    let (max, url, prefix, delimiter) = (l.max, l.url, l.prefix, l.delimiter);
    let enc = |s: &str| l.enc(s);
    let key_marker = req.query_param("key-marker").filter(|m| !m.is_empty());
    let version_marker = req
        .query_param("version-id-marker")
        .filter(|m| !m.is_empty());
    // With a version-id-marker the marker key's older versions come first; without one the
    // listing starts after the marker key (or after the common prefix it names).
    let mut first: Vec<(&str, &[Version], usize)> = Vec::new();
    if let (Some(k), Some(vm)) = (key_marker, version_marker) {
        if let Some(versions) = b.objects.get(k) {
            // Newest first: index 0 is the last element.
            let newest_first: Vec<usize> = (0..versions.len()).rev().collect();
            if let Some(pos) = newest_first
                .iter()
                .position(|&i| versions[i].version_id == vm)
            {
                if pos + 1 < newest_first.len() {
                    first.push((k, versions.as_slice(), pos + 1));
                }
            }
        }
    }
    let skip_prefix = key_marker
        .filter(|k| delimiter.is_some_and(|d| !d.is_empty() && k.ends_with(d)))
        .map(str::to_string);
    let rest = entries(b, prefix, delimiter, key_marker, skip_prefix, false);
    let mut body = String::new();
    let mut count = 0;
    let mut next: Option<(String, Option<String>)> = None;
    let mut truncated = false;
    let all = first
        .into_iter()
        .map(|(k, v, skip)| (Entry::Key(k, v), skip))
        .chain(rest.map(|e| (e, 0)));
    'outer: for (entry, skip) in all {
        match entry {
            Entry::Prefix(p) => {
                if count == max {
                    truncated = true;
                    break;
                }
                count += 1;
                body.push_str(&format!(
                    "<CommonPrefixes>{}</CommonPrefixes>",
                    el("Prefix", &enc(&p))
                ));
                next = Some((p, None));
            }
            Entry::Key(k, versions) => {
                for (n, v) in versions.iter().rev().enumerate().skip(skip) {
                    if count == max {
                        truncated = true;
                        break 'outer;
                    }
                    count += 1;
                    let tag = if v.delete_marker {
                        "DeleteMarker"
                    } else {
                        "Version"
                    };
                    body.push_str(&format!("<{tag}>"));
                    body.push_str(&el("Key", &enc(k)));
                    body.push_str(&el("VersionId", &v.version_id));
                    body.push_str(&el("IsLatest", &(n == 0).to_string()));
                    if v.delete_marker {
                        body.push_str(&el("LastModified", &iso_ms(v.last_modified_ms)));
                    } else {
                        body.push_str(&object_summary(v));
                    }
                    body.push_str(&owner(ctx));
                    body.push_str(&format!("</{tag}>"));
                    next = Some((k.to_string(), Some(v.version_id.clone())));
                }
            }
        }
    }
    let mut x = format!("<ListVersionsResult xmlns=\"{XMLNS}\">");
    x.push_str(&el("Name", bucket));
    x.push_str(&el("Prefix", &enc(prefix)));
    x.push_str(&el("KeyMarker", &enc(key_marker.unwrap_or(""))));
    x.push_str(&el("VersionIdMarker", version_marker.unwrap_or("")));
    if let (true, Some((k, v))) = (truncated, &next) {
        x.push_str(&el("NextKeyMarker", &enc(k)));
        if let Some(v) = v {
            x.push_str(&el("NextVersionIdMarker", v));
        }
    }
    x.push_str(&el("MaxKeys", &max.to_string()));
    if let Some(d) = delimiter {
        x.push_str(&el("Delimiter", &enc(d)));
    }
    x.push_str(&el("IsTruncated", &truncated.to_string()));
    if url {
        x.push_str(&el("EncodingType", "url"));
    }
    x.push_str(&body);
    x.push_str("</ListVersionsResult>");
    Ok(ok_xml(x))
}

/// The members a listing gives of an object version, after its key.
fn object_summary(v: &Version) -> String {
    let mut x = el("LastModified", &iso_ms(v.last_modified_ms));
    x.push_str(&el("ETag", &v.etag));
    if let Some(c) = &v.checksum {
        x.push_str(&el("ChecksumAlgorithm", &c.algorithm));
        x.push_str(&el("ChecksumType", "FULL_OBJECT"));
    }
    x.push_str(&el("Size", &v.body.len().to_string()));
    x.push_str(&el("StorageClass", "STANDARD"));
    x
}

fn owner(ctx: &Ctx) -> String {
    // A canonical user id is 64 hex digits; this one is derived from the account.
    let id = hex(&Md5::digest(ctx.account.as_bytes())).repeat(2);
    format!(
        "<Owner>{}{}</Owner>",
        el("ID", &id),
        el("DisplayName", "sandbox")
    )
}

// --- request details -----------------------------------------------------------------------

/// Decodes an aws-chunked body (`SIZE[;chunk-signature=..]\r\nDATA\r\n ... 0\r\nTRAILERS\r\n\r\n`):
/// the bytes and the trailer headers (names lower-cased).
fn decode_aws_chunked(raw: &[u8]) -> Result<(Vec<u8>, Headers), Fail> {
    let incomplete = || {
        fail(
            400,
            "IncompleteBody",
            "The request body terminated unexpectedly",
        )
    };
    let invalid = || fail(400, "InvalidRequest", "Invalid chunked upload encoding");
    let line_at = |i: usize| -> Option<usize> {
        raw.get(i..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|n| i + n)
    };
    let mut body = Vec::new();
    let mut i = 0;
    loop {
        let end = line_at(i).ok_or_else(incomplete)?;
        let line = std::str::from_utf8(&raw[i..end]).map_err(|_| invalid())?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| invalid())?;
        i = end + 2;
        if size == 0 {
            break;
        }
        let data_end = i.checked_add(size).ok_or_else(invalid)?;
        let chunk = raw.get(i..data_end).ok_or_else(incomplete)?;
        body.extend_from_slice(chunk);
        if raw.get(data_end..data_end + 2) != Some(b"\r\n".as_slice()) {
            return Err(if raw.len() < data_end + 2 {
                incomplete()
            } else {
                invalid()
            });
        }
        i = data_end + 2;
    }
    let rest = std::str::from_utf8(&raw[i..]).map_err(|_| invalid())?;
    let mut trailers = Vec::new();
    for line in rest.split("\r\n").filter(|l| !l.trim().is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(invalid)?;
        trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok((body, trailers))
}

const ALGORITHMS: &[&str] = &["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];

fn checksum_header(algorithm: &str) -> String {
    format!("x-amz-checksum-{}", algorithm.to_ascii_lowercase())
}

/// The checksum a put carries (a header or an aws-chunked trailer), verified where the
/// sandbox can compute it; none given: the CRC64NVME S3 computes itself.
fn request_checksum(
    req: &Req,
    trailers: &[(String, String)],
    body: &[u8],
) -> Result<Option<Checksum>, Fail> {
    let mut given = Vec::new();
    for algorithm in ALGORITHMS {
        let name = checksum_header(algorithm);
        let value = req.header(&name).map(str::to_string).or_else(|| {
            trailers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        });
        if let Some(value) = value {
            given.push(Checksum {
                algorithm: algorithm.to_string(),
                value: value.trim().to_string(),
            });
        }
    }
    if given.len() > 1 {
        return Err(fail(
            400,
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        ));
    }
    let Some(c) = given.pop() else {
        return Ok(Some(Checksum {
            algorithm: "CRC64NVME".into(),
            value: B64.encode(crc64nvme(body).to_be_bytes()),
        }));
    };
    let computed = match c.algorithm.as_str() {
        "CRC32" => Some(B64.encode(crc32(body, &CRC32_TABLE).to_be_bytes())),
        "CRC32C" => Some(B64.encode(crc32(body, &CRC32C_TABLE).to_be_bytes())),
        "CRC64NVME" => Some(B64.encode(crc64nvme(body).to_be_bytes())),
        _ => None,
    };
    if computed.is_some_and(|computed| computed != c.value) {
        return Err(fail(
            400,
            "BadDigest",
            format!(
                "The {} you specified did not match the calculated checksum.",
                c.algorithm
            ),
        ));
    }
    Ok(Some(c))
}

/// The encryption a put asks for: (`x-amz-server-side-encryption`, the KMS key id).
fn encryption(req: &Req, region: &str, account: &str) -> Result<(String, Option<String>), Fail> {
    let sse = req
        .header("x-amz-server-side-encryption")
        .map(str::trim)
        .unwrap_or("AES256");
    let key = req
        .header("x-amz-server-side-encryption-aws-kms-key-id")
        .map(str::trim);
    match (sse, key) {
        ("AES256", None) => Ok((sse.to_string(), None)),
        ("AES256", Some(_)) => Err(invalid_argument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
            "x-amz-server-side-encryption",
            sse,
        )),
        ("aws:kms" | "aws:kms:dsse", key) => Ok((
            sse.to_string(),
            Some(match key {
                Some(k) if !k.is_empty() => k.to_string(),
                // The account's AWS managed key for S3 (aws/s3), a fixed id here.
                _ => format!("arn:aws:kms:{region}:{account}:key/00000000-0000-4000-8000-000000000053"),
            }),
        )),
        _ => Err(invalid_argument(
            "The encryption method specified is not supported",
            "x-amz-server-side-encryption",
            sse,
        )),
    }
}

fn encryption_headers(v: &Version) -> Vec<(String, String)> {
    let mut h = vec![("x-amz-server-side-encryption".to_string(), v.sse.clone())];
    if let Some(k) = &v.kms_key_id {
        h.push((
            "x-amz-server-side-encryption-aws-kms-key-id".into(),
            k.clone(),
        ));
    }
    h
}

/// Whether an `If-Match` / `If-None-Match` value names `etag` (`*` names any; a list is
/// comma-separated; quotes and a weak `W/` are not significant).
fn etag_matches(wanted: &str, etag: &str) -> bool {
    let bare = |s: &str| {
        s.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_string()
    };
    let etag = bare(etag);
    wanted
        .split(',')
        .any(|w| w.trim() == "*" || bare(w) == etag)
}

/// A new version id: 32 characters of the alphabet S3's ids use.
fn version_id(ctx: &mut Ctx) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    (0..32)
        .map(|_| ALPHABET[ctx.rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

// --- formats -------------------------------------------------------------------------------

/// ISO 8601 with milliseconds, as S3's XML writes times: `2026-12-01T00:42:37.000Z`.
fn iso_ms(ms: u64) -> String {
    let t = Utc::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

/// An HTTP date (RFC 7231 IMF-fixdate), as in `Last-Modified`.
fn http_date(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = Utc::from_ms(ms);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday as usize % 7],
        t.day,
        MONTHS[(t.month as usize).saturating_sub(1) % 12],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn el(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", esc(value))
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text inside the first `<name ...>...</name>` of `xml` (`Some("")` for `<name/>`);
/// enough for the two small request documents S3 takes here.
fn xml_element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = xml[from..].find(&format!("<{name}")) {
        let start = from + at;
        let after = start + 1 + name.len();
        let rest = &xml[after..];
        let close = rest.find('>')?;
        // `<NameSuffix>` is another element.
        if rest
            .chars()
            .next()
            .is_some_and(|c| !(c == '>' || c == '/' || c.is_whitespace()))
        {
            from = after;
            continue;
        }
        if rest[..close].ends_with('/') {
            return Some("");
        }
        let inner_start = after + close + 1;
        let end = xml[inner_start..].find(&format!("</{name}>"))?;
        return Some(&xml[inner_start..inner_start + end]);
    }
    None
}

/// Percent-encodes all but unreserved characters and `/`, as S3's `encoding-type=url` does.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// --- checksums -----------------------------------------------------------------------------

const CRC32_TABLE: [u64; 256] = crc_table(0xEDB8_8320);
const CRC32C_TABLE: [u64; 256] = crc_table(0x82F6_3B78);
const CRC64NVME_TABLE: [u64; 256] = crc_table(0x9A6C_9329_AC4B_C9B5);

/// The table of a reflected CRC whose polynomial, reversed, is `poly` (a 32-bit CRC's
/// entries stay within 32 bits).
const fn crc_table(poly: u64) -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// A reflected CRC of `width_mask`'s width, initial value and final xor all ones.
fn crc(data: &[u8], table: &[u64; 256], width_mask: u64) -> u64 {
    data.iter().fold(width_mask, |c, &b| {
        table[((c ^ u64::from(b)) & 0xff) as usize] ^ (c >> 8)
    }) ^ width_mask
}

fn crc32(data: &[u8], table: &[u64; 256]) -> u32 {
    crc(data, table, 0xFFFF_FFFF) as u32
}

fn crc64nvme(data: &[u8]) -> u64 {
    crc(data, &CRC64NVME_TABLE, u64::MAX)
}

/// Object bytes as base64 in the data file.
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        B64.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls `handle` as the server would.
    fn call_req(cloud: &mut crate::Cloud, req: &Req) -> Resp {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut ctx = Ctx {
            now_ms: 1_700_000_000_123,
            speed: 1.0,
            account: "123456789012",
            region: "us-east-1",
            rng: &mut rng,
            consistency_ms: 0,
        };
        handle(cloud, &mut ctx, req)
    }

    fn call(
        cloud: &mut crate::Cloud,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let req = Req {
            method: method.into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: Vec::new(),
            body: body.to_vec(),
        };
        let resp = call_req(cloud, &req);
        (resp.status, String::from_utf8(resp.body).unwrap())
    }

    fn all_between<'a>(xml: &'a str, open: &str, close: &str) -> Vec<&'a str> {
        xml.split(open)
            .skip(1)
            .filter_map(|s| s.split(close).next())
            .collect()
    }

    #[test]
    fn twenty_thousand_keys_page_through_once_each_past_deleted_ones_and_folded_prefixes() {
        let mut cloud = crate::Cloud::default();
        ensure_bucket(&mut cloud.s3, "big", "us-east-1", 0).unwrap();
        let b = cloud.s3.buckets.get_mut("big").unwrap();
        for i in 0..20_000 {
            // Every third key deleted (a delete marker on top), every fifth under `dir{n}/`.
            let key = if i % 5 == 0 {
                format!("dir{}/k{i:05}", i % 7)
            } else {
                format!("k{i:05}")
            };
            let v = Version {
                version_id: format!("v{i}"),
                etag: "\"e\"".into(),
                sse: "AES256".into(),
                ..Version::default()
            };
            b.objects.insert(key.clone(), vec![v]);
            if i % 3 == 0 {
                push_version(
                    b,
                    &key,
                    Version {
                        version_id: format!("d{i}"),
                        delete_marker: true,
                        ..Version::default()
                    },
                );
            }
        }
        let live: Vec<String> = b
            .objects
            .iter()
            .filter(|(_, v)| !v.last().unwrap().delete_marker)
            .map(|(k, _)| k.clone())
            .collect();
        let mut seen = Vec::new();
        let mut folded = Vec::new();
        let mut token: Option<String> = None;
        for delimiter in [None, Some("/")] {
            let mut pages = 0;
            loop {
                let mut q = vec![("list-type", "2")];
                if let Some(t) = &token {
                    q.push(("continuation-token", t));
                }
                if let Some(d) = delimiter {
                    q.push(("delimiter", d));
                }
                let (status, xml) = call(&mut cloud, "GET", "/big", &q, b"");
                assert_eq!(status, 200, "{xml}");
                pages += 1;
                let keys = all_between(&xml, "<Key>", "</Key>");
                match delimiter {
                    None => seen.extend(keys.iter().map(|k| k.to_string())),
                    Some(_) => {
                        assert!(keys.iter().all(|k| !k.contains('/')));
                        folded.extend(
                            all_between(&xml, "<Prefix>", "</Prefix>")[1..]
                                .iter()
                                .map(|p| p.to_string()),
                        );
                    }
                }
                token = all_between(&xml, "<NextContinuationToken>", "</")
                    .first()
                    .map(|t| t.to_string());
                if token.is_none() {
                    assert!(xml.contains("<IsTruncated>false</IsTruncated>"));
                    break;
                }
            }
            if delimiter.is_none() {
                assert_eq!(pages, live.len().div_ceil(1000));
            }
        }
        assert_eq!(seen, live);
        let mut expected: Vec<String> = (0..7).map(|n| format!("dir{n}/")).collect();
        expected.sort();
        assert_eq!(folded, expected);
    }

    #[test]
    fn a_suspended_bucket_keeps_one_null_version_beside_the_older_ones() {
        let mut cloud = crate::Cloud::default();
        let versioning = |status: &str| {
            format!("<VersioningConfiguration><Status>{status}</Status></VersioningConfiguration>")
        };
        for (method, path, query, body) in [
            ("PUT", "/bkt", vec![], String::new()),
            (
                "PUT",
                "/bkt",
                vec![("versioning", "")],
                versioning("Enabled"),
            ),
            ("PUT", "/bkt/k", vec![], "one".into()),
            (
                "PUT",
                "/bkt",
                vec![("versioning", "")],
                versioning("Suspended"),
            ),
            ("PUT", "/bkt/k", vec![], "two".into()),
            ("PUT", "/bkt/k", vec![], "three".into()),
        ] {
            let (status, xml) = call(&mut cloud, method, path, &query, body.as_bytes());
            assert_eq!(status, 200, "{method} {path}: {xml}");
        }
        let versions = |cloud: &crate::Cloud| -> Vec<(String, bool, Vec<u8>)> {
            cloud.s3.buckets["bkt"].objects["k"]
                .iter()
                .map(|v| (v.version_id.clone(), v.delete_marker, v.body.clone()))
                .collect()
        };
        let v = versions(&cloud);
        assert_eq!(v.len(), 2);
        assert_eq!((v[1].0.as_str(), &v[1].2[..]), ("null", &b"three"[..]));
        let (status, _) = call(&mut cloud, "DELETE", "/bkt/k", &[], b"");
        assert_eq!(status, 204);
        let v = versions(&cloud);
        assert_eq!(v.len(), 2, "the delete marker replaced the null version");
        assert_eq!((v[1].0.as_str(), v[1].1), ("null", true));
        let (status, xml) = call(&mut cloud, "GET", "/bkt", &[("versions", "")], b"");
        assert_eq!(status, 200);
        assert_eq!(all_between(&xml, "<VersionId>", "</").len(), 2, "{xml}");
        assert!(
            xml.contains(
                "<DeleteMarker><Key>k</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>"
            ),
            "{xml}"
        );
        // Not the account's bucket: refused before anything else.
        let req_owner = Req {
            method: "GET".into(),
            path: "/bkt/k".into(),
            query: Vec::new(),
            headers: vec![("x-amz-expected-bucket-owner".into(), "999999999999".into())],
            body: Vec::new(),
        };
        assert_eq!(call_req(&mut cloud, &req_owner).status, 403);
    }

    #[test]
    fn byte_ranges_are_read_as_s3_reads_them() {
        let r = |h: &str, len: usize| byte_range(h, len).map_err(|f| f.status);
        assert_eq!(r("bytes=0-4", 10), Ok(Some((0, 4))));
        assert_eq!(r("bytes=5-", 10), Ok(Some((5, 9))));
        assert_eq!(r("bytes=8-100", 10), Ok(Some((8, 9))));
        assert_eq!(r("bytes=-3", 10), Ok(Some((7, 9))));
        assert_eq!(r("bytes=-30", 10), Ok(Some((0, 9))));
        assert_eq!(r("bytes=10-", 10), Err(416));
        assert_eq!(r("bytes=-0", 10), Err(416));
        assert_eq!(r("bytes=0-", 0), Err(416));
        for ignored in [
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=-",
            "bytes=3",
        ] {
            assert_eq!(r(ignored, 10), Ok(None), "{ignored}");
        }
    }

    #[test]
    fn checksums_give_their_check_values() {
        assert_eq!(crc32(b"123456789", &CRC32_TABLE), 0xCBF4_3926);
        assert_eq!(crc32(b"123456789", &CRC32C_TABLE), 0xE306_9283);
        assert_eq!(crc64nvme(b"123456789"), 0xAE8B_1486_0A79_9888);
    }

    #[test]
    fn aws_chunked_bodies_decode_with_or_without_signatures_and_keep_the_trailer() {
        let raw = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let (body, trailers) = decode_aws_chunked(raw).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(
            trailers,
            vec![("x-amz-checksum-crc32".to_string(), "DUoRhQ==".to_string())]
        );
        let signed = b"5;chunk-signature=abc\r\nhello\r\n0;chunk-signature=def\r\n\r\n";
        assert_eq!(decode_aws_chunked(signed).unwrap().0, b"hello");
        for broken in [
            &b"5\r\nhel"[..],
            b"zz\r\nhello\r\n0\r\n",
            b"5\r\nhelloXX0\r\n",
            b"ffffffffffffffff\r\nx\r\n",
            b"",
        ] {
            assert!(decode_aws_chunked(broken).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn dates_are_written_as_s3_writes_them() {
        assert_eq!(iso_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            http_date(1_700_000_000_123),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for ok in ["abc", "my-bucket.state", "a1b", &"a".repeat(63)] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Upper",
            "-abc",
            "abc-",
            "a..b",
            "192.168.0.1",
            "_sandbox",
            &"a".repeat(64),
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn xml_elements_are_found_by_exact_name() {
        let x = r#"<CreateBucketConfiguration xmlns="x"><LocationConstraintX>no</LocationConstraintX><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#;
        let root = xml_element(x, "CreateBucketConfiguration").unwrap();
        assert_eq!(xml_element(root, "LocationConstraint"), Some("eu-west-1"));
        assert_eq!(xml_element("<A/>", "A"), Some(""));
        assert_eq!(xml_element("<A>", "A"), None);
        assert_eq!(xml_element("garbage", "A"), None);
    }

    #[test]
    fn etags_match_with_or_without_quotes_and_star_matches_any() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("abc", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}

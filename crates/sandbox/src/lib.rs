//! A local endpoint for the parts of AWS Elemental MediaLive, MediaPackage (v1), SSM, IAM and
//! S3 that livestack uses (and STS's GetCallerIdentity), speaking each service's own wire protocol so that the official
//! aws-sdk-* clients and the AWS CLI talk to it unchanged, and enforcing the lifecycle rules of
//! `shared/design/aws-lifecycle.md` (states with timed transitions, 409/422/404 answers).
//!
//! This crate depends on no other livestack crate.
//!
//! # Documented deviations from AWS
//! (kept up to date by whoever changes a service module; each module's docs give the
//! details). Where the sandbox answers differently from what issue 3 lists, the service
//! model wins and the difference is said here: MediaLive's input and security group rules
//! are 400 (not 422), MediaPackage's conflicts are 422 (not 409), SSM's are 400.
//!
//! ## Server
//! - One endpoint on 127.0.0.1 serves all five services; requests are not signed-checked
//!   (any credentials work) and the region in ARNs is the configured one, whatever the client
//!   signs for.
//! - STS serves GetCallerIdentity only (see `sts`), reached by a request signed for `sts`.
//!   Each world (data file, or a sandbox in memory) has a random id made at its creation and
//!   written to its data file at once (the one write a start makes); the caller identity
//!   names it, with the configured account. A reset keeps it.
//! - The request log is kept in memory (lost on restart); `POST /_sandbox/reset` empties the
//!   cloud, the log and the data file's cloud alike.
//! - Each call's fault is drawn from a hash of (seed, service, operation, resource, attempt),
//!   the attempt being how many times that same call was made since the faults were set; so
//!   a logical call meets the same faults whatever order concurrent calls arrive in, and a
//!   failing run replays from its seed. The request log names each call's fault and
//!   attempt. Faults are 429 throttles and 500 errors in each protocol's
//!   own error shape (restJson1 `TooManyRequestsException` / `InternalServerErrorException`,
//!   awsJson `ThrottlingException` / `InternalServerError`, IAM `Throttling` /
//!   `ServiceFailure`, S3 `SlowDown` 503 / `InternalError` 500). AWS answers SSM and IAM
//!   throttles with 400; the sandbox uses 429 for them and for MediaLive and MediaPackage
//!   (S3's 503 is AWS's own), which the SDKs and the CLI retry alike. A throttle or an error is answered before
//!   the call is carried out; a "lost response" (`lost_response_rate`) is carried out and then
//!   answered as an error, as when AWS's answer never reaches the client.
//! - Every modelled duration is AWS time divided by the speed factor; transitions settle
//!   lazily when the resource is next read, so nothing moves while nobody asks.
//! - Request rates (`Faults::rate_limits`, off by default): a token bucket per (service,
//!   operation family), `"aws"` being AWS's published per-account figures (MediaLive 5 a
//!   second, bursts of 30, for every call; SSM GetParameter(s) 40 a second; the MediaPackage,
//!   IAM and other SSM figures are guesses, see [`RateLimit::aws`]). A call finding its bucket
//!   empty is answered as a throttle fault is (above) and logged with fault `rate` and
//!   attempt 0. Rates are per real second, not scaled by the speed factor. Buckets are shared
//!   by every client (one account), start full, and fill again when the faults are replaced
//!   or the sandbox reset. AWS's buckets are not documented in more detail than their rate
//!   and burst; how AWS counts a retried call is not modelled beyond "one call, one token".
//!
//! ## Data file
//! - Written after a call that may have changed the cloud (any operation but Describe*,
//!   Get*, Head*, List*, whatever its answer), and that call is answered only once the file holds
//!   the change, so a killed sandbox keeps every change it acknowledged. The write itself
//!   (serialise, temp file, fsync, rename) runs off the lock and off the request threads;
//!   changes made during a write are written together by the next one. Reads never write:
//!   a timed transition a read settles is not written until the next change, which is
//!   equivalent, as settling depends only on the stored due times and the clock (a restart
//!   settles it the same way). `next_id` advances once per write, so a restarted sandbox's
//!   ids are drawn from a fresh stream.
//!
//! ## MediaLive
//! - Durations (AWS seconds): channel CREATING -> IDLE 4, STARTING -> RUNNING 60,
//!   STOPPING -> IDLE 20, UPDATING -> IDLE 4 (UpdateChannel and UpdateChannelClass),
//!   DELETING -> DELETED 4; input DELETING -> DELETED 2. A DELETED channel or input answers
//!   Describe for an hour of AWS time, then 404; it is never listed. Channels never reach
//!   CREATE_FAILED, UPDATE_FAILED or RECOVERING; inputs are DETACHED at once (no CREATING)
//!   and security groups never show UPDATING; a deleted security group is gone at once.
//! - Validation errors follow each operation's model: CreateChannel, UpdateChannel and
//!   UpdateChannelClass answer 422 UnprocessableEntityException with `validationErrors`;
//!   the input and security group operations, which model no 422, answer 400
//!   BadRequestException (RTMP_PUSH without a security group, an input type or class
//!   change, more than 10 whitelist rules, a CIDR that is not IPv4). Deleting a security
//!   group in use answers 409 ConflictException, which DeleteInputSecurityGroup does not
//!   model (UNVERIFIED; the SDKs see an unmodelled error with that code).
//! - Checked on channels: channelClass and logLevel values; encoderSettings with
//!   audioDescriptions, outputGroups, videoDescriptions and timecodeConfig.source present
//!   (their contents are stored verbatim and not validated: names referenced between
//!   descriptions, outputs and destination ids are not checked); per destination 2 settings
//!   for STANDARD and 1 for SINGLE_PIPELINE (srtSettings counted instead when given;
//!   mediaPackageSettings, one entry for all pipelines, and multiplexSettings exempt);
//!   a MediaPackage channelId must exist and be visible (eventual consistency, 422 in both
//!   cases, as a missing and a not-yet-visible channel look alike on AWS); attached inputs
//!   exist, are STANDARD for a STANDARD channel, and are not attached to another channel
//!   (UNVERIFIED). Not checked: name (optional, as in the model), a channel without inputs,
//!   the role's permissions and the SSM parameters named by passwordParam, the
//!   inputSpecification, quotas (5 channels, 5 push inputs, ...).
//! - UpdateChannel replaces each member it is given wholesale; a roleArn left out is
//!   removed (as the model documents); other members left out are kept (UNVERIFIED).
//!   UpdateChannelClass down to SINGLE_PIPELINE keeps the first setting of each destination.
//! - A create with a known requestId answers the resource made by the first call, whatever
//!   the rest of the request says.
//! - Input class: 2 sources / destinations / MediaConnect flows / devices make a STANDARD
//!   input, 1 a SINGLE_PIPELINE one; types without such members (SRT, multicast, CDI, ...)
//!   are STANDARD and otherwise unchecked. Push inputs get fake IPs from 203.0.113.0/24
//!   (RFC 5737), fixed per destination for the input's life; egress endpoints come from
//!   198.51.100.0/24. `inputSourceType` is always STATIC.
//! - Accepted and ignored on channels: anywhereSettings, channelEngineVersion, dryRun,
//!   linkedChannelSettings, channelSecurityGroups, inferenceSettings; cdiInputSpecification,
//!   maintenance and vpc are stored and returned as given.
//! - Not checked in destinations: URLs, usernames, passwordParam, and an RTMP (or any)
//!   destination setting without a `streamName`: MediaLive wants an RTMP output's stream key
//!   there (the URL without it); the sandbox stores the setting as given.
//! - `pipelineDetails` (RUNNING only) carry `pipelineId` and `activeInputAttachmentName`
//!   only; `egressEndpoints` are fake addresses.
//! - Pagination: items in id order, 100 per page unless maxResults (1 to 1000) says
//!   otherwise; nextToken is an opaque string the sandbox made.
//!
//! ## MediaPackage (v1)
//! - Conflicts are 422 UnprocessableEntityException, as the service model says (it has no
//!   409 and no ConflictException): deleting a channel that still has origin endpoints, a
//!   duplicate channel or endpoint id. The messages are ours.
//! - Eventual consistency: a channel younger than the configured window is 404
//!   NotFoundException to CreateOriginEndpoint (UNVERIFIED shape) and 422 to MediaLive;
//!   deterministic (always inside the window, never after).
//! - UpdateChannel without `description` clears it; UpdateOriginEndpoint resets every member
//!   it is not given to its default (as AWS documents). Package defaults are our reading
//!   (UNVERIFIED); encryption, authorization and SPEKE settings are echoed, not checked.
//! - Ingest usernames and passwords are random hex; ingest and origin URLs use fake hosts
//!   under `mediapackage.REGION.amazonaws.com`.
//! - Tags on an unknown ARN answer 404 NotFoundException (the tag operations model no
//!   errors). Harvest jobs, ConfigureLogs, access logs (always `{}`) and quotas are not
//!   modelled; nextToken is opaque hex.
//!
//! ## SSM
//! - Errors are 400 with `__type` as on AWS (ParameterAlreadyExists for a put without
//!   Overwrite, ParameterNotFound, ...); only throttles and internal errors differ (above).
//! - No encryption: a SecureString without WithDecryption answers a random base64 blob (a
//!   KMS-looking ciphertext) and KeyId is only echoed (default `alias/aws/ssm`).
//!   AllowedPattern is stored, not checked; policies, labels, version history,
//!   `name:version` selectors and StringList splitting are not modelled.
//! - DescribeParameters supports the Name, Path, Type, KeyId, Tier, DataType and `tag:KEY`
//!   filters (and the legacy Filters); NextToken is opaque hex.
//!
//! ## IAM
//! - Only AWS-managed policies (`arn:aws:iam::aws:policy/...`) attach, and every such name
//!   is taken to exist (there is no CreatePolicy); other ARNs answer NoSuchEntity.
//! - Policy documents are checked only for being a JSON object with a `Statement`;
//!   PermissionsBoundary and RoleLastUsed are not modelled; list markers are offsets.

//!
//! ## S3
//! - Path-style only (`/bucket/key`), told apart from MediaPackage by the credential scope;
//!   an unsigned request never reaches S3. Object bytes are kept in the cloud (base64 in the
//!   data file), so objects are small: at most the 16 MiB a request body may be.
//! - ETags are the MD5 of the bytes for every object, SSE-KMS ones included (AWS's are not
//!   MD5s there). Calls run one at a time, so racing conditional writes get 412, never AWS's
//!   occasional 409 ConditionalRequestConflict. A re-create of an own bucket is 200 in
//!   us-east-1 and 409 BucketAlreadyOwnedByYou elsewhere, as on AWS. An unknown version id is
//!   404 NoSuchVersion whatever its form; DeleteObject's If-Match on a missing key answers
//!   404 NoSuchKey (the user guide says 404; the code is UNVERIFIED). Date conditions on
//!   reads are ignored; ACLs, policies, tags, multipart uploads, CopyObject and DeleteObjects
//!   are not served (501 NotImplemented).
//!   `s3` module docs give the rest.

pub mod iam;
pub mod medialive;
pub mod mediapackage;
pub mod rate;
pub mod s3;
pub mod server;
pub mod ssm;
pub mod sts;
pub mod wire;

pub use rate::RateLimit;
pub use server::{serve, start, Config, Error, Faults, LoggedRequest, Running};

use serde::{Deserialize, Serialize};

/// The whole simulated cloud: what the data file persists.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Cloud {
    pub medialive: medialive::MediaLive,
    pub mediapackage: mediapackage::MediaPackage,
    pub ssm: ssm::Ssm,
    pub iam: iam::Iam,
    pub s3: s3::S3,
    /// Who this world is (STS GetCallerIdentity); made once, when the world is created.
    pub identity: Identity,
    /// Counter from which numeric ids and random-looking hex ids are derived.
    pub next_id: u64,
}

/// What tells one sandbox world from another: a random id drawn when the world is created
/// (its data file first written, or a sandbox kept in memory started), kept in the data file
/// and across resets. Empty in a data file written before worlds had one: it gets one when
/// next started.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Identity {
    /// 16 lower-case hex digits.
    pub world: String,
}

impl Identity {
    /// A new world's identity, from the operating system's randomness (not the faults' seed:
    /// two sandboxes started with one seed are still two worlds).
    pub fn random() -> Identity {
        use rand::Rng;
        let mut rng = rand::rng();
        Identity {
            world: (0..16)
                .map(|_| char::from_digit(rng.random_range(0..16), 16).expect("a hex digit"))
                .collect(),
        }
    }
}

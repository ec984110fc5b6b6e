//! The crate's error: what failed (operation and resource), AWS's code and message, never a
//! secret.

use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Why a call to AWS failed. Messages name the operation and the resource; a secret the call
/// carried (a stream key, a password) is cut out of every message AWS sends back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// AWS answered with an error.
    #[error("{operation} for {resource}: {code}: {message}")]
    Service {
        operation: &'static str,
        resource: String,
        /// The AWS error code, e.g. `ConflictException`, `NoSuchEntity`.
        code: String,
        message: String,
        /// The HTTP status, when an answer came.
        status: Option<u16>,
    },
    /// No usable answer: connection refused, timeout, an answer that could not be read.
    #[error("{operation} for {resource} failed")]
    Transport {
        operation: &'static str,
        resource: String,
        #[source]
        source: Cause,
    },
    /// AWS answered, but not with what livestack needs.
    #[error("{operation} for {resource}: unexpected answer: {reason}")]
    Unexpected {
        operation: &'static str,
        resource: String,
        reason: String,
    },
    /// The spec cannot be sent as it is.
    #[error("invalid spec for {resource}: {reason}")]
    InvalidSpec { resource: String, reason: String },
    /// A wait ran out of time.
    #[error("timed out after {}s waiting for {resource} to be {want}", .after.as_secs())]
    Timeout {
        resource: String,
        want: String,
        after: Duration,
    },
    /// A wait met a state it cannot leave for the one wanted (CREATE_FAILED, UPDATE_FAILED, ...).
    #[error("{resource} is {state} while waiting for {want}")]
    FailedState {
        resource: String,
        state: String,
        want: String,
    },
    /// A secret could not be read.
    #[error("cannot read secret {name}: {reason}")]
    Secret { name: String, reason: String },
    /// The AWS configuration could not be loaded.
    #[error("cannot load the AWS configuration: {reason}")]
    Config { reason: String },
}

/// The text of an underlying error chain, with secrets cut out. Kept as text so that no raw
/// HTTP answer (which can hold a password) is reachable through `source()` or `Debug`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Cause(pub(crate) String);

impl Error {
    /// The resource does not exist (404, NoSuchEntity, ParameterNotFound, NotFoundException).
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Service { code, status, .. } => {
                *status == Some(404)
                    || matches!(
                        code.as_str(),
                        "NotFoundException"
                            | "NoSuchEntity"
                            | "NoSuchEntityException"
                            | "ParameterNotFound"
                            | "ResourceNotFoundException"
                    )
            }
            _ => false,
        }
    }

    /// The resource is in a state that forbids the call, or in use (409, DeleteConflict).
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::Service { code, status, .. } => {
                *status == Some(409)
                    || matches!(
                        code.as_str(),
                        "ConflictException" | "DeleteConflict" | "DeleteConflictException"
                    )
            }
            _ => false,
        }
    }

    /// A create met a resource of the same name or id (EntityAlreadyExists,
    /// ParameterAlreadyExists, MediaPackage's 422 "already exists").
    pub fn is_already_exists(&self) -> bool {
        match self {
            Error::Service { code, message, .. } => {
                matches!(
                    code.as_str(),
                    "EntityAlreadyExists"
                        | "EntityAlreadyExistsException"
                        | "ParameterAlreadyExists"
                ) || message.to_ascii_lowercase().contains("already exists")
            }
            _ => false,
        }
    }

    /// The call may have been carried out although it failed: a 5xx answer, no answer at all,
    /// or a timeout (as opposed to a 4xx, which AWS sends for calls it refused).
    pub fn may_have_been_carried_out(&self) -> bool {
        match self {
            Error::Service { status, .. } => status.is_none_or(|s| s >= 500),
            Error::Transport { .. } | Error::Timeout { .. } => true,
            _ => false,
        }
    }

    /// Throttled (429, TooManyRequestsException, Throttling), after the SDK's own retries.
    pub fn is_throttling(&self) -> bool {
        match self {
            Error::Service { code, status, .. } => {
                *status == Some(429)
                    || matches!(
                        code.as_str(),
                        "TooManyRequestsException" | "Throttling" | "ThrottlingException"
                    )
            }
            _ => false,
        }
    }

    /// MediaLive or MediaPackage does not see a MediaPackage channel yet: eventual
    /// consistency right after its create (a 404 to CreateOriginEndpoint, a 422 naming the
    /// channel to CreateChannel/UpdateChannel). Worth retrying for a while.
    pub fn is_not_visible_yet(&self) -> bool {
        match self {
            Error::Service {
                operation,
                code,
                message,
                ..
            } => {
                let m = message.to_ascii_lowercase();
                match *operation {
                    "CreateOriginEndpoint" => self.is_not_found(),
                    "CreateChannel" | "UpdateChannel" | "UpdateChannelClass" => {
                        code == "UnprocessableEntityException"
                            && m.contains("mediapackage")
                            && (m.contains("not exist") || m.contains("not found"))
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// The AWS error code, when AWS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The cause of `e` in one line, without the resource: `GetCallerIdentity: HTTP 403
/// InvalidClientTokenId: ...`, `GetCallerIdentity: no AWS credentials found (tried ...)`,
/// `GetCallerIdentity: connection refused`. For the errors of the first call a run makes,
/// which say more about where the calls go than about any resource.
pub fn short_cause(e: &Error) -> String {
    match e {
        Error::Service {
            operation,
            code,
            message,
            status,
            ..
        } => {
            let status = status.map(|s| format!("HTTP {s} ")).unwrap_or_default();
            one_line(&format!("{operation}: {status}{code}: {message}"))
        }
        Error::Transport {
            operation, source, ..
        } => format!("{operation}: {}", transport_cause(&source.0)),
        other => one_line(&other.to_string()),
    }
}

/// What a transport error's chain (`dispatch failure: other: ...: root`) means, in one line:
/// the credential providers tried, or the network's cause, never a Debug dump.
fn transport_cause(chain: &str) -> String {
    // The credential chain lists each provider it tried on a line of its own.
    if let Some((_, tried)) = chain.split_once("no credentials found in chain. Attempted:") {
        let names: Vec<&str> = tried
            .lines()
            .filter_map(|l| l.trim().split_once(':').map(|(name, _)| name))
            .filter(|n| !n.is_empty())
            .collect();
        return format!("no AWS credentials found (tried {})", names.join(", "));
    }
    let chain = one_line(chain);
    let cut = chain
        .trim_start_matches("dispatch failure: ")
        .trim_start_matches("other: ")
        .trim_start_matches("io error: ");
    let lower = cut.to_ascii_lowercase();
    let root = cut.rsplit(": ").next().unwrap_or(cut).trim();
    if lower.contains("connection refused") {
        "connection refused".into()
    } else if lower.contains("dns error") || lower.contains("failed to lookup") {
        format!("the endpoint's host name does not resolve ({root})")
    } else if lower.contains("credential") {
        format!("no usable AWS credentials: {cut}")
    } else {
        cut.to_string()
    }
}

/// `text` with its line breaks (and the indentation after them) made `; `.
fn one_line(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') { " " } else { "; " });
        }
        out.push_str(line);
    }
    out
}

/// Builds an [`Error`] from an SDK error, with every string in `secrets` cut out of the text.
pub(crate) fn sdk<E>(
    operation: &'static str,
    resource: &str,
    err: SdkError<E, HttpResponse>,
    secrets: &[&str],
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let resource = resource.to_string();
    match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let status = Some(ctx.raw().status().as_u16());
            Error::Service {
                operation,
                resource,
                code: e.code().unwrap_or("UnknownError").to_string(),
                message: redact(e.message().unwrap_or(""), secrets),
                status,
            }
        }
        // The error and its causes, without the Debug dump DisplayErrorContext adds.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Error::Transport {
            operation,
            resource,
            source: Cause(redact(&chain(&err), secrets)),
        },
        _ => Error::Transport {
            operation,
            resource,
            source: Cause(redact(&DisplayErrorContext(&err).to_string(), secrets)),
        },
    }
}

/// `err` with MediaLive's 422 `validationErrors` (`path: message`) added to its message
/// where the message does not already say them (AWS's own message is often just "Failed to
/// create channel").
pub(crate) fn with_details(err: Error, details: &[String], secrets: &[&str]) -> Error {
    match err {
        Error::Service {
            operation,
            resource,
            code,
            message,
            status,
        } => {
            let missing: Vec<&str> = details
                .iter()
                .map(String::as_str)
                .filter(|d| !message.contains(d))
                .collect();
            let message = if missing.is_empty() {
                message
            } else {
                let joined = redact(&missing.join("; "), secrets);
                if message.is_empty() {
                    joined
                } else {
                    format!("{message} ({joined})")
                }
            };
            Error::Service {
                operation,
                resource,
                code,
                message,
                status,
            }
        }
        other => other,
    }
}

/// `err: its source: its source's source`.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let s = e.to_string();
        if !text.ends_with(&s) {
            text = format!("{text}: {s}");
        }
        next = e.source();
    }
    text
}

/// `text` with each non-empty secret replaced by `(sensitive)`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(*s, "(sensitive)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_medialive::operation::create_channel::CreateChannelError;
    use aws_sdk_medialive::types::error::ConflictException;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn service_error(
        status: u16,
        code: &str,
        message: &str,
    ) -> SdkError<CreateChannelError, HttpResponse> {
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code(code)
            .message(message)
            .build();
        let err = if code == "ConflictException" {
            CreateChannelError::ConflictException(
                ConflictException::builder()
                    .message(message)
                    .meta(meta)
                    .build(),
            )
        } else {
            CreateChannelError::generic(meta)
        };
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from("{}"));
        SdkError::service_error(err, raw)
    }

    #[test]
    fn service_errors_name_operation_resource_and_code() {
        let e = sdk(
            "CreateChannel",
            "medialive_channel.imday",
            service_error(409, "ConflictException", "channel is running"),
            &[],
        );
        assert_eq!(
            e.to_string(),
            "CreateChannel for medialive_channel.imday: ConflictException: channel is running"
        );
        assert!(e.is_conflict());
        assert!(!e.is_not_found());
        assert_eq!(e.code(), Some("ConflictException"));
    }

    #[test]
    fn not_found_by_status_or_code() {
        let e = sdk(
            "DescribeChannel",
            "x",
            service_error(404, "NotFoundException", "gone"),
            &[],
        );
        assert!(e.is_not_found());
        let e = sdk(
            "GetRole",
            "x",
            service_error(404, "NoSuchEntity", "gone"),
            &[],
        );
        assert!(e.is_not_found());
        let e = sdk(
            "GetParameter",
            "x",
            service_error(400, "ParameterNotFound", ""),
            &[],
        );
        assert!(e.is_not_found());
        let e = sdk(
            "X",
            "x",
            service_error(429, "TooManyRequestsException", ""),
            &[],
        );
        assert!(e.is_throttling() && !e.is_not_found() && !e.is_conflict());
    }

    #[test]
    fn secrets_are_cut_from_messages_and_debug() {
        let e = sdk(
            "UpdateChannel",
            "medialive_channel.imday",
            service_error(
                422,
                "UnprocessableEntityException",
                "bad stream name FB-KEY-123 for rtmps",
            ),
            &["FB-KEY-123"],
        );
        assert!(!e.to_string().contains("FB-KEY-123"), "{e}");
        assert!(!format!("{e:?}").contains("FB-KEY-123"), "{e:?}");
        assert!(e.to_string().contains("(sensitive)"));
    }

    #[test]
    fn validation_details_are_added_once_without_secrets() {
        let e = sdk(
            "CreateChannel",
            "medialive_channel.x",
            service_error(
                422,
                "UnprocessableEntityException",
                "Failed to create channel",
            ),
            &[],
        );
        let details = vec![
            "destinations[0].settings: needs 2 settings, got 1 for KEY-1".to_string(),
            "destinations[0].mediaPackageSettings[0].channelId: MediaPackage channel mp does not exist".to_string(),
        ];
        let e = with_details(e, &details, &["KEY-1"]);
        assert_eq!(
            e.to_string(),
            "CreateChannel for medialive_channel.x: UnprocessableEntityException: Failed to create channel \
             (destinations[0].settings: needs 2 settings, got 1 for (sensitive); \
             destinations[0].mediaPackageSettings[0].channelId: MediaPackage channel mp does not exist)"
        );
        assert!(e.is_not_visible_yet());
        let again = with_details(e, &details[1..], &[]);
        assert!(
            !again.to_string().ends_with("exist))"),
            "not repeated: {again}"
        );
    }

    #[test]
    fn the_first_calls_causes_are_one_line() {
        let transport = |chain: &str| Error::Transport {
            operation: "GetCallerIdentity",
            resource: "the caller identity".into(),
            source: Cause(chain.into()),
        };
        let no_credentials = "dispatch failure: other: the credential provider was not \
            enabled: no credentials found in chain. Attempted:\n  Environment: the credential \
            provider was not enabled: environment variable not set\n  Profile: the credential \
            provider was not enabled\n  Ec2InstanceMetadata: the credential provider was not \
            enabled: IMDS disabled";
        assert_eq!(
            short_cause(&transport(no_credentials)),
            "GetCallerIdentity: no AWS credentials found (tried Environment, Profile, \
             Ec2InstanceMetadata)"
        );
        let refused = "dispatch failure: io error: client error (Connect): tcp connect error: \
                       Connection refused (os error 111)";
        assert_eq!(
            short_cause(&transport(refused)),
            "GetCallerIdentity: connection refused"
        );
        let expired = "dispatch failure: other: the credential provider was not enabled:\n \
                       the SSO session has expired";
        assert_eq!(
            short_cause(&transport(expired)),
            "GetCallerIdentity: no usable AWS credentials: the credential provider was not \
             enabled: the SSO session has expired"
        );
        let denied = sdk(
            "GetCallerIdentity",
            "the caller identity",
            service_error(
                403,
                "InvalidClientTokenId",
                "The security token is invalid.\n",
            ),
            &[],
        );
        assert_eq!(
            short_cause(&denied),
            "GetCallerIdentity: HTTP 403 InvalidClientTokenId: The security token is invalid."
        );
    }

    #[test]
    fn transport_errors_chain_a_cause() {
        let err: SdkError<CreateChannelError, HttpResponse> = SdkError::timeout_error("slow");
        let e = sdk("CreateChannel", "medialive_channel.imday", err, &[]);
        assert_eq!(
            e.to_string(),
            "CreateChannel for medialive_channel.imday failed"
        );
        let source = std::error::Error::source(&e).expect("a cause");
        assert!(source.to_string().contains("slow"), "{source}");
    }
}

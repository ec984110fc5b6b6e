//! The stack file: TOML in, a [`ValidatedStack`] out.
//!
//! Loading is two-staged (as ripgrep's LowArgs/HiArgs): [`node`] keeps the raw TOML with the
//! span of every key and value; [`lower`] turns it into resources whose specs are in the AWS
//! request shape, resolving references and collecting *every* problem with file, line, column
//! and a hint. Only this crate can build a [`ValidatedStack`].
//!
//! # Resource specs: the contract with `plan`, `aws` and `state`
//! A resource's [`Resource::spec`] is a JSON object in the AWS API's own shape, with the
//! PascalCase member names that `aws <service> describe-*` prints. Values that are only known
//! once another resource exists, or that are secret, are placeholders:
//! - `{"$ref": "<address>", "attr": "<path>"}`: an output of another resource, e.g.
//!   `{"$ref": "iam_role.medialive", "attr": "Arn"}`; `<path>` is dotted with numeric indices:
//!   `HlsIngest.IngestEndpoints.0.Url`.
//! - `{"$secret": {"env": "NAME"}}`, `{"$secret": {"ssm": "/param/name"}}`, or
//!   `{"$secret": {"output": "<address>", "attr": "<path>"}}` (a secret output of another
//!   resource, e.g. a MediaPackage ingest password): never stored, never printed; compared by
//!   keyed hash.
//!
//! Per kind (outputs are what `aws` reports after a create or read):
//! - `iam_role`: `RoleName`, `Path`, `Description`, `AssumeRolePolicyDocument` (a JSON
//!   object), `InlinePolicies` (name -> policy object), `ManagedPolicyArns` (sorted), `Tags`
//!   (map). Outputs: `Arn`.
//! - `mediapackage_channel`: `Id`, `Description`, `Tags`. Outputs: `Arn`,
//!   `HlsIngest.IngestEndpoints[{Id, Url, Username}]` (never the password).
//! - `mediapackage_endpoint`: `Id`, `ChannelId`, `Description`, `ManifestName`,
//!   `StartoverWindowSeconds`, `TimeDelaySeconds`, `Whitelist`, `Origination`, one of
//!   `HlsPackage`/`DashPackage`/`CmafPackage`/`MssPackage`, `Tags`. Outputs: `Arn`, `Url`.
//! - `ssm_parameter`: `Name`, `Type` (`SecureString`), `Value` (a `$secret`), `Description`,
//!   `Tags`. Outputs: `Name`.
//! - `medialive_input_security_group`: `WhitelistRules[{Cidr}]`, `Tags`. Outputs: `Id`, `Arn`.
//! - `medialive_input`: `Name`, `Type`, `Sources[{Url}]`, `Destinations[{StreamName}]`,
//!   `InputSecurityGroups` (ids), `Tags`. Outputs: `Id`, `Arn`, `InputClass`,
//!   `Destinations[{StreamName, Url}]`.
//! - `medialive_channel`: `Name`, `ChannelClass`, `RoleArn`, `LogLevel`, `InputSpecification`,
//!   `InputAttachments`, `Destinations`, `EncoderSettings`, `Tags`; plus the run state in
//!   [`Resource::running`]. Outputs: `Id`, `Arn`, `State`.

mod encoding;
mod kinds;
mod lower;
mod node;
mod presets;
mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use encoding::FRAMERATES;
pub use kinds::medialive_channel::destination_id;
pub use kinds::{Kind, KindInfo, Reference, TableKeys, Unique};
pub use lower::reference;
pub use presets::{ladder_names, LADDERS};
pub use schema::schema;

/// `kind.label`, the name of a resource in the stack and in the state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub kind: Kind,
    pub label: String,
}

impl Address {
    pub fn new(kind: Kind, label: impl Into<String>) -> Address {
        Address {
            kind,
            label: label.into(),
        }
    }

    /// Parses `kind.label`.
    pub fn parse(s: &str) -> Option<Address> {
        let (kind, label) = s.split_once('.')?;
        let kind = Kind::parse(kind)?;
        valid_label(label).then(|| Address::new(kind, label))
    }
}

/// Why `at` cannot name where a state is kept (`[stack] state`, `--state`): a path, or
/// `s3://bucket/key`.
pub fn state_location_problem(at: &str) -> Option<String> {
    if at.is_empty() {
        return Some("is empty".into());
    }
    let Some(rest) = at.strip_prefix("s3://") else {
        if at.contains("://") {
            return Some("only s3:// URLs and paths are supported".into());
        }
        return None;
    };
    let Some((bucket, key)) = rest.split_once('/') else {
        return Some("names no object key after the bucket".into());
    };
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric();
    if !valid_bucket {
        return Some(format!(
            "`{bucket}` is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
        ));
    }
    if key.is_empty() || key.ends_with('/') {
        return Some("names no object key after the bucket".into());
    }
    None
}

/// What is wrong with `region` as an AWS region name, if anything: AWS's partitions name
/// regions `<area>[-gov|-iso...]-<direction>-<number>` (`us-east-1`, `us-gov-west-1`,
/// `eu-central-2`, `cn-northwest-1`), the area one AWS uses.
pub fn region_problem(region: &str) -> Option<&'static str> {
    const AREAS: &[&str] = &["af", "ap", "ca", "cn", "eu", "il", "me", "mx", "sa", "us"];
    const DIRECTIONS: &[&str] = &[
        "central",
        "north",
        "south",
        "east",
        "west",
        "northeast",
        "northwest",
        "southeast",
        "southwest",
    ];
    if region.is_empty() {
        return Some("empty");
    }
    let parts: Vec<&str> = region.split('-').collect();
    let (area, rest) = parts.split_first()?;
    if !AREAS.contains(area) {
        return Some("no AWS region starts so");
    }
    let rest = match rest.first() {
        Some(&"gov") | Some(&"isob") | Some(&"iso") | Some(&"isof") | Some(&"isoe") => &rest[1..],
        _ => rest,
    };
    match rest {
        [direction, number]
            if DIRECTIONS.contains(direction)
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit()) =>
        {
            None
        }
        _ => Some("not an AWS region name (area-direction-number)"),
    }
}

/// Labels: letters, digits, `-` and `_`, starting with a letter or digit.
pub fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && label
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.label)
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid address `{s}`")))
    }
}

/// One resource the stack wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub address: Address,
    /// The AWS-shaped spec with `$ref`/`$secret` placeholders (see the crate docs).
    pub spec: serde_json::Value,
    /// Resources that must exist before this one (references plus `depends_on`), sorted.
    pub depends_on: Vec<Address>,
    /// For channels: whether it should be running (default true). None for other kinds.
    pub running: Option<bool>,
    /// Where it is declared (derived resources point at what they derive from).
    pub location: Location,
}

/// A validated stack: only [`load`] and [`parse`] build one.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedStack {
    pub name: String,
    pub region: Option<String>,
    /// `[stack] state`: where the state is kept (a path, or `s3://bucket/key`); `--state`
    /// wins.
    pub state: Option<String>,
    /// `[stack] state_kms_key`: the KMS key a state kept in S3 is encrypted with.
    pub state_kms_key: Option<String>,
    /// The stack file it came from.
    pub path: PathBuf,
    /// Tags every resource carries, livestack's ownership tags included.
    pub tags: BTreeMap<String, String>,
    /// In declaration order, derived resources after the one they derive from.
    pub resources: Vec<Resource>,
    /// `[[moved]]` entries: resources renamed in the file, known in the state (and in their
    /// ownership tags) by their old address. Each `to` is a resource of the stack; no `from`
    /// is.
    pub moved: Vec<Moved>,
}

/// A `[[moved]]` entry: the resource once at `from` is now `to` (as Terraform's `moved`).
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub from: Address,
    pub to: Address,
    pub location: Location,
}

impl ValidatedStack {
    pub fn get(&self, address: &Address) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.address == address)
    }

    /// The address a `[[moved]]` entry renamed `old` to, following chains (a -> b, b -> c).
    pub fn moved_to(&self, old: &Address) -> Option<&Address> {
        let mut at = self.moved.iter().find(|m| &m.from == old)?;
        for _ in 0..self.moved.len() {
            match self.moved.iter().find(|m| m.from == at.to) {
                Some(next) => at = next,
                None => break,
            }
        }
        Some(&at.to)
    }
}

/// The tag key that marks a resource as livestack's, with the stack name as value.
pub const STACK_TAG: &str = "livestack:stack";
/// The tag key that holds a resource's address.
pub const ADDRESS_TAG: &str = "livestack:address";

/// A byte range in the stack file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// A place in a file, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem found in a stack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
    /// Point at the line before the span's start (a table header) rather than inside it.
    header: bool,
}

impl Diagnostic {
    pub(crate) fn new(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            span,
            message: message.into(),
            hint: None,
            header: false,
        }
    }
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }
    pub(crate) fn at_table_header(mut self) -> Diagnostic {
        self.header = true;
        self
    }
}

/// Every problem of a stack file, each located; or a file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cause is in the message, and not given as the error's source: a caller that prints
    /// the chain of causes (as anyhow's `{:#}` does) would print it twice.
    #[error("{}: cannot read stack file: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{}: not a stack file: {reason}", path.display())]
    NotText { path: PathBuf, reason: String },
    #[error("{}", render(.0))]
    Invalid(Vec<LocatedDiagnostic>),
}

/// A diagnostic with its file position resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedDiagnostic {
    pub location: Location,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for LocatedDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error: {}", self.location, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

fn render(ds: &[LocatedDiagnostic]) -> String {
    ds.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and validates a stack file.
pub fn load(path: &Path) -> Result<ValidatedStack, Error> {
    let bytes = std::fs::read(path).map_err(|cause| Error::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let not_text = |reason: String| Error::NotText {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(not_text(
            "it is UTF-16 text; save it as UTF-8 (TOML files are UTF-8)".into(),
        ));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let binary = e.as_bytes().iter().take(8000).any(|&b| b == 0);
            return Err(not_text(if binary {
                format!("it looks binary (a NUL byte; first invalid UTF-8 at byte {at})")
            } else {
                format!("invalid UTF-8 at byte {at}; TOML files are UTF-8")
            }));
        }
    };
    parse(path, text.strip_prefix('\u{feff}').unwrap_or(&text))
}

/// Validates stack file text; `path` names it in messages and anchors relative file references.
pub fn parse(path: &Path, text: &str) -> Result<ValidatedStack, Error> {
    let lines = LineIndex::new(text);
    let locate = |span: Span| lines.location(path, span.start);
    match node::parse(text) {
        Err(d) => Err(Error::Invalid(vec![located(&lines, path, d)])),
        Ok(root) => {
            let (stack, diags) = lower::lower(path, &root, &locate);
            if diags.is_empty() {
                Ok(stack.expect("a stack when nothing was reported"))
            } else {
                let mut ds: Vec<LocatedDiagnostic> = diags
                    .into_iter()
                    .map(|d| located(&lines, path, d))
                    .collect();
                ds.sort_by_key(|d| (d.location.line, d.location.column));
                ds.dedup();
                Err(Error::Invalid(ds))
            }
        }
    }
}

fn located(lines: &LineIndex, path: &Path, d: Diagnostic) -> LocatedDiagnostic {
    let mut location = lines.location(path, d.span.start);
    if d.header && !lines.text[d.span.start.min(lines.text.len())..].starts_with('{') {
        // A `[table]`'s span starts at its first key: point at the header above it.
        location = lines.header_before(path, d.span.start);
    }
    LocatedDiagnostic {
        location,
        message: d.message,
        hint: d.hint,
    }
}

struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    fn location(&self, path: &Path, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let column = self.text[self.starts[line]..offset].chars().count() + 1;
        Location {
            file: path.to_path_buf(),
            line: line + 1,
            column,
        }
    }

    /// The nearest `[...]` header line at or before `offset`.
    fn header_before(&self, path: &Path, offset: usize) -> Location {
        let here = self.location(path, offset).line;
        for line in (1..=here).rev() {
            let start = self.starts[line - 1];
            let end = self.starts.get(line).copied().unwrap_or(self.text.len());
            if self.text[start..end].trim_start().starts_with('[') {
                return Location {
                    file: path.to_path_buf(),
                    line,
                    column: 1,
                };
            }
        }
        self.location(path, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::region_problem;

    #[test]
    fn regions_follow_aws_partition_names() {
        for ok in [
            "us-east-1",
            "eu-west-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "cn-northwest-1",
            "eu-central-2",
            "il-central-1",
        ] {
            assert_eq!(region_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "eu-west1",
            "mars-north-1",
            "us-east",
            "US-EAST-1",
            "eu-up-1",
        ] {
            assert!(region_problem(bad).is_some(), "{bad:?}");
        }
    }
}

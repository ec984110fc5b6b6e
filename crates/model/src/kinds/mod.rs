//! The resource kinds, one module each: what a kind is called, what identifies it, which of
//! its members force a replacement, what an observed copy of it refers to, how the cloud
//! reads it and what it waits for, and how a stack file's `[kind.label]` table of it is
//! lowered into its spec. The planner, the engine and `aws` read these tables instead of
//! matching on [`Kind`], and so does `lower`; adding a kind is a module here, a variant of
//! [`Kind`] and a line of [`REGISTRY`] (plus its module in `aws` and in the sandbox).

mod iam_role;
pub(crate) mod medialive_channel;
mod medialive_input;
mod medialive_input_security_group;
mod mediapackage_channel;
mod mediapackage_endpoint;
mod ssm_parameter;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::lower::{Ctx, Decl, Derived, Diags};
use crate::node::Table;
use crate::Resource;

/// The kinds of resource livestack manages, in the order a create runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    IamRole,
    MediapackageChannel,
    MediapackageEndpoint,
    SsmParameter,
    MedialiveInputSecurityGroup,
    MedialiveInput,
    MedialiveChannel,
}

/// Each kind's table, in the order of [`Kind`]'s variants.
const REGISTRY: [&KindInfo; 7] = [
    &iam_role::INFO,
    &mediapackage_channel::INFO,
    &mediapackage_endpoint::INFO,
    &ssm_parameter::INFO,
    &medialive_input_security_group::INFO,
    &medialive_input::INFO,
    &medialive_channel::INFO,
];

impl Kind {
    /// Every kind, in create order.
    pub const ALL: [Kind; 7] = [
        Kind::IamRole,
        Kind::MediapackageChannel,
        Kind::MediapackageEndpoint,
        Kind::SsmParameter,
        Kind::MedialiveInputSecurityGroup,
        Kind::MedialiveInput,
        Kind::MedialiveChannel,
    ];

    /// What livestack knows of the kind.
    pub fn info(self) -> &'static KindInfo {
        REGISTRY[self as usize]
    }

    /// The name used in stack files and addresses.
    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether users write this kind (ssm_parameter is derived).
    pub fn user_written(self) -> bool {
        self.info().lower.is_some()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One kind's table (see the module docs). Members are the PascalCase members of its spec.
#[derive(Debug)]
pub struct KindInfo {
    pub kind: Kind,
    /// The name in stack files and addresses: `medialive_channel`.
    pub name: &'static str,
    /// The noun of its AWS calls, as messages name them: `Channel` (CreateChannel),
    /// `OriginEndpoint` (DeleteOriginEndpoint).
    pub noun: &'static str,
    /// The one call that both creates and updates it (SSM's PutParameter), if it has one
    /// instead of `Create<noun>`/`Update<noun>`.
    pub put_call: Option<&'static str>,
    /// The member holding the unique name it is created under (and can be found by); none
    /// for MediaLive kinds, whose ids are generated (a new copy never collides).
    pub identity: Option<&'static str>,
    /// The members that force a replacement when they change.
    pub forces_replacement: &'static [&'static str],
    /// The ids (or ARNs) an observed copy refers to, by path: what it uses is deleted after it.
    pub references: &'static [Reference],
    /// A member no two resources of the kind in one stack may share, and what messages call it.
    pub unique: Option<Unique>,
    /// How a stack file's `[kind.label]` table becomes its resource, if users write it (an
    /// `ssm_parameter` is derived from a channel's).
    pub(crate) lower: Option<Lower>,
    /// The tables a stack file writes for it and the keys each accepts, its `[kind.label]`
    /// table first; the lowering checks each table against these very lists, and
    /// [`crate::reference`] (the README's stack file reference) lists them. Empty for a kind
    /// users do not write.
    pub tables: &'static [TableKeys],
    /// The cloud's List call returns it whole, so two or more are read in bulk.
    pub read_in_bulk: bool,
    /// Found by its ownership tags (IAM roles are not listed: they are looked up by name).
    pub discovered_by_tags: bool,
    /// It has a run state (a channel): it waits for IDLE after a create or an update, for
    /// DELETED after a delete, and is stopped, started and changed in class.
    pub run_state: bool,
    /// A delete first waits until nothing uses it (an input: DETACHED).
    pub detach_before_delete: bool,
}

impl KindInfo {
    /// The unique name a resource of the kind is created under, if the kind has one.
    pub fn natural_id(&self, spec: &Json) -> Option<String> {
        spec[self.identity?].as_str().map(String::from)
    }

    /// The ids an observed spec of the kind refers to, with their kinds.
    pub fn referenced_ids(&self, spec: &Json) -> Vec<(Kind, String)> {
        self.references
            .iter()
            .flat_map(|r| strings_at(spec, r.path).map(|id| (r.kind, id.to_string())))
            .collect()
    }
}

/// A kind's lowering: the `[kind.label]` table `t` declaring `d` into its resource (its spec
/// in the AWS request shape, its dependencies), every problem pushed to `diags` (`None` when
/// there is no resource to make), the resources derived from it added to `derived`.
pub(crate) type Lower =
    fn(&Ctx<'_, '_>, &Decl<'_>, &mut Table<'_>, &mut Derived, &mut Diags) -> Option<Resource>;

/// One table of the stack file and the keys it accepts (see [`crate::reference`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableKeys {
    /// Where the table is, dotted from the top of the file; `<label>` stands for a resource's
    /// label and `[]` for each element of an array: `medialive_channel.<label>.inputs[]` is each
    /// `{ ... }` of a channel's `inputs = [...]`.
    pub path: &'static str,
    /// Every key the table accepts, as the lowering checks them (`Table::finish`).
    pub keys: &'static [&'static str],
}

/// A member of an observed spec that holds the id (or ARN) of a resource of `kind`.
#[derive(Debug)]
pub struct Reference {
    /// Dotted; `[]` after a member goes through each element of its list:
    /// `Destinations[].Settings[].PasswordParam`.
    pub path: &'static str,
    pub kind: Kind,
}

/// A member unique within a stack's resources of one kind.
#[derive(Debug)]
pub struct Unique {
    pub member: &'static str,
    /// How messages call it: "channel name".
    pub what: &'static str,
}

/// The strings at `path` (see [`Reference::path`]) inside `v`.
fn strings_at<'v>(v: &'v Json, path: &str) -> impl Iterator<Item = &'v str> {
    let mut at = vec![v];
    for seg in path.split('.') {
        let (member, each) = match seg.strip_suffix("[]") {
            Some(m) => (m, true),
            None => (seg, false),
        };
        at = at
            .into_iter()
            .filter_map(|v| v.get(member))
            .flat_map(|v| match (each, v) {
                (true, Json::Array(items)) => items.iter().collect(),
                (true, _) => Vec::new(),
                (false, v) => vec![v],
            })
            .collect();
    }
    at.into_iter().filter_map(Json::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_registry_follows_the_variants() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i, "{k:?} is out of create order");
            assert_eq!(k.info().kind, k, "REGISTRY[{i}] is not {k:?}'s");
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn identity_and_replacements_are_members() {
        for k in Kind::ALL {
            let i = k.info();
            if let Some(id) = i.identity {
                // A resource cannot be renamed in place.
                assert!(
                    i.forces_replacement.contains(&id),
                    "{k}: {id} must force a replacement"
                );
            }
        }
    }

    #[test]
    fn references_are_read_through_lists() {
        let channel = json!({
            "InputAttachments": [{ "InputId": "i1" }, { "InputId": "i2" }],
            "RoleArn": "arn:role",
            "Destinations": [
                { "Settings": [{ "PasswordParam": "/p/1" }, { "Url": "x" }] },
                { "MediaPackageSettings": [{ "ChannelId": "mp" }] },
            ],
        });
        let mut ids = Kind::MedialiveChannel.info().referenced_ids(&channel);
        ids.sort();
        assert_eq!(
            ids,
            vec![
                (Kind::IamRole, "arn:role".to_string()),
                (Kind::MediapackageChannel, "mp".into()),
                (Kind::SsmParameter, "/p/1".into()),
                (Kind::MedialiveInput, "i1".into()),
                (Kind::MedialiveInput, "i2".into()),
            ]
        );
        let input = json!({ "InputSecurityGroups": ["sg1", 7, "sg2"] });
        assert_eq!(
            Kind::MedialiveInput.info().referenced_ids(&input),
            vec![
                (Kind::MedialiveInputSecurityGroup, "sg1".to_string()),
                (Kind::MedialiveInputSecurityGroup, "sg2".into()),
            ]
        );
        // A member of the wrong shape refers to nothing.
        assert!(Kind::MedialiveInput
            .info()
            .referenced_ids(&json!({ "InputSecurityGroups": "sg1" }))
            .is_empty());
        assert!(Kind::IamRole.info().referenced_ids(&channel).is_empty());
    }
}

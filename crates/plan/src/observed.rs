//! What refresh read from the cloud: the planner's third input. Built by the `aws` crate (or by
//! tests from JSON), never by the planner.

use std::collections::BTreeMap;

use livestack_model::Address;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// One resource as the cloud reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedResource {
    /// The primary cloud id: the role name, the MediaPackage id, the SSM parameter name, the
    /// MediaLive numeric id.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The same members as the desired spec (see `livestack_model`), in the AWS shape. Secret
    /// values are `{"$sensitive": "<keyed hash>"}`, never the value.
    pub spec: Json,
    /// The kind's outputs (see `livestack_model`); never a secret.
    #[serde(default)]
    pub outputs: Json,
    /// The lifecycle state where the kind has one: a channel's `State` (IDLE, RUNNING, ...), an
    /// input's (ATTACHED, DETACHED), a security group's (IDLE, IN_USE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Everything refresh read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// By address. An address in the state but absent here is gone from the cloud.
    pub resources: BTreeMap<Address, ObservedResource>,
    /// Keyed hashes of the secrets the desired specs use, by [`crate::secret_key`] of their
    /// `$secret` placeholder. A secret that could not be resolved is absent.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Further copies of an address, found by the stack's ownership tags besides the one in
    /// `resources` (a create that was made again after its answer was lost, an apply killed
    /// between a create and the state's save): the planner deletes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(Address, ObservedResource)>,
}

//! `ssm_parameter`: an SSM SecureString parameter, named by its `Name`. Derived (a copy of a
//! MediaPackage ingest password that a channel reads), never written by users.

use super::{Kind, KindInfo};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::SsmParameter,
    name: "ssm_parameter",
    noun: "Parameter",
    put_call: Some("PutParameter"),
    identity: Some("Name"),
    forces_replacement: &["Name"],
    references: &[],
    unique: None,
    // Derived from a channel that sends HLS to MediaPackage (see `medialive_channel`).
    lower: None,
    tables: &[],
    // GetParameters in tens, DescribeParameters in fifties.
    read_in_bulk: true,
    discovered_by_tags: true,
    run_state: false,
    detach_before_delete: false,
};

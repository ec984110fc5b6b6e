//! `iam_role`: an IAM role, named by its `RoleName`.

use super::{Kind, KindInfo, Unique};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::IamRole,
    name: "iam_role",
    noun: "Role",
    put_call: None,
    identity: Some("RoleName"),
    forces_replacement: &["RoleName", "Path"],
    references: &[],
    unique: Some(Unique {
        member: "RoleName",
        what: "role name",
    }),
    user_written: true,
    // ListRoles returns neither tags nor inline policies.
    read_in_bulk: false,
    // Listing every role of an account is slow: a role is looked up by its name.
    discovered_by_tags: false,
    run_state: false,
    detach_before_delete: false,
};

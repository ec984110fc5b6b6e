//! `medialive_input_security_group`: a MediaLive input security group (a generated id).

use super::{Kind, KindInfo};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::MedialiveInputSecurityGroup,
    name: "medialive_input_security_group",
    noun: "InputSecurityGroup",
    put_call: None,
    identity: None,
    forces_replacement: &[],
    references: &[],
    unique: None,
    user_written: true,
    read_in_bulk: true,
    discovered_by_tags: true,
    run_state: false,
    detach_before_delete: false,
};

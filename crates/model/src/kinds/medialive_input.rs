//! `medialive_input`: a MediaLive input (a generated id). Its class follows its number of
//! sources or destinations, which the planner checks besides `forces_replacement`.

use super::{Kind, KindInfo, Reference, Unique};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::MedialiveInput,
    name: "medialive_input",
    noun: "Input",
    put_call: None,
    identity: None,
    forces_replacement: &["Type"],
    references: &[Reference {
        path: "InputSecurityGroups[]",
        kind: Kind::MedialiveInputSecurityGroup,
    }],
    unique: Some(Unique {
        member: "Name",
        what: "input name",
    }),
    user_written: true,
    read_in_bulk: true,
    discovered_by_tags: true,
    run_state: false,
    // An input serves one channel and cannot be deleted while attached.
    detach_before_delete: true,
};

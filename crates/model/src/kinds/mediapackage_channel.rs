//! `mediapackage_channel`: a MediaPackage v1 channel, named by its `Id`.

use super::{Kind, KindInfo, Unique};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::MediapackageChannel,
    name: "mediapackage_channel",
    noun: "Channel",
    put_call: None,
    identity: Some("Id"),
    forces_replacement: &["Id"],
    references: &[],
    unique: Some(Unique {
        member: "Id",
        what: "MediaPackage channel id",
    }),
    user_written: true,
    read_in_bulk: true,
    discovered_by_tags: true,
    run_state: false,
    detach_before_delete: false,
};

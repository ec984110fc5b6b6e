//! `mediapackage_endpoint`: a MediaPackage v1 origin endpoint, named by its `Id`, on the
//! channel its `ChannelId` names.

use super::{Kind, KindInfo, Reference, Unique};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::MediapackageEndpoint,
    name: "mediapackage_endpoint",
    noun: "OriginEndpoint",
    put_call: None,
    identity: Some("Id"),
    forces_replacement: &["Id", "ChannelId"],
    references: &[Reference {
        path: "ChannelId",
        kind: Kind::MediapackageChannel,
    }],
    unique: Some(Unique {
        member: "Id",
        what: "MediaPackage endpoint id",
    }),
    user_written: true,
    read_in_bulk: true,
    discovered_by_tags: true,
    run_state: false,
    detach_before_delete: false,
};

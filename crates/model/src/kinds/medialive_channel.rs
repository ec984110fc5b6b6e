//! `medialive_channel`: a MediaLive channel (a generated id), with a run state.

use super::{Kind, KindInfo, Reference, Unique};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::MedialiveChannel,
    name: "medialive_channel",
    noun: "Channel",
    put_call: None,
    identity: None,
    // Everything changes in place (the class by UpdateChannelClass, after a stop).
    forces_replacement: &[],
    references: &[
        Reference {
            path: "InputAttachments[].InputId",
            kind: Kind::MedialiveInput,
        },
        Reference {
            path: "RoleArn",
            kind: Kind::IamRole,
        },
        Reference {
            path: "Destinations[].Settings[].PasswordParam",
            kind: Kind::SsmParameter,
        },
        Reference {
            path: "Destinations[].MediaPackageSettings[].ChannelId",
            kind: Kind::MediapackageChannel,
        },
    ],
    unique: Some(Unique {
        member: "Name",
        what: "channel name",
    }),
    user_written: true,
    // ListChannels lacks a channel's EncoderSettings: one DescribeChannel each.
    read_in_bulk: false,
    discovered_by_tags: true,
    run_state: true,
    detach_before_delete: false,
};

//! The generated stack: a small abstract model of a stack file that renders to TOML, the edits
//! made to it between applies, and the repair that keeps every stack valid after any edit (so
//! that shrinking, which drops edits, never yields an invalid stack).

use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The stack's name in every generated file.
pub const STACK: &str = "conv";
/// The environment variables that hold the RTMP stream keys (set on every run).
pub const KEY_ENVS: [&str; 2] = ["CONV_KEY_A", "CONV_KEY_B"];

const MP_LABELS: [&str; 3] = ["mp-a", "mp-b", "mp-c"];
const EP_LABELS: [&str; 3] = ["ep-a", "ep-b", "ep-c"];
const SG_LABELS: [&str; 2] = ["sg-a", "sg-b"];
const INPUT_LABELS: [&str; 3] = ["in-a", "in-b", "in-c"];
const CHANNEL_LABELS: [&str; 3] = ["main", "news", "sport"];
const CIDRS: [&str; 4] = [
    "0.0.0.0/0",
    "203.0.113.0/24",
    "198.51.100.0/24",
    "192.0.2.0/24",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packaging {
    Hls,
    Dash,
    Cmaf,
    Mss,
}

impl Packaging {
    pub const ALL: [Packaging; 4] = [
        Packaging::Hls,
        Packaging::Dash,
        Packaging::Cmaf,
        Packaging::Mss,
    ];
    fn as_str(self) -> &'static str {
        match self {
            Packaging::Hls => "hls",
            Packaging::Dash => "dash",
            Packaging::Cmaf => "cmaf",
            Packaging::Mss => "mss",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpChannel {
    pub label: String,
    pub id: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub label: String,
    pub id: String,
    /// The MediaPackage channel's label.
    pub channel: String,
    pub packaging: Packaging,
    pub segment_seconds: Option<u8>,
    pub manifest_name: Option<String>,
    pub startover_window_seconds: Option<u32>,
    pub deny_origination: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    pub label: String,
    pub cidrs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// 1 or 2 source URLs (the number makes the input SINGLE_PIPELINE or STANDARD).
    UrlPull { sources: Vec<String> },
    /// 1 or 2 destinations, behind a security group (its label).
    RtmpPush {
        destinations: Vec<String>,
        sg: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub label: String,
    pub name: String,
    pub kind: InputKind,
}

impl Input {
    fn pipelines(&self) -> usize {
        match &self.kind {
            InputKind::UrlPull { sources } => sources.len(),
            InputKind::RtmpPush { destinations, .. } => destinations.len(),
        }
    }
}

/// Encoding choices an HLS or MediaPackage group is generated with (appended to the group's
/// table): none, a European 25 fps QVBR group with two audio languages, an H.265 one, SCTE-35
/// passed through.
pub const ENCODINGS: &[&str] = &[
    "",
    "\nscte35 = \"passthrough\"",
    "\nframerate = 25\ngop_seconds = 1.92\nrate_control = \"qvbr\"\naudio = [{ language = \"eng\" }, { language = \"fra\" }]",
    "\ncodec = \"h265\"\nframerate = \"29.97\"\nrate_control = \"qvbr\"\nprofile = \"main_10bit\"",
];

/// An output group; `dest` is its `destination_id` (`destination{dest}`), none for the id
/// livestack derives from the group's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Group {
    /// HLS over WebDAV to a MediaPackage channel's ingest endpoints (label), with a ladder
    /// and one of [`ENCODINGS`].
    Hls {
        mp: String,
        ladder: String,
        encoding: usize,
        dest: Option<u8>,
    },
    /// A MediaPackage output group (by channel id), with a ladder and one of [`ENCODINGS`].
    MediaPackage {
        mp: String,
        ladder: String,
        encoding: usize,
        dest: Option<u8>,
    },
    /// RTMP to a URL with the stream key of an environment variable.
    Rtmp {
        key_env: String,
        width: u32,
        dest: Option<u8>,
    },
}

/// How many `destination_id`s the generator draws from (`destination1`...).
const DESTINATION_IDS: u8 = 3;

impl Group {
    fn dest_mut(&mut self) -> &mut Option<u8> {
        match self {
            Group::Hls { dest, .. }
            | Group::MediaPackage { dest, .. }
            | Group::Rtmp { dest, .. } => dest,
        }
    }

    fn dest(&self) -> Option<u8> {
        match self {
            Group::Hls { dest, .. }
            | Group::MediaPackage { dest, .. }
            | Group::Rtmp { dest, .. } => *dest,
        }
    }

    /// The group's `destination_id = "..."` line, if it has one.
    fn destination_id_line(&self) -> String {
        self.dest()
            .map(|d| format!("\ndestination_id = \"destination{}\"", d + 1))
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub label: String,
    pub name: String,
    pub standard: bool,
    /// The input's label (an input serves one channel).
    pub input: String,
    pub loop_source: bool,
    pub running: bool,
    pub log_level: Option<String>,
    /// A `tags = { team = ... }` value (a tags-only change: never an interruption).
    pub team: Option<String>,
    pub groups: Vec<Group>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stack {
    pub role_description: Option<String>,
    /// The stack's `tags = { owner = ... }`: every resource carries it.
    pub owner: Option<String>,
    pub mp: Vec<MpChannel>,
    pub endpoints: Vec<Endpoint>,
    pub sgs: Vec<SecurityGroup>,
    pub inputs: Vec<Input>,
    pub channels: Vec<Channel>,
    /// `[[moved]]` entries: (from, to) addresses.
    pub moved: Vec<(String, String)>,
    /// Makes fresh ids and names unique within a sequence.
    pub next: u32,
}

/// The kinds of edit between two applies. A kind listed in [`DISABLED_EDITS`] is generated
/// but not made (a no-op that shrinking removes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditKind {
    Add,
    Remove,
    /// Renames a label with no `[[moved]]` entry.
    Rename,
    /// Renames a label and adds `[[moved]] from/to`.
    RenameMoved,
    /// Changes a field that forces a replacement (MediaPackage channel id, endpoint id, input
    /// type or name) or an ordinary one (description, packaging, CIDRs, ladder, log level...).
    ChangeField,
    MoveEndpoint,
    SwapChannelInput,
    ToggleClass,
    ToggleRunning,
    /// Gives an output group a `destination_id`, changes or drops it.
    DestinationId,
}

/// Edit kinds the bounded run does not make yet, each waiting on an engine fix (see
/// /work/convergence-findings.md and the `#[ignore]`d test in regressions.rs): remove a kind
/// from here once its fix is on main.
pub const DISABLED_EDITS: &[EditKind] = &[];

/// The kinds whose label renames (with or without `[[moved]]`) the bounded run does not make
/// yet, as [`DISABLED_EDITS`].
pub const DISABLED_RENAMES: &[&str] = &[];

/// `LIVESTACK_ENABLE_ALL=1` makes the disabled edits and deletes too (to check a fix).
pub fn enable_all() -> bool {
    std::env::var_os("LIVESTACK_ENABLE_ALL").is_some()
}

/// One edit; the numbers pick among what the stack has (modulo its size).
#[derive(Clone, Debug)]
pub enum Edit {
    AddMpChannel {
        described: bool,
    },
    AddEndpoint {
        channel: u8,
        packaging: u8,
        tuned: bool,
    },
    AddSecurityGroup {
        cidr: u8,
    },
    AddInput {
        push: bool,
        two: bool,
    },
    AddChannel {
        standard: bool,
        running: bool,
        group: u8,
        ladder: u8,
        /// The first group's `destination_id`, if any.
        dest: Option<u8>,
    },
    Remove {
        kind: u8,
        which: u8,
    },
    Rename {
        kind: u8,
        which: u8,
        moved: bool,
    },
    Change {
        kind: u8,
        which: u8,
        field: u8,
        value: u8,
    },
    MoveEndpoint {
        which: u8,
        to: u8,
    },
    SwapChannelInput {
        which: u8,
        to: u8,
    },
    ToggleClass {
        which: u8,
    },
    ToggleRunning {
        which: u8,
    },
    /// A channel's group's `destination_id` given, changed or dropped.
    DestinationId {
        which: u8,
        group: u8,
        value: u8,
    },
}

impl Edit {
    /// Adds in the order references go (MediaPackage channels before what sends to them).
    pub fn rank(&self) -> u8 {
        match self {
            Edit::AddMpChannel { .. } => 0,
            Edit::AddEndpoint { .. } => 1,
            Edit::AddSecurityGroup { .. } => 2,
            Edit::AddInput { .. } => 3,
            _ => 4,
        }
    }

    pub fn kind(&self) -> EditKind {
        match self {
            Edit::AddMpChannel { .. }
            | Edit::AddEndpoint { .. }
            | Edit::AddSecurityGroup { .. }
            | Edit::AddInput { .. }
            | Edit::AddChannel { .. } => EditKind::Add,
            Edit::Remove { .. } => EditKind::Remove,
            Edit::Rename { moved: false, .. } => EditKind::Rename,
            Edit::Rename { moved: true, .. } => EditKind::RenameMoved,
            Edit::Change { .. } => EditKind::ChangeField,
            Edit::MoveEndpoint { .. } => EditKind::MoveEndpoint,
            Edit::SwapChannelInput { .. } => EditKind::SwapChannelInput,
            Edit::ToggleClass { .. } => EditKind::ToggleClass,
            Edit::ToggleRunning { .. } => EditKind::ToggleRunning,
            Edit::DestinationId { .. } => EditKind::DestinationId,
        }
    }
}

fn pick<T>(v: &[T], n: u8) -> Option<usize> {
    (!v.is_empty()).then(|| n as usize % v.len())
}

fn free_label(pool: &[&str], used: impl Iterator<Item = String>) -> Option<String> {
    let used: BTreeSet<String> = used.collect();
    pool.iter()
        .find(|l| !used.contains(**l))
        .map(|l| l.to_string())
}

impl Stack {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}", self.next)
    }

    fn source_url(&mut self) -> String {
        self.next += 1;
        format!("https://example.com/vod/loop-{}.m3u8", self.next)
    }

    fn new_input(&mut self, push: bool, two: bool) -> Option<String> {
        let label = free_label(&INPUT_LABELS, self.inputs.iter().map(|i| i.label.clone()))?;
        let name = self.fresh(&label);
        let n = if two { 2 } else { 1 };
        let kind = if push {
            let sg = match self.sgs.first() {
                Some(g) => g.label.clone(),
                None => self.new_sg(0)?,
            };
            InputKind::RtmpPush {
                destinations: (0..n)
                    .map(|i| format!("{name}/{}", ["a", "b"][i]))
                    .collect(),
                sg,
            }
        } else {
            InputKind::UrlPull {
                sources: (0..n).map(|_| self.source_url()).collect(),
            }
        };
        self.inputs.push(Input {
            label: label.clone(),
            name,
            kind,
        });
        Some(label)
    }

    fn new_sg(&mut self, cidr: u8) -> Option<String> {
        let label = free_label(&SG_LABELS, self.sgs.iter().map(|g| g.label.clone()))?;
        self.sgs.push(SecurityGroup {
            label: label.clone(),
            cidrs: vec![CIDRS[cidr as usize % CIDRS.len()].to_string()],
        });
        Some(label)
    }

    /// Makes one edit (a disabled kind is skipped), then repairs the stack.
    pub fn edit(&mut self, e: &Edit) {
        if DISABLED_EDITS.contains(&e.kind()) && !enable_all() {
            return;
        }
        match *e {
            Edit::AddMpChannel { described } => {
                if let Some(label) = free_label(&MP_LABELS, self.mp.iter().map(|m| m.label.clone()))
                {
                    let id = self.fresh(&label);
                    self.mp.push(MpChannel {
                        label,
                        id,
                        description: described.then(|| "generated".to_string()),
                    });
                }
            }
            Edit::AddEndpoint {
                channel,
                packaging,
                tuned,
            } => {
                let (Some(c), Some(label)) = (
                    pick(&self.mp, channel),
                    free_label(&EP_LABELS, self.endpoints.iter().map(|e| e.label.clone())),
                ) else {
                    return;
                };
                let id = self.fresh(&label);
                self.endpoints.push(Endpoint {
                    label,
                    id,
                    channel: self.mp[c].label.clone(),
                    packaging: Packaging::ALL[packaging as usize % 4],
                    segment_seconds: tuned.then_some(12),
                    manifest_name: tuned.then(|| "live".to_string()),
                    startover_window_seconds: tuned.then_some(300),
                    deny_origination: false,
                });
            }
            Edit::AddSecurityGroup { cidr } => {
                self.new_sg(cidr);
            }
            Edit::AddInput { push, two } => {
                self.new_input(push, two);
            }
            Edit::AddChannel {
                standard,
                running,
                group,
                ladder,
                dest,
            } => {
                let Some(label) = free_label(
                    &CHANNEL_LABELS,
                    self.channels.iter().map(|c| c.label.clone()),
                ) else {
                    return;
                };
                let name = self.fresh(&label);
                let g = self.new_group(group, ladder, dest);
                self.channels.push(Channel {
                    label,
                    name,
                    standard,
                    // Repair picks a free input (or makes one).
                    input: String::new(),
                    loop_source: true,
                    running,
                    log_level: None,
                    team: None,
                    groups: vec![g],
                });
            }
            Edit::Remove { kind, which } => match kind % 5 {
                0 => {
                    if let Some(i) = pick(&self.mp, which) {
                        self.mp.remove(i);
                    }
                }
                1 => {
                    if let Some(i) = pick(&self.endpoints, which) {
                        self.endpoints.remove(i);
                    }
                }
                2 => {
                    if let Some(i) = pick(&self.sgs, which) {
                        self.sgs.remove(i);
                    }
                }
                3 => {
                    if let Some(i) = pick(&self.inputs, which) {
                        self.inputs.remove(i);
                    }
                }
                _ => {
                    if let Some(i) = pick(&self.channels, which) {
                        self.channels.remove(i);
                    }
                }
            },
            Edit::Rename { kind, which, moved } => self.rename(kind, which, moved),
            Edit::Change {
                kind,
                which,
                field,
                value,
            } => self.change(kind, which, field, value),
            Edit::MoveEndpoint { which, to } => {
                if let (Some(e), Some(m)) = (pick(&self.endpoints, which), pick(&self.mp, to)) {
                    let target = self.mp[m].label.clone();
                    let other = self
                        .mp
                        .iter()
                        .find(|x| x.label != self.endpoints[e].channel);
                    self.endpoints[e].channel = if target != self.endpoints[e].channel {
                        target
                    } else if let Some(o) = other {
                        o.label.clone()
                    } else {
                        target
                    };
                }
            }
            Edit::SwapChannelInput { which, to } => {
                if let Some(c) = pick(&self.channels, which) {
                    let used: BTreeSet<&String> = self.channels.iter().map(|c| &c.input).collect();
                    let free: Vec<String> = self
                        .inputs
                        .iter()
                        .filter(|i| !used.contains(&i.label))
                        .map(|i| i.label.clone())
                        .collect();
                    self.channels[c].input = match pick(&free, to) {
                        Some(f) => free[f].clone(),
                        None => self
                            .new_input(to % 2 == 1, self.channels[c].standard)
                            .unwrap_or_else(|| self.channels[c].input.clone()),
                    };
                }
            }
            Edit::ToggleClass { which } => {
                if let Some(c) = pick(&self.channels, which) {
                    self.channels[c].standard = !self.channels[c].standard;
                }
            }
            Edit::ToggleRunning { which } => {
                if let Some(c) = pick(&self.channels, which) {
                    self.channels[c].running = !self.channels[c].running;
                }
            }
            Edit::DestinationId {
                which,
                group,
                value,
            } => {
                // An UpdateChannel, inside a stop and start of a running channel.
                let Some(i) = pick(&self.channels, which) else {
                    return;
                };
                let Some(g) = pick(&self.channels[i].groups, group) else {
                    return;
                };
                let d = self.channels[i].groups[g].dest_mut();
                *d = match *d {
                    Some(_) if value.is_multiple_of(3) => None,
                    Some(old) => Some((old + 1 + value % (DESTINATION_IDS - 1)) % DESTINATION_IDS),
                    None => Some(value % DESTINATION_IDS),
                };
            }
        }
        self.repair();
    }

    fn new_group(&mut self, kind: u8, ladder: u8, dest: Option<u8>) -> Group {
        let dest = dest.map(|d| d % DESTINATION_IDS);
        let ladders = livestack_model::ladder_names();
        let encoding = ladder as usize / ladders.len() % ENCODINGS.len();
        let ladder = ladders[ladder as usize % ladders.len()].to_string();
        match (kind % 3, self.mp.first()) {
            (0, Some(m)) => Group::Hls {
                mp: m.label.clone(),
                ladder,
                encoding,
                dest,
            },
            (1, Some(m)) => Group::MediaPackage {
                mp: m.label.clone(),
                ladder,
                encoding,
                dest,
            },
            _ => Group::Rtmp {
                key_env: KEY_ENVS[kind as usize % KEY_ENVS.len()].to_string(),
                width: 1280,
                dest,
            },
        }
    }

    fn rename(&mut self, kind: u8, which: u8, moved: bool) {
        let kinds = [
            "mediapackage_channel",
            "mediapackage_endpoint",
            "medialive_input_security_group",
            "medialive_input",
            "medialive_channel",
        ];
        let k = kind as usize % 5;
        if DISABLED_RENAMES.contains(&kinds[k]) && !enable_all() {
            return;
        }
        let (labels, pool): (Vec<String>, &[&str]) = match k {
            0 => (
                self.mp.iter().map(|x| x.label.clone()).collect(),
                &MP_LABELS,
            ),
            1 => (
                self.endpoints.iter().map(|x| x.label.clone()).collect(),
                &EP_LABELS,
            ),
            2 => (
                self.sgs.iter().map(|x| x.label.clone()).collect(),
                &SG_LABELS,
            ),
            3 => (
                self.inputs.iter().map(|x| x.label.clone()).collect(),
                &INPUT_LABELS,
            ),
            _ => (
                self.channels.iter().map(|x| x.label.clone()).collect(),
                &CHANNEL_LABELS,
            ),
        };
        let (Some(i), Some(new)) = (
            pick(&labels, which),
            free_label(pool, labels.iter().cloned()),
        ) else {
            return;
        };
        let old = labels[i].clone();
        let swap = |s: &mut String| {
            if *s == old {
                *s = new.clone();
            }
        };
        match k {
            0 => {
                swap(&mut self.mp[i].label);
                self.endpoints.iter_mut().for_each(|e| swap(&mut e.channel));
                for c in &mut self.channels {
                    for g in &mut c.groups {
                        if let Group::Hls { mp, .. } | Group::MediaPackage { mp, .. } = g {
                            swap(mp);
                        }
                    }
                }
            }
            1 => swap(&mut self.endpoints[i].label),
            2 => {
                swap(&mut self.sgs[i].label);
                for inp in &mut self.inputs {
                    if let InputKind::RtmpPush { sg, .. } = &mut inp.kind {
                        swap(sg);
                    }
                }
            }
            3 => {
                swap(&mut self.inputs[i].label);
                self.channels.iter_mut().for_each(|c| swap(&mut c.input));
            }
            _ => swap(&mut self.channels[i].label),
        }
        if moved {
            self.moved
                .push((format!("{}.{old}", kinds[k]), format!("{}.{new}", kinds[k])));
        }
    }

    fn change(&mut self, kind: u8, which: u8, field: u8, value: u8) {
        match kind % 8 {
            7 => {
                self.owner = match self.owner {
                    Some(_) if field.is_multiple_of(2) => None,
                    _ => Some(format!("owner-{value}")),
                }
            }
            0 => {
                self.role_description = match self.role_description {
                    Some(_) => None,
                    None => Some(format!("role v{value}")),
                }
            }
            1 => {
                let Some(i) = pick(&self.mp, which) else {
                    return;
                };
                if field.is_multiple_of(2) {
                    // Forces a replacement: a new MediaPackage channel id.
                    let label = self.mp[i].label.clone();
                    self.mp[i].id = self.fresh(&label);
                } else {
                    self.mp[i].description = match self.mp[i].description {
                        Some(_) => None,
                        None => Some(format!("v{value}")),
                    };
                }
            }
            2 => {
                let Some(i) = pick(&self.endpoints, which) else {
                    return;
                };
                match field % 5 {
                    0 => {
                        let label = self.endpoints[i].label.clone();
                        self.endpoints[i].id = self.fresh(&label);
                    }
                    1 => self.endpoints[i].packaging = Packaging::ALL[value as usize % 4],
                    2 => {
                        // A multiple of the 6 s HLS segments a channel may send (validate checks it).
                        self.endpoints[i].segment_seconds = Some(6 * (1 + value % 3));
                    }
                    3 => {
                        let e = &mut self.endpoints[i];
                        e.manifest_name = e.manifest_name.take().xor(Some("live".into()));
                        e.startover_window_seconds =
                            e.startover_window_seconds.take().xor(Some(600));
                    }
                    _ => self.endpoints[i].deny_origination ^= true,
                }
            }
            3 => {
                let Some(i) = pick(&self.sgs, which) else {
                    return;
                };
                let cidr = CIDRS[value as usize % CIDRS.len()].to_string();
                let g = &mut self.sgs[i];
                if field.is_multiple_of(2) || g.cidrs.len() == 1 {
                    if !g.cidrs.contains(&cidr) {
                        g.cidrs.push(cidr);
                    }
                } else {
                    g.cidrs.pop();
                }
            }
            4 => {
                let Some(i) = pick(&self.inputs, which) else {
                    return;
                };
                match field % 3 {
                    0 => {
                        // Forces a replacement: the input's type.
                        let n = self.inputs[i].pipelines();
                        let label = self.inputs[i].label.clone();
                        let name = self.inputs[i].name.clone();
                        self.inputs[i].kind = match &self.inputs[i].kind {
                            InputKind::UrlPull { .. } => {
                                let sg = match self.sgs.first() {
                                    Some(g) => g.label.clone(),
                                    None => match self.new_sg(value) {
                                        Some(g) => g,
                                        None => return,
                                    },
                                };
                                InputKind::RtmpPush {
                                    destinations: (0..n)
                                        .map(|k| format!("{name}/{}", ["a", "b"][k]))
                                        .collect(),
                                    sg,
                                }
                            }
                            InputKind::RtmpPush { .. } => InputKind::UrlPull {
                                sources: (0..n).map(|_| self.source_url()).collect(),
                            },
                        };
                        let _ = label;
                    }
                    1 => {
                        let label = self.inputs[i].label.clone();
                        self.inputs[i].name = self.fresh(&label);
                    }
                    _ => match &self.inputs[i].kind {
                        InputKind::UrlPull { sources } => {
                            let n = sources.len();
                            let sources = (0..n).map(|_| self.source_url()).collect();
                            self.inputs[i].kind = InputKind::UrlPull { sources };
                        }
                        InputKind::RtmpPush { destinations, sg } => {
                            let (destinations, sg) = (destinations.clone(), sg.clone());
                            let other = self.sgs.iter().find(|g| g.label != sg);
                            let sg = other.map(|g| g.label.clone()).unwrap_or(sg);
                            self.inputs[i].kind = InputKind::RtmpPush { destinations, sg };
                        }
                    },
                }
            }
            5 => {
                let Some(i) = pick(&self.channels, which) else {
                    return;
                };
                match field % 5 {
                    0 => {
                        let label = self.channels[i].label.clone();
                        self.channels[i].name = self.fresh(&label);
                    }
                    4 => {
                        self.channels[i].team = match self.channels[i].team {
                            Some(_) => None,
                            None => Some(format!("team-{value}")),
                        }
                    }
                    1 => {
                        self.channels[i].log_level = match self.channels[i].log_level {
                            Some(_) => None,
                            None => Some("info".into()),
                        }
                    }
                    2 => self.channels[i].loop_source ^= true,
                    _ => {
                        // Add a group, or drop the last one.
                        if self.channels[i].groups.len() < 2 {
                            let dest = value.is_multiple_of(4).then_some(value / 4);
                            let g = self.new_group(value, value / 3, dest);
                            self.channels[i].groups.push(g);
                        } else {
                            self.channels[i].groups.pop();
                        }
                    }
                }
            }
            _ => {
                let Some(i) = pick(&self.channels, which) else {
                    return;
                };
                let Some(g) = pick(&self.channels[i].groups, field) else {
                    return;
                };
                let ladders = livestack_model::ladder_names();
                let l = ladders[value as usize % ladders.len()].to_string();
                let e = value as usize / ladders.len() % ENCODINGS.len();
                match &mut self.channels[i].groups[g] {
                    Group::Hls {
                        ladder, encoding, ..
                    }
                    | Group::MediaPackage {
                        ladder, encoding, ..
                    } => (*ladder, *encoding) = (l, e),
                    Group::Rtmp { width, .. } => *width = if *width == 1280 { 1920 } else { 1280 },
                }
            }
        }
    }

    /// Makes the stack valid again after an edit: references point at declared resources,
    /// an input serves one channel, a STANDARD channel has a two-pipeline input, an rtmp_push
    /// input has a security group, every channel has a group, `moved` entries are sound.
    pub fn repair(&mut self) {
        let mps: Vec<String> = self.mp.iter().map(|m| m.label.clone()).collect();
        self.endpoints.retain_mut(|e| {
            if !mps.contains(&e.channel) {
                match mps.first() {
                    Some(m) => e.channel = m.clone(),
                    None => return false,
                }
            }
            true
        });
        for i in 0..self.inputs.len() {
            if let InputKind::RtmpPush { sg, .. } = &self.inputs[i].kind {
                if !self.sgs.iter().any(|g| &g.label == sg) {
                    let new = match self.sgs.first() {
                        Some(g) => Some(g.label.clone()),
                        None => self.new_sg(0),
                    };
                    if let (Some(new), InputKind::RtmpPush { sg, .. }) =
                        (new, &mut self.inputs[i].kind)
                    {
                        *sg = new;
                    }
                }
            }
        }
        let mut used = BTreeSet::new();
        let mut c = 0;
        while c < self.channels.len() {
            let ok = self
                .inputs
                .iter()
                .any(|i| i.label == self.channels[c].input)
                && !used.contains(&self.channels[c].input);
            if !ok {
                let free = self
                    .inputs
                    .iter()
                    .find(|i| {
                        !used.contains(&i.label)
                            && !self.channels[c + 1..].iter().any(|o| o.input == i.label)
                    })
                    .map(|i| i.label.clone());
                match free.or_else(|| self.new_input(false, self.channels[c].standard)) {
                    Some(l) => self.channels[c].input = l,
                    None => {
                        self.channels.remove(c);
                        continue;
                    }
                }
            }
            used.insert(self.channels[c].input.clone());
            if self.channels[c].standard {
                let label = self.channels[c].input.clone();
                let i = self
                    .inputs
                    .iter()
                    .position(|i| i.label == label)
                    .expect("input");
                let name = self.inputs[i].name.clone();
                if self.inputs[i].pipelines() < 2 {
                    let extra_url = self.source_url();
                    match &mut self.inputs[i].kind {
                        InputKind::UrlPull { sources } => sources.push(extra_url),
                        InputKind::RtmpPush { destinations, .. } => {
                            destinations.push(format!("{name}/b"))
                        }
                    }
                }
            }
            let ch = &mut self.channels[c];
            ch.groups.retain_mut(|g| match g {
                Group::Hls { mp, .. } | Group::MediaPackage { mp, .. } => {
                    if !mps.contains(mp) {
                        match mps.first() {
                            Some(m) => *mp = m.clone(),
                            None => return false,
                        }
                    }
                    true
                }
                Group::Rtmp { .. } => true,
            });
            if ch.groups.is_empty() {
                ch.groups.push(Group::Rtmp {
                    key_env: KEY_ENVS[0].into(),
                    width: 1280,
                    dest: None,
                });
            }
            // A destination id is unique in a channel (the derived ones, `hls0`, `rtmp1`...,
            // never meet a generated `destinationN`).
            let mut ids = BTreeSet::new();
            for g in &mut ch.groups {
                let d = g.dest_mut();
                if d.is_some_and(|d| !ids.insert(d)) {
                    *d = None;
                }
            }
            c += 1;
        }
        let declared = self.addresses();
        let mut froms = BTreeSet::new();
        self.moved.retain(|(from, to)| {
            !declared.contains(from)
                && declared.contains(to)
                && from != to
                && froms.insert(from.clone())
        });
    }

    /// Every address the stack declares.
    pub fn addresses(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        out.insert("iam_role.medialive".to_string());
        out.extend(
            self.mp
                .iter()
                .map(|x| format!("mediapackage_channel.{}", x.label)),
        );
        out.extend(
            self.endpoints
                .iter()
                .map(|x| format!("mediapackage_endpoint.{}", x.label)),
        );
        out.extend(
            self.sgs
                .iter()
                .map(|x| format!("medialive_input_security_group.{}", x.label)),
        );
        out.extend(
            self.inputs
                .iter()
                .map(|x| format!("medialive_input.{}", x.label)),
        );
        out.extend(
            self.channels
                .iter()
                .map(|x| format!("medialive_channel.{}", x.label)),
        );
        out
    }

    /// The stack file.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "[stack]\nname = \"{STACK}\"\nregion = \"us-east-1\"");
        if let Some(o) = &self.owner {
            let _ = writeln!(s, "tags = {{ owner = \"{o}\" }}");
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "[iam_role.medialive]\nname = \"conv-role\"\npreset = \"medialive-access\""
        );
        if let Some(d) = &self.role_description {
            let _ = writeln!(s, "description = \"{d}\"");
        }
        for m in &self.mp {
            let _ = writeln!(s, "\n[mediapackage_channel.{}]\nid = \"{}\"", m.label, m.id);
            if let Some(d) = &m.description {
                let _ = writeln!(s, "description = \"{d}\"");
            }
        }
        for e in &self.endpoints {
            let _ = writeln!(
                s,
                "\n[mediapackage_endpoint.{}]\nid = \"{}\"\nchannel = \"mediapackage_channel.{}\"\npackaging = \"{}\"",
                e.label, e.id, e.channel, e.packaging.as_str()
            );
            if let Some(x) = e.segment_seconds {
                let _ = writeln!(s, "segment_seconds = {x}");
            }
            if let Some(x) = &e.manifest_name {
                let _ = writeln!(s, "manifest_name = \"{x}\"");
            }
            if let Some(x) = e.startover_window_seconds {
                let _ = writeln!(s, "startover_window_seconds = {x}");
            }
            if e.deny_origination {
                let _ = writeln!(s, "origination = \"deny\"");
            }
        }
        for g in &self.sgs {
            let _ = writeln!(
                s,
                "\n[medialive_input_security_group.{}]\nwhitelist = {:?}",
                g.label, g.cidrs
            );
        }
        for i in &self.inputs {
            let _ = writeln!(s, "\n[medialive_input.{}]\nname = \"{}\"", i.label, i.name);
            match &i.kind {
                InputKind::UrlPull { sources } => {
                    let _ = writeln!(s, "type = \"url_pull\"\nsources = {sources:?}");
                }
                InputKind::RtmpPush { destinations, sg } => {
                    let _ = writeln!(
                        s,
                        "type = \"rtmp_push\"\ndestinations = {destinations:?}\nsecurity_groups = [\"medialive_input_security_group.{sg}\"]"
                    );
                }
            }
        }
        for c in &self.channels {
            let _ = writeln!(
                s,
                "\n[medialive_channel.{}]\nname = \"{}\"\nclass = \"{}\"\nrole = \"iam_role.medialive\"\nrunning = {}",
                c.label,
                c.name,
                if c.standard { "standard" } else { "single_pipeline" },
                c.running
            );
            if let Some(t) = &c.team {
                let _ = writeln!(s, "tags = {{ team = \"{t}\" }}");
            }
            if let Some(l) = &c.log_level {
                let _ = writeln!(s, "log_level = \"{l}\"");
            }
            let _ = writeln!(
                s,
                "\n[[medialive_channel.{}.inputs]]\ninput = \"medialive_input.{}\"",
                c.label, c.input
            );
            if c.loop_source {
                let _ = writeln!(s, "source_end_behavior = \"loop\"");
            }
            for (n, g) in c.groups.iter().enumerate() {
                let _ = writeln!(s, "\n[[medialive_channel.{}.output_groups]]", c.label);
                match g {
                    Group::Hls {
                        mp,
                        ladder,
                        encoding,
                        ..
                    } => {
                        let _ = writeln!(s, "name = \"hls{n}\"\ntype = \"hls\"\ndestination = \"mediapackage_channel.{mp}\"\nladder = \"{ladder}\"{}{}", ENCODINGS[*encoding], g.destination_id_line());
                    }
                    Group::MediaPackage {
                        mp,
                        ladder,
                        encoding,
                        ..
                    } => {
                        let _ = writeln!(s, "name = \"mp{n}\"\ntype = \"mediapackage\"\ndestination = \"mediapackage_channel.{mp}\"\nladder = \"{ladder}\"{}{}", ENCODINGS[*encoding], g.destination_id_line());
                    }
                    Group::Rtmp { key_env, width, .. } => {
                        let height = width * 9 / 16;
                        let _ = writeln!(
                            s,
                            "name = \"rtmp{n}\"\ntype = \"rtmp\"\nurl = \"rtmp://live.example.com/app\"\nbackup_url = \"rtmp://backup.example.com/app\"\nstream_key = {{ env = \"{key_env}\" }}\nvideo = {{ width = {width}, height = {height}, codec = \"h264\", bitrate = 3000000 }}{}",
                            g.destination_id_line()
                        );
                    }
                }
            }
        }
        for (from, to) in &self.moved {
            let _ = writeln!(s, "\n[[moved]]\nfrom = \"{from}\"\nto = \"{to}\"");
        }
        s
    }
}

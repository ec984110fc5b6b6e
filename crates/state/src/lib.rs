//! The state file: what livestack last applied, per resource, and the lock that keeps two
//! applies of one stack apart.
//!
//! Written atomically (temp file, fsync, rename) with the previous version kept as `.bak` and
//! mode 0600; a corrupt, truncated or newer-format file is an error and is never overwritten.
//! It never holds a secret: secret values are keyed hashes (see `livestack_plan::Hasher`).
//!
//! An apply does not rewrite it after every step: it appends each step's change to a
//! [`Journal`] beside it and saves the state once at the end; [`load`] folds a journal left
//! by a crash.

mod journal;
pub mod remote;
pub mod show;
mod store;

pub use journal::{journal_path, Journal};
pub use remote::{Condition, Object, ObjectError, Objects, Outcome, Remote};
pub use store::Store;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use livestack_plan::{CloudTarget, Prior};
use serde::{Deserialize, Serialize};

/// The newest format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The state of one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    /// Fixed when the state is first written; a saved plan names it.
    pub lineage: String,
    /// Bumped on every write.
    pub serial: u64,
    pub stack: String,
    /// The key of the keyed hashes that stand for secrets, as states written before it moved
    /// out of the state held it: whoever can read the state must not be able to test guesses
    /// of a secret against its hashes. Now kept in the stack's own store (an SSM SecureString
    /// parameter); a state that still holds it gives it up at its next apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_key: Option<String>,
    /// The cloud the state's resources live in (AWS account and region, or a sandbox world),
    /// recorded when the state is first written against one; `None` in a state written before
    /// states recorded it, which takes its target at its next write. A run against another
    /// target is refused by the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<CloudTarget>,
    #[serde(flatten)]
    pub prior: Prior,
}

impl State {
    /// A new, empty state.
    pub fn new(stack: &str) -> State {
        State {
            format_version: FORMAT_VERSION,
            lineage: random_hex(16),
            serial: 0,
            stack: stack.to_string(),
            hash_key: None,
            target: None,
            prior: Prior::default(),
        }
    }

    /// Whether a secret's keyed hash is recorded anywhere in the state (then only the key it
    /// was made with can compare it).
    pub fn holds_hashes(&self) -> bool {
        serde_json::to_string(&self.prior).is_ok_and(|t| t.contains("\"$sensitive\""))
    }
}

/// A new key for the keyed hashes of a stack's secrets: 32 random bytes, hex.
pub fn new_hash_key() -> String {
    random_hex(32)
}

/// What can go wrong with a state file or its lock.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read the state file", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the state file is corrupt or truncated (line {line}, column {column}); it was left untouched: restore it from {}.bak or fix it", path.display(), path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
    /// A state object that does not parse: restored from its earlier versions in a versioned
    /// bucket (which has no `.bak` object), else from the `.bak` object.
    #[error("{url}: the state is corrupt or truncated (line {line}, column {column}); it was left untouched: {}", if *versioned { "put back an earlier version of it (the bucket keeps every version of the state) or fix it" } else { "restore it from its .bak object or fix it" })]
    RemoteCorrupt {
        url: String,
        line: usize,
        column: usize,
        /// Whether the bucket keeps earlier versions.
        versioned: bool,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: the state file has format version {found}, newer than this livestack reads ({FORMAT_VERSION}); upgrade livestack", path.display())]
    TooNew { path: PathBuf, found: u64 },
    #[error("{}: the state file is for stack `{found}`, not `{expected}`", path.display())]
    OtherStack {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{}: cannot write the state file", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The lock is held. The caller names the command that removes a stale one (it knows
    /// the stack file and the options).
    #[error("{}: the stack is locked by {holder} (lock id {id}, {operation} started {since})", path.display())]
    Locked {
        path: PathBuf,
        id: String,
        holder: String,
        operation: String,
        since: String,
    },
    /// The lock file exists but says nothing usable: empty or garbled (a process killed between
    /// creating it and writing it, or one writing it right now). `id` stands for these very
    /// contents: [`force_unlock`] with it removes the file only while it still holds them.
    #[error("{}: the lock file is unreadable ({reason}; a process was killed while taking the lock), lock id {id}", lock.display())]
    UnreadableLock {
        lock: PathBuf,
        id: String,
        reason: String,
    },
    #[error("{}: no lock with id {id} (the lock is {actual})", path.display())]
    NoSuchLock {
        path: PathBuf,
        id: String,
        actual: String,
    },
    #[error("{}: cannot write the journal", path.display())]
    JournalWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line before the last is unreadable: not a write cut short, so nothing is guessed.
    #[error("{}:{line}: the journal is corrupt; it and the state file were left untouched: move the journal aside to go on without the steps it records (the next apply finds what they made by its ownership tags)", path.display())]
    JournalCorrupt {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: the journal has format version {found}, newer than this livestack reads; upgrade livestack", path.display())]
    JournalTooNew { path: PathBuf, found: u32 },
    #[error("{}:1: the journal continues state {lineage} at serial {serial}, not the state file beside it ({state_lineage} at serial {state_serial}); both were left untouched", path.display())]
    OtherJournal {
        path: PathBuf,
        lineage: String,
        serial: u64,
        state_lineage: String,
        state_serial: u64,
    },
    #[error("{}: a journal without its state file; it was left untouched: move it aside to go on without the steps it records (the next apply finds what they made by its ownership tags)", path.display())]
    JournalWithoutState { path: PathBuf },
    /// A call to the bucket that keeps the state failed.
    #[error(transparent)]
    Remote(#[from] ObjectError),
    /// The state object changed since this process read it: someone else wrote it (a lock
    /// forced while this run held it, or a writer that took no lock). Nothing was overwritten.
    #[error("{at}: {why} (serial {serial}), so it was not overwritten; this run's state was kept in {}: compare the two, then `livestack state push` the one to keep", kept.display())]
    Conflict {
        at: String,
        /// What happened: someone else wrote the state, or took this run's lock.
        why: &'static str,
        serial: u64,
        kept: PathBuf,
    },
    #[error("{at}: a journal is already there (an apply in progress, or one cut short): load the state under its lock to fold it first")]
    JournalThere { at: String },
    /// The lock this run took was removed (`force-unlock`) and maybe taken by someone else
    /// while the run went on: it writes nothing more.
    #[error("{at}: this run's lock was removed while it ran (force-unlock), so it wrote nothing more; what its finished steps made carries the stack's ownership tags and is found again by the next apply")]
    LockLost { at: String },
}

impl Error {
    /// The id that [`force_unlock`] takes to remove the lock this error is about.
    pub fn lock_id(&self) -> Option<&str> {
        match self {
            Error::Locked { id, .. } | Error::UnreadableLock { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// Reads the state at `path` as it stands, a journal beside it folded in (an apply in
/// progress, or one cut short); `Ok(None)` when there is none yet. Writes nothing: under the
/// lock, [`Lock::load`] also saves the folded state and removes the journal.
pub fn load(path: &Path, stack: &str) -> Result<Option<State>, Error> {
    Ok(folded(path, stack)?.map(|(state, _)| state))
}

/// The state at `path` with its journal folded in, and whether the fold changed it (`None`
/// without a journal).
fn folded(path: &Path, stack: &str) -> Result<Option<(State, Option<bool>)>, Error> {
    let jpath = journal_path(path);
    // A pair read while an apply replaced the state file and then removed its journal (a
    // reader without the lock) may be the old state without the journal: read again.
    let mut tries = 0;
    let (saved, journal) = loop {
        let before = identity(path);
        let pair = (read(path, stack)?, journal::read(&jpath)?);
        tries += 1;
        if identity(path) == before || tries == 5 {
            break pair;
        }
    };
    match (saved, journal) {
        (saved, None) => Ok(saved.map(|s| (s, None))),
        (None, Some(_)) => Err(Error::JournalWithoutState { path: jpath }),
        (Some(saved), Some(left)) => {
            let state = left.fold(&saved)?;
            let changed = state != saved;
            Ok(Some((state, Some(changed))))
        }
    }
}

/// The state file alone.
fn read(path: &Path, stack: &str) -> Result<Option<State>, Error> {
    let Some(text) = read_if_any(path)? else {
        return Ok(None);
    };
    parse(path, &text, stack).map(Some)
}

/// A state's bytes, read from `path` (a file, or the URL of an object), checked: its format
/// version and its stack.
fn parse(path: &Path, text: &[u8], stack: &str) -> Result<State, Error> {
    let corrupt = |source: serde_json::Error| Error::Corrupt {
        path: path.to_path_buf(),
        line: source.line(),
        column: source.column(),
        source,
    };
    let raw: serde_json::Value = serde_json::from_slice(text).map_err(corrupt)?;
    let version = raw
        .get("format_version")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    if version > u64::from(FORMAT_VERSION) {
        return Err(Error::TooNew {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let state: State = serde_json::from_value(raw).map_err(corrupt)?;
    if state.stack != stack {
        return Err(Error::OtherStack {
            path: path.to_path_buf(),
            found: state.stack,
            expected: stack.to_string(),
        });
    }
    Ok(state)
}

/// A state as it is written: pretty JSON and a final newline.
fn to_bytes(state: &State) -> Vec<u8> {
    (serde_json::to_string_pretty(state).expect("state serializes") + "\n").into_bytes()
}

/// Writes `state` with its serial bumped: temp file, fsync, previous copy to `.bak`, rename.
pub fn save(path: &Path, state: &mut State) -> Result<(), Error> {
    state.serial += 1;
    write(path, state)
}

/// Writes `state` as it is (see [`save`]). The previous file becomes the `.bak` by a hard
/// link, not a copy: the backup costs no write.
fn write(path: &Path, state: &State) -> Result<(), Error> {
    let werr = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(werr)?;
    }
    let text = to_bytes(state);
    let tmp = sibling(path, ".tmp");
    {
        let mut f = open_private(&tmp).map_err(werr)?;
        f.write_all(&text).map_err(werr)?;
        f.sync_all().map_err(werr)?;
    }
    if path.exists() {
        backup(path).map_err(werr)?;
    }
    fs::rename(&tmp, path).map_err(werr)?;
    sync_dir(path);
    Ok(())
}

/// `path.bak` becomes the file now at `path`: a hard link made under a temporary name and
/// renamed over the old backup, so that there is always a state file and a whole backup; a
/// copy where hard links are not supported.
fn backup(path: &Path) -> std::io::Result<()> {
    let bak = sibling(path, ".bak");
    let tmp = sibling(path, ".bak.tmp");
    let _ = fs::remove_file(&tmp);
    match fs::hard_link(path, &tmp) {
        Ok(()) => fs::rename(&tmp, &bak),
        Err(_) => fs::copy(path, &bak).map(|_| ()),
    }
}

/// What tells one file at `path` from the next one renamed there.
fn identity(path: &Path) -> Option<(u64, Option<std::time::SystemTime>, u64)> {
    let m = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((ino, m.modified().ok(), m.len()))
}

/// The bytes of the file at `path`; `Ok(None)` when there is none.
fn read_if_any(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Makes a rename or removal in the directory of `path` durable (best effort).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Writes `bytes` to `path` readable and writable by its owner only (0600), as the state is:
/// for other files that hold what the state holds (a saved plan). A file already there is
/// made private before it is written.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    if path.exists() {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    open_private(path)?.write_all(bytes)
}

fn open_private(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Who holds a lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub holder: String,
    pub host: String,
    pub pid: u32,
    pub operation: String,
    /// Seconds since the Unix epoch.
    pub since: u64,
}

/// The lock of a stack's state, held until dropped.
#[derive(Debug)]
pub struct Lock {
    at: LockAt,
    pub info: LockInfo,
}

/// Where a lock is held.
#[derive(Debug)]
enum LockAt {
    /// The lock file, and the state file it guards.
    File { path: PathBuf, state: PathBuf },
    /// The lock object, with the entity tag of what this process wrote there.
    Remote { remote: Arc<Remote>, etag: String },
}

/// The lock file of the state at `state_path`.
pub fn lock_path(state_path: &Path) -> PathBuf {
    sibling(state_path, ".lock")
}

/// What a lock file says.
enum Held {
    Lock(LockInfo),
    /// Empty or garbled: the id that stands for its contents, and what is wrong.
    Unreadable {
        id: String,
        reason: String,
    },
    Free,
}

fn held(lock: &Path) -> Result<Held, Error> {
    Ok(match read_if_any(lock)? {
        Some(bytes) => held_in(&bytes),
        None => Held::Free,
    })
}

/// What the bytes of a lock say.
fn held_in(bytes: &[u8]) -> Held {
    match serde_json::from_slice::<LockInfo>(bytes) {
        Ok(info) => Held::Lock(info),
        Err(e) => Held::Unreadable {
            id: unreadable_id(bytes),
            reason: if bytes.iter().all(u8::is_ascii_whitespace) {
                "empty".into()
            } else {
                format!("not a lock: {e}")
            },
        },
    }
}

/// The id of an unreadable lock file: `unreadable-` and a hash of its bytes (FNV-1a), so
/// that removing it by that id cannot remove a lock written since.
fn unreadable_id(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("unreadable-{:08x}", hash as u32)
}

/// A new lock's contents: this process, now.
fn lock_info(operation: &str) -> LockInfo {
    LockInfo {
        id: random_hex(8),
        holder: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        host: fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into()),
        pid: std::process::id(),
        operation: operation.to_string(),
        since: unix_now(),
    }
}

/// The error for a lock found taken: `state` names the state, `lock` the lock itself.
fn taken(held: Held, state: &str, lock: &str) -> Option<Error> {
    match held {
        Held::Lock(h) => Some(Error::Locked {
            path: PathBuf::from(state),
            id: h.id,
            holder: format!("{}@{} (pid {})", h.holder, h.host, h.pid),
            operation: h.operation,
            since: format!("{} s ago", unix_now().saturating_sub(h.since)),
        }),
        Held::Unreadable { id, reason } => Some(Error::UnreadableLock {
            lock: PathBuf::from(lock),
            id,
            reason,
        }),
        Held::Free => None,
    }
}

impl Lock {
    /// Takes the lock of the state at `state_path`, or fails at once naming its holder.
    ///
    /// The lock file appears whole or not at all: it is written to a temporary file that is
    /// then hard-linked to the lock's name (which fails if the lock exists).
    pub fn acquire(state_path: &Path, operation: &str) -> Result<Lock, Error> {
        let path = lock_path(state_path);
        let werr = |source| Error::Write {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(werr)?;
        }
        let info = lock_info(operation);
        let text = serde_json::to_string(&info).expect("lock info serializes");
        let tmp = sibling(&path, &format!(".{}.tmp", info.id));
        let written = open_private(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|_| f.sync_all()));
        let linked = written.and_then(|_| fs::hard_link(&tmp, &path));
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Lock {
                at: LockAt::File {
                    path,
                    state: state_path.to_path_buf(),
                },
                info,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                match taken(
                    held(&path)?,
                    &state_path.display().to_string(),
                    &path.display().to_string(),
                ) {
                    Some(e) => Err(e),
                    // Released in between: try once more.
                    None => Lock::acquire_direct(path, state_path, info),
                }
            }
            // A file system without hard links: create the lock file in place.
            Err(_) => Lock::acquire_direct(path, state_path, info),
        }
    }

    /// Takes the lock object of a state kept in a bucket: created only if there is none
    /// (`If-None-Match: *`), so that of two processes exactly one gets it.
    pub fn acquire_remote(remote: &Arc<Remote>, operation: &str) -> Result<Lock, Error> {
        let name = remote.lock_name();
        let info = lock_info(operation);
        let text = serde_json::to_vec(&info).expect("lock info serializes");
        for _ in 0..3 {
            let put = remote.put(&name, text.clone(), Condition::Absent)?;
            match put {
                Outcome::Done(etag) => {
                    remote.set_held(Some(etag.clone()));
                    return Ok(Lock {
                        at: LockAt::Remote {
                            remote: remote.clone(),
                            etag,
                        },
                        info,
                    });
                }
                Outcome::Refused => {
                    let found = remote.objects().get(&name)?;
                    let held = found.map_or(Held::Free, |o| held_in(&o.bytes));
                    if let Some(e) = taken(held, &remote.url(), &remote.objects().url(&name)) {
                        return Err(e);
                    }
                    // Released in between: try again.
                }
            }
        }
        Err(ObjectError {
            call: "PutObject",
            url: remote.objects().url(&name),
            message: "the lock was taken and released three times while this run tried to take it"
                .into(),
        }
        .into())
    }

    /// Reads the state this lock guards, like [`load`], and makes the fold of a journal left
    /// beside it (an apply cut short) the state: saved, the journal removed.
    pub fn load(&self, stack: &str) -> Result<Option<State>, Error> {
        match &self.at {
            LockAt::File { state: path, .. } => {
                let Some((state, journal)) = folded(path, stack)? else {
                    return Ok(None);
                };
                if let Some(changed) = journal {
                    if changed {
                        write(path, &state)?;
                    }
                    let jpath = journal_path(path);
                    fs::remove_file(&jpath).map_err(|source| Error::JournalWrite {
                        path: jpath.clone(),
                        source,
                    })?;
                    sync_dir(&jpath);
                }
                Ok(Some(state))
            }
            LockAt::Remote { remote, .. } => {
                let Some((state, journal)) = store::remote_folded(remote, stack)? else {
                    // Leftovers of a journal's removal cut short: removed now.
                    remote.remove_journal(&remote.journal_names()?)?;
                    return Ok(None);
                };
                if let Some(changed) = journal {
                    if changed {
                        store::remote_write(remote, &state)?;
                    }
                }
                remote.remove_journal(&remote.journal_names()?)?;
                Ok(Some(state))
            }
        }
    }

    fn acquire_direct(path: PathBuf, state_path: &Path, info: LockInfo) -> Result<Lock, Error> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        let text = serde_json::to_string(&info).expect("lock info serializes");
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        Ok(Lock {
            at: LockAt::File {
                path,
                state: state_path.to_path_buf(),
            },
            info,
        })
    }
}

impl Drop for Lock {
    /// Removes the lock, unless it is no longer this lock's (force-unlocked and taken by
    /// another process since).
    fn drop(&mut self) {
        match &self.at {
            LockAt::File { path, .. } => {
                if matches!(held(path), Ok(Held::Lock(h)) if h.id == self.info.id) {
                    let _ = fs::remove_file(path);
                }
            }
            LockAt::Remote { remote, etag } => {
                remote.set_held(None);
                if let Err(e) = remote.objects().delete(&remote.lock_name(), Some(etag)) {
                    // Nothing else can say it: the run is ending.
                    eprintln!(
                        "warning: the lock {} (id {}) could not be released: {e}; remove it with `livestack force-unlock STACK {}` and the same --state",
                        remote.objects().url(&remote.lock_name()),
                        self.info.id,
                        self.info.id
                    );
                }
            }
        }
    }
}

/// How [`force_unlock`] found the lock it removed.
#[derive(Debug, Clone)]
pub enum Released {
    /// A lock that named its holder.
    Lock(LockInfo),
    /// An empty or garbled lock file.
    Unreadable,
}

/// Removes a stale lock, only if its id is `id` (for an unreadable lock file, the id its
/// error named).
pub fn force_unlock(state_path: &Path, id: &str) -> Result<Released, Error> {
    let path = lock_path(state_path);
    let released = release_if(held(&path)?, id, &path.display().to_string())?;
    fs::remove_file(&path).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(released)
}

/// What removing the lock `held` by the id `id` removes, or why it may not.
fn release_if(held: Held, id: &str, lock: &str) -> Result<Released, Error> {
    let no_such = |actual: String| Error::NoSuchLock {
        path: PathBuf::from(lock),
        id: id.to_string(),
        actual,
    };
    match held {
        Held::Lock(h) if h.id == id => Ok(Released::Lock(h)),
        Held::Unreadable { id: u, .. } if u == id => Ok(Released::Unreadable),
        Held::Lock(h) => Err(no_such(format!("held with id {}", h.id))),
        Held::Unreadable { id: u, .. } => Err(no_such(format!("an unreadable lock file, id {u}"))),
        Held::Free => Err(no_such("not held".into())),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("livestack-state-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d.join("s.json")
    }

    #[test]
    fn save_then_load_round_trips_and_bumps_the_serial() {
        let p = tmp("rt");
        let mut s = State::new("imday");
        save(&p, &mut s).unwrap();
        save(&p, &mut s).unwrap();
        let back = load(&p, "imday").unwrap().unwrap();
        assert_eq!(back.serial, 2);
        assert_eq!(back.lineage, s.lineage);
        assert!(sibling(&p, ".bak").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn the_target_is_kept_and_a_state_written_before_targets_loads_without_one() {
        let p = tmp("target");
        let mut s = State::new("imday");
        save(&p, &mut s).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(!text.contains("\"target\""), "none recorded yet: {text}");
        assert_eq!(load(&p, "imday").unwrap().unwrap().target, None);
        s.target = Some(CloudTarget::Aws {
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            profile: Some("prod".into()),
            endpoint_url: None,
        });
        save(&p, &mut s).unwrap();
        assert_eq!(load(&p, "imday").unwrap().unwrap().target, s.target);
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"kind\": \"aws\""), "{text}");
    }

    fn addr(a: &str) -> livestack_model::Address {
        livestack_model::Address::parse(a).unwrap()
    }

    fn resource(id: &str) -> livestack_plan::PriorResource {
        livestack_plan::PriorResource {
            id: id.into(),
            arn: None,
            applied: serde_json::json!({ "Name": id }),
            outputs: serde_json::Value::Null,
            depends_on: vec![],
            running: None,
        }
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// A saved state holding `medialive_input.a`, and a journal begun on it in which one step
    /// created `medialive_input.b` and another replaced `a` (deposing its old copy) and a
    /// third deleted nothing of ours. The journal is left as a kill leaves it.
    fn killed_apply(name: &str) -> Killed {
        let p = tmp(name);
        let mut s = State::new("imday");
        s.prior
            .resources
            .insert(addr("medialive_input.a"), resource("1"));
        save(&p, &mut s).unwrap();
        let saved = s.clone();
        let mut j = Journal::begin(&p, &mut s).unwrap();
        s.prior
            .resources
            .insert(addr("medialive_input.b"), resource("2"));
        j.append(&s.prior, &[addr("medialive_input.b")]).unwrap();
        s.prior.deposed.push(livestack_plan::Deposed {
            address: addr("medialive_input.a"),
            id: "1".into(),
        });
        s.prior
            .resources
            .insert(addr("medialive_input.a"), resource("3"));
        j.append(&s.prior, &[addr("medialive_input.a")]).unwrap();
        s.prior.resources.remove(&addr("medialive_input.b"));
        s.prior
            .resources
            .insert(addr("medialive_input.c"), resource("4"));
        j.append(
            &s.prior,
            &[addr("medialive_input.b"), addr("medialive_input.c")],
        )
        .unwrap();
        drop(j); // killed: never closed
        Killed {
            journal: journal_path(&p),
            state: p,
            saved,
            in_memory: s,
        }
    }

    /// What [`killed_apply`] leaves: the state file and its journal, the state as saved and
    /// as the apply had it in memory.
    struct Killed {
        state: PathBuf,
        journal: PathBuf,
        saved: State,
        in_memory: State,
    }

    #[test]
    fn a_journal_left_by_a_kill_is_folded_and_under_the_lock_saved_and_removed() {
        let Killed {
            state: p,
            saved,
            in_memory,
            ..
        } = killed_apply("fold");
        let on_disk = fs::read_to_string(&p).unwrap();
        // Read-only: the folded view, with the serial its save will give it; nothing written.
        let view = load(&p, "imday").unwrap().unwrap();
        assert_eq!(view.prior, in_memory.prior);
        assert_eq!(view.serial, saved.serial + 1);
        assert_eq!(fs::read_to_string(&p).unwrap(), on_disk);
        assert!(journal_path(&p).exists());
        // Under the lock: the fold becomes the state file, the old one its backup.
        let lock = Lock::acquire(&p, "apply").unwrap();
        assert_eq!(lock.load("imday").unwrap().unwrap(), view);
        assert!(!journal_path(&p).exists());
        assert_eq!(fs::read_to_string(sibling(&p, ".bak")).unwrap(), on_disk);
        assert_eq!(read(&p, "imday").unwrap().unwrap(), view);
        assert_eq!(lock.load("imday").unwrap().unwrap(), view);
    }

    #[test]
    fn a_closed_journal_leaves_the_whole_state_saved_once_and_no_journal() {
        let Killed {
            state: p,
            journal,
            saved,
            in_memory: mut s,
        } = killed_apply("close");
        fs::remove_file(journal).unwrap();
        let mut fresh = saved.clone();
        let mut j = Journal::begin(&p, &mut fresh).unwrap();
        j.append(
            &s.prior,
            &[
                addr("medialive_input.a"),
                addr("medialive_input.b"),
                addr("medialive_input.c"),
            ],
        )
        .unwrap();
        j.close(&mut s).unwrap();
        assert!(!journal_path(&p).exists());
        let back = load(&p, "imday").unwrap().unwrap();
        assert_eq!((back.serial, &back.prior), (saved.serial + 1, &s.prior));
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let Killed {
            state: p,
            journal: jp,
            in_memory,
            ..
        } = killed_apply("torn");
        let mut text = fs::read_to_string(&jp).unwrap();
        text.push_str("{\"set\":{\"medialive_input.d\":{\"id\":\"5\",\"app");
        fs::write(&jp, &text).unwrap();
        assert_eq!(load(&p, "imday").unwrap().unwrap().prior, in_memory.prior);
        // Cut inside the last whole line: the step before it is what remains.
        let whole = fs::read_to_string(&jp).unwrap();
        let lines: Vec<&str> = whole.lines().collect();
        fs::write(
            &jp,
            format!(
                "{}\n{}\n{}\n{}",
                lines[0],
                lines[1],
                lines[2],
                &lines[3][..9]
            ),
        )
        .unwrap();
        let view = load(&p, "imday").unwrap().unwrap();
        assert!(view
            .prior
            .resources
            .contains_key(&addr("medialive_input.b")));
        assert!(!view
            .prior
            .resources
            .contains_key(&addr("medialive_input.c")));
        // Torn in its very first line: nothing to fold.
        fs::write(&jp, &lines[0][..10]).unwrap();
        let before = read(&p, "imday").unwrap().unwrap();
        assert_eq!(load(&p, "imday").unwrap().unwrap(), before);
        Lock::acquire(&p, "apply").unwrap().load("imday").unwrap();
        assert!(!jp.exists());
        assert_eq!(read(&p, "imday").unwrap().unwrap(), before);
    }

    #[test]
    fn a_bad_line_before_the_last_is_an_error_naming_the_file_and_line() {
        let k = killed_apply("bad-middle");
        let (p, jp) = (&k.state, &k.journal);
        let text = fs::read_to_string(jp).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[2] = "{\"set\": garbage";
        let bad = lines.join("\n") + "\n";
        fs::write(jp, &bad).unwrap();
        let state_text = fs::read_to_string(p).unwrap();
        let lock = Lock::acquire(p, "apply").unwrap();
        let e = lock.load("imday").unwrap_err();
        assert!(matches!(e, Error::JournalCorrupt { line: 3, .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("s.json.journal:3:") && !msg.contains('\n'),
            "{msg}"
        );
        assert!(load(p, "imday").is_err());
        assert_eq!(fs::read_to_string(jp).unwrap(), bad);
        assert_eq!(fs::read_to_string(p).unwrap(), state_text);
    }

    #[test]
    fn a_journal_of_another_lineage_or_serial_is_refused_and_left_untouched() {
        let k = killed_apply("other");
        let (p, jp) = (&k.state, &k.journal);
        let journal = fs::read_to_string(jp).unwrap();
        // Another state of the same stack put in this one's place.
        let mut other = State::new("imday");
        save(p, &mut other).unwrap();
        let e = Lock::acquire(p, "apply")
            .unwrap()
            .load("imday")
            .unwrap_err();
        assert!(matches!(e, Error::OtherJournal { .. }), "{e}");
        assert!(e.to_string().contains("s.json.journal:1:"), "{e}");
        assert_eq!(fs::read_to_string(jp).unwrap(), journal);
        // The same lineage two saves on: not the state the journal continues.
        fs::copy(sibling(p, ".bak"), p).unwrap();
        let mut s = read(p, "imday").unwrap().unwrap();
        save(p, &mut s).unwrap();
        save(p, &mut s).unwrap();
        assert!(matches!(load(p, "imday"), Err(Error::OtherJournal { .. })));
        assert_eq!(fs::read_to_string(jp).unwrap(), journal);
    }

    #[test]
    fn a_journal_whose_close_was_cut_short_after_the_save_is_removed() {
        let Killed {
            state: p,
            journal: jp,
            mut in_memory,
            ..
        } = killed_apply("half-closed");
        save(&p, &mut in_memory).unwrap(); // the close's save, then a kill
        let lock = Lock::acquire(&p, "apply").unwrap();
        assert_eq!(lock.load("imday").unwrap().unwrap(), in_memory);
        assert!(!jp.exists());
    }

    #[test]
    fn a_journal_without_its_state_file_is_an_error() {
        let k = killed_apply("orphan");
        fs::remove_file(&k.state).unwrap();
        let e = load(&k.state, "imday").unwrap_err();
        assert!(matches!(e, Error::JournalWithoutState { .. }), "{e}");
        assert!(k.journal.exists());
    }

    #[test]
    fn a_state_without_a_journal_is_loaded_unchanged_and_not_rewritten() {
        let p = tmp("no-journal");
        let mut s = State::new("imday");
        s.prior
            .resources
            .insert(addr("medialive_input.a"), resource("1"));
        save(&p, &mut s).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(load(&p, "imday").unwrap().unwrap(), s);
        let lock = Lock::acquire(&p, "apply").unwrap();
        assert_eq!(lock.load("imday").unwrap().unwrap(), s);
        assert_eq!(fs::read_to_string(&p).unwrap(), text);
        assert!(!sibling(&p, ".bak").exists(), "nothing was saved");
    }

    #[test]
    fn a_journal_begun_on_a_state_never_saved_saves_it_first() {
        let p = tmp("from-empty");
        let mut s = State::new("imday");
        let mut j = Journal::begin(&p, &mut s).unwrap();
        s.prior
            .resources
            .insert(addr("medialive_input.a"), resource("1"));
        j.append(&s.prior, &[addr("medialive_input.a")]).unwrap();
        drop(j);
        let view = load(&p, "imday").unwrap().unwrap();
        assert_eq!((view.lineage, view.hash_key), (s.lineage, s.hash_key));
        assert_eq!(view.prior, s.prior);
    }

    #[cfg(unix)]
    #[test]
    fn the_journal_the_state_and_its_backup_are_private() {
        let Killed {
            state: p, journal, ..
        } = killed_apply("modes");
        assert_eq!(mode(&journal), 0o600);
        Lock::acquire(&p, "apply").unwrap().load("imday").unwrap();
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(&sibling(&p, ".bak")), 0o600);
    }

    #[test]
    fn the_backup_is_the_previous_file_and_apart_from_the_new_one() {
        let p = tmp("bak");
        let mut s = State::new("imday");
        save(&p, &mut s).unwrap();
        let first = fs::read_to_string(&p).unwrap();
        save(&p, &mut s).unwrap();
        let second = fs::read_to_string(&p).unwrap();
        assert_eq!(fs::read_to_string(sibling(&p, ".bak")).unwrap(), first);
        // Writing over the state file in place (a user's restore) leaves the backup alone.
        fs::write(&p, "{").unwrap();
        assert_eq!(fs::read_to_string(sibling(&p, ".bak")).unwrap(), first);
        fs::write(&p, &second).unwrap();
        save(&p, &mut s).unwrap();
        assert_eq!(fs::read_to_string(sibling(&p, ".bak")).unwrap(), second);
        assert!(!sibling(&p, ".bak.tmp").exists());
    }

    #[test]
    fn a_truncated_state_is_an_error_and_left_untouched() {
        let p = tmp("trunc");
        fs::write(&p, "{\"format_version\": 1, \"lineage\": \"ab").unwrap();
        let e = load(&p, "imday").unwrap_err().to_string();
        assert!(e.contains("corrupt or truncated"), "{e}");
        assert!(e.contains("s.json"), "{e}");
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            "{\"format_version\": 1, \"lineage\": \"ab"
        );
    }

    #[test]
    fn a_newer_format_is_refused() {
        let p = tmp("new");
        fs::write(&p, r#"{"format_version": 9}"#).unwrap();
        assert!(matches!(load(&p, "x"), Err(Error::TooNew { found: 9, .. })));
    }

    #[test]
    fn a_second_lock_fails_naming_the_holder_and_force_unlock_needs_the_id() {
        let p = tmp("lock");
        let l = Lock::acquire(&p, "apply").unwrap();
        let e = Lock::acquire(&p, "apply").unwrap_err().to_string();
        assert!(e.contains(&l.info.id) && e.contains("apply"), "{e}");
        assert!(force_unlock(&p, "wrong").is_err());
        let id = l.info.id.clone();
        std::mem::forget(l);
        force_unlock(&p, &id).unwrap();
        Lock::acquire(&p, "apply").unwrap();
    }

    #[test]
    fn an_empty_or_garbled_lock_file_is_unreadable_and_force_unlocked_by_its_id() {
        for (name, contents) in [("empty", ""), ("garbled", "{\"id\": \"ab")] {
            let p = tmp(name);
            fs::write(lock_path(&p), contents).unwrap();
            let e = Lock::acquire(&p, "apply").unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("unreadable") && msg.contains("s.json.lock"),
                "{msg}"
            );
            let id = e.lock_id().unwrap().to_string();
            assert!(matches!(
                force_unlock(&p, "unreadable-00000000"),
                Err(Error::NoSuchLock { .. })
            ));
            assert!(matches!(force_unlock(&p, &id), Ok(Released::Unreadable)));
            assert!(!lock_path(&p).exists());
            Lock::acquire(&p, "apply").unwrap();
        }
    }

    #[test]
    fn an_unreadable_lock_is_not_removed_once_a_real_lock_replaced_it() {
        let p = tmp("replaced");
        fs::write(lock_path(&p), "").unwrap();
        let id = Lock::acquire(&p, "apply")
            .unwrap_err()
            .lock_id()
            .unwrap()
            .to_string();
        fs::remove_file(lock_path(&p)).unwrap();
        let l = Lock::acquire(&p, "apply").unwrap();
        assert!(force_unlock(&p, &id).is_err());
        assert!(lock_path(&p).exists(), "{}", l.info.id);
    }

    #[test]
    fn a_dropped_lock_leaves_a_lock_taken_since_by_someone_else() {
        let p = tmp("stolen");
        let first = Lock::acquire(&p, "apply").unwrap();
        force_unlock(&p, &first.info.id).unwrap();
        let second = Lock::acquire(&p, "apply").unwrap();
        drop(first);
        assert!(lock_path(&p).exists(), "{}", second.info.id);
        drop(second);
        assert!(!lock_path(&p).exists());
    }
}

//! The state file: what livestack last applied, per resource, and the lock that keeps two
//! applies of one stack apart.
//!
//! Written atomically (temp file, fsync, rename) with the previous version kept as `.bak` and
//! mode 0600; a corrupt, truncated or newer-format file is an error and is never overwritten.
//! It never holds a secret: secret values are keyed hashes (see `livestack_plan::Hasher`).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use livestack_plan::{Hasher, Prior};
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
    /// The key of the keyed hashes that stand for secrets (not itself a secret of the user's).
    pub hash_key: String,
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
            hash_key: random_hex(32),
            prior: Prior::default(),
        }
    }

    pub fn hasher(&self) -> Hasher {
        Hasher::new(self.hash_key.as_bytes())
    }
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

/// Reads the state at `path`; `Ok(None)` when there is none yet.
pub fn load(path: &Path, stack: &str) -> Result<Option<State>, Error> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let corrupt = |source: serde_json::Error| Error::Corrupt {
        path: path.to_path_buf(),
        line: source.line(),
        column: source.column(),
        source,
    };
    let raw: serde_json::Value = serde_json::from_str(&text).map_err(corrupt)?;
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
    Ok(Some(state))
}

/// Writes `state` with its serial bumped: temp file, fsync, previous copy to `.bak`, rename.
pub fn save(path: &Path, state: &mut State) -> Result<(), Error> {
    state.serial += 1;
    let werr = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(werr)?;
    }
    let text = serde_json::to_string_pretty(state).expect("state serializes") + "\n";
    let tmp = sibling(path, ".tmp");
    {
        let mut f = open_private(&tmp).map_err(werr)?;
        f.write_all(text.as_bytes()).map_err(werr)?;
        f.sync_all().map_err(werr)?;
    }
    if path.exists() {
        fs::copy(path, sibling(path, ".bak")).map_err(werr)?;
    }
    fs::rename(&tmp, path).map_err(werr)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
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
    path: PathBuf,
    pub info: LockInfo,
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
    let bytes = match fs::read(lock) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Held::Free),
        Err(source) => {
            return Err(Error::Read {
                path: lock.to_path_buf(),
                source,
            })
        }
    };
    Ok(match serde_json::from_slice::<LockInfo>(&bytes) {
        Ok(info) => Held::Lock(info),
        Err(e) => Held::Unreadable {
            id: unreadable_id(&bytes),
            reason: if bytes.iter().all(u8::is_ascii_whitespace) {
                "empty".into()
            } else {
                format!("not a lock: {e}")
            },
        },
    })
}

/// The id of an unreadable lock file: `unreadable-` and a hash of its bytes (FNV-1a), so
/// that removing it by that id cannot remove a lock written since.
fn unreadable_id(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("unreadable-{:08x}", hash as u32)
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
        let info = LockInfo {
            id: random_hex(8),
            holder: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            host: fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "localhost".into()),
            pid: std::process::id(),
            operation: operation.to_string(),
            since: unix_now(),
        };
        let text = serde_json::to_string(&info).expect("lock info serializes");
        let tmp = sibling(&path, &format!(".{}.tmp", info.id));
        let written = open_private(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|_| f.sync_all()));
        let linked = written.and_then(|_| fs::hard_link(&tmp, &path));
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Lock { path, info }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(match held(&path)? {
                    Held::Lock(h) => Error::Locked {
                        path: state_path.to_path_buf(),
                        id: h.id,
                        holder: format!("{}@{} (pid {})", h.holder, h.host, h.pid),
                        operation: h.operation,
                        since: format!("{} s ago", unix_now().saturating_sub(h.since)),
                    },
                    Held::Unreadable { id, reason } => Error::UnreadableLock {
                        lock: path.clone(),
                        id,
                        reason,
                    },
                    // Released in between: try once more.
                    Held::Free => return Lock::acquire_direct(path, info),
                })
            }
            // A file system without hard links: create the lock file in place.
            Err(_) => Lock::acquire_direct(path, info),
        }
    }

    fn acquire_direct(path: PathBuf, info: LockInfo) -> Result<Lock, Error> {
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
        Ok(Lock { path, info })
    }
}

impl Drop for Lock {
    /// Removes the lock file, unless it is no longer this lock's (force-unlocked and taken
    /// by another process since).
    fn drop(&mut self) {
        if matches!(held(&self.path), Ok(Held::Lock(h)) if h.id == self.info.id) {
            let _ = fs::remove_file(&self.path);
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
    let no_such = |actual: String| Error::NoSuchLock {
        path: path.clone(),
        id: id.to_string(),
        actual,
    };
    let released = match held(&path)? {
        Held::Lock(h) if h.id == id => Released::Lock(h),
        Held::Unreadable { id: u, .. } if u == id => Released::Unreadable,
        Held::Lock(h) => return Err(no_such(format!("held with id {}", h.id))),
        Held::Unreadable { id: u, .. } => {
            return Err(no_such(format!("an unreadable lock file, id {u}")))
        }
        Held::Free => return Err(no_such("not held".into())),
    };
    fs::remove_file(&path).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(released)
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

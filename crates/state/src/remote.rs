//! A state kept as objects in a bucket (S3), with S3's own conditional writes as the lock and
//! the guard against lost updates, as Terraform's S3 backend with `use_lockfile` does.
//!
//! Objects beside the state object `KEY`:
//! - `KEY.lock`: the lock, created with `If-None-Match: *` (only one creator wins) and
//!   removed by its holder with `If-Match` of what it wrote;
//! - `KEY` itself, written with `If-Match` of the version this process read (or
//!   `If-None-Match: *` when there was none), so that a write by someone else in between is
//!   refused, never overwritten;
//! - `KEY.bak`: the previous state, only when the bucket has no versioning (with versioning,
//!   the bucket keeps every version);
//! - `KEY.journal/00000000` (the journal's header), `KEY.journal/00000001`…: an apply's
//!   journal, one object per step (S3 has no append), each created with `If-None-Match: *`;
//!   removed header first when the state is saved, so that entries without a header are the
//!   leftovers of a removal cut short and are ignored.
//!
//! The semantics live here; the calls are an [`Objects`] implementation (`livestack-aws`
//! for S3), so that this crate stays free of any AWS SDK and is tested against a map.

use std::sync::{Arc, Mutex, OnceLock};

/// An object read.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Vec<u8>,
    /// Its entity tag, as the store gives it (quoted for S3).
    pub etag: String,
}

/// When a put may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// Only if no object has the name (`If-None-Match: *`).
    Absent,
    /// Only if the object has this entity tag (`If-Match`).
    Matches(String),
}

/// What a conditional put or delete found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; for a put, the new entity tag.
    Done(String),
    /// The condition did not hold (HTTP 412, or 409 for a concurrent conditional write).
    Refused,
}

/// A failed call to the store.
#[derive(Debug, thiserror::Error)]
#[error("{call} {url}: {message}")]
pub struct ObjectError {
    /// The store's operation, e.g. `PutObject`.
    pub call: &'static str,
    /// `s3://bucket/key` of the object.
    pub url: String,
    /// One line: the HTTP status and the service's code and message, or the cause.
    pub message: String,
}

/// The calls a remote state needs, blocking. `name` is a whole object key.
pub trait Objects: Send + Sync + std::fmt::Debug {
    /// `s3://bucket/` and the key: how messages name the object `name`.
    fn url(&self, name: &str) -> String;
    fn get(&self, name: &str) -> Result<Option<Object>, ObjectError>;
    /// The entity tag of `name`, if there is such an object.
    fn head(&self, name: &str) -> Result<Option<String>, ObjectError>;
    fn put(&self, name: &str, bytes: Vec<u8>, when: Condition) -> Result<Outcome, ObjectError>;
    /// Deletes `name` (only if its entity tag is `if_match`, when given); deleting what is not
    /// there is done.
    fn delete(&self, name: &str, if_match: Option<&str>) -> Result<Outcome, ObjectError>;
    /// The names under `prefix`, in key order.
    fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError>;
    /// Whether the bucket keeps earlier versions of an object.
    fn versioned(&self) -> Result<bool, ObjectError>;
}

/// What this process last saw of the state object.
#[derive(Debug, Clone)]
enum Seen {
    Absent,
    Version { etag: String, bytes: Vec<u8> },
}

/// A state kept in a bucket: the objects, the state's key and what this process read of it.
#[derive(Debug)]
pub struct Remote {
    objects: Arc<dyn Objects>,
    key: String,
    seen: Mutex<Option<Seen>>,
    versioned: OnceLock<bool>,
    /// The entity tag of the lock object this process holds, while it holds it: every write
    /// checks first that the lock is still that one (not forced and taken by someone else).
    held: Mutex<Option<String>>,
    /// Where a state whose write was refused is kept (the working directory by default).
    refused_dir: std::path::PathBuf,
}

impl Remote {
    pub fn new(objects: Arc<dyn Objects>, key: &str) -> Remote {
        Remote {
            objects,
            key: key.to_string(),
            seen: Mutex::new(None),
            versioned: OnceLock::new(),
            held: Mutex::new(None),
            refused_dir: std::path::PathBuf::new(),
        }
    }

    /// Keeps a state whose write is refused in `dir`, not the working directory.
    pub fn keep_refused_in(mut self, dir: &std::path::Path) -> Remote {
        self.refused_dir = dir.to_path_buf();
        self
    }

    pub(crate) fn refused_path(&self, stack: &str) -> std::path::PathBuf {
        self.refused_dir.join(format!("{stack}.errored.json"))
    }

    /// `s3://bucket/key` of the state.
    pub fn url(&self) -> String {
        self.objects.url(&self.key)
    }

    /// The state object's key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn lock_name(&self) -> String {
        format!("{}.lock", self.key)
    }

    pub(crate) fn objects(&self) -> &dyn Objects {
        &*self.objects
    }

    fn journal_prefix(&self) -> String {
        format!("{}.journal/", self.key)
    }

    pub(crate) fn journal_name(&self, n: u64) -> String {
        format!("{}{n:08}", self.journal_prefix())
    }

    /// The state's bytes, remembered as the version a later write replaces.
    pub(crate) fn read(&self) -> Result<Option<Vec<u8>>, ObjectError> {
        let got = self.objects.get(&self.key)?;
        let seen = match &got {
            None => Seen::Absent,
            Some(o) => Seen::Version {
                etag: o.etag.clone(),
                bytes: o.bytes.clone(),
            },
        };
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
        Ok(got.map(|o| o.bytes))
    }

    /// Whether the state object is still the version [`Remote::read`] gave.
    pub(crate) fn unchanged(&self) -> Result<bool, ObjectError> {
        let now = self.objects.head(&self.key)?;
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(match (seen, now) {
            (Some(Seen::Absent), None) => true,
            (Some(Seen::Version { etag, .. }), Some(now)) => etag == now,
            _ => false,
        })
    }

    /// `put`, where a refusal that finds the very bytes written is a success: a conditional
    /// write whose answer was lost and that the SDK retried meets its own write (412).
    pub(crate) fn put(
        &self,
        name: &str,
        bytes: Vec<u8>,
        when: Condition,
    ) -> Result<Outcome, ObjectError> {
        match self.objects.put(name, bytes.clone(), when)? {
            Outcome::Refused => match self.objects.get(name)? {
                Some(o) if o.bytes == bytes => Ok(Outcome::Done(o.etag)),
                _ => Ok(Outcome::Refused),
            },
            done => Ok(done),
        }
    }

    /// This process now holds the lock object with entity tag `etag` (`None`: no longer).
    pub(crate) fn set_held(&self, etag: Option<String>) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = etag;
    }

    /// Whether the lock this process took is still there as it wrote it (true when it holds
    /// none: a reader, or `state push` before its lock).
    pub(crate) fn still_held(&self) -> Result<bool, ObjectError> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match held {
            None => Ok(true),
            Some(etag) => Ok(self.objects.head(&self.lock_name())? == Some(etag)),
        }
    }

    /// Writes the state, only over the version this process read (or where there was none):
    /// `Ok(false)` when someone else wrote it in between. Without versioning, the version
    /// replaced is then copied to `KEY.bak`.
    pub(crate) fn write(&self, bytes: Vec<u8>) -> Result<bool, ObjectError> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let seen = match seen {
            Some(s) => s,
            // Never read by this process (a push to a new place): what is there now.
            None => match self.objects.get(&self.key)? {
                None => Seen::Absent,
                Some(o) => Seen::Version {
                    etag: o.etag,
                    bytes: o.bytes,
                },
            },
        };
        let when = match &seen {
            Seen::Absent => Condition::Absent,
            Seen::Version { etag, .. } => Condition::Matches(etag.clone()),
        };
        match self.put(&self.key, bytes.clone(), when)? {
            Outcome::Done(etag) => {
                *self.seen.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Seen::Version { etag, bytes });
                // Only a write that took place replaces the backup.
                if let Seen::Version { bytes: before, .. } = seen {
                    if !self.versioned() {
                        self.objects.put(
                            &format!("{}.bak", self.key),
                            before,
                            Condition::Always,
                        )?;
                    }
                }
                Ok(true)
            }
            Outcome::Refused => Ok(false),
        }
    }

    /// Whether the bucket keeps versions; a role not allowed to ask (`s3:GetBucketVersioning`
    /// is not in every state policy) gets the `.bak` copy instead.
    pub(crate) fn versioned(&self) -> bool {
        *self
            .versioned
            .get_or_init(|| self.objects.versioned().unwrap_or(false))
    }

    /// The journal's objects as one text, a line each, in order; `None` without a header (no
    /// journal, or only the leftovers of a removal cut short).
    pub(crate) fn read_journal(&self) -> Result<(Option<Vec<u8>>, Vec<String>), ObjectError> {
        let names = self.objects.list(&self.journal_prefix())?;
        if names.first() != Some(&self.journal_name(0)) {
            return Ok((None, names));
        }
        let mut text = Vec::new();
        for name in &names {
            match self.objects.get(name)? {
                Some(o) => {
                    text.extend_from_slice(&o.bytes);
                    if !text.ends_with(b"\n") {
                        text.push(b'\n');
                    }
                }
                // Removed while it was listed: the journal is being removed, which only ever
                // follows the save of the state that holds its steps.
                None => return Ok((None, names)),
            }
        }
        Ok((Some(text), names))
    }

    /// Removes the journal's objects, the header first.
    pub(crate) fn remove_journal(&self, names: &[String]) -> Result<(), ObjectError> {
        for name in names {
            self.objects.delete(name, None)?;
        }
        Ok(())
    }

    /// Every journal object now there, the header first.
    pub(crate) fn journal_names(&self) -> Result<Vec<String>, ObjectError> {
        self.objects.list(&self.journal_prefix())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A bucket in memory, with S3's conditional writes.
    #[derive(Debug, Default)]
    pub(crate) struct Bucket {
        pub objects: Mutex<BTreeMap<String, (Vec<u8>, String)>>,
        pub versioned: bool,
        pub puts: std::sync::atomic::AtomicUsize,
        /// The next put is carried out, then answered 412, as the SDK's retry of a write
        /// whose answer was lost meets it.
        pub lose_next_answer: std::sync::atomic::AtomicBool,
        /// GetBucketVersioning is denied (AccessDenied).
        pub versioning_denied: bool,
    }

    impl Objects for Bucket {
        fn url(&self, name: &str) -> String {
            format!("s3://test/{name}")
        }
        fn get(&self, name: &str) -> Result<Option<Object>, ObjectError> {
            Ok(self.objects.lock().unwrap().get(name).map(|(b, e)| Object {
                bytes: b.clone(),
                etag: e.clone(),
            }))
        }
        fn head(&self, name: &str) -> Result<Option<String>, ObjectError> {
            Ok(self
                .objects
                .lock()
                .unwrap()
                .get(name)
                .map(|(_, e)| e.clone()))
        }
        fn put(&self, name: &str, bytes: Vec<u8>, when: Condition) -> Result<Outcome, ObjectError> {
            let mut m = self.objects.lock().unwrap();
            let ok = match (&when, m.get(name)) {
                (Condition::Always, _) => true,
                (Condition::Absent, found) => found.is_none(),
                (Condition::Matches(e), Some((_, now))) => e == now,
                (Condition::Matches(_), None) => false,
            };
            if !ok {
                return Ok(Outcome::Refused);
            }
            let n = self.puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let etag = format!("\"{n}\"");
            m.insert(name.to_string(), (bytes, etag.clone()));
            if self
                .lose_next_answer
                .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                return Ok(Outcome::Refused);
            }
            Ok(Outcome::Done(etag))
        }
        fn delete(&self, name: &str, if_match: Option<&str>) -> Result<Outcome, ObjectError> {
            let mut m = self.objects.lock().unwrap();
            if let (Some(want), Some((_, now))) = (if_match, m.get(name)) {
                if want != now {
                    return Ok(Outcome::Refused);
                }
            }
            m.remove(name);
            Ok(Outcome::Done(String::new()))
        }
        fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
            Ok(self
                .objects
                .lock()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect())
        }
        fn versioned(&self) -> Result<bool, ObjectError> {
            if self.versioning_denied {
                return Err(ObjectError {
                    call: "GetBucketVersioning",
                    url: "s3://test".into(),
                    message: "HTTP 403 AccessDenied".into(),
                });
            }
            Ok(self.versioned)
        }
    }
}

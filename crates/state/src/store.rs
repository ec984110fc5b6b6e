//! Where a stack's state lives: a file, or objects in a bucket ([`Remote`]). The engine and
//! the binary go through [`Store`]; the file functions of this crate stay for the file case.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::journal::{self, Journal};
use crate::remote::Remote;
use crate::{
    force_unlock, lock_path, parse, release_if, to_bytes, write, Error, Held, Lock, Released, State,
};

/// Where a stack's state lives.
#[derive(Debug, Clone)]
pub enum Store {
    /// A state file (with its lock, journal and backup beside it).
    File(PathBuf),
    /// A state object in a bucket (with its lock, journal and, without versioning, backup
    /// objects beside it).
    Remote(Arc<Remote>),
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Store::File(p) => write!(f, "{}", p.display()),
            Store::Remote(r) => f.write_str(&r.url()),
        }
    }
}

impl Store {
    /// The state file, for a state kept in one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Store::File(p) => Some(p),
            Store::Remote(_) => None,
        }
    }

    /// How messages name the state: its path or URL.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }

    /// How messages name its lock.
    pub fn lock_name(&self) -> String {
        match self {
            Store::File(p) => lock_path(p).display().to_string(),
            Store::Remote(r) => r.objects().url(&r.lock_name()),
        }
    }

    /// The state as it stands, a journal folded in; writes nothing (see [`crate::load`]).
    pub fn load(&self, stack: &str) -> Result<Option<State>, Error> {
        match self {
            Store::File(p) => crate::load(p, stack),
            Store::Remote(r) => Ok(remote_folded(r, stack)?.map(|(s, _)| s)),
        }
    }

    /// Writes `state` with its serial bumped.
    pub fn save(&self, state: &mut State) -> Result<(), Error> {
        state.serial += 1;
        self.write(state)
    }

    /// Writes `state` as it is (`state push`). A state kept in a bucket is written only over
    /// the version this process read: a write in between is [`Error::Conflict`].
    pub fn write(&self, state: &State) -> Result<(), Error> {
        match self {
            Store::File(p) => write(p, state),
            Store::Remote(r) => remote_write(r, state),
        }
    }

    /// Whether a state has been written there.
    pub fn exists(&self) -> Result<bool, Error> {
        match self {
            Store::File(p) => Ok(p.exists()),
            Store::Remote(r) => Ok(r.objects().head(r.key())?.is_some()),
        }
    }

    /// Takes the lock, or fails at once naming its holder.
    pub fn lock(&self, operation: &str) -> Result<Lock, Error> {
        match self {
            Store::File(p) => Lock::acquire(p, operation),
            Store::Remote(r) => Lock::acquire_remote(r, operation),
        }
    }

    /// Removes a stale lock, only if its id is `id`.
    pub fn force_unlock(&self, id: &str) -> Result<Released, Error> {
        match self {
            Store::File(p) => force_unlock(p, id),
            Store::Remote(r) => {
                let name = r.lock_name();
                let found = r.objects().get(&name)?;
                let url = r.objects().url(&name);
                let held = found
                    .as_ref()
                    .map_or(Held::Free, |o| crate::held_in(&o.bytes));
                let released = release_if(held, id, &url)?;
                let etag = found.map(|o| o.etag);
                match r.objects().delete(&name, etag.as_deref())? {
                    crate::Outcome::Done(_) => Ok(released),
                    crate::Outcome::Refused => Err(Error::NoSuchLock {
                        path: PathBuf::from(url),
                        id: id.to_string(),
                        actual: "taken again while it was being removed".into(),
                    }),
                }
            }
        }
    }

    /// Starts the journal of an apply (see [`Journal::begin`]).
    pub fn begin_journal(&self, state: &mut State) -> Result<Journal, Error> {
        Journal::begin_in(self, state)
    }
}

/// The remote state with its journal folded in, and whether the fold changed it (`None`
/// without a journal); `None` when there is no state.
pub(crate) fn remote_folded(
    r: &Remote,
    stack: &str,
) -> Result<Option<(State, Option<bool>)>, Error> {
    let path = PathBuf::from(r.url());
    // The state and its journal read while nobody wrote the state in between (an apply
    // saving and removing its journal): read again otherwise.
    let mut tries = 0;
    let (bytes, journal) = loop {
        let bytes = r.read()?;
        let (journal, _) = r.read_journal()?;
        tries += 1;
        if r.unchanged()? || tries == 5 {
            break (bytes, journal);
        }
    };
    let saved = match bytes.map(|b| parse(&path, &b, stack)).transpose() {
        // The file's advice (its `.bak`) fits only a bucket without versioning.
        Err(Error::Corrupt {
            line,
            column,
            source,
            ..
        }) => {
            return Err(Error::RemoteCorrupt {
                url: r.url(),
                line,
                column,
                versioned: r.versioned(),
                source,
            })
        }
        saved => saved?,
    };
    let left = journal
        .map(|j| journal::parse(&PathBuf::from(format!("{}.journal/", r.url())), &j))
        .transpose()?;
    match (saved, left) {
        (saved, None) => Ok(saved.map(|s| (s, None))),
        (None, Some(_)) => Err(Error::JournalWithoutState {
            path: PathBuf::from(format!("{}.journal/", r.url())),
        }),
        (Some(saved), Some(left)) => {
            let state = left.fold(&saved)?;
            let changed = state != saved;
            Ok(Some((state, Some(changed))))
        }
    }
}

/// Writes a remote state over the version read; refused, this run's state is kept in a file
/// of the working directory and the error says where.
pub(crate) fn remote_write(r: &Remote, state: &State) -> Result<(), Error> {
    let why = if !r.still_held()? {
        "this run's lock was removed while it ran (force-unlock)"
    } else if r.write(to_bytes(state))? {
        return Ok(());
    } else {
        "someone else wrote the state since this run read it"
    };
    let kept = r.refused_path(&state.stack);
    write(&kept, state)?;
    Err(Error::Conflict {
        at: r.url(),
        why,
        serial: state.serial,
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::tests::Bucket;
    use livestack_model::Address;
    use livestack_plan::PriorResource;

    fn store(bucket: &Arc<Bucket>) -> Store {
        Store::Remote(Arc::new(Remote::new(bucket.clone(), "team/imday.json")))
    }

    fn store_keeping_in(bucket: &Arc<Bucket>, dir: &Path) -> Store {
        let r = Remote::new(bucket.clone(), "team/imday.json").keep_refused_in(dir);
        Store::Remote(Arc::new(r))
    }

    fn bucket_versioned(versioned: bool) -> Arc<Bucket> {
        Arc::new(Bucket {
            versioned,
            ..Default::default()
        })
    }

    fn names(bucket: &Bucket) -> Vec<String> {
        bucket.objects.lock().unwrap().keys().cloned().collect()
    }

    fn resource(id: &str) -> PriorResource {
        serde_json::from_value(serde_json::json!({"id": id, "applied": null})).unwrap()
    }

    fn addr(a: &str) -> Address {
        Address::parse(a).unwrap()
    }

    #[test]
    fn a_corrupt_remote_state_points_at_the_backup_the_bucket_keeps() {
        for versioned in [false, true] {
            let bucket = bucket_versioned(versioned);
            let at = store(&bucket);
            at.save(&mut State::new("imday")).unwrap();
            at.save(&mut State::new("imday")).unwrap();
            let truncated = {
                let objects = bucket.objects.lock().unwrap();
                let (bytes, _) = &objects["team/imday.json"];
                bytes[..bytes.len() / 2].to_vec()
            };
            bucket
                .objects
                .lock()
                .unwrap()
                .insert("team/imday.json".into(), (truncated, "\"garbled\"".into()));
            let e = store(&bucket).load("imday").unwrap_err().to_string();
            assert!(
                e.starts_with("s3://test/team/imday.json: the state is corrupt"),
                "{e}"
            );
            // A versioned bucket has no `.bak` object to restore from (convergence suite).
            let advice = if versioned {
                "earlier version"
            } else {
                ".bak object"
            };
            assert!(e.contains(advice), "versioned: {versioned}: {e}");
            assert_eq!(e.contains(".bak"), !versioned, "{e}");
        }
    }

    #[test]
    fn a_remote_state_round_trips_with_a_backup_only_without_versioning() {
        for versioned in [false, true] {
            let bucket = bucket_versioned(versioned);
            let at = store(&bucket);
            assert!(at.load("imday").unwrap().is_none());
            let mut s = State::new("imday");
            at.save(&mut s).unwrap();
            at.save(&mut s).unwrap();
            let back = store(&bucket).load("imday").unwrap().unwrap();
            assert_eq!((back.serial, back.lineage.clone()), (2, s.lineage.clone()));
            let has_bak = names(&bucket).contains(&"team/imday.json.bak".to_string());
            assert_eq!(has_bak, !versioned, "versioned: {versioned}");
            assert_eq!(at.to_string(), "s3://test/team/imday.json");
        }
    }

    #[test]
    fn a_write_over_a_version_someone_else_replaced_is_refused_and_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Arc::new(Bucket::default());
        let mut s = State::new("imday");
        store(&bucket).save(&mut s).unwrap();
        // Two processes read serial 1.
        let (a, b) = (store(&bucket), store_keeping_in(&bucket, dir.path()));
        let mut sa = a.load("imday").unwrap().unwrap();
        let mut sb = b.load("imday").unwrap().unwrap();
        sa.prior
            .resources
            .insert(addr("medialive_input.a"), resource("1"));
        a.save(&mut sa).unwrap();
        sb.prior
            .resources
            .insert(addr("medialive_input.b"), resource("2"));
        let e = b.save(&mut sb).unwrap_err();
        assert!(matches!(e, Error::Conflict { .. }), "{e}");
        assert!(
            e.to_string().contains("someone else wrote the state"),
            "{e}"
        );
        // Nothing lost: the other write stands, and this one is in the kept file.
        let now = store(&bucket).load("imday").unwrap().unwrap();
        assert!(now.prior.resources.contains_key(&addr("medialive_input.a")));
        assert!(!now.prior.resources.contains_key(&addr("medialive_input.b")));
        let kept = crate::load(&dir.path().join("imday.errored.json"), "imday")
            .unwrap()
            .unwrap();
        assert!(kept
            .prior
            .resources
            .contains_key(&addr("medialive_input.b")));
    }

    #[test]
    fn the_lock_object_admits_one_holder_and_names_it() {
        let bucket = Arc::new(Bucket::default());
        let first = store(&bucket).lock("apply").unwrap();
        let e = store(&bucket).lock("destroy").unwrap_err();
        assert_eq!(e.lock_id(), Some(first.info.id.as_str()));
        assert!(e.to_string().contains("locked by"), "{e}");
        assert!(
            e.to_string().starts_with("s3://test/team/imday.json:"),
            "{e}"
        );
        // force-unlock takes only the holder's id.
        assert!(store(&bucket).force_unlock("nope").is_err());
        store(&bucket).force_unlock(&first.info.id).unwrap();
        let second = store(&bucket).lock("apply").unwrap();
        // The first holder, dropped late, does not remove the second's lock.
        drop(first);
        assert!(names(&bucket).contains(&"team/imday.json.lock".to_string()));
        drop(second);
        assert!(!names(&bucket).contains(&"team/imday.json.lock".to_string()));
    }

    #[test]
    fn a_journal_left_by_a_killed_apply_is_folded_and_removed_under_the_lock() {
        let bucket = Arc::new(Bucket::default());
        let at = store(&bucket);
        let lock = at.lock("apply").unwrap();
        let mut s = lock
            .load("imday")
            .unwrap()
            .unwrap_or_else(|| State::new("imday"));
        let mut j = at.begin_journal(&mut s).unwrap();
        s.prior
            .resources
            .insert(addr("medialive_input.a"), resource("1"));
        j.append(&s.prior, &[addr("medialive_input.a")]).unwrap();
        s.prior
            .resources
            .insert(addr("medialive_input.b"), resource("2"));
        j.append(&s.prior, &[addr("medialive_input.b")]).unwrap();
        // Killed: neither the journal closed nor the lock released.
        std::mem::forget(j);
        std::mem::forget(lock);
        let journal = |b: &Bucket| names(b).iter().filter(|n| n.contains(".journal/")).count();
        assert_eq!(journal(&bucket), 3);
        let seen = store(&bucket).load("imday").unwrap().unwrap();
        assert_eq!(seen.prior.resources.len(), 2, "a reader sees the steps");
        let id = store(&bucket)
            .lock("apply")
            .unwrap_err()
            .lock_id()
            .unwrap()
            .to_string();
        store(&bucket).force_unlock(&id).unwrap();
        let again = store(&bucket);
        let lock = again.lock("apply").unwrap();
        let folded = lock.load("imday").unwrap().unwrap();
        assert_eq!(folded.prior.resources.len(), 2);
        assert_eq!(journal(&bucket), 0);
        let mut folded = folded;
        let j = again.begin_journal(&mut folded).unwrap();
        j.close(&mut folded).unwrap();
        assert_eq!(journal(&bucket), 0);
        assert_eq!(
            store(&bucket).load("imday").unwrap().unwrap().prior,
            folded.prior
        );
    }

    #[test]
    fn entries_left_by_a_removal_cut_short_are_ignored() {
        let bucket = Arc::new(Bucket::default());
        let at = store(&bucket);
        let mut s = State::new("imday");
        let mut j = at.begin_journal(&mut s).unwrap();
        s.prior
            .resources
            .insert(addr("medialive_input.a"), resource("1"));
        j.append(&s.prior, &[addr("medialive_input.a")]).unwrap();
        at.save(&mut s).unwrap();
        std::mem::forget(j);
        // The close removed the header, then was killed.
        bucket
            .objects
            .lock()
            .unwrap()
            .remove("team/imday.json.journal/00000000");
        let back = store(&bucket).load("imday").unwrap().unwrap();
        assert_eq!(back.prior, s.prior);
        let lock = store(&bucket).lock("apply").unwrap();
        lock.load("imday").unwrap();
        assert!(!names(&bucket).iter().any(|n| n.contains(".journal/")));
    }

    #[test]
    fn a_conditional_write_retried_after_its_answer_was_lost_is_not_a_refusal() {
        let bucket = Arc::new(Bucket::default());
        let at = store(&bucket);
        // The lock, the state and a journal entry: each lands, its answer is lost, and the
        // retry meets it (412).
        bucket
            .lose_next_answer
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let lock = at.lock("apply").unwrap();
        let mut s = State::new("imday");
        at.save(&mut s).unwrap();
        bucket
            .lose_next_answer
            .store(true, std::sync::atomic::Ordering::SeqCst);
        at.save(&mut s).unwrap();
        let mut j = at.begin_journal(&mut s).unwrap();
        s.prior
            .resources
            .insert(addr("medialive_input.a"), resource("1"));
        bucket
            .lose_next_answer
            .store(true, std::sync::atomic::Ordering::SeqCst);
        j.append(&s.prior, &[addr("medialive_input.a")]).unwrap();
        j.close(&mut s).unwrap();
        drop(lock);
        assert_eq!(names(&bucket), ["team/imday.json", "team/imday.json.bak"]);
        assert_eq!(
            store(&bucket).load("imday").unwrap().unwrap().prior,
            s.prior
        );
    }

    #[test]
    fn a_run_whose_lock_was_forced_writes_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Arc::new(Bucket::default());
        let at = store_keeping_in(&bucket, dir.path());
        let lock = at.lock("apply").unwrap();
        let mut s = State::new("imday");
        let mut j = at.begin_journal(&mut s).unwrap();
        // Someone forces the lock and takes it.
        store(&bucket).force_unlock(&lock.info.id).unwrap();
        let other = store(&bucket).lock("apply").unwrap();
        s.prior
            .resources
            .insert(addr("medialive_input.a"), resource("1"));
        let e = j
            .append(&s.prior, &[addr("medialive_input.a")])
            .unwrap_err();
        assert!(matches!(e, Error::LockLost { .. }), "{e}");
        let e = j.close(&mut s).unwrap_err();
        assert!(e.to_string().contains("this run's lock was removed"), "{e}");
        assert!(dir.path().join("imday.errored.json").exists());
        // The other holder's lock and the state are as they were.
        drop(lock);
        assert!(names(&bucket).contains(&"team/imday.json.lock".to_string()));
        drop(other);
        let there = store(&bucket).load("imday").unwrap().unwrap();
        assert!(there.prior.resources.is_empty());
    }

    #[test]
    fn a_reader_meeting_a_journal_being_removed_reads_the_saved_state() {
        let bucket = Arc::new(Bucket::default());
        let at = store(&bucket);
        let mut s = State::new("imday");
        let mut j = at.begin_journal(&mut s).unwrap();
        s.prior
            .resources
            .insert(addr("medialive_input.a"), resource("1"));
        j.append(&s.prior, &[addr("medialive_input.a")]).unwrap();
        at.save(&mut s).unwrap();
        std::mem::forget(j);
        // A reader lists the journal, then the close removes an entry before it is read.
        struct Vanishing(Arc<Bucket>);
        impl std::fmt::Debug for Vanishing {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("Vanishing")
            }
        }
        impl crate::Objects for Vanishing {
            fn url(&self, name: &str) -> String {
                self.0.url(name)
            }
            fn get(&self, name: &str) -> Result<Option<crate::Object>, crate::ObjectError> {
                if name.ends_with("00000001") {
                    self.0.objects.lock().unwrap().remove(name);
                }
                self.0.get(name)
            }
            fn head(&self, name: &str) -> Result<Option<String>, crate::ObjectError> {
                self.0.head(name)
            }
            fn put(
                &self,
                name: &str,
                bytes: Vec<u8>,
                when: crate::Condition,
            ) -> Result<crate::Outcome, crate::ObjectError> {
                self.0.put(name, bytes, when)
            }
            fn delete(
                &self,
                name: &str,
                m: Option<&str>,
            ) -> Result<crate::Outcome, crate::ObjectError> {
                self.0.delete(name, m)
            }
            fn list(&self, prefix: &str) -> Result<Vec<String>, crate::ObjectError> {
                self.0.list(prefix)
            }
            fn versioned(&self) -> Result<bool, crate::ObjectError> {
                self.0.versioned()
            }
        }
        let reader = Store::Remote(Arc::new(Remote::new(
            Arc::new(Vanishing(bucket.clone())),
            "team/imday.json",
        )));
        assert_eq!(reader.load("imday").unwrap().unwrap().prior, s.prior);
    }

    #[test]
    fn a_role_not_allowed_to_read_the_versioning_keeps_a_backup() {
        let bucket = Arc::new(Bucket {
            versioned: true,
            versioning_denied: true,
            ..Default::default()
        });
        let at = store(&bucket);
        let mut s = State::new("imday");
        at.save(&mut s).unwrap();
        at.save(&mut s).unwrap();
        assert!(names(&bucket).contains(&"team/imday.json.bak".to_string()));
    }
}

//! The journal of an apply in progress: one line per step that changed the state, appended
//! and synced as the step finishes, so that an apply writes the whole state file once at its
//! end instead of after every step.
//!
//! `<state>.journal`, mode 0600. Its first line binds it to the state it continues:
//! `{"livestack_journal":1,"lineage":"…","serial":7}`; each other line holds what one step
//! changed: `{"set":{"address":{…}},"removed":["address"],"deposed":[…],"released":[…]}`
//! (each member only when there is something to say; `deposed` and `released` are the whole
//! lists, given when they changed). Folding the lines in order onto that state gives the
//! state the apply had in memory.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use livestack_model::Address;
use livestack_plan::{Deposed, Prior, PriorResource};
use serde::{Deserialize, Serialize};

use crate::remote::Remote;
use crate::{sibling, sync_dir, Condition, Error, Outcome, State, Store};

/// The journal format this build reads and writes.
const JOURNAL_VERSION: u32 = 1;

/// The journal of the state at `state_path`.
pub fn journal_path(state_path: &Path) -> PathBuf {
    sibling(state_path, ".journal")
}

/// An open journal: what the steps of one apply changed, each line synced to disk before the
/// next step is recorded. [`Journal::close`] saves the state and removes it; a journal left
/// behind (a crash, a kill) is folded into the state by the next [`crate::load`].
#[derive(Debug)]
pub struct Journal {
    /// How messages name it.
    path: PathBuf,
    store: Store,
    sink: Sink,
    /// The lists as the journal last gave them (as in the state it continues at first).
    deposed: Vec<Deposed>,
    released: Vec<Deposed>,
    /// A write failed part-way: a line after a torn one would make the journal corrupt.
    broken: bool,
}

/// Where the lines go.
#[derive(Debug)]
enum Sink {
    File(File),
    /// One object per line; `next` is the number of the next.
    Remote {
        remote: Arc<Remote>,
        next: u64,
    },
}

impl Journal {
    /// Starts the journal of `state`, as it was last loaded or saved at `state_path` (a state
    /// never saved is saved first: the journal needs its lineage and hash key on disk). Takes
    /// the place of no other journal: one already there is an error (fold it by loading).
    pub fn begin(state_path: &Path, state: &mut State) -> Result<Journal, Error> {
        Journal::begin_in(&Store::File(state_path.to_path_buf()), state)
    }

    /// [`Journal::begin`] for a state wherever it is kept.
    pub(crate) fn begin_in(store: &Store, state: &mut State) -> Result<Journal, Error> {
        if !store.exists()? {
            store.save(state)?;
        }
        let header = Header {
            livestack_journal: JOURNAL_VERSION,
            lineage: state.lineage.clone(),
            serial: state.serial,
        };
        let (path, sink) = match store {
            Store::File(state_path) => {
                let path = journal_path(state_path);
                let werr = |source| Error::JournalWrite {
                    path: path.clone(),
                    source,
                };
                let mut o = OpenOptions::new();
                o.append(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    o.mode(0o600);
                }
                let mut file = o.open(&path).map_err(werr)?;
                file.write_all(line(&header).as_bytes())
                    .and_then(|_| file.sync_data())
                    .map_err(werr)?;
                sync_dir(&path);
                (path, Sink::File(file))
            }
            Store::Remote(remote) => {
                let at = format!("{}.journal/", remote.url());
                let there = || Error::JournalThere { at: at.clone() };
                let left = remote.journal_names()?;
                if left.first() == Some(&remote.journal_name(0)) {
                    return Err(there());
                }
                // Entries without a header: what a removal cut short (or a run whose lock was
                // forced) left; nothing reads them.
                remote.remove_journal(&left)?;
                if !remote.still_held()? {
                    return Err(Error::LockLost { at: remote.url() });
                }
                let put = remote.put(
                    &remote.journal_name(0),
                    line(&header).into_bytes(),
                    Condition::Absent,
                )?;
                if put == Outcome::Refused {
                    return Err(there());
                }
                let sink = Sink::Remote {
                    remote: remote.clone(),
                    next: 1,
                };
                (PathBuf::from(at), sink)
            }
        };
        Ok(Journal {
            path,
            store: store.clone(),
            sink,
            deposed: state.prior.deposed.clone(),
            released: state.prior.released.clone(),
            broken: false,
        })
    }

    /// Records what a step changed: the value in `prior` of each address of `changed` (its
    /// removal when `prior` has none), and the deposed and released lists if they changed
    /// since the last line. Synced before it returns.
    pub fn append(&mut self, prior: &Prior, changed: &[Address]) -> Result<(), Error> {
        let mut entry = Entry::default();
        for a in changed {
            match prior.resources.get(a) {
                Some(r) => {
                    entry.set.insert(a.clone(), r.clone());
                }
                None => entry.removed.push(a.clone()),
            }
        }
        if prior.deposed != self.deposed {
            entry.deposed = Some(prior.deposed.clone());
        }
        if prior.released != self.released {
            entry.released = Some(prior.released.clone());
        }
        if entry == Entry::default() {
            return Ok(());
        }
        if self.broken {
            return Err(Error::JournalWrite {
                path: self.path.clone(),
                source: std::io::Error::other("an earlier write to the journal failed"),
            });
        }
        let text = line(&entry);
        let written = match &mut self.sink {
            Sink::File(file) => file
                .write_all(text.as_bytes())
                .and_then(|_| file.sync_data())
                .map_err(|source| Error::JournalWrite {
                    path: self.path.clone(),
                    source,
                }),
            Sink::Remote { remote, next } => {
                let name = remote.journal_name(*next);
                let put = match remote.still_held() {
                    Ok(true) => remote.put(&name, text.into_bytes(), Condition::Absent),
                    Ok(false) => {
                        self.broken = true;
                        return Err(Error::LockLost { at: remote.url() });
                    }
                    Err(e) => Err(e),
                };
                match put {
                    Ok(Outcome::Done(_)) => {
                        *next += 1;
                        Ok(())
                    }
                    Ok(Outcome::Refused) => Err(Error::JournalWrite {
                        path: self.path.clone(),
                        source: std::io::Error::other(format!(
                            "{} was written by another process",
                            remote.objects().url(&name)
                        )),
                    }),
                    Err(e) => Err(e.into()),
                }
            }
        };
        if let Err(e) = written {
            self.broken = true;
            return Err(e);
        }
        if let Some(d) = entry.deposed {
            self.deposed = d;
        }
        if let Some(r) = entry.released {
            self.released = r;
        }
        Ok(())
    }

    /// Saves `state` (which holds every step recorded, and any since) and removes the journal.
    /// When the save fails the journal stays, for the next load to fold.
    pub fn close(self, state: &mut State) -> Result<(), Error> {
        self.store.save(state)?;
        match self.sink {
            Sink::File(file) => {
                drop(file);
                fs::remove_file(&self.path).map_err(|source| Error::JournalWrite {
                    path: self.path.clone(),
                    source,
                })?;
                sync_dir(&self.path);
            }
            Sink::Remote { remote, .. } => remote.remove_journal(&remote.journal_names()?)?,
        }
        Ok(())
    }
}

/// A journal found beside a state file: its first line, and the lines after it that parse.
#[derive(Debug)]
pub(crate) struct Leftover {
    path: PathBuf,
    /// `None` when even the first line was torn (killed while starting the journal).
    header: Option<Header>,
    entries: Vec<Entry>,
}

/// Reads the journal at `path`; `Ok(None)` when there is none. An unreadable last line is a
/// write cut short by a kill and is dropped; an unreadable line before it is an error.
pub(crate) fn read(path: &Path) -> Result<Option<Leftover>, Error> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse(path, &bytes).map(Some)
}

/// A journal's lines (read from `path`, a file or the URL of its objects).
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Leftover, Error> {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let last = lines.len();
    let mut left = Leftover {
        path: path.to_path_buf(),
        header: None,
        entries: Vec::new(),
    };
    for (i, text) in lines.into_iter().enumerate() {
        let n = i + 1;
        let parsed = if n == 1 {
            serde_json::from_slice(text).map(|h| left.header = Some(h))
        } else {
            serde_json::from_slice(text).map(|e| left.entries.push(e))
        };
        match parsed {
            Ok(()) => {}
            Err(_) if n == last => break,
            Err(source) => {
                return Err(Error::JournalCorrupt {
                    path: path.to_path_buf(),
                    line: n,
                    source,
                })
            }
        }
    }
    if let Some(h) = &left.header {
        if h.livestack_journal > JOURNAL_VERSION {
            return Err(Error::JournalTooNew {
                path: path.to_path_buf(),
                found: h.livestack_journal,
            });
        }
    }
    Ok(left)
}

impl Leftover {
    /// `state` with the journal's lines folded in, its serial bumped when they change it, as
    /// saving it will. A journal one serial behind the state is the leftover of a close cut short
    /// between saving and removing it: the state is returned as it is. A journal of another
    /// lineage or serial is an error.
    pub(crate) fn fold(&self, state: &State) -> Result<State, Error> {
        let Some(h) = &self.header else {
            return Ok(state.clone());
        };
        let mut folded = state.clone();
        for e in &self.entries {
            e.apply(&mut folded.prior);
        }
        if h.lineage == state.lineage {
            if h.serial == state.serial {
                if !self.entries.is_empty() {
                    folded.serial += 1;
                }
                return Ok(folded);
            }
            // Saved once since the journal began: only the close of its own run saves the state
            // while its journal is there, with every step the journal records (and those whose
            // lines a failed write lost), so what is left of the journal is out of date.
            if h.serial + 1 == state.serial {
                return Ok(state.clone());
            }
        }
        Err(Error::OtherJournal {
            path: self.path.clone(),
            lineage: h.lineage.clone(),
            serial: h.serial,
            state_lineage: state.lineage.clone(),
            state_serial: state.serial,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    livestack_journal: u32,
    lineage: String,
    serial: u64,
}

/// What one step changed.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Entry {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    set: BTreeMap<Address, PriorResource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removed: Vec<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deposed: Option<Vec<Deposed>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    released: Option<Vec<Deposed>>,
}

impl Entry {
    fn apply(&self, prior: &mut Prior) {
        for (a, r) in &self.set {
            prior.resources.insert(a.clone(), r.clone());
        }
        for a in &self.removed {
            prior.resources.remove(a);
        }
        if let Some(d) = &self.deposed {
            prior.deposed = d.clone();
        }
        if let Some(r) = &self.released {
            prior.released = r.clone();
        }
    }
}

/// One line of JSON (serde_json escapes the newlines inside strings).
fn line(v: &impl Serialize) -> String {
    serde_json::to_string(v).expect("journal lines serialize") + "\n"
}

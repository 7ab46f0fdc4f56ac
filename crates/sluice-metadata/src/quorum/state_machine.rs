//! The metadata state machine: applies committed Raft entries to the `MetadataImage` and
//! publishes each new image on a watch channel; builds, stores and installs snapshots.
//!
//! A snapshot is the image as records (`MetadataImage::to_records`) plus its `last_offset`,
//! bincode-encoded (`SnapshotBody`). It is stored in `snapshot.bin` together with openraft's
//! `SnapshotMeta` (last included log id, membership) and loaded on open, so a restarted node
//! starts from the snapshot and openraft replays only the log after it.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::store::{read_small_file, write_small_file};
use super::{Applied, NodeId, TypeConfig};
use crate::image::MetadataImage;
use crate::records::MetadataRecord;
use openraft::BasicNode;

const SNAPSHOT_FILE: &str = "snapshot.bin";

#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    last_offset: i64,
    records: Vec<Vec<u8>>,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

/// What the snapshot triggers of `Quorum` look at (Kafka's
/// `metadata.log.max.record.bytes.between.snapshots` and
/// `metadata.log.max.snapshot.interval.ms`): record bytes applied since the last snapshot and
/// when the last snapshot was taken or installed.
#[derive(Clone)]
pub struct SnapshotProgress {
    pub bytes_since: Arc<AtomicU64>,
    pub taken_at: Arc<Mutex<Instant>>,
}

impl SnapshotProgress {
    fn new() -> Self {
        SnapshotProgress {
            bytes_since: Arc::new(AtomicU64::new(0)),
            taken_at: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// A snapshot covering `covered` of the counted bytes was written.
    fn taken(&self, covered: u64) {
        let _ = self
            .bytes_since
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some(b.saturating_sub(covered))
            });
        *self.taken_at.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }
}

pub struct StateMachine {
    dir: PathBuf,
    progress: SnapshotProgress,
    image: MetadataImage,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    current: Arc<Mutex<Option<StoredSnapshot>>>,
    publish: watch::Sender<Arc<MetadataImage>>,
}

fn sm_err(verb: ErrorVerb, e: impl ToString) -> StorageError<NodeId> {
    StorageError::from_io_error(
        ErrorSubject::StateMachine,
        verb,
        io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
    )
}

fn image_from_body(data: &[u8]) -> io::Result<MetadataImage> {
    let body: SnapshotBody =
        bincode::deserialize(data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut image = MetadataImage::empty();
    for (i, bytes) in body.records.iter().enumerate() {
        let record = MetadataRecord::decode(bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        image.apply(i as i64, &record);
    }
    image.last_offset = body.last_offset;
    Ok(image)
}

impl StateMachine {
    /// Loads the stored snapshot (if any) and returns the machine and a receiver of images.
    pub fn open(
        dir: &Path,
    ) -> io::Result<(
        StateMachine,
        watch::Receiver<Arc<MetadataImage>>,
        SnapshotProgress,
    )> {
        let stored: Option<StoredSnapshot> = read_small_file(dir, SNAPSHOT_FILE)?;
        let (image, last_applied, membership) = match &stored {
            Some(s) => (
                image_from_body(&s.data)?,
                s.meta.last_log_id,
                s.meta.last_membership.clone(),
            ),
            None => (MetadataImage::empty(), None, StoredMembership::default()),
        };
        let (publish, rx) = watch::channel(Arc::new(image.clone()));
        let progress = SnapshotProgress::new();
        Ok((
            StateMachine {
                dir: dir.to_path_buf(),
                progress: progress.clone(),
                image,
                last_applied,
                membership,
                current: Arc::new(Mutex::new(stored)),
                publish,
            },
            rx,
            progress,
        ))
    }

    fn install(&mut self, stored: StoredSnapshot) -> io::Result<()> {
        let image = image_from_body(&stored.data)?;
        write_small_file(&self.dir, SNAPSHOT_FILE, &stored)?;
        self.image = image;
        self.last_applied = stored.meta.last_log_id;
        self.membership = stored.meta.last_membership.clone();
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored);
        let counted = self.progress.bytes_since.load(Ordering::Acquire);
        self.progress.taken(counted);
        self.publish.send_replace(Arc::new(self.image.clone()));
        Ok(())
    }
}

/// Builds a snapshot of the state at the moment `get_snapshot_builder` was called.
pub struct Builder {
    dir: PathBuf,
    image: MetadataImage,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    current: Arc<Mutex<Option<StoredSnapshot>>>,
    progress: SnapshotProgress,
    /// Counted record bytes this snapshot covers (applied before the builder was made).
    covered: u64,
}

impl RaftSnapshotBuilder<TypeConfig> for Builder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let body = SnapshotBody {
            last_offset: self.image.last_offset,
            records: self
                .image
                .to_records()
                .iter()
                .map(MetadataRecord::encode)
                .collect(),
        };
        let data = bincode::serialize(&body).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        let snapshot_id = match self.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, body.last_offset),
            None => format!("empty-{}", body.last_offset),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot { meta, data };
        write_small_file(&self.dir, SNAPSHOT_FILE, &stored).map_err(|e| {
            StorageError::from_io_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e)
        })?;
        tracing::info!(
            snapshot = %stored.meta.snapshot_id,
            bytes = stored.data.len(),
            "metadata snapshot written"
        );
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored.clone());
        self.progress.taken(self.covered);
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Builder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let mut changed = false;
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(batch) => {
                    let size: usize = batch.records.iter().map(Vec::len).sum();
                    self.progress
                        .bytes_since
                        .fetch_add(size as u64, Ordering::AcqRel);
                    for bytes in &batch.records {
                        match MetadataRecord::decode(bytes) {
                            Ok(record) => {
                                let offset = self.image.last_offset + 1;
                                self.image.apply(offset, &record);
                            }
                            // Every node runs the same decoder over the same bytes, so skipping
                            // keeps the images identical; it means a newer node wrote a record
                            // kind this version does not know.
                            Err(e) => {
                                tracing::error!(log_id = %entry.log_id, error = %e, "skipping undecodable metadata record");
                                self.image.last_offset += 1;
                            }
                        }
                    }
                    changed = true;
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                }
            }
            out.push(Applied {
                last_offset: self.image.last_offset,
            });
        }
        if changed {
            self.publish.send_replace(Arc::new(self.image.clone()));
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        Builder {
            dir: self.dir.clone(),
            image: self.image.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            current: self.current.clone(),
            progress: self.progress.clone(),
            covered: self.progress.bytes_since.load(Ordering::Acquire),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        tracing::info!(snapshot = %meta.snapshot_id, "installing metadata snapshot from the leader");
        self.install(stored).map_err(|e| {
            StorageError::from_io_error(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Write,
                e,
            )
        })
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(current.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

//! Cluster metadata: the image every broker serves from, the metadata records that change it,
//! the local metadata log they persist in, and the controller logic that turns admin requests
//! into records (validation, replica placement). Today a single node is its own controller;
//! the Raft quorum (issue 4) replaces `MetadataLog` as the place records are committed.

pub mod cluster;
pub mod controller;
pub mod decommission;
pub mod election;
pub mod image;
pub mod log;
pub mod quorum;
pub mod reassign;
pub mod records;

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

pub use controller::ControllerError;
pub use image::{BrokerRegistration, MetadataImage, PartitionInfo, TopicInfo};
pub use records::{BrokerEndpoint, MetadataRecord};

/// The committed metadata of this node: an append-only record log and the image built from it.
pub struct MetadataStore {
    image: RwLock<Arc<MetadataImage>>,
    log: Mutex<log::MetadataLog>,
}

impl MetadataStore {
    /// Opens the metadata log under `dir` and replays it into the image.
    pub fn open(dir: &Path) -> std::io::Result<MetadataStore> {
        let (log, records) = log::MetadataLog::open(dir)?;
        let mut image = MetadataImage::empty();
        for (i, r) in records.iter().enumerate() {
            image.apply(i as i64, r);
        }
        tracing::info!(
            records = records.len(),
            topics = image.topics.len(),
            path = %log.path().display(),
            "metadata log loaded"
        );
        Ok(MetadataStore {
            image: RwLock::new(Arc::new(image)),
            log: Mutex::new(log),
        })
    }

    /// A consistent snapshot of the current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        match self.image.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Durably appends `records` (fsync) and applies them; blocking — call it off the async
    /// workers. Commits are serialized, so the image always reflects log order.
    pub fn commit(&self, records: Vec<MetadataRecord>) -> std::io::Result<Arc<MetadataImage>> {
        let mut log = match self.log.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if records.is_empty() {
            return Ok(self.image());
        }
        let first = log.append(&records)?;
        let mut next = (*self.image()).clone();
        for (i, r) in records.iter().enumerate() {
            next.apply(first + i as i64, r);
        }
        let next = Arc::new(next);
        match self.image.write() {
            Ok(mut g) => *g = next.clone(),
            Err(p) => *p.into_inner() = next.clone(),
        }
        Ok(next)
    }
}

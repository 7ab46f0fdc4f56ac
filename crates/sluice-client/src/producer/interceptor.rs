//! `ProducerInterceptor`: Java's hook pair — `on_send` may rewrite each record before it is
//! partitioned and batched, `on_acknowledgement` sees every outcome. Interceptors run on the
//! caller's task (on_send) and on the sender task (on_acknowledgement); they must not block.

use super::error::ProducerError;
use super::record::{ProducerRecord, RecordMetadata};

/// Observes (and may change) records on their way through the producer.
pub trait ProducerInterceptor: Send + Sync {
    /// Called in `send` before partitioning; the returned record is the one sent.
    fn on_send(&self, record: ProducerRecord) -> ProducerRecord {
        record
    }

    /// Called once per record with where it landed or why it failed. `metadata` carries the
    /// topic and partition (offset -1) even on failure, when they are known.
    fn on_acknowledgement(&self, metadata: &RecordMetadata, error: Option<&ProducerError>) {
        let _ = (metadata, error);
    }
}

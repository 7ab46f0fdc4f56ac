//! Sluice's wire layer on top of the `kafka-protocol` crate: RecordBatch view/validation/
//! patching, the request guard that makes hostile input safe to decode, and the table of API
//! versions the broker implements. Nothing here does I/O.

pub mod encode;
pub mod guard;
pub mod record_batch;
pub mod versions;

pub use kafka_protocol;

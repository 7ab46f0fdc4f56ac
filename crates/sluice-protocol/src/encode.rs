//! Encoding new records into one v2 RecordBatch (through kafka-protocol's encoder): used by
//! the Rust client's producer and by the broker for its own internal writes
//! (`__consumer_offsets`). Base offset 0, no producer id, CreateTime timestamps.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One record to encode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// CreateTime in ms.
    pub timestamp: i64,
}

/// Encodes `records` as one v2 batch with `compression`; the error names what failed.
pub fn encode_new_batch(records: &[NewRecord], compression: Compression) -> Result<Bytes, String> {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut headers = IndexMap::new();
            for (k, v) in &r.headers {
                headers.insert(StrBytes::from_string(k.clone()), v.clone());
            }
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // offset - sequence must be constant for the encoder to keep one batch;
                // this yields base sequence -1 (NO_SEQUENCE).
                sequence: (i as i32).wrapping_sub(1),
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers,
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        recs.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| format!("encoding record batch: {e}"))?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_batch::BatchHeader;

    #[test]
    fn encodes_one_valid_batch() {
        let recs: Vec<NewRecord> = (0..3)
            .map(|i| NewRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: None,
                headers: vec![("h".into(), None)],
                timestamp: 1000 + i,
            })
            .collect();
        let b = encode_new_batch(&recs, Compression::None).unwrap();
        let h = BatchHeader::parse(&b).unwrap();
        h.validate().unwrap();
        assert_eq!(h.records_count(), 3);
        assert_eq!(h.total_size(), b.len());
        assert_eq!(h.producer_id(), -1);
    }
}

//! Reads the topic list out of a consumer's JoinGroup metadata (Kafka's
//! ConsumerProtocolSubscription, versions 0-3: int16 version, then `topics: []string`, then
//! fields this coordinator does not need). Used to know which topics a "consumer" group is
//! subscribed to (OffsetDelete → GROUP_SUBSCRIBED_TO_TOPIC, offset expiry). The bytes come
//! from clients: a malformed subscription gives an error, never a panic. Newer versions are
//! read like v3 (the topic list stays the first field), as Kafka's ConsumerProtocol does.

use crate::wire::{DecodeError, Reader};

/// The protocol type of groups formed by Kafka consumers.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The subscribed topics of one ConsumerProtocolSubscription.
pub fn subscribed_topics(metadata: &[u8]) -> Result<Vec<String>, DecodeError> {
    let mut r = Reader::new(metadata);
    let version = r.i16()?;
    if version < 0 {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    // Each topic name takes at least its int16 length.
    let count = r.array_len(2)?.ok_or(DecodeError::UnexpectedNull)?;
    let mut topics = Vec::with_capacity(count);
    for _ in 0..count {
        topics.push(r.string()?);
    }
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(version: i16, topics: &[&str], tail: &[u8]) -> Vec<u8> {
        let mut out = version.to_be_bytes().to_vec();
        out.extend((topics.len() as i32).to_be_bytes());
        for t in topics {
            out.extend((t.len() as i16).to_be_bytes());
            out.extend(t.as_bytes());
        }
        out.extend(tail);
        out
    }

    #[test]
    fn reads_topics_of_every_version() {
        // v0: topics + user data (null); v1 adds owned partitions; v2 generation; v3 rack.
        let v0 = encode(0, &["a", "orders"], &(-1i32).to_be_bytes());
        assert_eq!(subscribed_topics(&v0).unwrap(), vec!["a", "orders"]);
        let mut tail = (-1i32).to_be_bytes().to_vec(); // user data null
        tail.extend(0i32.to_be_bytes()); // owned partitions: empty
        tail.extend(7i32.to_be_bytes()); // generation id
        tail.extend((-1i16).to_be_bytes()); // rack null
        let v3 = encode(3, &["t1"], &tail);
        assert_eq!(subscribed_topics(&v3).unwrap(), vec!["t1"]);
        let v9 = encode(9, &["future"], &[1, 2, 3]);
        assert_eq!(subscribed_topics(&v9).unwrap(), vec!["future"]);
    }

    #[test]
    fn hostile_input_is_an_error() {
        assert!(subscribed_topics(&[]).is_err());
        assert!(subscribed_topics(&[0xff, 0xff, 0, 0, 0, 0]).is_err());
        // Claims i32::MAX topics in 6 bytes.
        assert!(subscribed_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).is_err());
        // Topic length beyond the buffer.
        assert!(subscribed_topics(&[0, 0, 0, 0, 0, 1, 0, 50, b'a']).is_err());
        // Null topic list.
        assert!(subscribed_topics(&[0, 1, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}

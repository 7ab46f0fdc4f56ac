//! What the user hands to `send` and gets back: `ProducerRecord` (topic, optional partition,
//! key, value, headers, timestamp), `RecordMetadata` (where it landed) and the `Serializer`
//! trait with byte, string and integer serializers (big-endian, as Java's). Pure data.

use bytes::Bytes;

/// One record header: a key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

/// A record to send. `K`/`V` are `Bytes` for [`super::Producer`], any serializable type for
/// [`super::TypedProducer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord<K = Bytes, V = Bytes> {
    pub topic: String,
    /// `None` = let the partitioner choose.
    pub partition: Option<i32>,
    pub key: Option<K>,
    pub value: Option<V>,
    pub headers: Vec<Header>,
    /// CreateTime in ms since the epoch; `None` = now.
    pub timestamp: Option<i64>,
}

impl<K, V> ProducerRecord<K, V> {
    /// A record with a value and nothing else.
    pub fn new(topic: impl Into<String>, value: impl Into<V>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// A record with neither key nor value (a tombstone needs a key: add one with `key`).
    pub fn empty(topic: impl Into<String>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    pub fn key(mut self, key: impl Into<K>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }

    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value: Some(value.into()),
        });
        self
    }

    pub fn null_header(mut self, key: impl Into<String>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value: None,
        });
        self
    }
}

/// Where an acknowledged record was written (Java's `RecordMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// -1 with acks=0.
    pub offset: i64,
    /// CreateTime given/assigned at send, or the broker's LogAppendTime.
    pub timestamp: i64,
    /// -1 for a null key.
    pub serialized_key_size: i32,
    /// -1 for a null value.
    pub serialized_value_size: i32,
}

/// Turns a `T` into record bytes (Java's `Serializer<T>`); `headers` may be added to.
pub trait Serializer<T: ?Sized>: Send + Sync {
    fn serialize(&self, topic: &str, headers: &mut Vec<Header>, data: &T) -> Bytes;
}

/// Bytes as they are (Java's ByteArraySerializer).
#[derive(Debug, Default, Clone, Copy)]
pub struct BytesSerializer;
/// UTF-8 (Java's StringSerializer).
#[derive(Debug, Default, Clone, Copy)]
pub struct StringSerializer;
/// 4 bytes big-endian (Java's IntegerSerializer).
#[derive(Debug, Default, Clone, Copy)]
pub struct IntegerSerializer;
/// 8 bytes big-endian (Java's LongSerializer).
#[derive(Debug, Default, Clone, Copy)]
pub struct LongSerializer;

impl Serializer<Bytes> for BytesSerializer {
    fn serialize(&self, _: &str, _: &mut Vec<Header>, data: &Bytes) -> Bytes {
        data.clone()
    }
}
impl Serializer<Vec<u8>> for BytesSerializer {
    fn serialize(&self, _: &str, _: &mut Vec<Header>, data: &Vec<u8>) -> Bytes {
        Bytes::copy_from_slice(data)
    }
}
impl Serializer<String> for StringSerializer {
    fn serialize(&self, _: &str, _: &mut Vec<Header>, data: &String) -> Bytes {
        Bytes::copy_from_slice(data.as_bytes())
    }
}
impl Serializer<str> for StringSerializer {
    fn serialize(&self, _: &str, _: &mut Vec<Header>, data: &str) -> Bytes {
        Bytes::copy_from_slice(data.as_bytes())
    }
}
impl Serializer<i32> for IntegerSerializer {
    fn serialize(&self, _: &str, _: &mut Vec<Header>, data: &i32) -> Bytes {
        Bytes::copy_from_slice(&data.to_be_bytes())
    }
}
impl Serializer<i64> for LongSerializer {
    fn serialize(&self, _: &str, _: &mut Vec<Header>, data: &i64) -> Bytes {
        Bytes::copy_from_slice(&data.to_be_bytes())
    }
}

/// The serializer Java would pick for a type, so `TypedProducer::<String, i64>::new` needs no
/// serializer arguments.
pub trait DefaultSerializer: Sized + 'static {
    fn default_serializer() -> Box<dyn Serializer<Self>>;
}
impl DefaultSerializer for Bytes {
    fn default_serializer() -> Box<dyn Serializer<Self>> {
        Box::new(BytesSerializer)
    }
}
impl DefaultSerializer for Vec<u8> {
    fn default_serializer() -> Box<dyn Serializer<Self>> {
        Box::new(BytesSerializer)
    }
}
impl DefaultSerializer for String {
    fn default_serializer() -> Box<dyn Serializer<Self>> {
        Box::new(StringSerializer)
    }
}
impl DefaultSerializer for i32 {
    fn default_serializer() -> Box<dyn Serializer<Self>> {
        Box::new(IntegerSerializer)
    }
}
impl DefaultSerializer for i64 {
    fn default_serializer() -> Box<dyn Serializer<Self>> {
        Box::new(LongSerializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializers_match_java_encodings() {
        let mut h = Vec::new();
        assert_eq!(
            IntegerSerializer.serialize("t", &mut h, &-2).as_ref(),
            &[0xff, 0xff, 0xff, 0xfe]
        );
        assert_eq!(
            LongSerializer.serialize("t", &mut h, &1).as_ref(),
            &[0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            StringSerializer
                .serialize("t", &mut h, &"héllo".to_string())
                .as_ref(),
            "héllo".as_bytes()
        );
    }

    #[test]
    fn builder_sets_fields() {
        let r: ProducerRecord = ProducerRecord::new("t", "v")
            .key("k")
            .partition(2)
            .timestamp(7)
            .header("h", "x")
            .null_header("n");
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.partition, Some(2));
        assert_eq!(r.timestamp, Some(7));
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.headers[1].value, None);
    }
}

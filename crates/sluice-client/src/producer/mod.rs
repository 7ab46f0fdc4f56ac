//! The producer (Java's `KafkaProducer`): `send` partitions a record, appends it to the
//! accumulator (waiting up to `max.block.ms` for metadata or buffer memory) and returns a
//! `DeliveryFuture`; one background sender task per producer batches, sends, retries and
//! acknowledges. Idempotent by default. `flush` waits for everything sent so far; `close`
//! sends what is left (bounded by a timeout, then fails the rest).
//!
//! `send` is `async` because it may wait for metadata or memory, like Java's `send` blocks;
//! the returned future resolves when the broker acknowledged the record:
//! `producer.send(record).await.await?` is a synchronous send,
//! `drop(producer.send(record).await);` fire-and-forget.

mod accumulator;
mod batch;
mod config;
mod delivery;
mod error;
mod frame;
mod interceptor;
mod metadata;
mod network;
mod partitioner;
mod record;
mod sender;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::client::{Client, ClientConfig};

pub use config::{CompressionLevels, ProducerConfig};
pub use delivery::{Callback, DeliveryFuture};
pub use error::{codes, ProducerError};
pub use interceptor::ProducerInterceptor;
pub use partitioner::{Partitioner, RoundRobinPartitioner, TopicPartitions};
pub use record::{
    BytesSerializer, DefaultSerializer, Header, IntegerSerializer, LongSerializer, ProducerRecord,
    RecordMetadata, Serializer, StringSerializer,
};

use accumulator::Accumulator;
use batch::estimate_size;
use delivery::RecordInfo;
use metadata::ProducerMetadata;

/// Counters since the producer started.
#[derive(Debug, Default)]
pub struct ProducerMetrics {
    pub records_sent: AtomicU64,
    pub record_errors: AtomicU64,
    pub retries: AtomicU64,
    pub batches: AtomicU64,
    pub requests: AtomicU64,
}

/// A partition of a topic as the producer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub topic: String,
    pub partition: i32,
    /// -1 when there is no leader.
    pub leader: i32,
}

pub(crate) struct Inner {
    pub cfg: Arc<ProducerConfig>,
    pub acc: Accumulator,
    pub metadata: ProducerMetadata,
    pub closed: AtomicBool,
    pub force: AtomicBool,
    pub metrics: ProducerMetrics,
}

/// An asynchronous, batching, idempotent producer of byte records.
pub struct Producer {
    inner: Arc<Inner>,
    sender: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

static CLIENT_SEQ: AtomicU64 = AtomicU64::new(1);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Producer {
    /// Validates `config`, connects to the bootstrap servers and starts the sender task.
    /// Must be called inside a tokio runtime.
    pub async fn new(config: ProducerConfig) -> Result<Producer, ProducerError> {
        let mut cfg = config.validated()?;
        if cfg.client_id.is_empty() {
            cfg.client_id = format!("producer-{}", CLIENT_SEQ.fetch_add(1, Ordering::Relaxed));
        }
        let client = Client::connect_with(
            &cfg.bootstrap_servers,
            ClientConfig {
                client_id: cfg.client_id.clone(),
                request_timeout: cfg.request_timeout,
                retries: 3,
                retry_backoff: cfg.retry_backoff,
            },
        )
        .await?;
        let inner = Arc::new(Inner {
            metadata: ProducerMetadata::new(client, cfg.allow_auto_create_topics),
            cfg: Arc::new(cfg),
            acc: Accumulator::default(),
            closed: AtomicBool::new(false),
            force: AtomicBool::new(false),
            metrics: ProducerMetrics::default(),
        });
        let sender = tokio::spawn(sender::run(inner.clone()));
        Ok(Producer {
            inner,
            sender: Mutex::new(Some(sender)),
        })
    }

    /// The effective (validated) configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.cfg
    }

    /// Counters since start.
    pub fn metrics(&self) -> &ProducerMetrics {
        &self.inner.metrics
    }

    /// Queues `record`; see the module docs for waiting and fire-and-forget.
    pub async fn send(&self, record: ProducerRecord) -> DeliveryFuture {
        match self.enqueue(record, None).await {
            Ok(f) => f,
            Err((e, _)) => DeliveryFuture::failed(e),
        }
    }

    /// Like [`Producer::send`], but the outcome goes to `callback`, which runs on the sender
    /// task, in send order per partition (or right here when `send` itself fails). Callbacks
    /// must be quick: they hold up the sender.
    pub async fn send_with_callback(
        &self,
        record: ProducerRecord,
        callback: impl FnOnce(Result<&RecordMetadata, &ProducerError>) + Send + 'static,
    ) {
        if let Err((e, Some(cb))) = self.enqueue(record, Some(Box::new(callback))).await {
            cb(Err(&e));
        }
    }

    async fn enqueue(
        &self,
        record: ProducerRecord,
        callback: Option<Callback>,
    ) -> Result<DeliveryFuture, (ProducerError, Option<Callback>)> {
        let inner = &*self.inner;
        let cfg = &*inner.cfg;
        if inner.closed.load(Ordering::Acquire) {
            return Err((
                ProducerError::Closed(
                    "Cannot perform operation after producer has been closed".into(),
                ),
                callback,
            ));
        }
        let mut record = record;
        for i in &cfg.interceptors {
            record = i.on_send(record);
        }
        // max.block.ms runs from here; the clock is read only when a wait is needed (the
        // fast path reads it once, for the record timestamp).
        let mut deadline: Option<Instant> = None;
        let mut deadline = move || *deadline.get_or_insert_with(|| Instant::now() + cfg.max_block);
        let info = match inner.metadata.topic(&record.topic) {
            Some(t) if record.partition.is_none_or(|p| p < t.num_partitions) => t,
            _ => match inner
                .metadata
                .wait_for(
                    &record.topic,
                    record.partition,
                    deadline(),
                    cfg.max_block,
                    cfg.retry_backoff,
                )
                .await
            {
                Ok(t) => t,
                Err(e) => return Err((e, callback)),
            },
        };
        let key = record.key.as_deref();
        let value = record.value.as_deref();
        let size = estimate_size(key, value, &record.headers);
        if size > cfg.max_request_size || size > cfg.buffer_memory {
            let (limit, name) = if size > cfg.max_request_size {
                (cfg.max_request_size, "max.request.size")
            } else {
                (cfg.buffer_memory, "buffer.memory")
            };
            return Err((
                ProducerError::RecordTooLarge(format!(
                    "The message is {size} bytes when serialized which is larger than {limit}, which is the value of the {name} configuration."
                )),
                callback,
            ));
        }
        let tp = TopicPartitions {
            topic: &record.topic,
            num_partitions: info.num_partitions,
            available: &info.available,
        };
        let partition = match (record.partition, &cfg.partitioner) {
            (Some(p), _) => Some(p),
            (None, Some(custom)) => Some(custom.partition(key, value, &tp)),
            (None, None) => match key {
                Some(k) if !cfg.partitioner_ignore_keys => {
                    Some(partitioner::keyed_partition(k, info.num_partitions))
                }
                _ => None,
            },
        };
        if let Some(p) = partition {
            if p < 0 || p >= info.num_partitions {
                return Err((
                    ProducerError::Invalid(format!(
                        "Invalid partition {p} for topic {} with {} partitions",
                        record.topic, info.num_partitions
                    )),
                    callback,
                ));
            }
        }
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let rinfo = |index| RecordInfo {
            index,
            timestamp,
            key_size: key.map_or(-1, |k| k.len() as i32),
            value_size: value.map_or(-1, |v| v.len() as i32),
        };
        let track = callback.is_some() || !cfg.interceptors.is_empty();
        let mut waiting = false;
        let mut callback = callback;
        loop {
            {
                let mut st = inner.acc.lock();
                if st.used == 0 || st.used + size <= cfg.buffer_memory {
                    if waiting {
                        st.memory_waiters -= 1;
                    }
                    let choose = |tq: &mut accumulator::TopicQueues| match partition {
                        Some(p) => p,
                        None => tq.sticky.partition(&tp, cfg.batch_size, size),
                    };
                    let (batch, index, created, topic, p) =
                        st.append(&record.topic, choose, cfg.batch_size, size, |b| {
                            b.append(timestamp, key, value, &record.headers)
                        });
                    let full = batch.size() >= cfg.batch_size;
                    if track {
                        batch.acks.push((rinfo(index), callback.take()));
                    }
                    let shared = batch.shared.clone();
                    drop(st);
                    if created || full {
                        inner.acc.wake_sender.notify_one();
                    }
                    return Ok(DeliveryFuture::waiting(shared, topic, p, rinfo(index)));
                }
                if !waiting {
                    st.memory_waiters += 1;
                    waiting = true;
                }
            }
            // Slow path: wait for memory to be released (re-checked under the lock above).
            let freed = inner.acc.memory_freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let room = {
                let st = inner.acc.lock();
                st.used == 0 || st.used + size <= cfg.buffer_memory
            };
            if room {
                continue;
            }
            inner.acc.wake_sender.notify_one();
            if tokio::time::timeout_at(deadline().into(), freed)
                .await
                .is_err()
            {
                inner.acc.lock().memory_waiters -= 1;
                return Err((
                    ProducerError::Timeout(format!(
                        "Failed to allocate {size} bytes within the configured max blocking time {} ms. Total memory: {} bytes.",
                        cfg.max_block.as_millis(),
                        cfg.buffer_memory
                    )),
                    callback,
                ));
            }
        }
    }

    /// Sends everything queued so far without waiting for linger and waits until all those
    /// records were acknowledged or failed (records sent meanwhile are not waited for).
    pub async fn flush(&self) {
        let target = {
            let mut st = self.inner.acc.lock();
            st.flush_below = st.next_batch_id;
            st.next_batch_id
        };
        self.inner.acc.wake_sender.notify_one();
        loop {
            let done = self.inner.acc.completed.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if !self.inner.acc.pending_below(target) {
                return;
            }
            done.await;
        }
    }

    /// Stops accepting records, sends what is queued and waits up to `timeout` for it; after
    /// that, records still queued or in flight fail with "Producer is closed forcefully.".
    /// `Duration::ZERO` fails everything pending at once.
    pub async fn close(&self, timeout: Duration) {
        self.begin_close();
        let handle = self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut handle) = handle else {
            return;
        };
        if timeout.is_zero() || tokio::time::timeout(timeout, &mut handle).await.is_err() {
            self.inner.force.store(true, Ordering::Release);
            self.inner.acc.wake_sender.notify_one();
            let _ = handle.await;
        }
    }

    fn begin_close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.acc.lock().closing = true;
        self.inner.acc.wake_sender.notify_one();
    }

    /// The topic's partitions and leaders (fetching metadata, waiting up to max.block.ms).
    pub async fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>, ProducerError> {
        let cfg = &self.inner.cfg;
        let t = self
            .inner
            .metadata
            .wait_for(
                topic,
                None,
                Instant::now() + cfg.max_block,
                cfg.max_block,
                cfg.retry_backoff,
            )
            .await?;
        Ok((0..t.num_partitions)
            .map(|p| PartitionInfo {
                topic: topic.to_string(),
                partition: p,
                leader: t.leaders.get(p as usize).copied().unwrap_or(-1),
            })
            .collect())
    }
}

impl Drop for Producer {
    /// Without `close`, queued records are still sent in the background while the runtime
    /// lives.
    fn drop(&mut self) {
        self.begin_close();
    }
}

/// A producer of typed keys and values, serialized with [`Serializer`]s.
pub struct TypedProducer<K, V> {
    producer: Producer,
    key: Box<dyn Serializer<K>>,
    value: Box<dyn Serializer<V>>,
}

impl<K: DefaultSerializer, V: DefaultSerializer> TypedProducer<K, V> {
    /// A producer with the serializers Java would use for `K` and `V`.
    pub async fn new(config: ProducerConfig) -> Result<Self, ProducerError> {
        Ok(Self::with_serializers(
            Producer::new(config).await?,
            K::default_serializer(),
            V::default_serializer(),
        ))
    }
}

impl<K, V> TypedProducer<K, V> {
    pub fn with_serializers(
        producer: Producer,
        key: Box<dyn Serializer<K>>,
        value: Box<dyn Serializer<V>>,
    ) -> Self {
        TypedProducer {
            producer,
            key,
            value,
        }
    }

    fn serialize(&self, r: ProducerRecord<K, V>) -> ProducerRecord {
        let mut headers = r.headers;
        let key = r
            .key
            .as_ref()
            .map(|k| self.key.serialize(&r.topic, &mut headers, k));
        let value = r
            .value
            .as_ref()
            .map(|v| self.value.serialize(&r.topic, &mut headers, v));
        ProducerRecord::<Bytes, Bytes> {
            topic: r.topic,
            partition: r.partition,
            key,
            value,
            headers,
            timestamp: r.timestamp,
        }
    }

    pub async fn send(&self, record: ProducerRecord<K, V>) -> DeliveryFuture {
        self.producer.send(self.serialize(record)).await
    }

    pub async fn send_with_callback(
        &self,
        record: ProducerRecord<K, V>,
        callback: impl FnOnce(Result<&RecordMetadata, &ProducerError>) + Send + 'static,
    ) {
        self.producer
            .send_with_callback(self.serialize(record), callback)
            .await
    }

    pub async fn flush(&self) {
        self.producer.flush().await
    }

    pub async fn close(&self, timeout: Duration) {
        self.producer.close(timeout).await
    }

    /// The underlying byte producer.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }
}

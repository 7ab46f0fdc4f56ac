//! The sender task (Java's `Sender` thread), one per producer: drains ready batches from the
//! accumulator, groups them into one Produce request per leader broker, pipelines up to
//! `max.in.flight.requests.per.connection` requests per connection, and settles every batch
//! exactly once — acknowledged, retried (backoff, metadata refresh, sequence order kept for
//! the idempotent producer), or failed. It owns the producer id and the broker connections.
//! Every wait is bounded: linger/backoff deadlines, request.timeout.ms, delivery.timeout.ms.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_protocol::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use sluice_protocol::kafka_protocol::messages::{
    InitProducerIdRequest, ProduceRequest, ProduceResponse, ProducerId, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::{Decodable, StrBytes};
use tokio::sync::mpsc;

use super::batch::ProducerBatch;
use super::delivery::BatchOk;
use super::error::{codes, ProducerError};
use super::network::BrokerConn;
use super::record::RecordMetadata;
use super::Inner;

/// How long the sender sleeps when nothing is scheduled (bounds metadata-age checks).
const IDLE_TICK: Duration = Duration::from_millis(250);

struct Completion {
    broker: i32,
    conn_gen: u64,
    batches: Vec<(u64, ProducerBatch)>,
    result: Result<ProduceResponse, ProducerError>,
}

struct Sender {
    inner: Arc<Inner>,
    conns: HashMap<i32, (u64, BrokerConn)>,
    next_gen: u64,
    producer_id: i64,
    epoch: i16,
    need_pid: bool,
    tx: mpsc::UnboundedSender<Completion>,
    rx: mpsc::UnboundedReceiver<Completion>,
    stale: BTreeSet<String>,
    last_refresh: Instant,
    in_flight: usize,
}

/// Runs until the producer is closed and everything was settled.
pub(crate) async fn run(inner: Arc<Inner>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let need_pid = inner.cfg.enable_idempotence;
    let mut s = Sender {
        inner,
        conns: HashMap::new(),
        next_gen: 0,
        producer_id: -1,
        epoch: -1,
        need_pid,
        tx,
        rx,
        stale: BTreeSet::new(),
        last_refresh: Instant::now(),
        in_flight: 0,
    };
    s.run().await;
}

impl Sender {
    async fn run(&mut self) {
        let mut pid_attempts = 0u32;
        loop {
            while let Ok(c) = self.rx.try_recv() {
                self.complete(c);
            }
            let forced = self.inner.force.load(Ordering::Acquire);
            if forced {
                let all = self.inner.acc.lock().take_all();
                for (id, b) in all {
                    self.finish(id, b, Err(closed_forcefully()));
                }
            }
            let (closing, queued) = {
                let s = self.inner.acc.lock();
                (s.closing, s.queued_batches())
            };
            if closing && queued == 0 && self.in_flight == 0 {
                break;
            }
            let mut next = Instant::now() + IDLE_TICK;
            if self.need_pid && !forced {
                match self.init_producer_id().await {
                    Ok(()) => pid_attempts = 0,
                    Err(e) => {
                        pid_attempts += 1;
                        tracing::warn!("InitProducerId failed (attempt {pid_attempts}): {e}");
                        next = Instant::now() + self.inner.cfg.backoff(pid_attempts);
                    }
                }
            }
            self.expire();
            if !self.need_pid {
                self.maybe_refresh().await;
                if let Some(t) = self.drain_and_send().await {
                    next = next.min(t);
                }
            }
            tokio::select! {
                _ = self.inner.acc.wake_sender.notified() => {}
                Some(c) = self.rx.recv() => self.complete(c),
                _ = tokio::time::sleep_until(next.into()) => {}
            }
        }
        tracing::debug!("producer sender stopped");
    }

    async fn init_producer_id(&mut self) -> Result<(), ProducerError> {
        let conn = self.inner.metadata.client().any_connection().await?;
        let version = conn.version_for::<InitProducerIdRequest>(None)?;
        let mut req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        if version >= 3 {
            // KIP-360: ask to bump the epoch of the current id (the broker may hand out a new id).
            req = req
                .with_producer_id(ProducerId(self.producer_id))
                .with_producer_epoch(self.epoch);
        }
        let resp = conn.send_at(&req, version).await?;
        if resp.error_code != 0 {
            return Err(ProducerError::Broker {
                code: resp.error_code,
                message: None,
            });
        }
        self.producer_id = resp.producer_id.0;
        self.epoch = resp.producer_epoch;
        self.need_pid = false;
        self.inner.acc.lock().reset_sequences();
        tracing::debug!("producer id {} epoch {}", self.producer_id, self.epoch);
        Ok(())
    }

    async fn maybe_refresh(&mut self) {
        let cfg = &self.inner.cfg;
        let aged = self.last_refresh.elapsed() >= cfg.metadata_max_age;
        if self.stale.is_empty() && !aged {
            return;
        }
        if !aged && self.last_refresh.elapsed() < cfg.retry_backoff {
            return;
        }
        let mut topics: Vec<String> = std::mem::take(&mut self.stale).into_iter().collect();
        if aged {
            let s = self.inner.acc.lock();
            topics.extend(s.topics.keys().map(|t| t.to_string()));
            topics.sort();
            topics.dedup();
        }
        self.last_refresh = Instant::now();
        if topics.is_empty() {
            return;
        }
        if let Err(e) = self.inner.metadata.refresh(&topics).await {
            tracing::debug!("metadata refresh failed: {e}");
            self.stale.extend(topics);
        }
    }

    fn expire(&mut self) {
        let expired = self
            .inner
            .acc
            .lock()
            .expire(Instant::now(), self.inner.cfg.delivery_timeout);
        for (id, b) in expired {
            if b.stamp
                .is_some_and(|s| s.0 == self.producer_id && s.1 == self.epoch)
            {
                // A sequence was used and will never be written: start a new epoch.
                self.need_pid = true;
            }
            let e = ProducerError::expired(
                b.count as usize,
                &b.topic,
                b.partition,
                b.created.elapsed(),
            );
            self.finish(id, b, Err(e));
        }
    }

    /// Takes ready batches out of the accumulator and sends them; returns the next instant
    /// something becomes ready.
    async fn drain_and_send(&mut self) -> Option<Instant> {
        let cfg = &self.inner.cfg;
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut by_broker: HashMap<i32, Vec<(u64, ProducerBatch, Option<i32>)>> = HashMap::new();
        let mut sizes: HashMap<i32, usize> = HashMap::new();
        {
            let mut st = self.inner.acc.lock();
            let flush_below = st.flush_below;
            let urgent = st.closing || st.memory_waiters > 0;
            for (topic, tq) in st.topics.iter_mut() {
                for (p, pq) in tq.partitions.iter_mut().enumerate() {
                    let Some((id, front)) = pq.batches.front() else {
                        continue;
                    };
                    if let Some(t) = front.retry_at.filter(|t| *t > now) {
                        next = Some(next.map_or(t, |n| n.min(t)));
                        continue;
                    }
                    let is_retry = front.is_sealed();
                    if pq.in_flight >= cfg.max_in_flight
                        || (pq.in_flight > 0 && is_retry && cfg.enable_idempotence)
                    {
                        continue;
                    }
                    let linger_end = front.created + cfg.linger;
                    let ready = is_retry
                        || urgent
                        || pq.batches.len() > 1
                        || front.size() >= cfg.batch_size
                        || now >= linger_end
                        || *id < flush_below;
                    if !ready {
                        next = Some(next.map_or(linger_end, |n| n.min(linger_end)));
                        continue;
                    }
                    let Some(leader) = self.inner.metadata.leader(topic, p as i32) else {
                        self.stale.insert(topic.to_string());
                        continue;
                    };
                    let busy = self.conns.get(&leader).map_or(0, |(_, c)| c.in_flight);
                    if busy >= cfg.max_in_flight {
                        continue;
                    }
                    let size = sizes.entry(leader).or_default();
                    if *size > 0 && *size + front.wire_len() > cfg.max_request_size {
                        continue;
                    }
                    *size += front.wire_len();
                    let Some((id, b)) = pq.batches.pop_front() else {
                        continue;
                    };
                    let mut seq = None;
                    if cfg.enable_idempotence {
                        let current = b
                            .stamp
                            .is_some_and(|s| s.0 == self.producer_id && s.1 == self.epoch);
                        if !current {
                            seq = Some(pq.next_seq);
                            pq.next_seq = pq.next_seq.wrapping_add(b.count);
                        }
                    }
                    pq.in_flight += 1;
                    by_broker.entry(leader).or_default().push((id, b, seq));
                }
            }
        }
        for (broker, batches) in by_broker {
            self.send_to(broker, batches).await;
        }
        next
    }

    async fn send_to(&mut self, broker: i32, batches: Vec<(u64, ProducerBatch, Option<i32>)>) {
        let cfg = self.inner.cfg.clone();
        let mut ready = Vec::with_capacity(batches.len());
        for (id, mut b, seq) in batches {
            // Compression happens here, outside the accumulator lock.
            if let Err(e) = b.seal(cfg.compression, &cfg.compression_levels) {
                self.batch_done_in_flight(&b);
                self.finish(id, b, Err(e));
                continue;
            }
            if let Some(seq) = seq {
                b.set_stamp(self.producer_id, self.epoch, seq);
            }
            ready.push((id, b));
        }
        if ready.is_empty() {
            return;
        }
        let gen = match self.connection(broker).await {
            Ok(g) => g,
            Err(e) => {
                for (id, b) in ready {
                    self.batch_done_in_flight(&b);
                    self.on_batch_error(id, b, e.clone());
                }
                return;
            }
        };
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for (_, b) in &ready {
            let data = PartitionProduceData::default()
                .with_index(b.partition)
                .with_records(Some(b.wire()));
            match topics.iter_mut().find(|t| t.name.0.as_str() == &*b.topic) {
                Some(t) => t.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(b.topic.to_string())))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        let req = ProduceRequest::default()
            .with_acks(cfg.acks)
            .with_timeout_ms(cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32)
            .with_topic_data(topics);
        let sent = match self.conns.get_mut(&broker) {
            Some((_, conn)) => conn
                .send(&req, cfg.acks != 0)
                .map(|rx| (rx, conn.produce_version, conn.addr.clone())),
            None => Err(ProducerError::Invalid("connection vanished".into())),
        };
        let (rx, version, addr) = match sent {
            Ok(rx) => rx,
            Err(e) => {
                self.drop_connection(broker, gen);
                for (id, b) in ready {
                    self.batch_done_in_flight(&b);
                    self.on_batch_error(id, b, e.clone());
                }
                return;
            }
        };
        self.inner.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let Some(rx) = rx else {
            // acks=0: done once handed to the connection.
            for (id, b) in ready {
                self.batch_done_in_flight(&b);
                self.finish(
                    id,
                    b,
                    Ok(BatchOk {
                        base_offset: -1,
                        log_append_time: -1,
                    }),
                );
            }
            return;
        };
        if let Some((_, conn)) = self.conns.get_mut(&broker) {
            conn.in_flight += 1;
        }
        self.in_flight += 1;
        let tx = self.tx.clone();
        let timeout = cfg.request_timeout;
        tokio::spawn(async move {
            let result = match tokio::time::timeout(timeout, rx).await {
                Err(_) => Err(ProducerError::Network {
                    addr,
                    detail: format!(
                        "no Produce response within request.timeout.ms={}",
                        timeout.as_millis()
                    ),
                }),
                Ok(Err(_)) => Err(ProducerError::Network {
                    addr,
                    detail: "connection closed".into(),
                }),
                Ok(Ok(Err(e))) => Err(e),
                Ok(Ok(Ok(mut body))) => ProduceResponse::decode(&mut body, version).map_err(|e| {
                    ProducerError::Network {
                        addr,
                        detail: format!("bad Produce v{version} response: {e}"),
                    }
                }),
            };
            let _ = tx.send(Completion {
                broker,
                conn_gen: gen,
                batches: ready,
                result,
            });
        });
    }

    /// Ensures a live connection to `broker`; returns its generation.
    async fn connection(&mut self, broker: i32) -> Result<u64, ProducerError> {
        let alive = self.conns.get(&broker).is_some_and(|(_, c)| c.is_alive());
        if !alive {
            if let Some((gen, _)) = self.conns.get(&broker) {
                let gen = *gen;
                self.drop_connection(broker, gen);
            }
            let addr =
                self.inner
                    .metadata
                    .broker_addr(broker)
                    .ok_or_else(|| ProducerError::Network {
                        addr: format!("broker {broker}"),
                        detail: "not in the cluster metadata".into(),
                    })?;
            let cfg = &self.inner.cfg;
            let conn = BrokerConn::connect(&addr, &cfg.client_id, cfg.request_timeout).await?;
            self.next_gen += 1;
            self.conns.insert(broker, (self.next_gen, conn));
        }
        self.conns
            .get(&broker)
            .map(|(gen, _)| *gen)
            .ok_or_else(|| ProducerError::Invalid("connection vanished".into()))
    }

    fn drop_connection(&mut self, broker: i32, gen: u64) {
        if self.conns.get(&broker).is_some_and(|(g, _)| *g == gen) {
            if let Some((_, c)) = self.conns.remove(&broker) {
                c.kill("connection dropped by the producer");
            }
        }
    }

    fn batch_done_in_flight(&self, b: &ProducerBatch) {
        let mut st = self.inner.acc.lock();
        let q = st.queue(&b.topic, b.partition);
        q.in_flight = q.in_flight.saturating_sub(1);
    }

    fn complete(&mut self, c: Completion) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some((gen, conn)) = self.conns.get_mut(&c.broker) {
            if *gen == c.conn_gen {
                conn.in_flight = conn.in_flight.saturating_sub(1);
            }
        }
        match c.result {
            Err(e) => {
                self.drop_connection(c.broker, c.conn_gen);
                for (id, b) in c.batches {
                    self.batch_done_in_flight(&b);
                    self.on_batch_error(id, b, e.clone());
                }
            }
            Ok(resp) => {
                for (id, b) in c.batches {
                    self.batch_done_in_flight(&b);
                    let p = resp
                        .responses
                        .iter()
                        .filter(|t| t.name.0.as_str() == &*b.topic)
                        .flat_map(|t| t.partition_responses.iter())
                        .find(|p| p.index == b.partition);
                    let outcome = match p {
                        None => Err(ProducerError::Network {
                            addr: format!("broker {}", c.broker),
                            detail: format!(
                                "no answer for {}-{} in the Produce response",
                                b.topic, b.partition
                            ),
                        }),
                        Some(p)
                            if p.error_code == 0
                                || p.error_code == codes::DUPLICATE_SEQUENCE_NUMBER =>
                        {
                            Ok(BatchOk {
                                base_offset: p.base_offset,
                                log_append_time: p.log_append_time_ms,
                            })
                        }
                        Some(p) => Err(ProducerError::Broker {
                            code: p.error_code,
                            message: p.error_message.as_ref().map(|m| m.to_string()),
                        }),
                    };
                    match outcome {
                        Ok(ok) => {
                            if let Some((pid, epoch, seq)) = b.stamp {
                                if pid == self.producer_id && epoch == self.epoch {
                                    let mut st = self.inner.acc.lock();
                                    let q = st.queue(&b.topic, b.partition);
                                    q.last_acked = q.last_acked.max(seq + b.count - 1);
                                }
                            }
                            self.finish(id, b, Ok(ok));
                        }
                        Err(e) => self.on_batch_error(id, b, e),
                    }
                }
            }
        }
    }

    /// Retries or fails a batch that came back with `e`.
    fn on_batch_error(&mut self, id: u64, mut b: ProducerBatch, e: ProducerError) {
        let cfg = self.inner.cfg.clone();
        let forced = self.inner.force.load(Ordering::Acquire);
        let age = b.created.elapsed();
        let current_stamp = b
            .stamp
            .filter(|s| s.0 == self.producer_id && s.1 == self.epoch);
        let mut retriable = e.is_retriable();
        if cfg.enable_idempotence {
            match e.code() {
                Some(codes::OUT_OF_ORDER_SEQUENCE_NUMBER) => {
                    let expected = {
                        let mut st = self.inner.acc.lock();
                        st.queue(&b.topic, b.partition).last_acked.wrapping_add(1)
                    };
                    match current_stamp {
                        // An earlier batch failed and goes first: this one follows it.
                        Some(s) if s.2 != expected => retriable = true,
                        _ => {
                            // A real gap: fail this batch, continue under a new epoch.
                            self.need_pid = true;
                            retriable = false;
                        }
                    }
                }
                Some(codes::UNKNOWN_PRODUCER_ID) => {
                    // The broker lost our state (e.g. retention): new epoch, send again.
                    if current_stamp.is_some() {
                        self.need_pid = true;
                    }
                    retriable = true;
                }
                _ => {}
            }
        }
        if retriable && e.needs_metadata_refresh() {
            self.stale.insert(b.topic.to_string());
        }
        let attempts_left = (b.attempts as i64) < cfg.retries as i64;
        if retriable && !forced && attempts_left && age < cfg.delivery_timeout {
            b.attempts += 1;
            b.retry_at = Some(Instant::now() + cfg.backoff(b.attempts));
            self.inner.metrics.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                "retrying {}-{} (attempt {}): {e}",
                b.topic,
                b.partition,
                b.attempts
            );
            self.inner.acc.lock().reenqueue(id, b);
            return;
        }
        let e = if forced {
            closed_forcefully()
        } else if retriable && age >= cfg.delivery_timeout {
            ProducerError::expired(b.count as usize, &b.topic, b.partition, age)
        } else {
            e
        };
        self.finish(id, b, Err(e));
    }

    /// Settles a batch: futures, callbacks, interceptors, memory.
    fn finish(&mut self, id: u64, mut b: ProducerBatch, outcome: Result<BatchOk, ProducerError>) {
        let m = &self.inner.metrics;
        match &outcome {
            Ok(_) => m.records_sent.fetch_add(b.count as u64, Ordering::Relaxed),
            Err(_) => m.record_errors.fetch_add(b.count as u64, Ordering::Relaxed),
        };
        m.batches.fetch_add(1, Ordering::Relaxed);
        b.shared.complete(outcome.clone());
        let interceptors = &self.inner.cfg.interceptors;
        for (info, cb) in b.acks.drain(..) {
            let md = match &outcome {
                Ok(ok) => ok.metadata(&b.topic, b.partition, &info),
                Err(_) => RecordMetadata {
                    topic: b.topic.to_string(),
                    partition: b.partition,
                    offset: -1,
                    timestamp: info.timestamp,
                    serialized_key_size: info.key_size,
                    serialized_value_size: info.value_size,
                },
            };
            for i in interceptors {
                i.on_acknowledgement(&md, outcome.as_ref().err());
            }
            if let Some(cb) = cb {
                let arg = match &outcome {
                    Ok(_) => Ok(&md),
                    Err(e) => Err(e),
                };
                cb(arg);
            }
        }
        let reserved = b.reserved;
        let buffer = b.into_buffer();
        (self.inner.acc).release(id, reserved, buffer, self.inner.cfg.batch_size);
    }
}

fn closed_forcefully() -> ProducerError {
    ProducerError::Closed("Producer is closed forcefully.".into())
}

//! The consumer's fetch pipeline (Kafka's Fetcher): at most one Fetch in flight per leader
//! broker, each on a connection of its own so long polls never hold up commits or metadata.
//! A request covers every fetchable partition the broker leads; a partition is fetchable while
//! it has fewer than two responses buffered, so the next response is in flight while the
//! application processes the current one. Responses are decoded on the background task and
//! handed back through a channel; `poll` applies them only if the partition is still assigned
//! and still expects that offset (a seek or rebalance makes them stale). It never blocks the
//! caller: waiting happens in `poll` on the channel, bounded by the poll timeout.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::client::Client;
use crate::connection::Connection;
use crate::consumer::config::OffsetReset;
use crate::consumer::decode::{decode_fetched, AbortedTxn, Decoded};
use crate::consumer::state::{Buffered, ResetTo, SubscriptionState};
use crate::consumer_protocol::TopicPartition;
use crate::error::{codes, ClientError, Result};

/// Fetch uses topic names (v13+ would need topic ids for every request).
const FETCH_MAX_VERSION: i16 = 12;

/// Fetch settings from the consumer configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchParams {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
    pub read_committed: bool,
    pub check_crcs: bool,
    pub retry_backoff: Duration,
    pub reset: OffsetReset,
}

/// One partition's part of a response.
struct PartitionResponse {
    tp: TopicPartition,
    fetch_offset: i64,
    high_watermark: i64,
    result: std::result::Result<Decoded, ClientError>,
}

/// What a background fetch reports.
pub(crate) struct BrokerResponse {
    broker: i32,
    requested: Vec<TopicPartition>,
    result: Result<Vec<PartitionResponse>>,
}

type Conns = Arc<tokio::sync::Mutex<HashMap<i32, Arc<Connection>>>>;

pub(crate) struct Fetcher {
    client: Arc<Client>,
    params: FetchParams,
    conns: Conns,
    tx: mpsc::UnboundedSender<BrokerResponse>,
    rx: mpsc::UnboundedReceiver<BrokerResponse>,
    inflight: HashSet<i32>,
    tasks: JoinSet<()>,
    refresh_metadata: bool,
}

impl Fetcher {
    pub fn new(client: Arc<Client>, params: FetchParams) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Fetcher {
            client,
            params,
            conns: Arc::new(tokio::sync::Mutex::new(HashMap::new())),
            tx,
            rx,
            inflight: HashSet::new(),
            tasks: JoinSet::new(),
            refresh_metadata: false,
        }
    }

    /// Sends a Fetch to every leader that has fetchable partitions and none in flight.
    pub async fn send_fetches(&mut self, state: &mut SubscriptionState) {
        while self.tasks.try_join_next().is_some() {}
        let now = Instant::now();
        if self.refresh_metadata {
            self.refresh_metadata = false;
            let mut topics: Vec<String> = state.parts.keys().map(|tp| tp.topic.clone()).collect();
            topics.dedup();
            if let Err(e) = self.client.metadata(Some(&topics)).await {
                tracing::debug!("metadata refresh before fetching: {e}");
            }
        }
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        for (tp, st) in state.parts.iter_mut() {
            if !st.fetchable(now) {
                continue;
            }
            match self.client.leader_for(&tp.topic, tp.partition, false).await {
                Ok(leader) if !self.inflight.contains(&leader) => {
                    by_leader
                        .entry(leader)
                        .or_default()
                        .push((tp.clone(), st.fetch_offset));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!("no leader for {tp}: {e}");
                    st.retry_at = Some(now + self.params.retry_backoff);
                    self.refresh_metadata = true;
                }
            }
        }
        for (broker, parts) in by_leader {
            for (tp, _) in &parts {
                if let Some(st) = state.parts.get_mut(tp) {
                    st.inflight = true;
                }
            }
            self.inflight.insert(broker);
            let (client, conns, tx, params) = (
                self.client.clone(),
                self.conns.clone(),
                self.tx.clone(),
                self.params,
            );
            self.tasks.spawn(async move {
                let requested = parts.iter().map(|(tp, _)| tp.clone()).collect();
                let result = fetch_once(&client, &conns, broker, &parts, &params).await;
                if result.is_err() {
                    conns.lock().await.remove(&broker);
                }
                let _ = tx.send(BrokerResponse {
                    broker,
                    requested,
                    result,
                });
            });
        }
    }

    /// True while any Fetch is outstanding.
    pub fn has_inflight(&self) -> bool {
        !self.inflight.is_empty()
    }

    /// Waits for the next response (cancel-safe).
    pub async fn next_response(&mut self) -> Option<BrokerResponse> {
        self.rx.recv().await
    }

    /// Applies every response that already arrived.
    pub fn drain(&mut self, state: &mut SubscriptionState) {
        while let Ok(r) = self.rx.try_recv() {
            self.apply(state, r);
        }
    }

    /// Applies one response to the partitions that still expect it.
    pub fn apply(&mut self, state: &mut SubscriptionState, resp: BrokerResponse) {
        self.inflight.remove(&resp.broker);
        let now = Instant::now();
        let parts = match resp.result {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!("fetch from broker {}: {e}", resp.broker);
                self.refresh_metadata = true;
                for tp in &resp.requested {
                    if let Some(st) = state.parts.get_mut(tp) {
                        st.inflight = false;
                        st.retry_at = Some(now + self.params.retry_backoff);
                    }
                }
                return;
            }
        };
        for tp in &resp.requested {
            if let Some(st) = state.parts.get_mut(tp) {
                st.inflight = false;
            }
        }
        for p in parts {
            let Some(st) = state.parts.get_mut(&p.tp) else {
                continue; // revoked meanwhile
            };
            if st.fetch_offset != p.fetch_offset || st.position.is_none() || st.reset.is_some() {
                continue; // sought elsewhere meanwhile
            }
            st.high_watermark = p.high_watermark;
            match p.result {
                Ok(d) => {
                    let Some(next) = d.next_offset else { continue };
                    st.fetch_offset = next;
                    if d.records.is_empty() {
                        // Only control or aborted batches: nothing to return, move past them.
                        if st.buffered.is_empty() && st.position == Some(p.fetch_offset) {
                            st.position = Some(next);
                        }
                    } else {
                        st.buffered.push_back(Buffered {
                            records: d.records.into_iter(),
                            next_offset: next,
                        });
                    }
                }
                Err(e) if e.code() == Some(codes::OFFSET_OUT_OF_RANGE) => {
                    if !st.buffered.is_empty() {
                        continue;
                    }
                    match self.params.reset {
                        OffsetReset::Earliest => st.reset = Some(ResetTo::Earliest),
                        OffsetReset::Latest => st.reset = Some(ResetTo::Latest),
                        OffsetReset::None => {
                            st.error = Some(ClientError::Invalid(format!(
                                "Fetch position {} is out of range for partition {} and no reset policy is set (auto.offset.reset=none) (OFFSET_OUT_OF_RANGE)",
                                p.fetch_offset, p.tp
                            )))
                        }
                    }
                }
                Err(e) if e.needs_metadata_refresh() || retriable(&e) => {
                    tracing::debug!("fetch {}: {e}; retrying", p.tp);
                    self.refresh_metadata = true;
                    st.retry_at = Some(now + self.params.retry_backoff);
                }
                Err(e) => st.error = Some(e),
            }
        }
    }

    /// Stops every background fetch.
    pub fn shutdown(&mut self) {
        self.tasks.abort_all();
        self.inflight.clear();
    }
}

fn retriable(e: &ClientError) -> bool {
    matches!(
        e.code(),
        // KAFKA_STORAGE_ERROR, OFFSET_NOT_AVAILABLE, REPLICA_NOT_AVAILABLE
        Some(56) | Some(78) | Some(9)
    )
}

async fn connection(client: &Client, conns: &Conns, broker: i32) -> Result<Arc<Connection>> {
    if let Some(c) = conns.lock().await.get(&broker).cloned() {
        if c.is_usable().await {
            return Ok(c);
        }
    }
    let c = Arc::new(client.dedicated_connection(broker).await?);
    conns.lock().await.insert(broker, c.clone());
    Ok(c)
}

/// One Fetch round trip to `broker`, decoded.
async fn fetch_once(
    client: &Client,
    conns: &Conns,
    broker: i32,
    parts: &[(TopicPartition, i64)],
    params: &FetchParams,
) -> Result<Vec<PartitionResponse>> {
    let conn = connection(client, conns, broker).await?;
    let version = conn.version_for::<FetchRequest>(Some(FETCH_MAX_VERSION))?;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (tp, offset) in parts {
        let p = FetchPartition::default()
            .with_partition(tp.partition)
            .with_fetch_offset(*offset)
            .with_current_leader_epoch(-1)
            .with_last_fetched_epoch(-1)
            .with_log_start_offset(-1)
            .with_partition_max_bytes(params.partition_max_bytes);
        match topics.last_mut() {
            Some(t) if t.topic.0.as_str() == tp.topic => t.partitions.push(p),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(tp.topic.clone())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(params.max_wait_ms)
        .with_min_bytes(params.min_bytes)
        .with_max_bytes(params.max_bytes)
        .with_isolation_level(i8::from(params.read_committed))
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics);
    let resp = conn.send_at(&req, version).await?;
    if let Some(e) = ClientError::from_code(resp.error_code, None) {
        return Err(e);
    }
    let mut by_tp: HashMap<(&str, i32), _> = HashMap::new();
    for t in &resp.responses {
        for p in &t.partitions {
            by_tp.insert((t.topic.0.as_str(), p.partition_index), p);
        }
    }
    let mut out = Vec::with_capacity(parts.len());
    for (tp, offset) in parts {
        let Some(p) = by_tp.get(&(tp.topic.as_str(), tp.partition)) else {
            continue; // not answered: fetched again next round
        };
        let result = match ClientError::from_code(p.error_code, None) {
            Some(e) => Err(e),
            None => {
                let aborted: Option<Vec<AbortedTxn>> = params.read_committed.then(|| {
                    p.aborted_transactions
                        .iter()
                        .flatten()
                        .map(|a| AbortedTxn {
                            producer_id: a.producer_id.0,
                            first_offset: a.first_offset,
                        })
                        .collect()
                });
                match &p.records {
                    None => Ok(Decoded::default()),
                    Some(data) => {
                        decode_fetched(data, *offset, params.check_crcs, aborted.as_deref())
                            .map_err(|e| {
                                ClientError::Invalid(format!(
                                    "Received a corrupt record batch for partition {tp} at offset {offset}: {e} (CORRUPT_MESSAGE)"
                                ))
                            })
                    }
                }
            }
        };
        out.push(PartitionResponse {
            tp: tp.clone(),
            fetch_offset: *offset,
            high_watermark: p.high_watermark,
            result,
        });
    }
    Ok(out)
}

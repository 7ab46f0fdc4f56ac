//! `Consumer`: Kafka's KafkaConsumer for Rust — subscribe (topics or a regex, group-managed)
//! or assign partitions by hand, `poll` typed records, commit offsets (auto or manual), seek,
//! pause/resume, and look up offsets. Configuration uses Kafka's names and defaults
//! (`ConsumerConfig`). Groups use the classic protocol with client-side assignors (`range`,
//! `roundrobin`, `sticky`, `cooperative-sticky`) or, with `group.protocol=consumer`, KIP-848
//! heartbeats with server-side assignment.
//!
//! The API is async: every call that talks to brokers is an `async fn` driven by the caller's
//! tokio runtime. Fetches run on background tasks (`fetcher.rs`), everything else happens in
//! the calls themselves; nothing here blocks a runtime thread or waits without a deadline.

pub mod assignor;
pub mod config;
mod decode;
mod fetcher;
mod group;
mod kip848;
mod offsets;
mod poll;
pub(crate) mod poll_timer;
pub mod record;
mod state;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use regex_automata::meta::Regex;
use tokio::sync::Notify;

use crate::client::{Client, ClientConfig};
use crate::consumer::fetcher::{FetchParams, Fetcher};
use crate::consumer::state::{ResetTo, SubscriptionState};
use crate::consumer_protocol::TopicPartition;
use crate::error::{ClientError, Result};
use crate::group_member::{GroupMember, GroupMemberConfig};

pub use assignor::{
    assignor_by_name, CooperativeStickyAssignor, PartitionAssignor, RangeAssignor,
    RebalanceProtocol, RoundRobinAssignor, StickyAssignor,
};
pub use config::{ConsumerConfig, GroupProtocol, IsolationLevel, OffsetReset};
pub use record::{
    BytesDeserializer, ConsumerRecord, ConsumerRecords, Deserializer, Header, IntegerDeserializer,
    LongDeserializer, StringDeserializer, TimestampType,
};

/// Callbacks around rebalances (Kafka's ConsumerRebalanceListener). They run inside `poll`
/// (and `close`/`unsubscribe`); use the context to commit or seek synchronously.
pub trait ConsumerRebalanceListener: Send + Sync {
    /// Partitions taken away (eager: all of them before every rebalance; cooperative: only
    /// those that move). Commit what was processed here when committing by hand.
    fn on_partitions_revoked(
        &mut self,
        _partitions: &[TopicPartition],
        _ctx: &mut RebalanceContext,
    ) {
    }
    /// Partitions given to this consumer (cooperative: only the new ones).
    fn on_partitions_assigned(
        &mut self,
        _partitions: &[TopicPartition],
        _ctx: &mut RebalanceContext,
    ) {
    }
    /// Partitions lost without a chance to commit (the member was fenced or expired).
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext) {
        self.on_partitions_revoked(partitions, ctx)
    }
}

/// What a rebalance callback may do to the consumer: read positions, commit, seek. Commits
/// and seeks are applied when the callback returns, before the rebalance continues.
#[derive(Debug, Default)]
pub struct RebalanceContext {
    positions: BTreeMap<TopicPartition, i64>,
    commits: BTreeMap<TopicPartition, i64>,
    seeks: Vec<(TopicPartition, i64)>,
}

impl RebalanceContext {
    /// Consumed positions of the partitions in the callback (those that have one).
    pub fn positions(&self) -> &BTreeMap<TopicPartition, i64> {
        &self.positions
    }
    /// Commits these offsets (synchronously, before the partitions are given up).
    pub fn commit(&mut self, offsets: BTreeMap<TopicPartition, i64>) {
        self.commits.extend(offsets);
    }
    /// Commits the consumed positions of the callback's partitions.
    pub fn commit_positions(&mut self) {
        let p = self.positions.clone();
        self.commits.extend(p);
    }
    /// Starts the partition at `offset` (in `on_partitions_assigned`).
    pub fn seek(&mut self, tp: TopicPartition, offset: i64) {
        self.seeks.push((tp, offset));
    }
}

/// Interrupts a blocked `poll` from another task or thread (Kafka's `wakeup()`): the current
/// or next `poll` returns `ClientError::Wakeup`.
#[derive(Clone, Default)]
pub struct WakeupHandle {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl WakeupHandle {
    pub fn wakeup(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }
    fn take(&self) -> bool {
        self.flag.swap(false, Ordering::SeqCst)
    }
}

/// The classic member's settings: JoinGroup's rebalance timeout is `max.poll.interval.ms`,
/// as in Kafka (how long the coordinator waits for this member to rejoin).
fn group_member_config(config: &ConsumerConfig) -> Result<GroupMemberConfig> {
    let group_id = config.group_id.clone().ok_or_else(no_group)?;
    let mut gc = GroupMemberConfig::new(group_id);
    gc.session_timeout = config.session_timeout;
    gc.heartbeat_interval = config.heartbeat_interval;
    gc.rebalance_timeout = config.max_poll_interval;
    gc.group_instance_id = config.group_instance_id.clone();
    Ok(gc)
}

/// How partitions are chosen.
enum Subscription {
    None,
    Topics(Vec<String>),
    Pattern { regex: Regex, source: String },
    Assigned,
}

/// A Kafka consumer. `K`/`V` are the key and value types produced by its deserializers
/// (`Bytes` by default).
pub struct Consumer<K = Bytes, V = Bytes> {
    client: Arc<Client>,
    config: ConsumerConfig,
    key_de: Box<dyn Deserializer<K>>,
    value_de: Box<dyn Deserializer<V>>,
    subscription: Subscription,
    listener: Option<Box<dyn ConsumerRebalanceListener>>,
    group: Option<group::Membership>,
    state: SubscriptionState,
    fetcher: Fetcher,
    next_auto_commit: Instant,
    /// When the pattern subscription last listed topics.
    pattern_checked: Option<Instant>,
    wakeup: WakeupHandle,
    /// `max.poll.interval.ms`: marked by `poll`, watched by the group's heartbeat task.
    poll_timer: Arc<poll_timer::PollTimer>,
    closed: bool,
}

fn no_group() -> ClientError {
    ClientError::Invalid(
        "To use the group management or offset commit APIs, you must provide a valid group.id in the consumer configuration".into(),
    )
}

impl Consumer<Bytes, Bytes> {
    /// A consumer of raw bytes.
    pub async fn new(config: ConsumerConfig) -> Result<Self> {
        Consumer::with_deserializers(config, BytesDeserializer, BytesDeserializer).await
    }
}

impl<K: Send + 'static, V: Send + 'static> Consumer<K, V> {
    /// A consumer with typed deserializers. Connects to the bootstrap servers.
    pub async fn with_deserializers(
        config: ConsumerConfig,
        key: impl Deserializer<K> + 'static,
        value: impl Deserializer<V> + 'static,
    ) -> Result<Self> {
        config.validate()?;
        let client = Client::connect_with(
            &config.bootstrap_servers,
            ClientConfig {
                client_id: config.client_id.clone(),
                request_timeout: config.request_timeout,
                retries: 5,
                retry_backoff: config.retry_backoff,
            },
        )
        .await?;
        let params = FetchParams {
            max_wait_ms: config.fetch_max_wait.as_millis() as i32,
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes,
            partition_max_bytes: config.max_partition_fetch_bytes,
            read_committed: config.isolation_level == IsolationLevel::ReadCommitted,
            check_crcs: config.check_crcs,
            retry_backoff: config.retry_backoff,
            reset: config.auto_offset_reset,
        };
        Ok(Consumer {
            fetcher: Fetcher::new(client.clone(), params),
            client,
            next_auto_commit: Instant::now() + config.auto_commit_interval,
            poll_timer: poll_timer::PollTimer::new(config.max_poll_interval),
            config,
            key_de: Box::new(key),
            value_de: Box::new(value),
            subscription: Subscription::None,
            listener: None,
            group: None,
            state: SubscriptionState::default(),
            pattern_checked: None,
            wakeup: WakeupHandle::default(),
            closed: false,
        })
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The underlying client (metadata, admin calls).
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// A handle that interrupts `poll` from elsewhere.
    pub fn wakeup_handle(&self) -> WakeupHandle {
        self.wakeup.clone()
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed {
            return Err(ClientError::Invalid(
                "This consumer has already been closed.".into(),
            ));
        }
        Ok(())
    }

    fn group_member(&self, topics: Vec<String>) -> Result<GroupMember> {
        let gc = group_member_config(&self.config)?;
        let mut m = GroupMember::new(self.client.clone(), gc, topics);
        m.enforce_poll_interval(self.poll_timer.clone());
        m.set_assignors(
            self.config
                .partition_assignment_strategy
                .iter()
                .filter_map(|n| assignor_by_name(n).map(Arc::from))
                .collect(),
        );
        Ok(m)
    }

    /// Subscribes to these topics (group-managed; replaces any previous subscription). The
    /// group is joined by the next `poll`.
    pub async fn subscribe(
        &mut self,
        topics: &[&str],
        listener: Option<Box<dyn ConsumerRebalanceListener>>,
    ) -> Result<()> {
        self.ensure_open()?;
        if topics.iter().any(|t| t.trim().is_empty()) {
            return Err(ClientError::Invalid(
                "Topic collection to subscribe to cannot contain null or empty topic".into(),
            ));
        }
        let mut topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        topics.sort();
        topics.dedup();
        self.start_subscription(Subscription::Topics(topics.clone()), topics, listener)
            .await
    }

    /// Subscribes to every topic whose whole name matches `pattern` (Java regex syntax for the
    /// common cases), now and as topics appear (checked every `metadata.max.age.ms`).
    pub async fn subscribe_pattern(
        &mut self,
        pattern: &str,
        listener: Option<Box<dyn ConsumerRebalanceListener>>,
    ) -> Result<()> {
        self.ensure_open()?;
        let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            ClientError::Invalid(format!("invalid subscription pattern {pattern}: {e}"))
        })?;
        self.pattern_checked = None;
        let sub = Subscription::Pattern {
            regex,
            source: pattern.to_string(),
        };
        self.start_subscription(sub, Vec::new(), listener).await
    }

    async fn start_subscription(
        &mut self,
        sub: Subscription,
        topics: Vec<String>,
        listener: Option<Box<dyn ConsumerRebalanceListener>>,
    ) -> Result<()> {
        if self.config.group_id.is_none() {
            return Err(no_group());
        }
        if matches!(self.subscription, Subscription::Assigned) {
            return Err(ClientError::Invalid(
                "Subscription to topics, partitions and pattern are mutually exclusive".into(),
            ));
        }
        self.listener = listener;
        match &mut self.group {
            Some(m) => m.set_topics(self.config.group_protocol, &sub, topics),
            None => {
                self.group = Some(match self.config.group_protocol {
                    GroupProtocol::Classic => group::Membership::Classic(Box::new(
                        group::Classic::new(self.group_member(topics)?),
                    )),
                    GroupProtocol::Consumer => {
                        group::Membership::Consumer(Box::new(kip848::Kip848Member::new(
                            self.client.clone(),
                            &self.config,
                            topics,
                            &sub,
                            self.poll_timer.clone(),
                        )?))
                    }
                })
            }
        }
        self.subscription = sub;
        Ok(())
    }

    /// Reads exactly these partitions, without group management (Kafka's `assign`).
    /// Committing still works when a group.id is configured.
    pub async fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.ensure_open()?;
        if matches!(
            self.subscription,
            Subscription::Topics(_) | Subscription::Pattern { .. }
        ) {
            return Err(ClientError::Invalid(
                "Subscription to topics, partitions and pattern are mutually exclusive".into(),
            ));
        }
        if self.config.auto_commit_active() {
            self.maybe_auto_commit(true).await;
        }
        self.state.set_assignment(partitions);
        self.subscription = if partitions.is_empty() {
            Subscription::None
        } else {
            Subscription::Assigned
        };
        Ok(())
    }

    /// Leaves the group (revoking partitions first) or drops the manual assignment.
    pub async fn unsubscribe(&mut self) -> Result<()> {
        self.ensure_open()?;
        self.leave_group().await;
        self.state.set_assignment(&[]);
        self.subscription = Subscription::None;
        Ok(())
    }

    /// The partitions assigned now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.state.assigned()
    }

    /// The subscribed topics (for a pattern: those it matched last).
    pub fn subscription(&self) -> Vec<String> {
        match &self.subscription {
            Subscription::Topics(t) => t.clone(),
            Subscription::Pattern { .. } => {
                self.group.as_ref().map(|g| g.topics()).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    fn assigned_state(&mut self, tp: &TopicPartition) -> Result<&mut state::PartitionState> {
        self.state.parts.get_mut(tp).ok_or_else(|| {
            ClientError::Invalid(format!("No current assignment for partition {tp}"))
        })
    }

    /// The next `poll` returns records of `tp` from `offset`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(ClientError::Invalid(format!(
                "seek offset must not be a negative number (got {offset})"
            )));
        }
        self.assigned_state(tp)?.seek(offset);
        Ok(())
    }

    /// Moves to the first offset of each partition (all assigned when empty), lazily.
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.reset_to(partitions, ResetTo::Earliest)
    }

    /// Moves to the end of each partition (all assigned when empty), lazily.
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.reset_to(partitions, ResetTo::Latest)
    }

    fn reset_to(&mut self, partitions: &[TopicPartition], to: ResetTo) -> Result<()> {
        let tps = if partitions.is_empty() {
            self.state.assigned()
        } else {
            partitions.to_vec()
        };
        for tp in &tps {
            let st = self.assigned_state(tp)?;
            st.buffered.clear();
            st.error = None;
            st.reset = Some(to);
        }
        Ok(())
    }

    /// Stops returning (and fetching) records of these partitions until `resume`.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.assigned_state(tp)?.paused = true;
        }
        Ok(())
    }

    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.assigned_state(tp)?.paused = false;
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.state
            .parts
            .iter()
            .filter(|(_, st)| st.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// The group member id (empty before joining or without a group).
    pub fn member_id(&self) -> String {
        self.group
            .as_ref()
            .map(|g| g.member_id())
            .unwrap_or_default()
    }

    /// Commits the consumed positions (when auto-commit is on), revokes the partitions
    /// through the listener, leaves the group and stops fetching. Idempotent.
    pub async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.leave_group().await;
        self.fetcher.shutdown();
        self.closed = true;
        Ok(())
    }
}

impl<K, V> Drop for Consumer<K, V> {
    fn drop(&mut self) {
        self.fetcher.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn join_group_rebalance_timeout_is_max_poll_interval() {
        let mut c = ConsumerConfig::new("h:1", Some("g"));
        assert_eq!(
            group_member_config(&c).unwrap().rebalance_timeout,
            Duration::from_millis(300_000)
        );
        c.max_poll_interval = Duration::from_millis(1500);
        c.session_timeout = Duration::from_millis(6000);
        let gc = group_member_config(&c).unwrap();
        assert_eq!(gc.rebalance_timeout, Duration::from_millis(1500));
        assert_eq!(gc.session_timeout, Duration::from_millis(6000));
        assert!(group_member_config(&ConsumerConfig::new("h:1", None)).is_err());
    }
}

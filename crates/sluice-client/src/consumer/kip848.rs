//! The KIP-848 group member (`group.protocol=consumer`): a background task sends
//! ConsumerGroupHeartbeat every interval the coordinator asks for (at once when the consumer
//! acknowledges a new owned set or changes its subscription), with the member epoch, the
//! subscription (topic names or a regex, the latter resolved by the broker) and the owned
//! partitions. The coordinator computes assignments; the consumer reconciles them between polls
//! (`group.rs`: revoke, acknowledge through the next heartbeat, assign). Fencing
//! (FENCED_MEMBER_EPOCH / UNKNOWN_MEMBER_ID) makes the consumer report its partitions lost and
//! rejoin with epoch 0. Commits carry the member epoch (OffsetCommit v9). Every wait is bounded.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_protocol::kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use sluice_protocol::kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, GroupId, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::admin_groups::CommitIdentity;
use crate::client::Client;
use crate::connection::Connection;
use crate::consumer::config::ConsumerConfig;
use crate::consumer::poll_timer::{warn_poll_timeout, PollTimer};
use crate::consumer::Subscription;
use crate::consumer_protocol::TopicPartition;
use crate::error::{codes, ClientError, Result};

const FENCED_MEMBER_EPOCH: i16 = 110;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

#[derive(Debug, Default)]
struct Shared {
    member_id: String,
    epoch: i32,
    topics: Vec<String>,
    regex: Option<String>,
    /// Send the subscription in the next heartbeat (join or change).
    send_subscription: bool,
    /// The latest assignment from the coordinator (topic id → partitions), not yet applied.
    target: Option<Vec<(Uuid, Vec<i32>)>>,
    /// Partitions the consumer owns now, as last acknowledged.
    owned: Vec<TopicPartition>,
    send_owned: bool,
    /// Topic name ↔ id, learned when translating assignments.
    ids: HashMap<String, Uuid>,
    lost: bool,
    /// Left the group because `max.poll.interval.ms` passed without a poll: no heartbeats
    /// and failing commits until the next poll rejoins (Kafka's STALE member state).
    stale: bool,
    fatal: Option<String>,
    interval: Duration,
}

pub(crate) struct Kip848Member {
    client: Arc<Client>,
    group_id: String,
    instance_id: Option<String>,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
    wake: Arc<Notify>,
    task: Option<JoinHandle<()>>,
    started: bool,
    rebalance_timeout_ms: i32,
    assignor: Option<String>,
    poll_timer: Arc<PollTimer>,
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Commits with the member's id and current epoch.
#[derive(Clone)]
pub(crate) struct Kip848Committer {
    client: Arc<Client>,
    group_id: String,
    instance_id: Option<String>,
    shared: Arc<Mutex<Shared>>,
}

impl Kip848Committer {
    pub async fn commit(&self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let who = {
            let st = lock(&self.shared);
            if st.stale {
                return Err(ClientError::commit_failed(&self.group_id, None));
            }
            CommitIdentity {
                generation_id: st.epoch,
                member_id: st.member_id.clone(),
                group_instance_id: self.instance_id.clone(),
            }
        };
        let res = self
            .client
            .commit_group_offsets(&self.group_id, &who, offsets)
            .await?;
        match res.into_iter().find_map(|(tp, r)| r.err().map(|e| (tp, e))) {
            Some((_, e)) if e.code() == Some(codes::UNKNOWN_MEMBER_ID) => Err(
                ClientError::commit_failed(&self.group_id, Some(codes::UNKNOWN_MEMBER_ID)),
            ),
            Some((tp, e)) => Err(ClientError::Kafka {
                code: e.code().unwrap_or(-1),
                message: Some(format!(
                    "committing offsets of {tp} for group {}",
                    self.group_id
                )),
            }),
            None => Ok(()),
        }
    }
}

impl Kip848Member {
    pub fn new(
        client: Arc<Client>,
        config: &ConsumerConfig,
        topics: Vec<String>,
        sub: &Subscription,
        poll_timer: Arc<PollTimer>,
    ) -> Result<Self> {
        let group_id = config.group_id.clone().ok_or_else(|| {
            ClientError::Invalid("group.protocol=consumer needs a group.id".into())
        })?;
        let mut m = Kip848Member {
            client,
            group_id,
            instance_id: config.group_instance_id.clone(),
            shared: Arc::new(Mutex::new(Shared {
                member_id: Uuid::new_v4().simple().to_string(),
                interval: config.heartbeat_interval,
                ..Default::default()
            })),
            notify: Arc::new(Notify::new()),
            wake: Arc::new(Notify::new()),
            task: None,
            started: false,
            rebalance_timeout_ms: config.max_poll_interval.as_millis() as i32,
            assignor: config.group_remote_assignor.clone(),
            poll_timer,
        };
        m.set_subscription(topics, sub);
        Ok(m)
    }

    pub fn set_subscription(&mut self, topics: Vec<String>, sub: &Subscription) {
        {
            let mut st = lock(&self.shared);
            st.regex = match sub {
                Subscription::Pattern { source, .. } => Some(source.clone()),
                _ => None,
            };
            st.topics = topics;
            st.send_subscription = true;
        }
        self.wake.notify_one();
    }

    pub fn topics(&self) -> Vec<String> {
        lock(&self.shared).topics.clone()
    }

    pub fn member_id(&self) -> String {
        lock(&self.shared).member_id.clone()
    }

    pub fn notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    pub fn joined(&self) -> bool {
        lock(&self.shared).epoch > 0
    }

    /// True when the partitions were lost (fenced, or left after the poll timeout) and the
    /// consumer has not reported it yet.
    pub fn lost_pending(&self) -> bool {
        lock(&self.shared).lost
    }

    pub fn committer(&self) -> Kip848Committer {
        Kip848Committer {
            client: self.client.clone(),
            group_id: self.group_id.clone(),
            instance_id: self.instance_id.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Starts heartbeating (first call), then returns a new target assignment in topic names
    /// if one arrived, with `true` when the previous partitions were lost (fenced).
    pub async fn poll_target(&mut self) -> Result<Option<(Vec<TopicPartition>, bool)>> {
        if !self.started {
            self.started = true;
            self.spawn();
        }
        let (target, lost) = {
            let mut st = lock(&self.shared);
            if let Some(f) = &st.fatal {
                return Err(ClientError::Invalid(f.clone()));
            }
            if st.stale {
                // The application polls again: rejoin (epoch 0, same member id).
                st.stale = false;
                self.wake.notify_one();
            }
            (st.target.take(), std::mem::take(&mut st.lost))
        };
        let Some(target) = target else {
            return Ok(lost.then(|| (Vec::new(), true)));
        };
        let mut names: HashMap<Uuid, String> = lock(&self.shared)
            .ids
            .iter()
            .map(|(n, id)| (*id, n.clone()))
            .collect();
        if target.iter().any(|(id, _)| !names.contains_key(id)) {
            let md = self.client.metadata(None).await?;
            let mut st = lock(&self.shared);
            for t in md.topics {
                st.ids.insert(t.name.clone(), t.topic_id);
                names.insert(t.topic_id, t.name);
            }
        }
        let mut out = Vec::new();
        for (id, parts) in target {
            match names.get(&id) {
                Some(n) => out.extend(
                    parts
                        .into_iter()
                        .map(|p| TopicPartition::new(n.as_str(), p)),
                ),
                None => tracing::warn!("assigned topic id {id} is not in the metadata; skipped"),
            }
        }
        out.sort();
        Ok(Some((out, lost)))
    }

    /// Records what the consumer owns now; the next heartbeat (sent at once) reports it.
    pub fn ack_owned(&mut self, owned: Vec<TopicPartition>) {
        {
            let mut st = lock(&self.shared);
            st.owned = owned;
            st.send_owned = true;
        }
        self.wake.notify_one();
    }

    fn spawn(&mut self) {
        let hb = Heartbeat {
            client: self.client.clone(),
            group_id: self.group_id.clone(),
            instance_id: self.instance_id.clone(),
            shared: self.shared.clone(),
            notify: self.notify.clone(),
            wake: self.wake.clone(),
            rebalance_timeout_ms: self.rebalance_timeout_ms,
            assignor: self.assignor.clone(),
            poll_timer: self.poll_timer.clone(),
        };
        self.task = Some(tokio::spawn(hb.run()));
    }

    /// Leaves the group (epoch -1, or -2 for a static member) and stops heartbeating.
    pub async fn leave(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        let (member_id, epoch) = {
            let st = lock(&self.shared);
            (st.member_id.clone(), st.epoch)
        };
        if epoch <= 0 {
            return;
        }
        let req = leave_request(&self.group_id, self.instance_id.as_deref(), &member_id);
        let res = async {
            let (_, conn) = self
                .client
                .group_coordinator_connection(&self.group_id)
                .await?;
            conn.send(&req).await
        }
        .await;
        if let Err(e) = res {
            tracing::warn!("leaving group {}: {e}", self.group_id);
        }
    }
}

impl Drop for Kip848Member {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

struct Heartbeat {
    client: Arc<Client>,
    group_id: String,
    instance_id: Option<String>,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
    wake: Arc<Notify>,
    rebalance_timeout_ms: i32,
    assignor: Option<String>,
    poll_timer: Arc<PollTimer>,
}

impl Heartbeat {
    fn request(&self) -> ConsumerGroupHeartbeatRequest {
        let mut st = lock(&self.shared);
        let joining = st.epoch == 0;
        let mut req = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(&self.group_id)))
            .with_member_id(s(&st.member_id))
            .with_member_epoch(st.epoch)
            .with_instance_id(self.instance_id.as_deref().map(s));
        if joining || st.send_subscription {
            req.rebalance_timeout_ms = self.rebalance_timeout_ms;
            req.server_assignor = self.assignor.as_deref().map(s);
            match &st.regex {
                Some(r) => req.subscribed_topic_regex = Some(s(r)),
                None => {
                    req.subscribed_topic_names =
                        Some(st.topics.iter().map(|t| TopicName(s(t))).collect())
                }
            }
            st.send_subscription = false;
        } else {
            req.rebalance_timeout_ms = -1;
        }
        if joining {
            req.topic_partitions = Some(Vec::new());
        } else if st.send_owned {
            let mut by_topic: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
            for tp in &st.owned {
                if let Some(id) = st.ids.get(&tp.topic) {
                    by_topic.entry(*id).or_default().push(tp.partition);
                }
            }
            req.topic_partitions = Some(
                by_topic
                    .into_iter()
                    .map(|(id, ps)| {
                        TopicPartitions::default()
                            .with_topic_id(id)
                            .with_partitions(ps)
                    })
                    .collect(),
            );
            st.send_owned = false;
        }
        req
    }

    /// The poll timeout expired: leave with epoch -1 (-2 for a static member) and go stale —
    /// no heartbeats until the next poll, partitions reported lost, commits failing.
    async fn leave_on_poll_timeout(&self, conn: Option<&Arc<Connection>>) {
        warn_poll_timeout(&self.group_id, self.poll_timer.max_interval());
        let member_id = {
            let mut st = lock(&self.shared);
            st.stale = true;
            st.epoch = 0;
            st.lost = true;
            st.owned.clear();
            st.send_owned = false;
            st.target = None;
            st.member_id.clone()
        };
        self.notify.notify_one();
        let req = leave_request(&self.group_id, self.instance_id.as_deref(), &member_id);
        let res = async {
            let conn = match conn {
                Some(c) => c.clone(),
                None => {
                    self.client
                        .group_coordinator_connection(&self.group_id)
                        .await?
                        .1
                }
            };
            conn.send(&req).await
        }
        .await;
        match res {
            Ok(r) if r.error_code != 0 => tracing::debug!(
                "group {}: leave heartbeat answered {}",
                self.group_id,
                r.error_code
            ),
            Ok(_) => {}
            Err(e) => tracing::debug!("group {}: leave heartbeat: {e}", self.group_id),
        }
    }

    /// Waits for the heartbeat interval, a wake-up, or the poll deadline, whichever is first.
    async fn wait(&self, interval: Duration) {
        let now = tokio::time::Instant::now();
        let mut until = now + interval;
        // An already passed deadline (not joined yet) must not turn this into a busy loop.
        if let Some(d) = self.poll_timer.deadline().map(tokio::time::Instant::from) {
            if d > now {
                until = until.min(d);
            }
        }
        let _ = tokio::time::timeout_at(until, self.wake.notified()).await;
    }

    async fn run(self) {
        let mut conn: Option<Arc<Connection>> = None;
        let mut failures = 0u32;
        loop {
            let (stale, joined, interval) = {
                let st = lock(&self.shared);
                (st.stale, st.epoch > 0, st.interval)
            };
            if stale {
                // Silent until the application polls again (poll_target wakes us).
                let _ = tokio::time::timeout(interval, self.wake.notified()).await;
                continue;
            }
            if joined && self.poll_timer.expired() {
                self.leave_on_poll_timeout(conn.as_ref()).await;
                continue;
            }
            let c = match &conn {
                Some(c) => c.clone(),
                None => match self
                    .client
                    .group_coordinator_connection(&self.group_id)
                    .await
                {
                    Ok((_, c)) => {
                        conn = Some(c.clone());
                        c
                    }
                    Err(e) => {
                        tracing::debug!("group {}: coordinator: {e}", self.group_id);
                        failures += 1;
                        self.client.backoff(failures.min(5)).await;
                        continue;
                    }
                },
            };
            let req = self.request();
            let has_regex = req.subscribed_topic_regex.is_some();
            let version = match c.version_for::<ConsumerGroupHeartbeatRequest>(None) {
                Ok(v) if v >= 1 || !has_regex => v,
                Ok(_) => {
                    self.fatal(
                        "the broker's ConsumerGroupHeartbeat v0 cannot carry a regex subscription"
                            .into(),
                    );
                    return;
                }
                Err(e) => {
                    self.fatal(format!("group.protocol=consumer: {e}"));
                    return;
                }
            };
            let code = match c.send_at(&req, version).await {
                Ok(resp) => {
                    if resp.error_code == 0 {
                        failures = 0;
                        let mut st = lock(&self.shared);
                        if let Some(id) = resp.member_id {
                            st.member_id = id.to_string();
                        }
                        st.epoch = resp.member_epoch;
                        if resp.heartbeat_interval_ms > 0 {
                            st.interval = Duration::from_millis(resp.heartbeat_interval_ms as u64);
                        }
                        if let Some(a) = resp.assignment {
                            st.target = Some(
                                a.topic_partitions
                                    .into_iter()
                                    .map(|t| (t.topic_id, t.partitions))
                                    .collect(),
                            );
                            drop(st);
                            self.notify.notify_one();
                        }
                        0
                    } else {
                        tracing::debug!(
                            "group {}: heartbeat error {} {:?}",
                            self.group_id,
                            resp.error_code,
                            resp.error_message
                        );
                        resp.error_code
                    }
                }
                Err(e) => {
                    tracing::debug!("group {}: heartbeat: {e}", self.group_id);
                    codes::COORDINATOR_NOT_AVAILABLE
                }
            };
            match code {
                0 => {}
                FENCED_MEMBER_EPOCH | codes::UNKNOWN_MEMBER_ID => {
                    let mut st = lock(&self.shared);
                    st.epoch = 0;
                    st.lost = true;
                    st.owned.clear();
                    st.target = None;
                    drop(st);
                    self.notify.notify_one();
                    continue;
                }
                codes::COORDINATOR_NOT_AVAILABLE
                | codes::NOT_COORDINATOR
                | codes::COORDINATOR_LOAD_IN_PROGRESS => {
                    conn = None;
                    failures += 1;
                    self.client.backoff(failures.min(5)).await;
                    continue;
                }
                c => {
                    self.fatal(
                        ClientError::Kafka {
                            code: c,
                            message: Some(format!(
                                "ConsumerGroupHeartbeat of group {}",
                                self.group_id
                            )),
                        }
                        .to_string(),
                    );
                    return;
                }
            }
            let interval = lock(&self.shared).interval;
            self.wait(interval).await;
        }
    }

    fn fatal(&self, message: String) {
        lock(&self.shared).fatal = Some(message);
        self.notify.notify_one();
    }
}

/// The leave heartbeat: member epoch -1, or -2 for a static member (it may come back).
fn leave_request(
    group_id: &str,
    instance_id: Option<&str>,
    member_id: &str,
) -> ConsumerGroupHeartbeatRequest {
    let leave_epoch = if instance_id.is_some() { -2 } else { -1 };
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group_id)))
        .with_member_id(s(member_id))
        .with_member_epoch(leave_epoch)
        .with_instance_id(instance_id.map(s))
}

//! `GroupMember`: one member of a classic ("consumer" protocol type) consumer group, as
//! Kafka's ConsumerCoordinator runs it — JoinGroup (with the KIP-394 MEMBER_ID_REQUIRED
//! round trip; one protocol per configured assignor, the subscription carrying the owned
//! partitions and generation), the leader's assignment with the assignor the coordinator
//! selected (`consumer::assignor`: range, roundrobin, sticky, cooperative-sticky), SyncGroup,
//! heartbeats on a background task
//! every heartbeat interval, rejoin after REBALANCE_IN_PROGRESS / UNKNOWN_MEMBER_ID /
//! ILLEGAL_GENERATION, OffsetCommit with the member's generation, OffsetFetch of committed
//! positions, and LeaveGroup. It knows nothing of fetching or printing: a consumer drives it
//! (`join`, then `needs_rejoin` between polls, `commit`, `leave`). Every wait is bounded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_protocol::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use sluice_protocol::kafka_protocol::messages::leave_group_request::MemberIdentity;
use sluice_protocol::kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use sluice_protocol::kafka_protocol::messages::{
    GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::admin_groups::CommitIdentity;
use crate::client::Client;
use crate::connection::Connection;
use crate::consumer::assignor::{PartitionAssignor, RangeAssignor};
use crate::consumer::poll_timer::{warn_poll_timeout, PollTimer};
use crate::consumer_protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription_with,
    MemberSubscription, TopicPartition, CONSUMER_PROTOCOL_TYPE,
};
use crate::error::{codes, ClientError, Result};

/// The default assignor of a `GroupMember` (Kafka's RangeAssignor).
pub const RANGE_ASSIGNOR: &str = "range";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Group membership settings, with Kafka's consumer defaults.
#[derive(Debug, Clone)]
pub struct GroupMemberConfig {
    pub group_id: String,
    /// `session.timeout.ms` (45 s).
    pub session_timeout: Duration,
    /// `max.poll.interval.ms` (5 min): how long a rebalance may wait for this member.
    pub rebalance_timeout: Duration,
    /// `heartbeat.interval.ms` (3 s).
    pub heartbeat_interval: Duration,
    /// `group.instance.id` (static membership), if any.
    pub group_instance_id: Option<String>,
}

impl GroupMemberConfig {
    pub fn new(group_id: impl Into<String>) -> Self {
        GroupMemberConfig {
            group_id: group_id.into(),
            session_timeout: Duration::from_millis(45_000),
            rebalance_timeout: Duration::from_millis(300_000),
            heartbeat_interval: Duration::from_millis(3_000),
            group_instance_id: None,
        }
    }
}

/// State shared with the heartbeat task.
#[derive(Debug, Default)]
struct Membership {
    member_id: String,
    generation: i32,
    rejoin_needed: bool,
    /// A reason the member cannot continue (e.g. FENCED_INSTANCE_ID).
    fatal: Option<String>,
    /// The heartbeat task gave up the membership because the consumer did not poll within
    /// `max.poll.interval.ms`: commits fail (CommitFailed) until the next join.
    left: bool,
}

/// A member of one consumer group, subscribed to a fixed list of topics.
pub struct GroupMember {
    client: Arc<Client>,
    config: GroupMemberConfig,
    topics: Vec<String>,
    state: Arc<Mutex<Membership>>,
    assignment: Vec<TopicPartition>,
    /// Assignors offered in JoinGroup, in preference order.
    assignors: Vec<Arc<dyn PartitionAssignor>>,
    /// Partitions this member owns when it (re)joins, sent in its subscription.
    owned: Vec<TopicPartition>,
    /// The assignor the coordinator selected in the last join.
    protocol: Option<String>,
    /// Signalled when the heartbeat task flags a rejoin or a fatal error.
    notify: Arc<Notify>,
    /// Connection to the coordinator for JoinGroup/SyncGroup, whose timeout covers a whole
    /// rebalance (the client's pooled connections time out sooner).
    join_conn: Option<Arc<Connection>>,
    heartbeat: Option<JoinHandle<()>>,
    /// The consumer's poll timer: when set, the heartbeat task leaves the group once
    /// `max.poll.interval.ms` passes without a poll.
    poll_timer: Option<Arc<PollTimer>>,
}

/// Kafka's RangeAssignor over plain topic subscriptions (see
/// [`crate::consumer::assignor::RangeAssignor`]).
pub fn range_assign(
    subscriptions: &BTreeMap<String, Vec<String>>,
    partitions_per_topic: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let subs = subscriptions
        .iter()
        .map(|(m, ts)| {
            let s = MemberSubscription {
                topics: ts.clone(),
                generation: -1,
                ..Default::default()
            };
            (m.clone(), s)
        })
        .collect();
    RangeAssignor.assign(partitions_per_topic, &subs)
}

fn needs_rejoin_code(code: i16) -> bool {
    matches!(
        code,
        codes::REBALANCE_IN_PROGRESS | codes::UNKNOWN_MEMBER_ID | codes::ILLEGAL_GENERATION
    )
}

fn coordinator_code(code: i16) -> bool {
    matches!(
        code,
        codes::COORDINATOR_LOAD_IN_PROGRESS
            | codes::COORDINATOR_NOT_AVAILABLE
            | codes::NOT_COORDINATOR
    )
}

enum Step {
    Joined(Vec<TopicPartition>),
    Retry,
}

impl GroupMember {
    pub fn new(client: Arc<Client>, config: GroupMemberConfig, topics: Vec<String>) -> Self {
        GroupMember {
            client,
            config,
            topics,
            state: Arc::new(Mutex::new(Membership::default())),
            assignment: Vec::new(),
            assignors: vec![Arc::new(RangeAssignor)],
            owned: Vec::new(),
            protocol: None,
            notify: Arc::new(Notify::new()),
            join_conn: None,
            heartbeat: None,
            poll_timer: None,
        }
    }

    pub fn group_id(&self) -> &str {
        &self.config.group_id
    }

    /// The assignors offered in JoinGroup, in preference order (default: range).
    pub fn set_assignors(&mut self, assignors: Vec<Arc<dyn PartitionAssignor>>) {
        if !assignors.is_empty() {
            self.assignors = assignors;
        }
    }

    /// The topics subscribed to from the next join on.
    pub fn set_topics(&mut self, topics: Vec<String>) {
        self.topics = topics;
    }

    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The partitions this member owns when it next joins (sticky/cooperative assignors keep
    /// them where they can).
    pub fn set_owned(&mut self, owned: Vec<TopicPartition>) {
        self.owned = owned;
    }

    /// Makes the heartbeat task enforce `max.poll.interval.ms` with the consumer's timer.
    pub(crate) fn enforce_poll_interval(&mut self, timer: Arc<PollTimer>) {
        self.poll_timer = Some(timer);
    }

    /// True when the member is no longer in the generation it joined (fenced, expired, or
    /// left after the poll timeout): its partitions are lost, not revoked.
    pub fn membership_lost(&self) -> bool {
        let st = self.lock();
        st.member_id.is_empty() || st.generation < 0 || st.left
    }

    /// The assignor the coordinator selected in the last join.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Notified when the heartbeat task flags a rejoin (or a fatal error).
    pub fn rejoin_notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// Asks for a rejoin before the next fetch (cooperative revocation, new subscription).
    pub fn request_rejoin(&self) {
        self.lock().rejoin_needed = true;
    }

    /// A handle that commits with this member's current generation from another task.
    pub fn committer(&self) -> GroupCommitter {
        GroupCommitter {
            client: self.client.clone(),
            group_id: self.config.group_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            state: self.state.clone(),
        }
    }

    /// The partitions of the current generation.
    pub fn assignment(&self) -> &[TopicPartition] {
        &self.assignment
    }

    /// The member id the coordinator gave this member ("" before the first join).
    pub fn member_id(&self) -> String {
        self.lock().member_id.clone()
    }

    pub fn generation(&self) -> i32 {
        self.lock().generation
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Membership> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when the group is rebalancing (or forgot this member): call [`GroupMember::join`]
    /// again before fetching more. Fails when the member was fenced for good.
    pub fn needs_rejoin(&self) -> Result<bool> {
        let st = self.lock();
        if let Some(f) = &st.fatal {
            return Err(ClientError::Invalid(f.clone()));
        }
        Ok(st.rejoin_needed)
    }

    /// Joins (or rejoins) the group and returns this member's assignment. Retries through
    /// coordinator moves and concurrent rebalances for at most twice the rebalance timeout.
    pub async fn join(&mut self) -> Result<Vec<TopicPartition>> {
        self.stop_heartbeat();
        let deadline = Instant::now() + self.config.rebalance_timeout * 2;
        let mut attempt = 0u32;
        loop {
            let res = self.join_once().await;
            match res {
                Ok(Step::Joined(a)) => {
                    self.assignment = a.clone();
                    {
                        let mut st = self.lock();
                        st.rejoin_needed = false;
                        st.left = false;
                    }
                    self.start_heartbeat().await?;
                    return Ok(a);
                }
                Ok(Step::Retry) => {}
                Err(e) if matches!(e, ClientError::Io { .. } | ClientError::Timeout { .. }) => {
                    self.join_conn = None;
                    tracing::debug!("group {}: {e}; rejoining", self.config.group_id);
                }
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Invalid(format!(
                    "could not join group {} within {} ms",
                    self.config.group_id,
                    (self.config.rebalance_timeout * 2).as_millis()
                )));
            }
            if attempt > 0 {
                self.client.backoff(attempt.min(4)).await;
            }
            attempt += 1;
        }
    }

    async fn coordinator_conn(&mut self) -> Result<Arc<Connection>> {
        if let Some(c) = &self.join_conn {
            if c.is_usable().await {
                return Ok(c.clone());
            }
        }
        let c = self
            .client
            .find_group_coordinator(&self.config.group_id)
            .await?;
        let timeout = self.config.rebalance_timeout + self.client.config().request_timeout;
        let conn = Arc::new(
            Connection::connect(&c.addr(), &self.client.config().client_id, timeout).await?,
        );
        self.join_conn = Some(conn.clone());
        Ok(conn)
    }

    /// One JoinGroup + SyncGroup round.
    async fn join_once(&mut self) -> Result<Step> {
        let conn = self.coordinator_conn().await?;
        let group = self.config.group_id.clone();
        let member_id = self.member_id();
        let version = conn.version_for::<JoinGroupRequest>(None)?;
        let mut req = JoinGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_session_timeout_ms(self.config.session_timeout.as_millis() as i32)
            .with_member_id(s(&member_id))
            .with_protocol_type(s(CONSUMER_PROTOCOL_TYPE))
            .with_protocols(self.join_protocols()?);
        if version >= 1 {
            req.rebalance_timeout_ms = self.config.rebalance_timeout.as_millis() as i32;
        }
        if version >= 5 {
            req.group_instance_id = self.config.group_instance_id.as_deref().map(s);
        }
        let resp = conn.send_at(&req, version).await?;
        match resp.error_code {
            0 => {}
            codes::MEMBER_ID_REQUIRED => {
                self.lock().member_id = resp.member_id.to_string();
                return Ok(Step::Retry);
            }
            codes::UNKNOWN_MEMBER_ID => {
                self.lock().member_id.clear();
                return Ok(Step::Retry);
            }
            codes::REBALANCE_IN_PROGRESS => return Ok(Step::Retry),
            c if coordinator_code(c) => {
                self.join_conn = None;
                return Ok(Step::Retry);
            }
            c => {
                return Err(ClientError::Kafka {
                    code: c,
                    message: Some(format!("JoinGroup of group {group}")),
                })
            }
        }
        let generation = resp.generation_id;
        let member_id = resp.member_id.to_string();
        self.protocol = resp.protocol_name.as_ref().map(|p| p.to_string());
        {
            let mut st = self.lock();
            st.member_id = member_id.clone();
            st.generation = generation;
        }
        let assignments = if resp.leader.as_str() == member_id && !resp.skip_assignment {
            self.leader_assign(resp.protocol_name.as_deref(), &resp.members)
                .await?
        } else {
            Vec::new()
        };
        let version = conn.version_for::<SyncGroupRequest>(None)?;
        let mut req = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(generation)
            .with_member_id(s(&member_id))
            .with_assignments(assignments);
        if version >= 3 {
            req.group_instance_id = self.config.group_instance_id.as_deref().map(s);
        }
        if version >= 5 {
            req.protocol_type = Some(s(CONSUMER_PROTOCOL_TYPE));
            req.protocol_name = resp.protocol_name.clone();
        }
        let sync = conn.send_at(&req, version).await?;
        match sync.error_code {
            0 => Ok(Step::Joined(decode_assignment(&sync.assignment)?)),
            codes::UNKNOWN_MEMBER_ID => {
                self.lock().member_id.clear();
                Ok(Step::Retry)
            }
            c if needs_rejoin_code(c) => Ok(Step::Retry),
            c if coordinator_code(c) => {
                self.join_conn = None;
                Ok(Step::Retry)
            }
            c => Err(ClientError::Kafka {
                code: c,
                message: Some(format!("SyncGroup of group {group}")),
            }),
        }
    }

    /// One JoinGroup protocol per assignor, each with this member's subscription.
    fn join_protocols(&self) -> Result<Vec<JoinGroupRequestProtocol>> {
        let generation = if self.owned.is_empty() {
            -1
        } else {
            self.generation()
        };
        self.assignors
            .iter()
            .map(|a| {
                let user_data = a.user_data(&self.owned, generation);
                Ok(JoinGroupRequestProtocol::default()
                    .with_name(s(a.name()))
                    .with_metadata(encode_subscription_with(
                        &self.topics,
                        user_data,
                        &self.owned,
                        generation,
                    )?))
            })
            .collect()
    }

    /// The leader's job: decode every member's subscription, look up partition counts and
    /// run the assignor the coordinator selected.
    async fn leader_assign(
        &self,
        protocol: Option<&str>,
        members: &[sluice_protocol::kafka_protocol::messages::join_group_response::JoinGroupResponseMember],
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let assignor = self
            .assignors
            .iter()
            .find(|a| Some(a.name()) == protocol)
            .ok_or_else(|| {
                ClientError::Invalid(format!(
                    "group {}: the coordinator selected assignor {protocol:?}, which this member did not offer",
                    self.config.group_id
                ))
            })?;
        let mut subs: BTreeMap<String, MemberSubscription> = BTreeMap::new();
        for m in members {
            let sub = decode_subscription(&m.metadata).unwrap_or_else(|e| {
                tracing::warn!("member {}: {e}; assigning nothing", m.member_id);
                MemberSubscription {
                    generation: -1,
                    ..Default::default()
                }
            });
            subs.insert(m.member_id.to_string(), sub);
        }
        let mut all: Vec<String> = subs.values().flat_map(|s| s.topics.clone()).collect();
        all.sort();
        all.dedup();
        let mut counts = BTreeMap::new();
        for t in all {
            match self.client.topic_metadata(&t, true).await {
                Ok(md) => {
                    counts.insert(t, md.partitions.len() as i32);
                }
                Err(e) => tracing::warn!("subscribed topic {t}: {e}; not assigned"),
            }
        }
        assignor
            .assign(&counts, &subs)
            .into_iter()
            .map(|(m, tps)| {
                Ok(SyncGroupRequestAssignment::default()
                    .with_member_id(s(&m))
                    .with_assignment(encode_assignment(&tps)?))
            })
            .collect()
    }

    async fn start_heartbeat(&mut self) -> Result<()> {
        let coordinator = self
            .client
            .find_group_coordinator(&self.config.group_id)
            .await?;
        let cfg = self.client.config().clone();
        let conn =
            Connection::connect(&coordinator.addr(), &cfg.client_id, cfg.request_timeout).await?;
        let state = self.state.clone();
        let group = self.config.group_id.clone();
        let instance = self.config.group_instance_id.clone();
        let interval = self.config.heartbeat_interval;
        let notify = self.notify.clone();
        let timer = self.poll_timer.clone();
        self.heartbeat = Some(tokio::spawn(async move {
            heartbeat_loop(conn, state, group, instance, interval, timer).await;
            notify.notify_one();
        }));
        Ok(())
    }

    fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }

    /// OffsetCommit with this member's generation. A rebalance in the meantime fails the
    /// commit and marks the member for rejoin.
    pub async fn commit(&self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        self.committer().commit(offsets).await
    }

    /// The group's committed offsets for `partitions` (absent = none committed).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        Ok(self
            .client
            .list_group_offsets(&self.config.group_id, Some(partitions))
            .await?
            .into_iter()
            .map(|(tp, c)| (tp, c.offset))
            .collect())
    }

    /// Stops heartbeating and leaves the group (LeaveGroup), so it rebalances at once.
    pub async fn leave(mut self) -> Result<()> {
        self.stop_heartbeat();
        let member_id = self.member_id();
        if member_id.is_empty() {
            return Ok(());
        }
        let (_, conn) = self
            .client
            .group_coordinator_connection(&self.config.group_id)
            .await?;
        let code = send_leave_group(
            &conn,
            &self.config.group_id,
            &member_id,
            self.config.group_instance_id.as_deref(),
            None,
        )
        .await?;
        match code {
            0 | codes::UNKNOWN_MEMBER_ID => Ok(()),
            c => Err(ClientError::Kafka {
                code: c,
                message: Some(format!("LeaveGroup of group {}", self.config.group_id)),
            }),
        }
    }
}

/// Commits offsets with a member's current generation (cheap to clone; usable from other
/// tasks, e.g. for asynchronous commits).
#[derive(Clone)]
pub struct GroupCommitter {
    client: Arc<Client>,
    group_id: String,
    group_instance_id: Option<String>,
    state: Arc<Mutex<Membership>>,
}

impl GroupCommitter {
    /// OffsetCommit with the member's generation; a generation error flags a rejoin.
    pub async fn commit(&self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let lock = || self.state.lock().unwrap_or_else(|p| p.into_inner());
        let who = {
            let st = lock();
            CommitIdentity {
                generation_id: st.generation,
                member_id: st.member_id.clone(),
                group_instance_id: self.group_instance_id.clone(),
            }
        };
        if lock().left {
            // Kafka fails the commit without asking the coordinator: this member gave up its
            // generation when the poll timeout expired.
            return Err(ClientError::commit_failed(&self.group_id, None));
        }
        let results = self
            .client
            .commit_group_offsets(&self.group_id, &who, offsets)
            .await?;
        for (tp, r) in results {
            if let Err(e) = r {
                if e.code().is_some_and(needs_rejoin_code) {
                    lock().rejoin_needed = true;
                }
                if let Some(c @ (codes::UNKNOWN_MEMBER_ID | codes::ILLEGAL_GENERATION)) = e.code() {
                    return Err(ClientError::commit_failed(&self.group_id, Some(c)));
                }
                return Err(ClientError::Kafka {
                    code: e.code().unwrap_or(-1),
                    message: Some(format!(
                        "committing offsets of {tp} for group {}",
                        self.group_id
                    )),
                });
            }
        }
        Ok(())
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

/// LeaveGroup for one member (v3+: by identity, with a reason from v5); returns the first
/// error code of the response (0 when none).
async fn send_leave_group(
    conn: &Connection,
    group: &str,
    member_id: &str,
    instance: Option<&str>,
    reason: Option<&str>,
) -> Result<i16> {
    let version = conn.version_for::<LeaveGroupRequest>(None)?;
    let mut req = LeaveGroupRequest::default().with_group_id(GroupId(s(group)));
    if version >= 3 {
        let mut m = MemberIdentity::default()
            .with_member_id(s(member_id))
            .with_group_instance_id(instance.map(s));
        if version >= 5 {
            m.reason = reason.map(s);
        }
        req.members = vec![m];
    } else {
        req.member_id = s(member_id);
    }
    let resp = conn.send_at(&req, version).await?;
    Ok(if resp.error_code != 0 {
        resp.error_code
    } else {
        resp.members
            .iter()
            .map(|m| m.error_code)
            .find(|c| *c != 0)
            .unwrap_or(0)
    })
}

/// The poll timeout expired: a dynamic member leaves the group (LeaveGroup), a static one
/// (`group.instance.id`) only stops heartbeating and keeps its member id, so the coordinator
/// expires it after `session.timeout.ms`. Either way the generation is gone and the
/// consumer must rejoin (reporting its partitions lost) at its next poll.
async fn leave_on_poll_timeout(
    conn: &Connection,
    state: &Mutex<Membership>,
    group: &str,
    instance: Option<&str>,
    max: Duration,
) {
    warn_poll_timeout(group, max);
    // Give up the generation first, so a commit racing with the LeaveGroup already fails.
    let member_id = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let id = st.member_id.clone();
        st.left = true;
        st.generation = -1;
        if instance.is_none() {
            st.member_id.clear();
        }
        st.rejoin_needed = true;
        id
    };
    if instance.is_none() && !member_id.is_empty() {
        match send_leave_group(
            conn,
            group,
            &member_id,
            None,
            Some("consumer poll timeout has expired."),
        )
        .await
        {
            Ok(0) | Ok(codes::UNKNOWN_MEMBER_ID) => {}
            Ok(c) => tracing::debug!("group {group}: LeaveGroup answered {c}"),
            Err(e) => tracing::debug!("group {group}: LeaveGroup: {e}"),
        }
    }
}

/// Heartbeats until the coordinator asks for a rejoin, the poll timeout expires (when the
/// consumer's poll timer is given) or the task is aborted.
async fn heartbeat_loop(
    conn: Connection,
    state: Arc<Mutex<Membership>>,
    group: String,
    instance: Option<String>,
    interval: Duration,
    timer: Option<Arc<PollTimer>>,
) {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let mut next_heartbeat = Instant::now() + interval;
    loop {
        let poll_deadline = timer.as_ref().and_then(|t| t.deadline());
        let wake = poll_deadline.map_or(next_heartbeat, |d| d.min(next_heartbeat));
        tokio::time::sleep_until(wake.into()).await;
        if let Some(t) = timer.as_ref().filter(|t| t.expired()) {
            leave_on_poll_timeout(&conn, &state, &group, instance.as_deref(), t.max_interval())
                .await;
            return;
        }
        if Instant::now() < next_heartbeat {
            continue; // woke for a poll deadline that moved: the consumer polled meanwhile
        }
        next_heartbeat = Instant::now() + interval;
        let (generation, member_id) = {
            let st = lock();
            (st.generation, st.member_id.clone())
        };
        let version = match conn.version_for::<HeartbeatRequest>(None) {
            Ok(v) => v,
            Err(e) => {
                lock().fatal = Some(e.to_string());
                return;
            }
        };
        let mut req = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(generation)
            .with_member_id(s(&member_id));
        if version >= 3 {
            req.group_instance_id = instance.as_deref().map(s);
        }
        let code = match conn.send_at(&req, version).await {
            Ok(r) => r.error_code,
            // Transport trouble: rediscover the coordinator through a rejoin.
            Err(_) => codes::COORDINATOR_NOT_AVAILABLE,
        };
        match code {
            0 => {}
            codes::FENCED_INSTANCE_ID => {
                lock().fatal = Some(format!(
                    "group {group}: this member was fenced by another instance with the same group.instance.id (FENCED_INSTANCE_ID)"
                ));
                return;
            }
            c => {
                let mut st = lock();
                if c == codes::UNKNOWN_MEMBER_ID {
                    st.member_id.clear();
                }
                st.rejoin_needed = true;
                tracing::debug!("group {group}: heartbeat answered {c}; rejoin needed");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(v: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        v.iter()
            .map(|(m, ts)| (m.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    fn parts(v: &[TopicPartition]) -> Vec<(String, i32)> {
        v.iter()
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect()
    }

    #[test]
    fn range_gives_leading_members_the_extra_partitions() {
        let s = subs(&[("c2", &["t"]), ("c1", &["t"]), ("c3", &["t"])]);
        let counts = BTreeMap::from([("t".to_string(), 7)]);
        let a = range_assign(&s, &counts);
        assert_eq!(
            parts(&a["c1"]),
            vec![("t".into(), 0), ("t".into(), 1), ("t".into(), 2)]
        );
        assert_eq!(parts(&a["c2"]), vec![("t".into(), 3), ("t".into(), 4)]);
        assert_eq!(parts(&a["c3"]), vec![("t".into(), 5), ("t".into(), 6)]);
    }

    #[test]
    fn range_per_topic_and_only_to_subscribers() {
        let s = subs(&[("a", &["x", "y"]), ("b", &["x"]), ("c", &["z"])]);
        let counts = BTreeMap::from([("x".to_string(), 2), ("y".to_string(), 2)]);
        let a = range_assign(&s, &counts);
        assert_eq!(
            parts(&a["a"]),
            vec![("x".into(), 0), ("y".into(), 0), ("y".into(), 1)]
        );
        assert_eq!(parts(&a["b"]), vec![("x".into(), 1)]);
        // Subscribed to a topic that does not exist: present, with nothing.
        assert!(a["c"].is_empty());
    }

    #[test]
    fn range_with_more_members_than_partitions() {
        let s = subs(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        let counts = BTreeMap::from([("t".to_string(), 1)]);
        let a = range_assign(&s, &counts);
        assert_eq!(parts(&a["a"]), vec![("t".into(), 0)]);
        assert!(a["b"].is_empty() && a["c"].is_empty());
    }
}

//! Admin operations on consumer groups, as Kafka's AdminClient does them: coordinator lookup
//! (FindCoordinator, retried while the coordinator loads), ListGroups on every broker,
//! DescribeGroups with member assignments decoded, OffsetFetch, standalone OffsetCommit
//! (generation -1, only accepted while the group is empty), DeleteGroups and OffsetDelete.
//! Requests that must reach the coordinator retry on NOT_COORDINATOR /
//! COORDINATOR_NOT_AVAILABLE / COORDINATOR_LOAD_IN_PROGRESS within the request timeout.
//! Prints nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use sluice_protocol::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use sluice_protocol::kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use sluice_protocol::kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use sluice_protocol::kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest,
    OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;

use crate::client::{BrokerInfo, Client};
use crate::connection::Connection;
use crate::consumer_protocol::{decode_assignment, TopicPartition, CONSUMER_PROTOCOL_TYPE};
use crate::error::{codes, ClientError, Result};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A group's coordinator.
pub type Coordinator = BrokerInfo;

/// One group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    /// Kafka's state name (`Stable`, `Empty`, ...); `None` from brokers older than v4.
    pub state: Option<String>,
}

/// A member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The member's partitions (decoded for "consumer" groups, else empty).
    pub assignment: Vec<TopicPartition>,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// Kafka's state name; `Dead` for groups that do not exist.
    pub state: String,
    pub protocol_type: String,
    /// The selected assignor (`range`, `roundrobin`, ...), empty when none.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
    pub coordinator: Coordinator,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// Who commits: a group member (generation and member id) or an admin (`standalone`).
#[derive(Debug, Clone, Default)]
pub struct CommitIdentity {
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

impl CommitIdentity {
    /// Generation -1, no member: accepted only while the group has no members.
    pub fn standalone() -> Self {
        CommitIdentity {
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// Per-partition outcome of a commit or offset deletion.
pub type PartitionResults = Vec<(TopicPartition, Result<()>)>;

fn is_coordinator_error(e: &ClientError) -> bool {
    matches!(
        e.code(),
        Some(codes::COORDINATOR_LOAD_IN_PROGRESS)
            | Some(codes::COORDINATOR_NOT_AVAILABLE)
            | Some(codes::NOT_COORDINATOR)
    ) || matches!(e, ClientError::Io { .. })
}

fn group_by_topic(partitions: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut m: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        m.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    m
}

impl Client {
    /// FindCoordinator for a group (key type 0), retried while the coordinator is not
    /// available or loading, for at most the request timeout.
    pub async fn find_group_coordinator(&self, group: &str) -> Result<Coordinator> {
        let deadline = Instant::now() + self.config().request_timeout;
        let mut attempt = 0;
        loop {
            let res = self.find_coordinator_once(group).await;
            match res {
                Err(e) if is_coordinator_error(&e) && Instant::now() < deadline => {
                    tracing::debug!("FindCoordinator {group}: {e}; retrying");
                    self.backoff(attempt.min(3)).await;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    async fn find_coordinator_once(&self, group: &str) -> Result<Coordinator> {
        let conn = self.any_connection().await?;
        let version = conn.version_for::<FindCoordinatorRequest>(None)?;
        let mut req = FindCoordinatorRequest::default();
        if version >= 4 {
            req.coordinator_keys = vec![s(group)];
        } else {
            req.key = s(group);
        }
        let resp = conn.send_at(&req, version).await?;
        let (code, message, id, host, port) = if version >= 4 {
            let c = resp.coordinators.into_iter().next().ok_or_else(|| {
                ClientError::Invalid("FindCoordinator returned no coordinator".into())
            })?;
            (c.error_code, c.error_message, c.node_id.0, c.host, c.port)
        } else {
            (
                resp.error_code,
                resp.error_message,
                resp.node_id.0,
                resp.host,
                resp.port,
            )
        };
        if let Some(e) = ClientError::from_code(code, message.map(|m| m.to_string())) {
            return Err(e);
        }
        Ok(BrokerInfo {
            id,
            host: host.to_string(),
            port,
            rack: None,
        })
    }

    /// A connection to the group's coordinator (looked up each time).
    pub async fn group_coordinator_connection(
        &self,
        group: &str,
    ) -> Result<(Coordinator, Arc<Connection>)> {
        let c = self.find_group_coordinator(group).await?;
        let conn = self.broker_connection(c.id).await?;
        Ok((c, conn))
    }

    /// Runs `op` against the group's coordinator, retrying (bounded by the request timeout)
    /// when the coordinator moved, is not available or is loading.
    ///
    /// `op` gets owned arguments (not an async closure over borrowed ones) so the futures of
    /// callers stay `Send` and can run on spawned tasks.
    async fn on_coordinator<T, F, Fut>(&self, group: &str, mut op: F) -> Result<T>
    where
        F: FnMut(Coordinator, Arc<Connection>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.config().request_timeout;
        let mut attempt = 0;
        loop {
            let res = match self.group_coordinator_connection(group).await {
                Ok((c, conn)) => {
                    let r = op(c.clone(), conn).await;
                    if matches!(r, Err(ClientError::Io { .. } | ClientError::Timeout { .. })) {
                        self.forget_broker(c.id).await;
                    }
                    r
                }
                Err(e) => Err(e),
            };
            match res {
                Err(e) if is_coordinator_error(&e) && Instant::now() < deadline => {
                    tracing::debug!("group {group}: {e}; retrying");
                    self.backoff(attempt.min(3)).await;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    /// ListGroups on every broker. `states` filters by Kafka state names (case-insensitive);
    /// empty = all. Only consumer groups (protocol type "consumer" or none) are returned,
    /// sorted by id.
    pub async fn list_groups(&self, states: &[String]) -> Result<Vec<GroupListing>> {
        let md = self.metadata(Some(&[])).await?;
        let mut out: Vec<GroupListing> = Vec::new();
        for b in &md.brokers {
            let conn = self.broker_connection(b.id).await?;
            let version = conn.version_for::<ListGroupsRequest>(None)?;
            let mut req = ListGroupsRequest::default();
            if version >= 4 {
                req.states_filter = states.iter().map(|x| s(x)).collect();
            }
            let resp = conn.send_at(&req, version).await?;
            if let Some(e) = ClientError::from_code(resp.error_code, None) {
                return Err(e);
            }
            for g in resp.groups {
                let protocol_type = g.protocol_type.to_string();
                if !(protocol_type.is_empty() || protocol_type == CONSUMER_PROTOCOL_TYPE) {
                    continue;
                }
                let state = (version >= 4).then(|| g.group_state.to_string());
                if version < 4 && !states.is_empty() {
                    return Err(ClientError::Invalid(
                        "the broker cannot filter groups by state (ListGroups v4 needed)".into(),
                    ));
                }
                out.push(GroupListing {
                    group_id: g.group_id.0.to_string(),
                    protocol_type,
                    state,
                });
            }
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(out)
    }

    /// DescribeGroups, one request per group to its coordinator. Groups that do not exist
    /// come back in state `Dead` with no members, as Kafka reports them.
    pub async fn describe_groups(&self, groups: &[String]) -> Result<Vec<GroupDescription>> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let d = self
                .on_coordinator(group, move |c, conn| async move {
                    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
                    let resp = conn.send(&req).await?;
                    let g = resp
                        .groups
                        .into_iter()
                        .find(|g| g.group_id.0.as_str() == group)
                        .ok_or_else(|| {
                            ClientError::Invalid(format!("no description for group {group}"))
                        })?;
                    if g.error_code == codes::GROUP_ID_NOT_FOUND {
                        return Ok(GroupDescription {
                            group_id: group.clone(),
                            state: "Dead".into(),
                            protocol_type: String::new(),
                            protocol: String::new(),
                            members: Vec::new(),
                            coordinator: c.clone(),
                        });
                    }
                    if let Some(e) =
                        ClientError::from_code(g.error_code, g.error_message.map(|m| m.to_string()))
                    {
                        return Err(e);
                    }
                    let protocol_type = g.protocol_type.to_string();
                    let consumer = protocol_type == CONSUMER_PROTOCOL_TYPE;
                    let mut members = Vec::with_capacity(g.members.len());
                    for m in g.members {
                        let assignment = if consumer {
                            decode_assignment(&m.member_assignment).map_err(|e| {
                                ClientError::Invalid(format!(
                                    "group {group}, member {}: {e}",
                                    m.member_id
                                ))
                            })?
                        } else {
                            Vec::new()
                        };
                        members.push(MemberDescription {
                            member_id: m.member_id.to_string(),
                            group_instance_id: m.group_instance_id.map(|x| x.to_string()),
                            client_id: m.client_id.to_string(),
                            client_host: m.client_host.to_string(),
                            assignment,
                        });
                    }
                    Ok(GroupDescription {
                        group_id: group.clone(),
                        state: g.group_state.to_string(),
                        protocol_type,
                        protocol: g.protocol_data.to_string(),
                        members,
                        coordinator: c.clone(),
                    })
                })
                .await?;
            out.push(d);
        }
        Ok(out)
    }

    /// OffsetFetch of a group: every committed offset (`partitions = None`) or those of the
    /// given partitions. Partitions without a committed offset are absent from the map.
    pub async fn list_group_offsets(
        &self,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, CommittedOffset>> {
        self.on_coordinator(group, move |_, conn| async move {
            // v8+ batches groups; one group at a time needs no more than v7.
            let version = conn.version_for::<OffsetFetchRequest>(Some(7))?;
            let req = OffsetFetchRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(partitions.map(|ps| {
                    group_by_topic(ps)
                        .into_iter()
                        .map(|(t, idx)| {
                            OffsetFetchRequestTopic::default()
                                .with_name(TopicName(s(t)))
                                .with_partition_indexes(idx)
                        })
                        .collect()
                }));
            let resp = conn.send_at(&req, version).await?;
            if let Some(e) = ClientError::from_code(resp.error_code, None) {
                return Err(e);
            }
            let mut out = BTreeMap::new();
            for t in resp.topics {
                for p in t.partitions {
                    if let Some(e) = ClientError::from_code(p.error_code, None) {
                        if p.error_code == codes::UNKNOWN_TOPIC_OR_PARTITION {
                            continue;
                        }
                        return Err(e);
                    }
                    if p.committed_offset < 0 {
                        continue;
                    }
                    out.insert(
                        TopicPartition::new(t.name.0.to_string(), p.partition_index),
                        CommittedOffset {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.metadata.map(|m| m.to_string()),
                        },
                    );
                }
            }
            Ok(out)
        })
        .await
    }

    /// OffsetCommit for a group. Group-level failures (REBALANCE_IN_PROGRESS,
    /// UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, ...) are per partition as Kafka reports them.
    pub async fn commit_group_offsets(
        &self,
        group: &str,
        who: &CommitIdentity,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<PartitionResults> {
        self.on_coordinator(group, move |_, conn| async move {
            let version = conn.version_for::<OffsetCommitRequest>(None)?;
            let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
            for (tp, off) in offsets {
                by_topic.entry(&tp.topic).or_default().push(
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(tp.partition)
                        .with_committed_offset(*off),
                );
            }
            let mut req = OffsetCommitRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_generation_id_or_member_epoch(who.generation_id)
                .with_member_id(s(&who.member_id))
                .with_topics(
                    by_topic
                        .into_iter()
                        .map(|(t, ps)| {
                            OffsetCommitRequestTopic::default()
                                .with_name(TopicName(s(t)))
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            if version >= 7 {
                req.group_instance_id = who.group_instance_id.as_deref().map(s);
            }
            let resp = conn.send_at(&req, version).await?;
            let mut out = Vec::new();
            for t in resp.topics {
                for p in t.partitions {
                    let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
                    match ClientError::from_code(p.error_code, None) {
                        // Coordinator moves are retried as a whole.
                        Some(e) if is_coordinator_error(&e) => return Err(e),
                        Some(e) => out.push((tp, Err(e))),
                        None => out.push((tp, Ok(()))),
                    }
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
        .await
    }

    /// Admin offset change (Kafka's alterConsumerGroupOffsets): a standalone commit, which
    /// the coordinator refuses while the group has members.
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<PartitionResults> {
        self.commit_group_offsets(group, &CommitIdentity::standalone(), offsets)
            .await
    }

    /// DeleteGroups; one result per group (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, ...).
    pub async fn delete_groups(&self, groups: &[String]) -> Result<Vec<(String, Result<()>)>> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let r = self
                .on_coordinator(group, move |_, conn| async move {
                    let req =
                        DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(group))]);
                    let resp = conn.send(&req).await?;
                    let code = resp
                        .results
                        .iter()
                        .find(|r| r.group_id.0.as_str() == group)
                        .map(|r| r.error_code)
                        .ok_or_else(|| {
                            ClientError::Invalid(format!("no result for group {group}"))
                        })?;
                    match ClientError::from_code(code, None) {
                        Some(e) if is_coordinator_error(&e) => Err(e),
                        Some(e) => Ok(Err(e)),
                        None => Ok(Ok(())),
                    }
                })
                .await;
            out.push((group.clone(), r.and_then(|x| x)));
        }
        Ok(out)
    }

    /// OffsetDelete: the group-level outcome and one result per partition.
    pub async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<(Result<()>, PartitionResults)> {
        self.on_coordinator(group, move |_, conn| async move {
            let req = OffsetDeleteRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(
                    group_by_topic(partitions)
                        .into_iter()
                        .map(|(t, ps)| {
                            OffsetDeleteRequestTopic::default()
                                .with_name(TopicName(s(t)))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|p| {
                                            OffsetDeleteRequestPartition::default()
                                                .with_partition_index(p)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let resp = conn.send(&req).await?;
            let top = ClientError::from_code(resp.error_code, None);
            if let Some(e) = top {
                if is_coordinator_error(&e) {
                    return Err(e);
                }
                return Ok((Err(e), Vec::new()));
            }
            let mut per = Vec::new();
            for t in resp.topics {
                for p in t.partitions {
                    let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
                    per.push((
                        tp,
                        ClientError::from_code(p.error_code, None).map_or(Ok(()), Err),
                    ));
                }
            }
            per.sort_by(|a, b| a.0.cmp(&b.0));
            // Kafka's admin client reports the first partition error at the group level too.
            let first = per
                .iter()
                .find_map(|(_, r)| r.as_ref().err().and_then(|e| e.code()));
            let top = match first {
                Some(code) => Err(ClientError::Kafka {
                    code,
                    message: None,
                }),
                None => Ok(()),
            };
            Ok((top, per))
        })
        .await
    }
}

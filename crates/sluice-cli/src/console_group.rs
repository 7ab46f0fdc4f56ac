//! `console-consumer --group`: reads the group settings from Kafka's consumer properties
//! (`group.id`, `auto.offset.reset`, `enable.auto.commit`, `auto.commit.interval.ms`,
//! `session.timeout.ms`, `heartbeat.interval.ms`, `max.poll.interval.ms`,
//! `group.instance.id`) and drives a `sluice_client::GroupMember` for the console consumer's
//! loop: starting positions from committed offsets (else `auto.offset.reset`), rejoin on
//! rebalance, auto-commit on an interval, commit and LeaveGroup on exit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_client::{
    Client, FetchTarget, GroupMember, GroupMemberConfig, TopicPartition, EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
};

use crate::ToolError;

/// Group settings of one console-consumer run.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub member: GroupMemberConfig,
    /// `auto.offset.reset` as a ListOffsets timestamp (earliest -2 / latest -1).
    pub reset: i64,
    /// `auto.commit.interval.ms` when `enable.auto.commit` is on.
    pub auto_commit: Option<Duration>,
}

fn ms(props: &BTreeMap<String, String>, key: &str, default: u64) -> Result<Duration, ToolError> {
    match props.get(key) {
        None => Ok(Duration::from_millis(default)),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0 && *n <= i32::MAX as u64)
            .map(Duration::from_millis)
            .ok_or_else(|| {
                ToolError::usage(format!(
                    "Invalid value {v} for configuration {key}: expected a positive number of milliseconds"
                ))
            }),
    }
}

/// The group of this run, if any: `--group` and `group.id` from the consumer properties must
/// agree, as Kafka requires. `None` = no group (partition reads as before).
pub fn settings(
    group_flag: Option<&str>,
    props: &BTreeMap<String, String>,
    from_beginning: bool,
) -> Result<Option<GroupSettings>, ToolError> {
    let prop_group = props.get("group.id").map(|s| s.trim().to_string());
    let group = match (group_flag, prop_group) {
        (Some(g), Some(p)) if g != p => {
            return Err(ToolError::usage(format!(
                "The group ids provided in different places (directly using '--group', via '--consumer-property', or via '--consumer.config') do not match. Detected group ids: '{g}', '{p}'"
            )))
        }
        (Some(g), _) => g.to_string(),
        (None, Some(p)) => p,
        (None, None) => return Ok(None),
    };
    if group.is_empty() {
        return Err(ToolError::usage("The group id must not be empty"));
    }
    let reset = match props.get("auto.offset.reset").map(|s| s.trim()) {
        None if from_beginning => EARLIEST_TIMESTAMP,
        None => LATEST_TIMESTAMP,
        Some("earliest") => EARLIEST_TIMESTAMP,
        Some("latest") if from_beginning => {
            return Err(ToolError::usage(
                "Can't simultaneously specify --from-beginning and 'auto.offset.reset=latest'",
            ))
        }
        Some("latest") => LATEST_TIMESTAMP,
        Some(v) => {
            return Err(ToolError::usage(format!(
                "Invalid value {v} for configuration auto.offset.reset: String must be one of: latest, earliest"
            )))
        }
    };
    let auto_commit = match props.get("enable.auto.commit").map(|s| s.trim()) {
        None => true,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ToolError::usage(format!(
                "Invalid value {v} for configuration enable.auto.commit: Expected value to be either true or false"
            )))
        }
    };
    let mut member = GroupMemberConfig::new(group);
    member.session_timeout = ms(props, "session.timeout.ms", 45_000)?;
    member.heartbeat_interval = ms(props, "heartbeat.interval.ms", 3_000)?;
    member.rebalance_timeout = ms(props, "max.poll.interval.ms", 300_000)?;
    member.group_instance_id = props.get("group.instance.id").map(|s| s.trim().to_string());
    Ok(Some(GroupSettings {
        member,
        reset,
        auto_commit: if auto_commit {
            Some(ms(props, "auto.commit.interval.ms", 5_000)?)
        } else {
            None
        },
    }))
}

/// The console consumer's group membership.
pub struct GroupConsumer {
    client: Arc<Client>,
    member: GroupMember,
    topic: String,
    reset: i64,
    auto_commit: Option<Duration>,
    last_commit: Instant,
    committed: BTreeMap<TopicPartition, i64>,
}

fn positions(targets: &[FetchTarget]) -> BTreeMap<TopicPartition, i64> {
    targets
        .iter()
        .map(|t| (TopicPartition::new(t.topic.clone(), t.partition), t.offset))
        .collect()
}

fn failed(what: &str, e: impl std::fmt::Display) -> ToolError {
    ToolError::failed(format!("Error: {what}: {e}"))
}

impl GroupConsumer {
    pub fn new(client: Arc<Client>, topic: &str, s: GroupSettings) -> Self {
        let member = GroupMember::new(client.clone(), s.member, vec![topic.to_string()]);
        GroupConsumer {
            client,
            member,
            topic: topic.to_string(),
            reset: s.reset,
            auto_commit: s.auto_commit,
            last_commit: Instant::now(),
            committed: BTreeMap::new(),
        }
    }

    /// Joins (or rejoins) and returns the fetch positions of the new assignment: committed
    /// offsets, else `auto.offset.reset`.
    pub async fn join(&mut self) -> Result<Vec<FetchTarget>, ToolError> {
        let group = self.member.group_id().to_string();
        let assignment = self
            .member
            .join()
            .await
            .map_err(|e| failed(&format!("joining group {group}"), e))?;
        let committed = self
            .member
            .committed(&assignment)
            .await
            .map_err(|e| failed(&format!("fetching committed offsets of group {group}"), e))?;
        let missing: Vec<(i32, i64)> = assignment
            .iter()
            .filter(|tp| !committed.contains_key(*tp))
            .map(|tp| (tp.partition, self.reset))
            .collect();
        let mut targets: Vec<FetchTarget> = committed
            .iter()
            .filter(|(tp, _)| tp.topic == self.topic)
            .map(|(tp, off)| FetchTarget {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: *off,
            })
            .collect();
        if !missing.is_empty() {
            let offs = self
                .client
                .list_offsets(&self.topic, &missing)
                .await
                .map_err(|e| failed(&format!("topic {}", self.topic), e))?;
            targets.extend(offs.into_iter().map(|(p, off, _)| FetchTarget {
                topic: self.topic.clone(),
                partition: p,
                offset: off,
            }));
        }
        targets.sort_by_key(|t| t.partition);
        self.committed = committed;
        self.last_commit = Instant::now();
        Ok(targets)
    }

    /// True when the group rebalanced and [`GroupConsumer::join`] must run again.
    pub fn needs_rejoin(&self) -> Result<bool, ToolError> {
        self.member
            .needs_rejoin()
            .map_err(|e| failed(&format!("group {}", self.member.group_id()), e))
    }

    /// Commits the positions that changed since the last commit.
    pub async fn commit(&mut self, targets: &[FetchTarget]) -> Result<(), ToolError> {
        let changed: BTreeMap<TopicPartition, i64> = positions(targets)
            .into_iter()
            .filter(|(tp, off)| self.committed.get(tp) != Some(off))
            .collect();
        self.last_commit = Instant::now();
        if changed.is_empty() {
            return Ok(());
        }
        self.member
            .commit(&changed)
            .await
            .map_err(|e| failed("commit", e))?;
        self.committed.extend(changed);
        Ok(())
    }

    /// Auto-commit when the interval has passed (failures are logged; the next one retries).
    pub async fn maybe_auto_commit(&mut self, targets: &[FetchTarget]) {
        if let Some(every) = self.auto_commit {
            if self.last_commit.elapsed() >= every {
                if let Err(e) = self.commit(targets).await {
                    tracing::warn!("{e}");
                }
            }
        }
    }

    /// Before a rejoin: commit what was consumed (when auto-commit is on), as Kafka's
    /// consumer does before it gives partitions up.
    pub async fn before_rejoin(&mut self, targets: &[FetchTarget]) {
        if self.auto_commit.is_some() {
            if let Err(e) = self.commit(targets).await {
                tracing::debug!("commit before rejoin: {e}");
            }
        }
    }

    /// On exit: final auto-commit, then LeaveGroup.
    pub async fn close(mut self, targets: &[FetchTarget]) -> Result<(), ToolError> {
        let res = if self.auto_commit.is_some() {
            self.commit(targets).await
        } else {
            Ok(())
        };
        if let Err(e) = self.member.leave().await {
            tracing::warn!("leaving the group: {e}");
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: &[(&str, &str)]) -> BTreeMap<String, String> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn group_from_flag_or_property() {
        assert!(settings(None, &props(&[]), false).unwrap().is_none());
        let s = settings(Some("g"), &props(&[]), false).unwrap().unwrap();
        assert_eq!(s.member.group_id, "g");
        assert_eq!(s.reset, LATEST_TIMESTAMP);
        assert_eq!(s.auto_commit, Some(Duration::from_millis(5000)));
        let s = settings(None, &props(&[("group.id", "p")]), true)
            .unwrap()
            .unwrap();
        assert_eq!(s.member.group_id, "p");
        assert_eq!(s.reset, EARLIEST_TIMESTAMP);
        assert!(settings(Some("a"), &props(&[("group.id", "b")]), false).is_err());
    }

    #[test]
    fn consumer_properties() {
        let p = props(&[
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "10000"),
        ]);
        let s = settings(Some("g"), &p, false).unwrap().unwrap();
        assert_eq!(s.reset, EARLIEST_TIMESTAMP);
        assert_eq!(s.auto_commit, None);
        assert_eq!(s.member.session_timeout, Duration::from_millis(10_000));
        let bad = props(&[("auto.offset.reset", "latest")]);
        assert!(settings(Some("g"), &bad, true).is_err());
        let bad = props(&[("auto.offset.reset", "none-such")]);
        assert!(settings(Some("g"), &bad, false).is_err());
        let bad = props(&[("heartbeat.interval.ms", "soon")]);
        assert!(settings(Some("g"), &bad, false).is_err());
    }
}

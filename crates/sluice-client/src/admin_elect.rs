//! Admin: leader elections (Kafka's `Admin.electLeaders`, ElectLeaders API key 43).

use sluice_protocol::kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use sluice_protocol::kafka_protocol::messages::{ElectLeadersRequest, TopicName};
use sluice_protocol::kafka_protocol::protocol::StrBytes;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// Kafka's ElectionType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// Make the first replica the leader if it is live and in the ISR.
    Preferred,
    /// Give a leaderless partition a leader, from outside the ISR if need be.
    Unclean,
}

impl ElectionType {
    /// Kafka's enum name (`PREFERRED`, `UNCLEAN`).
    pub fn name(self) -> &'static str {
        match self {
            ElectionType::Preferred => "PREFERRED",
            ElectionType::Unclean => "UNCLEAN",
        }
    }

    fn wire(self) -> i8 {
        match self {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        }
    }
}

impl std::str::FromStr for ElectionType {
    type Err = String;

    /// `preferred` / `unclean`, any case.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "preferred" => Ok(ElectionType::Preferred),
            "unclean" => Ok(ElectionType::Unclean),
            _ => Err(format!(
                "invalid election type '{s}' (expected preferred or unclean)"
            )),
        }
    }
}

/// One partition's election outcome: `Ok` when a leader was elected; ELECTION_NOT_NEEDED
/// (84) when the desired leader already leads.
#[derive(Debug)]
pub struct ElectionResult {
    pub topic: String,
    pub partition: i32,
    pub result: Result<()>,
}

/// ELECTION_NOT_NEEDED: the partition already has the leader the election would choose.
pub const ELECTION_NOT_NEEDED: i16 = 84;

impl Client {
    /// ElectLeaders for `partitions` (every partition when `None`; then the broker leaves out
    /// partitions whose election is not needed). Results sorted by topic and partition.
    pub async fn elect_leaders(
        &self,
        election_type: ElectionType,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<ElectionResult>> {
        let conn = self.controller_connection().await?;
        let version = conn.version_for::<ElectLeadersRequest>(None)?;
        if version == 0 && election_type != ElectionType::Preferred {
            return Err(ClientError::Invalid(
                "the broker only supports preferred leader elections (ElectLeaders v0)".into(),
            ));
        }
        let topic_partitions = partitions.map(|ps| {
            let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
            for (t, p) in ps {
                let e = by_topic.entry(t.as_str()).or_default();
                if !e.contains(p) {
                    e.push(*p);
                }
            }
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(ps)
                })
                .collect()
        });
        let req = ElectLeadersRequest::default()
            .with_election_type(election_type.wire())
            .with_topic_partitions(topic_partitions)
            .with_timeout_ms(self.config().request_timeout.as_millis() as i32);
        let resp = conn.send_at(&req, version).await?;
        let mut out = Vec::new();
        for t in resp.replica_election_results {
            for p in t.partition_result {
                out.push(ElectionResult {
                    topic: t.topic.0.to_string(),
                    partition: p.partition_id,
                    result: match ClientError::from_code(
                        p.error_code,
                        p.error_message.map(|m| m.to_string()),
                    ) {
                        Some(e) => Err(e),
                        None => Ok(()),
                    },
                });
            }
        }
        if out.is_empty() {
            if let Some(e) = ClientError::from_code(resp.error_code, None) {
                return Err(e);
            }
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }
}

//! `sluice leader-election` — Kafka's kafka-leader-election.sh (LeaderElectionCommand):
//! preferred or unclean leader elections for one partition (`--topic` + `--partition`), the
//! partitions of a JSON file (`--path-to-json-file`, `{"partitions":[{"topic":"t",
//! "partition":0}]}`) or every partition (`--all-topic-partitions`). Output as Kafka's:
//! "Successfully completed leader election (PREFERRED) for partitions t-0, t-1", "Valid replica
//! already elected for partitions ...", one "Error completing leader election ..." line per
//! failure and then "N replica(s) could not be elected" with exit code 1.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use sluice_client::{error_name, Client, ClientConfig, ClientError, ElectionType};

use crate::props;
use crate::ToolError;

#[derive(Debug, Args)]
pub struct LeaderElectionArgs {
    /// A hostname and port for the broker to connect to, in the form host:port. Multiple
    /// comma separated URLs can be given. REQUIRED.
    #[arg(long)]
    bootstrap_server: Option<String>,
    /// Type of election to attempt: "preferred" (only when the current leader is not the
    /// preferred one) or "unclean" (only when the partition has no leader). REQUIRED.
    #[arg(long)]
    election_type: Option<String>,
    /// Perform election on all of the eligible topic partitions. Not allowed with --topic or
    /// --path-to-json-file.
    #[arg(long)]
    all_topic_partitions: bool,
    /// Name of topic for which to perform an election (needs --partition).
    #[arg(long)]
    topic: Option<String>,
    /// Partition id for which to perform an election. REQUIRED if --topic is specified.
    #[arg(long, allow_hyphen_values = true)]
    partition: Option<String>,
    /// The JSON file with the list of partitions for which leader elections should be
    /// performed: {"partitions": [{"topic": "foo", "partition": 1}]}.
    #[arg(long)]
    path_to_json_file: Option<String>,
    /// Configuration properties file to pass to the admin client (request.timeout.ms,
    /// client.id; no security settings are supported).
    #[arg(long = "admin.config")]
    admin_config: Option<String>,
    /// Same as --admin.config (the name newer Kafka versions use).
    #[arg(long)]
    command_config: Option<String>,
}

/// Parses Kafka's replica election JSON; duplicates are refused as Kafka does.
pub fn parse_election_json(text: &str) -> Result<Vec<(String, i32)>, String> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("Invalid JSON in the election file: {e}"))?;
    if v.is_null() {
        return Err("Replica election data is empty".into());
    }
    let parts = v
        .get("partitions")
        .ok_or("Replica election data is missing \"partitions\" field")?
        .as_array()
        .ok_or("Expected a JSON array for \"partitions\"")?;
    let mut out = Vec::new();
    for p in parts {
        let topic = p
            .get("topic")
            .and_then(|t| t.as_str())
            .ok_or("Missing or invalid \"topic\" in a partition entry")?;
        let partition = p
            .get("partition")
            .and_then(|n| n.as_i64())
            .and_then(|n| i32::try_from(n).ok())
            .ok_or("Missing or invalid \"partition\" in a partition entry")?;
        out.push((topic.to_string(), partition));
    }
    let mut seen = BTreeSet::new();
    let dups: BTreeSet<String> = out
        .iter()
        .filter(|tp| !seen.insert((*tp).clone()))
        .map(|(t, p)| format!("{t}-{p}"))
        .collect();
    if !dups.is_empty() {
        return Err(format!(
            "Replica election data contains duplicate partitions: [{}]",
            dups.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(out)
}

/// Kafka's exception class for an error code, e.g. 80 →
/// `org.apache.kafka.common.errors.PreferredLeaderNotAvailableException`.
fn exception_name(code: i16) -> String {
    let camel: String = error_name(code)
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect();
    format!("org.apache.kafka.common.errors.{camel}Exception")
}

fn describe_error(e: &ClientError) -> String {
    match e {
        ClientError::Kafka { code, message } => {
            let msg = message.clone().unwrap_or_else(|| error_name(*code));
            format!("{}: {msg}", exception_name(*code))
        }
        other => other.to_string(),
    }
}

/// What the command should elect: `None` = every partition.
fn target(a: &LeaderElectionArgs) -> Result<Option<Vec<(String, i32)>>, ToolError> {
    let mut missing = Vec::new();
    if a.bootstrap_server.is_none() {
        missing.push("bootstrap-server");
    }
    if a.election_type.is_none() {
        missing.push("election-type");
    }
    if !missing.is_empty() {
        return Err(ToolError::usage(format!(
            "Missing required option(s): {}",
            missing.join(", ")
        )));
    }
    if a.admin_config.is_some() && a.command_config.is_some() {
        return Err(ToolError::usage(
            "Option \"[admin.config]\" can't be used with option \"[command-config]\"",
        ));
    }
    let exclusive = [
        a.topic.is_some(),
        a.all_topic_partitions,
        a.path_to_json_file.is_some(),
    ];
    if exclusive.iter().filter(|x| **x).count() != 1 {
        return Err(ToolError::usage(
            "One and only one of the following options is required: topic, all-topic-partitions, path-to-json-file",
        ));
    }
    if a.topic.is_some() && a.partition.is_none() {
        return Err(ToolError::usage("Missing required option(s): partition"));
    }
    if a.topic.is_none() && a.partition.is_some() {
        return Err(ToolError::usage(
            "Option partition is only allowed if topic is used",
        ));
    }
    if let (Some(t), Some(p)) = (&a.topic, &a.partition) {
        let p: i32 = p.trim().parse().map_err(|_| {
            ToolError::usage(format!("Cannot parse argument '{p}' of option partition"))
        })?;
        return Ok(Some(vec![(t.clone(), p)]));
    }
    if let Some(path) = &a.path_to_json_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ToolError::failed(format!("Error: cannot read {path}: {e}")))?;
        return parse_election_json(&text)
            .map(Some)
            .map_err(ToolError::failed);
    }
    Ok(None)
}

async fn connect(server: &str, config_file: Option<&str>) -> Result<Arc<Client>, ToolError> {
    let mut cfg = ClientConfig {
        client_id: "sluice-leader-election".into(),
        ..ClientConfig::default()
    };
    if let Some(path) = config_file {
        let p = props::load_properties(std::path::Path::new(path))
            .map_err(|e| ToolError::failed(format!("Error: {e}")))?;
        if let Some(proto) = p.get("security.protocol") {
            if !proto.eq_ignore_ascii_case("PLAINTEXT") {
                return Err(ToolError::failed(format!(
                    "Error: security.protocol={proto} is not supported (PLAINTEXT only)"
                )));
            }
        }
        if let Some(ms) = p.get("request.timeout.ms") {
            let ms: u64 = ms.trim().parse().map_err(|_| {
                ToolError::failed(format!("Error: invalid request.timeout.ms '{ms}'"))
            })?;
            cfg.request_timeout = Duration::from_millis(ms.max(1));
        }
        if let Some(id) = p.get("client.id") {
            cfg.client_id = id.clone();
        }
    }
    Client::connect_with(server, cfg)
        .await
        .map_err(ToolError::from)
}

pub async fn run(a: LeaderElectionArgs) -> Result<(), ToolError> {
    let partitions = target(&a)?;
    let kind: ElectionType = a
        .election_type
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(ToolError::usage)?;
    let server = a.bootstrap_server.clone().unwrap_or_default();
    let client = connect(
        &server,
        a.admin_config.as_deref().or(a.command_config.as_deref()),
    )
    .await?;
    let results = match client.elect_leaders(kind, partitions.as_deref()).await {
        Ok(r) => r,
        Err(e @ ClientError::Timeout { .. }) => {
            println!("Timeout waiting for election results");
            return Err(ToolError::failed(format!("Error: {e}")));
        }
        Err(e) => return Err(e.into()),
    };
    let mut succeeded = Vec::new();
    let mut noop = Vec::new();
    let mut failed = Vec::new();
    for r in &results {
        let tp = format!("{}-{}", r.topic, r.partition);
        match &r.result {
            Ok(()) => succeeded.push(tp),
            Err(e) if e.code() == Some(sluice_client::ELECTION_NOT_NEEDED) => noop.push(tp),
            Err(e) => failed.push((tp, describe_error(e))),
        }
    }
    if !succeeded.is_empty() {
        println!(
            "Successfully completed leader election ({}) for partitions {}",
            kind.name(),
            succeeded.join(", ")
        );
    }
    if !noop.is_empty() {
        println!(
            "Valid replica already elected for partitions {}",
            noop.join(", ")
        );
    }
    if !failed.is_empty() {
        for (tp, err) in &failed {
            println!(
                "Error completing leader election ({}) for partition: {tp}: {err}",
                kind.name()
            );
        }
        return Err(ToolError::failed(format!(
            "{} replica(s) could not be elected",
            failed.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_json() {
        let ok = parse_election_json(
            r#"{"partitions":[{"topic":"a","partition":0},{"topic":"b","partition":2}]}"#,
        )
        .unwrap();
        assert_eq!(ok, vec![("a".to_string(), 0), ("b".to_string(), 2)]);
        assert!(parse_election_json(r#"{"x":[]}"#)
            .unwrap_err()
            .contains("missing \"partitions\""));
        assert!(parse_election_json(
            r#"{"partitions":[{"topic":"a","partition":0},{"topic":"a","partition":0}]}"#
        )
        .unwrap_err()
        .contains("duplicate partitions: [a-0]"));
        assert!(parse_election_json(r#"{"partitions":[{"topic":"a"}]}"#).is_err());
        assert!(parse_election_json("not json").is_err());
    }

    #[test]
    fn exception_names_follow_kafka() {
        assert_eq!(
            exception_name(80),
            "org.apache.kafka.common.errors.PreferredLeaderNotAvailableException"
        );
        assert_eq!(
            exception_name(3),
            "org.apache.kafka.common.errors.UnknownTopicOrPartitionException"
        );
    }
}

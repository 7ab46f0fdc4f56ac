//! `sluice topics` — kafka-topics.sh: create, list, describe, alter (partitions), delete,
//! with Kafka's flags, messages and `--describe` line format. Talks to brokers only through
//! `sluice-client`; formatting lives in pure functions tested below.

use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use sluice_client::{
    topic_id_string, Client, ConfigEntry, NewTopic, ResourceType, TopicDescription,
};

use crate::props::parse_kv;
use crate::{bootstrap, ToolError};

#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// REQUIRED: The Kafka server to connect to.
    #[arg(long)]
    bootstrap_server: Option<String>,
    /// Property file containing configs to be passed to Admin Client (accepted, not used yet).
    #[arg(long)]
    command_config: Option<String>,
    /// Create a new topic.
    #[arg(long)]
    create: bool,
    /// List all available topics.
    #[arg(long)]
    list: bool,
    /// List details for the given topics.
    #[arg(long)]
    describe: bool,
    /// Alter the number of partitions.
    #[arg(long)]
    alter: bool,
    /// Delete a topic.
    #[arg(long)]
    delete: bool,
    /// The topic to create, alter, describe or delete (comma-separated names for list/describe/delete).
    #[arg(long)]
    topic: Option<String>,
    /// The number of partitions for the topic being created or altered.
    #[arg(long)]
    partitions: Option<i32>,
    /// The replication factor for each partition in the topic being created.
    #[arg(long)]
    replication_factor: Option<i32>,
    /// A topic configuration override for the topic being created (name=value).
    #[arg(long = "config")]
    config: Vec<String>,
    /// If set when creating topics, the action will only execute if the topic does not already exist.
    #[arg(long)]
    if_not_exists: bool,
    /// If set when altering, deleting or describing topics, the action will only execute if the topic exists.
    #[arg(long)]
    if_exists: bool,
    /// Exclude internal topics when listing or describing topics.
    #[arg(long)]
    exclude_internal: bool,
    #[arg(long, hide = true)]
    zookeeper: Option<String>,
}

/// Kafka's `TopicDescription.printDescription` line.
pub fn format_topic_line(t: &TopicDescription, configs: &[ConfigEntry]) -> String {
    let configs = configs
        .iter()
        .filter(|c| c.source != sluice_client::admin::SOURCE_DEFAULT)
        .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("null")))
        .collect::<Vec<_>>()
        .join(",");
    let rf = t.partitions.first().map_or(0, |p| p.replicas.len());
    let mut s = format!("Topic: {}", t.name);
    if !t.topic_id.is_nil() {
        s.push_str(&format!("\tTopicId: {}", topic_id_string(&t.topic_id)));
    }
    s.push_str(&format!(
        "\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
        t.partitions.len(),
        rf,
        configs
    ));
    s
}

fn join(ids: &[i32]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Kafka's `PartitionDescription.printDescription` lines, one per partition.
pub fn format_partition_lines(t: &TopicDescription) -> Vec<String> {
    t.partitions
        .iter()
        .map(|p| {
            let leader = if p.leader >= 0 { p.leader.to_string() } else { "none".to_string() };
            let elr = p.elr.as_deref().map_or("N/A".to_string(), join);
            let lkelr = p.last_known_elr.as_deref().map_or("N/A".to_string(), join);
            format!(
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tElr: {}\tLastKnownElr: {}",
                t.name,
                p.partition,
                leader,
                join(&p.replicas),
                join(&p.isr),
                elr,
                lkelr
            )
        })
        .collect()
}

fn topic_filter(all: Vec<String>, topic: Option<&str>) -> Vec<String> {
    match topic {
        None => all,
        Some(t) => {
            let wanted: Vec<&str> = t.split(',').map(str::trim).collect();
            all.into_iter()
                .filter(|n| wanted.contains(&n.as_str()))
                .collect()
        }
    }
}

pub async fn run(a: TopicsArgs) -> Result<(), ToolError> {
    if a.zookeeper.is_some() {
        return Err(ToolError::usage(
            "zookeeper is not a recognized option (ZooKeeper support was removed in Kafka 4.0; use --bootstrap-server)",
        ));
    }
    let actions = [a.create, a.list, a.describe, a.alter, a.delete]
        .iter()
        .filter(|x| **x)
        .count();
    if actions != 1 {
        return Err(ToolError::usage(
            "Command must include exactly one action: --list, --describe, --create, --alter or --delete",
        ));
    }
    let Some(server) = a.bootstrap_server.as_deref() else {
        return Err(ToolError::usage("--bootstrap-server must be specified"));
    };
    if a.command_config.is_some() {
        eprintln!("Note: --command-config is accepted but not used yet (no security settings are supported).");
    }
    if !a.list && !a.describe && a.topic.is_none() {
        return Err(ToolError::usage("Missing required argument \"[topic]\""));
    }
    let client = bootstrap(server).await?;
    let res = if a.create {
        create(&client, &a).await
    } else if a.list {
        let topics = topic_filter(
            client.list_topics(!a.exclude_internal).await?,
            a.topic.as_deref(),
        );
        for t in topics {
            println!("{t}");
        }
        Ok(())
    } else if a.describe {
        describe(&client, &a).await
    } else if a.alter {
        alter(&client, &a).await
    } else {
        delete(&client, &a).await
    };
    res.map_err(|e| match e.downcast::<ToolError>() {
        Ok(t) => t,
        Err(e) => ToolError::failed(format!("Error while executing topic command : {e}")),
    })
}

async fn create(client: &Arc<Client>, a: &TopicsArgs) -> anyhow::Result<()> {
    let name = a.topic.clone().unwrap_or_default();
    if let Some(rf) = a.replication_factor {
        if !(1..=i16::MAX as i32).contains(&rf) {
            bail!(ToolError::usage(
                "The replication factor must be between 1 and 32767 inclusive"
            ));
        }
    }
    if a.partitions.is_some_and(|p| p < 1) {
        bail!(ToolError::usage("The partitions must be greater than 0"));
    }
    let configs = a
        .config
        .iter()
        .map(|c| parse_kv(c))
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(|_| {
            ToolError::usage("requirement failed: Invalid topic config: all configs to be added must be in the format \"key=val\".")
        })?;
    if name.contains('.') || name.contains('_') {
        println!(
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both."
        );
    }
    let topic = NewTopic {
        name: name.clone(),
        num_partitions: a.partitions,
        replication_factor: a.replication_factor.map(|r| r as i16),
        configs,
    };
    for (_, r) in client.create_topics(&[topic], false).await? {
        match r {
            Ok(()) => println!("Created topic {name}."),
            Err(e)
                if e.code() == Some(sluice_client::error::codes::TOPIC_ALREADY_EXISTS)
                    && a.if_not_exists => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn existing(client: &Arc<Client>, a: &TopicsArgs) -> anyhow::Result<Vec<String>> {
    let topics = topic_filter(
        client.list_topics(!a.exclude_internal).await?,
        a.topic.as_deref(),
    );
    if let Some(t) = &a.topic {
        if topics.is_empty() && !a.if_exists {
            bail!(ToolError::failed(format!(
                "Topic '{t}' does not exist as expected"
            )));
        }
    }
    Ok(topics)
}

async fn describe(client: &Arc<Client>, a: &TopicsArgs) -> anyhow::Result<()> {
    let topics = existing(client, a).await?;
    if topics.is_empty() {
        return Ok(());
    }
    let mut descs = client.describe_topics(&topics).await?;
    descs.sort_by(|x, y| x.name.cmp(&y.name));
    for t in &descs {
        let configs = client
            .describe_configs(ResourceType::Topic, &t.name, None)
            .await?;
        println!("{}", format_topic_line(t, &configs));
        for line in format_partition_lines(t) {
            println!("{line}");
        }
    }
    Ok(())
}

async fn alter(client: &Arc<Client>, a: &TopicsArgs) -> anyhow::Result<()> {
    let Some(count) = a.partitions else {
        bail!(ToolError::usage(
            "Missing required argument \"[partitions]\""
        ));
    };
    if a.replication_factor.is_some() || !a.config.is_empty() {
        bail!(ToolError::usage(
            "Option \"[alter]\" can't be used with option \"[config]\" or \"[replication-factor]\" (To alter topic configurations, the kafka-configs tool can be used.)"
        ));
    }
    for name in existing(client, a).await? {
        let current = client.topic_metadata(&name, true).await?.partitions.len() as i32;
        if count <= current {
            bail!(ToolError::failed(format!(
                "Error while executing topic command : The number of partitions for a topic can only be increased. Topic {name} currently has {current} partitions, {count} would not be an increase."
            )));
        }
        client.create_partitions(&name, count, false).await?;
    }
    Ok(())
}

async fn delete(client: &Arc<Client>, a: &TopicsArgs) -> anyhow::Result<()> {
    let topics = existing(client, a).await?;
    if topics.is_empty() {
        return Ok(());
    }
    for (_, r) in client.delete_topics(&topics).await? {
        r?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_client::PartitionDescription;

    fn topic(elr: Option<Vec<i32>>) -> TopicDescription {
        TopicDescription {
            name: "test".into(),
            topic_id: sluice_client::admin::uuid_from_bytes([0; 16]),
            is_internal: false,
            partitions: vec![PartitionDescription {
                partition: 0,
                leader: 1,
                replicas: vec![1, 2],
                isr: vec![1],
                elr: elr.clone(),
                last_known_elr: elr,
            }],
        }
    }

    #[test]
    fn describe_lines_match_kafka() {
        let t = topic(Some(vec![]));
        let cfg = vec![
            ConfigEntry {
                name: "cleanup.policy".into(),
                value: Some("compact".into()),
                read_only: false,
                source: 1,
                sensitive: false,
                synonyms: vec![],
            },
            ConfigEntry {
                name: "retention.ms".into(),
                value: Some("604800000".into()),
                read_only: false,
                source: 5,
                sensitive: false,
                synonyms: vec![],
            },
        ];
        assert_eq!(
            format_topic_line(&t, &cfg),
            "Topic: test\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: cleanup.policy=compact"
        );
        assert_eq!(
            format_partition_lines(&t),
            vec!["\tTopic: test\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1\tElr: \tLastKnownElr: "]
        );
        let t = topic(None);
        assert!(format_partition_lines(&t)[0].ends_with("\tElr: N/A\tLastKnownElr: N/A"));
    }

    #[test]
    fn topic_id_is_printed_when_set() {
        let mut t = topic(Some(vec![]));
        t.topic_id = sluice_client::admin::uuid_from_bytes([1; 16]);
        assert!(format_topic_line(&t, &[])
            .starts_with("Topic: test\tTopicId: AQEBAQEBAQEBAQEBAQEBAQ\tPartitionCount: 1"));
    }
}

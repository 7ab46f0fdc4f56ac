//! `sluice configs` — kafka-configs.sh for topics and brokers: `--describe [--all]` and
//! `--alter --add-config/--delete-config` (IncrementalAlterConfigs), with Kafka's output
//! lines. Parsing and formatting are pure functions; nothing here caches configs.

use clap::Args;
use sluice_client::{config_source_name, AlterConfigOp, ConfigEntry, ResourceType};

use crate::{bootstrap, ToolError};

#[derive(Debug, Args)]
pub struct ConfigsArgs {
    /// The Kafka server to connect to.
    #[arg(long)]
    bootstrap_server: Option<String>,
    /// Type of entity (topics/brokers/broker-loggers).
    #[arg(long)]
    entity_type: Option<String>,
    /// Name of entity (topic name / broker id).
    #[arg(long)]
    entity_name: Option<String>,
    /// Default entity name for brokers (applies to all brokers).
    #[arg(long)]
    entity_default: bool,
    /// Shortcut for --entity-type topics --entity-name <topic>.
    #[arg(long)]
    topic: Option<String>,
    /// Shortcut for --entity-type brokers --entity-name <id>.
    #[arg(long)]
    broker: Option<String>,
    /// Shortcut for --entity-type brokers --entity-default.
    #[arg(long)]
    broker_defaults: bool,
    /// List configs for the given entity.
    #[arg(long)]
    describe: bool,
    /// List all configs (not just dynamic ones).
    #[arg(long)]
    all: bool,
    /// Alter the configuration for the entity.
    #[arg(long)]
    alter: bool,
    /// Key value pairs of configs to add, comma separated: k1=v1,k2=[v1,v2,v2],k3=v3.
    #[arg(long)]
    add_config: Option<String>,
    /// Config keys to remove, comma separated.
    #[arg(long)]
    delete_config: Option<String>,
    /// Accepted, not used yet.
    #[arg(long)]
    command_config: Option<String>,
    #[arg(long, hide = true)]
    zookeeper: Option<String>,
}

/// Kafka's `--add-config` syntax: commas separate entries except inside `[...]`, whose
/// brackets are removed from the value.
pub fn parse_add_config(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut entries = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c)
            }
            ']' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => entries.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        entries.push(cur);
    }
    entries
        .into_iter()
        .filter(|e| !e.trim().is_empty())
        .map(|e| match e.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                let v = v.trim();
                let v = v.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(v);
                Ok((k.trim().to_string(), v.to_string()))
            }
            _ => Err(format!("Invalid entity config: all configs to be added must be in the format \"key=val\" (got '{e}').")),
        })
        .collect()
}

/// One config line as kafka-configs.sh prints it.
pub fn format_config_line(c: &ConfigEntry) -> String {
    let synonyms = c
        .synonyms
        .iter()
        .map(|s| {
            format!(
                "{}:{}={}",
                config_source_name(s.source),
                s.name,
                s.value.as_deref().unwrap_or("null")
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let value = if c.sensitive {
        "null"
    } else {
        c.value.as_deref().unwrap_or("null")
    };
    format!(
        "  {}={} sensitive={} synonyms={{{}}}",
        c.name, value, c.sensitive, synonyms
    )
}

pub async fn run(a: ConfigsArgs) -> Result<(), ToolError> {
    if a.zookeeper.is_some() {
        return Err(ToolError::usage(
            "zookeeper is not a recognized option (use --bootstrap-server)",
        ));
    }
    let server = a
        .bootstrap_server
        .clone()
        .ok_or_else(|| ToolError::usage("--bootstrap-server must be specified"))?;
    let (rtype, kind, names): (ResourceType, &str, Option<String>) = if let Some(t) = &a.topic {
        (ResourceType::Topic, "topic", Some(t.clone()))
    } else if let Some(b) = &a.broker {
        (ResourceType::Broker, "broker", Some(b.clone()))
    } else if a.broker_defaults {
        (ResourceType::Broker, "broker", Some(String::new()))
    } else {
        match a.entity_type.as_deref() {
            Some("topics") => (ResourceType::Topic, "topic", a.entity_name.clone()),
            Some("brokers") => (
                ResourceType::Broker,
                "broker",
                if a.entity_default { Some(String::new()) } else { a.entity_name.clone() },
            ),
            Some("broker-loggers") => (ResourceType::BrokerLogger, "broker-logger", a.entity_name.clone()),
            Some(o) => return Err(ToolError::usage(format!("Invalid entity type {o}, the entity type must be one of topics, brokers, broker-loggers (users, clients and ips are not supported yet)"))),
            None => return Err(ToolError::usage("--entity-type must be specified")),
        }
    };
    if a.describe == a.alter {
        return Err(ToolError::usage(
            "Command must include exactly one action: --describe, --alter",
        ));
    }
    let client = bootstrap(&server).await?;
    if a.alter {
        let Some(name) = names else {
            return Err(ToolError::usage(
                "an entity name must be specified with --alter",
            ));
        };
        let mut ops = Vec::new();
        if let Some(add) = &a.add_config {
            for (k, v) in parse_add_config(add).map_err(ToolError::usage)? {
                ops.push(AlterConfigOp::Set(k, v));
            }
        }
        if let Some(del) = &a.delete_config {
            ops.extend(
                del.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(|k| AlterConfigOp::Delete(k.to_string())),
            );
        }
        if ops.is_empty() {
            return Err(ToolError::usage(
                "At least one of --add-config or --delete-config must be specified with --alter",
            ));
        }
        client
            .incremental_alter_configs(rtype, &name, &ops)
            .await
            .map_err(|e| {
                ToolError::failed(format!(
                    "Error while executing config command with args '{}': {e}",
                    std::env::args().skip(1).collect::<Vec<_>>().join(" ")
                ))
            })?;
        if name.is_empty() {
            println!("Completed updating default config for brokers in the cluster.");
        } else {
            println!("Completed updating config for {kind} {name}.");
        }
        return Ok(());
    }
    let entities: Vec<String> = match names {
        Some(n) => vec![n],
        None if rtype == ResourceType::Topic => client.list_topics(true).await?,
        None => {
            let mut ids: Vec<String> = client
                .describe_cluster()
                .await?
                .brokers
                .iter()
                .map(|b| b.id.to_string())
                .collect();
            ids.push(String::new());
            ids
        }
    };
    for name in entities {
        let mut configs = client.describe_configs(rtype, &name, None).await?;
        if !a.all {
            let want = match (rtype, name.is_empty()) {
                (ResourceType::Topic, _) => Some(sluice_client::admin::SOURCE_DYNAMIC_TOPIC),
                (ResourceType::Broker, true) => {
                    Some(sluice_client::admin::SOURCE_DYNAMIC_DEFAULT_BROKER)
                }
                (ResourceType::Broker, false) => Some(sluice_client::admin::SOURCE_DYNAMIC_BROKER),
                _ => None,
            };
            configs.retain(|c| want.is_none_or(|w| c.source == w));
        }
        configs.sort_by(|x, y| x.name.cmp(&y.name));
        let scope = if a.all { "All" } else { "Dynamic" };
        if name.is_empty() {
            println!("Default configs for brokers in the cluster are:");
        } else {
            println!("{scope} configs for {kind} {name} are:");
        }
        for c in &configs {
            println!("{}", format_config_line(c));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_client::ConfigSynonym;

    #[test]
    fn add_config_with_brackets() {
        assert_eq!(
            parse_add_config("retention.ms=1000,cleanup.policy=[compact,delete]").unwrap(),
            vec![
                ("retention.ms".into(), "1000".into()),
                ("cleanup.policy".into(), "compact,delete".into())
            ]
        );
        assert!(parse_add_config("novalue").is_err());
    }

    #[test]
    fn config_line_matches_kafka() {
        let c = ConfigEntry {
            name: "retention.ms".into(),
            value: Some("1000".into()),
            read_only: false,
            source: 1,
            sensitive: false,
            synonyms: vec![
                ConfigSynonym {
                    name: "retention.ms".into(),
                    value: Some("1000".into()),
                    source: 1,
                },
                ConfigSynonym {
                    name: "log.retention.hours".into(),
                    value: Some("168".into()),
                    source: 5,
                },
            ],
        };
        assert_eq!(
            format_config_line(&c),
            "  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, DEFAULT_CONFIG:log.retention.hours=168}"
        );
    }
}

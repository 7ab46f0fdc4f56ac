//! `sluice get-offsets` — Kafka's GetOffsetShell: prints `topic:partition:offset` for the
//! chosen partitions at a time (-1 latest, -2 earliest, -3 max timestamp, or a timestamp in
//! ms). Read-only; never changes the cluster.

use clap::Args;

use crate::{bootstrap, ToolError};

#[derive(Debug, Args)]
pub struct GetOffsetsArgs {
    /// REQUIRED: The server(s) to connect to.
    #[arg(long)]
    bootstrap_server: Option<String>,
    /// DEPRECATED, use --bootstrap-server.
    #[arg(long)]
    broker_list: Option<String>,
    /// The topic to get offsets for (comma-separated names; all topics when absent).
    #[arg(long)]
    topic: Option<String>,
    /// Comma-separated list of partition ids (all partitions when absent).
    #[arg(long)]
    partitions: Option<String>,
    /// -1/latest, -2/earliest, -3/max-timestamp, or a timestamp in ms.
    #[arg(long, allow_hyphen_values = true, default_value = "-1")]
    time: String,
    /// Exclude internal topics when no --topic is given.
    #[arg(long)]
    exclude_internal_topics: bool,
    /// Accepted, not used yet.
    #[arg(long)]
    command_config: Option<String>,
}

/// Parses `--time`.
pub fn parse_time(s: &str) -> Option<i64> {
    match s {
        "latest" => Some(-1),
        "earliest" => Some(-2),
        "max-timestamp" => Some(-3),
        n => n.parse().ok().filter(|v: &i64| *v >= -3),
    }
}

/// Parses `--partitions 0,1,4`.
pub fn parse_partitions(s: &str) -> Option<Vec<i32>> {
    s.split(',').map(|p| p.trim().parse().ok()).collect()
}

pub async fn run(a: GetOffsetsArgs) -> Result<(), ToolError> {
    let server = a
        .bootstrap_server
        .clone()
        .or(a.broker_list.clone())
        .ok_or_else(|| ToolError::usage("Missing required argument \"[bootstrap-server]\""))?;
    let time = parse_time(&a.time).ok_or_else(|| ToolError::usage(format!("Malformed time argument {}. Please use -1 or latest / -2 or earliest / -3 or max-timestamp, or a specified long format timestamp", a.time)))?;
    let wanted = match &a.partitions {
        Some(p) => Some(
            parse_partitions(p)
                .ok_or_else(|| ToolError::usage(format!("Invalid partition list '{p}'")))?,
        ),
        None => None,
    };
    let client = bootstrap(&server).await?;
    let topics: Vec<String> = match &a.topic {
        Some(t) => t.split(',').map(|s| s.trim().to_string()).collect(),
        None => client.list_topics(!a.exclude_internal_topics).await?,
    };
    for topic in topics {
        let meta = match client.topic_metadata(&topic, true).await {
            Ok(m) => m,
            Err(e) if a.topic.is_some() => {
                return Err(ToolError::failed(format!("Error: topic {topic}: {e}")))
            }
            Err(_) => continue,
        };
        let qs: Vec<(i32, i64)> = meta
            .partitions
            .iter()
            .map(|p| p.partition)
            .filter(|p| wanted.as_ref().is_none_or(|w| w.contains(p)))
            .map(|p| (p, time))
            .collect();
        if qs.is_empty() {
            continue;
        }
        for (p, off, _) in client.list_offsets(&topic, &qs).await? {
            if off >= 0 {
                println!("{topic}:{p}:{off}");
            } else {
                println!("{topic}:{p}:");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_partitions() {
        assert_eq!(parse_time("-2"), Some(-2));
        assert_eq!(parse_time("earliest"), Some(-2));
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("-4"), None);
        assert_eq!(parse_partitions("0, 2"), Some(vec![0, 2]));
        assert_eq!(parse_partitions("x"), None);
    }
}

//! `sluice console-consumer` — kafka-console-consumer.sh: reads one or all partitions of a
//! topic from earliest/latest/an offset, or as a member of a consumer group (`--group`,
//! `group.id`; see `console_group.rs`), and prints records in the format of Kafka's
//! DefaultMessageFormatter (timestamp, partition, offset, headers, key, value). Formatting is
//! a pure function; the loop stops on --max-messages, --timeout-ms or Ctrl-C and always
//! reports `Processed a total of N messages` on stderr.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use sluice_client::error::codes;
use sluice_client::{
    Client, ClientConfig, ConsumerRecord, FetchOptions, FetchTarget, EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
};

use crate::console_group;
use crate::props::{is_true, load_properties, parse_kvs, unescape};
use crate::{bootstrap, ToolError};

#[derive(Debug, Args)]
pub struct ConsumerArgs {
    /// REQUIRED: The server(s) to connect to.
    #[arg(long)]
    bootstrap_server: Option<String>,
    /// The topic to consume on.
    #[arg(long)]
    topic: Option<String>,
    /// Start with the earliest message present in the log rather than the latest.
    #[arg(long)]
    from_beginning: bool,
    /// The partition to consume from (all partitions when absent).
    #[arg(long)]
    partition: Option<i32>,
    /// earliest, latest, or a non-negative offset (requires --partition).
    #[arg(long)]
    offset: Option<String>,
    /// The maximum number of messages to consume before exiting.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Exit if no message is available for consumption for this many ms.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Formatter properties: print.key, print.offset, print.partition, print.timestamp,
    /// print.headers, key.separator, line.separator, headers.separator, null.literal.
    #[arg(long = "property")]
    property: Vec<String>,
    /// Accepted and ignored (only the default formatter exists).
    #[arg(long)]
    formatter: Option<String>,
    /// The consumer group id of the consumer (commits offsets; resumes from them).
    #[arg(long)]
    group: Option<String>,
    /// Consumer properties (key=value): group.id, auto.offset.reset, enable.auto.commit,
    /// auto.commit.interval.ms, session.timeout.ms, heartbeat.interval.ms,
    /// max.poll.interval.ms, group.instance.id, client.id.
    #[arg(long = "consumer-property")]
    consumer_property: Vec<String>,
    /// Consumer config properties file (the same keys; --consumer-property wins).
    #[arg(long = "consumer.config")]
    consumer_config: Option<String>,
    /// Accepted; only read_uncommitted is implemented.
    #[arg(long)]
    isolation_level: Option<String>,
}

/// DefaultMessageFormatter settings.
#[derive(Debug, Clone)]
pub struct FormatOptions {
    pub print_timestamp: bool,
    pub print_partition: bool,
    pub print_offset: bool,
    pub print_headers: bool,
    pub print_key: bool,
    pub print_value: bool,
    pub key_separator: String,
    pub line_separator: String,
    pub headers_separator: String,
    pub null_literal: String,
}

impl FormatOptions {
    pub fn from_props(p: &BTreeMap<String, String>) -> Self {
        let get = |k: &str, d: &str| {
            p.get(k)
                .map(|v| unescape(v))
                .unwrap_or_else(|| d.to_string())
        };
        FormatOptions {
            print_timestamp: is_true(p, "print.timestamp"),
            print_partition: is_true(p, "print.partition"),
            print_offset: is_true(p, "print.offset"),
            print_headers: is_true(p, "print.headers"),
            print_key: is_true(p, "print.key"),
            print_value: p
                .get("print.value")
                .is_none_or(|v| v.trim().eq_ignore_ascii_case("true")),
            key_separator: get("key.separator", "\t"),
            line_separator: get("line.separator", "\n"),
            headers_separator: get("headers.separator", ","),
            null_literal: get("null.literal", "null"),
        }
    }
}

/// One record as Kafka's DefaultMessageFormatter writes it (including the line separator).
pub fn format_record(r: &ConsumerRecord, o: &FormatOptions, out: &mut Vec<u8>) {
    let mut fields: Vec<Vec<u8>> = Vec::new();
    if o.print_timestamp {
        let kind = if r.log_append_time {
            "LogAppendTime"
        } else {
            "CreateTime"
        };
        fields.push(if r.timestamp >= 0 {
            format!("{kind}:{}", r.timestamp).into_bytes()
        } else {
            b"NO_TIMESTAMP".to_vec()
        });
    }
    if o.print_partition {
        fields.push(format!("Partition:{}", r.partition).into_bytes());
    }
    if o.print_offset {
        fields.push(format!("Offset:{}", r.offset).into_bytes());
    }
    if o.print_headers {
        if r.headers.is_empty() {
            fields.push(b"NO_HEADERS".to_vec());
        } else {
            let mut h = Vec::new();
            for (i, (k, v)) in r.headers.iter().enumerate() {
                if i > 0 {
                    h.extend_from_slice(o.headers_separator.as_bytes());
                }
                h.extend_from_slice(k.as_bytes());
                h.push(b':');
                h.extend_from_slice(v.as_deref().unwrap_or(o.null_literal.as_bytes()));
            }
            fields.push(h);
        }
    }
    if o.print_key {
        fields.push(
            r.key
                .as_deref()
                .unwrap_or(o.null_literal.as_bytes())
                .to_vec(),
        );
    }
    if o.print_value {
        fields.push(
            r.value
                .as_deref()
                .unwrap_or(o.null_literal.as_bytes())
                .to_vec(),
        );
    }
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(o.key_separator.as_bytes());
        }
        out.extend_from_slice(f);
    }
    if o.print_value {
        out.extend_from_slice(o.line_separator.as_bytes());
    }
}

pub async fn run(a: ConsumerArgs) -> Result<(), ToolError> {
    let server = a
        .bootstrap_server
        .clone()
        .ok_or_else(|| ToolError::usage("Missing required argument \"[bootstrap-server]\""))?;
    let topic = a
        .topic
        .clone()
        .ok_or_else(|| ToolError::usage("Exactly one of whitelist/include/topic is required."))?;
    if a.offset.is_some() && a.partition.is_none() {
        return Err(ToolError::usage(
            "The partition is required when offset is specified.",
        ));
    }
    if a.offset.is_some() && a.from_beginning {
        return Err(ToolError::usage(
            "Options from-beginning and offset cannot be specified together.",
        ));
    }
    let start: i64 = match a.offset.as_deref() {
        None if a.from_beginning => EARLIEST_TIMESTAMP,
        None | Some("latest") => LATEST_TIMESTAMP,
        Some("earliest") => EARLIEST_TIMESTAMP,
        Some(n) => match n.parse::<i64>() {
            Ok(v) if v >= 0 => v,
            _ => {
                return Err(ToolError::usage(format!(
                "The offset must either be 'earliest', 'latest' or a non-negative long, not '{n}'"
            )))
            }
        },
    };
    let reset = if a.from_beginning {
        EARLIEST_TIMESTAMP
    } else {
        LATEST_TIMESTAMP
    };
    let fmt = FormatOptions::from_props(
        &parse_kvs(&a.property).map_err(|e| ToolError::usage(e.to_string()))?,
    );
    let mut consumer_props = match &a.consumer_config {
        Some(p) => {
            load_properties(std::path::Path::new(p)).map_err(|e| ToolError::usage(e.to_string()))?
        }
        None => BTreeMap::new(),
    };
    consumer_props
        .extend(parse_kvs(&a.consumer_property).map_err(|e| ToolError::usage(e.to_string()))?);
    let group = console_group::settings(a.group.as_deref(), &consumer_props, a.from_beginning)?;
    let reset = group.as_ref().map_or(reset, |g| g.reset);
    if group.is_some() && (a.partition.is_some() || a.offset.is_some()) {
        return Err(ToolError::usage(
            "Options group and partition/offset cannot be specified together: a group member consumes the partitions the group assigns it",
        ));
    }

    let client = match consumer_props.get("client.id") {
        Some(id) => Client::connect_with(
            &server,
            ClientConfig {
                client_id: id.clone(),
                ..ClientConfig::default()
            },
        )
        .await
        .map_err(ToolError::from)?,
        None => bootstrap(&server).await?,
    };
    let meta = client
        .topic_metadata(&topic, true)
        .await
        .map_err(|e| ToolError::failed(format!("Error: topic {topic}: {e}")))?;
    let partitions: Vec<i32> = match a.partition {
        Some(p) if meta.partitions.iter().any(|m| m.partition == p) => vec![p],
        Some(p) => {
            return Err(ToolError::failed(format!(
                "Error: partition {p} of topic {topic} does not exist"
            )))
        }
        None => meta.partitions.iter().map(|p| p.partition).collect(),
    };
    let mut member = group.map(|g| console_group::GroupConsumer::new(client.clone(), &topic, g));
    let mut targets: Vec<FetchTarget> = Vec::new();
    if let Some(m) = member.as_mut() {
        targets = m.join().await?;
    } else if start >= 0 {
        targets.extend(partitions.iter().map(|&p| FetchTarget {
            topic: topic.clone(),
            partition: p,
            offset: start,
        }));
    } else {
        let qs: Vec<(i32, i64)> = partitions.iter().map(|&p| (p, start)).collect();
        for (p, off, _) in client.list_offsets(&topic, &qs).await? {
            targets.push(FetchTarget {
                topic: topic.clone(),
                partition: p,
                offset: off,
            });
        }
    }

    let max = a.max_messages.unwrap_or(u64::MAX);
    let mut count = 0u64;
    let mut last_progress = Instant::now();
    let mut consecutive_errors = 0u32;
    let stdout = std::io::stdout();
    let mut buf = Vec::with_capacity(64 * 1024);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let outcome: Result<(), ToolError> = 'outer: loop {
        if count >= max {
            break Ok(());
        }
        if let Some(m) = member.as_mut() {
            match m.needs_rejoin() {
                Ok(false) => m.maybe_auto_commit(&targets).await,
                Ok(true) => {
                    m.before_rejoin(&targets).await;
                    let joined = tokio::select! {
                        r = m.join() => r,
                        _ = &mut ctrl_c => break Ok(()),
                    };
                    match joined {
                        Ok(t) => targets = t,
                        Err(e) => break Err(e),
                    }
                }
                Err(e) => break Err(e),
            }
        }
        let mut max_wait = 500u64;
        if let Some(t) = a.timeout_ms {
            let elapsed = last_progress.elapsed().as_millis() as u64;
            if elapsed >= t {
                eprintln!("ERROR Error processing message, terminating consumer process: org.apache.kafka.common.errors.TimeoutException");
                break Ok(());
            }
            max_wait = max_wait.min(t - elapsed).max(1);
        }
        let opts = FetchOptions {
            max_wait_ms: max_wait as i32,
            ..FetchOptions::default()
        };
        if targets.is_empty() {
            // A group member with no partitions: wait for a rebalance (or the timeout).
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(max_wait)) => continue,
                _ = &mut ctrl_c => break Ok(()),
            }
        }
        let results = tokio::select! {
            r = client.fetch_many(&targets, &opts) => r,
            _ = &mut ctrl_c => break Ok(()),
        };
        let mut had_error = false;
        for res in results {
            let Some(t) = targets.iter_mut().find(|t| t.partition == res.partition) else {
                continue;
            };
            match res.records {
                Ok(records) => {
                    for r in &records {
                        if count >= max {
                            break;
                        }
                        format_record(r, &fmt, &mut buf);
                        count += 1;
                        t.offset = r.offset + 1;
                    }
                    if !records.is_empty() {
                        last_progress = Instant::now();
                    } else if res.next_offset > t.offset {
                        t.offset = res.next_offset;
                    }
                }
                Err(e) if e.code() == Some(codes::OFFSET_OUT_OF_RANGE) => {
                    if let Ok(offs) = client.list_offsets(&topic, &[(t.partition, reset)]).await {
                        if let Some((_, off, _)) = offs.first() {
                            t.offset = *off;
                        }
                    }
                }
                Err(e) => {
                    had_error = true;
                    if consecutive_errors >= 20 {
                        break 'outer Err(ToolError::failed(format!(
                            "Error consuming {topic}-{}: {e}",
                            t.partition
                        )));
                    }
                }
            }
        }
        if !buf.is_empty() {
            let mut lock = stdout.lock();
            if lock.write_all(&buf).and_then(|_| lock.flush()).is_err() {
                break Ok(()); // stdout closed (e.g. piped into head)
            }
            buf.clear();
        }
        if had_error {
            consecutive_errors += 1;
            tokio::time::sleep(Duration::from_millis(
                100 * consecutive_errors.min(10) as u64,
            ))
            .await;
        } else {
            consecutive_errors = 0;
        }
    };
    let closed = match member {
        Some(m) => m.close(&targets).await,
        None => Ok(()),
    };
    eprintln!("Processed a total of {count} messages");
    outcome.and(closed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec() -> ConsumerRecord {
        ConsumerRecord {
            topic: "t".into(),
            partition: 0,
            offset: 5,
            timestamp: 1_700_000_000_000,
            log_append_time: false,
            key: Some(Bytes::from_static(b"key")),
            value: Some(Bytes::from_static(b"value")),
            headers: vec![],
        }
    }

    fn fmt(props: &[(&str, &str)], r: &ConsumerRecord) -> String {
        let o = FormatOptions::from_props(
            &props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let mut out = Vec::new();
        format_record(r, &o, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn value_only_by_default() {
        assert_eq!(fmt(&[], &rec()), "value\n");
    }

    #[test]
    fn kafka_field_order() {
        let all = [
            ("print.timestamp", "true"),
            ("print.partition", "true"),
            ("print.offset", "true"),
            ("print.key", "true"),
        ];
        assert_eq!(
            fmt(&all, &rec()),
            "CreateTime:1700000000000\tPartition:0\tOffset:5\tkey\tvalue\n"
        );
    }

    #[test]
    fn headers_nulls_and_separator() {
        let mut r = rec();
        r.key = None;
        r.headers = vec![
            ("a".into(), Some(Bytes::from_static(b"1"))),
            ("b".into(), None),
        ];
        let p = [
            ("print.headers", "true"),
            ("print.key", "true"),
            ("key.separator", ":"),
        ];
        assert_eq!(fmt(&p, &r), "a:1,b:null:null:value\n");
        r.headers.clear();
        assert_eq!(fmt(&[("print.headers", "true")], &r), "NO_HEADERS\tvalue\n");
        r.log_append_time = true;
        assert_eq!(
            fmt(&[("print.timestamp", "true")], &r),
            "LogAppendTime:1700000000000\tvalue\n"
        );
    }
}

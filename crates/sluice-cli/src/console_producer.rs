//! `sluice console-producer` — kafka-console-producer.sh: reads lines from stdin, parses
//! keys/headers like Kafka's LineMessageReader, batches them (one request per flush, not per
//! line), and exits after EOF once everything is acknowledged. Line parsing is pure and
//! tested; it never drops a line silently (errors are reported, exit code 1).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use sluice_client::{
    parse_compression, partition_for_key, Compression, PartitionBatch, ProduceOptions,
    ProduceRecord, StickyPartitioner,
};

use crate::props::{is_true, load_properties, parse_kvs, unescape};
use crate::{bootstrap, ToolError};

/// Flush when this many bytes are buffered (stays under Kafka's 1 MiB max.request.size).
const FLUSH_BYTES: usize = 900 * 1024;

#[derive(Debug, Args)]
pub struct ProducerArgs {
    /// REQUIRED unless --broker-list is given: the server(s) to connect to.
    #[arg(long)]
    bootstrap_server: Option<String>,
    /// DEPRECATED, use --bootstrap-server.
    #[arg(long)]
    broker_list: Option<String>,
    /// REQUIRED: The topic name to produce messages to.
    #[arg(long)]
    topic: Option<String>,
    /// Properties for the line reader: parse.key, key.separator, parse.headers, ...
    #[arg(long = "property")]
    property: Vec<String>,
    /// Producer properties (acks, compression.type, linger.ms, batch.size, client.id).
    #[arg(long = "producer-property")]
    producer_property: Vec<String>,
    /// Producer config properties file.
    #[arg(long = "producer.config")]
    producer_config: Option<std::path::PathBuf>,
    /// none, gzip, snappy, lz4 or zstd; the flag alone means gzip.
    #[arg(long, num_args = 0..=1, default_missing_value = "gzip")]
    compression_codec: Option<String>,
    /// The required acks of the producer requests (-1, 0, 1, all).
    #[arg(long)]
    request_required_acks: Option<String>,
    /// Batch size in bytes.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Send each line synchronously, one at a time.
    #[arg(long)]
    sync: bool,
    /// Linger: wait up to this many ms for more lines before sending (default 1000).
    #[arg(long)]
    timeout: Option<u64>,
    /// Accepted for compatibility.
    #[arg(long)]
    request_timeout_ms: Option<u64>,
}

/// LineMessageReader settings (`--property`).
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    pub parse_key: bool,
    pub key_separator: String,
    pub parse_headers: bool,
    pub headers_delimiter: String,
    pub headers_separator: String,
    pub headers_key_separator: String,
    pub ignore_error: bool,
    pub null_marker: Option<String>,
}

impl ReaderConfig {
    pub fn from_props(p: &BTreeMap<String, String>) -> Self {
        let get = |k: &str, d: &str| {
            p.get(k)
                .map(|v| unescape(v))
                .unwrap_or_else(|| d.to_string())
        };
        ReaderConfig {
            parse_key: is_true(p, "parse.key"),
            key_separator: get("key.separator", "\t"),
            parse_headers: is_true(p, "parse.headers"),
            headers_delimiter: get("headers.delimiter", "\t"),
            headers_separator: get("headers.separator", ","),
            headers_key_separator: get("headers.key.separator", ":"),
            ignore_error: is_true(p, "ignore.error"),
            null_marker: p.get("null.marker").cloned(),
        }
    }
}

fn nullable(s: &str, cfg: &ReaderConfig) -> Option<Bytes> {
    if cfg.null_marker.as_deref() == Some(s) {
        None
    } else {
        Some(Bytes::copy_from_slice(s.as_bytes()))
    }
}

/// Parses one input line into a record, as Kafka's LineMessageReader does.
pub fn parse_line(line: &str, cfg: &ReaderConfig, line_no: usize) -> Result<ProduceRecord, String> {
    let mut rest = line;
    let mut headers = Vec::new();
    if cfg.parse_headers {
        match rest.split_once(cfg.headers_delimiter.as_str()) {
            Some((h, r)) => {
                for item in h
                    .split(cfg.headers_separator.as_str())
                    .filter(|s| !s.is_empty())
                {
                    match item.split_once(cfg.headers_key_separator.as_str()) {
                        Some((k, v)) => headers.push((k.to_string(), nullable(v, cfg))),
                        None => headers.push((item.to_string(), None)),
                    }
                }
                rest = r;
            }
            None if !cfg.ignore_error => {
                return Err(format!(
                    "No headers delimiter found on line number {line_no}: '{line}'"
                ));
            }
            None => {}
        }
    }
    let (key, value) = if cfg.parse_key {
        match rest.split_once(cfg.key_separator.as_str()) {
            Some((k, v)) => (nullable(k, cfg), nullable(v, cfg)),
            None if cfg.ignore_error => (None, nullable(rest, cfg)),
            None => {
                return Err(format!(
                    "No key separator found on line number {line_no}: '{line}'"
                ))
            }
        }
    } else {
        (None, nullable(rest, cfg))
    };
    Ok(ProduceRecord {
        key,
        value,
        headers,
        timestamp: None,
    })
}

fn parse_acks(s: &str) -> Result<i16, ToolError> {
    match s.trim() {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        o => Err(ToolError::usage(format!(
            "Invalid value {o} for configuration acks: String must be one of: all, -1, 0, 1"
        ))),
    }
}

pub async fn run(a: ProducerArgs) -> Result<(), ToolError> {
    let server = a
        .bootstrap_server
        .clone()
        .or(a.broker_list.clone())
        .ok_or_else(|| ToolError::usage("Missing required option(s) [bootstrap-server]"))?;
    let topic = a
        .topic
        .clone()
        .ok_or_else(|| ToolError::usage("Missing required option(s) [topic]"))?;
    let reader_props = parse_kvs(&a.property).map_err(|e| ToolError::usage(e.to_string()))?;
    let mut pprops = match &a.producer_config {
        Some(p) => load_properties(p).map_err(|e| ToolError::usage(e.to_string()))?,
        None => BTreeMap::new(),
    };
    pprops.extend(parse_kvs(&a.producer_property).map_err(|e| ToolError::usage(e.to_string()))?);
    let acks = parse_acks(
        a.request_required_acks
            .as_deref()
            .or(pprops.get("acks").map(String::as_str))
            .unwrap_or("-1"),
    )?;
    let codec = a
        .compression_codec
        .clone()
        .or(pprops.get("compression.type").cloned())
        .unwrap_or_else(|| "none".into());
    let compression: Compression = parse_compression(&codec).ok_or_else(|| {
        ToolError::usage(format!("Invalid value {codec} for configuration compression.type: String must be one of: none, gzip, snappy, lz4, zstd"))
    })?;
    let linger = a
        .timeout
        .or_else(|| pprops.get("linger.ms").and_then(|v| v.parse().ok()))
        .unwrap_or(1000);
    let batch_bytes = a
        .batch_size
        .or_else(|| pprops.get("batch.size").and_then(|v| v.parse().ok()))
        .unwrap_or(16384)
        .clamp(1, FLUSH_BYTES)
        .max(if a.sync { 1 } else { 16384 });
    let flush_bytes = if a.sync {
        0
    } else {
        FLUSH_BYTES.max(batch_bytes)
    };
    let cfg = ReaderConfig::from_props(&reader_props);
    let opts = ProduceOptions {
        acks,
        compression,
        timeout_ms: 30_000,
    };

    let client = bootstrap(&server).await?;
    let meta = client
        .topic_metadata_for_produce(&topic)
        .await
        .map_err(|e| ToolError::failed(format!("Error: topic {topic}: {e}")))?;
    let num_partitions = meta.partitions.len() as i32;

    // stdin is read on a plain thread; lines flow through a bounded channel.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<String>>(8192);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let stop = line.is_err();
            if tx.blocking_send(line).is_err() || stop {
                break;
            }
        }
    });

    let mut sticky = StickyPartitioner::default();
    let mut pending: HashMap<i32, Vec<ProduceRecord>> = HashMap::new();
    let mut pending_bytes = 0usize;
    let mut line_no = 0usize;
    let mut failures = 0usize;
    let mut eof = false;
    while !eof {
        // Wait for the first line of a batch without a deadline, then linger.
        let first = rx.recv().await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(linger);
        let mut next = first;
        loop {
            match next {
                None => {
                    eof = true;
                    break;
                }
                Some(Err(e)) => {
                    return Err(ToolError::failed(format!(
                        "Error reading standard input: {e}"
                    )))
                }
                Some(Ok(line)) => {
                    line_no += 1;
                    let line = line.strip_suffix('\r').unwrap_or(&line).to_string();
                    match parse_line(&line, &cfg, line_no) {
                        Ok(rec) => {
                            let p = match &rec.key {
                                Some(k) => partition_for_key(k, num_partitions),
                                None => sticky.partition(num_partitions),
                            };
                            pending_bytes += rec.size_estimate();
                            pending.entry(p).or_default().push(rec);
                        }
                        Err(msg) => {
                            return Err(ToolError::failed(format!(
                                "org.apache.kafka.common.KafkaException: {msg}"
                            )))
                        }
                    }
                }
            }
            if pending_bytes >= flush_bytes {
                break;
            }
            next = match rx.try_recv() {
                Ok(l) => Some(l),
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(l) => l,
                        Err(_) => break,
                    }
                }
            };
        }
        if pending.is_empty() {
            continue;
        }
        let batches: Vec<PartitionBatch> = pending
            .drain()
            .map(|(partition, records)| PartitionBatch {
                topic: topic.clone(),
                partition,
                records,
            })
            .collect();
        pending_bytes = 0;
        for r in client.produce_batches(batches, &opts).await {
            if let Err(e) = r.base_offset {
                failures += 1;
                eprintln!(
                    "[ERROR] Error when sending message to topic {} partition {} with error: {e}",
                    r.topic, r.partition
                );
            }
        }
        sticky.next_batch(num_partitions);
    }
    if failures > 0 {
        return Err(ToolError::failed(format!(
            "{failures} batch(es) could not be delivered to topic {topic}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(props: &[(&str, &str)]) -> ReaderConfig {
        ReaderConfig::from_props(
            &props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn plain_lines_are_values() {
        let r = parse_line("hello world", &cfg(&[]), 1).unwrap();
        assert_eq!(r.key, None);
        assert_eq!(r.value.as_deref(), Some(&b"hello world"[..]));
    }

    #[test]
    fn keys_split_on_separator() {
        let c = cfg(&[("parse.key", "true"), ("key.separator", ":")]);
        let r = parse_line("k1:v:1", &c, 1).unwrap();
        assert_eq!(r.key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v:1"[..]));
        assert!(parse_line("novalue", &c, 7)
            .unwrap_err()
            .contains("line number 7"));
        let c = cfg(&[("parse.key", "true"), ("ignore.error", "true")]);
        assert_eq!(parse_line("x", &c, 1).unwrap().key, None);
    }

    #[test]
    fn headers_then_key_then_value() {
        let c = cfg(&[
            ("parse.key", "true"),
            ("parse.headers", "true"),
            ("null.marker", "NULL"),
        ]);
        let r = parse_line("h1:v1,h2\tk\tNULL", &c, 1).unwrap();
        assert_eq!(
            r.headers,
            vec![
                ("h1".to_string(), Some(Bytes::from_static(b"v1"))),
                ("h2".to_string(), None)
            ]
        );
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value, None);
    }

    #[test]
    fn acks_values() {
        assert_eq!(parse_acks("all").unwrap(), -1);
        assert_eq!(parse_acks("1").unwrap(), 1);
        assert!(parse_acks("2").is_err());
    }
}

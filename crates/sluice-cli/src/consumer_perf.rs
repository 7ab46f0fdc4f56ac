//! `sluice consumer-perf-test` — kafka-consumer-perf-test.sh (Kafka's ConsumerPerformance):
//! a `sluice_client::Consumer` subscribes in a group (`--topic` or `--include` regex), reads
//! `--messages` records (or stops after `--timeout` ms without one) and prints Kafka's CSV
//! lines: the header, per-interval lines with `--show-detailed-stats`, else one summary line
//! (start/end time, MB and records consumed and per second, rebalance time, fetch time and
//! the rates over fetch time). Output formatting is pure and tested.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use sluice_client::consumer::{Consumer, ConsumerConfig};
use sluice_client::{ConsumerRebalanceListener, RebalanceContext, TopicPartition};

use crate::props::load_properties;
use crate::ToolError;

#[derive(Debug, Args)]
pub struct ConsumerPerfArgs {
    /// REQUIRED: The server(s) to connect to.
    #[arg(long)]
    bootstrap_server: Option<String>,
    /// The topic to consume from.
    #[arg(long)]
    topic: Option<String>,
    /// Regular expression specifying list of topics to include for consumption.
    #[arg(long)]
    include: Option<String>,
    /// REQUIRED: The number of messages to consume.
    #[arg(long)]
    messages: Option<u64>,
    /// The group id to consume on (default perf-consumer-<random>).
    #[arg(long)]
    group: Option<String>,
    /// The amount of data to fetch in a single request (max.partition.fetch.bytes).
    #[arg(long, default_value_t = 1024 * 1024)]
    fetch_size: i32,
    /// The maximum allowed time in milliseconds between returned records.
    #[arg(long, default_value_t = 10_000)]
    timeout: u64,
    /// Without a committed offset, start at the latest message rather than the earliest.
    #[arg(long)]
    from_latest: bool,
    /// Consumer config properties file.
    #[arg(long = "consumer.config")]
    consumer_config: Option<PathBuf>,
    /// Report stats for each reporting interval.
    #[arg(long)]
    show_detailed_stats: bool,
    /// Interval in milliseconds at which to print progress info.
    #[arg(long, default_value_t = 5_000)]
    reporting_interval: u64,
    /// Skip printing the header for the stats.
    #[arg(long)]
    hide_header: bool,
    /// Accepted for compatibility (the OS default receive buffer is used).
    #[arg(long)]
    socket_buffer_size: Option<i32>,
}

const MB: f64 = 1024.0 * 1024.0;

/// Kafka's header line.
pub fn header(detailed: bool) -> String {
    let first = if detailed {
        "time, threadId"
    } else {
        "start.time, end.time"
    };
    format!("{first}, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
}

/// Kafka's summary line.
pub fn summary(start_ms: i64, end_ms: i64, bytes: u64, msgs: u64, join_ms: i64) -> String {
    let elapsed = (end_ms - start_ms) as f64 / 1000.0;
    let fetch_ms = end_ms - start_ms - join_ms;
    let mb = bytes as f64 / MB;
    let fetch_s = fetch_ms as f64 / 1000.0;
    format!(
        "{}, {}, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        date(start_ms),
        date(end_ms),
        mb,
        mb / elapsed,
        msgs,
        msgs as f64 / elapsed,
        join_ms,
        fetch_ms,
        mb / fetch_s,
        msgs as f64 / fetch_s
    )
}

/// Kafka's per-interval line (`--show-detailed-stats`).
#[allow(clippy::too_many_arguments)]
pub fn progress(
    bytes: u64,
    last_bytes: u64,
    msgs: u64,
    last_msgs: u64,
    start_ms: i64,
    end_ms: i64,
    join_ms: i64,
) -> String {
    let elapsed = (end_ms - start_ms) as f64;
    let interval_mb = (bytes - last_bytes) as f64 / MB;
    let fetch_ms = end_ms - start_ms - join_ms;
    let rate = |x: f64, ms: f64| if ms <= 0.0 { 0.0 } else { 1000.0 * x / ms };
    format!(
        "{}, 0, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        date(end_ms),
        bytes as f64 / MB,
        1000.0 * interval_mb / elapsed,
        msgs,
        (msgs - last_msgs) as f64 / elapsed * 1000.0,
        join_ms,
        fetch_ms,
        rate(interval_mb, fetch_ms as f64),
        rate((msgs - last_msgs) as f64, fetch_ms as f64)
    )
}

/// `yyyy-MM-dd HH:mm:ss:SSS` in local time (Kafka's default --date-format).
pub fn date(ms: i64) -> String {
    let secs = ms.div_euclid(1000) as libc::time_t;
    // SAFETY: localtime_r only writes the tm struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return ms.to_string();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}:{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        ms.rem_euclid(1000)
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Kafka's ConsumerPerfRebListener: time from losing the last partition (or the start) to
/// getting the first one back counts as rebalance time.
#[derive(Default)]
struct JoinClock {
    assigned: usize,
    join_start_ms: i64,
    total_ms: i64,
    round_ms: i64,
}

struct PerfListener(Arc<Mutex<JoinClock>>);

impl ConsumerRebalanceListener for PerfListener {
    fn on_partitions_revoked(&mut self, p: &[TopicPartition], _: &mut RebalanceContext) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        c.assigned = c.assigned.saturating_sub(p.len());
        if c.assigned == 0 {
            c.join_start_ms = now_ms();
        }
    }
    fn on_partitions_assigned(&mut self, p: &[TopicPartition], _: &mut RebalanceContext) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if c.assigned == 0 {
            let elapsed = now_ms() - c.join_start_ms;
            c.total_ms += elapsed;
            c.round_ms += elapsed;
        }
        c.assigned += p.len();
    }
}

fn config(a: &ConsumerPerfArgs, bootstrap: &str) -> Result<ConsumerConfig, ToolError> {
    let mut props = match &a.consumer_config {
        Some(p) => load_properties(p).map_err(|e| ToolError::usage(e.to_string()))?,
        None => Default::default(),
    };
    let group = a.group.clone().unwrap_or_else(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("perf-consumer-{}", nanos % 100_000)
    });
    props.insert("bootstrap.servers".into(), bootstrap.into());
    props.insert("group.id".into(), group);
    props.insert("max.partition.fetch.bytes".into(), a.fetch_size.to_string());
    let reset = if a.from_latest { "latest" } else { "earliest" };
    props.insert("auto.offset.reset".into(), reset.into());
    props.insert("check.crcs".into(), "false".into());
    props
        .entry("client.id".into())
        .or_insert_with(|| "perf-consumer-client".into());
    props.remove("receive.buffer.bytes");
    ConsumerConfig::from_map(&props).map_err(|e| ToolError::usage(e.to_string()))
}

pub async fn run(a: ConsumerPerfArgs) -> Result<(), ToolError> {
    let bootstrap = a
        .bootstrap_server
        .clone()
        .ok_or_else(|| ToolError::usage("Missing required argument \"[bootstrap-server]\""))?;
    let messages = a
        .messages
        .ok_or_else(|| ToolError::usage("Missing required argument \"[messages]\""))?;
    if a.topic.is_some() == a.include.is_some() {
        return Err(ToolError::usage(
            "Exactly one of the following arguments is required: [topic], [include]",
        ));
    }
    if a.reporting_interval == 0 {
        return Err(ToolError::usage(
            "Reporting interval must be greater than 0.",
        ));
    }
    if !a.hide_header {
        println!("{}", header(a.show_detailed_stats));
    }
    let cfg = config(&a, &bootstrap)?;
    let mut consumer = Consumer::new(cfg).await?;
    let start_ms = now_ms();
    let clock = Arc::new(Mutex::new(JoinClock {
        join_start_ms: start_ms,
        ..Default::default()
    }));
    let listener = Some(Box::new(PerfListener(clock.clone())) as _);
    match (&a.topic, &a.include) {
        (Some(t), _) => consumer.subscribe(&[t.as_str()], listener).await?,
        (_, Some(re)) => consumer.subscribe_pattern(re, listener).await?,
        _ => unreachable!("checked above"),
    }
    let (mut bytes, mut msgs, mut last_bytes, mut last_msgs) = (0u64, 0u64, 0u64, 0u64);
    let timeout = Duration::from_millis(a.timeout);
    let mut last_consumed = Instant::now();
    let mut last_report_ms = start_ms;
    while msgs < messages && last_consumed.elapsed() <= timeout {
        let records = consumer.poll(Duration::from_millis(100)).await?;
        let now = now_ms();
        if !records.is_empty() {
            last_consumed = Instant::now();
        }
        for r in &records {
            msgs += 1;
            bytes += r.key.as_ref().map_or(0, |k| k.len() as u64);
            bytes += r.value.as_ref().map_or(0, |v| v.len() as u64);
        }
        if now - last_report_ms >= a.reporting_interval as i64 && !records.is_empty() {
            if a.show_detailed_stats {
                let round =
                    std::mem::take(&mut clock.lock().unwrap_or_else(|e| e.into_inner()).round_ms);
                println!(
                    "{}",
                    progress(
                        bytes,
                        last_bytes,
                        msgs,
                        last_msgs,
                        last_report_ms,
                        now,
                        round
                    )
                );
            }
            last_report_ms = now;
            last_msgs = msgs;
            last_bytes = bytes;
        }
    }
    if msgs < messages {
        println!("WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. You can use the --timeout option to increase the timeout.", a.timeout);
    }
    let end_ms = now_ms();
    consumer.close().await?;
    if !a.show_detailed_stats {
        let join_ms = clock.lock().unwrap_or_else(|e| e.into_inner()).total_ms;
        println!("{}", summary(start_ms, end_ms, bytes, msgs, join_ms));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_lines_match_kafka() {
        assert_eq!(
            header(false),
            "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
        );
        assert!(header(true).starts_with("time, threadId, data.consumed.in.MB"));
        let s = summary(0, 2000, 2 * 1024 * 1024, 1000, 1000);
        let fields: Vec<&str> = s.split(", ").collect();
        assert_eq!(fields.len(), 10);
        assert_eq!(
            &fields[2..],
            [
                "2.0000",
                "1.0000",
                "1000",
                "500.0000",
                "1000",
                "1000",
                "2.0000",
                "1000.0000"
            ]
        );
        assert_eq!(date(0).len(), "1970-01-01 00:00:00:000".len());
        let p = progress(1024 * 1024, 0, 10, 0, 0, 1000, 0);
        assert!(
            p.ends_with(", 0, 1.0000, 1.0000, 10, 10.0000, 0, 1000, 1.0000, 10.0000"),
            "{p}"
        );
    }
}

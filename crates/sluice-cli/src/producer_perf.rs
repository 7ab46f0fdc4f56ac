//! `sluice producer-perf-test` — kafka-producer-perf-test.sh on the Rust producer: sends
//! `--num-records` records of `--record-size` random bytes (or payloads from a file) at
//! `--throughput` records/s (-1 = unthrottled) and prints Kafka's ProducerPerformance lines:
//! a window line every 5 s and a final line with latency percentiles. Latency is measured per
//! record from `send` to its acknowledgement callback; only acknowledged records count.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use sluice_client::producer::{ProducerConfig, ProducerRecord};
use sluice_client::Producer;

use crate::props::{load_properties, parse_kvs, unescape};
use crate::ToolError;

const REPORTING_INTERVAL: Duration = Duration::from_millis(5000);

#[derive(Debug, Args)]
pub struct PerfArgs {
    /// REQUIRED: produce messages to this topic.
    #[arg(long)]
    topic: String,
    /// REQUIRED: number of messages to produce.
    #[arg(long)]
    num_records: u64,
    /// Message size in bytes (exactly one of --record-size and --payload-file).
    #[arg(long)]
    record_size: Option<usize>,
    /// File to read message payloads from (UTF-8, split by --payload-delimiter).
    #[arg(long)]
    payload_file: Option<PathBuf>,
    /// Delimiter of the payload file (default: new line).
    #[arg(long, default_value = "\\n")]
    payload_delimiter: String,
    /// REQUIRED: throttle to about this many messages/sec; -1 = no throttling.
    #[arg(long, allow_hyphen_values = true)]
    throughput: f64,
    /// Producer properties as key=value (bootstrap.servers=..., acks=..., ...).
    #[arg(long = "producer-props", num_args = 1..)]
    producer_props: Vec<String>,
    /// Producer config properties file.
    #[arg(long = "producer.config")]
    producer_config: Option<PathBuf>,
    /// Print producer metrics at the end of the test.
    #[arg(long)]
    print_metrics: bool,
    /// Payloads are the record's index as text (instead of random bytes).
    #[arg(long)]
    payload_monotonic: bool,
}

/// Kafka's ProducerPerformance statistics: totals, a 5 s window, sampled latencies.
pub struct Stats {
    start: Instant,
    window_start: Instant,
    latencies: Vec<u32>,
    sampling: u64,
    iteration: u64,
    count: u64,
    bytes: u64,
    max_latency: u32,
    total_latency: u64,
    window_count: u64,
    window_max: u32,
    window_total: u64,
    window_bytes: u64,
}

impl Stats {
    pub fn new(num_records: u64) -> Self {
        let sampling = (num_records / num_records.clamp(1, 500_000)).max(1);
        Stats {
            start: Instant::now(),
            window_start: Instant::now(),
            latencies: Vec::with_capacity((num_records / sampling + 1) as usize),
            sampling,
            iteration: 0,
            count: 0,
            bytes: 0,
            max_latency: 0,
            total_latency: 0,
            window_count: 0,
            window_max: 0,
            window_total: 0,
            window_bytes: 0,
        }
    }

    pub fn record(&mut self, latency_ms: u32, bytes: usize, now: Instant) -> Option<String> {
        self.count += 1;
        self.bytes += bytes as u64;
        self.total_latency += latency_ms as u64;
        self.max_latency = self.max_latency.max(latency_ms);
        self.window_count += 1;
        self.window_bytes += bytes as u64;
        self.window_total += latency_ms as u64;
        self.window_max = self.window_max.max(latency_ms);
        if self.iteration.is_multiple_of(self.sampling) {
            self.latencies.push(latency_ms);
        }
        self.iteration += 1;
        if now.duration_since(self.window_start) >= REPORTING_INTERVAL {
            let line = self.window_line(now);
            self.window_start = now;
            self.window_count = 0;
            self.window_max = 0;
            self.window_total = 0;
            self.window_bytes = 0;
            return Some(line);
        }
        None
    }

    fn window_line(&self, now: Instant) -> String {
        let ms = now.duration_since(self.window_start).as_millis().max(1) as f64;
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.window_count,
            1000.0 * self.window_count as f64 / ms,
            1000.0 * self.window_bytes as f64 / ms / (1024.0 * 1024.0),
            self.window_total as f64 / self.window_count.max(1) as f64,
            self.window_max as f64
        )
    }

    /// The final line (ProducerPerformance's printTotal).
    pub fn total_line(&mut self, now: Instant) -> String {
        let ms = now.duration_since(self.start).as_millis().max(1) as f64;
        self.latencies.sort_unstable();
        let pct = |p: f64| {
            let n = self.latencies.len();
            if n == 0 {
                0
            } else {
                self.latencies[((p * n as f64) as usize).min(n - 1)]
            }
        };
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            1000.0 * self.count as f64 / ms,
            1000.0 * self.bytes as f64 / ms / (1024.0 * 1024.0),
            self.total_latency as f64 / self.count.max(1) as f64,
            self.max_latency as f64,
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(0.999)
        )
    }
}

/// Kafka's ThroughputThrottler: sleeps so that `sent / elapsed` stays near `target`.
pub struct Throttler {
    target: f64,
    start: Instant,
    sleep_per_record: Duration,
    deficit: Duration,
}

/// Shorter sleeps are accumulated instead (timer granularity).
const MIN_SLEEP: Duration = Duration::from_millis(2);

impl Throttler {
    pub fn new(target: f64, start: Instant) -> Self {
        let sleep_per_record = if target > 0.0 {
            Duration::from_secs_f64(1.0 / target)
        } else {
            Duration::ZERO
        };
        Throttler {
            target,
            start,
            sleep_per_record,
            deficit: Duration::ZERO,
        }
    }

    pub fn should_throttle(&self, sent: u64, now: Instant) -> bool {
        if self.target < 0.0 {
            return false;
        }
        let elapsed = now.duration_since(self.start).as_secs_f64();
        elapsed > 0.0 && sent as f64 / elapsed > self.target
    }

    pub async fn throttle(&mut self) {
        if self.target == 0.0 {
            // Kafka waits forever for throughput 0.
            std::future::pending::<()>().await;
        }
        self.deficit += self.sleep_per_record;
        if self.deficit >= MIN_SLEEP {
            let started = Instant::now();
            tokio::time::sleep(self.deficit).await;
            self.deficit = self.deficit.saturating_sub(started.elapsed());
        }
    }
}

fn read_payloads(path: &PathBuf, delimiter: &str) -> Result<Vec<Bytes>, ToolError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ToolError::failed(format!("cannot read {}: {e}", path.display())))?;
    println!("Reading payloads from: {}", path.display());
    let payloads: Vec<Bytes> = text
        .split(delimiter)
        .filter(|s| !s.is_empty())
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
    if payloads.is_empty() {
        return Err(ToolError::usage(format!(
            "File does not contain any payloads: {}",
            path.display()
        )));
    }
    println!("Number of messages read: {}", payloads.len());
    Ok(payloads)
}

pub async fn run(a: PerfArgs) -> Result<(), ToolError> {
    if a.num_records == 0 {
        return Err(ToolError::usage(
            "--num-records should be greater than zero",
        ));
    }
    let payloads = match (&a.record_size, &a.payload_file) {
        (Some(0), _) => {
            return Err(ToolError::usage(
                "--record-size should be greater than zero",
            ))
        }
        (Some(_), Some(_)) | (None, None) => {
            return Err(ToolError::usage(
                "Exactly one of --record-size or --payload-file must be specified.",
            ))
        }
        (Some(size), None) => {
            let random: Vec<u8> = (0..*size)
                .map(|_| b'A' + rand::random_range(0..26u8))
                .collect();
            vec![Bytes::from(random)]
        }
        (None, Some(path)) => read_payloads(path, &unescape(&a.payload_delimiter))?,
    };
    if a.producer_props.is_empty() && a.producer_config.is_none() {
        return Err(ToolError::usage(
            "Either --producer-props or --producer.config must be specified.",
        ));
    }
    let mut props: BTreeMap<String, String> = match &a.producer_config {
        Some(p) => load_properties(p).map_err(|e| ToolError::failed(e.to_string()))?,
        None => BTreeMap::new(),
    };
    props.extend(parse_kvs(&a.producer_props).map_err(|e| ToolError::usage(e.to_string()))?);
    let config = ProducerConfig::from_props(&props).map_err(|e| ToolError::usage(e.to_string()))?;
    let producer = Producer::new(config)
        .await
        .map_err(|e| ToolError::failed(format!("Error: {e}")))?;

    let stats = Arc::new(Mutex::new(Stats::new(a.num_records)));
    let start = Instant::now();
    let mut throttler = Throttler::new(a.throughput, start);
    let failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for i in 0..a.num_records {
        let value = if a.payload_monotonic {
            Bytes::from(i.to_string())
        } else if payloads.len() == 1 {
            payloads[0].clone()
        } else {
            payloads[rand::random_range(0..payloads.len())].clone()
        };
        let bytes = value.len();
        let record = ProducerRecord {
            topic: a.topic.clone(),
            partition: None,
            key: None,
            value: Some(value),
            headers: Vec::new(),
            timestamp: None,
        };
        let sent_at = Instant::now();
        let (stats, failures) = (stats.clone(), failures.clone());
        producer
            .send_with_callback(record, move |res| match res {
                Ok(_) => {
                    let now = Instant::now();
                    let latency = now.duration_since(sent_at).as_millis() as u32;
                    let line = stats
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .record(latency, bytes, now);
                    if let Some(line) = line {
                        println!("{line}");
                    }
                }
                Err(e) => {
                    if failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 10 {
                        eprintln!("{e}");
                    }
                }
            })
            .await;
        if throttler.should_throttle(i + 1, sent_at) {
            throttler.throttle().await;
        }
    }
    producer.flush().await;
    let line = stats
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .total_line(Instant::now());
    println!("{line}");
    if a.print_metrics {
        let m = producer.metrics();
        let o = std::sync::atomic::Ordering::Relaxed;
        println!();
        println!("Metric Name                                             Value");
        for (name, v) in [
            ("producer-metrics:record-send-total", m.records_sent.load(o)),
            (
                "producer-metrics:record-error-total",
                m.record_errors.load(o),
            ),
            ("producer-metrics:record-retry-total", m.retries.load(o)),
            ("producer-metrics:batch-total", m.batches.load(o)),
            ("producer-metrics:request-total", m.requests.load(o)),
        ] {
            println!("{name:<55} : {v}");
        }
    }
    producer.close(Duration::from_secs(30)).await;
    let failed = failures.load(std::sync::atomic::Ordering::Relaxed);
    if failed > 0 {
        return Err(ToolError::failed(format!("{failed} records failed")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_kafka_format() {
        let mut s = Stats::new(4);
        let t0 = s.start;
        for (i, l) in [3u32, 1, 4, 10].iter().enumerate() {
            assert!(s
                .record(*l, 1024 * 1024, t0 + Duration::from_millis(i as u64))
                .is_none());
        }
        let line = s.total_line(t0 + Duration::from_millis(2000));
        assert_eq!(
            line,
            "4 records sent, 2.0 records/sec (2.00 MB/sec), 4.50 ms avg latency, 10.00 ms max latency, 4 ms 50th, 10 ms 95th, 10 ms 99th, 10 ms 99.9th."
        );
        let mut s = Stats::new(10);
        let t0 = s.window_start;
        s.record(2, 100, t0);
        let w = s.record(4, 100, t0 + Duration::from_millis(5000)).unwrap();
        assert_eq!(
            w,
            "2 records sent, 0.4 records/sec (0.00 MB/sec), 3.0 ms avg latency, 4.0 ms max latency."
        );
    }

    #[test]
    fn throttler_holds_the_rate() {
        let start = Instant::now();
        let t = Throttler::new(100.0, start);
        assert!(t.should_throttle(1000, start + Duration::from_secs(1)));
        assert!(!t.should_throttle(50, start + Duration::from_secs(1)));
        let t = Throttler::new(-1.0, start);
        assert!(!t.should_throttle(1_000_000, start + Duration::from_millis(1)));
    }
}

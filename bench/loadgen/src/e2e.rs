//! `e2e`: end-to-end latency. One producer sends records at a fixed rate for a fixed time;
//! each payload carries a run id and the send instant (nanoseconds on this process's
//! monotonic clock, taken just before the record is handed to librdkafka). A consumer in
//! the same process reads all partitions from the beginning and records
//! `receive instant - send instant`. Records sent during the warm-up are not counted.
//! Latency therefore includes client batching (linger.ms=0 here), the produce round trip,
//! the broker making the record visible to Fetch, and the fetch wake-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::util::{apply_overrides, base_config, fmt_cpu, percentile, CpuMeter};

#[derive(Args)]
pub struct E2eArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Use a fresh (empty) topic: the consumer starts at offset 0
    #[arg(long)]
    topic: String,
    /// Records per second
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds of sending (including warm-up)
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds at the start whose records are not counted
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Payload bytes per record (at least 16)
    #[arg(long, default_value_t = 100)]
    record_size: usize,
    #[arg(long, default_value = "1")]
    acks: String,
    /// Broker pid, to report the broker's CPU use during the run
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Extra librdkafka properties for the producer, key=value (repeatable)
    #[arg(short = 'X')]
    extra: Vec<String>,
}

pub fn run(a: E2eArgs) -> anyhow::Result<()> {
    let size = a.record_size.max(16);
    let total = a.rate * a.duration;
    let run_id: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id());
    let base = Instant::now();

    let consumer = crate::consume::new_consumer(&a.bootstrap, &[])?;
    let parts = crate::consume::partitions(&consumer, &a.topic)?;
    let mut tpl = TopicPartitionList::new();
    for p in &parts {
        tpl.add_partition_offset(&a.topic, *p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;

    let mut cfg = base_config(&a.bootstrap);
    cfg.set("acks", &a.acks)
        .set("linger.ms", "0")
        .set("queue.buffering.max.messages", "1000000");
    apply_overrides(&mut cfg, &a.extra)?;
    let producer: BaseProducer = cfg.create().context("creating producer")?;
    producer
        .client()
        .fetch_metadata(Some(&a.topic), Duration::from_secs(10))
        .context("producer metadata")?;

    let warmup_ns = a.warmup * 1_000_000_000;
    let done_sending = AtomicBool::new(false);
    let meter = CpuMeter::start(a.broker_pid);

    let (latencies, received, foreign) = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            let mut lat: Vec<u64> = Vec::with_capacity(total as usize);
            let (mut received, mut foreign) = (0u64, 0u64);
            let mut quiet_since: Option<Instant> = None;
            loop {
                match consumer.poll(Duration::from_millis(50)) {
                    Some(Ok(m)) => {
                        let now = base.elapsed().as_nanos() as u64;
                        let p = m.payload().unwrap_or(&[]);
                        let field = |i: usize| {
                            p.get(i..i + 8)
                                .and_then(|b| b.try_into().ok())
                                .map(u64::from_le_bytes)
                        };
                        match (field(0), field(8)) {
                            (Some(id), Some(sent)) if id == run_id => {
                                received += 1;
                                if sent >= warmup_ns {
                                    lat.push(now.saturating_sub(sent));
                                }
                            }
                            _ => foreign += 1,
                        }
                        quiet_since = None;
                        if received >= total {
                            break;
                        }
                    }
                    Some(Err(e)) => eprintln!("e2e: consume error: {e}"),
                    None => {
                        if done_sending.load(Ordering::Relaxed) {
                            let q = *quiet_since.get_or_insert_with(Instant::now);
                            if q.elapsed() > Duration::from_secs(5) {
                                break;
                            }
                        }
                    }
                }
            }
            (lat, received, foreign)
        });

        let mut payload = vec![0u8; size];
        payload[0..8].copy_from_slice(&run_id.to_le_bytes());
        let interval_ns = 1_000_000_000f64 / a.rate as f64;
        let mut sent = 0u64;
        let mut send_err: Option<KafkaError> = None;
        while sent < total {
            let due = (base.elapsed().as_nanos() as f64 / interval_ns) as u64;
            while sent < total && sent <= due {
                let t = base.elapsed().as_nanos() as u64;
                payload[8..16].copy_from_slice(&t.to_le_bytes());
                match producer.send::<[u8], [u8]>(BaseRecord::to(&a.topic).payload(&payload[..])) {
                    Ok(()) => sent += 1,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        producer.poll(Duration::from_millis(1));
                    }
                    Err((e, _)) => {
                        send_err = Some(e);
                        break;
                    }
                }
            }
            if send_err.is_some() {
                break;
            }
            producer.poll(Duration::ZERO);
            // Sleep until the next record is due (coarse; a late wake-up sends a small burst).
            let next_ns = ((sent as f64) * interval_ns) as u64;
            let now = base.elapsed().as_nanos() as u64;
            if next_ns > now {
                std::thread::sleep(Duration::from_nanos(next_ns - now));
            }
        }
        let flushed = producer.flush(Duration::from_secs(30));
        done_sending.store(true, Ordering::Relaxed);
        let r = rx.join().unwrap_or_default();
        if let Some(e) = send_err {
            eprintln!("e2e: send failed after {sent} records: {e}");
        }
        if let Err(e) = flushed {
            eprintln!("e2e: flush: {e}");
        }
        r
    });
    let (elapsed, my_cpu, broker_cpu) = meter.stop();

    let mut lat = latencies;
    if lat.is_empty() {
        bail!("no records came back ({received} received of {total})");
    }
    lat.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    let (p50, p95, p99, p999, max) = (
        percentile(&lat, 50.0),
        percentile(&lat, 95.0),
        percentile(&lat, 99.0),
        percentile(&lat, 99.9),
        *lat.last().unwrap_or(&0),
    );
    println!(
        "e2e: {} rec/s for {}s ({received}/{total} received, {} measured after {}s warm-up, \
         {foreign} foreign) latency us: p50 {:.0} p95 {:.0} p99 {:.0} p99.9 {:.0} max {:.0} \
         (wall {:.1}s; cores used: loadgen {my_cpu:.2}, broker {})",
        a.rate,
        a.duration,
        lat.len(),
        a.warmup,
        us(p50),
        us(p95),
        us(p99),
        us(p999),
        us(max),
        elapsed.as_secs_f64(),
        fmt_cpu(broker_cpu)
    );
    println!(
        "RESULT e2e rate={} sent={total} received={received} measured={} p50_us={:.0} p95_us={:.0} \
         p99_us={:.0} p999_us={:.0} max_us={:.0} loadgen_cores={my_cpu:.2} broker_cores={}",
        a.rate,
        lat.len(),
        us(p50),
        us(p95),
        us(p99),
        us(p999),
        us(max),
        fmt_cpu(broker_cpu)
    );
    Ok(())
}

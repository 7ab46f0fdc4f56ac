//! `consume`: assigns every partition of a topic from the beginning (no consumer group, no
//! commits) and reads until N records arrived, printing records/s and MB/s of payload
//! (MB = 10^6 bytes). Run right after `produce`, it measures reads served from the page cache.
//! The clock starts at `assign`, so the first fetch round trip is included.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::util::{apply_overrides, base_config, fmt_cpu, CpuMeter};

#[derive(Args)]
pub struct ConsumeArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    /// Stop after this many records
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Consumer instances (threads); partitions are dealt round-robin between them
    #[arg(long, default_value_t = 1)]
    consumers: usize,
    /// Give up if no record arrives for this many seconds
    #[arg(long, default_value_t = 10)]
    idle_timeout_secs: u64,
    /// Broker pid, to report the broker's CPU use during the run
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Extra librdkafka properties, key=value (repeatable)
    #[arg(short = 'X')]
    extra: Vec<String>,
}

pub fn new_consumer(bootstrap: &str, extra: &[String]) -> anyhow::Result<BaseConsumer> {
    let mut cfg = base_config(bootstrap);
    // librdkafka's assign() needs a group.id, but partitions are assigned by hand with
    // explicit offsets and nothing is committed, so no group protocol is used.
    cfg.set("group.id", "sluice-loadgen")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.min.messages", "1000000")
        .set("queued.max.messages.kbytes", "1048576");
    apply_overrides(&mut cfg, extra)?;
    cfg.create().context("creating consumer")
}

/// Partition ids of `topic`, from a Metadata request.
pub fn partitions<C: rdkafka::consumer::ConsumerContext>(
    c: &BaseConsumer<C>,
    topic: &str,
) -> anyhow::Result<Vec<i32>> {
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("metadata for topic")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .context("topic missing from metadata")?;
    if let Some(e) = t.error() {
        bail!("topic {topic}: {e:?}");
    }
    Ok(t.partitions().iter().map(|p| p.id()).collect())
}

pub fn run(a: ConsumeArgs) -> anyhow::Result<()> {
    let probe = new_consumer(&a.bootstrap, &a.extra)?;
    let parts = partitions(&probe, &a.topic)?;
    drop(probe);
    let n = a.consumers.clamp(1, parts.len().max(1));
    let mut consumers = Vec::with_capacity(n);
    for _ in 0..n {
        let c = new_consumer(&a.bootstrap, &a.extra)?;
        // Connect before the clock starts.
        c.fetch_metadata(Some(&a.topic), Duration::from_secs(10))?;
        consumers.push(c);
    }

    let records = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let meter = CpuMeter::start(a.broker_pid);
    let deadline_idle = Duration::from_secs(a.idle_timeout_secs);
    let finished = std::thread::scope(|s| -> anyhow::Result<Duration> {
        let mut handles = Vec::new();
        for (i, c) in consumers.iter().enumerate() {
            let mut tpl = TopicPartitionList::new();
            for p in parts.iter().skip(i).step_by(n) {
                tpl.add_partition_offset(&a.topic, *p, Offset::Beginning)?;
            }
            c.assign(&tpl)?;
            let (records, bytes) = (records.clone(), bytes.clone());
            let target = a.records;
            handles.push(s.spawn(move || -> anyhow::Result<()> {
                let (mut local_n, mut local_b) = (0u64, 0u64);
                let mut last = Instant::now();
                loop {
                    match c.poll(Duration::from_millis(10)) {
                        Some(Ok(m)) => {
                            local_n += 1;
                            local_b += m.payload_len() as u64;
                            last = Instant::now();
                            if local_n.is_multiple_of(4096) {
                                bytes.fetch_add(local_b, Ordering::Relaxed);
                                local_b = 0;
                                let before = records.fetch_add(local_n, Ordering::Relaxed);
                                local_n = 0;
                                if before + 4096 >= target {
                                    break;
                                }
                            }
                        }
                        Some(Err(e)) => bail!("consume error: {e}"),
                        None => {
                            // Publish what this thread holds, so others can see the total.
                            bytes.fetch_add(std::mem::take(&mut local_b), Ordering::Relaxed);
                            records.fetch_add(std::mem::take(&mut local_n), Ordering::Relaxed);
                            if records.load(Ordering::Relaxed) >= target
                                || last.elapsed() > deadline_idle
                            {
                                break;
                            }
                        }
                    }
                    if local_n > 0 && records.load(Ordering::Relaxed) + local_n >= target {
                        break;
                    }
                }
                bytes.fetch_add(local_b, Ordering::Relaxed);
                records.fetch_add(local_n, Ordering::Relaxed);
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("consumer thread panicked"))??;
        }
        Ok(meter.stop().0)
    })?;
    let (_, my_cpu, broker_cpu) = meter.stop();
    let got = records.load(Ordering::Relaxed);
    let b = bytes.load(Ordering::Relaxed);
    let secs = finished.as_secs_f64();
    let rps = got as f64 / secs;
    let mbps = b as f64 / secs / 1e6;
    let cpu_us = my_cpu * secs * 1e6 / (got.max(1) as f64);
    println!(
        "consume: {got} records, {b} payload bytes in {secs:.2}s = {rps:.0} rec/s, {mbps:.1} MB/s \
         ({n} consumer(s); cores used: loadgen {my_cpu:.2}, broker {})",
        fmt_cpu(broker_cpu)
    );
    if got < a.records {
        eprintln!(
            "consume: only {got} of {} records arrived before the idle timeout",
            a.records
        );
    }
    println!(
        "RESULT consume records={got} bytes={b} secs={secs:.3} rec_per_s={rps:.0} \
         mb_per_s={mbps:.1} loadgen_cores={my_cpu:.2} cpu_us_per_rec={cpu_us:.3} broker_cores={}",
        fmt_cpu(broker_cpu)
    );
    Ok(())
}

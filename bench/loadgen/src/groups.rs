//! Group coordinator benchmarks.
//!
//! `group-join`: N librdkafka consumers (one thread each) subscribe to a topic in a fresh
//! group at the same instant; the clock runs from the subscribes until every member holds a
//! non-empty assignment and the assignments are disjoint and cover every partition — the
//! group is Stable with all N members. Repeated `--runs` times with new group ids.
//!
//! `commits`: one consumer with a partition assigned by hand commits offsets to the group
//! coordinator: first synchronously (one commit in flight: latency-bound, percentiles
//! reported), then pipelined: windows of `--window` commits (asynchronous, the last one
//! synchronous) for throughput; the coordinator's final offset is checked.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::consume::partitions;
use crate::util::{apply_overrides, base_config, fmt_cpu, percentile, CpuMeter};

#[derive(Args)]
pub struct GroupJoinArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    /// Members joining the group
    #[arg(long, default_value_t = 10)]
    members: usize,
    /// Repetitions (each with a new group id)
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Give up on a run after this many seconds
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Extra librdkafka properties, key=value (repeatable)
    #[arg(short = 'X')]
    extra: Vec<String>,
}

fn group_consumer(bootstrap: &str, group: &str, extra: &[String]) -> anyhow::Result<BaseConsumer> {
    let mut cfg = base_config(bootstrap);
    cfg.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("heartbeat.interval.ms", "500")
        .set("session.timeout.ms", "10000");
    apply_overrides(&mut cfg, extra)?;
    cfg.create().context("creating group consumer")
}

/// One run: returns the time from subscribe until the group is Stable with every member.
fn join_once(a: &GroupJoinArgs, group: &str, parts: &[i32]) -> anyhow::Result<Duration> {
    let consumers = (0..a.members)
        .map(|_| {
            let c = group_consumer(&a.bootstrap, group, &a.extra)?;
            // Connect before the clock starts.
            c.fetch_metadata(Some(&a.topic), Duration::from_secs(10))?;
            Ok(c)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let assigned: Mutex<Vec<Vec<i32>>> = Mutex::new(vec![Vec::new(); a.members]);
    let stable = AtomicBool::new(false);
    let deadline = Duration::from_secs(a.timeout_secs);
    let start = Instant::now();
    let elapsed = std::thread::scope(|s| -> anyhow::Result<Duration> {
        let mut handles = Vec::new();
        for (i, c) in consumers.iter().enumerate() {
            let (assigned, stable, topic) = (&assigned, &stable, &a.topic);
            handles.push(s.spawn(move || -> anyhow::Result<()> {
                c.subscribe(&[topic.as_str()])?;
                while !stable.load(Ordering::Relaxed) {
                    if let Some(Err(e)) = c.poll(Duration::from_millis(5)) {
                        bail!("member {i}: {e}");
                    }
                    let mine: Vec<i32> = c
                        .assignment()?
                        .elements()
                        .iter()
                        .map(|e| e.partition())
                        .collect();
                    assigned.lock().unwrap()[i] = mine;
                    if start.elapsed() > deadline {
                        bail!("group not stable after {deadline:?}");
                    }
                }
                Ok(())
            }));
        }
        let want: HashSet<i32> = parts.iter().copied().collect();
        let took = loop {
            {
                let now = assigned.lock().unwrap();
                let total: usize = now.iter().map(Vec::len).sum();
                let union: HashSet<i32> = now.iter().flatten().copied().collect();
                if now.iter().all(|v| !v.is_empty()) && total == want.len() && union == want {
                    break Some(start.elapsed());
                }
            }
            if start.elapsed() > deadline || handles.iter().any(|h| h.is_finished()) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        stable.store(true, Ordering::Relaxed);
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("member thread panicked"))??;
        }
        took.context("group never reached a complete assignment")
    })?;
    // Leave the group (close) outside the measured interval.
    drop(consumers);
    Ok(elapsed)
}

pub fn run_join(a: GroupJoinArgs) -> anyhow::Result<()> {
    let probe = group_consumer(&a.bootstrap, "sluice-loadgen-probe", &a.extra)?;
    let parts = partitions(&probe, &a.topic)?;
    drop(probe);
    if parts.len() < a.members {
        bail!(
            "topic {} has {} partitions; need at least one per member ({})",
            a.topic,
            parts.len(),
            a.members
        );
    }
    let mut ms = Vec::new();
    let meter = CpuMeter::start(a.broker_pid);
    let tag = std::process::id();
    for run in 0..a.runs {
        let group = format!("loadgen-join-{tag}-{run}");
        let took = join_once(&a, &group, &parts)?;
        println!(
            "group-join: run {run}: {} members Stable in {:.1} ms",
            a.members,
            took.as_secs_f64() * 1e3
        );
        ms.push(took.as_micros() as u64);
    }
    let (_, my_cpu, broker_cpu) = meter.stop();
    ms.sort_unstable();
    let med = percentile(&ms, 50.0) as f64 / 1e3;
    let (min, max) = (ms[0] as f64 / 1e3, ms[ms.len() - 1] as f64 / 1e3);
    println!(
        "group-join: {} members, {} runs: median {med:.1} ms (min {min:.1}, max {max:.1})",
        a.members, a.runs
    );
    println!(
        "RESULT group_join members={} runs={} median_ms={med:.1} min_ms={min:.1} max_ms={max:.1} \
         loadgen_cores={my_cpu:.2} broker_cores={}",
        a.members,
        a.runs,
        fmt_cpu(broker_cpu)
    );
    Ok(())
}

#[derive(Args)]
pub struct CommitArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    /// Seconds of synchronous commits, then of asynchronous commits
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Asynchronous commits in flight at most
    #[arg(long, default_value_t = 64)]
    window: u64,
    #[arg(long)]
    broker_pid: Option<u32>,
    #[arg(short = 'X')]
    extra: Vec<String>,
}

pub fn run_commits(a: CommitArgs) -> anyhow::Result<()> {
    let mut cfg = base_config(&a.bootstrap);
    cfg.set(
        "group.id",
        format!("loadgen-commits-{}", std::process::id()),
    )
    .set("enable.auto.commit", "false");
    apply_overrides(&mut cfg, &a.extra)?;
    let c: BaseConsumer = cfg.create().context("creating consumer")?;
    let parts = partitions(&c, &a.topic)?;
    let p = parts[0];
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&a.topic, p);
    c.assign(&tpl)?;
    let offsets = |o: i64| -> anyhow::Result<TopicPartitionList> {
        let mut t = TopicPartitionList::new();
        t.add_partition_offset(&a.topic, p, Offset::Offset(o))?;
        Ok(t)
    };
    // Warm-up: finds the coordinator and connects to it.
    c.commit(&offsets(0)?, CommitMode::Sync)
        .context("first commit")?;

    let run_for = Duration::from_secs(a.duration);
    let meter = CpuMeter::start(a.broker_pid);
    let t0 = Instant::now();
    let mut lat = Vec::new();
    let mut next = 1i64;
    while t0.elapsed() < run_for {
        let t = Instant::now();
        c.commit(&offsets(next)?, CommitMode::Sync)
            .with_context(|| format!("sync commit {next}"))?;
        lat.push(t.elapsed().as_micros() as u64);
        next += 1;
    }
    let (el, my_cpu, broker_cpu) = meter.stop();
    let sync_rate = lat.len() as f64 / el.as_secs_f64();
    lat.sort_unstable();
    println!(
        "commits: sync {} in {:.2}s = {sync_rate:.0}/s; latency p50 {} p99 {} max {} us \
         (cores loadgen {my_cpu:.2}, broker {})",
        lat.len(),
        el.as_secs_f64(),
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        lat.last().copied().unwrap_or(0),
        fmt_cpu(broker_cpu)
    );

    // Pipelined: `window - 1` asynchronous commits, then a synchronous one. The coordinator
    // answers a connection's requests in order, so when the synchronous commit returns, the
    // whole window has been committed.
    let meter = CpuMeter::start(a.broker_pid);
    let t0 = Instant::now();
    let mut sent = 0u64;
    while t0.elapsed() < run_for {
        for _ in 1..a.window.max(1) {
            c.commit(&offsets(next)?, CommitMode::Async)?;
            next += 1;
            sent += 1;
        }
        c.commit(&offsets(next)?, CommitMode::Sync)
            .with_context(|| format!("commit {next} closing a window"))?;
        next += 1;
        sent += 1;
    }
    let (el, my_cpu2, broker_cpu2) = meter.stop();
    // The last offset must be what the coordinator now holds.
    let committed = c.committed(Duration::from_secs(10))?;
    let last = committed.find_partition(&a.topic, p).map(|e| e.offset());
    if last != Some(Offset::Offset(next - 1)) {
        bail!(
            "coordinator holds {last:?} after committing up to {}",
            next - 1
        );
    }
    let async_rate = sent as f64 / el.as_secs_f64();
    println!(
        "commits: pipelined (window {}) {sent} in {:.2}s = {async_rate:.0}/s \
         (cores loadgen {my_cpu2:.2}, broker {})",
        a.window,
        el.as_secs_f64(),
        fmt_cpu(broker_cpu2)
    );
    println!(
        "RESULT commits sync_per_s={sync_rate:.0} sync_p50_us={} sync_p99_us={} \
         async_per_s={async_rate:.0} window={} broker_cores_sync={} broker_cores_async={}",
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        a.window,
        fmt_cpu(broker_cpu),
        fmt_cpu(broker_cpu2)
    );
    Ok(())
}

//! Small shared helpers: client config defaults, CPU accounting of this process and of the
//! broker (from /proc), and percentile math. No Kafka logic lives here.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;

/// Base librdkafka config shared by every client: bootstrap and quiet logging.
pub fn base_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "sluice-loadgen")
        .set("log_level", "3");
    c
}

/// Apply `key=value` pairs given with `-X` on the command line (librdkafka properties).
pub fn apply_overrides(c: &mut ClientConfig, overrides: &[String]) -> anyhow::Result<()> {
    for kv in overrides {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("-X expects key=value, got {kv:?}"))?;
        c.set(k, v);
    }
    Ok(())
}

/// CPU seconds (user+system) consumed so far by this process.
pub fn self_cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the zeroed struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU seconds (utime+stime) of another process from /proc/<pid>/stat, if readable.
pub fn pid_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / hz)
}

/// A `key: NNN kB` line of /proc/<pid>/status, in kB.
pub fn pid_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        v.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Measures wall time plus CPU of this process and (optionally) of the broker.
pub struct CpuMeter {
    start: Instant,
    self_cpu: f64,
    broker: Option<(u32, f64)>,
}

impl CpuMeter {
    pub fn start(broker_pid: Option<u32>) -> Self {
        CpuMeter {
            start: Instant::now(),
            self_cpu: self_cpu_secs(),
            broker: broker_pid.and_then(|p| pid_cpu_secs(p).map(|c| (p, c))),
        }
    }

    /// (elapsed, loadgen cores used, broker cores used) since `start`.
    pub fn stop(&self) -> (Duration, f64, Option<f64>) {
        let el = self.start.elapsed();
        let secs = el.as_secs_f64().max(1e-9);
        let me = (self_cpu_secs() - self.self_cpu) / secs;
        let broker = self
            .broker
            .and_then(|(p, c0)| pid_cpu_secs(p).map(|c1| (c1 - c0) / secs));
        (el, me, broker)
    }
}

pub fn fmt_cpu(broker: Option<f64>) -> String {
    broker.map_or_else(|| "n/a".to_string(), |b| format!("{b:.2}"))
}

/// Nearest-rank percentile of a sorted slice (p in 0..=100).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

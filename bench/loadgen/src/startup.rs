//! `startup`: spawns the broker binary on a free port with a fresh log dir and measures
//! "start to ready" = spawn -> the port accepts -> a raw Metadata v1 request is answered
//! (hand-encoded here, so no client library start-up cost is in the number). It then leaves
//! the broker idle and reads VmRSS / VmHWM from /proc/<pid>/status, and times a SIGTERM
//! shutdown. Repeated `--runs` times; min / median / max are printed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;

use crate::util::pid_status_kb;

#[derive(Args)]
pub struct StartupArgs {
    /// Path to the broker binary (target/release/sluice)
    #[arg(long)]
    broker_bin: PathBuf,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seconds to stay idle before reading RSS
    #[arg(long, default_value_t = 3)]
    idle_secs: u64,
}

struct Run {
    port_open: Duration,
    ready: Duration,
    rss_kb: u64,
    hwm_kb: u64,
    shutdown: Option<Duration>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Metadata v1, all topics (null array). Returns once a response with our correlation id
/// has been read completely.
fn metadata_roundtrip(s: &mut TcpStream) -> anyhow::Result<()> {
    let client_id = b"sluice-bench";
    let mut body = Vec::new();
    body.extend_from_slice(&3i16.to_be_bytes()); // api_key Metadata
    body.extend_from_slice(&1i16.to_be_bytes()); // api_version
    body.extend_from_slice(&7i32.to_be_bytes()); // correlation_id
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    body.extend_from_slice(&(-1i32).to_be_bytes()); // topics: null = all
    let mut req = (body.len() as i32).to_be_bytes().to_vec();
    req.extend_from_slice(&body);
    s.write_all(&req)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if !(4..=64 << 20).contains(&len) {
        bail!("bad Metadata response length {len}");
    }
    let mut resp = vec![0u8; len as usize];
    s.read_exact(&mut resp)?;
    if resp[0..4] != 7i32.to_be_bytes() {
        bail!("Metadata response has the wrong correlation id");
    }
    Ok(())
}

fn sigterm(child: &Child) {
    // SAFETY: plain kill(2) on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

fn one_run(a: &StartupArgs, i: usize) -> anyhow::Result<Run> {
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("sluice-bench-startup-{}-{i}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let log = std::fs::File::create(dir.join("broker.log"))?;
    let data = dir.join("data");

    let t0 = Instant::now();
    let mut child = Command::new(&a.broker_bin)
        .args(["server", "start", "--override"])
        .arg(format!("listeners=PLAINTEXT://127.0.0.1:{port}"))
        .arg("--override")
        .arg(format!("log.dirs={}", data.display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("spawning {}", a.broker_bin.display()))?;

    let result = (|| -> anyhow::Result<Run> {
        let deadline = t0 + Duration::from_secs(10);
        let (mut stream, port_open) = loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                break (s, t0.elapsed());
            }
            if let Some(st) = child.try_wait()? {
                bail!(
                    "broker exited during start-up ({st}); see {}",
                    dir.display()
                );
            }
            if Instant::now() > deadline {
                bail!("port {port} not open after 10s");
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        metadata_roundtrip(&mut stream)?;
        let ready = t0.elapsed();
        drop(stream);

        std::thread::sleep(Duration::from_secs(a.idle_secs));
        let pid = child.id();
        let rss_kb = pid_status_kb(pid, "VmRSS").context("reading VmRSS")?;
        let hwm_kb = pid_status_kb(pid, "VmHWM").unwrap_or(0);

        let t_stop = Instant::now();
        sigterm(&child);
        let shutdown = loop {
            if child.try_wait()?.is_some() {
                break Some(t_stop.elapsed());
            }
            if t_stop.elapsed() > Duration::from_secs(10) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        Ok(Run {
            port_open,
            ready,
            rss_kb,
            hwm_kb,
            shutdown,
        })
    })();
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

pub fn run(a: StartupArgs) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for i in 0..a.runs.max(1) {
        let r = one_run(&a, i)?;
        println!(
            "startup run {i}: port open {:.1} ms, ready (Metadata answered) {:.1} ms, idle RSS {:.1} MB \
             (peak {:.1} MB), SIGTERM -> exit {}",
            r.port_open.as_secs_f64() * 1e3,
            r.ready.as_secs_f64() * 1e3,
            r.rss_kb as f64 / 1024.0,
            r.hwm_kb as f64 / 1024.0,
            r.shutdown
                .map_or("did not exit in 10s (killed)".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3)),
        );
        runs.push(r);
    }
    let ms =
        |f: fn(&Run) -> Duration| stats(runs.iter().map(|r| f(r).as_secs_f64() * 1e3).collect());
    let (rmin, rmed, rmax) = ms(|r| r.ready);
    let (_, pmed, _) = ms(|r| r.port_open);
    let (smin, smed, smax) = stats(runs.iter().map(|r| r.rss_kb as f64 / 1024.0).collect());
    let shut: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.shutdown)
        .map(|d| d.as_secs_f64() * 1e3)
        .collect();
    let shut_med = if shut.is_empty() {
        f64::NAN
    } else {
        stats(shut).1
    };
    println!(
        "startup: ready ms min {rmin:.1} median {rmed:.1} max {rmax:.1} (port open median {pmed:.1}); \
         idle RSS MB min {smin:.1} median {smed:.1} max {smax:.1}; shutdown median {shut_med:.1} ms"
    );
    println!(
        "RESULT startup runs={} ready_ms_min={rmin:.1} ready_ms_median={rmed:.1} ready_ms_max={rmax:.1} \
         port_open_ms_median={pmed:.1} rss_mb_median={smed:.1} rss_mb_max={smax:.1} shutdown_ms_median={shut_med:.1}",
        runs.len()
    );
    Ok(())
}

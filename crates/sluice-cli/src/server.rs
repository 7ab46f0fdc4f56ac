//! `sluice server start|stop` — kafka-server-start.sh / kafka-server-stop.sh: loads the
//! config, runs a node until SIGINT/SIGTERM, shuts it down gracefully; `--daemon` re-execs
//! detached with output to a log file; every running node registers its pid in a per-user
//! runtime directory so `server stop` finds them all. It never kills a process it cannot
//! verify is a sluice node.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Subcommand;

use crate::node_api::{BrokerConfig, Node};
use crate::props::{load_properties, parse_kv};
use crate::ToolError;

#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Start a node (kafka-server-start.sh).
    Start {
        /// server.properties (an embedded single-node default when absent).
        config: Option<PathBuf>,
        /// Override a property: --override key=value (repeatable).
        #[arg(long = "override")]
        overrides: Vec<String>,
        /// Run in the background, logging to a file.
        #[arg(long)]
        daemon: bool,
    },
    /// Stop every node started on this machine (kafka-server-stop.sh).
    Stop,
}

const DAEMON_ENV: &str = "SLUICE_DAEMON_CHILD";
const STOP_WAIT: Duration = Duration::from_secs(30);
const START_WAIT: Duration = Duration::from_secs(120);

/// Per-user directory of `<pid>` files, each holding the node's data-dir pid file path.
fn runtime_dir() -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("sluice-pids-{uid}"))
}

/// First `log.dirs` entry (else `log.dir`) from the file and overrides, if set.
fn first_log_dir(config: Option<&Path>, overrides: &[(String, String)]) -> Option<PathBuf> {
    let mut props = config
        .and_then(|p| load_properties(p).ok())
        .unwrap_or_default();
    props.extend(overrides.iter().cloned());
    let v = props.get("log.dirs").or(props.get("log.dir"))?;
    v.split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(PathBuf::from)
}

fn data_dir(config: Option<&Path>, overrides: &[(String, String)]) -> PathBuf {
    first_log_dir(config, overrides).unwrap_or_else(|| PathBuf::from("./sluice-data"))
}

fn log_file(config: Option<&Path>, overrides: &[(String, String)]) -> PathBuf {
    match first_log_dir(config, overrides) {
        Some(d) => d
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
            .join("sluice-server.log"),
        None => PathBuf::from("./logs/server.log"),
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence/permission.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// True if `pid` runs a sluice binary (guards against pid reuse).
fn is_sluice(pid: i32) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(c) => String::from_utf8_lossy(&c).contains("sluice"),
        Err(_) => alive(pid), // no procfs: trust the registration
    }
}

pub async fn run(cmd: ServerCmd) -> Result<(), ToolError> {
    match cmd {
        ServerCmd::Stop => stop().await,
        ServerCmd::Start {
            config,
            overrides,
            daemon,
        } => {
            let overrides = overrides
                .iter()
                .map(|o| parse_kv(o))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(|e| ToolError::usage(e.to_string()))?;
            if daemon {
                start_daemon(config.as_deref(), &overrides).await
            } else {
                start_foreground(config.as_deref(), &overrides).await
            }
        }
    }
}

async fn start_foreground(
    config: Option<&Path>,
    overrides: &[(String, String)],
) -> Result<(), ToolError> {
    let (cfg, warnings) =
        BrokerConfig::load(config, overrides).map_err(|e| ToolError::failed(e.to_string()))?;
    for w in warnings {
        eprintln!("WARN {w}");
    }
    let node = Node::start(cfg)
        .await
        .map_err(|e| ToolError::failed(format!("Failed to start the sluice server: {e:#}")))?;
    let pid = std::process::id() as i32;
    let data_pid = data_dir(config, overrides).join("sluice.pid");
    let reg = runtime_dir().join(pid.to_string());
    let _ = std::fs::create_dir_all(runtime_dir());
    let _ = std::fs::write(&data_pid, format!("{pid}\n"));
    if let Err(e) = std::fs::write(&reg, data_pid.display().to_string()) {
        tracing::warn!("could not register pid in {}: {e}", reg.display());
    }
    tracing::info!("sluice server started (pid {pid})");
    wait_for_signal().await;
    tracing::info!("shutting down");
    let res = node.shutdown().await;
    let _ = std::fs::remove_file(&reg);
    let _ = std::fs::remove_file(&data_pid);
    res.map_err(|e| ToolError::failed(format!("Error during shutdown: {e:#}")))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn start_daemon(
    config: Option<&Path>,
    overrides: &[(String, String)],
) -> Result<(), ToolError> {
    use std::os::unix::process::CommandExt;
    // Validate before detaching so config errors reach the terminal.
    BrokerConfig::load(config, overrides).map_err(|e| ToolError::failed(e.to_string()))?;
    let log = log_file(config, overrides);
    if let Some(dir) = log.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ToolError::failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| ToolError::failed(format!("cannot open {}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| ToolError::failed(e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| ToolError::failed(e.to_string()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("server").arg("start");
    if let Some(c) = config {
        cmd.arg(c);
    }
    for (k, v) in overrides {
        cmd.arg("--override").arg(format!("{k}={v}"));
    }
    cmd.env(DAEMON_ENV, "1")
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no parent state.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| ToolError::failed(format!("cannot start the server process: {e}")))?;
    let pid = child.id() as i32;
    println!(
        "Starting sluice server in the background (pid {pid}); log: {}",
        log.display()
    );
    let reg = runtime_dir().join(pid.to_string());
    let started = Instant::now();
    while started.elapsed() < START_WAIT {
        if reg.exists() {
            println!("Sluice server is up (pid {pid}).");
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(ToolError::failed(format!(
                "The sluice server exited during startup ({status}); see {}",
                log.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(ToolError::failed(format!(
        "The sluice server did not report ready within {}s; see {}",
        START_WAIT.as_secs(),
        log.display()
    )))
}

async fn stop() -> Result<(), ToolError> {
    let dir = runtime_dir();
    let mut targets = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let data_pid = std::fs::read_to_string(e.path()).unwrap_or_default();
            if alive(pid) && is_sluice(pid) {
                targets.push((pid, e.path(), data_pid));
            } else {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    if targets.is_empty() {
        return Err(ToolError::failed("No sluice server to stop"));
    }
    for (pid, _, _) in &targets {
        // SAFETY: plain kill(2) on a pid verified above to be a sluice process.
        unsafe { libc::kill(*pid, libc::SIGTERM) };
    }
    let started = Instant::now();
    while started.elapsed() < STOP_WAIT
        && targets.iter().any(|(p, _, _)| alive(*p) && is_sluice(*p))
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut failed = Vec::new();
    for (pid, reg, data_pid) in targets {
        if alive(pid) && is_sluice(pid) {
            failed.push(pid);
        } else {
            let _ = std::fs::remove_file(reg);
            if !data_pid.trim().is_empty() {
                let _ = std::fs::remove_file(data_pid.trim());
            }
            println!("Stopped sluice server (pid {pid}).");
        }
    }
    if !failed.is_empty() {
        return Err(ToolError::failed(format!(
            "sluice server(s) {failed:?} did not stop within {}s",
            STOP_WAIT.as_secs()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_location_follows_log_dirs() {
        let o = vec![("log.dirs".to_string(), "/var/sluice/data, /x".to_string())];
        assert_eq!(
            log_file(None, &o),
            PathBuf::from("/var/sluice/sluice-server.log")
        );
        assert_eq!(data_dir(None, &o), PathBuf::from("/var/sluice/data"));
        assert_eq!(log_file(None, &[]), PathBuf::from("./logs/server.log"));
    }
}

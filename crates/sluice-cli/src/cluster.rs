//! `sluice cluster up|down`: a local N-broker cluster without VMs or scripts. `up` writes one
//! `server.properties` per node under `--dir` (every node broker + controller, a Raft quorum of
//! all of them; with `--controllers K` only nodes 1..=K are voters, the others broker-only
//! observers of the metadata log), formats each node's storage with one shared cluster id on first use, starts
//! the N `sluice server start` processes, prints the bootstrap string and where the logs are,
//! and stays in the foreground: Ctrl-C (or SIGTERM, or `cluster down`) stops them all cleanly.
//! Ports: brokers on `--base-port`+i, controllers on `--base-port`+1000+i (i = 0..N).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Subcommand;

use crate::ToolError;

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Run an N-node cluster in the foreground (Ctrl-C stops every node).
    Up {
        /// Number of brokers (each also a metadata quorum voter).
        #[arg(long, default_value_t = 3)]
        nodes: u16,
        /// Client port of broker 1; broker i listens on base-port + i - 1.
        #[arg(long, default_value_t = 9092)]
        base_port: u16,
        /// Where node configs, data and logs go.
        #[arg(long, default_value = "./sluice-cluster")]
        dir: PathBuf,
        /// Metadata quorum voters: nodes 1..=K are broker + controller, the others
        /// broker-only (they follow the metadata log as observers). Default: every node.
        #[arg(long)]
        controllers: Option<u16>,
    },
    /// Stop the cluster that `cluster up` runs from this directory.
    Down {
        #[arg(long, default_value = "./sluice-cluster")]
        dir: PathBuf,
    },
}

const PIDS_FILE: &str = "cluster.pids";
const STOP_WAIT: Duration = Duration::from_secs(60);

pub async fn run(cmd: ClusterCmd) -> Result<(), ToolError> {
    match cmd {
        ClusterCmd::Up {
            nodes,
            base_port,
            dir,
            controllers,
        } => up(nodes, controllers.unwrap_or(nodes), base_port, &dir).await,
        ClusterCmd::Down { dir } => down(&dir).await,
    }
}

fn node_properties(id: u16, n: u16, k: u16, base_port: u16, dir: &Path) -> String {
    let voters: Vec<String> = (1..=k)
        .map(|i| format!("{i}@127.0.0.1:{}", base_port as u32 + 1000 + i as u32 - 1))
        .collect();
    let port = base_port as u32 + id as u32 - 1;
    let rf = n.min(3);
    let (roles, listeners) = if id <= k {
        (
            "broker,controller",
            format!(
                "PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{}",
                port + 1000
            ),
        )
    } else {
        ("broker", format!("PLAINTEXT://127.0.0.1:{port}"))
    };
    format!(
        "# Written by `sluice cluster up`: node {id} of {n}.\n\
         process.roles={roles}\n\
         node.id={id}\n\
         listeners={listeners}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         controller.quorum.voters={voters}\n\
         log.dirs={data}\n\
         offsets.topic.replication.factor={rf}\n\
         default.replication.factor={rf}\n\
         min.insync.replicas={min_isr}\n",
        voters = voters.join(","),
        data = dir.join(format!("node-{id}")).join("data").display(),
        min_isr = if n >= 3 { 2 } else { 1 },
    )
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence/permission.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

fn is_sluice(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("sluice"))
        .unwrap_or(false)
}

async fn up(n: u16, k: u16, base_port: u16, dir: &Path) -> Result<(), ToolError> {
    if n == 0 || base_port as u32 + 1000 + n as u32 > 65535 {
        return Err(ToolError::usage(format!(
            "--nodes must be at least 1 and --base-port + 1000 + nodes must fit in a port (got {n} nodes from {base_port})"
        )));
    }
    if k == 0 || k > n {
        return Err(ToolError::usage(format!(
            "--controllers must be between 1 and --nodes ({n}), got {k}"
        )));
    }
    let fail = |e: std::io::Error, what: &Path| {
        ToolError::failed(format!("cannot write {}: {e}", what.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e, dir))?;
    let dir = dir.canonicalize().map_err(|e| fail(e, dir))?;
    if let Ok(pids) = std::fs::read_to_string(dir.join(PIDS_FILE)) {
        if pids
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .any(|p| alive(p) && is_sluice(p))
        {
            return Err(ToolError::failed(format!(
                "a cluster is already running from {} (stop it with `sluice cluster down --dir {}`)",
                dir.display(),
                dir.display()
            )));
        }
    }
    // One cluster id for every node: reuse an existing one, else a new one.
    let id_file = dir.join("cluster.id");
    let cluster_id = match std::fs::read_to_string(&id_file) {
        Ok(id) if !id.trim().is_empty() => id.trim().to_string(),
        _ => {
            let id = sluice_storage::meta::random_uuid();
            std::fs::write(&id_file, format!("{id}\n")).map_err(|e| fail(e, &id_file))?;
            id
        }
    };
    let exe = std::env::current_exe().map_err(|e| ToolError::failed(e.to_string()))?;
    let mut children = Vec::new();
    let mut logs = Vec::new();
    for id in 1..=n {
        let node_dir = dir.join(format!("node-{id}"));
        let data = node_dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| fail(e, &data))?;
        let props = node_dir.join("server.properties");
        std::fs::write(&props, node_properties(id, n, k, base_port, &dir))
            .map_err(|e| fail(e, &props))?;
        sluice_storage::meta::format_dirs(
            std::slice::from_ref(&data),
            &data,
            &cluster_id,
            id as i32,
            true,
        )
        .map_err(|e| ToolError::failed(format!("formatting {}: {e}", data.display())))?;
        let log = node_dir.join("server.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| fail(e, &log))?;
        let err = out.try_clone().map_err(|e| fail(e, &log))?;
        let child = tokio::process::Command::new(&exe)
            .arg("server")
            .arg("start")
            .arg(&props)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| ToolError::failed(format!("cannot start node {id}: {e}")))?;
        logs.push(log);
        children.push(child);
    }
    let pids: Vec<String> = children
        .iter()
        .filter_map(|c| c.id())
        .map(|p| p.to_string())
        .collect();
    let _ = std::fs::write(dir.join(PIDS_FILE), pids.join("\n") + "\n");
    let bootstrap: Vec<String> = (0..n)
        .map(|i| format!("127.0.0.1:{}", base_port as u32 + i as u32))
        .collect();
    println!("Sluice cluster of {n} node(s) starting (cluster id {cluster_id}).");
    println!("Bootstrap servers: {}", bootstrap.join(","));
    for (i, l) in logs.iter().enumerate() {
        println!(
            "  node {} (pid {}): log {}",
            i + 1,
            pids.get(i).map_or("?", |s| s),
            l.display()
        );
    }
    println!("Press Ctrl-C to stop every node.");
    // Wait for a signal, or for every node to exit on its own (e.g. `cluster down`).
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| ToolError::failed(e.to_string()))?;
    let mut exited = vec![false; children.len()];
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                for (i, c) in children.iter_mut().enumerate() {
                    if !exited[i] {
                        if let Ok(Some(status)) = c.try_wait() {
                            exited[i] = true;
                            eprintln!("node {} exited ({status}); see {}", i + 1, logs[i].display());
                        }
                    }
                }
                if exited.iter().all(|e| *e) {
                    // `cluster down` removes the pid file once it stopped the nodes.
                    if !dir.join(PIDS_FILE).exists() {
                        println!("Cluster stopped.");
                        return Ok(());
                    }
                    let _ = std::fs::remove_file(dir.join(PIDS_FILE));
                    return Err(ToolError::failed("every node exited"));
                }
            }
        }
    }
    println!("Stopping {n} node(s)...");
    for c in &children {
        if let Some(pid) = c.id() {
            // SAFETY: plain kill(2) on our own child.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
    }
    let started = Instant::now();
    for (i, c) in children.iter_mut().enumerate() {
        let left = STOP_WAIT.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, c.wait()).await {
            Ok(_) => println!("  node {} stopped", i + 1),
            Err(_) => {
                eprintln!("  node {} did not stop in time; killing it", i + 1);
                let _ = c.kill().await;
            }
        }
    }
    let _ = std::fs::remove_file(dir.join(PIDS_FILE));
    Ok(())
}

async fn down(dir: &Path) -> Result<(), ToolError> {
    let file = dir.join(PIDS_FILE);
    let pids: Vec<i32> = std::fs::read_to_string(&file)
        .map_err(|_| {
            ToolError::failed(format!(
                "No sluice cluster is running from {}",
                dir.display()
            ))
        })?
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| alive(*p) && is_sluice(*p))
        .collect();
    if pids.is_empty() {
        let _ = std::fs::remove_file(&file);
        return Err(ToolError::failed(format!(
            "No sluice cluster is running from {}",
            dir.display()
        )));
    }
    for pid in &pids {
        // SAFETY: kill(2) on pids recorded by `cluster up` and verified to be sluice processes.
        unsafe { libc::kill(*pid, libc::SIGTERM) };
    }
    let started = Instant::now();
    while started.elapsed() < STOP_WAIT && pids.iter().any(|p| alive(*p) && is_sluice(*p)) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left: Vec<i32> = pids
        .iter()
        .copied()
        .filter(|p| alive(*p) && is_sluice(*p))
        .collect();
    if !left.is_empty() {
        return Err(ToolError::failed(format!(
            "nodes still running after {}s: {left:?}",
            STOP_WAIT.as_secs()
        )));
    }
    let _ = std::fs::remove_file(&file);
    println!("Stopped {} node(s).", pids.len());
    Ok(())
}

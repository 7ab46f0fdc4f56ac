//! Shared helpers for the client's integration tests: an in-process broker on an ephemeral
//! 127.0.0.1 port and a temp dir, reading a partition back, and a fault-injecting TCP proxy
//! the broker advertises (drop one Produce response, stall all responses).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_client::{Client, ConsumerRecord, FetchOptions, FetchTarget};
use sluice_config::BrokerConfig;
use sluice_server::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct TestBroker {
    pub node: Node,
    pub dir: tempfile::TempDir,
    /// What clients should bootstrap from (the proxy when there is one).
    pub bootstrap: String,
    pub proxy: Option<Proxy>,
}

pub async fn start_broker(extra: &[(&str, &str)], with_proxy: bool) -> TestBroker {
    let dir = tempfile::tempdir().expect("temp dir");
    let proxy_listener = if with_proxy {
        Some(TcpListener::bind("127.0.0.1:0").await.expect("proxy bind"))
    } else {
        None
    };
    let mut pairs = vec![
        (
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        ),
        ("log.dirs".to_string(), dir.path().display().to_string()),
    ];
    if let Some(l) = &proxy_listener {
        let port = l.local_addr().expect("addr").port();
        pairs.push((
            "advertised.listeners".to_string(),
            format!("PLAINTEXT://127.0.0.1:{port}"),
        ));
    }
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let (config, _) = BrokerConfig::load(None, &pairs).expect("config");
    let node = Node::start(config).await.expect("node starts");
    let (bootstrap, proxy) = match proxy_listener {
        Some(l) => {
            let p = Proxy::start(l, node.bootstrap());
            (p.addr.to_string(), Some(p))
        }
        None => (node.bootstrap(), None),
    };
    TestBroker {
        node,
        dir,
        bootstrap,
        proxy,
    }
}

pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let c = Client::connect(bootstrap).await.expect("client");
    let res = c
        .create_topics(
            &[sluice_client::NewTopic {
                name: topic.to_string(),
                num_partitions: Some(partitions),
                replication_factor: Some(1),
                configs: vec![],
            }],
            false,
        )
        .await
        .expect("create topics");
    for (_, r) in res {
        r.expect("topic created");
    }
    c.topic_metadata_for_produce(topic).await.expect("leaders");
}

/// Every record of a partition up to (excluding) `upto`.
pub async fn read_partition(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    upto: i64,
) -> Vec<ConsumerRecord> {
    let c = Client::connect(bootstrap).await.expect("client");
    let mut out = Vec::new();
    let mut offset = 0;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while offset < upto {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out reading {topic}-{partition} at {offset}"
        );
        let fetched = c
            .fetch_many(
                &[FetchTarget {
                    topic: topic.to_string(),
                    partition,
                    offset,
                }],
                &FetchOptions::default(),
            )
            .await;
        let p = fetched.into_iter().next().expect("one partition");
        out.extend(p.records.expect("fetch ok"));
        offset = p.next_offset;
    }
    out
}

/// The log end offset of a partition.
pub async fn end_offset(bootstrap: &str, topic: &str, partition: i32) -> i64 {
    let c = Client::connect(bootstrap).await.expect("client");
    let fetched = c
        .fetch_many(
            &[FetchTarget {
                topic: topic.to_string(),
                partition,
                offset: 0,
            }],
            &FetchOptions {
                max_wait_ms: 0,
                ..Default::default()
            },
        )
        .await;
    fetched
        .into_iter()
        .next()
        .expect("one partition")
        .high_watermark
}

/// A TCP proxy in front of the broker.
pub struct Proxy {
    pub addr: SocketAddr,
    /// Drop the response to the next Produce request and close that connection.
    pub drop_next_produce_response: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    unstall: Arc<Notify>,
}

impl Proxy {
    fn start(listener: TcpListener, upstream: String) -> Proxy {
        let addr = listener.local_addr().expect("addr");
        let drop_next = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let unstall = Arc::new(Notify::new());
        let (d, s, u) = (drop_next.clone(), stalled.clone(), unstall.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, d.clone(), s.clone(), u.clone()));
            }
        });
        Proxy {
            addr,
            drop_next_produce_response: drop_next,
            stalled,
            unstall,
        }
    }

    /// Holds every broker response until `resume`.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        self.unstall.notify_waiters();
    }
}

async fn read_frame(r: &mut (impl AsyncReadExt + Unpin)) -> Option<Vec<u8>> {
    let len = r.read_i32().await.ok()?;
    let mut body = vec![0u8; len.max(0) as usize];
    r.read_exact(&mut body).await.ok()?;
    Some(body)
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    drop_next: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    unstall: Arc<Notify>,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let kill_on: Arc<Mutex<Option<i32>>> = Arc::default();
    let k = kill_on.clone();
    let up = tokio::spawn(async move {
        while let Some(body) = read_frame(&mut cr).await {
            if body.len() >= 8 && body[0..2] == [0, 0] && drop_next.swap(false, Ordering::SeqCst) {
                let corr = i32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                *k.lock().unwrap() = Some(corr);
            }
            let mut frame = (body.len() as i32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            if sw.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    while let Some(body) = read_frame(&mut sr).await {
        while stalled.load(Ordering::SeqCst) {
            let n = unstall.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if !stalled.load(Ordering::SeqCst) {
                break;
            }
            n.await;
        }
        let corr = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        if *kill_on.lock().unwrap() == Some(corr) {
            break; // drop the response and the connection
        }
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        if cw.write_all(&frame).await.is_err() {
            break;
        }
    }
    up.abort();
}

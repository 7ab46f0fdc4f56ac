//! Raft RPCs between metadata voters over TCP, framed like Kafka requests so they can share
//! the controller listener with Kafka APIs:
//!
//! request  `[size i32][api_key i16][api_version i16 = 0][correlation_id i32][client_id i16 = -1][payload]`
//! response `[size i32][correlation_id i32][status u8][payload]`
//!
//! The API keys are private (`RAFT_API_KEYS`, never advertised in ApiVersions). The payload is
//! the bincode-encoded openraft request; a response with status 0 carries the bincode-encoded
//! `Result<response, RaftError>`, status 1 a UTF-8 message (the request could not be decoded).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{MetadataRaft, NodeId, TypeConfig};

pub const API_APPEND_ENTRIES: i16 = 32100;
pub const API_VOTE: i16 = 32101;
pub const API_INSTALL_SNAPSHOT: i16 = 32102;
/// The private API keys of Raft RPCs (route them to `handle_rpc`).
pub const RAFT_API_KEYS: [i16; 3] = [API_APPEND_ENTRIES, API_VOTE, API_INSTALL_SNAPSHOT];
/// Snapshot chunks and entry batches stay far below this.
const MAX_FRAME: usize = 64 << 20;

/// When each peer last answered an RPC of this node (wall-clock ms): DescribeQuorum's
/// `LastFetchTimestamp` of a replica, seen from the leader.
pub type Contacts = Arc<Mutex<BTreeMap<NodeId, i64>>>;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Default)]
pub struct NetworkFactory {
    pub contacts: Contacts,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            target,
            addr: node.addr.clone(),
            conn: None,
            correlation: 0,
            contacts: self.contacts.clone(),
        }
    }
}

/// A connection to one peer voter, reconnected on demand.
pub struct Peer {
    target: NodeId,
    addr: String,
    conn: Option<TcpStream>,
    correlation: i32,
    contacts: Contacts,
}

enum CallError {
    Connect(io::Error),
    Io(io::Error),
}

impl Peer {
    async fn exchange(&mut self, api_key: i16, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addr)
                .await
                .map_err(CallError::Connect)?;
            let _ = s.set_nodelay(true);
            self.conn = Some(s);
        }
        self.correlation = self.correlation.wrapping_add(1);
        let corr = self.correlation;
        let conn = self.conn.as_mut().expect("connected above");
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.extend_from_slice(&((payload.len() + 10) as i32).to_be_bytes());
        frame.extend_from_slice(&api_key.to_be_bytes());
        frame.extend_from_slice(&0i16.to_be_bytes());
        frame.extend_from_slice(&corr.to_be_bytes());
        frame.extend_from_slice(&(-1i16).to_be_bytes());
        frame.extend_from_slice(payload);
        let result = async {
            conn.write_all(&frame).await?;
            let size = conn.read_i32().await?;
            if size < 5 || size as usize > MAX_FRAME {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad response size {size}"),
                ));
            }
            let mut body = vec![0u8; size as usize];
            conn.read_exact(&mut body).await?;
            let got = i32::from_be_bytes(body[0..4].try_into().unwrap());
            if got != corr {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("correlation id {got}, expected {corr}"),
                ));
            }
            match body[4] {
                0 => Ok(body.split_off(5)),
                _ => Err(io::Error::other(
                    String::from_utf8_lossy(&body[5..]).into_owned(),
                )),
            }
        }
        .await;
        if result.is_err() {
            self.conn = None;
        }
        result.map_err(CallError::Io)
    }

    async fn call<Req, Resp, E>(
        &mut self,
        api_key: i16,
        req: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let payload =
            bincode::serialize(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let body = match tokio::time::timeout(ttl, self.exchange(api_key, &payload)).await {
            Ok(Ok(body)) => body,
            Ok(Err(CallError::Connect(e))) => {
                return Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Ok(Err(CallError::Io(e))) => return Err(RPCError::Network(NetworkError::new(&e))),
            Err(_) => {
                self.conn = None;
                let e = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer from {} within {ttl:?}", self.addr),
                );
                return Err(RPCError::Network(NetworkError::new(&e)));
            }
        };
        let result: Result<Resp, RaftError<NodeId, E>> =
            bincode::deserialize(&body).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        if result.is_ok() {
            if let Ok(mut c) = self.contacts.lock() {
                c.insert(self.target, now_ms());
            }
        }
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(API_APPEND_ENTRIES, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(API_INSTALL_SNAPSHOT, &rpc, option.hard_ttl())
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(API_VOTE, &rpc, option.hard_ttl()).await
    }
}

fn respond<T: Serialize>(result: &T) -> Vec<u8> {
    match bincode::serialize(result) {
        Ok(mut b) => {
            b.insert(0, 0);
            b
        }
        Err(e) => error_body(&e.to_string()),
    }
}

fn error_body(msg: &str) -> Vec<u8> {
    let mut b = vec![1u8];
    b.extend_from_slice(msg.as_bytes());
    b
}

/// Answers one Raft RPC: `payload` is the request body after the Kafka-style header; the
/// returned bytes follow the correlation id in the response frame.
pub async fn handle_rpc(raft: &MetadataRaft, api_key: i16, payload: &[u8]) -> Vec<u8> {
    match api_key {
        API_APPEND_ENTRIES => {
            match bincode::deserialize::<AppendEntriesRequest<TypeConfig>>(payload) {
                Ok(req) => respond(&raft.append_entries(req).await),
                Err(e) => error_body(&format!("bad AppendEntries: {e}")),
            }
        }
        API_VOTE => match bincode::deserialize::<VoteRequest<NodeId>>(payload) {
            Ok(req) => respond(&raft.vote(req).await),
            Err(e) => error_body(&format!("bad Vote: {e}")),
        },
        API_INSTALL_SNAPSHOT => {
            match bincode::deserialize::<InstallSnapshotRequest<TypeConfig>>(payload) {
                Ok(req) => respond(&raft.install_snapshot(req).await),
                Err(e) => error_body(&format!("bad InstallSnapshot: {e}")),
            }
        }
        other => error_body(&format!("unknown raft api key {other}")),
    }
}

/// Serves Raft RPCs on `listener` until this future is dropped (or its task aborted), which
/// also ends every connection it accepted: one task per connection, requests answered in
/// order. Malformed frames close the connection.
pub async fn serve(listener: TcpListener, raft: MetadataRaft) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Reap finished connection tasks so the set does not grow.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "raft listener accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let raft = raft.clone();
        connections.spawn(async move {
            if let Err(e) = serve_connection(stream, &raft).await {
                if e.kind() != io::ErrorKind::UnexpectedEof {
                    tracing::debug!(%peer, error = %e, "raft connection closed");
                }
            }
        });
    }
}

async fn serve_connection(mut stream: TcpStream, raft: &MetadataRaft) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    loop {
        let size = stream.read_i32().await?;
        if size < 10 || size as usize > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad raft frame size {size}"),
            ));
        }
        let mut body = vec![0u8; size as usize];
        stream.read_exact(&mut body).await?;
        let api_key = i16::from_be_bytes([body[0], body[1]]);
        let corr = i32::from_be_bytes(body[4..8].try_into().unwrap());
        let client_id_len = i16::from_be_bytes([body[8], body[9]]);
        let start = 10 + client_id_len.max(0) as usize;
        if start > body.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad client id length",
            ));
        }
        let answer = handle_rpc(raft, api_key, &body[start..]).await;
        let mut out = Vec::with_capacity(answer.len() + 8);
        out.extend_from_slice(&((answer.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&corr.to_be_bytes());
        out.extend_from_slice(&answer);
        stream.write_all(&out).await?;
    }
}

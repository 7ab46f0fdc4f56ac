//! Broker ↔ controller RPCs that Kafka runs as inter-broker APIs (BrokerHeartbeat with
//! registration, AlterPartition, request forwarding). They travel like the Raft RPCs
//! (`sluice_metadata::quorum::net`): Kafka-framed requests with private API keys on the
//! controller listener, bincode payloads, answered `[size][correlation id][status u8][payload]`.
//! The keys are never advertised and are refused on client listeners.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_metadata::BrokerEndpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A Kafka request frame (header + body) run by the active controller as if it had arrived
/// there; answered with `[metadata offset i64][the complete response frame]`.
pub const API_FORWARD: i16 = 32110;
pub const API_BROKER_HEARTBEAT: i16 = 32111;
pub const API_ALTER_PARTITION: i16 = 32112;

/// Status byte of a private response.
pub const STATUS_OK: u8 = 0;
pub const STATUS_ERROR: u8 = 1;

/// The error text of a forwarded request that reached a node which is no longer the active
/// controller (Kafka's NOT_CONTROLLER): the forwarding broker finds the new one and retries.
pub const NOT_CONTROLLER: &str = "NOT_CONTROLLER: this node is not the active controller";

/// Response frames stay far below this (forwarded admin responses are small).
const MAX_FRAME: usize = 64 << 20;

/// True for API keys of the private range (Raft and the ones above).
pub fn is_private(api_key: i16) -> bool {
    api_key >= 32100
}

/// Splits a private request frame (after the size prefix) into (api key, correlation id,
/// payload). None if the frame is too short or its client id is not the null marker.
pub fn parse_request(frame: &[u8]) -> Option<(i16, i32, &[u8])> {
    if frame.len() < 10 {
        return None;
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let correlation = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    if i16::from_be_bytes([frame[8], frame[9]]) != -1 {
        return None;
    }
    Some((api_key, correlation, &frame[10..]))
}

/// A complete private response frame, size prefix included.
pub fn response_frame(correlation: i32, status: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    out.extend_from_slice(&((payload.len() + 5) as i32).to_be_bytes());
    out.extend_from_slice(&correlation.to_be_bytes());
    out.push(status);
    out.extend_from_slice(payload);
    out
}

/// BrokerHeartbeat, carrying the registration (Kafka's BrokerRegistration + BrokerHeartbeat).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub broker_id: i32,
    pub incarnation_id: u128,
    pub endpoints: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
    /// Offset of the last metadata record this broker applied.
    pub applied_offset: i64,
    /// Controlled shutdown: move my leaderships away and fence me.
    pub want_shutdown: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub error: i16,
    pub epoch: i64,
    pub fenced: bool,
    /// The controller committed the controlled shutdown; the broker leads nothing once it
    /// applied `metadata_offset`.
    pub shutdown_ready: bool,
    pub metadata_offset: i64,
}

/// AlterPartition: the leader asks the controller to change a partition's ISR.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlterPartitionRequest {
    pub broker_id: i32,
    pub topic: String,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlterPartitionResponse {
    pub error: i16,
    /// Offset of the committed change (wait for it before using the new ISR).
    pub metadata_offset: i64,
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    bincode::serialize(v).unwrap_or_default()
}

pub fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> io::Result<T> {
    bincode::deserialize(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// One connection to a controller, used for one call at a time, reconnected after errors.
pub struct RpcClient {
    addr: String,
    conn: tokio::sync::Mutex<Option<TcpStream>>,
    correlation: AtomicI32,
}

impl RpcClient {
    pub fn new(addr: String) -> Self {
        RpcClient {
            addr,
            conn: tokio::sync::Mutex::new(None),
            correlation: AtomicI32::new(0),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `payload` under `api_key` and returns the OK payload; a status-error answer, an
    /// I/O error or no answer within `timeout` is an error (and drops the connection).
    pub async fn call(
        &self,
        api_key: i16,
        payload: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<u8>> {
        let mut guard = self.conn.lock().await;
        let result = tokio::time::timeout(timeout, self.exchange(&mut guard, api_key, payload))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer from controller {} within {timeout:?}", self.addr),
                ))
            });
        if result.is_err() {
            *guard = None;
        }
        result
    }

    async fn exchange(
        &self,
        conn: &mut Option<TcpStream>,
        api_key: i16,
        payload: &[u8],
    ) -> io::Result<Vec<u8>> {
        if conn.is_none() {
            let s = TcpStream::connect(&self.addr).await?;
            let _ = s.set_nodelay(true);
            *conn = Some(s);
        }
        let stream = conn.as_mut().expect("connected above");
        let corr = self
            .correlation
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.extend_from_slice(&((payload.len() + 10) as i32).to_be_bytes());
        frame.extend_from_slice(&api_key.to_be_bytes());
        frame.extend_from_slice(&0i16.to_be_bytes());
        frame.extend_from_slice(&corr.to_be_bytes());
        frame.extend_from_slice(&(-1i16).to_be_bytes());
        frame.extend_from_slice(payload);
        stream.write_all(&frame).await?;
        let size = stream.read_i32().await?;
        if size < 5 || size as usize > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad response size {size}"),
            ));
        }
        let mut body = vec![0u8; size as usize];
        stream.read_exact(&mut body).await?;
        let got = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        if got != corr {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("correlation id {got}, expected {corr}"),
            ));
        }
        match body[4] {
            STATUS_OK => Ok(body.split_off(5)),
            _ => Err(io::Error::other(
                String::from_utf8_lossy(&body[5..]).into_owned(),
            )),
        }
    }
}

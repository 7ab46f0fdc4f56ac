//! One TCP connection to one broker: size-prefixed frames, request/response headers,
//! correlation ids, ApiVersions negotiation on connect, and per-call timeouts. Requests are
//! serialized by a mutex (no pipelining yet). It knows nothing about topics or routing, and
//! must never trust a frame length from the wire without a cap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use sluice_protocol::kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::error::{codes, ClientError, Result};
use crate::recv_pool::RecvPool;

/// Largest response frame the client accepts (Kafka's fetch.max.bytes is 50 MiB by default).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// The ApiVersions version tried first (v3 = flexible, carries client software name).
const API_VERSIONS_FIRST: i16 = 3;

/// A negotiated connection to a single broker.
pub struct Connection {
    addr: String,
    client_id: String,
    timeout: Duration,
    stream: Mutex<Option<TcpStream>>,
    correlation: AtomicI32,
    /// api key → (min, max) the broker advertised.
    broker_versions: HashMap<i16, (i16, i16)>,
    /// Large response bodies (fetches) are read into reused buffers.
    recv: RecvPool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Opens a TCP stream to `addr`, sizing the receive buffer first when asked (it must be set
/// before connecting for the TCP window scale to take it into account).
async fn open_stream(addr: &str, receive_buffer_bytes: Option<u32>) -> std::io::Result<TcpStream> {
    let Some(size) = receive_buffer_bytes else {
        return TcpStream::connect(addr).await;
    };
    let mut last = None;
    for sa in tokio::net::lookup_host(addr).await? {
        let socket = if sa.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_recv_buffer_size(size)?;
        match socket.connect(sa).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no address for {addr}"),
        )
    }))
}

impl Connection {
    /// Connects to `addr` (`host:port`) and negotiates API versions.
    pub async fn connect(addr: &str, client_id: &str, timeout: Duration) -> Result<Self> {
        Self::connect_with_receive_buffer(addr, client_id, timeout, None).await
    }

    /// [`Connection::connect`] with the socket's receive buffer (SO_RCVBUF) set to
    /// `receive_buffer_bytes` before connecting (Kafka's `*.receive.buffer.bytes`; `None` keeps
    /// the OS default, as Kafka's -1 does).
    pub async fn connect_with_receive_buffer(
        addr: &str,
        client_id: &str,
        timeout: Duration,
        receive_buffer_bytes: Option<u32>,
    ) -> Result<Self> {
        let stream = tokio::time::timeout(timeout, open_stream(addr, receive_buffer_bytes))
            .await
            .map_err(|_| ClientError::Timeout {
                addr: addr.to_string(),
                what: "TCP connect".into(),
                timeout,
            })?
            .map_err(|source| ClientError::Io {
                addr: addr.to_string(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let mut conn = Connection {
            addr: addr.to_string(),
            client_id: client_id.to_string(),
            timeout,
            stream: Mutex::new(Some(stream)),
            correlation: AtomicI32::new(0),
            broker_versions: HashMap::new(),
            recv: RecvPool::default(),
        };
        conn.broker_versions = conn.negotiate().await?;
        Ok(conn)
    }

    /// Hands the negotiated TCP stream over (the producer pipelines requests on it);
    /// `None` when an earlier failure already closed it.
    pub fn into_stream(self) -> Option<TcpStream> {
        self.stream.into_inner()
    }

    /// The `host:port` this connection goes to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// False once an I/O error or timeout has left the stream in an unknown state.
    pub async fn is_usable(&self) -> bool {
        self.stream.lock().await.is_some()
    }

    /// The version range the broker advertised for `key`, if any.
    pub fn broker_range(&self, key: ApiKey) -> Option<(i16, i16)> {
        self.broker_versions.get(&(key as i16)).copied()
    }

    /// Highest version of `R` both sides support, optionally capped at `cap`.
    pub fn version_for<R: Request>(&self, cap: Option<i16>) -> Result<i16> {
        let key = R::KEY;
        let (bmin, bmax) = self
            .broker_versions
            .get(&key)
            .copied()
            .ok_or_else(|| self.unsupported(key))?;
        let mut max = R::VERSIONS.max.min(bmax);
        if let Some(cap) = cap {
            max = max.min(cap);
        }
        let min = R::VERSIONS.min.max(bmin);
        if max < min {
            return Err(self.unsupported(key));
        }
        Ok(max)
    }

    fn unsupported(&self, key: i16) -> ClientError {
        let api = ApiKey::try_from(key)
            .map(|k| format!("{k:?}"))
            .unwrap_or_else(|_| format!("api key {key}"));
        ClientError::UnsupportedApi {
            addr: self.addr.clone(),
            api,
        }
    }

    /// Sends `req` at the highest common version and waits for its response.
    pub async fn send<R: Request>(&self, req: &R) -> Result<R::Response> {
        let version = self.version_for::<R>(None)?;
        self.send_at(req, version).await
    }

    /// Sends `req` at an explicit `version` (see [`Connection::version_for`]).
    pub async fn send_at<R: Request>(&self, req: &R, version: i16) -> Result<R::Response> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| self.unsupported(R::KEY))?;
        let body = self
            .round_trip(key, version, |buf| req.encode(buf, version))
            .await?;
        let mut body = body;
        R::Response::decode(&mut body, version)
            .map_err(|e| self.protocol(format!("{key:?} v{version}: {e}")))
    }

    /// Sends a request whose response never comes (Produce with acks=0).
    pub async fn send_no_response<R: Request>(&self, req: &R, version: i16) -> Result<()> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| self.unsupported(R::KEY))?;
        let frame = self.frame(key, version, |buf| req.encode(buf, version))?;
        let mut guard = self.stream.lock().await;
        let stream = guard.as_mut().ok_or_else(|| self.closed())?;
        let res = tokio::time::timeout(self.timeout, stream.write_all(&frame)).await;
        match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => {
                *guard = None;
                Err(ClientError::Io {
                    addr: self.addr.clone(),
                    source,
                })
            }
            Err(_) => {
                *guard = None;
                Err(self.timed_out(key))
            }
        }
    }

    fn protocol(&self, detail: String) -> ClientError {
        ClientError::Protocol {
            addr: self.addr.clone(),
            detail,
        }
    }

    fn closed(&self) -> ClientError {
        ClientError::Io {
            addr: self.addr.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotConnected, "connection closed"),
        }
    }

    fn timed_out(&self, key: ApiKey) -> ClientError {
        ClientError::Timeout {
            addr: self.addr.clone(),
            what: format!("{key:?} response"),
            timeout: self.timeout,
        }
    }

    fn frame(
        &self,
        key: ApiKey,
        version: i16,
        encode_body: impl FnOnce(&mut BytesMut) -> anyhow::Result<()>,
    ) -> Result<BytesMut> {
        let correlation_id = self.correlation.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let mut buf = BytesMut::with_capacity(256);
        buf.put_i32(0);
        header
            .encode(&mut buf, key.request_header_version(version))
            .map_err(|e| self.protocol(format!("encoding request header: {e}")))?;
        encode_body(&mut buf)
            .map_err(|e| self.protocol(format!("encoding {key:?} v{version}: {e}")))?;
        let len =
            i32::try_from(buf.len() - 4).map_err(|_| self.protocol("request too large".into()))?;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        Ok(buf)
    }

    /// Writes one request and reads its response body (after the response header).
    async fn round_trip(
        &self,
        key: ApiKey,
        version: i16,
        encode_body: impl FnOnce(&mut BytesMut) -> anyhow::Result<()>,
    ) -> Result<Bytes> {
        let frame = self.frame(key, version, encode_body)?;
        let correlation_id = i32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
        let mut guard = self.stream.lock().await;
        let stream = guard.as_mut().ok_or_else(|| self.closed())?;
        let io = async {
            stream.write_all(&frame).await?;
            let len = stream.read_i32().await?;
            if len < 0 || len as usize > MAX_RESPONSE_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("response frame length {len} out of range"),
                ));
            }
            self.recv.read_body(stream, len as usize).await
        };
        let mut body = match tokio::time::timeout(self.timeout, io).await {
            Ok(Ok(body)) => body,
            Ok(Err(source)) => {
                *guard = None;
                return Err(ClientError::Io {
                    addr: self.addr.clone(),
                    source,
                });
            }
            Err(_) => {
                *guard = None;
                return Err(self.timed_out(key));
            }
        };
        drop(guard);
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
            .map_err(|e| self.protocol(format!("response header: {e}")))?;
        if header.correlation_id != correlation_id {
            *self.stream.lock().await = None;
            return Err(self.protocol(format!(
                "correlation id mismatch: sent {correlation_id}, got {}",
                header.correlation_id
            )));
        }
        Ok(body)
    }

    /// ApiVersions v3, falling back to what the broker says it speaks (v0 layout on
    /// UNSUPPORTED_VERSION, KIP-511).
    async fn negotiate(&self) -> Result<HashMap<i16, (i16, i16)>> {
        let mut version = API_VERSIONS_FIRST;
        for _ in 0..2 {
            let req = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("sluice"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            let body = self
                .round_trip(ApiKey::ApiVersions, version, |buf| req.encode(buf, version))
                .await?;
            let resp = match ApiVersionsResponse::decode(&mut body.clone(), version) {
                Ok(r) if r.error_code != codes::UNSUPPORTED_VERSION => r,
                // An old/strict broker answers in the v0 layout.
                _ => ApiVersionsResponse::decode(&mut body.clone(), 0)
                    .map_err(|e| self.protocol(format!("ApiVersions: {e}")))?,
            };
            if resp.error_code == codes::UNSUPPORTED_VERSION {
                let broker_max = resp
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map(|k| k.max_version)
                    .unwrap_or(0);
                let next = broker_max.clamp(0, API_VERSIONS_FIRST);
                version = if next < version { next } else { 0 };
                continue;
            }
            if let Some(err) = ClientError::from_code(resp.error_code, None) {
                return Err(err);
            }
            return Ok(resp
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect());
        }
        Err(self.protocol("ApiVersions negotiation failed".into()))
    }
}

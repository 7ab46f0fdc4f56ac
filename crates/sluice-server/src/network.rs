//! Listeners and connections: accepts TCP connections, reads size-prefixed frames (capped by
//! `socket.request.max.bytes` before any allocation), hands each request to the dispatcher in
//! arrival order and writes responses in the same order (Kafka's per-connection rule).
//! Fetch records are written with sendfile from the segment files (`sendfile.rs`).
//! A connection that sends garbage is closed with a log line; nothing here may panic on input.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::broker::Broker;
use crate::dispatch::{self, Outcome};
use crate::fetch_response::Chunk;
use crate::sendfile;

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    listener_name: String,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
    connections: tokio_util_tracker::Tracker,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let broker = broker.clone();
                    let name = listener_name.clone();
                    let shutdown = shutdown.clone();
                    let guard = connections.enter();
                    tokio::spawn(async move {
                        if let Err(e) = handle_connection(stream, peer, name, broker, shutdown).await {
                            tracing::debug!(%peer, error = %e, "connection closed");
                        }
                        drop(guard);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame size {size} is invalid (socket.request.max.bytes = {max})")]
    FrameSize { size: i64, max: usize },
    #[error("malformed request: {0}")]
    Malformed(String),
}

async fn handle_connection(
    stream: TcpStream,
    peer: SocketAddr,
    listener_name: String,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConnectionError> {
    let (read_half, mut write_half) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let max_frame = broker.config.socket_request_max_bytes.max(0) as usize;
    // Responses are written by a separate task so reading the next request overlaps writing
    // the previous response; the channel keeps them in order and bounds queued responses.
    let (tx, mut rx) = mpsc::channel::<Vec<Chunk>>(64);
    let writer = tokio::spawn(async move {
        while let Some(parts) = rx.recv().await {
            for part in &parts {
                if let Err(e) = sendfile::write_chunk(&mut write_half, part).await {
                    // Dropping the write half shuts the socket down: the client sees the
                    // connection end and retries, never a truncated response.
                    if e.kind() != std::io::ErrorKind::BrokenPipe
                        && e.kind() != std::io::ErrorKind::ConnectionReset
                    {
                        tracing::warn!(%peer, error = %e, "closing connection: response write failed");
                    }
                    return Err(e);
                }
            }
        }
        write_half.shutdown().await?;
        Ok::<(), std::io::Error>(())
    });
    let ctx = dispatch::ConnectionContext {
        controller: broker
            .config
            .controller_listener_names
            .contains(&listener_name),
        listener: listener_name,
        peer,
        forwarded: false,
    };
    let result = loop {
        let mut len_buf = [0u8; 4];
        tokio::select! {
            r = reader.read_exact(&mut len_buf) => {
                if let Err(e) = r {
                    break if e.kind() == std::io::ErrorKind::UnexpectedEof { Ok(()) } else { Err(e.into()) };
                }
            }
            _ = shutdown.changed() => break Ok(()),
        }
        let size = i32::from_be_bytes(len_buf) as i64;
        if size < 8 || size as u64 > max_frame as u64 {
            tracing::warn!(%peer, size, max = max_frame, "closing connection: invalid frame size");
            break Err(ConnectionError::FrameSize {
                size,
                max: max_frame,
            });
        }
        // Read into uninitialised capacity (no zero-fill of up to socket.request.max.bytes),
        // never past this frame: the next request's bytes stay in the reader.
        let mut frame = BytesMut::with_capacity(size as usize);
        if let Err(e) = read_frame(&mut reader, &mut frame, size as usize).await {
            break Err(e.into());
        }
        match dispatch::handle_frame(&broker, &ctx, frame.freeze()).await {
            Outcome::Respond(parts) => {
                if tx.send(parts).await.is_err() {
                    break Ok(());
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                tracing::warn!(%peer, %reason, "closing connection");
                break Err(ConnectionError::Malformed(reason));
            }
        }
    };
    drop(tx);
    let _ = writer.await;
    result
}

/// Reads exactly `len` bytes into `frame`.
async fn read_frame<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    frame: &mut BytesMut,
    len: usize,
) -> std::io::Result<()> {
    while frame.len() < len {
        let remaining = (len - frame.len()) as u64;
        if reader.take(remaining).read_buf(frame).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

/// Counts live connections so shutdown can wait for in-flight requests to finish.
pub mod tokio_util_tracker {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::sync::Notify;

    #[derive(Clone, Default)]
    pub struct Tracker {
        inner: Arc<(AtomicUsize, Notify)>,
    }

    pub struct Guard {
        inner: Arc<(AtomicUsize, Notify)>,
    }

    impl Tracker {
        pub fn enter(&self) -> Guard {
            self.inner.0.fetch_add(1, Ordering::SeqCst);
            Guard {
                inner: self.inner.clone(),
            }
        }

        /// Waits until no connection is open, or the timeout passes.
        pub async fn wait_idle(&self, timeout: std::time::Duration) {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let notified = self.inner.1.notified();
                if self.inner.0.load(Ordering::SeqCst) == 0 {
                    return;
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return;
                }
            }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            if self.inner.0.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.inner.1.notify_waiters();
            }
        }
    }
}

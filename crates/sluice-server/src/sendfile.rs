//! Writing response chunks to a plaintext connection: byte chunks with ordinary writes, file
//! chunks (Fetch records) with `sendfile(2)` straight from the page cache, cooperating with
//! tokio's readiness (`writable().await` + `try_io`), so a full socket buffer parks the task
//! instead of blocking a worker. Falls back to pread + write where sendfile is refused
//! (EINVAL/ENOSYS). A file that shrank under a region (retention, truncation) ends the
//! connection with an error — never a response shorter than its size prefix.

use std::io;
use std::os::unix::io::AsRawFd;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;

use crate::fetch_response::Chunk;
use sluice_storage::FileSlice;

/// A write that makes no progress for this long ends the connection.
const WRITE_STALL: Duration = Duration::from_secs(120);
/// Largest count handed to one sendfile call (Linux caps it at 0x7ffff000 anyway).
const MAX_SENDFILE: usize = 1 << 30;
/// Consecutive sendfile calls without progress (EINTR, spurious readiness) before giving up.
const MAX_IDLE_RETRIES: u32 = 10_000;
/// Buffer size of the pread + write fallback.
const FALLBACK_CHUNK: usize = 256 * 1024;

/// Writes one chunk completely.
pub(crate) async fn write_chunk(w: &mut OwnedWriteHalf, chunk: &Chunk) -> io::Result<()> {
    match chunk {
        Chunk::Bytes(b) => match tokio::time::timeout(WRITE_STALL, w.write_all(b)).await {
            Ok(r) => r,
            Err(_) => Err(stalled()),
        },
        Chunk::File(f) => send_file(w, f).await,
    }
}

fn stalled() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("peer accepted no data for {}s", WRITE_STALL.as_secs()),
    )
}

fn shrank(f: &FileSlice, left: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "segment file shrank while sending records ({left} of {} bytes at position {} \
             unsent); closing so the client retries",
            f.len, f.position
        ),
    )
}

async fn send_file(w: &mut OwnedWriteHalf, f: &FileSlice) -> io::Result<()> {
    let stream: &TcpStream = w.as_ref();
    let sock = stream.as_raw_fd();
    let fd = f.file.as_raw_fd();
    let mut offset = libc::off_t::try_from(f.position)
        .map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    let mut left = f.len;
    let mut idle = 0u32;
    while left > 0 {
        match tokio::time::timeout(WRITE_STALL, stream.writable()).await {
            Ok(r) => r?,
            Err(_) => return Err(stalled()),
        }
        let count = left.min(MAX_SENDFILE);
        let sent = stream.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the duration of the call (`stream` and
            // `f.file` are borrowed); `offset` is a valid, exclusively borrowed off_t.
            let n = unsafe { libc::sendfile(sock, fd, &mut offset, count) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(0) => return Err(shrank(f, left)),
            Ok(n) => {
                left = left.saturating_sub(n);
                idle = 0;
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                let rest = FileSlice {
                    file: f.file.clone(),
                    position: offset as u64,
                    len: left,
                };
                return pread_write(w, &rest).await;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                idle += 1;
                if idle > MAX_IDLE_RETRIES {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "sendfile made no progress after repeated retries",
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The copy path: pread a bounded buffer, write it, repeat.
async fn pread_write(w: &mut OwnedWriteHalf, f: &FileSlice) -> io::Result<()> {
    let mut done = 0usize;
    let mut buf = Vec::with_capacity(FALLBACK_CHUNK.min(f.len));
    while done < f.len {
        let n = (f.len - done).min(FALLBACK_CHUNK);
        buf.clear();
        let part = FileSlice {
            file: f.file.clone(),
            position: f.position + done as u64,
            len: n,
        };
        if part.read_into(&mut buf).is_err() {
            return Err(shrank(f, f.len - done));
        }
        match tokio::time::timeout(WRITE_STALL, w.write_all(&buf)).await {
            Ok(r) => r?,
            Err(_) => return Err(stalled()),
        }
        done += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn sends_file_regions_in_order_with_a_slow_reader() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&data).unwrap();
        let file = Arc::new(file);
        let (client, server) = pair().await;
        let (_r, mut w) = server.into_split();
        let chunks = vec![
            Chunk::Bytes(bytes::Bytes::from_static(b"head")),
            Chunk::File(FileSlice {
                file: file.clone(),
                position: 10,
                len: 7_000_000,
            }),
            Chunk::Bytes(bytes::Bytes::from_static(b"mid")),
            Chunk::File(FileSlice {
                file,
                position: 0,
                len: 5,
            }),
        ];
        let writer = tokio::spawn(async move {
            for c in &chunks {
                write_chunk(&mut w, c).await.unwrap();
            }
        });
        let mut client = client;
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        let mut want = b"head".to_vec();
        want.extend_from_slice(&data[10..7_000_010]);
        want.extend_from_slice(b"mid");
        want.extend_from_slice(&data[..5]);
        assert_eq!(got.len(), want.len());
        assert!(got == want);
    }

    #[tokio::test]
    async fn a_file_that_shrank_is_an_error_not_a_short_response() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[7u8; 1000]).unwrap();
        let file = Arc::new(file);
        let (_client, server) = pair().await;
        let (_r, mut w) = server.into_split();
        let chunk = Chunk::File(FileSlice {
            file: file.clone(),
            position: 500,
            len: 1000,
        });
        let e = write_chunk(&mut w, &chunk).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let rest = FileSlice {
            file,
            position: 900,
            len: 200,
        };
        assert!(pread_write(&mut w, &rest).await.is_err());
    }
}

//! Reuse of large response buffers. A Fetch response of tens of MB read into a fresh
//! allocation costs the kernel a page fault and a zeroed page per 4 KiB (and an unmap when it
//! is freed): on a 1 KiB-record stream that was a third of the consumer's CPU. Records handed
//! to the application are zero-copy slices of the response, so a buffer can only be reused
//! once every slice was dropped; the pool keeps a handle on the last few large bodies and
//! hands one back out when it is the only handle left (`Bytes::is_unique`). Bodies are read
//! into the buffer's spare capacity, never zero-filled first.

use std::sync::Mutex;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bodies smaller than this are read into fresh buffers and not kept (metadata, commits...).
pub const MIN_POOLED: usize = 256 * 1024;
/// Handles kept: a consumer holds up to two responses per partition plus one being read.
const KEEP: usize = 4;

/// Recently returned large bodies, some possibly still referenced by records.
#[derive(Debug, Default)]
pub struct RecvPool {
    bodies: Mutex<Vec<Bytes>>,
}

impl RecvPool {
    /// An empty buffer with room for `len` bytes: a body no one references any more when
    /// there is one, else a new allocation.
    fn take(&self, len: usize) -> BytesMut {
        if len >= MIN_POOLED {
            let mut bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
            // Prefer a free buffer that is already big enough (no reallocation).
            let free = |b: &Bytes| b.is_unique();
            let pick = bodies
                .iter()
                .position(|b| free(b) && b.len() >= len)
                .or_else(|| bodies.iter().position(free));
            if let Some(i) = pick {
                let b = bodies.swap_remove(i);
                if let Ok(mut m) = b.try_into_mut() {
                    m.clear();
                    m.reserve(len);
                    return m;
                }
            }
        }
        BytesMut::with_capacity(len)
    }

    /// Keeps a handle on a large body for later reuse (the oldest handle goes when full).
    fn give(&self, body: &Bytes) {
        if body.len() < MIN_POOLED {
            return;
        }
        let mut bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        if bodies.len() >= KEEP {
            bodies.remove(0);
        }
        bodies.push(body.clone());
    }

    /// Reads exactly `len` bytes from `stream` into a pooled (or new) buffer.
    pub async fn read_body<R: AsyncRead + Unpin>(
        &self,
        stream: &mut R,
        len: usize,
    ) -> std::io::Result<Bytes> {
        let mut buf = self.take(len);
        while buf.len() < len {
            let want = len - buf.len();
            let n = stream.read_buf(&mut (&mut buf).limit(want)).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        let body = buf.freeze();
        self.give(&body);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(pool: &RecvPool, data: &[u8]) -> Bytes {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(pool.read_body(&mut &data[..], data.len()))
            .unwrap()
    }

    #[test]
    fn a_body_is_reused_only_after_every_slice_is_dropped() {
        let pool = RecvPool::default();
        let a = vec![1u8; MIN_POOLED];
        let first = body(&pool, &a);
        assert_eq!(&first[..], &a[..]);
        let ptr = first.as_ptr();
        let slice = first.slice(10..20);
        drop(first);
        // A record still points into the first body: the next read must not overwrite it.
        let b = vec![2u8; MIN_POOLED];
        let second = body(&pool, &b);
        assert_ne!(second.as_ptr(), ptr);
        assert_eq!(&slice[..], &[1u8; 10][..]);
        assert_eq!(&second[..], &b[..]);
        drop(slice);
        // Now the first buffer is free again and is read into.
        let c = vec![3u8; MIN_POOLED];
        let third = body(&pool, &c);
        assert_eq!(third.as_ptr(), ptr);
        assert_eq!(&third[..], &c[..]);
        assert_eq!(&second[..], &b[..], "a live body is never touched");
    }

    #[test]
    fn small_and_short_reads() {
        let pool = RecvPool::default();
        let small = body(&pool, b"abc");
        assert_eq!(&small[..], b"abc");
        assert!(
            pool.bodies.lock().unwrap().is_empty(),
            "small bodies are not kept"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let data = [0u8; 10];
        let e = rt.block_on(pool.read_body(&mut &data[..], 11)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        // Reads never run past the frame: the next frame's bytes stay in the stream.
        let two = [7u8, 7, 9, 9];
        let mut r = &two[..];
        let first = rt.block_on(pool.read_body(&mut r, 2)).unwrap();
        assert_eq!(&first[..], &[7, 7]);
        assert_eq!(r, &[9, 9]);
    }

    #[test]
    fn at_most_keep_handles() {
        let pool = RecvPool::default();
        let held: Vec<Bytes> = (0..KEEP + 3)
            .map(|i| body(&pool, &vec![i as u8; MIN_POOLED]))
            .collect();
        assert_eq!(pool.bodies.lock().unwrap().len(), KEEP);
        drop(held);
    }
}

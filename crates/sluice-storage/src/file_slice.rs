//! File regions handed out by reads instead of bytes: a [`FileSlice`] names whole stored
//! batches by (open file, position, length) so the network layer can `sendfile` them straight
//! from the page cache, and [`pread_append`] is the one positional read that fills a buffer's
//! spare capacity without zeroing it first. Nothing here interprets record bytes, and a file
//! that shrank after a slice was taken (retention, truncation) yields a short read the caller
//! must treat as an error — never padding or a panic.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

/// A region of a segment file holding whole batches. The `Arc<File>` keeps the inode alive, so
/// a segment deleted by retention after the slice was taken is still readable; a segment
/// truncated after it was taken is shorter than `position + len` (callers check).
#[derive(Debug, Clone)]
pub struct FileSlice {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

impl FileSlice {
    /// Appends exactly this region's bytes to `buf`; an error if the file is now shorter.
    pub fn read_into(&self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        let n = pread_append(&self.file, self.position, self.len, buf)?;
        if n < self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "segment file shrank: {n} of {} bytes at position {}",
                    self.len, self.position
                ),
            ));
        }
        Ok(())
    }
}

/// The result of [`crate::Log::read_slices`]: whole batches as file regions, in log order.
#[derive(Debug, Clone, Default)]
pub struct FileRead {
    pub slices: Vec<FileSlice>,
    /// Sum of the slices' lengths.
    pub len: usize,
    /// Offset of the first batch returned (the one containing the requested offset), or the
    /// requested offset when nothing was returned.
    pub first_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

impl FileRead {
    /// Reads every slice into one buffer (for callers that need the bytes, e.g. tests, TLS
    /// listeners or small responses).
    pub fn to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(self.len);
        for s in &self.slices {
            s.read_into(&mut buf)?;
        }
        Ok(buf)
    }
}

/// Reads up to `len` bytes at `pos` of `file` into the spare capacity of `buf` (reserving
/// it), without zero-initialising it first. Returns how many bytes were appended (fewer than
/// `len` only at end of file).
pub(crate) fn pread_append(
    file: &File,
    pos: u64,
    len: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    buf.reserve(len);
    let start = buf.len();
    let fd = file.as_raw_fd();
    let mut done = 0usize;
    while done < len {
        let Ok(at) = libc::off_t::try_from(pos + done as u64) else {
            return Err(std::io::Error::from_raw_os_error(libc::EOVERFLOW));
        };
        let spare = buf.spare_capacity_mut();
        let want = (len - done).min(spare.len());
        if want == 0 {
            break;
        }
        // SAFETY: `spare` is the vector's uninitialised spare capacity, at least `want` bytes
        // long (reserved above and only shrunk by `set_len` below), and pread writes at most
        // `want` bytes into it. No reference to those bytes exists while the kernel writes.
        let n = unsafe { libc::pread(fd, spare.as_mut_ptr().cast(), want, at) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        let n = (n as usize).min(want);
        // SAFETY: pread initialised exactly `n <= want` bytes following the current length.
        unsafe { buf.set_len(start + done + n) };
        done += n;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn pread_append_reads_exactly_and_stops_at_eof() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        let f = Arc::new(f);
        let mut buf = b"ab".to_vec();
        assert_eq!(pread_append(&f, 3, 4, &mut buf).unwrap(), 4);
        assert_eq!(buf, b"ab3456");
        assert_eq!(pread_append(&f, 8, 10, &mut buf).unwrap(), 2);
        assert_eq!(buf, b"ab345689");
        let short = FileSlice {
            file: f.clone(),
            position: 5,
            len: 6,
        };
        assert!(short.read_into(&mut Vec::new()).is_err());
        let ok = FileSlice {
            file: f,
            position: 0,
            len: 10,
        };
        let read = FileRead {
            slices: vec![ok.clone(), ok],
            len: 20,
            ..FileRead::default()
        };
        assert_eq!(read.to_vec().unwrap(), b"01234567890123456789");
    }
}

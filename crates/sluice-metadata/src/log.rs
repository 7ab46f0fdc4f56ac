//! The local metadata log: metadata records appended to
//! `<metadata.log.dir>/__cluster_metadata-0/metadata.log` as `[len u32][crc32c u32][record]`
//! frames, fsynced before they are applied. Replayed on start; a torn or corrupt tail (crash
//! during append) is truncated. Callers must not run `append` on an async worker thread.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::records::MetadataRecord;

pub struct MetadataLog {
    file: File,
    path: PathBuf,
    next_offset: i64,
}

impl MetadataLog {
    /// Opens (creating if needed) the log in `dir` and returns it with every intact record.
    pub fn open(dir: &Path) -> std::io::Result<(MetadataLog, Vec<MetadataRecord>)> {
        let dir = dir.join("__cluster_metadata-0");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("metadata.log");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        let mut records = Vec::new();
        let mut pos = 0usize;
        while buf.len() - pos >= 8 {
            let len =
                u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
            let crc = u32::from_be_bytes([buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]]);
            let Some(body) = buf.get(pos + 8..pos + 8 + len) else {
                break;
            };
            if crc32c::crc32c(body) != crc {
                break;
            }
            match MetadataRecord::decode(body) {
                Ok(r) => records.push(r),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping undecodable metadata record");
                }
            }
            pos += 8 + len;
        }
        if pos < buf.len() {
            tracing::warn!(
                path = %path.display(),
                valid = pos,
                size = buf.len(),
                "truncating torn tail of the metadata log"
            );
            file.set_len(pos as u64)?;
            file.sync_all()?;
        }
        let next_offset = records.len() as i64;
        Ok((
            MetadataLog {
                file,
                path,
                next_offset,
            },
            records,
        ))
    }

    /// Appends and fsyncs `records`; returns the offset of the first one.
    pub fn append(&mut self, records: &[MetadataRecord]) -> std::io::Result<i64> {
        let mut buf = Vec::new();
        for r in records {
            let body = r.encode();
            buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
            buf.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
            buf.extend_from_slice(&body);
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        let first = self.next_offset;
        self.next_offset += records.len() as i64;
        Ok(first)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

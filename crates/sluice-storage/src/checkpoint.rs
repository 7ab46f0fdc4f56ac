//! Small text files of Kafka's on-disk layout: offset checkpoints
//! (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`), `meta.properties`,
//! `partition.metadata`, and the atomic-write helper they all use (tmp + fsync + rename +
//! dir fsync). Parsing never panics: a malformed file is an error, not a crash.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::{LogError, TopicPartition};

/// Writes `contents` to `path` atomically: a sibling `.tmp` file is written and fsynced, then
/// renamed over `path`, then the directory is fsynced.
pub(crate) fn atomic_write(path: &Path, contents: &[u8]) -> Result<(), LogError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// Fsyncs a directory so that renames/creates in it are durable (best effort).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Kafka's offset checkpoint format: `0\n<count>\n<topic> <partition> <offset>\n...`.
pub fn write_offset_checkpoint(
    path: &Path,
    entries: &[(TopicPartition, i64)],
) -> Result<(), LogError> {
    let mut s = format!("0\n{}\n", entries.len());
    for (tp, off) in entries {
        s.push_str(&format!("{} {} {}\n", tp.topic, tp.partition, off));
    }
    atomic_write(path, s.as_bytes())
}

/// Reads an offset checkpoint; a missing file is empty.
pub fn read_offset_checkpoint(path: &Path) -> Result<HashMap<TopicPartition, i64>, LogError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e.into()),
    };
    let bad = |why: &str| LogError::Corrupt(format!("{}: {}", path.display(), why));
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err(bad("unsupported version"));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad("bad entry count"))?;
    let mut out = HashMap::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(topic), Some(p), Some(o), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("malformed line"));
        };
        let p: i32 = p.parse().map_err(|_| bad("bad partition"))?;
        let o: i64 = o.parse().map_err(|_| bad("bad offset"))?;
        out.insert(TopicPartition::new(topic, p), o);
    }
    if out.len() != count {
        return Err(bad("entry count mismatch"));
    }
    Ok(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Kafka's Uuid string: base64url without padding of the 16 bytes (22 characters).
pub fn topic_id_to_base64(id: &[u8; 16]) -> String {
    let mut out = String::with_capacity(22);
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for &b in id {
        bits = (bits << 8) | b as u32;
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(B64[((bits >> nbits) & 63) as usize] as char);
        }
    }
    if nbits > 0 {
        out.push(B64[((bits << (6 - nbits)) & 63) as usize] as char);
    }
    out
}

/// Parses Kafka's 22-character base64url Uuid string.
pub fn topic_id_from_base64(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    if s.len() != 22 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for c in s.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            *out.get_mut(n)? = (bits >> nbits) as u8;
            n += 1;
        }
    }
    (n == 16).then_some(out)
}

pub(crate) fn write_partition_metadata(dir: &Path, topic_id: &[u8; 16]) -> Result<(), LogError> {
    let s = format!("version: 0\ntopic_id: {}\n", topic_id_to_base64(topic_id));
    atomic_write(&dir.join("partition.metadata"), s.as_bytes())
}

/// Reads `partition.metadata`; None if missing or unreadable.
pub(crate) fn read_partition_metadata(dir: &Path) -> Option<[u8; 16]> {
    let text = fs::read_to_string(dir.join("partition.metadata")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .and_then(topic_id_from_base64)
}

/// KRaft-style `meta.properties` of one log dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub node_id: i32,
    pub cluster_id: String,
    pub directory_id: String,
}

impl MetaProperties {
    pub fn read(dir: &Path) -> Result<Option<MetaProperties>, LogError> {
        let path = dir.join("meta.properties");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut props = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                props.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        let bad = |why: &str| LogError::InconsistentLogDir {
            dir: dir.display().to_string(),
            reason: format!("meta.properties: {why}"),
        };
        let node_id = props
            .get("node.id")
            .or_else(|| props.get("broker.id"))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("missing or invalid node.id"))?;
        let cluster_id = props
            .get("cluster.id")
            .cloned()
            .ok_or_else(|| bad("missing cluster.id"))?;
        let directory_id = props.get("directory.id").cloned().unwrap_or_default();
        Ok(Some(MetaProperties {
            node_id,
            cluster_id,
            directory_id,
        }))
    }

    pub fn write(&self, dir: &Path) -> Result<(), LogError> {
        let s = format!(
            "#\n#Written by sluice\nnode.id={}\ndirectory.id={}\nversion=1\ncluster.id={}\n",
            self.node_id, self.directory_id, self.cluster_id
        );
        atomic_write(&dir.join("meta.properties"), s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_checkpoint_roundtrips() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("recovery-point-offset-checkpoint");
        let entries = vec![
            (TopicPartition::new("a", 0), 5),
            (TopicPartition::new("b-c", 3), 1234567890123),
        ];
        write_offset_checkpoint(&p, &entries).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("0\n2\n"));
        let back = read_offset_checkpoint(&p).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[&TopicPartition::new("b-c", 3)], 1234567890123);
        assert!(read_offset_checkpoint(&d.path().join("missing"))
            .unwrap()
            .is_empty());
        fs::write(&p, "0\n5\nx y z\n").unwrap();
        assert!(read_offset_checkpoint(&p).is_err());
    }

    #[test]
    fn uuid_base64_matches_kafka() {
        // Kafka: Uuid.ZERO_UUID.toString() == "AAAAAAAAAAAAAAAAAAAAAA"
        assert_eq!(topic_id_to_base64(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        let id: [u8; 16] = *uuid::Uuid::new_v4().as_bytes();
        let s = topic_id_to_base64(&id);
        assert_eq!(s.len(), 22);
        assert_eq!(topic_id_from_base64(&s), Some(id));
        assert_eq!(topic_id_from_base64("short"), None);
        assert_eq!(topic_id_from_base64("!!!!!!!!!!!!!!!!!!!!!!"), None);
    }

    #[test]
    fn meta_properties_roundtrip() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(MetaProperties::read(d.path()).unwrap(), None);
        let m = MetaProperties {
            node_id: 3,
            cluster_id: "abc".into(),
            directory_id: "def".into(),
        };
        m.write(d.path()).unwrap();
        assert_eq!(MetaProperties::read(d.path()).unwrap(), Some(m));
    }
}

//! Log-dir formatting and the checks a node runs before it opens its dirs (Kafka's
//! `kafka-storage.sh format|info|random-uuid` and MetaPropertiesEnsemble): the KRaft
//! `meta.properties` (version=1, node.id, cluster.id, directory.id) of every log dir and of the
//! metadata log dir, cluster-id generation and validation, and the agreement of all dirs on
//! cluster and node. It writes nothing but `meta.properties` and never touches partition data.
//! Error texts are Kafka's, so its documentation and answers apply.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use crate::checkpoint::MetaProperties;
use crate::checkpoint::{topic_id_from_base64, topic_id_to_base64};
use crate::LogError;

/// The metadata.version `format` reports: the Kafka release whose protocol Sluice implements
/// (its message schemas come from Kafka 4.1). Sluice stores no feature levels of its own.
pub const METADATA_VERSION: &str = "4.1-IV1";

/// Why a dir set cannot be formatted or used.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("Cluster ID string {id} does not appear to be a valid UUID: {reason}")]
    InvalidClusterId { id: String, reason: String },
    #[error("Log directory {0} is already formatted. Use --ignore-formatted to ignore this directory and format the others.")]
    AlreadyFormatted(String),
    #[error("No `meta.properties` found in {0} (have you run `kafka-storage.sh` to format the directory?)")]
    NotFormatted(String),
    #[error("Invalid cluster.id in: {path}. Expected {expected}, but read {found}")]
    ClusterIdMismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error("Stored node id {found} doesn't match previous node id {expected} in {path}. If you moved your data, make sure your configured node id matches. If you intend to create a new node, you should remove all data in your data directories.")]
    NodeIdMismatch {
        path: String,
        expected: i32,
        found: i32,
    },
    #[error("Duplicate directory ID {id} found. It was the ID of {first}, but also of {second}")]
    DuplicateDirectoryId {
        id: String,
        first: String,
        second: String,
    },
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
}

/// What a storage dir holds, as Kafka's format output names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirKind {
    /// A `log.dirs` entry.
    Data,
    /// `metadata.log.dir` (or the first log dir when that is unset).
    Metadata,
}

impl DirKind {
    pub fn description(self) -> &'static str {
        match self {
            DirKind::Data => "data directory",
            DirKind::Metadata => "metadata directory",
        }
    }
}

/// One dir of a node with what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageDir {
    pub path: PathBuf,
    pub kind: DirKind,
}

/// One dir and its `meta.properties`, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirState {
    pub dir: StorageDir,
    pub meta: Option<MetaProperties>,
}

/// What [`format_dirs`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormatReport {
    /// Dirs that got a new `meta.properties`, in order.
    pub formatted: Vec<StorageDir>,
    /// Dirs left alone because they were formatted already (only with `ignore_formatted`).
    pub already_formatted: Vec<PathBuf>,
}

/// Every dir a node keeps data in: the log dirs and the metadata log dir (marked as such,
/// listed once even when it is also a log dir), sorted by path as Kafka lists them.
pub fn storage_dirs(log_dirs: &[PathBuf], metadata_log_dir: &Path) -> Vec<StorageDir> {
    let mut out: Vec<StorageDir> = Vec::new();
    let mut seen = HashSet::new();
    for p in log_dirs
        .iter()
        .map(PathBuf::as_path)
        .chain([metadata_log_dir])
    {
        if !seen.insert(p.to_path_buf()) {
            continue;
        }
        let kind = if p == metadata_log_dir {
            DirKind::Metadata
        } else {
            DirKind::Data
        };
        out.push(StorageDir {
            path: p.to_path_buf(),
            kind,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// A new cluster id as Kafka makes one (`kafka-storage.sh random-uuid`): 16 random bytes in
/// base64url without padding (22 characters), never the all-zero or metadata-topic id, never
/// starting with '-' (it would read as a command-line flag).
pub fn random_uuid() -> String {
    loop {
        let bytes = *uuid::Uuid::new_v4().as_bytes();
        let v = u128::from_be_bytes(bytes);
        let s = topic_id_to_base64(&bytes);
        if v > 1 && !s.starts_with('-') {
            return s;
        }
    }
}

/// Checks that `id` is a Kafka Uuid string (22 characters of base64url for 16 bytes).
pub fn parse_cluster_id(id: &str) -> Result<[u8; 16], MetaError> {
    let bad = |reason: String| MetaError::InvalidClusterId {
        id: id.to_string(),
        reason,
    };
    if id.len() != 22 {
        return Err(bad(format!(
            "it has {} characters, a base64url-encoded 16-byte UUID has 22",
            id.len()
        )));
    }
    topic_id_from_base64(id).ok_or_else(|| {
        bad("it is not base64url (A-Z, a-z, 0-9, '-', '_') without padding".to_string())
    })
}

fn unreadable(path: &Path, e: impl std::fmt::Display) -> MetaError {
    MetaError::Unreadable {
        path: path.join("meta.properties").display().to_string(),
        reason: e.to_string(),
    }
}

/// Reads the `meta.properties` of every storage dir (a missing dir counts as unformatted).
pub fn load(log_dirs: &[PathBuf], metadata_log_dir: &Path) -> Result<Vec<DirState>, MetaError> {
    storage_dirs(log_dirs, metadata_log_dir)
        .into_iter()
        .map(|dir| {
            let meta = MetaProperties::read(&dir.path).map_err(|e| match e {
                LogError::InconsistentLogDir { reason, .. } => unreadable(&dir.path, reason),
                e => unreadable(&dir.path, e),
            })?;
            Ok(DirState { dir, meta })
        })
        .collect()
}

/// Kafka's ensemble check: every formatted dir has the same cluster id (`expected_cluster`
/// if given) and node id (`expected_node` if given), and no two share a directory id.
/// Returns the cluster id found, if any dir is formatted.
pub fn verify(
    states: &[DirState],
    mut expected_cluster: Option<String>,
    mut expected_node: Option<i32>,
) -> Result<Option<String>, MetaError> {
    let mut dir_ids: Vec<(&str, &Path)> = Vec::new();
    for s in states {
        let Some(m) = &s.meta else { continue };
        let path = s.dir.path.join("meta.properties").display().to_string();
        match &expected_cluster {
            None => expected_cluster = Some(m.cluster_id.clone()),
            Some(c) if *c != m.cluster_id => {
                return Err(MetaError::ClusterIdMismatch {
                    path,
                    expected: c.clone(),
                    found: m.cluster_id.clone(),
                })
            }
            Some(_) => {}
        }
        match expected_node {
            None => expected_node = Some(m.node_id),
            Some(n) if n != m.node_id => {
                return Err(MetaError::NodeIdMismatch {
                    path,
                    expected: n,
                    found: m.node_id,
                })
            }
            Some(_) => {}
        }
        if !m.directory_id.is_empty() {
            if let Some((_, first)) = dir_ids.iter().find(|(id, _)| *id == m.directory_id) {
                return Err(MetaError::DuplicateDirectoryId {
                    id: m.directory_id.clone(),
                    first: first.display().to_string(),
                    second: s.dir.path.display().to_string(),
                });
            }
            dir_ids.push((&m.directory_id, &s.dir.path));
        }
    }
    Ok(states
        .iter()
        .find_map(|s| s.meta.as_ref())
        .and(expected_cluster))
}

/// `kafka-storage.sh format`: writes `meta.properties` (version=1, `node_id`, `cluster_id`, a
/// fresh directory.id) into every log dir and the metadata log dir, creating them as needed.
/// Refuses an invalid cluster id, dirs that disagree with `cluster_id`/`node_id`, and — unless
/// `ignore_formatted` — any dir that is formatted already (nothing is written then).
pub fn format_dirs(
    log_dirs: &[PathBuf],
    metadata_log_dir: &Path,
    cluster_id: &str,
    node_id: i32,
    ignore_formatted: bool,
) -> Result<FormatReport, MetaError> {
    parse_cluster_id(cluster_id)?;
    let states = load(log_dirs, metadata_log_dir)?;
    verify(&states, Some(cluster_id.to_string()), Some(node_id))?;
    let formatted: Vec<&DirState> = states.iter().filter(|s| s.meta.is_some()).collect();
    if let (false, Some(first)) = (ignore_formatted, formatted.first()) {
        return Err(MetaError::AlreadyFormatted(
            first.dir.path.display().to_string(),
        ));
    }
    let mut used: HashSet<String> = formatted
        .iter()
        .filter_map(|s| s.meta.as_ref().map(|m| m.directory_id.clone()))
        .collect();
    let mut report = FormatReport {
        already_formatted: formatted.iter().map(|s| s.dir.path.clone()).collect(),
        ..FormatReport::default()
    };
    for s in states.iter().filter(|s| s.meta.is_none()) {
        let directory_id = loop {
            let id = random_uuid();
            if used.insert(id.clone()) {
                break id;
            }
        };
        let path = &s.dir.path;
        std::fs::create_dir_all(path).map_err(|e| unreadable(path, e))?;
        MetaProperties {
            node_id,
            cluster_id: cluster_id.to_string(),
            directory_id,
        }
        .write(path)
        .map_err(|e| MetaError::Unreadable {
            path: path.join("meta.properties").display().to_string(),
            reason: format!("Error while writing meta.properties file: {e}"),
        })?;
        report.formatted.push(s.dir.clone());
    }
    Ok(report)
}

/// The start-up check for a node that must not format itself (a multi-voter cluster): every
/// log dir and the metadata log dir must hold a `meta.properties` (else Kafka's "No
/// `meta.properties` found" error naming the first dir without one), all with this
/// `node_id` and one cluster id, which is returned.
pub fn ensure_formatted(
    log_dirs: &[PathBuf],
    metadata_log_dir: &Path,
    node_id: i32,
) -> Result<String, MetaError> {
    let states = load(log_dirs, metadata_log_dir)?;
    if let Some(s) = states.iter().find(|s| s.meta.is_none()) {
        return Err(MetaError::NotFormatted(s.dir.path.display().to_string()));
    }
    let cluster = verify(&states, None, Some(node_id))?;
    cluster.ok_or_else(|| MetaError::NotFormatted(metadata_log_dir.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_uuids_are_valid_cluster_ids() {
        for _ in 0..200 {
            let id = random_uuid();
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'));
            assert!(parse_cluster_id(&id).is_ok(), "{id}");
        }
        assert!(parse_cluster_id("MkU3OEVBNTcwNTJENDM2Qk").is_ok());
        for bad in [
            "",
            "short",
            "MkU3OEVBNTcwNTJENDM2Qk==",
            "MkU3OEVBNTcwNTJENDM2Q!",
        ] {
            let e = parse_cluster_id(bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "Cluster ID string {bad} does not appear to be a valid UUID"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn storage_dirs_lists_the_metadata_dir_once() {
        let a = PathBuf::from("/d/b");
        let m = PathBuf::from("/d/a");
        let dirs = storage_dirs(&[a.clone(), m.clone(), a.clone()], &m);
        assert_eq!(
            dirs,
            vec![
                StorageDir {
                    path: m.clone(),
                    kind: DirKind::Metadata
                },
                StorageDir {
                    path: a.clone(),
                    kind: DirKind::Data
                },
            ]
        );
        assert_eq!(
            storage_dirs(std::slice::from_ref(&a), &PathBuf::from("/d/m")).len(),
            2
        );
    }
}

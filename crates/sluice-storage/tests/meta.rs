//! Log-dir formatting (`sluice storage format`) and the start-up check that every dir is
//! formatted for this node and cluster, with Kafka's messages.

use std::fs;
use std::path::PathBuf;

use sluice_storage::meta::{
    ensure_formatted, format_dirs, random_uuid, DirKind, MetaError, MetaProperties,
};
use sluice_storage::{LogConfig, LogManager};

struct Dirs {
    _root: tempfile::TempDir,
    logs: Vec<PathBuf>,
    meta: PathBuf,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().unwrap();
    let logs = vec![root.path().join("logs-b"), root.path().join("logs-a")];
    let meta = root.path().join("meta");
    Dirs {
        _root: root,
        logs,
        meta,
    }
}

#[test]
fn format_writes_kraft_meta_properties_everywhere() {
    let d = dirs();
    let id = random_uuid();
    let report = format_dirs(&d.logs, &d.meta, &id, 3, false).unwrap();
    let got: Vec<_> = report
        .formatted
        .iter()
        .map(|s| (s.path.clone(), s.kind))
        .collect();
    assert_eq!(
        got,
        vec![
            (d.logs[1].clone(), DirKind::Data),
            (d.logs[0].clone(), DirKind::Data),
            (d.meta.clone(), DirKind::Metadata),
        ]
    );
    let mut dir_ids = Vec::new();
    for p in d.logs.iter().chain([&d.meta]) {
        let text = fs::read_to_string(p.join("meta.properties")).unwrap();
        assert!(text.contains("version=1\n"), "{text}");
        assert!(text.contains("node.id=3\n"));
        assert!(text.contains(&format!("cluster.id={id}\n")));
        let m = MetaProperties::read(p).unwrap().unwrap();
        assert_eq!(m.directory_id.len(), 22);
        dir_ids.push(m.directory_id);
    }
    dir_ids.sort();
    dir_ids.dedup();
    assert_eq!(dir_ids.len(), 3, "directory ids are unique");
    assert_eq!(ensure_formatted(&d.logs, &d.meta, 3).unwrap(), id);
    // The broker's LogManager accepts the formatted dirs and keeps their cluster id.
    let m = LogManager::open(&d.logs, 3, None, LogConfig::default(), |_| {
        LogConfig::default()
    })
    .unwrap();
    assert_eq!(m.cluster_id(), id);
}

#[test]
fn formatted_dirs_are_refused_unless_ignored() {
    let d = dirs();
    let id = random_uuid();
    format_dirs(&d.logs[..1], &d.logs[0], &id, 1, false).unwrap();
    let e = format_dirs(&d.logs, &d.meta, &id, 1, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Log directory {} is already formatted. Use --ignore-formatted to ignore this \
             directory and format the others.",
            d.logs[0].display()
        )
    );
    assert!(
        !d.meta.join("meta.properties").exists(),
        "a refused run writes nothing"
    );
    let before = fs::read_to_string(d.logs[0].join("meta.properties")).unwrap();
    let report = format_dirs(&d.logs, &d.meta, &id, 1, true).unwrap();
    assert_eq!(report.already_formatted, vec![d.logs[0].clone()]);
    assert_eq!(report.formatted.len(), 2);
    assert_eq!(
        fs::read_to_string(d.logs[0].join("meta.properties")).unwrap(),
        before
    );
    // Everything formatted: nothing to do.
    let report = format_dirs(&d.logs, &d.meta, &id, 1, true).unwrap();
    assert!(report.formatted.is_empty());
    // Another cluster or node is refused even with --ignore-formatted.
    let other = random_uuid();
    assert!(matches!(
        format_dirs(&d.logs, &d.meta, &other, 1, true),
        Err(MetaError::ClusterIdMismatch { .. })
    ));
    assert!(matches!(
        format_dirs(&d.logs, &d.meta, &id, 2, true),
        Err(MetaError::NodeIdMismatch { .. })
    ));
    assert!(matches!(
        format_dirs(&d.logs, &d.meta, "not-a-uuid", 1, true),
        Err(MetaError::InvalidClusterId { .. })
    ));
}

#[test]
fn ensure_formatted_names_the_unformatted_or_disagreeing_dir() {
    let d = dirs();
    let e = ensure_formatted(&d.logs, &d.meta, 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "No `meta.properties` found in {} (have you run `kafka-storage.sh` to format the \
             directory?)",
            d.logs[1].display()
        )
    );
    let id = random_uuid();
    format_dirs(&d.logs, &d.logs[0], &id, 1, false).unwrap();
    // The metadata dir is separate and still empty.
    assert!(matches!(
        ensure_formatted(&d.logs, &d.meta, 1),
        Err(MetaError::NotFormatted(p)) if p == d.meta.display().to_string()
    ));
    format_dirs(&d.logs, &d.meta, &id, 1, true).unwrap();
    assert_eq!(ensure_formatted(&d.logs, &d.meta, 1).unwrap(), id);
    let e = ensure_formatted(&d.logs, &d.meta, 4).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("Stored node id 1 doesn't match previous node id 4"),
        "{e}"
    );
    // One dir from another cluster.
    MetaProperties {
        node_id: 1,
        cluster_id: random_uuid(),
        directory_id: random_uuid(),
    }
    .write(&d.meta)
    .unwrap();
    let e = ensure_formatted(&d.logs, &d.meta, 1).unwrap_err();
    assert!(e.to_string().starts_with("Invalid cluster.id in: "), "{e}");
}

//! `sluice storage random-uuid | format | info` as a user runs them: output lines, exit codes
//! and the meta.properties files left behind.

use std::path::Path;
use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_config(root: &Path) -> String {
    let path = root.join("server.properties");
    std::fs::write(
        &path,
        format!(
            "process.roles=broker,controller\nnode.id=4\nlog.dirs={0}/data-1,{0}/data-2\n\
             metadata.log.dir={0}/meta\n",
            root.display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn random_uuid_prints_a_cluster_id() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5 {
        let o = sluice(&["storage", "random-uuid"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let id = stdout(&o).trim_end().to_string();
        assert_eq!(id.len(), 22, "{id}");
        assert!(!id.starts_with('-'));
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert!(seen.insert(id));
    }
}

#[test]
fn format_then_refuse_then_ignore_then_info() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().display().to_string();
    let config = write_config(root.path());
    let id = stdout(&sluice(&["storage", "random-uuid"]))
        .trim()
        .to_string();

    let o = sluice(&["storage", "format", "-t", &id, "-c", &config]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "Formatting data directory {r}/data-1 with metadata.version 4.1-IV1.\n\
             Formatting data directory {r}/data-2 with metadata.version 4.1-IV1.\n\
             Formatting metadata directory {r}/meta with metadata.version 4.1-IV1.\n"
        )
    );
    for d in ["data-1", "data-2", "meta"] {
        let text = std::fs::read_to_string(root.path().join(d).join("meta.properties")).unwrap();
        assert!(text.contains(&format!("cluster.id={id}\n")), "{text}");
        assert!(text.contains("node.id=4\n") && text.contains("version=1\n"));
        assert!(text.contains("directory.id="));
    }

    let o = sluice(&[
        "storage",
        "format",
        "--cluster-id",
        &id,
        "--config",
        &config,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "Log directory {r}/data-1 is already formatted. Use --ignore-formatted to ignore \
             this directory and format the others.\n"
        )
    );

    std::fs::remove_file(root.path().join("data-2/meta.properties")).unwrap();
    let o = sluice(&[
        "storage",
        "format",
        "-t",
        &id,
        "-c",
        &config,
        "--ignore-formatted",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("Formatting data directory {r}/data-2 with metadata.version 4.1-IV1.\n")
    );
    let o = sluice(&["storage", "format", "-t", &id, "-c", &config, "-g"]);
    assert_eq!(
        stdout(&o),
        "All of the log directories are already formatted.\n"
    );

    let o = sluice(&["storage", "info", "-c", &config]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("Found log directories:\n"), "{out}");
    assert!(out.contains(&format!("Found metadata: {{cluster.id={id}, directory.id=")));
    assert!(out.contains("node.id=4, version=1}"));

    // Another cluster id is refused even with --ignore-formatted.
    let other = stdout(&sluice(&["storage", "random-uuid"]))
        .trim()
        .to_string();
    let o = sluice(&["storage", "format", "-t", &other, "-c", &config, "-g"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("Invalid cluster.id in: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn format_refuses_a_bad_cluster_id_and_info_reports_unformatted_dirs() {
    let root = tempfile::tempdir().unwrap();
    let config = write_config(root.path());
    let o = sluice(&["storage", "format", "-t", "my-cluster", "-c", &config]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("Cluster ID string my-cluster does not appear to be a valid UUID"),
        "{}",
        stderr(&o)
    );
    assert!(!root.path().join("data-1").exists(), "nothing written");

    std::fs::create_dir_all(root.path().join("data-1")).unwrap();
    let o = sluice(&["storage", "info", "-c", &config]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("Found problems:\n"), "{err}");
    assert!(err.contains("data-1 is not formatted."), "{err}");
}

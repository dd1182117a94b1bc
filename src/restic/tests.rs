//! Tests of `restic`.

use super::*;

#[test]
fn versions_are_read_from_restic_version() {
    assert_eq!(
        parse_version("restic 0.14.0 compiled with go1.19.8 on linux/amd64"),
        Some((0, 14))
    );
    assert_eq!(
        parse_version("restic 0.18.0 compiled with go1.24.4"),
        Some((0, 18))
    );
    assert_eq!(parse_version("garbage"), None);
}

#[test]
fn env_references_are_expanded() {
    let lookup = |k: &str| (k == "PW").then(|| "s3cret".to_string());
    assert_eq!(expand_env("a=${PW}", &lookup), "a=s3cret");
    assert_eq!(expand_env("$PW/x", &lookup), "s3cret/x");
    assert_eq!(expand_env("${NOPE}-$", &lookup), "-$");
}

#[test]
fn rfc3339_times_from_restic_are_parsed() {
    assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z"), Some(1000));
    assert_eq!(
        parse_rfc3339_ms("2026-11-27T13:39:02.828337205Z"),
        Some(1_795_786_742_828)
    );
    assert_eq!(
        parse_rfc3339_ms("2026-11-27T14:39:02.828+01:00"),
        Some(1_795_786_742_828)
    );
    assert_eq!(parse_rfc3339_ms("yesterday"), None);
}

#[test]
fn backup_lines_of_both_restic_generations_parse() {
    // restic 0.14: short id, no backup_start.
    let old = r#"{"message_type":"summary","files_new":2,"data_added":301764,"total_duration":0.22,"snapshot_id":"32f10d19"}"#;
    match parse_backup_line(old) {
        BackupEvent::Summary(s, false, None) => {
            assert_eq!(s.snapshot_id, "32f10d19");
            assert_eq!(s.data_added, 301764);
        }
        other => panic!("{other:?}"),
    }
    let status = r#"{"message_type":"status","percent_done":0.5,"total_files":1,"bytes_done":10,"current_files":["/a"]}"#;
    assert!(
        matches!(parse_backup_line(status), BackupEvent::Status(s) if s.bytes_done == 10 && s.current_file == ["/a"])
    );
    let err14 = r#"{"message_type":"error","error":{},"during":"archival","item":"/x"}"#;
    assert!(matches!(parse_backup_line(err14), BackupEvent::Error(e) if e.item == "/x"));
    let exit = r#"{"message_type":"exit_error","code":1,"message":"Fatal: all source directories/files do not exist"}"#;
    assert!(matches!(
        parse_backup_line(exit),
        BackupEvent::ExitError(1, _)
    ));
    assert!(matches!(
        parse_backup_line("scan finished"),
        BackupEvent::Other(_)
    ));
    assert!(matches!(
        parse_backup_line(r#"{"message_type":"verbose_status"}"#),
        BackupEvent::Other(_)
    ));
}

#[test]
fn forget_output_lists_removed_snapshots() {
    let out = r#"[{"tags":null,"host":"","paths":null,"keep":[{"time":"2026-11-27T13:39:18Z","id":"bb","short_id":"bb"}],"remove":[{"time":"2026-11-27T13:39:02Z","id":"aa","tags":["plan:p"],"paths":["/x"]}],"reasons":[]}]
removed snapshot aa"#;
    let removed = parse_forget(out).unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].id, "aa");
    assert_eq!(removed[0].tags, ["plan:p"]);
}

#[test]
fn exit_classification_covers_old_and_new_restic() {
    let missing14 = ResticError::Exit {
        code: 1,
        message: "Fatal: unable to open config file: stat x/config: no such file or directory\nIs there a repository at the following location?".into(),
    };
    assert!(missing14.is_repo_missing());
    assert!(
        ResticError::Exit {
            code: 10,
            message: String::new()
        }
        .is_repo_missing()
    );
    assert!(
        ResticError::Exit {
            code: 11,
            message: String::new()
        }
        .is_locked()
    );
    assert!(
        ResticError::Exit {
            code: 1,
            message: "Fatal: wrong password or no key found".into()
        }
        .is_wrong_password()
    );
}

//! Browsing snapshots, restoring, downloading, and the summary dashboard, against real restic.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A tree with nested dirs, unicode and spaces in names, a symlink, an empty file.
fn make_tree(src: &Path) {
    let deep = src.join("nested dir").join("ünïcødé").join("deeper");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(src.join("name with spaces.txt"), b"spaces\n").unwrap();
    std::fs::write(
        src.join("nested dir/ünïcødé/é.bin"),
        pseudo_random(70_000, 5),
    )
    .unwrap();
    std::fs::write(deep.join("last.txt"), b"the bottom\n").unwrap();
    std::fs::write(src.join("empty"), b"").unwrap();
    std::os::unix::fs::symlink("nested dir", src.join("link")).unwrap();
}

/// Every entry under `root`: relative path → ("file", bytes) | ("dir", []) | ("link", target).
fn tree_of(root: &Path) -> BTreeMap<String, (&'static str, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let t = std::fs::read_link(e.path()).unwrap();
                out.insert(rel, ("link", t.to_string_lossy().as_bytes().to_vec()));
            } else if ft.is_dir() {
                out.insert(rel, ("dir", Vec::new()));
                stack.push(e.path());
            } else {
                out.insert(rel, ("file", std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out
}

fn hash(bytes: &[u8]) -> u64 {
    // FNV-1a: enough to tell two files apart in a test.
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

struct Browsed {
    s: Setup,
    snap: String,
    index_op: String,
}

fn backed_up_tree() -> Browsed {
    let s = setup_with_plan(json!({}));
    make_tree(&s.src);
    s.d.ok("Backup", json!({"value": "plan1"}));
    let index =
        s.d.operations(json!({"selector": {"planId": "plan1"}}))
            .into_iter()
            .find(|o| o.get("operationIndexSnapshot").is_some())
            .expect("index op");
    Browsed {
        snap: index["snapshotId"].as_str().unwrap().to_string(),
        index_op: index["id"].as_str().unwrap().to_string(),
        s,
    }
}

fn ls(d: &Daemon, snap: &str, path: &str) -> Vec<Value> {
    let v = d.ok(
        "ListSnapshotFiles",
        json!({"repoId": "repo1", "snapshotId": snap, "path": path}),
    );
    assert_eq!(v["path"], path);
    v["entries"].as_array().cloned().unwrap_or_default()
}

#[test]
fn list_snapshot_files_walks_the_tree_level_by_level() {
    let b = backed_up_tree();
    let d = &b.s.d;
    // From the root down to the backed-up directory, one level per call.
    let src = b.s.src.to_str().unwrap().to_string();
    let mut at = String::new();
    for part in src.trim_start_matches('/').split('/') {
        let parent = if at.is_empty() {
            "/".to_string()
        } else {
            at.clone()
        };
        at = format!("{at}/{part}");
        let entries = ls(d, &b.snap, &parent);
        let e = entries
            .iter()
            .find(|e| e["path"] == at.as_str())
            .unwrap_or_else(|| panic!("{at} in {entries:?}"));
        assert_eq!(e["type"], "dir");
        assert_eq!(e["name"], part);
    }
    // Then the tree itself, checked against the files on disk.
    let mut queue = vec![src.clone()];
    let mut seen = 0;
    while let Some(dir) = queue.pop() {
        let entries = ls(d, &b.snap, &dir);
        for e in entries.iter().filter(|e| e["path"] != dir.as_str()) {
            let path = e["path"].as_str().unwrap();
            let local = std::fs::symlink_metadata(path).unwrap();
            assert_eq!(
                e["name"].as_str().unwrap(),
                Path::new(path).file_name().unwrap().to_str().unwrap()
            );
            let size: u64 = e["size"].as_str().unwrap_or("0").parse().unwrap();
            match e["type"].as_str().unwrap() {
                "dir" => {
                    assert!(local.is_dir(), "{path}");
                    queue.push(path.to_string());
                }
                "file" => {
                    assert!(local.is_file(), "{path}");
                    assert_eq!(size, local.len(), "{path}");
                }
                "symlink" => assert!(local.file_type().is_symlink(), "{path}"),
                other => panic!("{other} at {path}"),
            }
            assert!(e["mtime"].is_string() && e["mode"].is_string(), "{e}");
            seen += 1;
        }
    }
    let on_disk = tree_of(&b.s.src).len();
    assert_eq!(seen, on_disk, "every entry was listed once");
    let spaced = ls(d, &b.snap, &src)
        .into_iter()
        .find(|e| e["name"] == "name with spaces.txt")
        .unwrap();
    assert_eq!(spaced["size"], "7");
    // The repo named by its guid, as some clients do: the same listing.
    let guid = d.ok("GetConfig", json!({}))["repos"][0]["guid"]
        .as_str()
        .unwrap()
        .to_string();
    let by_guid = d.ok(
        "ListSnapshotFiles",
        json!({"repoGuid": guid, "snapshotId": b.snap, "path": src}),
    );
    assert_eq!(
        by_guid["entries"].as_array().unwrap(),
        &ls(d, &b.snap, &src)
    );
    let (status, v) = d.rpc(
        "ListSnapshotFiles",
        json!({"repoGuid": "f".repeat(64), "snapshotId": b.snap, "path": src}),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );
    // A trailing slash or doubled slashes mean the same directory.
    let v = d.ok(
        "ListSnapshotFiles",
        json!({"repoId": "repo1", "snapshotId": b.snap, "path": format!("{src}//nested dir/")}),
    );
    assert_eq!(v["path"], format!("{src}/nested dir"));
    assert_eq!(
        v["entries"].as_array().unwrap().len(),
        ls(d, &b.snap, &format!("{src}/nested dir")).len()
    );

    // Bad input: clear errors.
    for (body, code) in [
        (
            json!({"repoId": "repo1", "snapshotId": "latest", "path": "/"}),
            "invalid_argument",
        ),
        (
            json!({"repoId": "repo1", "snapshotId": b.snap, "path": "/tmp/../etc"}),
            "invalid_argument",
        ),
        (
            json!({"repoId": "repo1", "snapshotId": b.snap, "path": "relative"}),
            "invalid_argument",
        ),
        (
            json!({"repoId": "repo1", "snapshotId": "0123456789abcdef", "path": "/"}),
            "not_found",
        ),
        (
            json!({"repoId": "nope", "snapshotId": b.snap, "path": "/"}),
            "not_found",
        ),
    ] {
        let (status, v) = d.rpc("ListSnapshotFiles", body.clone());
        assert_eq!(v["code"], code, "{body}: {v}");
        assert!(status == 400 || status == 404);
    }
    // A path the snapshot does not hold lists nothing (as Backrest answers it).
    let nope = format!("{src}/nope");
    let v = d.ok(
        "ListSnapshotFiles",
        json!({"repoId": "repo1", "snapshotId": b.snap, "path": nope}),
    );
    assert_eq!(v, json!({"path": nope}), "{v}");
}

fn wait_done(d: &Daemon, id: &str) -> Value {
    d.wait_for("the operation to end", Duration::from_secs(120), || {
        let op = d
            .operations(json!({"selector": {"ids": [id]}}))
            .into_iter()
            .next()?;
        let st = op["status"].as_str().unwrap_or("").to_string();
        (st != "STATUS_INPROGRESS" && st != "STATUS_PENDING").then_some(op)
    })
}

fn restore(d: &Daemon, snap: &str, path: &str, target: &Path) -> Value {
    let r = d.ok(
        "Restore",
        json!({"repoId": "repo1", "planId": "plan1", "snapshotId": snap, "path": path,
               "target": target.to_str().unwrap()}),
    );
    let op = wait_done(d, r["operationId"].as_str().unwrap());
    assert_eq!(op["status"], "STATUS_SUCCESS", "{op}\n{}", d.log());
    op
}

#[test]
fn restore_of_a_file_and_a_directory_matches_the_source() {
    let b = backed_up_tree();
    let d = &b.s.d;
    let out = TempDir::new("restore");
    let src = b.s.src.to_str().unwrap();

    let file_target = out.path().join("one file");
    let op = restore(
        d,
        &b.snap,
        &format!("{src}/nested dir/ünïcødé/é.bin"),
        &file_target,
    );
    let restored = std::fs::read(file_target.join("é.bin")).unwrap();
    let original = std::fs::read(b.s.src.join("nested dir/ünïcødé/é.bin")).unwrap();
    assert_eq!(hash(&restored), hash(&original));
    assert_eq!(tree_of(&file_target).len(), 1, "only the file");
    let last = &op["operationRestore"]["lastStatus"];
    assert_eq!(last["messageType"], "summary", "{op}");
    assert_eq!(last["filesRestored"], "1");
    assert_eq!(last["bytesRestored"], "70000");
    assert_eq!(
        op["operationRestore"]["target"],
        file_target.to_str().unwrap()
    );
    assert_eq!(op["snapshotId"], b.snap.as_str());
    assert!(op["logref"].is_string());

    let dir_target = out.path().join("a dir");
    restore(d, &b.snap, &format!("{src}/nested dir"), &dir_target);
    let got = tree_of(&dir_target.join("nested dir"));
    let want = tree_of(&b.s.src.join("nested dir"));
    assert_eq!(got.len(), want.len());
    for (k, (kind, bytes)) in &want {
        let (gk, gb) = &got[k];
        assert_eq!((kind, hash(bytes)), (gk, hash(gb)), "{k}");
    }

    // Bad input: clear errors, no file touched.
    let existing = out.path().join("existing");
    std::fs::create_dir_all(&existing).unwrap();
    let inside = b.s.d.data_dir().join("restored-here");
    let fresh = out.path().join("never");
    for (target, path, snap, code, words) in [
        (
            existing.clone(),
            "/",
            b.snap.clone(),
            "failed_precondition",
            "already exists",
        ),
        (
            inside.clone(),
            "/",
            b.snap.clone(),
            "invalid_argument",
            "data directory",
        ),
        (
            fresh.clone(),
            "/a/../b",
            b.snap.clone(),
            "invalid_argument",
            "..",
        ),
        (
            fresh.clone(),
            "/",
            "xyz".to_string(),
            "invalid_argument",
            "snapshot id",
        ),
        (
            PathBuf::from("relative/dir"),
            "/",
            b.snap.clone(),
            "invalid_argument",
            "absolute",
        ),
        (
            out.path().join("x/../y"),
            "/",
            b.snap.clone(),
            "invalid_argument",
            "..",
        ),
    ] {
        let (status, v) = d.rpc(
            "Restore",
            json!({"repoId": "repo1", "snapshotId": snap, "path": path, "target": target.to_str().unwrap()}),
        );
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].as_str().unwrap().contains(words), "{v}");
    }
    assert!(std::fs::read_dir(&existing).unwrap().next().is_none());
    assert!(!inside.exists() && !fresh.exists());
    let (status, _) = d.rpc(
        "Restore",
        json!({"repoId": "nope", "snapshotId": b.snap, "path": "/", "target": fresh.to_str().unwrap()}),
    );
    assert_eq!(status, 404);

    // A path that is not in the snapshot fails and leaves no target behind.
    let missing = out.path().join("missing");
    let r = d.ok(
        "Restore",
        json!({"repoId": "repo1", "snapshotId": b.snap, "path": format!("{src}/no such file"),
               "target": missing.to_str().unwrap()}),
    );
    let op = wait_done(d, r["operationId"].as_str().unwrap());
    assert_eq!(op["status"], "STATUS_ERROR", "{op}");
    assert!(!missing.exists());

    // No target: $HOME/Downloads/restic-restore-<time> (HOME is the daemon's temp dir).
    let r = d.ok(
        "Restore",
        json!({"repoId": "repo1", "snapshotId": b.snap, "path": format!("{src}/name with spaces.txt")}),
    );
    let op = wait_done(d, r["operationId"].as_str().unwrap());
    let target = PathBuf::from(op["operationRestore"]["target"].as_str().unwrap());
    assert!(
        target.starts_with(b.s.d.dir.path().join("Downloads")),
        "{op}"
    );
    assert!(
        target
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("restic-restore-")
    );
    assert_eq!(
        std::fs::read(target.join("name with spaces.txt")).unwrap(),
        b"spaces\n"
    );
}

fn get(d: &Daemon, url: &str) -> HttpResponse {
    let path = url.trim_start_matches('.');
    d.request("GET", path, &[], b"")
}

fn untar(bytes: &[u8], gz: bool, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let archive = into.with_extension("archive");
    std::fs::write(&archive, bytes).unwrap();
    let st = std::process::Command::new("tar")
        .arg(if gz { "xzf" } else { "xf" })
        .arg(&archive)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn downloads_through_signed_links_match_the_source() {
    let b = backed_up_tree();
    let d = &b.s.d;
    let src = b.s.src.to_str().unwrap();
    let url = |op: &str, path: &str| -> String {
        let v = d.ok("GetDownloadURL", json!({"opId": op, "filePath": path}));
        let url = v["value"].as_str().unwrap().to_string();
        assert!(
            url.starts_with("./download/") && url.ends_with('/'),
            "{url}"
        );
        url
    };
    // One file: its bytes, as an attachment.
    let u = url(&b.index_op, &format!("{src}/nested dir/ünïcødé/é.bin"));
    let r = get(d, &format!("{u}file.bin"));
    assert_eq!(r.status, 200);
    assert_eq!(
        hash(&r.body),
        hash(&std::fs::read(b.s.src.join("nested dir/ünïcødé/é.bin")).unwrap())
    );
    assert!(
        r.header("Content-Disposition")
            .unwrap()
            .contains("attachment")
    );
    // A directory: a tar of it.
    let u = url(&b.index_op, &format!("{src}/nested dir"));
    let r = get(d, &u);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.header("Content-Disposition")
            .unwrap()
            .contains("nested dir.tar")
    );
    let out = TempDir::new("download");
    untar(&r.body, false, &out.path().join("tar"));
    let unpacked = out
        .path()
        .join("tar")
        .join(src.trim_start_matches('/'))
        .join("nested dir");
    assert_eq!(tree_of(&unpacked), tree_of(&b.s.src.join("nested dir")));

    // A restore: tar.gz of its target.
    let target = out.path().join("restored");
    let r = d.ok(
        "Restore",
        json!({"repoId": "repo1", "snapshotId": b.snap, "path": src, "target": target.to_str().unwrap()}),
    );
    let restore_op = r["operationId"].as_str().unwrap().to_string();
    assert_eq!(wait_done(d, &restore_op)["status"], "STATUS_SUCCESS");
    let u = url(&restore_op, "");
    let r = get(d, &u);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/gzip"));
    untar(&r.body, true, &out.path().join("tgz"));
    assert_eq!(tree_of(&out.path().join("tgz/restored")), tree_of(&target));
    assert_eq!(tree_of(&target.join("src")), tree_of(&b.s.src));
    // A path without its leading / is joined to the target as /src is.
    for p in ["src", "/src"] {
        let r = get(d, &url(&restore_op, p));
        assert_eq!(r.status, 200, "{p}");
        let dir = out.path().join(format!("rel{}", p.len()));
        untar(&r.body, true, &dir);
        assert_eq!(tree_of(&dir.join("src")), tree_of(&b.s.src), "{p}");
    }

    // Tampered, foreign and unknown links.
    let good = url(&b.index_op, &format!("{src}/empty"));
    let token = good.trim_start_matches("./download/").trim_end_matches('/');
    let mut bytes = token.as_bytes().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    for t in [tampered.as_str(), "not-a-token", "a.b.c"] {
        let r = d.request("GET", &format!("/download/{t}/x"), &[], b"");
        assert_eq!(r.status, 403, "{t}: {}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(get(d, &good).status, 200);
    // A link to an operation that is gone: 404.
    d.ok("ClearHistory", json!({"selector": {"ids": [restore_op]}}));
    assert_eq!(get(d, &u).status, 404);
    // Bad requests for links.
    for (body, code) in [
        (json!({"opId": "999999", "filePath": "/"}), "not_found"),
        (
            json!({"opId": b.index_op, "filePath": "/a/../etc/passwd"}),
            "invalid_argument",
        ),
        (json!({"filePath": "/"}), "invalid_argument"),
    ] {
        let (_, v) = d.rpc("GetDownloadURL", body.clone());
        assert_eq!(v["code"], code, "{body}: {v}");
    }
    let backup_op = d
        .operations(json!({"selector": {"planId": "plan1"}}))
        .into_iter()
        .find(|o| o.get("operationBackup").is_some())
        .unwrap();
    let (_, v) = d.rpc(
        "GetDownloadURL",
        json!({"opId": backup_op["id"], "filePath": "/"}),
    );
    assert_eq!(
        v["code"], "invalid_argument",
        "a backup op is not downloadable: {v}"
    );
}

/// A restored symlink (`etc-link -> <a dir outside>`) is never followed by a download: no link
/// to a path through it is signed, and a link whose path became one after signing is refused.
#[test]
fn restore_downloads_do_not_follow_symlinks_out_of_the_target() {
    let s = setup_with_plan(json!({}));
    make_tree(&s.src);
    let outside = TempDir::new("outside");
    std::fs::write(outside.path().join("secret.txt"), "not for download").unwrap();
    std::os::unix::fs::symlink(outside.path(), s.src.join("etc-link")).unwrap();
    s.d.ok("Backup", json!({"value": "plan1"}));
    let snap =
        s.d.operations(json!({"selector": {"planId": "plan1"}}))
            .into_iter()
            .find_map(|o| {
                o["operationIndexSnapshot"]
                    .is_object()
                    .then(|| o["snapshotId"].clone())
            })
            .unwrap();
    let work = TempDir::new("restore-links");
    let target = work.path().join("restored");
    let r = s.d.ok(
        "Restore",
        json!({"repoId": "repo1", "snapshotId": snap, "path": s.src, "target": target}),
    );
    let op = r["operationId"].as_str().unwrap().to_string();
    assert_eq!(wait_done(&s.d, &op)["status"], "STATUS_SUCCESS");
    let restored_link = target.join("src/etc-link");
    assert!(
        std::fs::symlink_metadata(&restored_link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "restic restored the symlink"
    );

    let (status, v) = s.d.rpc(
        "GetDownloadURL",
        json!({"opId": op, "filePath": "/src/etc-link/secret.txt"}),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_argument")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("symlink"), "{v}");

    // The link itself downloads as a link.
    let v = s.d.ok(
        "GetDownloadURL",
        json!({"opId": op, "filePath": "/src/etc-link"}),
    );
    let r = get(&s.d, v["value"].as_str().unwrap());
    assert_eq!(r.status, 200);
    let out = work.path().join("tgz");
    untar(&r.body, true, &out);
    let got = std::fs::symlink_metadata(out.join("etc-link")).unwrap();
    assert!(got.file_type().is_symlink());
    assert!(!out.join("etc-link").starts_with(outside.path()));
    assert!(
        !String::from_utf8_lossy(&r.body).contains("not for download")
            && std::fs::read_dir(&out).unwrap().count() == 1,
        "only the link, not what it points to"
    );

    // Signed while `nested dir` was a directory, used after it became a link out.
    let v = s.d.ok(
        "GetDownloadURL",
        json!({"opId": op, "filePath": "/src/nested dir/ünïcødé/é.bin"}),
    );
    let url = v["value"].as_str().unwrap().to_string();
    std::fs::remove_dir_all(target.join("src/nested dir")).unwrap();
    std::fs::create_dir_all(outside.path().join("nested/ünïcødé")).unwrap();
    std::fs::write(
        outside.path().join("nested/ünïcødé/é.bin"),
        "not for download",
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path().join("nested"), target.join("src/nested dir"))
        .unwrap();
    let r = get(&s.d, &url);
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert!(!String::from_utf8_lossy(&r.body).contains("not for download"));
}

#[test]
fn path_autocomplete_lists_names_in_a_directory() {
    let work = TempDir::new("complete");
    make_tree(work.path());
    let d = Daemon::start();
    let v = d.ok(
        "PathAutocomplete",
        json!({"value": work.path().to_str().unwrap()}),
    );
    assert_eq!(
        v["values"],
        json!(["empty", "link", "name with spaces.txt", "nested dir"])
    );
    let v = d.ok(
        "PathAutocomplete",
        json!({"value": work.path().join("missing").to_str().unwrap()}),
    );
    assert_eq!(v, json!({}), "a missing directory has no names");
    // A file is not something to complete in: an error, as Backrest answers it.
    let file = work.path().join("name with spaces.txt");
    let (status, v) = d.rpc("PathAutocomplete", json!({"value": file.to_str().unwrap()}));
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_argument"))
    );
    assert!(
        v["message"].as_str().unwrap().contains("not a directory"),
        "{v}"
    );
    let (status, v) = d.rpc("PathAutocomplete", json!({"value": "/etc/../root"}));
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_argument"))
    );
    // Too long for Linux: refused by name, the path not echoed back.
    for long in [
        format!("/{}", "a/".repeat(50_000)),
        format!("/{}", "n".repeat(300)),
    ] {
        let (status, v) = d.rpc("PathAutocomplete", json!({ "value": long }));
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some("invalid_argument")),
            "{}",
            &v.to_string()[..200.min(v.to_string().len())]
        );
        let msg = v["message"].as_str().unwrap();
        assert!(msg.len() < 200 && msg.contains("at most"), "{msg}");
    }
}

#[test]
fn summary_dashboard_counts_success_warning_and_error_backups() {
    // restic exits 3 (a partial backup: WARNING) when a file cannot be read. As root every file
    // can be read, so restic runs as nobody then.
    let root = unsafe { libc_geteuid() } == 0;
    let work = TempDir::new("dash");
    let shared = work.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let src = shared.join("src");
    make_source(&src);
    let restic = if root {
        format!(
            "setpriv --reuid=nobody --regid=nogroup --clear-groups {}",
            restic_bin()
        )
    } else {
        restic_bin()
    };
    let d = Daemon::start_with(Opts {
        restic,
        ..Default::default()
    });
    add_repo(&d, "repo1", &shared.join("repo"));
    set_plans(
        &d,
        vec![
            json!({"id": "plan1", "repo": "repo1", "paths": [src.to_str().unwrap()],
                    "schedule": {"maxFrequencyDays": 1}}),
        ],
    );
    d.ok("Backup", json!({"value": "plan1"}));
    let secret = src.join("secret.txt");
    std::fs::write(&secret, b"nobody may read this").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    d.ok("Backup", json!({"value": "plan1"})); // warning: 200, like Backrest
    std::fs::remove_file(&secret).unwrap();
    std::fs::remove_dir_all(&src).unwrap();
    let (status, _) = d.rpc("Backup", json!({"value": "plan1"}));
    assert_eq!(status, 400, "a missing path is an error");

    let ops = d.operations(json!({"selector": {"planId": "plan1"}}));
    // The plan's schedule keeps one PENDING backup for the next run.
    let backups: Vec<&Value> = ops
        .iter()
        .filter(|o| o.get("operationBackup").is_some() && o["status"] != "STATUS_PENDING")
        .collect();
    let statuses: Vec<&str> = backups
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["STATUS_SUCCESS", "STATUS_WARNING", "STATUS_ERROR"],
        "{}",
        d.log()
    );
    let added: i64 = backups
        .iter()
        .filter_map(|o| o["operationBackup"]["lastStatus"]["summary"]["dataAdded"].as_str())
        .map(|s| s.parse::<i64>().unwrap())
        .sum();
    let scanned: i64 = backups
        .iter()
        .filter_map(|o| {
            o["operationBackup"]["lastStatus"]["summary"]["totalBytesProcessed"].as_str()
        })
        .map(|s| s.parse::<i64>().unwrap())
        .sum();
    assert!(
        added > 64 * 1024 && scanned > 2 * 64 * 1024,
        "{added} {scanned}"
    );

    let v = d.ok("GetSummaryDashboard", json!({}));
    assert_eq!(v["configPath"], d.config_path().to_str().unwrap());
    assert_eq!(v["dataPath"], d.data_dir().to_str().unwrap());
    for s in [&v["repoSummaries"][0], &v["planSummaries"][0]] {
        assert_eq!(s["backupsSuccessLast30days"], "1", "{s}");
        assert_eq!(s["backupsWarningLast30days"], "1", "{s}");
        assert_eq!(s["backupsFailed30days"], "1", "{s}");
        assert_eq!(s["bytesAddedLast30days"], added.to_string());
        assert_eq!(s["bytesScannedLast30days"], scanned.to_string());
        assert_eq!(s["bytesAddedAvg"], (added / 2).to_string());
        assert_eq!(s["totalSnapshots"], "2", "{s}");
        let chart = &s["recentBackups"];
        assert_eq!(
            chart["status"],
            json!(["STATUS_SUCCESS", "STATUS_WARNING", "STATUS_ERROR"])
        );
        let days = s["historyLast30days"].as_array().unwrap();
        assert_eq!(days.len(), 30);
        let today = &days[29];
        assert_eq!(today["bytesAdded"], added.to_string());
        assert_eq!(
            today["statusCounts"].as_array().unwrap().len(),
            3,
            "{today}"
        );
        assert!(today.get("overdue").is_none(), "a success today");
    }
    assert_eq!(v["repoSummaries"][0]["id"], "repo1");
    assert_eq!(v["planSummaries"][0]["id"], "plan1");
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

//! Builds every package with `packaging/build-all.sh --host` from this build's footrest binary
//! and inspects it: contents, owners and modes, control data, maintainer scripts (`sh -n`), the
//! systemd unit (`systemd-analyze verify`, exposure score), and runs what can run here: the
//! packaged binary, the OpenWrt init script's command line, Synology's start-stop-status.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(tag: &str) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let p = base.join(format!("pkg-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} did not start: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

/// The packages, built once for all tests.
fn packages() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = tmp("out");
        // A stripped copy: compressing the 20 MB debug build dominated the run time.
        let bin = tmp("bin").join("footrest");
        std::fs::copy(env!("CARGO_BIN_EXE_footrest"), &bin).unwrap();
        let _ = Command::new("strip").arg(&bin).status();
        run(Command::new("bash")
            .arg(root().join("packaging/build-all.sh"))
            .arg("--host")
            .arg(&bin)
            .arg(&out));
        out
    })
}

/// `tar -tv` of an archive: path → (mode string, owner/group).
fn listing(args: &[&str], archive: &Path) -> BTreeMap<String, (String, String)> {
    let text = stdout(Command::new("tar").args(args).arg(archive));
    parse_listing(&text)
}

fn parse_listing(text: &str) -> BTreeMap<String, (String, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6).then(|| {
                let name = f[5..].join(" ");
                let name = name.trim_start_matches("./").trim_end_matches('/');
                (name.to_string(), (f[0].to_string(), f[1].to_string()))
            })
        })
        .collect()
}

fn assert_entry(list: &BTreeMap<String, (String, String)>, path: &str, mode: &str) {
    let (m, owner) = list
        .get(path)
        .unwrap_or_else(|| panic!("{path} missing from {list:?}"));
    assert_eq!(m, mode, "mode of {path}");
    assert!(
        owner == "0/0" || owner == "root/root",
        "{path} is owned by {owner}"
    );
}

fn assert_all_root_owned(list: &BTreeMap<String, (String, String)>) {
    for (p, (_, owner)) in list {
        assert!(
            owner == "0/0" || owner == "root/root",
            "{p} is owned by {owner}"
        );
    }
}

fn sh_n(path: &Path) {
    run(Command::new("sh").arg("-n").arg(path));
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("#!/bin/sh"),
        "{path:?} has no /bin/sh shebang"
    );
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o111 == 0o111
}

fn control_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn assert_runs_version(bin: &Path) {
    let out = stdout(Command::new(bin).arg("--version"));
    assert_eq!(out.trim(), format!("footrest {VERSION}"));
}

// ---------------------------------------------------------------------------------------------
// Debian

#[test]
fn deb_has_binary_unit_and_maintainer_scripts() {
    let deb = packages().join(format!("footrest_{VERSION}_amd64.deb"));
    let fields = control_fields(&stdout(Command::new("dpkg-deb").arg("-f").arg(&deb)));
    assert_eq!(fields["Package"], "footrest");
    assert_eq!(fields["Version"], VERSION);
    assert_eq!(fields["Architecture"], "amd64");
    assert!(fields["Depends"].contains("restic"), "{fields:?}");
    assert!(fields["Depends"].contains("adduser"), "{fields:?}");

    let list = parse_listing(&stdout(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    assert_all_root_owned(&list);
    assert_entry(&list, "usr/bin/footrest", "-rwxr-xr-x");
    assert_entry(&list, "lib/systemd/system/footrest.service", "-rw-r--r--");
    assert_entry(&list, "etc/default/footrest", "-rw-r--r--");
    assert_entry(&list, "usr/share/doc/footrest/copyright", "-rw-r--r--");

    let dir = tmp("deb");
    run(Command::new("dpkg-deb")
        .arg("-R")
        .arg(&deb)
        .arg(dir.join("x")));
    let x = dir.join("x");
    for s in ["postinst", "prerm", "postrm"] {
        let p = x.join("DEBIAN").join(s);
        sh_n(&p);
        assert!(is_executable(&p), "{s} is not executable");
    }
    let postinst = std::fs::read_to_string(x.join("DEBIAN/postinst")).unwrap();
    assert!(
        postinst.contains("adduser --system"),
        "postinst creates the user"
    );
    assert!(postinst.contains("-m 0700 /etc/footrest"));
    let conffiles = std::fs::read_to_string(x.join("DEBIAN/conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/default/footrest");
    assert_runs_version(&x.join("usr/bin/footrest"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn systemd_analyze() -> Option<PathBuf> {
    let find = || {
        ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    };
    if let Some(p) = find() {
        return Some(p);
    }
    // Debian's systemd package brings it; as root, install it rather than skip.
    eprintln!("systemd-analyze missing: installing Debian's systemd package");
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", "systemd"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    find()
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let unit_src =
        std::fs::read_to_string(root().join("packaging/systemd/footrest.service")).unwrap();
    let keys: BTreeMap<&str, Vec<&str>> = unit_src
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .fold(BTreeMap::new(), |mut m, (k, v)| {
            m.entry(k).or_default().push(v);
            m
        });
    for (k, v) in [
        ("User", "footrest"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "read-only"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("StateDirectory", "footrest"),
        ("ReadWritePaths", "/etc/footrest"),
        ("Nice", "10"),
        ("IOSchedulingClass", "best-effort"),
        ("CapabilityBoundingSet", "CAP_DAC_READ_SEARCH"),
        ("Restart", "on-failure"),
    ] {
        assert!(
            keys.get(k).is_some_and(|vs| vs.contains(&v)),
            "the unit lacks {k}={v}"
        );
    }

    let Some(analyze) = systemd_analyze() else {
        panic!("systemd-analyze is not installed and could not be installed");
    };
    // verify checks that ExecStart exists: point it at the packaged binary.
    let dir = tmp("unit");
    let deb = packages().join(format!("footrest_{VERSION}_amd64.deb"));
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(dir.join("root")));
    let installed =
        std::fs::read_to_string(dir.join("root/lib/systemd/system/footrest.service")).unwrap();
    assert_eq!(installed, unit_src, "the packaged unit is the source unit");
    let unit = dir.join("footrest.service");
    let bin = dir.join("root/usr/bin/footrest");
    std::fs::write(
        &unit,
        installed.replace("/usr/bin/footrest", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = run(Command::new(&analyze)
        .args(["verify", "--man=no"])
        .arg(&unit));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Unknown or misspelt keys are only warnings, with exit code 0: any output fails the test.
    assert!(said.trim().is_empty(), "systemd-analyze verify: {said}");

    let out = Command::new(&analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for footrest.service:")
                .nth(1)
        })
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(score <= 2.5, "exposure {score} (was 1.8): {text}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// OpenWrt

#[test]
fn ipk_has_procd_init_uci_config_and_keep_list() {
    let ipk = packages().join(format!("footrest_{VERSION}_x86_64.ipk"));
    let outer = stdout(Command::new("tar").arg("-tzf").arg(&ipk));
    assert_eq!(
        outer.lines().collect::<Vec<_>>(),
        ["./debian-binary", "./data.tar.gz", "./control.tar.gz"],
        "ipkg-build's layout"
    );
    let dir = tmp("ipk");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&ipk)
        .arg("-C")
        .arg(&dir));
    assert_eq!(
        std::fs::read_to_string(dir.join("debian-binary")).unwrap(),
        "2.0\n"
    );

    let data = listing(&["-tzvf"], &dir.join("data.tar.gz"));
    assert_all_root_owned(&data);
    assert_entry(&data, "usr/bin/footrest", "-rwxr-xr-x");
    assert_entry(&data, "etc/init.d/footrest", "-rwxr-xr-x");
    assert_entry(&data, "etc/config/footrest", "-rw-------");
    assert_entry(&data, "lib/upgrade/keep.d/footrest", "-rw-r--r--");
    let ctrl = listing(&["-tzvf"], &dir.join("control.tar.gz"));
    assert_all_root_owned(&ctrl);
    assert_entry(&ctrl, "postinst", "-rwxr-xr-x");
    assert_entry(&ctrl, "prerm", "-rwxr-xr-x");

    for (archive, sub) in [("data.tar.gz", "data"), ("control.tar.gz", "control")] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        run(Command::new("tar")
            .arg("-xzf")
            .arg(dir.join(archive))
            .arg("-C")
            .arg(dir.join(sub)));
    }
    let fields = control_fields(&std::fs::read_to_string(dir.join("control/control")).unwrap());
    assert_eq!(fields["Package"], "footrest");
    assert_eq!(fields["Version"], VERSION);
    assert_eq!(fields["Architecture"], "x86_64");
    assert_eq!(
        std::fs::read_to_string(dir.join("control/conffiles")).unwrap(),
        "/etc/config/footrest\n"
    );
    sh_n(&dir.join("control/postinst"));
    sh_n(&dir.join("control/prerm"));

    let init = dir.join("data/etc/init.d/footrest");
    sh_n(&init);
    let init_text = std::fs::read_to_string(&init).unwrap();
    assert!(init_text.starts_with("#!/bin/sh /etc/rc.common\n"));
    assert!(init_text.contains("USE_PROCD=1"));
    assert!(init_text.contains("procd_set_param respawn"));

    // The config dir is kept across sysupgrade, and the default data dir is inside it.
    let keep = std::fs::read_to_string(dir.join("data/lib/upgrade/keep.d/footrest")).unwrap();
    assert_eq!(keep.trim(), "/etc/footrest/");
    let uci = std::fs::read_to_string(dir.join("data/etc/config/footrest")).unwrap();
    assert!(uci.contains("option data_dir '/etc/footrest/data'"));
    assert!(uci.contains("option config_dir '/etc/footrest'"));
    assert_runs_version(&dir.join("data/usr/bin/footrest"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the init script's start_service with procd and UCI stood in for by shell functions, then
/// starts the command line it built and asks the daemon for its config.
#[test]
fn ipk_init_script_builds_a_working_command_line() {
    let dir = tmp("procd");
    let init = root().join("packaging/openwrt/footrest.init");
    let harness = format!(
        r#"
config_load() {{ :; }}
config_get_bool() {{ eval "$1=1"; }}
config_get() {{
    case $3 in
        bind_address) eval "$1=127.0.0.1:0" ;;
        config_dir) eval "$1='{d}/etc'" ;;
        data_dir) eval "$1='{d}/data'" ;;
        cache_dir) eval "$1='{d}/cache'" ;;
        *) eval "$1=\"\$4\"" ;;
    esac
}}
procd_open_instance() {{ :; }}
procd_close_instance() {{ :; }}
procd_set_param() {{
    k=$1; shift
    case $k in
        command|env) for a in "$@"; do printf '%s %s\n' "$k" "$a"; done ;;
        respawn) echo "respawn $*" ;;
    esac
}}
. '{init}'
PROG='{bin}'
start_service
"#,
        d = dir.display(),
        init = init.display(),
        bin = env!("CARGO_BIN_EXE_footrest"),
    );
    std::fs::write(dir.join("harness.sh"), harness).unwrap();
    let out = stdout(Command::new("sh").arg(dir.join("harness.sh")));
    let mut argv = Vec::new();
    let mut env = Vec::new();
    for line in out.lines() {
        match line.split_once(' ') {
            Some(("command", a)) => argv.push(a.to_string()),
            Some(("env", kv)) => env.push(kv.split_once('=').unwrap()),
            Some(("respawn", r)) => assert_eq!(r, "3600 10 5"),
            _ => panic!("unexpected: {line}"),
        }
    }
    assert_eq!(argv[0], env!("CARGO_BIN_EXE_footrest"));
    assert!(dir.join("data").is_dir() && dir.join("cache").is_dir());
    let mut child = Command::new(&argv[0]);
    child
        .args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .stderr(Stdio::piped());
    let mut child = child.spawn().unwrap();
    let port = wait_listening(child.stderr.take().unwrap());
    let (status, body) = get_config(port);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{body}");
    assert!(dir.join("data").read_dir().unwrap().next().is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Synology

#[test]
fn spk_has_info_privilege_scripts_and_package() {
    let spk = packages().join(format!("footrest-x86_64-{VERSION}.spk"));
    let list = listing(&["-tvf"], &spk);
    assert_all_root_owned(&list);
    for f in [
        "INFO",
        "package.tgz",
        "PACKAGE_ICON.PNG",
        "PACKAGE_ICON_256.PNG",
    ] {
        assert_entry(&list, f, "-rw-r--r--");
    }
    assert_entry(&list, "conf/privilege", "-rw-r--r--");
    let scripts = [
        "preinst",
        "postinst",
        "preuninst",
        "postuninst",
        "preupgrade",
        "postupgrade",
        "start-stop-status",
    ];
    for s in scripts {
        assert_entry(&list, &format!("scripts/{s}"), "-rwxr-xr-x");
    }

    let dir = tmp("spk");
    run(Command::new("tar").arg("-xf").arg(&spk).arg("-C").arg(&dir));
    for s in scripts {
        sh_n(&dir.join("scripts").join(s));
    }
    let info: BTreeMap<String, String> = std::fs::read_to_string(dir.join("INFO"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            assert!(
                v.starts_with('"') && v.ends_with('"'),
                "INFO {k} is not quoted"
            );
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect();
    assert_eq!(info["package"], "footrest");
    assert_eq!(info["version"], format!("{VERSION}-0001"));
    assert!(info["os_min_ver"].starts_with("7."), "{info:?}");
    assert_eq!(info["arch"], "x86_64");
    let md5 = stdout(Command::new("md5sum").arg(dir.join("package.tgz")));
    assert_eq!(info["checksum"], md5.split_whitespace().next().unwrap());

    let privilege: Value =
        serde_json::from_slice(&std::fs::read(dir.join("conf/privilege")).unwrap()).unwrap();
    assert_eq!(privilege["defaults"]["run-as"], "package");
    let resource: Value =
        serde_json::from_slice(&std::fs::read(dir.join("conf/resource")).unwrap()).unwrap();
    assert_eq!(resource["usr-local-linker"]["bin"][0], "bin/footrest");

    for (icon, size) in [("PACKAGE_ICON.PNG", 64u32), ("PACKAGE_ICON_256.PNG", 256)] {
        let png = std::fs::read(dir.join(icon)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), size);
    }

    let pkg = listing(&["-tzvf"], &dir.join("package.tgz"));
    assert_all_root_owned(&pkg);
    assert_entry(&pkg, "bin/footrest", "-rwxr-xr-x");
    let _ = std::fs::remove_dir_all(&dir);
}

/// DSM's part played by hand: unpack package.tgz as the target dir, then start, status, stop.
#[test]
fn spk_start_stop_status_runs_the_daemon() {
    let spk = packages().join(format!("footrest-x86_64-{VERSION}.spk"));
    let dir = tmp("dsm");
    let (target, var) = (dir.join("target"), dir.join("var"));
    std::fs::create_dir_all(&target).unwrap();
    std::fs::create_dir_all(var.join("bin")).unwrap();
    run(Command::new("tar").arg("-xf").arg(&spk).arg("-C").arg(&dir));
    run(Command::new("tar")
        .arg("-xzf")
        .arg(dir.join("package.tgz"))
        .arg("-C")
        .arg(&target));
    // A restic in the var dir, as install-restic leaves it, so the start needs no network.
    let restic = std::env::var("FOOTREST_TEST_RESTIC").unwrap_or_else(|_| "restic".into());
    let restic = if restic.contains('/') {
        PathBuf::from(restic)
    } else {
        PathBuf::from(stdout(Command::new("sh").args(["-c", "command -v restic"])).trim())
    };
    std::os::unix::fs::symlink(&restic, var.join("bin/restic")).unwrap();
    std::fs::write(var.join("footrest.env"), "BACKREST_PORT=127.0.0.1:0\n").unwrap();

    let script = dir.join("scripts/start-stop-status");
    let ctl = |action: &str| {
        Command::new("sh")
            .arg(&script)
            .arg(action)
            .env("SYNOPKG_PKGDEST", &target)
            .env("SYNOPKG_PKGVAR", &var)
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(ctl("status"), Some(3), "not running before start");
    assert_eq!(ctl("start"), Some(0));
    let log = var.join("footrest.log");
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(p) = port_from_log(&text) {
            break p;
        }
        assert!(Instant::now() < deadline, "no listening line in: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(ctl("status"), Some(0));
    let (status, body) = get_config(port);
    assert_eq!(status, 200, "{body}");
    assert_eq!(ctl("stop"), Some(0));
    assert_eq!(ctl("status"), Some(3), "stopped");
    assert!(var.join("data").is_dir());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("restic is missing"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Container

#[test]
fn containerfile_runs_the_static_binary_as_non_root() {
    let ctx = packages().join("container");
    assert!(is_executable(&ctx.join("footrest-amd64")));
    let text = std::fs::read_to_string(ctx.join("Containerfile")).unwrap();
    let instr: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    let get = |k: &str| -> Vec<&str> {
        instr
            .iter()
            .filter(|(i, _)| i == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("FROM").len(), 1);
    assert!(
        text.contains("apk add --no-cache restic"),
        "restic comes with it"
    );
    let copy = get("COPY");
    assert!(
        copy.iter()
            .any(|c| c.contains("footrest-${TARGETARCH} /usr/bin/footrest")),
        "{copy:?}"
    );
    let user = get("USER");
    let last_user = user.last().expect("a USER line");
    let uid = last_user.split(':').next().unwrap();
    assert!(
        uid != "0" && uid != "root",
        "runs as root: USER {last_user}"
    );
    let instructions: Vec<&str> = instr.iter().map(|(i, _)| i.as_str()).collect();
    let user_at = instructions.iter().rposition(|i| *i == "USER").unwrap();
    assert!(
        !instructions[user_at..].contains(&"RUN"),
        "nothing runs as root after USER"
    );
    assert_eq!(get("ENTRYPOINT"), [r#"["/usr/bin/footrest"]"#], "exec form");
    assert_eq!(get("EXPOSE"), ["9898"]);
    assert!(text.contains("BACKREST_PORT=0.0.0.0:9898"));
    assert!(text.contains("BACKREST_DATA=/data"));
}

// ---------------------------------------------------------------------------------------------

fn port_from_log(text: &str) -> Option<u16> {
    text.split("listening on http://")
        .nth(1)?
        .split_whitespace()
        .next()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()
}

fn wait_listening(stderr: impl Read + Send + 'static) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let (Some(p), Some(t)) = (port_from_log(&line), tx.as_ref()) {
                let _ = t.send(p);
                tx = None;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the daemon logs its address")
}

fn get_config(port: u16) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = "{}";
    write!(
        s,
        "POST /v1.Backrest/GetConfig HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, raw)
}

//! The private Unix socket between the front door and tiny_http: its path, the paths of
//! replacement servers, and binding it with mode 0600.

use super::*;

/// Where the private Unix socket tiny_http listens on lives: `<data>/http.sock`, or a file in
/// the temp dir when that path is too long for a socket address (with room for the `.<n>` of
/// `generation_path`).
pub fn internal_socket_path(data_dir: &std::path::Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("http.sock");
    if path.as_os_str().len() <= 90 {
        return Ok(path);
    }
    let mut r = [0u8; 8];
    crate::util::random_bytes(&mut r)?;
    let tag = crate::util::hex(&r);
    Ok(std::env::temp_dir().join(format!("footrest-{}-{tag}.sock", std::process::id())))
}

/// The socket of the `n`th tiny_http server on `base`: `base` itself for the first, `base.<n>`
/// for each one started after a failure.
pub fn generation_path(base: &std::path::Path, n: u64) -> PathBuf {
    if n == 0 {
        return base.to_path_buf();
    }
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Removes the sockets of replaced servers a killed daemon left next to `base`.
pub fn remove_stale_generations(base: &std::path::Path) {
    let (Some(dir), Some(name)) = (base.parent(), base.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(name)) else {
            continue;
        };
        if rest
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Binds the private socket (mode 0600), replacing a stale one.
pub fn bind_internal(path: &std::path::Path) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    // Left by a killed daemon or a failed listener (the data dir lock says no other daemon
    // uses it).
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

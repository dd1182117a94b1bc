//! Small helpers used across modules: time, host name.

use std::os::unix::fs::OpenOptionsExt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, by the wall clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON from bytes, checked as UTF-8 first and then read as text: the binary carries serde's
/// text reader only (a byte reader as well would add its own copy of every type's decoder).
pub fn from_json<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, serde_json::Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        <serde_json::Error as serde::de::Error>::custom(format!(
            "not UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    serde_json::from_str(text)
}

/// A decimal number in JSON's syntax (`12`, `-0.5`, `1e-3`), read with serde_json's float
/// parser, which the binary has anyway (`str::parse::<f64>` costs another 1.3 KB).
pub fn parse_f64(s: &str) -> Option<f64> {
    serde_json::from_str::<f64>(s.trim()).ok()
}

/// Fills `buf` from the kernel's random source (keys, salts, tokens).
pub fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// A URL component with its `%XX` escapes decoded; an error names a bad escape or a result that
/// is not UTF-8.
pub fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let bad_escape = b.iter().enumerate().any(|(i, &c)| {
        c == b'%'
            && !b
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if bad_escape {
        return Err("a bad percent escape (not %XX)".to_string());
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "not UTF-8 once decoded".to_string())
}

/// The machine's host name, or "" when it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The name of the user this process runs as (what restic records in a snapshot), or "".
pub fn username() -> String {
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 4096];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: pw, buf and out are valid for the call; getpwuid_r writes the strings into buf.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        )
    };
    if rc != 0 || out.is_null() || pw.pw_name.is_null() {
        return String::new();
    }
    // SAFETY: pw_name points into buf, NUL-terminated by getpwuid_r.
    unsafe { std::ffi::CStr::from_ptr(pw.pw_name) }
        .to_string_lossy()
        .into_owned()
}

/// The largest char boundary of `s` at or below `n`.
pub fn char_floor(s: &str, n: usize) -> usize {
    let mut i = n.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A path as restic records it in a snapshot: absolute (against the current directory) and
/// cleaned lexically (`.`, `..`, repeated and trailing slashes removed), as Go's filepath.Abs.
pub fn absolute_clean(path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        match std::env::current_dir() {
            Ok(d) => format!("{}/{path}", d.display()),
            Err(_) => return path.to_string(),
        }
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Writes `body` to `path` through a temp file in `dir` (mode 0600, fsync, rename, fsync dir);
/// on failure the temp file is removed and `path` is untouched.
pub fn write_atomic(
    dir: &std::path::Path,
    path: &std::path::Path,
    body: &[u8],
) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // An existing temp file keeps its mode through `open`.
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        std::io::Write::write_all(&mut f, body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::absolute_clean;

    #[test]
    fn paths_are_cleaned_as_restic_records_them() {
        assert_eq!(absolute_clean("/tmp/aa/../zz/"), "/tmp/zz");
        assert_eq!(absolute_clean("//a/./b//c"), "/a/b/c");
        assert_eq!(absolute_clean("/../x"), "/x");
        assert_eq!(absolute_clean("/"), "/");
    }
}

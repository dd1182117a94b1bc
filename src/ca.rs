//! The CA certificates HTTPS is checked against (hooks, install-restic): the system's bundle,
//! read when an HTTP client is built, not certificates compiled into the binary (which cost
//! about 0.2 MB, BENCHMARKS.md). Read on the thread that sends; nothing is kept afterwards, so
//! an idle daemon holds no certificates.
//!
//! Where: `SSL_CERT_FILE` if set (as OpenSSL and Go read it), else the first bundle that exists
//! of [`BUNDLES`] (Debian/Ubuntu/Alpine/OpenWrt's `ca-bundle`/Synology, Fedora/RHEL, openSUSE,
//! others), else every `*.crt`/`*.pem` file of `SSL_CERT_DIR` or `/etc/ssl/certs` (OpenWrt's
//! `ca-certificates` package installs one file per certificate). The `bundled-roots` feature
//! adds Mozilla's roots to the binary as the fallback when none of these exist.

use std::fmt;
use std::path::{Path, PathBuf};

/// Bundle files, most common first.
pub const BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The directory of single certificates looked at when no bundle exists.
pub const CERT_DIR: &str = "/etc/ssl/certs";

/// No CA certificate could be found or read.
#[derive(Debug)]
pub struct NoCaCertificates {
    /// Where it looked, in order.
    pub looked_in: Vec<PathBuf>,
}

impl fmt::Display for NoCaCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no CA certificates for https: none in ")?;
        for (i, p) in self.looked_in.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", p.display())?;
        }
        f.write_str(
            " (install the ca-certificates package, on OpenWrt ca-bundle, or set SSL_CERT_FILE)",
        )
    }
}

impl std::error::Error for NoCaCertificates {}

/// PEM certificates of one file, as DER. Unreadable files and non-certificate items give none.
pub fn read_pem(path: &Path) -> Vec<Vec<u8>> {
    let Ok(data) = std::fs::read(path) else {
        return Vec::new();
    };
    pem_certificates(&data)
}

/// The DER bytes of each `CERTIFICATE` block of a PEM text; anything else is skipped.
pub fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut rest = &text[..];
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(b) = rest.find(BEGIN) {
        let body = &rest[b + BEGIN.len()..];
        let Some(e) = body.find(END) else { break };
        let b64: String = body[..e]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        use base64::Engine as _;
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
            out.push(der);
        }
        rest = &body[e + END.len()..];
    }
    out
}

/// The system's CA certificates (DER), from `ssl_cert_file`, `ssl_cert_dir` (the values of
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`, passed in so tests need not set the environment) or the
/// usual places.
pub fn system_roots_from(
    ssl_cert_file: Option<PathBuf>,
    ssl_cert_dir: Option<PathBuf>,
    bundles: &[&str],
    cert_dir: &str,
) -> Result<Vec<Vec<u8>>, NoCaCertificates> {
    let mut looked_in = Vec::new();
    if let Some(file) = ssl_cert_file {
        let certs = read_pem(&file);
        if !certs.is_empty() {
            return Ok(certs);
        }
        // An explicit choice that does not work is an error, not a reason to look elsewhere.
        return Err(NoCaCertificates {
            looked_in: vec![file],
        });
    }
    for b in bundles {
        let certs = read_pem(Path::new(b));
        if !certs.is_empty() {
            return Ok(certs);
        }
        looked_in.push(PathBuf::from(b));
    }
    let dir = ssl_cert_dir.unwrap_or_else(|| PathBuf::from(cert_dir));
    let mut certs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if matches!(p.extension().and_then(|e| e.to_str()), Some("crt" | "pem")) {
                certs.extend(read_pem(&p));
            }
        }
    }
    if certs.is_empty() {
        looked_in.push(dir);
        return Err(NoCaCertificates { looked_in });
    }
    Ok(certs)
}

/// [`system_roots_from`] with the environment's `SSL_CERT_FILE`/`SSL_CERT_DIR`.
pub fn system_roots() -> Result<Vec<Vec<u8>>, NoCaCertificates> {
    let var = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    system_roots_from(var("SSL_CERT_FILE"), var("SSL_CERT_DIR"), BUNDLES, CERT_DIR)
}

/// The TLS settings of an HTTP client: the system's CA certificates when `https` is to be
/// used (an error names where they were looked for), none otherwise (a plain-http client
/// that is redirected to https then fails the certificate check instead of using
/// certificates it was not given).
///
/// With the `bundled-roots` feature, a system without a CA bundle gets Mozilla's roots built into
/// the binary instead of the error.
#[cfg(feature = "tls")]
pub fn tls_config(https: bool) -> Result<ureq::tls::TlsConfig, NoCaCertificates> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots = match https.then(system_roots) {
        None => RootCerts::new_with_certs(&[]),
        Some(Ok(ders)) => {
            let certs: Vec<_> = ders
                .iter()
                .map(|der| Certificate::from_der(der).to_owned())
                .collect();
            RootCerts::new_with_certs(&certs)
        }
        #[cfg(feature = "bundled-roots")]
        Some(Err(e)) => {
            log::debug!("{e}; using the built-in roots");
            RootCerts::WebPki
        }
        #[cfg(not(feature = "bundled-roots"))]
        Some(Err(e)) => return Err(e),
    };
    Ok(TlsConfig::builder().root_certs(roots).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Not a usable certificate: base64 that decodes to DER-looking bytes. Only the PEM framing
    // and the file lookup are under test here; tests/hooks exercise real TLS.
    const PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUJ7f0Xq8xGQe2sJq2a5rDzvYz2HowCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKZm9vdHJlc3QtdDAeFw0yNjExMjcwMDAwMDBaFw0yNjExMjgw
MDAwMDBaMBUxEzARBgNVBAMMCmZvb3RyZXN0LXQwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAT9
-----END CERTIFICATE-----
";

    #[test]
    fn pem_blocks_are_decoded_and_other_blocks_skipped() {
        let text = format!(
            "# comment\n{PEM}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n{PEM}"
        );
        let certs = pem_certificates(text.as_bytes());
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0][0], 0x30, "DER starts with a SEQUENCE");
    }

    #[test]
    fn a_missing_bundle_names_every_place_looked_in() {
        let dir = std::env::temp_dir().join(format!("footrest-ca-none-{}", std::process::id()));
        let bundle = dir.join("bundle.crt");
        let bundle = bundle.to_str().unwrap();
        let err = system_roots_from(None, None, &[bundle], dir.join("certs").to_str().unwrap())
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bundle.crt") && msg.contains("certs"), "{msg}");
        assert!(msg.contains("SSL_CERT_FILE"), "{msg}");
    }

    #[test]
    fn bundle_then_directory_then_explicit_file() {
        let dir = std::env::temp_dir().join(format!("footrest-ca-{}", std::process::id()));
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::write(certs.join("a.crt"), PEM).unwrap();
        std::fs::write(certs.join("b.pem"), PEM).unwrap();
        std::fs::write(certs.join("1234abcd.0"), PEM).unwrap();
        let missing = dir.join("none.crt");
        let missing = missing.to_str().unwrap();
        // No bundle: the directory's .crt and .pem files (not the hash links).
        let got = system_roots_from(None, None, &[missing], certs.to_str().unwrap()).unwrap();
        assert_eq!(got.len(), 2);
        // A bundle wins over the directory.
        let bundle = dir.join("bundle.crt");
        std::fs::write(&bundle, PEM).unwrap();
        let b = bundle.to_str().unwrap();
        let got = system_roots_from(None, None, &[missing, b], certs.to_str().unwrap()).unwrap();
        assert_eq!(got.len(), 1);
        // SSL_CERT_FILE that holds nothing is an error naming it, not a fallback.
        let err = system_roots_from(Some(missing.into()), None, &[b], "/nonexistent").unwrap_err();
        assert_eq!(err.looked_in, vec![PathBuf::from(missing)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

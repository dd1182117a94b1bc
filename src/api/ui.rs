//! The web UI: the files of `src/ui/`, gzip-compressed into the binary by build.rs and served
//! as they are, with an ETag so a browser revalidates with one small request. `/` is the UI's
//! index.html; every other file is under `/ui/`. The UI uses only the public API: it is a client
//! like curl, and these files are open without credentials (they hold no data).

use super::{ApiError, header, respond, respond_error};
use std::io::{self, Read};
use tiny_http::{Method, Request, Response};

/// One file of the UI as build.rs compiled it.
pub struct Asset<'a> {
    /// URL path, `/ui/<file under src/ui>`.
    pub path: &'a str,
    pub mime: &'a str,
    /// Quoted, from the uncompressed bytes.
    pub etag: &'a str,
    /// Uncompressed size.
    pub len: usize,
    /// The file, gzip-compressed.
    pub gz: &'a [u8],
}

pub static ASSETS: &[Asset<'static>] = include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// Where `/` leads.
const INDEX: &str = "/ui/index.html";

/// Same-origin only: no inline script or style, no framing; `data:` images for small icons.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The asset a path names, if any.
pub fn find(path: &str) -> Option<&'static Asset<'static>> {
    let path = if path == "/" { INDEX } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether the path is the UI's (open without credentials).
pub fn is_ui_path(path: &str) -> bool {
    path == "/" || path.starts_with("/ui/")
}

/// Whether an Accept-Encoding value admits gzip (`gzip`, `x-gzip` or `*`, without `q=0`).
pub(super) fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = it.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
        });
        (coding == "gzip" || coding == "x-gzip" || coding == "*") && !refused
    })
}

pub(super) fn request_header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_string())
}

/// Debug builds only: with `FOOTREST_UI_DIR` set (to a checkout's `src/ui`), the files are read
/// from there on every request, so the UI can be edited without rebuilding (a new file still
/// needs a build, which gives it its MIME type). Release builds always serve the compiled-in
/// files.
#[cfg(debug_assertions)]
struct DevFile {
    mime: &'static str,
    etag: String,
    len: usize,
    gz: Vec<u8>,
}

#[cfg(debug_assertions)]
impl DevFile {
    fn read(path: &str) -> Option<DevFile> {
        let dir = crate::settings::get().ui_dir.as_ref()?;
        let compiled = find(path)?;
        let rel = compiled.path.strip_prefix("/ui/")?;
        let raw = std::fs::read(std::path::Path::new(&dir).join(rel)).ok()?;
        Some(DevFile {
            mime: compiled.mime,
            etag: format!("\"dev-{}-{}\"", raw.len(), crate::util::now_ms()),
            len: raw.len(),
            gz: super::connect::gzip(&raw).ok()?,
        })
    }

    fn asset(&self) -> Asset<'_> {
        Asset {
            path: "",
            mime: self.mime,
            etag: &self.etag,
            len: self.len,
            gz: &self.gz,
        }
    }
}

/// Answers a GET or HEAD for a UI path.
pub fn serve(req: Request, path: &str) {
    #[cfg(debug_assertions)]
    if let Some(file) = DevFile::read(path) {
        return serve_asset(req, &file.asset());
    }
    let Some(asset) = find(path) else {
        let e = ApiError::not_found(format!("no such path: {path}"));
        respond_error(req, 404, &e);
        return;
    };
    serve_asset(req, asset);
}

fn serve_asset(req: Request, asset: &Asset) {
    if !matches!(req.method(), Method::Get | Method::Head) {
        let e = ApiError::new(super::Code::Unknown, "the UI's files are read with GET");
        let resp = super::json_response(405, e.body().into_bytes())
            .with_header(header("Allow", "GET, HEAD"));
        respond(req, resp);
        return;
    }
    let common = [
        ("ETag", asset.etag),
        ("Cache-Control", "no-cache"),
        ("Vary", "Accept-Encoding"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy", CSP),
    ];
    let fresh = request_header(&req, "If-None-Match").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim() == asset.etag || t.trim() == "*")
    });
    let (status, body, gzip) = if fresh {
        (304, Vec::new(), false)
    } else if request_header(&req, "Accept-Encoding").is_some_and(|v| accepts_gzip(&v)) {
        (200, asset.gz.to_vec(), true)
    } else {
        match gunzip(asset) {
            Ok(raw) => (200, raw, false),
            Err(e) => {
                log::error!("ui: {}: {e}", asset.path);
                let e = ApiError::new(super::Code::Internal, "the UI file could not be read");
                respond_error(req, 500, &e);
                return;
            }
        }
    };
    let mut resp = Response::from_data(body).with_status_code(status);
    for (name, value) in common {
        resp = resp.with_header(header(name, value));
    }
    if status == 200 {
        resp = resp.with_header(header("Content-Type", asset.mime));
    }
    if gzip {
        resp = resp.with_header(header("Content-Encoding", "gzip"));
    }
    respond(req, resp);
}

fn gunzip(asset: &Asset) -> io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(asset.len);
    flate2::read::GzDecoder::new(asset.gz).read_to_end(&mut raw)?;
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_read_with_q_values() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("deflate, br"));
    }

    /// BENCHMARKS.md states the budget: under 150 KB before compression.
    #[test]
    fn the_ui_stays_under_its_size_budget() {
        let raw: usize = ASSETS.iter().map(|a| a.len).sum();
        let gz: usize = ASSETS.iter().map(|a| a.gz.len()).sum();
        assert!(raw < 150_000, "the UI is {raw} bytes before compression");
        assert!(gz < raw, "{gz} compressed vs {raw}");
    }

    #[test]
    fn every_asset_decompresses_to_its_recorded_length() {
        assert!(find("/").is_some(), "index.html is compiled in");
        for a in ASSETS {
            assert_eq!(gunzip(a).unwrap().len(), a.len, "{}", a.path);
            assert!(a.path.starts_with("/ui/"));
        }
    }
}

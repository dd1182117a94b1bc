//! Compiles the web UI (`src/ui/`) into the binary: every file is gzip-compressed here, once, and
//! `src/api/ui.rs` serves the compressed bytes (decompressing only for the rare client that does
//! not accept gzip). The generated table gives each file its URL path, MIME type, ETag and sizes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("src/ui");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=src/ui");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut table = String::from("&[\n");
    for (n, file) in files.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", file.display());
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .expect("UTF-8 UI file names");
        let raw = std::fs::read(file).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&raw).unwrap();
        let gz = gz.finish().unwrap();
        let name = format!("ui{n}.gz");
        std::fs::write(out.join(&name), &gz).unwrap();
        let etag = format!("\"{:016x}\"", fnv1a(&raw));
        writeln!(
            table,
            "    Asset {{ path: \"/ui/{rel}\", mime: \"{}\", etag: {etag:?}, len: {}, gz: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}\")) }},",
            mime(rel),
            raw.len()
        )
        .unwrap();
    }
    table.push(']');
    std::fs::write(out.join("ui_assets.rs"), table).unwrap();
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if !path.file_name().unwrap().to_string_lossy().starts_with('.') {
            out.push(path);
        }
    }
}

fn mime(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        other => panic!("src/ui: no MIME type known for .{other} files"),
    }
}

/// 64-bit FNV-1a: enough to tell two versions of a file apart for an ETag.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

//! A minimal tar writer (POSIX ustar, with pax extended headers for long names, long link
//! targets and files of 8 GiB or more): a directory tree streamed into any `Write`, for the
//! tar.gz download of a restore target. Nothing is staged on disk; memory is one copy buffer.
//!
//! Regular files, directories and symlinks are written; other file types (fifos, sockets,
//! devices) are skipped, as they cannot be restored from a download anyway. Symlinks are
//! stored as links and never followed. Called from a download's stream thread.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

const BLOCK: usize = 512;

/// Writes `root` (a directory, a file or a symlink) as `name` and, for a directory, everything
/// below it, then the end-of-archive marker. Entries of a directory are written sorted by name.
pub fn write_tree(root: &Path, name: &str, out: &mut dyn Write) -> io::Result<()> {
    let mut stack = vec![(root.to_path_buf(), name.trim_end_matches('/').to_string())];
    while let Some((path, name)) = stack.pop() {
        let meta = fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            write_header(out, &format!("{name}/"), &meta, b'5', 0, None)?;
            let mut children: Vec<_> = fs::read_dir(&path)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect();
            children.sort();
            // Reversed onto the stack so that they come off it in order.
            for child in children.into_iter().rev() {
                let child_name = String::from_utf8_lossy(child.as_bytes()).into_owned();
                let entry = if name.is_empty() {
                    child_name
                } else {
                    format!("{name}/{child_name}")
                };
                stack.push((path.join(&child), entry));
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&path)?;
            let target = String::from_utf8_lossy(target.as_os_str().as_bytes()).into_owned();
            write_header(out, &name, &meta, b'2', 0, Some(&target))?;
        } else if ft.is_file() {
            write_file(out, &path, &name, &meta)?;
        } else {
            log::debug!("tar: skipping {} (not a file, dir or link)", path.display());
        }
    }
    out.write_all(&[0u8; 2 * BLOCK])
}

/// A regular file: header, then exactly the size the header promised (a file that shrank
/// while being read is padded with zeros, one that grew is cut), then padding to a block.
fn write_file(out: &mut dyn Write, path: &Path, name: &str, meta: &fs::Metadata) -> io::Result<()> {
    let size = meta.len();
    // Not followed if it became a symlink since it was listed.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    write_header(out, name, meta, b'0', size, None)?;
    let copied = io::copy(&mut file.take(size), out)?;
    let mut left = size - copied;
    let zeros = [0u8; BLOCK];
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        out.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    let pad = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
    out.write_all(&zeros[..pad])
}

/// The longest name, link target and size a ustar header holds itself.
const NAME_MAX: usize = 100;
const SIZE_MAX: u64 = 0o77777777777;

fn write_header(
    out: &mut dyn Write,
    name: &str,
    meta: &fs::Metadata,
    kind: u8,
    size: u64,
    link: Option<&str>,
) -> io::Result<()> {
    let mut pax = Vec::new();
    if name.len() > NAME_MAX {
        pax_record(&mut pax, "path", name);
    }
    if let Some(l) = link
        && l.len() > NAME_MAX
    {
        pax_record(&mut pax, "linkpath", l);
    }
    if size > SIZE_MAX {
        pax_record(&mut pax, "size", &size.to_string());
    }
    if !pax.is_empty() {
        let h = Head {
            name: "././@PaxHeader",
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: pax.len() as u64,
            kind: b'x',
            link: "",
        };
        out.write_all(&h.block())?;
        out.write_all(&pax)?;
        let pad = (BLOCK - pax.len() % BLOCK) % BLOCK;
        out.write_all(&[0u8; BLOCK][..pad])?;
    }
    let h = Head {
        name: cut(name, NAME_MAX),
        mode: meta.mode() & 0o7777,
        uid: meta.uid() as u64,
        gid: meta.gid() as u64,
        mtime: meta.mtime().max(0) as u64,
        size: if size > SIZE_MAX { 0 } else { size },
        kind,
        link: cut(link.unwrap_or(""), NAME_MAX),
    };
    out.write_all(&h.block())
}

/// A prefix of at most `max` bytes on a char boundary (the full value is in the pax header).
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One ustar header's fields (names and link already cut to fit).
struct Head<'a> {
    name: &'a str,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    size: u64,
    kind: u8,
    link: &'a str,
}

impl Head<'_> {
    /// The header block, checksum included.
    fn block(&self) -> [u8; BLOCK] {
        let Head {
            name,
            mode,
            uid,
            gid,
            mtime,
            size,
            kind,
            link,
        } = *self;
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], u64::from(mode));
        octal(&mut h[108..116], uid.min(0o7777777));
        octal(&mut h[116..124], gid.min(0o7777777));
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], mtime.min(SIZE_MAX));
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        checksum(&mut h);
        h
    }
}

/// A zero-padded octal number filling the field but its last byte (NUL).
fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    let s = &s.as_bytes()[s.len().saturating_sub(digits)..];
    field[..digits].copy_from_slice(s);
    field[digits] = 0;
}

fn checksum(h: &mut [u8; BLOCK]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

/// One pax record: `<len> <key>=<value>\n`, where len counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &str) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_their_own_length() {
        let mut v = Vec::new();
        pax_record(&mut v, "path", "abc");
        assert_eq!(v, b"12 path=abc\n");
        let mut v = Vec::new();
        let long = "x".repeat(95);
        pax_record(&mut v, "path", &long);
        assert_eq!(v.len(), 105);
        assert!(v.starts_with(b"105 path="));
    }

    #[test]
    fn a_tree_round_trips_through_the_system_tar() {
        let dir = std::env::temp_dir().join(format!("footrest-tar-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let src = dir.join("src");
        let deep = src.join("a dir").join("ü").join("x".repeat(120));
        fs::create_dir_all(&deep).unwrap();
        fs::write(deep.join("f.txt"), b"deep\n").unwrap();
        fs::write(src.join("big.bin"), vec![7u8; 70_000]).unwrap();
        fs::write(src.join("empty"), b"").unwrap();
        std::os::unix::fs::symlink("a dir", src.join("link")).unwrap();
        let mut out = Vec::new();
        write_tree(&src, "restored", &mut out).unwrap();
        assert_eq!(out.len() % BLOCK, 0);
        let archive = dir.join("t.tar");
        fs::write(&archive, &out).unwrap();
        let dest = dir.join("dest");
        fs::create_dir_all(&dest).unwrap();
        let st = std::process::Command::new("tar")
            .arg("xf")
            .arg(&archive)
            .arg("-C")
            .arg(&dest)
            .status();
        let Ok(st) = st else { return }; // no tar on this machine
        assert!(st.success());
        let r = dest.join("restored");
        assert_eq!(
            fs::read(r.join("a dir/ü").join("x".repeat(120)).join("f.txt")).unwrap(),
            b"deep\n"
        );
        assert_eq!(fs::read(r.join("big.bin")).unwrap(), vec![7u8; 70_000]);
        assert_eq!(fs::read(r.join("empty")).unwrap(), b"");
        assert_eq!(fs::read_link(r.join("link")).unwrap(), Path::new("a dir"));
        let _ = fs::remove_dir_all(dir);
    }
}

//! Command hooks: the rendered script goes to the stdin of `sh`, or of the interpreter its `#!`
//! first line names (split like a shell would, so `#!/usr/bin/env python3` works). The script
//! runs in its own process group, with stdout and stderr in the hook's log; past the timeout, or
//! when the task is cancelled, the whole group gets SIGTERM, then SIGKILL two seconds later.
//!
//! Never through `sh -c`: the script is data on stdin, not an argument.

use super::HookError;
use crate::cancel::CancelHandle;
use crate::words::split_words;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a stopped script's group gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long output is still collected after the script exits (from children it left running).
const DRAIN: Duration = Duration::from_millis(500);
/// Output lines longer than this are split.
const LINE_MAX: u64 = 4096;

/// The interpreter and the script it reads: a `#!` first line picks the interpreter.
pub fn interpreter(script: &str) -> Result<(Vec<String>, &str), HookError> {
    let Some(rest) = script.strip_prefix("#!") else {
        return Ok((vec!["sh".to_string()], script));
    };
    let (line, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let argv =
        split_words(line.trim()).map_err(|e| HookError::Command(format!("the #! line: {e}")))?;
    if argv.is_empty() {
        return Err(HookError::Command(
            "the #! line names no interpreter".into(),
        ));
    }
    Ok((argv, body))
}

/// Runs `script`, writing what it prints to `log`. Ok when it exits with status 0.
pub fn run(
    script: &str,
    timeout: Duration,
    log: &mut dyn Write,
    cancel: Option<&CancelHandle>,
) -> Result<(), HookError> {
    let (argv, body) = interpreter(script)?;
    let _ = writeln!(log, "[script] {}", argv.join(" "));
    for line in body.lines() {
        let _ = writeln!(log, "[script] {line}");
    }
    let (reader, writer) =
        std::io::pipe().map_err(|e| HookError::Command(format!("creating a pipe: {e}")))?;
    let writer2 = writer
        .try_clone()
        .map_err(|e| HookError::Command(format!("creating a pipe: {e}")))?;
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(writer2)
        .process_group(0)
        .spawn()
        .map_err(|e| HookError::Command(format!("could not run {}: {e}", argv[0])))?;
    let pgid = child.id() as i32;

    // Feeding stdin from its own thread: a script that never reads it must not block us.
    if let Some(mut stdin) = child.stdin.take() {
        let body = body.as_bytes().to_vec();
        let _ = std::thread::Builder::new()
            .name("hook-stdin".into())
            .spawn(move || {
                let _ = stdin.write_all(&body);
            });
    }
    let (tx, rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    let _ = std::thread::Builder::new()
        .name("hook-output".into())
        .spawn(move || {
            let mut r = BufReader::new(reader);
            loop {
                let mut line = Vec::new();
                match r.by_ref().take(LINE_MAX).read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                }
            }
        });

    let started = Instant::now();
    let mut status: Option<ExitStatus> = None;
    let mut stopped: Option<String> = None;
    let mut exited_at: Option<Instant> = None;
    let mut term_sent: Option<Instant> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                let text = String::from_utf8_lossy(&line);
                let _ = writeln!(log, "[output] {}", text.trim_end_matches(['\n', '\r']));
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) if status.is_some() => break,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                // The script closed its output but runs on.
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        if status.is_none() {
            match child.try_wait() {
                Ok(Some(s)) => {
                    status = Some(s);
                    exited_at = Some(Instant::now());
                }
                Ok(None) => {}
                Err(e) => return Err(HookError::Command(format!("waiting for the script: {e}"))),
            }
        }
        if let Some(at) = exited_at {
            if at.elapsed() >= DRAIN {
                break;
            }
            continue;
        }
        if stopped.is_none() {
            if started.elapsed() >= timeout {
                stopped = Some(format!(
                    "timed out after {}",
                    crate::template::backrest::go_duration(timeout.as_nanos() as i64)
                ));
            } else if cancel.is_some_and(|c| c.is_cancelled()) {
                stopped = Some("stopped: the task was cancelled".into());
            }
            if stopped.is_some() {
                // SAFETY: kill(2) on the process group this function created.
                unsafe { libc::kill(-pgid, libc::SIGTERM) };
                term_sent = Some(Instant::now());
            }
        } else if term_sent.is_some_and(|t| t.elapsed() >= KILL_GRACE) {
            // SAFETY: as above; the child has not been reaped, so the group is still ours.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            term_sent = None;
        }
    }
    if stopped.is_some() {
        // Whatever the script left behind goes too.
        // SAFETY: as above; the group id is not reused while the leader is unreaped.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let status = match status {
        Some(s) => s,
        None => child
            .wait()
            .map_err(|e| HookError::Command(format!("waiting for the script: {e}")))?,
    };
    if let Some(why) = stopped {
        let _ = writeln!(log, "{why}");
        return Err(HookError::Command(why));
    }
    match (status.code(), status.signal()) {
        (Some(0), _) => {
            let _ = writeln!(log, "exited with status 0");
            Ok(())
        }
        (Some(code), _) => Err(HookError::Command(format!("exited with status {code}"))),
        (None, Some(sig)) => Err(HookError::Command(format!("killed by signal {sig}"))),
        (None, None) => Err(HookError::Command("ended without a status".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_script(script: &str, timeout: Duration) -> (Result<(), HookError>, String) {
        let mut log = Vec::new();
        let r = run(script, timeout, &mut log, None);
        (r, String::from_utf8(log).unwrap())
    }

    #[test]
    fn the_script_reads_from_stdin_and_its_output_is_logged() {
        let (r, log) = run_script("echo out\necho err >&2\nexit 0\n", Duration::from_secs(10));
        assert!(r.is_ok(), "{r:?}");
        assert!(log.contains("[script] sh\n[script] echo out\n"), "{log}");
        assert!(
            log.contains("[output] out\n") && log.contains("[output] err\n"),
            "{log}"
        );
    }

    #[test]
    fn a_shebang_picks_the_interpreter() {
        assert_eq!(
            interpreter("#!/usr/bin/env bash -e\necho hi").unwrap(),
            (
                vec!["/usr/bin/env".to_string(), "bash".into(), "-e".into()],
                "echo hi"
            )
        );
        let (r, log) = run_script("#!/bin/sh -u\necho \"$0 ok\"", Duration::from_secs(10));
        assert!(r.is_ok(), "{r:?} {log}");
        assert!(
            log.contains("[output] /bin/sh ok") || log.contains("[output] sh ok"),
            "{log}"
        );
        assert!(interpreter("#!\necho").is_err());
    }

    #[test]
    fn exit_status_is_the_error() {
        let (r, log) = run_script("echo bad; exit 3", Duration::from_secs(10));
        assert_eq!(r.unwrap_err().to_string(), "exited with status 3");
        assert!(log.contains("[output] bad"), "{log}");
        let (r, _) = run_script("kill -9 $$", Duration::from_secs(10));
        assert_eq!(r.unwrap_err().to_string(), "killed by signal 9");
        let (r, _) = run_script("#!/nonexistent/shell\n", Duration::from_secs(10));
        assert!(
            r.unwrap_err()
                .to_string()
                .starts_with("could not run /nonexistent/shell")
        );
    }

    #[test]
    fn a_script_past_its_timeout_is_stopped_with_its_children() {
        let marker =
            std::env::temp_dir().join(format!("footrest-hook-timeout-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let script = format!("(sleep 3; touch {}) &\nsleep 30\n", marker.display());
        let started = Instant::now();
        let (r, log) = run_script(&script, Duration::from_millis(300));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(r.unwrap_err().to_string(), "timed out after 300ms");
        assert!(log.ends_with("timed out after 300ms\n"), "{log}");
        std::thread::sleep(Duration::from_millis(3500));
        assert!(!marker.exists(), "the background child was killed too");
    }

    #[test]
    fn a_cancelled_task_stops_its_hook() {
        let cancel = CancelHandle::new();
        cancel.cancel();
        let mut log = Vec::new();
        let started = Instant::now();
        let r = run("sleep 30", Duration::from_secs(60), &mut log, Some(&cancel));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            r.unwrap_err().to_string(),
            "stopped: the task was cancelled"
        );
    }

    #[test]
    fn background_children_holding_the_output_do_not_block() {
        let started = Instant::now();
        let (r, _) = run_script("sleep 5 &\necho done", Duration::from_secs(30));
        assert!(r.is_ok());
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}

//! The browser harness itself (tests/ui/lib.mjs) against pages its scenario serves: errors in
//! a page are caught unless allowed, and screenshots and failure dumps are written.

use crate::scenario::{artifacts_dir, run_scenario_without_daemon};

#[test]
fn browser_harness_reports_page_errors_and_saves_screenshots() {
    let out = run_scenario_without_daemon("harness", &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("scenario passed"));
    let dir = artifacts_dir("harness");
    let png = std::fs::read(dir.join("phone-clean.png")).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"));
    let dumps: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("failed-"))
        .collect();
    assert!(dumps.iter().any(|f| f.ends_with(".png")), "{dumps:?}");
    assert!(dumps.iter().any(|f| f.ends_with(".html")), "{dumps:?}");
}

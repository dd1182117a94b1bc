//! The UI loads and is usable at phone and desktop widths, in light and dark.

use crate::common::Daemon;
use crate::scenario::{artifacts_dir, run_scenario};

#[test]
fn ui_loads_without_console_errors_at_phone_and_desktop_widths() {
    let d = Daemon::start();
    run_scenario("smoke", &d, &[]);
    for preset in ["phone", "desktop"] {
        for scheme in ["light", "dark"] {
            let shot = format!("{preset}-{scheme}-setup.png");
            let png = std::fs::read(artifacts_dir("smoke").join(&shot)).expect("a screenshot");
            assert!(png.starts_with(b"\x89PNG"), "{shot} is a PNG");
        }
    }
}

//! footrest's browser tests: the real daemon, driven through its web UI by Chromium
//! (playwright-core under Node.js). Each test starts a daemon and runs one scenario,
//! `tests/ui/scenarios/<name>.mjs`; screenshots land in `target/ui-artifacts/<name>/`.
//! `bash tests/run.sh --deps-only` installs Chromium, Node.js and playwright-core.

mod a11y;
mod auth;
mod backup;
#[path = "../integration/common.rs"]
mod common;
mod harness;
mod plan_edit;
mod scenario;
mod setup;
mod smoke;

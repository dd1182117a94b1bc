//! footrest's integration tests: the real daemon process, real restic, real HTTP.
//! The restic binary comes from FOOTREST_TEST_RESTIC (tests/run.sh runs 0.14 and 0.18).

mod api;
mod auth;
mod backup;
mod browse;
mod common;
mod config;
mod footrest_rpc;
mod hooks;
mod hostile;
mod monitor;
mod mqtt;
mod schedule;
mod secrets;
mod streams;
mod ui_files;

//! footrest: schedules and runs restic backups, keeps their history, and speaks Backrest's HTTP API.
//!
//! The binary (`main.rs`) only parses arguments and calls into these modules; see docs/ARCHITECTURE.md for
//! the threads and how they talk.

pub mod api;
pub mod apikeys;
pub mod auth;
pub mod ca;
pub mod cancel;
pub mod children;
pub mod config;
pub mod daemon;
pub mod dashboard;
pub mod hooks;
pub mod install_restic;
pub mod logger;
pub mod logstore;
pub mod model;
pub mod monitor;
pub mod mqtt;
pub mod oplog;
pub mod orchestrator;
pub mod proto;
pub mod restic;
pub mod schedule;
pub mod settings;
pub mod tar;
pub mod template;
pub mod token;
pub mod util;
pub mod words;

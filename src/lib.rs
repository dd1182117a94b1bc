//! footrest: schedules and runs restic backups, keeps their history, and speaks Backrest's HTTP API.

pub mod template;

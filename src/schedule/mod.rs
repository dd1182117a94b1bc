//! Schedules: when a plan's backup or a repo's prune, check or forget runs next.
//!
//! Pure: callers inject the time; see [`cron`].

pub mod cron;

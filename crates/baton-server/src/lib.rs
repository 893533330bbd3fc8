//! `baton serve`: the REST API, live events, webhooks, schedules and commit triggers.

pub mod hooks;

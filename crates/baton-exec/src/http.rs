//! The one HTTP client of a process: `http:` steps, webhook deliveries and the monitor's `http`
//! checks share it (one connection pool, one TLS setup).
//!
//! It is built on first use, not when an engine or a worker is composed: loading the system's
//! certificates costs more than the rest of a `baton run`'s start-up, and most runs never make
//! a request.

use std::sync::OnceLock;

/// The process's client (a cheap clone of one shared pool).
pub fn client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // reqwest is built without a default TLS provider so that one (ring) is chosen
            // once, here.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("the HTTP client builds with static settings")
        })
        .clone()
}

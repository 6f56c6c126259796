//! symship-testserver: a faithful local PostHog error-tracking API over a real S3 server.
//!
//! It speaks the protocol of `shared/spec/posthog-protocol.md` §2-§4 and §11: every symbol set
//! and release route under `/api/projects/{id}/` and `/api/environments/{id}/`, the server's
//! rules and error codes, `Bearer phx_...` keys with scopes, and presigned SigV4 uploads that a
//! real S3 implementation (s3s-fs 0.17.0, a child process) verifies. Clients talk to S3 through
//! an S3 front (a recording, fault-injecting reverse proxy). Finished uploads are checked with
//! the `posthog-symbol-data` crate and violations are recorded.
//!
//! ```no_run
//! let server = symship_testserver::TestServer::start(Default::default()).unwrap();
//! std::env::set_var("POSTHOG_CLI_HOST", server.base_url());
//! // ... run a client ...
//! assert!(server.violations().is_empty());
//! ```
//!
//! Code layout, to hold against the spec: `api` (routing, auth, views; §1-§2, §4, §11),
//! `logic` (the rules of §3 and §4, the container check of §6), `storage` (S3: signing,
//! the s3s-fs child, the front; §2.4), `faults`, `state` (models, persistence), `admin`.
#![allow(
    clippy::disallowed_methods,
    reason = "test infrastructure: the server writes its own state, never a user's build"
)]

mod admin;
mod api;
mod errors;
mod faults;
mod http;
mod load;
mod logic;
mod record;
mod server;
mod state;
mod storage;

use std::path::PathBuf;

pub use faults::{check_route, known_routes, FaultKind, FaultRule, HOSTILE_CODE, HOSTILE_DETAIL};
pub use load::{Arrival, LoadStats, Rate, Throttle};
pub use record::{RecordedRequest, Violation};
pub use server::{start_async, TestServer};
pub use state::{ReleaseState, StoredEvent, SymbolSetState};
pub use storage::s3fs::default_s3fs_path;
pub use time::OffsetDateTime;

/// Server behaviours that real PostHog deployments differ in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mode {
    /// A server from before `bulk_check_upload` (404) and presigned PUT (never offered, and
    /// `content_length` is ignored).
    pub old_server: bool,
    /// Presigned URLs point at an "accelerated" S3 front; `fallback_presigned_url` and
    /// `fallback_presigned_put_url` point at the standard one.
    pub transfer_acceleration: bool,
    /// `OBJECT_STORAGE_ENABLED=false`: uploads fail with `object_storage_required`.
    pub object_storage_disabled: bool,
    /// Upload URLs name this `host:port` instead of the S3 front, as a self-hosted server whose
    /// object storage endpoint is an internal name does (`objectstorage.invalid:19000` never
    /// resolves: a client's attempts there never reach anything).
    pub public_storage_host: Option<String>,
}

/// How to start a [`TestServer`].
#[derive(Debug, Clone)]
pub struct Config {
    /// API port; 0 picks a free one.
    pub port: u16,
    /// Where state (`state.json`) and S3 data (`s3/`) live and survive a restart; `None` uses
    /// a temporary directory removed on stop.
    pub data_dir: Option<PathBuf>,
    /// The s3s-fs binary; `None` uses [`default_s3fs_path`].
    pub s3fs: Option<PathBuf>,
    pub mode: Mode,
    pub faults: Vec<FaultRule>,
    /// PostHog's per-key throttle of the symbol-set endpoints (429 with `Retry-After`), off when
    /// `None`; [`Throttle::posthog`] has the spec's rates (§2.6).
    pub throttle: Option<Throttle>,
    /// Seed of the fault generator and of the generated API keys.
    pub seed: u64,
    /// The one project (team) this server hosts.
    pub project_id: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: 0,
            data_dir: None,
            s3fs: None,
            mode: Mode::default(),
            faults: Vec::new(),
            throttle: None,
            seed: 0,
            project_id: 1,
        }
    }
}

/// Why the test server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "s3s-fs not found at {}: run scripts/install-tools s3s-fs (or set SYMSHIP_S3FS / pass --s3fs PATH)",
        path.display()
    )]
    S3fsMissing { path: PathBuf },
    #[error("could not run s3s-fs at {}: {source}", path.display())]
    S3fsSpawn { path: PathBuf, source: std::io::Error },
    #[error("s3s-fs at {} did not start: {detail}", path.display())]
    S3fsNotReady { path: PathBuf, detail: String },
    #[error("could not listen on 127.0.0.1:{port}: {source} (pick another --port or 0)")]
    Bind { port: u16, source: std::io::Error },
    #[error("data directory {}: {source}", path.display())]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("state file {}: {detail} (delete it to start afresh)", path.display())]
    State { path: PathBuf, detail: String },
    /// A fault rule of [`Config::faults`] names a route no request has ([`check_route`]'s text).
    #[error("--fault {rule}: {detail}")]
    Fault { rule: String, detail: String },
    #[error("could not start the server's runtime: {0}")]
    Runtime(std::io::Error),
}

//! symship-api: a careful, typed client of the PostHog error-tracking API.
//!
//! - [`config`]: credentials and host resolved as posthog-cli does (spec §1), with the source
//!   of every setting; network settings (CA bundles, proxies, timeouts).
//! - [`Client`]: one connection pool, `Authorization` only on API requests, retries of
//!   transient failures ([`retry`]), a client-side rate limit, typed calls ([`calls`]).
//! - [`ApiError`]: status, PostHog `code`/`detail`, S3 error codes, never a token.

pub mod calls;
pub mod client;
pub mod config;
pub mod env;
pub mod error;
pub mod events;
pub mod models;
pub mod retry;
pub mod token;
pub mod urls;

pub use client::{
    build_http_client, check_storage_response, read_body, read_prefix, storage_transport_error, BodyError,
    Client, RateLimiter, MAX_API_BODY, MAX_ERROR_BODY,
};
pub use config::{
    Config, ConfigError, ConfigRequest, Credentials, Deadlines, NetworkConfig, Source, Sourced,
};
pub use env::{Env, MapEnv, ProcessEnv};
pub use error::{ApiError, Deadline, HttpFailure, Service, TransportKind};
pub use models::*;
pub use retry::{retry, RetryEvent, RetryObserver, RetryPolicy, Retryable, TracingRetryObserver};
pub use token::ApiToken;

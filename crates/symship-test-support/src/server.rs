//! The test server (`symship-testserver` over s3s-fs, started in this process) and what it
//! recorded.

use std::collections::BTreeMap;

use symship_testserver::{Config, RecordedRequest, TestServer};

/// Starts a test server with `cfg`; panics naming the cause and the fix if s3s-fs is missing.
pub fn start(cfg: Config) -> TestServer {
    match TestServer::start(cfg) {
        Ok(s) => s,
        Err(e) => panic!("symship-testserver did not start ({e}); run scripts/install-tools s3s-fs"),
    }
}

/// [`start`] with the default configuration.
pub fn server() -> TestServer {
    start(Config::default())
}

/// Requests the server recorded for `route` (its route names: `bulk_start_upload`, `s3_put`, ...).
pub fn requests(server: &TestServer, route: &str) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.route == route)
        .collect()
}

/// How many requests the server recorded for `route`.
pub fn count_route(server: &TestServer, route: &str) -> usize {
    server.requests().iter().filter(|r| r.route == route).count()
}

/// Requests per route (API and S3 fronts).
pub fn route_counts(reqs: &[RecordedRequest]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in reqs {
        *m.entry(r.route.clone()).or_default() += 1;
    }
    m
}

/// Whether `r` is an object transfer (a PUT or POST on one of the S3 fronts).
pub fn is_transfer(r: &RecordedRequest) -> bool {
    r.server.starts_with("s3") && matches!(r.method.as_str(), "PUT" | "POST")
}

/// [`start`] inside a tokio runtime (the server runs on it); for `#[tokio::test]`s.
pub async fn start_async(cfg: Config) -> TestServer {
    match symship_testserver::start_async(cfg).await {
        Ok(s) => s,
        Err(e) => panic!("symship-testserver did not start ({e}); run scripts/install-tools s3s-fs"),
    }
}

/// [`start_async`] with the default configuration.
pub async fn server_async() -> TestServer {
    start_async(Config::default()).await
}

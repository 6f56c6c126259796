//! Loopback helpers for the integration tests: the test server (symship-test-support's), an HTTP proxy (absolute-form
//! forwarding and CONNECT tunnels), a reverse proxy that serves the API under a path prefix,
//! and a TLS endpoint with a generated CA in front of the test server.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes_compat::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use symship_api::env::{self, MapEnv};
use symship_api::{Client, Config, ConfigRequest, RetryPolicy};
use symship_testserver::TestServer;
use tokio::net::{TcpListener, TcpStream};

pub mod bytes_compat {
    pub use hyper::body::Bytes;
}

pub use symship_test_support::server_async as server;

/// An environment pointing at the server with its full-scope key.
pub fn env_for(server: &TestServer) -> MapEnv {
    MapEnv::new()
        .with(env::API_KEY, &server.api_key())
        .with(env::PROJECT_ID, &server.project_id().to_string())
        .with(env::HOST, &server.base_url())
}

/// Fast retries so tests do not sleep for long.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        max_total: Duration::from_secs(20),
        max_retry_after: Duration::from_secs(5),
        max_throttled: Duration::from_secs(20),
    }
}

pub fn client(req: &ConfigRequest, env: &MapEnv) -> Client {
    let mut config = Config::resolve(req, env).unwrap_or_else(|e| panic!("config: {e}"));
    config.network.retry = fast_retries();
    config.network.connect_timeout = Duration::from_secs(5);
    config.network.read_timeout = Duration::from_secs(10);
    Client::new(&config).unwrap_or_else(|e| panic!("client: {e}"))
}

/// What a proxy saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// "GET http://127.0.0.1:1/api/..." for forwarded requests, "CONNECT 127.0.0.1:1" for tunnels.
    pub lines: Vec<String>,
    /// Per forwarded request: (user-agent, whether an Authorization header was present).
    pub headers: Vec<(String, bool)>,
}

/// A running helper server; `seen` records what crossed it.
pub struct Helper {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Helper {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn lines(&self) -> Vec<String> {
        self.seen.lock().unwrap().lines.clone()
    }
    pub fn headers(&self) -> Vec<(String, bool)> {
        self.seen.lock().unwrap().headers.clone()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Resp = Response<Full<Bytes>>;

fn plain(status: StatusCode, body: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r
}

/// Send `req` to `target` with a proxy-less client and hand back the answer.
async fn forward(upstream: &reqwest::Client, req: Request<Incoming>, target: String) -> Resp {
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in req.headers() {
        let name = k.as_str();
        if matches!(
            name,
            "host" | "connection" | "proxy-connection" | "proxy-authorization" | "keep-alive"
        ) {
            continue;
        }
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    match upstream
        .request(method, target)
        .headers(headers)
        .body(body.to_vec())
        .send()
        .await
    {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
            let mut out = Response::builder().status(status);
            for (k, v) in r.headers() {
                if k.as_str() == "transfer-encoding" || k.as_str() == "connection" {
                    continue;
                }
                out = out.header(k.as_str(), v.as_bytes());
            }
            let bytes = r.bytes().await.unwrap_or_default();
            out.body(Full::new(Bytes::from(bytes.to_vec()))).unwrap()
        }
        Err(e) => plain(
            StatusCode::BAD_GATEWAY,
            &format!("proxy could not reach upstream: {e}"),
        ),
    }
}

fn upstream_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn serve<F, Fut>(handler: F) -> Helper
where
    F: Fn(Request<Incoming>, Arc<Mutex<Seen>>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Resp> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let seen2 = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (handler, seen) = (handler.clone(), seen2.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (handler, seen) = (handler.clone(), seen.clone());
                    async move { Ok::<_, Infallible>(handler(req, seen).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Helper { addr, seen, task }
}

/// An HTTP proxy on loopback: forwards absolute-form requests and tunnels CONNECT.
pub async fn forward_proxy() -> Helper {
    let upstream = upstream_client();
    serve(move |mut req: Request<Incoming>, seen: Arc<Mutex<Seen>>| {
        let upstream = upstream.clone();
        async move {
            if req.method() == Method::CONNECT {
                let target = req.uri().authority().map(|a| a.to_string()).unwrap_or_default();
                seen.lock().unwrap().lines.push(format!("CONNECT {target}"));
                let upgrade = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    let Ok(upgraded) = upgrade.await else { return };
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let mut client = TokioIo::new(upgraded);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                return plain(StatusCode::OK, "");
            }
            let uri = req.uri().to_string();
            if !uri.starts_with("http://") {
                return plain(StatusCode::BAD_REQUEST, "not a proxy request");
            }
            seen.lock().unwrap().lines.push(format!("{} {uri}", req.method()));
            forward(&upstream, req, uri).await
        }
    })
    .await
}

/// A reverse proxy serving `upstream` under `prefix` (e.g. `/posthog`): anything outside the
/// prefix gets 404 `{"detail":"outside the prefix"}`.
pub async fn prefix_proxy(prefix: &'static str, upstream_base: String) -> Helper {
    let upstream = upstream_client();
    serve(move |req: Request<Incoming>, seen: Arc<Mutex<Seen>>| {
        let (upstream, base) = (upstream.clone(), upstream_base.clone());
        async move {
            let path_q = req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let ua = req
                .headers()
                .get("user-agent")
                .map(|v| v.to_str().unwrap_or("?").to_owned())
                .unwrap_or_default();
            let auth = req.headers().contains_key("authorization");
            {
                let mut s = seen.lock().unwrap();
                s.lines.push(format!("{} {path_q}", req.method()));
                s.headers.push((ua, auth));
            }
            match path_q.strip_prefix(prefix) {
                Some(rest) if rest.starts_with('/') => forward(&upstream, req, format!("{base}{rest}")).await,
                _ => {
                    let mut r = plain(StatusCode::NOT_FOUND, r#"{"detail":"outside the prefix"}"#);
                    r.headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    r
                }
            }
        }
    })
    .await
}

/// A generated CA and a TLS endpoint (certificate for 127.0.0.1 and localhost, signed by the
/// CA) that tunnels decrypted bytes to `upstream`.
pub struct TlsFront {
    pub addr: SocketAddr,
    pub ca_pem_path: PathBuf,
    pub handshakes: Arc<Mutex<u32>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TlsFront {
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }
    pub fn handshakes(&self) -> u32 {
        *self.handshakes.lock().unwrap()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn tls_front(upstream: SocketAddr) -> TlsFront {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "symship test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ca_pem_path = dir.path().join("ca.pem");
    std::fs::write(&ca_pem_path, ca.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(Mutex::new(0u32));
    let hs = handshakes.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, hs) = (acceptor.clone(), hs.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                *hs.lock().unwrap() += 1;
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    TlsFront {
        addr,
        ca_pem_path,
        handshakes,
        task,
        _dir: dir,
    }
}

/// API requests the test server recorded for `route` (its route names, e.g. `releases_list`).
pub fn count_route(server: &TestServer, route: &str) -> usize {
    server.requests().iter().filter(|r| r.route == route).count()
}

pub fn write(path: &Path, text: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

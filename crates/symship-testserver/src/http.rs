//! Small HTTP plumbing shared by the API server, the S3 front and the S3 client: one body type,
//! a keep-alive HTTP/1 client for the loopback S3 server, and an accept loop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

pub fn empty() -> Body {
    Empty::<Bytes>::new().map_err(|never| match never {}).boxed()
}

/// A body of unknown length (sent chunked).
pub fn chunked(bytes: Bytes) -> Body {
    OneShot {
        data: Some(bytes),
        fail: false,
        failed: false,
    }
    .boxed()
}

/// A body that sends `prefix` and then fails, which makes hyper abort the connection in the
/// middle of the body: the peer sees a reset, not an HTTP error.
pub fn cut_body(prefix: Bytes) -> Body {
    OneShot {
        data: Some(prefix),
        fail: true,
        failed: false,
    }
    .boxed()
}

/// `total` bytes (a JSON-looking start, then spaces) in 64 KiB frames, made as they are sent (never
/// held whole), without a length; `sent` counts the bytes handed to the connection.
pub fn huge_body(total: u64, sent: Arc<std::sync::atomic::AtomicU64>) -> Body {
    Huge {
        left: total,
        first: true,
        sent,
    }
    .boxed()
}

struct Huge {
    left: u64,
    first: bool,
    sent: Arc<std::sync::atomic::AtomicU64>,
}

const FRAME: usize = 64 * 1024;

impl hyper::body::Body for Huge {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = (self.left as usize).min(FRAME);
        let mut frame = vec![b' '; n];
        if std::mem::take(&mut self.first) {
            let start = br#"{"id_map":{"#;
            let k = start.len().min(n);
            frame[..k].copy_from_slice(&start[..k]);
        }
        self.left -= n as u64;
        self.sent
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from(frame)))))
    }
}

/// A body that starts like a JSON answer and then sends one space every `every`, forever;
/// `sent` counts its bytes.
pub fn drip_body(every: std::time::Duration, sent: Arc<std::sync::atomic::AtomicU64>) -> Body {
    Drip {
        every,
        first: true,
        sleep: None,
        sent,
    }
    .boxed()
}

struct Drip {
    every: std::time::Duration,
    first: bool,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    sent: Arc<std::sync::atomic::AtomicU64>,
}

impl hyper::body::Body for Drip {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if std::mem::take(&mut self.first) {
            let start = Bytes::from_static(br#"{"chunk_ids_to_upload":["#);
            self.sent
                .fetch_add(start.len() as u64, std::sync::atomic::Ordering::Relaxed);
            return std::task::Poll::Ready(Some(Ok(Frame::data(start))));
        }
        let every = self.every;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        match sleep.as_mut().poll(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(()) => {
                self.sleep = None;
                self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b" ")))))
            }
        }
    }
}

struct OneShot {
    data: Option<Bytes>,
    fail: bool,
    failed: bool,
}

impl hyper::body::Body for OneShot {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(b) = self.data.take() {
            return std::task::Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if self.fail && !self.failed {
            self.failed = true;
            return std::task::Poll::Ready(Some(Err("fault injection: connection reset mid-body".into())));
        }
        std::task::Poll::Ready(None)
    }
}

/// What a one-shot client request got back.
#[derive(Debug)]
pub struct ClientResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A keep-alive HTTP/1 client for one loopback upstream (s3s-fs): idle connections are kept and
/// reused, as the real server's S3 client (boto3) does. A fresh connection per request cost s3s-fs
/// and this server an accept, a task and a close for every PUT and HEAD. Requests keep whatever
/// `host` header they carry, which is how the S3 front forwards byte-for-byte.
#[derive(Clone)]
pub struct Upstream {
    addr: SocketAddr,
    idle: Arc<Mutex<Vec<SendRequest<Body>>>>,
}

/// Idle connections kept per upstream; more are closed after their response.
const MAX_IDLE: usize = 32;

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    pub fn new(addr: SocketAddr) -> Upstream {
        Upstream {
            addr,
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn connect(&self) -> Result<SendRequest<Body>, BoxError> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one request and reads the whole response. A request that an idle connection could
    /// not take (the upstream closed it meanwhile) goes again over a fresh connection; one that
    /// failed after it was sent is an error, as it would be for any client.
    pub async fn send(&self, req: Request<Body>) -> Result<ClientResponse, BoxError> {
        let mut req = req;
        loop {
            let pooled = self.idle.lock().expect("upstream pool lock").pop();
            let reused = pooled.is_some();
            let mut sender = match pooled {
                Some(s) => s,
                None => self.connect().await?,
            };
            if reused && (sender.is_closed() || sender.ready().await.is_err()) {
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = body.collect().await?.to_bytes();
                    if !sender.is_closed() {
                        let mut idle = self.idle.lock().expect("upstream pool lock");
                        if idle.len() < MAX_IDLE {
                            idle.push(sender);
                        }
                    }
                    return Ok(ClientResponse {
                        status: parts.status,
                        headers: parts.headers,
                        body,
                    });
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(Box::new(e.into_error())),
                },
            }
        }
    }
}

/// A bodyless request with the given headers.
pub fn bodyless(method: Method, path_and_query: &str, headers: &[(String, String)]) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path_and_query);
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(empty()).expect("valid request")
}

/// Serves HTTP/1.1 on `listener` with `handler` until `shutdown` changes. A handler error
/// aborts the connection without a response (used for injected resets).
pub async fn serve<F, Fut>(listener: TcpListener, shutdown: watch::Receiver<bool>, handler: Arc<F>)
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, BoxError>> + Send + 'static,
{
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let handler = handler.clone();
                let mut stop_conn = shutdown.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let handler = handler.clone();
                        async move { handler(req).await.map_err(|e| std::io::Error::other(e.to_string())) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop_conn.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            _ = stop.changed() => break,
        }
    }
}

/// Collects a request body, failing (so the caller can drop the connection) after `limit`
/// bytes when a limit is given: the "reset mid-body" fault.
pub async fn collect_body(body: Incoming, cut_after: Option<u64>) -> Result<(Bytes, u64), (u64, BoxError)> {
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| (buf.len() as u64, Box::new(e) as BoxError))?;
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
        if let Some(limit) = cut_after {
            if buf.len() as u64 >= limit {
                return Err((
                    buf.len() as u64,
                    "fault injection: connection reset mid-body".into(),
                ));
            }
        }
    }
    let n = buf.len() as u64;
    if cut_after.is_some() {
        return Err((n, "fault injection: connection reset mid-body".into()));
    }
    Ok((buf.freeze(), n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An upstream that answers one request per connection and then closes it without saying
    /// so (no `connection: close`): every kept connection goes stale, and each request must
    /// still get its answer, over a fresh connection when the kept one is gone.
    #[tokio::test]
    async fn requests_survive_connections_the_upstream_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        let k = s.read(&mut buf).await.unwrap();
                        if k == 0 {
                            return;
                        }
                        got.extend_from_slice(&buf[..k]);
                    }
                    let body = format!("answer {n}");
                    let resp = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                    s.write_all(resp.as_bytes()).await.unwrap();
                    // closed when dropped
                });
            }
        });
        let up = Upstream::new(addr);
        for i in 0..5 {
            // give the close time to arrive, so the kept connection is stale when it is reused
            tokio::time::sleep(Duration::from_millis(20)).await;
            let r = up
                .send(bodyless(Method::GET, "/x", &[("host".into(), addr.to_string())]))
                .await
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            assert_eq!(r.status, StatusCode::OK);
            assert!(r.body.starts_with(b"answer "), "{:?}", r.body);
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 5);
    }

    /// A kept-alive upstream gets every request over the one connection.
    #[tokio::test]
    async fn a_kept_connection_is_reused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_stop_tx, stop) = watch::channel(false);
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        // count connections with a front listener that forwards to serve()
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inner_addr = inner.local_addr().unwrap();
        tokio::spawn(serve(
            inner,
            stop,
            Arc::new(|_req: Request<Incoming>| async { Ok::<_, BoxError>(Response::new(full("ok"))) }),
        ));
        tokio::spawn(async move {
            loop {
                let (mut a, _) = listener.accept().await.unwrap();
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut b = tokio::net::TcpStream::connect(inner_addr).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                });
            }
        });
        let up = Upstream::new(addr);
        for _ in 0..5 {
            let r = up
                .send(bodyless(Method::GET, "/y", &[("host".into(), addr.to_string())]))
                .await
                .unwrap();
            assert_eq!(&r.body[..], b"ok");
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}

//! Small HTTP plumbing shared by the API server, the S3 front and the S3 client: one body type,
//! a one-shot HTTP/1 client over a fresh loopback connection, and an accept loop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Frame, Incoming};
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

/// Sends one request over a fresh connection to `addr` (no pooling: loopback only). The request
/// keeps whatever `host` header it carries, which is how the S3 front forwards byte-for-byte.
pub async fn send(addr: SocketAddr, req: Request<Body>) -> Result<ClientResponse, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(ClientResponse {
        status: parts.status,
        headers: parts.headers,
        body,
    })
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

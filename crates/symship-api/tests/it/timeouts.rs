//! The read timeout is an idle timeout, not a cap on the whole request: a slow but steady
//! answer that takes longer than it succeeds, a stalled one fails (and is retried).

use std::time::{Duration, Instant};

use symship_api::env::{self, MapEnv};
use symship_api::{ApiError, Client, Config, ConfigRequest, RetryPolicy, TransportKind};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// A one-route HTTP server: after the request head, send the headers, then the body in
/// `pieces` pieces `gap` apart (or stall forever when `stall`). Returns its URL and a counter.
async fn trickle_server(
    gap: Duration,
    stall: bool,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let hits2 = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let hits = hits2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = br#"{"count":0,"next":null,"previous":null,"results":[]}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                if stall {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                for piece in body.chunks(body.len().div_ceil(8)) {
                    tokio::time::sleep(gap).await;
                    if s.write_all(piece).await.is_err() || s.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, hits)
}

fn client(url: &str, read_timeout: Duration) -> Client {
    let env = MapEnv::new()
        .with(env::API_KEY, "phx_timeouts")
        .with(env::PROJECT_ID, "1")
        .with(env::HOST, url);
    let mut config = Config::resolve(&ConfigRequest::default(), &env).unwrap();
    config.network.read_timeout = read_timeout;
    config.network.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    Client::new(&config).unwrap()
}

#[tokio::test]
async fn slow_steady_answer_outlives_the_read_timeout() {
    // 8 pieces 250 ms apart: about 2 s in all, never 1.2 s of silence (a loaded CI runner may
    // stretch a gap, not fivefold).
    let (url, hits) = trickle_server(Duration::from_millis(250), false).await;
    let started = Instant::now();
    let page = client(&url, Duration::from_millis(1200))
        .list_releases(None, None)
        .await
        .expect("steady trickle succeeds");
    assert!(page.results.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn stalled_answer_times_out_and_is_retried() {
    let (url, hits) = trickle_server(Duration::ZERO, true).await;
    let started = Instant::now();
    let err = client(&url, Duration::from_millis(300))
        .list_releases(None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transport {
                kind: TransportKind::Timeout | TransportKind::Interrupted,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "retried once (max_attempts 2)"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A one-route server answering 200 with a chunked JSON-looking body: `total` bytes in 64 KiB
/// chunks (`gap` apart), counting what it wrote; `None` sends forever.
async fn endless_server(
    gap: Duration,
    total: Option<u64>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let w2 = written.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let written = w2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head =
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let piece = vec![b' '; 64 * 1024];
                let mut sent = 0u64;
                loop {
                    if total.is_some_and(|t| sent >= t) {
                        let _ = s.write_all(b"0\r\n\r\n").await;
                        return;
                    }
                    let frame = format!("{:x}\r\n", piece.len());
                    if s.write_all(frame.as_bytes()).await.is_err()
                        || s.write_all(&piece).await.is_err()
                        || s.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                    sent += piece.len() as u64;
                    written.fetch_add(piece.len() as u64, std::sync::atomic::Ordering::SeqCst);
                    if !gap.is_zero() {
                        tokio::time::sleep(gap).await;
                    }
                }
            });
        }
    });
    (url, written)
}

#[tokio::test]
async fn a_steady_trickle_without_end_hits_the_total_deadline_and_says_so() {
    // A piece every 100 ms: the idle deadline (600 ms) never fires, the total one (800 ms) does.
    let (url, _) = endless_server(Duration::from_millis(100), None).await;
    let env = MapEnv::new()
        .with(env::API_KEY, "phx_timeouts")
        .with(env::PROJECT_ID, "1")
        .with(env::HOST, &url)
        .with(env::IDLE_TIMEOUT, "0.6")
        .with(env::TOTAL_TIMEOUT, "0.8");
    let mut config = Config::resolve(&ConfigRequest::default(), &env).unwrap();
    config.network.retry = RetryPolicy::none();
    let started = Instant::now();
    let err = Client::new(&config)
        .unwrap()
        .list_releases(None, None)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            ApiError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.contains("/error_tracking/releases") && msg.contains("total deadline") && msg.contains("0.8 s"),
        "names the endpoint and the deadline: {msg}"
    );
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn an_answer_over_the_cap_is_refused_while_it_arrives() {
    // 1 GiB, sent as fast as the client reads: it stops after the 16 MiB cap.
    let (url, written) = endless_server(Duration::ZERO, Some(1 << 30)).await;
    let err = client(&url, Duration::from_secs(5))
        .list_releases(None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::TooLarge { limit, .. } if limit == symship_api::MAX_API_BODY),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("/error_tracking/releases"), "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let n = written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        n < 64 * 1024 * 1024,
        "the client hung up soon after the cap ({n} bytes written)"
    );
}

//! 429s (PostHog's per-key throttle, spec §2.6) are waited out on every upload endpoint, not
//! counted as attempts and not failed.

use std::collections::BTreeMap;

use crate::common::*;
use symship_api::{BulkCheckRequest, BulkFinishRequest, BulkStartRequest, ConfigRequest, SymbolSetUpload};
use symship_testserver::{FaultKind, FaultRule};
use uuid::Uuid;

fn entry(chunk_id: &str) -> SymbolSetUpload {
    SymbolSetUpload {
        chunk_id: chunk_id.into(),
        release_id: None,
        content_hash: Some("a".repeat(128)),
        content_length: None,
    }
}

/// Five 429s in a row (more than the policy's 4 attempts) on check, start and finish: each call
/// still succeeds, and the server saw six requests per route.
#[tokio::test]
async fn a_429_on_check_start_and_finish_is_waited_out_without_using_attempts() {
    let server = server().await;
    let c = client(&ConfigRequest::default(), &env_for(&server));
    let routes = ["bulk_check_upload", "bulk_start_upload", "bulk_finish_upload"];
    server.set_faults(
        routes
            .iter()
            .map(|r| FaultRule::new(r, FaultKind::TooManyRequests { retry_after: 0 }).first_n(5))
            .collect(),
    );
    // at once: a 429 holds every call of the client back, so they wait together
    let check_req = BulkCheckRequest {
        symbol_sets: vec![entry("c1")],
        force: false,
        skip_on_conflict: false,
    };
    let start_req = BulkStartRequest {
        symbol_sets: vec![entry("c2")],
        upload_attempt_id: Uuid::now_v7(),
        upload_run_id: Uuid::now_v7(),
        force: false,
        skip_on_conflict: false,
    };
    let finish_req = BulkFinishRequest {
        content_hashes: BTreeMap::from([(Uuid::now_v7(), "a".repeat(128))]),
        upload_attempt_id: Uuid::now_v7(),
        upload_run_id: Uuid::now_v7(),
    };
    let (check, start, finish) = tokio::join!(
        c.bulk_check_upload(&check_req),
        c.bulk_start_upload(&start_req),
        c.bulk_finish_upload(&finish_req)
    );
    let check = check.expect("check is paced, not failed");
    assert_eq!(check.chunk_ids_to_upload, vec!["c1".to_owned()]);
    assert!(start
        .expect("start is paced, not failed")
        .id_map
        .contains_key("c2"));
    // an unknown id fails the finish with 400 after the 429s: the call got through to the view
    let err = finish.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    for r in routes {
        let seen: Vec<u16> = server
            .requests()
            .iter()
            .filter(|q| q.route == r)
            .map(|q| q.status)
            .collect();
        assert_eq!(seen.len(), 6, "{r}: {seen:?}");
        assert!(seen[..5].iter().all(|s| *s == 429), "{r}: {seen:?}");
    }
}

/// The server's own throttle (2 requests per second per key): eight checks sent at once all
/// succeed, some after a 429.
#[tokio::test]
async fn concurrent_calls_under_the_servers_throttle_all_succeed() {
    let server = server().await;
    server.set_throttle(Some("2/second".parse().unwrap()));
    let c = client(&ConfigRequest::default(), &env_for(&server));
    let calls = (0..8).map(|i| {
        let c = c.clone();
        async move {
            c.bulk_check_upload(&BulkCheckRequest {
                symbol_sets: vec![entry(&format!("c{i}"))],
                force: false,
                skip_on_conflict: false,
            })
            .await
        }
    });
    for r in futures::future::join_all(calls).await {
        r.expect("throttled calls are waited out");
    }
    let load = server.load();
    assert!(load.throttled >= 1, "{load:?}");
    assert_eq!(
        count_route(&server, "bulk_check_upload") as u64,
        8 + load.throttled
    );
}

/// A 429's `Retry-After` longer than the policy's `max_retry_after` (which bounds the waits of
/// failed attempts, 60 s by default) is still waited out while the call's throttled time stays
/// within `max_throttled` (10 minutes by default; PostHog's hourly limit asks for minutes).
#[tokio::test]
async fn a_429_longer_than_max_retry_after_is_waited_out_within_max_throttled() {
    let server = server().await;
    let mut config = symship_api::Config::resolve(&ConfigRequest::default(), &env_for(&server)).unwrap();
    config.network.retry = symship_api::RetryPolicy {
        max_retry_after: std::time::Duration::from_secs(1),
        max_throttled: std::time::Duration::from_secs(10),
        ..fast_retries()
    };
    let c = symship_api::Client::new(&config).unwrap();
    server.set_faults(vec![FaultRule::new(
        "bulk_check_upload",
        FaultKind::TooManyRequests { retry_after: 2 },
    )
    .first_n(1)]);
    c.bulk_check_upload(&BulkCheckRequest {
        symbol_sets: vec![entry("c1")],
        force: false,
        skip_on_conflict: false,
    })
    .await
    .expect("the 429 is waited out");
    assert_eq!(count_route(&server, "bulk_check_upload"), 2);
}

/// A `Retry-After` longer than the call may wait in all is not waited for: the 429 is the answer.
#[tokio::test]
async fn a_retry_after_beyond_the_policy_fails_the_call() {
    let server = server().await;
    let c = client(&ConfigRequest::default(), &env_for(&server));
    server.set_faults(vec![FaultRule::new(
        "bulk_check_upload",
        FaultKind::TooManyRequests { retry_after: 3600 },
    )]);
    let err = c
        .bulk_check_upload(&BulkCheckRequest {
            symbol_sets: vec![entry("c1")],
            force: false,
            skip_on_conflict: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(count_route(&server, "bulk_check_upload"), 1);
}

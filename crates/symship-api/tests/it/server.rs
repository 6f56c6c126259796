//! symship-api against the real local test server (symship-testserver over s3s-fs).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use symship_api::env::{self, MapEnv};
use symship_api::{
    ApiError, Client, Config, ConfigRequest, CreateRelease, RetryEvent, Source, TransportKind,
};
use symship_testserver::{FaultKind, FaultRule};

fn release(version: &str) -> CreateRelease {
    CreateRelease {
        metadata: None,
        hash_id: Some(symship_api_hash(version)),
        version: version.to_owned(),
        project: "api-tests".to_owned(),
    }
}

/// A unique hex hash_id per version (the release crate computes the real one).
fn symship_api_hash(version: &str) -> String {
    version.bytes().map(|b| format!("{b:02x}")).collect::<String>() + "00"
}

#[tokio::test]
async fn config_precedence_end_to_end() {
    let server = server().await;
    let good = server.api_key();
    let id = server.project_id().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("posthog-home");
    let dotenv = tmp.path().join("ci.env");

    // Every source complete; only env holds the working key: env wins.
    write(
        &dotenv,
        &format!(
            "POSTHOG_CLI_API_KEY=phx_dotenv_wrong\nPOSTHOG_CLI_PROJECT_ID={id}\nPOSTHOG_CLI_HOST={}\n",
            server.base_url()
        ),
    );
    write(
        &home.join("credentials.json"),
        &format!(
            r#"{{"host":"{}","token":"phx_file_wrong","env_id":"{id}"}}"#,
            server.base_url()
        ),
    );
    let base = MapEnv::new().with(env::POSTHOG_HOME, home.to_str().unwrap());
    let req = ConfigRequest {
        dotenv_file: Some(dotenv.clone()),
        host: Some(server.base_url()),
        ..Default::default()
    };
    let env_all = base.clone().with(env::API_KEY, &good).with(env::PROJECT_ID, &id);
    client(&req, &env_all)
        .list_releases(None, None)
        .await
        .expect("env key works");

    // Without env credentials the dotenv key is used (and rejected: proving it was the one sent).
    let err = client(&req, &base).list_releases(None, None).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");

    // The dotenv file with the good key wins over the credentials file; its host is used.
    write(
        &dotenv,
        &format!(
            "POSTHOG_CLI_API_KEY='{good}'\nPOSTHOG_CLI_PROJECT_ID={id}\nPOSTHOG_CLI_HOST={}\n",
            server.base_url()
        ),
    );
    let no_flag = ConfigRequest {
        dotenv_file: Some(dotenv.clone()),
        ..Default::default()
    };
    let config = Config::resolve(&no_flag, &base).unwrap();
    assert_eq!(
        config.host.source,
        Source::Dotenv {
            path: dotenv.clone(),
            var: env::HOST
        }
    );
    Client::new(&config)
        .unwrap()
        .list_releases(None, None)
        .await
        .expect("dotenv key works");

    // Only the credentials file: its token and host are used.
    write(
        &home.join("credentials.json"),
        &format!(
            r#"{{"host":"{}","token":"{good}","env_id":"{id}"}}"#,
            server.base_url()
        ),
    );
    let config = Config::resolve(&ConfigRequest::default(), &base).unwrap();
    assert!(matches!(
        config.credentials.token.source,
        Source::CredentialsFile(_)
    ));
    assert_eq!(config.host.value.as_str(), format!("{}/", server.base_url()));
    Client::new(&config)
        .unwrap()
        .list_releases(None, None)
        .await
        .expect("credentials file works");

    // Canonical over legacy: the legacy name holds the bad key and is ignored ...
    let both = MapEnv::new()
        .with(env::API_KEY, &good)
        .with(env::API_KEY_LEGACY, "phx_legacy_wrong")
        .with(env::PROJECT_ID, &id)
        .with(env::PROJECT_ID_LEGACY, "999")
        .with(env::HOST, &server.base_url());
    client(&ConfigRequest::default(), &both)
        .list_releases(None, None)
        .await
        .expect("canonical names used");
    // ... and the other way round the canonical bad key is what reaches the server.
    let swapped = both
        .clone()
        .with(env::API_KEY, "phx_canonical_wrong")
        .with(env::API_KEY_LEGACY, &good);
    let err = client(&ConfigRequest::default(), &swapped)
        .list_releases(None, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    // Legacy names alone work.
    let legacy = MapEnv::new()
        .with(env::API_KEY_LEGACY, &good)
        .with(env::PROJECT_ID_LEGACY, &id)
        .with(env::HOST, &server.base_url());
    client(&ConfigRequest::default(), &legacy)
        .list_releases(None, None)
        .await
        .expect("legacy names work");
}

#[tokio::test]
async fn host_with_path_prefix_is_kept() {
    let server = server().await;
    let proxy = prefix_proxy("/posthog", server.base_url()).await;
    let env = env_for(&server).with(env::HOST, &format!("{}/posthog", proxy.url()));
    let c = client(&ConfigRequest::default(), &env);
    let created = c
        .create_release(&release("prefix-1"))
        .await
        .expect("create through the prefix");
    let found = c
        .get_release_by_hash(&created.hash_id)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.id, created.id);
    let lines = proxy.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("POST /posthog/api/projects/1/error_tracking/releases"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("GET /posthog/api/projects/1/error_tracking/releases/hash/"),
        "{lines:?}"
    );
    // The posthog-cli join (which drops the last segment) would have hit the proxy outside the prefix.
    let dropped = reqwest::Client::new()
        .get(format!("{}/api/projects/1/error_tracking/releases", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(dropped.status().as_u16(), 404);
}

#[tokio::test]
async fn auth_and_not_found_errors_explain_themselves_without_the_token() {
    let server = server().await;
    let bogus = "phx_bogus_but_well_formed_0123456789";
    let env = env_for(&server).with(env::API_KEY, bogus);
    let err = client(&ConfigRequest::default(), &env)
        .list_releases(None, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    let msg = err.to_string();
    assert!(
        msg.contains("HTTP 401") && msg.contains("POSTHOG_CLI_API_KEY"),
        "{msg}"
    );
    assert!(
        !msg.contains(bogus) && !format!("{err:?}").contains(bogus),
        "{msg}"
    );
    assert_eq!(count_route(&server, "releases_list"), 1, "401 is not retried");

    let ro = env_for(&server).with(env::API_KEY, &server.read_only_key());
    let err = client(&ConfigRequest::default(), &ro)
        .create_release(&release("ro"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(err.to_string().contains("error_tracking:write"), "{err}");

    let other_project = env_for(&server).with(env::PROJECT_ID, "424242");
    let err = client(&ConfigRequest::default(), &other_project)
        .list_releases(None, None)
        .await
        .unwrap_err();
    assert!(matches!(err.status(), Some(403) | Some(404)), "{err}");
    assert!(err.to_string().contains("/api/projects/424242/"), "{err}");

    let c = client(&ConfigRequest::default(), &env_for(&server));
    assert_eq!(
        c.get_release_by_hash("00ff").await.unwrap(),
        None,
        "a missing hash is Ok(None)"
    );
    let err = c.get_release(uuid::Uuid::nil()).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("check the project id"), "{err}");
}

type Events = Arc<Mutex<Vec<(u32, Duration, bool)>>>;

fn recorder() -> (Events, Arc<dyn symship_api::RetryObserver>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    let obs = move |e: &RetryEvent<'_>| e2.lock().unwrap().push((e.attempt, e.delay, e.from_retry_after));
    (events, Arc::new(obs))
}

#[tokio::test]
async fn retries_injected_503_and_counts_attempts_at_the_server() {
    let server = server().await;
    let (events, obs) = recorder();
    let c = client(&ConfigRequest::default(), &env_for(&server)).with_observer(obs);
    server.set_faults(vec![FaultRule::new(
        "releases_list",
        FaultKind::Status { status: 503 },
    )
    .first_n(2)]);
    c.list_releases(None, None).await.expect("third attempt succeeds");
    assert_eq!(count_route(&server, "releases_list"), 3);
    let ev = events.lock().unwrap().clone();
    assert_eq!(ev.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2]);
    assert!(ev.iter().all(|e| !e.2));

    // A persistent 503 stops after max_attempts (4) and keeps the status.
    server.set_faults(vec![FaultRule::new(
        "releases_list",
        FaultKind::Status { status: 503 },
    )]);
    let err = c.list_releases(None, None).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.is_retryable());
    assert_eq!(count_route(&server, "releases_list"), 3 + 4);
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let server = server().await;
    let (events, obs) = recorder();
    let c = client(&ConfigRequest::default(), &env_for(&server)).with_observer(obs);
    server.set_faults(vec![FaultRule::new(
        "releases_hash",
        FaultKind::TooManyRequests { retry_after: 1 },
    )
    .first_n(1)]);
    let started = Instant::now();
    assert_eq!(c.get_release_by_hash("abcdef").await.unwrap(), None);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(count_route(&server, "releases_hash"), 2);
    assert_eq!(
        events.lock().unwrap().as_slice(),
        &[(1, Duration::from_secs(1), true)]
    );
}

#[tokio::test]
async fn no_retry_on_400_and_the_server_code_is_kept() {
    let server = server().await;
    let c = client(&ConfigRequest::default(), &env_for(&server));
    let first = c.create_release(&release("dup")).await.unwrap();
    let err = c.create_release(&release("dup")).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.code(), Some("release_hash_in_use"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(
        count_route(&server, "releases_create"),
        2,
        "one request each, no retry of the 400"
    );
    let bad = CreateRelease {
        version: String::new(),
        ..release("empty")
    };
    let err = c.create_release(&bad).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(count_route(&server, "releases_create"), 3);
    assert_eq!(
        c.get_release_by_hash(&first.hash_id).await.unwrap().unwrap().id,
        first.id
    );
}

#[tokio::test]
async fn pagination_follows_next_links() {
    let server = server().await;
    let c = client(&ConfigRequest::default(), &env_for(&server));
    for i in 0..5 {
        c.create_release(&release(&format!("page-{i}"))).await.unwrap();
    }
    let page = c.list_releases(Some(2), None).await.unwrap();
    assert_eq!(page.results.len(), 2);
    assert!(page.next.is_some());
    let all = c.list_releases_all(Some(2)).await.unwrap();
    let mut versions: Vec<_> = all.iter().map(|r| r.version.clone()).collect();
    versions.sort();
    assert_eq!(versions, (0..5).map(|i| format!("page-{i}")).collect::<Vec<_>>());
    assert_eq!(
        count_route(&server, "releases_list"),
        1 + 3,
        "one page call plus three pages of 2"
    );
}

#[tokio::test]
async fn http_proxy_carries_the_traffic_and_no_proxy_bypasses_it() {
    let server = server().await;
    let proxy = forward_proxy().await;
    let env = env_for(&server).with("HTTP_PROXY", &proxy.url());
    let c = client(&ConfigRequest::default(), &env);
    c.create_release(&release("via-proxy")).await.unwrap();
    c.list_releases(None, None).await.unwrap();
    let lines = proxy.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "POST {}/api/projects/1/error_tracking/releases",
            server.base_url()
        )),
        "{lines:?}"
    );
    assert_eq!(
        server.requests().len(),
        2,
        "everything the server saw crossed the proxy"
    );

    let bypass = env.clone().with("NO_PROXY", "127.0.0.1");
    client(&ConfigRequest::default(), &bypass)
        .list_releases(None, None)
        .await
        .unwrap();
    assert_eq!(proxy.lines().len(), 2, "NO_PROXY skipped the proxy");
    assert_eq!(server.requests().len(), 3);

    // A dead proxy is a connect error, retried, then reported.
    let dead = env_for(&server).with("HTTP_PROXY", "http://127.0.0.1:9");
    let err = client(&ConfigRequest::default(), &dead)
        .list_releases(None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn tls_with_a_private_ca_fails_without_it_and_works_with_it() {
    let server = server().await;
    let front = tls_front(server.addr()).await;
    let env = env_for(&server).with(env::HOST, &front.url());

    let err = client(&ConfigRequest::default(), &env)
        .list_releases(None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    let msg = err.to_string().to_lowercase();
    assert!(
        msg.contains("certificate") || msg.contains("unknownissuer") || msg.contains("issuer"),
        "{msg}"
    );
    assert!(!msg.contains(&server.api_key()));
    assert_eq!(front.handshakes(), 0);
    assert_eq!(server.requests().len(), 0);

    // --ca-cert
    let with_ca = ConfigRequest {
        ca_cert: Some(front.ca_pem_path.clone()),
        ..Default::default()
    };
    client(&with_ca, &env)
        .list_releases(None, None)
        .await
        .expect("trusted through --ca-cert");
    // SSL_CERT_FILE
    let env_ca = env
        .clone()
        .with(env::SSL_CERT_FILE, front.ca_pem_path.to_str().unwrap());
    client(&ConfigRequest::default(), &env_ca)
        .list_releases(None, None)
        .await
        .expect("trusted through SSL_CERT_FILE");
    // --skip-ssl-verification
    let skip = ConfigRequest {
        skip_ssl_verification: true,
        ..Default::default()
    };
    client(&skip, &env)
        .list_releases(None, None)
        .await
        .expect("verification skipped");
    assert_eq!(server.requests().len(), 3);
    assert!(front.handshakes() >= 3);

    // HTTPS through a CONNECT proxy, with the CA.
    let proxy = forward_proxy().await;
    let via = env_ca.clone().with("HTTPS_PROXY", &proxy.url());
    client(&ConfigRequest::default(), &via)
        .list_releases(None, None)
        .await
        .expect("https via CONNECT");
    assert_eq!(
        proxy.lines(),
        vec![format!("CONNECT 127.0.0.1:{}", front.addr.port())]
    );
    assert_eq!(server.requests().len(), 4);

    // A CA file that is not PEM is a configuration error naming it.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), "not a certificate").unwrap();
    let bad = ConfigRequest {
        ca_cert: Some(junk.path().to_owned()),
        ..Default::default()
    };
    let err = Client::new(&Config::resolve(&bad, &env).unwrap()).unwrap_err();
    assert!(
        err.to_string().contains(&junk.path().display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn user_agent_on_every_request_and_no_auth_on_the_presigned_client() {
    let server = server().await;
    let proxy = prefix_proxy("/p", server.base_url()).await;
    let env = env_for(&server).with(env::HOST, &format!("{}/p", proxy.url()));
    let c = client(&ConfigRequest::default(), &env);
    c.list_releases(None, None).await.unwrap();
    // The client for presigned URLs shares the pool but never sends the key.
    let r = c
        .http()
        .get(format!(
            "{}/p/api/projects/1/error_tracking/releases",
            proxy.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let ua = format!("symship/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(proxy.headers(), vec![(ua.clone(), true), (ua, false)]);
}

//! The running server: shared state, start-up (s3s-fs child, API listener, S3 fronts) and the
//! blocking [`TestServer`] handle that owns its own tokio runtime.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::faults::{FaultEngine, FaultRule};
use crate::http::Upstream;
use crate::record::{RecordedRequest, Violation};
use crate::state::{ApiKey, ReleaseState, State, SymbolSetState};
use crate::storage::s3fs::{default_s3fs_path, S3fsChild};
use crate::storage::sigv4::Credentials;
use crate::storage::ObjectStorage;
use crate::{Config, Error, Mode};

pub const BUCKET: &str = "posthog";
pub const ALL_SCOPES: &str = "*";
pub const SCOPE_READ: &str = "error_tracking:read";
pub const SCOPE_WRITE: &str = "error_tracking:write";
/// The events API's scope (kinds-and-explain.md §4.5).
pub const SCOPE_QUERY_READ: &str = "query:read";

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub mode: Mode,
    pub state: Mutex<State>,
    pub state_path: Option<PathBuf>,
    pub records: Mutex<Vec<RecordedRequest>>,
    pub violations: Mutex<Vec<Violation>>,
    /// Finished sets whose stored container is still to be checked: `(id, ref, storage_ptr)`.
    pub unchecked: Mutex<Vec<(String, String, String)>>,
    pub faults: Mutex<FaultEngine>,
    pub storage: ObjectStorage,
    pub s3fs_pid: u32,
    /// Bytes of `huge_body` and `drip` fault answers handed to connections.
    pub fault_bytes: Arc<std::sync::atomic::AtomicU64>,
    /// The throttle and the in-flight counters.
    pub load: crate::load::Load,
}

impl Shared {
    pub fn record(&self, r: RecordedRequest) {
        self.records.lock().expect("records lock").push(r);
    }

    pub fn violation(&self, v: Violation) {
        self.violations.lock().expect("violations lock").push(v);
    }

    /// Checks the containers of the sets finished since the last call (reads each object and runs
    /// the container check; failures become violations). The check is a test oracle, not
    /// something PostHog does, so it runs when violations are asked for rather than on the
    /// finish path, where it doubled the object store's work per set. A set deleted since its
    /// finish is not checked.
    pub async fn check_finished(&self) {
        let pending = std::mem::take(&mut *self.unchecked.lock().expect("unchecked lock"));
        for (id, r, ptr) in pending {
            let exists = self
                .state
                .lock()
                .expect("state lock")
                .symbol_sets
                .iter()
                .any(|s| s.id.to_string() == id);
            if !exists {
                continue;
            }
            let problem = match self.storage.get(&ptr).await {
                Ok(Some(bytes)) => crate::logic::container::check(&bytes, &r)
                    .err()
                    .map(|(k, d)| (k.to_owned(), d)),
                Ok(None) => Some(("missing".to_owned(), "the object vanished after HEAD".to_owned())),
                Err(e) => Some(("read".to_owned(), e.to_string())),
            };
            if let Some((kind, detail)) = problem {
                self.violation(Violation {
                    symbol_set_id: id,
                    ref_: r,
                    storage_ptr: ptr,
                    kind,
                    detail,
                });
            }
        }
    }

    pub fn project_id(&self) -> u64 {
        self.state.lock().expect("state lock").project_id
    }

    /// Runs `f` on the state and saves it (with `--data-dir`) afterwards.
    pub fn mutate<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut st = self.state.lock().expect("state lock");
        let out = f(&mut st);
        self.save(&st);
        out
    }

    pub fn save(&self, st: &State) {
        if let Some(p) = &self.state_path {
            // A failed write must not take the server down; it shows up in the next load.
            let _ = st.save(p);
        }
    }
}

/// A running test server. Stops (servers, s3s-fs child) on [`TestServer::stop`] or drop.
pub struct TestServer {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: watch::Sender<bool>,
    s3fs: Option<S3fsChild>,
    _tmp: Option<tempfile::TempDir>,
    api_addr: SocketAddr,
    data_dir: PathBuf,
}

fn new_key(rng: &mut StdRng) -> String {
    let bytes: [u8; 20] = rng.random();
    format!("phx_{}", hex::encode(bytes))
}

impl TestServer {
    /// Starts s3s-fs, the API and the S3 front(s); blocks until all accept connections.
    pub fn start(cfg: Config) -> Result<TestServer, Error> {
        for rule in &cfg.faults {
            crate::check_route(&rule.route).map_err(|detail| Error::Fault {
                rule: rule.to_string(),
                detail,
            })?;
        }
        let (tmp, data_dir) = match &cfg.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("symship-testserver-")
                    .tempdir()
                    .map_err(|source| Error::DataDir {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let s3_root = data_dir.join("s3");
        std::fs::create_dir_all(s3_root.join(BUCKET)).map_err(|source| Error::DataDir {
            path: s3_root.clone(),
            source,
        })?;

        let state_path = cfg.data_dir.as_ref().map(|d| d.join("state.json"));
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x0053_594d_5348_4950);
        let loaded = match &state_path {
            Some(p) => State::load(p)?,
            None => None,
        };
        let state = match loaded {
            Some(st) => st,
            None => State {
                project_id: cfg.project_id,
                keys: vec![
                    ApiKey {
                        key: new_key(&mut rng),
                        scopes: vec![ALL_SCOPES.into()],
                    },
                    ApiKey {
                        key: new_key(&mut rng),
                        scopes: vec![SCOPE_READ.into()],
                    },
                ],
                symbol_sets: Vec::new(),
                releases: Vec::new(),
                project_token: String::new(),
                events: Vec::new(),
            },
        };
        let mut state = state;
        if state.project_token.is_empty() {
            state.project_token = format!("phc_{}", hex::encode(rng.random::<[u8; 16]>()));
        }
        if let Some(p) = &state_path {
            state.save(p)?;
        }

        let access_key = "SYMSHIPTESTKEY".to_owned();
        let secret_key = hex::encode(rng.random::<[u8; 20]>());
        let s3fs_bin = cfg.s3fs.clone().unwrap_or_else(default_s3fs_path);
        let child = S3fsChild::start(&s3fs_bin, &s3_root, &access_key, &secret_key)?;

        let bind = |port: u16| {
            let l = std::net::TcpListener::bind(("127.0.0.1", port))
                .map_err(|source| Error::Bind { port, source })?;
            l.set_nonblocking(true)
                .map_err(|source| Error::Bind { port, source })?;
            Ok::<_, Error>(l)
        };
        let api_l = bind(cfg.port)?;
        let front_l = bind(0)?;
        let accel_l = if cfg.mode.transfer_acceleration {
            Some(bind(0)?)
        } else {
            None
        };
        let local =
            |l: &std::net::TcpListener| l.local_addr().map_err(|source| Error::Bind { port: 0, source });
        let api_addr = local(&api_l)?;
        let storage = ObjectStorage {
            creds: Credentials {
                access_key,
                secret_key,
                region: "us-east-1".into(),
            },
            bucket: BUCKET.into(),
            s3: Upstream::new(child.addr),
            front: local(&front_l)?,
            accel_front: accel_l.as_ref().map(local).transpose()?,
            public_host: cfg.mode.public_storage_host.clone(),
        };

        let shared = Arc::new(Shared {
            mode: cfg.mode.clone(),
            state: Mutex::new(state),
            state_path,
            records: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            unchecked: Mutex::new(Vec::new()),
            faults: Mutex::new(FaultEngine::new(cfg.faults.clone(), cfg.seed)),
            storage,
            s3fs_pid: child.pid(),
            fault_bytes: Default::default(),
            load: crate::load::Load::new(cfg.throttle.clone()),
        });

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("symship-testserver")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let (shutdown, rx) = watch::channel(false);
        {
            let _guard = runtime.enter();
            let to_tokio = |l: std::net::TcpListener| {
                tokio::net::TcpListener::from_std(l).map_err(|source| Error::Bind { port: 0, source })
            };
            let api_l = to_tokio(api_l)?;
            let s = shared.clone();
            runtime.spawn(crate::http::serve(
                api_l,
                rx.clone(),
                Arc::new(move |req| crate::api::handle(s.clone(), req)),
            ));
            let front_l = to_tokio(front_l)?;
            let s = shared.clone();
            runtime.spawn(crate::http::serve(
                front_l,
                rx.clone(),
                Arc::new(move |req| crate::storage::front::handle(s.clone(), "s3", req)),
            ));
            if let Some(l) = accel_l {
                let l = to_tokio(l)?;
                let s = shared.clone();
                runtime.spawn(crate::http::serve(
                    l,
                    rx.clone(),
                    Arc::new(move |req| crate::storage::front::handle(s.clone(), "s3_accel", req)),
                ));
            }
        }

        Ok(TestServer {
            shared,
            runtime: Some(runtime),
            shutdown,
            s3fs: Some(child),
            _tmp: tmp,
            api_addr,
            data_dir,
        })
    }

    /// `http://127.0.0.1:PORT`, for `POSTHOG_CLI_HOST`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// `POSTHOG_CLI_PROJECT_ID`
    pub fn project_id(&self) -> u64 {
        self.shared.project_id()
    }

    /// A `phx_` key with every scope (`POSTHOG_CLI_API_KEY`).
    pub fn api_key(&self) -> String {
        self.key_with(ALL_SCOPES)
    }

    /// The project API key (`phc_...`) that capture requests must carry (posthog-js's token).
    pub fn project_token(&self) -> String {
        self.shared
            .state
            .lock()
            .expect("state lock")
            .project_token
            .clone()
    }

    /// The events captured so far, oldest first.
    pub fn events(&self) -> Vec<crate::state::StoredEvent> {
        self.shared.state.lock().expect("state lock").events.clone()
    }

    /// Records a failure on the symbol set with this ref, as PostHog's symbolication service does
    /// when it cannot use a set (the set keeps its other fields). `false` if there is none.
    pub fn set_failure_reason(&self, chunk_id: &str, reason: &str) -> bool {
        self.shared.mutate(
            |st| match st.symbol_sets.iter_mut().find(|s| s.ref_ == chunk_id) {
                Some(s) => {
                    s.failure_reason = Some(reason.to_owned());
                    true
                }
                None => false,
            },
        )
    }

    /// A `phx_` key with only `error_tracking:read` (for 403 tests).
    pub fn read_only_key(&self) -> String {
        self.key_with(SCOPE_READ)
    }

    fn key_with(&self, scope: &str) -> String {
        let st = self.shared.state.lock().expect("state lock");
        st.keys
            .iter()
            .find(|k| k.scopes.iter().any(|s| s == scope))
            .map(|k| k.key.clone())
            .unwrap_or_default()
    }

    /// The standard S3 front (`host:port` of presigned URLs; the fallback with acceleration).
    pub fn s3_front_addr(&self) -> SocketAddr {
        self.shared.storage.front
    }

    /// The accelerated S3 front, with transfer acceleration on.
    pub fn s3_accel_addr(&self) -> Option<SocketAddr> {
        self.shared.storage.accel_front
    }

    /// The data directory (a temporary one without `data_dir`).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// The s3s-fs child's process id.
    pub fn s3fs_pid(&self) -> Option<u32> {
        self.s3fs.as_ref().map(S3fsChild::pid)
    }

    /// Every API request and S3 transfer so far, in order (admin requests excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.records.lock().expect("records lock").clone()
    }

    pub fn symbol_sets(&self) -> Vec<SymbolSetState> {
        self.shared.state.lock().expect("state lock").symbol_sets.clone()
    }

    pub fn releases(&self) -> Vec<ReleaseState> {
        self.shared.state.lock().expect("state lock").releases.clone()
    }

    /// Finished uploads that failed the container check (sets finished since the last call are
    /// checked now).
    pub fn violations(&self) -> Vec<Violation> {
        let shared = self.shared.clone();
        self.block_on(async move { shared.check_finished().await });
        self.shared.violations.lock().expect("violations lock").clone()
    }

    /// What S3 stored under `storage_ptr` (`symbolsets/<uuid>`), read with a signed GET.
    pub fn object_bytes(&self, storage_ptr: &str) -> Option<Vec<u8>> {
        let storage = self.shared.storage.clone();
        let key = storage_ptr.to_owned();
        self.block_on(async move { storage.get(&key).await.ok().flatten().map(|b| b.to_vec()) })
    }

    /// Replaces the fault rules (and restarts their counters).
    ///
    /// # Panics
    /// When a rule names a route no request has ([`crate::check_route`]): a test with a typo
    /// there would pass without its fault.
    pub fn set_faults(&self, faults: Vec<FaultRule>) {
        for rule in &faults {
            if let Err(e) = crate::check_route(&rule.route) {
                panic!("set_faults({rule}): {e}");
            }
        }
        self.shared.faults.lock().expect("faults lock").set(faults);
    }

    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.faults.lock().expect("faults lock").rules()
    }

    /// Switches PostHog's per-key throttle on (with these rates) or off, and forgets its history.
    pub fn set_throttle(&self, throttle: Option<crate::Throttle>) {
        self.shared.load.set_throttle(throttle);
    }

    /// Requests in flight at most, upload arrivals and throttled requests since start or the
    /// last [`TestServer::reset`].
    pub fn load(&self) -> crate::LoadStats {
        self.shared.load.stats()
    }

    /// Bytes of `huge_body` and `drip` fault answers handed to connections so far (what the
    /// client read, plus at most what the socket buffers held when it hung up).
    pub fn fault_bytes_sent(&self) -> u64 {
        self.shared.fault_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets symbol sets, releases, recorded requests and violations, and restarts the
    /// fault counters (the rules stay). Keys and S3 objects stay.
    pub fn reset(&self) {
        crate::admin::reset(&self.shared);
    }

    /// Sets a symbol set's `last_used` (by ref), e.g. to age it for prune tests.
    pub fn set_last_used(&self, chunk_id: &str, at: Option<OffsetDateTime>) -> bool {
        crate::admin::age(&self.shared, chunk_id, Some(at), None)
    }

    /// Sets a symbol set's `created_at` (by ref).
    pub fn set_created_at(&self, chunk_id: &str, at: OffsetDateTime) -> bool {
        crate::admin::age(&self.shared, chunk_id, None, Some(at))
    }

    fn block_on<F: std::future::Future + Send + 'static>(&self, f: F) -> F::Output
    where
        F::Output: Send + 'static,
    {
        let handle = self.runtime.as_ref().expect("running").handle().clone();
        // Works from plain threads and from inside another runtime alike.
        std::thread::spawn(move || handle.block_on(f))
            .join()
            .expect("admin task")
    }

    /// Stops the servers and the s3s-fs child.
    pub fn stop(self) {}

    fn shutdown_now(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(rt) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(Duration::from_secs(2));
            }
        }
        if let Some(mut c) = self.s3fs.take() {
            c.kill();
        }
        let st = self.shared.state.lock().expect("state lock").clone();
        self.shared.save(&st);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("api", &self.api_addr)
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

/// [`TestServer::start`] for async callers (runs the blocking start on a blocking thread).
pub async fn start_async(cfg: Config) -> Result<TestServer, Error> {
    tokio::task::spawn_blocking(move || TestServer::start(cfg))
        .await
        .expect("start task panicked")
}

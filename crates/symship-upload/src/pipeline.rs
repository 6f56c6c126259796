//! The upload pipeline. Preparing, checking, starting, transferring and finishing overlap:
//!
//! ```text
//! pairs ─▶ read+hash (blocking pool, memory-gated) ─▶ dedupe ─▶ bulk_check_upload (50 … 1000)
//!        ─▶ batches (50 … 1000, see [`crate::batch`]): build containers ─▶ bulk_start_upload
//!           ─▶ transfers (≤ the run's limit, see [`crate::limit`]) ─▶ bulk_finish_upload
//! ```
//!
//! A few batches are in flight at once, so batch k+1 is built and started while batch k is
//! transferring and batch k-1 finishing. Containers are built when their batch comes up and
//! dropped after their transfer; what the run keeps per chunk is a few hundred bytes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt as _;
use symship_api::{
    ApiError, BulkCheckRequest, BulkFinishRequest, BulkStartRequest, Client, HttpFailure, Service,
    SymbolSetUpload,
};
use symship_core::release_mode::ReleaseMode;
use symship_core::set::{Context, HashCache, Prepared as Light, SetError as PrepError, SymbolSet};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::batch::{BatchSize, Schedule};
use crate::limit::{Concurrency, Limiter, Outcome};
use crate::report::{ChunkReport, Phase, PhaseTiming, Reporter, Status, UploadReport, EMPTY_MAP};
use crate::transfer::{self, TransferContext, TransferError};

/// `BULK_CHECK_UPLOAD_MAX_SYMBOL_SETS`.
pub const CHECK_BATCH: usize = 1000;

/// A check also goes out once the chunks waiting for it add up to this much input, so that on a
/// build of large maps transfers start after the first few are hashed, not after all of them.
pub const CHECK_BYTES: u64 = 32 * 1024 * 1024;

/// How to upload.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    pub mode: ReleaseMode,
    /// Symbol sets per `bulk_start_upload`: growing (default) or fixed (`--batch-size N`).
    pub batch_size: BatchSize,
    /// Transfers to object storage at once, in the whole run: found by the run (default) or
    /// fixed (`--concurrency N`).
    pub concurrency: Concurrency,
    pub force: bool,
    pub skip_on_conflict: bool,
    /// On `release_id_mismatch`, send again without releases (default true).
    pub skip_release_on_fail: bool,
    /// Symbol-set mode: the run's release (the flags'), sent with every set but the
    /// [`UploadOptions::unbound`] ones; a sourcemap's own `release_id` is sent only when the run
    /// has none.
    pub release_id: Option<Uuid>,
    /// Symbol-set mode: the refs the server already holds bound to another release than the
    /// run's, each with that release, sent without a release (`release_id: null`): a stored
    /// symbol set never moves between releases (`posthog-protocol.md` §3, `_binds_release`), and
    /// the run's release would be refused for the whole call (`release_id_mismatch`). A set whose
    /// content names the release it is prepared under ([`Light::names_release`]: a Hermes map in
    /// symbol-set mode) is prepared under the one given here.
    pub unbound: HashMap<String, Uuid>,
    /// Blocking threads reading and compressing (0 = available parallelism).
    pub prepare_threads: usize,
    /// Roughly how much memory preparation may use at once, in bytes.
    pub prepare_memory: u64,
    /// A budget shared with the caller's own stages (`process`: inject), used instead of one of
    /// `prepare_memory` bytes (see [`crate::feed`]).
    pub memory: Option<crate::MemoryBudget>,
    /// How many bytes of containers may wait for their transfer; beyond that a container is
    /// built again when its transfer comes (0: always build at transfer time).
    pub held_memory: u64,
    /// How often one chunk may get a fresh presigned URL after its URL expired.
    pub max_restarts: u32,
    /// Content hashes remembered across runs (see [`crate::memo`]); the caller saves it.
    pub memo: Option<Arc<crate::HashMemo>>,
    /// Checks sent ahead from the last run's record (see [`crate::ahead`]): the check stage takes
    /// their answers; every set the run sees finished or present is kept for the next run. The
    /// caller saves it.
    pub ahead: Option<Arc<crate::ahead::CheckAhead>>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            mode: ReleaseMode::Event,
            batch_size: BatchSize::Auto,
            concurrency: Concurrency::default(),
            force: false,
            skip_on_conflict: false,
            skip_release_on_fail: true,
            release_id: None,
            unbound: Default::default(),
            prepare_threads: 0,
            prepare_memory: 96 * 1024 * 1024,
            memory: None,
            held_memory: 48 * 1024 * 1024,
            max_restarts: 5,
            memo: None,
            ahead: None,
        }
    }
}

impl UploadOptions {
    /// What the requests send: event mode always forces (as posthog-cli does; the chunk id is
    /// content-derived and the hash ignores renames, so a different hash means a real change).
    pub fn effective_conflict(&self) -> (bool, bool) {
        match self.mode {
            ReleaseMode::Event => (true, false),
            ReleaseMode::SymbolSet => (self.force, self.skip_on_conflict),
        }
    }
}

/// One chunk on its way.
struct Item {
    idx: usize,
    light: Light,
    /// The container, built ahead of its transfer and kept while the budget allows.
    container: Option<Bytes>,
    /// Memory budget taken by `light.container` while it is kept.
    hold: Option<OwnedSemaphorePermit>,
    /// Fresh URLs after storage refused an expired one.
    restarts: u32,
    /// Fresh URLs after one expired while waiting for a transfer slot.
    waits: u32,
}

/// A bound on re-starts of a chunk whose URL expired before it could be sent (each round sends
/// others, so this only guards against a URL that can never be used in time).
const MAX_WAIT_RESTARTS: u32 = 50;

#[derive(Default)]
struct Timing {
    first: Option<Instant>,
    last: Option<Instant>,
    busy: Duration,
}

struct Run {
    client: Option<Client>,
    opts: UploadOptions,
    /// The sets so far, in the order they arrived (`idx`), and each one's place in the report.
    /// A set is dropped once its chunk reaches its final state (its report keeps what the
    /// summary and `--delete-after` need), so what the run holds per chunk stays small.
    sets: std::sync::RwLock<Vec<Option<Arc<dyn SymbolSet>>>>,
    reporter: Arc<dyn Reporter>,
    run_id: Uuid,
    /// Each set's report, with its position (sorted by it in place at the end, so the end of a
    /// run never holds a second copy of every report).
    chunks: Mutex<Vec<(usize, ChunkReport)>>,
    drop_release: AtomicBool,
    /// Refs the server answered `release_id_mismatch` for, naming them: bound to another release,
    /// which they keep; sent again without the run's release (the rest keep it).
    bound_elsewhere: Mutex<std::collections::BTreeSet<String>>,
    any_bound_elsewhere: AtomicBool,
    no_check: AtomicBool,
    /// `--skip-on-conflict`: a check meant to tell kept content from present content failed,
    /// and the run said so ([`present_or_kept`]).
    kept_unknown: AtomicBool,
    fallback_latch: AtomicBool,
    /// Object storage hosts reached or given up on.
    hosts: transfer::Hosts,
    calls: Mutex<BTreeMap<&'static str, u64>>,
    bytes_sent: AtomicU64,
    timings: Mutex<BTreeMap<Phase, Timing>>,
    prep_threads: Arc<Semaphore>,
    prep_memory: crate::MemoryBudget,
    /// Budget (KiB) for containers built ahead of their transfer; beyond it a container is
    /// dropped and built again when its transfer comes.
    held: Arc<Semaphore>,
    held_kib: usize,
    /// Pairs reading at least this much are large (own thread, built once at transfer time).
    big_input: u64,
    /// A fixed set of threads for preparation (`threads` for ordinary pairs and two for large
    /// ones, which the memory budget lets run together only when they fit): the allocator keeps
    /// a heap per thread that allocated, so few, long-lived threads keep the high-water mark low.
    small: Mutex<std::sync::mpsc::Sender<Job>>,
    big: Mutex<std::sync::mpsc::Sender<Job>>,
    transfers: Arc<Limiter>,
    /// Budget (KiB) for containers built when their transfer comes (large ones, or dropped from
    /// `held`): however many transfers the limit allows, these hold at most this much at once.
    built_late: Arc<Semaphore>,
    /// Chunks started (holding live presigned URLs) but not yet transferring: a batch starts
    /// only when there is room, so URLs are issued just before they are used.
    waiting: Arc<Semaphore>,
    warnings: Mutex<Vec<String>>,
    /// Hashes the memo served.
    memo_hits: AtomicU64,
    /// Check and start calls still allowed for asking a refused batch again in halves.
    split_budget: AtomicU64,
    /// The API's first 401 this run: the key is refused, so no later API call is sent (each
    /// would be refused the same way); [`Run::api`] answers them with this answer.
    key_refused: std::sync::OnceLock<HttpFailure>,
}

/// Check and start calls a run may spend asking refused batches again in halves: enough to
/// isolate a few offending chunks in batches of thousands (about 2 x log2(n) calls each), while
/// a fault every chunk shares (a release id the project does not know, on every chunk) costs
/// this many calls, not two per chunk (100,000 for a build of 50,000, far past PostHog's
/// 1,200 per minute).
const SPLIT_CALLS: u64 = 64;

const NOT_PROCESSED: &str = "not_processed";

type Job = Box<dyn FnOnce() + Send>;

/// A pair reading at least this much is large: it is prepared on the large-pair thread and, when
/// its size is not known from hashing, built only when its transfer comes (a lower bound comes
/// from `prepare_memory / 16`).
const BIG_INPUT: u64 = 4 * 1024 * 1024;

/// `n` threads taking jobs from one queue; they end when the sender is dropped.
fn workers(n: usize, name: &str) -> std::sync::mpsc::Sender<Job> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..n.max(1) {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || loop {
                let job = match rx.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .expect("spawn a thread");
    }
    tx
}

impl Run {
    fn client(&self) -> &Client {
        self.client.as_ref().expect("network phases run with a client")
    }

    /// The set that arrived `idx`th (only asked for before its chunk's final state).
    fn set(&self, idx: usize) -> Arc<dyn SymbolSet> {
        self.sets.read().expect("lock")[idx]
            .clone()
            .expect("a set is used only until its chunk's final state")
    }

    /// Takes in a set handed over at `position`: its index in this run.
    fn admit(&self, position: usize, set: Arc<dyn SymbolSet>) -> usize {
        // its state is set at the end for a chunk that never reached its final state (its set
        // is still held then), so that no string is allocated per chunk for it
        let report = ChunkReport::new(
            set.kind(),
            set.path(),
            set.map(),
            set.cleanup(),
            set.reference().as_deref(),
            Status::Uploaded,
        );
        let mut sets = self.sets.write().expect("lock");
        let mut chunks = self.chunks.lock().expect("lock");
        sets.push(Some(set));
        chunks.push((position, report));
        sets.len() - 1
    }

    fn built_late_kib(&self) -> usize {
        ((self.opts.held_memory / 1024) as usize).max(1024)
    }

    fn count(&self, endpoint: &'static str) {
        *self.calls.lock().expect("lock").entry(endpoint).or_default() += 1;
    }

    /// Sends an API call to `endpoint` (counted), unless the server refused the key earlier in
    /// the run: then the answer is that refusal, and nothing is sent. The first 401 from the API
    /// is kept ([`UploadReport::key_refused`]).
    async fn api<T>(
        &self,
        endpoint: &'static str,
        call: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        if let Some(h) = self.key_refused.get() {
            return Err(ApiError::Http(Box::new(h.clone())));
        }
        // a check sent ahead met the refusal first
        if let Some(h) = self.opts.ahead.as_ref().and_then(|a| a.key_refused()) {
            let _ = self.key_refused.set(h.clone());
            return Err(ApiError::Http(Box::new(h.clone())));
        }
        self.count(endpoint);
        let r = call.await;
        if let Err(ApiError::Http(h)) = &r {
            if is_key_refusal(h) {
                let _ = self.key_refused.set((**h).clone());
            }
        }
        r
    }

    fn warn(&self, msg: String) {
        self.reporter.warning(&msg);
        self.warnings.lock().expect("lock").push(msg);
    }

    /// Records a chunk's final state, and drops its set.
    fn set_status(&self, idx: usize, status: Status) {
        let mut chunks = self.chunks.lock().expect("lock");
        chunks[idx].1.status = status;
        self.reporter.chunk_done(&chunks[idx].1);
        drop(chunks);
        let done = self.sets.write().expect("lock")[idx].take();
        drop(done);
    }

    /// Records that the server holds `light`'s set (`Uploaded`: finished by this run;
    /// `AlreadyPresent`), and keeps its entry for the next run's checks ahead.
    fn settled(&self, idx: usize, light: &Light, status: Status) {
        debug_assert!(matches!(status, Status::Uploaded | Status::AlreadyPresent));
        if let Some(ahead) = &self.opts.ahead {
            ahead.keep(&self.entry(light, true));
        }
        self.set_status(idx, status);
    }

    fn fail(&self, idx: usize, code: &str, reason: String) {
        self.set_status(
            idx,
            Status::Failed {
                code: code.to_owned(),
                reason,
            },
        );
    }

    fn note_light(&self, idx: usize, l: &Light) {
        let mut chunks = self.chunks.lock().expect("lock");
        let c = &mut chunks[idx].1;
        c.set_chunk_id(&l.reference);
        c.bytes = l.content_length;
        c.source_digest = Some(l.digest);
    }

    fn note_digest(&self, idx: usize, digest: [u8; 32]) {
        self.chunks.lock().expect("lock")[idx].1.source_digest = Some(digest);
    }

    fn note_bytes(&self, idx: usize, bytes: u64) {
        self.chunks.lock().expect("lock")[idx].1.bytes = Some(bytes);
    }

    async fn timed<T>(&self, phase: Phase, fut: impl std::future::Future<Output = T>) -> T {
        let start = Instant::now();
        let out = fut.await;
        let end = Instant::now();
        let mut t = self.timings.lock().expect("lock");
        let e = t.entry(phase).or_default();
        e.first = Some(e.first.map_or(start, |f| f.min(start)));
        e.last = Some(e.last.map_or(end, |l| l.max(end)));
        e.busy += end - start;
        out
    }

    /// Runs `f` on the blocking pool once a thread and memory for `pair_idx` are free.
    async fn prepare<T: Send + 'static>(
        self: &Arc<Self>,
        pair_idx: usize,
        f: impl FnOnce(&dyn SymbolSet) -> T + Send + 'static,
    ) -> T {
        let pair = self.set(pair_idx);
        // A pair's preparation holds its chunk and its map as read (the map is not copied when it
        // already names the chunk), the hash's pristine copy of the chunk, and the container:
        // counted up, under one and a half times the input for the large maps of mermaid and
        // tfjs; twice the input leaves room. (With this estimate and a 96 MiB budget, process
        // on mermaid+tfjs+posthog-js peaked at 75-83 MB.)
        let size = pair.input_len();
        let _thread = self.prep_threads.clone().acquire_owned().await.expect("open");
        let _mem = self.prep_memory.acquire(size.saturating_mul(2)).await;
        self.timed(Phase::Prepare, async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let job: Job = Box::new(move || {
                let _ = tx.send(f(&*pair));
            });
            let queue = if size >= self.big_input {
                &self.big
            } else {
                &self.small
            };
            queue
                .lock()
                .expect("lock")
                .send(job)
                .expect("the preparation threads live as long as the run");
            rx.await.expect("preparation does not panic")
        })
        .await
    }

    /// Keeps a built container if the budget allows.
    fn keep(&self, c: Bytes) -> (Option<Bytes>, Option<OwnedSemaphorePermit>) {
        let kib = (c.len() / 1024).clamp(1, self.held_kib.max(1)) as u32;
        match self.held.clone().try_acquire_many_owned(kib) {
            Ok(permit) => (Some(c), Some(permit)),
            Err(_) => (None, None),
        }
    }

    fn release_for(&self, l: &Light) -> Option<Uuid> {
        if self.drop_release.load(Ordering::Relaxed)
            || self.opts.unbound.contains_key(&l.reference)
            || (self.any_bound_elsewhere.load(Ordering::Relaxed)
                && self.bound_elsewhere.lock().expect("lock").contains(&l.reference))
        {
            None
        } else {
            l.release_id
        }
    }

    fn entry(&self, l: &Light, with_length: bool) -> SymbolSetUpload {
        SymbolSetUpload {
            chunk_id: l.reference.clone(),
            release_id: self.release_for(l),
            content_hash: Some(l.content_hash.clone()),
            content_length: if with_length { l.content_length } else { None },
        }
    }
}

/// The chunk id named in a PostHog detail like "Symbol set X already exists with different
/// content." / "Symbol set X already has a release ID".
fn named_ref(detail: Option<&str>) -> Option<&str> {
    let d = detail?;
    let rest = &d[d.find("Symbol set ")? + "Symbol set ".len()..];
    Some(&rest[..rest.find(" already")?])
}

/// The API refusing the key (HTTP 401): every call of the run would be refused the same way.
pub(crate) fn is_key_refusal(h: &HttpFailure) -> bool {
    h.service == Service::Api && h.status == 401
}

/// A chunk's reason when the key was refused: the refusal itself is the run's one error
/// ([`UploadReport::key_refused`]), not repeated per chunk.
const KEY_REFUSED_REASON: &str =
    "not sent: the server refused the API key (HTTP 401), said once in the run's error";

/// The code a chunk fails with when the key was refused: the server's (`authentication_failed`,
/// or `not_authenticated`), else `authentication_failed`.
fn key_refused_code(e: &ApiError) -> String {
    e.code()
        .unwrap_or(symship_core::Code::AuthenticationFailed.as_str())
        .to_owned()
}

/// What to do about a failed check or start call, for the chunks in it.
enum CallFailure {
    /// Drop releases run-wide and ask again.
    RetryWithoutRelease,
    /// The server holds the chunk at this position bound to another release: ask again with it
    /// sent without the run's release (it keeps the one it has; [`rebind`]), the others with theirs.
    Unbind(usize),
    /// This chunk is at fault: fail it with (code, reason), ask again without it.
    Chunk(usize, &'static str, String),
    /// Every chunk of the call fails with (code, reason).
    All(String, String),
}

/// `ref_name`: what the set's ref is called ([`symship_core::kind::Kind::ref_name`]).
fn conflict_reason(ref_name: &str, reference: &str, source: &str) -> String {
    format!(
        "the server already holds different content for {ref_name} {reference} ({source}); pass --force to replace it, or --skip-on-conflict to keep what the server has"
    )
}

impl Run {
    fn classify(&self, e: &ApiError, positions: &HashMap<&str, usize>, what: &str) -> CallFailure {
        if e.http().is_some_and(is_key_refusal) {
            return CallFailure::All(key_refused_code(e), KEY_REFUSED_REASON.to_owned());
        }
        let chunk_at = |code: &'static str| {
            named_ref(e.detail())
                .and_then(|r| positions.get(r).copied())
                .map(|pos| (pos, code))
        };
        if e.has_code("release_id_mismatch") {
            if self.opts.skip_release_on_fail && !self.drop_release.load(Ordering::Relaxed) {
                // The detail names the set ("Symbol set X already has a release ID"): only that
                // one goes without a release. posthog-cli 0.19.0 redoes the whole upload without
                // releases (§2.1 step 5), which left this run's new sets bound to no release
                // while the summary named it (a fresh tester); that stays the fallback for an
                // answer naming no set of the call.
                if let Some((r, &pos)) = named_ref(e.detail()).and_then(|r| positions.get_key_value(r)) {
                    if self.bound_elsewhere.lock().expect("lock").insert((*r).to_owned()) {
                        self.any_bound_elsewhere.store(true, Ordering::Relaxed);
                        return CallFailure::Unbind(pos);
                    }
                } else {
                    return CallFailure::RetryWithoutRelease;
                }
            }
            if let Some((pos, code)) = chunk_at("release_id_mismatch") {
                return CallFailure::Chunk(
                    pos,
                    code,
                    format!(
                        "{e}; the server holds this symbol set bound to another release, which it keeps (a stored set never \
                         moves between releases): pass --skip-release-on-fail to send it without this run's release, or \
                         inject a fresh build"
                    ),
                );
            }
        }
        if e.has_code("content_hash_mismatch") {
            if let Some((pos, code)) = chunk_at("content_hash_mismatch") {
                return CallFailure::Chunk(pos, code, String::new());
            }
        }
        if e.has_code("content_hash_required") {
            if let Some((pos, code)) = chunk_at("content_hash_required") {
                return CallFailure::Chunk(
                    pos,
                    code,
                    format!(
                        "{e}; the server holds this chunk from an older client; pass --force to replace it"
                    ),
                );
            }
        }
        let code = e
            .code()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{what}_failed"));
        CallFailure::All(code, e.to_string())
    }

    fn conflict_text(&self, idx: usize, l: &Light) -> String {
        let set = self.set(idx);
        conflict_reason(
            set.kind().ref_name(),
            &l.reference,
            &set.path().display().to_string(),
        )
    }
}

/// Uploads every pair. Never fails as a whole: each chunk's fate is in the report.
pub async fn upload(
    client: &Client,
    sets: Vec<Arc<dyn SymbolSet>>,
    opts: &UploadOptions,
    reporter: Arc<dyn Reporter>,
) -> UploadReport {
    run(Some(client.clone()), fed_all(sets), opts, reporter).await
}

/// `--dry-run`: reads, hashes and builds every container locally, sends nothing, needs no
/// credentials. Uploadable chunks get [`Status::WouldUpload`] with their sizes.
pub async fn plan(
    sets: Vec<Arc<dyn SymbolSet>>,
    opts: &UploadOptions,
    reporter: Arc<dyn Reporter>,
) -> UploadReport {
    run(None, fed_all(sets), opts, reporter).await
}

/// [`upload`] of the sets handed over through a [`crate::Feed`] while the upload runs (each is
/// checked, started and sent as soon as it arrives and its batch fills); ends once every
/// [`crate::Feed`] is dropped and what it sent is handled. The report lists the chunks in the
/// order of their positions.
pub async fn upload_fed(
    client: &Client,
    fed: crate::Fed,
    opts: &UploadOptions,
    reporter: Arc<dyn Reporter>,
) -> UploadReport {
    run(Some(client.clone()), fed, opts, reporter).await
}

/// [`plan`] of the sets handed over through a [`crate::Feed`].
pub async fn plan_fed(fed: crate::Fed, opts: &UploadOptions, reporter: Arc<dyn Reporter>) -> UploadReport {
    run(None, fed, opts, reporter).await
}

fn fed_all(sets: Vec<Arc<dyn SymbolSet>>) -> crate::Fed {
    let (feed, fed) = crate::feed(sets.len());
    for (position, set) in sets.into_iter().enumerate() {
        feed.send(position, set);
    }
    fed
}

async fn run(
    client: Option<Client>,
    fed: crate::Fed,
    opts: &UploadOptions,
    reporter: Arc<dyn Reporter>,
) -> UploadReport {
    let started = Instant::now();
    let mut opts = opts.clone();
    if let BatchSize::Fixed(n) = opts.batch_size {
        opts.batch_size = BatchSize::Fixed(n.max(1));
    }
    let ceiling = opts.concurrency.ceiling();
    let threads = if opts.prepare_threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.prepare_threads
    };
    let prep_memory = opts
        .memory
        .clone()
        .unwrap_or_else(|| crate::MemoryBudget::new(opts.prepare_memory));
    reporter.total(fed.expected);
    let run = Arc::new(Run {
        client,
        sets: std::sync::RwLock::new(Vec::with_capacity(fed.expected)),
        reporter,
        run_id: Uuid::now_v7(),
        chunks: Mutex::new(Vec::with_capacity(fed.expected)),
        drop_release: AtomicBool::new(false),
        bound_elsewhere: Mutex::new(Default::default()),
        any_bound_elsewhere: AtomicBool::new(false),
        no_check: AtomicBool::new(false),
        kept_unknown: AtomicBool::new(false),
        fallback_latch: AtomicBool::new(false),
        hosts: transfer::Hosts::default(),
        calls: Mutex::new(BTreeMap::new()),
        bytes_sent: AtomicU64::new(0),
        timings: Mutex::new(BTreeMap::new()),
        prep_threads: Arc::new(Semaphore::new(threads)),
        big_input: (prep_memory.kib() as u64 * 1024 / 16).min(BIG_INPUT),
        prep_memory,
        held: Arc::new(Semaphore::new((opts.held_memory / 1024) as usize)),
        held_kib: (opts.held_memory / 1024) as usize,
        small: Mutex::new(workers(threads, "symship-prepare")),
        big: Mutex::new(workers(2, "symship-prepare-large")),
        transfers: Limiter::new(opts.concurrency),
        built_late: Arc::new(Semaphore::new(((opts.held_memory / 1024) as usize).max(1024))),
        // a whole batch, plus the chunks of the one before that still wait for a slot
        waiting: Arc::new(Semaphore::new(opts.batch_size.max() + ceiling)),
        warnings: Mutex::new(Vec::new()),
        memo_hits: AtomicU64::new(0),
        split_budget: AtomicU64::new(SPLIT_CALLS),
        key_refused: std::sync::OnceLock::new(),
        opts,
    });
    if run.opts.mode == ReleaseMode::Event && run.opts.skip_on_conflict {
        run.warn(
            "--skip-on-conflict is ignored in --release-mode event: event-mode uploads always replace changed content (as posthog-cli does)".into(),
        );
    }

    let (tx_light, rx_light) = mpsc::channel::<Item>(CHECK_BATCH * 2);
    // Checked chunks wait for their batch here, each with its container when it was built small:
    // bounded (see `coordinate`), so that a build that injects faster than it uploads holds
    // the sets not yet prepared (a few hundred bytes each), not their containers.
    let (tx_needed, rx_needed) = mpsc::channel::<Item>(CHECK_BATCH);
    let light_task = tokio::spawn(light_stage(run.clone(), fed, tx_light, threads));
    let check_task = tokio::spawn(check_stage(run.clone(), rx_light, tx_needed));
    coordinate(run.clone(), rx_needed).await;
    light_task.await.expect("light stage does not panic");
    check_task.await.expect("check stage does not panic");

    let run = Arc::try_unwrap(run).unwrap_or_else(|_| panic!("all tasks ended"));
    let timings = run
        .timings
        .into_inner()
        .expect("lock")
        .into_iter()
        .map(|(p, t)| {
            let span = match (t.first, t.last) {
                (Some(f), Some(l)) => l - f,
                _ => Duration::ZERO,
            };
            (p, PhaseTiming { busy: t.busy, span })
        })
        .collect();
    let mut chunks = run.chunks.into_inner().expect("lock");
    // a set is dropped when its chunk reaches its final state: those still held never did
    for (held, (_, c)) in run.sets.into_inner().expect("lock").iter().zip(chunks.iter_mut()) {
        if held.is_some() {
            c.status = Status::Failed {
                code: NOT_PROCESSED.into(),
                reason: "the run ended before this chunk was handled".into(),
            };
        }
    }
    // in the order of their positions (the order the caller found them in; each is unique)
    chunks.sort_unstable_by_key(|(position, _)| *position);
    let bound_elsewhere: Vec<String> = run
        .bound_elsewhere
        .into_inner()
        .expect("lock")
        .into_iter()
        .collect();
    let mut warnings = run.warnings.into_inner().expect("lock");
    if !bound_elsewhere.is_empty() {
        let first: Vec<&str> = bound_elsewhere.iter().take(3).map(String::as_str).collect();
        let msg = format!(
            "{} symbol set(s) the server holds bound to another release were sent without this run's release and keep theirs (a stored set never moves between releases): {}{}",
            bound_elsewhere.len(),
            first.join(", "),
            if bound_elsewhere.len() > 3 { ", ..." } else { "" }
        );
        run.reporter.warning(&msg);
        warnings.push(msg);
    }
    UploadReport {
        bound_elsewhere,
        chunks: chunks.into_iter().map(|(_, c)| c).collect(),
        bytes_sent: run.bytes_sent.into_inner(),
        requests: {
            let mut calls = run.calls.into_inner().expect("lock");
            // the checks sent ahead, before the run (crate::ahead), are the run's too
            if let Some(a) = &run.opts.ahead {
                a.count_into(&mut calls);
            }
            calls
        },
        timings,
        wall: started.elapsed(),
        warnings,
        // only when the check that tells kept content apart failed (present_or_kept)
        presence_unverified: run.opts.effective_conflict().1 && run.kept_unknown.load(Ordering::Relaxed),
        hashes_from_cache: run.memo_hits.into_inner() as usize,
        unreachable_storage: run.hosts.unreachable(),
        key_refused: run
            .key_refused
            .into_inner()
            .map(|h| crate::KeyRefused { answer: h }),
        concurrency: run.transfers.stats(),
    }
}

/// Reads and hashes every pair (in the order they arrive, several at once, results in that
/// order), drops duplicate chunk ids.
async fn light_stage(run: Arc<Run>, mut arrivals: crate::Fed, tx: mpsc::Sender<Item>, threads: usize) {
    let limit = threads * 4;
    let mut open = true;
    let mut preparing = futures::stream::FuturesOrdered::new();
    let mut seen = SeenRefs::default();
    loop {
        tokio::select! {
            biased;
            a = arrivals.recv(), if open && preparing.len() < limit => match a {
                Some((position, set)) => {
                    let idx = run.admit(position, set);
                    preparing.push_back(prepare_light(run.clone(), idx));
                }
                None => open = false,
            },
            done = preparing.next(), if !preparing.is_empty() => {
                let (idx, r) = done.expect("not empty");
                if let Some(item) = take_light(&run, &mut seen, idx, r) {
                    if tx.send(item).await.is_err() {
                        return;
                    }
                }
            },
            else => return,
        }
    }
}

/// The refs a run has seen, each with the index of the first set that had it. A chunk id in its
/// canonical form (a lower-case hyphenated UUID, what inject writes) is kept as its 16 bytes,
/// any other ref as its text: on a build of 50,000 chunks, a copy of every chunk id as a string
/// held about 4 MB for the whole run.
#[derive(Default)]
struct SeenRefs {
    /// Each ref's first index and the fingerprint of its content ([`fingerprint`]).
    uuids: HashMap<u128, (usize, u64)>,
    others: HashMap<String, (usize, u64)>,
}

/// Eight bytes that tell two sets with one ref apart: a web chunk's own bytes (copies of one chunk
/// share its id, whatever their maps), any other set's content hash.
fn fingerprint(kind: symship_core::kind::Kind, light: &Light) -> u64 {
    if kind == symship_core::kind::Kind::SourceAndMap {
        u64::from_le_bytes(light.digest[..8].try_into().expect("8 bytes"))
    } else {
        light
            .content_hash
            .get(..16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or(0)
    }
}

impl SeenRefs {
    /// The index that had `reference` first and its content's fingerprint, or None after
    /// recording `idx` (with `fp`) as it.
    fn first(&mut self, reference: &str, idx: usize, fp: u64) -> Option<(usize, u64)> {
        let canonical = Uuid::try_parse(reference)
            .ok()
            .filter(|u| u.hyphenated().encode_lower(&mut Uuid::encode_buffer()) == reference);
        let first = match canonical {
            Some(u) => *self.uuids.entry(u.as_u128()).or_insert((idx, fp)),
            None => *self.others.entry(reference.to_owned()).or_insert((idx, fp)),
        };
        (first.0 != idx).then_some(first)
    }
}

/// The context a set of the run is prepared in: its mode and memo, with small containers built
/// at once, under `release_id` (the run's, or the one the server binds the set to: [`rebind`]).
fn prep_context(mode: ReleaseMode, release_id: Option<Uuid>, memo: Option<&crate::HashMemo>) -> Context<'_> {
    Context {
        mode,
        release_id,
        build_small: true,
        memo: memo.map(|m| m as &dyn HashCache),
    }
}

async fn prepare_light(run: Arc<Run>, idx: usize) -> (usize, Result<Light, PrepError>) {
    let (mode, fallback, memo) = (run.opts.mode, run.opts.release_id, run.opts.memo.clone());
    // a set the memo knows by digests it carries is prepared here, without a thread or memory
    let known = run
        .set(idx)
        .remembered(&prep_context(mode, fallback, memo.as_deref()));
    if let Some(r) = known {
        return (idx, r);
    }
    let r = run
        .prepare(idx, move |p| {
            p.prepare(&prep_context(mode, fallback, memo.as_deref()))
        })
        .await;
    // a set the server holds bound to another release, known before the run, whose content
    // names the release: prepared under the stored one (what [`rebind`] does on an answer)
    let stored = match &r {
        Ok(l) if l.names_release => run
            .opts
            .unbound
            .get(&l.reference)
            .copied()
            .filter(|s| l.release_id != Some(*s))
            .map(|s| (s, l.reference.clone())),
        _ => None,
    };
    let Some((stored, reference)) = stored else {
        return (idx, r);
    };
    (idx, prepare_again(&run, idx, Some(stored), &reference).await)
}

/// The set at `idx` prepared again, under `release` instead of the run's; a [`PrepError::changed`]
/// when it no longer has `reference` (its file changed since it was first prepared).
async fn prepare_again(
    run: &Arc<Run>,
    idx: usize,
    release: Option<Uuid>,
    reference: &str,
) -> Result<Light, PrepError> {
    let (mode, memo) = (run.opts.mode, run.opts.memo.clone());
    let light = run
        .prepare(idx, move |p| {
            p.prepare(&prep_context(mode, release, memo.as_deref()))
        })
        .await?;
    if light.reference == reference {
        Ok(light)
    } else {
        Err(PrepError::changed(run.set(idx).path()))
    }
}

/// A set the server answered `release_id_mismatch` for (it holds it bound to another release,
/// which it keeps: the set is sent without the run's release from now on), whose content names the
/// release it was prepared under ([`Light::names_release`]: a chunk whose snippet a minifier
/// rewrote, its map stamped with the run's release): prepared again under the release the server
/// binds it to (one `GET symbol_sets/?ref=`), so that it is the content an earlier run sent
/// under that release and stored, and its hash matches the stored one (a fresh tester: upload
/// v1, then upload v2 of the same build failed with `content_hash_mismatch`, and `--force`
/// stored a map naming v2 in a set bound to v1). When the lookup fails, the release the set's own
/// file names stands for the stored one (a Hermes map cloned in symbol-set mode). Any other set,
/// or one the server lists with no release, is returned as it is; `None` when the lookup failed
/// and its file names no other release, or preparing it again failed (it changed): its failure
/// is recorded ([`symship_core::Code::ReleaseLookupFailed`] for the lookup).
async fn rebind(run: &Arc<Run>, mut item: Item) -> Option<Item> {
    if !item.light.names_release {
        return Some(item);
    }
    let reference = item.light.reference.clone();
    let again = match run
        .api("symbol_sets", run.client().find_symbol_set(&reference))
        .await
    {
        Ok(set) => match set
            .and_then(|s| s.release)
            .map(|r| r.id)
            .filter(|r| item.light.release_id != Some(*r))
        {
            Some(stored) => prepare_again(run, item.idx, Some(stored), &reference).await,
            None => return Some(item),
        },
        // The release its own file names, when it names one (a Hermes map `hermes clone
        // --release-mode symbol-set` stamped), is where an earlier run bound it: the set prepared
        // under no release is prepared under that one. With none, sent as prepared it would be
        // refused as other content (`content_hash_mismatch`), and `--force` would store a map
        // naming this run's release in a set bound to another.
        Err(e) => {
            let own = prepare_again(run, item.idx, None, &reference)
                .await
                .ok()
                .filter(|l| l.release_id.is_some() && l.release_id != item.light.release_id);
            match own {
                Some(l) => Ok(l),
                // `--skip-on-conflict`: the server keeps what it holds whatever is sent, so the
                // set goes as prepared and is reported kept (a fresh tester: exit 1 where keeping
                // the server's copy was asked for)
                None if run.opts.effective_conflict() == (false, true) => return Some(item),
                None => {
                    not_bound_elsewhere(run, &reference);
                    run.fail(
                        item.idx,
                        symship_core::Code::ReleaseLookupFailed.as_str(),
                        format!(
                            "the server holds this symbol set bound to another release, and looking that release up failed \
                             ({e}); its content names this run's release, so it is not what the server stores: not sent, the \
                             server keeps the set as it is"
                        ),
                    );
                    return None;
                }
            }
        }
    };
    let mut light = match again {
        Ok(l) => l,
        Err(e) => {
            not_bound_elsewhere(run, &reference);
            failed_again(run, item.idx, e);
            return None;
        }
    };
    // the first preparation's container is dropped (and its share of the budget with it)
    (item.container, item.hold) = match light.container.take() {
        Some(c) => run.keep(Bytes::from(c)),
        None => (None, None),
    };
    run.note_light(item.idx, &light);
    item.light = light;
    Some(item)
}

/// A set [`rebind`] could not send is not one of those sent without the run's release (the
/// run's warning counts them).
fn not_bound_elsewhere(run: &Run, reference: &str) {
    run.bound_elsewhere.lock().expect("lock").remove(reference);
}

/// Records the failure of a set that was checked and then could not be built or prepared again
/// (it changed since: it fails, however its first preparation would have reported it).
fn failed_again(run: &Run, idx: usize, e: PrepError) {
    match e {
        PrepError::TooLarge { bytes } => {
            run.note_bytes(idx, bytes);
            run.set_status(idx, Status::TooLarge { bytes });
        }
        PrepError::Skip { code, reason } | PrepError::Failed { code, reason } => {
            run.fail(idx, code.as_str(), reason)
        }
        PrepError::Empty { reason, .. } => run.fail(idx, EMPTY_MAP, reason),
    }
}

/// Records a prepared set; the item to check, unless it was skipped, failed or a duplicate.
fn take_light(run: &Run, seen: &mut SeenRefs, idx: usize, r: Result<Light, PrepError>) -> Option<Item> {
    run.reporter.prepared(run.set(idx).path());
    let light = match r {
        Ok(l) => l,
        Err(PrepError::Skip { code, reason }) => {
            run.set_status(
                idx,
                Status::Skipped {
                    code: code.into(),
                    reason,
                },
            );
            return None;
        }
        Err(PrepError::Empty { reason, digest }) => {
            run.note_digest(idx, digest);
            run.set_status(idx, Status::empty_map(reason));
            return None;
        }
        Err(PrepError::TooLarge { bytes }) => {
            run.note_bytes(idx, bytes);
            run.set_status(idx, Status::TooLarge { bytes });
            return None;
        }
        Err(PrepError::Failed { code, reason }) => {
            run.fail(idx, code.as_str(), reason);
            return None;
        }
    };
    run.note_light(idx, &light);
    if let Some(why) = symship_core::set::refused_ref(&light.reference) {
        // Never sent: PostHog fails the whole check or start request for one blank chunk id.
        run.set_status(
            idx,
            Status::Skipped {
                code: symship_core::Code::BadChunkId.into(),
                // the report names the file beside the reason
                reason: format!(
                    "its {} {:?} {why}, which PostHog refuses; it was not sent",
                    run.set(idx).kind().ref_name(),
                    light.reference
                ),
            },
        );
        return None;
    }
    if light.cached {
        run.memo_hits.fetch_add(1, Ordering::Relaxed);
    }
    // Two sets with one ref and different content are two things PostHog cannot tell apart (it
    // holds one set per ref). A non-web set's ref is written by a build step (Hermes: Metro's
    // debug id): the second fails (`conflicting_ref`, exit 1; posthog-cli 0.19.0 sends both and the
    // server refuses the request, `invalid_chunk_ids`), rather than being a quiet duplicate. Web
    // chunks with one id are copies of one chunk unless their own bytes differ (an injected chunk
    // copied and edited): that is said loudly, and the first one is sent, as posthog-cli sends one.
    let kind = run.set(idx).kind();
    let fp = fingerprint(kind, &light);
    if let Some((first, first_fp)) = seen.first(&light.reference, idx, fp) {
        let of = run.chunks.lock().expect("lock")[first].1.source.to_path_buf();
        let path = run.set(idx).path().display().to_string();
        let differs = first_fp != fp;
        if differs && kind != symship_core::kind::Kind::SourceAndMap {
            run.fail(
                idx,
                symship_core::Code::ConflictingRef.as_str(),
                format!(
                    "{path}: its ref {} is also that of {}, whose content differs; PostHog holds one symbol set per ref, so \
                     it was not sent (give each build its own id: build it again, or upload the two separately)",
                    light.reference,
                    of.display()
                ),
            );
            return None;
        }
        if differs {
            run.warn(format!(
                "{path} registers chunk id {} as {} does, but their code differs: only {} is sent, and errors from \
                 {path} will resolve against its map (inject a clean build so each chunk gets its own id)",
                light.reference,
                of.display(),
                of.display()
            ));
        }
        run.set_status(idx, Status::Duplicate { of });
        return None;
    }
    let mut light = light;
    let (container, hold) = match light.container.take() {
        Some(c) => run.keep(Bytes::from(c)),
        None => (None, None),
    };
    let item = Item {
        idx,
        light,
        container,
        hold,
        restarts: 0,
        waits: 0,
    };
    Some(item)
}

/// `bulk_check_upload` calls in flight at once. A re-run of an unchanged build is all checks: one
/// at a time, each waited a round trip; eight at once keep the ordering of their answers, ask a
/// 10,000-chunk build in two round trips, and stay far inside PostHog's per-key rates (spec §2.6:
/// 1,200 a minute).
const CHECKS_IN_FLIGHT: usize = 8;

/// Groups chunks (50 growing to 1000, or [`CHECK_BYTES`] of input: [`crate::batch`]) and asks
/// the server which it lacks. The growth is for chunks that arrive as they are prepared, so the
/// first transfers start early; once a batch is full, the chunks already waiting join it up to
/// the largest batch, since waiting for their own check would gain nothing (a re-run whose hashes
/// are remembered has them all at once: 2,000 chunks were six checks over two round trips, now
/// two or three in one).
async fn check_stage(run: Arc<Run>, mut rx: mpsc::Receiver<Item>, tx: mpsc::Sender<Item>) {
    let mut sizes = Schedule::checks(CHECK_BATCH, CHECK_BYTES);
    let mut group = Vec::with_capacity(CHECK_BATCH);
    let mut group_bytes = 0u64;
    let mut closed = false;
    let mut checking = futures::stream::FuturesOrdered::new();
    loop {
        tokio::select! {
            biased;
            needed = checking.next(), if !checking.is_empty() => {
                for item in needed.expect("not empty") {
                    if tx.send(item).await.is_err() {
                        return;
                    }
                }
            }
            next = rx.recv(), if !closed && checking.len() < CHECKS_IN_FLIGHT => {
                closed = next.is_none();
                if let Some(item) = next {
                    group_bytes += item.light.input_bytes;
                    group.push(item);
                }
                if sizes.full(group.len(), group_bytes) {
                    while group.len() < CHECK_BATCH && group_bytes < CHECK_BYTES {
                        match rx.try_recv() {
                            Ok(item) => {
                                group_bytes += item.light.input_bytes;
                                group.push(item);
                            }
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => {
                                closed = true;
                                break;
                            }
                        }
                    }
                }
                if sizes.full(group.len(), group_bytes) || (closed && !group.is_empty()) {
                    let items: Vec<Item> = std::mem::take(&mut group);
                    group_bytes = 0;
                    sizes.advance();
                    let run = run.clone();
                    checking.push_back(async move {
                        if run.client.is_none() || run.no_check.load(Ordering::Relaxed) {
                            items
                        } else {
                            run.timed(Phase::Check, check(&run, items)).await
                        }
                    });
                }
            }
            else => return,
        }
    }
}

async fn check(run: &Arc<Run>, items: Vec<Item>) -> Vec<Item> {
    let Some(ahead) = run.opts.ahead.as_ref().filter(|a| a.asked() > 0) else {
        return check_now(run, items).await;
    };
    // the chunks whose entry was asked ahead take that answer (once it came); the rest are
    // asked now, without waiting for it
    let flags = run.opts.effective_conflict();
    let (mut asked, mut rest) = (Vec::new(), Vec::new());
    for i in items {
        match ahead.asked_about(&run.entry(&i.light, true), flags) {
            Some(a) => asked.push((i, a)),
            None => rest.push(i),
        }
    }
    let from_ahead = async {
        if asked.is_empty() {
            return Vec::new();
        }
        if let Some(err) = ahead.no_endpoint().await {
            no_check_endpoint(run, &err);
            return asked.into_iter().map(|(i, _)| i).collect();
        }
        let (mut answered, mut unanswered, mut wanted) =
            (Vec::new(), Vec::new(), std::collections::HashSet::new());
        for (i, a) in asked {
            match ahead.answer(a).await {
                Some(needed) => {
                    if needed {
                        wanted.insert(i.light.reference.clone());
                    }
                    answered.push(i);
                }
                // its check ahead failed
                None => unanswered.push(i),
            }
        }
        let wanted: std::collections::HashSet<&str> = wanted.iter().map(String::as_str).collect();
        let mut needed = told(run, answered, &wanted).await;
        needed.extend(check_now(run, unanswered).await);
        needed
    };
    let (mut needed, more) = futures::join!(from_ahead, check_now(run, rest));
    needed.extend(more);
    needed
}

/// Whether a check's answer says the server has no `bulk_check_upload` (403, 404 or 405: an older
/// or self-hosted PostHog, spec §2.2).
pub(crate) fn lacks_check_endpoint(err: &ApiError) -> bool {
    matches!(err.status(), Some(403..=405))
}

/// The server answered a check as [`lacks_check_endpoint`] says: no chunk is checked from now on,
/// `bulk_start_upload` decides. Warns once.
fn no_check_endpoint(run: &Run, err: &str) {
    if !run.no_check.swap(true, Ordering::Relaxed) {
        run.warn(format!(
            "the server has no bulk_check_upload ({err}); treating it as an older PostHog and letting bulk_start_upload decide"
        ));
    }
}

/// The chunks of a check's answer that the server wants (`wanted`, its `chunk_ids_to_upload`);
/// the others are present (or, with `--skip-on-conflict`, told apart from kept ones).
async fn told(run: &Arc<Run>, items: Vec<Item>, wanted: &std::collections::HashSet<&str>) -> Vec<Item> {
    if items.is_empty() {
        return items;
    }
    let asked = items.len();
    let (needed, present): (Vec<Item>, Vec<Item>) = items
        .into_iter()
        .partition(|i| wanted.contains(i.light.reference.as_str()));
    run.reporter.checked(asked, needed.len());
    if run.opts.effective_conflict().1 {
        present_or_kept(run, present).await;
    } else {
        for i in present {
            run.settled(i.idx, &i.light, Status::AlreadyPresent);
        }
    }
    needed
}

/// Asks the server which of `items` it lacks (`bulk_check_upload`, with the run's retries,
/// splits and fallbacks).
async fn check_now(run: &Arc<Run>, mut items: Vec<Item>) -> Vec<Item> {
    let (force, skip_on_conflict) = run.opts.effective_conflict();
    loop {
        if items.is_empty() {
            return items;
        }
        let req = BulkCheckRequest {
            symbol_sets: items.iter().map(|i| run.entry(&i.light, true)).collect(),
            force,
            skip_on_conflict,
        };
        let err = match run
            .api("bulk_check_upload", run.client().bulk_check_upload(&req))
            .await
        {
            Ok(resp) => {
                let wanted: std::collections::HashSet<&str> =
                    resp.chunk_ids_to_upload.iter().map(String::as_str).collect();
                return told(run, items, &wanted).await;
            }
            Err(e) => e,
        };
        if lacks_check_endpoint(&err) {
            no_check_endpoint(run, &err.to_string());
            return items;
        }
        let positions: HashMap<&str, usize> = items
            .iter()
            .enumerate()
            .map(|(p, i)| (i.light.reference.as_str(), p))
            .collect();
        match run.classify(&err, &positions, "check") {
            CallFailure::RetryWithoutRelease => {
                drop(positions);
                release_dropped(run, &err);
            }
            CallFailure::Unbind(pos) => {
                drop(positions);
                let i = items.remove(pos);
                if let Some(i) = rebind(run, i).await {
                    items.insert(pos, i);
                }
            }
            CallFailure::Chunk(pos, code, reason) => {
                drop(positions);
                let i = items.remove(pos);
                let reason = if reason.is_empty() {
                    run.conflict_text(i.idx, &i.light)
                } else {
                    reason
                };
                run.fail(i.idx, code, reason);
            }
            CallFailure::All(code, reason) => {
                drop(positions);
                if err.is_retryable() || err.status().is_none() {
                    // A flaky check must not fail the run: start dedupes as well.
                    run.no_check.store(true, Ordering::Relaxed);
                    run.warn(format!(
                        "bulk_check_upload failed ({reason}); continuing without checks, bulk_start_upload skips what the server has"
                    ));
                    return items;
                }
                if splits(run, &err, items.len()) {
                    return check_halves(run, items).await;
                }
                for i in items {
                    run.fail(i.idx, &code, reason.clone());
                }
                return Vec::new();
            }
        }
    }
}

/// `--skip-on-conflict`: the chunks a check with `skip_on_conflict` did not list, or a start with
/// it gave no URL for, are those the server holds with identical content and those it holds
/// with different content it keeps. One more check of them with `force` (read-only, as every
/// check; spec §2.2: a chunk whose hash differs is listed when `force` is set) tells them apart:
/// those it lists are [`Status::KeptDifferent`], the others [`Status::AlreadyPresent`] (verified:
/// the server holds this very content). When that check fails, all stay "present", unverified
/// ([`crate::UploadReport::presence_unverified`]: `--delete-after` keeps their maps), said once a
/// run.
async fn present_or_kept(run: &Arc<Run>, present: Vec<Item>) {
    if present.is_empty() {
        return;
    }
    let entries = present.iter().map(|i| run.entry(&i.light, true)).collect();
    let kept = match listed_when_forced(run, entries).await {
        Ok(listed) => listed,
        Err(e) => {
            // a refused key is the run's one error, not repeated here
            let why = if e.http().is_some_and(is_key_refusal) {
                "the server refused the API key".to_owned()
            } else {
                e.to_string()
            };
            if !run.kept_unknown.swap(true, Ordering::Relaxed) {
                let first = &present[0];
                run.warn(format!(
                    "--skip-on-conflict: could not ask the server which of {} chunk(s) it holds with different content \
                     ({why}), {} (chunk {}) among them; they are counted already_present and --delete-after keeps their \
                     maps; run again without --skip-on-conflict to have each one that differs named (content_hash_mismatch)",
                    present.len(),
                    run.set(first.idx).path().display(),
                    first.light.reference
                ));
            }
            Default::default()
        }
    };
    for i in present {
        if kept.contains(i.light.reference.as_str()) {
            run.set_status(i.idx, Status::KeptDifferent);
        } else {
            run.settled(i.idx, &i.light, Status::AlreadyPresent);
        }
    }
}

/// Whether a check or start call of `n` chunks that the server refused as a whole with `err`
/// is asked again in halves: a 400 that names no chunk (a field error in one entry, such as a
/// chunk id it refuses, or a release id it does not know) may be one chunk's, and one chunk must
/// not fail its batch. Halving until the offending chunks are alone costs at most about
/// 2 x log2(n) more calls per offending chunk (20 for a batch of 1,000), and none when the
/// server accepts the batch; a run spends at most [`SPLIT_CALLS`] calls so (then a refused batch
/// fails whole, as before).
fn splits(run: &Run, err: &ApiError, n: usize) -> bool {
    n > 1
        && err.status() == Some(400)
        && run
            .split_budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(2))
            .is_ok()
}

/// [`check`] of each half of `items`, one after the other.
fn check_halves(
    run: &Arc<Run>,
    mut items: Vec<Item>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Item>> + Send + '_>> {
    Box::pin(async move {
        let second = items.split_off(items.len() / 2);
        let mut needed = check_now(run, items).await;
        needed.extend(check_now(run, second).await);
        needed
    })
}

fn release_dropped(run: &Run, err: &ApiError) {
    if !run.drop_release.swap(true, Ordering::Relaxed) {
        run.warn(format!(
            "{err}; sending the remaining symbol sets without a release (--skip-release-on-fail)"
        ));
    }
}

/// Forms batches from the checked chunks (sized by [`crate::batch`]) and keeps a few in flight.
async fn coordinate(run: Arc<Run>, mut rx: mpsc::Receiver<Item>) {
    let mut sizes = Schedule::starts(run.opts.batch_size);
    let ceiling = run.opts.concurrency.ceiling();
    // Enough waiting chunks for the next batches; beyond that the check stage waits. Unbounded,
    // every chunk of a 50,000-chunk build that injected faster than it uploaded waited here with
    // its container (peak RSS 229 MB).
    let max_pending = 2 * run.opts.batch_size.max() + ceiling;
    let mut pending: VecDeque<Item> = VecDeque::new();
    let mut pending_bytes = 0u64;
    let mut in_flight: JoinSet<Vec<Item>> = JoinSet::new();
    let mut upstream_done = false;
    loop {
        while in_flight.len() < 2 + ceiling.div_ceil(sizes.size())
            && (sizes.full(pending.len(), pending_bytes) || (upstream_done && !pending.is_empty()))
        {
            let n = sizes.take(pending.iter().map(|i| i.light.input_bytes));
            let items: Vec<Item> = pending.drain(..n).collect();
            pending_bytes -= items.iter().map(|i| i.light.input_bytes).sum::<u64>();
            sizes.advance();
            if run.client.is_none() {
                in_flight.spawn(dry_batch(run.clone(), items));
            } else {
                in_flight.spawn(upload_batch(run.clone(), items));
            }
        }
        if upstream_done && pending.is_empty() && in_flight.is_empty() {
            return;
        }
        tokio::select! {
            item = rx.recv(), if !upstream_done && pending.len() < max_pending => match item {
                Some(i) => {
                    pending_bytes += i.light.input_bytes;
                    pending.push_back(i);
                }
                None => upstream_done = true,
            },
            done = in_flight.join_next(), if !in_flight.is_empty() => {
                let again = done.expect("non-empty").expect("batches do not panic");
                pending_bytes += again.iter().map(|i| i.light.input_bytes).sum::<u64>();
                pending.extend(again);
            }
        }
    }
}

/// Builds the containers of a batch (event mode, or dropped to save memory) to learn their
/// sizes. Each is kept for its transfer if the memory budget allows, else built again then.
async fn build_containers(run: &Arc<Run>, items: Vec<Item>) -> Vec<(Item, Option<Bytes>)> {
    let built = futures::future::join_all(items.into_iter().map(|mut item| {
        let run = run.clone();
        async move {
            let r = match item.container.take() {
                Some(c) => Ok((Some(c), item.hold.take())),
                // A large pair whose size is not known yet is built once, when its transfer
                // comes, rather than here and again there: it is started without a declared
                // length, so it goes by presigned POST. Unless it could be too large: that is
                // found out before the start, so no unfinished symbol set is left behind.
                None if item.light.content_length.is_none()
                    && run.client.is_some()
                    && run.set(item.idx).input_len() >= run.big_input
                    && !crate::container::could_exceed_limit(item.light.input_bytes) =>
                {
                    Ok((None, None))
                }
                None => {
                    let light = item.light.clone();
                    run.prepare(item.idx, move |p| rebuild(p, &light)).await.map(|c| {
                        item.light.content_length = Some(c.len() as u64);
                        run.keep(c)
                    })
                }
            };
            (item, r)
        }
    }))
    .await;
    let mut out = Vec::with_capacity(built.len());
    for (mut item, r) in built {
        match r {
            Ok((c, hold)) => {
                if let Some(len) = item.light.content_length {
                    run.note_bytes(item.idx, len);
                }
                item.hold = hold;
                out.push((item, c));
            }
            Err(e) => failed_again(run, item.idx, e),
        }
    }
    out
}

async fn dry_batch(run: Arc<Run>, items: Vec<Item>) -> Vec<Item> {
    for (item, _) in build_containers(&run, items).await {
        run.set_status(item.idx, Status::WouldUpload);
    }
    Vec::new()
}

/// Builds the container of a set checked earlier ([`SymbolSet::write_container`] checks its
/// input is what was prepared), then makes sure the container is what was hashed and checked.
fn rebuild(set: &dyn SymbolSet, expected: &Light) -> Result<Bytes, PrepError> {
    let c = set.write_container(expected)?;
    if c.len() as u64 > crate::container::MAX_SET_BYTES {
        return Err(PrepError::TooLarge {
            bytes: c.len() as u64,
        });
    }
    let changed = || PrepError::changed(set.path());
    if expected.hash_is_container && crate::container::content_hash(&c) != expected.content_hash {
        return Err(changed());
    }
    if expected.content_length.is_some_and(|len| len != c.len() as u64) {
        return Err(changed());
    }
    Ok(Bytes::from(c))
}

/// Why a chunk's transfer did not happen.
enum Sent {
    Prep(PrepError),
    Transfer(TransferError),
}

struct Landed {
    idx: usize,
    symbol_set_id: Uuid,
    content_hash: String,
    /// What the check and start calls said about it (to ask the server again).
    entry: SymbolSetUpload,
    /// To start it again when another upload of the same chunk replaced its object.
    item: Item,
}

/// One batch: containers, start, transfers, finish. Returns the chunks whose presigned URL
/// expired, to be started again.
async fn upload_batch(run: Arc<Run>, items: Vec<Item>) -> Vec<Item> {
    let mut ready = build_containers(&run, items).await;
    let (force, skip_on_conflict) = run.opts.effective_conflict();
    let attempt_id = Uuid::now_v7();
    if ready.is_empty() {
        return Vec::new();
    }
    let mut room = run
        .waiting
        .clone()
        .acquire_many_owned(ready.len() as u32)
        .await
        .expect("open");
    // start, dropping chunks the server names as conflicting
    let resp = loop {
        if ready.is_empty() {
            return Vec::new();
        }
        let req = BulkStartRequest {
            symbol_sets: ready.iter().map(|(i, _)| run.entry(&i.light, true)).collect(),
            upload_attempt_id: attempt_id,
            upload_run_id: run.run_id,
            force,
            skip_on_conflict,
        };
        let err = match run
            .timed(
                Phase::Start,
                run.api("bulk_start_upload", run.client().bulk_start_upload(&req)),
            )
            .await
        {
            Ok(r) => break r,
            Err(e) => e,
        };
        let positions: HashMap<&str, usize> = ready
            .iter()
            .enumerate()
            .map(|(p, (i, _))| (i.light.reference.as_str(), p))
            .collect();
        match run.classify(&err, &positions, "start") {
            CallFailure::RetryWithoutRelease => {
                drop(positions);
                release_dropped(&run, &err);
            }
            CallFailure::Unbind(pos) => {
                drop(positions);
                let (mut i, c) = ready.remove(pos);
                i.container = c;
                if let Some(mut i) = rebind(&run, i).await {
                    let c = i.container.take();
                    ready.insert(pos, (i, c));
                }
            }
            CallFailure::Chunk(pos, code, reason) => {
                drop(positions);
                let (i, _) = ready.remove(pos);
                let reason = if reason.is_empty() {
                    run.conflict_text(i.idx, &i.light)
                } else {
                    reason
                };
                run.fail(i.idx, code, reason);
            }
            CallFailure::All(code, reason) => {
                drop(positions);
                if splits(&run, &err, ready.len()) {
                    // Each half is a batch of its own (its own start, transfers and finish).
                    drop(room);
                    let mut items: Vec<Item> = ready
                        .into_iter()
                        .map(|(mut i, c)| {
                            i.container = c;
                            i
                        })
                        .collect();
                    let second = items.split_off(items.len() / 2);
                    let mut again = Box::pin(upload_batch(run.clone(), items)).await;
                    again.extend(Box::pin(upload_batch(run.clone(), second)).await);
                    return again;
                }
                for (i, _) in ready {
                    run.fail(
                        i.idx,
                        &code,
                        format!("{reason} (bulk_start_upload; nothing of this chunk was sent)"),
                    );
                }
                return Vec::new();
            }
        }
    };
    let issued = Instant::now();
    let mut id_map = resp.id_map;
    let mut sends = Vec::new();
    // chunks start gave no URL for: the server holds content under their ids
    let mut held = Vec::new();
    for (item, bytes) in ready {
        match id_map.remove(&item.light.reference) {
            None => held.push(item),
            Some(started) => {
                let place = room.split(1).expect("one permit per chunk");
                sends.push((item, bytes, started, place));
            }
        }
    }
    drop(room);
    // With --skip-on-conflict, start gives no URL for a chunk whose stored content differs too
    // (spec §3, `_needs_upload` case 6): a chunk the check listed (its set binds the run's
    // release, or there was no check) is told apart as the check's are, while the transfers run.
    let told = async {
        if skip_on_conflict {
            present_or_kept(&run, held).await;
        } else {
            for i in held {
                run.settled(i.idx, &i.light, Status::AlreadyPresent);
            }
        }
    };
    let sending = futures::future::join_all(sends.into_iter().map(|(item, bytes, started, place)| {
        let run = run.clone();
        async move {
            let slot = run.transfers.acquire().await;
            drop(place);
            // What a transfer needs once it runs (a late build, the request, its retries) is
            // allocated only then: the chunks of the batches in flight wait above, each future
            // holding only the chunk (at 50,000 chunks the waiting futures held 3.6 MB).
            Box::pin(async move {
                let mut _late = None;
                let bytes = match bytes {
                    Some(b) => b,
                    None => {
                        // large, or dropped to stay within the memory budget: built now, within
                        // the budget of late builds (its input size bounds its container's)
                        let kib = (run.set(item.idx).input_len() / 1024).clamp(1, run.built_late_kib() as u64)
                            as u32;
                        _late = Some(
                            run.built_late
                                .clone()
                                .acquire_many_owned(kib)
                                .await
                                .expect("open"),
                        );
                        let light = item.light.clone();
                        match run.prepare(item.idx, move |p| rebuild(p, &light)).await {
                            Ok(b) => {
                                run.note_bytes(item.idx, b.len() as u64);
                                b
                            }
                            Err(e) => return (item, started.symbol_set_id, Err(Sent::Prep(e))),
                        }
                    }
                };
                let what = format!(
                    "upload of chunk {} ({})",
                    item.light.reference,
                    run.set(item.idx).path().display()
                );
                let count = || {
                    run.count("transfer");
                    slot.sending();
                };
                let on_retry = |e: &ApiError| slot.attempt_failed(Outcome::of_error(e));
                let ctx = TransferContext {
                    client: run.client(),
                    latch: &run.fallback_latch,
                    on_attempt: &count,
                    on_retry: &on_retry,
                    hosts: &run.hosts,
                };
                let r = run
                    .timed(
                        Phase::Transfer,
                        transfer::send(&ctx, &started, issued, &bytes, &what),
                    )
                    .await;
                slot.finish(match &r {
                    Ok(()) => Outcome::Sent {
                        bytes: bytes.len() as u64,
                    },
                    Err(TransferError::Failed(e)) => Outcome::of_error(e),
                    Err(_) => Outcome::Other,
                });
                if r.is_ok() {
                    run.bytes_sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    run.reporter
                        .transferred(&item.light.reference, bytes.len() as u64);
                }
                drop(bytes);
                (item, started.symbol_set_id, r.map_err(Sent::Transfer))
            })
            .await
        }
    }));
    let (outcomes, ()) = futures::future::join(sending, told).await;
    let mut landed = Vec::new();
    let mut again = Vec::new();
    for (mut item, symbol_set_id, r) in outcomes {
        item.hold = None;
        let r = match r {
            Err(Sent::Prep(PrepError::TooLarge { bytes })) => {
                run.set_status(item.idx, Status::TooLarge { bytes });
                continue;
            }
            Err(Sent::Prep(PrepError::Skip { code, reason } | PrepError::Failed { code, reason })) => {
                run.fail(item.idx, code.as_str(), reason);
                continue;
            }
            Err(Sent::Prep(PrepError::Empty { reason, .. })) => {
                run.fail(item.idx, EMPTY_MAP, reason);
                continue;
            }
            Err(Sent::Transfer(e)) => Err(e),
            Ok(()) => Ok(()),
        };
        match r {
            Ok(()) => landed.push(Landed {
                idx: item.idx,
                symbol_set_id,
                content_hash: item.light.content_hash.clone(),
                entry: run.entry(&item.light, true),
                item,
            }),
            // Never sent: it waited too long for a transfer slot. Other chunks were being sent
            // meanwhile, so starting it again always makes progress.
            Err(TransferError::Expired { sent: false, .. }) if item.waits < MAX_WAIT_RESTARTS => {
                item.waits += 1;
                again.push(item);
            }
            Err(TransferError::Expired { sent: true, .. }) if item.restarts < run.opts.max_restarts => {
                item.restarts += 1;
                again.push(item);
            }
            Err(TransferError::Expired { message: msg, .. }) => run.fail(
                item.idx,
                "url_expired",
                format!(
                    "{msg}; gave up after {} fresh URLs (is the upload link very slow? lower --concurrency)",
                    item.restarts + item.waits
                ),
            ),
            Err(TransferError::Failed(e)) => {
                let code = e
                    .code()
                    .map_or("transfer_failed".to_owned(), |c| format!("transfer_failed:{c}"));
                run.fail(item.idx, &code, e.to_string());
            }
            Err(TransferError::BadUrl(msg)) => run.fail(item.idx, "bad_presigned_url", msg),
            Err(e @ TransferError::Unreachable { .. }) => {
                run.fail(item.idx, "storage_unreachable", e.to_string())
            }
        }
    }
    if !landed.is_empty() {
        again.extend(finish(&run, attempt_id, landed).await);
    }
    again
}

/// Finishes the landed chunks. Returns those to start again: their object was replaced by
/// another upload of the same chunk that has not finished yet.
async fn finish(run: &Arc<Run>, attempt_id: Uuid, landed: Vec<Landed>) -> Vec<Item> {
    let e = match finish_call(run, attempt_id, &landed).await {
        Ok(()) => {
            for l in landed {
                run.settled(l.idx, &l.item.light, Status::Uploaded);
            }
            return Vec::new();
        }
        Err(e) => e,
    };
    if e.http().is_some_and(is_key_refusal) {
        // asking which chunks the server holds would be refused too
        let code = finish_code(&e);
        for l in landed {
            run.fail(
                l.idx,
                &code,
                format!(
                    "{KEY_REFUSED_REASON}; the bytes were sent but not finished (a re-run sends them again)"
                ),
            );
        }
        return Vec::new();
    }
    // The answer is not the whole truth: a lost answer (reset, deadline, 5xx after the commit)
    // may hide a finish that was recorded, and `file_not_found` fails the whole call for one
    // chunk (another upload of the same chunk started it again, which moved its object). Ask the
    // server which chunks it now holds finished with this content before calling any failed.
    let not_committed = e.has_code("file_not_found") || e.has_code("symbol_set_not_found");
    let held = match held_finished(run, &landed).await {
        Ok(h) => h,
        Err(check_err) => {
            let code = finish_code(&e);
            for l in landed {
                run.fail(
                    l.idx,
                    &code,
                    format!("{e}; the bytes were sent but the server did not confirm them as finished, and asking it failed too ({check_err}); a re-run sends what is missing"),
                );
            }
            return Vec::new();
        }
    };
    let mut open = Vec::new();
    for (l, held) in landed.into_iter().zip(held) {
        if held {
            // Our own finish, when its answer was lost; another upload's, when ours was refused.
            run.settled(
                l.idx,
                &l.item.light,
                if not_committed {
                    Status::AlreadyPresent
                } else {
                    Status::Uploaded
                },
            );
        } else {
            open.push(l);
        }
    }
    if !not_committed {
        let code = finish_code(&e);
        for l in open {
            run.fail(
                l.idx,
                &code,
                format!("{e}; the bytes were sent but the server holds no finished symbol set with this content (asked with bulk_check_upload), so the symbol set is not counted (a re-run sends it again)"),
            );
        }
        return Vec::new();
    }
    // One refused chunk fails the whole call: finish the others one by one. A chunk whose own
    // finish is refused had its object replaced by another upload that has not finished yet.
    let mut replaced = Vec::new();
    for l in open {
        let one = [l];
        let e1 = match finish_call(run, attempt_id, &one).await {
            Ok(()) => {
                run.settled(one[0].idx, &one[0].item.light, Status::Uploaded);
                continue;
            }
            Err(e1) => e1,
        };
        let [l] = one;
        if e1.has_code("file_not_found") && l.item.restarts < run.opts.max_restarts {
            replaced.push(l);
        } else if matches!(
            held_finished(run, std::slice::from_ref(&l)).await.as_deref(),
            Ok([true])
        ) {
            run.settled(l.idx, &l.item.light, Status::AlreadyPresent);
        } else {
            run.fail(
                l.idx,
                &finish_code(&e1),
                format!("{e1}; the bytes were sent but the server did not record them as finished (asked with bulk_check_upload), so the symbol set is not counted (a re-run sends it again)"),
            );
        }
    }
    wait_for_other_upload(run, replaced).await
}

/// Waits for the uploads that replaced these chunks' objects to finish them, asking the server
/// with `bulk_check_upload` after 0.25, 0.5, 1 and 2 s (with jitter). Returns the chunks still not
/// finished by then, to be started again.
///
/// Starting again at once would replace the other upload's object in turn: two uploads of one
/// build would take each other's chunks away until their restarts ran out (seen on CI as
/// `finish_failed:file_not_found` in the two-uploads test). Waiting lets the later start win.
async fn wait_for_other_upload(run: &Arc<Run>, mut waiting: Vec<Landed>) -> Vec<Item> {
    for ceiling_ms in [250u64, 500, 1000, 2000] {
        if waiting.is_empty() {
            return Vec::new();
        }
        let ms = ceiling_ms / 2 + rand::random_range(0..=ceiling_ms / 2);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let Ok(held) = held_finished(run, &waiting).await else {
            continue;
        };
        let mut still = Vec::new();
        for (l, held) in waiting.into_iter().zip(held) {
            if held {
                run.settled(l.idx, &l.item.light, Status::AlreadyPresent);
            } else {
                still.push(l);
            }
        }
        waiting = still;
    }
    waiting
        .into_iter()
        .map(|l| {
            let mut item = l.item;
            item.restarts += 1;
            item
        })
        .collect()
}

fn finish_code(e: &ApiError) -> String {
    e.code()
        .map_or("finish_failed".to_owned(), |c| format!("finish_failed:{c}"))
}

async fn finish_call(run: &Arc<Run>, attempt_id: Uuid, landed: &[Landed]) -> Result<(), ApiError> {
    let req = BulkFinishRequest {
        content_hashes: landed
            .iter()
            .map(|l| (l.symbol_set_id, l.content_hash.clone()))
            .collect(),
        upload_attempt_id: attempt_id,
        upload_run_id: run.run_id,
    };
    run.timed(
        Phase::Finish,
        run.api("bulk_finish_upload", run.client().bulk_finish_upload(&req)),
    )
    .await
    .map(|_| ())
}

/// For each landed chunk, whether the server holds it finished with this content (it is absent
/// from a `bulk_check_upload` answer).
async fn held_finished(run: &Arc<Run>, landed: &[Landed]) -> Result<Vec<bool>, ApiError> {
    let wanted = listed_when_forced(run, landed.iter().map(|l| l.entry.clone()).collect()).await?;
    Ok(landed
        .iter()
        .map(|l| !wanted.contains(l.entry.chunk_id.as_str()))
        .collect())
}

/// The chunk ids a `bulk_check_upload` with `force` lists among `entries`: with force, a chunk is
/// left out only when the server holds it finished with an identical hash (spec §2.2; with
/// skip_on_conflict, a conflicting one would be left out too). A check changes nothing.
async fn listed_when_forced(
    run: &Arc<Run>,
    entries: Vec<SymbolSetUpload>,
) -> Result<std::collections::HashSet<String>, ApiError> {
    let req = BulkCheckRequest {
        symbol_sets: entries,
        force: true,
        skip_on_conflict: false,
    };
    let resp = run
        .api("bulk_check_upload", run.client().bulk_check_upload(&req))
        .await?;
    Ok(resp.chunk_ids_to_upload.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set that can only be known from the memo: preparing it fails.
    #[derive(Debug)]
    struct OnlyRemembered;

    impl SymbolSet for OnlyRemembered {
        fn kind(&self) -> symship_core::kind::Kind {
            symship_core::kind::Kind::SourceAndMap
        }
        fn path(&self) -> &std::path::Path {
            std::path::Path::new("gone.js")
        }
        fn input_len(&self) -> u64 {
            10
        }
        fn prepare(&self, _: &Context<'_>) -> Result<Light, PrepError> {
            Err(PrepError::Failed {
                code: symship_core::Code::Unreadable,
                reason: "gone.js: read".into(),
            })
        }
        fn remembered(&self, _: &Context<'_>) -> Option<Result<Light, PrepError>> {
            let mut p = Light::of_container(
                "0192d8a0-0000-7000-8000-000000000001".into(),
                None,
                b"x",
                b"c".to_vec(),
            );
            p.container = None;
            p.cached = true;
            Some(Ok(p))
        }
        fn write_container(&self, _: &Light) -> Result<Vec<u8>, PrepError> {
            // a plan sizes the container
            Ok(b"c".to_vec())
        }
    }

    /// What a set prepares without reading (`SymbolSet::remembered`) is taken as it is: its
    /// `prepare` is never called.
    #[test]
    fn a_remembered_set_is_not_prepared() {
        struct Quiet;
        impl crate::report::Reporter for Quiet {}
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let sets: Vec<Arc<dyn SymbolSet>> = vec![Arc::new(OnlyRemembered)];
        let report = rt.block_on(plan(sets, &UploadOptions::default(), Arc::new(Quiet)));
        assert_eq!(report.chunks.len(), 1);
        let c = &report.chunks[0];
        assert_eq!(c.status, Status::WouldUpload, "{c:?}");
        assert_eq!(
            c.chunk_id().as_deref(),
            Some("0192d8a0-0000-7000-8000-000000000001")
        );
    }

    #[test]
    fn seen_refs_tell_each_text_apart() {
        let mut seen = SeenRefs::default();
        let id = "0192d8a0-0000-7000-8000-000000000001";
        assert_eq!(seen.first(id, 0, 10), None);
        assert_eq!(seen.first("map-id-7", 1, 11), None);
        // the same UUID written otherwise is another ref (PostHog compares the text)
        assert_eq!(seen.first(&id.to_uppercase(), 2, 12), None);
        assert_eq!(seen.first(&id.replace('-', ""), 3, 13), None);
        assert_eq!(seen.first(id, 4, 99), Some((0, 10)));
        assert_eq!(seen.first("map-id-7", 5, 99), Some((1, 11)));
        assert_eq!(seen.first(&id.to_uppercase(), 6, 99), Some((2, 12)));
        assert_eq!(seen.first(&id.replace('-', ""), 7, 99), Some((3, 13)));
        assert_eq!((seen.uuids.len(), seen.others.len()), (1, 3));
    }

    #[test]
    fn finds_the_named_chunk() {
        assert_eq!(
            named_ref(Some("Symbol set abc-1 already exists with different content.")),
            Some("abc-1")
        );
        assert_eq!(
            named_ref(Some("Symbol set x already has a release ID")),
            Some("x")
        );
        assert_eq!(named_ref(Some("Duplicate chunk IDs provided: a")), None);
        assert_eq!(named_ref(None), None);
    }

    #[test]
    fn event_mode_always_forces() {
        let mut o = UploadOptions {
            skip_on_conflict: true,
            ..Default::default()
        };
        assert_eq!(o.effective_conflict(), (true, false));
        o.mode = ReleaseMode::SymbolSet;
        assert_eq!(o.effective_conflict(), (false, true));
    }
}

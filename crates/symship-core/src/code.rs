//! The closed registry of every code symship reports: why a file or chunk was skipped, why one
//! failed, the error codes PostHog's API answers with, and what is wrong with a configuration.
//!
//! Each [`Code`] has a stable string (what the text summary, the JSON summary's `code` fields,
//! the GitHub annotations and `doctor` print; never changed once released), a kind, a short title
//! and a hint saying what to do, and an anchor in the README's table of codes
//! (`README.md#codes`, generated from this registry by [`Code::markdown_table`] and compared with
//! it by a test). The shape follows uv's `Hint` on library errors (`crates/uv-errors`): the code
//! travels with the error, and the hint is rendered once, wherever it is shown.
//!
//! Server codes are PostHog's `code` member of an error answer (`../shared/spec/posthog-protocol.md`
//! §2.8; drf-exceptions-hog for the authentication and throttling ones). Upload failures that carry
//! a server or S3 code print it after a colon (`finish_failed:file_too_large`,
//! `transfer_failed:AccessDenied`): [`Code::parse_reported`] reads both parts.

use std::fmt;

/// What a code says about the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CodeKind {
    /// A file or chunk left alone on purpose; the run goes on (a failure only with `--strict`).
    Skip,
    /// Something symship had to do and could not: the run exits 1.
    Failure,
    /// A code PostHog's API answered with; the chunks it concerns did not land.
    Server,
    /// The configuration (flags, environment, dotenv or credentials file) is unusable: exit 2.
    Config,
    /// `sourcemap explain`'s verdict for one stack frame: resolves, not checked, or the first
    /// broken link of the chain PostHog walks (kinds-and-explain.md §4.4).
    Frame,
}

impl CodeKind {
    /// The kind as the README's table names it.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::Skip => "skip",
            CodeKind::Failure => "failure",
            CodeKind::Server => "server",
            CodeKind::Config => "config",
            CodeKind::Frame => "frame",
        }
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $kind:ident, $title:literal, $hint:literal; )*) => {
        /// Every code symship reports (see the module documentation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in the README table's order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable string printed in the summaries, annotations and `doctor`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// Skip, failure, server or configuration code.
            pub const fn kind(self) -> CodeKind {
                match self { $(Code::$variant => CodeKind::$kind,)* }
            }

            /// What happened, in a few words.
            pub const fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }

            /// What to do about it.
            pub const fn hint(self) -> &'static str {
                match self { $(Code::$variant => $hint,)* }
            }
        }
    };
}

codes! {
    // --- files the scan or inject left alone ---
    /// A JavaScript file with no `sourceMappingURL` and no `<file>.map` beside it.
    NoMap = "no_map", Skip, "no sourcemap found",
        "generate a sourcemap for it, or leave it out with --exclude";
    /// A chunk that carries a chunk id (its `//# chunkId=` comment) and neither a
    /// `sourceMappingURL` comment nor a map: what `--delete-after` leaves once the server holds
    /// it. Not a problem: no warning per chunk, not a skip for `--strict` or "nothing to process".
    MapRemoved = "map_removed", Skip, "sourcemap removed after upload",
        "nothing to do: a --delete-after run uploaded this chunk and removed its map and reference; rebuild to upload it again";
    /// A file whose bytes are not UTF-8.
    NotUtf8 = "not_utf8", Skip, "not UTF-8 text",
        "JavaScript chunks must be UTF-8; exclude this file with --exclude";
    /// A file that could not be read.
    Unreadable = "unreadable", Skip, "cannot be read",
        "check the file's permissions, or leave it out with --exclude";
    /// A file reached through a loop of symbolic links (file links to each other: `a.js -> b.js
    /// -> a.js`; for `dsym upload`, directory links back to a directory above too, which the
    /// JavaScript scan passes over without a word), or through a chain of more links than the
    /// system follows (40: `ELOOP`, as for a loop).
    SymlinkLoop = "symlink_loop", Skip, "symbolic-link loop, or a chain of links too long to follow",
        "remove the loop or shorten the chain (over 40 links), or leave the link out with --exclude";
    /// A symbolic link, named as a chunk, whose target does not exist (a link the build or a
    /// deploy step left behind after the file it named was moved or deleted).
    BrokenLink = "broken_link", Skip, "symbolic link to a missing file",
        "point the link at an existing file or remove it, or leave it out with --exclude";
    /// A chunk whose map lies outside the scanned directory.
    MapOutsideRoot = "map_outside_root", Skip, "sourcemap outside the scanned directory",
        "scan a directory that contains both the chunk and its map, or name the file itself (-d FILE or --stdin)";
    /// Several chunks would pair with one map by name.
    AmbiguousMap = "ambiguous_map", Skip, "several chunks claim one map",
        "add a //# sourceMappingURL comment to say which map is its own";
    /// A map that is not a valid sourcemap.
    BadMap = "bad_map", Skip, "malformed sourcemap",
        "check the bundler's sourcemap settings and rebuild";
    /// A map with no mappings, sources or names (under `--delete-after` it is deleted).
    EmptyMap = "empty_map", Skip, "empty sourcemap",
        "check the bundler's sourcemap settings and rebuild";
    /// A chunk reached through a symbolic link that leads out of the scanned directory.
    LinkOutsideRoot = "link_outside_root", Skip, "reached through a link out of the directory",
        "scan the directory the link leads to, or leave the link out with --exclude";
    /// A chunk-id snippet a minifier rewrote after injection.
    SnippetRewritten = "snippet_rewritten", Skip, "snippet rewritten by a minifier",
        "set the release in the bundler plugin, or inject after minifying";
    /// A chunk whose registration (the snippet's `_posthogChunkIds[...] = "<id>"`, or the
    /// `//# chunkId=` comment) names an id that is not a UUID, or a symbol set whose ref the
    /// server refuses (blank, spaces around it, a NUL): posthog-cli and symship only write UUIDs,
    /// and PostHog's `bulk_check_upload`/`bulk_start_upload` fail the whole request for a blank one.
    BadChunkId = "bad_chunk_id", Skip, "unusable chunk id",
        "the file was edited after injection: rebuild it (or remove the snippet at its top and its //# chunkId= line), then inject again; for a Hermes map, run `symship hermes clone` again";
    /// A chunk that references a map file other, different chunks reference too, which
    /// describes one of those (its `file` field or its name), or none can be told.
    MapOfAnotherFile = "map_of_another_file", Skip, "sourcemap of another file",
        "give each generated file its own sourcemap in the bundler (the map's \"file\" field names the one it describes), or leave this chunk out with --exclude";
    // --- native debug files `symbol-sets upload` and `dsym upload` left alone ---
    /// An executable or library without DWARF (stripped, or built without -g).
    NoDebugInfo = "no_debug_info", Skip, "no debug info",
        "build with debug info (-g; Rust: debug = \"line-tables-only\") and upload before stripping, or upload the dSYM or objcopy --only-keep-debug companion";
    /// An ELF file with DWARF but no GNU build id: no crash can be matched to it.
    NoBuildId = "no_build_id", Skip, "no GNU build id",
        "link with -Wl,--build-id=sha1 (Rust: -C link-arg=-Wl,--build-id=sha1; Go: -ldflags=-B=gobuildid, or where Go refuses it (1.19): -ldflags=-B=0x followed by 40 hex digits new for each build)";
    /// A Mach-O file with DWARF but no (or a nil) LC_UUID.
    NoUuid = "no_uuid", Skip, "no LC_UUID",
        "link without -no_uuid (Apple's ld adds an LC_UUID by default; Go's linker may write none)";
    /// DWARF PostHog cannot read compressed: a Mach-O with `__zdebug_*` sections (Go's default on
    /// macOS), an ELF whose sections are compressed with zstd.
    CompressedDwarf = "compressed_dwarf", Skip, "compressed DWARF",
        "Go on macOS (__zdebug_*): rebuild with -ldflags=-compressdwarf=false; ELF compressed with zstd: upload a copy made with objcopy --decompress-debug-sections (or --compress-debug-sections=zlib)";
    /// A `.dwo`/`.dwp` split-DWARF file, which PostHog does not read.
    SplitDwarf = "split_dwarf", Skip, "split DWARF",
        "build without -gsplit-dwarf, or upload an objcopy --only-keep-debug companion";
    /// A zipped dSYM (`App.app.dSYM.zip`, as fastlane's gym and App Store Connect write them):
    /// not read inside the zip.
    ZippedDsym = "zipped_dsym", Skip, "a zipped dSYM",
        "unzip it (unzip App.app.dSYM.zip -d dSYMs) and upload the unzipped folder";
    /// A regular file named `*.dSYM`: a dSYM is a bundle directory, so the file is not read as
    /// one (a zipped dSYM renamed, a dSYM's DWARF file copied out of its bundle, ...).
    NotABundle = "not_a_bundle", Skip, "a file named .dSYM, not a bundle directory",
        "a dSYM is a folder (App.app.dSYM/Contents/Resources/DWARF/App): copy the whole bundle (cp -R or ditto); a zip: unzip it and upload the unzipped folder; a dSYM's DWARF file alone: upload it with `symship symbol-sets upload`, which reads loose Mach-O files";
    /// Another file has the same debug id and at least as much DWARF; that one is sent.
    DuplicateDebugId = "duplicate_debug_id", Skip, "debug id shared with another file",
        "nothing to do for a copy or a debug companion: the file with the most debug info (or the dSYM; of two dSYMs, the first by path) is uploaded; two programs with one build id given by hand resolve against each other: give each its own (--build-id=sha1)";
    /// A file that starts like an ELF or Mach-O file but whose headers are not valid.
    Unparseable = "unparseable", Skip, "not a valid ELF or Mach-O file",
        "check the file is complete (not truncated by a failed build), or move it out of the directory";
    // --- chunks the upload did not send ---
    /// The server already holds identical content.
    AlreadyPresent = "already_present", Skip, "already on the server",
        "nothing to do: the server holds this content";
    /// With `--skip-on-conflict`: the server holds different content under this chunk id and kept
    /// it (this build's symbol set is not on the server; the exit code stays 0, as asked).
    KeptDifferent = "kept_different", Skip, "the server kept different content",
        "the server holds other content under this chunk id and --skip-on-conflict kept it, so this build's map is not on the server (--delete-after keeps the map): --force replaces it";
    /// The compressed symbol set is over PostHog's 100 MiB limit.
    TooLarge = "too_large", Skip, "over PostHog's 100 MiB limit",
        "a JavaScript or Hermes chunk: split it in the bundler; a debug file: upload the debug info alone (objcopy --only-keep-debug; the dSYM), build with less of it (-gline-tables-only, -g1), or leave out --include-source";
    /// Another set of the run has the same ref and different content (two Hermes builds with one
    /// Metro debug id); PostHog holds one set per ref, so only the first is sent.
    ConflictingRef = "conflicting_ref", Failure, "ref shared with a different symbol set",
        "give each build its own id (build it again), or upload the two separately; a re-run alone fails the same way";
    /// Another chunk of the run has the same chunk id; only the first is sent.
    Duplicate = "duplicate", Skip, "chunk id shared with another chunk",
        "nothing to do for a copy of one chunk; otherwise inject a clean build so each chunk gets its own id";
    // --- Hermes maps and ProGuard mappings the upload passed over ---
    /// `hermes upload`: a file under `--directory` that is not a JSON object (the bundle, the bytecode).
    NotAMap = "not_a_map", Skip, "not a sourcemap",
        "nothing to do: hermes upload reads every file under --directory and sends only the composed maps";
    /// `hermes upload`: a map without `chunk_id`, `chunkId` or `debugId`; `sourcemap upload`: a web
    /// chunk that was never injected; `sourcemap explain`: a frame the SDK sent without a chunk id.
    NoChunkId = "no_chunk_id", Skip, "no chunk id",
        "a web chunk that was not injected: run `symship sourcemap inject` before `sourcemap upload`, or `sourcemap process` to do both; a Hermes map: run `symship hermes clone` after the build composed the map, or set up posthog-react-native's Metro serializer (or Expo config) so the packager map carries one; a stack frame (`sourcemap explain`): the file that ran was not injected, or is not the injected one, or the SDK is too old to tag frames: inject before deploying, deploy the injected files unchanged, and use a current posthog-js";
    /// `proguard upload`: a file the ProGuard mapping parser does not read as a mapping.
    InvalidMapping = "invalid_mapping", Skip, "not a ProGuard mapping",
        "pass the mapping R8 or ProGuard wrote, e.g. app/build/outputs/mapping/release/mapping.txt";
    // --- failures of the run ---
    /// Inject had to write a chunk or its map and could not.
    WriteFailed = "write_failed", Failure, "could not be written",
        "check the directory's permissions and free space, then run again";
    /// `--delete-after` could not read a chunk to remove its `sourceMappingURL` line.
    ReadFailed = "read_failed", Failure, "chunk not read",
        "check the file's permissions and run again; until then the chunk still names its map";
    /// `--delete-after` could not remove a chunk's `sourceMappingURL` line.
    RewriteFailed = "rewrite_failed", Failure, "reference not removed",
        "check the file's permissions and run again; until then the chunk still names its map";
    /// `--delete-after` could not delete an uploaded map.
    DeleteFailed = "delete_failed", Failure, "map not deleted",
        "check the directory's permissions and run again; until then the map stays in the build";
    /// `hermes upload`: a map with a chunk id but no `x_hermes_function_offsets` (usually Metro's
    /// packager map beside the composed one); posthog-cli 0.19.0 fails the whole run there.
    NotHermesMap = "not_hermes_map", Failure, "not a composed Hermes map",
        "pass --directory the folder of the composed map only, or run `symship hermes clone` to copy the chunk id into the composed map";
    /// The symbol set could not be compressed.
    ContainerFailed = "container_failed", Failure, "symbol set not built",
        "run again; if it persists, report it with the file";
    /// An event-mode chunk without a content hash (an internal error).
    NoContentHash = "no_content_hash", Failure, "no content hash",
        "run again; if it persists, report it with the file";
    /// The chunk or its map changed between the check and the transfer.
    ChangedDuringUpload = "changed_during_upload", Failure, "changed while uploading",
        "run the upload again once the build is done";
    /// The run ended before this chunk was handled.
    NotProcessed = "not_processed", Failure, "not handled",
        "run the same command again";
    /// `bulk_check_upload` failed for this chunk's batch.
    CheckFailed = "check_failed", Failure, "check failed",
        "run the same command again; -v shows every request and retry";
    /// `bulk_start_upload` failed for this chunk's batch.
    StartFailed = "start_failed", Failure, "start failed",
        "run the same command again; -v shows every request and retry";
    /// Sending the bytes to object storage failed (`:CODE` is S3's error code).
    TransferFailed = "transfer_failed", Failure, "transfer failed",
        "run the same command again; check the proxy and network between this machine and object storage";
    /// `bulk_finish_upload` failed (`:CODE` is PostHog's error code).
    FinishFailed = "finish_failed", Failure, "finish failed",
        "run the same command again: chunks that landed are not sent again";
    /// The presigned upload URL expired, again and again.
    UrlExpired = "url_expired", Failure, "upload URL expired",
        "lower --concurrency on a slow link, then run again";
    /// The server gave an upload URL symship will not use.
    BadPresignedUrl = "bad_presigned_url", Failure, "unusable upload URL",
        "check that --host is a PostHog instance (and no proxy rewrites its answers)";
    /// The object storage host could not be reached.
    StorageUnreachable = "storage_unreachable", Failure, "object storage unreachable",
        "let this machine reach the object storage host named in the error (proxy, firewall, DNS), then run again";
    /// The server holds the symbol set bound to another release and looking that release up
    /// (`GET symbol_sets/?ref=`) failed, so the set, whose content names this run's release,
    /// could not be made as the server stores it: it is not sent (nothing is replaced).
    ReleaseLookupFailed = "release_lookup_failed", Failure, "bound set's release not found",
        "let the key read symbol sets (error_tracking:read) and run again; the server keeps the set as it is";
    // --- codes PostHog answers with ---
    /// The symbol set is registered under another release.
    ReleaseIdMismatch = "release_id_mismatch", Server, "registered under another release",
        "pass --skip-release-on-fail to upload without the release, or inject a fresh build";
    /// The server holds different content for this chunk id.
    ContentHashMismatch = "content_hash_mismatch", Server, "different content on the server",
        "--force replaces it; --skip-on-conflict keeps it";
    /// The server holds this chunk from an older client, without a content hash.
    ContentHashRequired = "content_hash_required", Server, "held from an older client",
        "pass --force to replace it";
    /// One chunk id twice in one request.
    InvalidChunkIds = "invalid_chunk_ids", Server, "duplicate chunk ids in a request",
        "run again; if it persists, report it (symship sends each chunk id once)";
    /// A release id that is not a UUID (in the map or the request), or unknown to the project.
    InvalidReleaseId = "invalid_release_id", Server, "invalid release id",
        "inject again (`symship sourcemap inject --release-mode symbol-set`), or check the release flags";
    /// The server refused the size (over 100 MiB, or an empty object).
    FileTooLarge = "file_too_large", Server, "size refused by the server",
        "split the chunk in the bundler";
    /// `--force` and `--skip-on-conflict` together.
    InvalidConflictHandling = "invalid_conflict_handling", Server, "conflicting flags",
        "pass either --force or --skip-on-conflict, not both";
    /// The PostHog instance has no object storage.
    ObjectStorageRequired = "object_storage_required", Server, "no object storage on the instance",
        "enable object storage on the self-hosted instance (OBJECT_STORAGE_ENABLED)";
    /// `bulk_finish_upload` names a symbol set the server does not know.
    SymbolSetNotFound = "symbol_set_not_found", Server, "unknown symbol set",
        "run the same command again";
    /// `bulk_finish_upload` found no object for the symbol set.
    FileNotFound = "file_not_found", Server, "uploaded object not found",
        "run the same command again";
    /// Creating a release whose hash id another release of the project has (symship then fetches that one).
    ReleaseHashInUse = "release_hash_in_use", Server, "release hash id taken",
        "nothing to do: symship uses the release that has it";
    /// HTTP 401: the key is wrong or revoked.
    AuthenticationFailed = "authentication_failed", Server, "key refused",
        "check the personal API key (phx_...) and that --host is the instance it belongs to (EU: https://eu.posthog.com)";
    /// HTTP 401 without credentials.
    NotAuthenticated = "not_authenticated", Server, "no key sent",
        "set POSTHOG_CLI_API_KEY to a personal API key";
    /// HTTP 403: the key lacks the scope, or the project belongs to another organisation.
    PermissionDenied = "permission_denied", Server, "not allowed",
        "give the key the error_tracking:write scope, and check POSTHOG_CLI_PROJECT_ID";
    /// HTTP 429: too many requests.
    Throttled = "throttled", Server, "rate limited",
        "run again later, or lower --rate-limit";
    // --- `sourcemap explain`: the verdict for one in-app stack frame ---
    /// The frame resolves to an original position (checked now, or PostHog's own result).
    Resolved = "resolved", Frame, "the frame resolves to an original position",
        "nothing to do";
    /// A processed event whose frame PostHog could not resolve when the event arrived
    /// (`resolved: false`, `resolve_failure`), and that resolves now.
    ResolvedAfterEvent = "resolved_after_event", Frame, "PostHog could not resolve the frame when the event arrived; it resolves now",
        "nothing to do for new events: the symbol set was uploaded or fixed after this event, which PostHog keeps as it stored it";
    /// A processed event's frame PostHog did not resolve, and that explain cannot check again
    /// (the event keeps no raw frame, or it is a Hermes, Java or other non-JavaScript frame).
    PosthogUnresolved = "posthog_unresolved", Frame, "PostHog did not resolve the frame, and explain cannot check it again",
        "PostHog's reason (resolve_failure) is quoted with the frame; a JavaScript frame: check each link now with `symship sourcemap explain --frame URL:LINE:COL --chunk-id ID`, or explain the raw event as the SDK sent it; a Hermes or Java frame: check its symbol set with `symship symbol-sets get --ref ID`";
    /// A frame with no line and column: PostHog keeps it as it is (not minified); nothing to look up.
    NoLocation = "no_location", Frame, "no line and column: not checked (PostHog shows the frame as it is)",
        "nothing to look up: the SDK sent no position with this frame; if its file is minified, check the SDK's stack parsing";
    /// A frame of a platform explain does not resolve (Hermes, Java, Python...).
    OtherPlatform = "other_platform", Frame, "not checked: explain resolves web and node JavaScript frames only",
        "check that its symbol set is uploaded with `symship symbol-sets get --ref ID` (a Hermes frame's chunkId, a Java frame's map_id)";
    /// The server could not be asked about the frame's symbol set.
    LookupFailed = "lookup_failed", Frame, "the server could not be asked about the symbol set",
        "check the host, the project id and the key (it needs error_tracking:read), and the network; `symship doctor` checks them and `-v` shows every request";
    /// No symbol set has the frame's chunk id as its ref.
    NotUploaded = "not_uploaded", Frame, "no symbol set has this chunk id",
        "the file was injected but its symbol set was never uploaded to this project: run `symship sourcemap upload -d DIR` on the exact files you deployed (check the host and project id too)";
    /// The set exists but its file was never stored (the upload did not finish).
    NotFinished = "not_finished", Frame, "the symbol set's upload never finished",
        "an upload started this symbol set but its file never reached object storage (the upload failed or was interrupted before it finished; PostHog drops such a set at its first lookup): run `symship sourcemap upload -d DIR` on the same files again";
    /// PostHog recorded a failure reason for the set.
    UploadFailed = "upload_failed", Frame, "PostHog recorded a failure for this symbol set",
        "fix what the failure says, then upload the chunk again with `symship sourcemap upload -d DIR --force` so PostHog stores a new copy";
    /// The stored chunk is not the file that ran.
    WrongBytes = "wrong_bytes", Frame, "the symbol set was uploaded for other bytes than the file that ran",
        "the deployed file differs from the one uploaded under its chunk id (changed after injection: rebuilt, minified again, or edited by a CDN or another tool). Inject and upload the exact files you deploy, and deploy them unchanged";
    /// The map has no token at the frame's position.
    PositionOutsideMap = "position_outside_map", Frame, "the sourcemap has no token at this position",
        "the position is in code the map does not cover (code added without mappings, such as a banner or the injected snippet, or a map of other code). Check that the bundler writes a full map for this chunk, and resolve the position locally with `symship sourcemap resolve FILE.js LINE:COL`";
    /// The stored object could not be read as JavaScript and a map.
    UnreadableSymbolSet = "unreadable_symbol_set", Frame, "the stored symbol set cannot be read as JavaScript and a sourcemap",
        "download it with `symship symbol-sets download --ref CHUNK_ID` to inspect it, then upload the chunk again with `--force`";
    // --- configuration ---
    /// No API key or project id.
    MissingCredentials = "missing_credentials", Config, "no credentials",
        "set POSTHOG_CLI_API_KEY (a personal API key, phx_...) and POSTHOG_CLI_PROJECT_ID, pass --dotenv-file, or run `posthog-cli login`";
    /// A project token (`phc_`) where a personal API key is needed.
    ProjectToken = "project_token", Config, "project token instead of a personal API key",
        "phc_ project tokens can only send events; create a personal API key with the error_tracking:write scope (PostHog: Settings > Personal API keys) and use it instead";
    /// A key that is not a personal API key.
    NotPersonalKey = "not_personal_key", Config, "not a personal API key",
        "personal API keys start with phx_; copy the whole key from PostHog: Settings > Personal API keys";
    /// A project id that is not a number.
    BadProjectId = "bad_project_id", Config, "bad project id",
        "use the number after /project/ in your PostHog URL, e.g. POSTHOG_CLI_PROJECT_ID=12345";
    /// A host that is not an http(s) base URL.
    BadHost = "bad_host", Config, "bad host",
        "use the instance's base URL, e.g. https://us.posthog.com or https://eu.posthog.com";
    /// A dotenv file that cannot be read or parsed.
    DotenvFile = "dotenv_file", Config, "unusable dotenv file",
        "fix the file: one KEY=VALUE per line, # for comments";
    /// posthog-cli's credentials file cannot be read or parsed.
    CredentialsFile = "credentials_file", Config, "unusable credentials file",
        "fix or delete the file and run `posthog-cli login` again";
    /// The CA bundle cannot be read.
    CaCert = "ca_cert", Config, "unusable CA bundle",
        "point --ca-cert or SSL_CERT_FILE at a readable PEM bundle";
    /// A proxy variable that is not a URL.
    Proxy = "proxy", Config, "bad proxy setting",
        "set the proxy variable to http://HOST:PORT";
    /// The HTTP client could not be built.
    HttpClient = "http_client", Config, "no HTTP client",
        "check the TLS and proxy settings";
    /// A deadline variable that is not a number of seconds.
    Timeout = "timeout", Config, "bad deadline setting",
        "set SYMSHIP_CONNECT_TIMEOUT, SYMSHIP_IDLE_TIMEOUT or SYMSHIP_TOTAL_TIMEOUT to a number of seconds";
}

impl Code {
    /// The code whose string is `s` exactly.
    pub fn from_code_str(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// A code as reported, split into the registered code and the server's (or S3's) code after
    /// the colon: `finish_failed:file_too_large` is `(FinishFailed, Some("file_too_large"))`.
    /// `None` for a code the registry does not know (a server code PostHog added later).
    pub fn parse_reported(s: &str) -> Option<(Code, Option<&str>)> {
        match s.split_once(':') {
            Some((head, tail)) => Code::from_code_str(head).map(|c| (c, Some(tail))),
            None => Code::from_code_str(s).map(|c| (c, None)),
        }
    }

    /// The anchor of this code's row in the README's table (`README.md#code-<code>`).
    pub fn doc_anchor(self) -> String {
        format!("code-{}", self.as_str())
    }

    /// The README's table of codes (between its `codes:start` and `codes:end` markers).
    pub fn markdown_table() -> String {
        let mut t = String::from("| code | kind | what happened | what to do |\n|---|---|---|---|\n");
        for c in Code::ALL {
            t.push_str(&format!(
                "| <a id=\"{}\"></a>`{}` | {} | {} | {} |\n",
                c.doc_anchor(),
                c.as_str(),
                c.kind().as_str(),
                c.title(),
                c.hint().replace('|', "\\|")
            ));
        }
        t
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Code> for String {
    fn from(c: Code) -> String {
        c.as_str().to_owned()
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A library error that carries a code of the registry (its title and hint are the README's):
/// `symship_proguard::ProguardError` (`invalid_mapping`, `not_utf8`, ...), `symship_scan::SkipReason`.
/// The binary finds the code of such an error anywhere in a chain of
/// errors through [`Coded`], whatever the error's type.
pub trait HasCode {
    /// Its code in the registry.
    fn code(&self) -> Code;
}

/// A [`HasCode`] error kept with its code, so that a chain of errors (the binary's
/// `anyhow::Error`) can be asked for the code with one downcast (`downcast_ref::<Coded>()`),
/// without knowing the error's type. It displays as the error, and its source is the error's
/// source: the chain's text is the error's own.
#[derive(Debug)]
pub struct Coded {
    code: Code,
    error: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl Coded {
    /// The error's code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The error itself.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

impl<E: HasCode + std::error::Error + Send + Sync + 'static> From<E> for Coded {
    fn from(error: E) -> Coded {
        Coded {
            code: error.code(),
            error: Box::new(error),
        }
    }
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Coded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Cause;
    impl fmt::Display for Cause {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("permission denied")
        }
    }
    impl std::error::Error for Cause {}

    #[derive(Debug)]
    struct NotAMapping(Cause);
    impl fmt::Display for NotAMapping {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("mapping.txt is not a mapping")
        }
    }
    impl std::error::Error for NotAMapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    impl HasCode for NotAMapping {
        fn code(&self) -> Code {
            Code::InvalidMapping
        }
    }

    #[test]
    fn a_coded_error_reads_as_its_error_and_keeps_its_code() {
        let c = Coded::from(NotAMapping(Cause));
        assert_eq!(c.code(), Code::InvalidMapping);
        assert_eq!(c.to_string(), "mapping.txt is not a mapping");
        let source = std::error::Error::source(&c).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("permission denied"));
        assert!(c.error().is::<NotAMapping>());
    }
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_with_a_title_and_a_hint() {
        let mut seen = HashSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} is registered twice");
            assert!(
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{s} is not snake_case"
            );
            assert!(!c.title().is_empty(), "{s} has no title");
            assert!(c.hint().len() > 10, "{s} has no hint");
            assert_eq!(Code::from_code_str(s), Some(*c));
        }
    }

    #[test]
    fn reported_codes_with_a_server_part() {
        assert_eq!(
            Code::parse_reported("finish_failed:file_too_large"),
            Some((Code::FinishFailed, Some("file_too_large")))
        );
        assert_eq!(
            Code::parse_reported("transfer_failed:AccessDenied"),
            Some((Code::TransferFailed, Some("AccessDenied")))
        );
        assert_eq!(Code::parse_reported("no_map"), Some((Code::NoMap, None)));
        assert_eq!(Code::parse_reported("something_new"), None);
    }

    /// The README's table of codes is the registry's: every code, with its hint, and nothing else.
    #[test]
    fn the_readme_table_is_the_registry() {
        let readme = include_str!("../../../README.md");
        let start =
            "<!-- codes:start (generated from crates/symship-core/src/code.rs; a test compares) -->\n";
        let end = "<!-- codes:end -->";
        let from = readme.find(start).expect("README.md has the codes:start marker") + start.len();
        let to = from
            + readme[from..]
                .find(end)
                .expect("README.md has the codes:end marker");
        let expected = Code::markdown_table();
        assert!(
            readme[from..to] == expected,
            "README.md's table of codes differs from the registry; replace it with:\n{expected}"
        );
        for c in Code::ALL {
            assert!(readme[from..to].contains(c.hint().replace('|', "\\|").as_str()));
        }
    }
}

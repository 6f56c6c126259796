//! The command tree. Names, aliases, defaults and environment variables follow posthog-cli 0.19.0
//! (spec §7), so a script can swap the binary name and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "symship",
    version,
    about = "Stamp JavaScript chunks with chunk ids and ship their sourcemaps to PostHog error tracking"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// PostHog host, e.g. https://eu.posthog.com (overrides POSTHOG_CLI_HOST and the credentials file)
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Report failures loudly but exit 0
    #[arg(long, global = true)]
    pub no_fail: bool,
    /// Accept invalid TLS certificates (dangerous; prefer --ca-cert)
    #[arg(long, global = true)]
    pub skip_ssl_verification: bool,
    /// Extra PEM CA bundle to trust (also SSL_CERT_FILE)
    #[arg(long, global = true, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Client-side request rate limit, requests per minute
    #[arg(long, global = true, env = "POSTHOG_CLIENT_RATE_LIMIT", default_value_t = 480)]
    pub rate_limit: u32,
    /// Read POSTHOG_CLI_* settings from this dotenv file
    #[arg(
        long,
        global = true,
        visible_alias = "env-file",
        env = "POSTHOG_CLI_DOTENV_FILE",
        value_name = "PATH"
    )]
    pub dotenv_file: Option<PathBuf>,
    /// Show what would happen without writing files or talking to the server
    #[arg(long, global = true, env = "POSTHOG_CLI_DRY_RUN", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_truthy, default_value = "false")]
    pub dry_run: bool,
    /// More output (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Output format of the final summary
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// posthog-cli's truthy values: true/1/yes/on (case-insensitive); false/0/no/off.
fn parse_truthy(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(format!("expected true/false/1/0/yes/no/on/off, got {other:?}")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inject chunk ids into JavaScript files and their sourcemaps, and upload them
    #[command(subcommand)]
    Sourcemap(SourcemapCommand),
    /// React Native (Hermes): copy chunk ids into composed maps and upload them
    #[command(subcommand)]
    Hermes(HermesCommand),
    /// Android: upload ProGuard and R8 mappings
    #[command(subcommand)]
    Proguard(ProguardCommand),
    /// Apple: upload the dSYM bundles of a build (ids read natively, on any OS)
    #[command(subcommand)]
    Dsym(DsymCommand),
    /// posthog-cli's older names (`exp hermes`, `exp proguard`, `exp dsym`), which released build plugins run
    #[command(subcommand, hide = true)]
    Exp(ExpCommand),
    /// Work with releases
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// List, inspect, download, delete and prune the symbol sets stored in PostHog
    #[command(subcommand)]
    SymbolSets(SymbolSetsCommand),
    /// Check the configuration, the host, the key's scopes and (with -d) a build directory
    Doctor(DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout
    Completions(CompletionsArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum SourcemapCommand {
    /// Stamp every minified chunk with a chunk id (and release) and update its sourcemap
    Inject(InjectArgs),
    /// Upload injected chunks and their sourcemaps
    Upload(UploadArgs),
    /// Inject, then upload what was injected, over one walk of the build output
    Process(ProcessArgs),
    /// Resolve a minified position (LINE:COL, as a stack trace prints it) on a local build, as PostHog does
    Resolve(ResolveArgs),
    /// Explain why the frames of an error event did or did not resolve (event id, exported event, or one frame)
    Explain(ExplainArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ResolveArgs {
    /// The minified chunk (its map is found by its sourceMappingURL or <file>.map), or the map itself
    #[arg(value_name = "FILE.js|FILE.map")]
    pub file: PathBuf,
    /// Line and column as a stack trace prints them (1-based line; the column is used as PostHog uses it)
    #[arg(value_name = "LINE:COL")]
    pub position: String,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["event_id", "event", "frame"])))]
pub struct ExplainArgs {
    /// The $exception event's id (read with GET /api/environments/{project}/events/{id}; needs query:read)
    #[arg(value_name = "EVENT_ID")]
    pub event_id: Option<String>,
    /// An exported $exception event (JSON: an event, an events API answer or a list; every event is explained)
    #[arg(long, value_name = "FILE.json")]
    pub event: Option<PathBuf>,
    /// One frame: the script URL, its line and column, as a stack trace prints them
    #[arg(long, value_name = "URL:LINE:COL")]
    pub frame: Option<String>,
    /// The chunk id of the --frame (what posthog-js would have sent with it)
    #[arg(long, value_name = "ID", requires = "frame")]
    pub chunk_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum HermesCommand {
    /// Inject chunk ids into Metro bundles (.bundle, .jsbundle) and their packager maps, before hermesc
    Inject(InjectArgs),
    /// Copy the chunk id and release of Metro's packager map into the composed Hermes map
    Clone(HermesCloneArgs),
    /// Upload the composed Hermes maps of a directory
    Upload(HermesUploadArgs),
}

#[derive(Debug, Subcommand)]
pub enum ProguardCommand {
    /// Upload a ProGuard or R8 mapping file under its map id
    Upload(ProguardUploadArgs),
}

/// posthog-cli 0.19.0 keeps `exp hermes`, `exp proguard` and `exp dsym` as hidden aliases
/// (PostHog's Android Gradle plugin runs `exp proguard upload`).
#[derive(Debug, Subcommand)]
pub enum ExpCommand {
    #[command(subcommand)]
    Hermes(HermesCommand),
    #[command(subcommand)]
    Proguard(ProguardCommand),
    #[command(subcommand)]
    Dsym(DsymCommand),
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Find the release for a name and version (from flags, CI or git), creating it if needed
    Resolve(ReleaseResolveArgs),
    /// List every release of the project
    List,
    /// Show one release (by id or NAME@VERSION)
    Get(ReleaseGetArgs),
    /// Delete releases (by id or NAME@VERSION)
    Delete(ReleaseDeleteArgs),
    /// Create a release before the build (or print the existing one)
    Create(ReleaseCreateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct FileSelection {
    /// Build output directory or file to process (repeatable)
    #[arg(short = 'd', long = "directory", visible_alias = "file", value_name = "PATH")]
    pub directories: Vec<PathBuf>,
    /// Read additional paths from standard input, one per line
    #[arg(long)]
    pub stdin: bool,
    /// Skip paths matching this glob (repeatable)
    #[arg(short = 'e', long = "exclude", visible_alias = "ignore", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Only process paths matching this glob (repeatable)
    #[arg(short = 'i', long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
}

/// The flags that name a release (or where to read one), shared by inject/upload/process and
/// `release resolve`.
#[derive(Debug, Clone, Args)]
pub struct ReleaseIdentityArgs {
    /// Release name (the PostHog release "project"); default: the git repository name
    #[arg(long, visible_alias = "project")]
    pub release_name: Option<String>,
    /// Release version; default: the git commit id
    #[arg(long, visible_alias = "version")]
    pub release_version: Option<String>,
    /// Build number, appended to the version as VERSION+BUILD
    #[arg(long)]
    pub build: Option<String>,
    /// Read name, version and build from an Info.plist
    #[arg(long, value_name = "PATH")]
    pub info_plist: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub identity: ReleaseIdentityArgs,
    /// Retry without a release when the server reports release_id_mismatch
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true",
          value_parser = parse_truthy, action = clap::ArgAction::Set)]
    pub skip_release_on_fail: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReleaseMode {
    /// The release id is embedded in the chunk and reported with each event (default)
    #[default]
    Event,
    /// The release id is stored with the symbol set
    SymbolSet,
}

/// Which chunks, and the release they belong to: what inject, upload and process share.
#[derive(Debug, Clone, Args)]
pub struct ChunkArgs {
    #[command(flatten)]
    pub files: FileSelection,
    /// Public path prefix to strip from sourceMappingURL values (e.g. /static/)
    #[arg(short = 'p', long, value_name = "PREFIX")]
    pub public_path_prefix: Option<String>,
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Where the release id lives
    #[arg(long, value_enum, env = "POSTHOG_RELEASE_MODE", default_value_t = ReleaseMode::Event)]
    pub release_mode: ReleaseMode,
    /// Fail at once instead of waiting when another symship run is writing to the same directory
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Clone, Args)]
pub struct InjectArgs {
    #[command(flatten)]
    pub chunks: ChunkArgs,
    /// Exit non-zero when any file was skipped (no map, bad map, unreadable)
    #[arg(long)]
    pub strict: bool,
    /// Exit 0 even when nothing was found to process
    #[arg(long)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UploadOnlyArgs {
    /// After a verified upload, remove sourceMappingURL comments and delete the maps
    #[arg(long)]
    pub delete_after: bool,
    /// Symbol sets per bulk_start_upload request [default: 50, doubling per request up to 1000]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Concurrent transfers to object storage (default: found by the run, from 10 up to 128)
    #[arg(long, env = "POSTHOG_CLI_SOURCEMAP_UPLOAD_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Replace symbol sets whose content differs
    #[arg(long, conflicts_with = "skip_on_conflict")]
    pub force: bool,
    /// Keep symbol sets whose content differs, skipping the new content
    #[arg(long)]
    pub skip_on_conflict: bool,
}

impl UploadOnlyArgs {
    /// The upload settings of a command that sends one kind's symbol sets (`hermes upload`,
    /// `proguard upload`, `dsym upload`, `symbol-sets upload`): its `--batch-size` and conflict
    /// flags; those commands have no `--delete-after` and no `--concurrency` flag.
    pub fn for_kind(batch_size: Option<usize>, conflict: &ConflictArgs) -> Self {
        Self {
            delete_after: false,
            batch_size,
            concurrency: None,
            force: conflict.force,
            skip_on_conflict: conflict.skip_on_conflict,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    pub chunks: ChunkArgs,
    #[command(flatten)]
    pub upload: UploadOnlyArgs,
    /// Exit 0 even when nothing was found to process
    #[arg(long)]
    pub allow_empty: bool,
}

/// `process` takes everything `inject` takes, plus the upload flags.
#[derive(Debug, Clone, Args)]
pub struct ProcessArgs {
    #[command(flatten)]
    pub inject: InjectArgs,
    #[command(flatten)]
    pub upload: UploadOnlyArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ReleaseResolveArgs {
    #[command(flatten)]
    pub identity: ReleaseIdentityArgs,
    /// Print the release as JSON
    #[arg(long)]
    pub json: bool,
}

// ---- symbol-sets, release list/get/delete/create, doctor ----

#[derive(Debug, Subcommand)]
pub enum SymbolSetsCommand {
    /// List symbol sets (every page), optionally filtered
    List(SymbolSetListArgs),
    /// Show one symbol set, by id or --ref
    Get(SymbolSetGetArgs),
    /// Upload ELF and Mach-O files with debug info and dSYM bundles (C, C++, Rust, Go, Swift)
    Upload(SymbolSetsUploadArgs),
    /// Download a symbol set and unpack it as extract does (<name>.js + .js.map, .hbc.map, .txt, or <name>/dwarf)
    Download(SymbolSetDownloadArgs),
    /// Delete symbol sets by id
    Delete(SymbolSetDeleteArgs),
    /// Delete symbol sets that no error has used for a while
    Prune(SymbolSetPruneArgs),
    /// Unpack a symbol-set container file (any kind) offline, as posthog-cli's extract does
    Extract(SymbolSetExtractArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SymbolSetExtractArgs {
    /// The container file (as stored in PostHog's object storage)
    pub file: PathBuf,
    /// Directory to write into: <name>.js + <name>.js.map, <name>.hbc.map, <name>.txt, or <name>/ with
    /// a native zip's entries (dwarf, __source/...). posthog-cli's `-o`; its `--output` is
    /// symship's global output format, hence `--out-dir`
    #[arg(
        short = 'o',
        long = "out-dir",
        visible_alias = "output-dir",
        value_name = "DIR",
        default_value = "."
    )]
    pub out_dir: PathBuf,
}

/// The `status` filter of the symbol set list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// Sets PostHog has a storage pointer for: uploaded, or an upload started and never
    /// finished (PostHog cannot tell them apart here; `symbol-sets download` can)
    Valid,
    /// Sets without a storage pointer: no upload was started for them
    Invalid,
    All,
}

#[derive(Debug, Clone, Args)]
pub struct SymbolSetListArgs {
    /// Only the set with this ref (chunk id)
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Case-insensitive search in refs, release names and versions, and commit ids
    #[arg(long)]
    pub search: Option<String>,
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Sort order (default -created_at)
    #[arg(long, allow_hyphen_values = true,
          value_parser = ["created_at", "-created_at", "ref", "-ref", "last_used", "-last_used"])]
    pub order_by: Option<String>,
    /// Only sets of this release: its id, or NAME@VERSION
    #[arg(long, value_name = "ID|NAME@VERSION")]
    pub release: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SymbolSetGetArgs {
    /// Symbol set id (UUID)
    #[arg(required_unless_present = "reference", conflicts_with = "reference")]
    pub id: Option<String>,
    /// Look the set up by its ref (chunk id) instead
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SymbolSetDownloadArgs {
    /// Symbol set id (UUID)
    #[arg(required_unless_present_any = ["reference", "id_flag"], conflicts_with_all = ["reference", "id_flag"])]
    pub id: Option<String>,
    /// Symbol set id (posthog-cli's spelling)
    #[arg(long = "id", value_name = "ID", conflicts_with = "reference")]
    pub id_flag: Option<String>,
    /// Look the set up by its ref (chunk id, map id, LC_UUID, debug id) instead
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Directory to write into: <name>.js + <name>.js.map, <name>.hbc.map, <name>.txt, or <name>/ with
    /// a native zip's entries (dwarf, __source/...)
    #[arg(
        short = 'o',
        long = "out-dir",
        visible_alias = "output-dir",
        value_name = "DIR",
        default_value = "."
    )]
    pub out_dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct SymbolSetDeleteArgs {
    /// Symbol set ids (UUIDs)
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SymbolSetPruneArgs {
    /// Delete sets last used (or, never used, created) longer ago than this: 90d, 12h, 2w, 30m
    #[arg(long, value_name = "AGE")]
    pub unused_for: String,
    /// Only sets of this release: its id, or NAME@VERSION
    #[arg(long, value_name = "ID|NAME@VERSION")]
    pub release: Option<String>,
    /// Delete without asking (required when standard input is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReleaseGetArgs {
    /// Release id (UUID) or NAME@VERSION
    #[arg(value_name = "ID|NAME@VERSION")]
    pub release: String,
}

#[derive(Debug, Clone, Args)]
pub struct ReleaseDeleteArgs {
    /// Release ids (UUIDs) or NAME@VERSION
    #[arg(required = true, value_name = "ID|NAME@VERSION")]
    pub releases: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ReleaseCreateArgs {
    /// Release name (the PostHog release "project")
    #[arg(long, visible_aliases = ["release-name", "project"])]
    pub name: String,
    /// Release version
    #[arg(long, visible_alias = "release-version")]
    pub version: String,
    /// Build number, appended to the version as VERSION+BUILD
    #[arg(long)]
    pub build: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Also check that this build output pairs every chunk with a sourcemap (repeatable)
    #[arg(short = 'd', long = "directory", value_name = "PATH")]
    pub directories: Vec<PathBuf>,
    /// Skip paths matching this glob (repeatable)
    #[arg(short = 'e', long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Only check paths matching this glob (repeatable)
    #[arg(short = 'i', long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
    /// Public path prefix to strip from sourceMappingURL values
    #[arg(short = 'p', long, value_name = "PREFIX")]
    pub public_path_prefix: Option<String>,
}

// ---- hermes, proguard ----

/// `--force` / `--skip-on-conflict` (posthog-cli's UploadConflictArgs).
#[derive(Debug, Clone, Args)]
pub struct ConflictArgs {
    /// Replace symbol sets whose content differs
    #[arg(long, conflicts_with = "skip_on_conflict")]
    pub force: bool,
    /// Keep symbol sets whose content differs, skipping the new content
    #[arg(long)]
    pub skip_on_conflict: bool,
}

#[derive(Debug, Clone, Args)]
pub struct HermesCloneArgs {
    /// Metro's packager map (the one carrying the chunk id), e.g. index.android.bundle.packager.map
    #[arg(short, long, value_name = "PATH")]
    pub minified_map_path: PathBuf,
    /// The composed map the build wrote (Metro + hermesc), e.g. index.android.bundle.map
    #[arg(short, long, value_name = "PATH")]
    pub composed_map_path: PathBuf,
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Where the release id lives (event: not in the maps)
    #[arg(long, value_enum, env = "POSTHOG_RELEASE_MODE", default_value_t = ReleaseMode::Event)]
    pub release_mode: ReleaseMode,
}

#[derive(Debug, Clone, Args)]
pub struct HermesUploadArgs {
    /// The directory holding the composed maps (every file in it is looked at)
    #[arg(short, long, value_name = "PATH")]
    pub directory: PathBuf,
    /// Symbol sets per bulk_start_upload request [default: 50, doubling per request up to 1000]
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[command(flatten)]
    pub release: ReleaseArgs,
    #[command(flatten)]
    pub conflict: ConflictArgs,
    /// Where the release id lives (event: not sent; uploads always replace changed content)
    #[arg(long, value_enum, env = "POSTHOG_RELEASE_MODE", default_value_t = ReleaseMode::Event)]
    pub release_mode: ReleaseMode,
}

#[derive(Debug, Clone, Args)]
pub struct ProguardUploadArgs {
    /// The mapping file R8 or ProGuard wrote (e.g. app/build/outputs/mapping/release/mapping.txt)
    #[arg(short, long, value_name = "PATH")]
    pub path: PathBuf,
    /// The id the app reports with each Java frame (PostHog's Gradle plugin derives it)
    #[arg(short, long, value_name = "ID")]
    pub map_id: String,
    /// Symbol sets per bulk_start_upload request [default: 50, doubling per request up to 1000]
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[command(flatten)]
    pub release: ReleaseArgs,
    #[command(flatten)]
    pub conflict: ConflictArgs,
    /// Deprecated and ignored (released Gradle plugins pass it); reads no environment
    #[arg(long, value_enum, hide = true)]
    pub release_mode: Option<ReleaseMode>,
}

// ---- native debug files ----

#[derive(Debug, Subcommand)]
pub enum DsymCommand {
    /// Upload the dSYM bundles of a directory, one symbol set per architecture slice
    Upload(DsymUploadArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DsymUploadArgs {
    /// The directory holding the .dSYM bundles (searched recursively, links followed)
    #[arg(short, long, value_name = "PATH")]
    pub directory: PathBuf,
    /// The main app's dSYM bundle name (e.g. MyApp.app.dSYM), whose Info.plist names the release
    /// when the flags do not; default: the first *.app.dSYM, else the first bundle
    #[arg(long, value_name = "NAME")]
    pub main_dsym: Option<String>,
    /// Bundle the source files the DWARF names (__source/), implies --force unless --skip-on-conflict
    #[arg(long)]
    pub include_source: bool,
    /// Symbol sets per bulk_start_upload request (posthog-cli sends 10)
    #[arg(long, default_value_t = 10)]
    pub batch_size: usize,
    #[command(flatten)]
    pub release: ReleaseArgs,
    #[command(flatten)]
    pub conflict: ConflictArgs,
    /// Deprecated and ignored: dSYMs are always uploaded bound to the release
    #[arg(long, hide = true)]
    pub no_release_bind: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SymbolSetsUploadArgs {
    /// The directory holding ELF / Mach-O files with debug info and .dSYM bundles
    #[arg(short, long, value_name = "PATH")]
    pub directory: PathBuf,
    /// Bundle the source files the DWARF names (__source/), implies --force unless --skip-on-conflict
    #[arg(long)]
    pub include_source: bool,
    /// With --include-source: only bundle sources under this directory
    #[arg(long, value_name = "DIR", requires = "include_source")]
    pub source_root: Option<PathBuf>,
    /// Symbol sets per bulk_start_upload request (posthog-cli sends 10)
    #[arg(long, default_value_t = 10)]
    pub batch_size: usize,
    #[command(flatten)]
    pub release: ReleaseArgs,
    #[command(flatten)]
    pub conflict: ConflictArgs,
}

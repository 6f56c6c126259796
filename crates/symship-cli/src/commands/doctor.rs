//! `symship doctor`: where each setting came from, whether the host answers, what the key may
//! do (by harmless requests), and optionally whether a build directory pairs cleanly. Every
//! problem comes with a hint. Exit 0 when healthy, 1 when a problem was found.

use serde_json::{json, Value};
use symship_api::{
    ApiError, BulkCheckRequest, Client, Config, ConfigError, ProcessEnv, RetryPolicy, SymbolSetQuery,
    SymbolSetUpload,
};

use crate::cli::{DoctorArgs, FileSelection, OutputFormat};
use crate::exit::Exit;
use crate::manage::{print, print_json};
use crate::settings::Settings;

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warning,
    Problem,
    Skipped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Problem => "problem",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone)]
struct Finding {
    check: &'static str,
    status: Status,
    message: String,
    hint: Option<String>,
}

#[derive(Default)]
struct Report {
    findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, check: &'static str, status: Status, message: impl Into<String>, hint: Option<&str>) {
        self.findings.push(Finding {
            check,
            status,
            message: message.into(),
            hint: hint.map(str::to_owned),
        });
    }
    fn ok(&mut self, check: &'static str, message: impl Into<String>) {
        self.add(check, Status::Ok, message, None);
    }
    fn problem(&mut self, check: &'static str, message: impl Into<String>, hint: &str) {
        self.add(check, Status::Problem, message, Some(hint));
    }
    fn warning(&mut self, check: &'static str, message: impl Into<String>, hint: Option<&str>) {
        self.add(check, Status::Warning, message, hint);
    }
    fn skipped(&mut self, check: &'static str, message: impl Into<String>) {
        self.add(check, Status::Skipped, message, None);
    }
    fn healthy(&self) -> bool {
        !self.findings.iter().any(|f| f.status == Status::Problem)
    }
}

pub fn run(args: &DoctorArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let mut report = Report::default();
    let config = check_config(settings, &mut report);
    match config {
        Some(config) => check_server(settings, &config, &mut report),
        None => {
            report.skipped("connection", "not tried: the configuration is incomplete");
            report.skipped("read access", "not checked: the configuration is incomplete");
            report.skipped("write access", "not checked: the configuration is incomplete");
        }
    }
    if !args.directories.is_empty() {
        check_directory(args, &settings.printer, &mut report)?;
    }
    let healthy = report.healthy();
    if settings.global.output == OutputFormat::Json {
        print_json(
            &settings.printer,
            &json!({
                "healthy": healthy,
                "findings": report.findings.iter().map(|f| json!({
                    "check": f.check,
                    "status": f.status.as_str(),
                    "message": f.message,
                    "hint": f.hint,
                })).collect::<Vec<Value>>(),
            }),
        )?;
    } else {
        let mut text = String::new();
        for f in &report.findings {
            text.push_str(&format!(
                "{:<10}{}: {}\n",
                format!("[{}]", f.status.as_str()),
                f.check,
                f.message
            ));
            if let Some(h) = &f.hint {
                text.push_str(&format!("{:<10}hint: {h}\n", ""));
            }
        }
        let problems = report
            .findings
            .iter()
            .filter(|f| f.status == Status::Problem)
            .count();
        if healthy {
            text.push_str("no problems found\n");
        } else {
            text.push_str(&format!(
                "{problems} problem{} found\n",
                if problems == 1 { "" } else { "s" }
            ));
        }
        print(&settings.printer, &text)?;
    }
    Ok(if healthy { Exit::Success } else { Exit::Failed })
}

/// Resolves the configuration as every other command does and reports each setting's source.
/// (Its own resolution, not [`Settings::config`]: doctor reports the warnings as findings
/// instead of logging them.)
fn check_config(settings: &Settings, report: &mut Report) -> Option<Config> {
    let config = match Config::resolve(&settings.config_request(), &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            let (check, hint) = config_hint(&e);
            let message = match &e {
                ConfigError::MissingCredentials { looked } => {
                    format!("no PostHog credentials found (looked in: {})", looked.join("; "))
                }
                other => other.to_string(),
            };
            report.problem(check, message, hint);
            return None;
        }
    };
    let creds = &config.credentials;
    report.ok(
        "api key",
        format!("{} from {}", creds.token.value, creds.token.source),
    );
    report.ok(
        "project id",
        format!("{} from {}", creds.project_id.value, creds.project_id.source),
    );
    report.ok(
        "host",
        format!("{} from {}", config.host.value, config.host.source),
    );
    for w in &config.warnings {
        report.warning("config", w.clone(), None);
    }
    let net = &config.network;
    for ca in &net.ca_certs {
        report.ok(
            "tls",
            format!("extra CA bundle {} from {}", ca.value.display(), ca.source),
        );
    }
    if net.skip_ssl_verification {
        report.warning(
            "tls",
            "--skip-ssl-verification: certificates are not checked",
            Some("trust your CA with --ca-cert PEM (or SSL_CERT_FILE) instead"),
        );
    }
    for (scheme, p) in [("https", &net.proxy.https), ("http", &net.proxy.http)] {
        if let Some(p) = p {
            report.ok(
                "proxy",
                format!(
                    "{scheme} requests go through {} (from {})",
                    symship_api::config::redact_url(&p.value),
                    p.source
                ),
            );
        }
    }
    Some(config)
}

/// The check a configuration problem belongs to, and the registry's hint for it.
fn config_hint(e: &ConfigError) -> (&'static str, &'static str) {
    let check = match e {
        ConfigError::MissingCredentials { .. } => "credentials",
        ConfigError::ProjectToken { .. } | ConfigError::NotPersonalKey { .. } => "api key",
        ConfigError::BadProjectId { .. } => "project id",
        ConfigError::BadHost { .. } => "host",
        ConfigError::DotenvRead { .. } | ConfigError::DotenvSyntax { .. } => "dotenv file",
        ConfigError::CredentialsFile { .. } => "credentials file",
        ConfigError::CaCert { .. } => "tls",
        ConfigError::Proxy { .. } => "proxy",
        ConfigError::HttpClient(_) | ConfigError::Timeout { .. } => "network",
    };
    (check, e.code().hint())
}

/// Reaches the host with a harmless read (`GET symbol_sets/?limit=1`), then checks upload
/// rights with `bulk_check_upload` for a chunk id that does not exist (it creates nothing).
fn check_server(settings: &Settings, config: &Config, report: &mut Report) {
    let client = match Client::new(config) {
        Ok(c) => c.with_retry_policy(RetryPolicy::none()),
        Err(e) => {
            let (check, hint) = config_hint(&e);
            report.problem(check, e.to_string(), hint);
            report.skipped("read access", "not checked: no HTTP client");
            report.skipped("write access", "not checked: no HTTP client");
            return;
        }
    };
    let host = config.host.value.to_string();
    let project = config.credentials.project_id.value;
    let outcome = settings.block_on(async {
        let read = client
            .list_symbol_sets(&SymbolSetQuery {
                limit: Some(1),
                include_count: Some(false),
                ..Default::default()
            })
            .await;
        let write = match &read {
            Ok(_) | Err(ApiError::Http(_)) => Some(
                client
                    .bulk_check_upload(&BulkCheckRequest {
                        symbol_sets: vec![SymbolSetUpload {
                            chunk_id: "symship-doctor-probe".into(),
                            release_id: None,
                            content_hash: None,
                            content_length: None,
                        }],
                        force: false,
                        skip_on_conflict: false,
                    })
                    .await,
            ),
            Err(_) => None,
        };
        (read, write)
    });
    let (read, write) = match outcome {
        Ok(x) => x,
        Err(e) => {
            report.problem(
                "connection",
                e.to_string(),
                "the system refused to start the network runtime; check process and file limits (ulimit)",
            );
            return;
        }
    };
    match &read {
        Err(e) if e.http().is_none() => {
            report.problem(
                "connection",
                format!("could not reach {host}: {e}"),
                "check the host (--host or POSTHOG_CLI_HOST; e.g. https://eu.posthog.com for the EU cloud), the network, and HTTPS_PROXY/NO_PROXY",
            );
            report.skipped("read access", "not checked: the host did not answer");
            report.skipped("write access", "not checked: the host did not answer");
            return;
        }
        Err(e) => report.ok(
            "connection",
            format!("{host} answers (HTTP {})", e.status().unwrap_or_default()),
        ),
        Ok(_) => report.ok("connection", format!("{host} answers")),
    }
    match &read {
        Ok(_) => report.ok(
            "read access",
            format!("the key can read project {project}'s symbol sets (error_tracking:read)"),
        ),
        Err(e) => match e.status() {
            Some(401) => report.problem(
                "read access",
                format!("the server rejected the key (HTTP 401): {}", e.detail().unwrap_or("authentication failed")),
                "the key may be revoked, mistyped, or from another PostHog instance or region (US and EU keys differ); create a new personal API key",
            ),
            Some(403) => report.problem(
                "read access",
                format!("the key may not read project {project} (HTTP 403): {}", e.detail().unwrap_or("permission denied")),
                "give the personal API key the error_tracking:read and error_tracking:write scopes and access to this project",
            ),
            Some(404) => report.problem(
                "read access",
                format!("project {project} was not found on {host} (HTTP 404)"),
                "check POSTHOG_CLI_PROJECT_ID and the host (a project of the EU cloud is not on the US one)",
            ),
            _ => report.problem(
                "read access",
                format!("listing symbol sets failed: {e}"),
                "the server may be having trouble; try again, or run with -v for details",
            ),
        },
    }
    if read.as_ref().err().and_then(ApiError::status) == Some(401) {
        report.skipped("write access", "not checked: the key was rejected");
        return;
    }
    match write {
        Some(Ok(_)) => report.ok("write access", "the key can upload symbol sets (error_tracking:write)"),
        Some(Err(e)) => match e.status() {
            Some(403) => report.problem(
                "write access",
                format!("the key may not upload (HTTP 403): {}", e.detail().unwrap_or("permission denied")),
                "give the personal API key the error_tracking:write scope (PostHog: Settings > Personal API keys)",
            ),
            Some(404 | 405) => report.warning(
                "write access",
                "not checked: the server predates bulk_check_upload (an older self-hosted PostHog)",
                Some("uploads still work through bulk_start_upload; run an upload with --dry-run=false to be sure"),
            ),
            _ => report.warning(
                "write access",
                format!("could not check: {e}"),
                Some("run with -v for details"),
            ),
        },
        None => report.skipped("write access", "not checked"),
    }
}

/// Walks and pairs `--directory` as `sourcemap inject` would.
fn check_directory(
    args: &DoctorArgs,
    printer: &crate::printer::Printer,
    report: &mut Report,
) -> anyhow::Result<()> {
    let selection = FileSelection {
        directories: args.directories.clone(),
        stdin: false,
        exclude: args.exclude.clone(),
        include: args.include.clone(),
    };
    let crate::files::Scan { pairs, skipped, .. } = crate::files::scan(
        &selection,
        args.public_path_prefix.as_deref(),
        crate::files::Writes::No,
        printer,
    )?;
    let shown: Vec<String> = args.directories.iter().map(|d| d.display().to_string()).collect();
    let shown = shown.join(", ");
    if pairs.is_empty() && skipped.is_empty() {
        report.problem(
            "build",
            format!("no JavaScript chunks found under {shown}"),
            "point --directory at the build output (e.g. dist/) after building",
        );
        return Ok(());
    }
    let injected = pairs
        .iter()
        .filter(|p| symship_scan::read_source(&p.source).is_ok_and(|s| s.contains("//# chunkId=")))
        .count();
    if pairs.is_empty() {
        report.problem(
            "build",
            format!(
                "none of the {} JavaScript files under {shown} has a sourcemap",
                skipped.len()
            ),
            "enable sourcemaps in the bundler (Vite: build.sourcemap, webpack: devtool: 'source-map')",
        );
    } else {
        report.ok(
            "build",
            format!(
                "{} chunk{} paired with sourcemaps under {shown} ({injected} already injected)",
                pairs.len(),
                if pairs.len() == 1 { "" } else { "s" }
            ),
        );
    }
    for s in &skipped {
        let hint = s.reason.code().hint();
        report.problem("build", format!("{} {}", s.path.display(), s.reason), hint);
    }
    Ok(())
}

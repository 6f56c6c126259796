//! The `symship` binary.
mod cli;
mod commands;
mod exit;
mod files;
mod manage;
mod personality;
mod printer;
mod release;
mod report;
mod settings;
mod untrusted;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, ExpCommand, ReleaseCommand, SourcemapCommand};
use crate::settings::Settings;

/// glibc gives each allocating thread its own heap ("arena") and keeps their free space; with
/// several threads preparing large pairs, `sourcemap process` peaked about 70 MB higher than with
/// one arena (bench/results/process-*.md). Two arenas keep memory flat without serialising the
/// threads on one lock.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    // SAFETY: a libc call with integer arguments, made before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        // Buffers of 8 MiB and more (large maps and chunks, their copies) come from mmap and go
        // back to the system when freed. glibc's default threshold rises after each such free, up
        // to 32 MiB, after which they come from the heap and stay resident: `process` then held
        // inject's peak and added upload's (mermaid + tfjs: 115 MB against 84 and 76 alone).
        // A 1 MiB threshold cost about 2 s more CPU on that corpus, most likely page faults on
        // buffers of a few MiB (zstd contexts) mapped afresh for every pair.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 8 * 1024 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let personality = personality::Personality::from_argv0(std::env::args_os().next().as_deref());
    let mut command = Cli::command().version(&*Box::leak(personality.version().into_boxed_str()));
    if personality == personality::Personality::PosthogCli {
        command = command.name(personality.name()).bin_name(personality.name());
    }
    let args = personality::output_dir_args(personality, std::env::args_os().collect());
    let cli = Cli::from_arg_matches(&command.get_matches_from(args)).unwrap_or_else(|e| e.exit());
    let settings = Settings::resolve(cli.global.clone(), personality);
    init_tracing(&settings);
    let result = run(&cli.command, &settings);
    let (configs, clients, runtimes) = settings.made();
    tracing::debug!(
        "resolved the configuration {configs} time(s), built {clients} API client(s), started {runtimes} runtime(s)"
    );
    exit::finish(result, &settings)
}

fn run(command: &Command, s: &Settings) -> anyhow::Result<exit::Exit> {
    match command {
        Command::Sourcemap(SourcemapCommand::Inject(a)) => commands::inject::run(a, s),
        Command::Sourcemap(SourcemapCommand::Upload(a)) => commands::upload::upload(a, s),
        Command::Sourcemap(SourcemapCommand::Process(a)) => commands::upload::process(a, s),
        Command::Sourcemap(SourcemapCommand::Resolve(a)) => commands::resolve::run(a, s),
        Command::Sourcemap(SourcemapCommand::Explain(a)) => commands::explain::run(a, s),
        Command::Hermes(c) | Command::Exp(ExpCommand::Hermes(c)) => commands::hermes::run(c, s),
        Command::Proguard(c) | Command::Exp(ExpCommand::Proguard(c)) => commands::proguard::run(c, s),
        Command::Dsym(c) | Command::Exp(ExpCommand::Dsym(c)) => commands::native::run(c, s),
        Command::Release(ReleaseCommand::Resolve(a)) => commands::release::resolve(a, s),
        Command::Release(ReleaseCommand::List) => commands::release::list(s),
        Command::Release(ReleaseCommand::Get(a)) => commands::release::get(a, s),
        Command::Release(ReleaseCommand::Delete(a)) => commands::release::delete(a, s),
        Command::Release(ReleaseCommand::Create(a)) => commands::release::create(a, s),
        Command::SymbolSets(c) => commands::symbol_sets::run(c, s),
        Command::Doctor(a) => commands::doctor::run(a, s),
        Command::Completions(a) => commands::completions::run(a, s),
    }
}

/// The `tracing` subscriber, writing through the printer (around the bars). `tracing`'s global
/// dispatcher is the one process-wide state left: every crate logs through it, and it holds a
/// clone of the run's printer, not a global of ours.
fn init_tracing(settings: &Settings) {
    let global = &settings.global;
    use tracing_subscriber::field::MakeExt as _;
    use tracing_subscriber::EnvFilter;
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let from_env = symship_api::env::Env::raw(&symship_api::env::ProcessEnv, symship_api::env::RUST_LOG)
        .map(|v| posthog_cli_log_targets(&v));
    let filter = from_env
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    // Every field of every log line (the message included) is neutralised: errors carry server
    // text and file names.
    let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = format!("{value:?}");
        let text = untrusted::neutralize(&text);
        if field.name() == "message" {
            write!(w, "{text}")
        } else {
            write!(w, "{}={text}", field.name())
        }
    })
    .delimited(" ");
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(fields)
        .with_writer(settings.printer.clone())
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
}

/// Rewrites `RUST_LOG` directives that name posthog-cli's log target (`posthog_cli`, as every
/// PostHog bundler plugin sets it: `RUST_LOG=posthog_cli=<logLevel>`) to symship's crates, whose
/// targets all start with `symship`. Other directives are kept as they are.
fn posthog_cli_log_targets(rust_log: &str) -> String {
    rust_log
        .split(',')
        .map(|d| match d.trim().strip_prefix("posthog_cli") {
            Some(rest)
                if rest.is_empty()
                    || rest.starts_with('=')
                    || rest.starts_with("::")
                    || rest.starts_with('[') =>
            {
                format!("symship{rest}")
            }
            _ => d.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::posthog_cli_log_targets;

    #[test]
    fn posthog_cli_targets_become_symship_targets() {
        assert_eq!(posthog_cli_log_targets("posthog_cli=info"), "symship=info");
        assert_eq!(
            posthog_cli_log_targets("warn,posthog_cli=debug"),
            "warn,symship=debug"
        );
        assert_eq!(posthog_cli_log_targets("posthog_cli"), "symship");
        assert_eq!(
            posthog_cli_log_targets("posthog_client=info"),
            "posthog_client=info"
        );
        assert_eq!(
            posthog_cli_log_targets("symship_upload=trace"),
            "symship_upload=trace"
        );
    }
}

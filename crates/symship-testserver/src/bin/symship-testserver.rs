//! `symship-testserver`: runs the local PostHog error-tracking API (over s3s-fs) until SIGINT or
//! SIGTERM. Prints `POSTHOG_CLI_HOST=`, `POSTHOG_CLI_PROJECT_ID=` and `POSTHOG_CLI_API_KEY=`
//! first on stdout (usable as a dotenv file).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use symship_testserver::{Config, FaultRule, Mode, TestServer, Throttle};

#[derive(Debug, Parser)]
#[command(
    name = "symship-testserver",
    version,
    about = "A local PostHog error-tracking API over a real S3 server (s3s-fs)"
)]
struct Args {
    /// API port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Keep state (state.json) and S3 objects here, across restarts.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The s3s-fs 0.17.0 binary (default: $SYMSHIP_S3FS, else the scripts/install-tools cache).
    #[arg(long, env = "SYMSHIP_S3FS")]
    s3fs: Option<PathBuf>,
    /// The project id served.
    #[arg(long, default_value_t = 1)]
    project_id: u64,
    /// Behave like a server without bulk_check_upload and presigned PUT.
    #[arg(long)]
    old_server: bool,
    /// Hand out accelerated primary URLs plus fallback URLs.
    #[arg(long)]
    transfer_acceleration: bool,
    /// OBJECT_STORAGE_ENABLED=false: uploads fail with object_storage_required.
    #[arg(long)]
    object_storage_disabled: bool,
    /// Upload URLs name this host:port instead of the local S3 front (e.g. an internal name
    /// such as objectstorage.invalid:19000, which clients cannot reach).
    #[arg(long)]
    public_storage_host: Option<String>,
    /// A fault rule ROUTE:KIND[:rate=R][:first_n=N], KIND = status=N | 429=SECS | latency=MS |
    /// reset | expiry=SECS | huge=MIB[/STATUS] | drip=MS | hostile=STATUS; e.g.
    /// s3_put:status=503:first_n=2 (repeatable). An unknown ROUTE is refused (exit 2), naming
    /// the known ones.
    #[arg(long = "fault", value_parser = parse_fault)]
    faults: Vec<FaultRule>,
    /// PostHog's per-key throttle of the symbol-set endpoints (429 with Retry-After): `posthog`
    /// (1200/minute and 12000/hour, spec §2.6) or DRF rates such as `20/second,100/minute`.
    #[arg(long, env = "SYMSHIP_TESTSERVER_THROTTLE", value_parser = parse_throttle)]
    throttle: Option<Throttle>,
    /// Seed of fault injection and generated keys.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also print the read-only key as POSTHOG_CLI_READ_ONLY_KEY= (after the three lines).
    #[arg(long)]
    print_read_only_key: bool,
}

fn parse_fault(s: &str) -> Result<FaultRule, String> {
    s.parse()
}

fn parse_throttle(s: &str) -> Result<Throttle, String> {
    s.parse()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = Config {
        port: args.port,
        data_dir: args.data_dir.clone(),
        s3fs: args.s3fs.clone(),
        mode: Mode {
            old_server: args.old_server,
            transfer_acceleration: args.transfer_acceleration,
            object_storage_disabled: args.object_storage_disabled,
            public_storage_host: args.public_storage_host.clone(),
        },
        faults: args.faults.clone(),
        throttle: args.throttle.clone(),
        seed: args.seed,
        project_id: args.project_id,
    };
    if let Some(d) = &cfg.data_dir {
        if let Err(e) = std::fs::create_dir_all(d) {
            let _ = writeln!(
                std::io::stderr(),
                "symship-testserver: data directory {}: {e}",
                d.display()
            );
            return ExitCode::from(2);
        }
    }
    let server = match symship_testserver::start_async(cfg).await {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "symship-testserver: {e}");
            return ExitCode::from(2);
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let mut lines = format!(
            "POSTHOG_CLI_HOST={}\nPOSTHOG_CLI_PROJECT_ID={}\nPOSTHOG_CLI_API_KEY={}\n",
            server.base_url(),
            server.project_id(),
            server.api_key()
        );
        if args.print_read_only_key {
            lines.push_str(&format!("POSTHOG_CLI_READ_ONLY_KEY={}\n", server.read_only_key()));
        }
        if out.write_all(lines.as_bytes()).and_then(|_| out.flush()).is_err() {
            return ExitCode::from(2);
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "symship-testserver: serving {} (S3 front {}, admin {}/_admin/); Ctrl-C to stop",
        server.base_url(),
        server.s3_front_addr(),
        server.base_url()
    );
    wait_for_signal().await;
    drop_server(server);
    ExitCode::SUCCESS
}

fn drop_server(server: TestServer) {
    // The runtime of the server must not be dropped inside this async context's thread.
    std::thread::spawn(move || server.stop()).join().ok();
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

//! The s3s-fs child process: found, started on a free loopback port with an access key, waited
//! for, and killed when the test server stops.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

pub const S3FS_VERSION: &str = "0.17.0";

/// Where s3s-fs is looked for when no path is given: `$SYMSHIP_S3FS`, else
/// `${SYMSHIP_TOOLS:-$HOME/.cache/symship/tools}/s3s-fs-0.17.0/bin/s3s-fs`.
#[allow(clippy::disallowed_methods)] // test infrastructure: where the harness installed its tools
pub fn default_s3fs_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SYMSHIP_S3FS").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let tools = std::env::var_os("SYMSHIP_TOOLS")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/"));
            home.join(".cache/symship/tools")
        });
    tools.join(format!("s3s-fs-{S3FS_VERSION}/bin/s3s-fs"))
}

/// A running s3s-fs. Dropping it kills the process.
#[derive(Debug)]
pub struct S3fsChild {
    child: Child,
    pub addr: SocketAddr,
}

impl S3fsChild {
    pub fn start(bin: &Path, root: &Path, access_key: &str, secret_key: &str) -> Result<S3fsChild, Error> {
        if !bin.is_file() {
            return Err(Error::S3fsMissing {
                path: bin.to_path_buf(),
            });
        }
        let mut last_err = String::new();
        // The port is picked by binding port 0 and releasing it; another process may take it in
        // between, so a child that exits at once is retried on a new port.
        for _ in 0..5 {
            let port = free_port().map_err(|source| Error::Bind { port: 0, source })?;
            let mut child = Command::new(bin)
                .arg("--host")
                .arg("127.0.0.1")
                .arg("--port")
                .arg(port.to_string())
                .arg("--access-key")
                .arg(access_key)
                .arg("--secret-key")
                .arg(secret_key)
                .arg(root)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|source| Error::S3fsSpawn {
                    path: bin.to_path_buf(),
                    source,
                })?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_err = format!("exited with {status} while starting on port {port}");
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Ok(S3fsChild { child, addr });
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_err = format!("did not accept connections on {addr} within 10 s");
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(Error::S3fsNotReady {
            path: bin.to_path_buf(),
            detail: last_err,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3fsChild {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

//! Native debug files (`fixtures/native`, issue 17): copies of the fixtures as a build directory
//! beside a test server, the symship binary under the name posthog-cli, and LLVM's tools under
//! the names posthog-cli 0.19.0's `dsym upload` runs (Apple's `dwarfdump` and `lipo`).

use std::path::{Path, PathBuf};
use std::process::Command;

use symship_testserver::{Config, TestServer};

use crate::{copy_dir, on_program, posthog_cli, repo_root, start, symship_for};

/// `fixtures/native/<rel>`.
pub fn native_fixture(rel: &str) -> PathBuf {
    repo_root().join("fixtures/native").join(rel)
}

/// A test server and a fresh temp dir (outside any git repository) holding `build/`: the
/// native debug files a test uploads with `-d build`.
pub struct NativeBuild {
    pub server: TestServer,
    pub tmp: tempfile::TempDir,
    /// `<tmp>/build`.
    pub build: PathBuf,
}

impl NativeBuild {
    /// `build/` is a copy of the folder `fixtures/native/<rel>` (`elf`, `macho`).
    pub fn of(rel: &str) -> NativeBuild {
        NativeBuild::with_server(Config::default(), rel)
    }

    /// [`NativeBuild::of`] against a server started with `cfg` (faults).
    pub fn with_server(cfg: Config, rel: &str) -> NativeBuild {
        let b = NativeBuild::empty_with(cfg);
        copy_dir(&native_fixture(rel), &b.build);
        b
    }

    /// `build/` holds copies of the fixture files `rels` (`elf/hello`, ...), each under its file
    /// name.
    pub fn of_files(rels: &[&str]) -> NativeBuild {
        let b = NativeBuild::empty_with(Config::default());
        for rel in rels {
            let from = native_fixture(rel);
            std::fs::copy(&from, b.build.join(from.file_name().unwrap()))
                .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        }
        b
    }

    /// `build/` is empty (the test writes into it).
    pub fn empty() -> NativeBuild {
        NativeBuild::empty_with(Config::default())
    }

    fn empty_with(cfg: Config) -> NativeBuild {
        let tmp = tempfile::tempdir().unwrap();
        let build = tmp.path().join("build");
        std::fs::create_dir_all(&build).unwrap();
        NativeBuild {
            server: start(cfg),
            tmp,
            build,
        }
    }

    /// The temp dir (the commands' working directory).
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `symship <command...> -d <build>` with the server's credentials, run in the temp dir;
    /// more arguments may follow.
    pub fn symship(&self, command: &[&str]) -> Command {
        self.symship_against(&self.server, command)
    }

    /// [`NativeBuild::symship`] against `server` (another than this build's own).
    pub fn symship_against(&self, server: &TestServer, command: &[&str]) -> Command {
        let mut c = symship_for(server, self.dir());
        c.args(command).arg("-d").arg(&self.build);
        c
    }

    /// [`NativeBuild::symship`] run by the symship binary under the name `posthog-cli` (its
    /// posthog-cli 0.19.0 personality).
    pub fn as_posthog_cli(&self, command: &[&str]) -> Command {
        let mut c = on_program(
            &symship_for(&self.server, self.dir()),
            symship_as_posthog_cli(self.dir()),
        );
        c.args(command).arg("-d").arg(&self.build);
        c
    }

    /// posthog-cli 0.19.0 itself, `<command...> -d <build>` against `server` (this build's own
    /// or another), with LLVM's tools as Apple's on its `PATH` ([`apple_tools`]).
    pub fn posthog_cli(&self, server: &TestServer, command: &[&str]) -> Command {
        let mut c = posthog_cli_with_apple_tools(server, self.dir());
        c.args(command).arg("-d").arg(&self.build);
        c
    }
}

/// `<dir>/bin/posthog-cli`, a symbolic link to the symship binary under test (made once per
/// `dir`): run by that name, symship is a drop-in for posthog-cli 0.19.0.
pub fn symship_as_posthog_cli(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    let link = bin.join("posthog-cli");
    if !link.exists() {
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(crate::bin(), &link).unwrap();
    }
    link
}

/// `<dir>/apple-tools`, holding `dwarfdump` and `lipo` as links to LLVM 14's (made once per
/// `dir`): posthog-cli 0.19.0's `dsym upload` runs Apple's tools by those names, and LLVM's
/// print what it parses (`fixtures/native/tools.sh` installs llvm-14).
pub fn apple_tools(dir: &Path) -> PathBuf {
    let apple = dir.join("apple-tools");
    if !apple.exists() {
        std::fs::create_dir_all(&apple).unwrap();
        for (name, llvm) in [("dwarfdump", "llvm-dwarfdump-14"), ("lipo", "llvm-lipo-14")] {
            let target = Path::new("/usr/bin").join(llvm);
            assert!(
                target.is_file(),
                "{} is missing: fixtures/native/tools.sh installs llvm-14",
                target.display()
            );
            std::os::unix::fs::symlink(target, apple.join(name)).unwrap();
        }
    }
    apple
}

/// posthog-cli 0.19.0 in `cwd` with `server`'s credentials (the scrubbed environment of
/// [`symship_for`]) and [`apple_tools`] (made in `cwd`) first on a `PATH` of `/usr/bin:/bin`.
pub fn posthog_cli_with_apple_tools(server: &TestServer, cwd: &Path) -> Command {
    let apple = apple_tools(cwd);
    let mut c = on_program(&symship_for(server, cwd), posthog_cli());
    c.env("PATH", format!("{}:/usr/bin:/bin", apple.display()));
    c
}

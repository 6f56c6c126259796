//! External programs the tests need: the pinned tools of `scripts/install-tools` and system
//! programs. A missing one fails the test loudly, naming how to get it; nothing is skipped.

use std::path::PathBuf;
use std::process::Command;

/// `${SYMSHIP_TOOLS:-$HOME/.cache/symship/tools}`, where `scripts/install-tools` puts the pinned
/// tools (s3s-fs, posthog-cli 0.19.0, the npm harnesses).
#[allow(clippy::disallowed_methods)] // the test harness's own settings, not symship's
pub fn tools_dir() -> PathBuf {
    std::env::var_os("SYMSHIP_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/symship/tools")
        })
}

/// The path of the program `name` on `PATH`, or a loud failure naming how to get it.
#[allow(clippy::disallowed_methods)] // the test harness's own settings, not symship's
pub fn require_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{name}` is not installed; it comes with util-linux / bash (apt-get install util-linux bsdutils)")
    })
}

/// node, which the machine has; the test fails loudly without it.
pub fn node() -> Command {
    Command::new("node")
}

/// Single-quotes a string for `sh -c`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// posthog-cli 0.19.0 (the reference client): `SYMSHIP_POSTHOG_CLI` if set and not empty, else the copy
/// `scripts/install-tools posthog-cli` put under [`tools_dir`]; a loud failure if missing.
#[allow(clippy::disallowed_methods)] // the test harness's own setting, not symship's
pub fn posthog_cli() -> PathBuf {
    let p = std::env::var_os("SYMSHIP_POSTHOG_CLI")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| tools_dir().join("posthog-cli-0.19.0/bin/posthog-cli"));
    assert!(
        p.is_file(),
        "posthog-cli 0.19.0 not found at {}: run scripts/install-tools posthog-cli (or set SYMSHIP_POSTHOG_CLI)",
        p.display()
    );
    p
}

/// React Native 0.88.1's release build tools, as `fixtures/hermes` was built with them
/// (`scripts/install-tools hermes`, from `fixtures/hermes/tools.sh`).
pub struct HermesTools {
    /// hermesc from npm `hermes-compiler` 260318099.0.5 (HBC bytecode version 99).
    pub hermesc: PathBuf,
    /// react-native 0.88.1's `scripts/compose-source-maps.js` (run with [`node`]).
    pub compose: PathBuf,
}

/// The tools `scripts/install-tools hermes` installed under [`tools_dir`]; a loud failure if missing.
pub fn hermes_tools() -> HermesTools {
    let dir = tools_dir().join("fixtures-hermes-rn0.88.1");
    let tools = HermesTools {
        hermesc: dir.join("node_modules/hermes-compiler/hermesc/linux64-bin/hermesc"),
        compose: dir.join("package/scripts/compose-source-maps.js"),
    };
    for p in [&tools.hermesc, &tools.compose] {
        assert!(
            p.is_file(),
            "{} not found: run scripts/install-tools hermes",
            p.display()
        );
    }
    tools
}

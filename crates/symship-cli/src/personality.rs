//! Who the binary is: `symship`, or `posthog-cli` when it runs under that name (a link or copy,
//! as PostHog's bundler plugins and posthog-react-native's build scripts find it in
//! `node_modules/.bin` or on `PATH`). The `posthog-cli` personality behaves as posthog-cli 0.19.0
//! where a caller can observe it: `--version` prints a posthog-cli version first (the React Native
//! scripts parse the first `N.N.N` and need at least 0.16.0), and a run that finds nothing to
//! process exits as posthog-cli 0.19.0 does (`crate::exit::decide`): `sourcemap upload` warns and
//! exits 0 (the Rollup/Vite plugin relies on that), `sourcemap inject` and `process` say "no
//! source files found" and exit 1, and `hermes upload` with no map that has a chunk id exits 1
//! (symship's own name: 3, `crate::commands::hermes::upload`). Everything else, flags and exit codes of failures included, is
//! the same under both names. The personality travels in `Settings`; nothing global holds it.

use std::ffi::OsStr;
use std::path::Path;

/// The posthog-cli release whose observable behaviour the personality follows.
pub const POSTHOG_CLI_VERSION: &str = "0.19.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    Symship,
    PosthogCli,
}

impl Personality {
    /// From the program name (`argv[0]`): `posthog-cli` (or `posthog-cli.exe`) is the
    /// posthog-cli personality, anything else is symship.
    pub fn from_argv0(argv0: Option<&OsStr>) -> Personality {
        let stem = argv0
            .and_then(|a| Path::new(a).file_stem())
            .and_then(OsStr::to_str)
            .unwrap_or("");
        if stem == "posthog-cli" {
            Personality::PosthogCli
        } else {
            Personality::Symship
        }
    }

    /// The text of `--version` (after the program name).
    pub fn version(self) -> String {
        match self {
            Personality::Symship => env!("CARGO_PKG_VERSION").to_string(),
            Personality::PosthogCli => {
                format!("{POSTHOG_CLI_VERSION} (symship {})", env!("CARGO_PKG_VERSION"))
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Personality::Symship => "symship",
            Personality::PosthogCli => "posthog-cli",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_name_decides() {
        let p = |s: &str| Personality::from_argv0(Some(OsStr::new(s)));
        assert_eq!(p("/app/node_modules/.bin/posthog-cli"), Personality::PosthogCli);
        assert_eq!(p("posthog-cli.exe"), Personality::PosthogCli);
        assert_eq!(p("/usr/bin/symship"), Personality::Symship);
        assert_eq!(p("posthog-cli-wrapper"), Personality::Symship);
        assert_eq!(Personality::from_argv0(None), Personality::Symship);
        assert!(Personality::PosthogCli.version().starts_with("0.19.0 "));
    }
}

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

use std::ffi::{OsStr, OsString};
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

/// posthog-cli 0.19.0's `symbol-sets download` and `extract` take their directory as
/// `-o/--output <DIR>`, where symship's `--output` is the global summary format (`text`, `json`)
/// and the directory is `--out-dir`. After either subcommand, `--output X` and `--output=X` are
/// taken as `--out-dir X`: always under the name `posthog-cli`, and under symship's own name when
/// `X` is no format (a directory called `text` or `json` then needs `--out-dir` or `-o`).
pub fn output_dir_args(personality: Personality, args: Vec<OsString>) -> Vec<OsString> {
    let Some(at) = args
        .windows(2)
        .position(|w| w[0] == "symbol-sets" && (w[1] == "download" || w[1] == "extract"))
    else {
        return args;
    };
    let is_dir = |v: &OsStr| personality == Personality::PosthogCli || (v != "text" && v != "json");
    let mut out = Vec::with_capacity(args.len());
    let mut rest = args.into_iter().enumerate().peekable();
    while let Some((i, a)) = rest.next() {
        if i > at + 1 {
            if a == "--output" {
                if let Some((_, v)) = rest.next_if(|(_, v)| is_dir(v)) {
                    out.push(OsString::from("--out-dir"));
                    out.push(v);
                    continue;
                }
            } else if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--output=")) {
                if is_dir(OsStr::new(v)) {
                    out.push(OsString::from(format!("--out-dir={v}")));
                    continue;
                }
            }
        }
        out.push(a);
    }
    out
}

#[cfg(test)]
mod output_dir_tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn posthog_clis_output_dir_after_download_and_extract() {
        let p = Personality::PosthogCli;
        let s = Personality::Symship;
        let cases = [
            (
                p,
                "x symbol-sets download --ref r --output dl",
                "x symbol-sets download --ref r --out-dir dl",
            ),
            (
                p,
                "x symbol-sets extract f --output=ex",
                "x symbol-sets extract f --out-dir=ex",
            ),
            (
                p,
                "x symbol-sets download --output json",
                "x symbol-sets download --out-dir json",
            ),
            (
                s,
                "x symbol-sets download --ref r --output dl",
                "x symbol-sets download --ref r --out-dir dl",
            ),
            (
                s,
                "x symbol-sets download --ref r --output json",
                "x symbol-sets download --ref r --output json",
            ),
            (
                s,
                "x --output json symbol-sets download --ref r",
                "x --output json symbol-sets download --ref r",
            ),
            (
                s,
                "x symbol-sets list --output json",
                "x symbol-sets list --output json",
            ),
            (
                p,
                "x sourcemap upload --output dl",
                "x sourcemap upload --output dl",
            ),
        ];
        for (who, given, want) in cases {
            assert_eq!(output_dir_args(who, args(given)), args(want), "{who:?}: {given}");
        }
    }
}

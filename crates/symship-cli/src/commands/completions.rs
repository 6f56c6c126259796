//! `symship completions <shell>`: prints a completion script for the shell on stdout.
//!
//! bash: `symship completions bash > ~/.local/share/bash-completion/completions/symship`;
//! zsh: `symship completions zsh > "${fpath[1]}/_symship"`;
//! fish: `symship completions fish > ~/.config/fish/completions/symship.fish`.

use clap::CommandFactory;

use crate::cli::CompletionsArgs;
use crate::exit::Exit;
use crate::settings::Settings;

pub fn run(args: &CompletionsArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let mut cmd = crate::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "symship", &mut script);
    settings.printer.stdout(&script)?;
    Ok(Exit::Success)
}

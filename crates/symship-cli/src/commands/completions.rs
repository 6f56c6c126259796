//! `symship completions <shell>`: prints a completion script for the shell on stdout.
//!
//! bash: `symship completions bash > ~/.local/share/bash-completion/completions/symship`;
//! zsh: `symship completions zsh > "${fpath[1]}/_symship"`;
//! fish: `symship completions fish > ~/.config/fish/completions/symship.fish`.

use std::io::Write;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::exit::Exit;

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut cmd = crate::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "symship", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(Exit::Success)
}

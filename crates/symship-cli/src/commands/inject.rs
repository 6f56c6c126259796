//! `symship sourcemap inject`
use crate::cli::{GlobalArgs, InjectArgs};
use crate::exit::Exit;

pub fn run(_args: &InjectArgs, _global: &GlobalArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("inject is not built yet")
}

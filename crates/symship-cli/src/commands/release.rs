//! `symship release ...`
use crate::cli::{GlobalArgs, ReleaseResolveArgs};
use crate::exit::Exit;

pub fn resolve(_args: &ReleaseResolveArgs, _global: &GlobalArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("release resolve is not built yet")
}

//! The final account of a run: text for people, one JSON document (`--output json`) for scripts.

use serde::Serialize;
use std::io::Write;

/// Version of the JSON summary's schema; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub schema_version: u32,
    pub command: String,
    pub dry_run: bool,
    pub release_id: Option<String>,
    pub pairs_found: usize,
    pub injected: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: Vec<SkippedFile>,
    pub chunks: Vec<ChunkEntry>,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
pub struct SkippedFile {
    pub file: String,
    pub code: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct ChunkEntry {
    pub file: String,
    pub map: String,
    pub chunk_id: String,
    pub outcome: String,
}

impl Summary {
    pub fn print_json(&self) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, self)?;
        writeln!(out)?;
        Ok(())
    }
}

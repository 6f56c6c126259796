//! symship-core: the vocabulary of a symbol set, shared by the upload pipeline and every kind
//! (no network; the only I/O is writing a container into a `Write`).
//!
//! - [`kind`]: the kinds of symbol set, one per posthog-symbol-data container type (spec §6).
//! - [`set`]: the [`set::SymbolSet`] trait a kind implements for the upload pipeline.
//! - [`container`]: the container's framing: streamed write, read, describe.
//! - [`release_mode`]: where the release id lives (`--release-mode`).
//! - [`code`]: the closed registry of every code symship reports, with a title and a hint each.
//! - [`format`]: what a file is, from its first bytes (for messages that refuse a file).
//! - [`budget`]: one memory budget for stages that overlap ([`budget::MemoryGate`]).

pub mod budget;
pub mod code;
pub mod container;
pub mod format;
pub mod kind;
pub mod release_mode;
pub mod set;

pub use code::{Code, CodeKind};

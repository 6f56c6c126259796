//! One module per command.
pub mod completions;
pub mod doctor;
pub mod explain;
pub mod extract;
pub mod hermes;
pub mod inject;
pub mod native;
pub mod proguard;
pub mod release;
pub mod resolve;
pub mod symbol_sets;
pub mod upload;

//! The server's rules, kept apart from HTTP like PostHog's `logic/` package.

pub mod container;
pub mod releases;
pub mod symbol_sets;

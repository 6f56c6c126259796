//! One module per command.
pub mod inject;
pub mod release;
pub mod upload;

//! symship-release (placeholder; arrives with its issue).

//! symship-scan (placeholder; arrives with its issue).

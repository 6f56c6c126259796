//! symship-testserver (placeholder; arrives with its issue).

//! symship-api (placeholder; arrives with its issue).

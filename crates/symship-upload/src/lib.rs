//! symship-upload (placeholder; arrives with its issue).

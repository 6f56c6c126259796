//! symship-upload: gets a build's symbol sets into PostHog, fast, with flat memory, and with an
//! honest account of every chunk.
//!
//! - [`upload`] / [`plan`] (and [`upload_fed`] / [`plan_fed`], for sets handed over while the
//!   upload runs, through a [`Feed`]): the pipeline over the protocol of spec §2 (`bulk_check_upload`,
//!   `bulk_start_upload`, presigned transfer, `bulk_finish_upload`), for symbol sets of any kind
//!   ([`symship_core::set::SymbolSet`]: the pipeline knows no kind); `plan` is `--dry-run`.
//! - [`container`]: re-exported from `symship_core::container` (the posthog-symbol-data container).
//! - [`delete_after`]: `--delete-after` with the safety rules of spec §5.5.
//! - [`Reporter`]: progress callbacks; the library never prints.
//!
//! A chunk is [`Status::Uploaded`] only after `bulk_finish_upload` succeeded for it.
//!
//! ```no_run
//! # async fn f(client: symship_api::Client, sets: Vec<std::sync::Arc<dyn symship_core::set::SymbolSet>>) {
//! use std::sync::Arc;
//! let report = symship_upload::upload(&client, sets, &Default::default(), Arc::new(symship_upload::NoReporter)).await;
//! assert!(!report.has_failures());
//! # }
//! ```

pub mod ahead;
pub mod batch;
pub mod delete;
pub mod feed;
pub mod limit;
pub mod memo;
mod pipeline;
pub mod report;
mod transfer;

pub use ahead::CheckAhead;
pub use batch::BatchSize;
pub use delete::{delete_after, DeleteError, DeleteOutcome};
pub use feed::{feed, feed_bounded, Fed, Feed, MemoryBudget};
pub use limit::{Concurrency, LimitStats};
pub use memo::HashMemo;
pub use pipeline::{plan, plan_fed, upload, upload_fed, UploadOptions, CHECK_BATCH, CHECK_BYTES};
pub use report::{ChunkReport, KeyRefused, NoReporter, Phase, PhaseTiming, Reporter, Status, UploadReport};
pub use symship_core::container;
pub use symship_core::kind::Kind;
pub use symship_core::set::SymbolSet;
pub use transfer::UnreachableHost;
pub use uuid::Uuid;

//! Bloomreach Engagement client: tracking batch commands, catalogs, and retry classification.
//!
//! - [`TrackingCommand`] is what the mapper builds; [`BatchCommand`] is its frozen form in the
//!   outbox, sent verbatim by [`BloomreachClient::batch`] (one attempt: the outbox retries).
//! - [`classify`] and [`BloomreachError::class`] map every failure to an [`ErrorClass`].
//! - Requests are paced by a token bucket on the injected clock.

mod catalog;
mod client;
mod commands;
mod error;
mod pacing;

pub use catalog::{CatalogField, CatalogItemResult, CatalogItemUpdate, CatalogSummary};
pub use client::{BloomreachClient, ClientConfig, ClientStats, MAX_BATCH_COMMANDS};
pub use commands::{
    BatchCommand, BatchResponse, CommandOutcome, CommandResult, CustomerIds, CustomerUpdate,
    EventCommand, TrackingCommand,
};
pub use error::{classify, classify_command_errors, BloomreachError, ErrorClass};

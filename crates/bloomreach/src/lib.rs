//! Bloomreach Engagement client: tracking batch commands, catalogs, imports, and retry
//! classification.
//!
//! - [`BatchCommand`] is a command's frozen `data` bytes from the outbox (built by the core's
//!   mapper), sent verbatim by [`BloomreachClient::batch`] (one attempt: the outbox retries).
//! - [`classify`] and [`BloomreachError::class`] map every failure to an [`ErrorClass`].
//! - [`ImportDefinition`]: the Imports API (create a URL import, start it, read its last run,
//!   list and delete definitions).
//! - Requests are paced by a token bucket on the injected clock.
//! - [`decode`] parses response bodies, as pure functions of the bytes (what the client calls
//!   and `crates/fuzz` fuzzes; built without the `client` feature too).

mod catalog;
#[cfg(feature = "client")]
mod client;
mod commands;
pub mod decode;
mod error;
mod imports;
#[cfg(feature = "client")]
mod pacing;

pub use catalog::{CatalogField, CatalogItemResult, CatalogItemUpdate, CatalogSummary};
#[cfg(feature = "client")]
pub use client::{BloomreachClient, ClientConfig, ClientStats, MAX_BATCH_COMMANDS};
pub use commands::{BatchCommand, BatchResponse, CommandOutcome, CommandResult};
pub use error::{
    classify, classify_command_errors, parse_retry_after, BloomreachError, ErrorClass,
};
pub use imports::{
    ColumnMapping, IdMapping, ImportAuth, ImportDefinition, ImportMapping, ImportRunState,
    ImportRunStatus, ImportSource, ImportState, ImportSummary, ImportTrigger, PropertyMapping,
    StartImport,
};

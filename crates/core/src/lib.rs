//! BigReach domain: model, store, identity, mapping, outbox, config and the application API.
//!
//! This crate knows nothing of Tauri, HTTP servers or a UI. The runtime, the CLI and the desktop
//! shell are thin layers over it.

pub mod app;
pub mod audit;
pub mod backfill;
pub mod config;
pub mod cutover;
pub mod identity;
pub mod ingest;
pub mod map;
pub mod model;
pub mod outbox;
pub mod preflight;
pub mod reconcile;
pub mod secret;
pub mod store;

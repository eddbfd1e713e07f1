//! The sync loop, webhook receiver, poller and local HTTP API.

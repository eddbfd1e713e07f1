//! The `bigreach` binary's library part: the demo and twin runner that the CLI and the
//! end-to-end tests share. Everything else lives in the workspace crates.

pub mod bench;
pub mod demo;
pub mod scenario;

//! BigReach's proving machinery: everything that shows the appliance works, and nothing the
//! product needs. The `bigreach` binary links it only with its default `rehearsal` feature
//! (`bigreach demo | sim | scenario | bench`); a product build without that feature has no
//! twins and no harness code.
//!
//! - [`plan`]: demo plans, the shipped ones compiled in.
//! - [`twins`]: both twins on loopback and an appliance configuration pointing at them.
//! - [`verdict`]: the ground-truth verdict, in one copy ([`evaluate`](verdict::evaluate),
//!   [`DemoSummary::findings`](verdict::DemoSummary::findings)).
//! - [`demo`]: the demo run (twins, appliance, trading, verdict).
//! - [`scenario`]: scenario files and their runner.
//! - [`rehearsal`]: `bigreach rehearse`, the cutover's rollback rehearsal on the operator's config.
//! - [`bench`](mod@bench): the benchmarks (`ingest`, `drain`, `flash-sale`).
//!
//! `demo`, `twins`, `bench` and the scenario runner need the default `run` feature (the
//! runtime); without it the crate is the plan and scenario file formats and the verdict, which
//! is what `crates/fuzz` builds.

#[cfg(feature = "run")]
pub mod bench;
#[cfg(feature = "run")]
pub mod demo;
pub mod plan;
#[cfg(feature = "run")]
pub mod rehearsal;
pub mod scenario;
#[cfg(feature = "run")]
pub mod twins;
pub mod verdict;
